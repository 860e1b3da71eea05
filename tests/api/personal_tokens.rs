//! Personal API tokens (issue 5 item 1): `tsr_pat_` tokens with a label,
//! scopes and an expiry under the server's policy; active in introspection
//! (resource servers only) with the owner's username, accepted at
//! userinfo, dead the moment they are revoked, expire or their owner is
//! disabled; `last_used_at` written in batches; `tessera token …`.

use std::sync::Arc;

use tessera::clock::{Clock as _, ManualClock};
use tessera::domain::{Lifetime, Role, UnixTime, Username};
use tessera::service::personal_tokens::{CreatedToken, TokenRequest};

use crate::both_backends;
use crate::console::{add_user, admin_console, sign_in, USER_PASSWORD};
use crate::support::browser::hidden_fields;
use crate::support::cli::tessera;
use crate::support::{
    send, spawn_app, spawn_app_with, spawn_node, tester, Backend, ClientSpec, TestApp, TestData,
};

both_backends!(
    a_personal_token_lives_until_it_is_revoked,
    expiry_and_a_disabled_owner_end_a_token,
    bad_tokens_are_inactive_without_a_database_read_for_malformed_ones,
    the_policy_and_bad_requests_are_refused_and_store_nothing,
    the_command_line_creates_lists_and_revokes,
    an_admins_personal_token_opens_the_admin_api_while_they_are_admin,
    people_manage_their_tokens_in_the_console_and_admins_see_all,
    a_personal_token_is_exchanged_for_a_short_jwt,
    token_exchange_refuses_what_rfc_8693_refuses,
    token_exchange_honours_audience_as_it_does_resource,
    jira_accepts_personal_tokens_by_introspection_and_exchanged_jwts_by_pem,
);

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A public client allowed the token exchange (a script has no secret).
async fn exchange_client(app: &TestApp, scopes: &[&str]) -> String {
    let draft = tessera::domain::ClientDraft {
        name: "token script".into(),
        client_type: "public".into(),
        grants: vec![EXCHANGE.into()],
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let created = app.core.admin.create_client(&tester(), draft.parse().unwrap()).await.unwrap();
    created.client.id.to_string()
}

async fn exchange(
    app: &TestApp,
    client_id: &str,
    subject_token: &str,
    extra: &[(&str, &str)],
) -> crate::support::Response {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("client_id", client_id),
        ("subject_token", subject_token),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
    ];
    form.extend_from_slice(extra);
    app.post_form("/oauth2/token", None, &form).await
}

const PASSWORD: &str = "correct horse battery";

async fn create(app: &TestApp, owner: &str, request: TokenRequest) -> CreatedToken {
    try_create(app, owner, request).await.unwrap()
}

async fn try_create(
    app: &TestApp,
    owner: &str,
    request: TokenRequest,
) -> Result<CreatedToken, tessera::service::ServiceError> {
    let owner = app.core.accounts.find_user(&Username::parse(owner).unwrap()).await.unwrap();
    app.core.personal_tokens.create(&tester(), &owner, &request).await
}

fn labelled(label: &str) -> TokenRequest {
    TokenRequest { label: label.into(), ..Default::default() }
}

async fn userinfo(app: &TestApp, token: &str) -> crate::support::Response {
    send(app.http.get(app.url("/oauth2/userinfo")).bearer_auth(token)).await
}

async fn a_personal_token_lives_until_it_is_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "alice", Role::User, PASSWORD).await;
    app.scope("jira:read").await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let other_client = app.create_client(ClientSpec::default()).await;

    let request = TokenRequest {
        label: "  deploy script ".into(),
        scopes: vec!["jira:read".into()],
        expires_in: Some(Lifetime::from_seconds(30 * 86_400)),
    };
    let created = create(&app, "alice", request).await;
    let token = created.secret.expose().to_owned();
    assert!(token.starts_with("tsr_pat_") && tessera::crypto::personal_token::is_well_formed(&token));
    assert_eq!(created.token.label, "deploy script");
    let now = app.clock.now().seconds();
    assert_eq!(created.token.expires_at.map(UnixTime::seconds), Some(now + 30 * 86_400));

    let response = app.introspect(&jira, &token).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let body = response.json();
    assert_eq!(body["active"], true);
    assert_eq!(body["username"], "alice");
    assert_eq!(body["scope"], "jira:read");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["exp"], now + 30 * 86_400);
    assert_eq!(body["sub"], created.token.user_id.as_str());
    assert!(body.get("client_id").is_none(), "no client holds a personal token: {body}");
    assert!(
        !app.is_active(&other_client, &token).await,
        "only resource servers may introspect personal tokens"
    );

    let info = userinfo(&app, &token).await;
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.json()["username"], "alice");
    assert_eq!(info.json()["email"], "alice@example.com");

    // Use is noted in memory and written by the flush, not per request.
    let stored = app.core.personal_tokens.find(&created.token.id, None).await.unwrap();
    assert_eq!(stored.last_used_at, None);
    app.clock.advance(5);
    assert!(app.is_active(&jira, &token).await);
    app.core.personal_tokens.flush_usage().await.unwrap();
    let stored = app.core.personal_tokens.find(&created.token.id, None).await.unwrap();
    assert_eq!(stored.last_used_at.map(UnixTime::seconds), Some(now + 5));

    // Someone else cannot revoke it; its owner can, once.
    add_user(&app, "bob", Role::User, PASSWORD).await;
    let bob = app.core.accounts.find_user(&Username::parse("bob").unwrap()).await.unwrap();
    let alice = app.core.accounts.find_user(&Username::parse("alice").unwrap()).await.unwrap();
    let tokens = &app.core.personal_tokens;
    assert!(tokens.revoke(&tester(), &created.token.id, Some(&bob)).await.is_err());
    assert!(app.is_active(&jira, &token).await, "a refused revocation changes nothing");
    tokens.revoke(&tester(), &created.token.id, Some(&alice)).await.unwrap();
    assert!(!app.is_active(&jira, &token).await, "revoked is dead at once");
    assert_eq!(userinfo(&app, &token).await.status, 401);
    let again = tokens.revoke(&tester(), &created.token.id, Some(&alice)).await.unwrap_err();
    assert!(again.to_string().contains("already revoked"), "{again}");

    let kinds: Vec<String> = app
        .core
        .audit
        .list(&tessera::store::AuditQuery { limit: 50, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "personal_token.created"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "personal_token.revoked"), "{kinds:?}");
}

async fn expiry_and_a_disabled_owner_end_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "alice", Role::User, PASSWORD).await;
    add_user(&app, "admin2", Role::Admin, PASSWORD).await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let short = TokenRequest { expires_in: Some(Lifetime::from_seconds(60)), ..labelled("short") };
    let short = create(&app, "alice", short).await;
    let lasting = create(&app, "alice", labelled("lasting")).await;
    assert_eq!(
        lasting.token.expires_at.map(UnixTime::seconds),
        Some(app.clock.now().seconds() + 365 * 86_400),
        "without an expiry, the policy's maximum"
    );
    assert!(app.is_active(&jira, short.secret.expose()).await);
    app.clock.advance(60);
    assert!(!app.is_active(&jira, short.secret.expose()).await, "expired at its expiry");
    assert!(app.is_active(&jira, lasting.secret.expose()).await);

    let alice = Username::parse("alice").unwrap();
    app.core.accounts.set_user_enabled(&tester(), &alice, false).await.unwrap();
    assert!(!app.is_active(&jira, lasting.secret.expose()).await, "a disabled owner's token is dead");
    assert_eq!(userinfo(&app, lasting.secret.expose()).await.status, 401);
    let listed = app.core.personal_tokens.list(None).await.unwrap();
    let status = |id: &tessera::domain::PersonalTokenId| {
        listed.iter().find(|t| &t.id == id).unwrap().status(app.clock.now()).as_str()
    };
    assert_eq!(status(&short.token.id), "expired");
    assert_eq!(status(&lasting.token.id), "revoked", "disabling revokes, so enabling revives nothing");
}

async fn bad_tokens_are_inactive_without_a_database_read_for_malformed_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "alice", Role::User, PASSWORD).await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let token = create(&app, "alice", labelled("ci")).await.secret.expose().to_owned();

    let mut bad_checksum = token.clone();
    let last = bad_checksum.pop().unwrap();
    bad_checksum.push(if last == 'a' { 'b' } else { 'a' });
    let well_formed_unknown = tessera::crypto::personal_token::generate();
    for bad in [
        "tsr_pat_",
        "tsr_pat_short",
        &token[..token.len() - 1],
        &format!("{token}x"),
        &bad_checksum,
        &token.replacen("tsr_pat_", "tsr_pat-", 1),
        well_formed_unknown.expose(),
    ] {
        assert!(!app.is_active(&jira, bad).await, "{bad} must be inactive");
        let info = userinfo(&app, bad).await;
        assert_eq!(info.status, 401, "{bad}: {}", info.body);
        assert!(!info.body.contains(bad) || bad.is_empty(), "the token is never echoed");
    }

    // Malformed ones are refused before the database: they are answered
    // even while the database is gone.
    app.core.database.close().await;
    assert!(!app.is_active(&jira, &bad_checksum).await);
}

async fn the_policy_and_bad_requests_are_refused_and_store_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |raw| {
        raw.pat_max_per_user = Some(2);
        raw.pat_max_lifetime = Some("90d".into());
        raw.pat_require_expiry = Some(true);
    })
    .await;
    add_user(&app, "alice", Role::User, PASSWORD).await;
    app.scope("jira:read").await;
    let day = |days: i64| Some(Lifetime::from_seconds(days * 86_400));
    let refusals: Vec<(TokenRequest, &str, Option<&str>)> = vec![
        (labelled("no expiry"), "requires every token to have an expiry", Some("expires_in")),
        (TokenRequest { expires_in: day(91), ..labelled("too long") }, "at most 90d", Some("expires_in")),
        (TokenRequest { expires_in: day(1), ..labelled("") }, "label", Some("label")),
        (TokenRequest { expires_in: day(1), ..labelled("x\u{7}") }, "control characters", Some("label")),
        (
            TokenRequest { expires_in: day(1), scopes: vec!["jira:write".into()], ..labelled("ok") },
            "no enabled scope named 'jira:write'",
            Some("scope"),
        ),
        (
            TokenRequest { expires_in: day(1), scopes: vec!["tessera:admin".into()], ..labelled("ok") },
            "only admins",
            Some("scope"),
        ),
        (
            TokenRequest { expires_in: day(1), scopes: vec!["offline_access".into()], ..labelled("ok") },
            "offline_access",
            Some("scope"),
        ),
        (
            TokenRequest { expires_in: day(1), scopes: vec!["bad\"scope".into()], ..labelled("ok") },
            "printable ASCII",
            Some("scope"),
        ),
    ];
    for (request, says, field) in refusals {
        let error = try_create(&app, "alice", request).await.err().expect("refused");
        assert!(error.to_string().contains(says), "{error} should say {says}");
        match error {
            tessera::service::ServiceError::Invalid(invalid) => assert_eq!(invalid.field, field),
            other => panic!("{other:?}"),
        }
    }
    assert!(app.core.personal_tokens.list(None).await.unwrap().is_empty(), "nothing stored");

    let ok = |label: &str| TokenRequest {
        expires_in: day(90),
        scopes: vec!["jira:read".into()],
        ..labelled(label)
    };
    let first = create(&app, "alice", ok("one")).await;
    create(&app, "alice", ok("two")).await;
    let third = try_create(&app, "alice", ok("three")).await.err().expect("over the limit");
    assert!(third.to_string().contains("already has 2 active tokens"), "{third}");
    // A revoked token frees its place.
    app.core.personal_tokens.revoke(&tester(), &first.token.id, None).await.unwrap();
    create(&app, "alice", ok("three")).await;
    assert_eq!(app.core.personal_tokens.list(None).await.unwrap().len(), 3);
}

async fn the_command_line_creates_lists_and_revokes(backend: Backend) {
    let data = Arc::new(TestData::new(backend).await);
    let app = spawn_node(data.clone(), data.raw_settings(), ManualClock::new(UnixTime::now())).await;
    add_user(&app, "alice", Role::User, PASSWORD).await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let created = tessera(
        &data,
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--label",
            "laptop",
            "--scope",
            "jira:read",
            "--expires-in",
            "90d",
            "--json",
        ],
    )
    .await
    .json();
    let token = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    assert!(created["expires_at"].as_i64().unwrap() > UnixTime::now().seconds() + 89 * 86_400);
    assert!(app.is_active(&jira, token).await);

    let listed = tessera(&data, &["token", "list", "--user", "alice", "--json"]).await;
    assert!(!listed.stdout.contains(token), "a list never shows the token");
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["status"], "active");

    for (args, says) in [
        (vec!["token", "create", "--user", "nobody", "--label", "x"], "no user named 'nobody'"),
        (
            vec!["token", "create", "--user", "alice", "--label", "x", "--expires-in", "1y"],
            "invalid duration",
        ),
        (vec!["token", "create", "--user", "alice", "--label", "x", "--expires-in", "400d"], "at most 365d"),
        (vec!["token", "revoke", "nope"], "no personal token"),
    ] {
        let output = tessera(&data, &args).await;
        assert_ne!(output.code, 0, "{args:?}");
        assert_eq!(output.stderr.trim().lines().count(), 1, "{}", output.stderr);
        assert!(output.stderr.contains(says), "{args:?}: {}", output.stderr);
    }
    assert_eq!(app.core.personal_tokens.list(None).await.unwrap().len(), 1, "refusals store nothing");

    assert_eq!(tessera(&data, &["token", "revoke", id]).await.code, 0);
    assert!(!app.is_active(&jira, token).await);
}

async fn an_admins_personal_token_opens_the_admin_api_while_they_are_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "root2", Role::Admin, PASSWORD).await;
    add_user(&app, "carol", Role::User, PASSWORD).await;
    let admin_scope = TokenRequest { scopes: vec!["tessera:admin".into()], ..labelled("automation") };
    let token = create(&app, "root2", admin_scope).await.secret.expose().to_owned();
    let plain = create(&app, "root2", labelled("no scope")).await.secret.expose().to_owned();
    let get = |token: String| {
        let request = app.http.get(app.url("/api/v1/apps")).bearer_auth(token);
        async { send(request).await.status }
    };
    assert_eq!(get(token.clone()).await, 200);
    assert_eq!(get(plain).await, 403, "without tessera:admin");

    let root2 = Username::parse("root2").unwrap();
    let user = app.core.accounts.find_user(&root2).await.unwrap();
    let changes = tessera::domain::UserChanges {
        username: root2.clone(),
        email: user.email.clone(),
        display_name: None,
        profile: Default::default(),
        role: Role::User,
    };
    app.core.accounts.update_user(&tester(), &root2, changes).await.unwrap();
    assert_eq!(get(token).await, 403, "a demoted admin's token stops at once");
}

/// The personal token shown on a page, if any.
fn shown_token(page: &str) -> Option<String> {
    let start = page.find("tsr_pat_")?;
    let end = page[start..].find('"')? + start;
    Some(page[start..end].to_owned())
}

async fn people_manage_their_tokens_in_the_console_and_admins_see_all(backend: Backend) {
    let (app, mut root) = admin_console(backend).await;
    app.scope("jira:read").await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let mut jane = sign_in(&app, "jane", USER_PASSWORD).await;

    let form = jane.get("/console/me/tokens").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("value=\"jira:read\""), "enabled scopes are offered");
    assert!(!form.body.contains("value=\"tessera:admin\""), "not to a user");
    let submission = hidden_fields(&form.body).into_iter().find(|(n, _)| n == "submission").unwrap().1;

    // Bad input: the form again with the error beside the field, nothing stored.
    let bad = jane
        .post("/console/me/tokens", &[("label", ""), ("expires_in", "30d"), ("submission", &submission)])
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("id=\"label-error\""), "{}", bad.body);
    let bad = jane.post("/console/me/tokens", &[("label", "ci"), ("expires_in", "soon")]).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("id=\"expires_in-error\""), "{}", bad.body);
    assert!(app.core.personal_tokens.list(None).await.unwrap().is_empty());

    let fields =
        [("label", "laptop"), ("scope", "jira:read"), ("expires_in", "30d"), ("submission", "sub-1")];
    let created = jane.post("/console/me/tokens", &fields).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let token = shown_token(&created.body).expect("the new token is shown");
    assert!(app.is_active(&jira, &token).await);
    // Shown once: neither the list nor a repeated post shows it again.
    assert!(shown_token(&jane.get("/console/me/tokens").await.body).is_none());
    let again = jane.post("/console/me/tokens", &fields).await;
    assert_eq!(again.status, 303);
    assert_eq!(app.core.personal_tokens.list(None).await.unwrap().len(), 1, "a reload creates nothing");

    // Jane cannot revoke root's token; root sees hers and can revoke any.
    let roots = create(&app, "root", labelled("root's")).await;
    let refused = jane.post(&format!("/console/me/tokens/{}/revoke", roots.token.id), &[]).await;
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert!(app.is_active(&jira, roots.secret.expose()).await);
    assert_eq!(jane.get("/console/personal-tokens").await.status, 403, "admins only");

    let all = root.get("/console/personal-tokens").await;
    assert!(all.body.contains("laptop") && all.body.contains("jane"), "{}", all.body);
    assert!(shown_token(&all.body).is_none());
    let id = app
        .core
        .personal_tokens
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.label == "laptop")
        .unwrap()
        .id;
    let revoked = root.post(&format!("/console/personal-tokens/{id}/revoke"), &[]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert!(!app.is_active(&jira, &token).await, "revoked by an admin");

    let own = jane.post(&format!("/console/me/tokens/{id}/revoke"), &[]).await;
    assert_eq!(own.status, 400, "already revoked: {}", own.body);
    let page = jane.get("/console/me/tokens").await;
    assert!(page.body.contains(">revoked<"), "{}", page.body);
}

async fn a_personal_token_is_exchanged_for_a_short_jwt(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "alice", Role::User, PASSWORD).await;
    app.scope("jira:read").await;
    app.scope("jira:write").await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let script = exchange_client(&app, &["jira:read", "jira:write"]).await;
    let request = TokenRequest {
        scopes: vec!["jira:read".into()],
        expires_in: Some(Lifetime::from_seconds(120)),
        ..labelled("exchange me")
    };
    let personal = create(&app, "alice", request).await;

    let response = exchange(&app, &script, personal.secret.expose(), &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let body = response.json();
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "jira:read", "within the personal token's scope");
    assert_eq!(body["expires_in"], 120, "no longer than the personal token lives");
    assert!(body.get("refresh_token").is_none());
    let jwt = body["access_token"].as_str().unwrap().to_owned();
    let (header, claims) = crate::support::jwt_parts(&jwt);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], personal.token.user_id.as_str());
    assert_eq!(claims["username"], "alice");
    assert_eq!(claims["pat"], personal.token.id.as_str());
    assert_eq!(claims["client_id"], script.as_str());

    let introspected = app.introspect(&jira, &jwt).await.json();
    assert_eq!(
        (introspected["active"].as_bool(), introspected["username"].as_str()),
        (Some(true), Some("alice"))
    );
    let info = userinfo(&app, &jwt).await;
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.json()["username"], "alice");

    // Revoking the personal token ends the JWT wherever Tessera is asked.
    app.core.personal_tokens.revoke(&tester(), &personal.token.id, None).await.unwrap();
    assert!(!app.is_active(&jira, &jwt).await);
    exchange(&app, &script, personal.secret.expose(), &[]).await.assert_oauth_error(400, "invalid_request");

    // Disabling the owner ends the JWT too, for good.
    let personal = create(&app, "alice", labelled("another")).await;
    let jwt = exchange(&app, &script, personal.secret.expose(), &[]).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(app.is_active(&jira, &jwt).await);
    let alice = Username::parse("alice").unwrap();
    app.core.accounts.set_user_enabled(&tester(), &alice, false).await.unwrap();
    assert!(!app.is_active(&jira, &jwt).await);
    app.core.accounts.set_user_enabled(&tester(), &alice, true).await.unwrap();
    assert!(!app.is_active(&jira, &jwt).await, "enabling alice again revives nothing");
}

async fn token_exchange_refuses_what_rfc_8693_refuses(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "alice", Role::User, PASSWORD).await;
    app.scope("jira:read").await;
    app.scope("jira:write").await;
    let script = exchange_client(&app, &["jira:read", "jira:write"]).await;
    let request = TokenRequest { scopes: vec!["jira:read".into()], ..labelled("exchange me") };
    let personal = create(&app, "alice", request).await;
    let token = personal.secret.expose();

    exchange(&app, &script, "tsr_pat_nope", &[]).await.assert_oauth_error(400, "invalid_request");
    exchange(&app, &script, tessera::crypto::personal_token::generate().expose(), &[])
        .await
        .assert_oauth_error(400, "invalid_request");
    exchange(&app, &script, token, &[("scope", "jira:write")]).await.assert_oauth_error(400, "invalid_scope");
    exchange(&app, &script, token, &[("actor_token", "x"), ("actor_token_type", ACCESS_TOKEN_TYPE)])
        .await
        .assert_oauth_error(400, "invalid_request");
    exchange(
        &app,
        &script,
        token,
        &[("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")],
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    exchange(&app, &script, token, &[("resource", "https://elsewhere.example/")])
        .await
        .assert_oauth_error(400, "invalid_target");
    let wrong_type = app
        .post_form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", EXCHANGE),
                ("client_id", &script),
                ("subject_token", token),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"),
            ],
        )
        .await;
    wrong_type.assert_oauth_error(400, "invalid_request");
    let missing =
        app.post_form("/oauth2/token", None, &[("grant_type", EXCHANGE), ("client_id", &script)]).await;
    missing.assert_oauth_error(400, "invalid_request");

    // A client without the grant may not exchange, even with a good token.
    let cc = app.create_client(ClientSpec::default()).await;
    let response = app
        .post_form(
            "/oauth2/token",
            Some(&cc),
            &[("grant_type", EXCHANGE), ("subject_token", token), ("subject_token_type", ACCESS_TOKEN_TYPE)],
        )
        .await;
    response.assert_oauth_error(400, "unauthorized_client");

    // A disabled owner's token exchanges for nothing.
    app.core.accounts.set_user_enabled(&tester(), &Username::parse("alice").unwrap(), false).await.unwrap();
    exchange(&app, &script, token, &[]).await.assert_oauth_error(400, "invalid_request");
}

async fn jira_accepts_personal_tokens_by_introspection_and_exchanged_jwts_by_pem(backend: Backend) {
    use crate::support::jira_standin::{JiraMode, JiraStandIn};
    let app = spawn_app(backend).await;
    add_user(&app, "alice", Role::User, PASSWORD).await;
    add_user(&app, "stranger", Role::User, PASSWORD).await;
    app.scope("jira:read").await;
    let jira_client = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let by_introspection = JiraStandIn::start(
        JiraMode::Introspection {
            url: app.url("/oauth2/introspect"),
            client_id: jira_client.id.clone(),
            client_secret: jira_client.secret.clone(),
        },
        &["alice"],
    )
    .await;
    let kid = app.core.keys.current().signer(app.clock.now()).unwrap().kid().to_owned();
    let pem = app.get(&format!("/oauth2/keys/{kid}.pem")).await.body;
    let by_pem =
        JiraStandIn::start(JiraMode::Pem { pem, username_claim: "username".into() }, &["alice"]).await;
    let myself = |jira: &JiraStandIn, token: &str| {
        let request = app.http.get(jira.myself_url()).bearer_auth(token);
        async { send(request).await }
    };
    let message = |response: &crate::support::Response| {
        response.json()["error"]["message"].as_str().unwrap_or_default().to_owned()
    };

    let personal =
        create(&app, "alice", TokenRequest { scopes: vec!["jira:read".into()], ..labelled("jira") }).await;
    let pat = personal.secret.expose();
    let answer = myself(&by_introspection, pat).await;
    assert_eq!((answer.status, answer.json()["name"].as_str()), (200, Some("alice")), "{}", answer.body);
    let strangers = create(&app, "stranger", labelled("jira")).await;
    let answer = myself(&by_introspection, strangers.secret.expose()).await;
    assert_eq!(
        (answer.status, message(&answer)),
        (400, "No user found with this username/email address".into())
    );

    // A personal token is no JWT: PEM mode refuses it; its exchange passes.
    let answer = myself(&by_pem, pat).await;
    assert_eq!(
        (answer.status, message(&answer)),
        (400, "Token Invalid: Error while validating the token.".into())
    );
    let script = exchange_client(&app, &["jira:read"]).await;
    let exchanged =
        exchange(&app, &script, pat, &[]).await.json()["access_token"].as_str().unwrap().to_owned();
    let answer = myself(&by_pem, &exchanged).await;
    assert_eq!((answer.status, answer.json()["name"].as_str()), (200, Some("alice")), "{}", answer.body);

    app.core.personal_tokens.revoke(&tester(), &personal.token.id, None).await.unwrap();
    let answer = myself(&by_introspection, pat).await;
    assert_eq!(
        (answer.status, message(&answer)),
        (400, "Token Invalid: Error while validating the token.".into())
    );
}

/// RFC 8693 §2.1: `audience` names where the token is for, by logical name
/// or URI, and may be repeated; it obeys the same rules as `resource`.
async fn token_exchange_honours_audience_as_it_does_resource(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "alice", Role::User, PASSWORD).await;
    app.scope("jira:read").await;
    let draft = tessera::domain::ClientDraft {
        name: "token script".into(),
        client_type: "public".into(),
        grants: vec![EXCHANGE.into()],
        scopes: vec!["jira:read".into()],
        audiences: vec!["https://jira.example.com".into(), "https://wiki.example.com".into()],
        ..Default::default()
    };
    let script = app.core.admin.create_client(&tester(), draft.parse().unwrap()).await.unwrap().client.id;
    let token = create(&app, "alice", labelled("aud")).await.secret.expose().to_owned();
    let aud = |response: crate::support::Response| {
        assert_eq!(response.status, 200, "{}", response.body);
        crate::support::jwt_parts(response.json()["access_token"].as_str().unwrap()).1["aud"].clone()
    };

    let one = exchange(&app, script.as_str(), &token, &[("audience", "https://jira.example.com")]).await;
    assert_eq!(aud(one), "https://jira.example.com", "audience is honoured, not dropped");
    let two = exchange(
        &app,
        script.as_str(),
        &token,
        &[("audience", "https://jira.example.com"), ("audience", "https://wiki.example.com")],
    )
    .await;
    assert_eq!(aud(two), serde_json::json!(["https://jira.example.com", "https://wiki.example.com"]));
    let mixed = exchange(
        &app,
        script.as_str(),
        &token,
        &[("resource", "https://wiki.example.com"), ("audience", "https://wiki.example.com")],
    )
    .await;
    assert_eq!(aud(mixed), "https://wiki.example.com", "named twice, listed once");
    exchange(&app, script.as_str(), &token, &[("audience", "https://elsewhere.example.com")])
        .await
        .assert_oauth_error(400, "invalid_target");
}
