//! The web console under `/console`: server-rendered pages (askama), forms
//! that work without JavaScript, every state change a POST carrying the
//! session's CSRF token. Admin pages need the `admin` role; the self-service
//! pages (`/console/me…`) any signed-in user. Handlers here only read the
//! request, call `Admin` / `Accounts` / `Audit`, and render.

mod apps;
mod audit;
mod dashboard;
mod directory;
mod jira;
mod keys;
mod login;
mod me;
mod scopes;
mod service_accounts;
mod tokens;
mod trusts;
mod users;

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::pages::{form_is_ours, html};
use super::AppState;
use crate::domain::{FormFields, InvalidInput, Role, UnixTime, User};
use crate::http::observe::client_address;
use crate::service::audit::Actor;
use crate::service::submissions::{self, Claim};
use crate::service::ServiceError;

/// The route table of the console.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/console", web::get().to(login::home))
        .route("/console/", web::get().to(login::home))
        .route("/console/login", web::get().to(login::form))
        .route("/console/login", web::post().to(login::submit))
        .route("/console/logout", web::post().to(login::logout))
        .route("/console/dashboard", web::get().to(dashboard::show))
        .route("/console/directory", web::get().to(directory::show))
        .route("/console/directory/test", web::post().to(directory::test))
        .route("/console/directory/sync", web::post().to(directory::sync))
        .route("/console/apps", web::get().to(apps::list))
        .route("/console/apps", web::post().to(apps::create))
        .route("/console/apps/new", web::get().to(apps::new_form))
        .route("/console/apps/{id}", web::get().to(apps::show))
        .route("/console/apps/{id}/edit", web::get().to(apps::edit_form))
        .route("/console/apps/{id}/edit", web::post().to(apps::update))
        .route("/console/apps/{id}/rotate-secret", web::post().to(apps::rotate_secret))
        .route("/console/apps/{id}/revoke-tokens", web::post().to(apps::revoke_tokens))
        .route("/console/apps/{id}/enable", web::post().to(apps::enable))
        .route("/console/apps/{id}/disable", web::post().to(apps::disable))
        .route("/console/apps/{id}/delete", web::get().to(apps::delete_form))
        .route("/console/apps/{id}/delete", web::post().to(apps::delete))
        .route("/console/grants/{id}/revoke", web::post().to(users::revoke_grant))
        .route("/console/trusts", web::get().to(trusts::list))
        .route("/console/trusts", web::post().to(trusts::create))
        .route("/console/trusts/new", web::get().to(trusts::new_form))
        .route("/console/trusts/{id}/enable", web::post().to(trusts::enable))
        .route("/console/trusts/{id}/disable", web::post().to(trusts::disable))
        .route("/console/trusts/{id}/delete", web::post().to(trusts::delete))
        .route("/console/service-accounts", web::get().to(service_accounts::service_accounts))
        .route("/console/service-accounts", web::post().to(service_accounts::create_service_account))
        .route("/console/service-accounts/new", web::get().to(service_accounts::new_service_account))
        .route("/console/service-accounts/{name}/edit", web::get().to(service_accounts::edit_service_account))
        .route(
            "/console/service-accounts/{name}/edit",
            web::post().to(service_accounts::update_service_account),
        )
        .route(
            "/console/service-accounts/{name}/enable",
            web::post().to(service_accounts::enable_service_account),
        )
        .route(
            "/console/service-accounts/{name}/disable",
            web::post().to(service_accounts::disable_service_account),
        )
        .route("/console/users", web::get().to(users::users))
        .route("/console/users", web::post().to(users::create_user))
        .route("/console/users/new", web::get().to(users::new_user))
        .route("/console/users/{name}", web::get().to(users::show_user))
        .route("/console/users/{name}/edit", web::post().to(users::update_user))
        .route("/console/users/{name}/password", web::post().to(users::reset_password))
        .route("/console/users/{name}/enable", web::post().to(users::enable_user))
        .route("/console/users/{name}/disable", web::post().to(users::disable_user))
        .route("/console/users/{name}/revoke-grants", web::post().to(users::revoke_user_grants))
        .route("/console/scopes", web::get().to(scopes::list))
        .route("/console/scopes", web::post().to(scopes::create))
        .route("/console/scopes/new", web::get().to(scopes::new_form))
        .route("/console/scopes/{name}/edit", web::get().to(scopes::edit_form))
        .route("/console/scopes/{name}/edit", web::post().to(scopes::update))
        .route("/console/keys", web::get().to(keys::list))
        .route("/console/keys/rotate", web::post().to(keys::rotate))
        .route("/console/audit", web::get().to(audit::list))
        .route("/console/jira", web::get().to(jira::show))
        .route("/console/jira/client", web::post().to(jira::create_client))
        .route("/console/jira/test", web::post().to(jira::test))
        .route("/console/me", web::get().to(me::apps))
        .route("/console/me/grants/{id}/revoke", web::post().to(me::revoke_grant))
        .route("/console/me/consents/{client}/revoke", web::post().to(me::revoke_consent))
        .route("/console/me/tokens", web::get().to(tokens::mine))
        .route("/console/me/tokens", web::post().to(tokens::create))
        .route("/console/me/tokens/{id}/revoke", web::post().to(tokens::revoke_mine))
        .route("/console/personal-tokens", web::get().to(tokens::all))
        .route("/console/personal-tokens/{id}/revoke", web::post().to(tokens::revoke_any))
        .route("/console/me/password", web::get().to(me::password_form))
        .route("/console/me/password", web::post().to(me::change_password))
        .route("/assets/console.js", web::get().to(script));
}

/// What every console page shows around its content.
pub struct Layout {
    pub username: String,
    pub admin: bool,
    pub csrf_token: String,
    pub section: &'static str,
    pub notice: Option<&'static str>,
}

/// A signed-in person on a console page.
pub struct Visitor {
    pub user: User,
    pub csrf_token: String,
    pub peer: Option<IpAddr>,
}

impl Visitor {
    pub fn actor(&self) -> Actor {
        Actor::new(self.user.username.as_str(), self.peer)
    }

    pub fn layout(&self, section: &'static str, notice: Option<&'static str>) -> Layout {
        Layout {
            username: self.user.username.to_string(),
            admin: self.user.role == Role::Admin,
            csrf_token: self.csrf_token.clone(),
            section,
            notice,
        }
    }
}

/// The signed-in user, or a redirect to the console's sign-in page.
pub async fn visitor(request: &HttpRequest, state: &AppState) -> Result<Visitor, HttpResponse> {
    let cookie = request.cookie(&state.cookies.name).map(|c| c.value().to_owned());
    let session = match &cookie {
        Some(value) => state.sign_in.session(value).await.map_err(|error| {
            error.log("console");
            unavailable()
        })?,
        None => None,
    };
    let signed_in = session.and_then(|s| s.user.filter(|u| u.enabled).map(|user| (user, s.csrf_token)));
    match signed_in {
        Some((user, csrf_token)) => Ok(Visitor { user, csrf_token, peer: client_address(request) }),
        None => {
            let next = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/console");
            let location = format!(
                "/console/login?{}",
                url::form_urlencoded::Serializer::new(String::new()).append_pair("next", next).finish()
            );
            Err(see_other(&location))
        }
    }
}

/// A signed-in admin; anyone else gets 403.
pub async fn admin(request: &HttpRequest, state: &AppState) -> Result<Visitor, HttpResponse> {
    let visitor = visitor(request, state).await?;
    if visitor.user.role != Role::Admin {
        return Err(message(
            &visitor,
            403,
            "Admins only",
            "This page is for Tessera administrators. Ask an admin if you need something changed.",
            "/console/me",
        ));
    }
    Ok(visitor)
}

/// A form posted by a signed-in user: the CSRF token must match and the
/// browser must not call the post cross-site.
pub async fn posted(
    request: &HttpRequest,
    state: &AppState,
    body: &[u8],
    admin_only: bool,
) -> Result<(Visitor, Form), HttpResponse> {
    let visitor = if admin_only { admin(request, state).await? } else { visitor(request, state).await? };
    let form = Form::parse(body);
    if !form_is_ours(request, Some(&visitor.csrf_token), form.get("tessera_csrf")) {
        return Err(message(
            &visitor,
            403,
            "This form cannot be used",
            "The form has expired or did not come from this console. Reload the page and try again.",
            "/console",
        ));
    }
    Ok((visitor, form))
}

/// An `application/x-www-form-urlencoded` body, repeated names kept.
#[derive(Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, trimmed; None when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.trim().to_owned()).collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// The app form's fields, as `ClientDraft::from_form` reads them: a
/// field sent once per ticked box or one per line of a text area is a list.
impl FormFields for Form {
    fn text(&self, name: &str) -> String {
        Form::text(self, name)
    }

    fn lines(&self, name: &str) -> Vec<String> {
        let values = self.all(name);
        values
            .iter()
            .flat_map(|v| v.lines())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn checked(&self, name: &str) -> bool {
        Form::checked(self, name)
    }
}

/// Field-level errors of a form: the field's name and the message.
#[derive(Default, Debug)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.for_field(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    pub fn add_invalid(&mut self, error: &InvalidInput) {
        self.add(error.field.unwrap_or(""), error.message.clone());
    }

    pub fn for_field(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }

    pub fn general(&self) -> Option<&str> {
        self.for_field("")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    layout: Layout,
    title: &'a str,
    message: &'a str,
    back: &'a str,
}

pub fn message(visitor: &Visitor, status: u16, title: &str, text: &str, back: &str) -> HttpResponse {
    html(status, MessagePage { layout: visitor.layout("", None), title, message: text, back }.render())
}

/// The answer to a failed operation: a readable page, never a secret.
/// The one mapping of a service's error for the console.
pub fn failure(visitor: &Visitor, error: impl Into<ServiceError>, back: &str) -> HttpResponse {
    let error = error.into();
    error.log("console");
    match error {
        ServiceError::Invalid(invalid) => {
            message(visitor, 400, "That cannot be done", &invalid.message, back)
        }
        ServiceError::NotFound(text) => message(visitor, 404, "Not found", &text, back),
        ServiceError::Conflict(text) => message(visitor, 409, "Already exists", &text, back),
        ServiceError::Forbidden(text) => message(visitor, 403, "Not allowed", &text, back),
        ServiceError::Busy(_) | ServiceError::Unavailable(_) => unavailable(),
        ServiceError::Internal(_) => {
            message(visitor, 500, "Something went wrong", "The server met an unexpected error.", back)
        }
    }
}

pub fn unavailable() -> HttpResponse {
    let mut response =
        super::pages::error_page(503, "Tessera cannot reach its database right now. Try again in a moment.");
    response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    response
}

/// A form that creates a secret is sent once: its `submission` id is
/// claimed before the operation. A repeat (a reload posting again) gets
/// `Repeated` with what the first one produced, if it finished.
pub enum Submission {
    First(Option<String>),
    Repeated(Option<String>),
}

pub async fn claim(state: &AppState, form: &Form) -> Result<Submission, ServiceError> {
    let Some(id) = form.get("submission").filter(|id| id.len() <= submissions::MAX_ID_LENGTH) else {
        return Ok(Submission::First(None));
    };
    Ok(match state.submissions.claim(id).await? {
        Claim::First => Submission::First(Some(id.to_owned())),
        Claim::Repeated(result) => Submission::Repeated(result),
    })
}

/// Records the outcome of a claimed submission (or gives it back on failure).
pub async fn settle(state: &AppState, submission: Option<&str>, result: Option<&str>) {
    if let Some(id) = submission {
        state.submissions.settle(id, result).await;
    }
}

/// 303 to a path of ours (after a form post, or to sign in).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A fixed notice chosen by a `?done=` value (never reflected text).
pub fn notice(request: &HttpRequest) -> Option<&'static str> {
    let done = url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "done")
        .map(|(_, value)| value.into_owned())?;
    Some(match done.as_str() {
        "saved" => "Saved.",
        "enabled" => "Enabled.",
        "disabled" => "Disabled.",
        "deleted" => "Deleted.",
        "created" => "Created.",
        "revoked" => "Revoked: the tokens stop working at once.",
        "tokens_revoked" => "Every token issued until now is revoked.",
        "password" => "Password changed.",
        "password_reset" => "Password set; the user's sessions have ended.",
        "synced" => "Synced with the directory.",
        "sync_failed" => "The sync could not list the directory and disabled nobody; the error is below.",
        "rotated" => "A new signing key is published; it starts signing after the publish-ahead period.",
        "already" => "This form was already sent: the app exists, and its secret was shown only then.",
        "token_revoked" => "Revoked: the token stops working at once.",
        "token_already" => "This form was already sent: the token exists, and was shown only then.",
        "already_rotated" => "That rotation was already done: the new secret was shown only then.",
        "jira_client_already" => {
            "This form was already sent: Jira's client exists (below), and its secret was shown only then."
        }
        _ => return None,
    })
}

/// A time for a page: `2026-11-23 09:41` (UTC).
pub fn when(time: UnixTime) -> String {
    time.utc().minutes()
}

/// `GET /assets/console.js`: the copy buttons. Pages work without it.
pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(include_str!("../../../assets/console.js"))
}

/// `error_for` / `general_error` for a form struct with an `errors` field,
/// as `console/field_error.html` expects.
macro_rules! form_errors {
    ($($form:ty),+) => {$(
        impl $form {
            pub fn error_for(&self, field: &str) -> Option<&str> {
                self.errors.for_field(field)
            }

            pub fn general_error(&self) -> Option<&str> {
                self.errors.general()
            }
        }
    )+};
}
pub(crate) use form_errors;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(when(UnixTime::from_seconds(0)), "1970-01-01 00:00");
        assert_eq!(when(UnixTime::from_seconds(951_782_400)), "2000-02-29 00:00");
        assert_eq!(when(UnixTime::from_seconds(1_795_425_660)), "2026-11-23 09:21");
    }

    #[test]
    fn forms_keep_repeated_names_and_drop_blanks() {
        let form = Form::parse(b"grants=a&grants=b&name=+x+&empty=");
        assert_eq!(form.all("grants"), ["a", "b"]);
        assert_eq!(form.get("name"), Some("x"));
        assert_eq!(form.get("empty"), None);
    }
}
