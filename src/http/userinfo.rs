//! `GET, POST /oauth2/userinfo` with the bearer token in the header (or,
//! for POST, the form body), never the URL.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::AppState;
use crate::oauth::params::FormParams;
use crate::oauth::userinfo::{Bearer, UserinfoError};

const REALM: &str = "Bearer realm=\"tessera\"";

pub async fn get(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&state, bearer(&request, None)).await
}

pub async fn post(request: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let form = FormParams::parse(&body).ok();
    let in_body = form.as_ref().and_then(|f| f.get("access_token"));
    answer(&state, bearer(&request, in_body)).await
}

fn bearer<'a>(request: &'a HttpRequest, in_body: Option<&'a str>) -> Bearer<'a> {
    if request.query_string().split('&').any(|pair| pair.starts_with("access_token=")) {
        return Bearer::Misplaced("access tokens must not be sent in the URL");
    }
    let in_header =
        request.headers().get(header::AUTHORIZATION).map(|value| value.to_str().ok().and_then(bearer_token));
    match (in_header, in_body) {
        (Some(_), Some(_)) => Bearer::Misplaced("the token must be sent one way only"),
        (Some(Some(token)), None) => Bearer::Token(token),
        (Some(None), None) => Bearer::Misplaced("the Authorization header must be 'Bearer <token>'"),
        (None, Some(token)) => Bearer::Token(token),
        (None, None) => Bearer::Missing,
    }
}

/// The token of an `Authorization: Bearer <token>` header value (RFC 6750
/// §2.1; the scheme in any case), trimmed; None for another scheme or a
/// blank token. Shared with the admin API's caller check.
pub fn bearer_token(header: &str) -> Option<&str> {
    header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

async fn answer(state: &AppState, bearer: Bearer<'_>) -> HttpResponse {
    let (status, challenge, body) = match state.oauth.userinfo(bearer).await {
        Ok(claims) => {
            return HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(claims)
        }
        Err(UserinfoError::Missing) => (StatusCode::UNAUTHORIZED, REALM.to_owned(), None),
        Err(UserinfoError::InvalidRequest(why)) => (
            StatusCode::BAD_REQUEST,
            format!("{REALM}, error=\"invalid_request\", error_description=\"{why}\""),
            Some(json!({"error": "invalid_request", "error_description": why})),
        ),
        Err(UserinfoError::InvalidToken(why)) => (
            StatusCode::UNAUTHORIZED,
            format!("{REALM}, error=\"invalid_token\", error_description=\"{why}\""),
            Some(json!({"error": "invalid_token", "error_description": why})),
        ),
        Err(UserinfoError::InsufficientScope) => (
            StatusCode::FORBIDDEN,
            format!("{REALM}, error=\"insufficient_scope\", scope=\"openid\""),
            Some(
                json!({"error": "insufficient_scope", "error_description": "the token lacks the openid scope"}),
            ),
        ),
        Err(UserinfoError::Unavailable) => {
            return HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "5"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({"error": "temporarily_unavailable"}))
        }
        Err(UserinfoError::Server(cause)) => {
            tracing::error!(error = ?cause, "userinfo failed");
            return HttpResponse::InternalServerError().json(json!({"error": "server_error"}));
        }
    };
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    match body {
        Some(body) => response.json(body),
        None => response.finish(),
    }
}
