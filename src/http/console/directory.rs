//! `/console/directory`: the LDAP / Active Directory people sign in against
//! — the last sync, "test connection / test user", "sync now".

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{failure, notice, see_other, when, Layout, Visitor};
use crate::domain::UnixTime;
use crate::http::extract::{Admin, AdminForm};
use crate::http::pages::html;
use crate::http::AppState;
use crate::service::directory::{ConnectionTest, SyncTrigger};
use crate::service::ServiceError;

/// The directory's state, as the page and the dashboard show it.
pub struct DirectorySummary {
    pub url: String,
    pub admin_group: String,
    pub last_sync: String,
    pub outcome: String,
    pub error: Option<String>,
    pub people_seen: u64,
    pub users_updated: u64,
    pub users_disabled: u64,
    pub users_enabled: u64,
    pub syncing: bool,
    /// The last error this node met talking to the directory, and when.
    pub last_error: Option<(String, String)>,
}

/// The summary, or `None` when no directory is configured.
pub async fn summary(state: &AppState) -> Result<Option<DirectorySummary>, ServiceError> {
    let Some(directory) = state.directory.as_deref() else { return Ok(None) };
    let record = directory.status().await?;
    let settings = directory.directory().settings();
    Ok(Some(DirectorySummary {
        url: settings.url.clone(),
        admin_group: settings.admin_group.clone().unwrap_or_else(|| "—".into()),
        last_sync: record.finished_at.map_or_else(|| "never".into(), when),
        outcome: record.outcome.clone().unwrap_or_else(|| "—".into()),
        error: record.error.clone(),
        people_seen: record.people_seen,
        users_updated: record.users_updated,
        users_disabled: record.users_disabled,
        users_enabled: record.users_enabled,
        syncing: record.running(state.clock.now()),
        last_error: directory.last_error().map(|(at, error): (UnixTime, String)| (when(at), error)),
    }))
}

#[derive(Template)]
#[template(path = "console/directory.html")]
struct DirectoryPage {
    layout: Layout,
    directory: Option<DirectorySummary>,
    /// The username last tested, and what the test found.
    tested: String,
    test: Option<ConnectionTest>,
}

async fn page(
    visitor: &Visitor,
    state: &AppState,
    notice: Option<&'static str>,
    tested: String,
    test: Option<ConnectionTest>,
) -> HttpResponse {
    match summary(state).await {
        Ok(directory) => {
            let page = DirectoryPage { layout: visitor.layout("directory", notice), directory, tested, test };
            html(200, page.render())
        }
        Err(error) => failure(visitor, error, "/console"),
    }
}

pub async fn show(Admin(visitor): Admin, request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    page(&visitor, &state, notice(&request), String::new(), None).await
}

/// The page for a console whose server has no directory configured.
fn not_configured(visitor: &Visitor) -> HttpResponse {
    let error = ServiceError::not_found("no directory is configured (TESSERA_LDAP_URL)");
    failure(visitor, error, "/console/directory")
}

/// "Test connection / test user": the result is shown on the page.
pub async fn test(AdminForm(visitor, form): AdminForm, state: web::Data<AppState>) -> HttpResponse {
    let Some(directory) = state.directory.as_deref() else { return not_configured(&visitor) };
    let username = form.text("username");
    let report = directory.test(Some(&username)).await;
    page(&visitor, &state, None, username, Some(report)).await
}

/// "Sync now".
pub async fn sync(AdminForm(visitor, _): AdminForm, state: web::Data<AppState>) -> HttpResponse {
    let Some(directory) = state.directory.as_deref() else { return not_configured(&visitor) };
    match directory.sync(SyncTrigger::Manual, &visitor.actor()).await {
        Ok(report) if report.ok => see_other("/console/directory?done=synced"),
        Ok(_) => see_other("/console/directory?done=sync_failed"),
        Err(error) => failure(&visitor, error, "/console/directory"),
    }
}
