//! The only place that knows which database it is talking to: connecting,
//! SQLite pragmas, picking the migration set, and turning driver errors
//! into `StoreError`.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

use anyhow::Context as _;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor as _};

use super::{StoreError, StoreResult};
use crate::domain::ScopeSet;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            anyhow::bail!("the database URL must start with postgres:// or sqlite://")
        }
    }
}

#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
    timeout: Duration,
    fault: Arc<Mutex<Option<FaultPoint>>>,
    broken: Arc<BrokenSince>,
}

/// When the database was last seen broken: a dropped connection, a server
/// shutting down, or a primary demoted to a read-only replica (failover).
/// Every connection opened before that moment is closed instead of reused
/// (checked when it is taken from the pool and when it is given back), so
/// one failure empties the pool of connections to the old server at once.
#[derive(Debug)]
struct BrokenSince {
    epoch: Instant,
    /// Nanoseconds after `epoch`; 0 while nothing broke.
    at: AtomicU64,
}

impl BrokenSince {
    fn new() -> Self {
        Self { epoch: Instant::now(), at: AtomicU64::new(0) }
    }

    fn mark(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
        self.at.fetch_max(now, Ordering::AcqRel);
    }

    /// Was a connection of this age opened before the last break?
    fn predates_break(&self, age: Duration) -> bool {
        let at = self.at.load(Ordering::Acquire);
        if at == 0 {
            return false;
        }
        let broke_ago = self.epoch.elapsed().saturating_sub(Duration::from_nanos(at));
        age >= broke_ago
    }
}

/// A point between the statements of a multi-statement transaction where
/// a test can make the connection fail, to see that the transaction leaves
/// nothing half done (the old token still works, or the new one does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// A refresh token is marked used; its successor is not stored yet.
    AfterRefreshTokenConsumed,
    /// A code is marked used; its refresh token is not stored yet.
    AfterCodeConsumed,
}

impl Database {
    /// Builds the pool without connecting, so the server can start (and
    /// answer 503) while the database is still down.
    pub fn connect_lazy(url: &str, timeout: Duration, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let broken = Arc::new(BrokenSince::new());
        let (on_acquire, on_release) = (broken.clone(), broken.clone());
        let options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(timeout)
            .idle_timeout(Duration::from_secs(300))
            .max_lifetime(Duration::from_secs(1_800))
            .test_before_acquire(false)
            .before_acquire(move |_, meta| {
                let keep = !on_acquire.predates_break(meta.age);
                Box::pin(async move { Ok(keep) })
            })
            .after_release(move |_, meta| {
                let keep = !on_release.predates_break(meta.age);
                Box::pin(async move { Ok(keep) })
            });
        let options = match backend {
            Backend::Sqlite => options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options,
        };
        let pool = options.connect_lazy(&url).context("the database URL is not valid")?;
        Ok(Self { pool, backend, timeout, fault: Arc::default(), broken })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies pending migrations of this backend.
    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        let run = async {
            migrator.run(&self.pool).await.map_err(|error| match error {
                sqlx::migrate::MigrateError::Execute(inner) => map_error(inner),
                other => StoreError::Unexpected(anyhow::Error::new(other).context("migration failed")),
            })
        };
        // Migrations may legitimately take longer than one statement.
        match tokio::time::timeout(self.timeout * 10, run).await {
            Ok(result) => result?,
            Err(_) => return Err(StoreError::Unavailable(anyhow::anyhow!("migrations timed out"))),
        }
        // What SQL alone cannot fill in: name keys in Unicode lower case.
        self.register_principal_names().await
    }

    /// Is the database answering? For `/readyz`.
    pub async fn ping(&self) -> StoreResult<()> {
        self.bounded(async { sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()) }).await
    }

    /// Runs one database operation with the statement timeout, mapping errors.
    pub(super) async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> StoreResult<T> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                if is_broken_connection(&error) {
                    self.broken.mark();
                }
                Err(map_error(error))
            }
            Err(_) => {
                // A statement that hangs may sit on a half-open connection.
                self.broken.mark();
                Err(StoreError::Unavailable(anyhow::anyhow!(
                    "the database did not answer within {:?}",
                    self.timeout
                )))
            }
        }
    }

    /// An idempotent read, tried once more on a fresh connection when the
    /// first try met a broken one (a failover, a restarted server) and
    /// failed fast; the two tries together stay within about one timeout.
    /// Writes are never retried here: whether they committed is unknown.
    pub(super) async fn read<T, F, Fut>(&self, query: F) -> StoreResult<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let started = Instant::now();
        match self.bounded(query()).await {
            Err(StoreError::Unavailable(cause)) if started.elapsed() < self.timeout / 2 => {
                tracing::debug!(error = %cause, "retrying a read on a fresh connection");
                self.bounded(query()).await
            }
            other => other,
        }
    }

    /// Connections the pool holds, and how many of them are idle.
    pub fn connections(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Arms (or with `None` disarms) a one-shot fault: the next transaction
    /// that passes `at` fails there as if the connection had dropped.
    pub fn inject_fault(&self, at: Option<FaultPoint>) {
        *crate::sync::lock(&self.fault) = at;
    }

    /// Fails here if a fault is armed at `point` (and disarms it).
    pub(super) fn fault_at(&self, point: FaultPoint) -> Result<(), sqlx::Error> {
        let mut armed = crate::sync::lock(&self.fault);
        if *armed == Some(point) {
            *armed = None;
            let lost = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected fault");
            return Err(sqlx::Error::Io(lost));
        }
        Ok(())
    }
}

fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!("an in-memory SQLite database would lose everything at exit; give a file path, e.g. sqlite://./data/tessera.db");
    }
    if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if rest.contains("mode=") {
        Ok(url.to_owned())
    } else if rest.contains('?') {
        Ok(format!("{url}&mode=rwc"))
    } else {
        Ok(format!("{url}?mode=rwc"))
    }
}

/// Does this error mean the connection (or the server behind it) can no
/// longer be trusted: lost, shutting down, or read-only after a failover?
fn is_broken_connection(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed | sqlx::Error::Protocol(_) => {
            true
        }
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            code.starts_with("57P") || code.starts_with("08") || code == READ_ONLY_TRANSACTION
        }
        _ => false,
    }
}

/// SQLSTATE of a write sent to a read-only server (a demoted primary).
const READ_ONLY_TRANSACTION: &str = "25006";

/// Driver errors → store errors: connection-level trouble and a read-only
/// server are `Unavailable` (503 upstream), constraint violations are
/// `Conflict`.
pub(super) fn map_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(anyhow::Error::new(error)),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if db.is_unique_violation() {
                StoreError::Conflict("already exists".into())
            } else if db.is_foreign_key_violation() {
                StoreError::Conflict("refers to something that does not exist".into())
            } else if code.starts_with("57P")
                || code.starts_with("08")
                || code == "53300"
                || code == READ_ONLY_TRANSACTION
            {
                // admin shutdown, connection exceptions, too many connections,
                // a primary demoted to a replica during a failover
                StoreError::Unavailable(anyhow::anyhow!("database error {code}: {}", db.message()))
            } else if code == "3D000" {
                StoreError::Unexpected(anyhow::anyhow!(
                    "{}: Tessera creates its tables, not the database; create it first (createdb --owner <role> <name>)",
                    db.message()
                ))
            } else {
                StoreError::Unexpected(anyhow::anyhow!("database error {code}: {}", db.message()))
            }
        }
        other => StoreError::Unexpected(anyhow::Error::new(other)),
    }
}

/// Reads a 0/1 flag column.
pub(super) fn flag(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row as _;
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// Reads a scope column: names as `ScopeSet` writes them, parsed once here.
pub(super) fn scope(row: &AnyRow, column: &str) -> anyhow::Result<ScopeSet> {
    use sqlx::Row as _;
    let text: String = row.try_get(column)?;
    ScopeSet::parse(&text).with_context(|| format!("stored {column} is invalid"))
}

pub(super) fn to_flag(value: bool) -> i64 {
    i64::from(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_url_scheme() {
        assert_eq!(Backend::of_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(Backend::of_url("sqlite://./x.db").unwrap(), Backend::Sqlite);
        assert!(Backend::of_url("mysql://h/db").is_err());
    }

    #[test]
    fn connections_opened_before_a_break_are_dropped_and_later_ones_kept() {
        let broken = BrokenSince::new();
        assert!(!broken.predates_break(Duration::from_secs(3_600)), "nothing broke yet");
        std::thread::sleep(Duration::from_millis(20));
        broken.mark();
        assert!(broken.predates_break(Duration::from_secs(1)), "opened a second ago: before the break");
        std::thread::sleep(Duration::from_millis(20));
        assert!(!broken.predates_break(Duration::from_millis(5)), "opened after the break");
    }

    #[test]
    fn in_memory_sqlite_is_refused() {
        assert!(prepare_sqlite_url("sqlite::memory:").is_err());
    }

    #[test]
    fn migration_folders_hold_the_same_file_names() {
        let names = |dir: &str| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let root = env!("CARGO_MANIFEST_DIR");
        assert_eq!(
            names(&format!("{root}/migrations/postgres")),
            names(&format!("{root}/migrations/sqlite"))
        );
    }
}
