//! The admin API under `/api/v1`: the console's operations as JSON, for
//! automation. Callers present a Bearer access token carrying
//! `tessera:admin` (see `oauth::admin_caller`). Errors are
//! `{"error": "<stable code>", "message": "…", "field": "…"}`; the OpenAPI 3
//! document at `/api/v1/openapi.json` is generated from these handlers.

mod apps;
mod directory;
mod misc;
mod tokens;
mod types;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::AppState;
use crate::accounts::AccountError;
use crate::admin::AdminError;
use crate::audit::Actor;
use crate::domain::InvalidInput;
use crate::oauth::admin_caller::CallerError;
use crate::store::StoreError;
pub use types::ApiError;

/// Largest JSON body accepted.
const BODY_LIMIT: usize = 64 * 1024;

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/api/v1")
            .app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route("/openapi.json", web::get().to(openapi))
            .route("/apps", web::get().to(apps::list))
            .route("/apps", web::post().to(apps::create))
            .route("/apps/{id}", web::get().to(apps::show))
            .route("/apps/{id}", web::put().to(apps::update))
            .route("/apps/{id}", web::delete().to(apps::delete))
            .route("/apps/{id}/rotate-secret", web::post().to(apps::rotate_secret))
            .route("/apps/{id}/enable", web::post().to(apps::enable))
            .route("/apps/{id}/disable", web::post().to(apps::disable))
            .route("/apps/{id}/revoke-tokens", web::post().to(apps::revoke_tokens))
            .route("/apps/{id}/grants", web::get().to(apps::grants))
            .route("/service-accounts", web::get().to(directory::list_service_accounts))
            .route("/service-accounts", web::post().to(directory::create_service_account))
            .route("/service-accounts/{username}", web::get().to(directory::show_service_account))
            .route("/service-accounts/{username}", web::put().to(directory::update_service_account))
            .route("/service-accounts/{username}/enable", web::post().to(directory::enable_service_account))
            .route("/service-accounts/{username}/disable", web::post().to(directory::disable_service_account))
            .route("/users", web::get().to(directory::list_users))
            .route("/users", web::post().to(directory::create_user))
            .route("/users/{username}", web::get().to(directory::show_user))
            .route("/users/{username}", web::put().to(directory::update_user))
            .route("/users/{username}/password", web::post().to(directory::reset_password))
            .route("/users/{username}/enable", web::post().to(directory::enable_user))
            .route("/users/{username}/disable", web::post().to(directory::disable_user))
            .route("/users/{username}/grants", web::get().to(directory::user_grants))
            .route("/users/{username}/grants", web::delete().to(directory::revoke_user_grants))
            .route("/grants/{id}", web::delete().to(directory::revoke_grant))
            .route("/personal-tokens", web::get().to(tokens::list))
            .route("/personal-tokens/{id}", web::delete().to(tokens::revoke))
            .route("/users/{username}/personal-tokens", web::get().to(tokens::list_of_user))
            .route("/users/{username}/personal-tokens", web::post().to(tokens::create))
            .route("/scopes", web::get().to(misc::list_scopes))
            .route("/scopes", web::post().to(misc::create_scope))
            .route("/scopes/{name}", web::put().to(misc::update_scope))
            .route("/keys", web::get().to(misc::list_keys))
            .route("/keys/rotate", web::post().to(misc::rotate_keys))
            .route("/audit", web::get().to(misc::audit))
            .default_service(web::to(not_found)),
    );
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera admin API",
        description = "Manage OAuth apps, service accounts, users, scopes, signing keys and read the audit log. \
                       Every call needs `Authorization: Bearer <access token>` with the `tessera:admin` scope, \
                       issued to an admin user or to a service account flagged admin."
    ),
    paths(
        apps::list, apps::create, apps::show, apps::update, apps::delete, apps::rotate_secret,
        apps::enable, apps::disable, apps::revoke_tokens, apps::grants,
        directory::list_service_accounts, directory::create_service_account, directory::show_service_account,
        directory::update_service_account, directory::enable_service_account, directory::disable_service_account,
        directory::list_users, directory::create_user, directory::show_user, directory::update_user,
        directory::reset_password, directory::enable_user, directory::disable_user, directory::user_grants,
        directory::revoke_user_grants, directory::revoke_grant,
        tokens::list, tokens::list_of_user, tokens::create, tokens::revoke,
        misc::list_scopes, misc::create_scope, misc::update_scope, misc::list_keys, misc::rotate_keys, misc::audit,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "apps", description = "OAuth apps (clients)"),
        (name = "service accounts", description = "Non-human principals with a Jira username"),
        (name = "users", description = "People and their grants"),
        (name = "personal tokens", description = "People's personal API tokens"),
        (name = "scopes", description = "Scopes and their consent-page descriptions"),
        (name = "keys", description = "Token-signing keys"),
        (name = "audit", description = "The audit log"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json`: public, so tools can read it before they
/// hold a token.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(ApiDoc::openapi().to_pretty_json().unwrap_or_default())
}

async fn not_found() -> HttpResponse {
    error(StatusCode::NOT_FOUND, "not_found", "no such API operation", None)
}

/// The admin calling, or the 401/403 answer.
pub async fn caller(request: &HttpRequest, state: &AppState) -> Result<Actor, HttpResponse> {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty() && token.len() <= 4096);
    let Some(token) = token else {
        // No token at all: a bare challenge (RFC 6750 §3.1).
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send an access token: Authorization: Bearer <token>",
            None,
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer realm=\"tessera\""));
        return Err(response);
    };
    match state.oauth.admin_caller(token).await {
        Ok(name) => Ok(Actor::new(name, request.peer_addr().map(|a| a.ip()))),
        Err(CallerError::InvalidToken) => {
            Err(unauthorized("the access token is unknown, expired or revoked"))
        }
        Err(CallerError::NotAdmin) => {
            let mut response = error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the token needs the tessera:admin scope and an admin subject",
                None,
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static(
                    "Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"tessera:admin\"",
                ),
            );
            Err(response)
        }
        Err(CallerError::Unavailable) => Err(unavailable()),
        Err(CallerError::Unexpected(cause)) => {
            tracing::error!(error = format!("{cause:#}"), "admin API authentication failed");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the server met an unexpected error",
                None,
            ))
        }
    }
}

fn unauthorized(message: &str) -> HttpResponse {
    let mut response = error(StatusCode::UNAUTHORIZED, "unauthorized", message, None);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"tessera\", error=\"invalid_token\""),
    );
    response
}

fn unavailable() -> HttpResponse {
    let mut response =
        error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database is unavailable; try again", None);
    response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    response
}

pub fn error(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> HttpResponse {
    HttpResponse::build(status).insert_header((header::CACHE_CONTROL, "no-store")).json(ApiError {
        error: code.to_owned(),
        message: message.to_owned(),
        field: field.map(str::to_owned),
    })
}

/// A JSON body of type `T`, or a 400 `invalid_json` saying what is wrong.
pub fn json_body<T: DeserializeOwned>(request: &HttpRequest, body: &[u8]) -> Result<T, Failure> {
    let json = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/json")
    });
    if !json {
        return Err(Failure::Body(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        // serde's type errors quote the value sent (it may be a password):
        // name the place, not the value; unknown and missing fields are safe.
        let text = e.to_string();
        let message = if text.starts_with("unknown field") || text.starts_with("missing field") {
            format!("the body is not the expected JSON: {text}")
        } else {
            format!("the body is not the expected JSON (line {}, column {})", e.line(), e.column())
        };
        Failure::Body(StatusCode::BAD_REQUEST, "invalid_json", message)
    })
}

pub fn ok<T: Serialize>(status: StatusCode, value: &T) -> HttpResponse {
    HttpResponse::build(status).insert_header((header::CACHE_CONTROL, "no-store")).json(value)
}

pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish()
}

/// Errors of the core as API answers.
pub enum Failure {
    /// The request body itself: status, code, message.
    Body(StatusCode, &'static str, String),
    Invalid(InvalidInput),
    Invalids(Vec<InvalidInput>),
    Store(StoreError),
    Unexpected(anyhow::Error),
}

impl From<AdminError> for Failure {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Invalid(invalid) => Self::Invalid(invalid),
            AdminError::Store(store) => Self::Store(store),
        }
    }
}

impl From<AccountError> for Failure {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Invalid(invalid) => Self::Invalid(invalid),
            AccountError::Store(store) => Self::Store(store),
            AccountError::Busy => {
                Self::Store(StoreError::Unavailable(anyhow::anyhow!("password hashing is busy")))
            }
            AccountError::Unexpected(error) => Self::Unexpected(error),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<InvalidInput> for Failure {
    fn from(error: InvalidInput) -> Self {
        Self::Invalid(error)
    }
}

impl From<Failure> for HttpResponse {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Body(status, code, message) => error(status, code, &message, None),
            Failure::Invalid(invalid) => {
                error(StatusCode::BAD_REQUEST, "invalid_input", &invalid.message, invalid.field)
            }
            Failure::Invalids(mut all) if !all.is_empty() => {
                let first = all.remove(0);
                error(StatusCode::BAD_REQUEST, "invalid_input", &first.message, first.field)
            }
            Failure::Invalids(_) => error(StatusCode::BAD_REQUEST, "invalid_input", "invalid input", None),
            Failure::Store(StoreError::NotFound(message)) => {
                error(StatusCode::NOT_FOUND, "not_found", &message, None)
            }
            Failure::Store(StoreError::Conflict(message)) => {
                error(StatusCode::CONFLICT, "conflict", &message, None)
            }
            Failure::Store(StoreError::Unavailable(_)) => unavailable(),
            Failure::Store(StoreError::Unexpected(cause)) | Failure::Unexpected(cause) => {
                tracing::error!(error = format!("{cause:#}"), "admin API operation failed");
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server met an unexpected error",
                    None,
                )
            }
        }
    }
}

/// Runs an operation for an admin caller and answers with its result.
macro_rules! admin_call {
    ($request:expr, $state:expr, |$actor:ident| $body:expr) => {{
        let $actor = match $crate::http::api::caller(&$request, &$state).await {
            Ok(actor) => actor,
            Err(response) => return response,
        };
        let result: Result<actix_web::HttpResponse, $crate::http::api::Failure> = async { $body }.await;
        result.unwrap_or_else(actix_web::HttpResponse::from)
    }};
}
pub(crate) use admin_call;
