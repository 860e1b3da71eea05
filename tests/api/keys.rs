//! Signing keys: JWKS and PEM publish only public keys; rotation publishes
//! the next key before it signs and keeps the old one until its tokens
//! have expired; keys survive restarts and are useless without the master key.

use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use tessera::clock::ManualClock;
use tessera::config::{SecretString, Settings};
use tessera::crypto::master::MasterKey;
use tessera::service::keys::RETIRED_KEY_RETENTION;

use crate::both_backends;
use crate::support::{
    jwt_parts, spawn_app, spawn_app_with, spawn_node, Backend, ClientSpec, TestApp, ISSUER,
};

both_backends!(
    the_jwks_holds_only_public_signing_keys,
    the_pem_of_a_key_verifies_its_tokens,
    rotation_publishes_before_signing_and_keeps_old_tokens_valid,
    keys_survive_a_restart,
    the_server_refuses_to_start_with_another_master_key,
    es256_and_eddsa_tokens_verify_against_the_jwks,
);

fn kid_of(token: &str) -> String {
    jwt_parts(token).0["kid"].as_str().unwrap().to_owned()
}

async fn jwks(app: &TestApp) -> JwkSet {
    serde_json::from_str(&app.get("/oauth2/jwks").await.body).unwrap()
}

fn verifies(jwks: &JwkSet, token: &str) -> bool {
    let (header, _) = jwt_parts(token);
    let Some(jwk) = jwks.find(header["kid"].as_str().unwrap()) else {
        return false;
    };
    let alg: jsonwebtoken::Algorithm = header["alg"].as_str().unwrap().parse().unwrap();
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[ISSUER]);
    validation.validate_aud = false;
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).is_ok()
}

async fn the_jwks_holds_only_public_signing_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    app.core.keys.rotate(None).await.unwrap();
    let response = app.get("/oauth2/jwks").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("cache-control"), Some("public, max-age=300"));
    let body = response.json();
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    kids.dedup();
    assert_eq!(kids.len(), 2, "kids are unique");
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{private} must never be published");
        }
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["kty"], "RSA");
    }
}

async fn the_pem_of_a_key_verifies_its_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let token = app.access_token(&client).await;
    let response = app.get(&format!("/oauth2/keys/{}.pem", kid_of(&token))).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/x-pem-file"));
    assert!(response.body.starts_with("-----BEGIN PUBLIC KEY-----"));
    let key = DecodingKey::from_rsa_pem(response.body.as_bytes()).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false;
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());

    for missing in ["/oauth2/keys/unknown.pem", "/oauth2/keys/..%2F..%2Fetc%2Fpasswd.pem", "/oauth2/keys/x"] {
        assert_eq!(app.get(missing).await.status, 404, "{missing}");
    }
}

async fn rotation_publishes_before_signing_and_keeps_old_tokens_valid(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let before = app.access_token(&client).await;
    let old_kid = kid_of(&before);

    let next = app.core.keys.rotate(None).await.unwrap();
    let published = jwks(&app).await;
    assert!(published.find(&next.kid).is_some(), "the next key is published at once");
    assert_eq!(kid_of(&app.access_token(&client).await), old_kid, "but does not sign yet");

    app.clock.advance(3_600);
    let after = app.access_token(&client).await;
    assert_eq!(kid_of(&after), next.kid, "after the publish-ahead time the new key signs");
    let published = jwks(&app).await;
    assert!(verifies(&published, &before), "a token signed before the rotation still verifies");
    assert!(verifies(&published, &after));
    assert!(app.is_active(&jira, &after).await);

    app.clock.advance(RETIRED_KEY_RETENTION);
    assert!(jwks(&app).await.find(&old_kid).is_none(), "the retired key leaves once its tokens are dead");
    assert_eq!(app.get(&format!("/oauth2/keys/{old_kid}.pem")).await.status, 404);
}

async fn keys_survive_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.deploy_client().await;
    let token = app.access_token(&client).await;
    let restarted = spawn_node(Arc::clone(&app.data), app.data.raw_settings(), app.clock.clone()).await;
    assert!(verifies(&jwks(&restarted).await, &token));
    assert!(restarted.is_active(&client, &token).await);
    assert_eq!(kid_of(&restarted.access_token(&client).await), kid_of(&token));
}

async fn the_server_refuses_to_start_with_another_master_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut raw = app.data.raw_settings();
    raw.master_key = Some(SecretString::new(MasterKey::generate().to_base64()));
    let settings = Settings::resolve(raw).unwrap();
    let clock = Arc::new(ManualClock::new(tessera::domain::UnixTime::now()));
    let error = tessera::startup::Core::open(settings, clock).await.err().expect("must not start");
    let message = format!("{error:#}");
    assert!(message.contains("master key"), "{message}");
}

async fn es256_and_eddsa_tokens_verify_against_the_jwks(backend: Backend) {
    for alg in ["ES256", "EdDSA"] {
        let app = spawn_app_with(backend, |raw| raw.signing_alg = Some(alg.into())).await;
        let client = app.deploy_client().await;
        let token = app.access_token(&client).await;
        assert_eq!(jwt_parts(&token).0["alg"], alg);
        assert!(verifies(&jwks(&app).await, &token), "{alg}");
        assert!(app.is_active(&client, &token).await);
    }
}
