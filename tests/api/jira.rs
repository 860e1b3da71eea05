//! The Jira stand-in accepts Tessera's tokens in each of the Jira
//! app's modes and answers every case of the table the way Jira does.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use tessera::clock::Clock as _;

use crate::both_backends;
use tessera::domain::UnixTime;

use crate::support::jira_standin::{JiraMode, JiraStandIn};
use crate::support::{jwt_parts, send, spawn_app, spawn_app_at, Backend, ClientSpec, TestApp};

both_backends!(
    jira_in_pem_mode_accepts_tessera_tokens,
    jira_in_jwks_mode_accepts_tessera_tokens,
    jira_in_introspection_mode_accepts_tessera_tokens,
);

async fn myself(jira: &JiraStandIn, app: &TestApp, token: &str) -> (u16, Value) {
    let response = send(app.http.get(jira.myself_url()).bearer_auth(token)).await;
    (response.status, response.json())
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

fn tamper(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let (_, mut claims) = jwt_parts(token);
    claims["username"] = "admin".into();
    format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2])
}

/// A server whose clock runs an hour behind the wall clock until
/// `jwt_mode_table` moves it forward, so it can mint a token that is
/// already expired for Jira.
async fn app_an_hour_ago(backend: Backend) -> TestApp {
    spawn_app_at(backend, UnixTime::from_seconds(UnixTime::now().seconds() - 3_600), |_| {}).await
}

/// The cases shared by both JWT modes.
async fn jwt_mode_table(app: &TestApp, jira: &JiraStandIn) {
    app.service_account("svc-unknown-to-jira").await;
    let known = app.deploy_client().await;
    let unknown = app
        .create_client(ClientSpec { service_account: Some("svc-unknown-to-jira"), ..Default::default() })
        .await;
    let expired = app.access_token(&known).await;
    app.clock.advance(3_600);

    let token = app.access_token(&known).await;
    let (status, body) = myself(jira, app, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "svc-deploy");
    assert_eq!(body["active"], true);
    assert!(body["self"].as_str().unwrap().ends_with("/rest/api/2/user?username=svc-deploy"));

    let (status, body) = myself(jira, app, &app.access_token(&unknown).await).await;
    assert_eq!((status, message(&body)), (400, "No user found with this username/email address"));

    let (status, body) = myself(jira, app, &tamper(&token)).await;
    assert_eq!((status, message(&body)), (400, "Token Invalid: Error while validating the token."));
    let (status, _) = myself(jira, app, "not-a-jwt").await;
    assert_eq!(status, 400);

    let (status, body) = myself(jira, app, &expired).await;
    assert_eq!((status, message(&body)), (401, "Token Expired: The token provided is expired."));
}

async fn jira_in_pem_mode_accepts_tessera_tokens(backend: Backend) {
    let app = app_an_hour_ago(backend).await;
    let kid = app.core.keys.current().signer(app.clock.now()).unwrap().kid().to_owned();
    let pem = app.get(&format!("/oauth2/keys/{kid}.pem")).await.body;
    let jira = JiraStandIn::start(
        JiraMode::Pem { pem, username_claim: "username".into() },
        &["svc-deploy", "admin"],
    )
    .await;
    jwt_mode_table(&app, &jira).await;
}

async fn jira_in_jwks_mode_accepts_tessera_tokens(backend: Backend) {
    let app = app_an_hour_ago(backend).await;
    let jira = JiraStandIn::start(
        JiraMode::Jwks { jwks_url: app.url("/oauth2/jwks"), username_claim: "username".into() },
        &["svc-deploy", "admin"],
    )
    .await;
    jwt_mode_table(&app, &jira).await;
}

async fn jira_in_introspection_mode_accepts_tessera_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
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
    app.service_account("svc-unknown-to-jira").await;
    let known = app.deploy_client().await;
    let unknown = app
        .create_client(ClientSpec { service_account: Some("svc-unknown-to-jira"), ..Default::default() })
        .await;
    let token = app.access_token(&known).await;

    let (status, body) = myself(&jira, &app, &token).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("svc-deploy")));

    let (status, body) = myself(&jira, &app, &app.access_token(&unknown).await).await;
    assert_eq!((status, message(&body)), (400, "No user found with this username/email address"));

    let (status, body) = myself(&jira, &app, &tamper(&token)).await;
    assert_eq!((status, message(&body)), (400, "Token Invalid: Error while validating the token."));

    assert_eq!(app.revoke(&known, &token).await.status, 200);
    let (status, _) = myself(&jira, &app, &token).await;
    assert_eq!(status, 400, "a revoked token is refused at once");

    let misconfigured = JiraStandIn::start(
        JiraMode::Introspection {
            url: app.url("/oauth2/introspect"),
            client_id: jira_client.id.clone(),
            client_secret: "wrong".into(),
        },
        &["svc-deploy"],
    )
    .await;
    let (status, body) = myself(&misconfigured, &app, &app.access_token(&known).await).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
}
