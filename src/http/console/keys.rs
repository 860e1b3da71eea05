//! Signing keys in the console: states, PEM downloads, rotation with the
//! pinned-PEM warning.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{failure, notice, see_other, when, Layout};
use crate::domain::UnixTime;
use crate::http::extract::{Admin, AdminForm};
use crate::http::pages::html;
use crate::http::AppState;
use crate::service::keys::KeyState;

pub struct KeyRow {
    pub kid: String,
    pub alg: &'static str,
    pub state: &'static str,
    pub activates_at: String,
    pub retired_at: String,
    pub unpublished_at: String,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    layout: Layout,
    keys: Vec<KeyRow>,
    publish_ahead: String,
    pending: bool,
    pending_at: String,
}

pub async fn list(Admin(visitor): Admin, request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let keys = state.admin.keys();
    let next = keys.iter().find(|k| k.state == KeyState::Next);
    let optional = |t: Option<i64>| t.map_or_else(|| "—".to_owned(), |t| when(UnixTime::from_seconds(t)));
    let page = KeysPage {
        layout: visitor.layout("keys", notice(&request)),
        pending: next.is_some(),
        pending_at: next.map(|k| when(UnixTime::from_seconds(k.activates_at))).unwrap_or_default(),
        publish_ahead: state.key_publish_ahead.to_string(),
        keys: keys
            .iter()
            .rev()
            .map(|k| KeyRow {
                kid: k.kid.clone(),
                alg: k.alg,
                state: k.state.as_str(),
                activates_at: when(UnixTime::from_seconds(k.activates_at)),
                retired_at: optional(k.retired_at),
                unpublished_at: optional(k.unpublished_at),
            })
            .collect(),
    };
    html(200, page.render())
}

pub async fn rotate(AdminForm(visitor, _): AdminForm, state: web::Data<AppState>) -> HttpResponse {
    match state.admin.rotate_keys(&visitor.actor(), None).await {
        Ok(_) => see_other("/console/keys?done=rotated"),
        Err(error) => failure(&visitor, error, "/console/keys"),
    }
}
