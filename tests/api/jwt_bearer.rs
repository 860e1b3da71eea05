//! The JWT bearer grant (RFC 7523 §2.1): a JWT the client signed with one
//! of its registered keys is the grant; the token is its service
//! account's. Every broken assertion is `invalid_grant` (RFC 7523 §3.1).

use serde_json::json;
use tessera::clock::Clock as _;
use tessera::domain::GrantType;

use crate::both_backends;
use crate::private_key_jwt::{claims, post_with_assertion, with};
use crate::support::outside_keys::{hmac_signed, unsigned, KeyHolder};
use crate::support::{jwt_parts, spawn_app, Backend, ClientSpec, Response, TestApp, TestClient};

both_backends!(
    a_signed_jwt_is_a_grant_for_the_service_account,
    every_broken_grant_assertion_is_invalid_grant,
    only_clients_registered_for_the_grant_may_use_it,
);

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

async fn grant(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> Response {
    let mut form = vec![("grant_type", GRANT), ("assertion", assertion)];
    form.extend_from_slice(extra);
    app.post_form("/oauth2/token", None, &form).await
}

/// A client of `svc-deploy` (created by the test) with the grant and
/// `holder`'s keys; a secret too when `secret`.
async fn bearer_client(app: &TestApp, holder: &KeyHolder, secret: bool) -> TestClient {
    let grants: &[GrantType] =
        if secret { &[GrantType::ClientCredentials, GrantType::JwtBearer] } else { &[GrantType::JwtBearer] };
    let client = app
        .create_client(ClientSpec {
            service_account: Some("svc-deploy"),
            scopes: &["jira:read", "jira:write"],
            keys: Some(holder.inline()),
            grants,
            ..Default::default()
        })
        .await;
    if secret {
        // The spec's key set makes it private_key_jwt; give it a secret method.
        let mut draft =
            tessera::domain::ClientDraft::of(&app.core.admin.find_client(&client.id).await.unwrap());
        draft.auth_method = Some("client_secret_basic".into());
        let changes = draft.parse().unwrap();
        app.core.admin.update_client(&crate::support::tester(), &client.id, changes).await.unwrap();
        let rotated =
            app.core.admin.rotate_client_secret(&crate::support::tester(), &client.id, None).await.unwrap();
        return TestClient { id: client.id, secret: rotated.secret.unwrap().expose().to_owned() };
    }
    client
}

async fn a_signed_jwt_is_a_grant_for_the_service_account(backend: Backend) {
    let app = spawn_app(backend).await;
    app.service_account("svc-deploy").await;
    let holder = KeyHolder::new(&[("k1", "ES256")]);
    let client = bearer_client(&app, &holder, false).await;

    // sub: the service account, or the client itself.
    for sub in ["svc-deploy", client.id.as_str()] {
        let assertion = holder.sign("k1", &with(claims(&app, &client.id), json!({ "sub": sub })));
        let response = grant(&app, &assertion, &[("scope", "jira:read")]).await;
        assert_eq!(response.status, 200, "{sub}: {}", response.body);
        let body = response.json();
        assert_eq!(
            (body["token_type"].as_str(), body["scope"].as_str()),
            (Some("Bearer"), Some("jira:read"))
        );
        assert!(body.get("refresh_token").is_none());
        let (_, payload) = jwt_parts(body["access_token"].as_str().unwrap());
        assert_eq!(payload["username"], "svc-deploy");
        assert_eq!(payload["client_id"], client.id.as_str());
    }

    // The usual scope rules: nothing asked, all the client's; more, refused.
    let all = grant(&app, &holder.sign("k1", &claims(&app, &client.id)), &[]).await;
    assert_eq!(all.json()["scope"], "jira:read jira:write");
    let beyond =
        grant(&app, &holder.sign("k1", &claims(&app, &client.id)), &[("scope", "tessera:admin")]).await;
    beyond.assert_oauth_error(400, "invalid_scope");

    // A client with a secret may authenticate as well; the assertion must
    // still be its own.
    let holder2 = KeyHolder::new(&[("k2", "RS256")]);
    let with_secret = bearer_client(&app, &holder2, true).await;
    let form = [("grant_type", GRANT), ("assertion", &holder2.sign("k2", &claims(&app, &with_secret.id)))];
    let response = app.post_form("/oauth2/token", Some(&with_secret), &form).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let foreign = [("grant_type", GRANT), ("assertion", &holder.sign("k1", &claims(&app, &client.id)))];
    app.post_form("/oauth2/token", Some(&with_secret), &foreign)
        .await
        .assert_oauth_error(400, "invalid_grant");
    // …or with its own assertion (private_key_jwt) beside the grant's.
    let both = post_with_assertion(
        &app,
        "/oauth2/token",
        &holder.sign("k1", &claims(&app, &client.id)),
        &[("grant_type", GRANT), ("assertion", &holder.sign("k1", &claims(&app, &client.id)))],
    )
    .await;
    assert_eq!(both.status, 200, "{}", both.body);
}

async fn every_broken_grant_assertion_is_invalid_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    app.service_account("svc-deploy").await;
    let holder = KeyHolder::new(&[("k1", "RS256")]);
    let stranger = KeyHolder::new(&[("k1", "RS256")]);
    let client = bearer_client(&app, &holder, false).await;
    let id = client.id.as_str();
    let now = app.clock.now().seconds();
    let good = || claims(&app, id);
    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned(&good())),
        ("bad signature", stranger.sign("k1", &good())),
        ("HS256 with the public key", hmac_signed(&good(), "k1", holder.public_pem("k1").as_bytes())),
        (
            "unknown issuer key",
            holder.sign_with_header("k1", &json!({"alg": "RS256", "kid": "nope"}), &good()),
        ),
        ("exp in the past", holder.sign("k1", &with(good(), json!({"exp": now - 120})))),
        ("aud is not this server", holder.sign("k1", &with(good(), json!({"aud": "https://other.example"})))),
        ("no iss", holder.sign("k1", &with(good(), json!({"iss": null, "sub": null})))),
        ("no sub", holder.sign("k1", &with(good(), json!({"sub": null})))),
        ("no aud", holder.sign("k1", &with(good(), json!({"aud": null})))),
        ("no exp", holder.sign("k1", &with(good(), json!({"exp": null})))),
        ("sub is someone else", holder.sign("k1", &with(good(), json!({"sub": "admin"})))),
        ("iss is an unknown client", holder.sign("k1", &with(good(), json!({"iss": "nobody"})))),
        ("not a JWT", "garbage".to_owned()),
    ];
    for (case, assertion) in cases {
        let response = grant(&app, &assertion, &[]).await;
        assert_eq!(
            (response.status, response.json()["error"].clone()),
            (400, json!("invalid_grant")),
            "{case}: {}",
            response.body
        );
    }

    // Replayed: accepted once.
    let once = holder.sign("k1", &good());
    assert_eq!(grant(&app, &once, &[]).await.status, 200);
    let replay = grant(&app, &once, &[]).await;
    replay.assert_oauth_error(400, "invalid_grant");
    assert!(replay.json()["error_description"].as_str().unwrap().contains("used before"));

    // No assertion at all is a malformed request.
    app.post_form("/oauth2/token", None, &[("grant_type", GRANT)])
        .await
        .assert_oauth_error(400, "invalid_request");
}

async fn only_clients_registered_for_the_grant_may_use_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.service_account("svc-deploy").await;
    let holder = KeyHolder::new(&[("k1", "EdDSA")]);
    // private_key_jwt, but client credentials only.
    let client = app.create_client(ClientSpec { keys: Some(holder.inline()), ..Default::default() }).await;
    let response = grant(&app, &holder.sign("k1", &claims(&app, &client.id)), &[]).await;
    response.assert_oauth_error(400, "unauthorized_client");

    // A disabled client's assertions are no grant.
    let bearer = bearer_client(&app, &holder, false).await;
    app.core.admin.set_client_enabled(&crate::support::tester(), &bearer.id, false).await.unwrap();
    grant(&app, &holder.sign("k1", &claims(&app, &bearer.id)), &[])
        .await
        .assert_oauth_error(400, "invalid_grant");
}
