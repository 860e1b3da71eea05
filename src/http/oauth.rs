//! `/oauth2/token`, `/oauth2/introspect`, `/oauth2/revoke`, `/oauth2/par`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{oauth_error_response, AppState};
use crate::http::extract::OAuthForm;
use crate::http::observe::client_address;
use crate::oauth::Request;

pub async fn token(request: HttpRequest, form: OAuthForm, state: web::Data<AppState>) -> HttpResponse {
    match state.oauth.token(&core_request(&request, &form.0)).await {
        Ok(answer) => no_store(HttpResponse::Ok()).json(answer),
        Err(error) => oauth_error_response(&error),
    }
}

pub async fn introspect(request: HttpRequest, form: OAuthForm, state: web::Data<AppState>) -> HttpResponse {
    match state.oauth.introspect(&core_request(&request, &form.0)).await {
        Ok(answer) => no_store(HttpResponse::Ok()).json(answer),
        Err(error) => oauth_error_response(&error),
    }
}

pub async fn revoke(request: HttpRequest, form: OAuthForm, state: web::Data<AppState>) -> HttpResponse {
    match state.oauth.revoke(&core_request(&request, &form.0)).await {
        Ok(()) => no_store(HttpResponse::Ok()).finish(),
        Err(error) => oauth_error_response(&error),
    }
}

/// `POST /oauth2/par` (RFC 9126): 201 with the `request_uri`.
pub async fn pushed_request(
    request: HttpRequest,
    form: OAuthForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state.oauth.push_authorization_request(&core_request(&request, &form.0)).await {
        Ok(answer) => no_store(HttpResponse::Created()).json(answer),
        Err(error) => oauth_error_response(&error),
    }
}

pub(super) fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"));
    builder
}

pub(super) fn core_request<'a>(request: &'a HttpRequest, body: &'a [u8]) -> Request<'a> {
    Request {
        authorization: request.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes()),
        body,
        peer: client_address(request),
    }
}
