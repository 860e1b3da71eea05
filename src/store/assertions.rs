//! JWT assertions already used: each (issuer, jti) once, across every node.

use async_trait::async_trait;

use super::{Database, StoreResult};
use crate::domain::UnixTime;

#[async_trait]
pub trait AssertionStore: Send + Sync {
    /// Records the assertion `jti_digest` of `issuer` as used until
    /// `expires_at`; false when it was used already (a replay). One
    /// statement: two nodes racing with the same assertion cannot both win.
    async fn use_assertion(&self, issuer: &str, jti_digest: &str, expires_at: UnixTime) -> StoreResult<bool>;
}

#[async_trait]
impl AssertionStore for Database {
    async fn use_assertion(&self, issuer: &str, jti_digest: &str, expires_at: UnixTime) -> StoreResult<bool> {
        let done = self
            .bounded(
                sqlx::query(
                    "INSERT INTO used_assertions (issuer, jti_hash, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (issuer, jti_hash) DO NOTHING",
                )
                .bind(issuer)
                .bind(jti_digest)
                .bind(expires_at.seconds())
                .execute(self.pool()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
