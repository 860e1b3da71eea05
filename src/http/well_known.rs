//! Discovery, JWKS and PEM: served from memory, so resource servers keep
//! validating tokens while the database is down.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::AppState;

const JWKS_CACHE: &str = "public, max-age=300";

pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .content_type("application/json")
        .body(state.metadata.clone())
}

pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let now = state.clock.now();
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, JWKS_CACHE)).json(state.keys.current().jwks(now))
}

/// `GET /oauth2/keys/{kid}.pem`: the public key for a pasted-PEM verifier.
pub async fn pem(path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let now = state.clock.now();
    let keys = state.keys.current();
    let found =
        path.strip_suffix(".pem").and_then(|kid| keys.find(kid, now)).map(|key| key.public_pem().to_owned());
    match found {
        Some(pem) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, JWKS_CACHE))
            .content_type("application/x-pem-file")
            .body(pem),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no published signing key has that id\n"),
    }
}
