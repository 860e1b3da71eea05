//! People from the directory: signing them in (the directory checks the
//! password; Tessera creates or refreshes their user), their role from the
//! admin group, and the sync that disables whoever left or was disabled
//! there — one node at a time, every `TESSERA_LDAP_SYNC_INTERVAL`.
//!
//! Collisions: a local user (or a service account) holding a directory
//! person's username is never taken over. The local account keeps signing
//! in with its own password; the directory person is refused with a
//! message naming the way out (`tessera directory link`, or renaming
//! the local user).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;
use crate::crypto::secrets::random_id;
use crate::directory::{Directory, DirectoryError, DirectoryPerson, Verdict};
use crate::domain::{Email, Role, UnixTime, User, Username};
use crate::service::audit::{Actor, Audit, Kind, Target};
use crate::service::{ServiceError, ServiceResult};
pub use crate::store::SyncRecord;
use crate::store::{DirectoryRecord, NotProvisioned, Store};

/// Longest a sync may hold the lease (a node that dies mid-sync frees it
/// after this).
const SYNC_LEASE_SECONDS: i64 = 600;
/// Longest display, given or family name kept (as a profile form allows).
const MAX_NAME_CHARS: usize = 200;
/// Longest the listing of everyone may take.
const SYNC_LISTING_LIMIT: Duration = Duration::from_secs(300);

/// What a sign-in against the directory came to.
#[derive(Debug)]
pub enum DirectorySignIn {
    SignedIn(Box<User>),
    WrongCredentials,
    /// The directory did not answer (or refused Tessera's own bind).
    Unavailable,
    /// The directory knows the person, but they cannot be a user here.
    Refused(String),
}

/// Who asked for a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncTrigger {
    /// The timer: only when the last sync is older than the interval.
    Scheduled,
    /// `tessera directory sync`, the console or the API: now.
    Manual,
}

/// What a sync did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SyncReport {
    /// False when another node held the sync, or (scheduled) it was not due.
    pub ran: bool,
    pub ok: bool,
    pub error: Option<String>,
    pub people_seen: u64,
    pub users_updated: u64,
    pub users_disabled: u64,
    pub users_enabled: u64,
}

/// The outcome of "test connection / test user".
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionTest {
    pub ok: bool,
    /// What was checked, one line each.
    pub steps: Vec<String>,
    pub error: Option<String>,
}

pub struct DirectoryPeople {
    directory: Directory,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Arc<Audit>,
    /// This node, as the sync's lease holder.
    node: String,
    /// The last error this node met talking to the directory, for the
    /// dashboard (the sync's own outcome is in the database).
    last_error: Mutex<Option<(UnixTime, String)>>,
}

impl DirectoryPeople {
    pub fn new(
        directory: Directory,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Arc<Audit>,
    ) -> Self {
        Self { directory, store, clock, audit, node: random_id(8), last_error: Mutex::new(None) }
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Checks `password` for `username` with the directory; on success the
    /// person's user is created or refreshed (attributes, groups, role).
    pub async fn sign_in(&self, username: &str, password: &str) -> ServiceResult<DirectorySignIn> {
        let groups = self.groups_that_matter().await?;
        let person = match self.directory.authenticate(username, password, &groups).await {
            Ok(Verdict::Person(person)) => person,
            Ok(Verdict::WrongCredentials) => return Ok(DirectorySignIn::WrongCredentials),
            Err(error) => {
                self.note_error(&error);
                return Ok(DirectorySignIn::Unavailable);
            }
        };
        if person.disabled {
            return Ok(DirectorySignIn::WrongCredentials);
        }
        match self.provision(&person).await? {
            Ok(user) if user.enabled => Ok(DirectorySignIn::SignedIn(Box::new(user))),
            Ok(_) => Ok(DirectorySignIn::WrongCredentials),
            Err(NotProvisioned(why)) => Ok(DirectorySignIn::Refused(why)),
        }
    }

    /// The directory groups Tessera asks about: the admin group, and the
    /// groups scopes are limited to.
    async fn groups_that_matter(&self) -> ServiceResult<Vec<String>> {
        let mut groups: Vec<String> = self.directory.settings().admin_group.iter().cloned().collect();
        for group in self.store.scope_limits().await?.groups() {
            if !groups.iter().any(|g| g.eq_ignore_ascii_case(&group)) {
                groups.push(group);
            }
        }
        Ok(groups)
    }

    /// Creates or refreshes the user of `person`, auditing a creation.
    async fn provision(&self, person: &DirectoryPerson) -> ServiceResult<Result<User, NotProvisioned>> {
        let record = match self.record_of(person) {
            Ok(record) => record,
            Err(refused) => return Ok(Err(refused)),
        };
        let provisioned = match self.store.provision_directory_user(&record, self.clock.now()).await? {
            Ok(provisioned) => provisioned,
            Err(refused) => return Ok(Err(refused)),
        };
        let user = provisioned.user;
        if provisioned.created {
            let detail = format!("from {}; role {}", person.dn, user.role.as_str());
            let actor = Actor::new("directory", None);
            self.audit
                .record(Kind::DirectoryUserProvisioned, &actor, Target::User(&user.username), &detail)
                .await?;
        }
        Ok(Ok(user))
    }

    /// The stored form of `person`, or why it cannot be stored.
    fn record_of(&self, person: &DirectoryPerson) -> Result<DirectoryRecord, NotProvisioned> {
        let settings = self.directory.settings();
        let username = Username::parse(&person.username).map_err(|e| {
            NotProvisioned(format!("the directory username of {} cannot be a Jira username: {e}", person.dn))
        })?;
        let Some(mail) = &person.email else {
            return Err(NotProvisioned(format!(
                "the directory entry {} has no {} (an email address is required)",
                person.dn, settings.email_attribute
            )));
        };
        let email = Email::parse(mail)
            .map_err(|e| NotProvisioned(format!("the directory entry {} has a bad email: {e}", person.dn)))?;
        let role = settings.admin_group.as_ref().map(|admin| {
            if person.groups.iter().any(|g| g.eq_ignore_ascii_case(admin)) {
                Role::Admin
            } else {
                Role::User
            }
        });
        Ok(DirectoryRecord {
            username,
            email,
            display_name: clipped(&person.display_name),
            given_name: clipped(&person.given_name),
            family_name: clipped(&person.family_name),
            dn: person.dn.clone(),
            groups: person.groups.clone(),
            role,
        })
    }

    fn note_error(&self, error: &DirectoryError) {
        tracing::warn!(error = %error, "the directory did not answer as it should");
        *crate::sync::lock(&self.last_error) = Some((self.clock.now(), error.to_string()));
    }

    /// The last directory error this node met, and when.
    pub fn last_error(&self) -> Option<(UnixTime, String)> {
        crate::sync::lock(&self.last_error).clone()
    }

    /// The last sync, as the database records it.
    pub async fn status(&self) -> ServiceResult<SyncRecord> {
        Ok(self.store.directory_sync_status().await?)
    }

    /// Compares every directory user with the directory: refreshes those
    /// found, disables those missing or disabled there (every token of
    /// theirs ends), enables those the sync had disabled and who are back.
    /// A directory that cannot be listed disables nobody.
    pub async fn sync(&self, trigger: SyncTrigger, actor: &Actor) -> ServiceResult<SyncReport> {
        let now = self.clock.now();
        let due_before = match (trigger, self.directory.settings().sync_interval) {
            (SyncTrigger::Scheduled, Some(every)) => {
                Some(now.plus(-i64::try_from(every.as_secs()).unwrap_or(i64::MAX)).plus(1))
            }
            _ => None,
        };
        let lease_until = now.plus(SYNC_LEASE_SECONDS);
        if !self.store.claim_directory_sync(&self.node, now, lease_until, due_before).await? {
            if trigger == SyncTrigger::Manual {
                return Err(ServiceError::conflict(
                    "a directory sync is running on another node; try again shortly",
                ));
            }
            return Ok(SyncReport { ran: false, ok: true, ..SyncReport::default() });
        }
        let result = self.compare(actor).await;
        let report = match result {
            Ok(report) => report,
            Err(Failure::Directory(why)) => {
                SyncReport { ran: true, ok: false, error: Some(why), ..SyncReport::default() }
            }
            Err(Failure::Service(error)) => {
                let record = SyncRecord {
                    finished_at: Some(self.clock.now()),
                    outcome: Some("failed".into()),
                    error: Some("the sync stopped: Tessera's database did not answer".into()),
                    ..Default::default()
                };
                let _ = self.store.finish_directory_sync(&self.node, &record).await;
                return Err(error);
            }
        };
        let record = SyncRecord {
            finished_at: Some(self.clock.now()),
            outcome: Some(if report.ok { "ok" } else { "failed" }.into()),
            error: report.error.clone(),
            people_seen: report.people_seen,
            users_updated: report.users_updated,
            users_disabled: report.users_disabled,
            users_enabled: report.users_enabled,
            ..Default::default()
        };
        self.store.finish_directory_sync(&self.node, &record).await?;
        let detail = match &report.error {
            Some(error) => format!("failed, nobody disabled: {error}"),
            None => format!(
                "{} people in the directory; {} users refreshed, {} disabled, {} enabled",
                report.people_seen, report.users_updated, report.users_disabled, report.users_enabled
            ),
        };
        self.audit.record(Kind::DirectorySync, actor, Target::None, &detail).await?;
        Ok(report)
    }

    async fn compare(&self, actor: &Actor) -> Result<SyncReport, Failure> {
        let groups = self.groups_that_matter().await?;
        let people = match self.directory.all_people(&groups, SYNC_LISTING_LIMIT).await {
            Ok(people) => people,
            Err(error) => {
                self.note_error(&error);
                return Err(Failure::Directory(error.to_string()));
            }
        };
        let users = self.store.list_directory_users().await?;
        if people.is_empty() && !users.is_empty() {
            return Err(Failure::Directory(
                "the directory listed nobody under TESSERA_LDAP_USER_BASE with TESSERA_LDAP_USER_FILTER; \
                 that looks like a wrong setting, so nobody was disabled"
                    .into(),
            ));
        }
        let by_name: HashMap<String, &DirectoryPerson> =
            people.iter().map(|p| (p.username.to_lowercase(), p)).collect();
        let mut report =
            SyncReport { ran: true, ok: true, people_seen: people.len() as u64, ..SyncReport::default() };
        for user in users {
            let found = by_name.get(&user.username.as_str().to_lowercase()).copied();
            let person = match found {
                Some(person) if !person.disabled => person,
                _ => {
                    let reason = if found.is_some() {
                        "disabled in the directory"
                    } else {
                        "missing from the directory"
                    };
                    if user.enabled {
                        self.store.disable_directory_user(&user.id, self.clock.now()).await?;
                        report.users_disabled += 1;
                        self.audit
                            .record(Kind::DirectoryUserDisabled, actor, Target::User(&user.username), reason)
                            .await?;
                    }
                    continue;
                }
            };
            if let Ok(fresh) = self.provision(person).await? {
                report.users_updated += 1;
                if !fresh.enabled && self.store.enable_directory_user(&fresh.id, self.clock.now()).await? {
                    report.users_enabled += 1;
                    self.audit
                        .record(
                            Kind::DirectoryUserEnabled,
                            actor,
                            Target::User(&fresh.username),
                            "back in the directory",
                        )
                        .await?;
                }
            }
        }
        Ok(report)
    }

    /// Makes the local user `username` the directory person of the same
    /// username (an admin's explicit decision: the local password stops
    /// working, grants and tokens stay), then refreshes it from there.
    pub async fn link(&self, actor: &Actor, username: &Username) -> ServiceResult<User> {
        let user = self
            .store
            .find_user_by_username(username)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no user named '{username}'")))?;
        if user.directory.is_some() {
            return Err(ServiceError::conflict(format!("{username} already comes from the directory")));
        }
        let person =
            match self.directory.find_person(username.as_str(), &self.groups_that_matter().await?).await {
                Ok(Some(person)) => person,
                Ok(None) => {
                    return Err(ServiceError::not_found(format!(
                        "the directory has no single entry with {}={username}",
                        self.directory.settings().username_attribute
                    )))
                }
                Err(error) => return Err(ServiceError::conflict(error.to_string())),
            };
        self.store.link_user_to_directory(username, &person.dn, self.clock.now()).await?;
        let detail = format!("linked to {}", person.dn);
        self.audit.record(Kind::DirectoryUserLinked, actor, Target::User(username), &detail).await?;
        match self.provision(&person).await? {
            Ok(user) => Ok(user),
            Err(NotProvisioned(why)) => {
                Err(ServiceError::conflict(format!("linked, but not refreshed: {why}")))
            }
        }
    }

    /// Connects and binds as the service account, reads the user base, and
    /// (given a username) finds that person and the groups that matter.
    pub async fn test(&self, username: Option<&str>) -> ConnectionTest {
        let settings = self.directory.settings();
        let mut steps = Vec::new();
        if let Err(error) = self.directory.check().await {
            return ConnectionTest { ok: false, steps, error: Some(error.to_string()) };
        }
        steps.push(format!(
            "connected to {} and bound as {}",
            settings.url,
            settings.bind_dn.as_deref().unwrap_or("anonymous")
        ));
        steps.push(format!("read the user base {}", settings.user_base));
        let Some(username) = username.map(str::trim).filter(|u| !u.is_empty()) else {
            return ConnectionTest { ok: true, steps, error: None };
        };
        let groups = match self.groups_that_matter().await {
            Ok(groups) => groups,
            Err(error) => return ConnectionTest { ok: false, steps, error: Some(error.to_string()) },
        };
        match self.directory.find_person(username, &groups).await {
            Ok(Some(person)) => {
                steps.push(format!("found {} at {}", person.username, person.dn));
                steps.push(format!(
                    "email {}, name {}",
                    person.email.as_deref().unwrap_or("(none)"),
                    person.display_name.as_deref().unwrap_or("(none)")
                ));
                if person.disabled {
                    steps.push("disabled in the directory".into());
                }
                if !person.groups.is_empty() {
                    steps.push(format!("member of {}", person.groups.join(", ")));
                }
                match self.record_of(&person) {
                    Ok(_) => ConnectionTest { ok: true, steps, error: None },
                    Err(NotProvisioned(why)) => ConnectionTest { ok: false, steps, error: Some(why) },
                }
            }
            Ok(None) => ConnectionTest {
                ok: false,
                steps,
                error: Some(format!(
                    "no single entry has {}={username} under {} matching {}",
                    settings.username_attribute, settings.user_base, settings.user_filter
                )),
            },
            Err(error) => ConnectionTest { ok: false, steps, error: Some(error.to_string()) },
        }
    }
}

/// A name from the directory, cut to the longest a profile holds.
fn clipped(name: &Option<String>) -> Option<String> {
    name.as_ref().map(|n| n.chars().take(MAX_NAME_CHARS).collect())
}

enum Failure {
    /// The directory: nobody is disabled.
    Directory(String),
    /// Tessera's own database.
    Service(ServiceError),
}

impl From<ServiceError> for Failure {
    fn from(error: ServiceError) -> Self {
        Self::Service(error)
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Service(error.into())
    }
}
