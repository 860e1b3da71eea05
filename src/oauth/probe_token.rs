//! A token minted to try a resource server out (the console's Jira test):
//! for a person through an app people sign in to, on a grant of its own,
//! or for the service account of an app bound to one; short-lived, never
//! shown, and ended as soon as the resource server has answered.

use super::access_token::{IssuedAccessToken, TokenSubject};
use super::grants::{client_credentials, resolve_audience};
use super::{OAuthError, OAuthServer};
use crate::crypto::secrets::random_id;
use crate::domain::{Client, GrantId, ScopeSet, User, ADMIN_SCOPE, OFFLINE_ACCESS};
use crate::store::NewGrant;

/// A probe token and what it carries.
pub struct ProbeToken {
    pub issued: IssuedAccessToken,
    /// The Jira username it carries ("" when it carries none).
    pub username: String,
    pub scope: ScopeSet,
    /// The grant a person's token stands on; ending it ends the token.
    grant_id: Option<GrantId>,
}

impl OAuthServer {
    /// A token of `client` for `person` (through an app people sign in to),
    /// or for the client's service account when `person` is `None`; it
    /// lives `seconds`.
    pub async fn mint_probe_token(
        &self,
        client: &Client,
        person: Option<&User>,
        seconds: i64,
    ) -> Result<ProbeToken, OAuthError> {
        let now = self.clock.now();
        let ends = now.plus(seconds);
        let audiences = resolve_audience(client, &[], &self.config.default_audience)?;
        let (issued, username, scope, grant_id) = match person {
            Some(person) => {
                // A person's token stands on a grant, as one from the code
                // flow does (userinfo and introspection read the person
                // through it).
                let grant_id = GrantId::new(random_id(16));
                let scope = client.scopes.without(ADMIN_SCOPE).without(OFFLINE_ACCESS);
                let grant = NewGrant {
                    grant_id: grant_id.clone(),
                    client_id: client.id.clone(),
                    user_id: person.id.clone(),
                    scope: scope.clone(),
                    auth_time: now,
                    expires_at: ends,
                };
                self.store.create_grant(&grant, now).await?;
                let who = TokenSubject::person(person, &grant_id).until(ends);
                let issued =
                    self.issue_access_token(client, client.token_format, who, &scope, audiences, now).await?;
                (issued, person.username.to_string(), scope, Some(grant_id))
            }
            None => {
                // What the app gets from the client-credentials grant,
                // without the admin API's scope: a probe needs no more.
                let who = client_credentials::subject(client)?;
                let username = who.username.unwrap_or_default().to_owned();
                let scope = client_credentials::default_scope(client).without(ADMIN_SCOPE);
                let issued = self
                    .issue_access_token(client, client.token_format, who.until(ends), &scope, audiences, now)
                    .await?;
                (issued, username, scope, None)
            }
        };
        Ok(ProbeToken { issued, username, scope, grant_id })
    }

    /// Ends a probe token at once: its grant, or the token itself.
    pub async fn end_probe_token(&self, client: &Client, probe: &ProbeToken) -> Result<(), OAuthError> {
        let now = self.clock.now();
        match &probe.grant_id {
            Some(grant_id) => Ok(self.store.revoke_grant(grant_id, now).await?),
            None => self.revoke_held_access_token(&client.id, &probe.issued.token, now).await,
        }
    }
}
