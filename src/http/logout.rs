//! `GET, POST /oauth2/logout`: ending the browser session at Tessera, and
//! the end-session endpoint of RP-Initiated Logout 1.0 over
//! `oauth::end_session`. A request tied to the signed-in person (their
//! `id_token_hint`) signs out at once; any other asks first, with a form
//! that needs the session's CSRF token. Afterwards the browser goes back
//! only to a post-logout redirect URI the application registered.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::pages::{error_page, form_is_ours, html, redirect, signed_out};
use super::AppState;
use crate::http::observe::client_address;
use crate::oauth::end_session::{LogoutRefused, LogoutRequest};
use crate::oauth::params::FormParams;
use crate::service::sessions::StoredSession;

/// Longest query or form read.
const REQUEST_LIMIT: usize = 16 * 1024;
/// The protocol parameters carried through the confirmation form.
const CARRIED: &[&str] = &["id_token_hint", "client_id", "post_logout_redirect_uri", "state"];

#[derive(Template)]
#[template(path = "auth/logout.html")]
struct LogoutPage<'a> {
    csrf_token: Option<&'a str>,
    username: &'a str,
    client_name: Option<&'a str>,
    params: Vec<(String, String)>,
}

impl LogoutPage<'_> {
    fn done() -> askama::Result<String> {
        LogoutPage { csrf_token: None, username: "", client_name: None, params: Vec::new() }.render()
    }
}

const UNAVAILABLE: &str = "Tessera cannot reach its database right now. Try again in a moment.";

pub async fn get(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = request.query_string();
    if query.len() > REQUEST_LIMIT {
        return error_page(414, "The request is too long.");
    }
    handle(&request, &state, query.as_bytes(), false).await
}

pub async fn post(request: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if body.len() > REQUEST_LIMIT {
        return error_page(413, "The request is too long.");
    }
    let form_encoded =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !body.is_empty() && !form_encoded {
        return error_page(400, "The request is malformed.");
    }
    handle(&request, &state, &body, true).await
}

async fn handle(request: &HttpRequest, state: &AppState, raw: &[u8], is_post: bool) -> HttpResponse {
    let Ok((params, repeated)) = FormParams::parse_noting_repeats(raw) else {
        return error_page(400, "The request is malformed.");
    };
    if repeated.iter().any(|r| CARRIED.contains(&r.as_str())) {
        return error_page(400, "The sign-out request repeats a parameter, so it cannot be trusted.");
    }
    let logout = match state.oauth.validate_logout(&params).await {
        Ok(logout) => logout,
        Err(LogoutRefused::Invalid(message)) => return error_page(400, message),
        Err(LogoutRefused::Unavailable) => return error_page(503, UNAVAILABLE),
    };
    let cookie = request.cookie(&state.cookies.name).map(|c| c.value().to_owned());
    let session = match &cookie {
        Some(value) => match state.sign_in.session(value).await {
            Ok(session) => session,
            Err(error) => {
                error.log("sign-out");
                return error_page(503, UNAVAILABLE);
            }
        },
        None => None,
    };
    let signed_in = session.as_ref().and_then(|s| s.user.as_ref().map(|user| (s, user)));
    let (Some(cookie), Some((session, user))) = (cookie, signed_in) else {
        // Nobody to sign out: straight on.
        return finish(&logout, is_post);
    };
    let confirmed = is_post && params.get("tessera_action") == Some("logout");
    if confirmed && !form_is_ours(request, Some(&session.csrf_token), params.get("tessera_csrf")) {
        return error_page(403, "This form has expired or did not come from Tessera.");
    }
    let theirs = logout.hinted_user.as_ref() == Some(&user.id);
    if !confirmed && !theirs {
        return confirmation(&logout, session, &params);
    }
    let place = logout.client_name().map(|name| format!("from {name}")).unwrap_or_default();
    if let Err(error) = state.sign_in.sign_out(&cookie, Some(user), client_address(request), &place).await {
        error.log("sign-out");
        return error_page(503, UNAVAILABLE);
    }
    signed_out(state, finish(&logout, is_post))
}

/// Back to the application's registered address, or the signed-out page.
fn finish(logout: &LogoutRequest, after_post: bool) -> HttpResponse {
    match &logout.return_to {
        Some(url) => redirect(url, after_post),
        None => html(200, LogoutPage::done()),
    }
}

/// "Sign out of Tessera?", carrying the request through the form.
fn confirmation(logout: &LogoutRequest, session: &StoredSession, params: &FormParams) -> HttpResponse {
    let username = session.user.as_ref().map(|u| u.username.to_string()).unwrap_or_default();
    let carried = CARRIED
        .iter()
        .filter_map(|name| params.get(name).map(|value| (name.to_string(), value.to_owned())))
        .collect();
    let page = LogoutPage {
        csrf_token: Some(&session.csrf_token),
        username: &username,
        client_name: logout.client_name(),
        params: carried,
    };
    html(200, page.render())
}
