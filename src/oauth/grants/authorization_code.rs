//! RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6): a code is redeemed once, by
//! the client it was issued to, with the verifier of its challenge and the
//! redirect URI it was sent to. A second redemption revokes everything
//! issued from the code (SEC-B07); a redemption that fails its checks
//! (wrong client, verifier or redirect URI) neither burns the code nor
//! revokes anything (SEC-B08).

use super::{invalid, resolve_audience, respond_for_user, UserGrant};
use crate::domain::{Client, CodeChallenge, CodeVerifier, GrantId, GrantType, UnixTime};
use crate::oauth::claims::ClaimsRequest;
use crate::oauth::{OAuthError, OAuthServer, TokenResponse};
use crate::service::audit::{Actor, Kind, Target};

pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    pub resources: &'a [String],
    /// Where the request came from, for the audit log.
    pub peer: Option<std::net::IpAddr>,
}

pub async fn grant(
    server: &OAuthServer,
    client: &Client,
    request: CodeExchange<'_>,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the authorization_code grant".into(),
        ));
    }
    let verifier = request
        .code_verifier
        .map(CodeVerifier::parse)
        .transpose()
        .map_err(|e| OAuthError::InvalidRequest(e.message))?;
    let code_hash = server.hasher.digest(request.code);
    let Some(code) = server.store.find_code(&code_hash).await? else {
        return Err(invalid("the code is unknown, expired or already used"));
    };
    if code.client_id != client.id {
        return Err(invalid("the code was issued to another client"));
    }
    if request.redirect_uri.is_some_and(|uri| uri != code.redirect_uri) {
        return Err(invalid("redirect_uri differs from the authorization request's"));
    }
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            if !CodeChallenge::from_stored(challenge.clone()).is_satisfied_by(&verifier) {
                return Err(invalid("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(invalid("code_verifier is required")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "code_verifier sent, but the authorization request had no code_challenge",
            ))
        }
        (None, None) => {}
    }
    // Every check passed: this is the rightful client. A used code now means
    // a replay, so everything issued from it is revoked — even when the
    // replay comes after the code expired (the expiry is checked after).
    if code.used || code.grant_revoked {
        return Err(replayed(server, client, &code.grant_id, request.peer, now).await?);
    }
    if now >= code.expires_at {
        return Err(invalid("the code is unknown, expired or already used"));
    }
    let Some(user) = server.store.find_user(&code.user_id).await?.filter(|u| u.enabled) else {
        return Err(invalid("the user of this code is disabled"));
    };
    // A scope disabled since the consent is left out, never handed out.
    let scope = code.scope.intersection(&client.scopes);
    let audiences = resolve_audience(client, request.resources, &server.config.default_audience)?;
    let refresh = super::refresh_token::wanted(client, &scope)
        .then(|| super::refresh_token::mint(server, client, &code.grant_id, &scope, None, now));
    // The code is used and its refresh token stored in one transaction: a
    // fault between them leaves the code unused, never burned for nothing.
    if !server.store.redeem_code(&code_hash, refresh.as_ref().map(|r| &r.record), now).await? {
        return Err(replayed(server, client, &code.grant_id, request.peer, now).await?);
    }
    let refresh_token = refresh.map(|r| r.token);
    let grant = UserGrant {
        client,
        user: &user,
        grant_id: &code.grant_id,
        scope: &scope,
        audiences,
        auth_time: code.auth_time,
        nonce: code.nonce.as_deref(),
        claims: ClaimsRequest::from_stored(code.claims.as_deref()),
        refresh_token,
    };
    respond_for_user(server, grant, now).await
}

/// A code presented again by its rightful client: everything issued from
/// it is revoked and the replay audited; the answer is `invalid_grant`.
async fn replayed(
    server: &OAuthServer,
    client: &Client,
    grant_id: &GrantId,
    peer: Option<std::net::IpAddr>,
    now: UnixTime,
) -> Result<OAuthError, OAuthError> {
    server.store.revoke_grant(grant_id, now).await?;
    let actor = Actor::client(client.id.as_str(), peer);
    let detail = "authorization code replayed; every token of its grant is revoked";
    server.audit.record_later(Kind::CodeReplay, &actor, Target::Grant(grant_id), detail);
    Ok(invalid("the code is unknown, expired or already used"))
}
