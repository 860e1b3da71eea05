//! OAuth apps in the console: list and search, register (the secret shown
//! once), edit, rotate the secret, revoke tokens, disable, delete.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{
    admin, claim, failure, notice, see_other, settle, when, FieldErrors, Form, Layout, Submission, Visitor,
};
use crate::crypto::secrets::random_id;
use crate::domain::{
    AuthMethod, Client, ClientDraft, ClientKeys, ClientType, Grace, GrantType, NewClient, PkcePolicy,
    PublicJwks, PublicKeyMaterial, TokenFormat,
};
use crate::http::extract::{Admin, AdminForm};
use crate::http::pages::html;
use crate::http::AppState;
use crate::service::accounts::GrantsOf;
use crate::service::admin::ClientWithSecret;
use crate::service::ServiceError;

/// An app as the list and the detail page show it: its properties as the
/// draft spells them, and what only a stored client has.
pub struct AppView {
    pub id: String,
    pub enabled: bool,
    pub created_at: String,
    /// Read from the stored client, not from the draft's text: whether it
    /// authenticates with a secret (one to rotate).
    pub has_secret: bool,
    pub pkce_optional: bool,
    /// The registered public keys, one line each ("kid — RSA").
    pub keys: Vec<String>,
    pub draft: ClientDraft,
}

impl From<&Client> for AppView {
    fn from(client: &Client) -> Self {
        Self {
            id: client.id.to_string(),
            enabled: client.enabled,
            created_at: when(client.created_at),
            has_secret: client.auth_method.uses_secret(),
            pkce_optional: client.pkce == PkcePolicy::Optional,
            keys: client.keys.as_ref().and_then(ClientKeys::inline).map(describe_keys).unwrap_or_default(),
            draft: ClientDraft::of(client),
        }
    }
}

fn describe_keys(jwks: &PublicJwks) -> Vec<String> {
    jwks.keys()
        .iter()
        .map(|key| {
            let kind = match key.material {
                PublicKeyMaterial::Rsa { .. } => "RSA",
                PublicKeyMaterial::P256 { .. } => "EC P-256",
                PublicKeyMaterial::Ed25519 { .. } => "Ed25519",
            };
            let alg = key.alg.as_deref().map(|alg| format!(", {alg}")).unwrap_or_default();
            format!("{} — {kind}{alg}", key.kid.as_deref().unwrap_or("(no kid)"))
        })
        .collect()
}

impl AppView {
    /// A list property for a table cell; `none` when empty.
    pub fn joined<'a>(&self, values: &'a [String], none: &'a str) -> String {
        if values.is_empty() {
            none.to_owned()
        } else {
            values.join(", ")
        }
    }

    /// An optional property for a table cell; `none` when absent.
    pub fn or<'a>(&'a self, value: &'a Option<String>, none: &'a str) -> &'a str {
        value.as_deref().unwrap_or(none)
    }
}

#[derive(Template)]
#[template(path = "console/apps/list.html")]
struct ListPage {
    layout: Layout,
    apps: Vec<AppView>,
    query: String,
}

pub async fn list(Admin(visitor): Admin, request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "q")
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    let apps = match state.admin.search_clients(&query).await {
        Ok(found) => found.iter().map(AppView::from).collect(),
        Err(error) => return failure(&visitor, error, "/console"),
    };
    html(200, ListPage { layout: visitor.layout("apps", notice(&request)), apps, query }.render())
}

/// The registration / edit form: what was typed, and what is wrong with it.
pub struct AppForm {
    pub draft: ClientDraft,
    /// The one-time id that stops a reload from registering twice.
    pub submission: String,
    pub errors: FieldErrors,
}

impl AppForm {
    fn blank() -> Self {
        let draft = ClientDraft {
            client_type: ClientType::Confidential.as_str().into(),
            grants: vec![GrantType::ClientCredentials.as_str().into()],
            auth_method: Some(AuthMethod::ClientSecretBasic.as_str().into()),
            token_format: Some(TokenFormat::Jwt.as_str().into()),
            pkce: Some(PkcePolicy::Required.as_str().into()),
            ..ClientDraft::default()
        };
        Self { draft, submission: random_id(16), errors: FieldErrors::default() }
    }

    fn of(client: &Client) -> Self {
        Self { draft: ClientDraft::of(client), submission: String::new(), errors: FieldErrors::default() }
    }

    fn posted(form: &Form) -> Self {
        Self {
            draft: ClientDraft::from_form(form),
            submission: form.text("submission"),
            errors: FieldErrors::default(),
        }
    }

    /// The typed values as a `NewClient`, or the errors per field.
    fn parse_client(&mut self) -> Option<NewClient> {
        match self.draft.parse() {
            Ok(new) => Some(new),
            Err(errors) => {
                for error in &errors {
                    self.errors.add_invalid(error);
                }
                None
            }
        }
    }

    /// An optional property as the form's field shows it.
    pub fn value<'a>(&'a self, value: &'a Option<String>) -> &'a str {
        value.as_deref().unwrap_or_default()
    }

    /// Whether an optional property is `option` (a select's choice).
    pub fn chose(&self, value: &Option<String>, option: &str) -> bool {
        value.as_deref() == Some(option)
    }

    pub fn has_grant(&self, grant: &&str) -> bool {
        self.draft.grants.iter().any(|g| g == grant)
    }

    pub fn is_service_account(&self, name: &str) -> bool {
        self.draft.service_account.as_deref() == Some(name)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.draft.scopes.iter().any(|s| s == scope)
    }

    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.for_field(field)
    }

    pub fn general_error(&self) -> Option<&str> {
        self.errors.general()
    }
}

#[derive(Template)]
#[template(path = "console/apps/form.html")]
struct FormPage {
    layout: Layout,
    form: AppForm,
    editing: bool,
    action: String,
    cancel: String,
    grant_options: Vec<&'static str>,
    scope_options: Vec<(String, String)>,
    service_accounts: Vec<String>,
}

async fn form_page(
    state: &AppState,
    visitor: &Visitor,
    form: AppForm,
    editing: Option<&str>,
    status: u16,
) -> HttpResponse {
    let options = async {
        let scopes = state.admin.list_scopes().await?;
        let accounts = state.admin.list_service_accounts().await?;
        Ok::<_, ServiceError>((scopes, accounts))
    };
    let (scopes, accounts) = match options.await {
        Ok(options) => options,
        Err(error) => return failure(visitor, error, "/console/apps"),
    };
    let page = FormPage {
        layout: visitor.layout("apps", None),
        form,
        editing: editing.is_some(),
        action: editing.map_or("/console/apps".into(), |id| format!("/console/apps/{id}/edit")),
        cancel: editing.map_or("/console/apps".into(), |id| format!("/console/apps/{id}")),
        grant_options: GrantType::ALL.iter().map(|g| g.as_str()).collect(),
        scope_options: scopes
            .into_iter()
            .filter(|s| s.enabled)
            .map(|s| (s.name.to_string(), s.description))
            .collect(),
        service_accounts: accounts
            .into_iter()
            .filter(|a| a.enabled)
            .map(|a| a.username.to_string())
            .collect(),
    };
    html(status, page.render())
}

pub async fn new_form(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match admin(&request, &state).await {
        Ok(visitor) => form_page(&state, &visitor, AppForm::blank(), None, 200).await,
        Err(response) => response,
    }
}

/// `POST /console/apps`: register; on success the secret is shown once, in
/// this response (never stored, never in a URL).
pub async fn create(AdminForm(visitor, posted_form): AdminForm, state: web::Data<AppState>) -> HttpResponse {
    let mut form = AppForm::posted(&posted_form);
    let Some(new) = form.parse_client() else {
        return form_page(&state, &visitor, form, None, 400).await;
    };
    let submission = match claim(&state, &posted_form).await {
        Ok(Submission::First(id)) => id,
        Ok(Submission::Repeated(Some(client_id))) => {
            return see_other(&format!("/console/apps/{client_id}?done=already"))
        }
        Ok(Submission::Repeated(None)) => return see_other("/console/apps?done=already"),
        Err(error) => return failure(&visitor, error, "/console/apps"),
    };
    let created = state.admin.create_client(&visitor.actor(), new).await;
    let made = created.as_ref().ok().map(|c| c.client.id.to_string());
    settle(&state, submission.as_deref(), made.as_deref()).await;
    match created {
        Ok(created) => show_page(&state, &visitor, created, None).await,
        Err(error) => match error {
            ServiceError::Invalid(invalid) => {
                form.errors.add_invalid(&invalid);
                form_page(&state, &visitor, form, None, 400).await
            }
            ServiceError::NotFound(message) => {
                let field = if message.contains("scope") { "scopes" } else { "service_account" };
                form.errors.add(field, message);
                form_page(&state, &visitor, form, None, 400).await
            }
            other => failure(&visitor, other, "/console/apps"),
        },
    }
}

#[derive(Template)]
#[template(path = "console/apps/show.html")]
struct ShowPage {
    layout: Layout,
    app: AppView,
    secret: Option<String>,
    previous_until: Option<String>,
    grants: Vec<GrantRow>,
    revoke_base: &'static str,
    grants_back: String,
    /// For the rotate form: a reload must not rotate twice.
    submission: String,
    /// The rotate form's grace as typed, and why it was refused.
    grace: String,
    grace_error: Option<String>,
}

/// A rotate form sent back with its error beside the field.
struct RefusedGrace {
    typed: String,
    error: String,
}

/// A user's grant as the tables show it.
pub struct GrantRow {
    pub id: String,
    pub username: String,
    pub client_name: String,
    pub scope: String,
    pub created_at: String,
    pub expires_at: String,
}

impl From<crate::service::accounts::GrantSummary> for GrantRow {
    fn from(grant: crate::service::accounts::GrantSummary) -> Self {
        Self {
            id: grant.id.to_string(),
            username: grant.username,
            client_name: grant.client_name,
            scope: grant.scope.to_string(),
            created_at: when(grant.created_at),
            expires_at: when(grant.expires_at),
        }
    }
}

async fn show_page(
    state: &AppState,
    visitor: &Visitor,
    shown: ClientWithSecret,
    notice: Option<&'static str>,
) -> HttpResponse {
    show_page_with(state, visitor, shown, notice, None).await
}

async fn show_page_with(
    state: &AppState,
    visitor: &Visitor,
    shown: ClientWithSecret,
    notice: Option<&'static str>,
    refused: Option<RefusedGrace>,
) -> HttpResponse {
    let grants = match state.accounts.grants(GrantsOf::Client(&shown.client.id)).await {
        Ok(grants) => grants.into_iter().map(GrantRow::from).collect(),
        Err(error) => return failure(visitor, error, "/console/apps"),
    };
    let page = ShowPage {
        layout: visitor.layout("apps", notice),
        app: AppView::from(&shown.client),
        secret: shown.secret.map(|s| s.expose().to_owned()),
        previous_until: shown.previous_secret_expires_at.map(when),
        grants,
        revoke_base: "/console/grants",
        grants_back: format!("/console/apps/{}", shown.client.id),
        submission: random_id(16),
        grace: refused.as_ref().map_or_else(|| "24h".to_owned(), |r| r.typed.clone()),
        grace_error: refused.as_ref().map(|r| r.error.clone()),
    };
    html(if refused.is_some() { 400 } else { 200 }, page.render())
}

pub async fn show(
    Admin(visitor): Admin,
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state.admin.find_client(&path).await {
        Ok(client) => {
            let shown = ClientWithSecret { client, secret: None, previous_secret_expires_at: None };
            show_page(&state, &visitor, shown, notice(&request)).await
        }
        Err(error) => failure(&visitor, error, "/console/apps"),
    }
}

pub async fn edit_form(
    Admin(visitor): Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state.admin.find_client(&path).await {
        Ok(client) => form_page(&state, &visitor, AppForm::of(&client), Some(client.id.as_str()), 200).await,
        Err(error) => failure(&visitor, error, "/console/apps"),
    }
}

pub async fn update(
    AdminForm(visitor, posted_form): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let id = path.into_inner();
    let mut form = AppForm::posted(&posted_form);
    let Some(changes) = form.parse_client() else {
        return form_page(&state, &visitor, form, Some(&id), 400).await;
    };
    match state.admin.update_client(&visitor.actor(), &id, changes).await {
        Ok(client) => see_other(&format!("/console/apps/{}?done=saved", client.id)),
        Err(error) => match error {
            ServiceError::Invalid(invalid) => {
                form.errors.add_invalid(&invalid);
                form_page(&state, &visitor, form, Some(&id), 400).await
            }
            other => failure(&visitor, other, &format!("/console/apps/{id}")),
        },
    }
}

pub async fn rotate_secret(
    AdminForm(visitor, form): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let back = format!("/console/apps/{path}");
    let grace = match form.get("grace").map(str::parse::<Grace>).transpose() {
        Ok(grace) => grace,
        Err(invalid) => {
            // Back to the app's page, the error beside the field.
            let refused = RefusedGrace {
                typed: form.get("grace").unwrap_or_default().to_owned(),
                error: invalid.to_string(),
            };
            return match state.admin.find_client(&path).await {
                Ok(client) => {
                    let shown = ClientWithSecret { client, secret: None, previous_secret_expires_at: None };
                    show_page_with(&state, &visitor, shown, None, Some(refused)).await
                }
                Err(error) => failure(&visitor, error, &back),
            };
        }
    };
    let submission = match claim(&state, &form).await {
        Ok(Submission::First(id)) => id,
        Ok(Submission::Repeated(_)) => return see_other(&format!("{back}?done=already_rotated")),
        Err(error) => return failure(&visitor, error, &back),
    };
    let rotated = state.admin.rotate_client_secret(&visitor.actor(), &path, grace).await;
    settle(&state, submission.as_deref(), rotated.as_ref().ok().map(|_| "rotated")).await;
    match rotated {
        Ok(rotated) => show_page(&state, &visitor, rotated, None).await,
        Err(error) => failure(&visitor, error, &back),
    }
}

pub async fn revoke_tokens(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state.admin.revoke_client_tokens(&visitor.actor(), &path).await {
        Ok(()) => see_other(&format!("/console/apps/{path}?done=tokens_revoked")),
        Err(error) => failure(&visitor, error, "/console/apps"),
    }
}

pub async fn enable(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    set_enabled(visitor, path, state, true).await
}

pub async fn disable(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    set_enabled(visitor, path, state, false).await
}

async fn set_enabled(
    visitor: Visitor,
    path: web::Path<String>,
    state: web::Data<AppState>,
    enabled: bool,
) -> HttpResponse {
    match state.admin.set_client_enabled(&visitor.actor(), &path, enabled).await {
        Ok(()) => {
            see_other(&format!("/console/apps/{path}?done={}", if enabled { "enabled" } else { "disabled" }))
        }
        Err(error) => failure(&visitor, error, "/console/apps"),
    }
}

#[derive(Template)]
#[template(path = "console/apps/delete.html")]
struct DeletePage<'a> {
    layout: Layout,
    id: &'a str,
    name: &'a str,
    error: Option<&'a str>,
}

pub async fn delete_form(
    Admin(visitor): Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state.admin.find_client(&path).await {
        Ok(client) => {
            let page = DeletePage {
                layout: visitor.layout("apps", None),
                id: client.id.as_str(),
                name: &client.name,
                error: None,
            };
            html(200, page.render())
        }
        Err(error) => failure(&visitor, error, "/console/apps"),
    }
}

/// Deletes only when the typed name matches (a confirmation a stray click
/// cannot give).
pub async fn delete(
    AdminForm(visitor, form): AdminForm,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let client = match state.admin.find_client(&path).await {
        Ok(client) => client,
        Err(error) => return failure(&visitor, error, "/console/apps"),
    };
    if form.get("confirm") != Some(client.name.trim()) {
        let page = DeletePage {
            layout: visitor.layout("apps", None),
            id: client.id.as_str(),
            name: &client.name,
            error: Some("The name does not match; nothing was deleted."),
        };
        return html(400, page.render());
    }
    match state.admin.delete_client(&visitor.actor(), client.id.as_str()).await {
        Ok(()) => see_other("/console/apps?done=deleted"),
        Err(error) => failure(&visitor, error, "/console/apps"),
    }
}
