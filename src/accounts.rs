//! People: creating users, checking their passwords, and the first admin.
//! Used by the command line now, by login and the console as they arrive.

use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::password::PasswordHasher;
use crate::crypto::secrets::{generate_secret, Secret};
use crate::domain::{ClientId, Email, InvalidInput, NewUser, Password, Role, UnixTime, User, Username};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub struct Accounts {
    store: Arc<dyn Store>,
    passwords: PasswordHasher,
    clock: Arc<dyn Clock>,
}

/// The user name of the admin created at first start.
pub const BOOTSTRAP_ADMIN: &str = "admin";

impl Accounts {
    pub fn new(store: Arc<dyn Store>, passwords: PasswordHasher, clock: Arc<dyn Clock>) -> Self {
        Self { store, passwords, clock }
    }

    pub async fn create_user(&self, new: NewUser) -> Result<User, AccountError> {
        if let Some(name) = &new.display_name {
            if name.chars().count() > 200 {
                return Err(InvalidInput::new("display name must be at most 200 characters").into());
            }
        }
        let hash = self.passwords.hash(&new.password).await?;
        Ok(self.store.create_user(&new, &hash, self.clock.now()).await?)
    }

    pub async fn list_users(&self) -> Result<Vec<User>, AccountError> {
        Ok(self.store.list_users().await?)
    }

    pub async fn set_user_enabled(&self, username: &Username, enabled: bool) -> Result<(), AccountError> {
        Ok(self.store.set_user_enabled(username, enabled, self.clock.now()).await?)
    }

    /// The apps a user has approved: client id, approved scope, when.
    pub async fn consents(
        &self,
        username: &Username,
    ) -> Result<Vec<(ClientId, String, UnixTime)>, AccountError> {
        let user = self.user_named(username).await?;
        Ok(self.store.list_consents(&user.id).await?)
    }

    /// Withdraws a user's approval of a client and ends every grant of it.
    pub async fn revoke_consent(&self, username: &Username, client: &ClientId) -> Result<(), AccountError> {
        let user = self.user_named(username).await?;
        if !self.store.revoke_consent(&user.id, client, self.clock.now()).await? {
            return Err(StoreError::NotFound(format!("{username} has not approved client '{client}'")).into());
        }
        Ok(())
    }

    async fn user_named(&self, username: &Username) -> Result<User, AccountError> {
        let found = self.store.find_user_for_login(username.as_str()).await?;
        found
            .map(|(user, _)| user)
            .filter(|user| &user.username == username)
            .ok_or_else(|| StoreError::NotFound(format!("no user named '{username}'")).into())
    }

    /// The enabled user whose username or email is `login` and whose
    /// password is `password`. Unknown user, wrong password and disabled
    /// user cost the same argon2 run and give the same `None`.
    pub async fn verify_login(&self, login: &str, password: &str) -> Result<Option<User>, AccountError> {
        let Some(password) = Password::for_verification(password) else {
            return Ok(None);
        };
        let found =
            if login.len() <= 320 { self.store.find_user_for_login(login.trim()).await? } else { None };
        let matches = self.passwords.verify(&password, found.as_ref().map(|(_, hash)| hash.as_str())).await?;
        Ok(found.map(|(user, _)| user).filter(|user| matches && user.enabled))
    }

    /// At first start, with no enabled admin, creates `admin` with the given
    /// password or a random one. Returns the generated password, to be shown
    /// once. Safe to run on several nodes at once.
    pub async fn ensure_bootstrap_admin(
        &self,
        password: Option<&str>,
    ) -> Result<Option<Secret>, AccountError> {
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
            password,
            role: Role::Admin,
        };
        match self.create_user(new).await {
            Ok(_) => Ok(generated),
            // Another node (or an earlier run with the admin disabled) got there first.
            Err(AccountError::Store(StoreError::Conflict(_))) => Ok(None),
            Err(other) => Err(other),
        }
    }
}
