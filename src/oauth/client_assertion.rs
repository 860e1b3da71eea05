//! JWTs a client signs with its own private key: its proof of identity
//! (`private_key_jwt`, RFC 7523 §2.2 and OIDC Core §9) and the JWT bearer
//! grant (RFC 7523 §2.1). Both are checked here the same way — the
//! client's registered or published keys, `iss` = the client, `aud` = this
//! server, a short life, and a `jti` accepted once on every node — and
//! differ only in the error a refusal becomes.

use std::sync::Arc;

use super::discovery::endpoint;
use super::{OAuthError, OAuthServer};
use crate::crypto::assertion::{
    key_id, verify_assertion, AssertionClaims, AssertionRules, CLOCK_SKEW_SECONDS,
};
use crate::domain::{AuthMethod, Client, ClientKeys, ClientType, PublicJwks, UnixTime};

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far ahead a client's JWT may expire: long enough for a slow
/// network, short enough that the record of its `jti` is soon purged.
pub const MAX_ASSERTION_LIFETIME_SECONDS: i64 = 300;

impl OAuthServer {
    /// `private_key_jwt`: the assertion proves the request comes from
    /// `client`. A client registered for another method is refused like a
    /// wrong secret; a bad assertion says why.
    pub(crate) async fn verify_client_assertion(
        &self,
        client: &Client,
        assertion: &str,
        now: UnixTime,
    ) -> Result<(), OAuthError> {
        let registered = client.enabled
            && client.client_type == ClientType::Confidential
            && client.auth_method == AuthMethod::PrivateKeyJwt;
        if !registered {
            return Err(OAuthError::InvalidClient { basic: false });
        }
        let subjects = [client.id.as_str()];
        self.accept_client_jwt(client, assertion, &subjects, now, OAuthError::InvalidClientAssertion)
            .await
            .map(|_| ())
    }

    /// Verifies a JWT `client` signed: one of its keys, `iss` = its id,
    /// `sub` one of `subjects`, `aud` this server's issuer or token
    /// endpoint, at most five minutes to live, and a `jti` never seen
    /// before — recorded now, so the JWT works once on every node.
    /// `refuse` turns the reason into the endpoint's error.
    pub(crate) async fn accept_client_jwt(
        &self,
        client: &Client,
        token: &str,
        subjects: &[&str],
        now: UnixTime,
        refuse: fn(String) -> OAuthError,
    ) -> Result<AssertionClaims, OAuthError> {
        let keys = self.client_keys(client, token).await.map_err(refuse)?;
        let issuer = &self.config.issuer;
        let token_endpoint = endpoint(issuer, "token");
        let rules = AssertionRules {
            issuer: Some(client.id.as_str()),
            subject: None,
            audiences: &[issuer.as_str(), token_endpoint.as_str()],
            now: now.seconds(),
            max_lifetime: Some(MAX_ASSERTION_LIFETIME_SECONDS),
            require_jti: true,
        };
        let claims = verify_assertion(token, &keys, &rules).map_err(|why| refuse(why.to_string()))?;
        if !claims.sub.as_deref().is_some_and(|sub| subjects.contains(&sub)) {
            return Err(refuse("the assertion's 'sub' is not this client".into()));
        }
        let (Some(jti), Some(exp)) = (claims.jti.as_deref(), claims.exp) else {
            return Err(refuse("the assertion has no 'jti' or 'exp' claim".into()));
        };
        // Kept until the assertion can no longer be accepted, skew included.
        let kept_until = UnixTime::from_seconds(exp.saturating_add(CLOCK_SKEW_SECONDS));
        if !self.replays.first_use(client.id.as_str(), &self.hasher.digest(jti), kept_until).await? {
            return Err(refuse("the assertion was used before: its 'jti' must be new each time".into()));
        }
        Ok(claims)
    }

    /// The keys `client` signs with: registered, or fetched from its URL
    /// (cached; fetched again for a key id the cached set lacks).
    async fn client_keys(&self, client: &Client, token: &str) -> Result<Arc<PublicJwks>, String> {
        match &client.keys {
            Some(ClientKeys::Inline(keys)) => Ok(Arc::clone(keys)),
            Some(ClientKeys::Remote(uri)) => {
                let kid = key_id(token).map_err(|why| why.to_string())?;
                self.remote_jwks.keys_for(uri, kid.as_deref()).await.map_err(|why| why.0)
            }
            None => Err("this client has no registered public keys".into()),
        }
    }
}
