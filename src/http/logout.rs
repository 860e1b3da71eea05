//! `GET, POST /oauth2/logout`: ending the browser session at Tessera. GET
//! only shows a form (state never changes on GET); the POST needs the
//! session's CSRF token. There is no redirect afterwards, so nothing can
//! use this endpoint to send a browser elsewhere (SEC-A06).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::pages::{error_page, form_is_ours, html, signed_out};
use super::AppState;
use crate::http::observe::client_address;
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
        Some(value) => match state.sign_in.session(value).await {
            Ok(session) => session,
            Err(error) => {
                error.log("sign-out page");
                return error_page(
                    503,
                    "Tessera cannot reach its database right now. Try again in a moment.",
                );
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
    let session = match state.sign_in.session(&cookie).await {
        Ok(session) => session,
        Err(error) => {
            error.log("sign-out");
            return error_page(503, "Tessera cannot reach its database right now. Try again in a moment.");
        }
    };
    let form = FormParams::parse(&body).ok();
    let token = form.as_ref().and_then(|f| f.get("tessera_csrf"));
    if !form_is_ours(&request, session.as_ref().map(|s| s.csrf_token.as_str()), token) {
        return error_page(403, "This form has expired or did not come from Tessera.");
    }
    if let Err(error) = state
        .sign_in
        .sign_out(&cookie, session.as_ref().and_then(|s| s.user.as_ref()), client_address(&request), "")
        .await
    {
        error.log("sign-out");
        return error_page(503, "Tessera cannot reach its database right now. Try again in a moment.");
    }
    signed_out(&state, html(200, LogoutPage { csrf_token: None, username: "" }.render()))
}
