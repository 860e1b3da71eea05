//! `/api/v1/trusts`: trusted outside issuers.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::types::ApiError;
use super::AdminErrors;
use super::{no_content, ok, Failure, JsonBody};
use crate::domain::{TrustDraft as TrustInput, TrustView};
use crate::http::extract::AdminCaller;
use crate::http::AppState;

#[utoipa::path(get, path = "/api/v1/trusts", tag = "trusts", operation_id = "list_trusts",
    responses((status = 200, description = "Every trust, by issuer", body = [TrustView]), AdminErrors))]
pub async fn list(_: AdminCaller, state: web::Data<AppState>) -> Result<HttpResponse, Failure> {
    let trusts: Vec<TrustView> = state.trusts.list().await?.iter().map(TrustView::from).collect();
    Ok(ok(StatusCode::OK, &trusts))
}

#[utoipa::path(post, path = "/api/v1/trusts", tag = "trusts", operation_id = "create_trust", request_body = TrustInput,
    responses((status = 201, description = "Created", body = TrustView),
              (status = 400, description = "Invalid input (see `field`)", body = ApiError), AdminErrors,
              (status = 404, description = "An unknown service account, scope or client", body = ApiError)))]
pub async fn create(
    AdminCaller(actor): AdminCaller,
    JsonBody(input): JsonBody<TrustInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let new = input.parse().map_err(Failure::Invalids)?;
    let trust = state.trusts.create(&actor, new).await?;
    Ok(ok(StatusCode::CREATED, &TrustView::from(&trust)))
}

#[utoipa::path(get, path = "/api/v1/trusts/{id}", tag = "trusts", operation_id = "show_trust",
    params(("id" = String, Path, description = "The trust id")),
    responses((status = 200, body = TrustView), AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn show(
    _: AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let trust = state.trusts.find(&path).await?;
    Ok(ok(StatusCode::OK, &TrustView::from(&trust)))
}

#[utoipa::path(delete, path = "/api/v1/trusts/{id}", tag = "trusts", operation_id = "delete_trust",
    params(("id" = String, Path, description = "The trust id")),
    responses((status = 204, description = "Deleted: its tokens are inactive"), AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn delete(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.trusts.delete(&actor, &path).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/api/v1/trusts/{id}/enable", tag = "trusts", operation_id = "enable_trust",
    params(("id" = String, Path, description = "The trust id")),
    responses((status = 204, description = "Enabled (tokens issued before it was disabled stay inactive)"), AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn enable(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.trusts.set_enabled(&actor, &path, true).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/api/v1/trusts/{id}/disable", tag = "trusts", operation_id = "disable_trust",
    params(("id" = String, Path, description = "The trust id")),
    responses((status = 204, description = "Disabled: its JWTs are refused and its tokens inactive"), AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn disable(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.trusts.set_enabled(&actor, &path, false).await?;
    Ok(no_content())
}
