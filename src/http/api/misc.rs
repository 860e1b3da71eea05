//! `/api/v1/scopes`, `/api/v1/keys` and `/api/v1/audit`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::types::{ApiError, AuditEvent, AuditPage, AuditParams, Key, ScopeInput, ScopeOutput};
use super::AdminErrors;
use super::{ok, Failure, JsonBody};
use crate::domain::{InvalidInput, ScopeName};
use crate::http::extract::AdminCaller;
use crate::http::AppState;
use crate::service::audit::AuditQuery;
use crate::service::audit::Kind;
use crate::service::ServiceError;

#[utoipa::path(get, path = "/api/v1/scopes", tag = "scopes",
    responses((status = 200, body = [ScopeOutput]), AdminErrors))]
pub async fn list_scopes(_: AdminCaller, state: web::Data<AppState>) -> Result<HttpResponse, Failure> {
    let scopes: Vec<ScopeOutput> =
        state.admin.list_scopes().await?.into_iter().map(ScopeOutput::from).collect();
    Ok(ok(StatusCode::OK, &scopes))
}

#[utoipa::path(post, path = "/api/v1/scopes", tag = "scopes", request_body = ScopeInput,
    responses((status = 201, body = ScopeOutput), (status = 400, description = "Invalid input (see `field`)", body = ApiError), AdminErrors, (status = 409, description = "Already exists", body = ApiError)))]
pub async fn create_scope(
    AdminCaller(actor): AdminCaller,
    JsonBody(input): JsonBody<ScopeInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let name = ScopeName::parse(input.name.as_deref().unwrap_or_default())
        .map_err(|e| Failure::invalid(e.in_field("name")))?;
    let scope = state.admin.create_scope(&actor, name, &input.description).await?;
    Ok(ok(StatusCode::CREATED, &ScopeOutput::from(scope)))
}

#[utoipa::path(put, path = "/api/v1/scopes/{name}", tag = "scopes", params(("name" = String, Path)),
    request_body = ScopeInput,
    responses((status = 200, body = ScopeOutput), (status = 400, description = "Invalid input (see `field`)", body = ApiError), AdminErrors, (status = 404, description = "Not found", body = ApiError)))]
pub async fn update_scope(
    AdminCaller(actor): AdminCaller,
    path: web::Path<String>,
    JsonBody(input): JsonBody<ScopeInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let name =
        ScopeName::parse(&path).map_err(|_| ServiceError::NotFound(format!("no scope named '{path}'")))?;
    if input.name.as_deref().is_some_and(|given| given != name.as_str()) {
        return Err(Failure::invalid(
            InvalidInput::new("a scope cannot be renamed: leave out name, or give the one in the path")
                .in_field("name"),
        ));
    }
    let groups = input.allowed_groups.as_deref();
    state.admin.update_scope(&actor, &name, &input.description, input.enabled, groups).await?;
    let scopes = state.admin.list_scopes().await?;
    let scope = scopes.into_iter().find(|s| s.name == name).map(ScopeOutput::from);
    Ok(ok(StatusCode::OK, &scope))
}

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, description = "Signing keys, oldest first", body = [Key]), AdminErrors))]
pub async fn list_keys(_: AdminCaller, state: web::Data<AppState>) -> Result<HttpResponse, Failure> {
    let issuer = &state.oauth.config().issuer;
    let keys: Vec<Key> = state.admin.keys().iter().map(|k| Key::new(k, issuer)).collect();
    Ok(ok(StatusCode::OK, &keys))
}

#[utoipa::path(post, path = "/api/v1/keys/rotate", tag = "keys",
    responses((status = 201, description = "A new key is published; it signs after the publish-ahead period. \
                                            Resource servers with a pinned PEM need its PEM before then.", body = Key),
              AdminErrors))]
pub async fn rotate_keys(
    AdminCaller(actor): AdminCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let key = state.admin.rotate_keys(&actor, None).await?;
    Ok(ok(StatusCode::CREATED, &Key::new(&key, &state.oauth.config().issuer)))
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, description = "Newest first", body = AuditPage), (status = 400, description = "Invalid input (see `field`)", body = ApiError),
              AdminErrors))]
pub async fn audit(
    _: AdminCaller,
    query: web::Query<AuditParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let category: Option<fn(&Kind) -> bool> = match query.category.as_deref() {
        None => None,
        Some("security") => Some(|k| k.is_security()),
        Some("admin") => Some(|k| !k.is_security()),
        Some(other) => {
            return Err(Failure::invalid(
                InvalidInput::new(format!("unknown category '{other}' (security or admin)"))
                    .in_field("category"),
            ))
        }
    };
    let kinds: Vec<Kind> = match query.kind.as_deref() {
        Some(kind) => match Kind::parse(kind) {
            Some(kind) => vec![kind],
            None => {
                return Err(Failure::invalid(
                    InvalidInput::new(format!("unknown event kind '{kind}'")).in_field("kind"),
                ))
            }
        },
        None => Vec::new(),
    };
    // Both given: the kind, if it is of the category (else nothing).
    let kinds: Vec<String> = match (kinds.is_empty(), category) {
        (true, None) => Vec::new(),
        (true, Some(of)) => Kind::ALL.iter().filter(|k| of(k)).map(|k| k.as_str().to_owned()).collect(),
        (false, of) => {
            let kept: Vec<String> = kinds
                .into_iter()
                .filter(|k| of.is_none_or(|of| of(k)))
                .map(|k| k.as_str().to_owned())
                .collect();
            if kept.is_empty() {
                let page = AuditPage { events: Vec::new(), next_before: None };
                return Ok(ok(StatusCode::OK, &page));
            }
            kept
        }
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Failure::invalid(InvalidInput::new("limit must be 1 to 500").in_field("limit")));
    }
    let records = state
        .audit
        .list(&AuditQuery {
            kinds,
            actor: query.actor.clone().filter(|a| !a.is_empty()),
            text: query.q.clone().filter(|q| !q.is_empty()),
            before: query.before,
            limit,
        })
        .await?;
    let next_before = (records.len() == limit as usize).then(|| records.last().map(|r| r.seq)).flatten();
    let page = AuditPage { events: records.into_iter().map(AuditEvent::from).collect(), next_before };
    Ok(ok(StatusCode::OK, &page))
}
