//! `Application::build(settings)`: everything the server needs, wired once,
//! bound to a port (port 0 in tests) and ready to run. `main` and the tests
//! start the same server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::crypto::password::PasswordHasher;
use crate::crypto::secrets::SecretHasher;
use crate::directory::Directory;
use crate::http::health::Health;
use crate::http::observe::{observe, Observer};
use crate::http::{routes, AppState, CookieSettings};
use crate::jira::{Jira, JiraParts};
use crate::lifecycle::Lifecycle;
use crate::metrics::{self, Metrics};
use crate::oauth::discovery::Metadata;
use crate::oauth::{OAuthConfig, OAuthParts, OAuthServer};
use crate::service::accounts::{Accounts, BOOTSTRAP_ADMIN};
use crate::service::admin::{Admin, AdminParts};
use crate::service::audit::{Actor, Audit};
use crate::service::directory::{DirectoryPeople, SyncTrigger};
use crate::service::keys::KeyManager;
use crate::service::personal_tokens::PersonalTokens;
use crate::service::readiness::DatabaseHealth;
use crate::service::remote_jwks::RemoteJwks;
use crate::service::replay_guard::ReplayGuard;
use crate::service::retention::Retention;
use crate::service::sessions::Sessions;
use crate::service::sign_in::SignIn;
use crate::service::submissions::Submissions;
use crate::service::throttle::{FailureThrottle, ThrottleCounters, ThrottlePolicy};
use crate::service::trusts::Trusts;
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
    /// Trusted outside issuers.
    pub trusts: Arc<Trusts>,
    /// People from LDAP / Active Directory, when `TESSERA_LDAP_URL` is set.
    pub directory: Option<Arc<DirectoryPeople>>,
    /// The single use of JWT assertions.
    pub replays: Arc<ReplayGuard>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub retention: Arc<Retention>,
    /// The clients every node keeps in memory, kept true by the change log.
    pub clients: Arc<ClientCache>,
    /// Keyed hashes of secrets, cookies and tokens (from the master key).
    pub hasher: SecretHasher,
}

impl Core {
    /// Connects, migrates, loads the master key and the signing keys.
    pub async fn open(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::open_with_metrics(settings, clock, Arc::new(Metrics::new())).await
    }

    /// `open`, counting into `metrics` (the server's, which exist before
    /// the database answers).
    pub async fn open_with_metrics(
        settings: Settings,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
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
        let replays = Arc::new(ReplayGuard::new(store.clone()));
        let oauth = Arc::new(OAuthServer::new(OAuthParts {
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
            user_codes: FailureThrottle::new(
                ThrottlePolicy::USER_CODE,
                throttle_counters(&metrics, metrics::THROTTLE_USER_CODE),
            ),
            metrics: metrics.clone(),
            clients: clients.clone(),
            audit: audit.clone(),
            personal_tokens: personal_tokens.clone(),
            remote_jwks: Arc::new(RemoteJwks::new(clock.clone())),
            replays: replays.clone(),
        }));
        let admin = Arc::new(Admin::new(AdminParts {
            store: store.clone(),
            clients: clients.clone(),
            hasher: hasher.clone(),
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
        let retention =
            Arc::new(Retention::new(store.clone(), clock.clone(), settings.retention, metrics.clone()));
        let trusts = Arc::new(Trusts::new(store.clone(), clock.clone(), audit.clone()));
        let directory = match &settings.directory {
            Some(directory) => Some(Arc::new(DirectoryPeople::new(
                Directory::new(directory.clone())?,
                store.clone(),
                clock.clone(),
                audit.clone(),
            ))),
            None => None,
        };
        Ok(Self {
            directory,
            retention,
            settings,
            database,
            store,
            keys,
            oauth,
            admin,
            accounts,
            audit,
            personal_tokens,
            trusts,
            replays,
            clock,
            metrics,
            clients,
            hasher,
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

/// `Core::open`, retried while the database is unreachable (a server started
/// during an outage becomes ready when the database returns). Any other
/// error — a bad URL, a wrong master key — ends at once.
async fn open_when_database_answers(
    settings: Settings,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Core> {
    let mut delay = Duration::from_millis(250);
    loop {
        match Core::open_with_metrics(settings.clone(), clock.clone(), metrics.clone()).await {
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
    management_port: Option<u16>,
    server: Server,
    management: Option<Server>,
    pub core: Arc<Core>,
    pub lifecycle: Arc<Lifecycle>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The batched saving of counts: stopped between batches, never
    /// aborted in the middle of one (the counts it holds would be lost).
    counts: CountFlush,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        // The management listener, unless it is off or the main one.
        let management_listener = match settings.separate_management_bind() {
            Some(bind) => Some(
                TcpListener::bind(bind)
                    .with_context(|| format!("cannot listen on {bind} (TESSERA_MANAGEMENT_BIND)"))?,
            ),
            None => None,
        };
        let management_port = match &management_listener {
            Some(listener) => Some(listener.local_addr()?.port()),
            None => None,
        };
        let lifecycle = Arc::new(Lifecycle::new());
        let metrics = Arc::new(Metrics::new());

        // Until the database answers, both listeners serve the health checks
        // (alive, not ready) and 503 for everything else.
        let waiting =
            Health { lifecycle: lifecycle.clone(), database: None, metrics: metrics.clone(), keys: None };
        let mut starting = vec![starting_server(waiting.clone(), listener.try_clone()?, false)?];
        if let Some(management) = &management_listener {
            starting.push(starting_server(waiting, management.try_clone()?, true)?);
        }
        let starting: Vec<_> =
            starting.into_iter().map(|server| (server.handle(), tokio::spawn(server))).collect();
        let opened = open_when_database_answers(settings, clock, metrics.clone()).await;
        for (handle, task) in starting {
            handle.stop(true).await;
            let _ = task.await;
        }
        let core = Arc::new(opened?);

        let given = core.settings.bootstrap_admin_password.as_ref().map(|p| p.expose());
        if let Some(password) = core.accounts.ensure_bootstrap_admin(given).await? {
            // Shown once, on standard output (never in the log stream).
            println!(
                "\n  Created the first administrator.\n    username: {BOOTSTRAP_ADMIN}\n    password: {}\n  It is shown only now; change it after signing in.\n",
                password.expose()
            );
        }
        let health = Health {
            lifecycle: lifecycle.clone(),
            database: Some(DatabaseHealth::new(core.database.clone())),
            metrics: metrics.clone(),
            keys: Some(core.keys.clone()),
        };
        let server = main_server(&core, health.clone(), listener, core.settings.metrics_on_main_listener())?;
        let management = match management_listener {
            Some(listener) => Some(management_server(health, listener)?),
            None => None,
        };
        core.clients.sync(core.store.as_ref()).await?;
        let background = vec![
            spawn_key_maintenance(core.clone()),
            spawn_purge(core.clone()),
            spawn_directory_sync(core.clone()),
            spawn_cache_sync(core.clone()),
        ];
        let counts = spawn_count_flush(core.clone());
        lifecycle.serving();
        Ok(Self { port, management_port, server, management, core, lifecycle, background, counts })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The management listener's port, when it is separate.
    pub fn management_port(&self) -> Option<u16> {
        self.management_port
    }

    /// Serves until SIGTERM or SIGINT, then stops gracefully: not ready at
    /// once, no new connections, in-flight requests finish (up to
    /// `TESSERA_SHUTDOWN_GRACE`), what is batched in memory is saved.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stop = self.stopper();
        let signals = tokio::spawn(async move {
            wait_for_stop_signal().await;
            stop.stop().await;
        });
        let result = self.run().await;
        signals.abort();
        result
    }

    /// A handle that stops this server as a signal would.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            lifecycle: self.lifecycle.clone(),
            server: self.server.handle(),
            grace: self.core.settings.shutdown_grace,
        }
    }

    /// Serves until stopped through a `Stopper`, then finishes as above.
    /// The management listener answers until the very end (a draining
    /// node reports not ready there); one future drives both servers, so
    /// dropping it drops both.
    pub async fn run(self) -> std::io::Result<()> {
        let Application { server, management, core, background, counts, .. } = self;
        let management_handle = management.as_ref().map(Server::handle);
        let management = async move {
            match management {
                Some(server) => server.await,
                None => Ok(()),
            }
        };
        let main = async move {
            let result = server.await;
            for task in &background {
                task.abort();
            }
            counts.stop().await;
            core.audit.flush(AUDIT_FLUSH_TIMEOUT).await;
            if let Err(error) = core.audit.flush_counts().await {
                tracing::warn!(%error, "could not save the last token counts");
            }
            if let Err(error) = core.personal_tokens.flush_usage().await {
                tracing::warn!(%error, "could not save when personal tokens were last used");
            }
            if let Some(handle) = management_handle {
                handle.stop(true).await;
            }
            core.database.close().await;
            tracing::info!("stopped");
            result
        };
        let (result, _) = tokio::join!(main, management);
        result
    }
}

/// Stops a running server gracefully (what SIGTERM does).
#[derive(Clone)]
pub struct Stopper {
    lifecycle: Arc<Lifecycle>,
    server: actix_web::dev::ServerHandle,
    grace: Duration,
}

/// How long no request may be in flight before the workers stop: a
/// request written just before the stop has time to be read.
const SETTLE_QUIET: Duration = Duration::from_millis(250);

impl Stopper {
    /// Not ready at once; no new connection accepted; every answer from now
    /// on closes its connection; once nothing has been in flight for a
    /// moment the workers stop (closing idle connections). Requests still
    /// running when `TESSERA_SHUTDOWN_GRACE` is up are cut off.
    pub async fn stop(&self) {
        self.lifecycle.drain();
        tracing::info!("stopping: not ready, no new connections, finishing requests in flight");
        self.server.pause().await;
        if self.lifecycle.settled(SETTLE_QUIET, self.grace).await {
            self.server.stop(true).await;
        } else {
            tracing::warn!(
                in_flight = self.lifecycle.in_flight(),
                "requests still in flight at the end of TESSERA_SHUTDOWN_GRACE; stopping anyway"
            );
            self.server.stop(false).await;
        }
    }
}

async fn wait_for_stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut terminate), Ok(mut interrupt)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::warn!("cannot listen for SIGTERM/SIGINT; stop the server by killing it");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}

/// The main listener's server: every route, behind the observing
/// middleware (request id, client address, metrics, access log).
fn main_server(
    core: &Arc<Core>,
    health: Health,
    listener: TcpListener,
    with_metrics: bool,
) -> anyhow::Result<Server> {
    let metadata = serde_json::to_vec(&Metadata::new(
        &core.settings.issuer,
        core.settings.signing_alg,
        &core.settings.username_claim,
    ))?;
    let sessions = Arc::new(Sessions::new(core.store.clone(), core.hasher.clone(), core.clock.clone()));
    let sign_in = SignIn::new(
        core.accounts.clone(),
        sessions.clone(),
        FailureThrottle::new(
            ThrottlePolicy::SIGN_IN,
            throttle_counters(&core.metrics, metrics::THROTTLE_SIGN_IN),
        ),
        core.audit.clone(),
        core.clock.clone(),
        core.directory.clone(),
    );
    let state = web::Data::new(AppState {
        oauth: core.oauth.clone(),
        metadata: web::Bytes::from(metadata),
        sessions,
        accounts: core.accounts.clone(),
        personal_tokens: core.personal_tokens.clone(),
        audit: core.audit.clone(),
        keys: core.keys.clone(),
        clock: core.clock.clone(),
        sign_in: Arc::new(sign_in),
        submissions: Arc::new(Submissions::new(core.store.clone(), core.clock.clone())),
        cookies: CookieSettings::for_issuer(&core.settings.issuer),
        admin: core.admin.clone(),
        trusts: core.trusts.clone(),
        key_publish_ahead: core.settings.key_publish_ahead,
        jira: Arc::new(Jira::new(JiraParts {
            oauth: core.oauth.clone(),
            admin: core.admin.clone(),
            keys: core.keys.clone(),
            audit: core.audit.clone(),
            clock: core.clock.clone(),
            base_url: core.settings.jira_url.clone(),
        })),
        directory: core.directory.clone(),
    });
    let health = web::Data::new(health);
    let observer = Arc::new(Observer {
        metrics: core.metrics.clone(),
        proxies: core.settings.trusted_proxies.clone(),
        lifecycle: health.lifecycle.clone(),
    });
    let body_timeout = core.settings.body_timeout;
    let https = core.settings.issuer.starts_with("https://");
    let server = HttpServer::new(move || {
        let observer = observer.clone();
        App::new()
            .wrap(from_fn(move |request, next| {
                crate::http::limits::body_deadline(body_timeout, request, next)
            }))
            .wrap(default_headers(https))
            .wrap(from_fn(move |request, next| observe(observer.clone(), request, next)))
            .app_data(state.clone())
            .app_data(health.clone())
            .configure(routes)
            .configure(|config| {
                if with_metrics {
                    config.route("/metrics", web::get().to(crate::http::health::metrics));
                }
            })
    })
    .listen(listener)?
    .client_request_timeout(REQUEST_HEAD_TIMEOUT)
    .shutdown_timeout(core.settings.shutdown_grace.as_secs())
    .disable_signals();
    let workers = core
        .settings
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
        .max(1);
    let connections = connection_cap(core.settings.max_connections, core.settings.database_max_connections);
    Ok(server.workers(workers).max_connections(connections.div_ceil(workers)).run())
}

/// The management listener: `/metrics`, `/healthz`, `/readyz`.
fn management_server(health: Health, listener: TcpListener) -> anyhow::Result<Server> {
    let health = web::Data::new(health);
    let server = HttpServer::new(move || {
        App::new().app_data(health.clone()).configure(crate::http::health::management_routes)
    })
    .listen(listener)?
    .workers(1)
    .shutdown_timeout(1)
    .disable_signals();
    Ok(server.run())
}

/// What a listener serves while the node waits for its database: the
/// health checks (and on the management listener `/metrics`, with
/// `tessera_db_up 0`), and 503 `temporarily_unavailable` for everything else.
fn starting_server(health: Health, listener: TcpListener, management: bool) -> anyhow::Result<Server> {
    let health = web::Data::new(health);
    let health_routes: fn(&mut web::ServiceConfig) =
        if management { crate::http::health::management_routes } else { crate::http::health::routes };
    let server = HttpServer::new(move || {
        App::new().app_data(health.clone()).configure(health_routes).default_service(web::to(|| async {
            actix_web::HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .insert_header(("Cache-Control", "no-store"))
                .insert_header(("Pragma", "no-cache"))
                .json(serde_json::json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the server is starting: its database is not reachable yet"
                }))
        }))
    })
    .listen(listener)?
    .workers(1)
    .shutdown_timeout(1)
    .disable_signals();
    Ok(server.run())
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
            let sync = tokio::time::timeout(SYNC_TIMEOUT, core.clients.sync(core.store.as_ref()));
            match sync.await.unwrap_or_else(|_| {
                Err(StoreError::Unavailable(anyhow::anyhow!("change log read timed out")))
            }) {
                Ok(()) => failing = false,
                Err(error) => {
                    // Without the change log nothing cached can be trusted.
                    core.clients.clear();
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

/// The task saving counts in batches, and how to stop it between two.
struct CountFlush {
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl CountFlush {
    /// Lets a batch being saved finish, then ends the task.
    async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

/// Saves the per-client token counts of the dashboard and the last use of
/// personal tokens, in batches. A flush takes the counts out of memory
/// before writing them, so it is never cancelled half-way: stopping waits
/// for the tick instead.
fn spawn_count_flush(core: Arc<Core>) -> CountFlush {
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(COUNT_FLUSH_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stopped.notified() => return,
            }
            if let Err(error) = core.audit.flush_counts().await {
                tracing::warn!(%error, "could not save token counts; keeping them for the next try");
            }
            if let Err(error) = core.personal_tokens.flush_usage().await {
                tracing::warn!(%error, "could not save personal-token use; keeping it for the next try");
            }
        }
    });
    CountFlush { stop, task }
}

/// Runs the retention purge every `TESSERA_PURGE_INTERVAL` (one node at
/// a time: the others find the lock taken and skip their turn).
/// The directory sync: every node wakes at a tenth of the interval (at
/// least every 10 s) and syncs when the last sync, by any node, is older
/// than the interval; the lease in the database lets one node at a time.
fn spawn_directory_sync(core: Arc<Core>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(directory) = core.directory.clone() else { return };
        let Some(every) = directory.directory().settings().sync_interval else { return };
        let tick = (every / 10).clamp(Duration::from_secs(1), Duration::from_secs(10));
        let actor = Actor::new("directory sync", None);
        loop {
            tokio::time::sleep(tick).await;
            match directory.sync(SyncTrigger::Scheduled, &actor).await {
                Ok(report) if report.ran && !report.ok => {
                    tracing::warn!(
                        error = report.error.as_deref().unwrap_or(""),
                        "directory sync failed; nobody was disabled"
                    )
                }
                Ok(report) if report.ran => tracing::info!(
                    people = report.people_seen,
                    disabled = report.users_disabled,
                    enabled = report.users_enabled,
                    "directory sync done"
                ),
                Ok(_) => {}
                Err(error) => error.log("the directory sync"),
            }
        }
    })
}

fn spawn_purge(core: Arc<Core>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(every) = core.settings.purge_interval else {
            return;
        };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            match core.retention.purge().await {
                Ok(report) if report.total > 0 => {
                    tracing::info!(rows = report.total, seconds = report.seconds, "purged dead rows");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "the purge failed; trying again next time"),
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
