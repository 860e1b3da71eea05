//! OpenID Connect ID tokens (OIDC Core §2, §3.1.3.6): who signed in, for
//! which client, when, with the request's nonce and the access token's hash.

use aws_lc_rs::digest;
use serde::Serialize;

use super::claims::{person_claims_for, ClaimsRequest, Place};
use super::OAuthServer;
use crate::crypto::b64url;
use crate::crypto::jwt::{sign_jwt, ID_TOKEN_TYP};
use crate::crypto::signing::SigningAlgorithm;
use crate::domain::{Client, ScopeSet, UnixTime, User};

/// The scope that asks for an ID token.
pub const OPENID: &str = "openid";

/// The authentication context class of a sign-in with a password: ISO/IEC
/// 29115 level 1 (OIDC Core §2, `acr`; "0" would mean below it).
pub const ACR_PASSWORD: &str = "1";
/// The authentication context classes this server can state.
pub const ACR_VALUES: &[&str] = &[ACR_PASSWORD];
/// How the person signed in (RFC 8176): with a password.
pub const AMR_PASSWORD: &str = "pwd";

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    acr: &'a str,
    amr: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    /// The person's claims the scope and the `claims` request release.
    #[serde(flatten)]
    person: serde_json::Map<String, serde_json::Value>,
}

pub fn wanted(scope: &ScopeSet) -> bool {
    scope.iter().any(|s| s.as_str() == OPENID)
}

/// The left half of the access token's hash, with the hash of the
/// signature algorithm (SHA-256 for RS256/ES256, SHA-512 for Ed25519).
fn at_hash(alg: SigningAlgorithm, access_token: &str) -> String {
    let algorithm = match alg {
        SigningAlgorithm::Rs256 | SigningAlgorithm::Es256 => &digest::SHA256,
        SigningAlgorithm::EdDsa => &digest::SHA512,
    };
    let hash = digest::digest(algorithm, access_token.as_bytes());
    let bytes = hash.as_ref();
    b64url(&bytes[..bytes.len() / 2])
}

pub struct IdTokenFor<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scope: &'a ScopeSet,
    pub auth_time: UnixTime,
    pub nonce: Option<&'a str>,
    pub claims: &'a ClaimsRequest,
    pub access_token: &'a str,
    pub lifetime: i64,
}

impl OAuthServer {
    pub(crate) fn issue_id_token(&self, request: IdTokenFor<'_>, now: UnixTime) -> anyhow::Result<String> {
        let keys = self.keys.current();
        let key = keys.signer(now).ok_or_else(|| anyhow::anyhow!("no signing key is active"))?;
        let claims = IdTokenClaims {
            iss: &self.config.issuer,
            sub: request.user.id.as_str(),
            aud: request.client.id.as_str(),
            azp: request.client.id.as_str(),
            exp: now.plus(request.lifetime).seconds(),
            iat: now.seconds(),
            auth_time: request.auth_time.seconds(),
            acr: ACR_PASSWORD,
            amr: [AMR_PASSWORD],
            nonce: request.nonce,
            at_hash: at_hash(key.alg(), request.access_token),
            person: person_claims_for(
                request.user,
                &self.config.username_claim,
                request.scope,
                request.claims,
                Place::IdToken,
                false,
            ),
        };
        sign_jwt(key, ID_TOKEN_TYP, &claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_hash() {
        // OIDC Core §A.3 example: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" → at_hash "77QmUPtjPfzWtF2AnpK9RQ"
        assert_eq!(
            at_hash(SigningAlgorithm::Rs256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
