//! `GET /console/dashboard`: counts, tokens issued per app, recent
//! security events.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::audit::{security_kinds, EventRow};
use super::{failure, Layout};
use crate::http::extract::Admin;
use crate::http::pages::html;
use crate::http::AppState;
use crate::service::admin::Counts;
use crate::service::audit::AuditQuery;
use crate::service::ServiceError;

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    counts: Counts,
    /// Client id, app name, tokens.
    issued: Vec<(String, String, i64)>,
    events: Vec<EventRow>,
    /// The directory's last sync, when one is configured.
    directory: Option<super::directory::DirectorySummary>,
}

pub async fn show(Admin(visitor): Admin, state: web::Data<AppState>) -> HttpResponse {
    let gather = async {
        let counts = state.admin.counts().await?;
        let clients = state.admin.list_clients().await?;
        let issued = state
            .audit
            .issued_last_day()
            .await?
            .into_iter()
            .map(|(id, count)| {
                let name = clients.iter().find(|c| c.id.as_str() == id).map_or("(deleted app)", |c| &c.name);
                (id.clone(), name.to_owned(), count)
            })
            .collect();
        let query = AuditQuery { kinds: security_kinds(), limit: 10, ..AuditQuery::default() };
        let events = state.audit.list(&query).await?.into_iter().map(EventRow::from).collect();
        let directory = super::directory::summary(&state).await?;
        Ok::<_, ServiceError>((counts, issued, events, directory))
    };
    match gather.await {
        Ok((counts, issued, events, directory)) => html(
            200,
            DashboardPage { layout: visitor.layout("dashboard", None), counts, issued, events, directory }
                .render(),
        ),
        Err(error) => failure(&visitor, error, "/console"),
    }
}
