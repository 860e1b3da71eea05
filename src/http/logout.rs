//! `GET, POST /oauth2/logout`: ending the browser session at Tessera. GET
//! only shows a form (state never changes on GET); the POST needs the
//! session's CSRF token. There is no redirect afterwards, so nothing can
//! use this endpoint to send a browser elsewhere (SEC-A06).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use aws_lc_rs::constant_time;

use super::authorize::{error_page, html};
use super::AppState;
use crate::oauth::params::FormParams;

#[derive(Template)]
#[template(path = "auth/logout.html")]
struct LogoutPage<'a> {
    csrf_token: Option<&'a str>,
    username: &'a str,
}

pub async fn get(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let cookie = request.cookie(&state.cookies.name).map(|c| c.value().to_owned());
    let session = match &cookie {
        Some(value) => match state.sessions.load(value).await {
            Ok(session) => session,
            Err(_) => {
                return error_page(503, "Tessera cannot reach its database right now. Try again in a moment.")
            }
        },
        None => None,
    };
    match session.as_ref().and_then(|s| s.user.as_ref().map(|u| (s, u))) {
        Some((session, user)) => html(
            200,
            LogoutPage { csrf_token: Some(&session.csrf_token), username: user.username.as_str() }.render(),
        ),
        None => html(200, LogoutPage { csrf_token: None, username: "" }.render()),
    }
}

pub async fn post(request: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let Some(cookie) = request.cookie(&state.cookies.name).map(|c| c.value().to_owned()) else {
        return html(200, LogoutPage { csrf_token: None, username: "" }.render());
    };
    let session = match state.sessions.load(&cookie).await {
        Ok(session) => session,
        Err(_) => {
            return error_page(503, "Tessera cannot reach its database right now. Try again in a moment.")
        }
    };
    let token = FormParams::parse(&body).ok().and_then(|f| f.get("tessera_csrf").map(str::to_owned));
    let cross_site = request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    let valid = match (&session, token) {
        (Some(session), Some(token)) => {
            constant_time::verify_slices_are_equal(session.csrf_token.as_bytes(), token.as_bytes()).is_ok()
        }
        _ => false,
    };
    if !valid || cross_site {
        return error_page(403, "This form has expired or did not come from Tessera.");
    }
    if state.sessions.end(&cookie).await.is_err() {
        return error_page(503, "Tessera cannot reach its database right now. Try again in a moment.");
    }
    if let Some(user) = session.and_then(|s| s.user) {
        tracing::info!(target: "tessera::audit", user = %user.username, "signed out");
    }
    let mut response = html(200, LogoutPage { csrf_token: None, username: "" }.render());
    let mut expired = Cookie::build(state.cookies.name.clone(), "")
        .path("/")
        .http_only(true)
        .secure(state.cookies.secure)
        .same_site(SameSite::Lax)
        .finish();
    expired.make_removal();
    let _ = response.add_cookie(&expired);
    response.headers_mut().insert(
        header::HeaderName::from_static("clear-site-data"),
        header::HeaderValue::from_static("\"cookies\""),
    );
    response
}
