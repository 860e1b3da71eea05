//! `GET /console/audit`: the audit log, filtered and paged (newest first,
//! 50 a page, keyset paging on the sequence number).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{failure, when, Layout};
use crate::http::extract::Admin;
use crate::http::pages::html;
use crate::http::AppState;
use crate::service::audit::Kind;
use crate::service::audit::{AuditQuery, AuditRecord};
use crate::service::ServiceError;

const PAGE_SIZE: u32 = 50;

/// One audit row as a page shows it.
pub struct EventRow {
    pub when: String,
    pub kind: String,
    pub security: bool,
    pub actor: String,
    pub address: String,
    pub target: String,
    pub detail: String,
}

impl From<AuditRecord> for EventRow {
    fn from(record: AuditRecord) -> Self {
        Self {
            when: when(record.at),
            security: Kind::parse(&record.kind).is_some_and(Kind::is_alarming),
            kind: record.kind,
            actor: record.actor,
            address: record.address.unwrap_or_default(),
            target: record.target,
            detail: record.detail,
        }
    }
}

pub fn security_kinds() -> Vec<String> {
    Kind::ALL.iter().filter(|k| k.is_security()).map(|k| k.as_str().to_owned()).collect()
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    layout: Layout,
    events: Vec<EventRow>,
    kinds: Vec<&'static str>,
    category: String,
    selected_kind: String,
    actor: String,
    text: String,
    next_page: Option<String>,
}

impl AuditPage {
    fn is_selected(&self, kind: &str) -> bool {
        self.selected_kind == kind
    }
}

pub async fn list(Admin(visitor): Admin, request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(request.query_string().as_bytes()).into_owned().collect();
    let get = |name: &str| {
        params.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim().to_owned()).unwrap_or_default()
    };
    let (category, kind, actor, text) = (get("category"), get("kind"), get("actor"), get("q"));
    let kinds = match (Kind::parse(&kind), category.as_str()) {
        (Some(kind), _) => vec![kind.as_str().to_owned()],
        (None, "security") => security_kinds(),
        (None, "admin") => {
            Kind::ALL.iter().filter(|k| !k.is_security()).map(|k| k.as_str().to_owned()).collect()
        }
        _ => Vec::new(),
    };
    let query = AuditQuery {
        kinds,
        actor: (!actor.is_empty()).then(|| actor.clone()),
        text: (!text.is_empty()).then(|| text.clone()),
        before: get("before").parse().ok(),
        limit: PAGE_SIZE,
    };
    let records = match state.audit.list(&query).await {
        Ok(records) => records,
        Err(error) => return failure(&visitor, ServiceError::from(error), "/console"),
    };
    let next_page = (records.len() == PAGE_SIZE as usize).then(|| {
        let last = records.last().map_or(0, |r| r.seq);
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("category", &category)
            .append_pair("kind", &kind)
            .append_pair("actor", &actor)
            .append_pair("q", &text)
            .append_pair("before", &last.to_string())
            .finish();
        format!("/console/audit?{query}")
    });
    let page = AuditPage {
        layout: visitor.layout("audit", None),
        events: records.into_iter().map(EventRow::from).collect(),
        kinds: Kind::ALL.iter().map(|k| k.as_str()).collect(),
        category,
        selected_kind: kind,
        actor,
        text,
        next_page,
    };
    html(200, page.render())
}
