//! Self-service pages for every signed-in user: the apps I authorized
//! (withdraw approval, revoke grants), and changing my password.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::apps::GrantRow;
use super::{failure, form_errors, notice, see_other, visitor, when, FieldErrors, Layout, Visitor};
use crate::domain::{ClientId, GrantId, Password};
use crate::http::extract::VisitorForm;
use crate::http::pages::{html, session_cookie};
use crate::http::AppState;
use crate::service::accounts::GrantsOf;
use crate::service::ServiceError;

pub struct ConsentRow {
    pub client_id: String,
    pub name: String,
    pub scope: String,
    pub when: String,
}

#[derive(Template)]
#[template(path = "console/me.html")]
struct AppsPage {
    layout: Layout,
    consents: Vec<ConsentRow>,
    grants: Vec<GrantRow>,
    revoke_base: &'static str,
    grants_back: &'static str,
}

pub async fn apps(visitor: Visitor, request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let gather = async {
        let consents = state.accounts.consents(&visitor.user.username).await?;
        let grants = state.accounts.grants(GrantsOf::User(&visitor.user.id)).await?;
        let clients = state.admin.list_clients().await?;
        Ok::<_, ServiceError>((consents, grants, clients))
    };
    let (consents, grants, clients) = match gather.await {
        Ok(found) => found,
        Err(error) => return failure(&visitor, error, "/console"),
    };
    let consents = consents
        .into_iter()
        .map(|(client_id, scope, at)| ConsentRow {
            name: clients
                .iter()
                .find(|c| c.id == client_id)
                .map_or("(deleted app)".into(), |c| c.name.clone()),
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            when: when(at),
        })
        .collect();
    let page = AppsPage {
        layout: visitor.layout("me", notice(&request)),
        consents,
        grants: grants.into_iter().map(GrantRow::from).collect(),
        revoke_base: "/console/me/grants",
        grants_back: "/console/me",
    };
    html(200, page.render())
}

pub async fn revoke_grant(
    VisitorForm(visitor, _): VisitorForm,
    path: web::Path<GrantId>,
    state: web::Data<AppState>,
) -> HttpResponse {
    // Only the user's own grants: another's id is "not found".
    match state.accounts.revoke_grant(&visitor.actor(), &path, Some(&visitor.user)).await {
        Ok(()) => see_other("/console/me?done=revoked"),
        Err(error) => failure(&visitor, error, "/console/me"),
    }
}

pub async fn revoke_consent(
    VisitorForm(visitor, _): VisitorForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let result = match ClientId::parse(&path) {
        Ok(client) => state.accounts.revoke_consent(&visitor.actor(), &visitor.user.username, &client).await,
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(()) => see_other("/console/me?done=revoked"),
        Err(error) => failure(&visitor, error, "/console/me"),
    }
}

pub struct PasswordForm {
    pub errors: FieldErrors,
}

form_errors!(PasswordForm);

#[derive(Template)]
#[template(path = "console/password.html")]
struct PasswordPage {
    layout: Layout,
    form: PasswordForm,
}

pub async fn password_form(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match visitor(&request, &state).await {
        Ok(visitor) => html(
            200,
            PasswordPage {
                layout: visitor.layout("password", notice(&request)),
                form: PasswordForm { errors: FieldErrors::default() },
            }
            .render(),
        ),
        Err(response) => response,
    }
}

/// Needs the current password; every session of the user ends and this
/// browser gets a new one (a privilege change renews the session id).
pub async fn change_password(
    VisitorForm(visitor, form): VisitorForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    // Passwords are taken as typed: no trimming.
    let raw = |name: &str| form.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let (current, new, confirm) = (raw("current_password"), raw("new_password"), raw("confirm_password"));
    let mut errors = FieldErrors::default();
    let password = match Password::parse(&new) {
        Ok(password) => Some(password),
        Err(invalid) => {
            errors.add("new_password", invalid.message);
            None
        }
    };
    if new != confirm {
        errors.add("confirm_password", "the two new passwords differ");
    }
    let retry = |errors: FieldErrors| {
        html(
            400,
            PasswordPage { layout: visitor.layout("password", None), form: PasswordForm { errors } }.render(),
        )
    };
    let Some(password) = password.filter(|_| errors.is_empty()) else {
        return retry(errors);
    };
    match state.accounts.change_own_password(&visitor.actor(), &visitor.user, &current, &password).await {
        Ok(()) => {}
        Err(error) => {
            return match error {
                ServiceError::Invalid(invalid) => {
                    errors.add_invalid(&invalid);
                    retry(errors)
                }
                other => failure(&visitor, other, "/console/me/password"),
            }
        }
    }
    let started = match state.sessions.sign_in(None, &visitor.user).await {
        Ok((started, _)) => started,
        Err(error) => {
            ServiceError::from(error).log("new session after a password change");
            return super::unavailable();
        }
    };
    let mut response = see_other("/console/me/password?done=password");
    let _ = response.add_cookie(&session_cookie(&state, started.cookie));
    response
}
