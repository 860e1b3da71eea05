//! Pushed authorization requests (RFC 9126): the client sends its
//! authorization request to `/oauth2/par` with its own authentication and
//! gets a `request_uri` to send the browser with instead — the request's
//! parameters never travel through the browser, and nobody can change
//! them there. The request is checked here exactly as the authorization
//! endpoint would check it, with the errors as JSON.

use serde::Serialize;

use super::authorize::Refused;
use super::params::FormParams;
use super::{OAuthError, OAuthServer, Request};
use crate::crypto::secrets::random_id;
use crate::store::NewPushedRequest;

/// The prefix of every `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request waits to be opened.
pub const PUSHED_REQUEST_LIFETIME_SECONDS: i64 = 90;
/// Client authentication is the endpoint's, not the request's: never kept.
const CLIENT_AUTHENTICATION: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// The answer of RFC 9126 §2.2 (status 201).
#[derive(Debug, Serialize)]
pub struct PushedAuthorization {
    pub request_uri: String,
    pub expires_in: i64,
}

impl OAuthServer {
    pub async fn push_authorization_request(
        &self,
        request: &Request<'_>,
    ) -> Result<PushedAuthorization, OAuthError> {
        let params = FormParams::parse(request.body)?;
        let now = self.clock.now();
        let client = self.authenticate(request, &params, now).await?;
        if params.get("request_uri").is_some() {
            return Err(OAuthError::invalid_request("request_uri cannot be pushed: push the request itself"));
        }
        if params.get("client_id").is_some_and(|id| id != client.client.id.as_str()) {
            return Err(OAuthError::invalid_request("client_id is not the client that authenticated"));
        }
        let kept = params.to_query(CLIENT_AUTHENTICATION);
        // Stored with the client's id, whether it came in the body or in Basic.
        let kept = if params.get("client_id").is_some() {
            kept
        } else {
            let id = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", client.client.id.as_str())
                .finish();
            if kept.is_empty() {
                id
            } else {
                format!("{kept}&{id}")
            }
        };
        let pushed = FormParams::parse(kept.as_bytes())?;
        self.read_authorization(client.clone(), &pushed, &[]).await.map_err(as_oauth_error)?;
        let request_uri = format!("{REQUEST_URI_PREFIX}{}", random_id(32));
        let record = NewPushedRequest {
            request_uri_hash: self.hasher.digest(&request_uri),
            client_id: client.client.id.clone(),
            params: kept,
            created_at: now,
            expires_at: now.plus(PUSHED_REQUEST_LIFETIME_SECONDS),
        };
        self.store.create_pushed_request(&record).await?;
        Ok(PushedAuthorization { request_uri, expires_in: PUSHED_REQUEST_LIFETIME_SECONDS })
    }
}

/// What the authorization endpoint would show or send back, as the JSON
/// error of RFC 9126 §2.3.
fn as_oauth_error(refused: Refused) -> OAuthError {
    match refused {
        Refused::Page { status: 503, .. } => OAuthError::TemporarilyUnavailable,
        Refused::Page { status: 500.., message } => OAuthError::ServerError(anyhow::anyhow!(message)),
        Refused::Page { message, .. } => OAuthError::InvalidRequest(message),
        Refused::Back { code, description, .. } => match code {
            "invalid_request" => OAuthError::InvalidRequest(description),
            "invalid_scope" => OAuthError::InvalidScope(description),
            "unauthorized_client" => OAuthError::UnauthorizedClient(description),
            "temporarily_unavailable" => OAuthError::TemporarilyUnavailable,
            "server_error" => OAuthError::ServerError(anyhow::anyhow!(description)),
            other => OAuthError::Authorization { code: other, description },
        },
    }
}
