//! `/api/v1/service-accounts`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::types::{ApiError, ServiceAccountInput, ServiceAccountOutput};
use super::AdminErrors;
use super::{existing, no_content, ok, username, Failure, JsonBody};
use crate::domain::{NewServiceAccount, ServiceAccountChanges};
use crate::http::extract::AdminCaller;
use crate::http::AppState;

#[utoipa::path(get, path = "/api/v1/service-accounts", tag = "service accounts",
    responses((status = 200, body = [ServiceAccountOutput]), AdminErrors))]
pub async fn list_service_accounts(
    _: AdminCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let accounts: Vec<ServiceAccountOutput> =
        state.admin.list_service_accounts().await?.into_iter().map(ServiceAccountOutput::from).collect();
    Ok(ok(StatusCode::OK, &accounts))
}

#[utoipa::path(post, path = "/api/v1/service-accounts", tag = "service accounts", request_body = ServiceAccountInput,
    responses((status = 201, body = ServiceAccountOutput), (status = 400, description = "Invalid input (see `field`)", body = ApiError), AdminErrors, (status = 409, description = "Already exists", body = ApiError)))]
pub async fn create_service_account(
    AdminCaller(actor): AdminCaller,
    JsonBody(input): JsonBody<ServiceAccountInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let new = NewServiceAccount { username: username(&input.username)?, display_name: input.display_name };
    let account = state.admin.create_service_account(&actor, new).await?;
    Ok(ok(StatusCode::CREATED, &ServiceAccountOutput::from(account)))
}

#[utoipa::path(get, path = "/api/v1/service-accounts/{username}", tag = "service accounts",
    params(("username" = String, Path)),
    responses((status = 200, body = ServiceAccountOutput), AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn show_service_account(
    _: AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let account = state.admin.find_service_account(&existing(&path, "service account")?).await?;
    Ok(ok(StatusCode::OK, &ServiceAccountOutput::from(account)))
}

#[utoipa::path(put, path = "/api/v1/service-accounts/{username}", tag = "service accounts",
    params(("username" = String, Path)), request_body = ServiceAccountInput,
    responses((status = 200, body = ServiceAccountOutput), (status = 400, description = "Invalid input (see `field`)", body = ApiError), AdminErrors, (status = 404, description = "Not found", body = ApiError), (status = 409, description = "Already exists", body = ApiError)))]
pub async fn update_service_account(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    JsonBody(input): JsonBody<ServiceAccountInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let original = existing(&path, "service account")?;
    let changes = ServiceAccountChanges {
        username: username(&input.username)?,
        display_name: input.display_name,
        admin: input.admin,
    };
    let account = state.admin.update_service_account(&actor, &original, changes).await?;
    Ok(ok(StatusCode::OK, &ServiceAccountOutput::from(account)))
}

#[utoipa::path(post, path = "/api/v1/service-accounts/{username}/enable", tag = "service accounts",
    params(("username" = String, Path)),
    responses((status = 204, description = "Enabled"), AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn enable_service_account(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.admin.set_service_account_enabled(&actor, &existing(&path, "service account")?, true).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/api/v1/service-accounts/{username}/disable", tag = "service accounts",
    params(("username" = String, Path)),
    responses((status = 204, description = "Disabled: its apps' tokens are inactive"), AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn disable_service_account(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.admin.set_service_account_enabled(&actor, &existing(&path, "service account")?, false).await?;
    Ok(no_content())
}
