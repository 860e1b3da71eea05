use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::db::{flag, scope};
use super::{Database, StoreError, StoreResult};
use crate::domain::{Email, PersonalToken, PersonalTokenId, ScopeSet, UnixTime, UserId, Username};

/// A personal token to store: its digest, never the token.
#[derive(Debug, Clone)]
pub struct NewPersonalToken<'a> {
    pub id: &'a PersonalTokenId,
    pub user_id: &'a UserId,
    pub token_hash: &'a str,
    pub label: &'a str,
    pub scope: &'a ScopeSet,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
}

#[async_trait]
pub trait PersonalTokenStore: Send + Sync {
    /// Stores the token unless its owner already holds `max_live` live
    /// (unrevoked, unexpired) tokens: then `None`. The count and the insert
    /// are one transaction that locks the owner's row, so two concurrent
    /// requests cannot both take the last place.
    async fn create_personal_token(
        &self,
        new: &NewPersonalToken<'_>,
        max_live: u32,
    ) -> StoreResult<Option<PersonalToken>>;
    /// One user's tokens, or everyone's; newest first.
    async fn list_personal_tokens(&self, user_id: Option<&UserId>) -> StoreResult<Vec<PersonalToken>>;
    async fn find_personal_token(&self, id: &PersonalTokenId) -> StoreResult<Option<PersonalToken>>;
    /// The token with this digest, with its owner's standing: one read.
    async fn find_personal_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<PersonalToken>>;
    /// False when there is no such unrevoked token.
    async fn revoke_personal_token(&self, id: &PersonalTokenId, now: UnixTime) -> StoreResult<bool>;
    /// Moves `last_used_at` forward (never back) for each (token id, time).
    async fn record_personal_token_use(&self, uses: &[(PersonalTokenId, UnixTime)]) -> StoreResult<()>;
}

const SELECT: &str =
    "SELECT t.id, t.user_id, u.username, u.email, u.enabled, t.label, t.scope, t.created_at, \
     t.expires_at, t.last_used_at, t.revoked_at FROM personal_tokens t JOIN users u ON u.id = t.user_id";

fn from_row(row: &AnyRow) -> Result<PersonalToken, StoreError> {
    let read = || -> anyhow::Result<PersonalToken> {
        let username: String = row.try_get("username")?;
        let email: String = row.try_get("email")?;
        let at = |column: &str| -> anyhow::Result<Option<UnixTime>> {
            Ok(row.try_get::<Option<i64>, _>(column)?.map(UnixTime::from_seconds))
        };
        Ok(PersonalToken {
            id: PersonalTokenId::new(row.try_get::<String, _>("id")?),
            user_id: UserId::new(row.try_get::<String, _>("user_id")?),
            username: Username::parse(&username).context("stored username is invalid")?,
            email: Email::parse(&email).context("stored email is invalid")?,
            label: row.try_get("label")?,
            scope: scope(row, "scope")?,
            created_at: UnixTime::from_seconds(row.try_get("created_at")?),
            expires_at: at("expires_at")?,
            last_used_at: at("last_used_at")?,
            revoked_at: at("revoked_at")?,
            owner_enabled: flag(row, "enabled")?,
        })
    };
    read().map_err(StoreError::Unexpected)
}

#[async_trait]
impl PersonalTokenStore for Database {
    async fn create_personal_token(
        &self,
        new: &NewPersonalToken<'_>,
        max_live: u32,
    ) -> StoreResult<Option<PersonalToken>> {
        let now = new.created_at.seconds();
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            // A no-op write: it takes the owner's row lock (Postgres) or the
            // write lock (SQLite) before counting.
            let owner = sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(new.user_id.as_str())
                .execute(&mut *tx)
                .await?;
            if owner.rows_affected() == 0 {
                return Ok(Err(StoreError::NotFound("the token's owner does not exist".into())));
            }
            let live: i64 = sqlx::query(
                "SELECT COUNT(*) AS live FROM personal_tokens WHERE user_id = $1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(new.user_id.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get("live")?;
            if live >= i64::from(max_live) {
                return Ok(Ok(false));
            }
            sqlx::query(
                "INSERT INTO personal_tokens (id, user_id, token_hash, label, scope, created_at, expires_at, \
                 last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)",
            )
            .bind(new.id.as_str())
            .bind(new.user_id.as_str())
            .bind(new.token_hash)
            .bind(new.label)
            .bind(new.scope.to_string())
            .bind(now)
            .bind(new.expires_at.map(UnixTime::seconds))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(true))
        };
        if !self.bounded(transaction).await?? {
            return Ok(None);
        }
        self.find_personal_token(new.id).await
    }

    async fn list_personal_tokens(&self, user_id: Option<&UserId>) -> StoreResult<Vec<PersonalToken>> {
        let rows = match user_id {
            Some(user_id) => {
                self.bounded(
                    sqlx::query(&format!("{SELECT} WHERE t.user_id = $1 ORDER BY t.created_at DESC, t.id"))
                        .bind(user_id.as_str())
                        .fetch_all(self.pool()),
                )
                .await?
            }
            None => {
                self.bounded(
                    sqlx::query(&format!("{SELECT} ORDER BY t.created_at DESC, t.id")).fetch_all(self.pool()),
                )
                .await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    async fn find_personal_token(&self, id: &PersonalTokenId) -> StoreResult<Option<PersonalToken>> {
        let row = self
            .bounded(
                sqlx::query(&format!("{SELECT} WHERE t.id = $1"))
                    .bind(id.as_str())
                    .fetch_optional(self.pool()),
            )
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    async fn find_personal_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<PersonalToken>> {
        let sql = format!("{SELECT} WHERE t.token_hash = $1");
        let row = self.read(|| sqlx::query(&sql).bind(token_hash).fetch_optional(self.pool())).await?;
        row.as_ref().map(from_row).transpose()
    }

    async fn revoke_personal_token(&self, id: &PersonalTokenId, now: UnixTime) -> StoreResult<bool> {
        let done = self
            .bounded(
                sqlx::query(
                    "UPDATE personal_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now.seconds())
                .bind(id.as_str())
                .execute(self.pool()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_personal_token_use(&self, uses: &[(PersonalTokenId, UnixTime)]) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            for (id, at) in uses {
                sqlx::query(
                    "UPDATE personal_tokens SET last_used_at = $1 WHERE id = $2 \
                     AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(at.seconds())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        };
        self.bounded(transaction).await
    }
}
