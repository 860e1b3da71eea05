//! RFC 7009, and two server nodes on one
//! database agreeing on what is revoked.

use std::sync::Arc;

use tessera::domain::TokenFormat;

use crate::both_backends;
use crate::support::{spawn_app, spawn_node, Backend, ClientSpec, TestClient};

both_backends!(
    a_revoked_jwt_is_inactive_at_once,
    a_revoked_opaque_token_is_inactive_at_once,
    revoking_twice_unknown_or_garbage_tokens_answers_200,
    a_client_cannot_revoke_another_clients_token,
    revocation_requires_client_authentication_and_a_token,
    two_nodes_on_one_database_agree_on_issue_introspect_and_revoke,
);

async fn a_revoked_jwt_is_inactive_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let token = app.access_token(&client).await;
    let other = app.access_token(&client).await;

    let response = app.revoke(&client, &token).await;

    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert!(!app.is_active(&client, &token).await);
    assert!(app.is_active(&client, &other).await, "only that token is revoked");
}

async fn a_revoked_opaque_token_is_inactive_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let client =
        app.create_client(ClientSpec { token_format: TokenFormat::Opaque, ..Default::default() }).await;
    let token = app.access_token(&client).await;
    let form = [("token", token.as_str()), ("token_type_hint", "refresh_token")];
    let response = app.post_form("/oauth2/revoke", Some(&client), &form).await;
    assert_eq!(response.status, 200, "a wrong hint does not matter");
    assert!(!app.is_active(&client, &token).await);
}

async fn revoking_twice_unknown_or_garbage_tokens_answers_200(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let token = app.access_token(&client).await;
    for value in [token.as_str(), token.as_str(), "tsr_at_unknown", "garbage", "a.b.c"] {
        assert_eq!(app.revoke(&client, value).await.status, 200, "{value:.20}");
    }
}

async fn a_client_cannot_revoke_another_clients_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.deploy_client().await;
    let intruder = app.create_client(ClientSpec::default()).await;
    let opaque_owner =
        app.create_client(ClientSpec { token_format: TokenFormat::Opaque, ..Default::default() }).await;
    let jwt = app.access_token(&owner).await;
    let opaque = app.access_token(&opaque_owner).await;

    assert_eq!(app.revoke(&intruder, &jwt).await.status, 200);
    assert_eq!(app.revoke(&intruder, &opaque).await.status, 200);

    assert!(app.is_active(&owner, &jwt).await, "foreign revocation changes nothing");
    assert!(app.is_active(&opaque_owner, &opaque).await);
}

async fn revocation_requires_client_authentication_and_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let token = app.access_token(&client).await;
    app.post_form("/oauth2/revoke", None, &[("token", &token)])
        .await
        .assert_oauth_error(401, "invalid_client");
    let wrong = TestClient { id: client.id.clone(), secret: "nope".into() };
    app.revoke(&wrong, &token).await.assert_oauth_error(401, "invalid_client");
    app.post_form("/oauth2/revoke", Some(&client), &[("token_type_hint", "access_token")])
        .await
        .assert_oauth_error(400, "invalid_request");
    assert!(app.is_active(&client, &token).await);
}

async fn two_nodes_on_one_database_agree_on_issue_introspect_and_revoke(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = spawn_node(Arc::clone(&first.data), first.data.raw_settings(), first.clock.clone()).await;
    let client = first.deploy_client().await;
    let opaque_client =
        first.create_client(ClientSpec { token_format: TokenFormat::Opaque, ..Default::default() }).await;

    for (issuer_client, node_a, node_b) in [(&client, &first, &second), (&opaque_client, &second, &first)] {
        let token = node_a.access_token(issuer_client).await;
        assert!(node_b.is_active(issuer_client, &token).await, "the other node knows the token");
        assert_eq!(node_b.revoke(issuer_client, &token).await.status, 200);
        assert!(!node_a.is_active(issuer_client, &token).await, "revocation on one node holds on the other");
    }
}
