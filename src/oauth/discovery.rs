//! Authorization-server metadata (RFC 8414), also served as the OpenID
//! discovery document. Lists exactly what is implemented; built once at
//! start, served from memory.

use serde::Serialize;

use crate::crypto::signing::SigningAlgorithm;
use crate::domain::ACCEPTED_ALGORITHMS;
use crate::oauth::id_token::ACR_VALUES;

#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    /// RP-Initiated Logout 1.0.
    pub end_session_endpoint: String,
    /// RFC 8628.
    pub device_authorization_endpoint: String,
    /// RFC 9126.
    pub pushed_authorization_request_endpoint: String,
    /// Whether every client must push (per client, a registration flag).
    pub require_pushed_authorization_requests: bool,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub authorization_response_iss_parameter_supported: bool,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Algorithms accepted on `private_key_jwt` assertions (and JWT
    /// bearer grants), at every endpoint that authenticates clients.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// Algorithms of the JWT access tokens this server signs.
    pub access_token_signing_alg_values_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub scopes_supported: Vec<&'static str>,
    pub claims_supported: Vec<String>,
    pub claims_parameter_supported: bool,
    pub acr_values_supported: Vec<&'static str>,
}

/// The published URL of an endpoint: `endpoint(issuer, "token")`.
pub fn endpoint(issuer: &str, name: &str) -> String {
    format!("{issuer}/oauth2/{name}")
}

/// Where a signing key's PEM is published (for a pasted-PEM verifier).
pub fn pem_url(issuer: &str, kid: &str) -> String {
    format!("{issuer}/oauth2/keys/{kid}.pem")
}

impl Metadata {
    pub fn new(issuer: &str, signing_alg: SigningAlgorithm, username_claim: &str) -> Self {
        let auth_methods = vec!["client_secret_basic", "client_secret_post", "private_key_jwt"];
        let assertion_algs = ACCEPTED_ALGORITHMS.to_vec();
        Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: endpoint(issuer, "authorize"),
            token_endpoint: endpoint(issuer, "token"),
            jwks_uri: endpoint(issuer, "jwks"),
            userinfo_endpoint: endpoint(issuer, "userinfo"),
            introspection_endpoint: endpoint(issuer, "introspect"),
            revocation_endpoint: endpoint(issuer, "revoke"),
            end_session_endpoint: endpoint(issuer, "logout"),
            device_authorization_endpoint: endpoint(issuer, "device_authorization"),
            pushed_authorization_request_endpoint: endpoint(issuer, "par"),
            require_pushed_authorization_requests: false,
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            grant_types_supported: vec![
                "authorization_code",
                "client_credentials",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:device_code",
            ],
            code_challenge_methods_supported: vec!["S256"],
            authorization_response_iss_parameter_supported: true,
            token_endpoint_auth_methods_supported: [auth_methods.as_slice(), &["none"]].concat(),
            token_endpoint_auth_signing_alg_values_supported: assertion_algs.clone(),
            introspection_endpoint_auth_methods_supported: auth_methods.clone(),
            introspection_endpoint_auth_signing_alg_values_supported: assertion_algs.clone(),
            revocation_endpoint_auth_methods_supported: [auth_methods.as_slice(), &["none"]].concat(),
            revocation_endpoint_auth_signing_alg_values_supported: assertion_algs,
            access_token_signing_alg_values_supported: vec![signing_alg.as_str()],
            id_token_signing_alg_values_supported: vec![signing_alg.as_str()],
            subject_types_supported: vec!["public"],
            scopes_supported: vec!["openid", "profile", "email", "offline_access"],
            claims_supported: [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "azp",
                "at_hash",
                "acr",
                "amr",
            ]
            .into_iter()
            .chain(crate::oauth::claims::person_claims())
            .map(str::to_owned)
            .chain(std::iter::once(username_claim.to_owned()))
            .fold(Vec::new(), |mut all, claim| {
                if !all.contains(&claim) {
                    all.push(claim);
                }
                all
            }),
            claims_parameter_supported: true,
            acr_values_supported: ACR_VALUES.to_vec(),
        }
    }
}
