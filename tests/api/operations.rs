//! What an operations team sees: the management listener's metrics, request
//! ids, client addresses behind trusted proxies, and where `/` leads.

use std::time::Duration;

use crate::both_backends;
use crate::support::{send, spawn_app, spawn_app_with, Backend, ClientSpec, TestApp, TestClient};

both_backends!(
    metrics_are_on_the_management_listener_only,
    tokens_introspections_and_reuse_are_counted_per_client,
    every_answer_carries_a_request_id,
    behind_a_trusted_proxy_the_forwarded_address_is_the_client,
    a_forwarded_header_from_an_untrusted_peer_is_ignored,
    the_root_leads_to_the_console,
);

async fn scrape(app: &TestApp) -> String {
    let management = app.management.as_ref().expect("a separate management listener");
    let response = send(app.http.get(format!("{management}/metrics"))).await;
    assert_eq!(response.status, 200);
    assert!(response.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    response.body
}

/// The value of the series `name{labels}` (labels in the exposition's
/// sorted order), or 0 when it is absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn metrics_are_on_the_management_listener_only(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/metrics").await.status, 404, "never on the public listener");
    let management = app.management.clone().unwrap();
    for path in ["/healthz", "/readyz"] {
        assert_eq!(send(app.http.get(format!("{management}{path}"))).await.status, 200, "{path}");
    }
    let text = scrape(&app).await;
    for name in [
        "tessera_db_up 1",
        "tessera_db_pool_connections{state=\"idle\"}",
        "tessera_signing_key_activation_timestamp_seconds{kid=",
        "tessera_build_info{version=",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(text.contains(name), "{name} in\n{text}");
    }
    // Route templates, never raw paths: two apps are one series.
    app.get("/console/apps/one").await;
    app.get("/console/apps/two").await;
    app.get("/no/such/path/a").await;
    app.get("/no/such/path/b").await;
    let text = scrape(&app).await;
    let series = r#"tessera_http_requests_total{method="GET",route="/console/apps/{id}",status="303"}"#;
    assert_eq!(value(&text, series), 2.0, "{text}");
    assert!(!text.contains("/console/apps/one") && !text.contains("/no/such"), "no raw path is a label");
    // The two paths, and /metrics asked of the main listener at the start.
    let unmatched = r#"tessera_http_requests_total{method="GET",route="unmatched",status="404"}"#;
    assert_eq!(value(&text, unmatched), 3.0);
}

async fn tokens_introspections_and_reuse_are_counted_per_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let rs = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let token = app.access_token(&client).await;
    app.access_token(&client).await;
    assert!(app.is_active(&rs, &token).await);
    assert!(!app.is_active(&rs, "not-a-token").await);
    let wrong = TestClient { id: client.id.clone(), secret: "wrong".into() };
    app.token(&wrong, &[]).await.assert_oauth_error(401, "invalid_client");

    let text = scrape(&app).await;
    let issued = format!(
        r#"tessera_tokens_issued_total{{client_id="{}",format="jwt",grant_type="client_credentials"}}"#,
        client.id
    );
    assert_eq!(value(&text, &issued), 2.0, "{text}");
    let active = format!(r#"tessera_introspections_total{{active="true",client_id="{}"}}"#, rs.id);
    let inactive = format!(r#"tessera_introspections_total{{active="false",client_id="{}"}}"#, rs.id);
    assert_eq!((value(&text, &active), value(&text, &inactive)), (1.0, 1.0));
    assert_eq!(value(&text, r#"tessera_client_auth_failures_total{reason="invalid_credentials"}"#), 1.0);
    let latency = r#"tessera_http_request_duration_seconds_count{route="/oauth2/token"}"#;
    assert_eq!(value(&text, latency), 3.0);
    assert!(!text.contains(&client.secret) && !text.contains(&token), "no secret or token in the metrics");
}

async fn every_answer_carries_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let given =
        send(app.http.get(app.url("/healthz")).header("X-Request-Id", "trace-0af7651916cd43dd")).await;
    assert_eq!(given.header("x-request-id"), Some("trace-0af7651916cd43dd"), "a well-formed id is kept");
    let bad = send(app.http.get(app.url("/healthz")).header("X-Request-Id", "has spaces\"and quotes")).await;
    let generated = bad.header("x-request-id").unwrap();
    assert_eq!(generated.len(), 32, "a malformed id is replaced: {generated}");
    let none = app.get("/no/such/page").await;
    let other = none.header("x-request-id").unwrap();
    assert!(other.len() == 32 && other != generated, "errors get one too, each its own");
    let token = app.post_form("/oauth2/token", None, &[("grant_type", "client_credentials")]).await;
    assert!(token.header("x-request-id").is_some());
}

/// 21 failed authentications of `client` from `forwarded_for`, through
/// whatever sits at the TCP peer (here the test itself, 127.0.0.1).
async fn fail_from(app: &TestApp, client: &TestClient, forwarded_for: &str) {
    for _ in 0..21 {
        let request = app
            .http
            .post(app.url("/oauth2/token"))
            .basic_auth(&client.id, Some("wrong secret"))
            .header("X-Forwarded-For", forwarded_for)
            .form(&[("grant_type", "client_credentials")]);
        send(request).await;
    }
}

async fn token_from(app: &TestApp, client: &TestClient, forwarded: &str) -> u16 {
    let request = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("Forwarded", forwarded)
        .form(&[("grant_type", "client_credentials")]);
    send(request).await.status
}

async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.trusted_proxies = Some("127.0.0.0/8, ::1".into())).await;
    let client = app.deploy_client().await;
    // A noisy caller behind the proxy is throttled on its own ...
    fail_from(&app, &client, "198.51.100.1").await;
    assert_eq!(token_from(&app, &client, "for=198.51.100.1").await, 429, "the noisy caller waits");
    // ... and the legitimate one behind the same proxy is not.
    assert_eq!(token_from(&app, &client, "for=\"[2001:db8::7]:443\"").await, 200);

    // The audit log names the caller, not the proxy.
    assert_eq!(last_auth_failure_address(&app).await.as_deref(), Some("198.51.100.1"));
}

async fn a_forwarded_header_from_an_untrusted_peer_is_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    fail_from(&app, &client, "198.51.100.1").await;
    // A spoofed header does not make the caller someone else.
    assert_eq!(token_from(&app, &client, "for=203.0.113.50").await, 429);
    assert_eq!(
        last_auth_failure_address(&app).await.as_deref(),
        Some("127.0.0.1"),
        "the TCP peer, not the header"
    );
}

/// The address the audit log gives the newest failed client authentication.
async fn last_auth_failure_address(app: &TestApp) -> Option<String> {
    assert!(app.core.audit.flush(Duration::from_secs(5)).await);
    let query = tessera::store::AuditQuery {
        kinds: vec!["client_auth_failed".into()],
        limit: 1,
        ..Default::default()
    };
    app.core.audit.list(&query).await.unwrap().remove(0).address
}

async fn the_root_leads_to_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.get("/").await;
    assert_eq!(root.status, 302);
    assert_eq!(root.header("location"), Some("/console"));
}
