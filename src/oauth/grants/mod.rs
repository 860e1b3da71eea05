//! One file per grant type.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod jwt_bearer;
pub mod refresh_token;
pub mod token_exchange;
pub mod trusted_jwt;

use super::access_token::TokenSubject;
use super::claims::ClaimsRequest;
use super::id_token::{self, IdTokenFor};
use super::{OAuthError, OAuthServer, TokenResponse};
use crate::domain::{Audience, Client, GrantId, ScopeSet, UnixTime, User};

/// `invalid_grant` with a description.
pub(crate) fn invalid(description: &str) -> OAuthError {
    OAuthError::InvalidGrant(description.to_owned())
}

/// What a user's grant hands out at the token endpoint.
pub(crate) struct UserGrant<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub grant_id: &'a GrantId,
    /// The scope of these tokens (a refresh may narrow it).
    pub scope: &'a ScopeSet,
    pub audiences: Vec<String>,
    pub auth_time: UnixTime,
    pub nonce: Option<&'a str>,
    /// The grant's `claims` request.
    pub claims: ClaimsRequest,
    pub refresh_token: Option<String>,
}

/// The access token of a user's grant, the ID token when `openid` is in
/// scope, and the response around them: one place for the code exchange
/// and the refresh.
pub(crate) async fn respond_for_user(
    server: &OAuthServer,
    grant: UserGrant<'_>,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let who = TokenSubject::person(grant.user, grant.grant_id);
    let issued = server
        .issue_access_token(grant.client, grant.client.token_format, who, grant.scope, grant.audiences, now)
        .await?;
    let id_token = if id_token::wanted(grant.scope) {
        let request = IdTokenFor {
            client: grant.client,
            user: grant.user,
            scope: grant.scope,
            auth_time: grant.auth_time,
            nonce: grant.nonce,
            claims: &grant.claims,
            access_token: &issued.token,
            lifetime: issued.expires_in,
        };
        Some(server.issue_id_token(request, now)?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: grant.scope.to_string(),
        refresh_token: grant.refresh_token,
        id_token,
        issued_token_type: None,
        format: grant.client.token_format,
    })
}

/// The `aud` of a token: the requested `resource`s (RFC 8707)
/// when the client is allowed them, else the client's audiences, else the
/// server default.
pub fn resolve_audience(
    client: &Client,
    resources: &[String],
    default: &str,
) -> Result<Vec<String>, OAuthError> {
    if resources.is_empty() {
        if client.audiences.is_empty() {
            return Ok(vec![default.to_owned()]);
        }
        return Ok(client.audiences.iter().map(|a| a.as_str().to_owned()).collect());
    }
    let mut out = Vec::with_capacity(resources.len());
    for resource in resources {
        let valid = url::Url::parse(resource).is_ok_and(|u| u.fragment().is_none());
        if !valid {
            return Err(OAuthError::InvalidTarget(
                "resource must be an absolute URI without a fragment".into(),
            ));
        }
        let allowed = Audience::parse(resource).is_ok_and(|a| client.audiences.contains(&a));
        if !allowed {
            return Err(OAuthError::InvalidTarget("this client may not request that resource".into()));
        }
        if !out.contains(resource) {
            out.push(resource.clone());
        }
    }
    Ok(out)
}
