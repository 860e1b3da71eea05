//! Persistence: small traits by capability, and `Database`, their one SQL
//! implementation for Postgres and SQLite (portable SQL through sqlx's
//! `Any` driver). Each file declares its trait and the rows it trades in
//! beside the SQL that implements it; this module names them all and the
//! one error. Nothing here knows about HTTP.

mod assertions;
mod audit;
mod cache;
mod changes;
mod clients;
mod db;
mod device_codes;
mod directory;
mod grants;
mod keys;
mod personal_tokens;
mod principals;
mod pushed_requests;
mod retention;
mod scopes;
mod service_accounts;
mod sessions;
mod tokens;
mod trusts;
mod users;

pub use assertions::{AssertionStore, AssertionUse};
pub use audit::{AuditQuery, AuditRecord, AuditStore, NewAuditEvent};
pub use cache::{ClientCache, SYNC_INTERVAL};
pub use changes::{Change, ChangeStore, Entity};
pub use clients::{ClientStore, Counts, SecretRecord, StoredClient};
pub use db::{Backend, Database, FaultPoint};
pub use device_codes::{DeviceCodeStore, DeviceStatus, NewDeviceCode, StoredDeviceCode};
pub use directory::{DirectoryRecord, DirectoryStore, NotProvisioned, Provisioned, SyncRecord};
pub use grants::{
    GrantStore, GrantSummary, GrantsOf, NewCode, NewGrant, NewRefreshToken, StoredCode, StoredRefreshToken,
};
pub use keys::{KeyStore, StoredKey};
pub use personal_tokens::{NewPersonalToken, PersonalTokenStore};
pub use pushed_requests::{NewPushedRequest, PushedRequestStore};
pub use retention::{Cutoffs, PurgeRule, PurgeSession, RetentionStore};
pub use scopes::{limits_of, Scope, ScopeStore};
pub use service_accounts::ServiceAccountStore;
pub use sessions::{ConsentStore, NewSession, SessionStore, StoredSession};
pub use tokens::{PersonLink, Standing, StoredAccessToken, TokenStore};
pub use trusts::TrustStore;
pub use users::UserStore;

/// What can go wrong below the domain; `Unavailable` becomes 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A uniqueness or reference rule was broken; the text is safe to show.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the server needs from storage.
pub trait Store:
    ServiceAccountStore
    + ScopeStore
    + ClientStore
    + TokenStore
    + KeyStore
    + ChangeStore
    + UserStore
    + SessionStore
    + ConsentStore
    + GrantStore
    + AuditStore
    + PersonalTokenStore
    + RetentionStore
    + AssertionStore
    + TrustStore
    + DeviceCodeStore
    + PushedRequestStore
    + DirectoryStore
{
}

impl Store for Database {}
