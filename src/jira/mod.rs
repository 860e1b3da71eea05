//! Jira's side of Tessera, without actix (docs/jira.md): the values each mode
//! of Jira's REST-authentication app needs, and the connection test of
//! the console's Jira page — a short-lived token minted for a chosen
//! principal, sent to `GET {jira}/rest/api/2/myself`, the answer read back.

mod advice;
pub mod probe;

use std::sync::Arc;

pub use advice::{advise, Advice};
pub use probe::{Reply, Unreachable};

use crate::clock::Clock;
use crate::domain::{Client, ClientId, GrantType, InvalidInput, TokenFormat, UnixTime, User};
use crate::oauth::{discovery, OAuthError, OAuthServer};
use crate::service::admin::Admin;
use crate::service::audit::{Actor, Audit, Kind, Target};
use crate::service::keys::{KeyManager, KeyState};
use crate::service::{ServiceError, ServiceResult};

/// How long a test token lives: long enough for Jira to answer, too short
/// to be worth stealing.
pub const TEST_TOKEN_SECONDS: i64 = 60;

/// The Jira page's core.
pub struct Jira {
    oauth: Arc<OAuthServer>,
    admin: Arc<Admin>,
    keys: Arc<KeyManager>,
    audit: Arc<Audit>,
    clock: Arc<dyn Clock>,
    base_url: Option<String>,
}

/// What the Jira page is made of.
pub struct JiraParts {
    pub oauth: Arc<OAuthServer>,
    pub admin: Arc<Admin>,
    pub keys: Arc<KeyManager>,
    pub audit: Arc<Audit>,
    pub clock: Arc<dyn Clock>,
    /// The configured Jira base URL, if any.
    pub base_url: Option<String>,
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

/// A protocol refusal, as the page shows it: the unavailable and the
/// unexpected stay what they are, the rest is a reason to show.
fn refused_by_protocol(error: OAuthError) -> ServiceError {
    match error {
        OAuthError::TemporarilyUnavailable => {
            ServiceError::Unavailable(anyhow::anyhow!("the database is unavailable"))
        }
        OAuthError::ServerError(cause) => ServiceError::Internal(cause),
        other => ServiceError::Invalid(InvalidInput::new(other.description())),
    }
}

/// A test as a person on a Jira: through an app people sign in to.
const AS_USER: &str = "user:";
/// A test as a service account: through the app bound to it.
const AS_SERVICE: &str = "service:";

impl Jira {
    pub fn new(parts: JiraParts) -> Self {
        let JiraParts { oauth, admin, keys, audit, clock, base_url } = parts;
        Self { oauth, admin, keys, audit, clock, base_url }
    }

    /// The configured Jira base URL, without a trailing slash.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    /// Everything the page shows to `me`.
    pub async fn values(&self, me: &User) -> ServiceResult<JiraValues> {
        let config = self.oauth.config();
        let issuer = &config.issuer;
        let now = self.clock.now();
        let keys = self.keys.current();
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
        let clients = self.admin.list_clients().await?;
        let principals = principals(&clients, me);
        let mut resource_servers = clients;
        resource_servers.retain(|c| c.resource_server);
        Ok(JiraValues {
            issuer: issuer.clone(),
            token_endpoint: discovery::endpoint(issuer, "token"),
            userinfo_endpoint: discovery::endpoint(issuer, "userinfo"),
            introspection_endpoint: discovery::endpoint(issuer, "introspect"),
            jwks_uri: discovery::endpoint(issuer, "jwks"),
            username_claim: config.username_claim.clone(),
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
    pub async fn test(self: &Arc<Self>, actor: &Actor, me: &User, principal: &str) -> ServiceResult<TestRun> {
        let base_url = self
            .base_url
            .clone()
            .ok_or_else(|| ServiceError::invalid("no Jira URL is configured: set TESSERA_JIRA_URL"))?;
        let (client, as_user) = self.chosen(principal).await?;
        let (jira, actor, me) = (Arc::clone(self), actor.clone(), me.clone());
        let run = tokio::spawn(async move { jira.run(&base_url, &actor, &me, &client, as_user).await });
        run.await
            .map_err(|error| ServiceError::Internal(anyhow::anyhow!("the Jira test stopped: {error}")))?
    }

    /// The app behind a principal, and whether the token is for the admin
    /// (else for the app's service account): enabled, and able to issue it.
    async fn chosen(&self, principal: &str) -> ServiceResult<(Client, bool)> {
        let refused = |message: String| ServiceError::Invalid(InvalidInput::new(message).in_field("as"));
        let unknown = || refused("choose whom to mint the test token for".into());
        let (as_user, client_id) = if let Some(id) = principal.strip_prefix(AS_USER) {
            (true, id)
        } else if let Some(id) = principal.strip_prefix(AS_SERVICE) {
            (false, id)
        } else {
            return Err(unknown());
        };
        let id = ClientId::parse(client_id).map_err(|_| unknown())?;
        let client = match self.admin.find_client(id.as_str()).await {
            Ok(client) => client,
            Err(ServiceError::NotFound(_)) => return Err(refused("that app no longer exists".into())),
            Err(error) => return Err(error),
        };
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
    ) -> ServiceResult<TestRun> {
        let person = as_user.then_some(me);
        let probe = self
            .oauth
            .mint_probe_token(client, person, TEST_TOKEN_SECONDS)
            .await
            .map_err(refused_by_protocol)?;
        let token = &probe.issued.token;
        let outcome = probe::get_myself(base_url, token).await.map(|reply| {
            let reply = reply.hiding(token);
            let advice = advise(&reply, &probe.username);
            (reply, advice)
        });
        if let Err(error) = self.oauth.end_probe_token(client, &probe).await {
            tracing::warn!(%error, "could not revoke the Jira test token; it expires within a minute");
        }
        let result = match &outcome {
            Ok((reply, _)) => format!("HTTP {}", reply.status),
            Err(_) => "unreachable".to_owned(),
        };
        let detail = format!("as {}: {result}", probe.username);
        self.audit.record_later(Kind::JiraTested, actor, Target::Client(&client.id), &detail);
        Ok(TestRun {
            url: format!("{base_url}/rest/api/2/myself"),
            username: probe.username.clone(),
            app_name: client.name.clone(),
            token_format: client.token_format,
            scope: probe.scope.to_string(),
            expires_in: probe.issued.expires_in,
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
