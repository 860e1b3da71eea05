use async_trait::async_trait;
use sqlx::Row as _;

use super::db::scope;
use super::{Database, StoreError, StoreResult};
use crate::domain::{ClientId, ScopeSet, UnixTime, User, UserId};

/// A browser session (by keyed hash of its cookie). Before sign-in it has
/// no user: it only carries the CSRF token of the login form. `Debug` hides
/// the token.
#[derive(Clone)]
pub struct StoredSession {
    pub user: Option<User>,
    pub csrf_token: String,
    pub auth_time: Option<UnixTime>,
    pub last_seen_at: UnixTime,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("user", &self.user.as_ref().map(|u| u.username.as_str()))
            .field("csrf_token", &"[redacted]")
            .field("auth_time", &self.auth_time)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, id_hash: &str, session: &NewSession, now: UnixTime) -> StoreResult<()>;
    async fn find_session(&self, id_hash: &str) -> StoreResult<Option<StoredSession>>;
    async fn touch_session(&self, id_hash: &str, now: UnixTime) -> StoreResult<()>;
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Signs a user out everywhere.
    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<()>;
    /// Claims a one-time form submission id; false if it was claimed before.
    async fn claim_submission(&self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Records what a claimed submission produced (e.g. the new client's id).
    async fn complete_submission(&self, id: &str, result: &str) -> StoreResult<()>;
    /// Gives a claim back after the operation failed, so it can be retried.
    async fn release_submission(&self, id: &str) -> StoreResult<()>;
    /// What a claimed submission produced, if it has finished.
    async fn submission_result(&self, id: &str) -> StoreResult<Option<String>>;
}

/// A session to store; no `Debug`, it carries the CSRF token.
#[derive(Clone)]
pub struct NewSession {
    pub user_id: Option<UserId>,
    pub csrf_token: String,
    pub auth_time: Option<UnixTime>,
    pub expires_at: UnixTime,
}

#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// The scope a user has approved for a client, if any.
    async fn find_consent(&self, user_id: &UserId, client: &ClientId) -> StoreResult<Option<ScopeSet>>;
    async fn save_consent(
        &self,
        user_id: &UserId,
        client: &ClientId,
        scope: &ScopeSet,
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Every client a user has approved, with the approved scope.
    async fn list_consents(&self, user_id: &UserId) -> StoreResult<Vec<(ClientId, ScopeSet, UnixTime)>>;
    /// Forgets the approval and revokes every grant of that user and client
    /// (their refresh and access tokens stop working). True if anything was
    /// there to revoke.
    async fn revoke_consent(&self, user_id: &UserId, client: &ClientId, now: UnixTime) -> StoreResult<bool>;
}

#[async_trait]
impl SessionStore for Database {
    async fn create_session(&self, id_hash: &str, session: &NewSession, now: UnixTime) -> StoreResult<()> {
        self.bounded(
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, csrf_token, auth_time, created_at, last_seen_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $5, $6)",
            )
            .bind(id_hash)
            .bind(session.user_id.as_ref().map(UserId::as_str))
            .bind(&session.csrf_token)
            .bind(session.auth_time.map(|t| t.seconds()))
            .bind(now.seconds())
            .bind(session.expires_at.seconds())
            .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn find_session(&self, id_hash: &str) -> StoreResult<Option<StoredSession>> {
        let sql = format!(
            "SELECT s.csrf_token, s.auth_time, s.last_seen_at, s.expires_at, s.user_id, {columns} \
             FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
            columns =
                super::users::COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        );
        let Some(row) = self.read(|| sqlx::query(&sql).bind(id_hash).fetch_optional(self.pool())).await?
        else {
            return Ok(None);
        };
        let user_id: Option<String> = row.try_get("user_id").map_err(|e| StoreError::Unexpected(e.into()))?;
        let user = match user_id {
            Some(_) => Some(super::users::from_row(&row)?.0),
            None => None,
        };
        let read = || -> Result<StoredSession, sqlx::Error> {
            Ok(StoredSession {
                user: None,
                csrf_token: row.try_get("csrf_token")?,
                auth_time: row.try_get::<Option<i64>, _>("auth_time")?.map(UnixTime::from_seconds),
                last_seen_at: UnixTime::from_seconds(row.try_get("last_seen_at")?),
                expires_at: UnixTime::from_seconds(row.try_get("expires_at")?),
            })
        };
        let mut session = read().map_err(|e| StoreError::Unexpected(e.into()))?;
        session.user = user;
        Ok(Some(session))
    }

    async fn touch_session(&self, id_hash: &str, now: UnixTime) -> StoreResult<()> {
        self.bounded(
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now.seconds())
                .bind(id_hash)
                .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn claim_submission(&self, id: &str, now: UnixTime) -> StoreResult<bool> {
        let done = self
            .bounded(
                sqlx::query(
                    "INSERT INTO form_submissions (id, result, created_at) VALUES ($1, NULL, $2) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(now.seconds())
                .execute(self.pool()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_submission(&self, id: &str, result: &str) -> StoreResult<()> {
        self.bounded(
            sqlx::query("UPDATE form_submissions SET result = $1 WHERE id = $2")
                .bind(result)
                .bind(id)
                .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn release_submission(&self, id: &str) -> StoreResult<()> {
        self.bounded(sqlx::query("DELETE FROM form_submissions WHERE id = $1").bind(id).execute(self.pool()))
            .await?;
        Ok(())
    }

    async fn submission_result(&self, id: &str) -> StoreResult<Option<String>> {
        let row = self
            .bounded(
                sqlx::query("SELECT result FROM form_submissions WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.pool()),
            )
            .await?;
        match row {
            Some(row) => {
                row.try_get::<Option<String>, _>("result").map_err(|e| StoreError::Unexpected(e.into()))
            }
            None => Ok(None),
        }
    }

    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<()> {
        self.bounded(
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        self.bounded(
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(self.pool()),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl ConsentStore for Database {
    async fn find_consent(&self, user_id: &UserId, client: &ClientId) -> StoreResult<Option<ScopeSet>> {
        let row = self
            .bounded(
                sqlx::query("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
                    .bind(user_id.as_str())
                    .bind(client.as_str())
                    .fetch_optional(self.pool()),
            )
            .await?;
        row.map(|row| scope(&row, "scope")).transpose().map_err(StoreError::Unexpected)
    }

    async fn save_consent(
        &self,
        user_id: &UserId,
        client: &ClientId,
        scope: &ScopeSet,
        now: UnixTime,
    ) -> StoreResult<()> {
        self.bounded(
            sqlx::query(
                "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, client_id) DO UPDATE SET scope = $3, granted_at = $4",
            )
            .bind(user_id.as_str())
            .bind(client.as_str())
            .bind(scope.to_string())
            .bind(now.seconds())
            .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn list_consents(&self, user_id: &UserId) -> StoreResult<Vec<(ClientId, ScopeSet, UnixTime)>> {
        let rows = self
            .bounded(
                sqlx::query("SELECT client_id, scope, granted_at FROM consents WHERE user_id = $1 ORDER BY granted_at")
                    .bind(user_id.as_str())
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let read = || -> anyhow::Result<(ClientId, ScopeSet, UnixTime)> {
                    let client: String = row.try_get("client_id")?;
                    Ok((
                        ClientId::parse(&client)?,
                        scope(row, "scope")?,
                        UnixTime::from_seconds(row.try_get("granted_at")?),
                    ))
                };
                read().map_err(StoreError::Unexpected)
            })
            .collect()
    }

    async fn revoke_consent(&self, user_id: &UserId, client: &ClientId, now: UnixTime) -> StoreResult<bool> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let consents = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id.as_str())
                .bind(client.as_str())
                .execute(&mut *tx)
                .await?;
            let grants = sqlx::query(
                "UPDATE grants SET revoked_at = $1 WHERE user_id = $2 AND client_id = $3 AND revoked_at IS NULL",
            )
            .bind(now.seconds())
            .bind(user_id.as_str())
            .bind(client.as_str())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(consents.rows_affected() + grants.rows_affected() > 0)
        };
        self.bounded(transaction).await
    }
}
