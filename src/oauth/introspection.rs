//! RFC 7662. A resource-server client may introspect any token, any other
//! client only its own. Anything not provably live is `{"active": false}`
//! and nothing else.

use serde::Serialize;

use super::params::FormParams;
use super::{OAuthError, OAuthServer, Request};
use crate::crypto::jwt::{verify_access_token, GRANT_CLAIM, PERSONAL_TOKEN_CLAIM, TRUST_CLAIM};
use crate::crypto::personal_token;
use crate::crypto::secrets::{ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX};
use crate::domain::{
    ClientId, ClientType, GrantId, PersonalToken, PersonalTokenId, TrustId, UnixTime, UserId,
};
use crate::store::PersonLink;

#[derive(Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Introspection {
    Active(Box<ActiveToken>),
    Inactive { active: bool },
}

impl Introspection {
    pub fn inactive() -> Self {
        Self::Inactive { active: false }
    }
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ActiveToken {
    pub active: bool,
    pub scope: String,
    /// Absent for a personal token: no client holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub sub: String,
    /// Absent for a personal token that never expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub iat: i64,
    pub iss: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aud: Vec<String>,
    pub token_type: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jti: String,
}

/// What a token claims, whichever format it came in.
pub(crate) struct TokenFacts {
    /// The client the token was issued to; none for a personal token.
    pub client_id: Option<ClientId>,
    pub subject: String,
    pub username: Option<String>,
    pub scope: String,
    pub audience: Vec<String>,
    pub issued_at: i64,
    /// None for a personal token without expiry.
    pub expires_at: Option<i64>,
    pub jti: String,
    pub grant_id: Option<GrantId>,
    /// The personal token this is, or was exchanged from.
    pub personal_token: Option<PersonalTokenId>,
    /// The trust whose outside JWT bought it.
    pub trust: Option<TrustId>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    pub token_type: &'static str,
}

impl TokenFacts {
    pub fn is_unexpired(&self, now: UnixTime) -> bool {
        self.expires_at.is_none_or(|exp| exp > now.seconds())
    }

    /// Whether the token's scope (space-separated names, as issued) holds
    /// `name`.
    pub fn has_scope(&self, name: &str) -> bool {
        self.scope.split(' ').any(|s| s == name)
    }

    /// The user behind a person's token (a grant, a personal token or an
    /// exchange of one); None for a client's own token.
    pub fn user_id(&self) -> Option<UserId> {
        (self.grant_id.is_some() || self.personal_token.is_some()).then(|| UserId::new(self.subject.as_str()))
    }

    /// What ties the token to a person, for `jwt_standing`.
    fn person_link(&self) -> PersonLink<'_> {
        match (&self.grant_id, &self.personal_token) {
            (Some(grant), _) => PersonLink::Grant(grant),
            (None, Some(personal_token)) => PersonLink::PersonalToken(personal_token),
            (None, None) => PersonLink::None,
        }
    }

    fn of_personal_token(token: PersonalToken) -> Self {
        Self {
            client_id: None,
            subject: token.user_id.to_string(),
            username: Some(token.username.as_str().to_owned()),
            scope: token.scope.to_string(),
            audience: Vec::new(),
            issued_at: token.created_at.seconds(),
            expires_at: token.expires_at.map(UnixTime::seconds),
            jti: String::new(),
            grant_id: None,
            personal_token: Some(token.id),
            trust: None,
            token_type: "Bearer",
        }
    }
}

impl OAuthServer {
    /// `POST /oauth2/introspect`.
    pub async fn introspect(&self, request: &Request<'_>) -> Result<Introspection, OAuthError> {
        let params = FormParams::parse(request.body)?;
        let now = self.clock.now();
        let caller = self.authenticate(request, &params, now).await?;
        if caller.client.client_type == ClientType::Public {
            // Introspection needs an authenticated caller (RFC 7662 §2.1).
            return Err(OAuthError::InvalidClient { basic: false });
        }
        let token = params.require("token")?;
        let caller_id = caller.client.id.as_str();
        if let Some(retry_after) = self.throttle.scanning(caller_id, now) {
            return Err(OAuthError::SlowDown { retry_after });
        }
        // A personal token has no client: only resource servers may ask about it.
        let entitled = |facts: &TokenFacts| {
            caller.client.resource_server || facts.client_id.as_ref() == Some(&caller.client.id)
        };
        let live = if token.starts_with(REFRESH_TOKEN_PREFIX) {
            self.live_refresh_token(token, now).await?
        } else {
            self.live_token(token, now).await?
        };
        let Some(facts) = live.filter(entitled) else {
            self.throttle.record_inactive(caller_id, now);
            self.metrics.introspections.with_label_values(&[caller_id, "false"]).inc();
            return Ok(Introspection::inactive());
        };
        self.metrics.introspections.with_label_values(&[caller_id, "true"]).inc();
        Ok(Introspection::Active(Box::new(ActiveToken {
            active: true,
            scope: facts.scope,
            client_id: facts.client_id.map(|id| id.as_str().to_owned()),
            username: facts.username,
            sub: facts.subject,
            exp: facts.expires_at,
            iat: facts.issued_at,
            iss: self.config.issuer.clone(),
            aud: facts.audience,
            token_type: facts.token_type,
            jti: facts.jti,
        })))
    }

    /// The facts of `token` if it is ours, unexpired, unrevoked, and its
    /// client and service account (or its owner) are still enabled. Always
    /// asks the database (one read), so a revocation or a disabled principal
    /// is seen at once on every node.
    pub(crate) async fn live_token(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<Option<TokenFacts>, OAuthError> {
        if token.starts_with(personal_token::PREFIX) {
            let live = self.personal_tokens.authenticate(token, now).await?;
            return Ok(live.map(TokenFacts::of_personal_token));
        }
        let (facts, standing) = if token.starts_with(ACCESS_TOKEN_PREFIX) {
            let Some((stored, standing)) = self.store.find_access_token(&self.hasher.digest(token)).await?
            else {
                return Ok(None);
            };
            let facts = TokenFacts {
                client_id: Some(stored.client_id),
                subject: stored.subject,
                username: stored.username,
                scope: stored.scope.to_string(),
                audience: stored.audience,
                issued_at: stored.issued_at.seconds(),
                expires_at: Some(stored.expires_at.seconds()),
                jti: stored.jti,
                grant_id: stored.grant_id,
                personal_token: None,
                trust: None,
                token_type: "Bearer",
            };
            (facts, standing)
        } else {
            let Some(facts) = self.verified_jwt(token, now) else {
                return Ok(None);
            };
            let Some(client_id) = facts.client_id.as_ref().filter(|_| facts.is_unexpired(now)) else {
                return Ok(None);
            };
            let standing = match &facts.trust {
                Some(trust) => self.store.trust_token_standing(&facts.jti, trust).await?,
                None => self.store.jwt_standing(&facts.jti, client_id, facts.person_link()).await?,
            };
            (facts, standing)
        };
        let live = standing.is_live(facts.issued_at) && facts.is_unexpired(now);
        Ok(live.then_some(facts))
    }

    /// A refresh token that can still be used: unused, unexpired, its grant
    /// unrevoked, its user and client enabled. Introspection only: a refresh
    /// token is never a bearer token.
    async fn live_refresh_token(&self, token: &str, now: UnixTime) -> Result<Option<TokenFacts>, OAuthError> {
        let Some(stored) = self.store.find_refresh_token(&self.hasher.digest(token)).await? else {
            return Ok(None);
        };
        if stored.used_at.is_some()
            || stored.grant_revoked
            || now >= stored.expires_at
            || now >= stored.grant_expires_at
        {
            return Ok(None);
        }
        let Some(user) = self.store.find_user(&stored.user_id).await?.filter(|u| u.enabled) else {
            return Ok(None);
        };
        let client_enabled =
            self.store.find_client(&stored.client_id).await?.is_some_and(|c| c.client.enabled);
        if !client_enabled {
            return Ok(None);
        }
        Ok(Some(TokenFacts {
            client_id: Some(stored.client_id),
            subject: user.id.to_string(),
            username: Some(user.username.as_str().to_owned()),
            scope: stored.scope.to_string(),
            audience: Vec::new(),
            issued_at: stored.issued_at.seconds(),
            expires_at: Some(stored.expires_at.seconds()),
            jti: String::new(),
            grant_id: Some(stored.grant_id),
            personal_token: None,
            trust: None,
            token_type: "refresh_token",
        }))
    }

    /// Signature, type, issuer and key checks of a JWT access token, all in
    /// memory; None for anything that is not one of our tokens.
    pub(crate) fn verified_jwt(&self, token: &str, now: UnixTime) -> Option<TokenFacts> {
        let keys = self.keys.current();
        let claims = verify_access_token(token, |kid| keys.find(kid, now), &self.config.issuer).ok()?;
        let username =
            claims.other.get(&self.config.username_claim).and_then(|v| v.as_str()).map(str::to_owned);
        Some(TokenFacts {
            client_id: Some(ClientId::parse(&claims.client_id).ok()?),
            subject: claims.sub,
            username,
            scope: claims.scope,
            audience: claims.aud.to_vec(),
            issued_at: claims.iat,
            expires_at: Some(claims.exp),
            jti: claims.jti,
            grant_id: claims.other.get(GRANT_CLAIM).and_then(|v| v.as_str()).map(GrantId::new),
            personal_token: claims
                .other
                .get(PERSONAL_TOKEN_CLAIM)
                .and_then(|v| v.as_str())
                .map(PersonalTokenId::new),
            trust: claims.other.get(TRUST_CLAIM).and_then(|v| v.as_str()).map(TrustId::new),
            token_type: "Bearer",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_serialises_to_active_false_only() {
        assert_eq!(serde_json::to_string(&Introspection::inactive()).unwrap(), r#"{"active":false}"#);
    }
}
