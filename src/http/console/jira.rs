//! The Jira page (`/console/jira`, admins): the exact values each mode of
//! Jira's REST-authentication app needs, Jira's own introspection client
//! created in place (its secret shown once), and the test button that
//! mints a token and calls `GET {jira}/rest/api/2/myself` with it.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{admin, claim, failure, notice, see_other, settle, when, Layout, Submission, Visitor};
use crate::crypto::secrets::random_id;
use crate::domain::TokenFormat;
use crate::http::extract::AdminForm;
use crate::http::pages::html;
use crate::http::AppState;
use crate::jira::{JiraValues, Principal, PublicKey, Reply, TestRun};
use crate::service::ServiceError;

pub struct KeyView {
    pub kid: String,
    pub alg: &'static str,
    pub pem: String,
    pub pem_url: String,
    pub signs_from: String,
}

impl KeyView {
    fn new(key: PublicKey) -> Self {
        Self {
            kid: key.kid,
            alg: key.alg,
            pem: key.pem,
            pem_url: key.pem_url,
            signs_from: when(key.signs_from),
        }
    }
}

pub struct ResourceServerRow {
    pub id: String,
    pub name: String,
    pub enabled: bool,
}

/// Jira's new client, its secret shown this once.
pub struct CreatedClient {
    pub id: String,
    pub secret: String,
}

/// A test run as the page shows it.
pub struct RunView {
    pub url: String,
    pub username: String,
    pub app_name: String,
    pub token_format: &'static str,
    pub scope: String,
    pub expires_in: i64,
    pub accepted: bool,
    pub summary: String,
    /// None when Jira could not be reached.
    pub reply: Option<ReplyView>,
}

pub struct ReplyView {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub truncated: bool,
    pub elapsed_ms: u128,
}

impl ReplyView {
    fn new(reply: Reply) -> Self {
        // A JSON answer indented for reading; anything else as sent.
        let body = serde_json::from_str::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|json| serde_json::to_string_pretty(&json).ok())
            .unwrap_or(reply.body);
        Self {
            status: reply.status,
            content_type: reply.content_type.unwrap_or_default(),
            body,
            truncated: reply.truncated,
            elapsed_ms: reply.elapsed.as_millis(),
        }
    }
}

impl RunView {
    fn new(run: TestRun) -> Self {
        let (accepted, summary, reply) = match run.outcome {
            Ok((reply, advice)) => (advice.accepted, advice.summary, Some(ReplyView::new(reply))),
            Err(unreachable) => (false, format!("Tessera could not reach Jira: {unreachable}"), None),
        };
        Self {
            url: run.url,
            username: run.username,
            app_name: run.app_name,
            token_format: match run.token_format {
                TokenFormat::Jwt => "JWT",
                TokenFormat::Opaque => "opaque",
            },
            scope: if run.scope.is_empty() { "—".into() } else { run.scope },
            expires_in: run.expires_in,
            accepted,
            summary,
            reply,
        }
    }
}

#[derive(Template)]
#[template(path = "console/jira.html")]
struct JiraPage {
    layout: Layout,
    jira_url: Option<String>,
    issuer: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    introspection_endpoint: String,
    jwks_uri: String,
    username_claim: String,
    active_key: Option<KeyView>,
    next_key: Option<KeyView>,
    resource_servers: Vec<ResourceServerRow>,
    created: Option<CreatedClient>,
    client_name: String,
    client_error: Option<String>,
    submission: String,
    principals: Vec<Principal>,
    chosen: String,
    test_error: Option<String>,
    run: Option<RunView>,
    test_seconds: i64,
    max_body: usize,
}

/// What a page render adds to the values: the outcome of a post.
#[derive(Default)]
struct Outcome {
    created: Option<CreatedClient>,
    client_name: Option<String>,
    client_error: Option<String>,
    chosen: Option<String>,
    test_error: Option<String>,
    run: Option<RunView>,
}

async fn page(
    state: &AppState,
    request: &HttpRequest,
    visitor: &Visitor,
    outcome: Outcome,
    status: u16,
) -> HttpResponse {
    let values = match state.jira.values(&visitor.user).await {
        Ok(values) => values,
        Err(error) => return failure(visitor, error, "/console"),
    };
    let JiraValues {
        issuer,
        token_endpoint,
        userinfo_endpoint,
        introspection_endpoint,
        jwks_uri,
        username_claim,
        active_key,
        next_key,
        resource_servers,
        principals,
    } = values;
    let page = JiraPage {
        layout: visitor.layout("jira", notice(request)),
        jira_url: state.jira.base_url().map(str::to_owned),
        issuer,
        token_endpoint,
        userinfo_endpoint,
        introspection_endpoint,
        jwks_uri,
        username_claim,
        active_key: active_key.map(KeyView::new),
        next_key: next_key.map(KeyView::new),
        resource_servers: resource_servers
            .into_iter()
            .map(|c| ResourceServerRow { id: c.id.as_str().to_owned(), name: c.name, enabled: c.enabled })
            .collect(),
        created: outcome.created,
        client_name: outcome.client_name.unwrap_or_else(|| "Jira".into()),
        client_error: outcome.client_error,
        submission: random_id(16),
        chosen: outcome.chosen.or_else(|| principals.first().map(|p| p.value.clone())).unwrap_or_default(),
        principals,
        test_error: outcome.test_error,
        run: outcome.run,
        test_seconds: crate::jira::TEST_TOKEN_SECONDS,
        max_body: crate::jira::probe::MAX_BODY,
    };
    html(status, page.render())
}

/// `GET /console/jira`.
pub async fn show(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match admin(&request, &state).await {
        Ok(visitor) => page(&state, &request, &visitor, Outcome::default(), 200).await,
        Err(response) => response,
    }
}

/// `POST /console/jira/client`: Jira's own client — confidential,
/// client credentials, a resource server so it may introspect any token.
pub async fn create_client(
    AdminForm(visitor, form): AdminForm,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    let name = form.get("name").unwrap_or("Jira").to_owned();
    let submission = match claim(&state, &form).await {
        Ok(Submission::First(id)) => id,
        Ok(Submission::Repeated(_)) => return see_other("/console/jira?done=jira_client_already"),
        Err(error) => return failure(&visitor, error, "/console/jira"),
    };
    let created = state.admin.create_jira_client(&visitor.actor(), &name).await;
    let made = created.as_ref().ok().map(|c| c.client.id.to_string());
    settle(&state, submission.as_deref(), made.as_deref()).await;
    match created {
        Ok(created) => {
            let secret = created.secret.map(|s| s.expose().to_owned()).unwrap_or_default();
            let created = CreatedClient { id: created.client.id.to_string(), secret };
            page(&state, &request, &visitor, Outcome { created: Some(created), ..Outcome::default() }, 200)
                .await
        }
        Err(error) => match error {
            ServiceError::Invalid(invalid) => {
                let outcome = Outcome {
                    client_name: Some(name),
                    client_error: Some(invalid.message),
                    ..Outcome::default()
                };
                page(&state, &request, &visitor, outcome, 400).await
            }
            other => failure(&visitor, other, "/console/jira"),
        },
    }
}

/// `POST /console/jira/test`: mints a token for the chosen principal and
/// calls Jira with it. Jira's answer, whatever it is, is a 200 page.
pub async fn test(
    AdminForm(visitor, form): AdminForm,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    let chosen = form.text("as");
    match state.jira.test(&visitor.actor(), &visitor.user, &chosen).await {
        Ok(run) => {
            let outcome =
                Outcome { chosen: Some(chosen), run: Some(RunView::new(run)), ..Outcome::default() };
            page(&state, &request, &visitor, outcome, 200).await
        }
        Err(ServiceError::Invalid(invalid)) => {
            let outcome =
                Outcome { chosen: Some(chosen), test_error: Some(invalid.message), ..Outcome::default() };
            page(&state, &request, &visitor, outcome, 400).await
        }
        Err(error) => failure(&visitor, error, "/console/jira"),
    }
}
