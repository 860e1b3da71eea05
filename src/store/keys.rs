use async_trait::async_trait;
use sqlx::Row as _;

use super::{Database, StoreError, StoreResult};
use crate::domain::UnixTime;

/// A signing key as stored: the private key sealed under the master key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub sealed_private_key: String,
    pub created_at: UnixTime,
    pub activates_at: UnixTime,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>>;
    async fn insert_key(&self, key: &StoredKey) -> StoreResult<()>;
    /// Inserts `key` only if no key activates after `now` (no pending next
    /// key); true if inserted. Keeps concurrent schedulers from piling up keys.
    async fn insert_next_key_if_none(&self, key: &StoredKey, now: UnixTime) -> StoreResult<bool>;
}

#[async_trait]
impl KeyStore for Database {
    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let rows = self.read(|| sqlx::query("SELECT kid, alg, private_key, created_at, activates_at FROM signing_keys ORDER BY activates_at, kid")
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let read = || -> Result<StoredKey, sqlx::Error> {
                    Ok(StoredKey {
                        kid: row.try_get("kid")?,
                        alg: row.try_get("alg")?,
                        sealed_private_key: row.try_get("private_key")?,
                        created_at: UnixTime::from_seconds(row.try_get("created_at")?),
                        activates_at: UnixTime::from_seconds(row.try_get("activates_at")?),
                    })
                };
                read().map_err(|e| StoreError::Unexpected(e.into()))
            })
            .collect()
    }

    async fn insert_key(&self, key: &StoredKey) -> StoreResult<()> {
        self.bounded(
            sqlx::query("INSERT INTO signing_keys (kid, alg, private_key, created_at, activates_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&key.sealed_private_key)
                .bind(key.created_at.seconds())
                .bind(key.activates_at.seconds())
                .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn insert_next_key_if_none(&self, key: &StoredKey, now: UnixTime) -> StoreResult<bool> {
        let done = self
            .bounded(
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, private_key, created_at, activates_at) \
                     SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE activates_at > $6)",
                )
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&key.sealed_private_key)
                .bind(key.created_at.seconds())
                .bind(key.activates_at.seconds())
                .bind(now.seconds())
                .execute(self.pool()),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
