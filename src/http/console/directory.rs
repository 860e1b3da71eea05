//! Service accounts and users in the console, and revoking a grant.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::apps::GrantRow;
use super::{admin, failure, form_errors, notice, see_other, FieldErrors, Form, Layout, Visitor};
use crate::domain::{
    Email, GrantId, NewServiceAccount, NewUser, Password, Role, ServiceAccountChanges, UserChanges, Username,
};
use crate::http::extract::{Admin, AdminForm};
use crate::http::pages::html;
use crate::http::AppState;
use crate::service::accounts::GrantsOf;
use crate::service::ServiceError;

pub struct AccountRow {
    pub username: String,
    pub display_name: String,
    pub apps: String,
    pub admin: bool,
    pub enabled: bool,
}

#[derive(Template)]
#[template(path = "console/service_accounts/list.html")]
struct AccountsPage {
    layout: Layout,
    accounts: Vec<AccountRow>,
}

pub async fn service_accounts(
    Admin(visitor): Admin,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    let gather = async {
        Ok::<_, ServiceError>((state.admin.list_service_accounts().await?, state.admin.list_clients().await?))
    };
    let (accounts, clients) = match gather.await {
        Ok(found) => found,
        Err(error) => return failure(&visitor, error, "/console"),
    };
    let accounts = accounts
        .into_iter()
        .map(|account| {
            let apps: Vec<&str> = clients
                .iter()
                .filter(|c| c.service_account.as_ref().is_some_and(|sa| sa.id == account.id))
                .map(|c| c.name.as_str())
                .collect();
            AccountRow {
                username: account.username.to_string(),
                display_name: account.display_name.unwrap_or_default(),
                apps: if apps.is_empty() { "—".into() } else { apps.join(", ") },
                admin: account.admin,
                enabled: account.enabled,
            }
        })
        .collect();
    html(
        200,
        AccountsPage { layout: visitor.layout("service_accounts", notice(&request)), accounts }.render(),
    )
}

pub struct AccountForm {
    pub username: String,
    pub display_name: String,
    pub admin: bool,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "console/service_accounts/form.html")]
struct AccountFormPage {
    layout: Layout,
    form: AccountForm,
    editing: bool,
    original: String,
    action: String,
}

fn account_form_page(
    visitor: &Visitor,
    form: AccountForm,
    original: Option<&str>,
    status: u16,
) -> HttpResponse {
    let page = AccountFormPage {
        layout: visitor.layout("service_accounts", None),
        form,
        editing: original.is_some(),
        original: original.unwrap_or_default().to_owned(),
        action: original.map_or("/console/service-accounts".into(), |name| {
            format!("/console/service-accounts/{name}/edit")
        }),
    };
    html(status, page.render())
}

pub async fn new_service_account(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match admin(&request, &state).await {
        Ok(visitor) => {
            let form = AccountForm {
                username: String::new(),
                display_name: String::new(),
                admin: false,
                errors: FieldErrors::default(),
            };
            account_form_page(&visitor, form, None, 200)
        }
        Err(response) => response,
    }
}

pub async fn create_service_account(
    AdminForm(visitor, posted_form): AdminForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut form = AccountForm {
        username: posted_form.text("username"),
        display_name: posted_form.text("display_name"),
        admin: false,
        errors: FieldErrors::default(),
    };
    let username = match Username::parse(&form.username) {
        Ok(username) => username,
        Err(invalid) => {
            form.errors.add("username", invalid.message);
            return account_form_page(&visitor, form, None, 400);
        }
    };
    let new =
        NewServiceAccount { username, display_name: posted_form.get("display_name").map(str::to_owned) };
    match state.admin.create_service_account(&visitor.actor(), new).await {
        Ok(_) => see_other("/console/service-accounts?done=created"),
        Err(error) => match error {
            ServiceError::Invalid(invalid) => {
                form.errors.add_invalid(&invalid);
                account_form_page(&visitor, form, None, 400)
            }
            ServiceError::Conflict(message) => {
                form.errors.add("username", message);
                account_form_page(&visitor, form, None, 400)
            }
            other => failure(&visitor, other, "/console/service-accounts"),
        },
    }
}

pub async fn edit_service_account(
    Admin(visitor): Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let found = match Username::parse(&path) {
        Ok(username) => state.admin.find_service_account(&username).await,
        Err(_) => Err(ServiceError::NotFound("no such service account".into())),
    };
    match found {
        Ok(account) => {
            let form = AccountForm {
                username: account.username.to_string(),
                display_name: account.display_name.unwrap_or_default(),
                admin: account.admin,
                errors: FieldErrors::default(),
            };
            account_form_page(&visitor, form, Some(account.username.as_str()), 200)
        }
        Err(error) => failure(&visitor, error, "/console/service-accounts"),
    }
}

pub async fn update_service_account(
    AdminForm(visitor, posted_form): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut form = AccountForm {
        username: posted_form.text("username"),
        display_name: posted_form.text("display_name"),
        admin: posted_form.checked("admin"),
        errors: FieldErrors::default(),
    };
    let Ok(original) = Username::parse(&path) else {
        return failure(
            &visitor,
            ServiceError::NotFound("no such service account".into()),
            "/console/service-accounts",
        );
    };
    let username = match Username::parse(&form.username) {
        Ok(username) => username,
        Err(invalid) => {
            form.errors.add("username", invalid.message);
            return account_form_page(&visitor, form, Some(original.as_str()), 400);
        }
    };
    let changes = ServiceAccountChanges {
        username,
        display_name: posted_form.get("display_name").map(str::to_owned),
        admin: form.admin,
    };
    match state.admin.update_service_account(&visitor.actor(), &original, changes).await {
        Ok(_) => see_other("/console/service-accounts?done=saved"),
        Err(error) => match error {
            ServiceError::Invalid(invalid) => {
                form.errors.add_invalid(&invalid);
                account_form_page(&visitor, form, Some(original.as_str()), 400)
            }
            ServiceError::Conflict(message) => {
                form.errors.add("username", message);
                account_form_page(&visitor, form, Some(original.as_str()), 400)
            }
            other => failure(&visitor, other, "/console/service-accounts"),
        },
    }
}

pub async fn enable_service_account(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    set_account_enabled(visitor, path, state, true).await
}

pub async fn disable_service_account(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    set_account_enabled(visitor, path, state, false).await
}

async fn set_account_enabled(
    visitor: Visitor,
    path: web::Path<String>,
    state: web::Data<AppState>,
    enabled: bool,
) -> HttpResponse {
    let result = match Username::parse(&path) {
        Ok(username) => state.admin.set_service_account_enabled(&visitor.actor(), &username, enabled).await,
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(()) => see_other(&format!(
            "/console/service-accounts?done={}",
            if enabled { "enabled" } else { "disabled" }
        )),
        Err(error) => failure(&visitor, error, "/console/service-accounts"),
    }
}

pub struct UserRow {
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub admin: bool,
    pub enabled: bool,
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
        })
        .collect();
    html(200, UsersPage { layout: visitor.layout("users", notice(&request)), users }.render())
}

pub struct UserForm {
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub errors: FieldErrors,
}

impl UserForm {
    fn posted(form: &Form) -> Self {
        Self {
            username: form.text("username"),
            email: form.text("email"),
            display_name: form.text("display_name"),
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
        Some(UserChanges { username: username?, email: email?, display_name, role: role? })
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

form_errors!(AccountForm, UserForm);
