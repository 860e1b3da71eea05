//! Refresh tokens (issue 3 item 5): issued for offline_access, rotated on
//! every use in one conditional statement, reuse revokes the grant, scope
//! narrows but never widens, bound to the client, ended by a disabled user
//! or client, sliding within the grant's end.

use tessera::domain::{ClientType, PkcePolicy, Username};

use crate::authorize::{code_for, exchange, setup_with, Setup};
use crate::both_backends;
use crate::support::tester;
use crate::support::{Backend, ClientSpec, Response};

both_backends!(
    offline_access_gets_a_refresh_token_that_rotates,
    a_reused_refresh_token_revokes_the_whole_grant,
    scope_may_narrow_but_never_widen,
    ten_concurrent_refreshes_leave_exactly_one_live_successor,
    a_lost_answer_is_repeated_not_punished,
    a_fault_between_the_steps_loses_nothing,
    a_refresh_token_works_only_for_its_client_user_and_lifetime,
    revoking_a_refresh_token_ends_the_grant,
    expired_records_are_purged_and_live_ones_kept,
    a_live_refresh_token_introspects_as_active,
);

/// A public client's refresh request (`extra` adds parameters).
pub(crate) async fn refresh(setup: &Setup, token: &str, extra: &[(&str, &str)]) -> Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", setup.client.id.as_str()),
    ];
    form.extend_from_slice(extra);
    setup.app.post_form("/oauth2/token", None, &form).await
}

/// Tokens for jane with `scope`, through the browser flow and the exchange.
async fn tokens(setup: &Setup, scope: &str) -> serde_json::Value {
    let code = code_for(setup, &[("scope", scope)]).await;
    let response = exchange(setup, &code, &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()
}

fn text(value: &serde_json::Value, name: &str) -> String {
    value[name].as_str().unwrap_or_else(|| panic!("no {name} in {value}")).to_owned()
}

async fn offline_access_gets_a_refresh_token_that_rotates(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let without = tokens(&setup, "openid jira:read").await;
    assert!(without.get("refresh_token").is_none(), "no offline_access, no refresh token");

    let first = tokens(&setup, "openid jira:read offline_access").await;
    let rt = text(&first, "refresh_token");
    assert!(rt.starts_with("tsr_rt_") && rt.len() == "tsr_rt_".len() + 43);

    let second = refresh(&setup, &rt, &[]).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.header("cache-control"), Some("no-store"));
    let second = second.json();
    let successor = text(&second, "refresh_token");
    assert_ne!(successor, rt, "rotated");
    assert_eq!(second["scope"], "jira:read offline_access openid");
    assert!(setup.app.is_active(&setup.jira, &text(&second, "access_token")).await);
    assert_eq!(refresh(&setup, &successor, &[]).await.status, 200, "the successor works");
}

async fn a_reused_refresh_token_revokes_the_whole_grant(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let first = tokens(&setup, "openid offline_access").await;
    let rt = text(&first, "refresh_token");
    let second = refresh(&setup, &rt, &[]).await.json();
    let successor = text(&second, "refresh_token");
    let access = text(&second, "access_token");
    // The client moves on: the successor is used, so the first token is spent.
    let third = refresh(&setup, &successor, &[]).await.json();
    let newest = text(&third, "refresh_token");

    setup.app.clock.advance(10);
    refresh(&setup, &rt, &[]).await.assert_oauth_error(400, "invalid_grant");
    refresh(&setup, &newest, &[]).await.assert_oauth_error(400, "invalid_grant");
    assert!(!setup.app.is_active(&setup.jira, &access).await, "the grant's access tokens die too");
    assert!(!setup.app.is_active(&setup.jira, &text(&first, "access_token")).await);
    assert!(setup.app.core.audit.flush(std::time::Duration::from_secs(5)).await, "failure events are queued");
    let query = tessera::store::AuditQuery {
        kinds: vec!["refresh_token_reuse".into()],
        limit: 10,
        ..Default::default()
    };
    let events = setup.app.core.audit.list(&query).await.unwrap();
    assert_eq!(events.len(), 1, "the reuse is in the audit log");
    assert_eq!(events[0].actor, format!("client:{}", setup.client.id));
    assert_eq!(events[0].address.as_deref(), Some("127.0.0.1"));

    // A retry whose successor was never used is a replay too once the
    // retry window (60 s) is over.
    let first = tokens(&setup, "openid offline_access").await;
    let rt = text(&first, "refresh_token");
    let successor = text(&refresh(&setup, &rt, &[]).await.json(), "refresh_token");
    setup.app.clock.advance(61);
    refresh(&setup, &rt, &[]).await.assert_oauth_error(400, "invalid_grant");
    refresh(&setup, &successor, &[]).await.assert_oauth_error(400, "invalid_grant");
}

async fn scope_may_narrow_but_never_widen(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let first = tokens(&setup, "openid jira:read offline_access").await;
    let narrow = refresh(&setup, &text(&first, "refresh_token"), &[("scope", "jira:read")]).await;
    assert_eq!(narrow.status, 200, "{}", narrow.body);
    let narrow = narrow.json();
    assert_eq!(narrow["scope"], "jira:read");
    let next = refresh(&setup, &text(&narrow, "refresh_token"), &[]).await.json();
    assert_eq!(next["scope"], "jira:read offline_access openid", "the original scope comes back");
    refresh(&setup, &text(&next, "refresh_token"), &[("scope", "openid profile")])
        .await
        .assert_oauth_error(400, "invalid_scope");
}

/// Live refresh tokens of the grant behind an access token (`gid`).
pub(crate) async fn live_refresh_tokens(app: &crate::support::TestApp, access_token: &str) -> i64 {
    let grant = crate::support::jwt_parts(access_token).1["gid"].as_str().unwrap().to_owned();
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM refresh_tokens WHERE grant_id = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(grant)
    .bind(tessera::clock::Clock::now(&app.clock).seconds())
    .fetch_one(app.core.database.pool())
    .await
    .unwrap()
}

async fn ten_concurrent_refreshes_leave_exactly_one_live_successor(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let rt = text(&tokens(&setup, "openid offline_access").await, "refresh_token");
    let attempts = (0..10).map(|_| refresh(&setup, &rt, &[]));
    let results = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "every concurrent request is answered: {statuses:?}");
    let successors: std::collections::HashSet<String> =
        results.iter().map(|r| text(&r.json(), "refresh_token")).collect();
    assert_eq!(successors.len(), 1, "all of them get the one successor, never a second chain");
    let access = text(&results[0].json(), "access_token");
    assert_eq!(live_refresh_tokens(&setup.app, &access).await, 1);
    let successor = successors.into_iter().next().unwrap();
    assert_eq!(refresh(&setup, &successor, &[]).await.status, 200, "the one successor is live");
}

/// A client whose answer was lost (a crash after the commit, a dropped
/// connection) presents the old token again and gets the same successor.
async fn a_lost_answer_is_repeated_not_punished(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let rt = text(&tokens(&setup, "openid offline_access").await, "refresh_token");
    let lost = refresh(&setup, &rt, &[]).await.json();
    setup.app.clock.advance(30);
    let again = refresh(&setup, &rt, &[]).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let again = again.json();
    assert_eq!(text(&again, "refresh_token"), text(&lost, "refresh_token"), "the same successor");
    assert_eq!(live_refresh_tokens(&setup.app, &text(&again, "access_token")).await, 1);
    assert!(setup.app.is_active(&setup.jira, &text(&again, "access_token")).await);
    assert_eq!(refresh(&setup, &text(&again, "refresh_token"), &[]).await.status, 200);
}

/// A fault between the steps of a rotation or a code redemption leaves
/// nothing half done: the old token (or the code) still works, and the
/// grant never holds two live refresh tokens.
async fn a_fault_between_the_steps_loses_nothing(backend: Backend) {
    use tessera::store::FaultPoint;

    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let app = &setup.app;
    let first = tokens(&setup, "openid offline_access").await;
    let rt = text(&first, "refresh_token");
    app.core.database.inject_fault(Some(FaultPoint::AfterRefreshTokenConsumed));
    refresh(&setup, &rt, &[]).await.assert_oauth_error(503, "temporarily_unavailable");
    assert_eq!(live_refresh_tokens(app, &text(&first, "access_token")).await, 1, "the old one, still live");
    let after = refresh(&setup, &rt, &[]).await;
    assert_eq!(after.status, 200, "the old token still works: {}", after.body);
    assert_eq!(live_refresh_tokens(app, &text(&after.json(), "access_token")).await, 1);

    let code = code_for(&setup, &[("scope", "openid offline_access")]).await;
    app.core.database.inject_fault(Some(FaultPoint::AfterCodeConsumed));
    exchange(&setup, &code, &[]).await.assert_oauth_error(503, "temporarily_unavailable");
    let redeemed = exchange(&setup, &code, &[]).await;
    assert_eq!(redeemed.status, 200, "the code was not burned: {}", redeemed.body);
    let redeemed = redeemed.json();
    assert_eq!(live_refresh_tokens(app, &text(&redeemed, "access_token")).await, 1);
    assert_eq!(refresh(&setup, &text(&redeemed, "refresh_token"), &[]).await.status, 200);
}

async fn a_refresh_token_works_only_for_its_client_user_and_lifetime(backend: Backend) {
    let setup = setup_with(backend, ClientType::Confidential, PkcePolicy::Required, true).await;
    let basic = |token: &str| {
        let form = [("grant_type", "refresh_token".to_owned()), ("refresh_token", token.to_owned())];
        setup
            .app
            .http
            .post(setup.app.url("/oauth2/token"))
            .basic_auth(&setup.client.id, Some(&setup.client.secret))
            .form(&form)
    };
    let code = code_for(&setup, &[("scope", "openid offline_access")]).await;
    let exchanged = crate::support::send(
        setup
            .app
            .http
            .post(setup.app.url("/oauth2/token"))
            .basic_auth(&setup.client.id, Some(&setup.client.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            ]),
    )
    .await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.body);
    let rt = text(&exchanged.json(), "refresh_token");

    let other = setup.app.create_client(ClientSpec::default()).await;
    let stolen = crate::support::send(
        setup
            .app
            .http
            .post(setup.app.url("/oauth2/token"))
            .basic_auth(&other.id, Some(&other.secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())]),
    )
    .await;
    assert!(stolen.status == 400, "{}", stolen.body);
    assert!(stolen.json()["error"] == "invalid_grant" || stolen.json()["error"] == "unauthorized_client");
    crate::support::send(basic("tsr_rt_garbage")).await.assert_oauth_error(400, "invalid_grant");
    setup
        .app
        .post_form("/oauth2/token", Some(&setup.client), &[("grant_type", "refresh_token")])
        .await
        .assert_oauth_error(400, "invalid_request");

    let rt = {
        let response = crate::support::send(basic(&rt)).await;
        assert_eq!(response.status, 200, "{}", response.body);
        text(&response.json(), "refresh_token")
    };
    let jane = Username::parse("jane").unwrap();
    setup.app.core.accounts.set_user_enabled(&tester(), &jane, false).await.unwrap();
    crate::support::send(basic(&rt)).await.assert_oauth_error(400, "invalid_grant");
    setup.app.core.accounts.set_user_enabled(&tester(), &jane, true).await.unwrap();

    let rt = {
        let code = code_for(&setup, &[("scope", "openid offline_access")]).await;
        let response = crate::support::send(
            setup
                .app
                .http
                .post(setup.app.url("/oauth2/token"))
                .basic_auth(&setup.client.id, Some(&setup.client.secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                ]),
        )
        .await;
        text(&response.json(), "refresh_token")
    };
    setup.app.core.admin.set_client_enabled(&tester(), &setup.client.id, false).await.unwrap();
    crate::support::send(basic(&rt)).await.assert_oauth_error(401, "invalid_client");
    setup.app.core.admin.set_client_enabled(&tester(), &setup.client.id, true).await.unwrap();

    setup.app.clock.advance(30 * 86_400);
    crate::support::send(basic(&rt)).await.assert_oauth_error(400, "invalid_grant");
}

async fn revoking_a_refresh_token_ends_the_grant(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let first = tokens(&setup, "openid offline_access").await;
    let rt = text(&first, "refresh_token");
    let access = text(&first, "access_token");
    let revoked =
        setup.app.post_form("/oauth2/revoke", None, &[("token", &rt), ("client_id", &setup.client.id)]).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    refresh(&setup, &rt, &[]).await.assert_oauth_error(400, "invalid_grant");
    assert!(!setup.app.is_active(&setup.jira, &access).await);
}

async fn expired_records_are_purged_and_live_ones_kept(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let old = tokens(&setup, "openid offline_access").await;
    setup.app.clock.advance(31 * 86_400);
    let retention = &setup.app.core.retention;
    let purged = retention.purge().await.unwrap().total;
    assert!(purged >= 3, "session, code and refresh token are gone ({purged})");
    refresh(&setup, &text(&old, "refresh_token"), &[]).await.assert_oauth_error(400, "invalid_grant");

    let fresh = tokens(&setup, "openid offline_access").await;
    retention.purge().await.unwrap();
    assert_eq!(refresh(&setup, &text(&fresh, "refresh_token"), &[]).await.status, 200, "live records stay");
}

async fn a_live_refresh_token_introspects_as_active(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let app = &setup.app;
    let first = tokens(&setup, "openid offline_access").await;
    let rt = text(&first, "refresh_token");
    let answer = app.introspect(&setup.jira, &rt).await.json();
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["token_type"], "refresh_token");
    assert_eq!(answer["username"], "jane");
    assert_eq!(answer["client_id"], setup.client.id.as_str());
    let other = app.create_client(ClientSpec::default()).await;
    assert!(!app.is_active(&other, &rt).await, "another client learns nothing");
    let bearer = crate::support::send(app.http.get(app.url("/oauth2/userinfo")).bearer_auth(&rt)).await;
    assert_eq!(bearer.status, 401, "a refresh token is never a bearer token");

    refresh(&setup, &rt, &[]).await;
    assert!(!app.is_active(&setup.jira, &rt).await, "a rotated refresh token is inactive");
}
