//! RFC 6749 §4.4: a confidential client gets a token for itself, or for the
//! service account it is bound to. No refresh token.

use super::resolve_audience;
use crate::admin::ADMIN_SCOPE;
use crate::domain::{Client, ClientType, GrantType, ScopeSet, UnixTime};
use crate::oauth::access_token::TokenSubject;
use crate::oauth::{OAuthError, OAuthServer, TokenResponse};

pub async fn grant(
    server: &OAuthServer,
    client: &Client,
    requested: Option<ScopeSet>,
    resources: &[String],
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    if client.client_type == ClientType::Public {
        // A public client cannot authenticate, so it cannot act for itself (SEC-C14).
        return Err(OAuthError::InvalidClient { basic: false });
    }
    if !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the client_credentials grant".into(),
        ));
    }
    // The admin API's scope goes only to a service account flagged admin.
    let may_administer = client.service_account.as_ref().is_some_and(|sa| sa.admin);
    let scope = match requested {
        None if may_administer => client.scopes.clone(),
        None => client.scopes.without(ADMIN_SCOPE),
        Some(requested) => {
            if let Some(missing) = requested.missing_from(&client.scopes).next() {
                return Err(OAuthError::InvalidScope(format!(
                    "scope '{missing}' is not allowed for this client"
                )));
            }
            if requested.contains(ADMIN_SCOPE) && !may_administer {
                return Err(OAuthError::InvalidScope(format!(
                    "{ADMIN_SCOPE} needs a service account flagged admin"
                )));
            }
            requested
        }
    };
    let audiences = resolve_audience(client, resources, &server.config.default_audience)?;
    let who = match &client.service_account {
        Some(account) if !account.enabled => {
            return Err(OAuthError::UnauthorizedClient(
                "the service account of this client is disabled".into(),
            ))
        }
        Some(account) => TokenSubject {
            subject: account.username.as_str(),
            username: Some(account.username.as_str()),
            email: None,
            grant_id: None,
            personal_token: None,
            not_after: None,
        },
        None => TokenSubject {
            subject: client.id.as_str(),
            username: None,
            email: None,
            grant_id: None,
            personal_token: None,
            not_after: None,
        },
    };
    let issued = server.issue_access_token(client, who, &scope, audiences, now).await?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: scope.to_string(),
        refresh_token: None,
        id_token: None,
        issued_token_type: None,
    })
}
