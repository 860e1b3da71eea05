//! `/api/v1/personal-tokens` and `/api/v1/users/{username}/personal-tokens`:
//! people's personal API tokens, for an admin.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::existing;
use super::types::{ApiError, CreatedPersonalToken, PersonalTokenInput, PersonalTokenOutput};
use super::AdminErrors;
use super::{no_content, ok, Failure, JsonBody};
use crate::domain::{Lifetime, PersonalToken, PersonalTokenId, UnixTime};
use crate::http::extract::AdminCaller;
use crate::http::AppState;
use crate::service::personal_tokens::TokenRequest;

fn outputs(tokens: &[PersonalToken], now: UnixTime) -> Vec<PersonalTokenOutput> {
    tokens.iter().map(|t| PersonalTokenOutput::new(t, now)).collect()
}

#[utoipa::path(get, path = "/api/v1/personal-tokens", tag = "personal tokens",
    responses((status = 200, body = [PersonalTokenOutput]), AdminErrors))]
pub async fn list(_: AdminCaller, state: web::Data<AppState>) -> Result<HttpResponse, Failure> {
    let now = state.clock.now();
    let tokens = state.personal_tokens.list(None).await?;
    Ok(ok(StatusCode::OK, &outputs(&tokens, now)))
}

#[utoipa::path(get, path = "/api/v1/users/{username}/personal-tokens", tag = "personal tokens",
    params(("username" = String, Path)),
    responses((status = 200, body = [PersonalTokenOutput]), AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn list_of_user(
    _: AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let owner = state.accounts.find_user(&existing(&path, "user")?).await?;
    let now = state.clock.now();
    let tokens = state.personal_tokens.list(Some(&owner)).await?;
    Ok(ok(StatusCode::OK, &outputs(&tokens, now)))
}

#[utoipa::path(post, path = "/api/v1/users/{username}/personal-tokens", tag = "personal tokens",
    params(("username" = String, Path)), request_body = PersonalTokenInput,
    responses((status = 201, description = "Created; the token is in this answer only", body = CreatedPersonalToken),
              (status = 400, description = "Invalid input (see `field`), or the user holds the most tokens allowed", body = ApiError),
              AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn create(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    JsonBody(input): JsonBody<PersonalTokenInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let owner = state.accounts.find_user(&existing(&path, "user")?).await?;
    let expires_in = input
        .expires_in
        .as_deref()
        .map(str::parse::<Lifetime>)
        .transpose()
        .map_err(|e| Failure::invalid(e.in_field("expires_in")))?;
    let token_request = TokenRequest { label: input.label, scopes: input.scope, expires_in };
    let created = state.personal_tokens.create(&actor, &owner, &token_request).await?;
    let now = state.clock.now();
    let answer = CreatedPersonalToken {
        token: created.secret.expose().to_owned(),
        details: PersonalTokenOutput::new(&created.token, now),
    };
    Ok(ok(StatusCode::CREATED, &answer))
}

#[utoipa::path(delete, path = "/api/v1/personal-tokens/{id}", tag = "personal tokens",
    params(("id" = String, Path, description = "token id")),
    responses((status = 204, description = "Revoked: it stops working at once"), (status = 400, description = "Already revoked", body = ApiError),
              AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn revoke(
    AdminCaller(actor): AdminCaller,
    path: web::Path<PersonalTokenId>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.personal_tokens.revoke(&actor, &path, None).await?;
    Ok(no_content())
}
