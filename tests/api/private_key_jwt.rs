//! `private_key_jwt`: a client proves itself with a JWT signed by a key it
//! never shares, at the token, introspection and revocation endpoints; its
//! public keys are registered with it or fetched from its own URL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tessera::clock::Clock as _;

use crate::both_backends;
use crate::support::jira_standin::{JiraMode, JiraStandIn};
use crate::support::outside_keys::{closed_port_url, hmac_signed, unsigned, Answer, KeyHolder, KeySite};
use crate::support::{
    jwt_parts, send, spawn_app, spawn_node, Backend, ClientSpec, Response, TestApp, ISSUER,
};

both_backends!(
    a_client_signs_in_with_each_key_type_and_no_secret,
    every_broken_assertion_is_invalid_client,
    an_assertion_works_once_on_every_node,
    two_registered_keys_let_a_client_rotate_without_downtime,
    published_keys_are_fetched_cached_and_refetched_for_a_new_kid,
    a_key_url_that_fails_is_invalid_client_and_never_a_hang,
    jira_accepts_tokens_got_with_a_client_key,
);

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Claims of a good assertion from `client_id`, valid for a minute.
pub fn claims(app: &TestApp, client_id: &str) -> Value {
    let now = app.clock.now().seconds();
    json!({
        "iss": client_id, "sub": client_id, "aud": format!("{ISSUER}/oauth2/token"),
        "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// `claims` with `changes` merged in (a `null` removes the claim).
pub fn with(mut claims: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// A POST to `path` authenticated with `assertion` (and the extra fields).
pub async fn post_with_assertion(
    app: &TestApp,
    path: &str,
    assertion: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut form = vec![("client_assertion_type", ASSERTION_TYPE), ("client_assertion", assertion)];
    form.extend_from_slice(extra);
    app.post_form(path, None, &form).await
}

async fn token_with(app: &TestApp, assertion: &str) -> Response {
    post_with_assertion(app, "/oauth2/token", assertion, &[("grant_type", "client_credentials")]).await
}

/// A client of `svc-deploy` that authenticates with `keys`.
async fn key_client(app: &TestApp, keys: tessera::domain::ClientKeys) -> String {
    app.service_account("svc-deploy").await;
    let client = app
        .create_client(ClientSpec {
            service_account: Some("svc-deploy"),
            keys: Some(keys),
            ..Default::default()
        })
        .await;
    assert!(client.secret.is_empty(), "a private_key_jwt client gets no secret");
    client.id
}

async fn a_client_signs_in_with_each_key_type_and_no_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let holder = KeyHolder::new(&[("rsa", "RS256"), ("pss", "PS256"), ("ec", "ES256"), ("ed", "EdDSA")]);
    let id = key_client(&app, holder.inline()).await;
    for kid in ["rsa", "pss", "ec", "ed"] {
        let response = token_with(&app, &holder.sign(kid, &claims(&app, &id))).await;
        assert_eq!(response.status, 200, "{kid}: {}", response.body);
        let token = response.json()["access_token"].as_str().unwrap().to_owned();
        let (_, payload) = jwt_parts(&token);
        assert_eq!(
            (payload["sub"].as_str(), payload["client_id"].as_str()),
            (Some("svc-deploy"), Some(id.as_str()))
        );
    }

    // The same proof at introspection and revocation.
    let token = token_with(&app, &holder.sign("ec", &claims(&app, &id))).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let introspected = post_with_assertion(
        &app,
        "/oauth2/introspect",
        &holder.sign("ed", &claims(&app, &id)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(
        (introspected.status, &introspected.json()["active"]),
        (200, &json!(true)),
        "{}",
        introspected.body
    );
    let revoked = post_with_assertion(
        &app,
        "/oauth2/revoke",
        &holder.sign("rsa", &claims(&app, &id)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let after = post_with_assertion(
        &app,
        "/oauth2/introspect",
        &holder.sign("rsa", &claims(&app, &id)),
        &[("token", &token)],
    )
    .await;
    assert_eq!(after.json(), json!({"active": false}));

    // client_id in the body may name the client too; it must agree.
    let named = post_with_assertion(
        &app,
        "/oauth2/token",
        &holder.sign("rsa", &claims(&app, &id)),
        &[("grant_type", "client_credentials"), ("client_id", &id)],
    )
    .await;
    assert_eq!(named.status, 200, "{}", named.body);
    let other = post_with_assertion(
        &app,
        "/oauth2/token",
        &holder.sign("rsa", &claims(&app, &id)),
        &[("grant_type", "client_credentials"), ("client_id", "someone-else")],
    )
    .await;
    other.assert_oauth_error(401, "invalid_client");

    // No secret works for it, and an assertion cannot ride with one.
    let basic = send(
        app.http
            .post(app.url("/oauth2/token"))
            .basic_auth(&id, Some(""))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    basic.assert_oauth_error(401, "invalid_client");
    let both = post_with_assertion(
        &app,
        "/oauth2/token",
        &holder.sign("rsa", &claims(&app, &id)),
        &[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", "x")],
    )
    .await;
    both.assert_oauth_error(400, "invalid_request");
}

async fn every_broken_assertion_is_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let holder = KeyHolder::new(&[("k1", "RS256")]);
    let stranger = KeyHolder::new(&[("k1", "RS256")]);
    let id = key_client(&app, holder.inline()).await;
    let now = app.clock.now().seconds();
    let good = || claims(&app, &id);
    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned(&good())),
        (
            "HS256 signed with the client's public key",
            hmac_signed(&good(), "k1", holder.public_pem("k1").as_bytes()),
        ),
        ("signed by another key with the same kid", stranger.sign("k1", &good())),
        (
            "a kid the client never registered",
            holder.sign_with_header("k1", &json!({"alg": "RS256", "kid": "k9"}), &good()),
        ),
        ("wrong aud", holder.sign("k1", &with(good(), json!({"aud": "https://elsewhere.example/token"})))),
        ("iss is another client", holder.sign("k1", &with(good(), json!({"iss": "someone-else"})))),
        ("sub is another client", holder.sign("k1", &with(good(), json!({"sub": "someone-else"})))),
        ("no sub", holder.sign("k1", &with(good(), json!({"sub": null})))),
        ("no exp", holder.sign("k1", &with(good(), json!({"exp": null})))),
        ("no jti", holder.sign("k1", &with(good(), json!({"jti": null})))),
        (
            "exp 5 minutes in the past",
            holder.sign("k1", &with(good(), json!({"exp": now - 300, "iat": now - 360}))),
        ),
        ("exp more than 5 minutes ahead", holder.sign("k1", &with(good(), json!({"exp": now + 3_600})))),
        ("nbf over 60 seconds ahead", holder.sign("k1", &with(good(), json!({"nbf": now + 120})))),
        ("iat over 60 seconds ahead", holder.sign("k1", &with(good(), json!({"iat": now + 120})))),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    for (case, assertion) in cases {
        let response = post_with_assertion(
            &app,
            "/oauth2/token",
            &assertion,
            &[("grant_type", "client_credentials"), ("client_id", &id)],
        )
        .await;
        assert_eq!(response.status, 401, "{case}: {}", response.body);
        assert_eq!(response.json()["error"], "invalid_client", "{case}");
    }

    // Skew: nbf 8 seconds ahead and exp 30 seconds behind are accepted.
    let skewed = with(good(), json!({"nbf": now + 8, "exp": now - 30}));
    assert_eq!(token_with(&app, &holder.sign("k1", &skewed)).await.status, 200);

    // The same at the other endpoints, and the reason is said.
    let expired = holder.sign("k1", &with(good(), json!({"exp": now - 300})));
    for path in ["/oauth2/introspect", "/oauth2/revoke"] {
        let response = post_with_assertion(&app, path, &expired, &[("token", "x")]).await;
        response.assert_oauth_error(401, "invalid_client");
        assert_eq!(response.json()["error_description"], "the assertion has expired", "{path}");
    }

    // A replay is refused with the reason; the audit log says why too.
    let once = holder.sign("k1", &good());
    assert_eq!(token_with(&app, &once).await.status, 200);
    let replay = token_with(&app, &once).await;
    replay.assert_oauth_error(401, "invalid_client");
    assert!(replay.json()["error_description"].as_str().unwrap().contains("used before"), "{}", replay.body);
    assert!(app.core.audit.flush(Duration::from_secs(5)).await);
    let query = tessera::store::AuditQuery { limit: 50, ..Default::default() };
    let audit = app.core.audit.list(&query).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.detail.contains("client assertion refused") && e.detail.contains("used before")),
        "{audit:?}"
    );
}

async fn an_assertion_works_once_on_every_node(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = spawn_node(Arc::clone(&first.data), first.data.raw_settings(), first.clock.clone()).await;
    let holder = KeyHolder::new(&[("k1", "ES256")]);
    let id = key_client(&first, holder.inline()).await;
    let assertion = holder.sign("k1", &claims(&first, &id));
    assert_eq!(token_with(&first, &assertion).await.status, 200);
    token_with(&second, &assertion).await.assert_oauth_error(401, "invalid_client");
    // A fresh jti works on the second node.
    assert_eq!(token_with(&second, &holder.sign("k1", &claims(&first, &id))).await.status, 200);
}

async fn two_registered_keys_let_a_client_rotate_without_downtime(backend: Backend) {
    let app = spawn_app(backend).await;
    let holder = KeyHolder::new(&[("old", "RS256"), ("new", "ES256")]);
    let id = key_client(&app, holder.inline()).await;
    for kid in ["old", "new"] {
        assert_eq!(token_with(&app, &holder.sign(kid, &claims(&app, &id))).await.status, 200, "{kid}");
    }
    // Without a kid, every key of the right type is tried.
    let no_kid = holder.sign_with_header("new", &json!({"alg": "ES256"}), &claims(&app, &id));
    assert_eq!(token_with(&app, &no_kid).await.status, 200);
}

async fn published_keys_are_fetched_cached_and_refetched_for_a_new_kid(backend: Backend) {
    let app = spawn_app(backend).await;
    let holder = KeyHolder::new(&[("k1", "RS256"), ("k2", "EdDSA")]);
    let site = KeySite::start(Answer::Serve(holder.jwks_of(&["k1"]))).await;
    let id = key_client(&app, site.keys()).await;
    for _ in 0..3 {
        assert_eq!(token_with(&app, &holder.sign("k1", &claims(&app, &id))).await.status, 200);
    }
    assert_eq!(site.requests(), 1, "the set is cached");

    // The client starts signing with a key it has only just published:
    // the set is fetched again, but at most once a minute.
    site.answer(Answer::Serve(holder.jwks()));
    let early = token_with(&app, &holder.sign("k2", &claims(&app, &id))).await;
    early.assert_oauth_error(401, "invalid_client");
    assert_eq!(site.requests(), 1, "fetched less than a minute ago");
    app.clock.advance(61);
    let response = token_with(&app, &holder.sign("k2", &claims(&app, &id))).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(site.requests(), 2);
    // A stream of made-up kids does not hammer the client's server.
    for n in 0..5 {
        let made_up = holder.sign_with_header(
            "k1",
            &json!({"alg": "RS256", "kid": format!("x{n}")}),
            &claims(&app, &id),
        );
        token_with(&app, &made_up).await.assert_oauth_error(401, "invalid_client");
    }
    assert_eq!(site.requests(), 2);
}

async fn a_key_url_that_fails_is_invalid_client_and_never_a_hang(backend: Backend) {
    let app = spawn_app(backend).await;
    let holder = KeyHolder::new(&[("k1", "ES256")]);
    let site = KeySite::start(Answer::Serve(holder.jwks())).await;
    let target = KeySite::start(Answer::Serve(holder.jwks())).await;
    let down = closed_port_url().await;
    let cases: Vec<(&str, Option<Answer>, &str)> = vec![
        ("down", None, "could not be fetched"),
        ("5xx", Some(Answer::Status(503)), "answered 503"),
        ("redirect", Some(Answer::Redirect(target.url())), "redirects are not followed"),
        ("5 MB", Some(Answer::Huge(5 * 1024 * 1024)), "larger than 64 KiB"),
        ("slow", Some(Answer::Slow(holder.jwks())), "could not be fetched"),
    ];
    for (case, answer, says) in cases {
        // A client of its own per case: each URL is cached on its own.
        let keys = match answer {
            None => tessera::domain::ClientKeys::Remote(tessera::domain::JwksUri::parse(&down).unwrap()),
            Some(answer) => {
                let site = KeySite::start(answer).await;
                let keys = site.keys();
                std::mem::forget(site);
                keys
            }
        };
        let client = app.create_client(ClientSpec { keys: Some(keys), ..Default::default() }).await;
        let started = Instant::now();
        let response = token_with(&app, &holder.sign("k1", &claims(&app, &client.id))).await;
        assert!(started.elapsed() < Duration::from_secs(7), "{case} took {:?}", started.elapsed());
        response.assert_oauth_error(401, "invalid_client");
        let description = response.json()["error_description"].as_str().unwrap().to_owned();
        assert!(description.contains(says), "{case}: {description}");
    }
    assert_eq!(target.requests(), 0, "the redirect was not followed");
    drop(site);
}

async fn jira_accepts_tokens_got_with_a_client_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let holder = KeyHolder::new(&[("k1", "ES256")]);
    let id = key_client(&app, holder.inline()).await;
    let token = token_with(&app, &holder.sign("k1", &claims(&app, &id))).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let kid = app.core.keys.current().signer(app.clock.now()).unwrap().kid().to_owned();
    let pem = app.get(&format!("/oauth2/keys/{kid}.pem")).await.body;
    let jira =
        JiraStandIn::start(JiraMode::Pem { pem, username_claim: "username".into() }, &["svc-deploy"]).await;
    let response = send(app.http.get(jira.myself_url()).bearer_auth(&token)).await;
    assert_eq!(
        (response.status, response.json()["name"].clone()),
        (200, json!("svc-deploy")),
        "{}",
        response.body
    );

    // Jira introspecting the same token.
    let jira_client = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let jira = JiraStandIn::start(
        JiraMode::Introspection {
            url: app.url("/oauth2/introspect"),
            client_id: jira_client.id.clone(),
            client_secret: jira_client.secret.clone(),
        },
        &["svc-deploy"],
    )
    .await;
    let response = send(app.http.get(jira.myself_url()).bearer_auth(&token)).await;
    assert_eq!(
        (response.status, response.json()["name"].clone()),
        (200, json!("svc-deploy")),
        "{}",
        response.body
    );
}
