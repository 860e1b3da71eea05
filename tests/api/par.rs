//! Pushed authorization requests (RFC 9126, issue 15): the client pushes
//! its request with its own authentication and sends the browser with a
//! short-lived, single-use `request_uri` only.

use serde_json::{json, Value};
use tessera::domain::{ClientType, PkcePolicy};

use crate::admin_api::{admin_client, call};
use crate::authorize::{exchange, location, setup_with, Setup, PASSWORD, VERIFIER};
use crate::both_backends;
use crate::support::browser::Browser;
use crate::support::{Backend, Response};

both_backends!(
    a_pushed_request_signs_the_person_in_and_works_once,
    a_request_uri_must_be_fresh_ours_and_alone,
    the_par_endpoint_refuses_what_the_authorization_endpoint_would,
    an_app_can_be_made_to_require_pushed_requests,
);

/// Parameters to change in a request (an empty value removes one).
type Extra = Vec<(&'static str, &'static str)>;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn request(setup: &Setup, extra: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", setup.client.id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", "https://app.example/cb"),
        ("scope", "openid jira:read"),
        ("state", "pushed-state"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    params.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

async fn push(setup: &Setup, params: &[(String, String)]) -> Response {
    let form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    setup.app.post_form("/oauth2/par", None, &form).await
}

async fn pushed(setup: &Setup) -> String {
    let response = push(setup, &request(setup, &[])).await;
    assert_eq!(response.status, 201, "{}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(body["expires_in"], 90);
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:") && uri.len() > 60, "{uri}");
    uri
}

fn authorize_url(setup: &Setup, request_uri: &str, extra: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", &setup.client.id).append_pair("request_uri", request_uri);
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    setup.app.url(&format!("/oauth2/authorize?{}", query.finish()))
}

/// Signs jane in and approves on `browser`; the redirect.
async fn approve(setup: &Setup, browser: &Browser, url: &str) -> Response {
    let app = &setup.app;
    let login = browser.get(url).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = browser
        .submit(app, &login, &[("username", "jane"), ("password", PASSWORD), ("tessera_action", "login")])
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    browser.submit(app, &consent, &[("tessera_action", "consent")]).await
}

fn refused_page(response: &Response, says: &str) {
    assert_eq!(response.status, 400, "{says}: {}", response.body);
    assert!(response.header("location").is_none(), "{says}: never a redirect");
    assert!(response.body.contains(says), "{says}: {}", response.body);
}

async fn a_pushed_request_signs_the_person_in_and_works_once(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let request_uri = pushed(&setup).await;
    let browser = Browser::new();
    let url = authorize_url(&setup, &request_uri, &[]);
    let done = approve(&setup, &browser, &url).await;
    let (base, query) = location(&done);
    assert_eq!(base, "https://app.example/cb");
    assert_eq!(query["state"], "pushed-state", "the pushed parameters are the ones used");
    let tokens = exchange(&setup, &query["code"], &[("code_verifier", VERIFIER)]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert!(tokens.json()["id_token"].is_string());

    // Replayed after it gave its code: refused.
    refused_page(&browser.get(&url).await, "unknown, expired or already used");

    let metadata = setup.app.get("/.well-known/oauth-authorization-server").await.json();
    assert_eq!(metadata["pushed_authorization_request_endpoint"], "https://tessera.test/oauth2/par");
    assert_eq!(metadata["require_pushed_authorization_requests"], false);
}

async fn a_request_uri_must_be_fresh_ours_and_alone(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let app = &setup.app;
    let browser = Browser::new();

    // Not opened within its 90 seconds.
    let late = pushed(&setup).await;
    app.clock.advance(91);
    refused_page(&browser.get(&authorize_url(&setup, &late, &[])).await, "unknown, expired or already used");

    // Parameters beside it are refused, not mixed in.
    let uri = pushed(&setup).await;
    let mixed =
        browser.get(&authorize_url(&setup, &uri, &[("scope", "openid jira:read offline_access")])).await;
    refused_page(&mixed, "only client_id and request_uri");

    // Another client's request_uri, and one never issued.
    let other = app
        .create_client(crate::support::ClientSpec {
            grants: &[tessera::domain::GrantType::ClientCredentials],
            ..Default::default()
        })
        .await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &other.id)
        .append_pair("request_uri", &uri)
        .finish();
    let foreign = browser.get(&app.url(&format!("/oauth2/authorize?{query}"))).await;
    refused_page(&foreign, "unknown, expired or already used");
    refused_page(
        &browser.get(&authorize_url(&setup, "urn:ietf:params:oauth:request_uri:made-up", &[])).await,
        "unknown, expired or already used",
    );
    // The request_uri still works for its own client after those tries.
    let done = approve(&setup, &browser, &authorize_url(&setup, &uri, &[])).await;
    assert!(location(&done).1.contains_key("code"), "{:?}", done.header("location"));
}

async fn the_par_endpoint_refuses_what_the_authorization_endpoint_would(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let app = &setup.app;
    app.scope("jira:admin").await;
    let cases: Vec<(Extra, u16, &str)> = vec![
        (vec![("redirect_uri", "https://evil.example/cb")], 400, "invalid_request"),
        (vec![("scope", "openid jira:admin")], 400, "invalid_scope"),
        (vec![("code_challenge_method", "plain")], 400, "invalid_request"),
        (vec![("code_challenge", "")], 400, "invalid_request"),
        (vec![("response_type", "token")], 400, "unsupported_response_type"),
        (vec![("request_uri", "urn:ietf:params:oauth:request_uri:x")], 400, "invalid_request"),
        (vec![("claims", "{not json")], 400, "invalid_request"),
        (vec![("client_id", "no-such-client")], 401, "invalid_client"),
    ];
    for (extra, status, error) in cases {
        push(&setup, &request(&setup, &extra)).await.assert_oauth_error(status, error);
    }
    // Repeated parameters are refused too.
    let mut twice = request(&setup, &[]);
    twice.push(("scope".into(), "openid".into()));
    push(&setup, &twice).await.assert_oauth_error(400, "invalid_request");
    assert_eq!(app.get("/oauth2/par").await.status, 405);
}

async fn an_app_can_be_made_to_require_pushed_requests(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let app = &setup.app;
    let token = app.access_token(&admin_client(app).await).await;
    let path = format!("/api/v1/apps/{}", setup.client.id);
    let mut body: Value = call(app, &token, "get", &path, None).await.json();
    for read_only in [
        "client_id",
        "auth_method",
        "token_endpoint_auth_method",
        "enabled",
        "created_at",
        "access_token_ttl_seconds",
        "refresh_token_ttl_seconds",
    ] {
        body.as_object_mut().unwrap().remove(read_only);
    }
    body["require_pushed_authorization_requests"] = json!(true);
    let changed = call(app, &token, "put", &path, Some(body)).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.json()["require_pushed_authorization_requests"], true);

    let plain = crate::authorize::authorize_url(app, &setup.client, &[]);
    refused_page(&Browser::new().get(&plain).await, "must push");
    let request_uri = pushed(&setup).await;
    let done = approve(&setup, &Browser::new(), &authorize_url(&setup, &request_uri, &[])).await;
    assert!(location(&done).1.contains_key("code"));
}
