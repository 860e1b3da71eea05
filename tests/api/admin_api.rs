//! The admin API (issue 4 item 3): who may call it, every documented
//! operation called for real (the OpenAPI document is kept true), JSON
//! errors with stable codes, and nothing stored on bad input.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tessera::clock::Clock as _;
use tessera::domain::{
    ClientDraft, ClientType, PkcePolicy, Role, ServiceAccountChanges, UserChanges, Username,
};

use crate::both_backends;
use crate::support::{send, spawn_app, tester, Backend, ClientSpec, Response, TestApp, TestClient};

both_backends!(
    only_admin_tokens_open_the_api,
    every_documented_operation_answers_as_documented,
    bad_requests_get_stable_error_codes_and_change_nothing,
    a_person_gets_the_admin_scope_only_while_an_admin,
    the_api_keeps_to_its_document_and_its_admins,
    a_zero_grace_ends_a_leaked_secret_at_once,
);

/// A service account flagged admin and a client for it with `tessera:admin`.
pub(crate) async fn admin_client(app: &TestApp) -> TestClient {
    app.service_account("svc-admin").await;
    let username = Username::parse("svc-admin").unwrap();
    let changes = ServiceAccountChanges { username: username.clone(), display_name: None, admin: true };
    app.core.admin.update_service_account(&tester(), &username, changes).await.unwrap();
    app.create_client(ClientSpec {
        service_account: Some("svc-admin"),
        scopes: &["tessera:admin"],
        ..Default::default()
    })
    .await
}

pub(crate) async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Response {
    let url = app.url(path);
    let request = match method {
        "get" => app.http.get(url),
        "post" => app.http.post(url),
        "put" => app.http.put(url),
        "delete" => app.http.delete(url),
        other => panic!("no method {other}"),
    };
    let request = request.bearer_auth(token);
    send(match body {
        Some(body) => request.json(&body),
        None => request,
    })
    .await
}

fn assert_error(response: &Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{}", response.body);
    let body = response.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

async fn only_admin_tokens_open_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_client(&app).await;
    let token = app.access_token(&admin).await;
    assert_eq!(call(&app, &token, "get", "/api/v1/apps", None).await.status, 200);

    let anonymous = send(app.http.get(app.url("/api/v1/apps"))).await;
    assert_error(&anonymous, 401, "unauthorized");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer realm=\"tessera\""));
    let garbage = call(&app, "not-a-token", "get", "/api/v1/apps", None).await;
    assert_error(&garbage, 401, "unauthorized");
    assert!(garbage.header("www-authenticate").unwrap().contains("invalid_token"));

    // A live token without the scope.
    let plain = app.create_client(ClientSpec { scopes: &["jira:read"], ..Default::default() }).await;
    let plain_token = app.access_token(&plain).await;
    let refused = call(&app, &plain_token, "get", "/api/v1/apps", None).await;
    assert_error(&refused, 403, "forbidden");
    assert!(refused.header("www-authenticate").unwrap().contains("insufficient_scope"));

    // The scope cannot be had without an admin service account.
    app.service_account("svc-plain").await;
    let sneaky = app.core.admin.list_clients().await.unwrap();
    assert!(sneaky.iter().all(
        |c| !c.scopes.contains("tessera:admin") || c.service_account.as_ref().is_some_and(|sa| sa.admin)
    ));

    // Demoting the service account ends its access at once, token or not.
    let username = Username::parse("svc-admin").unwrap();
    let changes = ServiceAccountChanges { username: username.clone(), display_name: None, admin: false };
    app.core.admin.update_service_account(&tester(), &username, changes).await.unwrap();
    assert_error(&call(&app, &token, "get", "/api/v1/apps", None).await, 403, "forbidden");
    app.token(&admin, &[("scope", "tessera:admin")]).await.assert_oauth_error(400, "invalid_scope");
    let without = app.access_token(&admin).await;
    let (_, claims) = crate::support::jwt_parts(&without);
    assert!(!claims["scope"].as_str().unwrap_or_default().contains("tessera:admin"), "{claims}");

    // A revoked token is dead at once.
    let again = ServiceAccountChanges { username: username.clone(), display_name: None, admin: true };
    app.core.admin.update_service_account(&tester(), &username, again).await.unwrap();
    let fresh = app.access_token(&admin).await;
    assert_eq!(call(&app, &fresh, "get", "/api/v1/users", None).await.status, 200);
    app.revoke(&admin, &fresh).await;
    assert_error(&call(&app, &fresh, "get", "/api/v1/users", None).await, 401, "unauthorized");
}

/// The operations of the OpenAPI document, as ("get", "/api/v1/apps/{id}").
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert((method.clone(), path.clone()));
        }
    }
    operations
}

async fn every_documented_operation_answers_as_documented(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_client(&app).await;
    let token = app.access_token(&admin).await;
    let doc: Value = serde_json::from_str(&app.get("/api/v1/openapi.json").await.body).unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // One real call per operation, in an order where each finds what it needs.
    let app_input = json!({
        "name": "Deploy", "client_type": "confidential", "grants": ["client_credentials"],
        "scopes": ["jira:read"], "service_account": "svc-deploy", "access_token_ttl": "15m"
    });
    let plan: Vec<(&str, String, &str, Option<Value>)> = vec![
        (
            "post",
            "/api/v1/scopes".into(),
            "/api/v1/scopes",
            Some(json!({"name": "jira:read", "description": "Read Jira"})),
        ),
        ("get", "/api/v1/scopes".into(), "/api/v1/scopes", None),
        (
            "put",
            "/api/v1/scopes/jira:read".into(),
            "/api/v1/scopes/{name}",
            Some(json!({"description": "Read Jira issues"})),
        ),
        (
            "post",
            "/api/v1/service-accounts".into(),
            "/api/v1/service-accounts",
            Some(json!({"username": "svc-deploy"})),
        ),
        ("get", "/api/v1/service-accounts".into(), "/api/v1/service-accounts", None),
        ("get", "/api/v1/service-accounts/svc-deploy".into(), "/api/v1/service-accounts/{username}", None),
        (
            "put",
            "/api/v1/service-accounts/svc-deploy".into(),
            "/api/v1/service-accounts/{username}",
            Some(json!({"username": "svc-deploy", "display_name": "Deploy bot"})),
        ),
        (
            "post",
            "/api/v1/service-accounts/svc-deploy/disable".into(),
            "/api/v1/service-accounts/{username}/disable",
            None,
        ),
        (
            "post",
            "/api/v1/service-accounts/svc-deploy/enable".into(),
            "/api/v1/service-accounts/{username}/enable",
            None,
        ),
        ("post", "/api/v1/apps".into(), "/api/v1/apps", Some(app_input.clone())),
        ("get", "/api/v1/apps".into(), "/api/v1/apps", None),
        ("get", "/api/v1/apps/{id}".into(), "/api/v1/apps/{id}", None),
        (
            "put",
            "/api/v1/apps/{id}".into(),
            "/api/v1/apps/{id}",
            Some(json!({
                "name": "Deploy v2", "client_type": "confidential", "grants": ["client_credentials"],
                "scopes": ["jira:read"], "service_account": "svc-deploy", "token_format": "opaque"
            })),
        ),
        (
            "post",
            "/api/v1/apps/{id}/rotate-secret".into(),
            "/api/v1/apps/{id}/rotate-secret",
            Some(json!({"grace": "1h"})),
        ),
        ("post", "/api/v1/apps/{id}/disable".into(), "/api/v1/apps/{id}/disable", None),
        ("post", "/api/v1/apps/{id}/enable".into(), "/api/v1/apps/{id}/enable", None),
        ("post", "/api/v1/apps/{id}/revoke-tokens".into(), "/api/v1/apps/{id}/revoke-tokens", None),
        ("get", "/api/v1/apps/{id}/grants".into(), "/api/v1/apps/{id}/grants", None),
        (
            "post",
            "/api/v1/users".into(),
            "/api/v1/users",
            Some(json!({"username": "bob", "email": "bob@example.com", "password": "bob's password"})),
        ),
        ("get", "/api/v1/users".into(), "/api/v1/users", None),
        ("get", "/api/v1/users/bob".into(), "/api/v1/users/{username}", None),
        (
            "put",
            "/api/v1/users/bob".into(),
            "/api/v1/users/{username}",
            Some(json!({"username": "bob", "email": "bob@example.org", "role": "user"})),
        ),
        (
            "post",
            "/api/v1/users/bob/password".into(),
            "/api/v1/users/{username}/password",
            Some(json!({"password": "a new password"})),
        ),
        ("get", "/api/v1/users/bob/grants".into(), "/api/v1/users/{username}/grants", None),
        ("delete", "/api/v1/users/bob/grants".into(), "/api/v1/users/{username}/grants", None),
        ("post", "/api/v1/users/bob/disable".into(), "/api/v1/users/{username}/disable", None),
        ("post", "/api/v1/users/bob/enable".into(), "/api/v1/users/{username}/enable", None),
        (
            "post",
            "/api/v1/users/bob/personal-tokens".into(),
            "/api/v1/users/{username}/personal-tokens",
            Some(json!({"label": "ci", "scope": ["jira:read"], "expires_in": "30d"})),
        ),
        ("get", "/api/v1/users/bob/personal-tokens".into(), "/api/v1/users/{username}/personal-tokens", None),
        ("get", "/api/v1/personal-tokens".into(), "/api/v1/personal-tokens", None),
        ("delete", "/api/v1/personal-tokens/{pat}".into(), "/api/v1/personal-tokens/{id}", None),
        ("delete", "/api/v1/grants/{grant}".into(), "/api/v1/grants/{id}", None),
        (
            "post",
            "/api/v1/trusts".into(),
            "/api/v1/trusts",
            Some(json!({
                "issuer": "https://token.actions.githubusercontent.com",
                "jwks_uri": "https://token.actions.githubusercontent.com/.well-known/jwks",
                "audience": "https://tessera.test/ci", "claims": ["repository=acme/deploy"],
                "service_account": "svc-deploy", "scopes": ["jira:read"], "clients": ["{id}"]
            })),
        ),
        ("get", "/api/v1/trusts".into(), "/api/v1/trusts", None),
        ("get", "/api/v1/trusts/{trust}".into(), "/api/v1/trusts/{id}", None),
        ("post", "/api/v1/trusts/{trust}/disable".into(), "/api/v1/trusts/{id}/disable", None),
        ("post", "/api/v1/trusts/{trust}/enable".into(), "/api/v1/trusts/{id}/enable", None),
        ("delete", "/api/v1/trusts/{trust}".into(), "/api/v1/trusts/{id}", None),
        ("get", "/api/v1/keys".into(), "/api/v1/keys", None),
        ("post", "/api/v1/keys/rotate".into(), "/api/v1/keys/rotate", None),
        // No directory here: the status says so, the actions are 404.
        ("get", "/api/v1/directory".into(), "/api/v1/directory", None),
        (
            "post",
            "/api/v1/directory/test".into(),
            "/api/v1/directory/test",
            Some(json!({"username": "jane"})),
        ),
        ("post", "/api/v1/directory/sync".into(), "/api/v1/directory/sync", None),
        ("get", "/api/v1/audit?category=admin&limit=5".into(), "/api/v1/audit", None),
        ("delete", "/api/v1/apps/{id}".into(), "/api/v1/apps/{id}", None),
    ];
    let planned: BTreeSet<(String, String)> =
        plan.iter().map(|(method, _, template, _)| (method.to_string(), template.to_string())).collect();
    assert_eq!(planned, documented(&doc), "every documented operation is called, and only those");

    let mut client_id = String::new();
    let mut personal_token = String::new();
    let mut trust = String::new();
    let grant = person_grant(&app).await;
    for (method, path, template, body) in plan {
        let path = path
            .replace("{id}", &client_id)
            .replace("{grant}", &grant)
            .replace("{pat}", &personal_token)
            .replace("{trust}", &trust);
        let body = body.map(|b| serde_json::from_str(&b.to_string().replace("{id}", &client_id)).unwrap());
        let response = call(&app, &token, method, &path, body).await;
        let documented = &doc["paths"][template][method]["responses"];
        assert!(
            documented.get(response.status.to_string()).is_some(),
            "{method} {path} answered {} (documented: {documented}): {}",
            response.status,
            response.body
        );
        // With no directory configured, its actions are 404 (they answer
        // 200 in directory::the_console_and_the_api_show_test_and_sync_the_directory).
        let expected = if template.starts_with("/api/v1/directory/") { 404..405 } else { 200..300 };
        assert!(
            expected.contains(&response.status),
            "{method} {path}: {} {}",
            response.status,
            response.body
        );
        assert_eq!(response.header("cache-control"), Some("no-store"), "{method} {path}");
        if method == "post" && template == "/api/v1/apps" {
            let body = response.json();
            client_id = body["app"]["client_id"].as_str().unwrap().to_owned();
            let secret = body["client_secret"].as_str().unwrap().to_owned();
            let created = TestClient { id: client_id.clone(), secret };
            let issued = app.access_token(&created).await;
            let (_, claims) = crate::support::jwt_parts(&issued);
            assert_eq!(claims["username"], "svc-deploy");
        }
        if template == "/api/v1/apps/{id}" && method == "get" {
            assert!(!response.body.contains("tsr_cs_"), "no secret after creation");
            assert_eq!(response.json()["access_token_ttl_seconds"], 900);
        }
        if template == "/api/v1/users/{username}/personal-tokens" && method == "post" {
            let body = response.json();
            assert!(body["token"].as_str().unwrap().starts_with("tsr_pat_"), "{body}");
            assert_eq!((body["username"].as_str(), body["status"].as_str()), (Some("bob"), Some("active")));
            personal_token = body["id"].as_str().unwrap().to_owned();
        }
        if template.ends_with("personal-tokens") && method == "get" {
            assert!(!response.body.contains("tsr_pat_"), "a list never shows the token");
            assert_eq!(response.json()[0]["label"], "ci");
        }
        if template == "/api/v1/trusts" && method == "post" {
            let body = response.json();
            trust = body["id"].as_str().unwrap().to_owned();
            assert_eq!(
                (body["clients"][0].as_str(), body["max_ttl_seconds"].as_i64()),
                (Some(client_id.as_str()), Some(600))
            );
        }
        if template == "/api/v1/trusts" && method == "get" {
            assert_eq!(response.json()[0]["id"], trust.as_str());
        }
        if template == "/api/v1/audit" {
            let page = response.json();
            assert_eq!(page["events"].as_array().unwrap().len(), 5);
            assert!(page["next_before"].is_i64());
            assert_eq!(page["events"][0]["actor"], "service_account:svc-admin");
        }
    }
    assert!(app.core.admin.find_client(&client_id).await.is_err(), "deleted last");
    assert!(app.core.accounts.verify_login("bob", "a new password").await.unwrap().is_some());
}

/// A grant of `jane` to a code-flow app, for the grant operations.
async fn person_grant(app: &TestApp) -> String {
    crate::console::add_user(app, "jane", Role::User, "jane's password").await;
    let draft = ClientDraft {
        name: "Portal".into(),
        client_type: "public".into(),
        grants: vec!["authorization_code".into()],
        redirect_uris: vec!["https://portal.example/cb".into()],
        scopes: vec!["openid".into()],
        ..ClientDraft::default()
    };
    let portal = app.core.admin.create_client(&tester(), draft.parse().unwrap()).await.unwrap();
    let user = app.core.accounts.find_user(&Username::parse("jane").unwrap()).await.unwrap();
    let code = tessera::store::NewCode {
        code_hash: "h".repeat(43),
        grant_id: tessera::domain::GrantId::new("grant-for-the-api-test"),
        client_id: portal.client.id.clone(),
        user_id: user.id,
        scope: tessera::domain::ScopeSet::parse("openid").unwrap(),
        auth_time: tessera::domain::UnixTime::now(),
        redirect_uri: "https://portal.example/cb".into(),
        redirect_uri_given: true,
        code_challenge: None,
        nonce: None,
        claims: None,
        expires_at: tessera::domain::UnixTime::now().plus(60),
        grant_expires_at: tessera::domain::UnixTime::now().plus(86_400),
    };
    app.core.store.create_code(&code, tessera::domain::UnixTime::now()).await.unwrap();
    "grant-for-the-api-test".into()
}

async fn bad_requests_get_stable_error_codes_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_client(&app).await;
    let token = app.access_token(&admin).await;
    let apps_before = app.core.admin.list_clients().await.unwrap().len();

    let raw = |content_type: &'static str, body: &'static str| {
        send(
            app.http
                .post(app.url("/api/v1/apps"))
                .bearer_auth(&token)
                .header("content-type", content_type)
                .body(body),
        )
    };
    assert_error(&raw("application/json", "{not json").await, 400, "invalid_json");
    assert_error(&raw("text/plain", "{}").await, 415, "unsupported_media_type");
    assert_error(
        &raw(
            "application/json",
            r#"{"name":"a","client_type":"confidential","grants":["client_credentials"],"secret":"mine"}"#,
        )
        .await,
        400,
        "invalid_json",
    );

    let cases = [
        (json!({"name": "", "client_type": "confidential", "grants": ["client_credentials"]}), "name"),
        (json!({"name": "a", "client_type": "weird", "grants": ["client_credentials"]}), "client_type"),
        (json!({"name": "a", "client_type": "confidential", "grants": ["implicit"]}), "grants"),
        (
            json!({"name": "a", "client_type": "confidential", "grants": ["authorization_code"], "redirect_uris": ["https://a.example/#f"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "a", "client_type": "confidential", "grants": ["client_credentials"], "access_token_ttl": "2d"}),
            "access_token_ttl",
        ),
        (json!({"name": "a", "client_type": "public", "grants": ["client_credentials"]}), "grants"),
        (
            json!({"name": "a", "client_type": "confidential", "grants": ["client_credentials"], "scopes": ["tessera:admin"]}),
            "scopes",
        ),
    ];
    for (body, field) in cases {
        let response = call(&app, &token, "post", "/api/v1/apps", Some(body.clone())).await;
        assert_error(&response, 400, "invalid_input");
        assert_eq!(response.json()["field"], field, "{body}");
    }
    let unknown = call(&app, &token, "post", "/api/v1/apps", Some(json!({"name": "a", "client_type": "confidential", "grants": ["client_credentials"], "scopes": ["nope"]}))).await;
    assert_error(&unknown, 404, "not_found");
    assert_eq!(app.core.admin.list_clients().await.unwrap().len(), apps_before, "nothing stored");

    assert_error(&call(&app, &token, "get", "/api/v1/apps/unknown-client", None).await, 404, "not_found");
    assert_error(&call(&app, &token, "get", "/api/v1/users/nobody", None).await, 404, "not_found");
    assert_error(&call(&app, &token, "get", "/api/v1/users/bad%20name", None).await, 404, "not_found");
    assert_error(&call(&app, &token, "delete", "/api/v1/grants/nope", None).await, 404, "not_found");
    assert_error(&call(&app, &token, "get", "/api/v1/nothing-here", None).await, 404, "not_found");
    // A string where a boolean belongs: serde would quote it; we do not.
    let misplaced = json!({"username": "svc-x", "admin": "s3cret-value"});
    let misplaced = call(&app, &token, "post", "/api/v1/service-accounts", Some(misplaced)).await;
    assert_error(&misplaced, 400, "invalid_json");
    assert!(!misplaced.body.contains("s3cret-value"), "no value echoed: {}", misplaced.body);
    let twice = json!({"username": "svc-admin"});
    assert_error(&call(&app, &token, "post", "/api/v1/service-accounts", Some(twice)).await, 409, "conflict");
    let user = json!({"username": "bob", "email": "bob@example.com", "password": "short"});
    let short = call(&app, &token, "post", "/api/v1/users", Some(user)).await;
    assert_error(&short, 400, "invalid_input");
    assert_eq!(short.json()["field"], "password");
    let bad_rotate = call(
        &app,
        &token,
        "post",
        &format!("/api/v1/apps/{}/rotate-secret", admin.id),
        Some(json!({"grace": "soon"})),
    )
    .await;
    assert_error(&bad_rotate, 400, "invalid_input");
    app.access_token(&admin).await; // the secret did not change
                                    // Personal tokens: an unknown owner, each bad field, an unknown token; nothing stored.
    crate::console::add_user(&app, "dana", Role::User, "dana's password").await;
    let nobody = json!({"label": "ci"});
    let nobody = call(&app, &token, "post", "/api/v1/users/nobody/personal-tokens", Some(nobody)).await;
    assert_error(&nobody, 404, "not_found");
    for (body, field) in [
        (json!({"label": ""}), "label"),
        (json!({"label": "ci", "expires_in": "soon"}), "expires_in"),
        (json!({"label": "ci", "expires_in": "400d"}), "expires_in"),
        (json!({"label": "ci", "scope": ["tessera:admin"]}), "scope"),
    ] {
        let response =
            call(&app, &token, "post", "/api/v1/users/dana/personal-tokens", Some(body.clone())).await;
        assert_error(&response, 400, "invalid_input");
        assert_eq!(response.json()["field"], field, "{body}");
    }
    let extra = json!({"label": "ci", "token": "tsr_pat_mine"});
    let extra = call(&app, &token, "post", "/api/v1/users/dana/personal-tokens", Some(extra)).await;
    assert_error(&extra, 400, "invalid_json");
    assert!(app.core.personal_tokens.list(None).await.unwrap().is_empty(), "nothing stored");
    assert_error(&call(&app, &token, "delete", "/api/v1/personal-tokens/nope", None).await, 404, "not_found");
    assert_error(&call(&app, &token, "get", "/api/v1/audit?kind=nope", None).await, 400, "invalid_input");
    assert_error(&call(&app, &token, "get", "/api/v1/audit?limit=0", None).await, 400, "invalid_input");
    assert_error(
        &call(
            &app,
            &token,
            "put",
            "/api/v1/scopes/openid",
            Some(json!({"description": "x", "enabled": false})),
        )
        .await,
        400,
        "invalid_input",
    );
}

async fn a_person_gets_the_admin_scope_only_while_an_admin(backend: Backend) {
    let setup = crate::authorize::setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let app = &setup.app;
    let current = app.core.admin.find_client(&setup.client.id).await.unwrap();
    let mut draft = ClientDraft::of(&current);
    draft.scopes.push("tessera:admin".into());
    app.core.admin.update_client(&tester(), &setup.client.id, draft.parse().unwrap()).await.unwrap();

    let scope = [("scope", "openid tessera:admin")];
    let as_user =
        crate::authorize::exchange(&setup, &crate::authorize::code_for(&setup, &scope).await, &[]).await;
    let body = as_user.json();
    assert_eq!(body["scope"], "openid", "a plain user is not given the admin scope");
    let token = body["access_token"].as_str().unwrap();
    assert_error(&call(app, token, "get", "/api/v1/apps", None).await, 403, "forbidden");

    let jane = Username::parse("jane").unwrap();
    let user = app.core.accounts.find_user(&jane).await.unwrap();
    let promote = UserChanges {
        username: jane.clone(),
        email: user.email.clone(),
        display_name: None,
        profile: Default::default(),
        role: Role::Admin,
    };
    app.core.accounts.update_user(&tester(), &jane, promote).await.unwrap();
    let as_admin =
        crate::authorize::exchange(&setup, &crate::authorize::code_for(&setup, &scope).await, &[]).await;
    let token = as_admin.json()["access_token"].as_str().unwrap().to_owned();
    let apps = call(app, &token, "get", "/api/v1/apps", None).await;
    assert_eq!(apps.status, 200, "{}", apps.body);
    let changed = call(app, &token, "post", "/api/v1/scopes", Some(json!({"name": "jira:write"}))).await;
    assert_eq!(changed.status, 201);
    let events =
        app.core.audit.list(&tessera::store::AuditQuery { limit: 1, ..Default::default() }).await.unwrap();
    assert_eq!((events[0].kind.as_str(), events[0].actor.as_str()), ("scope.created", "jane"));
    assert_eq!(events[0].address.as_deref(), Some("127.0.0.1"));

    let demote = UserChanges {
        username: jane.clone(),
        email: user.email,
        display_name: None,
        profile: Default::default(),
        role: Role::User,
    };
    app.core.accounts.update_user(&tester(), &jane, demote).await.unwrap();
    assert_error(&call(app, &token, "get", "/api/v1/apps", None).await, 403, "forbidden");
}

/// The security review's schemathesis findings (issue 11): every answer is
/// JSON and documented, undeclared methods get 405, and an admin service
/// account cannot take away its own access.
async fn the_api_keeps_to_its_document_and_its_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_client(&app).await;
    let token = app.access_token(&admin).await;

    // A malformed query: JSON, not actix's plain text.
    let before = call(&app, &token, "get", "/api/v1/audit?before=abc", None).await;
    assert_error(&before, 400, "invalid_input");
    assert!(before.header("content-type").unwrap().starts_with("application/json"));
    // A body over 64 KiB: JSON 413.
    let big = json!({"name": "x".repeat(70 * 1024), "client_type": "public", "grants": []});
    let big = call(&app, &token, "post", "/api/v1/apps", Some(big)).await;
    assert_error(&big, 413, "payload_too_large");
    // An undeclared method on a known path: 405 with Allow, JSON.
    let trace =
        send(app.http.request(reqwest::Method::TRACE, app.url("/api/v1/keys")).bearer_auth(&token)).await;
    assert_error(&trace, 405, "method_not_allowed");
    assert_eq!(trace.header("allow"), Some("GET"));
    let patch = send(app.http.patch(app.url("/api/v1/apps")).bearer_auth(&token)).await;
    assert_eq!((patch.status, patch.header("allow")), (405, Some("GET, POST")));
    // An unknown path: 404 JSON.
    assert_error(&call(&app, &token, "get", "/api/v1/nothing-here", None).await, 404, "not_found");
    // A category that is not one, even beside a kind.
    let both = call(&app, &token, "get", "/api/v1/audit?kind=scope.created&category=nope", None).await;
    assert_error(&both, 400, "invalid_input");
    assert_eq!(both.json()["field"], "category");

    // The document says all of it: 413 and 415 where a body is taken,
    // 400 and 503 everywhere, enums and bounds on the inputs.
    let document: Value = serde_json::from_str(&app.get("/api/v1/openapi.json").await.body).unwrap();
    let create_app = &document["paths"]["/api/v1/apps"]["post"]["responses"];
    for status in ["400", "413", "415", "503"] {
        assert!(create_app.get(status).is_some(), "POST /api/v1/apps documents {status}");
    }
    let schemas = &document["components"]["schemas"];
    assert_eq!(schemas["AppInput"]["properties"]["client_type"]["enum"], json!(["confidential", "public"]));
    assert_eq!(schemas["AppInput"]["properties"]["name"]["maxLength"], 200);
    assert!(schemas["UserInput"]["properties"]["username"]["pattern"].is_string());
    let audit = &document["paths"]["/api/v1/audit"]["get"]["parameters"];
    let limit = audit.as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(
        (limit["schema"]["minimum"].as_i64(), limit["schema"]["maximum"].as_i64()),
        (Some(1), Some(500))
    );

    // The admin service account cannot disable itself or drop its own flag.
    let disable = call(&app, &token, "post", "/api/v1/service-accounts/svc-admin/disable", None).await;
    assert_error(&disable, 400, "invalid_input");
    let demote = json!({"username": "svc-admin", "admin": false});
    let demote = call(&app, &token, "put", "/api/v1/service-accounts/svc-admin", Some(demote)).await;
    assert_error(&demote, 400, "invalid_input");
    assert_eq!(demote.json()["field"], "admin");
    assert_eq!(call(&app, &token, "get", "/api/v1/apps", None).await.status, 200, "it still works");
    // Another admin may.
    let svc = Username::parse("svc-admin").unwrap();
    app.core.admin.set_service_account_enabled(&tester(), &svc, false).await.unwrap();
    assert_error(&call(&app, &token, "get", "/api/v1/apps", None).await, 401, "unauthorized");
}

async fn a_zero_grace_ends_a_leaked_secret_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_client(&app).await;
    let token = app.access_token(&admin).await;
    let leaked = app.deploy_client().await;
    app.access_token(&leaked).await;

    let path = format!("/api/v1/apps/{}/rotate-secret", leaked.id);
    let rotated = call(&app, &token, "post", &path, Some(json!({"grace": "0s"}))).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let rotated = rotated.json();
    assert!(rotated["previous_secret_expires_at"].as_i64().unwrap() <= app.clock.now().seconds());
    // The old secret is refused at once, the new one works.
    app.token(&leaked, &[]).await.assert_oauth_error(401, "invalid_client");
    let renewed =
        TestClient { id: leaked.id.clone(), secret: rotated["client_secret"].as_str().unwrap().into() };
    app.access_token(&renewed).await;
    let events = app.core.audit.list(&tessera::store::AuditQuery { limit: 5, ..Default::default() }).await;
    assert!(
        events.unwrap().iter().any(|e| e.detail == "the previous secret ended at once"),
        "the audit log says the old secret ended"
    );
}
