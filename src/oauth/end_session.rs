//! RP-Initiated Logout 1.0 (the `end_session_endpoint`): which sign-out
//! requests can be tied to a person and an application, and where the
//! browser may go afterwards — only to an address the application
//! registered, compared exactly, never one a parameter makes up.

use std::sync::Arc;

use url::form_urlencoded;

use super::params::FormParams;
use super::OAuthServer;
use crate::crypto::jwt::verify_id_token_hint;
use crate::domain::{ClientId, UserId};
use crate::store::{StoreError, StoredClient};

/// Longest `state` carried back.
const MAX_STATE: usize = 4_096;

/// A sign-out request whose parts all check out.
#[derive(Debug, Default)]
pub struct LogoutRequest {
    /// The person the `id_token_hint` names: when it is who is signed in,
    /// the request is theirs and needs no confirmation.
    pub hinted_user: Option<UserId>,
    /// The application asking, from `client_id` or the hint's audience.
    pub client: Option<Arc<StoredClient>>,
    /// Where to send the browser afterwards: a registered post-logout
    /// redirect URI with `state` added.
    pub return_to: Option<String>,
}

/// Why a sign-out request cannot be trusted: a page, never a redirect.
#[derive(Debug)]
pub enum LogoutRefused {
    Invalid(&'static str),
    Unavailable,
}

impl LogoutRequest {
    pub fn client_name(&self) -> Option<&str> {
        self.client.as_ref().map(|c| c.client.name.as_str())
    }
}

impl OAuthServer {
    /// Checks `id_token_hint`, `client_id`, `post_logout_redirect_uri` and
    /// `state` together.
    pub async fn validate_logout(&self, params: &FormParams) -> Result<LogoutRequest, LogoutRefused> {
        let mut request = LogoutRequest::default();
        let mut hinted_clients = Vec::new();
        if let Some(hint) = params.get("id_token_hint").filter(|h| !h.is_empty()) {
            let now = self.clock.now();
            let keys = self.keys.current();
            // An expired ID token still says who signed in (RP-Initiated Logout §2).
            let claims =
                verify_id_token_hint(hint, |kid| keys.find(kid, now), &self.config.issuer).map_err(|_| {
                    LogoutRefused::Invalid("The sign-out request carries an ID token Tessera did not issue.")
                })?;
            request.hinted_user = Some(UserId::new(claims.sub));
            hinted_clients = claims.aud.to_vec();
        }
        let named = params.get("client_id").filter(|c| !c.is_empty());
        if let Some(client_id) = named {
            if !hinted_clients.is_empty() && !hinted_clients.iter().any(|aud| aud == client_id) {
                return Err(LogoutRefused::Invalid(
                    "The sign-out request names another application than its ID token was issued to.",
                ));
            }
        }
        let client_id = named.map(str::to_owned).or_else(|| hinted_clients.into_iter().next());
        if let Some(client_id) = client_id {
            request.client = Some(self.logout_client(&client_id, named.is_some()).await?);
        }
        if let Some(uri) = params.get("post_logout_redirect_uri") {
            let Some(client) = &request.client else {
                return Err(LogoutRefused::Invalid(
                    "The sign-out request names no application (client_id or id_token_hint), so its return address cannot be checked.",
                ));
            };
            // Exactly as registered: no prefix, trailing slash or case is forgiven.
            if !client.client.post_logout_redirect_uris.iter().any(|registered| registered.as_str() == uri) {
                return Err(LogoutRefused::Invalid(
                    "The address to return to after signing out is not registered for this application.",
                ));
            }
            let state = params.get("state");
            if state.is_some_and(|s| s.len() > MAX_STATE) {
                return Err(LogoutRefused::Invalid("The sign-out request's state is too long."));
            }
            request.return_to = Some(with_state(uri, state));
        }
        Ok(request)
    }

    /// The application a sign-out request names; one named by `client_id`
    /// must exist, one only in an ID token's audience may since be gone.
    async fn logout_client(&self, id: &str, named: bool) -> Result<Arc<StoredClient>, LogoutRefused> {
        let unknown =
            LogoutRefused::Invalid("The application that sent you here is not registered or is disabled.");
        let Ok(client_id) = ClientId::parse(id) else {
            return Err(unknown);
        };
        match self.clients.find(self.store.as_ref(), &client_id, self.clock.now()).await {
            Ok(Some(client)) if client.client.enabled => Ok(client),
            Ok(_) => Err(if named {
                unknown
            } else {
                LogoutRefused::Invalid(
                    "The application this ID token was issued to is not registered any more.",
                )
            }),
            Err(StoreError::Unavailable(_)) => Err(LogoutRefused::Unavailable),
            Err(other) => {
                tracing::error!(error = ?other, "sign-out request failed");
                Err(LogoutRefused::Unavailable)
            }
        }
    }
}

fn with_state(uri: &str, state: Option<&str>) -> String {
    let Some(state) = state else {
        return uri.to_owned();
    };
    let query = form_urlencoded::Serializer::new(String::new()).append_pair("state", state).finish();
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_added_encoded() {
        assert_eq!(with_state("https://app.example/out", None), "https://app.example/out");
        assert_eq!(
            with_state("https://app.example/out?x=1", Some("a b&c")),
            "https://app.example/out?x=1&state=a+b%26c"
        );
    }
}
