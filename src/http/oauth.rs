//! `/oauth2/token`, `/oauth2/introspect`, `/oauth2/revoke`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;

use super::{oauth_error_response, AppState};
use crate::http::observe::client_address;
use crate::oauth::{OAuthError, Request};

/// Largest form body accepted (actix's own form default).
const BODY_LIMIT: usize = 16 * 1024;

pub async fn token(request: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let result = async {
        let body = form_body(&request, payload).await?;
        state.oauth.token(&core_request(&request, &body)).await
    }
    .await;
    match result {
        Ok(answer) => no_store(HttpResponse::Ok()).json(answer),
        Err(error) => oauth_error_response(&error),
    }
}

pub async fn introspect(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let result = async {
        let body = form_body(&request, payload).await?;
        state.oauth.introspect(&core_request(&request, &body)).await
    }
    .await;
    match result {
        Ok(answer) => no_store(HttpResponse::Ok()).json(answer),
        Err(error) => oauth_error_response(&error),
    }
}

pub async fn revoke(request: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let result = async {
        let body = form_body(&request, payload).await?;
        state.oauth.revoke(&core_request(&request, &body)).await
    }
    .await;
    match result {
        Ok(()) => no_store(HttpResponse::Ok()).finish(),
        Err(error) => oauth_error_response(&error),
    }
}

fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"));
    builder
}

fn core_request<'a>(request: &'a HttpRequest, body: &'a [u8]) -> Request<'a> {
    Request {
        authorization: request.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes()),
        body,
        peer: client_address(request),
    }
}

/// The body of a form POST: right content type, at most `BODY_LIMIT` bytes.
async fn form_body(request: &HttpRequest, mut payload: web::Payload) -> Result<web::BytesMut, OAuthError> {
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| OAuthError::invalid_request("the body could not be read"))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(OAuthError::invalid_request("the body is larger than 16 KiB"));
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(OAuthError::invalid_request("the body is empty"));
    }
    Ok(body)
}
