//! Minting access tokens: a signed JWT (RFC 9068, no database write) or an
//! opaque `tsr_at_` reference stored by its keyed hash.

use super::{OAuthError, OAuthServer};
use crate::crypto::jwt::{sign_access_token, AccessTokenClaims};
use crate::crypto::secrets::{generate_secret, random_id, ACCESS_TOKEN_PREFIX};
use crate::domain::{
    Client, ClientId, GrantId, Lifetime, PersonalTokenId, ScopeSet, TokenFormat, TrustId, UnixTime, User,
};
use crate::store::StoredAccessToken;

pub struct IssuedAccessToken {
    pub token: String,
    pub expires_in: i64,
}

/// Who and what a token is for.
pub struct TokenSubject<'a> {
    pub subject: &'a str,
    pub username: Option<&'a str>,
    pub email: Option<&'a str>,
    /// The user grant behind the token; revoking it ends the token.
    pub grant_id: Option<&'a GrantId>,
    /// The personal token a token exchange started from.
    pub personal_token: Option<&'a PersonalTokenId>,
    /// The token expires no later than this (the personal token's expiry).
    pub not_after: Option<UnixTime>,
    /// The trust whose outside JWT bought it.
    pub trust: Option<&'a TrustId>,
}

impl<'a> TokenSubject<'a> {
    /// A client's own token (`subject` is its id), or its service
    /// account's (`subject` and `username` the account's username).
    pub fn machine(subject: &'a str, username: Option<&'a str>) -> Self {
        Self {
            subject,
            username,
            email: None,
            grant_id: None,
            personal_token: None,
            not_after: None,
            trust: None,
        }
    }

    /// A person's token under their grant.
    pub fn person(user: &'a User, grant_id: &'a GrantId) -> Self {
        Self {
            subject: user.id.as_str(),
            username: Some(user.username.as_str()),
            email: Some(user.email.as_str()),
            grant_id: Some(grant_id),
            personal_token: None,
            not_after: None,
            trust: None,
        }
    }

    /// The same subject, for a token that ends no later than `at`.
    pub fn until(self, at: UnixTime) -> Self {
        Self { not_after: Some(at), ..self }
    }
}

impl OAuthServer {
    /// A `format` token for `who`, held by `client` (usually in the
    /// client's own format).
    pub(crate) async fn issue_access_token(
        &self,
        client: &Client,
        format: TokenFormat,
        who: TokenSubject<'_>,
        scope: &ScopeSet,
        audiences: Vec<String>,
        now: UnixTime,
    ) -> Result<IssuedAccessToken, OAuthError> {
        let ttl = client.access_token_ttl.unwrap_or(self.config.access_token_ttl);
        self.mint_access_token(&client.id, format, who, scope, audiences, ttl, now).await
    }

    /// A token held by `holder` (a client's id, or a trust's for a token
    /// no client asked for) that lives `lifetime`, or less when `who`
    /// must end sooner.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn mint_access_token(
        &self,
        holder: &ClientId,
        format: TokenFormat,
        who: TokenSubject<'_>,
        scope: &ScopeSet,
        audiences: Vec<String>,
        lifetime: Lifetime,
        now: UnixTime,
    ) -> Result<IssuedAccessToken, OAuthError> {
        let mut ttl = lifetime.seconds();
        if let Some(not_after) = who.not_after {
            ttl = ttl.min(not_after.seconds() - now.seconds()).max(1);
        }
        let expires_at = now.plus(ttl);
        let jti = random_id(16);
        let token = match format {
            TokenFormat::Jwt => {
                let keys = self.keys.current();
                let key = keys.signer(now).ok_or_else(|| anyhow::anyhow!("no signing key is active"))?;
                let claims = AccessTokenClaims {
                    issuer: self.config.issuer.clone(),
                    subject: who.subject.to_owned(),
                    audiences,
                    issued_at: now.seconds(),
                    expires_at: expires_at.seconds(),
                    jti,
                    client_id: holder.as_str().to_owned(),
                    scope: scope.to_string(),
                    username: who.username.map(|u| (self.config.username_claim.clone(), u.to_owned())),
                    email: who.email.map(str::to_owned),
                    grant_id: who.grant_id.map(|g| g.as_str().to_owned()),
                    personal_token: who.personal_token.map(|p| p.as_str().to_owned()),
                    trust: who.trust.map(|t| t.as_str().to_owned()),
                };
                sign_access_token(key, &claims)?
            }
            TokenFormat::Opaque => {
                let secret = generate_secret(ACCESS_TOKEN_PREFIX);
                let record = StoredAccessToken {
                    jti,
                    client_id: holder.clone(),
                    subject: who.subject.to_owned(),
                    username: who.username.map(str::to_owned),
                    scope: scope.clone(),
                    audience: audiences,
                    issued_at: now,
                    expires_at,
                    revoked: false,
                    grant_id: who.grant_id.cloned(),
                };
                self.store.insert_access_token(&self.hasher.digest(secret.expose()), &record).await?;
                secret.expose().to_owned()
            }
        };
        Ok(IssuedAccessToken { token, expires_in: ttl })
    }
}
