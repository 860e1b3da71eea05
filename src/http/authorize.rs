//! `GET, POST /oauth2/authorize`: the pages of the authorization code flow
//! (sign-in, consent, error) over the rules in `oauth::authorize`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use futures_util::StreamExt as _;

use super::pages::{error_page, form_is_ours, html, redirect, session_cookie};
use super::AppState;
use crate::domain::User;
use crate::http::observe::client_address;
use crate::oauth::authorize::{AuthorizationRequest, AuthorizeError, Next, FORM_FIELDS};
use crate::oauth::params::FormParams;
use crate::service::sessions::Started;
use crate::service::sessions::StoredSession;
use crate::service::sign_in::SignedIn;

/// Longest query or form accepted.
const REQUEST_LIMIT: usize = 16 * 1024;

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage<'a> {
    client_name: &'a str,
    error: Option<&'a str>,
    params: Vec<(String, String)>,
    csrf_token: &'a str,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "auth/consent.html")]
struct ConsentPage<'a> {
    client_name: &'a str,
    username: &'a str,
    scopes: Vec<(String, String)>,
    /// Why each scope asked for that this person may not grant is left out.
    withheld: Vec<String>,
    /// Claims asked for by name beyond what the scopes release.
    claims: Vec<String>,
    params: Vec<(String, String)>,
    csrf_token: &'a str,
}

pub async fn get(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = request.query_string();
    if query.len() > REQUEST_LIMIT {
        return error_page(414, "The request is too long.");
    }
    handle(&request, &state, query.as_bytes(), false).await
}

pub async fn post(
    request: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return error_page(400, "The request is malformed.");
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return error_page(400, "The request is malformed.");
        };
        if body.len() + chunk.len() > REQUEST_LIMIT {
            return error_page(413, "The request is too long.");
        }
        body.extend_from_slice(&chunk);
    }
    handle(&request, &state, &body, true).await
}

async fn handle(request: &HttpRequest, state: &AppState, raw: &[u8], is_post: bool) -> HttpResponse {
    let Ok((params, repeated)) = FormParams::parse_noting_repeats(raw) else {
        return error_page(400, "The request is malformed.");
    };
    let auth = match state.oauth.validate_authorization(&params, &repeated).await {
        Ok(auth) => auth,
        Err(error) => return authorize_error(error, is_post),
    };
    let cookie = request.cookie(&state.cookies.name).map(|c| c.value().to_owned());
    let session = match &cookie {
        Some(value) => match state.sign_in.session(value).await {
            Ok(session) => session,
            Err(error) => {
                error.log("authorization page");
                return unavailable(&state.oauth, &auth);
            }
        },
        None => None,
    };
    let carried = carried_params(&params);

    if is_post {
        if let Some(action) = params.get("tessera_action") {
            if !form_is_ours(
                request,
                session.as_ref().map(|s| s.csrf_token.as_str()),
                params.get("tessera_csrf"),
            ) {
                return error_page(
                    403,
                    "This form has expired or did not come from Tessera. Go back to the application and start again.",
                );
            }
            match action {
                "login" => {
                    return sign_in(
                        request,
                        state,
                        &auth,
                        &params,
                        &carried,
                        cookie.as_deref(),
                        session.as_ref(),
                    )
                    .await
                }
                "consent" => {
                    if let Some((user, auth_time)) = signed_in(session.as_ref()) {
                        return match state.oauth.approve(&auth, user, auth_time).await {
                            Ok(url) => redirect(&url, true),
                            Err(error) => authorize_error(error, true),
                        };
                    }
                }
                "deny" => return redirect(&state.oauth.deny(&auth).await, true),
                _ => {}
            }
        }
    }

    let hint = auth.login_hint.as_deref().unwrap_or_default();
    match state.oauth.next_step(&auth, session.as_ref(), false).await {
        Ok(Next::Redirect(url)) => redirect(&url, is_post),
        Ok(Next::Consent) => match &session {
            Some(session) => consent_page(state, &auth, session, &carried).await,
            // Consent is asked only of a signed-in visitor; anyone else signs in first.
            None => login_page(state, &auth, None, &carried, None, hint, 200).await,
        },
        Ok(Next::SignIn) => login_page(state, &auth, session.as_ref(), &carried, None, hint, 200).await,
        Err(error) => authorize_error(error, is_post),
    }
}

/// The login form was posted: check the password (behind the back-off),
/// start a new session, and go on to consent or back to the client.
async fn sign_in(
    request: &HttpRequest,
    state: &AppState,
    auth: &AuthorizationRequest,
    params: &FormParams,
    carried: &[(String, String)],
    old_cookie: Option<&str>,
    current: Option<&StoredSession>,
) -> HttpResponse {
    let login = params.get("username").unwrap_or_default();
    let password = params.get("password").unwrap_or_default();
    let place = format!("to authorize {}", auth.client.client.name);
    let peer = client_address(request);
    let signed_in: SignedIn = match state.sign_in.sign_in(login, password, old_cookie, peer, &place).await {
        Ok(Ok(signed_in)) => signed_in,
        Ok(Err(refused)) => {
            let message = refused.message();
            return login_page(state, auth, current, carried, Some(&message), login, refused.status()).await;
        }
        Err(error) => {
            error.log("sign-in");
            return unavailable(&state.oauth, auth);
        }
    };
    let (session, started) = signed_in.into_session();
    let mut response = match state.oauth.next_step(auth, Some(&session), true).await {
        Ok(Next::Redirect(url)) => redirect(&url, true),
        Ok(Next::Consent) => consent_page(state, auth, &session, carried).await,
        Ok(Next::SignIn) => login_page(state, auth, Some(&session), carried, None, "", 200).await,
        Err(error) => authorize_error(error, true),
    };
    set_session_cookie(&mut response, state, &started);
    response
}

fn signed_in(session: Option<&StoredSession>) -> Option<(&User, crate::domain::UnixTime)> {
    let session = session?;
    let user = session.user.as_ref().filter(|u| u.enabled)?;
    Some((user, session.auth_time?))
}

async fn login_page(
    state: &AppState,
    auth: &AuthorizationRequest,
    session: Option<&StoredSession>,
    carried: &[(String, String)],
    error: Option<&str>,
    username: &str,
    status: u16,
) -> HttpResponse {
    // The form needs a session to bind its CSRF token to; before sign-in
    // that is an anonymous one, held in the cookie alone (nothing stored)
    // and replaced at sign-in.
    let (csrf_token, started) = match session {
        Some(session) => (session.csrf_token.clone(), None),
        None => {
            let started = state.sessions.start_anonymous();
            (started.csrf_token.clone(), Some(started))
        }
    };
    let page = LoginPage {
        client_name: &auth.client.client.name,
        error,
        params: carried.to_vec(),
        csrf_token: &csrf_token,
        username,
    };
    let mut response = html(status, page.render());
    if let Some(started) = started {
        set_session_cookie(&mut response, state, &started);
    }
    response
}

async fn consent_page(
    state: &AppState,
    auth: &AuthorizationRequest,
    session: &StoredSession,
    carried: &[(String, String)],
) -> HttpResponse {
    let Some(user) = session.user.as_ref() else {
        return unavailable(&state.oauth, auth);
    };
    let (scopes, withheld) = match state.admin.consent_scopes(user, &auth.scope).await {
        Ok(lines) => lines,
        Err(error) => {
            error.log("consent page");
            return unavailable(&state.oauth, auth);
        }
    };
    let username = user.username.to_string();
    let page = ConsentPage {
        client_name: &auth.client.client.name,
        username: &username,
        scopes,
        withheld,
        claims: auth.claims.beyond(&auth.scope, &state.oauth.config().username_claim),
        params: carried.to_vec(),
        csrf_token: &session.csrf_token,
    };
    html(200, page.render())
}

/// The protocol parameters to carry through our forms.
fn carried_params(params: &FormParams) -> Vec<(String, String)> {
    let mut carried: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| !FORM_FIELDS.contains(name))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    carried.sort();
    carried
}

fn set_session_cookie(response: &mut HttpResponse, state: &AppState, started: &Started) {
    let _ = response.add_cookie(&session_cookie(state, started.cookie.clone()));
}

fn authorize_error(error: AuthorizeError, after_post: bool) -> HttpResponse {
    match error {
        AuthorizeError::Page { status, message } => error_page(status, &message),
        AuthorizeError::Redirect(url) => redirect(&url, after_post),
    }
}

fn unavailable(oauth: &crate::oauth::OAuthServer, auth: &AuthorizationRequest) -> HttpResponse {
    let url = auth.response_url(
        &oauth.config().issuer,
        &[("error", "temporarily_unavailable"), ("error_description", "try again in a moment")],
    );
    redirect(&url, false)
}
