//! The retention purge: deletes rows that can never be valid again —
//! expired or revoked tokens and codes, ended grants, expired sessions and
//! form claims, personal tokens ended longer ago than they stay listed, old
//! audit events — in small batches, one node at a time. The scheduler in
//! `startup` runs it every `TESSERA_PURGE_INTERVAL`; `tessera purge` runs
//! it once (or counts with `--dry-run`).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;
use crate::config::RetentionPolicy;
use crate::metrics::Metrics;
use crate::store::{Cutoffs, PurgeRule, Store, StoreResult};

/// Rows deleted per statement: small enough that each delete is a short
/// transaction next to the token traffic.
pub const BATCH_SIZE: u32 = 1_000;
/// The shortest pause between batches. After each batch the purge also
/// waits twice as long as the batch took, so it keeps the database busy a
/// third of the time at most: a long purge leaves it to the requests.
const MIN_BATCH_PAUSE: Duration = Duration::from_millis(10);
/// Codes stay a day past their 60 s: a late replay still finds its grant.
const CODE_KEEP_SECONDS: i64 = 86_400;
/// Form claims only need to outlive the form's page.
const FORM_KEEP_SECONDS: i64 = 86_400;
/// The dashboard shows the last 24 hours; a week more is kept.
const TOKEN_COUNT_KEEP_SECONDS: i64 = 8 * 86_400;
/// Every node reads the change log every second; a day is plenty.
const CHANGE_KEEP_SECONDS: i64 = 86_400;

/// What one purge did (or, dry, would do).
#[derive(Debug, Clone, Serialize)]
pub struct PurgeReport {
    pub dry_run: bool,
    /// False when another node held the purge lock (nothing was done).
    pub ran: bool,
    /// Rows per table, in purge order.
    pub tables: Vec<TableCount>,
    pub total: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableCount {
    pub table: &'static str,
    pub rows: u64,
}

pub struct Retention {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: RetentionPolicy,
    metrics: Arc<Metrics>,
}

impl Retention {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        policy: RetentionPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { store, clock, policy, metrics }
    }

    fn cutoffs(&self) -> Cutoffs {
        let now = self.clock.now();
        Cutoffs {
            now,
            codes: now.plus(-CODE_KEEP_SECONDS),
            form_submissions: now.plus(-FORM_KEEP_SECONDS),
            personal_tokens: now.plus(-self.policy.pat_keep_ended.seconds()),
            audit: now.plus(-self.policy.audit.seconds()),
            token_counts: now.plus(-TOKEN_COUNT_KEEP_SECONDS),
            changes: now.plus(-CHANGE_KEEP_SECONDS),
        }
    }

    /// Deletes every dead row, unless another node is purging right now.
    pub async fn purge(&self) -> StoreResult<PurgeReport> {
        let started = std::time::Instant::now();
        let Some(lock) = self.store.try_purge_lock().await? else {
            return Ok(PurgeReport {
                dry_run: false,
                ran: false,
                tables: Vec::new(),
                total: 0,
                seconds: 0.0,
            });
        };
        let cutoffs = self.cutoffs();
        let result = self.purge_all(&cutoffs).await;
        lock.release().await;
        let tables = result?;
        let total = tables.iter().map(|t| t.rows).sum();
        Ok(PurgeReport { dry_run: false, ran: true, tables, total, seconds: started.elapsed().as_secs_f64() })
    }

    async fn purge_all(&self, cutoffs: &Cutoffs) -> StoreResult<Vec<TableCount>> {
        let mut tables = Vec::new();
        for rule in PurgeRule::ALL {
            let mut rows = 0;
            loop {
                let started = std::time::Instant::now();
                let deleted = self.store.purge_batch(rule, cutoffs, BATCH_SIZE).await?;
                rows += deleted;
                self.metrics.purged_rows.with_label_values(&[rule.table()]).inc_by(deleted);
                if deleted < u64::from(BATCH_SIZE) {
                    break;
                }
                tokio::time::sleep((started.elapsed() * 2).max(MIN_BATCH_PAUSE)).await;
            }
            tables.push(TableCount { table: rule.table(), rows });
        }
        Ok(tables)
    }

    /// Counts what a purge would delete now, deleting nothing.
    pub async fn dry_run(&self) -> StoreResult<PurgeReport> {
        let started = std::time::Instant::now();
        let cutoffs = self.cutoffs();
        let mut tables = Vec::new();
        for rule in PurgeRule::ALL {
            tables.push(TableCount {
                table: rule.table(),
                rows: self.store.count_purgeable(rule, &cutoffs).await?,
            });
        }
        let total = tables.iter().map(|t| t.rows).sum();
        Ok(PurgeReport { dry_run: true, ran: true, tables, total, seconds: started.elapsed().as_secs_f64() })
    }
}
