//! RFC 7523 §2.1: a JWT the client signed with one of its registered keys
//! is the grant, and the token is the one client credentials would give —
//! for the client's service account, within its scopes and audiences. The
//! JWT may be the client's only proof of identity (no other client
//! authentication, RFC 7523 §3.1); then its `iss` names the client, and a
//! refusal counts as a failed client authentication.

use std::sync::Arc;

use super::invalid;
use crate::crypto::assertion::peek;
use crate::domain::{ClientId, ClientType, GrantType, UnixTime};
use crate::oauth::client_auth::PresentedCredentials;
use crate::oauth::params::FormParams;
use crate::oauth::{OAuthError, OAuthServer, Request};
use crate::store::StoredClient;

/// The client of a JWT bearer request, once `assertion` is accepted: the
/// client that authenticated, or the one the assertion is from.
pub(crate) async fn caller(
    server: &OAuthServer,
    request: &Request<'_>,
    params: &FormParams,
    assertion: &str,
    now: UnixTime,
) -> Result<Arc<StoredClient>, OAuthError> {
    let presented = PresentedCredentials::from_request(request.authorization, params)?;
    let authenticated =
        !matches!(presented, PresentedCredentials::None | PresentedCredentials::IdOnly { .. });
    let stored = if authenticated {
        server.authenticate_presented(request, &presented, now).await?
    } else {
        named_client(server, request, presented.client_id(), assertion, now).await?
    };
    let client = &stored.client;
    if client.client_type != ClientType::Confidential || !client.allows_grant(GrantType::JwtBearer) {
        return Err(OAuthError::UnauthorizedClient("this client may not use the jwt-bearer grant".into()));
    }
    // `sub`: the client itself, or the service account its tokens act as.
    let mut subjects = vec![client.id.as_str()];
    subjects.extend(client.acting_username().map(|u| u.as_str()));
    match server.accept_client_jwt(client, assertion, &subjects, now, OAuthError::InvalidGrant).await {
        Ok(_) => Ok(stored),
        Err(OAuthError::InvalidGrant(why)) if !authenticated => {
            let detail = format!("jwt-bearer assertion refused: {why}");
            server.record_auth_failure(request, Some(client.id.as_str()), Some(&detail), now);
            Err(OAuthError::InvalidGrant(why))
        }
        Err(error) => Err(error),
    }
}

/// The enabled client the assertion claims to be from (`client_id` in the
/// body must agree): unchecked yet, but behind the failure throttle.
async fn named_client(
    server: &OAuthServer,
    request: &Request<'_>,
    body_client_id: Option<&str>,
    assertion: &str,
    now: UnixTime,
) -> Result<Arc<StoredClient>, OAuthError> {
    let claimed = peek(assertion).map_err(|why| OAuthError::InvalidGrant(why.to_string()))?.issuer;
    let Some(named) = body_client_id.or(claimed.as_deref()) else {
        return Err(invalid("the assertion names no client ('iss')"));
    };
    if let Some(retry_after) = server.throttle.blocked(Some(named), request.peer, now) {
        return Err(OAuthError::SlowDown { retry_after });
    }
    let stored = match ClientId::parse(named) {
        Ok(id) => server.clients.find(server.store.as_ref(), &id, now).await?,
        Err(_) => None,
    };
    match stored {
        Some(stored) if stored.client.enabled => Ok(stored),
        stored => {
            let known = stored.is_some().then_some("jwt-bearer assertion from a disabled client");
            server.record_auth_failure(request, Some(named), known, now);
            Err(invalid("the assertion's issuer is not an enabled client of this server"))
        }
    }
}
