//! `/api/v1/users` and `/api/v1/grants`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::types::{ApiError, Grant, PasswordInput, RevokedCount, UserInput, UserOutput};
use super::AdminErrors;
use super::{existing, no_content, ok, username, Failure, JsonBody};
use crate::domain::{Email, GrantId, InvalidInput, NewUser, Password, ProfileDraft, Role, UserChanges};
use crate::http::extract::AdminCaller;
use crate::http::AppState;
use crate::service::accounts::GrantsOf;

#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = [UserOutput]), AdminErrors))]
pub async fn list_users(_: AdminCaller, state: web::Data<AppState>) -> Result<HttpResponse, Failure> {
    let users: Vec<UserOutput> =
        state.accounts.list_users().await?.into_iter().map(UserOutput::from).collect();
    Ok(ok(StatusCode::OK, &users))
}

fn parse_profile(input: &UserInput) -> Result<UserChanges, Failure> {
    let role = match input.role.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => Role::User,
        Some(text) => text
            .parse::<Role>()
            .map_err(|e| Failure::invalid(InvalidInput::new(e.to_string()).in_field("role")))?,
    };
    Ok(UserChanges {
        username: username(&input.username)?,
        email: Email::parse(&input.email).map_err(|e| Failure::invalid(e.in_field("email")))?,
        display_name: input.display_name.clone().filter(|d| !d.trim().is_empty()),
        profile: ProfileDraft {
            given_name: input.given_name.clone(),
            family_name: input.family_name.clone(),
            email_verified: input.email_verified,
            locale: input.locale.clone(),
            zoneinfo: input.zoneinfo.clone(),
        }
        .parse()
        .map_err(Failure::invalid)?,
        role,
    })
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserInput,
    responses((status = 201, body = UserOutput), (status = 400, description = "Invalid input (see `field`)", body = ApiError), AdminErrors, (status = 409, description = "Already exists", body = ApiError)))]
pub async fn create_user(
    AdminCaller(actor): AdminCaller,
    JsonBody(input): JsonBody<UserInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let profile = parse_profile(&input)?;
    let password = Password::parse(input.password.as_deref().unwrap_or_default())
        .map_err(|e| Failure::invalid(e.in_field("password")))?;
    let new = NewUser {
        username: profile.username,
        email: profile.email,
        display_name: profile.display_name,
        profile: profile.profile,
        password,
        role: profile.role,
    };
    let user = state.accounts.create_user(&actor, new).await?;
    Ok(ok(StatusCode::CREATED, &UserOutput::from(user)))
}

#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "users", params(("username" = String, Path)),
    responses((status = 200, body = UserOutput), AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn show_user(
    _: AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let user = state.accounts.find_user(&existing(&path, "user")?).await?;
    Ok(ok(StatusCode::OK, &UserOutput::from(user)))
}

#[utoipa::path(put, path = "/api/v1/users/{username}", tag = "users", params(("username" = String, Path)),
    request_body = UserInput,
    responses((status = 200, body = UserOutput), (status = 400, description = "Invalid input (see `field`)", body = ApiError), AdminErrors, (status = 404, description = "Not found", body = ApiError), (status = 409, description = "Already exists", body = ApiError)))]
pub async fn update_user(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    JsonBody(input): JsonBody<UserInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    if input.password.is_some() {
        return Err(Failure::invalid(
            InvalidInput::new("set a password with POST /api/v1/users/{username}/password")
                .in_field("password"),
        ));
    }
    let user = state.accounts.update_user(&actor, &existing(&path, "user")?, parse_profile(&input)?).await?;
    Ok(ok(StatusCode::OK, &UserOutput::from(user)))
}

#[utoipa::path(post, path = "/api/v1/users/{username}/password", tag = "users", params(("username" = String, Path)),
    request_body = PasswordInput,
    responses((status = 204, description = "Set; the user's sessions have ended"), (status = 400, description = "Invalid input (see `field`)", body = ApiError),
              AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn reset_password(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    JsonBody(input): JsonBody<PasswordInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let password = Password::parse(&input.password).map_err(|e| Failure::invalid(e.in_field("password")))?;
    state.accounts.reset_password(&actor, &existing(&path, "user")?, &password).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/api/v1/users/{username}/enable", tag = "users", params(("username" = String, Path)),
    responses((status = 204, description = "Enabled"), (status = 400, description = "Invalid input (see `field`)", body = ApiError), AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn enable_user(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.accounts.set_user_enabled(&actor, &existing(&path, "user")?, true).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/api/v1/users/{username}/disable", tag = "users", params(("username" = String, Path)),
    responses((status = 204, description = "Disabled: sessions end, grants are revoked"), (status = 400, description = "Invalid input (see `field`)", body = ApiError),
              AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn disable_user(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.accounts.set_user_enabled(&actor, &existing(&path, "user")?, false).await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/api/v1/users/{username}/grants", tag = "users", params(("username" = String, Path)),
    responses((status = 200, body = [Grant]), AdminErrors,
              (status = 404, description = "Not found", body = ApiError)))]
pub async fn user_grants(
    _: AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let user = state.accounts.find_user(&existing(&path, "user")?).await?;
    let grants: Vec<Grant> =
        state.accounts.grants(GrantsOf::User(&user.id)).await?.into_iter().map(Grant::from).collect();
    Ok(ok(StatusCode::OK, &grants))
}

#[utoipa::path(delete, path = "/api/v1/users/{username}/grants", tag = "users", params(("username" = String, Path)),
    responses((status = 200, description = "Every grant of the user is revoked", body = RevokedCount),
              AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn revoke_user_grants(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let revoked = state.accounts.revoke_user_grants(&actor, &existing(&path, "user")?).await?;
    Ok(ok(StatusCode::OK, &RevokedCount { revoked }))
}

#[utoipa::path(delete, path = "/api/v1/grants/{id}", tag = "users", params(("id" = String, Path, description = "grant id")),
    responses((status = 204, description = "Revoked: its refresh and access tokens stop working"),
              AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn revoke_grant(
    AdminCaller(actor): AdminCaller,
    path: web::Path<GrantId>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    state.accounts.revoke_grant(&actor, &path, None).await?;
    Ok(no_content())
}
