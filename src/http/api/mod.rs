//! The admin API under `/api/v1`: the console's operations as JSON, for
//! automation. Callers present a Bearer access token carrying
//! `tessera:admin` (see `oauth::admin_caller`). Errors are
//! `{"error": "<stable code>", "message": "…", "field": "…"}`; the OpenAPI 3
//! document at `/api/v1/openapi.json` is generated from these handlers.

mod apps;
mod directory;
mod misc;
mod service_accounts;
mod tokens;
mod trusts;
pub mod types;
mod users;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::AppState;
use crate::domain::{InvalidInput, Username};
use crate::http::observe::client_address;
use crate::oauth::admin_caller::CallerError;
use crate::service::audit::Actor;
use crate::service::ServiceError;
pub use types::ApiError;

/// Largest JSON body accepted.
const BODY_LIMIT: usize = 64 * 1024;

pub fn routes(config: &mut web::ServiceConfig) {
    use web::{delete, get, post, put};
    config.service(
        web::scope("/api/v1")
            .app_data(web::PayloadConfig::new(BODY_LIMIT))
            .wrap(from_fn(json_errors))
            .service(resource("/openapi.json", "GET").route(get().to(openapi)))
            .service(
                resource("/apps", "GET, POST").route(get().to(apps::list)).route(post().to(apps::create)),
            )
            .service(
                resource("/apps/{id}", "GET, PUT, DELETE")
                    .route(get().to(apps::show))
                    .route(put().to(apps::update))
                    .route(delete().to(apps::delete)),
            )
            .service(resource("/apps/{id}/rotate-secret", "POST").route(post().to(apps::rotate_secret)))
            .service(resource("/apps/{id}/enable", "POST").route(post().to(apps::enable)))
            .service(resource("/apps/{id}/disable", "POST").route(post().to(apps::disable)))
            .service(resource("/apps/{id}/revoke-tokens", "POST").route(post().to(apps::revoke_tokens)))
            .service(resource("/apps/{id}/grants", "GET").route(get().to(apps::grants)))
            .service(
                resource("/service-accounts", "GET, POST")
                    .route(get().to(service_accounts::list_service_accounts))
                    .route(post().to(service_accounts::create_service_account)),
            )
            .service(
                resource("/service-accounts/{username}", "GET, PUT")
                    .route(get().to(service_accounts::show_service_account))
                    .route(put().to(service_accounts::update_service_account)),
            )
            .service(
                resource("/service-accounts/{username}/enable", "POST")
                    .route(post().to(service_accounts::enable_service_account)),
            )
            .service(
                resource("/service-accounts/{username}/disable", "POST")
                    .route(post().to(service_accounts::disable_service_account)),
            )
            .service(
                resource("/users", "GET, POST")
                    .route(get().to(users::list_users))
                    .route(post().to(users::create_user)),
            )
            .service(
                resource("/users/{username}", "GET, PUT")
                    .route(get().to(users::show_user))
                    .route(put().to(users::update_user)),
            )
            .service(resource("/users/{username}/password", "POST").route(post().to(users::reset_password)))
            .service(resource("/users/{username}/enable", "POST").route(post().to(users::enable_user)))
            .service(resource("/users/{username}/disable", "POST").route(post().to(users::disable_user)))
            .service(
                resource("/users/{username}/grants", "GET, DELETE")
                    .route(get().to(users::user_grants))
                    .route(delete().to(users::revoke_user_grants)),
            )
            .service(resource("/grants/{id}", "DELETE").route(delete().to(users::revoke_grant)))
            .service(resource("/personal-tokens", "GET").route(get().to(tokens::list)))
            .service(resource("/personal-tokens/{id}", "DELETE").route(delete().to(tokens::revoke)))
            .service(
                resource("/users/{username}/personal-tokens", "GET, POST")
                    .route(get().to(tokens::list_of_user))
                    .route(post().to(tokens::create)),
            )
            .service(
                resource("/scopes", "GET, POST")
                    .route(get().to(misc::list_scopes))
                    .route(post().to(misc::create_scope)),
            )
            .service(resource("/scopes/{name}", "PUT").route(put().to(misc::update_scope)))
            .service(
                resource("/trusts", "GET, POST")
                    .route(get().to(trusts::list))
                    .route(post().to(trusts::create)),
            )
            .service(
                resource("/trusts/{id}", "GET, DELETE")
                    .route(get().to(trusts::show))
                    .route(delete().to(trusts::delete)),
            )
            .service(resource("/trusts/{id}/enable", "POST").route(post().to(trusts::enable)))
            .service(resource("/trusts/{id}/disable", "POST").route(post().to(trusts::disable)))
            .service(resource("/directory", "GET").route(get().to(directory::status)))
            .service(resource("/directory/test", "POST").route(post().to(directory::test)))
            .service(resource("/directory/sync", "POST").route(post().to(directory::sync)))
            .service(resource("/keys", "GET").route(get().to(misc::list_keys)))
            .service(resource("/keys/rotate", "POST").route(post().to(misc::rotate_keys)))
            .service(resource("/audit", "GET").route(get().to(misc::audit)))
            .default_service(web::to(not_found)),
    );
}

/// A path of the API; a method it does not serve gets 405 with `Allow`.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        let mut response =
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", &format!("use {allow}"), None);
        response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
        response
    }))
}

/// Every answer of the API is JSON: errors that actix's own extractors
/// produce as text (a malformed query string or path, a body over the
/// limit or cut short) are rewritten as `ApiError`s.
async fn json_errors(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(request).await?;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_client_error() && !status.is_server_error() || is_json {
        return Ok(response.map_into_boxed_body());
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("payload_too_large", format!("the body is larger than {} KiB", BODY_LIMIT / 1024))
        }
        StatusCode::BAD_REQUEST => {
            let cause = response.response().error().map(|e| e.to_string()).unwrap_or_default();
            ("invalid_input", format!("the request is malformed: {}", printable(&cause)))
        }
        StatusCode::NOT_FOUND => ("not_found", "no such API operation".to_owned()),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request arrived too slowly".to_owned()),
        status if status.is_server_error() => ("internal", "the server met an unexpected error".to_owned()),
        _ => ("invalid_input", "the request cannot be served".to_owned()),
    };
    let replacement = error(status, code, &message, None);
    Ok(response.into_response(replacement).map_into_boxed_body())
}

/// At most 200 printable characters of an error text.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
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
        service_accounts::list_service_accounts, service_accounts::create_service_account, service_accounts::show_service_account,
        service_accounts::update_service_account, service_accounts::enable_service_account, service_accounts::disable_service_account,
        users::list_users, users::create_user, users::show_user, users::update_user,
        users::reset_password, users::enable_user, users::disable_user, users::user_grants,
        users::revoke_user_grants, users::revoke_grant,
        tokens::list, tokens::list_of_user, tokens::create, tokens::revoke,
        trusts::list, trusts::create, trusts::show, trusts::delete, trusts::enable, trusts::disable,
        misc::list_scopes, misc::create_scope, misc::update_scope, misc::list_keys, misc::rotate_keys, misc::audit,
        directory::status, directory::test, directory::sync,
    ),
    modifiers(&BearerAuth, &CommonResponses),
    security(("bearer" = [])),
    tags(
        (name = "apps", description = "OAuth apps (clients)"),
        (name = "service accounts", description = "Non-human principals with a Jira username"),
        (name = "users", description = "People and their grants"),
        (name = "personal tokens", description = "People's personal API tokens"),
        (name = "scopes", description = "Scopes and their consent-page descriptions"),
        (name = "trusts", description = "Trusted outside issuers: CI jobs and pods trade their platform's JWT for a token"),
        (name = "directory", description = "The LDAP / Active Directory people sign in against"),
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

/// The answers every operation can give beside its own: the database
/// away (503); a malformed path or query (400); for operations with a body,
/// a body that is not JSON (415), too large (413) or malformed (400).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let answer = |description: &str| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ApiError"))).build();
            ResponseBuilder::new().description(description).content("application/json", content).build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete].into_iter().flatten();
            for operation in operations {
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| answer(description).into());
                };
                add("400", "Invalid input: a malformed path, query or body (see `field`)");
                add("503", "The database is unavailable; try again (see `Retry-After`)");
                if operation.request_body.is_some() {
                    add("413", "The body is larger than 64 KiB");
                    add("415", "The body is not application/json");
                }
            }
        }
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
        .and_then(super::userinfo::bearer_token)
        .filter(|token| token.len() <= 4096);
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
        Ok(name) => Ok(Actor::new(name, client_address(request))),
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
/// A JSON request body read as `T`: `415 unsupported_media_type` unless it
/// is sent as `application/json`, `400 invalid_json` when it does not read.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let body = web::Bytes::from_request(&request, payload);
        Box::pin(async move {
            let body = body.await?;
            Ok(JsonBody(json_body(&request, &body)?))
        })
    }
}

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

/// The answers any admin API call may get before it runs: no usable
/// token, or one that is not an admin's (the OpenAPI document lists them
/// on every operation).
#[derive(utoipa::IntoResponses)]
pub enum AdminErrors {
    #[response(status = 401, description = "No token, or an unknown, expired or revoked one")]
    NoToken(ApiError),
    #[response(status = 403, description = "The token lacks tessera:admin or its subject is not an admin")]
    NotAdmin(ApiError),
}

/// Errors of the core as API answers.
pub enum Failure {
    /// The request body itself: status, code, message.
    Body(StatusCode, &'static str, String),
    /// Every field a draft got wrong; the first is answered.
    Invalids(Vec<InvalidInput>),
    Service(ServiceError),
}

impl Failure {
    pub fn invalid(invalid: InvalidInput) -> Self {
        Self::Service(ServiceError::Invalid(invalid))
    }
}

impl<E: Into<ServiceError>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self::Service(error.into())
    }
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Body(status, code, message) => write!(f, "Body({status}, {code}, {message})"),
            Self::Invalids(all) => write!(f, "Invalids({all:?})"),
            Self::Service(error) => write!(f, "Service({error:?})"),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Body(_, _, message) => f.write_str(message),
            Self::Invalids(all) => f.write_str(all.first().map_or("invalid input", |e| e.message.as_str())),
            Self::Service(error) => write!(f, "{error}"),
        }
    }
}

/// The one mapping of an admin API failure to its answer.
impl actix_web::ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        match self {
            Failure::Body(status, _, _) => *status,
            Failure::Invalids(_) => StatusCode::BAD_REQUEST,
            Failure::Service(ServiceError::Invalid(_)) => StatusCode::BAD_REQUEST,
            Failure::Service(ServiceError::NotFound(_)) => StatusCode::NOT_FOUND,
            Failure::Service(ServiceError::Conflict(_)) => StatusCode::CONFLICT,
            Failure::Service(ServiceError::Forbidden(_)) => StatusCode::FORBIDDEN,
            Failure::Service(ServiceError::Busy(_) | ServiceError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Failure::Service(ServiceError::Internal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Failure::Body(status, code, message) => error(*status, code, message, None),
            Failure::Invalids(all) => match all.first() {
                Some(first) => error(StatusCode::BAD_REQUEST, "invalid_input", &first.message, first.field),
                None => error(StatusCode::BAD_REQUEST, "invalid_input", "invalid input", None),
            },
            Failure::Service(failed) => service_error(failed),
        }
    }
}

/// The one mapping of a service's error to an API answer.
pub fn service_error(failed: &ServiceError) -> HttpResponse {
    failed.log("admin API");
    match failed {
        ServiceError::Invalid(invalid) => {
            error(StatusCode::BAD_REQUEST, "invalid_input", &invalid.message, invalid.field)
        }
        ServiceError::NotFound(message) => error(StatusCode::NOT_FOUND, "not_found", message, None),
        ServiceError::Conflict(message) => error(StatusCode::CONFLICT, "conflict", message, None),
        ServiceError::Forbidden(message) => error(StatusCode::FORBIDDEN, "forbidden", message, None),
        ServiceError::Busy(_) | ServiceError::Unavailable(_) => unavailable(),
        ServiceError::Internal(_) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server met an unexpected error", None)
        }
    }
}

/// A username given in a body: a malformed one is refused by its field.
fn username(text: &str) -> Result<Username, Failure> {
    Username::parse(text).map_err(|e| Failure::invalid(e.in_field("username")))
}

/// A username in a path: a malformed one names nothing there is.
fn existing(text: &str, what: &str) -> Result<Username, Failure> {
    Username::parse(text).map_err(|_| ServiceError::NotFound(format!("no {what} named '{text}'")).into())
}
