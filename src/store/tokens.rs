use async_trait::async_trait;
use sqlx::Row as _;

use super::{Database, StoreError, StoreResult, StoredAccessToken, TokenStore};
use crate::domain::{ClientId, UnixTime};

#[async_trait]
impl TokenStore for Database {
    async fn insert_access_token(&self, digest: &str, token: &StoredAccessToken) -> StoreResult<()> {
        self.bounded(
            sqlx::query(
                "INSERT INTO access_tokens (token_hash, jti, client_id, subject, username, scope, audience, issued_at, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
            )
            .bind(digest)
            .bind(&token.jti)
            .bind(token.client_id.as_str())
            .bind(&token.subject)
            .bind(token.username.as_deref())
            .bind(&token.scope)
            .bind(token.audience.join(" "))
            .bind(token.issued_at.seconds())
            .bind(token.expires_at.seconds())
            .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn find_access_token(&self, digest: &str) -> StoreResult<Option<StoredAccessToken>> {
        let row = self
            .bounded(
                sqlx::query(
                    "SELECT jti, client_id, subject, username, scope, audience, issued_at, expires_at, revoked_at \
                     FROM access_tokens WHERE token_hash = $1",
                )
                .bind(digest)
                .fetch_optional(self.pool()),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let read = || -> anyhow::Result<StoredAccessToken> {
            let client_id: String = row.try_get("client_id")?;
            let audience: String = row.try_get("audience")?;
            Ok(StoredAccessToken {
                jti: row.try_get("jti")?,
                client_id: ClientId::parse(&client_id)?,
                subject: row.try_get("subject")?,
                username: row.try_get("username")?,
                scope: row.try_get("scope")?,
                audience: audience
                    .split(' ')
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect(),
                issued_at: UnixTime::from_seconds(row.try_get("issued_at")?),
                expires_at: UnixTime::from_seconds(row.try_get("expires_at")?),
                revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
            })
        };
        read().map(Some).map_err(StoreError::Unexpected)
    }

    async fn revoke_access_token(&self, digest: &str, client: &ClientId, now: UnixTime) -> StoreResult<bool> {
        let done = self
            .bounded(
                sqlx::query(
                    "UPDATE access_tokens SET revoked_at = $1 WHERE token_hash = $2 AND client_id = $3 AND revoked_at IS NULL",
                )
                .bind(now.seconds())
                .bind(digest)
                .bind(client.as_str())
                .execute(self.pool()),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_jwt(
        &self,
        jti: &str,
        client: &ClientId,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<()> {
        self.bounded(
            sqlx::query(
                "INSERT INTO revoked_jwts (jti, client_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(client.as_str())
            .bind(expires_at.seconds())
            .bind(now.seconds())
            .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn is_jwt_revoked(&self, jti: &str) -> StoreResult<bool> {
        let row = self
            .bounded(
                sqlx::query("SELECT jti FROM revoked_jwts WHERE jti = $1")
                    .bind(jti)
                    .fetch_optional(self.pool()),
            )
            .await?;
        Ok(row.is_some())
    }

    async fn purge_expired_tokens(&self, now: UnixTime) -> StoreResult<u64> {
        let opaque = self
            .bounded(
                sqlx::query("DELETE FROM access_tokens WHERE expires_at < $1")
                    .bind(now.seconds())
                    .execute(self.pool()),
            )
            .await?;
        let jwts = self
            .bounded(
                sqlx::query("DELETE FROM revoked_jwts WHERE expires_at < $1")
                    .bind(now.seconds())
                    .execute(self.pool()),
            )
            .await?;
        Ok(opaque.rows_affected() + jwts.rows_affected())
    }
}
