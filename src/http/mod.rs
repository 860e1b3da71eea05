//! actix adapters only: extract what the core needs, call it, map the
//! answer. No SQL, no protocol rules.

pub mod api;
mod authorize;
pub mod console;
mod device;
mod errors;
pub mod extract;
pub mod health;
pub mod limits;
mod logout;
mod oauth;
pub mod observe;
mod pages;
pub mod userinfo;
mod well_known;

use std::sync::Arc;

use actix_web::web;

use crate::oauth::OAuthServer;
use crate::service::accounts::Accounts;
use crate::service::sessions::Sessions;

/// The browser-session cookie: `__Host-` and `Secure` behind https; plain
/// on a loopback http issuer, where browsers refuse `Secure` cookies.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub name: String,
    pub secure: bool,
}

impl CookieSettings {
    pub fn for_issuer(issuer: &str) -> Self {
        if issuer.starts_with("https://") {
            Self { name: "__Host-tessera_session".into(), secure: true }
        } else {
            Self { name: "tessera_session".into(), secure: false }
        }
    }
}

pub use errors::oauth_error_response;

/// Shared by every worker.
pub struct AppState {
    pub oauth: Arc<OAuthServer>,
    /// The discovery document, serialised once at start.
    pub metadata: web::Bytes,
    pub sessions: Arc<Sessions>,
    pub accounts: Arc<Accounts>,
    pub personal_tokens: Arc<crate::service::personal_tokens::PersonalTokens>,
    pub audit: Arc<crate::service::audit::Audit>,
    pub keys: Arc<crate::service::keys::KeyManager>,
    pub clock: Arc<dyn crate::clock::Clock>,
    /// Password sign-in (behind its back-off) and sign-out.
    pub sign_in: Arc<crate::service::sign_in::SignIn>,
    /// One-time form submissions of the console.
    pub submissions: Arc<crate::service::submissions::Submissions>,
    pub cookies: CookieSettings,
    pub admin: Arc<crate::service::admin::Admin>,
    /// Trusted outside issuers.
    pub trusts: Arc<crate::service::trusts::Trusts>,
    /// How long a new signing key is published before it signs.
    pub key_publish_ahead: crate::domain::Lifetime,
    /// The Jira page: values to paste and the connection test.
    pub jira: Arc<crate::jira::Jira>,
    /// People from LDAP / Active Directory, when configured.
    pub directory: Option<Arc<crate::service::directory::DirectoryPeople>>,
}

/// `GET /`: people who type the server's address want the console.
async fn to_console() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Found().insert_header((actix_web::http::header::LOCATION, "/console")).finish()
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
        .service(
            web::resource("/oauth2/authorize")
                .route(web::get().to(authorize::get))
                .route(web::post().to(authorize::post)),
        )
        .service(
            web::resource("/oauth2/userinfo")
                .route(web::get().to(userinfo::get))
                .route(web::post().to(userinfo::post)),
        )
        .service(
            web::resource("/oauth2/par")
                .route(web::post().to(oauth::pushed_request))
                .default_service(web::to(errors::post_only)),
        )
        .service(
            web::resource("/oauth2/device_authorization")
                .route(web::post().to(device::authorization))
                .default_service(web::to(errors::post_only)),
        )
        .service(
            web::resource("/oauth2/device")
                .route(web::get().to(device::get))
                .route(web::post().to(device::post)),
        )
        .service(
            web::resource("/oauth2/logout")
                .route(web::get().to(logout::get))
                .route(web::post().to(logout::post)),
        )
        .configure(console::routes)
        .configure(api::routes)
        .route("/assets/tessera.css", web::get().to(pages::stylesheet))
        .route("/oauth2/jwks", web::get().to(well_known::jwks))
        .route("/oauth2/keys/{file}", web::get().to(well_known::pem))
        .route("/.well-known/oauth-authorization-server", web::get().to(well_known::metadata))
        .route("/.well-known/openid-configuration", web::get().to(well_known::metadata))
        .route("/", web::get().to(to_console))
        .configure(health::routes);
}
