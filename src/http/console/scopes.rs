//! Scopes in the console: list, create, change the description, disable.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{admin, failure, form_errors, notice, see_other, FieldErrors, Layout, Visitor};
use crate::domain::ScopeName;
use crate::http::extract::{Admin, AdminForm};
use crate::http::pages::html;
use crate::http::AppState;
use crate::service::admin::Scope;
use crate::service::ServiceError;

#[derive(Template)]
#[template(path = "console/scopes/list.html")]
struct ListPage {
    layout: Layout,
    scopes: Vec<Scope>,
}

pub async fn list(Admin(visitor): Admin, request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match state.admin.list_scopes().await {
        Ok(scopes) => {
            html(200, ListPage { layout: visitor.layout("scopes", notice(&request)), scopes }.render())
        }
        Err(error) => failure(&visitor, error, "/console"),
    }
}

pub struct ScopeForm {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub builtin: bool,
    /// Directory groups whose members alone may grant it, one per line.
    pub allowed_groups: String,
    pub errors: FieldErrors,
}

form_errors!(ScopeForm);

#[derive(Template)]
#[template(path = "console/scopes/form.html")]
struct FormPage {
    layout: Layout,
    form: ScopeForm,
    editing: bool,
    action: String,
}

fn form_page(visitor: &Visitor, form: ScopeForm, editing: bool, status: u16) -> HttpResponse {
    let action =
        if editing { format!("/console/scopes/{}/edit", form.name) } else { "/console/scopes".into() };
    html(status, FormPage { layout: visitor.layout("scopes", None), form, editing, action }.render())
}

pub async fn new_form(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match admin(&request, &state).await {
        Ok(visitor) => {
            let form = ScopeForm {
                name: String::new(),
                description: String::new(),
                enabled: true,
                builtin: false,
                allowed_groups: String::new(),
                errors: FieldErrors::default(),
            };
            form_page(&visitor, form, false, 200)
        }
        Err(response) => response,
    }
}

pub async fn create(AdminForm(visitor, posted_form): AdminForm, state: web::Data<AppState>) -> HttpResponse {
    let mut form = ScopeForm {
        name: posted_form.text("name"),
        description: posted_form.text("description"),
        enabled: true,
        builtin: false,
        allowed_groups: String::new(),
        errors: FieldErrors::default(),
    };
    let name = match ScopeName::parse(&form.name) {
        Ok(name) => name,
        Err(invalid) => {
            form.errors.add("name", invalid.message);
            return form_page(&visitor, form, false, 400);
        }
    };
    match state.admin.create_scope(&visitor.actor(), name, &form.description).await {
        Ok(_) => see_other("/console/scopes?done=created"),
        Err(error) => match error {
            ServiceError::Invalid(invalid) => {
                form.errors.add_invalid(&invalid);
                form_page(&visitor, form, false, 400)
            }
            ServiceError::Conflict(message) => {
                form.errors.add("name", message);
                form_page(&visitor, form, false, 400)
            }
            other => failure(&visitor, other, "/console/scopes"),
        },
    }
}

async fn find(state: &AppState, name: &str) -> Result<Scope, ServiceError> {
    let scopes = state.admin.list_scopes().await?;
    scopes
        .into_iter()
        .find(|s| s.name.as_str() == name)
        .ok_or_else(|| ServiceError::NotFound(format!("no scope named '{name}'")))
}

pub async fn edit_form(
    Admin(visitor): Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match find(&state, &path).await {
        Ok(scope) => {
            let form = ScopeForm {
                name: scope.name.to_string(),
                description: scope.description,
                enabled: scope.enabled,
                builtin: scope.builtin,
                allowed_groups: scope.allowed_groups.join("\n"),
                errors: FieldErrors::default(),
            };
            form_page(&visitor, form, true, 200)
        }
        Err(error) => failure(&visitor, error, "/console/scopes"),
    }
}

pub async fn update(
    AdminForm(visitor, posted_form): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let scope = match find(&state, &path).await {
        Ok(scope) => scope,
        Err(error) => return failure(&visitor, error, "/console/scopes"),
    };
    let mut form = ScopeForm {
        name: scope.name.to_string(),
        description: posted_form.text("description"),
        enabled: posted_form.checked("enabled"),
        builtin: scope.builtin,
        allowed_groups: posted_form.text("allowed_groups"),
        errors: FieldErrors::default(),
    };
    let groups: Vec<String> = form.allowed_groups.lines().map(str::to_owned).collect();
    let actor = visitor.actor();
    let updated =
        state.admin.update_scope(&actor, &scope.name, &form.description, form.enabled, Some(&groups));
    match updated.await {
        Ok(()) => see_other("/console/scopes?done=saved"),
        Err(error) => match error {
            ServiceError::Invalid(invalid) => {
                form.errors.add_invalid(&invalid);
                form_page(&visitor, form, true, 400)
            }
            other => failure(&visitor, other, "/console/scopes"),
        },
    }
}
