//! People in the console: their accounts, passwords and grants.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::apps::GrantRow;
use super::{admin, failure, form_errors, notice, see_other, FieldErrors, Form, Layout, Visitor};
use crate::domain::{Email, GrantId, NewUser, Password, ProfileDraft, Role, UserChanges, Username};
use crate::http::extract::{Admin, AdminForm};
use crate::http::pages::html;
use crate::http::AppState;
use crate::service::accounts::GrantsOf;
use crate::service::ServiceError;

pub struct UserRow {
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub admin: bool,
    pub enabled: bool,
    /// From LDAP / Active Directory (its password is kept there).
    pub from_directory: bool,
}

#[derive(Template)]
#[template(path = "console/users/list.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
}

pub async fn users(Admin(visitor): Admin, request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let users = match state.accounts.list_users().await {
        Ok(users) => users,
        Err(error) => return failure(&visitor, error, "/console"),
    };
    let users = users
        .into_iter()
        .map(|user| UserRow {
            username: user.username.to_string(),
            email: user.email.as_str().to_owned(),
            display_name: user.display_name.unwrap_or_default(),
            admin: user.role == Role::Admin,
            enabled: user.enabled,
            from_directory: user.directory.is_some(),
        })
        .collect();
    html(200, UsersPage { layout: visitor.layout("users", notice(&request)), users }.render())
}

pub struct UserForm {
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub profile: ProfileDraft,
    pub role: String,
    pub errors: FieldErrors,
}

impl UserForm {
    fn posted(form: &Form) -> Self {
        let optional = |name: &str| Some(form.text(name)).filter(|t| !t.is_empty());
        Self {
            username: form.text("username"),
            email: form.text("email"),
            display_name: form.text("display_name"),
            profile: ProfileDraft {
                given_name: optional("given_name"),
                family_name: optional("family_name"),
                email_verified: form.checked("email_verified"),
                locale: optional("locale"),
                zoneinfo: optional("zoneinfo"),
            },
            role: form.text("role"),
            errors: FieldErrors::default(),
        }
    }

    /// The typed profile, or errors per field.
    fn changes(&mut self) -> Option<UserChanges> {
        let username =
            Username::parse(&self.username).map_err(|e| self.errors.add("username", e.message)).ok();
        let email = Email::parse(&self.email).map_err(|e| self.errors.add("email", e.message)).ok();
        let role = self.role.parse::<Role>().map_err(|e| self.errors.add("role", e.to_string())).ok();
        let display_name = Some(self.display_name.clone()).filter(|d| !d.is_empty());
        let profile = self.profile.parse().map_err(|e| self.errors.add_invalid(&e)).ok();
        Some(UserChanges { username: username?, email: email?, display_name, profile: profile?, role: role? })
    }
}

#[derive(Template)]
#[template(path = "console/users/new.html")]
struct NewUserPage {
    layout: Layout,
    form: UserForm,
}

pub async fn new_user(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match admin(&request, &state).await {
        Ok(visitor) => {
            let form = UserForm {
                username: String::new(),
                email: String::new(),
                display_name: String::new(),
                profile: ProfileDraft::default(),
                role: "user".into(),
                errors: FieldErrors::default(),
            };
            html(200, NewUserPage { layout: visitor.layout("users", None), form }.render())
        }
        Err(response) => response,
    }
}

pub async fn create_user(
    AdminForm(visitor, posted_form): AdminForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut form = UserForm::posted(&posted_form);
    let changes = form.changes();
    let password = Password::parse(posted_form.get("password").unwrap_or_default())
        .map_err(|e| form.errors.add("password", e.message))
        .ok();
    let (Some(changes), Some(password)) = (changes, password) else {
        return html(400, NewUserPage { layout: visitor.layout("users", None), form }.render());
    };
    let new = NewUser {
        username: changes.username,
        email: changes.email,
        display_name: changes.display_name,
        profile: changes.profile,
        password,
        role: changes.role,
    };
    match state.accounts.create_user(&visitor.actor(), new).await {
        Ok(user) => see_other(&format!("/console/users/{}?done=created", user.username)),
        Err(error) => match error {
            ServiceError::Invalid(invalid) => {
                form.errors.add_invalid(&invalid);
                html(400, NewUserPage { layout: visitor.layout("users", None), form }.render())
            }
            ServiceError::Conflict(message) => {
                form.errors.add("username", message);
                html(400, NewUserPage { layout: visitor.layout("users", None), form }.render())
            }
            other => failure(&visitor, other, "/console/users"),
        },
    }
}

#[derive(Template)]
#[template(path = "console/users/show.html")]
struct UserPage {
    layout: Layout,
    original: String,
    enabled: bool,
    /// The person's entry in the directory, for a directory user (whose
    /// password is kept there, so the page offers no reset).
    directory_dn: Option<String>,
    form: UserForm,
    grants: Vec<GrantRow>,
    revoke_base: &'static str,
    grants_back: String,
}

async fn user_page(
    state: &AppState,
    visitor: &Visitor,
    name: &str,
    posted: Option<UserForm>,
    password_error: Option<String>,
    notice: Option<&'static str>,
    status: u16,
) -> HttpResponse {
    let gather = async {
        let username =
            Username::parse(name).map_err(|_| ServiceError::NotFound(format!("no user named '{name}'")))?;
        let user = state.accounts.find_user(&username).await?;
        let grants = state.accounts.grants(GrantsOf::User(&user.id)).await?;
        Ok::<_, ServiceError>((user, grants))
    };
    let (user, grants) = match gather.await {
        Ok(found) => found,
        Err(error) => return failure(visitor, error, "/console/users"),
    };
    let mut form = posted.unwrap_or_else(|| UserForm {
        username: user.username.to_string(),
        email: user.email.as_str().to_owned(),
        display_name: user.display_name.clone().unwrap_or_default(),
        profile: ProfileDraft::from(&user.profile),
        role: user.role.as_str().to_owned(),
        errors: FieldErrors::default(),
    });
    if let Some(message) = password_error {
        form.errors.add("password", message);
    }
    let page = UserPage {
        layout: visitor.layout("users", notice),
        original: user.username.to_string(),
        enabled: user.enabled,
        directory_dn: user.directory.as_ref().map(|link| link.dn.clone()),
        form,
        grants_back: format!("/console/users/{}", user.username),
        grants: grants.into_iter().map(GrantRow::from).collect(),
        revoke_base: "/console/grants",
    };
    html(status, page.render())
}

pub async fn show_user(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match admin(&request, &state).await {
        Ok(visitor) => user_page(&state, &visitor, &path, None, None, notice(&request), 200).await,
        Err(response) => response,
    }
}

pub async fn update_user(
    AdminForm(visitor, posted_form): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut form = UserForm::posted(&posted_form);
    let Some(changes) = form.changes() else {
        return user_page(&state, &visitor, &path, Some(form), None, None, 400).await;
    };
    let Ok(original) = Username::parse(&path) else {
        return user_page(&state, &visitor, &path, None, None, None, 404).await;
    };
    match state.accounts.update_user(&visitor.actor(), &original, changes).await {
        Ok(user) => see_other(&format!("/console/users/{}?done=saved", user.username)),
        Err(error) => match error {
            ServiceError::Invalid(invalid) => {
                form.errors.add_invalid(&invalid);
                user_page(&state, &visitor, &path, Some(form), None, None, 400).await
            }
            ServiceError::Conflict(message) => {
                form.errors.add("username", message);
                user_page(&state, &visitor, &path, Some(form), None, None, 400).await
            }
            other => failure(&visitor, other, "/console/users"),
        },
    }
}

pub async fn reset_password(
    AdminForm(visitor, posted_form): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let back = format!("/console/users/{path}");
    let password = match Password::parse(
        posted_form.0.iter().find(|(n, _)| n == "password").map(|(_, v)| v.as_str()).unwrap_or_default(),
    ) {
        Ok(password) => password,
        Err(invalid) => {
            return user_page(&state, &visitor, &path, None, Some(invalid.message), None, 400).await;
        }
    };
    let result = match Username::parse(&path) {
        Ok(username) => state.accounts.reset_password(&visitor.actor(), &username, &password).await,
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(()) => see_other(&format!("{back}?done=password_reset")),
        Err(error) => failure(&visitor, error, &back),
    }
}

pub async fn enable_user(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    set_user_enabled(visitor, path, state, true).await
}

pub async fn disable_user(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    set_user_enabled(visitor, path, state, false).await
}

async fn set_user_enabled(
    visitor: Visitor,
    path: web::Path<String>,
    state: web::Data<AppState>,
    enabled: bool,
) -> HttpResponse {
    let back = format!("/console/users/{path}");
    let result = match Username::parse(&path) {
        Ok(username) => state.accounts.set_user_enabled(&visitor.actor(), &username, enabled).await,
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(()) => see_other(&format!("{back}?done={}", if enabled { "enabled" } else { "disabled" })),
        Err(error) => failure(&visitor, error, &back),
    }
}

pub async fn revoke_user_grants(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let back = format!("/console/users/{path}");
    let result = match Username::parse(&path) {
        Ok(username) => state.accounts.revoke_user_grants(&visitor.actor(), &username).await.map(|_| ()),
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(()) => see_other(&format!("{back}?done=revoked")),
        Err(error) => failure(&visitor, error, &back),
    }
}

/// `POST /console/grants/{id}/revoke` (admin): back to where it came from.
pub async fn revoke_grant(
    AdminForm(visitor, form): AdminForm,
    path: web::Path<GrantId>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let back = super::login::safe_next(form.get("back").unwrap_or("/console/dashboard"));
    match state.accounts.revoke_grant(&visitor.actor(), &path, None).await {
        Ok(()) => see_other(&format!("{back}?done=revoked")),
        Err(error) => failure(&visitor, error, "/console"),
    }
}

form_errors!(UserForm);
