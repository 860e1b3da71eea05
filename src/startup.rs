//! `Application::build(settings)`: everything the server needs, wired once,
//! bound to a port (port 0 in tests) and ready to run. `main` and the tests
//! start the same server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders, Logger};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::accounts::{Accounts, BOOTSTRAP_ADMIN};
use crate::admin::{Admin, AdminParts};
use crate::audit::Audit;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::crypto::password::PasswordHasher;
use crate::http::{routes, AppState, CookieSettings};
use crate::jira::Jira;
use crate::keys::KeyManager;
use crate::metrics::{self, Metrics};
use crate::oauth::discovery::Metadata;
use crate::oauth::throttle::{FailureThrottle, ThrottleCounters, ThrottlePolicy};
use crate::oauth::{OAuthConfig, OAuthServer};
use crate::personal_tokens::PersonalTokens;
use crate::sessions::Sessions;
use crate::store::{ClientCache, Database, Store, StoreError, SYNC_INTERVAL};

/// The parts every entry point (server, command line, tests) shares.
pub struct Core {
    pub settings: Settings,
    pub database: Database,
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyManager>,
    pub oauth: Arc<OAuthServer>,
    pub admin: Arc<Admin>,
    pub accounts: Arc<Accounts>,
    pub audit: Arc<Audit>,
    pub personal_tokens: Arc<PersonalTokens>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
}

impl Core {
    /// Connects, migrates, loads the master key and the signing keys.
    pub async fn open(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let database = Database::connect_lazy(
            &settings.database_url,
            settings.database_timeout,
            settings.database_max_connections,
        )?;
        database.migrate().await.with_context(|| {
            format!("cannot prepare the database ({})", redact_url(&settings.database_url))
        })?;
        warn_if_issuer_is_plain_http(&settings.issuer);
        let (master, created) = settings.master_key()?;
        if created {
            tracing::warn!(
                path = %settings.data_dir.join("master.key").display(),
                "generated a master key file; set TESSERA_MASTER_KEY in production and keep it safe: it decrypts the signing keys"
            );
        }
        let store: Arc<dyn Store> = Arc::new(database.clone());
        let keys = Arc::new(KeyManager::new(
            store.clone(),
            master.key_cipher(),
            clock.clone(),
            settings.signing_alg,
            settings.key_publish_ahead,
        ));
        keys.ensure_signing_key().await.context("cannot load the signing keys")?;
        let hasher = master.secret_hasher();
        let metrics = Arc::new(Metrics::new());
        let clients = Arc::new(ClientCache::new());
        let audit = Arc::new(Audit::new(store.clone(), clock.clone(), metrics.audit_dropped.clone()));
        audit.spawn_writer();
        let personal_tokens = Arc::new(PersonalTokens::new(
            store.clone(),
            hasher.clone(),
            clock.clone(),
            audit.clone(),
            settings.personal_tokens,
        ));
        let oauth = Arc::new(OAuthServer {
            store: store.clone(),
            keys: keys.clone(),
            hasher: hasher.clone(),
            clock: clock.clone(),
            config: OAuthConfig {
                issuer: settings.issuer.clone(),
                default_audience: settings.default_audience.clone(),
                username_claim: settings.username_claim.clone(),
                access_token_ttl: settings.access_token_ttl,
            },
            throttle: FailureThrottle::new(
                ThrottlePolicy::CLIENT_AUTHENTICATION,
                throttle_counters(&metrics, metrics::THROTTLE_CLIENT_AUTH),
            ),
            metrics: metrics.clone(),
            clients: clients.clone(),
            audit: audit.clone(),
            personal_tokens: personal_tokens.clone(),
        });
        let admin = Arc::new(Admin::new(AdminParts {
            store: store.clone(),
            clients,
            hasher,
            clock: clock.clone(),
            secret_rotation_grace: settings.secret_rotation_grace,
            audit: audit.clone(),
            keys: keys.clone(),
        }));
        let concurrency = std::thread::available_parallelism().map_or(2, |n| n.get());
        let accounts = Arc::new(Accounts::new(
            store.clone(),
            PasswordHasher::new(concurrency),
            clock.clone(),
            audit.clone(),
        ));
        Ok(Self {
            settings,
            database,
            store,
            keys,
            oauth,
            admin,
            accounts,
            audit,
            personal_tokens,
            clock,
            metrics,
        })
    }
}

/// The metric counters of one throttle.
fn throttle_counters(metrics: &Metrics, kind: &str) -> ThrottleCounters {
    ThrottleCounters {
        throttled: Some(metrics.throttled.with_label_values(&[kind])),
        untracked: Some(metrics.throttle_untracked.with_label_values(&[kind])),
        scanners: Some(metrics.throttled.with_label_values(&[metrics::THROTTLE_INTROSPECTION_SCAN])),
    }
}

/// `Core::open`, retried while the database is unreachable (SECURITY-CHECKLIST
/// §4.1: a server started during an outage becomes ready when the database
/// returns). Any other error — a bad URL, a wrong master key — ends at once.
async fn open_when_database_answers(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Core> {
    let mut delay = Duration::from_millis(250);
    loop {
        match Core::open(settings.clone(), clock.clone()).await {
            Ok(core) => return Ok(core),
            Err(error) if matches!(error.downcast_ref::<StoreError>(), Some(StoreError::Unavailable(_))) => {
                tracing::warn!(
                    error = %format!("{error:#}"),
                    retry_in = ?delay,
                    "the database is not reachable yet; waiting for it"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(error) => return Err(error),
        }
    }
}

/// A bound, not yet running server plus its background maintenance.
pub struct Application {
    port: u16,
    server: Server,
    pub core: Arc<Core>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let core = Arc::new(open_when_database_answers(settings, clock).await?);
        let given = core.settings.bootstrap_admin_password.as_ref().map(|p| p.expose());
        if let Some(password) = core.accounts.ensure_bootstrap_admin(given).await? {
            // Shown once, on the console, never through the log.
            eprintln!(
                "\n  Created the first administrator.\n    username: {BOOTSTRAP_ADMIN}\n    password: {}\n  It is shown only now; change it after signing in.\n",
                password.expose()
            );
        }
        let metadata = serde_json::to_vec(&Metadata::new(
            &core.settings.issuer,
            core.settings.signing_alg,
            &core.settings.username_claim,
        ))?;
        let state = web::Data::new(AppState {
            oauth: core.oauth.clone(),
            database: core.database.clone(),
            metadata: web::Bytes::from(metadata),
            sessions: Arc::new(Sessions::new(
                core.store.clone(),
                core.oauth.hasher.clone(),
                core.clock.clone(),
            )),
            accounts: core.accounts.clone(),
            login_throttle: FailureThrottle::new(
                ThrottlePolicy::SIGN_IN,
                throttle_counters(&core.metrics, metrics::THROTTLE_SIGN_IN),
            ),
            cookies: CookieSettings::for_issuer(&core.settings.issuer),
            admin: core.admin.clone(),
            key_publish_ahead: core.settings.key_publish_ahead,
            jira: Arc::new(Jira::new(core.oauth.clone(), core.settings.jira_url.clone())),
        });
        let body_timeout = core.settings.body_timeout;
        let https = core.settings.issuer.starts_with("https://");
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(move |request, next| {
                    crate::http::limits::body_deadline(body_timeout, request, next)
                }))
                .wrap(default_headers(https))
                // Path without the query string, so nothing passed in a URL reaches the log.
                .wrap(
                    Logger::new("%{r}a \"%{METHOD}xi %U\" %s %b %Dms")
                        .custom_request_replace("METHOD", |request| request.method().to_string())
                        .log_target("tessera::access"),
                )
                .app_data(state.clone())
                .configure(routes)
        })
        .listen(listener)?
        .client_request_timeout(REQUEST_HEAD_TIMEOUT)
        .shutdown_timeout(20);
        let workers = core
            .settings
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
        let workers = workers.max(1);
        let connections =
            connection_cap(core.settings.max_connections, core.settings.database_max_connections);
        server = server.workers(workers).max_connections(connections.div_ceil(workers));
        core.oauth.clients.sync(core.store.as_ref()).await?;
        let background = vec![
            spawn_key_maintenance(core.clone()),
            spawn_token_purge(core.clone()),
            spawn_cache_sync(core.clone()),
            spawn_count_flush(core.clone()),
        ];
        Ok(Self { port, server: server.run(), core, background })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped (SIGTERM/SIGINT: graceful).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in &self.background {
            task.abort();
        }
        self.core.audit.flush(AUDIT_FLUSH_TIMEOUT).await;
        if let Err(error) = self.core.audit.flush_counts().await {
            tracing::warn!(%error, "could not save the last token counts");
        }
        if let Err(error) = self.core.personal_tokens.flush_usage().await {
            tracing::warn!(%error, "could not save when personal tokens were last used");
        }
        self.core.database.close().await;
        result
    }
}

/// Picks up keys rotated on other nodes or by the command line, and runs
/// the scheduled rotation.
fn spawn_key_maintenance(core: Arc<Core>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        tick.tick().await;
        loop {
            tick.tick().await;
            let result = match core.settings.key_rotation_interval {
                Some(interval) => core.keys.rotate_if_due(interval).await.map(|_| ()),
                None => core.keys.reload().await,
            };
            if let Err(error) = result {
                tracing::warn!(%error, "could not refresh the signing keys; serving the ones in memory");
            }
        }
    })
}

/// A change-log read slower than this counts as failed: the cache is
/// dropped rather than trusted while the database is in doubt.
const SYNC_TIMEOUT: Duration = Duration::from_secs(1);

/// Drops cached clients that changed on another node or from the command line.
fn spawn_cache_sync(core: Arc<Core>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SYNC_INTERVAL);
        let mut failing = false;
        loop {
            tick.tick().await;
            let sync = tokio::time::timeout(SYNC_TIMEOUT, core.oauth.clients.sync(core.store.as_ref()));
            match sync.await.unwrap_or_else(|_| {
                Err(StoreError::Unavailable(anyhow::anyhow!("change log read timed out")))
            }) {
                Ok(()) => failing = false,
                Err(error) => {
                    // Without the change log nothing cached can be trusted.
                    core.oauth.clients.clear();
                    if !failing {
                        tracing::warn!(%error, "cannot read the change log; client cache disabled until it can");
                    }
                    failing = true;
                }
            }
        }
    })
}

/// How often the tokens-issued counts go from memory to the database.
pub const COUNT_FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// Saves the per-client token counts of the dashboard and the last use of
/// personal tokens, in batches.
fn spawn_count_flush(core: Arc<Core>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(COUNT_FLUSH_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(error) = core.audit.flush_counts().await {
                tracing::warn!(%error, "could not save token counts; keeping them for the next try");
            }
            if let Err(error) = core.personal_tokens.flush_usage().await {
                tracing::warn!(%error, "could not save personal-token use; keeping it for the next try");
            }
        }
    })
}

/// Deletes records of expired opaque tokens and revoked JWTs.
fn spawn_token_purge(core: Arc<Core>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let now = core.clock.now();
            if let Err(error) = core.store.purge_changes(now.plus(-86_400)).await {
                tracing::warn!(%error, "could not purge the change log");
            }
            if let Err(error) = core.audit.purge().await {
                tracing::warn!(%error, "could not purge old audit events");
            }
            match core.store.purge_expired_tokens(now).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "purged expired token records"),
                Err(error) => tracing::warn!(%error, "could not purge expired tokens"),
            }
        }
    })
}

/// Headers on every answer: `nosniff`, and behind an https issuer HSTS
/// (two years, subdomains included: OWASP's recommendation), so a browser
/// that has seen Tessera once never talks to it over plain http again.
fn default_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff"));
    if https {
        headers.add(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
    } else {
        headers
    }
}

/// How long shutdown waits for queued audit events to be written.
const AUDIT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client may take to send a request's head (line and headers).
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// File descriptors kept for everything but client sockets: database
/// connections are added to this, plus logs, the listener, the SQLite
/// files and outgoing calls.
const RESERVED_DESCRIPTORS: u64 = 64;

/// How many client connections this node may hold open. The soft limit on
/// open files is raised to the hard limit first (as Go's runtime does);
/// when even that cannot hold `wanted` sockets beside the database pool,
/// the cap is lowered to fit and a warning says how to raise it. Past the
/// cap, new connections wait in the listen backlog instead of failing the
/// process with "too many open files".
pub fn connection_cap(wanted: usize, database_connections: u32) -> usize {
    let reserved = RESERVED_DESCRIPTORS + u64::from(database_connections);
    let wanted_files = wanted as u64 + reserved;
    let limit = match rlimit::increase_nofile_limit(wanted_files) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-file limit; keeping TESSERA_MAX_CONNECTIONS as set");
            return wanted;
        }
    };
    if limit >= wanted_files {
        return wanted;
    }
    let fits = usize::try_from(limit.saturating_sub(reserved)).unwrap_or(usize::MAX).max(16);
    tracing::warn!(
        open_file_limit = limit,
        max_connections = fits,
        wanted = wanted,
        "the open-file limit is too low for TESSERA_MAX_CONNECTIONS; raise it (ulimit -n, LimitNOFILE=) or lower the setting"
    );
    fits
}

/// OAuth needs TLS outside a developer's machine (RFC 9700 §2.6).
fn warn_if_issuer_is_plain_http(issuer: &str) {
    let Ok(url) = url::Url::parse(issuer) else { return };
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() == "http" && !loopback {
        tracing::warn!(%issuer, "the issuer is plain http on a non-loopback host; serve Tessera behind TLS and set TESSERA_ISSUER to its https URL");
    }
}

/// A database URL fit for a log line or an error: no password.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
