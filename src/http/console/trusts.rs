//! Trusted outside issuers in the console: list, create, disable, enable,
//! delete. A trust lets a CI job or a pod trade its platform's JWT for a
//! token for one service account.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{failure, form_errors, notice, see_other, FieldErrors, Layout, Visitor};
use crate::domain::{Trust, TrustDraft, DEFAULT_TRUST_TTL};
use crate::http::extract::{Admin, AdminForm};
use crate::http::pages::html;
use crate::http::AppState;
use crate::service::trusts::conditions;
use crate::service::ServiceError;

pub struct TrustRow {
    pub id: String,
    pub issuer: String,
    pub audience: String,
    pub conditions: String,
    pub service_account: String,
    pub scopes: String,
    pub max_ttl: String,
    pub presented_by: String,
    pub enabled: bool,
}

impl From<&Trust> for TrustRow {
    fn from(trust: &Trust) -> Self {
        let mut presenters: Vec<String> = trust.clients.iter().map(ToString::to_string).collect();
        if trust.without_client {
            presenters.push("no client needed".into());
        }
        Self {
            id: trust.id.to_string(),
            issuer: trust.issuer.as_str().to_owned(),
            audience: trust.audience.as_str().to_owned(),
            conditions: conditions(trust),
            service_account: trust.service_account.username.to_string(),
            scopes: trust.scopes.to_string(),
            max_ttl: trust.max_ttl.to_string(),
            presented_by: presenters.join(", "),
            enabled: trust.enabled,
        }
    }
}

#[derive(Template)]
#[template(path = "console/trusts/list.html")]
struct TrustsPage {
    layout: Layout,
    trusts: Vec<TrustRow>,
}

pub async fn list(Admin(visitor): Admin, request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match state.trusts.list().await {
        Ok(trusts) => {
            let trusts = trusts.iter().map(TrustRow::from).collect();
            html(200, TrustsPage { layout: visitor.layout("trusts", notice(&request)), trusts }.render())
        }
        Err(error) => failure(&visitor, error, "/console"),
    }
}

pub struct TrustForm {
    pub draft: TrustDraft,
    pub errors: FieldErrors,
}

form_errors!(TrustForm);

impl TrustForm {
    pub fn max_ttl(&self) -> &str {
        self.draft.max_ttl.as_deref().unwrap_or_default()
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.draft.scopes.iter().any(|s| s == scope)
    }

    pub fn has_client(&self, client: &str) -> bool {
        self.draft.clients.iter().any(|c| c == client)
    }
}

#[derive(Template)]
#[template(path = "console/trusts/form.html")]
struct TrustFormPage {
    layout: Layout,
    form: TrustForm,
    service_accounts: Vec<String>,
    scope_options: Vec<(String, String)>,
    /// Confidential clients: (id, name).
    client_options: Vec<(String, String)>,
}

async fn form_page(state: &AppState, visitor: &Visitor, form: TrustForm, status: u16) -> HttpResponse {
    let options = async {
        let accounts = state.admin.list_service_accounts().await?;
        let scopes = state.admin.list_scopes().await?;
        let clients = state.admin.list_clients().await?;
        Ok::<_, ServiceError>((accounts, scopes, clients))
    };
    let (accounts, scopes, clients) = match options.await {
        Ok(found) => found,
        Err(error) => return failure(visitor, error, "/console/trusts"),
    };
    let page = TrustFormPage {
        layout: visitor.layout("trusts", None),
        form,
        service_accounts: accounts.iter().filter(|a| a.enabled).map(|a| a.username.to_string()).collect(),
        scope_options: scopes
            .iter()
            .filter(|s| s.enabled)
            .map(|s| (s.name.to_string(), s.description.clone()))
            .collect(),
        client_options: clients
            .iter()
            .filter(|c| c.client_type == crate::domain::ClientType::Confidential)
            .map(|c| (c.id.to_string(), c.name.clone()))
            .collect(),
    };
    html(status, page.render())
}

pub async fn new_form(Admin(visitor): Admin, state: web::Data<AppState>) -> HttpResponse {
    let draft = TrustDraft { max_ttl: Some(DEFAULT_TRUST_TTL.to_string()), ..TrustDraft::default() };
    form_page(&state, &visitor, TrustForm { draft, errors: FieldErrors::default() }, 200).await
}

pub async fn create(AdminForm(visitor, posted): AdminForm, state: web::Data<AppState>) -> HttpResponse {
    let mut form = TrustForm { draft: TrustDraft::from_form(&posted), errors: FieldErrors::default() };
    let new = match form.draft.parse() {
        Ok(new) => new,
        Err(errors) => {
            for error in &errors {
                form.errors.add_invalid(error);
            }
            return form_page(&state, &visitor, form, 400).await;
        }
    };
    match state.trusts.create(&visitor.actor(), new).await {
        Ok(_) => see_other("/console/trusts?done=created"),
        Err(ServiceError::Invalid(invalid)) => {
            form.errors.add_invalid(&invalid);
            form_page(&state, &visitor, form, 400).await
        }
        Err(ServiceError::NotFound(message)) => {
            form.errors.add("", message);
            form_page(&state, &visitor, form, 400).await
        }
        Err(other) => failure(&visitor, other, "/console/trusts"),
    }
}

pub async fn enable(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    change(&visitor, &state, &path, Change::Enable).await
}

pub async fn disable(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    change(&visitor, &state, &path, Change::Disable).await
}

pub async fn delete(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    change(&visitor, &state, &path, Change::Delete).await
}

enum Change {
    Enable,
    Disable,
    Delete,
}

async fn change(visitor: &Visitor, state: &AppState, id: &str, change: Change) -> HttpResponse {
    let actor = visitor.actor();
    let (result, done) = match change {
        Change::Enable => (state.trusts.set_enabled(&actor, id, true).await, "enabled"),
        Change::Disable => (state.trusts.set_enabled(&actor, id, false).await, "disabled"),
        Change::Delete => (state.trusts.delete(&actor, id).await, "deleted"),
    };
    match result {
        Ok(()) => see_other(&format!("/console/trusts?done={done}")),
        Err(error) => failure(visitor, error, "/console/trusts"),
    }
}
