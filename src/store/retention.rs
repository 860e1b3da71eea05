//! Deleting rows that can never be valid again, in small batches (each a
//! short transaction, so no statement holds locks for long while the token
//! endpoints run), and the lock that lets one node at a time do it.

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Connection as _};

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
    /// Used JWT assertions past their expiry (a replay would be refused
    /// for its `exp` alone).
    UsedAssertions,
    /// Device authorizations past their expiry (an approved one's grant
    /// lives on under its own rule).
    DeviceCodes,
    /// Pushed authorization requests past their expiry.
    PushedRequests,
}

impl PurgeRule {
    pub const ALL: [Self; 14] = [
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
        Self::UsedAssertions,
        Self::DeviceCodes,
        Self::PushedRequests,
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
            Self::UsedAssertions => "used_assertions",
            Self::DeviceCodes => "device_codes",
            Self::PushedRequests => "pushed_requests",
        }
    }

    /// Each condition (on `$1`, the rule's cutoff) with the order that
    /// walks an index: a batch then reads only rows to delete, never the
    /// dead ones earlier batches left behind, so a purge of a million rows
    /// stays linear. The revoked conditions have partial indexes of their
    /// own (revoked rows are few).
    fn conditions(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::AccessTokens => {
                &[("expires_at < $1", "expires_at"), ("revoked_at IS NOT NULL AND $1 IS NOT NULL", "revoked_at")]
            }
            Self::RevokedJwts
            | Self::RefreshTokens
            | Self::AuthorizationCodes
            | Self::Sessions
            | Self::UsedAssertions
            | Self::DeviceCodes
            | Self::PushedRequests => {
                &[("expires_at < $1", "expires_at")]
            }
            Self::Grants => &[("expires_at < $1", "expires_at, id"), ("revoked_at IS NOT NULL AND $1 IS NOT NULL", "id")],
            Self::FormSubmissions => &[("created_at < $1", "id")],
            Self::PersonalTokens => {
                &[("(revoked_at IS NOT NULL AND revoked_at < $1) OR (expires_at IS NOT NULL AND expires_at < $1)", "id")]
            }
            Self::AuditEvents => &[("at < $1", "at")],
            // Keyed by (client, hour): the hour alone picks the rows.
            Self::TokenCounts => &[("hour < $1", "hour")],
            Self::Changes => &[("changed_at < $1", "seq")],
        }
    }
}

/// Deletes the rows `chosen` (a `SELECT` of at most a batch of rows) picks
/// by their physical address, Postgres's `ctid` and SQLite's `rowid`: the
/// delete then reads no index, only the heap pages the rows are on — a
/// third to a tenth of the work of a delete by primary key. Within the one
/// statement the addresses cannot be reused; a row updated meanwhile has
/// moved, is not deleted, and is picked up next time if still dead.
fn delete_by_address(backend: Backend, table: &str, condition: &str, order: &str, limit: u32) -> String {
    match backend {
        Backend::Postgres => format!(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM {table} WHERE {condition} ORDER BY {order} LIMIT {limit}))"
        ),
        Backend::Sqlite => format!(
            "DELETE FROM {table} WHERE rowid IN (\
             SELECT rowid FROM {table} WHERE {condition} ORDER BY {order} LIMIT {limit})"
        ),
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
            | PurgeRule::Sessions
            | PurgeRule::UsedAssertions
            | PurgeRule::PushedRequests => self.now,
            PurgeRule::AuthorizationCodes | PurgeRule::DeviceCodes => self.codes,
            PurgeRule::FormSubmissions => self.form_submissions,
            PurgeRule::PersonalTokens => self.personal_tokens,
            PurgeRule::AuditEvents => self.audit,
            PurgeRule::TokenCounts => self.token_counts,
            PurgeRule::Changes => self.changes,
        }
    }
}

/// A purge in progress, held by the node that purges; other nodes skip
/// their turn. On Postgres it is a connection of its own holding an
/// advisory lock (a node that dies loses it with its connection), on which
/// every batch runs as one statement whose commit does not wait for its WAL
/// flush: if the server crashes first, the rows are simply deleted again
/// next time. The token paths keep their synchronous commits. SQLite serves
/// one node and needs no lock.
pub struct PurgeSession {
    connection: Option<PoolConnection<Any>>,
}

impl PurgeSession {
    /// Ends the session: the connection is closed, never returned to the
    /// pool with the lock or the relaxed commits still on it.
    pub async fn end(mut self) {
        if let Some(mut connection) = self.connection.take() {
            // The lock is released before the connection goes: closing
            // alone ends the server's backend a moment later, and a node
            // asking for the lock in that moment would skip its turn.
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PURGE_LOCK_KEY)
                .execute(&mut *connection)
                .await;
            let _ = connection.detach().close().await;
        }
    }
}

impl Drop for PurgeSession {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            drop(connection.detach());
        }
    }
}

/// The advisory-lock key of the purge ("tessera" in ASCII, as a number).
const PURGE_LOCK_KEY: i64 = 0x0074_6573_7365_7261;

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Starts a purge if no other node is purging right now.
    async fn begin_purge(&self) -> StoreResult<Option<PurgeSession>>;
    /// How many rows `rule` would delete now (`--dry-run`).
    async fn count_purgeable(&self, rule: PurgeRule, cutoffs: &Cutoffs) -> StoreResult<u64>;
    /// Deletes at most `limit` dead rows of `rule` per condition; returns
    /// how many it did (fewer than `limit`: none are left).
    async fn purge_batch(
        &self,
        session: &mut PurgeSession,
        rule: PurgeRule,
        cutoffs: &Cutoffs,
        limit: u32,
    ) -> StoreResult<u64>;
}

#[async_trait]
impl RetentionStore for Database {
    async fn begin_purge(&self) -> StoreResult<Option<PurgeSession>> {
        if self.backend() == Backend::Sqlite {
            return Ok(Some(PurgeSession { connection: None }));
        }
        let locked = async {
            let mut connection = self.pool().acquire().await?;
            let (taken,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
                .bind(PURGE_LOCK_KEY)
                .fetch_one(&mut *connection)
                .await?;
            if !taken {
                return Ok(None);
            }
            sqlx::query("SET synchronous_commit = off").execute(&mut *connection).await?;
            Ok(Some(PurgeSession { connection: Some(connection) }))
        };
        self.bounded(locked).await
    }

    async fn count_purgeable(&self, rule: PurgeRule, cutoffs: &Cutoffs) -> StoreResult<u64> {
        let either =
            rule.conditions().iter().map(|(condition, _)| format!("({condition})")).collect::<Vec<_>>();
        let sql = format!("SELECT COUNT(*) FROM {} WHERE {}", rule.table(), either.join(" OR "));
        let (count,): (i64,) = self
            .bounded(sqlx::query_as(&sql).bind(cutoffs.of(rule).seconds()).fetch_one(self.pool()))
            .await?;
        Ok(count.unsigned_abs())
    }

    async fn purge_batch(
        &self,
        session: &mut PurgeSession,
        rule: PurgeRule,
        cutoffs: &Cutoffs,
        limit: u32,
    ) -> StoreResult<u64> {
        let cutoff = cutoffs.of(rule).seconds();
        let mut deleted = 0;
        for (condition, order) in rule.conditions() {
            let batch = async {
                // Postgres: the session's own connection; SQLite: one from
                // the pool for this batch only (holding its one writer for a
                // whole purge would stall the server).
                let mut pooled;
                let connection: &mut sqlx::AnyConnection = match session.connection.as_mut() {
                    Some(held) => held,
                    None => {
                        pooled = self.pool().acquire().await?;
                        &mut pooled
                    }
                };
                if rule == PurgeRule::Grants {
                    delete_grants(connection, condition, order, limit, cutoff).await
                } else {
                    let sql = delete_by_address(self.backend(), rule.table(), condition, order, limit);
                    let done = sqlx::query(&sql).bind(cutoff).execute(connection).await?;
                    Ok(done.rows_affected())
                }
            };
            deleted += self.bounded(batch).await?;
        }
        Ok(deleted)
    }
}

/// Grants go by id, their codes and refresh tokens first, in one short
/// transaction (the foreign keys' cascade stays the safety net); the order
/// makes the three statements pick the same grants.
async fn delete_grants(
    connection: &mut sqlx::AnyConnection,
    condition: &str,
    order: &str,
    limit: u32,
    cutoff: i64,
) -> Result<u64, sqlx::Error> {
    let chosen = format!("SELECT id FROM grants WHERE {condition} ORDER BY {order} LIMIT {limit}");
    let mut tx = connection.begin().await?;
    for child in ["refresh_tokens", "authorization_codes", "device_codes"] {
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
}
