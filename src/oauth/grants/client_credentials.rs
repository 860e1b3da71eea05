//! RFC 6749 §4.4: a confidential client gets a token for itself, or for the
//! service account it is bound to. No refresh token. The JWT bearer grant
//! issues the same token once its assertion is checked (`jwt_bearer.rs`).

use super::resolve_audience;
use crate::domain::ADMIN_SCOPE;
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
    issue(server, client, requested, resources, now).await
}

/// The token a client gets for itself or its service account, within its
/// scopes and audiences.
pub async fn issue(
    server: &OAuthServer,
    client: &Client,
    requested: Option<ScopeSet>,
    resources: &[String],
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let may_administer = may_administer(client);
    let scope = match requested {
        None => default_scope(client),
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
    let who = subject(client)?;
    let issued = server.issue_access_token(client, client.token_format, who, &scope, audiences, now).await?;
    Ok(TokenResponse::access_only(issued, &scope, client.token_format))
}

/// Who a client-credentials token is for: the service account the client
/// is bound to (refused while it is disabled), or else the client itself.
pub fn subject(client: &Client) -> Result<TokenSubject<'_>, OAuthError> {
    match &client.service_account {
        Some(account) if !account.enabled => {
            Err(OAuthError::UnauthorizedClient("the service account of this client is disabled".into()))
        }
        Some(account) => {
            Ok(TokenSubject::machine(account.username.as_str(), Some(account.username.as_str())))
        }
        None => Ok(TokenSubject::machine(client.id.as_str(), None)),
    }
}

/// The scope of a request that names none: all of the client's, but the
/// admin API's only for a service account flagged admin.
pub fn default_scope(client: &Client) -> ScopeSet {
    if may_administer(client) {
        client.scopes.clone()
    } else {
        client.scopes.without(ADMIN_SCOPE)
    }
}

fn may_administer(client: &Client) -> bool {
    client.service_account.as_ref().is_some_and(|sa| sa.admin)
}
