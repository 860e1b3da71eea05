//! Settings: command-line flags, then `TESSERA_*` environment variables,
//! then an optional `tessera.toml`, then the defaults (docs/configuration.md lists them all).
//! Secrets (the master key) live in types whose `Debug` is redacted.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use crate::crypto::master::MasterKey;
use crate::crypto::signing::SigningAlgorithm;
use crate::domain::{InvalidInput, Lifetime, TokenPolicy};
use crate::proxies::TrustedProxies;

mod directory;
pub use directory::{DirectorySettings, Transport};

/// A secret string from the environment or a file; never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Every setting as given, before defaults; one field per `TESSERA_*` variable.
/// Flags and environment fill it through clap; the file through serde.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// Listen address (default 127.0.0.1:8080)
    #[arg(long, env = "TESSERA_BIND", hide_env_values = true)]
    pub bind: Option<String>,
    /// Issuer URL, the base of every published URL
    #[arg(long, env = "TESSERA_ISSUER", hide_env_values = true)]
    pub issuer: Option<String>,
    /// postgres://… or sqlite://… (or DATABASE_URL)
    #[arg(long, env = "TESSERA_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Folder of the embedded database and the generated master key
    #[arg(long, env = "TESSERA_DATA_DIR", hide_env_values = true)]
    pub data_dir: Option<PathBuf>,
    /// 32 bytes, base64; only from the environment or the file, never a flag
    #[arg(skip)]
    pub master_key: Option<SecretString>,
    /// Password of the `admin` created at first start (default: random, printed once);
    /// only from the environment or the file
    #[arg(skip)]
    pub bootstrap_admin_password: Option<SecretString>,
    /// `aud` of tokens whose client names none (default: the issuer)
    #[arg(long, env = "TESSERA_DEFAULT_AUDIENCE", hide_env_values = true)]
    pub default_audience: Option<String>,
    /// Claim that carries the Jira username (default: username)
    #[arg(long, env = "TESSERA_USERNAME_CLAIM", hide_env_values = true)]
    pub username_claim: Option<String>,
    /// Log format: human or json
    #[arg(long, env = "TESSERA_LOG_FORMAT", hide_env_values = true)]
    pub log_format: Option<String>,
    /// Algorithm of new signing keys: RS256, ES256 or EdDSA
    #[arg(long, env = "TESSERA_SIGNING_ALG", hide_env_values = true)]
    pub signing_alg: Option<String>,
    /// Default access-token lifetime (default 10m)
    #[arg(
        id = "default_access_token_ttl",
        long = "default-access-token-ttl",
        env = "TESSERA_ACCESS_TOKEN_TTL",
        hide_env_values = true
    )]
    pub access_token_ttl: Option<String>,
    /// How long a client's old secret keeps working after rotate-secret (default 24h)
    #[arg(long, env = "TESSERA_SECRET_ROTATION_GRACE", hide_env_values = true)]
    pub secret_rotation_grace: Option<String>,
    /// How long a new signing key is published before it signs (default 1h)
    #[arg(long, env = "TESSERA_KEY_PUBLISH_AHEAD", hide_env_values = true)]
    pub key_publish_ahead: Option<String>,
    /// Scheduled key rotation interval, or `off` (default 90d)
    #[arg(long, env = "TESSERA_KEY_ROTATION_INTERVAL", hide_env_values = true)]
    pub key_rotation_interval: Option<String>,
    /// Seconds a request waits for the database before answering 503 (default 3)
    #[arg(long, env = "TESSERA_DATABASE_TIMEOUT_SECONDS", hide_env_values = true)]
    pub database_timeout_seconds: Option<u64>,
    /// Database connections per server node (default 16)
    #[arg(long, env = "TESSERA_DATABASE_MAX_CONNECTIONS", hide_env_values = true)]
    pub database_max_connections: Option<u32>,
    /// HTTP worker threads (default: one per core)
    #[arg(long, env = "TESSERA_WORKERS", hide_env_values = true)]
    pub workers: Option<usize>,
    /// Longest life of a personal API token, or `none` (default 365d)
    #[arg(long, env = "TESSERA_PAT_MAX_LIFETIME", hide_env_values = true)]
    pub pat_max_lifetime: Option<String>,
    /// Refuse personal API tokens without an explicit expiry (default false)
    #[arg(long, env = "TESSERA_PAT_REQUIRE_EXPIRY", hide_env_values = true)]
    pub pat_require_expiry: Option<bool>,
    /// Live personal API tokens one person may hold (default 50)
    #[arg(long, env = "TESSERA_PAT_MAX_PER_USER", hide_env_values = true)]
    pub pat_max_per_user: Option<u32>,
    /// Base URL of the Jira that trusts this server, for the console's Jira page
    #[arg(long, env = "TESSERA_JIRA_URL", hide_env_values = true)]
    pub jira_url: Option<String>,
    /// Longest time a request body may take to arrive, from its head (default 10s)
    #[arg(long, env = "TESSERA_BODY_TIMEOUT", hide_env_values = true)]
    pub body_timeout: Option<String>,
    /// Open client connections per node; more wait in the listen backlog (default 4096)
    #[arg(long, env = "TESSERA_MAX_CONNECTIONS", hide_env_values = true)]
    pub max_connections: Option<usize>,
    /// Listen address of /metrics, /healthz and /readyz, or `off` (default 127.0.0.1:9464)
    #[arg(long, env = "TESSERA_MANAGEMENT_BIND", hide_env_values = true)]
    pub management_bind: Option<String>,
    /// Reverse proxies whose Forwarded / X-Forwarded-For is believed, as CIDRs (default none)
    #[arg(long, env = "TESSERA_TRUSTED_PROXIES", hide_env_values = true)]
    pub trusted_proxies: Option<String>,
    /// How long a stopping node lets in-flight requests finish (default 20s)
    #[arg(long, env = "TESSERA_SHUTDOWN_GRACE", hide_env_values = true)]
    pub shutdown_grace: Option<String>,
    /// How often dead rows are purged, or `off` (default 10m)
    #[arg(long, env = "TESSERA_PURGE_INTERVAL", hide_env_values = true)]
    pub purge_interval: Option<String>,
    /// How long revoked or expired personal API tokens stay listed (default 30d)
    #[arg(long, env = "TESSERA_PAT_KEEP_ENDED", hide_env_values = true)]
    pub pat_keep_ended: Option<String>,
    /// How long audit events are kept (default 400d)
    #[arg(long, env = "TESSERA_AUDIT_RETENTION", hide_env_values = true)]
    pub audit_retention: Option<String>,
    /// LDAP / Active Directory to sign people in against: ldaps://host or ldap://host (StartTLS)
    #[arg(long, env = "TESSERA_LDAP_URL", hide_env_values = true)]
    pub ldap_url: Option<String>,
    /// DN Tessera binds as to search the directory (default: anonymous)
    #[arg(long, env = "TESSERA_LDAP_BIND_DN", hide_env_values = true)]
    pub ldap_bind_dn: Option<String>,
    /// Password of TESSERA_LDAP_BIND_DN; only from the environment or the file
    #[arg(skip)]
    pub ldap_bind_password: Option<SecretString>,
    /// Where people are searched, e.g. ou=people,dc=example,dc=com
    #[arg(long, env = "TESSERA_LDAP_USER_BASE", hide_env_values = true)]
    pub ldap_user_base: Option<String>,
    /// Which entries are people (default (objectClass=person))
    #[arg(long, env = "TESSERA_LDAP_USER_FILTER", hide_env_values = true)]
    pub ldap_user_filter: Option<String>,
    /// Attribute holding the (Jira) username (default uid; Active Directory: sAMAccountName)
    #[arg(long, env = "TESSERA_LDAP_USERNAME_ATTRIBUTE", hide_env_values = true)]
    pub ldap_username_attribute: Option<String>,
    /// Attribute holding the email address (default mail)
    #[arg(long, env = "TESSERA_LDAP_EMAIL_ATTRIBUTE", hide_env_values = true)]
    pub ldap_email_attribute: Option<String>,
    /// Attribute holding the display name (default cn; Active Directory: displayName)
    #[arg(long, env = "TESSERA_LDAP_NAME_ATTRIBUTE", hide_env_values = true)]
    pub ldap_name_attribute: Option<String>,
    /// Attribute holding the given name (default givenName)
    #[arg(long, env = "TESSERA_LDAP_GIVEN_NAME_ATTRIBUTE", hide_env_values = true)]
    pub ldap_given_name_attribute: Option<String>,
    /// Attribute holding the family name (default sn)
    #[arg(long, env = "TESSERA_LDAP_FAMILY_NAME_ATTRIBUTE", hide_env_values = true)]
    pub ldap_family_name_attribute: Option<String>,
    /// Directory group whose members are Tessera admins (default: none)
    #[arg(long, env = "TESSERA_LDAP_ADMIN_GROUP", hide_env_values = true)]
    pub ldap_admin_group: Option<String>,
    /// Where groups are searched (default: TESSERA_LDAP_USER_BASE)
    #[arg(long, env = "TESSERA_LDAP_GROUP_BASE", hide_env_values = true)]
    pub ldap_group_base: Option<String>,
    /// Attribute holding a group's name (default cn)
    #[arg(long, env = "TESSERA_LDAP_GROUP_NAME_ATTRIBUTE", hide_env_values = true)]
    pub ldap_group_name_attribute: Option<String>,
    /// People this filter matches count as disabled (Active Directory's userAccountControl is always read)
    #[arg(long, env = "TESSERA_LDAP_DISABLED_FILTER", hide_env_values = true)]
    pub ldap_disabled_filter: Option<String>,
    /// PEM file of the CA(s) the directory's certificate is checked against (default: the system's)
    #[arg(long, env = "TESSERA_LDAP_CA_FILE", hide_env_values = true)]
    pub ldap_ca_file: Option<PathBuf>,
    /// StartTLS on ldap:// URLs (default true; false only for a directory on loopback)
    #[arg(long, env = "TESSERA_LDAP_STARTTLS", hide_env_values = true)]
    pub ldap_starttls: Option<bool>,
    /// Longest wait for the directory per sign-in or search (default 5s)
    #[arg(long, env = "TESSERA_LDAP_TIMEOUT", hide_env_values = true)]
    pub ldap_timeout: Option<String>,
    /// How often people missing or disabled in the directory are disabled here, or `off` (default 15m)
    #[arg(long, env = "TESSERA_LDAP_SYNC_INTERVAL", hide_env_values = true)]
    pub ldap_sync_interval: Option<String>,
}

/// The settings alone, read from the environment: what commands other
/// than `serve` run with (they take no server flags).
#[derive(clap::Parser)]
struct EnvironmentOnly {
    #[command(flatten)]
    settings: RawSettings,
}

impl RawSettings {
    /// Every `TESSERA_*` variable that is set; no flags.
    pub fn from_environment() -> anyhow::Result<RawSettings> {
        use clap::CommandFactory as _;
        use clap::Parser as _;
        match EnvironmentOnly::try_parse_from(["tessera"]) {
            Ok(only) => Ok(only.settings),
            Err(error) => {
                // clap names the flag (`--workers <WORKERS>`); these commands
                // have none, so name the variable that was set instead.
                let rendered = error.render().to_string();
                let mut line =
                    rendered.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
                for arg in EnvironmentOnly::command().get_arguments() {
                    let (Some(long), Some(variable)) = (arg.get_long(), arg.get_env()) else { continue };
                    let flag = format!("'--{long} <{}>'", arg.get_id().as_str().to_uppercase());
                    line = line.replace(&flag, &variable.to_string_lossy());
                }
                anyhow::bail!("{line}")
            }
        }
    }

    /// Fills what flags and environment left empty from `other` (the file).
    fn or(self, other: RawSettings) -> RawSettings {
        RawSettings {
            bind: self.bind.or(other.bind),
            issuer: self.issuer.or(other.issuer),
            database_url: self.database_url.or(other.database_url),
            data_dir: self.data_dir.or(other.data_dir),
            master_key: self.master_key.or(other.master_key),
            bootstrap_admin_password: self.bootstrap_admin_password.or(other.bootstrap_admin_password),
            default_audience: self.default_audience.or(other.default_audience),
            username_claim: self.username_claim.or(other.username_claim),
            log_format: self.log_format.or(other.log_format),
            signing_alg: self.signing_alg.or(other.signing_alg),
            access_token_ttl: self.access_token_ttl.or(other.access_token_ttl),
            secret_rotation_grace: self.secret_rotation_grace.or(other.secret_rotation_grace),
            key_publish_ahead: self.key_publish_ahead.or(other.key_publish_ahead),
            key_rotation_interval: self.key_rotation_interval.or(other.key_rotation_interval),
            database_timeout_seconds: self.database_timeout_seconds.or(other.database_timeout_seconds),
            database_max_connections: self.database_max_connections.or(other.database_max_connections),
            workers: self.workers.or(other.workers),
            pat_max_lifetime: self.pat_max_lifetime.or(other.pat_max_lifetime),
            pat_require_expiry: self.pat_require_expiry.or(other.pat_require_expiry),
            pat_max_per_user: self.pat_max_per_user.or(other.pat_max_per_user),
            jira_url: self.jira_url.or(other.jira_url),
            body_timeout: self.body_timeout.or(other.body_timeout),
            max_connections: self.max_connections.or(other.max_connections),
            management_bind: self.management_bind.or(other.management_bind),
            trusted_proxies: self.trusted_proxies.or(other.trusted_proxies),
            shutdown_grace: self.shutdown_grace.or(other.shutdown_grace),
            purge_interval: self.purge_interval.or(other.purge_interval),
            pat_keep_ended: self.pat_keep_ended.or(other.pat_keep_ended),
            audit_retention: self.audit_retention.or(other.audit_retention),
            ldap_url: self.ldap_url.or(other.ldap_url),
            ldap_bind_dn: self.ldap_bind_dn.or(other.ldap_bind_dn),
            ldap_bind_password: self.ldap_bind_password.or(other.ldap_bind_password),
            ldap_user_base: self.ldap_user_base.or(other.ldap_user_base),
            ldap_user_filter: self.ldap_user_filter.or(other.ldap_user_filter),
            ldap_username_attribute: self.ldap_username_attribute.or(other.ldap_username_attribute),
            ldap_email_attribute: self.ldap_email_attribute.or(other.ldap_email_attribute),
            ldap_name_attribute: self.ldap_name_attribute.or(other.ldap_name_attribute),
            ldap_given_name_attribute: self.ldap_given_name_attribute.or(other.ldap_given_name_attribute),
            ldap_family_name_attribute: self.ldap_family_name_attribute.or(other.ldap_family_name_attribute),
            ldap_admin_group: self.ldap_admin_group.or(other.ldap_admin_group),
            ldap_group_base: self.ldap_group_base.or(other.ldap_group_base),
            ldap_group_name_attribute: self.ldap_group_name_attribute.or(other.ldap_group_name_attribute),
            ldap_disabled_filter: self.ldap_disabled_filter.or(other.ldap_disabled_filter),
            ldap_ca_file: self.ldap_ca_file.or(other.ldap_ca_file),
            ldap_starttls: self.ldap_starttls.or(other.ldap_starttls),
            ldap_timeout: self.ldap_timeout.or(other.ldap_timeout),
            ldap_sync_interval: self.ldap_sync_interval.or(other.ldap_sync_interval),
        }
    }
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    Configured(SecretString),
    File(PathBuf),
}

/// The resolved settings the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub issuer: String,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub master_key: MasterKeySource,
    pub bootstrap_admin_password: Option<SecretString>,
    pub default_audience: String,
    pub username_claim: String,
    pub log_format: LogFormat,
    pub signing_alg: SigningAlgorithm,
    pub access_token_ttl: Lifetime,
    pub secret_rotation_grace: Lifetime,
    pub key_publish_ahead: Lifetime,
    pub key_rotation_interval: Option<Lifetime>,
    pub database_timeout: Duration,
    pub database_max_connections: u32,
    pub workers: Option<usize>,
    pub personal_tokens: TokenPolicy,
    /// The Jira base URL (no trailing slash), when one is configured.
    pub jira_url: Option<String>,
    /// How long a request body may take to arrive in full.
    pub body_timeout: Duration,
    /// Open client connections per node (before the file-descriptor limit
    /// lowers it; see `startup::connection_cap`).
    pub max_connections: usize,
    /// Where /metrics is served; `None` when turned off.
    pub management_bind: Option<String>,
    pub trusted_proxies: TrustedProxies,
    pub shutdown_grace: Duration,
    /// `None` when the scheduled purge is off (`tessera purge` still works).
    pub purge_interval: Option<Duration>,
    pub retention: RetentionPolicy,
    /// The LDAP / Active Directory people sign in against, when configured.
    pub directory: Option<DirectorySettings>,
}

/// How long ended records are kept before the purge deletes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Revoked or expired personal API tokens stay listed this long.
    pub pat_keep_ended: Lifetime,
    pub audit: Lifetime,
}

/// Claims the username claim must not shadow.
const RESERVED_CLAIMS: &[&str] =
    &["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "email"];

impl Settings {
    /// Resolves flags and environment (`given`) over the file at
    /// `config_path` (or `./tessera.toml` if it exists) over the defaults.
    pub fn load(given: RawSettings, config_path: Option<&Path>) -> anyhow::Result<Self> {
        let mut given = given;
        if given.database_url.is_none() {
            given.database_url = std::env::var("DATABASE_URL").ok().filter(|v| !v.is_empty());
        }
        if given.bootstrap_admin_password.is_none() {
            given.bootstrap_admin_password = std::env::var("TESSERA_BOOTSTRAP_ADMIN_PASSWORD")
                .ok()
                .filter(|v| !v.is_empty())
                .map(SecretString::new);
        }
        if given.master_key.is_none() {
            given.master_key =
                std::env::var("TESSERA_MASTER_KEY").ok().filter(|v| !v.is_empty()).map(SecretString::new);
        }
        if given.ldap_bind_password.is_none() {
            given.ldap_bind_password = std::env::var("TESSERA_LDAP_BIND_PASSWORD")
                .ok()
                .filter(|v| !v.is_empty())
                .map(SecretString::new);
        }
        let file = match config_path {
            Some(path) => Some(read_file(path)?),
            None => {
                let default = Path::new("tessera.toml");
                if default.exists() {
                    Some(read_file(default)?)
                } else {
                    None
                }
            }
        };
        Self::resolve(given.or(file.unwrap_or_default()))
    }

    /// Applies defaults and checks every value.
    pub fn resolve(raw: RawSettings) -> anyhow::Result<Self> {
        let directory = DirectorySettings::from_raw(&raw)?;
        let bind = raw.bind.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let issuer = parse_issuer(raw.issuer.as_deref().unwrap_or(&format!("http://{bind}")))?;
        let data_dir = raw.data_dir.unwrap_or_else(|| PathBuf::from("./data"));
        let database_url =
            raw.database_url.unwrap_or_else(|| format!("sqlite://{}", data_dir.join("tessera.db").display()));
        let master_key = match raw.master_key {
            Some(secret) => {
                MasterKey::from_base64(secret.expose()).context("TESSERA_MASTER_KEY is invalid")?;
                MasterKeySource::Configured(secret)
            }
            None => MasterKeySource::File(data_dir.join("master.key")),
        };
        let username_claim = raw.username_claim.unwrap_or_else(|| "username".to_owned());
        if username_claim.is_empty() || RESERVED_CLAIMS.contains(&username_claim.as_str()) {
            anyhow::bail!("TESSERA_USERNAME_CLAIM '{username_claim}' is empty or a registered claim name");
        }
        let log_format = match raw.log_format.as_deref() {
            None | Some("human") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(other) => anyhow::bail!("unknown log format '{other}' (expected human or json)"),
        };
        let lifetime = |value: Option<String>, default: &str, name: &str| -> anyhow::Result<Lifetime> {
            value
                .as_deref()
                .unwrap_or(default)
                .parse::<Lifetime>()
                .map_err(|e: InvalidInput| anyhow::anyhow!("{name}: {e}"))
        };
        let access_token_ttl = lifetime(raw.access_token_ttl, "10m", "TESSERA_ACCESS_TOKEN_TTL")?;
        if access_token_ttl > crate::domain::MAX_ACCESS_TOKEN_TTL {
            anyhow::bail!("TESSERA_ACCESS_TOKEN_TTL must be at most 24h");
        }
        let key_rotation_interval = match raw.key_rotation_interval.as_deref() {
            Some("off") => None,
            other => Some(lifetime(other.map(str::to_owned), "90d", "TESSERA_KEY_ROTATION_INTERVAL")?),
        };
        let pat_max_lifetime = match raw.pat_max_lifetime.as_deref() {
            Some("none") => None,
            other => Some(lifetime(other.map(str::to_owned), "365d", "TESSERA_PAT_MAX_LIFETIME")?),
        };
        let pat_max_per_user = raw.pat_max_per_user.unwrap_or(50);
        if pat_max_per_user == 0 {
            anyhow::bail!("TESSERA_PAT_MAX_PER_USER must be at least 1");
        }
        let personal_tokens = TokenPolicy {
            max_lifetime: pat_max_lifetime,
            require_expiry: raw.pat_require_expiry.unwrap_or(false),
            max_per_user: pat_max_per_user,
        };
        let jira_url = raw.jira_url.as_deref().map(parse_jira_url).transpose()?;
        let body_timeout = lifetime(raw.body_timeout, "10s", "TESSERA_BODY_TIMEOUT")?;
        if body_timeout.seconds() > 600 {
            anyhow::bail!("TESSERA_BODY_TIMEOUT must be at most 10m");
        }
        let max_connections = raw.max_connections.unwrap_or(4_096);
        if max_connections == 0 {
            anyhow::bail!("TESSERA_MAX_CONNECTIONS must be at least 1");
        }
        let management_bind = match raw.management_bind.as_deref() {
            Some("off") => None,
            other => Some(other.unwrap_or("127.0.0.1:9464").to_owned()),
        };
        let trusted_proxies = TrustedProxies::parse(raw.trusted_proxies.as_deref().unwrap_or(""))
            .map_err(|e| anyhow::anyhow!("TESSERA_TRUSTED_PROXIES: {e}"))?;
        let shutdown_grace = lifetime(raw.shutdown_grace, "20s", "TESSERA_SHUTDOWN_GRACE")?;
        if shutdown_grace.seconds() > 3_600 {
            anyhow::bail!("TESSERA_SHUTDOWN_GRACE must be at most 1h");
        }
        let purge_interval = match raw.purge_interval.as_deref() {
            Some("off") => None,
            other => {
                let every = lifetime(other.map(str::to_owned), "10m", "TESSERA_PURGE_INTERVAL")?;
                if every.seconds() < 10 {
                    anyhow::bail!("TESSERA_PURGE_INTERVAL must be at least 10s (or off)");
                }
                Some(Duration::from_secs(every.seconds().unsigned_abs()))
            }
        };
        let retention = RetentionPolicy {
            pat_keep_ended: lifetime(raw.pat_keep_ended, "30d", "TESSERA_PAT_KEEP_ENDED")?,
            audit: lifetime(raw.audit_retention, "400d", "TESSERA_AUDIT_RETENTION")?,
        };
        Ok(Self {
            directory,
            management_bind,
            trusted_proxies,
            shutdown_grace: Duration::from_secs(shutdown_grace.seconds().unsigned_abs()),
            purge_interval,
            retention,
            body_timeout: Duration::from_secs(body_timeout.seconds().unsigned_abs()),
            max_connections,
            personal_tokens,
            jira_url,
            default_audience: raw.default_audience.unwrap_or_else(|| issuer.clone()),
            bind,
            issuer,
            database_url,
            data_dir,
            master_key,
            bootstrap_admin_password: raw.bootstrap_admin_password,
            username_claim,
            log_format,
            signing_alg: raw.signing_alg.as_deref().unwrap_or("RS256").parse()?,
            access_token_ttl,
            secret_rotation_grace: lifetime(
                raw.secret_rotation_grace,
                "24h",
                "TESSERA_SECRET_ROTATION_GRACE",
            )?,
            key_publish_ahead: lifetime(raw.key_publish_ahead, "1h", "TESSERA_KEY_PUBLISH_AHEAD")?,
            key_rotation_interval,
            database_timeout: Duration::from_secs(raw.database_timeout_seconds.unwrap_or(3).clamp(1, 60)),
            database_max_connections: raw.database_max_connections.unwrap_or(16).max(1),
            workers: raw.workers,
        })
    }

    /// The management listener's own address, when it has one: not `off`,
    /// and not the main listener's (port 0 means "any free port", so two
    /// port-0 binds are two listeners).
    pub fn separate_management_bind(&self) -> Option<&str> {
        let bind = self.management_bind.as_deref()?;
        (bind != self.bind || bind.ends_with(":0")).then_some(bind)
    }

    /// Is `/metrics` served on the main listener (both binds the same)?
    pub fn metrics_on_main_listener(&self) -> bool {
        self.management_bind.is_some() && self.separate_management_bind().is_none()
    }

    /// Loads (or, in the embedded default, creates) the master key.
    pub fn master_key(&self) -> anyhow::Result<(MasterKey, bool)> {
        match &self.master_key {
            MasterKeySource::Configured(secret) => Ok((MasterKey::from_base64(secret.expose())?, false)),
            MasterKeySource::File(path) => MasterKey::load_or_create_file(path),
        }
    }
}

fn read_file(path: &Path) -> anyhow::Result<RawSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("the config file {} is invalid", path.display()))
}

/// The issuer: an absolute http(s) URL without query or fragment, kept
/// without a trailing slash so published URLs are `issuer + path`.
fn parse_issuer(text: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(text).with_context(|| format!("issuer '{text}' is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
        anyhow::bail!("issuer '{text}' must be an http(s) URL without query or fragment");
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// The Jira base URL, normalised (scheme and host in lower case), without
/// a trailing slash.
fn parse_jira_url(text: &str) -> anyhow::Result<String> {
    let url =
        url::Url::parse(text).with_context(|| format!("TESSERA_JIRA_URL '{text}' is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
        anyhow::bail!("TESSERA_JIRA_URL '{text}' must be an http(s) URL without query or fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        // They would be shown on the Jira page; the test authenticates with its token.
        anyhow::bail!("TESSERA_JIRA_URL must not carry a user name or password");
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_token_policy_defaults_and_limits() {
        let settings = Settings::resolve(RawSettings::default()).unwrap();
        assert_eq!(settings.personal_tokens, TokenPolicy::default());
        assert_eq!(settings.personal_tokens.max_lifetime, Some(Lifetime::from_seconds(365 * 86_400)));
        let forever = Settings::resolve(RawSettings {
            pat_max_lifetime: Some("none".into()),
            pat_require_expiry: Some(true),
            pat_max_per_user: Some(3),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            forever.personal_tokens,
            TokenPolicy { max_lifetime: None, require_expiry: true, max_per_user: 3 }
        );
        let zero = Settings::resolve(RawSettings { pat_max_per_user: Some(0), ..Default::default() });
        assert!(zero.unwrap_err().to_string().contains("TESSERA_PAT_MAX_PER_USER"));
        let bad =
            Settings::resolve(RawSettings { pat_max_lifetime: Some("1y".into()), ..Default::default() });
        assert!(bad.unwrap_err().to_string().contains("TESSERA_PAT_MAX_LIFETIME"));
    }

    #[test]
    fn jira_url_loses_its_trailing_slash_and_must_be_http() {
        let given =
            |url: &str| Settings::resolve(RawSettings { jira_url: Some(url.into()), ..Default::default() });
        assert_eq!(
            given("https://jira.example.com/").unwrap().jira_url.as_deref(),
            Some("https://jira.example.com")
        );
        assert_eq!(
            given("HTTPS://Jira.Example.com/jira/").unwrap().jira_url.as_deref(),
            Some("https://jira.example.com/jira")
        );
        assert!(given("https://admin:secret@jira.example.com").is_err());
        assert!(given("ftp://jira").is_err());
        assert!(given("jira.example.com").is_err());
    }

    #[test]
    fn defaults_follow_the_spec() {
        let settings = Settings::resolve(RawSettings::default()).unwrap();
        assert_eq!(settings.bind, "127.0.0.1:8080");
        assert_eq!(settings.issuer, "http://127.0.0.1:8080");
        assert_eq!(settings.default_audience, settings.issuer);
        assert_eq!(settings.username_claim, "username");
        assert_eq!(settings.access_token_ttl.seconds(), 600);
        assert!(settings.database_url.starts_with("sqlite://"));
        assert!(settings.database_url.ends_with("tessera.db"));
    }

    #[test]
    fn flags_and_environment_win_over_the_file() {
        let given = RawSettings { bind: Some("0.0.0.0:9000".into()), ..Default::default() };
        let file: RawSettings =
            toml::from_str("bind = \"1.2.3.4:1\"\nusername_claim = \"jira_user\"").unwrap();
        let settings = Settings::resolve(given.or(file)).unwrap();
        assert_eq!(settings.bind, "0.0.0.0:9000");
        assert_eq!(settings.username_claim, "jira_user");
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let bad = |raw: RawSettings| Settings::resolve(raw).unwrap_err().to_string();
        assert!(bad(RawSettings { issuer: Some("ftp://x".into()), ..Default::default() }).contains("issuer"));
        assert!(bad(RawSettings { username_claim: Some("sub".into()), ..Default::default() })
            .contains("TESSERA_USERNAME_CLAIM"));
        assert!(bad(RawSettings { access_token_ttl: Some("2d".into()), ..Default::default() })
            .contains("TESSERA_ACCESS_TOKEN_TTL"));
        assert!(bad(RawSettings {
            master_key: Some(SecretString::new("short".into())),
            ..Default::default()
        })
        .contains("TESSERA_MASTER_KEY"));
        assert!(bad(RawSettings { body_timeout: Some("20m".into()), ..Default::default() })
            .contains("TESSERA_BODY_TIMEOUT"));
        assert!(bad(RawSettings { max_connections: Some(0), ..Default::default() })
            .contains("TESSERA_MAX_CONNECTIONS"));
        assert!(toml::from_str::<RawSettings>("unknown_setting = 1").is_err());
    }

    #[test]
    fn the_master_key_never_shows_in_debug_output() {
        let settings = Settings::resolve(RawSettings {
            master_key: Some(SecretString::new(MasterKey::generate().to_base64())),
            ..Default::default()
        })
        .unwrap();
        let MasterKeySource::Configured(secret) = &settings.master_key else { panic!() };
        assert!(!format!("{settings:?}").contains(secret.expose()));
    }

    #[test]
    fn every_setting_is_documented_with_its_variable_and_file_key() {
        let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md"));
        let command = <RawSettings as clap::Args>::augment_args(clap::Command::new("tessera"));
        let mut checked = 0;
        for arg in command.get_arguments() {
            let env = arg.get_env().expect("every setting has a TESSERA_* variable");
            let env = env.to_string_lossy();
            assert!(doc.contains(&format!("`{env}`")), "{env} is missing from docs/configuration.md");
            let key = env.trim_start_matches("TESSERA_").to_lowercase();
            assert!(
                doc.contains(&format!("`{key}`")),
                "the file key {key} is missing from docs/configuration.md"
            );
            checked += 1;
        }
        // The two secrets are not flags, so clap does not list them.
        for secret in ["TESSERA_MASTER_KEY", "TESSERA_BOOTSTRAP_ADMIN_PASSWORD"] {
            assert!(doc.contains(secret));
        }
        assert!(checked >= 27, "only {checked} settings found");
    }

    #[test]
    fn the_example_configuration_file_loads() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tessera.example.toml"));
        let file = read_file(path).unwrap();
        let settings = Settings::resolve(file.clone()).unwrap();
        assert_eq!(settings.issuer, "https://auth.example.com");
        assert_eq!(settings.management_bind.as_deref(), Some("0.0.0.0:9464"));
        assert!(settings.trusted_proxies.trusts("10.1.2.3".parse().unwrap()));
        assert_eq!(settings.purge_interval, Some(Duration::from_secs(600)));
        assert_eq!(settings.retention.audit, Lifetime::from_seconds(400 * 86_400));
        // Every key the file may hold is in the example (only the secrets commented out).
        let text = std::fs::read_to_string(path).unwrap();
        let command = <RawSettings as clap::Args>::augment_args(clap::Command::new("tessera"));
        for arg in command.get_arguments() {
            let key = arg.get_env().unwrap().to_string_lossy().trim_start_matches("TESSERA_").to_lowercase();
            assert!(text.contains(&format!("\n{key} = ")), "{key} is missing from the example file");
        }
    }

    #[test]
    fn operations_settings_are_checked() {
        let bad = |raw: RawSettings| Settings::resolve(raw).unwrap_err().to_string();
        assert!(bad(RawSettings { trusted_proxies: Some("10.0.0.0/40".into()), ..Default::default() })
            .contains("TESSERA_TRUSTED_PROXIES"));
        assert!(bad(RawSettings { purge_interval: Some("5s".into()), ..Default::default() })
            .contains("TESSERA_PURGE_INTERVAL"));
        assert!(bad(RawSettings { shutdown_grace: Some("2h".into()), ..Default::default() })
            .contains("TESSERA_SHUTDOWN_GRACE"));
        let defaults = Settings::resolve(RawSettings::default()).unwrap();
        assert_eq!(defaults.management_bind.as_deref(), Some("127.0.0.1:9464"));
        assert_eq!(defaults.shutdown_grace, Duration::from_secs(20));
        assert!(defaults.trusted_proxies.is_empty());
        let off = Settings::resolve(RawSettings {
            management_bind: Some("off".into()),
            purge_interval: Some("off".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((off.management_bind, off.purge_interval), (None, None));
    }
}
