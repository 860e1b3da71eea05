//! `/api/v1/apps`: OAuth apps.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::types::{ApiError, App, AppInput, CreatedApp, Grant, RotateInput, RotatedSecret, SearchParams};
use super::AdminErrors;
use super::{json_body, no_content, ok, Failure, JsonBody};
use crate::domain::Grace;
use crate::http::extract::AdminCaller;
use crate::http::AppState;
use crate::service::accounts::GrantsOf;

#[utoipa::path(get, path = "/api/v1/apps", tag = "apps", operation_id = "list_apps", params(SearchParams),
    responses((status = 200, description = "Every app, by name", body = [App]),
              AdminErrors))]
pub async fn list(
    _: AdminCaller,
    query: web::Query<SearchParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let found = state.admin.search_clients(query.q.as_deref().unwrap_or_default()).await?;
    let apps: Vec<App> = found.iter().map(App::from).collect();
    Ok(ok(StatusCode::OK, &apps))
}

#[utoipa::path(post, path = "/api/v1/apps", tag = "apps", operation_id = "create_app", request_body = AppInput,
    responses((status = 201, description = "Registered; the secret is shown this once", body = CreatedApp),
              (status = 400, description = "Invalid input (see `field`)", body = ApiError), AdminErrors,
              (status = 404, description = "An unknown scope or service account", body = ApiError)))]
pub async fn create(
    AdminCaller(actor): AdminCaller,
    JsonBody(input): JsonBody<AppInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let new = input.parse().map_err(Failure::Invalids)?;
    let created = state.admin.create_client(&actor, new).await?;
    let answer = CreatedApp {
        app: App::from(&created.client),
        client_secret: created.secret.map(|s| s.expose().to_owned()),
    };
    Ok(ok(StatusCode::CREATED, &answer))
}

#[utoipa::path(get, path = "/api/v1/apps/{id}", tag = "apps", operation_id = "show_app", params(("id" = String, Path, description = "client_id")),
    responses((status = 200, body = App), AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn show(
    _: AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let client = state.admin.find_client(&path).await?;
    Ok(ok(StatusCode::OK, &App::from(&client)))
}

#[utoipa::path(put, path = "/api/v1/apps/{id}", tag = "apps", operation_id = "update_app", params(("id" = String, Path, description = "client_id")),
    request_body = AppInput,
    responses((status = 200, description = "The app as saved", body = App), (status = 400, description = "Invalid input (see `field`)", body = ApiError),
              AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn update(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    JsonBody(input): JsonBody<AppInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let changes = input.parse().map_err(Failure::Invalids)?;
    let client = state.admin.update_client(&actor, &path, changes).await?;
    Ok(ok(StatusCode::OK, &App::from(&client)))
}

#[utoipa::path(delete, path = "/api/v1/apps/{id}", tag = "apps", operation_id = "delete_app", params(("id" = String, Path, description = "client_id")),
    responses((status = 204, description = "Deleted with its secrets, grants and tokens"),
              AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn delete(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.admin.delete_client(&actor, &path).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/api/v1/apps/{id}/rotate-secret", tag = "apps", operation_id = "rotate_app_secret",
    params(("id" = String, Path, description = "client_id")), request_body(content = Option<RotateInput>),
    responses((status = 200, description = "The new secret, shown this once", body = RotatedSecret),
              (status = 400, description = "Invalid input (see `field`)", body = ApiError), AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn rotate_secret(
    AdminCaller(actor): AdminCaller,
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let input: RotateInput =
        if body.is_empty() { RotateInput::default() } else { json_body(&request, &body)? };
    let grace = input
        .grace
        .as_deref()
        .map(str::parse::<Grace>)
        .transpose()
        .map_err(|e| Failure::invalid(e.in_field("grace")))?;
    let rotated = state.admin.rotate_client_secret(&actor, &path, grace).await?;
    let answer = RotatedSecret {
        client_secret: rotated.secret.map(|s| s.expose().to_owned()).unwrap_or_default(),
        previous_secret_expires_at: rotated.previous_secret_expires_at.map(|t| t.seconds()),
    };
    Ok(ok(StatusCode::OK, &answer))
}

#[utoipa::path(post, path = "/api/v1/apps/{id}/enable", tag = "apps", operation_id = "enable_app", params(("id" = String, Path, description = "client_id")),
    responses((status = 204, description = "Enabled"), AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn enable(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.admin.set_client_enabled(&actor, &path, true).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/api/v1/apps/{id}/disable", tag = "apps", operation_id = "disable_app", params(("id" = String, Path, description = "client_id")),
    responses((status = 204, description = "Disabled: its tokens are inactive, it cannot authenticate"),
              AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn disable(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.admin.set_client_enabled(&actor, &path, false).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/api/v1/apps/{id}/revoke-tokens", tag = "apps", operation_id = "revoke_app_tokens",
    params(("id" = String, Path, description = "client_id")),
    responses((status = 204, description = "Every token issued until now is inactive; its grants are revoked"),
              AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn revoke_tokens(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.admin.revoke_client_tokens(&actor, &path).await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/api/v1/apps/{id}/grants", tag = "apps", operation_id = "app_grants", params(("id" = String, Path, description = "client_id")),
    responses((status = 200, description = "Live grants of people to this app", body = [Grant]),
              AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn grants(
    _: AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let client = state.admin.find_client(&path).await?;
    let grants: Vec<Grant> =
        state.accounts.grants(GrantsOf::Client(&client.id)).await?.into_iter().map(Grant::from).collect();
    Ok(ok(StatusCode::OK, &grants))
}
