//! Persistence: small traits by capability, and `Database`, their one SQL
//! implementation for Postgres and SQLite (portable SQL through sqlx's
//! `Any` driver). Nothing here knows about HTTP.

mod audit;
mod cache;
mod changes;
mod clients;
mod db;
mod grants;
mod keys;
mod personal_tokens;
mod principals;
mod retention;
mod scopes;
mod service_accounts;
mod sessions;
mod tokens;
mod users;

use async_trait::async_trait;

pub use audit::{AuditQuery, AuditRecord, AuditStore, NewAuditEvent};
pub use cache::{ClientCache, SYNC_INTERVAL};
pub use changes::{Change, ChangeStore, Entity};
pub use db::{Backend, Database, FaultPoint};
pub use retention::{Cutoffs, PurgeRule, PurgeSession, RetentionStore};

use crate::domain::{
    Client, ClientId, GrantId, NewClient, NewServiceAccount, NewUser, PersonalToken, PersonalTokenId,
    ScopeName, ScopeSet, ServiceAccount, ServiceAccountChanges, UnixTime, User, UserChanges, UserId,
    Username,
};

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

/// A stored client secret digest and when it stops working (after rotation).
/// `Debug` hides the digest: a log line is no place for it.
#[derive(Clone)]
pub struct SecretRecord {
    pub digest: String,
    pub expires_at: Option<UnixTime>,
}

impl std::fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRecord")
            .field("digest", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A client with the digests of its secrets, as client authentication needs it.
#[derive(Debug, Clone)]
pub struct StoredClient {
    pub client: Client,
    pub secrets: Vec<SecretRecord>,
    /// The client's allowed scopes that are disabled now.
    pub disabled_scopes: Vec<ScopeName>,
}

#[async_trait]
pub trait ServiceAccountStore: Send + Sync {
    async fn create_service_account(
        &self,
        new: &NewServiceAccount,
        now: UnixTime,
    ) -> StoreResult<ServiceAccount>;
    async fn list_service_accounts(&self) -> StoreResult<Vec<ServiceAccount>>;
    async fn find_service_account(&self, username: &Username) -> StoreResult<Option<ServiceAccount>>;
    async fn set_service_account_enabled(
        &self,
        username: &Username,
        enabled: bool,
        now: UnixTime,
    ) -> StoreResult<()>;
    async fn update_service_account(
        &self,
        username: &Username,
        changes: &ServiceAccountChanges,
        now: UnixTime,
    ) -> StoreResult<()>;
}

#[derive(Debug, Clone)]
pub struct Scope {
    pub name: ScopeName,
    pub description: String,
    pub builtin: bool,
    pub enabled: bool,
}

#[async_trait]
pub trait ScopeStore: Send + Sync {
    async fn create_scope(&self, name: &ScopeName, description: &str, now: UnixTime) -> StoreResult<Scope>;
    async fn list_scopes(&self) -> StoreResult<Vec<Scope>>;
    /// Changes a scope's description and enabled flag; built-in scopes
    /// cannot be disabled.
    async fn update_scope(
        &self,
        name: &ScopeName,
        description: &str,
        enabled: bool,
        now: UnixTime,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a validated client with its first secret digest (if any).
    async fn create_client(
        &self,
        id: &ClientId,
        new: &NewClient,
        auth_method: crate::domain::AuthMethod,
        secret_digest: Option<&str>,
        now: UnixTime,
    ) -> StoreResult<Client>;
    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<StoredClient>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Adds `new_digest` as the current secret; secrets that had no expiry
    /// now expire at `old_expire_at`. One transaction.
    async fn rotate_client_secret(
        &self,
        id: &ClientId,
        new_digest: &str,
        old_expire_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<()>;
    async fn set_client_enabled(&self, id: &ClientId, enabled: bool, now: UnixTime) -> StoreResult<()>;
    async fn delete_client(&self, id: &ClientId, now: UnixTime) -> StoreResult<()>;
    /// Replaces everything about a client but its id, type and secrets.
    async fn update_client(
        &self,
        id: &ClientId,
        new: &NewClient,
        auth_method: crate::domain::AuthMethod,
        now: UnixTime,
    ) -> StoreResult<Client>;
    /// Every token the client holds now dies: its grants are revoked and
    /// tokens issued up to `now` are inactive.
    async fn revoke_client_tokens(&self, id: &ClientId, now: UnixTime) -> StoreResult<()>;
    /// Apps, service accounts, users and live user grants, for the dashboard.
    async fn counts(&self, now: UnixTime) -> StoreResult<Counts>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub clients: i64,
    pub service_accounts: i64,
    pub users: i64,
    pub active_grants: i64,
}

/// An opaque access token as stored (by digest).
#[derive(Debug, Clone)]
pub struct StoredAccessToken {
    pub jti: String,
    pub client_id: ClientId,
    pub subject: String,
    pub username: Option<String>,
    pub scope: ScopeSet,
    pub audience: Vec<String>,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked: bool,
    /// The user grant it came from, if any (its revocation ends the token).
    pub grant_id: Option<GrantId>,
}

/// What ties a JWT to a person, beyond its client: the token dies with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonLink<'a> {
    /// A machine token: the client (and its service account) alone.
    None,
    /// A user's grant (`gid`): revoked grant or disabled user, dead token.
    Grant(&'a GrantId),
    /// The personal token it was exchanged from (`pat`): revoked personal
    /// token or disabled owner, dead token. (Its expiry needs no check: the
    /// JWT never outlives it.)
    PersonalToken(&'a PersonalTokenId),
}

/// Whether a token's client (and the service account it acts for) still
/// stand behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub revoked: bool,
    /// The client exists and is enabled, and so is its service account; for
    /// a person's token, the grant or personal token is unrevoked and the
    /// user enabled.
    pub owner_active: bool,
    /// Tokens of the client issued at or before this are revoked.
    pub not_before: Option<UnixTime>,
}

impl Standing {
    /// Is a token issued at `issued_at` (seconds) still good?
    pub fn is_live(&self, issued_at: i64) -> bool {
        !self.revoked && self.owner_active && self.not_before.is_none_or(|nb| issued_at > nb.seconds())
    }
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_access_token(&self, digest: &str, token: &StoredAccessToken) -> StoreResult<()>;
    /// An opaque token and the standing of its owner, in one read.
    async fn find_access_token(&self, digest: &str) -> StoreResult<Option<(StoredAccessToken, Standing)>>;
    /// Revocation of a JWT and the standing of its client and of the
    /// person behind it, in one read.
    async fn jwt_standing(
        &self,
        jti: &str,
        client: &ClientId,
        person: PersonLink<'_>,
    ) -> StoreResult<Standing>;
    /// Marks the opaque token revoked if it belongs to `client`; true if it did.
    async fn revoke_access_token(&self, digest: &str, client: &ClientId, now: UnixTime) -> StoreResult<bool>;
    async fn revoke_jwt(
        &self,
        jti: &str,
        client: &ClientId,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<()>;
}

/// A signing key as stored: the private key sealed under the master key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub sealed_private_key: String,
    pub created_at: UnixTime,
    pub activates_at: UnixTime,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>>;
    async fn insert_key(&self, key: &StoredKey) -> StoreResult<()>;
    /// Inserts `key` only if no key activates after `now` (no pending next
    /// key); true if inserted. Keeps concurrent schedulers from piling up keys.
    async fn insert_next_key_if_none(&self, key: &StoredKey, now: UnixTime) -> StoreResult<bool>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, new: &NewUser, password_hash: &str, now: UnixTime) -> StoreResult<User>;
    /// The user whose username or (lower-case) email is `login`, with the
    /// password hash to verify.
    async fn find_user_for_login(&self, login: &str) -> StoreResult<Option<(User, String)>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    async fn set_user_enabled(&self, username: &Username, enabled: bool, now: UnixTime) -> StoreResult<()>;
    async fn any_enabled_admin(&self) -> StoreResult<bool>;
    async fn find_user(&self, id: &UserId) -> StoreResult<Option<User>>;
    async fn find_user_by_username(&self, username: &Username) -> StoreResult<Option<User>>;
    async fn update_user(&self, username: &Username, changes: &UserChanges, now: UnixTime)
        -> StoreResult<()>;
    async fn set_password_hash(
        &self,
        username: &Username,
        password_hash: &str,
        now: UnixTime,
    ) -> StoreResult<()>;
}

/// A browser session (by keyed hash of its cookie). Before sign-in it has
/// no user: it only carries the CSRF token of the login form. `Debug` hides
/// the token.
#[derive(Clone)]
pub struct StoredSession {
    pub user: Option<User>,
    pub csrf_token: String,
    pub auth_time: Option<UnixTime>,
    pub last_seen_at: UnixTime,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("user", &self.user.as_ref().map(|u| u.username.as_str()))
            .field("csrf_token", &"[redacted]")
            .field("auth_time", &self.auth_time)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, id_hash: &str, session: &NewSession, now: UnixTime) -> StoreResult<()>;
    async fn find_session(&self, id_hash: &str) -> StoreResult<Option<StoredSession>>;
    async fn touch_session(&self, id_hash: &str, now: UnixTime) -> StoreResult<()>;
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Signs a user out everywhere.
    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<()>;
    /// Claims a one-time form submission id; false if it was claimed before.
    async fn claim_submission(&self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Records what a claimed submission produced (e.g. the new client's id).
    async fn complete_submission(&self, id: &str, result: &str) -> StoreResult<()>;
    /// Gives a claim back after the operation failed, so it can be retried.
    async fn release_submission(&self, id: &str) -> StoreResult<()>;
    /// What a claimed submission produced, if it has finished.
    async fn submission_result(&self, id: &str) -> StoreResult<Option<String>>;
}

/// A session to store; no `Debug`, it carries the CSRF token.
#[derive(Clone)]
pub struct NewSession {
    pub user_id: Option<UserId>,
    pub csrf_token: String,
    pub auth_time: Option<UnixTime>,
    pub expires_at: UnixTime,
}

#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// The scope a user has approved for a client, if any.
    async fn find_consent(&self, user_id: &UserId, client: &ClientId) -> StoreResult<Option<ScopeSet>>;
    async fn save_consent(
        &self,
        user_id: &UserId,
        client: &ClientId,
        scope: &ScopeSet,
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Every client a user has approved, with the approved scope.
    async fn list_consents(&self, user_id: &UserId) -> StoreResult<Vec<(ClientId, ScopeSet, UnixTime)>>;
    /// Forgets the approval and revokes every grant of that user and client
    /// (their refresh and access tokens stop working). True if anything was
    /// there to revoke.
    async fn revoke_consent(&self, user_id: &UserId, client: &ClientId, now: UnixTime) -> StoreResult<bool>;
}

/// A grant without a code.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub scope: ScopeSet,
    pub auth_time: UnixTime,
    pub expires_at: UnixTime,
}

/// An authorization code to store, with the grant it starts.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub code_hash: String,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub scope: ScopeSet,
    pub auth_time: UnixTime,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub expires_at: UnixTime,
    pub grant_expires_at: UnixTime,
}

/// A stored code and the grant it belongs to.
#[derive(Debug, Clone)]
pub struct StoredCode {
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub scope: ScopeSet,
    pub auth_time: UnixTime,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub expires_at: UnixTime,
    pub used: bool,
    pub grant_revoked: bool,
}

#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores the grant and its code in one transaction.
    async fn create_code(&self, code: &NewCode, now: UnixTime) -> StoreResult<()>;
    /// Stores a grant that no code leads to (the Jira page's test token for
    /// the signed-in admin, revoked as soon as Jira has answered).
    async fn create_grant(&self, grant: &NewGrant, now: UnixTime) -> StoreResult<()>;
    async fn find_code(&self, code_hash: &str) -> StoreResult<Option<StoredCode>>;
    /// Redeems an unused code: marks it used and stores the refresh token
    /// it yields (if any), in one transaction; false if it was used already
    /// (nothing changes). Concurrent redemptions cannot both win, and a
    /// fault between the steps leaves the code unused.
    async fn redeem_code(
        &self,
        code_hash: &str,
        refresh: Option<&NewRefreshToken>,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Revokes a grant: every token issued under it stops being live.
    async fn revoke_grant(&self, grant_id: &GrantId, now: UnixTime) -> StoreResult<()>;
    async fn find_refresh_token(&self, token_hash: &str) -> StoreResult<Option<StoredRefreshToken>>;
    /// Rotates a refresh token: marks the unused, unexpired `old` used,
    /// remembering its successor, and stores the successor, in one
    /// transaction; false if another request used it first (nothing
    /// changes). After any fault either `old` still works or the successor
    /// is stored — never neither, never both.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        successor: &NewRefreshToken,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Live grants (unrevoked, unexpired) of a user or a client, newest first.
    async fn list_grants(&self, of: GrantsOf<'_>, now: UnixTime) -> StoreResult<Vec<GrantSummary>>;
    /// Revokes every live grant of a user; returns how many.
    async fn revoke_user_grants(&self, user_id: &UserId, now: UnixTime) -> StoreResult<u64>;
    async fn find_grant(&self, grant_id: &GrantId) -> StoreResult<Option<GrantSummary>>;
}

#[derive(Debug, Clone, Copy)]
pub enum GrantsOf<'a> {
    User(&'a UserId),
    Client(&'a ClientId),
}

/// A grant as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSummary {
    pub id: GrantId,
    pub user_id: UserId,
    pub username: String,
    pub client_id: ClientId,
    pub client_name: String,
    pub scope: ScopeSet,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub grant_id: GrantId,
    pub scope: ScopeSet,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
}

/// A refresh token with its grant.
#[derive(Debug, Clone)]
pub struct StoredRefreshToken {
    /// The digest of the token that replaced it, once rotated.
    pub successor_hash: Option<String>,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub scope: ScopeSet,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
    pub grant_revoked: bool,
    pub grant_expires_at: UnixTime,
    pub auth_time: UnixTime,
}

/// A personal token to store: its digest, never the token.
#[derive(Debug, Clone)]
pub struct NewPersonalToken<'a> {
    pub id: &'a PersonalTokenId,
    pub user_id: &'a UserId,
    pub token_hash: &'a str,
    pub label: &'a str,
    pub scope: &'a ScopeSet,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
}

#[async_trait]
pub trait PersonalTokenStore: Send + Sync {
    /// Stores the token unless its owner already holds `max_live` live
    /// (unrevoked, unexpired) tokens: then `None`. The count and the insert
    /// are one transaction that locks the owner's row, so two concurrent
    /// requests cannot both take the last place.
    async fn create_personal_token(
        &self,
        new: &NewPersonalToken<'_>,
        max_live: u32,
    ) -> StoreResult<Option<PersonalToken>>;
    /// One user's tokens, or everyone's; newest first.
    async fn list_personal_tokens(&self, user_id: Option<&UserId>) -> StoreResult<Vec<PersonalToken>>;
    async fn find_personal_token(&self, id: &PersonalTokenId) -> StoreResult<Option<PersonalToken>>;
    /// The token with this digest, with its owner's standing: one read.
    async fn find_personal_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<PersonalToken>>;
    /// False when there is no such unrevoked token.
    async fn revoke_personal_token(&self, id: &PersonalTokenId, now: UnixTime) -> StoreResult<bool>;
    /// Moves `last_used_at` forward (never back) for each (token id, time).
    async fn record_personal_token_use(&self, uses: &[(PersonalTokenId, UnixTime)]) -> StoreResult<()>;
}

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
{
}

impl<T> Store for T where
    T: ServiceAccountStore
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
{
}
