//! What the tests share. Here: `spawn_app()`, a real server on a random
//! port with a fresh database and a clock the test controls, and `TestApp`
//! with one method per endpoint. Beside it: the binary run as a command
//! (`cli`) and as a server process (`process`), a cookie-keeping HTTP
//! `browser`, headless `chromium`, a `fault_proxy` that cuts connections,
//! and a `jira_standin` that checks tokens the way Jira does.

pub mod browser;
pub mod chromium;
pub mod cli;
pub mod fault_proxy;
pub mod jira_standin;
pub mod outside_keys;
pub mod process;
pub mod slapd;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use sqlx::Connection as _;
use tessera::clock::ManualClock;
use tessera::config::{RawSettings, Settings};
use tessera::domain::{
    Audience, ClientKeys, ClientType, GrantType, NewClient, NewServiceAccount, PkcePolicy, ScopeName,
    ScopeSet, TokenFormat, UnixTime, Username,
};
use tessera::startup::{Application, Core};
use tokio::sync::OnceCell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `NAME::sqlite` and `NAME::postgres` tests from `async fn NAME(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            }
        )+
    };
}

pub const ISSUER: &str = "https://tessera.test";

/// The Postgres server the tests create databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TESSERA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("TESSERA_TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Migrates once into a template database; each test copies it.
async fn postgres_template() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let admin = postgres_admin_url();
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|error| {
                panic!(
                    "the Postgres tests need a server at {admin} ({error}); run ./scripts/test, which starts a throwaway one, or set TESSERA_TEST_DATABASE_URL"
                )
            });
            let building = format!("tessera_tpl_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(&format!("CREATE DATABASE {building}")).execute(&mut conn).await.unwrap();
            let database = tessera::store::Database::connect_lazy(
                &with_database(&admin, &building),
                std::time::Duration::from_secs(10),
                2,
            )
            .unwrap();
            database.migrate().await.unwrap();
            database.close().await;
            building
        })
        .await
}

/// A fresh Postgres database for one test, dropped when the test ends.
pub struct PostgresDatabase {
    pub name: String,
    pub url: String,
}

impl PostgresDatabase {
    /// A copy of the migrated template.
    pub async fn create() -> Self {
        let template = postgres_template().await;
        Self::create_from(&format!("TEMPLATE {template}")).await
    }

    /// An empty database: no table at all.
    pub async fn create_empty() -> Self {
        Self::create_from("").await
    }

    async fn create_from(template: &str) -> Self {
        let admin = postgres_admin_url();
        let name = format!("tessera_t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|error| {
            panic!(
                "the Postgres tests need a server at {admin} ({error}); run ./scripts/test, which starts a throwaway one, or set TESSERA_TEST_DATABASE_URL"
            )
        });
        sqlx::query(&format!("CREATE DATABASE {name} {template}")).execute(&mut conn).await.unwrap();
        let url = with_database(&admin, &name);
        Self { name, url }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            })
        })
        .join();
    }
}

/// Where a test's data lives: a temp folder, and a Postgres database.
pub struct TestData {
    pub dir: PathBuf,
    pub postgres: Option<PostgresDatabase>,
}

impl TestData {
    pub async fn new(backend: Backend) -> Self {
        let dir = std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let postgres = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PostgresDatabase::create().await),
        };
        Self { dir, postgres }
    }

    /// A temp folder and an empty Postgres database (nothing migrated).
    pub async fn empty_postgres() -> Self {
        let dir = std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir, postgres: Some(PostgresDatabase::create_empty().await) }
    }

    pub fn database_url(&self) -> String {
        match &self.postgres {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}", self.dir.join("tessera.db").display()),
        }
    }

    pub fn raw_settings(&self) -> RawSettings {
        RawSettings {
            bind: Some("127.0.0.1:0".into()),
            issuer: Some(ISSUER.into()),
            database_url: Some(self.database_url()),
            data_dir: Some(self.dir.clone()),
            workers: Some(2),
            management_bind: Some("127.0.0.1:0".into()),
            ..Default::default()
        }
    }
}

impl Drop for TestData {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct TestApp {
    pub address: String,
    /// The management listener (`/metrics`), when it is separate.
    pub management: Option<String>,
    pub core: Arc<Core>,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub data: Arc<TestData>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut RawSettings)) -> TestApp {
    spawn_app_at(backend, UnixTime::now(), configure).await
}

/// A server whose clock starts at `start` (e.g. in the past, to mint tokens
/// that are already expired by the wall clock of another party).
pub async fn spawn_app_at(
    backend: Backend,
    start: UnixTime,
    configure: impl FnOnce(&mut RawSettings),
) -> TestApp {
    init_test_logging();
    let data = Arc::new(TestData::new(backend).await);
    let mut raw = data.raw_settings();
    configure(&mut raw);
    spawn_node(data, raw, ManualClock::new(start)).await
}

/// Starts a server node on `data` (a second node shares the database and
/// the master key of the first).
pub async fn spawn_node(data: Arc<TestData>, raw: RawSettings, clock: ManualClock) -> TestApp {
    let settings = Settings::resolve(raw).expect("test settings are valid");
    let app = Application::build_with_clock(settings, Arc::new(clock.clone()))
        .await
        .expect("the application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let management = app.management_port().map(|port| format!("http://127.0.0.1:{port}"));
    let core = app.core.clone();
    let server = tokio::spawn(app.run());
    TestApp {
        address,
        management,
        core,
        clock,
        http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        data,
        server,
    }
}

fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        tessera::telemetry::init(tessera::config::LogFormat::Human, "debug,sqlx=warn");
    }
}

/// A registered client and its secret.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

/// Options for `TestApp::create_client`; defaults give a JWT client with
/// client_credentials, scope `jira:read`, bound to no service account.
pub struct ClientSpec<'a> {
    pub service_account: Option<&'a str>,
    pub scopes: &'a [&'a str],
    pub audiences: &'a [&'a str],
    pub token_format: TokenFormat,
    pub post: bool,
    pub resource_server: bool,
    /// Public keys: the client then authenticates with private_key_jwt.
    pub keys: Option<ClientKeys>,
    pub grants: &'a [GrantType],
}

impl Default for ClientSpec<'_> {
    fn default() -> Self {
        Self {
            service_account: None,
            scopes: &["jira:read"],
            audiences: &[],
            token_format: TokenFormat::Jwt,
            post: false,
            resource_server: false,
            keys: None,
            grants: &[GrantType::ClientCredentials],
        }
    }
}

pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an OAuth JSON error with the RFC headers.
    pub fn assert_oauth_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status for {code}: {}", self.body);
        assert_eq!(self.json()["error"], code, "{}", self.body);
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("pragma"), Some("no-cache"));
        assert!(self.header("content-type").unwrap_or_default().starts_with("application/json"));
        if status == 401 {
            assert_eq!(self.header("www-authenticate"), Some("Basic realm=\"tessera\""));
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn service_account(&self, username: &str) {
        self.core
            .admin
            .create_service_account(
                &tester(),
                NewServiceAccount { username: Username::parse(username).unwrap(), display_name: None },
            )
            .await
            .unwrap();
    }

    pub async fn scope(&self, name: &str) {
        self.core.admin.create_scope(&tester(), ScopeName::parse(name).unwrap(), "").await.unwrap();
    }

    pub async fn create_client(&self, spec: ClientSpec<'_>) -> TestClient {
        for scope in spec.scopes {
            let known = self.core.admin.list_scopes().await.unwrap();
            if !known.iter().any(|s| s.name.as_str() == *scope) {
                self.scope(scope).await;
            }
        }
        let created = self
            .core
            .admin
            .create_client(
                &tester(),
                NewClient {
                    name: "test client".into(),
                    client_type: ClientType::Confidential,
                    auth_method: Some(if spec.keys.is_some() {
                        tessera::domain::AuthMethod::PrivateKeyJwt
                    } else if spec.post {
                        tessera::domain::AuthMethod::ClientSecretPost
                    } else {
                        tessera::domain::AuthMethod::ClientSecretBasic
                    }),
                    token_format: spec.token_format,
                    grants: spec.grants.iter().copied().collect(),
                    scopes: ScopeSet::from_names(spec.scopes.iter().map(|s| ScopeName::parse(s).unwrap())),
                    redirect_uris: Vec::new(),
                    post_logout_redirect_uris: Vec::new(),
                    require_par: false,
                    refresh_token_ttl: None,
                    audiences: spec.audiences.iter().map(|a| Audience::parse(a).unwrap()).collect(),
                    service_account: spec.service_account.map(|u| Username::parse(u).unwrap()),
                    access_token_ttl: None,
                    resource_server: spec.resource_server,
                    pkce: PkcePolicy::Required,
                    keys: spec.keys,
                },
            )
            .await
            .unwrap();
        TestClient {
            id: created.client.id.to_string(),
            // A private_key_jwt client has none.
            secret: created.secret.map(|s| s.expose().to_owned()).unwrap_or_default(),
        }
    }

    /// A service account `svc-deploy` and a JWT client bound to it.
    pub async fn deploy_client(&self) -> TestClient {
        self.service_account("svc-deploy").await;
        self.create_client(ClientSpec { service_account: Some("svc-deploy"), ..Default::default() }).await
    }

    pub async fn post_form(&self, path: &str, basic: Option<&TestClient>, form: &[(&str, &str)]) -> Response {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some(client) = basic {
            request = request.basic_auth(&client.id, Some(&client.secret));
        }
        send(request).await
    }

    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Response {
        let mut request = self.http.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        send(request).await
    }

    pub async fn get(&self, path: &str) -> Response {
        send(self.http.get(self.url(path))).await
    }

    pub async fn token(&self, client: &TestClient, extra: &[(&str, &str)]) -> Response {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        self.post_form("/oauth2/token", Some(client), &form).await
    }

    /// A client-credentials access token, asserting success.
    pub async fn access_token(&self, client: &TestClient) -> String {
        let response = self.token(client, &[]).await;
        assert_eq!(response.status, 200, "{}", response.body);
        response.json()["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn introspect(&self, caller: &TestClient, token: &str) -> Response {
        self.post_form("/oauth2/introspect", Some(caller), &[("token", token)]).await
    }

    /// `active` of an introspection that must succeed.
    pub async fn is_active(&self, caller: &TestClient, token: &str) -> bool {
        let response = self.introspect(caller, token).await;
        assert_eq!(response.status, 200, "{}", response.body);
        let body = response.json();
        if body["active"] == false {
            assert_eq!(body, serde_json::json!({"active": false}), "inactive carries nothing else");
        }
        body["active"] == true
    }

    pub async fn revoke(&self, caller: &TestClient, token: &str) -> Response {
        self.post_form("/oauth2/revoke", Some(caller), &[("token", token)]).await
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Response {
    let response = request.send().await.expect("the request reaches the server");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    Response { status, headers, body }
}

/// Decodes a JWT's header and payload without verifying (for assertions).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let mut parts = token.split('.');
    let mut next = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap()
    };
    let header = next();
    let payload = next();
    (header, payload)
}

/// Who the tests' own admin changes are audited as.
pub fn tester() -> tessera::service::audit::Actor {
    tessera::service::audit::Actor::new("tests", None)
}
