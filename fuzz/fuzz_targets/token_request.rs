//! A token request body: `FormParams::parse`, then `TokenRequest::parse`.
//! The variant must be the one `grant_type` names, carry exactly the
//! parameters given, and every refusal must be the RFC's error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::domain::ScopeSet;
use tessera::oauth::params::FormParams;
use tessera::oauth::{SubjectTokenType, TokenRequest};
use tessera_fuzz::{check_oauth_error, check_scope_set};

const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `scope` as the grants see it: absent or blank is None.
fn expected_scope(params: &FormParams) -> Option<Option<ScopeSet>> {
    match params.get("scope") {
        None => Some(None),
        Some(text) => {
            let parsed = ScopeSet::parse(text);
            check_scope_set(text, &parsed);
            parsed.ok().map(|set| (!set.is_empty()).then_some(set))
        }
    }
}

fuzz_target!(|body: &[u8]| {
    let params = match FormParams::parse(body) {
        Ok(params) => params,
        Err(error) => return check_oauth_error(&error, &["invalid_request"]),
    };
    let grant_type = params.get("grant_type");
    let request = match TokenRequest::parse(&params) {
        Ok(request) => request,
        Err(error) => {
            check_oauth_error(&error, &["invalid_request", "unsupported_grant_type", "invalid_scope"]);
            match error.code() {
                "unsupported_grant_type" => assert!(
                    !matches!(
                        grant_type,
                        Some(
                            "authorization_code"
                                | "refresh_token"
                                | "client_credentials"
                                | TOKEN_EXCHANGE
                                | JWT_BEARER
                                | DEVICE_CODE
                        )
                    ),
                    "{grant_type:?} is supported"
                ),
                "invalid_scope" => assert!(expected_scope(&params).is_none(), "the scope was valid"),
                _ => {}
            }
            return;
        }
    };
    let resources = params.all("resource");
    match request {
        TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier, resources: asked } => {
            assert_eq!(grant_type, Some("authorization_code"));
            assert_eq!(Some(code.as_str()), params.get("code"));
            assert_eq!(redirect_uri.as_deref(), params.get("redirect_uri"));
            assert_eq!(code_verifier.as_deref(), params.get("code_verifier"));
            assert_eq!(asked, resources);
        }
        TokenRequest::RefreshToken { refresh_token, scope, resources: asked } => {
            assert_eq!(grant_type, Some("refresh_token"));
            assert_eq!(Some(refresh_token.as_str()), params.get("refresh_token"));
            assert_eq!(Some(scope), expected_scope(&params));
            assert_eq!(asked, resources);
        }
        TokenRequest::ClientCredentials { scope, resources: asked } => {
            assert_eq!(grant_type, Some("client_credentials"));
            assert_eq!(Some(scope), expected_scope(&params));
            assert_eq!(asked, resources);
        }
        TokenRequest::TokenExchange { subject_token, subject_type, scope, resources: asked } => {
            assert_eq!(grant_type, Some(TOKEN_EXCHANGE));
            assert_eq!(Some(subject_token.as_str()), params.get("subject_token"));
            let named = match subject_type {
                SubjectTokenType::PersonalToken => ACCESS_TOKEN_TYPE,
                SubjectTokenType::Jwt => JWT_TOKEN_TYPE,
            };
            assert_eq!(params.get("subject_token_type"), Some(named));
            assert!(params.get("actor_token").is_none() && params.get("actor_token_type").is_none());
            assert!(params.get("requested_token_type").is_none_or(|t| t == ACCESS_TOKEN_TYPE));
            assert_eq!(Some(scope), expected_scope(&params));
            let mut expected = resources.to_vec();
            expected.extend(params.all("audience").iter().cloned());
            assert_eq!(asked, expected);
        }
        TokenRequest::DeviceCode { device_code } => {
            assert_eq!(grant_type, Some(DEVICE_CODE));
            assert_eq!(Some(device_code.as_str()), params.get("device_code"));
        }
        TokenRequest::JwtBearer { assertion, scope, resources: asked } => {
            assert_eq!(grant_type, Some(JWT_BEARER));
            assert_eq!(Some(assertion.as_str()), params.get("assertion"));
            assert_eq!(Some(scope), expected_scope(&params));
            assert_eq!(asked, resources);
        }
    }
});
