//! The device authorization grant (RFC 8628, issue 15): a script on a
//! machine without a browser gets a person's token; every polling answer,
//! the verification page, guessing user codes, and concurrent polls.

use reqwest::header::HeaderMap;
use serde_json::Value;
use tessera::domain::{ClientDraft, Role};

use crate::both_backends;
use crate::console::add_user;
use crate::support::browser::{hidden_fields, Browser};
use crate::support::{jwt_parts, spawn_app, tester, Backend, ClientSpec, Response, TestApp, TestClient};

both_backends!(
    a_script_gets_a_persons_token_through_the_device_flow,
    denied_expired_and_used_codes_each_get_their_answer,
    concurrent_polls_of_an_approved_code_yield_one_token_response,
    guessing_user_codes_is_throttled_per_session_and_address,
    device_requests_with_bad_input_get_oauth_errors,
);

pub(crate) const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub(crate) const PASSWORD: &str = "jane's long password";

pub(crate) struct Setup {
    pub app: TestApp,
    pub client: TestClient,
    pub jira: TestClient,
}

/// Jane, a public device client (with refresh tokens) and Jira.
async fn setup(backend: Backend) -> Setup {
    setup_on(spawn_app(backend).await).await
}

pub(crate) async fn setup_on(app: TestApp) -> Setup {
    add_user(&app, "jane", Role::User, PASSWORD).await;
    app.scope("jira:read").await;
    let draft = ClientDraft {
        name: "jira-cli".into(),
        client_type: "public".into(),
        grants: vec![GRANT.into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "jira:read".into(), "offline_access".into()],
        ..ClientDraft::default()
    };
    let created = app.core.admin.create_client(&tester(), draft.parse().unwrap()).await.unwrap();
    let client = TestClient { id: created.client.id.to_string(), secret: String::new() };
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    Setup { app, client, jira }
}

pub(crate) async fn start(setup: &Setup, scope: &str) -> Value {
    let response = setup
        .app
        .post_form("/oauth2/device_authorization", None, &[("client_id", &setup.client.id), ("scope", scope)])
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    response.json()
}

pub(crate) async fn poll(setup: &Setup, device_code: &str) -> Response {
    let form = [("grant_type", GRANT), ("device_code", device_code), ("client_id", setup.client.id.as_str())];
    setup.app.post_form("/oauth2/token", None, &form).await
}

fn text(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap_or_else(|| panic!("no {name} in {value}")).to_owned()
}

/// Jane enters `typed` on a fresh browser, signs in, and presses `button`;
/// the last page.
async fn answer(setup: &Setup, typed: &str, button: &str) -> Response {
    let app = &setup.app;
    let browser = Browser::new();
    let entry = browser.get(&app.url("/oauth2/device")).await;
    assert_eq!(entry.status, 200, "{}", entry.body);
    let post = |page: &Response, extra: &[(&str, &str)]| {
        let mut fields = hidden_fields(&page.body);
        fields.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let browser = &browser;
        async move { browser.post(&app.url("/oauth2/device"), &fields, HeaderMap::new()).await }
    };
    let login = post(&entry, &[("user_code", typed), ("tessera_action", "code")]).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(login.body.contains("Sign in"), "{}", login.body);
    let confirm =
        post(&login, &[("username", "jane"), ("password", PASSWORD), ("tessera_action", "login")]).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains("Allow jira-cli on your device?"), "{}", confirm.body);
    post(&confirm, &[("tessera_action", button)]).await
}

async fn a_script_gets_a_persons_token_through_the_device_flow(backend: Backend) {
    let setup = setup(backend).await;
    let app = &setup.app;
    let started = start(&setup, "openid jira:read offline_access").await;
    let device_code = text(&started, "device_code");
    let user_code = text(&started, "user_code");
    assert!(device_code.starts_with("tsr_dc_") && device_code.len() >= 7 + 43, "{device_code}");
    assert_eq!(user_code.len(), 9);
    assert!(user_code.chars().all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)), "{user_code}");
    assert_eq!(text(&started, "verification_uri"), "https://tessera.test/oauth2/device");
    assert_eq!(
        text(&started, "verification_uri_complete"),
        format!("https://tessera.test/oauth2/device?user_code={user_code}")
    );
    assert_eq!((started["expires_in"].as_i64(), started["interval"].as_i64()), (Some(600), Some(5)));

    poll(&setup, &device_code).await.assert_oauth_error(400, "authorization_pending");
    // At once again: too fast, and the interval grows.
    poll(&setup, &device_code).await.assert_oauth_error(400, "slow_down");
    // Each slow_down adds 5 s: 6 s is now too soon as well.
    app.clock.advance(6);
    poll(&setup, &device_code).await.assert_oauth_error(400, "slow_down");
    app.clock.advance(15);
    poll(&setup, &device_code).await.assert_oauth_error(400, "authorization_pending");

    // The complete URI fills in the code; typed in lower case without the
    // dash it works too.
    let browser = Browser::new();
    let page = browser.get(&app.url(&format!("/oauth2/device?user_code={user_code}"))).await;
    assert!(page.body.contains(&format!("value=\"{user_code}\"")), "{}", page.body);
    let done = answer(&setup, &user_code.replace('-', "").to_lowercase(), "approve").await;
    assert!(done.status == 200 && done.body.contains("Device connected"), "{}", done.body);

    app.clock.advance(11);
    let tokens = poll(&setup, &device_code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let tokens = tokens.json();
    let access_token = text(&tokens, "access_token");
    assert_eq!(jwt_parts(&access_token).1["username"], "jane");
    assert_eq!(text(&tokens, "scope"), "jira:read offline_access openid");
    assert!(tokens["refresh_token"].is_string() && tokens["id_token"].is_string(), "{tokens}");
    assert!(app.is_active(&setup.jira, &access_token).await);
    // The device code works once.
    app.clock.advance(6);
    poll(&setup, &device_code).await.assert_oauth_error(400, "invalid_grant");

    let metadata = app.get("/.well-known/oauth-authorization-server").await.json();
    assert_eq!(metadata["device_authorization_endpoint"], "https://tessera.test/oauth2/device_authorization");
    assert!(metadata["grant_types_supported"].as_array().unwrap().contains(&serde_json::json!(GRANT)));
}

async fn denied_expired_and_used_codes_each_get_their_answer(backend: Backend) {
    let setup = setup(backend).await;
    let app = &setup.app;
    let denied = start(&setup, "jira:read").await;
    let done = answer(&setup, &text(&denied, "user_code"), "deny").await;
    assert!(done.body.contains("Request denied"), "{}", done.body);
    poll(&setup, &text(&denied, "device_code")).await.assert_oauth_error(400, "access_denied");

    // The answered code cannot be answered again.
    let browser = Browser::new();
    let entry = browser.get(&app.url("/oauth2/device")).await;
    let mut fields = hidden_fields(&entry.body);
    fields.push(("user_code".into(), text(&denied, "user_code")));
    let again = browser.post(&app.url("/oauth2/device"), &fields, HeaderMap::new()).await;
    assert!(again.status == 400 && again.body.contains("already been used"), "{}", again.body);

    let late = start(&setup, "jira:read").await;
    app.clock.advance(601);
    poll(&setup, &text(&late, "device_code")).await.assert_oauth_error(400, "expired_token");
    let mut fields = hidden_fields(&entry.body);
    fields.push(("user_code".into(), text(&late, "user_code")));
    let expired = browser.post(&app.url("/oauth2/device"), &fields, HeaderMap::new()).await;
    assert!(expired.status == 400 && expired.body.contains("expired"), "{}", expired.body);

    // A form without the page's CSRF token does nothing.
    let fresh = start(&setup, "jira:read").await;
    let forged = Browser::new()
        .post(
            &app.url("/oauth2/device"),
            &[("user_code".into(), text(&fresh, "user_code")), ("tessera_action".into(), "approve".into())],
            HeaderMap::new(),
        )
        .await;
    assert_eq!(forged.status, 403);
    poll(&setup, &text(&fresh, "device_code")).await.assert_oauth_error(400, "authorization_pending");
}

async fn concurrent_polls_of_an_approved_code_yield_one_token_response(backend: Backend) {
    let setup = setup(backend).await;
    let started = start(&setup, "jira:read offline_access").await;
    answer(&setup, &text(&started, "user_code"), "approve").await;
    setup.app.clock.advance(6);
    let device_code = text(&started, "device_code");
    let polls = futures_util::future::join_all((0..8).map(|_| poll(&setup, &device_code))).await;
    let won: Vec<&Response> = polls.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "{:?}", polls.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>());
    for lost in polls.iter().filter(|r| r.status != 200) {
        lost.assert_oauth_error(400, "invalid_grant");
    }
}

async fn guessing_user_codes_is_throttled_per_session_and_address(backend: Backend) {
    let setup = setup(backend).await;
    let app = &setup.app;
    let real = start(&setup, "jira:read").await;
    let browser = Browser::new();
    let entry = browser.get(&app.url("/oauth2/device")).await;
    let guess = |code: &str| {
        let mut fields = hidden_fields(&entry.body);
        fields.push(("user_code".into(), code.into()));
        fields.push(("tessera_action".into(), "code".into()));
        let browser = &browser;
        async move { browser.post(&app.url("/oauth2/device"), &fields, HeaderMap::new()).await }
    };
    for wrong in ["BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD", "FFFF-FFFF", "not a code"] {
        let page = guess(wrong).await;
        assert!(page.status == 400 && page.body.contains("That code is not right"), "{wrong}: {}", page.body);
    }
    // The sixth try waits, even with the right code.
    let blocked = guess(&text(&real, "user_code")).await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    assert!(blocked.body.contains("Too many wrong codes"), "{}", blocked.body);
    assert!(app.core.audit.flush(std::time::Duration::from_secs(5)).await, "failure events are queued");
    let events =
        app.core.audit.list(&tessera::store::AuditQuery { limit: 20, ..Default::default() }).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "device.code_failed").count(), 5);
    // The code itself still works for its person once the wait is over.
    app.clock.advance(2);
    let page = guess(&text(&real, "user_code")).await;
    assert!(page.status == 200 && page.body.contains("Sign in"), "{}", page.body);
}

async fn device_requests_with_bad_input_get_oauth_errors(backend: Backend) {
    let setup = setup(backend).await;
    let app = &setup.app;
    let machine = app.create_client(ClientSpec::default()).await;
    let endpoint = "/oauth2/device_authorization";
    app.post_form(endpoint, Some(&machine), &[("scope", "jira:read")])
        .await
        .assert_oauth_error(400, "unauthorized_client");
    app.post_form(endpoint, None, &[("client_id", "no-such-client")])
        .await
        .assert_oauth_error(401, "invalid_client");
    app.scope("jira:admin").await;
    app.post_form(endpoint, None, &[("client_id", &setup.client.id), ("scope", "jira:admin")])
        .await
        .assert_oauth_error(400, "invalid_scope");
    let ignored = start(&setup, "jira:read phone").await;
    assert!(ignored["device_code"].is_string(), "unknown scope values are ignored");
    let get = app.get(endpoint).await;
    assert_eq!(get.status, 405);

    let started = start(&setup, "jira:read").await;
    let device_code = text(&started, "device_code");
    // Another client's device code, an unknown one, none at all.
    let other = [("grant_type", GRANT), ("device_code", device_code.as_str())];
    app.post_form("/oauth2/token", Some(&machine), &other).await.assert_oauth_error(400, "invalid_grant");
    poll(&setup, "tsr_dc_made-up").await.assert_oauth_error(400, "invalid_grant");
    let missing = [("grant_type", GRANT), ("client_id", setup.client.id.as_str())];
    app.post_form("/oauth2/token", None, &missing).await.assert_oauth_error(400, "invalid_request");
}
