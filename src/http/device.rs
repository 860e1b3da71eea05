//! The device flow's HTTP side (RFC 8628): `POST
//! /oauth2/device_authorization` for the device, and the verification page
//! `/oauth2/device` where the person enters the user code, signs in and
//! approves, over the rules in `oauth::device`.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::pages::{error_page, form_is_ours, html, session_cookie};
use super::{oauth_error_response, AppState};
use crate::http::extract::OAuthForm;
use crate::http::oauth::{core_request, no_store};
use crate::http::observe::client_address;
use crate::oauth::device::{DeviceLookup, PendingDevice, Typist};
use crate::oauth::params::FormParams;
use crate::service::audit::Actor;
use crate::service::sessions::{Started, StoredSession};
use crate::service::sign_in::SignedIn;

/// Longest query or form read.
const REQUEST_LIMIT: usize = 8 * 1024;

pub async fn authorization(
    request: HttpRequest,
    form: OAuthForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state.oauth.device_authorization(&core_request(&request, &form.0)).await {
        Ok(answer) => no_store(HttpResponse::Ok()).json(answer),
        Err(error) => oauth_error_response(&error),
    }
}

/// Which page of the verification flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStep {
    EnterCode,
    SignIn,
    Confirm,
    Approved,
    Denied,
    /// Expired, answered or throttled: a page that says which.
    Closed,
}

#[derive(Template)]
#[template(path = "auth/device.html")]
struct DevicePage<'a> {
    step: DeviceStep,
    csrf_token: &'a str,
    user_code: &'a str,
    client_name: &'a str,
    username: &'a str,
    scopes: Vec<(String, String)>,
    /// Why each scope asked for that this person may not grant is left out.
    withheld: Vec<String>,
    error: Option<&'a str>,
}

const UNAVAILABLE: &str = "Tessera cannot reach its database right now. Try again in a moment.";

/// The visitor's session, or a new anonymous one to bind the form to.
struct Visit {
    session: Option<StoredSession>,
    cookie: Option<String>,
    started: Option<Started>,
}

impl Visit {
    fn csrf_token(&self) -> &str {
        match (&self.session, &self.started) {
            (Some(session), _) => &session.csrf_token,
            (None, Some(started)) => &started.csrf_token,
            (None, None) => "",
        }
    }
}

async fn visit(request: &HttpRequest, state: &AppState) -> Result<Visit, HttpResponse> {
    let cookie = request.cookie(&state.cookies.name).map(|c| c.value().to_owned());
    let session = match &cookie {
        Some(value) => state.sign_in.session(value).await.map_err(|error| {
            error.log("device page");
            error_page(503, UNAVAILABLE)
        })?,
        None => None,
    };
    let started = session.is_none().then(|| state.sessions.start_anonymous());
    Ok(Visit { session, cookie, started })
}

pub async fn get(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = request.query_string();
    if query.len() > REQUEST_LIMIT {
        return error_page(414, "The request is too long.");
    }
    let Ok(params) = FormParams::parse(query.as_bytes()) else {
        return error_page(400, "The request is malformed.");
    };
    let visit = match visit(&request, &state).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    let typed = params.get("user_code").unwrap_or_default();
    // verification_uri_complete carries the code: the person still
    // presses Continue, so a link alone never gets as far as sign-in.
    let page = render(&visit, DeviceStep::EnterCode, typed, None, None, 200);
    with_cookie(page, &state, &visit)
}

pub async fn post(request: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if body.len() > REQUEST_LIMIT {
        return error_page(413, "The request is too long.");
    }
    let Ok(params) = FormParams::parse(&body) else {
        return error_page(400, "The request is malformed.");
    };
    let visit = match visit(&request, &state).await {
        Ok(visit) => visit,
        Err(page) => return page,
    };
    let expected = visit.session.as_ref().map(|s| s.csrf_token.as_str());
    if !form_is_ours(&request, expected, params.get("tessera_csrf")) {
        return error_page(403, "This form has expired or did not come from Tessera. Open the page again.");
    }
    let typed = params.get("user_code").unwrap_or_default();
    let typist = Typist { session: visit.csrf_token().to_owned(), address: client_address(&request) };
    let device = match state.oauth.pending_device(typed, &typist).await {
        Ok(device) => device,
        Err(lookup) => return refused(&visit, typed, lookup),
    };
    let action = params.get("tessera_action").unwrap_or("code");
    let signed_in = visit.session.as_ref().and_then(|s| Some((s.user.as_ref()?, s.auth_time?)));
    match (action, signed_in) {
        ("login", _) => sign_in(&request, &state, &visit, &device, &params).await,
        ("approve", Some((user, auth_time))) => {
            let actor = Actor::new(user.username.as_str(), client_address(&request));
            match state.oauth.approve_device(&device, user, auth_time, &actor).await {
                Ok(true) => {
                    render(&visit, DeviceStep::Approved, &device.shown_code(), Some(&device), None, 200)
                }
                Ok(false) => refused(&visit, typed, DeviceLookup::Answered),
                Err(error) => refused(&visit, typed, DeviceLookup::Failed(error)),
            }
        }
        ("deny", Some((user, _))) => {
            let actor = Actor::new(user.username.as_str(), client_address(&request));
            match state.oauth.deny_device(&device, &actor).await {
                Ok(true) => {
                    render(&visit, DeviceStep::Denied, &device.shown_code(), Some(&device), None, 200)
                }
                Ok(false) => refused(&visit, typed, DeviceLookup::Answered),
                Err(error) => refused(&visit, typed, DeviceLookup::Failed(error)),
            }
        }
        (_, Some(_)) => confirm(&state, &visit, &device).await,
        (_, None) => render(&visit, DeviceStep::SignIn, &device.shown_code(), Some(&device), None, 200),
    }
}

/// The sign-in form was posted: check the password (behind the same
/// back-off as every sign-in), start a session, and ask for approval.
async fn sign_in(
    request: &HttpRequest,
    state: &AppState,
    visit: &Visit,
    device: &PendingDevice,
    params: &FormParams,
) -> HttpResponse {
    let login = params.get("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    let place = format!("to connect a device to {}", device.client.client.name);
    let outcome = state
        .sign_in
        .sign_in(login, password, visit.cookie.as_deref(), client_address(request), &place)
        .await;
    let signed_in: SignedIn = match outcome {
        Ok(Ok(signed_in)) => signed_in,
        Ok(Err(refused)) => {
            let message = refused.message();
            let page = DevicePage {
                step: DeviceStep::SignIn,
                csrf_token: visit.csrf_token(),
                user_code: &device.shown_code(),
                client_name: &device.client.client.name,
                username: login,
                scopes: Vec::new(),
                withheld: Vec::new(),
                error: Some(&message),
            };
            return html(refused.status(), page.render());
        }
        Err(error) => {
            error.log("device sign-in");
            return error_page(503, UNAVAILABLE);
        }
    };
    let (session, started) = signed_in.into_session();
    let signed_in = Visit { session: Some(session), cookie: Some(started.cookie.clone()), started: None };
    let mut response = confirm(state, &signed_in, device).await;
    let _ = response.add_cookie(&session_cookie(state, started.cookie));
    response
}

/// "Allow this app on your device?", with the scopes explained.
async fn confirm(state: &AppState, visit: &Visit, device: &PendingDevice) -> HttpResponse {
    let Some(user) = visit.session.as_ref().and_then(|s| s.user.as_ref()) else {
        return error_page(503, UNAVAILABLE);
    };
    let (scopes, withheld) = match state.admin.consent_scopes(user, &device.scope).await {
        Ok(lines) => lines,
        Err(error) => {
            error.log("device page");
            return error_page(503, UNAVAILABLE);
        }
    };
    let username = Some(user.username.to_string());
    let page = DevicePage {
        step: DeviceStep::Confirm,
        csrf_token: visit.csrf_token(),
        user_code: &device.shown_code(),
        client_name: &device.client.client.name,
        username: username.as_deref().unwrap_or_default(),
        scopes,
        withheld,
        error: None,
    };
    html(200, page.render())
}

/// A code that leads nowhere: back to the entry form, or a closed page.
fn refused(visit: &Visit, typed: &str, lookup: DeviceLookup) -> HttpResponse {
    match lookup {
        DeviceLookup::Unknown => render(
            visit,
            DeviceStep::EnterCode,
            typed,
            None,
            Some("That code is not right. Check it on your device and try again."),
            400,
        ),
        DeviceLookup::Throttled(wait) => {
            let message = format!("Too many wrong codes. Wait {wait} seconds before trying again.");
            render(visit, DeviceStep::Closed, typed, None, Some(&message), 429)
        }
        DeviceLookup::Expired => render(
            visit,
            DeviceStep::Closed,
            typed,
            None,
            Some("This code has expired. Start again on your device to get a new one."),
            400,
        ),
        DeviceLookup::Answered => render(
            visit,
            DeviceStep::Closed,
            typed,
            None,
            Some("This code has already been used. Start again on your device if it is not connected."),
            400,
        ),
        DeviceLookup::Failed(error) => {
            tracing::warn!(error = %error, "device verification failed");
            error_page(503, UNAVAILABLE)
        }
    }
}

fn render(
    visit: &Visit,
    step: DeviceStep,
    user_code: &str,
    device: Option<&PendingDevice>,
    error: Option<&str>,
    status: u16,
) -> HttpResponse {
    let page = DevicePage {
        step,
        csrf_token: visit.csrf_token(),
        user_code,
        client_name: device.map(|d| d.client.client.name.as_str()).unwrap_or_default(),
        username: "",
        scopes: Vec::new(),
        withheld: Vec::new(),
        error,
    };
    html(status, page.render())
}

fn with_cookie(mut response: HttpResponse, state: &AppState, visit: &Visit) -> HttpResponse {
    if let Some(started) = &visit.started {
        let _ = response.add_cookie(&session_cookie(state, started.cookie.clone()));
    }
    response
}
