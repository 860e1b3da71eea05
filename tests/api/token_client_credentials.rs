//! RFC 6749 §4.4 happy paths: what a client-credentials token contains and
//! how it verifies against what the server publishes.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use tessera::domain::TokenFormat;

use crate::both_backends;
use crate::support::tester;
use crate::support::{jwt_parts, spawn_app, spawn_app_with, Backend, ClientSpec, TestApp, ISSUER};

both_backends!(
    client_credentials_returns_a_jwt_for_the_bound_service_account,
    the_token_verifies_against_the_served_jwks,
    a_client_without_a_service_account_is_its_own_subject,
    requested_scope_must_be_a_subset_of_the_allowed_scopes,
    resource_selects_an_allowed_audience_and_refuses_others,
    client_audiences_become_aud_when_no_resource_is_asked,
    opaque_clients_get_a_prefixed_reference_token,
    client_secret_post_clients_authenticate_in_the_body,
    the_username_claim_name_is_configurable,
    rotated_secrets_overlap_for_the_grace_period,
);

async fn verify_with_jwks(app: &TestApp, token: &str) -> Value {
    let jwks: JwkSet = serde_json::from_str(&app.get("/oauth2/jwks").await.body).unwrap();
    let (header, _) = jwt_parts(token);
    let jwk = jwks.find(header["kid"].as_str().unwrap()).expect("the signing key is published");
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("the token verifies with the published key")
        .claims
}

async fn client_credentials_returns_a_jwt_for_the_bound_service_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;

    let response = app.token(&client, &[]).await;

    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("pragma"), Some("no-cache"));
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "jira:read");
    assert!(body.get("refresh_token").is_none(), "client_credentials never returns a refresh token");
    let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert!(header["kid"].is_string());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "svc-deploy");
    assert_eq!(claims["username"], "svc-deploy");
    assert_eq!(claims["aud"], ISSUER, "default audience is the issuer");
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["scope"], "jira:read");
    assert!(claims["jti"].is_string());
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 600);
    assert!(claims.get("nbf").is_none());
}

async fn the_token_verifies_against_the_served_jwks(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let token = app.access_token(&client).await;
    let claims = verify_with_jwks(&app, &token).await;
    assert_eq!(claims["sub"], "svc-deploy");
}

async fn a_client_without_a_service_account_is_its_own_subject(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_client(ClientSpec::default()).await;
    let (_, claims) = jwt_parts(&app.access_token(&client).await);
    assert_eq!(claims["sub"], client.id.as_str());
    assert_eq!(claims["client_id"], claims["sub"]);
    assert!(claims.get("username").is_none(), "no Jira user behind this token");
}

async fn requested_scope_must_be_a_subset_of_the_allowed_scopes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.service_account("svc-deploy").await;
    let client = app
        .create_client(ClientSpec {
            service_account: Some("svc-deploy"),
            scopes: &["jira:read", "jira:write"],
            ..Default::default()
        })
        .await;

    let all = app.token(&client, &[]).await.json();
    assert_eq!(all["scope"], "jira:read jira:write", "default is every allowed scope");

    let narrow = app.token(&client, &[("scope", "jira:write")]).await.json();
    assert_eq!(narrow["scope"], "jira:write");
    let (_, claims) = jwt_parts(narrow["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "jira:write");

    app.token(&client, &[("scope", "jira:read jira:admin")]).await.assert_oauth_error(400, "invalid_scope");
    app.token(&client, &[("scope", "openid")]).await.assert_oauth_error(400, "invalid_scope");
    app.token(&client, &[("scope", "bad\"scope")]).await.assert_oauth_error(400, "invalid_scope");
}

async fn resource_selects_an_allowed_audience_and_refuses_others(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app
        .create_client(ClientSpec {
            audiences: &["https://jira.example.com", "https://wiki.example.com"],
            ..Default::default()
        })
        .await;

    let response = app.token(&client, &[("resource", "https://jira.example.com")]).await;
    let (_, claims) = jwt_parts(response.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://jira.example.com");

    app.token(&client, &[("resource", "https://evil.example.com")])
        .await
        .assert_oauth_error(400, "invalid_target");
    app.token(&client, &[("resource", "https://jira.example.com#frag")])
        .await
        .assert_oauth_error(400, "invalid_target");
    app.token(&client, &[("resource", "not a uri")]).await.assert_oauth_error(400, "invalid_target");
}

async fn client_audiences_become_aud_when_no_resource_is_asked(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app
        .create_client(ClientSpec {
            audiences: &["https://jira.example.com", "https://wiki.example.com"],
            ..Default::default()
        })
        .await;
    let (_, claims) = jwt_parts(&app.access_token(&client).await);
    assert_eq!(claims["aud"], serde_json::json!(["https://jira.example.com", "https://wiki.example.com"]));
}

async fn opaque_clients_get_a_prefixed_reference_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.service_account("svc-deploy").await;
    let client = app
        .create_client(ClientSpec {
            service_account: Some("svc-deploy"),
            token_format: TokenFormat::Opaque,
            ..Default::default()
        })
        .await;
    let token = app.access_token(&client).await;
    assert!(token.starts_with("tsr_at_"), "{token}");
    assert_eq!(token.len(), "tsr_at_".len() + 43);
    let body = app.introspect(&client, &token).await.json();
    assert_eq!(body["active"], true);
    assert_eq!(body["username"], "svc-deploy");
    assert_eq!(body["scope"], "jira:read");
}

async fn client_secret_post_clients_authenticate_in_the_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.create_client(ClientSpec { post: true, ..Default::default() }).await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
    ];
    let response = app.post_form("/oauth2/token", None, &form).await;
    assert_eq!(response.status, 200, "{}", response.body);
    // The registered method is the only one accepted.
    app.token(&client, &[]).await.assert_oauth_error(401, "invalid_client");
}

async fn the_username_claim_name_is_configurable(backend: Backend) {
    let app = spawn_app_with(backend, |raw| raw.username_claim = Some("jira_username".into())).await;
    let client = app.deploy_client().await;
    let token = app.access_token(&client).await;
    let (_, claims) = jwt_parts(&token);
    assert_eq!(claims["jira_username"], "svc-deploy");
    assert!(claims.get("username").is_none());
    let introspected = app.introspect(&client, &token).await.json();
    assert_eq!(introspected["username"], "svc-deploy", "introspection reads the configured claim");
}

async fn rotated_secrets_overlap_for_the_grace_period(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = app.deploy_client().await;
    app.access_token(&old).await; // the client is now cached on this node
    let rotated =
        app.core.admin.rotate_client_secret(&tester(), &old.id, Some("1h".parse().unwrap())).await.unwrap();
    let new = crate::support::TestClient {
        id: old.id.clone(),
        secret: rotated.secret.unwrap().expose().to_owned(),
    };
    assert_ne!(new.secret, old.secret);
    assert_eq!(app.token(&old, &[]).await.status, 200, "old secret works during the grace period");
    assert_eq!(app.token(&new, &[]).await.status, 200);

    app.clock.advance(3_600);
    app.token(&old, &[]).await.assert_oauth_error(401, "invalid_client");
    assert_eq!(app.token(&new, &[]).await.status, 200);
}
