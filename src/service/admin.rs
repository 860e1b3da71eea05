//! Administrative operations on apps, service accounts, scopes and keys,
//! shared by the command line, the console and the admin API: one place for
//! each rule (secret generation and hashing, rotation grace, validation) and
//! for writing every change to the audit log.

use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::secrets::{
    generate_secret, random_alphanumeric, Secret, SecretHasher, CLIENT_SECRET_PREFIX,
};
use crate::domain::{
    parse_group_names, AuthMethod, Client, ClientDraft, ClientId, ClientType, Grace, GrantType, InvalidInput,
    Lifetime, NewClient, NewServiceAccount, ScopeLimits, ScopeName, ServiceAccount, ServiceAccountChanges,
    UnixTime, Username, ADMIN_SCOPE,
};
use crate::service::audit::{Actor, Audit, Kind, Target};
use crate::service::keys::{KeyInfo, KeyManager};
use crate::service::ServiceError;
use crate::store::{ClientCache, Store};
pub use crate::store::{Counts, Scope};

pub struct Admin {
    store: Arc<dyn Store>,
    /// Dropped from at once on every change made here; other nodes learn
    /// of it through the change log.
    clients: Arc<ClientCache>,
    hasher: SecretHasher,
    clock: Arc<dyn Clock>,
    secret_rotation_grace: Lifetime,
    audit: Arc<Audit>,
    keys: Arc<KeyManager>,
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

/// Settings of `Admin` that come from the configuration.
pub struct AdminParts {
    pub store: Arc<dyn Store>,
    pub clients: Arc<ClientCache>,
    pub hasher: SecretHasher,
    pub clock: Arc<dyn Clock>,
    pub secret_rotation_grace: Lifetime,
    pub audit: Arc<Audit>,
    pub keys: Arc<KeyManager>,
}

impl Admin {
    pub fn new(parts: AdminParts) -> Self {
        let AdminParts { store, clients, hasher, clock, secret_rotation_grace, audit, keys } = parts;
        Self { store, clients, hasher, clock, secret_rotation_grace, audit, keys }
    }

    pub async fn create_service_account(
        &self,
        actor: &Actor,
        new: NewServiceAccount,
    ) -> Result<ServiceAccount, ServiceError> {
        check_display_name(new.display_name.as_deref())?;
        let account = self.store.create_service_account(&new, self.clock.now()).await?;
        self.audit
            .record(Kind::ServiceAccountCreated, actor, Target::ServiceAccount(&account.username), "")
            .await?;
        Ok(account)
    }

    pub async fn list_service_accounts(&self) -> Result<Vec<ServiceAccount>, ServiceError> {
        Ok(self.store.list_service_accounts().await?)
    }

    pub async fn find_service_account(&self, username: &Username) -> Result<ServiceAccount, ServiceError> {
        self.store
            .find_service_account(username)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no service account named '{username}'")))
    }

    pub async fn update_service_account(
        &self,
        actor: &Actor,
        username: &Username,
        changes: ServiceAccountChanges,
    ) -> Result<ServiceAccount, ServiceError> {
        check_display_name(changes.display_name.as_deref())?;
        if !changes.admin && actor.is_service_account(username.as_str()) {
            return Err(InvalidInput::new(
                "a service account cannot take away its own admin flag: another admin must do it",
            )
            .in_field("admin")
            .into());
        }
        self.store.update_service_account(username, &changes, self.clock.now()).await?;
        self.clients.evict_service_account(username.as_str());
        let detail = format!(
            "username {} → {}; admin {}",
            username,
            changes.username,
            if changes.admin { "yes" } else { "no" }
        );
        self.audit
            .record(Kind::ServiceAccountUpdated, actor, Target::ServiceAccount(username), &detail)
            .await?;
        self.find_service_account(&changes.username).await
    }

    pub async fn set_service_account_enabled(
        &self,
        actor: &Actor,
        username: &Username,
        enabled: bool,
    ) -> Result<(), ServiceError> {
        if !enabled && actor.is_service_account(username.as_str()) {
            return Err(InvalidInput::new(
                "a service account cannot disable itself (it may be the last admin credential): another admin must do it",
            )
            .into());
        }
        self.store.set_service_account_enabled(username, enabled, self.clock.now()).await?;
        self.clients.evict_service_account(username.as_str());
        let kind = if enabled { Kind::ServiceAccountEnabled } else { Kind::ServiceAccountDisabled };
        self.audit.record(kind, actor, Target::ServiceAccount(username), "").await?;
        Ok(())
    }

    pub async fn create_scope(
        &self,
        actor: &Actor,
        name: ScopeName,
        description: &str,
    ) -> Result<Scope, ServiceError> {
        check_scope_description(description)?;
        let scope = self.store.create_scope(&name, description.trim(), self.clock.now()).await?;
        self.audit.record(Kind::ScopeCreated, actor, Target::Scope(&name), "").await?;
        Ok(scope)
    }

    pub async fn list_scopes(&self) -> Result<Vec<Scope>, ServiceError> {
        Ok(self.store.list_scopes().await?)
    }

    /// Who may grant which scope (the admin scope, the group limits).
    pub async fn scope_limits(&self) -> Result<ScopeLimits, ServiceError> {
        Ok(self.store.scope_limits().await?)
    }

    /// What a consent page shows `user` asked for `scope` (one read of the
    /// scopes): each scope they may grant with its description (an unknown
    /// one with none), and why each other one is left out
    /// (the admin scope for a non-admin, a scope limited to directory
    /// groups they are not in).
    pub async fn consent_scopes(
        &self,
        user: &crate::domain::User,
        scope: &crate::domain::ScopeSet,
    ) -> Result<(Vec<(String, String)>, Vec<String>), ServiceError> {
        let known = self.store.list_scopes().await?;
        let limits = crate::store::limits_of(&known);
        let withheld = scope.iter().filter_map(|s| limits.refusal(user, s.as_str())).collect();
        let granted = limits
            .grantable(user, scope)
            .iter()
            .map(|name| {
                let description =
                    known.iter().find(|s| &s.name == name).map(|s| s.description.clone()).unwrap_or_default();
                (name.to_string(), description)
            })
            .collect();
        Ok((granted, withheld))
    }

    /// Changes a scope's description, or disables it (not a built-in one):
    /// a disabled scope can no longer be requested or given to an app.
    pub async fn update_scope(
        &self,
        actor: &Actor,
        name: &ScopeName,
        description: &str,
        enabled: bool,
        allowed_groups: Option<&[String]>,
    ) -> Result<(), ServiceError> {
        check_scope_description(description)?;
        let scopes = self.store.list_scopes().await?;
        let Some(scope) = scopes.iter().find(|s| &s.name == name) else {
            return Err(ServiceError::NotFound(format!("no scope named '{name}'")));
        };
        let allowed_groups = match allowed_groups {
            Some(given) => parse_group_names(given.iter().map(String::as_str))?,
            None => scope.allowed_groups.clone(),
        };
        if scope.builtin && !enabled {
            return Err(InvalidInput::new(format!("'{name}' is built in and cannot be disabled"))
                .in_field("enabled")
                .into());
        }
        self.store.update_scope(name, description.trim(), enabled, &allowed_groups, self.clock.now()).await?;
        self.clients.clear();
        let state = if enabled { "enabled" } else { "disabled" };
        let detail = match allowed_groups.is_empty() {
            true => state.to_owned(),
            false => format!("{state}; only members of {} may grant it", allowed_groups.join(", ")),
        };
        self.audit.record(Kind::ScopeUpdated, actor, Target::Scope(name), &detail).await?;
        Ok(())
    }

    /// Registers a client; one that authenticates with a secret gets its
    /// first (a public client and a `private_key_jwt` one have none).
    pub async fn create_client(
        &self,
        actor: &Actor,
        new: NewClient,
    ) -> Result<ClientWithSecret, ServiceError> {
        let auth_method = new.validate()?;
        self.check_admin_scope(&new).await?;
        // 22 alphanumeric characters: 130 bits, and never a leading '-'.
        let id = ClientId::parse(&random_alphanumeric(22))?;
        let secret = auth_method.uses_secret().then(|| generate_secret(CLIENT_SECRET_PREFIX));
        let digest = secret.as_ref().map(|s| self.hasher.digest(s.expose()));
        let client =
            self.store.create_client(&id, &new, auth_method, digest.as_deref(), self.clock.now()).await?;
        let detail = format!("'{}', {}", client.name, client.client_type.as_str());
        self.audit.record(Kind::ClientCreated, actor, Target::Client(&id), &detail).await?;
        Ok(ClientWithSecret { client, secret, previous_secret_expires_at: None })
    }

    /// Changes everything about a client but its id, its type and its
    /// secrets. `changes.client_type` must be the client's own.
    pub async fn update_client(
        &self,
        actor: &Actor,
        id: &str,
        changes: NewClient,
    ) -> Result<Client, ServiceError> {
        let current = self.find_client(id).await?;
        if changes.client_type != current.client_type {
            return Err(InvalidInput::new("a client's type cannot change; register a new client instead")
                .in_field("client_type")
                .into());
        }
        let auth_method = changes.validate()?;
        self.check_admin_scope(&changes).await?;
        let client = self.store.update_client(&current.id, &changes, auth_method, self.clock.now()).await?;
        self.clients.evict_client(&current.id);
        self.audit
            .record(Kind::ClientUpdated, actor, Target::Client(&current.id), &format!("'{}'", client.name))
            .await?;
        Ok(client)
    }

    /// `tessera:admin` opens the admin API: a machine client may carry it
    /// only when bound to a service account flagged admin. (A person's app
    /// may list it; its tokens get it only for admins, at issuance.)
    async fn check_admin_scope(&self, new: &NewClient) -> Result<(), ServiceError> {
        let wants_admin = new.scopes.iter().any(|s| s.as_str() == ADMIN_SCOPE);
        if !wants_admin || !new.grants.contains(&GrantType::ClientCredentials) {
            return Ok(());
        }
        let admin_account = match &new.service_account {
            Some(username) => self.store.find_service_account(username).await?.is_some_and(|sa| sa.admin),
            None => false,
        };
        if admin_account {
            Ok(())
        } else {
            Err(InvalidInput::new(format!(
                "{ADMIN_SCOPE} with client_credentials needs a bound service account flagged admin"
            ))
            .in_field("scopes")
            .into())
        }
    }

    pub async fn find_client(&self, id: &str) -> Result<Client, ServiceError> {
        let id =
            ClientId::parse(id).map_err(|_| ServiceError::NotFound(format!("no client with id '{id}'")))?;
        self.store
            .find_client(&id)
            .await?
            .map(|stored| stored.client)
            .ok_or_else(|| ServiceError::NotFound(format!("no client with id '{id}'")))
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, ServiceError> {
        Ok(self.store.list_clients().await?)
    }

    /// The clients whose name, id or service account's username contains
    /// `text`, ignoring case; every client when `text` is blank.
    pub async fn search_clients(&self, text: &str) -> Result<Vec<Client>, ServiceError> {
        let needle = text.trim().to_lowercase();
        let mut clients = self.list_clients().await?;
        if !needle.is_empty() {
            clients.retain(|c| {
                c.name.to_lowercase().contains(&needle)
                    || c.id.as_str().to_lowercase().contains(&needle)
                    || c.acting_username().is_some_and(|u| u.as_str().to_lowercase().contains(&needle))
            });
        }
        Ok(clients)
    }

    /// Registers Jira's own client: confidential, client credentials, and
    /// a resource server, so Jira may introspect any token.
    pub async fn create_jira_client(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<ClientWithSecret, ServiceError> {
        let draft = ClientDraft {
            name: name.to_owned(),
            client_type: ClientType::Confidential.as_str().into(),
            grants: vec![GrantType::ClientCredentials.as_str().into()],
            resource_server: true,
            ..ClientDraft::default()
        };
        let new = draft.parse().map_err(|errors| {
            let message = errors.into_iter().map(|e| e.message).collect::<Vec<_>>().join("; ");
            InvalidInput::new(message).in_field("name")
        })?;
        self.create_client(actor, new).await
    }

    /// Apps, service accounts, users and live user grants, for the dashboard.
    pub async fn counts(&self) -> Result<Counts, ServiceError> {
        Ok(self.store.counts(self.clock.now()).await?)
    }

    /// Issues a new secret; the old one keeps working for the grace period
    /// (a zero grace ends it at once).
    pub async fn rotate_client_secret(
        &self,
        actor: &Actor,
        id: &str,
        grace: Option<Grace>,
    ) -> Result<ClientWithSecret, ServiceError> {
        let client = self.find_client(id).await?;
        if client.client_type == ClientType::Public {
            return Err(
                InvalidInput::new(format!("client {id} is public: it has no secret to rotate")).into()
            );
        }
        if client.auth_method == AuthMethod::PrivateKeyJwt {
            return Err(InvalidInput::new(format!(
                "client {id} authenticates with private_key_jwt: it has no secret; to rotate its key, register the new public key beside the old one"
            ))
            .into());
        }
        let now = self.clock.now();
        let grace = grace.unwrap_or(self.secret_rotation_grace.into());
        let old_expires_at = now.plus(grace.seconds());
        let secret = generate_secret(CLIENT_SECRET_PREFIX);
        self.store
            .rotate_client_secret(&client.id, &self.hasher.digest(secret.expose()), old_expires_at, now)
            .await?;
        self.clients.evict_client(&client.id);
        let detail = if grace.is_zero() {
            "the previous secret ended at once".to_owned()
        } else {
            format!("the previous secret works for {grace} more")
        };
        self.audit.record(Kind::ClientSecretRotated, actor, Target::Client(&client.id), &detail).await?;
        Ok(ClientWithSecret {
            client,
            secret: Some(secret),
            previous_secret_expires_at: Some(old_expires_at),
        })
    }

    pub async fn set_client_enabled(
        &self,
        actor: &Actor,
        id: &str,
        enabled: bool,
    ) -> Result<(), ServiceError> {
        let id =
            ClientId::parse(id).map_err(|_| ServiceError::NotFound(format!("no client with id '{id}'")))?;
        self.store.set_client_enabled(&id, enabled, self.clock.now()).await?;
        self.clients.evict_client(&id);
        let kind = if enabled { Kind::ClientEnabled } else { Kind::ClientDisabled };
        self.audit.record(kind, actor, Target::Client(&id), "").await?;
        Ok(())
    }

    pub async fn delete_client(&self, actor: &Actor, id: &str) -> Result<(), ServiceError> {
        let client = self.find_client(id).await?;
        self.store.delete_client(&client.id, self.clock.now()).await?;
        self.clients.evict_client(&client.id);
        let detail = format!("'{}'", client.name);
        self.audit.record(Kind::ClientDeleted, actor, Target::Client(&client.id), &detail).await?;
        Ok(())
    }

    /// Ends every token the client holds: its users' grants are revoked and
    /// every access token issued until now is inactive at introspection.
    /// (JWTs validated offline live until they expire.)
    pub async fn revoke_client_tokens(&self, actor: &Actor, id: &str) -> Result<(), ServiceError> {
        let client = self.find_client(id).await?;
        self.store.revoke_client_tokens(&client.id, self.clock.now()).await?;
        self.clients.evict_client(&client.id);
        self.audit.record(Kind::ClientTokensRevoked, actor, Target::Client(&client.id), "").await?;
        Ok(())
    }

    pub fn keys(&self) -> Vec<KeyInfo> {
        self.keys.current().describe(self.clock.now())
    }

    /// Publishes a new signing key that starts signing after `activate_in`.
    pub async fn rotate_keys(
        &self,
        actor: &Actor,
        activate_in: Option<Lifetime>,
    ) -> Result<KeyInfo, ServiceError> {
        let key = self.keys.rotate(activate_in).await?;
        let detail = format!("new key {} signs from {}", key.kid, key.activates_at);
        self.audit.record(Kind::KeyRotated, actor, Target::SigningKey(&key.kid), &detail).await?;
        Ok(key)
    }
}

fn check_display_name(name: Option<&str>) -> Result<(), InvalidInput> {
    match name {
        Some(name) if name.chars().count() > 200 => {
            Err(InvalidInput::new("display name must be at most 200 characters").in_field("display_name"))
        }
        _ => Ok(()),
    }
}

fn check_scope_description(description: &str) -> Result<(), InvalidInput> {
    if description.chars().count() > 500 {
        return Err(
            InvalidInput::new("scope description must be at most 500 characters").in_field("description")
        );
    }
    Ok(())
}
