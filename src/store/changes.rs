//! The change log: every write to a client, a service account or a scope also writes
//! a row here, in the same transaction, so every node (and a server running
//! beside the command line) can drop what it cached about that principal.

use async_trait::async_trait;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row as _, Transaction};

use super::{Database, StoreError, StoreResult};
use crate::domain::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Client,
    ServiceAccount,
    /// A scope was enabled or disabled: every cached client's issuable
    /// scopes may have changed.
    Scope,
    /// A change this build does not know (written by a newer version):
    /// nothing cached can be trusted.
    Unknown,
}

impl Entity {
    fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::ServiceAccount => "service_account",
            Self::Scope => "scope",
            Self::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "client" => Self::Client,
            "service_account" => Self::ServiceAccount,
            "scope" => Self::Scope,
            _ => Self::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub entity: Entity,
    pub entity_id: String,
}

/// Sequence numbers are handed out before commit, so a transaction can
/// commit after one with a higher number; reading a little behind the last
/// number seen catches those late arrivals.
pub const LOOKBACK: i64 = 64;

pub(super) async fn record_change(
    tx: &mut Transaction<'_, Any>,
    entity: Entity,
    entity_id: &str,
    now: UnixTime,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO changes (entity, entity_id, changed_at) VALUES ($1, $2, $3)")
        .bind(entity.as_str())
        .bind(entity_id)
        .bind(now.seconds())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Database {
    /// Runs one statement that changes a principal and records the change,
    /// in one transaction; true if the statement matched a row.
    pub(super) async fn apply_change<'q>(
        &self,
        statement: Query<'q, Any, AnyArguments<'q>>,
        entity: Entity,
        entity_id: &str,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let done = statement.execute(&mut *tx).await?;
            record_change(&mut tx, entity, entity_id, now).await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        };
        self.bounded(transaction).await
    }
}

#[async_trait]
pub trait ChangeStore: Send + Sync {
    /// The highest sequence number so far (0 if none).
    async fn latest_change(&self) -> StoreResult<i64>;
    /// Changes with `seq > after - LOOKBACK`, oldest first.
    async fn changes_since(&self, after: i64) -> StoreResult<Vec<Change>>;
}

#[async_trait]
impl ChangeStore for Database {
    async fn latest_change(&self) -> StoreResult<i64> {
        let row = self
            .bounded(
                sqlx::query("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS seq FROM changes")
                    .fetch_one(self.pool()),
            )
            .await?;
        row.try_get("seq").map_err(|e| StoreError::Unexpected(e.into()))
    }

    async fn changes_since(&self, after: i64) -> StoreResult<Vec<Change>> {
        let rows = self
            .bounded(
                sqlx::query("SELECT seq, entity, entity_id FROM changes WHERE seq > $1 ORDER BY seq")
                    .bind(after - LOOKBACK)
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let entity: String = row.try_get("entity")?;
                Ok(Change {
                    seq: row.try_get("seq")?,
                    entity: Entity::parse(&entity),
                    entity_id: row.try_get("entity_id")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| StoreError::Unexpected(e.into()))
    }
}
