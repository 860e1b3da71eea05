//! The audit log: who did what, to what, when and from where. Security
//! events (sign-ins, failures, token reuse) and every admin change, kept in
//! the database for the console and the admin API, and mirrored to the
//! `tessera::service::audit` log target.
//!
//! An admin change is acknowledged only once its event is written. Events
//! of failure paths (a
//! wrong client secret, a failed sign-in, a replayed code or refresh token)
//! do not even wait for the database: they go through a bounded queue to a
//! background writer, so an attacker's 401s stay fast during a database
//! outage. When the queue is full an event is dropped (still logged) and
//! counted in `tessera_audit_events_dropped_total`; the queue is flushed
//! on shutdown. Admin changes are written before they are acknowledged.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::IntCounter;
use tokio::sync::{mpsc, Notify};

use crate::clock::Clock;
use crate::domain::{ClientId, GrantId, PersonalTokenId, ScopeName, TrustId, UnixTime, Username};
pub use crate::store::{AuditQuery, AuditRecord};
use crate::store::{NewAuditEvent, Store, StoreError, StoreResult};

/// What an event acted on. Its text (`client:…`, `user:…`) is stored and
/// shown; `Display` is the one place that writes it.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Nothing in particular (a failed sign-in: the typed login is never kept).
    None,
    Client(&'a ClientId),
    /// A client id as presented, which may name no client.
    ClientIdPresented(Option<&'a ClientId>),
    User(&'a Username),
    ServiceAccount(&'a Username),
    Scope(&'a ScopeName),
    Grant(&'a GrantId),
    PersonalToken(&'a PersonalTokenId),
    SigningKey(&'a str),
    Trust(&'a TrustId),
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => Ok(()),
            Self::Client(id) => write!(f, "client:{id}"),
            Self::ClientIdPresented(Some(id)) => write!(f, "client:{id}"),
            Self::ClientIdPresented(None) => f.write_str("client:(none or malformed)"),
            Self::User(name) => write!(f, "user:{name}"),
            Self::ServiceAccount(name) => write!(f, "service_account:{name}"),
            Self::Scope(name) => write!(f, "scope:{name}"),
            Self::Grant(id) => write!(f, "grant:{id}"),
            Self::PersonalToken(id) => write!(f, "personal_token:{id}"),
            Self::SigningKey(kid) => write!(f, "key:{kid}"),
            Self::Trust(id) => write!(f, "trust:{id}"),
        }
    }
}

/// What happened. The string forms are stable: they are stored, filtered
/// on, and returned by the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    SignIn,
    SignInFailed,
    SignOut,
    ClientAuthFailed,
    RefreshTokenReuse,
    CodeReplay,
    ClientCreated,
    ClientUpdated,
    ClientSecretRotated,
    ClientEnabled,
    ClientDisabled,
    ClientDeleted,
    ClientTokensRevoked,
    ServiceAccountCreated,
    ServiceAccountUpdated,
    ServiceAccountEnabled,
    ServiceAccountDisabled,
    UserCreated,
    UserUpdated,
    UserPasswordReset,
    PasswordChanged,
    UserEnabled,
    UserDisabled,
    ScopeCreated,
    ScopeUpdated,
    GrantRevoked,
    ConsentRevoked,
    KeyRotated,
    PersonalTokenCreated,
    PersonalTokenRevoked,
    JiraTested,
    TrustCreated,
    TrustEnabled,
    TrustDisabled,
    TrustDeleted,
    /// An outside JWT was exchanged for a token under a trust.
    TrustExchanged,
    /// An outside JWT was refused.
    TrustRefused,
    /// A person approved a device (RFC 8628) for an app.
    DeviceApproved,
    DeviceDenied,
    /// A user code typed that names no live device authorization.
    DeviceCodeFailed,
    /// A person from the directory signed in for the first time.
    DirectoryUserProvisioned,
    /// The sync disabled a user missing or disabled in the directory.
    DirectoryUserDisabled,
    /// The sync enabled a user it had disabled, back in the directory.
    DirectoryUserEnabled,
    /// An admin made a local user a directory user.
    DirectoryUserLinked,
    /// A directory sync ran (or failed, disabling nobody).
    DirectorySync,
}

impl Kind {
    pub const ALL: [Kind; 45] = [
        Self::SignIn,
        Self::SignInFailed,
        Self::SignOut,
        Self::ClientAuthFailed,
        Self::RefreshTokenReuse,
        Self::CodeReplay,
        Self::ClientCreated,
        Self::ClientUpdated,
        Self::ClientSecretRotated,
        Self::ClientEnabled,
        Self::ClientDisabled,
        Self::ClientDeleted,
        Self::ClientTokensRevoked,
        Self::ServiceAccountCreated,
        Self::ServiceAccountUpdated,
        Self::ServiceAccountEnabled,
        Self::ServiceAccountDisabled,
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserPasswordReset,
        Self::PasswordChanged,
        Self::UserEnabled,
        Self::UserDisabled,
        Self::ScopeCreated,
        Self::ScopeUpdated,
        Self::GrantRevoked,
        Self::ConsentRevoked,
        Self::KeyRotated,
        Self::PersonalTokenCreated,
        Self::PersonalTokenRevoked,
        Self::JiraTested,
        Self::TrustCreated,
        Self::TrustEnabled,
        Self::TrustDisabled,
        Self::TrustDeleted,
        Self::TrustExchanged,
        Self::TrustRefused,
        Self::DeviceApproved,
        Self::DeviceDenied,
        Self::DeviceCodeFailed,
        Self::DirectoryUserProvisioned,
        Self::DirectoryUserDisabled,
        Self::DirectoryUserEnabled,
        Self::DirectoryUserLinked,
        Self::DirectorySync,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignOut => "sign_out",
            Self::ClientAuthFailed => "client_auth_failed",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::CodeReplay => "code_replay",
            Self::ClientCreated => "client.created",
            Self::ClientUpdated => "client.updated",
            Self::ClientSecretRotated => "client.secret_rotated",
            Self::ClientEnabled => "client.enabled",
            Self::ClientDisabled => "client.disabled",
            Self::ClientDeleted => "client.deleted",
            Self::ClientTokensRevoked => "client.tokens_revoked",
            Self::ServiceAccountCreated => "service_account.created",
            Self::ServiceAccountUpdated => "service_account.updated",
            Self::ServiceAccountEnabled => "service_account.enabled",
            Self::ServiceAccountDisabled => "service_account.disabled",
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserPasswordReset => "user.password_reset",
            Self::PasswordChanged => "user.password_changed",
            Self::UserEnabled => "user.enabled",
            Self::UserDisabled => "user.disabled",
            Self::ScopeCreated => "scope.created",
            Self::ScopeUpdated => "scope.updated",
            Self::GrantRevoked => "grant.revoked",
            Self::ConsentRevoked => "consent.revoked",
            Self::KeyRotated => "key.rotated",
            Self::PersonalTokenCreated => "personal_token.created",
            Self::PersonalTokenRevoked => "personal_token.revoked",
            Self::JiraTested => "jira.tested",
            Self::TrustCreated => "trust.created",
            Self::TrustEnabled => "trust.enabled",
            Self::TrustDisabled => "trust.disabled",
            Self::TrustDeleted => "trust.deleted",
            Self::TrustExchanged => "trust.exchanged",
            Self::TrustRefused => "trust.refused",
            Self::DeviceApproved => "device.approved",
            Self::DeviceDenied => "device.denied",
            Self::DirectoryUserProvisioned => "directory.user_provisioned",
            Self::DirectoryUserDisabled => "directory.user_disabled",
            Self::DirectoryUserEnabled => "directory.user_enabled",
            Self::DirectoryUserLinked => "directory.user_linked",
            Self::DirectorySync => "directory.sync",
            Self::DeviceCodeFailed => "device.code_failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Events worth a second look: failures and detected replays.
    pub fn is_alarming(self) -> bool {
        matches!(
            self,
            Self::SignInFailed
                | Self::ClientAuthFailed
                | Self::RefreshTokenReuse
                | Self::CodeReplay
                | Self::TrustRefused
                | Self::DeviceCodeFailed
        )
    }

    /// Security events, as opposed to admin changes.
    pub fn is_security(self) -> bool {
        matches!(
            self,
            Self::SignIn
                | Self::SignInFailed
                | Self::SignOut
                | Self::ClientAuthFailed
                | Self::RefreshTokenReuse
                | Self::CodeReplay
                | Self::TrustExchanged
                | Self::TrustRefused
                | Self::DeviceApproved
                | Self::DeviceDenied
                | Self::DeviceCodeFailed
        )
    }
}

const SERVICE_ACCOUNT_ACTOR: &str = "service_account:";

/// Who did it and from where: a signed-in person, a client, or the
/// command line on the server itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub address: Option<IpAddr>,
}

impl Actor {
    pub fn new(name: impl Into<String>, address: Option<IpAddr>) -> Self {
        Self { name: name.into(), address }
    }

    /// The command line, run by `os_user` on the server.
    pub fn command_line(os_user: Option<&str>) -> Self {
        Self::new(format!("cli:{}", os_user.unwrap_or("unknown")), None)
    }

    /// The name a service account acts under (admin API calls).
    pub fn service_account_name(username: &str) -> String {
        format!("{SERVICE_ACCOUNT_ACTOR}{username}")
    }

    /// Is this the service account `username` acting with its own token?
    pub fn is_service_account(&self, username: &str) -> bool {
        self.name.strip_prefix(SERVICE_ACCOUNT_ACTOR) == Some(username)
    }

    pub fn client(id: &str, address: Option<IpAddr>) -> Self {
        Self::new(format!("client:{id}"), address)
    }

    /// Someone not signed in (a failed sign-in: the typed name is never
    /// stored, people paste passwords into it).
    pub fn anonymous(address: Option<IpAddr>) -> Self {
        Self::new("anonymous", address)
    }
}

/// Events the background queue holds at most.
pub const QUEUE_CAPACITY: usize = 10_000;
/// Events written per transaction by the background writer.
const BATCH: usize = 64;

pub struct Audit {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Tokens issued per client since the last flush.
    issued: Mutex<HashMap<String, i64>>,
    queue: mpsc::Sender<NewAuditEvent>,
    /// Taken by the writer when it starts.
    receiver: Mutex<Option<mpsc::Receiver<NewAuditEvent>>>,
    /// Events queued and not yet written (or given up on).
    pending: AtomicUsize,
    settled: Notify,
    dropped: IntCounter,
}

impl Audit {
    /// `dropped` counts events the full queue turned away.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, dropped: IntCounter) -> Self {
        Self::with_queue_capacity(store, clock, dropped, QUEUE_CAPACITY)
    }

    pub fn with_queue_capacity(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        dropped: IntCounter,
        capacity: usize,
    ) -> Self {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        Self {
            store,
            clock,
            issued: Mutex::new(HashMap::new()),
            queue,
            receiver: Mutex::new(Some(receiver)),
            pending: AtomicUsize::new(0),
            settled: Notify::new(),
            dropped,
        }
    }

    /// Writes an event now: admin changes, which are acknowledged only
    /// once their event is written (an error here fails the request, so
    /// every acknowledged change is in the log).
    pub async fn record(
        &self,
        kind: Kind,
        actor: &Actor,
        target: Target<'_>,
        detail: &str,
    ) -> StoreResult<()> {
        let event = self.event(kind, actor, target, detail);
        self.store.insert_audit_event(&event).await.inspect_err(|error| {
            tracing::error!(%error, kind = kind.as_str(), "could not write an audit event");
        })
    }

    /// Queues an event for the background writer, never waiting: for
    /// failure paths an attacker can drive. A full queue drops the event
    /// (it is still in the log stream) and counts it.
    pub fn record_later(&self, kind: Kind, actor: &Actor, target: Target<'_>, detail: &str) {
        let event = self.event(kind, actor, target, detail);
        self.pending.fetch_add(1, Ordering::AcqRel);
        if self.queue.try_send(event).is_err() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            self.dropped.inc();
        }
    }

    /// Logs the event and builds its row.
    fn event(&self, kind: Kind, actor: &Actor, target: Target<'_>, detail: &str) -> NewAuditEvent {
        let target = target.to_string();
        tracing::info!(
            target: "tessera::audit",
            kind = kind.as_str(),
            actor = %actor.name,
            address = actor.address.map(tracing::field::display),
            object = target.as_str(),
            detail = detail,
            "audit: {}",
            kind.as_str(),
        );
        NewAuditEvent {
            at: self.clock.now(),
            kind: kind.as_str().to_owned(),
            actor: actor.name.clone(),
            address: actor.address.map(|a| a.to_string()),
            target,
            detail: detail.to_owned(),
        }
    }

    /// Starts the background writer (once; later calls return `None`).
    /// It writes queued events in batches; while the database is
    /// unavailable it retries the batch in hand, and the queue fills.
    pub fn spawn_writer(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let mut receiver = crate::sync::lock(&self.receiver).take()?;
        let audit = self.clone();
        Some(tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while receiver.recv_many(&mut batch, BATCH).await > 0 {
                audit.write_batch(&batch).await;
                audit.pending.fetch_sub(batch.len(), Ordering::AcqRel);
                audit.settled.notify_waiters();
                batch.clear();
            }
        }))
    }

    async fn write_batch(&self, batch: &[NewAuditEvent]) {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.store.insert_audit_events(batch).await {
                Ok(()) => return,
                Err(StoreError::Unavailable(_)) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(error) => {
                    tracing::error!(%error, events = batch.len(), "could not write audit events; they are dropped");
                    self.dropped.inc_by(batch.len() as u64);
                    return;
                }
            }
        }
    }

    /// Waits until every queued event is written, for at most `within`;
    /// false if some were still waiting (shutdown with the database down).
    pub async fn flush(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let settled = self.settled.notified();
            if self.pending.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                let left = self.pending.load(Ordering::Acquire);
                tracing::warn!(events = left, "audit events still queued at shutdown are lost");
                return left == 0;
            }
        }
    }

    pub async fn list(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        self.store.list_audit_events(query).await
    }

    /// Counts one token issued to `client` (memory only; see `flush_counts`).
    pub fn count_issued(&self, client: &ClientId) {
        let mut issued = crate::sync::lock(&self.issued);
        *issued.entry(client.as_str().to_owned()).or_default() += 1;
    }

    /// Adds the counts gathered since the last flush to the database, in
    /// the current hour. On failure they are put back for the next try.
    pub async fn flush_counts(&self) -> StoreResult<()> {
        let counts: Vec<(String, i64)> = {
            let mut issued = crate::sync::lock(&self.issued);
            issued.drain().collect()
        };
        if counts.is_empty() {
            return Ok(());
        }
        let now = self.clock.now().seconds();
        let hour = UnixTime::from_seconds(now - now.rem_euclid(3_600));
        if let Err(error) = self.store.add_token_issuance(&counts, hour).await {
            let mut issued = crate::sync::lock(&self.issued);
            for (client, count) in counts {
                *issued.entry(client).or_default() += count;
            }
            return Err(error);
        }
        Ok(())
    }

    /// Tokens issued per client in the last 24 hours (whole hours), most first.
    pub async fn issued_last_day(&self) -> StoreResult<Vec<(String, i64)>> {
        let now = self.clock.now().seconds();
        let since = now - now.rem_euclid(3_600) - 23 * 3_600;
        self.store.token_issuance_since(UnixTime::from_seconds(since)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        let names: std::collections::HashSet<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
        assert_eq!(Kind::parse("nope"), None);
    }
}
