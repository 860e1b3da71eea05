//! Service accounts in the console.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{admin, failure, form_errors, notice, see_other, FieldErrors, Layout, Visitor};
use crate::domain::{NewServiceAccount, ServiceAccountChanges, Username};
use crate::http::extract::{Admin, AdminForm};
use crate::http::pages::html;
use crate::http::AppState;
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

form_errors!(AccountForm);

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
