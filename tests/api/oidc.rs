//! OpenID Connect (issue 3 item 6): ID tokens on the code exchange and the
//! refresh, userinfo by GET and POST with the RFC 6750 answers that
//! OpenID Connect Core requires.

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use tessera::domain::{ClientType, PkcePolicy};

use crate::authorize::{
    authorize_url, code_for, exchange, location, setup_with, sign_in_and_approve, Setup, VERIFIER,
};
use crate::both_backends;
use crate::support::browser::Browser;
use crate::support::{jwt_parts, send, Backend, Response, ISSUER};

both_backends!(
    the_code_exchange_returns_a_verifiable_id_token,
    userinfo_returns_the_claims_the_scope_allows,
    userinfo_refuses_what_rfc_6750_refuses,
    a_forced_sign_in_moves_auth_time,
);

async fn tokens(setup: &Setup, extra: &[(&str, &str)]) -> Value {
    let code = code_for(setup, extra).await;
    let response = exchange(setup, &code, &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()
}

fn text(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap_or_else(|| panic!("no {name} in {value}")).to_owned()
}

async fn the_code_exchange_returns_a_verifiable_id_token(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let app = &setup.app;
    let before = tessera::domain::UnixTime::now().seconds();
    let body =
        tokens(&setup, &[("scope", "openid profile email offline_access"), ("nonce", "n-0S6_WzA2Mj")]).await;
    let id_token = text(&body, "id_token");
    let access_token = text(&body, "access_token");

    let jwks: JwkSet = serde_json::from_str(&app.get("/oauth2/jwks").await.body).unwrap();
    let (header, _) = jwt_parts(&id_token);
    assert_eq!(header["typ"], "JWT");
    let jwk = jwks.find(header["kid"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[setup.client.id.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(&id_token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("the ID token verifies against the JWKS")
        .claims;
    assert_eq!(claims["azp"], setup.client.id.as_str());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["preferred_username"], "jane");
    assert_eq!(claims["email"], "jane@example.com");
    assert_eq!(claims["name"], "Jane Doe");
    assert!(claims["auth_time"].as_i64().unwrap() >= before - 5);
    let hash = digest::digest(&digest::SHA256, access_token.as_bytes());
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16]));
    let (_, access) = jwt_parts(&access_token);
    assert_eq!(claims["sub"], access["sub"]);

    // The ID token is not an access token (typ JWT, not at+jwt).
    assert!(!app.is_active(&setup.jira, &id_token).await);
    let response = send(app.http.get(app.url("/oauth2/userinfo")).bearer_auth(&id_token)).await;
    assert_eq!(response.status, 401);

    let refreshed = app
        .post_form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &text(&body, "refresh_token")),
                ("client_id", &setup.client.id),
            ],
        )
        .await
        .json();
    let (_, again) = jwt_parts(&text(&refreshed, "id_token"));
    assert_eq!(
        (again["sub"].clone(), again["auth_time"].clone()),
        (claims["sub"].clone(), claims["auth_time"].clone())
    );
    assert!(again.get("nonce").is_none());

    let plain = tokens(&setup, &[("scope", "jira:read")]).await;
    assert!(plain.get("id_token").is_none(), "no openid, no ID token");
}

async fn userinfo_returns_the_claims_the_scope_allows(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let app = &setup.app;
    let minimal = text(&tokens(&setup, &[("scope", "openid")]).await, "access_token");
    let full = text(&tokens(&setup, &[("scope", "openid profile email")]).await, "access_token");

    let response = send(app.http.get(app.url("/oauth2/userinfo")).bearer_auth(&minimal)).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let claims = response.json();
    assert!(claims["sub"].is_string());
    // The username is a profile claim (OIDC Core §5.4).
    for absent in ["username", "preferred_username", "email", "name"] {
        assert!(claims.get(absent).is_none(), "{absent}: {claims}");
    }

    let post_header = send(app.http.post(app.url("/oauth2/userinfo")).bearer_auth(&full)).await.json();
    assert_eq!(
        (post_header["email"].as_str(), post_header["name"].as_str()),
        (Some("jane@example.com"), Some("Jane Doe"))
    );
    let post_body =
        send(app.http.post(app.url("/oauth2/userinfo")).form(&[("access_token", full.as_str())])).await;
    assert_eq!(post_body.status, 200);
}

fn challenge(response: &Response) -> &str {
    response
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("no challenge: {} {}", response.status, response.body))
}

async fn userinfo_refuses_what_rfc_6750_refuses(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let app = &setup.app;
    let url = app.url("/oauth2/userinfo");
    let token = text(&tokens(&setup, &[("scope", "openid jira:read")]).await, "access_token");

    let missing = send(app.http.get(&url)).await;
    assert_eq!(missing.status, 401);
    assert_eq!(challenge(&missing), "Bearer realm=\"tessera\"", "no error attribute without a token");

    for bad in [
        send(app.http.get(&url).header("authorization", "Basic YTpi")).await,
        send(app.http.get(&url).header("authorization", "Bearer ")).await,
        send(app.http.get(format!("{url}?access_token={token}"))).await,
        send(app.http.post(&url).bearer_auth(&token).form(&[("access_token", token.as_str())])).await,
    ] {
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert!(challenge(&bad).contains("error=\"invalid_request\""));
    }

    let no_openid = text(&tokens(&setup, &[("scope", "jira:read")]).await, "access_token");
    let forbidden = send(app.http.get(&url).bearer_auth(&no_openid)).await;
    assert_eq!(forbidden.status, 403);
    assert!(challenge(&forbidden).contains("error=\"insufficient_scope\""));

    let service = app.deploy_client().await;
    let machine = app.access_token(&service).await;
    let parts: Vec<&str> = token.split('.').collect();
    let alg_none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#), parts[1]);
    for invalid in [machine.as_str(), "garbage", alg_none.as_str()] {
        let response = send(app.http.get(&url).bearer_auth(invalid)).await;
        assert_eq!(response.status, 401, "{invalid:.30}");
        assert!(challenge(&response).contains("error=\"invalid_token\""));
    }

    assert_eq!(send(app.http.get(&url).bearer_auth(&token)).await.status, 200);
    app.clock.advance(600);
    let expired = send(app.http.get(&url).bearer_auth(&token)).await;
    assert_eq!(expired.status, 401);
    assert!(challenge(&expired).contains("invalid_token"));
}

/// `auth_time` is when the person last typed their password: a silent
/// re-authorization keeps it, `prompt=login` in the same session moves it.
async fn a_forced_sign_in_moves_auth_time(backend: Backend) {
    let setup = setup_with(backend, ClientType::Confidential, PkcePolicy::Required, false).await;
    let browser = Browser::new();
    let first = auth_time_after(&setup, &browser, &[]).await;
    setup.app.clock.advance(120);
    let silent = auth_time_after(&setup, &browser, &[("prompt", "none")]).await;
    assert_eq!(silent, first, "no password typed, same auth_time");
    setup.app.clock.advance(120);
    let forced = auth_time_after(&setup, &browser, &[("prompt", "login")]).await;
    assert!(forced >= first + 240, "prompt=login moves auth_time: {first} -> {forced}");
}

/// Runs one authorization in `browser` (signing in if a page asks for it)
/// and returns the ID token's `auth_time`.
async fn auth_time_after(setup: &Setup, browser: &Browser, extra: &[(&str, &str)]) -> i64 {
    let app = &setup.app;
    let url = authorize_url(app, &setup.client, &[&[("scope", "openid")], extra].concat());
    let done = if extra.is_empty() {
        sign_in_and_approve(setup, browser, &url).await
    } else {
        let page = browser.get(&url).await;
        if page.status == 200 {
            let fields =
                [("username", "jane"), ("password", "correct horse battery"), ("tessera_action", "login")];
            browser.submit(app, &page, &fields).await
        } else {
            page
        }
    };
    assert!(matches!(done.status, 302 | 303), "{} {}", done.status, done.body);
    let code = location(&done).1["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://app.example/cb"),
        ("code_verifier", VERIFIER),
    ];
    let response = send(
        app.http
            .post(app.url("/oauth2/token"))
            .basic_auth(&setup.client.id, Some(&setup.client.secret))
            .form(&form),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let (_, claims) = jwt_parts(&text(&response.json(), "id_token"));
    claims["auth_time"].as_i64().unwrap()
}
