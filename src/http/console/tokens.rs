//! Personal API tokens in the console: every signed-in person creates,
//! sees and revokes their own (`/console/me/tokens`; the token is shown
//! once, in the creation response); an admin sees everyone's and revokes
//! any (`/console/personal-tokens`).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{
    claim, failure, form_errors, notice, see_other, settle, visitor, when, FieldErrors, Form, Layout,
    Submission, Visitor,
};
use crate::crypto::secrets::random_id;
use crate::domain::ADMIN_SCOPE;
use crate::domain::OFFLINE_ACCESS;
use crate::domain::{Lifetime, PersonalToken, PersonalTokenId, Role, UnixTime};
use crate::http::extract::{Admin, AdminForm, VisitorForm};
use crate::http::pages::html;
use crate::http::AppState;
use crate::service::personal_tokens::TokenRequest;
use crate::service::ServiceError;

pub struct TokenRow {
    pub id: String,
    pub username: String,
    pub label: String,
    pub scope: String,
    pub status: &'static str,
    pub active: bool,
    pub created: String,
    pub expires: String,
    pub last_used: String,
}

impl TokenRow {
    fn new(token: &PersonalToken, now: UnixTime) -> Self {
        let status = token.status(now);
        Self {
            id: token.id.to_string(),
            username: token.username.to_string(),
            label: token.label.clone(),
            scope: if token.scope.is_empty() { "—".into() } else { token.scope.to_string() },
            status: status.as_str(),
            active: token.is_live(now),
            created: when(token.created_at),
            expires: token.expires_at.map_or("never".into(), when),
            last_used: token.last_used_at.map_or("never".into(), when),
        }
    }
}

pub struct TokenForm {
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_in: String,
    pub submission: String,
    pub errors: FieldErrors,
}

form_errors!(TokenForm);

impl TokenForm {
    pub fn has_scope(&self, name: &&String) -> bool {
        self.scopes.iter().any(|s| s == *name)
    }
}

#[derive(Template)]
#[template(path = "console/my_tokens.html")]
struct MyTokensPage {
    layout: Layout,
    form: TokenForm,
    scope_options: Vec<String>,
    policy: String,
    /// The token just created: shown this once.
    created: Option<String>,
    tokens: Vec<TokenRow>,
    revoke_base: &'static str,
}

#[derive(Template)]
#[template(path = "console/all_tokens.html")]
struct AllTokensPage {
    layout: Layout,
    tokens: Vec<TokenRow>,
    revoke_base: &'static str,
}

fn empty_form() -> TokenForm {
    TokenForm {
        label: String::new(),
        scopes: Vec::new(),
        expires_in: String::new(),
        submission: random_id(16),
        errors: FieldErrors::default(),
    }
}

/// What the policy means for someone filling in the form.
fn describe_policy(state: &AppState) -> String {
    let policy = state.personal_tokens.policy();
    let lifetime = match (policy.max_lifetime, policy.require_expiry) {
        (Some(max), false) => format!("Leave the expiry empty for the longest allowed, {max}."),
        (Some(max), true) => format!("An expiry is required, at most {max}."),
        (None, false) => "Leave the expiry empty for a token that never expires.".to_owned(),
        (None, true) => "An expiry is required.".to_owned(),
    };
    format!("{lifetime} You may hold {} active tokens.", policy.max_per_user)
}

async fn my_page(
    state: &AppState,
    visitor: &Visitor,
    form: TokenForm,
    created: Option<String>,
    status: u16,
    notice: Option<&'static str>,
) -> HttpResponse {
    let gather = async {
        let tokens = state.personal_tokens.list(Some(&visitor.user)).await?;
        let scopes = state.admin.list_scopes().await?;
        Ok::<_, ServiceError>((tokens, scopes))
    };
    let (tokens, scopes) = match gather.await {
        Ok(found) => found,
        Err(error) => return failure(visitor, error, "/console/me"),
    };
    let is_admin = visitor.user.role == Role::Admin;
    let scope_options = scopes
        .into_iter()
        .filter(|s| s.enabled && s.name.as_str() != OFFLINE_ACCESS)
        .filter(|s| is_admin || s.name.as_str() != ADMIN_SCOPE)
        .map(|s| s.name.to_string())
        .collect();
    let now = state.clock.now();
    let page = MyTokensPage {
        layout: visitor.layout("tokens", notice),
        form,
        scope_options,
        policy: describe_policy(state),
        created,
        tokens: tokens.iter().map(|t| TokenRow::new(t, now)).collect(),
        revoke_base: "/console/me/tokens",
    };
    html(status, page.render())
}

/// `GET /console/me/tokens`.
pub async fn mine(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match visitor(&request, &state).await {
        Ok(visitor) => my_page(&state, &visitor, empty_form(), None, 200, notice(&request)).await,
        Err(response) => response,
    }
}

fn posted_form(form: &Form) -> TokenForm {
    TokenForm {
        label: form.text("label"),
        scopes: form.all("scope"),
        expires_in: form.text("expires_in"),
        submission: form.text("submission"),
        errors: FieldErrors::default(),
    }
}

/// `POST /console/me/tokens`: the new token is in this response only.
pub async fn create(
    VisitorForm(visitor, posted): VisitorForm,
    _request: HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut form = posted_form(&posted);
    let expires_in = match form.expires_in.trim() {
        "" => None,
        text => match text.parse::<Lifetime>() {
            Ok(lifetime) => Some(lifetime),
            Err(invalid) => {
                form.errors.add("expires_in", invalid.message);
                return my_page(&state, &visitor, form, None, 400, None).await;
            }
        },
    };
    let submission = match claim(&state, &posted).await {
        Ok(Submission::First(id)) => id,
        Ok(Submission::Repeated(_)) => return see_other("/console/me/tokens?done=token_already"),
        Err(error) => return failure(&visitor, error, "/console/me/tokens"),
    };
    let token_request = TokenRequest { label: form.label.clone(), scopes: form.scopes.clone(), expires_in };
    let created = state.personal_tokens.create(&visitor.actor(), &visitor.user, &token_request).await;
    settle(&state, submission.as_deref(), created.as_ref().ok().map(|c| c.token.id.as_str())).await;
    match created {
        Ok(created) => {
            let secret = created.secret.expose().to_owned();
            my_page(&state, &visitor, empty_form(), Some(secret), 200, None).await
        }
        Err(error) => match error {
            ServiceError::Invalid(invalid) => {
                form.errors.add_invalid(&invalid);
                form.submission = random_id(16);
                my_page(&state, &visitor, form, None, 400, None).await
            }
            other => failure(&visitor, other, "/console/me/tokens"),
        },
    }
}

/// `POST /console/me/tokens/{id}/revoke`: only one's own.
pub async fn revoke_mine(
    VisitorForm(visitor, _): VisitorForm,
    path: web::Path<PersonalTokenId>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state.personal_tokens.revoke(&visitor.actor(), &path, Some(&visitor.user)).await {
        Ok(()) => see_other("/console/me/tokens?done=token_revoked"),
        Err(error) => failure(&visitor, error, "/console/me/tokens"),
    }
}

/// `GET /console/personal-tokens`: everyone's, for admins.
pub async fn all(Admin(visitor): Admin, request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let tokens = match state.personal_tokens.list(None).await {
        Ok(tokens) => tokens,
        Err(error) => return failure(&visitor, error, "/console"),
    };
    let now = state.clock.now();
    let page = AllTokensPage {
        layout: visitor.layout("personal_tokens", notice(&request)),
        tokens: tokens.iter().map(|t| TokenRow::new(t, now)).collect(),
        revoke_base: "/console/personal-tokens",
    };
    html(200, page.render())
}

/// `POST /console/personal-tokens/{id}/revoke`: any token, by an admin.
pub async fn revoke_any(
    AdminForm(visitor, _): AdminForm,
    path: web::Path<PersonalTokenId>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state.personal_tokens.revoke(&visitor.actor(), &path, None).await {
        Ok(()) => see_other("/console/personal-tokens?done=token_revoked"),
        Err(error) => failure(&visitor, error, "/console/personal-tokens"),
    }
}
