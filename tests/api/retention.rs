//! The retention purge deletes only rows that can never be valid again:
//! every live token, grant, session and personal token still works after
//! it, and audit events younger than the retention stay.

use std::time::Duration;

use tessera::clock::Clock as _;
use tessera::domain::{ClientType, PkcePolicy, TokenFormat, Username};
use tessera::service::audit::{Kind, Target};
use tessera::service::personal_tokens::TokenRequest;
use tessera::service::retention::BATCH_SIZE;

use crate::authorize::{code_for, exchange, setup_on, Setup};
use crate::both_backends;
use crate::refresh::refresh;
use crate::support::{spawn_app, spawn_app_with, tester, Backend, ClientSpec, TestApp};

both_backends!(
    a_purge_deletes_the_dead_and_keeps_everything_live,
    audit_events_go_only_after_the_retention,
    a_purge_of_many_batches_deletes_every_dead_row_and_no_live_one,
    one_node_purges_at_a_time,
);

async fn jane(setup: &Setup) -> tessera::domain::User {
    setup.app.core.accounts.find_user(&Username::parse("jane").unwrap()).await.unwrap()
}

async fn grant(setup: &Setup) -> serde_json::Value {
    let code = code_for(setup, &[("scope", "openid jira:read offline_access")]).await;
    let tokens = exchange(setup, &code, &[]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    tokens.json()
}

/// Rows a purge (or dry run) reported for `table`.
fn rows(report: &tessera::service::retention::PurgeReport, table: &str) -> u64 {
    report.tables.iter().find(|t| t.table == table).unwrap().rows
}

fn text(value: &serde_json::Value, key: &str) -> String {
    value[key].as_str().unwrap().to_owned()
}

async fn a_purge_deletes_the_dead_and_keeps_everything_live(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.pat_keep_ended = Some("1d".into())).await;
    let setup = setup_on(app, ClientType::Public, PkcePolicy::Required, true).await;
    let app = &setup.app;
    let opaque =
        app.create_client(ClientSpec { token_format: TokenFormat::Opaque, ..Default::default() }).await;

    // What must survive.
    let live = grant(&setup).await;
    let live_opaque = app.access_token(&opaque).await;
    let person = jane(&setup).await;
    let request = TokenRequest { label: "kept".into(), scopes: vec!["jira:read".into()], expires_in: None };
    let live_pat = app.core.personal_tokens.create(&tester(), &person, &request).await.unwrap();

    // What is dead: a revoked grant, a revoked opaque token, a personal
    // token revoked two days ago, and an expired opaque token.
    let ended = grant(&setup).await;
    let revoked = app
        .post_form(
            "/oauth2/revoke",
            None,
            &[("token", &text(&ended, "refresh_token")), ("client_id", &setup.client.id)],
        )
        .await;
    assert_eq!(revoked.status, 200);
    let dead_opaque = app.access_token(&opaque).await;
    assert_eq!(app.revoke(&opaque, &dead_opaque).await.status, 200);
    let request = TokenRequest { label: "ended".into(), scopes: vec!["jira:read".into()], expires_in: None };
    let ended_pat = app.core.personal_tokens.create(&tester(), &person, &request).await.unwrap();
    app.core.personal_tokens.revoke(&tester(), &ended_pat.token.id, None).await.unwrap();
    app.clock.advance(2 * 86_400);
    // Fresh live ones after the clock moved (the first grant's access token
    // has expired by now, its refresh token lives on).
    let expired_opaque = live_opaque;
    let live_opaque = app.access_token(&opaque).await;
    let live = refresh(&setup, &text(&live, "refresh_token"), &[]).await.json();

    let dry = app.core.retention.dry_run().await.unwrap();
    let purge = app.core.retention.purge().await.unwrap();
    assert!(purge.ran && dry.dry_run);
    assert!(rows(&purge, "access_tokens") >= 2, "the revoked and the expired opaque tokens: {purge:?}");
    assert_eq!(rows(&purge, "grants"), 1, "the revoked grant: {purge:?}");
    assert_eq!(rows(&purge, "personal_tokens"), 1, "the token revoked two days ago: {purge:?}");
    assert_eq!(rows(&dry, "grants"), 1, "the dry run counted the same grant");
    assert_eq!(rows(&dry, "personal_tokens"), 1);
    let again = app.core.retention.dry_run().await.unwrap();
    assert_eq!(rows(&again, "grants") + rows(&again, "personal_tokens"), 0, "nothing dead is left");

    // Everything live still works.
    assert!(app.is_active(&setup.jira, &text(&live, "access_token")).await);
    assert!(app.is_active(&opaque, &live_opaque).await);
    assert!(app.is_active(&setup.jira, live_pat.secret.expose()).await);
    let next = refresh(&setup, &text(&live, "refresh_token"), &[]).await;
    assert_eq!(next.status, 200, "the live grant rotates on: {}", next.body);
    // And the dead stay dead (now simply unknown).
    assert!(!app.is_active(&opaque, &dead_opaque).await);
    assert!(!app.is_active(&opaque, &expired_opaque).await);
    refresh(&setup, &text(&ended, "refresh_token"), &[]).await.assert_oauth_error(400, "invalid_grant");
    let listed = app.core.personal_tokens.list(None).await.unwrap();
    assert_eq!(listed.len(), 1, "the ended token is no longer listed");
    // A second purge finds nothing to do among these.
    let second = app.core.retention.purge().await.unwrap();
    assert_eq!(rows(&second, "grants") + rows(&second, "personal_tokens"), 0);
}

async fn audit_events_go_only_after_the_retention(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.audit_retention = Some("30d".into())).await;
    let actor = tester();
    let scope = |name: &str| tessera::domain::ScopeName::parse(name).unwrap();
    app.core.audit.record(Kind::ScopeCreated, &actor, Target::Scope(&scope("old")), "").await.unwrap();
    app.clock.advance(31 * 86_400);
    app.core.audit.record(Kind::ScopeCreated, &actor, Target::Scope(&scope("young")), "").await.unwrap();
    assert!(app.core.audit.flush(Duration::from_secs(5)).await);
    let purge = app.core.retention.purge().await.unwrap();
    assert!(purge.tables.iter().any(|t| t.table == "audit_events" && t.rows >= 1), "{purge:?}");
    let left =
        app.core.audit.list(&tessera::store::AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert!(left.iter().any(|e| e.target == "scope:young"), "younger than the retention: kept");
    assert!(!left.iter().any(|e| e.target == "scope:old"), "older: purged");
}

/// `count` opaque-token rows straight into the table: expired ones when
/// `revoked` is false, else revoked ones that have not expired yet.
async fn dead_tokens(app: &TestApp, client_id: &str, count: u32, revoked: bool) {
    let now = app.clock.now().seconds();
    let (prefix, expires_at, revoked_at) = if revoked {
        ("revoked", now + 3_600, format!("{now}"))
    } else {
        ("expired", now - 60, "NULL".into())
    };
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
         INSERT INTO access_tokens (token_hash, jti, client_id, subject, username, scope, audience, \
         issued_at, expires_at, revoked_at) \
         SELECT '{prefix}-' || i, '{prefix}-jti-' || i, '{client_id}', 'svc', 'svc', 'jira:read', 'x', \
         {issued}, {expires_at}, {revoked_at} FROM n",
        issued = now - 3_600,
    );
    sqlx::query(&sql).execute(app.core.database.pool()).await.unwrap();
}

async fn access_token_rows(app: &TestApp) -> i64 {
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM access_tokens")
        .fetch_one(app.core.database.pool())
        .await
        .unwrap();
    rows
}

async fn a_purge_of_many_batches_deletes_every_dead_row_and_no_live_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let opaque =
        app.create_client(ClientSpec { token_format: TokenFormat::Opaque, ..Default::default() }).await;
    let rs = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let live = app.access_token(&opaque).await;
    // Expired rows over several batches, and revoked rows not yet expired.
    let expired = 2 * BATCH_SIZE + 37;
    dead_tokens(&app, &opaque.id, expired, false).await;
    dead_tokens(&app, &opaque.id, 5, true).await;
    assert_eq!(access_token_rows(&app).await, i64::from(expired) + 5 + 1);

    let dry = app.core.retention.dry_run().await.unwrap();
    let purge = app.core.retention.purge().await.unwrap();
    assert_eq!(rows(&dry, "access_tokens"), u64::from(expired) + 5, "{dry:?}");
    assert_eq!(rows(&purge, "access_tokens"), u64::from(expired) + 5, "{purge:?}");
    assert_eq!(access_token_rows(&app).await, 1, "only the live token is left");
    assert!(app.is_active(&rs, &live).await, "the live token still introspects active");
    let again = app.core.retention.purge().await.unwrap();
    assert_eq!(again.total, 0, "{again:?}");
}

async fn one_node_purges_at_a_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let opaque =
        app.create_client(ClientSpec { token_format: TokenFormat::Opaque, ..Default::default() }).await;
    dead_tokens(&app, &opaque.id, 3, false).await;
    // Another node's purge, in progress.
    let other = app.core.store.begin_purge().await.unwrap().expect("nobody else is purging");
    let skipped = app.core.retention.purge().await.unwrap();
    match backend {
        // On Postgres the lock is held: this node skips its turn.
        Backend::Postgres => {
            assert!(!skipped.ran && skipped.total == 0, "{skipped:?}");
            assert_eq!(access_token_rows(&app).await, 3);
        }
        // SQLite serves one node; nothing to wait for.
        Backend::Sqlite => assert!(skipped.ran && skipped.total == 3, "{skipped:?}"),
    }
    other.end().await;
    let purge = app.core.retention.purge().await.unwrap();
    assert!(purge.ran, "the lock went with the other purge's end: {purge:?}");
    assert_eq!(access_token_rows(&app).await, 0);
}
