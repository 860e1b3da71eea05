//! JWT assertions already used: each (issuer, jti) once, across every node.

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::Row as _;

use super::{Database, StoreError, StoreResult};
use crate::domain::UnixTime;

/// One assertion to record: who issued it, the digest of its `jti`, and
/// until when the record must be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionUse {
    pub issuer: String,
    pub jti_digest: String,
    pub expires_at: UnixTime,
}

#[async_trait]
pub trait AssertionStore: Send + Sync {
    /// Records each assertion as used until its `expires_at`, in one
    /// statement; for each, true when it was new, false when it was used
    /// already (a replay). Two nodes racing with the same assertion cannot
    /// both win. Each (issuer, digest) appears at most once in `uses`.
    async fn use_assertions(&self, uses: &[AssertionUse]) -> StoreResult<Vec<bool>>;

    /// `use_assertions` for one.
    async fn use_assertion(&self, issuer: &str, jti_digest: &str, expires_at: UnixTime) -> StoreResult<bool> {
        let one = AssertionUse { issuer: issuer.to_owned(), jti_digest: jti_digest.to_owned(), expires_at };
        Ok(self.use_assertions(std::slice::from_ref(&one)).await?.first().copied().unwrap_or(false))
    }
}

#[async_trait]
impl AssertionStore for Database {
    async fn use_assertions(&self, uses: &[AssertionUse]) -> StoreResult<Vec<bool>> {
        if uses.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<String> =
            (0..uses.len()).map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3)).collect();
        let sql = format!(
            "INSERT INTO used_assertions (issuer, jti_hash, expires_at) VALUES {} \
             ON CONFLICT (issuer, jti_hash) DO NOTHING RETURNING issuer, jti_hash",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for one in uses {
            query =
                query.bind(one.issuer.as_str()).bind(one.jti_digest.as_str()).bind(one.expires_at.seconds());
        }
        let rows = self.bounded(query.fetch_all(self.pool())).await?;
        let mut inserted = HashSet::with_capacity(rows.len());
        for row in &rows {
            let key: (String, String) = (
                row.try_get("issuer").map_err(|e| StoreError::Unexpected(e.into()))?,
                row.try_get("jti_hash").map_err(|e| StoreError::Unexpected(e.into()))?,
            );
            inserted.insert(key);
        }
        Ok(uses.iter().map(|one| inserted.contains(&(one.issuer.clone(), one.jti_digest.clone()))).collect())
    }
}
