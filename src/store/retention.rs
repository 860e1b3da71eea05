//! Deleting rows that can never be valid again, in small batches (each a
//! short transaction, so no statement holds locks for long while the token
//! endpoints run), and the lock that lets one node at a time do it.

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::Any;

use super::{Backend, Database, StoreResult};
use crate::domain::UnixTime;

/// One kind of dead row. The order is the order of a purge: a grant's
/// children before the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeRule {
    /// Opaque access tokens past their expiry or revoked.
    AccessTokens,
    /// Deny-list entries of revoked JWTs past the JWT's own expiry.
    RevokedJwts,
    /// Refresh tokens past their expiry.
    RefreshTokens,
    /// Authorization codes a day past their expiry (until then a late
    /// replay still finds, and revokes, its grant).
    AuthorizationCodes,
    /// Grants revoked or past their absolute end, with their codes and
    /// refresh tokens.
    Grants,
    /// Browser sessions past their expiry.
    Sessions,
    /// Form-submission claims older than a day.
    FormSubmissions,
    /// Personal API tokens revoked or expired longer ago than kept.
    PersonalTokens,
    /// Audit events older than the retention.
    AuditEvents,
    /// Hourly token counts older than the dashboard shows.
    TokenCounts,
    /// Change-log entries every node has read.
    Changes,
}

impl PurgeRule {
    pub const ALL: [Self; 11] = [
        Self::AccessTokens,
        Self::RevokedJwts,
        Self::RefreshTokens,
        Self::AuthorizationCodes,
        Self::Grants,
        Self::Sessions,
        Self::FormSubmissions,
        Self::PersonalTokens,
        Self::AuditEvents,
        Self::TokenCounts,
        Self::Changes,
    ];

    /// The table, also the `table` label of `tessera_purged_rows_total`.
    pub fn table(self) -> &'static str {
        match self {
            Self::AccessTokens => "access_tokens",
            Self::RevokedJwts => "revoked_jwts",
            Self::RefreshTokens => "refresh_tokens",
            Self::AuthorizationCodes => "authorization_codes",
            Self::Grants => "grants",
            Self::Sessions => "sessions",
            Self::FormSubmissions => "form_submissions",
            Self::PersonalTokens => "personal_tokens",
            Self::AuditEvents => "audit_events",
            Self::TokenCounts => "token_issuance",
            Self::Changes => "changes",
        }
    }

    /// The row key, and each condition (on `$1`, the rule's cutoff) with
    /// the order that walks an index: a batch then reads only rows to
    /// delete, never the dead ones earlier batches left behind, so a purge
    /// of a million rows stays linear.
    fn sql(self) -> (&'static str, &'static [(&'static str, &'static str)]) {
        match self {
            Self::AccessTokens => (
                "token_hash",
                &[("expires_at < $1", "expires_at"), ("revoked_at IS NOT NULL AND $1 IS NOT NULL", "token_hash")],
            ),
            Self::RevokedJwts => ("jti", &[("expires_at < $1", "expires_at")]),
            Self::RefreshTokens => ("token_hash", &[("expires_at < $1", "expires_at")]),
            Self::AuthorizationCodes => ("code_hash", &[("expires_at < $1", "expires_at")]),
            Self::Grants => {
                ("id", &[("expires_at < $1", "expires_at, id"), ("revoked_at IS NOT NULL AND $1 IS NOT NULL", "id")])
            }
            Self::Sessions => ("id_hash", &[("expires_at < $1", "expires_at")]),
            Self::FormSubmissions => ("id", &[("created_at < $1", "id")]),
            Self::PersonalTokens => (
                "id",
                &[("(revoked_at IS NOT NULL AND revoked_at < $1) OR (expires_at IS NOT NULL AND expires_at < $1)", "id")],
            ),
            Self::AuditEvents => ("seq", &[("at < $1", "at")]),
            // Keyed by (client, hour): the hour alone picks the rows.
            Self::TokenCounts => ("hour", &[("hour < $1", "hour")]),
            Self::Changes => ("seq", &[("changed_at < $1", "seq")]),
        }
    }
}

/// The moment before which each rule's rows are dead.
#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    pub now: UnixTime,
    pub codes: UnixTime,
    pub form_submissions: UnixTime,
    pub personal_tokens: UnixTime,
    pub audit: UnixTime,
    pub token_counts: UnixTime,
    pub changes: UnixTime,
}

impl Cutoffs {
    fn of(&self, rule: PurgeRule) -> UnixTime {
        match rule {
            PurgeRule::AccessTokens
            | PurgeRule::RevokedJwts
            | PurgeRule::RefreshTokens
            | PurgeRule::Grants
            | PurgeRule::Sessions => self.now,
            PurgeRule::AuthorizationCodes => self.codes,
            PurgeRule::FormSubmissions => self.form_submissions,
            PurgeRule::PersonalTokens => self.personal_tokens,
            PurgeRule::AuditEvents => self.audit,
            PurgeRule::TokenCounts => self.token_counts,
            PurgeRule::Changes => self.changes,
        }
    }
}

/// Held by the node that purges; other nodes skip their turn. On Postgres
/// an advisory lock on a connection of its own (a node that dies loses it
/// with its connection); SQLite serves one node and needs none.
pub struct PurgeLock {
    connection: Option<PoolConnection<Any>>,
}

impl PurgeLock {
    /// Gives the lock back (and the connection to the pool).
    pub async fn release(mut self) {
        if let Some(mut connection) = self.connection.take() {
            let unlocked =
                sqlx::query("SELECT pg_advisory_unlock($1)").bind(PURGE_LOCK_KEY).execute(&mut *connection);
            if unlocked.await.is_err() {
                // Closing the connection ends its session, and the lock with it.
                drop(connection.detach());
            }
        }
    }
}

impl Drop for PurgeLock {
    fn drop(&mut self) {
        // Never back into the pool still holding the lock.
        if let Some(connection) = self.connection.take() {
            drop(connection.detach());
        }
    }
}

/// The advisory-lock key of the purge ("tessera" in ASCII, as a number).
const PURGE_LOCK_KEY: i64 = 0x0074_6573_7365_7261;

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Takes the purge lock if no other node holds it.
    async fn try_purge_lock(&self) -> StoreResult<Option<PurgeLock>>;
    /// How many rows `rule` would delete now (`--dry-run`).
    async fn count_purgeable(&self, rule: PurgeRule, cutoffs: &Cutoffs) -> StoreResult<u64>;
    /// Deletes at most `limit` dead rows of `rule` per condition; returns
    /// how many it did (fewer than `limit`: none are left).
    async fn purge_batch(&self, rule: PurgeRule, cutoffs: &Cutoffs, limit: u32) -> StoreResult<u64>;
}

#[async_trait]
impl RetentionStore for Database {
    async fn try_purge_lock(&self) -> StoreResult<Option<PurgeLock>> {
        if self.backend() == Backend::Sqlite {
            return Ok(Some(PurgeLock { connection: None }));
        }
        let locked = async {
            let mut connection = self.pool().acquire().await?;
            let (taken,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
                .bind(PURGE_LOCK_KEY)
                .fetch_one(&mut *connection)
                .await?;
            Ok(taken.then_some(PurgeLock { connection: Some(connection) }))
        };
        self.bounded(locked).await
    }

    async fn count_purgeable(&self, rule: PurgeRule, cutoffs: &Cutoffs) -> StoreResult<u64> {
        let (_, conditions) = rule.sql();
        let either = conditions.iter().map(|(condition, _)| format!("({condition})")).collect::<Vec<_>>();
        let sql = format!("SELECT COUNT(*) FROM {} WHERE {}", rule.table(), either.join(" OR "));
        let (count,): (i64,) = self
            .bounded(sqlx::query_as(&sql).bind(cutoffs.of(rule).seconds()).fetch_one(self.pool()))
            .await?;
        Ok(count.unsigned_abs())
    }

    async fn purge_batch(&self, rule: PurgeRule, cutoffs: &Cutoffs, limit: u32) -> StoreResult<u64> {
        let (key, conditions) = rule.sql();
        let table = rule.table();
        let cutoff = cutoffs.of(rule).seconds();
        let mut deleted = 0;
        for (condition, order) in conditions {
            let chosen =
                format!("SELECT {key} FROM {table} WHERE {condition} ORDER BY {order} LIMIT {limit}");
            deleted += if rule == PurgeRule::Grants {
                // The grants' codes and refresh tokens first, in the same
                // short transaction (the foreign keys' cascade stays the
                // safety net); the order makes the three statements pick
                // the same grants.
                let cascade = async {
                    let mut tx = self.pool().begin().await?;
                    relaxed_commit(self.backend(), &mut tx).await?;
                    for child in ["refresh_tokens", "authorization_codes"] {
                        sqlx::query(&format!("DELETE FROM {child} WHERE grant_id IN ({chosen})"))
                            .bind(cutoff)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let done = sqlx::query(&format!("DELETE FROM grants WHERE id IN ({chosen})"))
                        .bind(cutoff)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected())
                };
                self.bounded(cascade).await?
            } else {
                let sql = format!("DELETE FROM {table} WHERE {key} IN ({chosen})");
                let batch = async {
                    let mut tx = self.pool().begin().await?;
                    relaxed_commit(self.backend(), &mut tx).await?;
                    let done = sqlx::query(&sql).bind(cutoff).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(done.rows_affected())
                };
                self.bounded(batch).await?
            };
        }
        Ok(deleted)
    }
}

/// A purge's commit need not wait for its WAL to reach the disk: if the
/// server crashes first, the rows are simply deleted again next time. The
/// token paths keep their synchronous commits.
async fn relaxed_commit(backend: Backend, tx: &mut sqlx::Transaction<'_, Any>) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut **tx).await?;
    }
    Ok(())
}
