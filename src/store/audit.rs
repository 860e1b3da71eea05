//! The audit log's rows and the hourly token-issuance counts shown on the
//! console's dashboard.

use async_trait::async_trait;
use sqlx::Row as _;

use super::{Database, StoreError, StoreResult};
use crate::domain::UnixTime;

const INSERT_EVENT: &str =
    "INSERT INTO audit_events (at, kind, actor, address, target, detail) VALUES ($1, $2, $3, $4, $5, $6)";

/// One row of the audit log as written.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub at: UnixTime,
    pub kind: String,
    pub actor: String,
    pub address: Option<String>,
    pub target: String,
    pub detail: String,
}

/// One row of the audit log as read, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: UnixTime,
    pub kind: String,
    pub actor: String,
    pub address: Option<String>,
    pub target: String,
    pub detail: String,
}

/// Which rows to list: every field is optional and they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Exact event kinds; empty means every kind.
    pub kinds: Vec<String>,
    /// Exact actor.
    pub actor: Option<String>,
    /// Substring of the target or the detail.
    pub text: Option<String>,
    /// Rows older than this sequence number (keyset paging).
    pub before: Option<i64>,
    pub limit: u32,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit_event(&self, event: &NewAuditEvent) -> StoreResult<()>;
    /// Several events in one transaction (the background writer's batches).
    async fn insert_audit_events(&self, events: &[NewAuditEvent]) -> StoreResult<()>;
    async fn list_audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// Adds `issued` tokens to a client's count for the hour starting at `hour`.
    async fn add_token_issuance(&self, counts: &[(String, i64)], hour: UnixTime) -> StoreResult<()>;
    /// Tokens issued per client since `since`, most first.
    async fn token_issuance_since(&self, since: UnixTime) -> StoreResult<Vec<(String, i64)>>;
}

#[async_trait]
impl AuditStore for Database {
    async fn insert_audit_event(&self, event: &NewAuditEvent) -> StoreResult<()> {
        self.insert_audit_events(std::slice::from_ref(event)).await
    }

    async fn insert_audit_events(&self, events: &[NewAuditEvent]) -> StoreResult<()> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            for event in events {
                sqlx::query(INSERT_EVENT)
                    .bind(event.at.seconds())
                    .bind(&event.kind)
                    .bind(&event.actor)
                    .bind(event.address.as_deref())
                    .bind(&event.target)
                    .bind(&event.detail)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        };
        self.bounded(transaction).await
    }

    async fn list_audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        // The filters are fixed SQL with bound values; an absent filter is a
        // NULL that matches everything. The kinds are an `IN` list of
        // placeholders, so one kind walks the (kind, seq) index.
        let kinds = if query.kinds.is_empty() {
            "1 = 1".to_owned()
        } else {
            let placeholders = (0..query.kinds.len()).map(|i| format!("${}", i + 5)).collect::<Vec<_>>();
            format!("kind IN ({})", placeholders.join(", "))
        };
        let sql = format!(
            "SELECT seq, at, kind, actor, address, target, detail FROM audit_events \
             WHERE {kinds} \
               AND ($1 IS NULL OR actor = $1) \
               AND ($2 IS NULL OR target LIKE $2 ESCAPE '\\' OR detail LIKE $2 ESCAPE '\\') \
               AND ($3 IS NULL OR seq < $3) \
             ORDER BY seq DESC LIMIT $4"
        );
        let text = query.text.as_ref().map(|t| format!("%{}%", escape_like(t)));
        let mut statement = sqlx::query(&sql)
            .bind(query.actor.as_deref())
            .bind(text)
            .bind(query.before)
            .bind(i64::from(query.limit));
        for kind in &query.kinds {
            statement = statement.bind(kind.as_str());
        }
        let rows = self.bounded(statement.fetch_all(self.pool())).await?;
        rows.iter()
            .map(|row| {
                let read = || -> Result<AuditRecord, sqlx::Error> {
                    Ok(AuditRecord {
                        seq: row.try_get("seq")?,
                        at: UnixTime::from_seconds(row.try_get("at")?),
                        kind: row.try_get("kind")?,
                        actor: row.try_get("actor")?,
                        address: row.try_get("address")?,
                        target: row.try_get("target")?,
                        detail: row.try_get("detail")?,
                    })
                };
                read().map_err(|e| StoreError::Unexpected(e.into()))
            })
            .collect()
    }

    async fn add_token_issuance(&self, counts: &[(String, i64)], hour: UnixTime) -> StoreResult<()> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            for (client, issued) in counts {
                sqlx::query(
                    "INSERT INTO token_issuance (client_id, hour, issued) VALUES ($1, $2, $3) \
                     ON CONFLICT (client_id, hour) DO UPDATE SET issued = token_issuance.issued + excluded.issued",
                )
                .bind(client)
                .bind(hour.seconds())
                .bind(issued)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        };
        self.bounded(transaction).await
    }

    async fn token_issuance_since(&self, since: UnixTime) -> StoreResult<Vec<(String, i64)>> {
        let rows = self
            .bounded(
                sqlx::query(
                    "SELECT client_id, CAST(SUM(issued) AS BIGINT) AS issued FROM token_issuance \
                     WHERE hour >= $1 GROUP BY client_id ORDER BY issued DESC, client_id",
                )
                .bind(since.seconds())
                .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("client_id")?, row.try_get("issued")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| StoreError::Unexpected(e.into()))
    }
}

/// `%`, `_` and `\` match themselves in a LIKE pattern.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
