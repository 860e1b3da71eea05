//! People: creating users, checking their passwords, and the first admin.
//! Used by the command line now, by login and the console as they arrive.

use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::password::PasswordHasher;
use crate::crypto::secrets::{generate_secret, Secret};
use crate::domain::{
    ClientId, Email, GrantId, InvalidInput, NewUser, Password, Role, ScopeSet, UnixTime, User, UserChanges,
    Username,
};
use crate::service::audit::{Actor, Audit, Kind, Target};
use crate::service::ServiceError;
use crate::store::Store;
pub use crate::store::{GrantSummary, GrantsOf};

/// A typed login, looked up: the account it names, if any, with its hash.
pub struct LoginAttempt {
    /// As typed (trimmed).
    typed: String,
    found: Option<(User, String)>,
}

impl LoginAttempt {
    /// What failed sign-ins are counted against: the account the login
    /// names (so `hank` and `hank@example.com` share one count), or, for a
    /// login that names nobody, the login as typed (lower case).
    pub fn throttle_key(&self) -> String {
        match &self.found {
            Some((user, _)) => format!("user:{}", user.id),
            None => format!("login:{}", self.typed.to_lowercase()),
        }
    }

    /// The account found, if any.
    pub fn user(&self) -> Option<&User> {
        self.found.as_ref().map(|(user, _)| user)
    }

    /// The login as typed (trimmed).
    pub fn typed(&self) -> &str {
        &self.typed
    }
}

pub struct Accounts {
    store: Arc<dyn Store>,
    passwords: PasswordHasher,
    clock: Arc<dyn Clock>,
    audit: Arc<Audit>,
}

/// The user name of the admin created at first start.
pub const BOOTSTRAP_ADMIN: &str = "admin";

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        passwords: PasswordHasher,
        clock: Arc<dyn Clock>,
        audit: Arc<Audit>,
    ) -> Self {
        Self { store, passwords, clock, audit }
    }

    pub async fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User, ServiceError> {
        check_display_name(new.display_name.as_deref())?;
        let hash = self.passwords.hash(&new.password).await?;
        let user = self.store.create_user(&new, &hash, self.clock.now()).await?;
        let detail = format!("role {}", user.role.as_str());
        self.audit.record(Kind::UserCreated, actor, Target::User(&user.username), &detail).await?;
        Ok(user)
    }

    pub async fn list_users(&self) -> Result<Vec<User>, ServiceError> {
        Ok(self.store.list_users().await?)
    }

    pub async fn find_user(&self, username: &Username) -> Result<User, ServiceError> {
        self.store
            .find_user_by_username(username)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no user named '{username}'")))
    }

    /// Disabling ends the user's sessions, grants and personal API tokens
    /// for good (their tokens go inactive at once); enabling them again
    /// brings none of it back.
    pub async fn set_user_enabled(
        &self,
        actor: &Actor,
        username: &Username,
        enabled: bool,
    ) -> Result<(), ServiceError> {
        let user = self.find_user(username).await?;
        self.guard_last_admin(&user, enabled && user.role == Role::Admin).await?;
        self.store.set_user_enabled(username, enabled, self.clock.now()).await?;
        let kind = if enabled { Kind::UserEnabled } else { Kind::UserDisabled };
        self.audit.record(kind, actor, Target::User(username), "").await?;
        Ok(())
    }

    /// Changes a user's username, email, display name or role. A role
    /// change ends the user's sessions (a privilege change).
    pub async fn update_user(
        &self,
        actor: &Actor,
        username: &Username,
        changes: UserChanges,
    ) -> Result<User, ServiceError> {
        check_display_name(changes.display_name.as_deref())?;
        let user = self.find_user(username).await?;
        self.guard_last_admin(&user, user.enabled && changes.role == Role::Admin).await?;
        self.store.update_user(username, &changes, self.clock.now()).await?;
        if changes.role != user.role {
            self.store.delete_user_sessions(&user.id).await?;
        }
        let detail = format!(
            "username {} → {}; role {} → {}",
            user.username,
            changes.username,
            user.role.as_str(),
            changes.role.as_str()
        );
        self.audit.record(Kind::UserUpdated, actor, Target::User(username), &detail).await?;
        self.find_user(&changes.username).await
    }

    /// An admin sets a new password for someone; their sessions and app
    /// grants end (personal API tokens stay: disable the user to end those).
    pub async fn reset_password(
        &self,
        actor: &Actor,
        username: &Username,
        password: &Password,
    ) -> Result<(), ServiceError> {
        let user = self.find_user(username).await?;
        refuse_directory_password(&user)?;
        let hash = self.passwords.hash(password).await?;
        self.store.set_password_hash(username, &hash, self.clock.now()).await?;
        self.audit.record(Kind::UserPasswordReset, actor, Target::User(username), "").await?;
        Ok(())
    }

    /// A signed-in user changes their own password, proving the current
    /// one; every session and app grant of theirs ends (the caller starts a
    /// new session; apps must be authorized again).
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        user: &User,
        current: &str,
        new: &Password,
    ) -> Result<(), ServiceError> {
        refuse_directory_password(user)?;
        let Some(current) = Password::for_verification(current) else {
            return Err(InvalidInput::new("the current password is not right")
                .in_field("current_password")
                .into());
        };
        let found = self.store.find_user_for_login(user.username.as_str()).await?;
        let hash = found.as_ref().filter(|(u, _)| u.id == user.id).map(|(_, hash)| hash.as_str());
        if !self.passwords.verify(&current, hash).await? {
            return Err(InvalidInput::new("the current password is not right")
                .in_field("current_password")
                .into());
        }
        let hash = self.passwords.hash(new).await?;
        self.store.set_password_hash(&user.username, &hash, self.clock.now()).await?;
        self.audit.record(Kind::PasswordChanged, actor, Target::User(&user.username), "").await?;
        Ok(())
    }

    /// Refuses a change that would leave no enabled admin: nobody could
    /// sign in to the console to undo it.
    async fn guard_last_admin(&self, user: &User, stays_admin: bool) -> Result<(), ServiceError> {
        if user.role != Role::Admin || !user.enabled || stays_admin {
            return Ok(());
        }
        let others = self.store.list_users().await?;
        let another = others.iter().any(|u| u.id != user.id && u.enabled && u.role == Role::Admin);
        if another {
            Ok(())
        } else {
            Err(InvalidInput::new(format!(
                "{} is the only enabled admin; make someone else admin first",
                user.username
            ))
            .into())
        }
    }

    /// The apps a user has approved: client id, approved scope, when.
    pub async fn consents(
        &self,
        username: &Username,
    ) -> Result<Vec<(ClientId, ScopeSet, UnixTime)>, ServiceError> {
        let user = self.find_user(username).await?;
        Ok(self.store.list_consents(&user.id).await?)
    }

    /// Withdraws a user's approval of a client and ends every grant of it.
    pub async fn revoke_consent(
        &self,
        actor: &Actor,
        username: &Username,
        client: &ClientId,
    ) -> Result<(), ServiceError> {
        let user = self.find_user(username).await?;
        if !self.store.revoke_consent(&user.id, client, self.clock.now()).await? {
            return Err(ServiceError::NotFound(format!("{username} has not approved client '{client}'")));
        }
        let detail = format!("client {client}");
        self.audit.record(Kind::ConsentRevoked, actor, Target::User(username), &detail).await?;
        Ok(())
    }

    /// Live grants (an app's access on a person's behalf) of a user or an app.
    pub async fn grants(&self, of: GrantsOf<'_>) -> Result<Vec<GrantSummary>, ServiceError> {
        Ok(self.store.list_grants(of, self.clock.now()).await?)
    }

    /// Revokes one grant: its refresh and access tokens stop working.
    /// `owner`, when given, must be the grant's user (self-service).
    pub async fn revoke_grant(
        &self,
        actor: &Actor,
        grant_id: &GrantId,
        owner: Option<&User>,
    ) -> Result<(), ServiceError> {
        let grant = self.store.find_grant(grant_id).await?;
        let Some(grant) = grant.filter(|g| owner.is_none_or(|o| o.id == g.user_id)) else {
            return Err(ServiceError::NotFound("no such grant".into()));
        };
        self.store.revoke_grant(&grant.id, self.clock.now()).await?;
        let detail = format!("{} for {}", grant.client_name, grant.username);
        self.audit.record(Kind::GrantRevoked, actor, Target::Grant(&grant.id), &detail).await?;
        Ok(())
    }

    /// Revokes every grant of a user; returns how many.
    pub async fn revoke_user_grants(&self, actor: &Actor, username: &Username) -> Result<u64, ServiceError> {
        let user = self.find_user(username).await?;
        let count = self.store.revoke_user_grants(&user.id, self.clock.now()).await?;
        let detail = format!("{count} grant(s)");
        self.audit.record(Kind::GrantRevoked, actor, Target::User(username), &detail).await?;
        Ok(count)
    }

    /// The enabled user whose username or email is `login` and whose
    /// password is `password`. Unknown user, wrong password and disabled
    /// user cost the same argon2 run and give the same `None`.
    pub async fn verify_login(&self, login: &str, password: &str) -> Result<Option<User>, ServiceError> {
        let attempt = self.resolve_login(login).await?;
        self.check_password(attempt, password).await
    }

    /// The first half of a sign-in: who `login` names (one read, no
    /// hashing), so the caller can throttle per account before paying for
    /// argon2.
    pub async fn resolve_login(&self, login: &str) -> Result<LoginAttempt, ServiceError> {
        let login = login.trim();
        let found = if login.len() <= 320 { self.store.find_user_for_login(login).await? } else { None };
        Ok(LoginAttempt { typed: login.to_owned(), found })
    }

    /// The second half: the password check (argon2, also for an unknown
    /// user, against a dummy hash).
    pub async fn check_password(
        &self,
        attempt: LoginAttempt,
        password: &str,
    ) -> Result<Option<User>, ServiceError> {
        let Some(password) = Password::for_verification(password) else {
            return Ok(None);
        };
        // A directory user's password is not kept here: never a match, at
        // the cost of the same argon2 run as an unknown login.
        let found = attempt.found.filter(|(user, _)| user.directory.is_none());
        let stored = found.as_ref().map(|(_, hash)| hash.as_str());
        let matches = self.passwords.verify(&password, stored).await?;
        Ok(found.map(|(user, _)| user).filter(|user| matches && user.enabled))
    }

    /// At first start, with no enabled admin, creates `admin` with the given
    /// password or a random one. Returns the generated password, to be shown
    /// once. Safe to run on several nodes at once.
    pub async fn ensure_bootstrap_admin(
        &self,
        password: Option<&str>,
    ) -> Result<Option<Secret>, ServiceError> {
        if self.store.any_enabled_admin().await? {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(given) => (
                Password::parse(given)
                    .map_err(|e| InvalidInput::new(format!("TESSERA_BOOTSTRAP_ADMIN_PASSWORD: {e}")))?,
                None,
            ),
            None => {
                let secret = generate_secret("");
                (Password::parse(secret.expose())?, Some(secret))
            }
        };
        let new = NewUser {
            username: Username::parse(BOOTSTRAP_ADMIN)?,
            email: Email::parse("admin@localhost")?,
            display_name: Some("Administrator".into()),
            profile: Default::default(),
            password,
            role: Role::Admin,
        };
        match self.create_user(&Actor::new("system", None), new).await {
            Ok(_) => Ok(generated),
            // Another node (or an earlier run with the admin disabled) got there first.
            Err(ServiceError::Conflict(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

/// A directory user's password lives in the directory: it is changed there.
fn refuse_directory_password(user: &User) -> Result<(), ServiceError> {
    if user.directory.is_some() {
        return Err(ServiceError::Conflict(format!(
            "{}'s password is kept in the company directory (LDAP); change it there",
            user.username
        )));
    }
    Ok(())
}

fn check_display_name(name: Option<&str>) -> Result<(), InvalidInput> {
    match name {
        Some(name) if name.chars().count() > 200 => {
            Err(InvalidInput::new("display name must be at most 200 characters").in_field("display_name"))
        }
        _ => Ok(()),
    }
}
