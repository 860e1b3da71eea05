//! The JSON shapes of the admin API (and their OpenAPI schemas).

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};

use crate::domain::wire_schema::{nullable_one_of, one_of};
pub use crate::domain::{App, ClientDraft as AppInput};
use crate::domain::{PersonalToken, ServiceAccount, UnixTime, User};
use crate::service::accounts::GrantSummary;
use crate::service::admin::Scope;
use crate::service::audit::AuditRecord;
use crate::service::keys::KeyInfo;

/// Every error: a stable code, a message for people, and the field at fault.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// `unauthorized`, `forbidden`, `not_found`, `conflict`, `invalid_input`, `invalid_json`,
    /// `unsupported_media_type`, `unavailable`, `internal`.
    pub error: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A newly registered app; `client_secret` is shown this once (absent for public apps).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApp {
    pub app: App,
    pub client_secret: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateInput {
    /// How long the previous secret keeps working, e.g. `24h`; `0s` ends it at once (the server
    /// default if absent).
    #[serde(default)]
    #[schema(nullable, pattern = r"^[0-9]{1,9}[smhd]$")]
    pub grace: Option<String>,
}

/// A new secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    pub client_secret: String,
    /// Unix seconds when the previous secret stops working.
    pub previous_secret_expires_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Grant {
    pub id: String,
    pub username: String,
    pub client_id: String,
    pub client_name: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<GrantSummary> for Grant {
    fn from(grant: GrantSummary) -> Self {
        Self {
            id: grant.id.to_string(),
            username: grant.username,
            client_id: grant.client_id.to_string(),
            client_name: grant.client_name,
            scope: grant.scope.to_string(),
            created_at: grant.created_at.seconds(),
            expires_at: grant.expires_at.seconds(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountInput {
    /// The Jira username, e.g. `svc-deploy`.
    #[schema(min_length = 1, max_length = 255, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+$")]
    pub username: String,
    #[serde(default)]
    #[schema(nullable, max_length = 200)]
    pub display_name: Option<String>,
    /// May be granted `tessera:admin` (ignored at creation: set it with PUT).
    #[serde(default)]
    pub admin: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountOutput {
    pub username: String,
    pub display_name: Option<String>,
    pub admin: bool,
    pub enabled: bool,
    pub created_at: i64,
}

impl From<ServiceAccount> for ServiceAccountOutput {
    fn from(account: ServiceAccount) -> Self {
        Self {
            username: account.username.to_string(),
            display_name: account.display_name,
            admin: account.admin,
            enabled: account.enabled,
            created_at: account.created_at.seconds(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// The Jira username.
    #[schema(min_length = 1, max_length = 255, pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+$")]
    pub username: String,
    #[schema(max_length = 320, format = Email)]
    pub email: String,
    #[serde(default)]
    #[schema(nullable, max_length = 200)]
    pub display_name: Option<String>,
    /// Released as `given_name` with the `profile` scope.
    #[serde(default)]
    #[schema(nullable, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub given_name: Option<String>,
    /// Released as `family_name` with the `profile` scope.
    #[serde(default)]
    #[schema(nullable, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub family_name: Option<String>,
    /// The email address is known to reach the user (default false).
    #[serde(default)]
    pub email_verified: bool,
    /// A BCP 47 language tag, like `en-GB`.
    #[serde(default)]
    #[schema(nullable, max_length = 35, pattern = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
    pub locale: Option<String>,
    /// An IANA time zone, like `Europe/Paris`.
    #[serde(default)]
    #[schema(nullable, max_length = 64, pattern = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z][A-Za-z0-9_+-]*)*$")]
    pub zoneinfo: Option<String>,
    /// `user` (default) or `admin`.
    #[serde(default)]
    #[schema(schema_with = roles)]
    pub role: Option<String>,
    /// Only at creation: the initial password (8 to 1,024 bytes).
    #[serde(default)]
    #[schema(nullable, min_length = 8, max_length = 1024)]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserOutput {
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email_verified: bool,
    pub locale: Option<String>,
    pub zoneinfo: Option<String>,
    pub role: String,
    pub enabled: bool,
    pub created_at: i64,
    /// Last change of the profile.
    pub updated_at: i64,
    /// `local` (password kept here) or `directory` (LDAP / Active Directory).
    pub source: String,
    /// The person's entry in the directory.
    #[schema(nullable)]
    pub directory_dn: Option<String>,
}

impl From<User> for UserOutput {
    fn from(user: User) -> Self {
        Self {
            username: user.username.to_string(),
            email: user.email.as_str().to_owned(),
            display_name: user.display_name,
            given_name: user.profile.given_name,
            family_name: user.profile.family_name,
            email_verified: user.profile.email_verified,
            locale: user.profile.locale,
            zoneinfo: user.profile.zoneinfo,
            role: user.role.as_str().to_owned(),
            enabled: user.enabled,
            created_at: user.created_at.seconds(),
            updated_at: user.updated_at.seconds(),
            source: if user.directory.is_some() { "directory" } else { "local" }.to_owned(),
            directory_dn: user.directory.map(|link| link.dn),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordInput {
    /// 8 to 1,024 bytes.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedCount {
    pub revoked: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeInput {
    /// Required to create; ignored on PUT (the name is in the path).
    #[serde(default)]
    #[schema(nullable, min_length = 1, max_length = 128, pattern = r"^[\x21\x23-\x5b\x5d-\x7e]+$")]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
    /// PUT only; built-in scopes cannot be disabled.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// PUT only: directory groups whose members alone may grant the scope
    /// (consent, personal API tokens, refresh); `[]` lifts the limit, and
    /// leaving it out keeps the current one.
    #[serde(default)]
    #[schema(nullable, max_items = 50)]
    pub allowed_groups: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeOutput {
    pub name: String,
    pub description: String,
    pub builtin: bool,
    pub enabled: bool,
    /// Directory groups whose members alone may grant it (empty: anyone).
    pub allowed_groups: Vec<String>,
}

impl From<Scope> for ScopeOutput {
    fn from(scope: Scope) -> Self {
        Self {
            name: scope.name.to_string(),
            description: scope.description,
            builtin: scope.builtin,
            enabled: scope.enabled,
            allowed_groups: scope.allowed_groups,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Key {
    pub kid: String,
    pub alg: String,
    /// `next` (published, not yet signing), `active` or `retired`.
    pub state: String,
    pub created_at: i64,
    pub activates_at: i64,
    pub retired_at: Option<i64>,
    pub unpublished_at: Option<i64>,
    /// Where the public key is served as PEM.
    pub pem_url: String,
}

impl Key {
    pub fn new(key: &KeyInfo, issuer: &str) -> Self {
        Self {
            kid: key.kid.clone(),
            alg: key.alg.to_owned(),
            state: key.state.as_str().to_owned(),
            created_at: key.created_at,
            activates_at: key.activates_at,
            retired_at: key.retired_at,
            unpublished_at: key.unpublished_at,
            pem_url: crate::oauth::discovery::pem_url(issuer.trim_end_matches('/'), &key.kid),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub address: Option<String>,
    pub target: String,
    pub detail: String,
}

impl From<AuditRecord> for AuditEvent {
    fn from(record: AuditRecord) -> Self {
        Self {
            seq: record.seq,
            at: record.at.seconds(),
            kind: record.kind,
            actor: record.actor,
            address: record.address,
            target: record.target,
            detail: record.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// One event kind, e.g. `client.created`, `sign_in_failed`.
    #[param(schema_with = audit_kinds)]
    pub kind: Option<String>,
    /// `security` or `admin`.
    #[param(schema_with = audit_categories)]
    pub category: Option<String>,
    /// Exact actor, e.g. `admin` or `cli:root`.
    pub actor: Option<String>,
    /// Substring of the target or detail.
    pub q: Option<String>,
    /// Only events older than this sequence number.
    pub before: Option<i64>,
    /// At most this many (1–500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Substring of the name, client id or service account.
    pub q: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonalTokenInput {
    /// What the token is for, e.g. `deploy script`.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub label: String,
    /// Scopes the token carries; each must be enabled (and `tessera:admin`
    /// only for admins).
    #[serde(default)]
    pub scope: Vec<String>,
    /// Lifetime such as `90d`; default the server's maximum.
    #[serde(default)]
    #[schema(nullable, pattern = r"^0{0,8}[1-9][0-9]{0,8}[smhd]$")]
    pub expires_in: Option<String>,
}

/// A personal token as listed: never the token itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalTokenOutput {
    pub id: String,
    pub username: String,
    pub label: String,
    pub scope: String,
    /// `active`, `expired`, `revoked` or `owner_disabled`.
    pub status: &'static str,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl PersonalTokenOutput {
    pub fn new(token: &PersonalToken, now: UnixTime) -> Self {
        Self {
            id: token.id.to_string(),
            username: token.username.to_string(),
            label: token.label.clone(),
            scope: token.scope.to_string(),
            status: token.status(now).as_str(),
            created_at: token.created_at.seconds(),
            expires_at: token.expires_at.map(UnixTime::seconds),
            last_used_at: token.last_used_at.map(UnixTime::seconds),
        }
    }
}

/// The creation answer: the only time the token is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedPersonalToken {
    /// `tsr_pat_…`: shown once, store it now.
    pub token: String,
    #[serde(flatten)]
    pub details: PersonalTokenOutput,
}

fn roles() -> Object {
    nullable_one_of(["user", "admin"])
}

fn audit_kinds() -> Object {
    one_of(crate::service::audit::Kind::ALL.iter().map(|k| k.as_str())).build()
}

fn audit_categories() -> Object {
    one_of(["security", "admin"]).build()
}

/// The directory people sign in against, and its last sync.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DirectoryStatus {
    /// False when `TESSERA_LDAP_URL` is not set (every other field is then empty).
    pub configured: bool,
    #[schema(nullable)]
    pub url: Option<String>,
    /// Unix seconds.
    #[schema(nullable)]
    pub last_sync_started_at: Option<i64>,
    #[schema(nullable)]
    pub last_sync_finished_at: Option<i64>,
    /// `ok` or `failed`.
    #[schema(nullable)]
    pub last_sync_outcome: Option<String>,
    #[schema(nullable)]
    pub last_sync_error: Option<String>,
    pub people_seen: u64,
    pub users_updated: u64,
    pub users_disabled: u64,
    pub users_enabled: u64,
    /// A node holds the sync right now.
    pub syncing: bool,
    /// The last error this node met talking to the directory.
    #[schema(nullable)]
    pub last_error: Option<String>,
    #[schema(nullable)]
    pub last_error_at: Option<i64>,
}

impl DirectoryStatus {
    /// What the API says with no directory configured.
    pub fn not_configured() -> Self {
        Self::default()
    }

    pub fn of(
        directory: &crate::service::directory::DirectoryPeople,
        record: &crate::service::directory::SyncRecord,
        now: crate::domain::UnixTime,
    ) -> Self {
        let last_error = directory.last_error();
        Self {
            configured: true,
            url: Some(directory.directory().settings().url.clone()),
            last_sync_started_at: record.started_at.map(|t| t.seconds()),
            last_sync_finished_at: record.finished_at.map(|t| t.seconds()),
            last_sync_outcome: record.outcome.clone(),
            last_sync_error: record.error.clone(),
            people_seen: record.people_seen,
            users_updated: record.users_updated,
            users_disabled: record.users_disabled,
            users_enabled: record.users_enabled,
            syncing: record.running(now),
            last_error_at: last_error.as_ref().map(|(at, _)| at.seconds()),
            last_error: last_error.map(|(_, error)| error),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryTestInput {
    /// A username to look up as well (no password is checked).
    #[serde(default)]
    #[schema(nullable, max_length = 256)]
    pub username: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryTestOutput {
    pub ok: bool,
    /// What was checked, one line each.
    pub steps: Vec<String>,
    #[schema(nullable)]
    pub error: Option<String>,
}

impl From<crate::service::directory::ConnectionTest> for DirectoryTestOutput {
    fn from(test: crate::service::directory::ConnectionTest) -> Self {
        Self { ok: test.ok, steps: test.steps, error: test.error }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncOutput {
    pub ok: bool,
    #[schema(nullable)]
    pub error: Option<String>,
    pub people_seen: u64,
    pub users_updated: u64,
    pub users_disabled: u64,
    pub users_enabled: u64,
}

impl From<crate::service::directory::SyncReport> for SyncOutput {
    fn from(report: crate::service::directory::SyncReport) -> Self {
        Self {
            ok: report.ok,
            error: report.error,
            people_seen: report.people_seen,
            users_updated: report.users_updated,
            users_disabled: report.users_disabled,
            users_enabled: report.users_enabled,
        }
    }
}
