//! RFC 6749 §6 with rotation (RFC 9700 §4.14.2). Every refresh marks the
//! token used and stores its successor in one transaction, so after any
//! fault (a crash, a lost connection) either the old token still works or
//! the successor is stored — never neither, never both.
//!
//! The successor is derived from the old token under the server's key, so
//! it can be handed out again without ever being stored in the clear: a
//! token presented again within `RETRY_WINDOW_SECONDS` of its rotation,
//! while its successor is still unused, gets that same successor back. A
//! client whose answer was lost keeps its session, and concurrent refreshes
//! of one token (several tabs) converge on one chain. Any other second use
//! is a replay: the whole grant (its refresh and access tokens) is revoked,
//! and whoever holds the successor learns it at its next use.

use crate::oauth::claims::ClaimsRequest;
use std::net::IpAddr;

use super::{invalid, resolve_audience, respond_for_user, UserGrant};
use crate::crypto::secrets::REFRESH_TOKEN_PREFIX;
use crate::domain::{Client, GrantId, GrantType, Lifetime, ScopeSet, UnixTime, OFFLINE_ACCESS};
use crate::oauth::{OAuthError, OAuthServer, TokenResponse};
use crate::service::audit::{Actor, Kind, Target};
use crate::store::{NewRefreshToken, StoredRefreshToken};

/// Refresh tokens live 30 days unless the client says otherwise.
pub const DEFAULT_REFRESH_TOKEN_TTL: Lifetime = Lifetime::from_seconds(30 * 86_400);
/// How long after its rotation a token presented again, while its successor
/// is unused, gets the same successor back rather than revoking the grant.
pub const RETRY_WINDOW_SECONDS: i64 = 60;

/// Does this grant get a refresh token? The client has the grant and
/// `offline_access` was requested and consented.
pub fn wanted(client: &Client, scope: &ScopeSet) -> bool {
    client.allows_grant(GrantType::RefreshToken) && scope.iter().any(|s| s.as_str() == OFFLINE_ACCESS)
}

/// A refresh token about to be issued: the value for the client, the
/// record for the store.
pub struct Minted {
    pub token: String,
    pub record: NewRefreshToken,
}

/// A new refresh token in `grant_id`, sliding within the grant's end; the
/// caller stores `record` in the transaction that issues it.
pub fn mint(
    server: &OAuthServer,
    client: &Client,
    grant_id: &GrantId,
    scope: &ScopeSet,
    grant_expires_at: Option<UnixTime>,
    now: UnixTime,
) -> Minted {
    let token = crate::crypto::secrets::generate_secret(REFRESH_TOKEN_PREFIX).expose().to_owned();
    with_value(server, client, token, grant_id, scope, grant_expires_at, now)
}

fn with_value(
    server: &OAuthServer,
    client: &Client,
    token: String,
    grant_id: &GrantId,
    scope: &ScopeSet,
    grant_expires_at: Option<UnixTime>,
    now: UnixTime,
) -> Minted {
    let ttl = client.refresh_token_ttl.unwrap_or(DEFAULT_REFRESH_TOKEN_TTL).seconds();
    let sliding = now.plus(ttl);
    let expires_at = grant_expires_at.map_or(sliding, |end| end.min(sliding));
    let record = NewRefreshToken {
        token_hash: server.hasher.digest(&token),
        grant_id: grant_id.clone(),
        scope: scope.clone(),
        issued_at: now,
        expires_at,
    };
    Minted { token, record }
}

/// The successor of `presented`: as unguessable as a random token (a keyed
/// hash of a 256-bit secret), and the same every time it is computed.
fn successor_of(server: &OAuthServer, presented: &str) -> String {
    format!("{REFRESH_TOKEN_PREFIX}{}", server.hasher.digest(&format!("refresh-successor:{presented}")))
}

pub async fn grant(
    server: &OAuthServer,
    client: &Client,
    presented: &str,
    requested: Option<ScopeSet>,
    resources: &[String],
    peer: Option<IpAddr>,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::RefreshToken) {
        return Err(OAuthError::UnauthorizedClient("this client may not use the refresh_token grant".into()));
    }
    let hash = server.hasher.digest(presented);
    let Some(stored) = server.store.find_refresh_token(&hash).await? else {
        return Err(invalid("the refresh token is unknown, expired or revoked"));
    };
    if stored.client_id != client.id {
        return Err(invalid("the refresh token was issued to another client"));
    }
    if stored.grant_revoked || now >= stored.grant_expires_at {
        return Err(invalid("the refresh token is unknown, expired or revoked"));
    }
    let successor = successor_of(server, presented);
    if stored.used_at.is_some() {
        if !may_repeat(server, &stored, &successor, now).await? {
            return Err(replayed(server, client, &stored.grant_id, peer, now).await?);
        }
    } else if now >= stored.expires_at {
        return Err(invalid("the refresh token is unknown, expired or revoked"));
    }
    let Some(user) = server.store.find_user(&stored.user_id).await?.filter(|u| u.enabled) else {
        server.store.revoke_grant(&stored.grant_id, now).await?;
        return Err(invalid("the user of this grant is disabled"));
    };
    // What the client may be issued now: a scope disabled (or taken from
    // the client) since the grant is left out, never handed out; so is one
    // the person may no longer grant (no longer an admin, or out of the
    // directory group the scope is limited to).
    let limits = server.store.scope_limits().await?;
    let issuable = limits.grantable(&user, &stored.scope.intersection(&client.scopes));
    let scope = match requested {
        None => issuable,
        Some(asked) if asked.is_subset_of(&issuable) => asked,
        Some(asked) if asked.is_subset_of(&stored.scope) => {
            let missing = asked.missing_from(&issuable).next().map(ToString::to_string).unwrap_or_default();
            let why = limits.refusal(&user, &missing).unwrap_or_else(|| {
                format!("scope '{missing}' is disabled or no longer allowed for this client")
            });
            return Err(OAuthError::InvalidScope(why));
        }
        Some(_) => {
            return Err(OAuthError::InvalidScope("the refresh token was not granted that scope".into()))
        }
    };
    let audiences = resolve_audience(client, resources, &server.config.default_audience)?;
    if stored.used_at.is_none() {
        // The successor keeps the scope originally granted (RFC 6749 §6).
        let minted = with_value(
            server,
            client,
            successor.clone(),
            &stored.grant_id,
            &stored.scope,
            Some(stored.grant_expires_at),
            now,
        );
        if !server.store.rotate_refresh_token(&hash, &minted.record, now).await? {
            // Another request rotated it a moment ago: the same successor, if
            // that is what it stored.
            let again = server.store.find_refresh_token(&hash).await?;
            let same = match &again {
                Some(again) => may_repeat(server, again, &successor, now).await?,
                None => false,
            };
            if !same {
                return Err(invalid("the refresh token was already used"));
            }
        }
    }
    let grant = UserGrant {
        client,
        user: &user,
        grant_id: &stored.grant_id,
        scope: &scope,
        audiences,
        auth_time: stored.auth_time,
        nonce: None,
        claims: ClaimsRequest::from_stored(stored.claims.as_deref()),
        refresh_token: Some(successor),
    };
    respond_for_user(server, grant, now).await
}

/// May this used token be answered again with its successor? Only within
/// the retry window, when the successor stored is the one derived from it,
/// and while that successor is unused.
async fn may_repeat(
    server: &OAuthServer,
    stored: &StoredRefreshToken,
    successor: &str,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    let Some(used_at) = stored.used_at else { return Ok(false) };
    if now.seconds() - used_at.seconds() > RETRY_WINDOW_SECONDS {
        return Ok(false);
    }
    let digest = server.hasher.digest(successor);
    if stored.successor_hash.as_deref() != Some(digest.as_str()) {
        return Ok(false);
    }
    let next = server.store.find_refresh_token(&digest).await?;
    Ok(next.is_some_and(|next| next.used_at.is_none() && now < next.expires_at))
}

/// A refresh token used again outside what a retry may do: every token of
/// its grant is revoked and the reuse audited.
async fn replayed(
    server: &OAuthServer,
    client: &Client,
    grant_id: &GrantId,
    peer: Option<IpAddr>,
    now: UnixTime,
) -> Result<OAuthError, OAuthError> {
    server.store.revoke_grant(grant_id, now).await?;
    server.metrics.refresh_token_reuse.inc();
    let actor = Actor::client(client.id.as_str(), peer);
    let detail = "refresh token used twice; every token of its grant is revoked";
    server.audit.record_later(Kind::RefreshTokenReuse, &actor, Target::Grant(grant_id), detail);
    Ok(invalid("the refresh token was already used"))
}
