//! The hot paths read large tables through their indexes: with every
//! token table holding thousands of rows (and analyzed, so the planner
//! knows), a token request, an introspection, a code flow, a refresh, a
//! personal token and the revocations make Postgres read none of those
//! tables from end to end. Postgres's own statistics say what was scanned,
//! so this checks the queries the server really runs. (SQLite keeps no such
//! statistics; its query plans follow the same indexes.)

use std::time::{Duration, Instant};

use sqlx::Connection as _;

use tessera::domain::{ClientType, PkcePolicy, Role, TokenFormat, Username};
use tessera::service::personal_tokens::TokenRequest;

use crate::authorize::{code_for, exchange, setup_on};
use crate::console::add_user;
use crate::refresh::refresh;
use crate::support::{spawn_app, tester, Backend, ClientSpec};

/// Rows in each filled table: far more than a planner reads whole.
const ROWS: u32 = 20_000;

/// The tables the token paths touch, filled before the flows run.
const LARGE_TABLES: [&str; 8] = [
    "access_tokens",
    "revoked_jwts",
    "grants",
    "refresh_tokens",
    "authorization_codes",
    "sessions",
    "personal_tokens",
    "audit_events",
];

#[tokio::test]
async fn the_token_paths_never_scan_a_large_table() {
    let setup =
        setup_on(spawn_app(Backend::Postgres).await, ClientType::Public, PkcePolicy::Required, true).await;
    let app = &setup.app;
    let pool = app.core.database.pool();
    let opaque =
        app.create_client(ClientSpec { token_format: TokenFormat::Opaque, ..Default::default() }).await;
    let jane = app.core.accounts.find_user(&Username::parse("jane").unwrap()).await.unwrap();

    // Ended rows, as a busy server has between purges, of another person
    // and another app (one person's own handful stays small).
    let others = add_user(app, "bulk", Role::User, "bulk user password").await;
    let bulk =
        app.create_client(ClientSpec { token_format: TokenFormat::Opaque, ..Default::default() }).await;
    let (user, client, rows) = (others.id.to_string(), bulk.id.clone(), ROWS);
    let fill = [
        format!(
            "INSERT INTO access_tokens (token_hash, jti, client_id, subject, username, scope, audience, \
             issued_at, expires_at) SELECT 'at-' || i, 'jti-' || i, '{client}', 'svc', 'svc', 'jira:read', 'x', \
             1000, 1600 FROM generate_series(1, {rows}) AS i"
        ),
        format!(
            "INSERT INTO revoked_jwts (jti, client_id, expires_at, revoked_at) \
             SELECT 'rj-' || i, '{client}', 1600, 1000 FROM generate_series(1, {rows}) AS i"
        ),
        format!(
            "INSERT INTO grants (id, user_id, client_id, scope, auth_time, created_at, expires_at) \
             SELECT 'g-' || i, '{user}', '{client}', 'openid', 1000, 1000, 1600 \
             FROM generate_series(1, {rows}) AS i"
        ),
        format!(
            "INSERT INTO refresh_tokens (token_hash, grant_id, scope, issued_at, expires_at) \
             SELECT 'rt-' || i, 'g-' || i, 'openid', 1000, 1600 FROM generate_series(1, {rows}) AS i"
        ),
        format!(
            "INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, \
             redirect_uri_given, expires_at) SELECT 'ac-' || i, 'g-' || i, '{client}', 'https://app.example/cb', \
             1, 1600 FROM generate_series(1, {rows}) AS i"
        ),
        format!(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) \
             SELECT 's-' || i, '{user}', 'c', 1000, 1000, 1600 FROM generate_series(1, {rows}) AS i"
        ),
        format!(
            "INSERT INTO personal_tokens (id, user_id, token_hash, label, scope, created_at, expires_at) \
             SELECT 'p-' || i, '{user}', 'pt-' || i, 'old', 'jira:read', 1000, 1600 \
             FROM generate_series(1, {rows}) AS i"
        ),
        format!(
            "INSERT INTO audit_events (at, kind, actor, address, target, detail) \
             SELECT 1000, 'token_issued', 'svc', '127.0.0.1', 'client:x', '' FROM generate_series(1, {rows}) AS i"
        ),
    ];
    for sql in &fill {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    sqlx::query("ANALYZE").execute(pool).await.unwrap();
    sqlx::query("SELECT pg_stat_reset()").execute(pool).await.unwrap();

    // Machine tokens: issue, introspect, revoke.
    let token = app.access_token(&opaque).await;
    assert!(app.is_active(&setup.jira, &token).await);
    assert_eq!(app.revoke(&opaque, &token).await.status, 200);
    assert!(!app.is_active(&setup.jira, &token).await);
    // A person's tokens: a code flow, a refresh, userinfo, introspection.
    let code = code_for(&setup, &[("scope", "openid jira:read offline_access")]).await;
    let tokens = exchange(&setup, &code, &[]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let tokens = tokens.json();
    let refreshed = refresh(&setup, tokens["refresh_token"].as_str().unwrap(), &[]).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let access = refreshed.json()["access_token"].as_str().unwrap().to_owned();
    assert!(app.is_active(&setup.jira, &access).await);
    let userinfo = app.http.get(app.url("/oauth2/userinfo")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(userinfo.status(), 200);
    // A personal API token, introspected.
    let request = TokenRequest { label: "script".into(), scopes: vec!["jira:read".into()], expires_in: None };
    let pat = app.core.personal_tokens.create(&tester(), &jane, &request).await.unwrap();
    assert!(app.is_active(&setup.jira, pat.secret.expose()).await);

    // A server connection reports its statistics when it ends: close the
    // pool (no new ones), end any connection still open, wait until
    // Postgres lists none, then read the statistics.
    pool.close().await;
    let url = &app.data.postgres.as_ref().unwrap().url;
    let mut reader = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut reader)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (others,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut reader)
        .await
        .unwrap();
        if others == 0 {
            break;
        }
        if Instant::now() > deadline {
            let left: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT application_name::text, state::text, query::text FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_all(&mut reader)
            .await
            .unwrap();
            panic!("{others} connections of the server did not end: {left:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let scans: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, COALESCE(seq_scan, 0), COALESCE(idx_scan, 0) FROM pg_stat_user_tables",
    )
    .fetch_all(&mut reader)
    .await
    .unwrap();
    let looked_up = |name: &str| scans.iter().any(|(table, _, index)| table == name && *index > 0);
    assert!(
        looked_up("refresh_tokens") && looked_up("personal_tokens") && looked_up("access_tokens"),
        "the flows' index lookups are in the statistics: {scans:?}"
    );
    let scanned: Vec<_> =
        scans.iter().filter(|(table, seq, _)| LARGE_TABLES.contains(&table.as_str()) && *seq > 0).collect();
    assert!(
        scanned.is_empty(),
        "large tables read from end to end (table, seq scans, index scans): {scanned:?}"
    );
}
