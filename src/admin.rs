//! Administrative operations on principals and keys, shared by the command
//! line now and by the console and admin API later: one place for each rule
//! (secret generation and hashing, rotation grace, validation).

use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::secrets::{
    generate_secret, random_alphanumeric, Secret, SecretHasher, CLIENT_SECRET_PREFIX,
};
use crate::domain::{
    Client, ClientId, ClientType, InvalidInput, Lifetime, NewClient, NewServiceAccount, ScopeName,
    ServiceAccount, UnixTime, Username,
};
use crate::store::{ClientCache, Scope, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Admin {
    store: Arc<dyn Store>,
    /// Dropped from at once on every change made here; other nodes learn
    /// of it through the change log.
    clients: Arc<ClientCache>,
    hasher: SecretHasher,
    clock: Arc<dyn Clock>,
    secret_rotation_grace: Lifetime,
}

/// A client as just created or rotated: the secret (none for a public
/// client) is shown this once.
#[derive(Debug)]
pub struct ClientWithSecret {
    pub client: Client,
    pub secret: Option<Secret>,
    /// When the previous secret stops working (rotation only).
    pub previous_secret_expires_at: Option<UnixTime>,
}

impl Admin {
    pub fn new(
        store: Arc<dyn Store>,
        clients: Arc<ClientCache>,
        hasher: SecretHasher,
        clock: Arc<dyn Clock>,
        secret_rotation_grace: Lifetime,
    ) -> Self {
        Self { store, clients, hasher, clock, secret_rotation_grace }
    }

    pub async fn create_service_account(&self, new: NewServiceAccount) -> Result<ServiceAccount, AdminError> {
        if let Some(name) = &new.display_name {
            if name.chars().count() > 200 {
                return Err(InvalidInput::new("display name must be at most 200 characters").into());
            }
        }
        Ok(self.store.create_service_account(&new, self.clock.now()).await?)
    }

    pub async fn list_service_accounts(&self) -> Result<Vec<ServiceAccount>, AdminError> {
        Ok(self.store.list_service_accounts().await?)
    }

    pub async fn set_service_account_enabled(
        &self,
        username: &Username,
        enabled: bool,
    ) -> Result<(), AdminError> {
        self.store.set_service_account_enabled(username, enabled, self.clock.now()).await?;
        self.clients.evict_service_account(username.as_str());
        Ok(())
    }

    pub async fn create_scope(&self, name: ScopeName, description: &str) -> Result<Scope, AdminError> {
        if description.chars().count() > 500 {
            return Err(InvalidInput::new("scope description must be at most 500 characters").into());
        }
        Ok(self.store.create_scope(&name, description.trim(), self.clock.now()).await?)
    }

    pub async fn list_scopes(&self) -> Result<Vec<Scope>, AdminError> {
        Ok(self.store.list_scopes().await?)
    }

    /// Registers a client; a confidential one gets its first secret.
    pub async fn create_client(&self, new: NewClient) -> Result<ClientWithSecret, AdminError> {
        let auth_method = new.validate()?;
        // 22 alphanumeric characters: 130 bits, and never a leading '-'.
        let id = ClientId::parse(&random_alphanumeric(22)).expect("generated ids are valid");
        let secret =
            (new.client_type == ClientType::Confidential).then(|| generate_secret(CLIENT_SECRET_PREFIX));
        let digest = secret.as_ref().map(|s| self.hasher.digest(s.expose()));
        let client =
            self.store.create_client(&id, &new, auth_method, digest.as_deref(), self.clock.now()).await?;
        Ok(ClientWithSecret { client, secret, previous_secret_expires_at: None })
    }

    pub async fn find_client(&self, id: &str) -> Result<Client, AdminError> {
        let id = ClientId::parse(id)?;
        self.store
            .find_client(&id)
            .await?
            .map(|stored| stored.client)
            .ok_or_else(|| StoreError::NotFound(format!("no client with id '{id}'")).into())
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, AdminError> {
        Ok(self.store.list_clients().await?)
    }

    /// Issues a new secret; the old one keeps working for the grace period.
    pub async fn rotate_client_secret(
        &self,
        id: &str,
        grace: Option<Lifetime>,
    ) -> Result<ClientWithSecret, AdminError> {
        let client = self.find_client(id).await?;
        if client.client_type == ClientType::Public {
            return Err(
                InvalidInput::new(format!("client {id} is public: it has no secret to rotate")).into()
            );
        }
        let now = self.clock.now();
        let old_expires_at = now.plus(grace.unwrap_or(self.secret_rotation_grace).seconds());
        let secret = generate_secret(CLIENT_SECRET_PREFIX);
        self.store
            .rotate_client_secret(&client.id, &self.hasher.digest(secret.expose()), old_expires_at, now)
            .await?;
        self.clients.evict_client(&client.id);
        Ok(ClientWithSecret {
            client,
            secret: Some(secret),
            previous_secret_expires_at: Some(old_expires_at),
        })
    }

    pub async fn set_client_enabled(&self, id: &str, enabled: bool) -> Result<(), AdminError> {
        let id = ClientId::parse(id)?;
        self.store.set_client_enabled(&id, enabled, self.clock.now()).await?;
        self.clients.evict_client(&id);
        Ok(())
    }

    pub async fn delete_client(&self, id: &str) -> Result<(), AdminError> {
        let id = ClientId::parse(id)?;
        self.store.delete_client(&id, self.clock.now()).await?;
        self.clients.evict_client(&id);
        Ok(())
    }
}
