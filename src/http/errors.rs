//! OAuth errors as HTTP: JSON body of RFC 6749 §5.2, `no-store`, 401 with
//! `WWW-Authenticate` for client-authentication failures, 503 with
//! `Retry-After` when the database is away.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;

use crate::oauth::OAuthError;

pub fn oauth_error_response(error: &OAuthError) -> HttpResponse {
    let status = match error {
        OAuthError::InvalidClient { .. } | OAuthError::InvalidClientAssertion(_) => StatusCode::UNAUTHORIZED,
        OAuthError::SlowDown { .. } => StatusCode::TOO_MANY_REQUESTS,
        OAuthError::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        OAuthError::ServerError(cause) => {
            tracing::error!(error = ?cause, "request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"));
    match error {
        // HTTP requires a challenge with every 401 (RFC 9110 §15.5.2).
        OAuthError::InvalidClient { .. } | OAuthError::InvalidClientAssertion(_) => {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"tessera\""));
        }
        OAuthError::TemporarilyUnavailable => {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        OAuthError::SlowDown { retry_after } => {
            response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        _ => {}
    }
    response.json(json!({"error": error.code(), "error_description": error.description()}))
}

/// The OAuth endpoints take POST only (RFC 6749 §3.2; RFC 7662 §4 keeps
/// tokens out of URLs and logs).
pub async fn post_only() -> HttpResponse {
    let mut response = oauth_error_response(&OAuthError::invalid_request("this endpoint accepts POST only"));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    response
}
