//! actix adapters only: extract what the core needs, call it, map the
//! answer. No SQL, no protocol rules.

mod errors;
mod health;
mod oauth;
mod well_known;

use std::sync::Arc;

use actix_web::web;

use crate::oauth::OAuthServer;
use crate::store::Database;

pub use errors::oauth_error_response;

/// Shared by every worker.
pub struct AppState {
    pub oauth: Arc<OAuthServer>,
    pub database: Database,
    /// The discovery document, serialised once at start.
    pub metadata: web::Bytes,
}

/// The one route table.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/oauth2/token")
                .route(web::post().to(oauth::token))
                .default_service(web::to(errors::post_only)),
        )
        .service(
            web::resource("/oauth2/introspect")
                .route(web::post().to(oauth::introspect))
                .default_service(web::to(errors::post_only)),
        )
        .service(
            web::resource("/oauth2/revoke")
                .route(web::post().to(oauth::revoke))
                .default_service(web::to(errors::post_only)),
        )
        .route("/oauth2/jwks", web::get().to(well_known::jwks))
        .route("/oauth2/keys/{file}", web::get().to(well_known::pem))
        .route(
            "/.well-known/oauth-authorization-server",
            web::get().to(well_known::metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            web::get().to(well_known::metadata),
        )
        .route("/healthz", web::get().to(health::live))
        .route("/readyz", web::get().to(health::ready));
}
