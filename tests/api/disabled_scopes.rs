//! A disabled scope is never issued (security review, issue 11): not at
//! client credentials, not as a default scope, not in the code flow, not at
//! refresh; every node stops issuing it once the change log says so.

use tessera::domain::{ClientType, PkcePolicy, ScopeName};

use crate::authorize::{authorize_url, exchange, location, setup_with};
use crate::both_backends;
use crate::refresh::refresh;
use crate::support::{send, spawn_app, spawn_node, tester, Backend, ClientSpec, TestApp};

both_backends!(
    client_credentials_never_get_a_disabled_scope,
    the_code_flow_and_refresh_never_hand_out_a_disabled_scope,
);

async fn set_scope(app: &TestApp, name: &str, enabled: bool) {
    let name = ScopeName::parse(name).unwrap();
    app.core.admin.update_scope(&tester(), &name, "", enabled, None).await.unwrap();
}

async fn client_credentials_never_get_a_disabled_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let client =
        app.create_client(ClientSpec { scopes: &["jira:read", "jira:write"], ..Default::default() }).await;
    // A second node that has the client cached already.
    let other = spawn_node(app.data.clone(), app.data.raw_settings(), app.clock.clone()).await;
    assert_eq!(other.token(&client, &[]).await.json()["scope"], "jira:read jira:write");

    set_scope(&app, "jira:write", false).await;
    app.token(&client, &[("scope", "jira:write")]).await.assert_oauth_error(400, "invalid_scope");
    app.token(&client, &[("scope", "jira:read jira:write")]).await.assert_oauth_error(400, "invalid_scope");
    let default = app.token(&client, &[]).await;
    assert_eq!(default.json()["scope"], "jira:read", "the default scope leaves it out");

    // The other node learns it from the change log within a sync or two.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let answer = other.token(&client, &[]).await.json();
        if answer["scope"] == "jira:read" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the other node still issues it: {answer}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    other.token(&client, &[("scope", "jira:write")]).await.assert_oauth_error(400, "invalid_scope");

    set_scope(&app, "jira:write", true).await;
    assert_eq!(app.token(&client, &[]).await.json()["scope"], "jira:read jira:write", "enabled again");
}

async fn the_code_flow_and_refresh_never_hand_out_a_disabled_scope(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let app = &setup.app;
    let code = crate::authorize::code_for(&setup, &[("scope", "openid jira:read offline_access")]).await;
    let tokens = exchange(&setup, &code, &[]).await.json();
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();

    set_scope(app, "jira:read", false).await;

    // Asked for by name: invalid_scope, back at the client.
    let asked = send(app.http.get(authorize_url(app, &setup.client, &[("scope", "openid jira:read")]))).await;
    assert_eq!(location(&asked).1.get("error").map(String::as_str), Some("invalid_scope"));
    // Asked for by default (no scope): left out of the consent.
    let browser = crate::support::browser::Browser::new();
    let url = authorize_url(app, &setup.client, &[("scope", "")]);
    let done = crate::authorize::sign_in_and_approve(&setup, &browser, &url).await;
    let code = location(&done).1["code"].clone();
    let tokens = exchange(&setup, &code, &[]).await.json();
    let granted = tokens["scope"].as_str().unwrap();
    assert!(!granted.split(' ').any(|s| s == "jira:read"), "{granted}");

    // Refresh leaves it out, and refuses it by name.
    let refreshed = refresh(&setup, &rt, &[]).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let refreshed = refreshed.json();
    assert_eq!(refreshed["scope"], "offline_access openid");
    let rt = refreshed["refresh_token"].as_str().unwrap().to_owned();
    refresh(&setup, &rt, &[("scope", "jira:read")]).await.assert_oauth_error(400, "invalid_scope");

    // Enabled again, the grant's own scope comes back.
    set_scope(app, "jira:read", true).await;
    let back = refresh(&setup, &rt, &[]).await.json();
    assert_eq!(back["scope"], "jira:read offline_access openid");
}
