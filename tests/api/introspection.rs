//! RFC 7662: who may introspect what, and
//! `{"active": false}` with nothing else for every token that is not live.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tessera::domain::{TokenFormat, Username};

use crate::both_backends;
use crate::support::tester;
use crate::support::{jwt_parts, spawn_app, Backend, ClientSpec, TestClient, ISSUER};

both_backends!(
    an_active_token_reports_its_claims,
    a_client_sees_only_its_own_tokens_and_a_resource_server_sees_all,
    introspection_requires_client_authentication_and_a_token,
    tokens_that_are_not_live_are_inactive_with_nothing_else,
    expired_tokens_are_inactive,
    disabling_the_client_or_service_account_deactivates_its_tokens_at_once,
);

async fn an_active_token_reports_its_claims(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let token = app.access_token(&client).await;
    let (_, claims) = jwt_parts(&token);

    let response = app.introspect(&client, &token).await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "jira:read");
    assert_eq!(body["client_id"], client.id.as_str());
    assert_eq!(body["username"], "svc-deploy");
    assert_eq!(body["sub"], "svc-deploy");
    assert_eq!(body["iss"], ISSUER);
    assert_eq!(body["aud"], serde_json::json!([ISSUER]));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["exp"], claims["exp"]);
    assert_eq!(body["iat"], claims["iat"]);
}

async fn a_client_sees_only_its_own_tokens_and_a_resource_server_sees_all(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.deploy_client().await;
    let other = app.create_client(ClientSpec::default()).await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let token = app.access_token(&owner).await;

    assert!(app.is_active(&owner, &token).await);
    assert!(!app.is_active(&other, &token).await, "another client learns nothing");
    assert!(app.is_active(&jira, &token).await, "a resource server may introspect any token");
}

async fn introspection_requires_client_authentication_and_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let token = app.access_token(&client).await;

    let anonymous = app.post_form("/oauth2/introspect", None, &[("token", &token)]).await;
    anonymous.assert_oauth_error(401, "invalid_client");
    assert!(!anonymous.body.contains("active"));

    let wrong = TestClient { id: client.id.clone(), secret: "wrong".into() };
    app.introspect(&wrong, &token).await.assert_oauth_error(401, "invalid_client");

    app.post_form("/oauth2/introspect", Some(&client), &[("token_type_hint", "access_token")])
        .await
        .assert_oauth_error(400, "invalid_request");

    let get = app.get(&format!("/oauth2/introspect?token={token}")).await;
    assert_eq!(get.status, 405);
}

async fn tokens_that_are_not_live_are_inactive_with_nothing_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let token = app.access_token(&client).await;
    let parts: Vec<&str> = token.split('.').collect();

    let (header, mut claims) = jwt_parts(&token);
    claims["scope"] = "jira:admin".into();
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut unknown_kid_header = header.clone();
    unknown_kid_header["kid"] = "../../dev/null".into();
    let unknown_kid =
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(unknown_kid_header.to_string()), parts[1], parts[2]);
    let huge_kid = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{}"}}"#, "k".repeat(10_000))),
        parts[1],
        parts[2]
    );

    for dead in [
        "garbage",
        "tsr_at_doesnotexist",
        "a.b.c",
        "ünïcødé",
        tampered.as_str(),
        alg_none.as_str(),
        unknown_kid.as_str(),
        huge_kid.as_str(),
    ] {
        assert!(!app.is_active(&client, dead).await, "{dead:.40} must be inactive");
    }
    assert!(app.is_active(&client, &token).await, "the untouched token is still active");
}

async fn expired_tokens_are_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    app.service_account("svc-deploy").await;
    let jwt_client =
        app.create_client(ClientSpec { service_account: Some("svc-deploy"), ..Default::default() }).await;
    let opaque_client = app
        .create_client(ClientSpec {
            service_account: Some("svc-deploy"),
            token_format: TokenFormat::Opaque,
            ..Default::default()
        })
        .await;
    let jwt = app.access_token(&jwt_client).await;
    let opaque = app.access_token(&opaque_client).await;

    app.clock.advance(599);
    assert!(app.is_active(&jwt_client, &jwt).await);
    assert!(app.is_active(&opaque_client, &opaque).await);
    app.clock.advance(1);
    assert!(!app.is_active(&jwt_client, &jwt).await);
    assert!(!app.is_active(&opaque_client, &opaque).await);
}

async fn disabling_the_client_or_service_account_deactivates_its_tokens_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let token = app.access_token(&client).await;
    let svc = Username::parse("svc-deploy").unwrap();

    app.core.admin.set_client_enabled(&tester(), &client.id, false).await.unwrap();
    assert!(!app.is_active(&jira, &token).await);
    app.core.admin.set_client_enabled(&tester(), &client.id, true).await.unwrap();
    assert!(!app.is_active(&jira, &token).await, "enabling the client again revives nothing");

    app.clock.advance(1);
    let token = app.access_token(&client).await;
    app.core.admin.set_service_account_enabled(&tester(), &svc, false).await.unwrap();
    assert!(!app.is_active(&jira, &token).await);

    app.core.admin.delete_client(&tester(), &client.id).await.unwrap();
    app.core.admin.set_service_account_enabled(&tester(), &svc, true).await.unwrap();
    assert!(!app.is_active(&jira, &token).await, "a deleted client's tokens are dead");
}
