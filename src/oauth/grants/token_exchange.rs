//! RFC 8693 token exchange, impersonation only: a script trades a personal
//! API token for a short-lived JWT access token, for resource servers that
//! validate JWTs offline (Jira in JWT/PEM mode). The JWT names the person
//! (`sub`, username claim), carries the personal token's id (`pat`) so
//! introspection follows its revocation, and lives no longer than the
//! personal token. Its scope is within the personal token's and the
//! client's.

use super::resolve_audience;
use crate::domain::{Client, GrantType, ScopeSet, TokenFormat, UnixTime};
use crate::oauth::access_token::TokenSubject;
use crate::oauth::token_request::ACCESS_TOKEN_TYPE;
use crate::oauth::{OAuthError, OAuthServer, TokenResponse};

pub struct Exchange<'a> {
    pub subject_token: &'a str,
    pub scope: Option<ScopeSet>,
    pub resources: &'a [String],
}

pub async fn grant(
    server: &OAuthServer,
    client: &Client,
    exchange: Exchange<'_>,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::TokenExchange) {
        return Err(OAuthError::UnauthorizedClient("this client may not use token exchange".into()));
    }
    // RFC 8693 §2.2.2: an unacceptable subject token is invalid_request.
    // A live token has an enabled owner: one read answers both.
    let Some(personal) = server.personal_tokens.authenticate(exchange.subject_token, now).await? else {
        return Err(OAuthError::InvalidRequest("the subject_token is not a live personal API token".into()));
    };
    let held =
        ScopeSet::from_names(personal.scope.iter().filter(|s| client.scopes.contains(s.as_str())).cloned());
    let scope = match exchange.scope {
        None => held,
        Some(requested) => {
            if let Some(missing) = requested.missing_from(&held).next() {
                return Err(OAuthError::InvalidScope(format!(
                    "scope '{missing}' is not held by both the personal token and this client"
                )));
            }
            requested
        }
    };
    let audiences = resolve_audience(client, exchange.resources, &server.config.default_audience)?;
    let who = TokenSubject {
        subject: personal.user_id.as_str(),
        username: Some(personal.username.as_str()),
        email: Some(personal.email.as_str()),
        grant_id: None,
        personal_token: Some(&personal.id),
        not_after: personal.expires_at,
        trust: None,
    };
    // Always a JWT: an offline validator is the reason to exchange.
    let issued = server.issue_access_token(client, TokenFormat::Jwt, who, &scope, audiences, now).await?;
    Ok(TokenResponse {
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
        ..TokenResponse::access_only(issued, &scope, TokenFormat::Jwt)
    })
}
