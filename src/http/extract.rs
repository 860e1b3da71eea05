//! Actix extractors: who is asking, and what they posted. A handler names
//! what it needs in its arguments (`Admin(visitor): Admin`,
//! `AdminForm(visitor, form): AdminForm`, `caller: AdminCaller`); when the
//! request does not qualify, the extractor answers for it (the sign-in
//! redirect, the "admins only" page, a 401 with its challenge) and the
//! handler never runs. `OAuthForm` is the body of a back-channel OAuth
//! request, refused with the RFC's `invalid_request`.

use std::future::Future;

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt as _;

use super::console::{self, Form, Visitor};
use super::{oauth_error_response, AppState};
use crate::oauth::OAuthError;
use crate::service::audit::Actor;

/// An extractor's refusal: the answer it already made.
fn refused(response: HttpResponse) -> actix_web::Error {
    InternalError::from_response("refused", response).into()
}

/// The server's state. The route table always registers it: a missing one
/// is a wiring bug, answered as the server's own error.
fn state(request: &HttpRequest) -> Result<web::Data<AppState>, actix_web::Error> {
    request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("the server's state is not registered"))
}

/// The common shape of the extractors that read no body: `check` gets the
/// request and the server's state, and its refusal is the answer.
fn checked<T, Checked>(
    request: &HttpRequest,
    check: impl FnOnce(HttpRequest, web::Data<AppState>) -> Checked + 'static,
) -> LocalBoxFuture<'static, Result<T, actix_web::Error>>
where
    T: 'static,
    Checked: Future<Output = Result<T, HttpResponse>> + 'static,
{
    let request = request.clone();
    Box::pin(async move {
        let state = state(&request)?;
        check(request, state).await.map_err(refused)
    })
}

impl FromRequest for Visitor {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    /// The signed-in person, or a redirect to the console's sign-in page.
    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        checked(request, |request, state| async move { console::visitor(&request, &state).await })
    }
}

/// A signed-in administrator; anyone else gets the "admins only" page.
pub struct Admin(pub Visitor);

impl FromRequest for Admin {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        checked(request, |request, state| async move { console::admin(&request, &state).await.map(Admin) })
    }
}

/// A console form posted by a signed-in administrator, with its CSRF
/// token checked.
pub struct AdminForm(pub Visitor, pub Form);

/// A console form posted by any signed-in person, with its CSRF token checked.
pub struct VisitorForm(pub Visitor, pub Form);

fn posted(
    request: &HttpRequest,
    payload: &mut Payload,
    admin_only: bool,
) -> LocalBoxFuture<'static, Result<(Visitor, Form), actix_web::Error>> {
    let request = request.clone();
    let body = web::Bytes::from_request(&request, payload);
    Box::pin(async move {
        let body = body.await?;
        let state = state(&request)?;
        console::posted(&request, &state, &body, admin_only).await.map_err(refused)
    })
}

impl FromRequest for AdminForm {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let posted = posted(request, payload, true);
        Box::pin(async move { posted.await.map(|(visitor, form)| AdminForm(visitor, form)) })
    }
}

impl FromRequest for VisitorForm {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let posted = posted(request, payload, false);
        Box::pin(async move { posted.await.map(|(visitor, form)| VisitorForm(visitor, form)) })
    }
}

/// A bearer token that may call the admin API: who it acts for. Anyone
/// else gets 401 (with its challenge) or 403.
pub struct AdminCaller(pub Actor);

impl FromRequest for AdminCaller {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        checked(request, |request, state| async move {
            super::api::caller(&request, &state).await.map(AdminCaller)
        })
    }
}

/// Largest form body accepted (actix's own form default).
const BODY_LIMIT: usize = 16 * 1024;

/// The body of a form POST to a back-channel endpoint: the right content
/// type, at most `BODY_LIMIT` bytes, not empty. Anything else is answered
/// as the RFC's `invalid_request` before the handler runs.
pub struct OAuthForm(pub web::BytesMut);

impl FromRequest for OAuthForm {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let payload = payload.take();
        Box::pin(async move {
            form_body(&request, payload)
                .await
                .map(OAuthForm)
                .map_err(|error| InternalError::from_response("refused", oauth_error_response(&error)).into())
        })
    }
}

async fn form_body(request: &HttpRequest, mut payload: Payload) -> Result<web::BytesMut, OAuthError> {
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
