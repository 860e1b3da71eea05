//! OpenID Connect userinfo (OIDC Core §5.3) with RFC 6750 errors: the
//! signed-in user's claims, as far as the token's scope allows.

use serde_json::{json, Map, Value};

use super::claims::{person_claims_for, ClaimsRequest, Place};
use super::id_token::OPENID;
use super::{OAuthError, OAuthServer};
use crate::domain::ScopeSet;

/// How the bearer token arrived (RFC 6750 §2).
pub enum Bearer<'a> {
    Missing,
    Token(&'a str),
    /// In the URL, or in more than one place: refused (RFC 6750 §3.1, OAuth 2.1 §7.1.3.7).
    Misplaced(&'static str),
}

#[derive(Debug)]
pub enum UserinfoError {
    /// No token at all: 401 with a bare challenge.
    Missing,
    InvalidRequest(&'static str),
    InvalidToken(&'static str),
    InsufficientScope,
    Unavailable,
    Server(anyhow::Error),
}

impl From<OAuthError> for UserinfoError {
    fn from(error: OAuthError) -> Self {
        match error {
            OAuthError::TemporarilyUnavailable => Self::Unavailable,
            OAuthError::ServerError(cause) => Self::Server(cause),
            _ => Self::InvalidToken("the access token is not valid"),
        }
    }
}

impl OAuthServer {
    pub async fn userinfo(&self, bearer: Bearer<'_>) -> Result<Value, UserinfoError> {
        let token = match bearer {
            Bearer::Missing => return Err(UserinfoError::Missing),
            Bearer::Misplaced(why) => return Err(UserinfoError::InvalidRequest(why)),
            Bearer::Token(token) => token,
        };
        let now = self.clock.now();
        let Some(facts) = self.live_token(token, now).await? else {
            return Err(UserinfoError::InvalidToken("the access token is not valid"));
        };
        let Some(user_id) = facts.user_id() else {
            // A client's own token has no user behind it.
            return Err(UserinfoError::InvalidToken("the access token does not belong to a user"));
        };
        // A personal token (or a JWT exchanged from one) is the person's own
        // credential: it identifies them fully, whatever its scopes. An app's
        // token shows what the person consented to under `openid`.
        let own_token = facts.personal_token.is_some();
        let has = |name: &str| own_token || facts.has_scope(name);
        if !has(OPENID) {
            return Err(UserinfoError::InsufficientScope);
        }
        let user = self
            .store
            .find_user(&user_id)
            .await
            .map_err(OAuthError::from)?
            .filter(|u| u.enabled)
            .ok_or(UserinfoError::InvalidToken("the access token is not valid"))?;
        let asked = match &facts.grant_id {
            Some(grant_id) => ClaimsRequest::from_stored(
                self.store.find_grant_claims(grant_id).await.map_err(OAuthError::from)?.as_deref(),
            ),
            None => ClaimsRequest::default(),
        };
        let scope = ScopeSet::parse(&facts.scope).unwrap_or_default();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(user.id.as_str()));
        claims.extend(person_claims_for(
            &user,
            &self.config.username_claim,
            &scope,
            &asked,
            Place::Userinfo,
            own_token,
        ));
        Ok(Value::Object(claims))
    }
}
