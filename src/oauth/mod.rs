//! The protocol core: token, introspection and revocation requests in,
//! RFC-shaped answers out. Knows nothing of actix or SQL; the HTTP layer
//! hands it header bytes and bodies, the store is behind traits.

pub(crate) mod access_token;
pub mod admin_caller;
pub mod authorize;
pub mod claims;
pub mod client_assertion;
pub mod client_auth;
pub mod device;
pub mod discovery;
pub mod end_session;
mod error;
pub mod grants;
pub mod id_token;
pub mod introspection;
pub mod par;
pub mod params;
pub mod probe_token;
pub mod revocation;
mod token_request;
pub mod userinfo;

use std::net::IpAddr;
use std::sync::Arc;

pub use access_token::IssuedAccessToken;
pub use error::OAuthError;
pub use token_request::{SubjectTokenType, TokenRequest, TokenResponse};

use crate::clock::Clock;
use crate::crypto::secrets::SecretHasher;
use crate::domain::{ClientId, Lifetime, UnixTime};
use crate::metrics::{self, Metrics};
use crate::service::audit::{Actor, Audit, Kind, Target};
use crate::service::keys::KeyManager;
use crate::service::personal_tokens::PersonalTokens;
use crate::service::remote_jwks::RemoteJwks;
use crate::service::replay_guard::ReplayGuard;
use crate::service::throttle::FailureThrottle;
use crate::store::{ClientCache, Store, StoredClient};

/// The settings the protocol needs.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub issuer: String,
    pub default_audience: String,
    pub username_claim: String,
    pub access_token_ttl: Lifetime,
}

/// Everything a request is answered with; cheap to share between workers.
/// Its parts are its own: adapters call its methods.
pub struct OAuthServer {
    store: Arc<dyn Store>,
    keys: Arc<KeyManager>,
    hasher: SecretHasher,
    clock: Arc<dyn Clock>,
    config: OAuthConfig,
    throttle: FailureThrottle,
    user_codes: FailureThrottle,
    clients: Arc<ClientCache>,
    audit: Arc<Audit>,
    personal_tokens: Arc<PersonalTokens>,
    metrics: Arc<Metrics>,
    remote_jwks: Arc<RemoteJwks>,
    replays: Arc<ReplayGuard>,
}

/// What an `OAuthServer` is built from.
pub struct OAuthParts {
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyManager>,
    pub hasher: SecretHasher,
    pub clock: Arc<dyn Clock>,
    pub config: OAuthConfig,
    /// Back-off after failed client authentications.
    pub throttle: FailureThrottle,
    /// Back-off after wrong user codes on the device verification page.
    pub user_codes: FailureThrottle,
    /// Shared with the admin service, which evicts what it changes.
    pub clients: Arc<ClientCache>,
    pub audit: Arc<Audit>,
    pub personal_tokens: Arc<PersonalTokens>,
    pub metrics: Arc<Metrics>,
    /// Key sets fetched from clients' and trusted issuers' URLs.
    pub remote_jwks: Arc<RemoteJwks>,
    /// The single use of assertions' `jti`s, across every node.
    pub replays: Arc<ReplayGuard>,
}

impl OAuthServer {
    pub fn new(parts: OAuthParts) -> Self {
        let OAuthParts {
            store,
            keys,
            hasher,
            clock,
            config,
            throttle,
            user_codes,
            clients,
            audit,
            personal_tokens,
            metrics,
            remote_jwks,
            replays,
        } = parts;
        Self {
            store,
            keys,
            hasher,
            clock,
            config,
            throttle,
            user_codes,
            clients,
            audit,
            personal_tokens,
            metrics,
            remote_jwks,
            replays,
        }
    }

    /// The settings the protocol runs with.
    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    /// `POST /oauth2/token`.
    pub async fn token(&self, request: &Request<'_>) -> Result<TokenResponse, OAuthError> {
        let params = params::FormParams::parse(request.body)?;
        let token_request = TokenRequest::parse(&params)?;
        let now = self.clock.now();
        let token_request = match token_request {
            // The caller may be no client at all (a trust allowing it).
            TokenRequest::TokenExchange {
                subject_type: SubjectTokenType::Jwt,
                subject_token,
                scope,
                resources,
            } => {
                let exchange = grants::trusted_jwt::Exchange { subject_token, scope, resources };
                return grants::trusted_jwt::exchange(self, request, &params, exchange, now).await;
            }
            other => other,
        };
        let client = match &token_request {
            // The assertion may be the client's only proof (RFC 7523 §3.1).
            TokenRequest::JwtBearer { assertion, .. } => {
                grants::jwt_bearer::caller(self, request, &params, assertion, now).await?
            }
            _ => self.authenticate(request, &params, now).await?,
        };
        let grant_type = token_request.grant_type();
        let response = match token_request {
            TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier, resources } => {
                let request = grants::authorization_code::CodeExchange {
                    code: &code,
                    redirect_uri: redirect_uri.as_deref(),
                    code_verifier: code_verifier.as_deref(),
                    resources: &resources,
                    peer: request.peer,
                };
                grants::authorization_code::grant(self, &client.client, request, now).await
            }
            TokenRequest::RefreshToken { refresh_token, scope, resources } => {
                grants::refresh_token::grant(
                    self,
                    &client.client,
                    &refresh_token,
                    scope,
                    &resources,
                    request.peer,
                    now,
                )
                .await
            }
            TokenRequest::ClientCredentials { scope, resources } => {
                grants::client_credentials::grant(self, &client.client, scope, &resources, now).await
            }
            TokenRequest::TokenExchange { subject_token, scope, resources, .. } => {
                let exchange = grants::token_exchange::Exchange {
                    subject_token: &subject_token,
                    scope,
                    resources: &resources,
                };
                grants::token_exchange::grant(self, &client.client, exchange, now).await
            }
            TokenRequest::DeviceCode { device_code } => {
                grants::device_code::grant(self, &client.client, &device_code, &[], now).await
            }
            TokenRequest::JwtBearer { scope, resources, .. } => {
                grants::client_credentials::issue(self, &client.client, scope, &resources, now).await
            }
        }?;
        self.audit.count_issued(&client.client.id);
        self.metrics
            .tokens_issued
            .with_label_values(&[grant_type.as_str(), client.client.id.as_str(), response.format.as_str()])
            .inc();
        Ok(response)
    }

    /// Client authentication behind the failure throttle.
    async fn authenticate(
        &self,
        request: &Request<'_>,
        params: &params::FormParams,
        now: UnixTime,
    ) -> Result<Arc<StoredClient>, OAuthError> {
        let presented = client_auth::PresentedCredentials::from_request(request.authorization, params)?;
        self.authenticate_presented(request, &presented, now).await
    }

    /// Checks credentials already read from the request.
    async fn authenticate_presented(
        &self,
        request: &Request<'_>,
        presented: &client_auth::PresentedCredentials,
        now: UnixTime,
    ) -> Result<Arc<StoredClient>, OAuthError> {
        let client_id = presented.client_id();
        if let Some(retry_after) = self.throttle.blocked(client_id, request.peer, now) {
            return Err(OAuthError::SlowDown { retry_after });
        }
        let id = client_id.and_then(|id| ClientId::parse(id).ok());
        let stored = match &id {
            Some(id) => self.clients.find(self.store.as_ref(), id, now).await?,
            None => None,
        };
        let verified = match (&presented, stored.as_deref()) {
            (client_auth::PresentedCredentials::Assertion { assertion, .. }, Some(stored)) => {
                self.verify_client_assertion(&stored.client, assertion, now).await
            }
            _ => client_auth::verify_client(stored.as_deref(), &self.hasher, presented, now),
        };
        let (error, known) = match (verified, stored) {
            (Ok(()), Some(client)) => return Ok(client),
            // verify_client accepts no unknown client; refused all the same.
            (Ok(()), None) => (OAuthError::InvalidClient { basic: presented.used_basic() }, false),
            // The database failed, not the client: nothing to hold against it.
            (Err(error @ (OAuthError::TemporarilyUnavailable | OAuthError::ServerError(_))), _) => {
                return Err(error)
            }
            (Err(error), stored) => (error, stored.is_some()),
        };
        let detail = match &error {
            OAuthError::InvalidClientAssertion(why) if known => format!("client assertion refused: {why}"),
            _ => "wrong or missing credentials".to_owned(),
        };
        self.record_auth_failure(request, client_id, known.then_some(detail.as_str()), now);
        Err(error)
    }

    /// A failed client authentication: counted against the client and the
    /// address (the throttle), in the metrics and in the audit log.
    /// `known` says why a known client was refused; None: no such client.
    fn record_auth_failure(
        &self,
        request: &Request<'_>,
        client_id: Option<&str>,
        known: Option<&str>,
        now: UnixTime,
    ) {
        self.throttle.record_failure(client_id, request.peer, now);
        let id = client_id.and_then(|id| ClientId::parse(id).ok());
        let target = Target::ClientIdPresented(id.as_ref());
        let (detail, reason) = match known {
            Some(detail) => (detail, metrics::AUTH_FAILURE_INVALID_CREDENTIALS),
            None => ("unknown client", metrics::AUTH_FAILURE_UNKNOWN_CLIENT),
        };
        self.metrics.client_auth_failures.with_label_values(&[reason]).inc();
        self.audit.record_later(Kind::ClientAuthFailed, &Actor::anonymous(request.peer), target, detail);
    }
}

/// What the core needs of an HTTP request to a back-channel endpoint.
pub struct Request<'a> {
    pub authorization: Option<&'a [u8]>,
    pub body: &'a [u8],
    /// The client's address: the TCP peer, or the forwarded address when
    /// the peer is a trusted proxy.
    pub peer: Option<IpAddr>,
}
