//! Personal API tokens: a person's long-lived bearer token for scripts and
//! tools, like an Atlassian API token. Created with a label, scopes and an
//! expiry under the server's policy, shown once, stored as a digest,
//! revoked by its owner or an admin. Every use is noted in memory and
//! written in batches (`flush_usage`), never once per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::crypto::personal_token;
use crate::crypto::secrets::{random_id, Secret, SecretHasher};
use crate::domain::ADMIN_SCOPE;
use crate::domain::OFFLINE_ACCESS;
use crate::domain::{
    parse_token_label, InvalidInput, Lifetime, PersonalToken, PersonalTokenId, Role, ScopeName, ScopeSet,
    TokenPolicy, UnixTime, User,
};
use crate::service::audit::{Actor, Audit, Kind, Target};
use crate::service::ServiceError;
use crate::store::{NewPersonalToken, Store, StoreResult};

/// The longest expiry anyone may ask for, whatever the policy: ten years.
const LONGEST_EXPIRY: Lifetime = Lifetime::from_seconds(3_650 * 86_400);

/// What a person asks for.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_in: Option<Lifetime>,
}

/// A new token: the only moment its secret exists outside the bearer's hands.
pub struct CreatedToken {
    pub token: PersonalToken,
    pub secret: Secret,
}

pub struct PersonalTokens {
    store: Arc<dyn Store>,
    hasher: SecretHasher,
    clock: Arc<dyn Clock>,
    audit: Arc<Audit>,
    policy: TokenPolicy,
    /// Token id → the latest use not yet written.
    used: Mutex<HashMap<PersonalTokenId, UnixTime>>,
}

impl PersonalTokens {
    pub fn new(
        store: Arc<dyn Store>,
        hasher: SecretHasher,
        clock: Arc<dyn Clock>,
        audit: Arc<Audit>,
        policy: TokenPolicy,
    ) -> Self {
        Self { store, hasher, clock, audit, policy, used: Mutex::new(HashMap::new()) }
    }

    pub fn policy(&self) -> TokenPolicy {
        self.policy
    }

    /// Creates a token for `owner` (the actor, or an admin acting for them).
    pub async fn create(
        &self,
        actor: &Actor,
        owner: &User,
        request: &TokenRequest,
    ) -> Result<CreatedToken, ServiceError> {
        let label = parse_token_label(&request.label)?;
        let scope = self.allowed_scope(owner, &request.scopes).await?;
        let now = self.clock.now();
        let lifetime = self.expiry(request.expires_in)?;
        let expires_at = lifetime.map(|lifetime| now.plus(lifetime.seconds()));
        if !owner.enabled {
            return Err(InvalidInput::new(format!("{} is disabled", owner.username)).into());
        }
        let secret = personal_token::generate();
        let id = PersonalTokenId::new(random_id(12));
        let token_hash = self.hasher.digest(secret.expose());
        let new = NewPersonalToken {
            id: &id,
            user_id: &owner.id,
            token_hash: &token_hash,
            label: &label,
            scope: &scope,
            created_at: now,
            expires_at,
        };
        let Some(token) = self.store.create_personal_token(&new, self.policy.max_per_user).await? else {
            return Err(InvalidInput::new(format!(
                "{} already has {} active tokens, the most allowed; revoke one first",
                owner.username, self.policy.max_per_user
            ))
            .into());
        };
        let expiry = lifetime.map_or_else(|| "never expires".to_owned(), |l| format!("expires in {l}"));
        let detail = format!("'{label}' for {}; {expiry}", owner.username);
        self.audit.record(Kind::PersonalTokenCreated, actor, Target::PersonalToken(&id), &detail).await?;
        Ok(CreatedToken { token, secret })
    }

    /// One person's tokens, or everyone's; newest first.
    pub async fn list(&self, owner: Option<&User>) -> Result<Vec<PersonalToken>, ServiceError> {
        Ok(self.store.list_personal_tokens(owner.map(|o| &o.id)).await?)
    }

    /// A token by id; `owner`, when given, must be its owner (self-service:
    /// someone else's token is "not found", never "forbidden").
    pub async fn find(
        &self,
        id: &PersonalTokenId,
        owner: Option<&User>,
    ) -> Result<PersonalToken, ServiceError> {
        let found = self.store.find_personal_token(id).await?;
        found.filter(|t| owner.is_none_or(|o| o.id == t.user_id)).ok_or_else(|| {
            ServiceError::NotFound(format!("no personal token with id '{}'", printable(id.as_str())))
        })
    }

    /// Revokes a token at once; revoking a revoked token is an error, so a
    /// script learns it named the wrong one.
    pub async fn revoke(
        &self,
        actor: &Actor,
        id: &PersonalTokenId,
        owner: Option<&User>,
    ) -> Result<(), ServiceError> {
        let token = self.find(id, owner).await?;
        if !self.store.revoke_personal_token(&token.id, self.clock.now()).await? {
            return Err(InvalidInput::new(format!("the token '{}' is already revoked", token.label)).into());
        }
        let detail = format!("'{}' of {}", token.label, token.username);
        self.audit
            .record(Kind::PersonalTokenRevoked, actor, Target::PersonalToken(&token.id), &detail)
            .await?;
        Ok(())
    }

    /// The live token `presented` is, if any, noting its use. Malformed
    /// tokens (prefix, length, alphabet, checksum) are refused before any
    /// database read.
    pub async fn authenticate(&self, presented: &str, now: UnixTime) -> StoreResult<Option<PersonalToken>> {
        if !personal_token::is_well_formed(presented) {
            return Ok(None);
        }
        let found = self.store.find_personal_token_by_hash(&self.hasher.digest(presented)).await?;
        let Some(token) = found.filter(|t| t.is_live(now)) else {
            return Ok(None);
        };
        self.note_use(&token.id, now);
        Ok(Some(token))
    }

    fn note_use(&self, id: &PersonalTokenId, now: UnixTime) {
        let mut used = crate::sync::lock(&self.used);
        remember_use(&mut used, id, now);
    }

    /// Writes the uses gathered since the last flush; on failure they are
    /// kept for the next try.
    pub async fn flush_usage(&self) -> StoreResult<()> {
        let uses: Vec<(PersonalTokenId, UnixTime)> = {
            let mut used = crate::sync::lock(&self.used);
            used.drain().collect()
        };
        if let Err(error) = self.store.record_personal_token_use(&uses).await {
            let mut used = crate::sync::lock(&self.used);
            for (id, at) in &uses {
                remember_use(&mut used, id, *at);
            }
            return Err(error);
        }
        Ok(())
    }

    /// The expiry the policy gives a request: its own, or the maximum.
    fn expiry(&self, asked: Option<Lifetime>) -> Result<Option<Lifetime>, InvalidInput> {
        let field = |message: String| InvalidInput::new(message).in_field("expires_in");
        match (asked, self.policy.max_lifetime) {
            (None, _) if self.policy.require_expiry => {
                Err(field("this server requires every token to have an expiry".to_owned()))
            }
            (None, max) => Ok(max),
            (Some(asked), Some(max)) if asked > max => {
                Err(field(format!("a token may live at most {max} on this server")))
            }
            (Some(asked), _) if asked > LONGEST_EXPIRY => {
                Err(field(format!("a token may live at most {LONGEST_EXPIRY}")))
            }
            (Some(asked), _) => Ok(Some(asked)),
        }
    }

    /// The requested scopes if the owner may have each: an enabled scope,
    /// `tessera:admin` only for admins, never `offline_access` (a personal
    /// token has nothing to refresh).
    async fn allowed_scope(&self, owner: &User, requested: &[String]) -> Result<ScopeSet, ServiceError> {
        let field = |message: String| InvalidInput::new(message).in_field("scope");
        let names = requested
            .iter()
            .flat_map(|s| s.split([' ', ',']))
            .filter(|s| !s.is_empty())
            .map(|s| ScopeName::parse(s).map_err(|e| field(e.message)))
            .collect::<Result<Vec<_>, _>>()?;
        if names.is_empty() {
            return Ok(ScopeSet::default());
        }
        let enabled = self.store.list_scopes().await?;
        let limits = crate::store::limits_of(&enabled);
        for name in &names {
            let known = enabled.iter().any(|s| s.enabled && &s.name == name);
            if !known {
                return Err(field(format!("there is no enabled scope named '{name}'")).into());
            }
            if name.as_str() == OFFLINE_ACCESS {
                return Err(field("offline_access means nothing for a personal token".to_owned()).into());
            }
            if name.as_str() == ADMIN_SCOPE && owner.role != Role::Admin {
                return Err(field(format!("only admins may have {ADMIN_SCOPE}")).into());
            }
            if let Some(why) = limits.refusal(owner, name.as_str()) {
                return Err(field(why).into());
            }
        }
        Ok(ScopeSet::from_names(names))
    }
}

/// Keeps the latest use of each token; no allocation for one already seen
/// (this runs on every introspection of a personal token).
fn remember_use(used: &mut HashMap<PersonalTokenId, UnixTime>, id: &PersonalTokenId, at: UnixTime) {
    match used.get_mut(id) {
        Some(last) => *last = (*last).max(at),
        None => {
            used.insert(id.clone(), at);
        }
    }
}

fn printable(text: &str) -> String {
    text.chars().take(40).filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}
