//! RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every refresh consumes the
//! token in one conditional statement and issues a successor in the same
//! grant. A token used again after `REUSE_GRACE_SECONDS` is a replay: the
//! whole grant (its refresh and access tokens) is revoked. Within the grace
//! a second use only fails, so concurrent refreshes of one token leave
//! exactly one live successor instead of revoking the family (the logged-out
//! fleet of nightscout/nocturne#326); nothing is ever issued twice.

use std::net::IpAddr;

use super::{invalid, resolve_audience, respond_for_user, UserGrant};
use crate::audit::{Actor, Kind};
use crate::crypto::secrets::{generate_secret, REFRESH_TOKEN_PREFIX};
use crate::domain::{Client, GrantType, Lifetime, ScopeSet, UnixTime};
use crate::oauth::{OAuthError, OAuthServer, TokenResponse};
use crate::store::NewRefreshToken;

/// SPEC §5: refresh tokens live 30 days unless the client says otherwise.
pub const DEFAULT_REFRESH_TOKEN_TTL: Lifetime = Lifetime::from_seconds(30 * 86_400);
/// A reuse this soon after the rotation is taken for a concurrent request.
pub const REUSE_GRACE_SECONDS: i64 = 5;
/// The scope that asks for a refresh token (OIDC Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Does this grant get a refresh token? The client has the grant and
/// `offline_access` was requested and consented (SPEC §4).
pub fn wanted(client: &Client, scope: &ScopeSet) -> bool {
    client.allows_grant(GrantType::RefreshToken) && scope.iter().any(|s| s.as_str() == OFFLINE_ACCESS)
}

/// A new refresh token in `grant_id`, sliding within the grant's end.
pub async fn issue(
    server: &OAuthServer,
    client: &Client,
    grant_id: &str,
    scope: &ScopeSet,
    grant_expires_at: Option<UnixTime>,
    now: UnixTime,
) -> Result<String, OAuthError> {
    let token = generate_secret(REFRESH_TOKEN_PREFIX);
    let ttl = client.refresh_token_ttl.unwrap_or(DEFAULT_REFRESH_TOKEN_TTL).seconds();
    let sliding = now.plus(ttl);
    let expires_at = grant_expires_at.map_or(sliding, |end| end.min(sliding));
    server
        .store
        .insert_refresh_token(&NewRefreshToken {
            token_hash: server.hasher.digest(token.expose()),
            grant_id: grant_id.to_owned(),
            scope: scope.to_string(),
            issued_at: now,
            expires_at,
        })
        .await?;
    Ok(token.expose().to_owned())
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
    if let Some(used_at) = stored.used_at {
        if now.seconds() - used_at.seconds() > REUSE_GRACE_SECONDS {
            server.store.revoke_grant(&stored.grant_id, now).await?;
            let actor = Actor::client(client.id.as_str(), peer);
            let detail = "refresh token used twice; every token of its grant is revoked";
            server.audit.record_later(
                Kind::RefreshTokenReuse,
                &actor,
                &format!("grant:{}", stored.grant_id),
                detail,
            );
        }
        return Err(invalid("the refresh token was already used"));
    }
    if now >= stored.expires_at {
        return Err(invalid("the refresh token is unknown, expired or revoked"));
    }
    let granted =
        ScopeSet::parse(&stored.scope).map_err(|e| anyhow::anyhow!("stored scope is invalid: {e}"))?;
    // What the client may be issued now: a scope disabled (or taken from
    // the client) since the grant is left out, never handed out.
    let issuable = granted.intersection(&client.scopes);
    let scope = match requested {
        None => issuable,
        Some(asked) if asked.is_subset_of(&issuable) => asked,
        Some(asked) if asked.is_subset_of(&granted) => {
            let missing = asked.missing_from(&issuable).next().map(ToString::to_string).unwrap_or_default();
            return Err(OAuthError::InvalidScope(format!(
                "scope '{missing}' is disabled or no longer allowed for this client"
            )));
        }
        Some(_) => {
            return Err(OAuthError::InvalidScope("the refresh token was not granted that scope".into()))
        }
    };
    let Some(user) = server.store.find_user(&stored.user_id).await?.filter(|u| u.enabled) else {
        server.store.revoke_grant(&stored.grant_id, now).await?;
        return Err(invalid("the user of this grant is disabled"));
    };
    let audiences = resolve_audience(client, resources, &server.config.default_audience)?;
    if !server.store.consume_refresh_token(&hash, now).await? {
        return Err(invalid("the refresh token was already used"));
    }
    // The successor keeps the scope originally granted (RFC 6749 §6).
    let refresh_token =
        issue(server, client, &stored.grant_id, &granted, Some(stored.grant_expires_at), now).await?;
    let grant = UserGrant {
        client,
        user: &user,
        grant_id: &stored.grant_id,
        scope: &scope,
        audiences,
        auth_time: stored.auth_time,
        nonce: None,
        refresh_token: Some(refresh_token),
    };
    respond_for_user(server, grant, now).await
}
