//! The token endpoint's side of the device flow (RFC 8628 §3.4–3.5): each
//! poll is pending, too fast, denied, expired — or, once, the tokens.

use super::{invalid, respond_for_user, UserGrant};
use crate::domain::Client;
use crate::domain::UnixTime;
use crate::oauth::claims::ClaimsRequest;
use crate::oauth::device::SLOW_DOWN_SECONDS;
use crate::oauth::grants::resolve_audience;
use crate::oauth::{OAuthError, OAuthServer, TokenResponse};
use crate::store::DeviceStatus;

pub(crate) async fn grant(
    server: &OAuthServer,
    client: &Client,
    device_code: &str,
    resources: &[String],
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let hash = server.hasher.digest(device_code);
    let unknown = || invalid("the device code is unknown");
    let stored = server.store.find_device_code(&hash).await?.ok_or_else(unknown)?;
    // A device code works only for the client it was issued to.
    if stored.client_id != client.id {
        return Err(unknown());
    }
    match stored.status {
        DeviceStatus::Used => return Err(invalid("the device code was already used")),
        DeviceStatus::Denied => return Err(OAuthError::AccessDenied("the person declined".into())),
        _ if now >= stored.expires_at => {
            return Err(OAuthError::ExpiredToken("the device code expired; start again".into()))
        }
        DeviceStatus::Pending => {
            return Err(if server.store.poll_device_code(&hash, now, SLOW_DOWN_SECONDS).await? {
                OAuthError::AuthorizationPending
            } else {
                OAuthError::PollingTooFast
            });
        }
        DeviceStatus::Approved => {}
    }
    let (Some(grant_id), Some(user_id)) = (&stored.grant_id, &stored.user_id) else {
        return Err(invalid("the device code is unknown"));
    };
    let Some(user) = server.store.find_user(user_id).await?.filter(|u| u.enabled) else {
        return Err(invalid("the person who approved this device is disabled"));
    };
    // A scope disabled since the approval is left out.
    let scope = stored.scope.intersection(&client.scopes);
    let audiences = resolve_audience(client, resources, &server.config.default_audience)?;
    let refresh = super::refresh_token::wanted(client, &scope)
        .then(|| super::refresh_token::mint(server, client, grant_id, &scope, None, now));
    // Marked used and its refresh token stored in one transaction: of
    // concurrent polls, exactly one gets the tokens.
    if !server.store.redeem_device_code(&hash, refresh.as_ref().map(|r| &r.record), now).await? {
        return Err(invalid("the device code was already used"));
    }
    let grant = UserGrant {
        client,
        user: &user,
        grant_id,
        scope: &scope,
        audiences,
        auth_time: stored.auth_time.unwrap_or(now),
        nonce: None,
        claims: ClaimsRequest::default(),
        refresh_token: refresh.map(|r| r.token),
    };
    respond_for_user(server, grant, now).await
}
