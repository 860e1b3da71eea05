//! What every HTML page of Tessera shares — the authorization pages, the
//! sign-out page and the console: rendering with the security headers, the
//! error page, redirects, the session cookie and the CSRF check of a posted
//! form, and the stylesheet.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use aws_lc_rs::constant_time;

use super::AppState;

#[derive(Template)]
#[template(path = "auth/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// The session cookie with every attribute it must carry.
pub fn session_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build(state.cookies.name.clone(), value)
        .path("/")
        .http_only(true)
        .secure(state.cookies.secure)
        .same_site(SameSite::Lax)
        .finish()
}

/// `response`, telling the browser to drop the session cookie (and, with
/// `Clear-Site-Data`, every cookie of this site).
pub fn signed_out(state: &AppState, mut response: HttpResponse) -> HttpResponse {
    let mut expired = session_cookie(state, String::new());
    expired.make_removal();
    let _ = response.add_cookie(&expired);
    response.headers_mut().insert(
        header::HeaderName::from_static("clear-site-data"),
        header::HeaderValue::from_static("\"cookies\""),
    );
    response
}

/// A state-changing form post is ours if it carries the session's CSRF
/// token (constant-time compare) and the browser does not call it
/// cross-site (Fetch Metadata).
pub fn form_is_ours(request: &HttpRequest, expected: Option<&str>, token: Option<&str>) -> bool {
    let token_ok = match (expected, token) {
        (Some(expected), Some(token)) => {
            constant_time::verify_slices_are_equal(expected.as_bytes(), token.as_bytes()).is_ok()
        }
        _ => false,
    };
    let cross_site = request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    token_ok && !cross_site
}

/// 303 after a form POST (never 307, SEC-A08), 302 after a GET.
pub fn redirect(url: &str, after_post: bool) -> HttpResponse {
    let status = if after_post { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    let mut response = HttpResponse::build(status);
    security_headers(&mut response);
    response.insert_header((header::LOCATION, url)).finish()
}

pub fn error_page(status: u16, message: &str) -> HttpResponse {
    let title = match status {
        403 => "This form cannot be used",
        413 | 414 => "The request is too long",
        503 => "Tessera is unavailable",
        500.. => "Something went wrong",
        _ => "This request cannot be completed",
    };
    let mut response = html(status, ErrorPage { title, message }.render());
    if status == 503 {
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    }
    response
}

pub fn html(status: u16, rendered: Result<String, askama::Error>) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    security_headers(&mut response);
    match rendered {
        Ok(body) => response.content_type("text/html; charset=utf-8").body(body),
        Err(error) => {
            tracing::error!(%error, "a page failed to render");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Headers of every page of the flow (SEC-A17, SEC-A18, §5.4). The CSP has
/// no `form-action`: Chrome would apply it to the redirect after consent.
fn security_headers(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
        ))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"));
}

/// `GET /assets/tessera.css`: the one stylesheet, compiled into the binary.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(include_str!("../../assets/tessera.css"))
}
