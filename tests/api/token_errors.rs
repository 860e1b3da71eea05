//! Every bad token request gets its RFC error,
//! JSON, `no-store`, and a 401 carries `WWW-Authenticate`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::both_backends;
use crate::support::tester;
use crate::support::{send, spawn_app, Backend, ClientSpec, TestClient};

both_backends!(
    the_token_endpoint_takes_post_only,
    malformed_bodies_are_invalid_request,
    grant_type_must_be_known_and_not_password,
    repeated_parameters_are_invalid_request,
    two_client_authentication_methods_are_invalid_request,
    failed_client_authentication_is_a_uniform_401,
    a_disabled_client_or_service_account_gets_no_token,
    client_secrets_in_the_query_are_ignored,
    repeated_authentication_failures_are_throttled,
    basic_credentials_are_form_decoded_after_base64,
);

const FORM: &str = "application/x-www-form-urlencoded";

async fn the_token_endpoint_takes_post_only(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"] {
        let response = app.get(path).await;
        assert_eq!(response.status, 405, "{path}");
        assert_eq!(response.header("allow"), Some("POST"));
        assert_eq!(response.json()["error"], "invalid_request");
    }
}

async fn malformed_bodies_are_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let body = b"grant_type=client_credentials".to_vec();
    for content_type in ["application/json", "invalid/@@##", "text", "text/[html]", "", "</><script>"] {
        let ct = (!content_type.is_empty()).then_some(content_type);
        let response = app.post_raw("/oauth2/token", ct, body.clone()).await;
        response.assert_oauth_error(400, "invalid_request");
    }
    let bad_bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"grant_type=%ZZ".to_vec(),
        b"grant_type=client_credentials&scope=%FF%FE".to_vec(),
        format!("grant_type=client_credentials&pad={}", "a".repeat(17 * 1024)).into_bytes(),
    ];
    for body in bad_bodies {
        let request = app
            .http
            .post(app.url("/oauth2/token"))
            .header("content-type", FORM)
            .basic_auth(&client.id, Some(&client.secret))
            .body(body);
        send(request).await.assert_oauth_error(400, "invalid_request");
    }
    // charset parameter on the content type is fine
    let request = app
        .http
        .post(app.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded; charset=UTF-8")
        .basic_auth(&client.id, Some(&client.secret))
        .body("grant_type=client_credentials");
    assert_eq!(send(request).await.status, 200);
}

async fn grant_type_must_be_known_and_not_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    app.post_form("/oauth2/token", Some(&client), &[("scope", "jira:read")])
        .await
        .assert_oauth_error(400, "invalid_request");
    for grant in ["foo", "password", "implicit", "authorization_code_x"] {
        app.post_form("/oauth2/token", Some(&client), &[("grant_type", grant)])
            .await
            .assert_oauth_error(400, "unsupported_grant_type");
    }
    let response = app
        .post_form(
            "/oauth2/token",
            Some(&client),
            &[("grant_type", "client_credentials"), ("extra", "foobar")],
        )
        .await;
    assert_eq!(response.status, 200, "unknown parameters are ignored");
}

async fn repeated_parameters_are_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    for form in [
        vec![("grant_type", "client_credentials"), ("grant_type", "client_credentials")],
        vec![("grant_type", "client_credentials"), ("scope", "jira:read"), ("scope", "jira:read")],
    ] {
        app.post_form("/oauth2/token", Some(&client), &form).await.assert_oauth_error(400, "invalid_request");
    }
}

async fn two_client_authentication_methods_are_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let form = [("grant_type", "client_credentials"), ("client_secret", client.secret.as_str())];
    app.post_form("/oauth2/token", Some(&client), &form).await.assert_oauth_error(400, "invalid_request");
}

async fn failed_client_authentication_is_a_uniform_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let post_client = app.create_client(ClientSpec { post: true, ..Default::default() }).await;
    let wrong = TestClient { id: client.id.clone(), secret: format!("{}x", client.secret) };
    let unknown = TestClient { id: "no-such-client".into(), secret: client.secret.clone() };
    let cc = [("grant_type", "client_credentials")];

    let wrong_basic = app.post_form("/oauth2/token", Some(&wrong), &cc).await;
    let unknown_basic = app.post_form("/oauth2/token", Some(&unknown), &cc).await;
    wrong_basic.assert_oauth_error(401, "invalid_client");
    unknown_basic.assert_oauth_error(401, "invalid_client");
    assert_eq!(wrong_basic.body, unknown_basic.body, "unknown and wrong look the same");

    let wrong_post = app
        .post_form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &post_client.id),
                ("client_secret", "nope"),
            ],
        )
        .await;
    wrong_post.assert_oauth_error(401, "invalid_client");

    app.post_form("/oauth2/token", None, &cc).await.assert_oauth_error(401, "invalid_client");
    app.post_form("/oauth2/token", None, &[("grant_type", "client_credentials"), ("client_id", &client.id)])
        .await
        .assert_oauth_error(401, "invalid_client");

    for header in [
        "Basic !!!".to_owned(),
        format!("Basic {}", STANDARD.encode("no-colon")),
        format!("Basic {}", STANDARD.encode(b"\xff\xfe:\xff")),
        "Bearer something".to_owned(),
    ] {
        let request = app.http.post(app.url("/oauth2/token")).header("authorization", header).form(&cc);
        send(request).await.assert_oauth_error(401, "invalid_client");
    }
    assert!(!wrong_basic.body.contains(&client.secret), "no secret is ever echoed");
}

async fn a_disabled_client_or_service_account_gets_no_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    app.core.admin.set_client_enabled(&tester(), &client.id, false).await.unwrap();
    app.token(&client, &[]).await.assert_oauth_error(401, "invalid_client");
    app.core.admin.set_client_enabled(&tester(), &client.id, true).await.unwrap();
    assert_eq!(app.token(&client, &[]).await.status, 200);

    let svc = tessera::domain::Username::parse("svc-deploy").unwrap();
    app.core.admin.set_service_account_enabled(&tester(), &svc, false).await.unwrap();
    app.token(&client, &[]).await.assert_oauth_error(400, "unauthorized_client");
}

async fn client_secrets_in_the_query_are_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_client(ClientSpec { post: true, ..Default::default() }).await;
    let url = app.url(&format!("/oauth2/token?client_id={}&client_secret={}", client.id, client.secret));
    let request = app.http.post(url).form(&[("grant_type", "client_credentials")]);
    send(request).await.assert_oauth_error(401, "invalid_client");
}

async fn repeated_authentication_failures_are_throttled(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let wrong = TestClient { id: client.id.clone(), secret: "guess".into() };
    for _ in 0..20 {
        app.token(&wrong, &[]).await.assert_oauth_error(401, "invalid_client");
    }
    let blocked = app.token(&wrong, &[]).await;
    blocked.assert_oauth_error(429, "slow_down");
    let retry_after: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    // The other endpoints share the counter, and a forged forwarding header changes nothing.
    let spoofed = app
        .http
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("x-forwarded-for", "203.0.113.9")
        .form(&[("token", "x")]);
    send(spoofed).await.assert_oauth_error(429, "slow_down");

    app.clock.advance(60);
    assert_eq!(app.token(&client, &[]).await.status, 200, "the block ends with its window");
}

async fn basic_credentials_are_form_decoded_after_base64(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
    let encode = |text: &str| text.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let header =
        format!("Basic {}", STANDARD.encode(format!("{}:{}", encode(&client.id), encode(&client.secret))));
    let request = app
        .http
        .post(app.url("/oauth2/token"))
        .header("authorization", header)
        .form(&[("grant_type", "client_credentials")]);
    assert_eq!(send(request).await.status, 200);
}
