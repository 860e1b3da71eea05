//! RFC 7009. A client revokes its own tokens; anything else (unknown,
//! foreign, malformed, already revoked) is answered 200 and changes nothing.
//! A revoked JWT is recorded by `jti` so introspection on every node sees it.

use super::params::FormParams;
use super::{OAuthError, OAuthServer, Request};
use crate::crypto::secrets::{ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX};
use crate::domain::{ClientId, UnixTime};

impl OAuthServer {
    /// `POST /oauth2/revoke`.
    pub async fn revoke(&self, request: &Request<'_>) -> Result<(), OAuthError> {
        let params = FormParams::parse(request.body)?;
        let now = self.clock.now();
        let caller = self.authenticate(request, &params, now).await?;
        let token = params.require("token")?;
        // token_type_hint is advisory (RFC 7009 §2.1): every type is searched.
        if token.starts_with(REFRESH_TOKEN_PREFIX) {
            // Revoking a refresh token ends its grant: the refresh token and
            // every access token of the grant (RFC 7009 §2.1).
            if let Some(stored) = self.store.find_refresh_token(&self.hasher.digest(token)).await? {
                if stored.client_id == caller.client.id {
                    self.store.revoke_grant(&stored.grant_id, now).await?;
                }
            }
        } else {
            self.revoke_held_access_token(&caller.client.id, token, now).await?;
        }
        Ok(())
    }

    /// Revokes an access token `client` holds, opaque or JWT; a token it
    /// does not hold, an expired one or anything else changes nothing.
    pub(crate) async fn revoke_held_access_token(
        &self,
        client: &ClientId,
        token: &str,
        now: UnixTime,
    ) -> Result<(), OAuthError> {
        if token.starts_with(ACCESS_TOKEN_PREFIX) {
            self.store.revoke_access_token(&self.hasher.digest(token), client, now).await?;
        } else if let Some(facts) = self.verified_jwt(token, now) {
            let ours = facts.client_id.as_ref() == Some(client);
            if let Some(expires_at) = facts.expires_at.filter(|&exp| ours && exp > now.seconds()) {
                self.store.revoke_jwt(&facts.jti, client, UnixTime::from_seconds(expires_at), now).await?;
            }
        }
        Ok(())
    }
}
