use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::Row as _;

use super::db::to_flag;
use super::{Database, GrantStore, NewCode, StoreError, StoreResult, StoredCode};
use crate::domain::{ClientId, UnixTime};

#[async_trait]
impl GrantStore for Database {
    async fn create_code(&self, code: &NewCode, now: UnixTime) -> StoreResult<()> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            sqlx::query(
                "INSERT INTO grants (id, user_id, client_id, scope, auth_time, created_at, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
            )
            .bind(&code.grant_id)
            .bind(&code.user_id)
            .bind(code.client_id.as_str())
            .bind(&code.scope)
            .bind(code.auth_time.seconds())
            .bind(now.seconds())
            .bind(code.grant_expires_at.seconds())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, redirect_uri_given, \
                 code_challenge, nonce, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
            )
            .bind(&code.code_hash)
            .bind(&code.grant_id)
            .bind(code.client_id.as_str())
            .bind(&code.redirect_uri)
            .bind(to_flag(code.redirect_uri_given))
            .bind(code.code_challenge.as_deref())
            .bind(code.nonce.as_deref())
            .bind(code.expires_at.seconds())
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        };
        self.bounded(transaction).await
    }

    async fn find_code(&self, code_hash: &str) -> StoreResult<Option<StoredCode>> {
        let row = self
            .bounded(
                sqlx::query(
                    "SELECT c.grant_id, c.client_id, g.user_id, g.scope, g.auth_time, c.redirect_uri, \
                     c.redirect_uri_given, c.code_challenge, c.nonce, c.expires_at, c.used_at, g.revoked_at \
                     FROM authorization_codes c JOIN grants g ON g.id = c.grant_id WHERE c.code_hash = $1",
                )
                .bind(code_hash)
                .fetch_optional(self.pool()),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let read = || -> anyhow::Result<StoredCode> {
            let client_id: String = row.try_get("client_id")?;
            Ok(StoredCode {
                grant_id: row.try_get("grant_id")?,
                client_id: ClientId::parse(&client_id).context("stored client id is invalid")?,
                user_id: row.try_get("user_id")?,
                scope: row.try_get("scope")?,
                auth_time: UnixTime::from_seconds(row.try_get("auth_time")?),
                redirect_uri: row.try_get("redirect_uri")?,
                redirect_uri_given: row.try_get::<i64, _>("redirect_uri_given")? != 0,
                code_challenge: row.try_get("code_challenge")?,
                nonce: row.try_get("nonce")?,
                expires_at: UnixTime::from_seconds(row.try_get("expires_at")?),
                used: row.try_get::<Option<i64>, _>("used_at")?.is_some(),
                grant_revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
            })
        };
        read().map(Some).map_err(StoreError::Unexpected)
    }

    async fn consume_code(&self, code_hash: &str, now: UnixTime) -> StoreResult<bool> {
        let done = self
            .bounded(
                sqlx::query(
                    "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
                )
                .bind(now.seconds())
                .bind(code_hash)
                .execute(self.pool()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> StoreResult<()> {
        self.bounded(
            sqlx::query("UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now.seconds())
                .bind(grant_id)
                .execute(self.pool()),
        )
        .await?;
        Ok(())
    }
}
