//! Liveness (the process answers; nothing else is asked), readiness (the
//! node is serving, not starting or draining, and its database answers),
//! and the management listener's `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::lifecycle::{Lifecycle, Phase};
use crate::metrics::Metrics;
use crate::service::keys::KeyManager;
use crate::service::readiness::DatabaseHealth;

/// What the health and metrics endpoints read. Everything here exists
/// before the database is reached, so these endpoints answer from the
/// moment the process starts; `keys` only once it is loaded.
#[derive(Clone)]
pub struct Health {
    pub lifecycle: Arc<Lifecycle>,
    pub database: Option<DatabaseHealth>,
    pub metrics: Arc<Metrics>,
    pub keys: Option<Arc<KeyManager>>,
}

/// A readiness check slower than this counts as the database being down.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn live(health: web::Data<Health>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok", "phase": health.lifecycle.phase().as_str()}))
}

pub async fn ready(health: web::Data<Health>) -> HttpResponse {
    let unavailable = |reason: &str| {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(json!({"status": "unavailable", "reason": reason}))
    };
    match health.lifecycle.phase() {
        Phase::Starting => return unavailable("starting: waiting for the database"),
        Phase::Draining => return unavailable("shutting down"),
        Phase::Serving => {}
    }
    if database_up(&health).await {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        unavailable("database unreachable")
    }
}

/// `GET /metrics`: the gauges read at scrape time, then every metric.
pub async fn metrics(health: web::Data<Health>) -> HttpResponse {
    let up = database_up(&health).await;
    if let Some(database) = &health.database {
        let (connections, idle) = database.connections();
        health.metrics.observe_database(up, connections, idle);
    } else {
        health.metrics.observe_database(false, 0, 0);
    }
    if let Some(keys) = &health.keys {
        let described = keys.describe();
        health
            .metrics
            .observe_keys(described.iter().map(|k| (k.kid.as_str(), k.state.as_str(), k.activates_at)));
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(health.metrics.render())
}

async fn database_up(health: &Health) -> bool {
    let Some(database) = &health.database else { return false };
    database.answers_within(PING_TIMEOUT).await
}

/// `/healthz` and `/readyz`, on the main and the management listener.
pub fn routes(config: &mut web::ServiceConfig) {
    config.route("/healthz", web::get().to(live)).route("/readyz", web::get().to(ready));
}

/// The management listener's routes (`/metrics` plus the health checks).
pub fn management_routes(config: &mut web::ServiceConfig) {
    config.route("/metrics", web::get().to(metrics)).configure(routes);
}
