//! `/api/v1/directory`: the LDAP / Active Directory people sign in
//! against — its status, a connection test, a sync now.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::types::{ApiError, DirectoryStatus, DirectoryTestInput, DirectoryTestOutput, SyncOutput};
use super::AdminErrors;
use super::{ok, Failure, JsonBody};
use crate::http::extract::AdminCaller;
use crate::http::AppState;
use crate::service::directory::{DirectoryPeople, SyncTrigger};
use crate::service::ServiceError;

fn configured(state: &AppState) -> Result<&DirectoryPeople, Failure> {
    state.directory.as_deref().ok_or_else(|| {
        ServiceError::not_found("no directory is configured (TESSERA_LDAP_URL, see docs/directory.md)").into()
    })
}

#[utoipa::path(get, path = "/api/v1/directory", tag = "directory",
    responses((status = 200, body = DirectoryStatus), AdminErrors))]
pub async fn status(_: AdminCaller, state: web::Data<AppState>) -> Result<HttpResponse, Failure> {
    let Some(directory) = state.directory.as_deref() else {
        return Ok(ok(StatusCode::OK, &DirectoryStatus::not_configured()));
    };
    let record = directory.status().await?;
    Ok(ok(StatusCode::OK, &DirectoryStatus::of(directory, &record, state.clock.now())))
}

#[utoipa::path(post, path = "/api/v1/directory/test", tag = "directory", request_body = DirectoryTestInput,
    responses((status = 200, description = "What was checked; `ok` false with `error` when something failed", body = DirectoryTestOutput),
        AdminErrors, (status = 404, description = "No directory is configured", body = ApiError)))]
pub async fn test(
    _: AdminCaller,
    JsonBody(input): JsonBody<DirectoryTestInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let directory = configured(&state)?;
    let report = directory.test(input.username.as_deref()).await;
    Ok(ok(StatusCode::OK, &DirectoryTestOutput::from(report)))
}

#[utoipa::path(post, path = "/api/v1/directory/sync", tag = "directory",
    responses((status = 200, description = "The sync ran; `ok` false with `error` when it could not list the directory (nobody was disabled)", body = SyncOutput),
        AdminErrors, (status = 404, description = "No directory is configured", body = ApiError),
        (status = 409, description = "Another node is syncing", body = ApiError)))]
pub async fn sync(
    AdminCaller(actor): AdminCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let directory = configured(&state)?;
    let report = directory.sync(SyncTrigger::Manual, &actor).await?;
    Ok(ok(StatusCode::OK, &SyncOutput::from(report)))
}
