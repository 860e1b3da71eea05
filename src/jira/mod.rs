//! Jira's side of Tessera, without actix (docs/jira.md): the values each mode
//! of Jira's REST-authentication app needs, and the connection test of
//! the console's Jira page — a short-lived token minted for a chosen
//! principal, sent to `GET {jira}/rest/api/2/myself`, the answer read back.

mod advice;
pub mod probe;

use std::sync::Arc;

pub use advice::{advise, Advice};
pub use probe::{Reply, Unreachable};

use crate::crypto::secrets::random_id;
use crate::domain::ADMIN_SCOPE;
use crate::domain::OFFLINE_ACCESS;
use crate::domain::{Client, ClientId, GrantType, InvalidInput, TokenFormat, UnixTime, User};
use crate::oauth::access_token::TokenSubject;
use crate::oauth::discovery;
use crate::oauth::grants::{client_credentials, resolve_audience};
use crate::oauth::{OAuthError, OAuthServer};
use crate::service::audit::{Actor, Kind, Target};
use crate::service::keys::KeyState;
use crate::store::{NewGrant, StoreError};

/// How long a test token lives: long enough for Jira to answer, too short
/// to be worth stealing.
pub const TEST_TOKEN_SECONDS: i64 = 60;

/// The Jira page's core.
pub struct Jira {
    oauth: Arc<OAuthServer>,
    base_url: Option<String>,
}

/// What to paste into Jira's app, per mode.
pub struct JiraValues {
    pub issuer: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub introspection_endpoint: String,
    pub jwks_uri: String,
    pub username_claim: String,
    /// The key that signs now: the PEM to paste in JWT mode.
    pub active_key: Option<PublicKey>,
    /// A published key that starts signing later: a pasted PEM must be
    /// replaced with this one by then.
    pub next_key: Option<PublicKey>,
    /// Clients that may introspect any token: candidates for Jira's own.
    pub resource_servers: Vec<Client>,
    /// Whom the signed-in admin can run the test as.
    pub principals: Vec<Principal>,
}

pub struct PublicKey {
    pub kid: String,
    pub alg: &'static str,
    pub pem: String,
    pub pem_url: String,
    pub signs_from: UnixTime,
}

/// Someone the test can mint a token for, through an app that could
/// really issue it: `value` goes into the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub value: String,
    pub label: String,
}

/// One run of the test.
pub struct TestRun {
    pub url: String,
    pub username: String,
    pub app_name: String,
    pub token_format: TokenFormat,
    pub scope: String,
    pub expires_in: i64,
    pub outcome: Result<(Reply, Advice), Unreachable>,
}

#[derive(Debug, thiserror::Error)]
pub enum JiraError {
    #[error("no Jira URL is configured: set TESSERA_JIRA_URL")]
    NotConfigured,
    #[error("{}", .0.message)]
    Invalid(InvalidInput),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<OAuthError> for JiraError {
    fn from(error: OAuthError) -> Self {
        match error {
            OAuthError::TemporarilyUnavailable => {
                Self::Store(StoreError::Unavailable(anyhow::anyhow!("the database is unavailable")))
            }
            OAuthError::ServerError(error) => Self::Store(StoreError::Unexpected(error)),
            other => Self::Invalid(InvalidInput::new(other.description())),
        }
    }
}

/// A test as a person on a Jira: through an app people sign in to.
const AS_USER: &str = "user:";
/// A test as a service account: through the app bound to it.
const AS_SERVICE: &str = "service:";

impl Jira {
    pub fn new(oauth: Arc<OAuthServer>, base_url: Option<String>) -> Self {
        Self { oauth, base_url }
    }

    /// The configured Jira base URL, without a trailing slash.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    /// Everything the page shows to `me`.
    pub async fn values(&self, me: &User) -> Result<JiraValues, StoreError> {
        let issuer = &self.oauth.config.issuer;
        let now = self.oauth.clock.now();
        let keys = self.oauth.keys.current();
        let described = keys.describe(now);
        let public = |state: KeyState| {
            let info = described.iter().rev().find(|k| k.state == state)?;
            let key = keys.find(&info.kid, now)?;
            Some(PublicKey {
                pem: key.public_pem().to_owned(),
                pem_url: discovery::pem_url(issuer, &info.kid),
                kid: info.kid.clone(),
                alg: info.alg,
                signs_from: UnixTime::from_seconds(info.activates_at),
            })
        };
        let clients = self.oauth.store.list_clients().await?;
        let principals = principals(&clients, me);
        let mut resource_servers = clients;
        resource_servers.retain(|c| c.resource_server);
        Ok(JiraValues {
            issuer: issuer.clone(),
            token_endpoint: discovery::endpoint(issuer, "token"),
            userinfo_endpoint: discovery::endpoint(issuer, "userinfo"),
            introspection_endpoint: discovery::endpoint(issuer, "introspect"),
            jwks_uri: discovery::endpoint(issuer, "jwks"),
            username_claim: self.oauth.config.username_claim.clone(),
            active_key: public(KeyState::Active),
            next_key: public(KeyState::Next),
            resource_servers,
            principals,
        })
    }

    /// Mints a token for `principal` (a `Principal::value`) and calls Jira
    /// with it. The token is never shown and is revoked as soon as Jira has
    /// answered; the run is audited. Once the token exists, the run goes to
    /// its end even if the page that asked for it is closed.
    pub async fn test(
        self: &Arc<Self>,
        actor: &Actor,
        me: &User,
        principal: &str,
    ) -> Result<TestRun, JiraError> {
        let base_url = self.base_url.clone().ok_or(JiraError::NotConfigured)?;
        let (client, as_user) = self.chosen(principal).await?;
        let (jira, actor, me) = (Arc::clone(self), actor.clone(), me.clone());
        let run = tokio::spawn(async move { jira.run(&base_url, &actor, &me, &client, as_user).await });
        run.await
            .map_err(|error| StoreError::Unexpected(anyhow::anyhow!("the Jira test stopped: {error}")))?
    }

    /// The app behind a principal, and whether the token is for the admin
    /// (else for the app's service account): enabled, and able to issue it.
    async fn chosen(&self, principal: &str) -> Result<(Client, bool), JiraError> {
        let refused = |message: String| JiraError::Invalid(InvalidInput::new(message).in_field("as"));
        let unknown = || refused("choose whom to mint the test token for".into());
        let (as_user, client_id) = if let Some(id) = principal.strip_prefix(AS_USER) {
            (true, id)
        } else if let Some(id) = principal.strip_prefix(AS_SERVICE) {
            (false, id)
        } else {
            return Err(unknown());
        };
        let id = ClientId::parse(client_id).map_err(|_| unknown())?;
        let Some(stored) = self.oauth.store.find_client(&id).await? else {
            return Err(refused("that app no longer exists".into()));
        };
        let client = stored.client;
        let why = if !client.enabled {
            Some("it is disabled")
        } else if as_user
            && (!client.allows_grant(GrantType::AuthorizationCode) || service_of(&client).is_some())
        {
            Some("people cannot sign in to it")
        } else if !as_user && service_of(&client).is_none() {
            Some("it is not bound to an enabled service account")
        } else {
            None
        };
        match why {
            Some(why) => Err(refused(format!("app {}: {why}", client.name))),
            None => Ok((client, as_user)),
        }
    }

    async fn run(
        &self,
        base_url: &str,
        actor: &Actor,
        me: &User,
        client: &Client,
        as_user: bool,
    ) -> Result<TestRun, JiraError> {
        let now = self.oauth.clock.now();
        let ends = now.plus(TEST_TOKEN_SECONDS);
        let audiences = resolve_audience(client, &[], &self.oauth.config.default_audience)?;
        // A person's token stands on a grant, as one from the code flow does
        // (userinfo and introspection read the person through it); a grant
        // of its own, ended as soon as Jira has answered.
        let grant_id = random_id(16);
        let (who, scope) = if as_user {
            let scope = client.scopes.without(ADMIN_SCOPE).without(OFFLINE_ACCESS);
            let grant = NewGrant {
                grant_id: grant_id.clone(),
                client_id: client.id.clone(),
                user_id: me.id.clone(),
                scope: scope.to_string(),
                auth_time: now,
                expires_at: ends,
            };
            self.oauth.store.create_grant(&grant, now).await?;
            (TokenSubject::person(me, &grant_id), scope)
        } else {
            // What the app gets from the client-credentials grant, without
            // the admin API's scope: a test needs no more.
            (
                client_credentials::subject(client)?,
                client_credentials::default_scope(client).without(ADMIN_SCOPE),
            )
        };
        let username = who.username.unwrap_or_default().to_owned();
        let issued = self
            .oauth
            .issue_access_token(client, client.token_format, who.until(ends), &scope, audiences, now)
            .await?;

        let outcome = probe::get_myself(base_url, &issued.token).await.map(|reply| {
            let reply = reply.hiding(&issued.token);
            let advice = advise(&reply, &username);
            (reply, advice)
        });
        let now = self.oauth.clock.now();
        let revoked = if as_user {
            self.oauth.store.revoke_grant(&grant_id, now).await.map_err(OAuthError::from)
        } else {
            self.oauth.revoke_held_access_token(&client.id, &issued.token, now).await
        };
        if let Err(error) = revoked {
            tracing::warn!(%error, "could not revoke the Jira test token; it expires within a minute");
        }
        let result = match &outcome {
            Ok((reply, _)) => format!("HTTP {}", reply.status),
            Err(_) => "unreachable".to_owned(),
        };
        let detail = format!("as {username}: {result}");
        self.oauth.audit.record_later(Kind::JiraTested, actor, Target::Client(&client.id), &detail);
        Ok(TestRun {
            url: format!("{base_url}/rest/api/2/myself"),
            username,
            app_name: client.name.clone(),
            token_format: client.token_format,
            scope: scope.to_string(),
            expires_in: issued.expires_in,
            outcome,
        })
    }
}

/// Whom the test can mint a token for: `me` through each enabled app
/// people sign in to, then each enabled service account through each
/// enabled app bound to it.
fn principals(clients: &[Client], me: &User) -> Vec<Principal> {
    let mut people = Vec::new();
    let mut services = Vec::new();
    for client in clients.iter().filter(|c| c.enabled) {
        if let Some(account) = service_of(client) {
            services.push(Principal {
                value: format!("{AS_SERVICE}{}", client.id.as_str()),
                label: format!("service account {account} (app {})", client.name),
            });
        } else if client.allows_grant(GrantType::AuthorizationCode) {
            people.push(Principal {
                value: format!("{AS_USER}{}", client.id.as_str()),
                label: format!("you, {} (app {})", me.username.as_str(), client.name),
            });
        }
    }
    people.extend(services);
    people
}

/// The username of the enabled service account an enabled
/// client-credentials app acts as.
fn service_of(client: &Client) -> Option<&str> {
    client
        .service_account
        .as_ref()
        .filter(|account| account.enabled && client.allows_grant(GrantType::ClientCredentials))
        .map(|account| account.username.as_str())
}
