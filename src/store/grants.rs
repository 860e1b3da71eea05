use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::Row as _;

use super::db::{scope, to_flag};
use super::{Database, FaultPoint, StoreError, StoreResult};
use crate::domain::{ClientId, GrantId, ScopeSet, UnixTime, UserId};

/// A grant without a code.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub scope: ScopeSet,
    pub auth_time: UnixTime,
    pub expires_at: UnixTime,
}

/// An authorization code to store, with the grant it starts.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub code_hash: String,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub scope: ScopeSet,
    pub auth_time: UnixTime,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    /// The `claims` request parameter, normalised JSON; kept with the grant.
    pub claims: Option<String>,
    pub expires_at: UnixTime,
    pub grant_expires_at: UnixTime,
}

/// A stored code and the grant it belongs to.
#[derive(Debug, Clone)]
pub struct StoredCode {
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub scope: ScopeSet,
    pub auth_time: UnixTime,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub claims: Option<String>,
    pub expires_at: UnixTime,
    pub used: bool,
    pub grant_revoked: bool,
}

#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores the grant and its code in one transaction.
    async fn create_code(&self, code: &NewCode, now: UnixTime) -> StoreResult<()>;
    /// Stores a grant that no code leads to (the Jira page's test token for
    /// the signed-in admin, revoked as soon as Jira has answered).
    async fn create_grant(&self, grant: &NewGrant, now: UnixTime) -> StoreResult<()>;
    async fn find_code(&self, code_hash: &str) -> StoreResult<Option<StoredCode>>;
    /// Redeems an unused code: marks it used and stores the refresh token
    /// it yields (if any), in one transaction; false if it was used already
    /// (nothing changes). Concurrent redemptions cannot both win, and a
    /// fault between the steps leaves the code unused.
    async fn redeem_code(
        &self,
        code_hash: &str,
        refresh: Option<&NewRefreshToken>,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Revokes a grant: every token issued under it stops being live.
    async fn revoke_grant(&self, grant_id: &GrantId, now: UnixTime) -> StoreResult<()>;
    async fn find_refresh_token(&self, token_hash: &str) -> StoreResult<Option<StoredRefreshToken>>;
    /// Rotates a refresh token: marks the unused, unexpired `old` used,
    /// remembering its successor, and stores the successor, in one
    /// transaction; false if another request used it first (nothing
    /// changes). After any fault either `old` still works or the successor
    /// is stored — never neither, never both.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        successor: &NewRefreshToken,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Live grants (unrevoked, unexpired) of a user or a client, newest first.
    async fn list_grants(&self, of: GrantsOf<'_>, now: UnixTime) -> StoreResult<Vec<GrantSummary>>;
    /// Revokes every live grant of a user; returns how many.
    async fn revoke_user_grants(&self, user_id: &UserId, now: UnixTime) -> StoreResult<u64>;
    async fn find_grant(&self, grant_id: &GrantId) -> StoreResult<Option<GrantSummary>>;
    /// The `claims` request the grant was started with, if any.
    async fn find_grant_claims(&self, grant_id: &GrantId) -> StoreResult<Option<String>>;
}

#[derive(Debug, Clone, Copy)]
pub enum GrantsOf<'a> {
    User(&'a UserId),
    Client(&'a ClientId),
}

/// A grant as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSummary {
    pub id: GrantId,
    pub user_id: UserId,
    pub username: String,
    pub client_id: ClientId,
    pub client_name: String,
    pub scope: ScopeSet,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub grant_id: GrantId,
    pub scope: ScopeSet,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
}

/// A refresh token with its grant.
#[derive(Debug, Clone)]
pub struct StoredRefreshToken {
    /// The digest of the token that replaced it, once rotated.
    pub successor_hash: Option<String>,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub scope: ScopeSet,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
    pub grant_revoked: bool,
    pub grant_expires_at: UnixTime,
    pub auth_time: UnixTime,
    /// The grant's `claims` request, normalised JSON.
    pub claims: Option<String>,
}

const GRANT_SUMMARY: &str =
    "SELECT g.id, g.user_id, u.username, g.client_id, c.name AS client_name, g.scope, \
     g.created_at, g.expires_at, g.revoked_at FROM grants g JOIN users u ON u.id = g.user_id \
     JOIN clients c ON c.id = g.client_id";

fn grant_summary(row: &sqlx::any::AnyRow) -> Result<GrantSummary, StoreError> {
    let read = || -> anyhow::Result<GrantSummary> {
        let client_id: String = row.try_get("client_id")?;
        Ok(GrantSummary {
            id: GrantId::new(row.try_get::<String, _>("id")?),
            user_id: UserId::new(row.try_get::<String, _>("user_id")?),
            username: row.try_get("username")?,
            client_id: ClientId::parse(&client_id)?,
            client_name: row.try_get("client_name")?,
            scope: scope(row, "scope")?,
            created_at: UnixTime::from_seconds(row.try_get("created_at")?),
            expires_at: UnixTime::from_seconds(row.try_get("expires_at")?),
            revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        })
    };
    read().map_err(StoreError::Unexpected)
}

const INSERT_GRANT: &str =
    "INSERT INTO grants (id, user_id, client_id, scope, auth_time, created_at, expires_at, \
     claims, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)";

#[async_trait]
impl GrantStore for Database {
    async fn create_code(&self, code: &NewCode, now: UnixTime) -> StoreResult<()> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let grant = NewGrant {
                grant_id: code.grant_id.clone(),
                client_id: code.client_id.clone(),
                user_id: code.user_id.clone(),
                scope: code.scope.clone(),
                auth_time: code.auth_time,
                expires_at: code.grant_expires_at,
            };
            insert_grant(&mut *tx, &grant, code.claims.as_deref(), now).await?;
            sqlx::query(
                "INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, redirect_uri_given, \
                 code_challenge, nonce, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
            )
            .bind(&code.code_hash)
            .bind(code.grant_id.as_str())
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

    async fn create_grant(&self, grant: &NewGrant, now: UnixTime) -> StoreResult<()> {
        self.bounded(insert_grant(self.pool(), grant, None, now)).await
    }

    async fn find_code(&self, code_hash: &str) -> StoreResult<Option<StoredCode>> {
        let row = self
            .read(|| {
                sqlx::query(
                    "SELECT c.grant_id, c.client_id, g.user_id, g.scope, g.auth_time, c.redirect_uri, \
                     c.redirect_uri_given, c.code_challenge, c.nonce, g.claims, c.expires_at, c.used_at, g.revoked_at \
                     FROM authorization_codes c JOIN grants g ON g.id = c.grant_id WHERE c.code_hash = $1",
                )
                .bind(code_hash)
                .fetch_optional(self.pool())
            })
            .await?;
        let Some(row) = row else { return Ok(None) };
        let read = || -> anyhow::Result<StoredCode> {
            let client_id: String = row.try_get("client_id")?;
            Ok(StoredCode {
                grant_id: GrantId::new(row.try_get::<String, _>("grant_id")?),
                client_id: ClientId::parse(&client_id).context("stored client id is invalid")?,
                user_id: UserId::new(row.try_get::<String, _>("user_id")?),
                scope: scope(&row, "scope")?,
                auth_time: UnixTime::from_seconds(row.try_get("auth_time")?),
                redirect_uri: row.try_get("redirect_uri")?,
                redirect_uri_given: row.try_get::<i64, _>("redirect_uri_given")? != 0,
                code_challenge: row.try_get("code_challenge")?,
                nonce: row.try_get("nonce")?,
                claims: row.try_get("claims")?,
                expires_at: UnixTime::from_seconds(row.try_get("expires_at")?),
                used: row.try_get::<Option<i64>, _>("used_at")?.is_some(),
                grant_revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
            })
        };
        read().map(Some).map_err(StoreError::Unexpected)
    }

    async fn redeem_code(
        &self,
        code_hash: &str,
        refresh: Option<&NewRefreshToken>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let done = sqlx::query(
                "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
            )
            .bind(now.seconds())
            .bind(code_hash)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            self.fault_at(FaultPoint::AfterCodeConsumed)?;
            if let Some(token) = refresh {
                insert_refresh_token(&mut tx, token).await?;
            }
            tx.commit().await?;
            Ok(true)
        };
        self.bounded(transaction).await
    }

    async fn revoke_grant(&self, grant_id: &GrantId, now: UnixTime) -> StoreResult<()> {
        self.bounded(
            sqlx::query("UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now.seconds())
                .bind(grant_id.as_str())
                .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn find_refresh_token(&self, token_hash: &str) -> StoreResult<Option<StoredRefreshToken>> {
        let row = self.read(|| sqlx::query(
                    "SELECT r.grant_id, g.client_id, g.user_id, r.scope, r.issued_at, r.expires_at, r.used_at, \
                     r.successor_hash, g.revoked_at, g.expires_at AS grant_expires_at, g.auth_time, g.claims \
                     FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(self.pool()),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let read = || -> anyhow::Result<StoredRefreshToken> {
            let client_id: String = row.try_get("client_id")?;
            Ok(StoredRefreshToken {
                successor_hash: row.try_get("successor_hash")?,
                grant_id: GrantId::new(row.try_get::<String, _>("grant_id")?),
                client_id: ClientId::parse(&client_id).context("stored client id is invalid")?,
                user_id: UserId::new(row.try_get::<String, _>("user_id")?),
                scope: scope(&row, "scope")?,
                issued_at: UnixTime::from_seconds(row.try_get("issued_at")?),
                expires_at: UnixTime::from_seconds(row.try_get("expires_at")?),
                used_at: row.try_get::<Option<i64>, _>("used_at")?.map(UnixTime::from_seconds),
                grant_revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                grant_expires_at: UnixTime::from_seconds(row.try_get("grant_expires_at")?),
                auth_time: UnixTime::from_seconds(row.try_get("auth_time")?),
                claims: row.try_get("claims")?,
            })
        };
        read().map(Some).map_err(StoreError::Unexpected)
    }

    async fn find_grant_claims(&self, grant_id: &GrantId) -> StoreResult<Option<String>> {
        let claims: Option<Option<String>> = self
            .read(|| {
                sqlx::query_scalar("SELECT claims FROM grants WHERE id = $1")
                    .bind(grant_id.as_str())
                    .fetch_optional(self.pool())
            })
            .await?;
        Ok(claims.flatten())
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        successor: &NewRefreshToken,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let done = sqlx::query(
                "UPDATE refresh_tokens SET used_at = $1, successor_hash = $2 \
                 WHERE token_hash = $3 AND used_at IS NULL AND expires_at > $1",
            )
            .bind(now.seconds())
            .bind(&successor.token_hash)
            .bind(old_hash)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            self.fault_at(FaultPoint::AfterRefreshTokenConsumed)?;
            insert_refresh_token(&mut tx, successor).await?;
            tx.commit().await?;
            Ok(true)
        };
        self.bounded(transaction).await
    }

    async fn list_grants(&self, of: GrantsOf<'_>, now: UnixTime) -> StoreResult<Vec<GrantSummary>> {
        let (filter, value) = match of {
            GrantsOf::User(user_id) => ("g.user_id", user_id.as_str()),
            GrantsOf::Client(client) => ("g.client_id", client.as_str()),
        };
        let sql = format!(
            "{GRANT_SUMMARY} WHERE {filter} = $1 AND g.revoked_at IS NULL AND g.expires_at > $2 \
             ORDER BY g.created_at DESC, g.id LIMIT 500"
        );
        let rows =
            self.bounded(sqlx::query(&sql).bind(value).bind(now.seconds()).fetch_all(self.pool())).await?;
        rows.iter().map(grant_summary).collect()
    }

    async fn revoke_user_grants(&self, user_id: &UserId, now: UnixTime) -> StoreResult<u64> {
        let done = self
            .bounded(
                sqlx::query("UPDATE grants SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                    .bind(now.seconds())
                    .bind(user_id.as_str())
                    .execute(self.pool()),
            )
            .await?;
        Ok(done.rows_affected())
    }

    async fn find_grant(&self, grant_id: &GrantId) -> StoreResult<Option<GrantSummary>> {
        let sql = format!("{GRANT_SUMMARY} WHERE g.id = $1");
        let row = self.bounded(sqlx::query(&sql).bind(grant_id.as_str()).fetch_optional(self.pool())).await?;
        row.as_ref().map(grant_summary).transpose()
    }
}

/// A grant row, on a connection or inside a transaction.
pub(super) async fn insert_grant<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    grant: &NewGrant,
    claims: Option<&str>,
    now: UnixTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT_GRANT)
        .bind(grant.grant_id.as_str())
        .bind(grant.user_id.as_str())
        .bind(grant.client_id.as_str())
        .bind(grant.scope.to_string())
        .bind(grant.auth_time.seconds())
        .bind(now.seconds())
        .bind(grant.expires_at.seconds())
        .bind(claims)
        .execute(executor)
        .await?;
    Ok(())
}

pub(super) async fn insert_refresh_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    token: &NewRefreshToken,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, scope, issued_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, NULL)",
    )
    .bind(&token.token_hash)
    .bind(token.grant_id.as_str())
    .bind(token.scope.to_string())
    .bind(token.issued_at.seconds())
    .bind(token.expires_at.seconds())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
