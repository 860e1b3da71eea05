//! The token request as a typed enum on `grant_type`, so an unknown grant
//! is a parse error, never a string match deep in a handler.

use serde::Serialize;

use super::access_token::IssuedAccessToken;
use super::params::FormParams;
use super::OAuthError;
use crate::domain::{GrantType, ScopeSet, TokenFormat};

#[derive(Debug)]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
        resources: Vec<String>,
    },
    ClientCredentials {
        scope: Option<ScopeSet>,
        resources: Vec<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<ScopeSet>,
        resources: Vec<String>,
    },
    /// RFC 8693, impersonation only: a personal token or a trusted outside
    /// issuer's JWT in, a JWT out.
    TokenExchange {
        subject_token: String,
        subject_type: SubjectTokenType,
        scope: Option<ScopeSet>,
        resources: Vec<String>,
    },
    /// RFC 8628 §3.4: the device asks whether its person has approved.
    DeviceCode {
        device_code: String,
    },
    /// RFC 7523 §2.1: a JWT the client signed is the grant.
    JwtBearer {
        assertion: String,
        scope: Option<ScopeSet>,
        resources: Vec<String>,
    },
}

impl TokenRequest {
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::TokenExchange { .. } => GrantType::TokenExchange,
            Self::JwtBearer { .. } => GrantType::JwtBearer,
            Self::DeviceCode { .. } => GrantType::DeviceCode,
        }
    }
}

/// RFC 8693 §3: the token type issued, and accepted for a personal token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// RFC 8693 §3: a JWT, accepted from a trusted outside issuer.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// What a token exchange starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectTokenType {
    /// A personal API token (`ACCESS_TOKEN_TYPE`).
    PersonalToken,
    /// A JWT a trusted outside issuer signed (`JWT_TOKEN_TYPE`).
    Jwt,
}

impl TokenRequest {
    pub fn parse(params: &FormParams) -> Result<Self, OAuthError> {
        let grant_type = params.require("grant_type")?;
        match grant_type {
            "authorization_code" => Ok(Self::AuthorizationCode {
                code: params.require("code")?.to_owned(),
                redirect_uri: params.get("redirect_uri").map(str::to_owned),
                code_verifier: params.get("code_verifier").map(str::to_owned),
                resources: params.all("resource").to_vec(),
            }),
            "refresh_token" => Ok(Self::RefreshToken {
                refresh_token: params.require("refresh_token")?.to_owned(),
                scope: parse_scope(params.get("scope"))?,
                resources: params.all("resource").to_vec(),
            }),
            "urn:ietf:params:oauth:grant-type:device_code" => {
                Ok(Self::DeviceCode { device_code: params.require("device_code")?.to_owned() })
            }
            "client_credentials" => Ok(Self::ClientCredentials {
                scope: parse_scope(params.get("scope"))?,
                resources: params.all("resource").to_vec(),
            }),
            "urn:ietf:params:oauth:grant-type:token-exchange" => {
                let subject_token = params.require("subject_token")?.to_owned();
                let subject_type = match params.require("subject_token_type")? {
                    ACCESS_TOKEN_TYPE => SubjectTokenType::PersonalToken,
                    JWT_TOKEN_TYPE => SubjectTokenType::Jwt,
                    _ => {
                        return Err(OAuthError::InvalidRequest(format!(
                            "subject_token_type must be {ACCESS_TOKEN_TYPE} (a personal API token) or {JWT_TOKEN_TYPE} (a JWT from a trusted issuer)"
                        )))
                    }
                };
                if params.get("actor_token").is_some() || params.get("actor_token_type").is_some() {
                    return Err(OAuthError::InvalidRequest(
                        "delegation (actor_token) is not supported; only impersonation".into(),
                    ));
                }
                if params.get("requested_token_type").is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
                    return Err(OAuthError::InvalidRequest(format!(
                        "requested_token_type must be {ACCESS_TOKEN_TYPE}"
                    )));
                }
                let mut resources = params.all("resource").to_vec();
                resources.extend(params.all("audience").iter().cloned());
                Ok(Self::TokenExchange {
                    subject_token,
                    subject_type,
                    scope: parse_scope(params.get("scope"))?,
                    resources,
                })
            }
            "urn:ietf:params:oauth:grant-type:jwt-bearer" => Ok(Self::JwtBearer {
                assertion: params.require("assertion")?.to_owned(),
                scope: parse_scope(params.get("scope"))?,
                resources: params.all("resource").to_vec(),
            }),
            "password" => Err(OAuthError::UnsupportedGrantType(
                "the password grant is not supported (RFC 9700 section 2.4)".into(),
            )),
            _ => Err(OAuthError::UnsupportedGrantType("this grant_type is not supported".into())),
        }
    }
}

fn parse_scope(text: Option<&str>) -> Result<Option<ScopeSet>, OAuthError> {
    match text {
        None => Ok(None),
        Some(text) => {
            let scope = ScopeSet::parse(text).map_err(|e| OAuthError::InvalidScope(e.message))?;
            Ok((!scope.is_empty()).then_some(scope))
        }
    }
}

/// The successful answer of RFC 6749 §5.1.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1, for token exchange only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
    /// The access token's format (for the metrics; not sent).
    #[serde(skip)]
    pub format: TokenFormat,
}

impl TokenResponse {
    /// An access token alone: no refresh token, no ID token.
    pub fn access_only(issued: IssuedAccessToken, scope: &ScopeSet, format: TokenFormat) -> Self {
        Self {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope: scope.to_string(),
            refresh_token: None,
            id_token: None,
            issued_token_type: None,
            format,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<TokenRequest, OAuthError> {
        TokenRequest::parse(&FormParams::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn grant_type_is_required_and_unknown_ones_are_unsupported() {
        assert_eq!(parse("").unwrap_err().code(), "invalid_request");
        assert_eq!(parse("grant_type=foo").unwrap_err().code(), "unsupported_grant_type");
        assert_eq!(parse("grant_type=password").unwrap_err().code(), "unsupported_grant_type");
    }

    #[test]
    fn scope_with_forbidden_characters_is_invalid_scope() {
        assert_eq!(parse("grant_type=client_credentials&scope=a%22b").unwrap_err().code(), "invalid_scope");
    }

    #[test]
    fn blank_scope_counts_as_absent() {
        let TokenRequest::ClientCredentials { scope, .. } =
            parse("grant_type=client_credentials&scope=+").unwrap()
        else {
            panic!("wrong variant")
        };
        assert!(scope.is_none());
    }
}
