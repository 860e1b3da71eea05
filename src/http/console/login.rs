//! Signing in to and out of the console.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{see_other, unavailable, visitor, Form};
use crate::domain::Role;
use crate::http::extract::VisitorForm;
use crate::http::observe::client_address;
use crate::http::pages::{form_is_ours, html, session_cookie, signed_out};
use crate::http::AppState;
use crate::service::sessions::StoredSession;

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    error: Option<&'a str>,
    csrf_token: &'a str,
    username: &'a str,
    next: &'a str,
}

/// `GET /console`: the dashboard for admins, the self-service pages for others.
pub async fn home(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match visitor(&request, &state).await {
        Ok(visitor) if visitor.user.role == Role::Admin => see_other("/console/dashboard"),
        Ok(_) => see_other("/console/me"),
        Err(redirect) => redirect,
    }
}

pub async fn form(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let next = next_of(&request);
    if let Ok(visitor) = visitor(&request, &state).await {
        let _ = visitor;
        return see_other(&next);
    }
    page(&request, &state, None, "", &next, 200).await
}

pub async fn submit(request: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let form = Form::parse(&body);
    let next = safe_next(form.get("next").unwrap_or("/console"));
    let cookie = request.cookie(&state.cookies.name).map(|c| c.value().to_owned());
    let session = match &cookie {
        Some(value) => match state.sign_in.session(value).await {
            Ok(session) => session,
            Err(error) => {
                error.log("console sign-in");
                return unavailable();
            }
        },
        None => None,
    };
    if !form_is_ours(&request, session.as_ref().map(|s| s.csrf_token.as_str()), form.get("tessera_csrf")) {
        let message = "The sign-in form expired. Please try again.";
        return page(&request, &state, Some(message), "", &next, 403).await;
    }
    let login = form.text("username");
    let password = form.0.iter().find(|(n, _)| n == "password").map(|(_, v)| v.as_str()).unwrap_or_default();
    let peer = client_address(&request);
    match state.sign_in.sign_in(&login, password, cookie.as_deref(), peer, "to the console").await {
        Ok(Ok(signed_in)) => {
            let mut response = see_other(&next);
            let _ = response.add_cookie(&session_cookie(&state, signed_in.started.cookie));
            response
        }
        Ok(Err(refused)) => {
            page(&request, &state, Some(&refused.message()), &login, &next, refused.status()).await
        }
        Err(error) => {
            error.log("console sign-in");
            unavailable()
        }
    }
}

/// `POST /console/logout`: ends the session (CSRF-checked).
pub async fn logout(
    VisitorForm(visitor, _): VisitorForm,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Some(cookie) = request.cookie(&state.cookies.name) {
        let peer = client_address(&request);
        if let Err(error) =
            state.sign_in.sign_out(cookie.value(), Some(&visitor.user), peer, "from the console").await
        {
            error.log("console sign-out");
            return unavailable();
        }
    }
    signed_out(&state, see_other("/console/login"))
}

async fn page(
    request: &HttpRequest,
    state: &AppState,
    error: Option<&str>,
    username: &str,
    next: &str,
    status: u16,
) -> HttpResponse {
    // The form's CSRF token lives in a session; before sign-in an anonymous
    // one, held in the cookie alone (nothing stored).
    let cookie = request.cookie(&state.cookies.name).map(|c| c.value().to_owned());
    let existing: Option<StoredSession> = match &cookie {
        // A session that cannot be read is replaced by an anonymous one; the
        // form still works.
        Some(value) => {
            state.sign_in.session(value).await.inspect_err(|e| e.log("sign-in page")).ok().flatten()
        }
        None => None,
    };
    let (csrf_token, started) = match existing {
        Some(session) => (session.csrf_token, None),
        None => {
            let started = state.sessions.start_anonymous();
            (started.csrf_token.clone(), Some(started))
        }
    };
    let mut response = html(status, LoginPage { error, csrf_token: &csrf_token, username, next }.render());
    if let Some(started) = started {
        let _ = response.add_cookie(&session_cookie(state, started.cookie));
    }
    response
}

fn next_of(request: &HttpRequest) -> String {
    let next = url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "next")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    safe_next(&next)
}

/// Only a console path: never another site (no open redirect).
pub(super) fn safe_next(next: &str) -> String {
    let ok = next.starts_with("/console")
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.chars().all(|c| !c.is_control());
    if ok {
        next.to_owned()
    } else {
        "/console".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_in_the_console() {
        assert_eq!(safe_next("/console/apps?q=x"), "/console/apps?q=x");
        for bad in
            ["https://evil.example/", "//evil.example", "/console\\..", "/oauth2/token", "/console\r\nx"]
        {
            assert_eq!(safe_next(bad), "/console", "{bad:?}");
        }
    }
}
