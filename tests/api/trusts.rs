//! Trusted outside issuers: a CI job or a pod trades the JWT its platform
//! gave it for a Tessera token for a service account (RFC 8693,
//! `subject_token_type` jwt). The outside issuer is a real HTTP server
//! started here with its own keys, publishing its JWKS.

use std::time::Duration;

use serde_json::{json, Value};
use tessera::clock::Clock as _;
use tessera::domain::TrustDraft;

use crate::both_backends;
use crate::support::cli::tessera;
use crate::support::jira_standin::JiraStandIn;
use crate::support::outside_keys::{closed_port_url, unsigned, Answer, KeyHolder, KeySite};
use crate::support::{
    jwt_parts, send, spawn_app, tester, Backend, ClientSpec, Response, TestApp, TestClient, TestData,
};

both_backends!(
    a_ci_job_trades_its_jwt_for_a_jira_token_with_no_stored_secret,
    every_mismatch_is_refused_with_a_reason_and_audited,
    only_the_clients_a_trust_names_may_present_its_jwts,
    trusts_are_managed_on_the_command_line,
    the_api_refuses_bad_trusts_field_by_field,
    the_console_creates_lists_disables_and_deletes_trusts,
);

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const AUDIENCE: &str = "https://tessera.test/ci";

/// A CI platform: its keys, and the server publishing them.
struct Platform {
    keys: KeyHolder,
    site: KeySite,
}

impl Platform {
    async fn start() -> Self {
        let keys = KeyHolder::new(&[("ci-1", "RS256")]);
        let site = KeySite::start(Answer::Serve(keys.jwks())).await;
        Self { keys, site }
    }

    fn issuer(&self) -> String {
        self.site.base.clone()
    }

    /// A GitHub-Actions-like token for `repository` on `git_ref`.
    fn claims(&self, app: &TestApp, repository: &str, git_ref: &str) -> Value {
        let now = app.clock.now().seconds();
        json!({
            "iss": self.issuer(), "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
            "sub": format!("repo:{repository}:ref:{git_ref}"),
            "repository": repository, "ref": git_ref, "workflow": "deploy",
        })
    }

    fn token(&self, app: &TestApp, repository: &str, git_ref: &str) -> String {
        self.keys.sign("ci-1", &self.claims(app, repository, git_ref))
    }
}

fn draft(platform: &Platform) -> TrustDraft {
    TrustDraft {
        issuer: platform.issuer(),
        jwks_uri: platform.site.url(),
        audience: AUDIENCE.into(),
        claims: vec!["repository=acme/deploy-tools".into(), "ref=refs/heads/*".into()],
        service_account: "svc-deploy".into(),
        scopes: vec!["jira:write".into()],
        max_ttl: Some("5m".into()),
        clients: vec![],
        allow_without_client: true,
    }
}

/// The exchange for `resource` https://jira.example, with `client`'s Basic credentials.
async fn exchange_as(app: &TestApp, client: Option<&TestClient>, subject_token: String) -> Response {
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject_token.as_str()),
        ("subject_token_type", JWT_TYPE),
        ("resource", "https://jira.example"),
    ];
    app.post_form("/oauth2/token", client, &form).await
}

async fn exchange(app: &TestApp, subject_token: &str, extra: &[(&str, &str)]) -> Response {
    let mut form =
        vec![("grant_type", EXCHANGE), ("subject_token", subject_token), ("subject_token_type", JWT_TYPE)];
    form.extend_from_slice(extra);
    app.post_form("/oauth2/token", None, &form).await
}

async fn setup(app: &TestApp) {
    app.service_account("svc-deploy").await;
    app.scope("jira:write").await;
    app.scope("jira:read").await;
}

async fn audit(app: &TestApp, kind: &str) -> Vec<tessera::store::AuditRecord> {
    assert!(app.core.audit.flush(Duration::from_secs(5)).await);
    let query = tessera::store::AuditQuery { kinds: vec![kind.into()], limit: 50, ..Default::default() };
    app.core.audit.list(&query).await.unwrap()
}

async fn a_ci_job_trades_its_jwt_for_a_jira_token_with_no_stored_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    setup(&app).await;
    let platform = Platform::start().await;
    let trust = app.core.trusts.create_from(&tester(), &draft(&platform)).await.unwrap();

    let response = exchange(&app, &platform.token(&app, "acme/deploy-tools", "refs/heads/main"), &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let body = response.json();
    assert_eq!(body["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    assert_eq!((body["expires_in"].as_i64(), body["scope"].as_str()), (Some(300), Some("jira:write")));
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (_, claims) = jwt_parts(&token);
    assert_eq!(
        (claims["sub"].as_str(), claims["username"].as_str()),
        (Some("svc-deploy"), Some("svc-deploy"))
    );
    assert_eq!(claims["trust"], trust.id.as_str());

    // Jira accepts it, offline (PEM) and by introspection.
    let offline = JiraStandIn::with_pem(&app, &["svc-deploy"]).await;
    let seen = send(app.http.get(offline.myself_url()).bearer_auth(&token)).await;
    assert_eq!((seen.status, seen.json()["name"].clone()), (200, json!("svc-deploy")), "{}", seen.body);
    let jira_client = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let online = JiraStandIn::introspecting(&app, &jira_client, &["svc-deploy"]).await;
    let seen = send(app.http.get(online.myself_url()).bearer_auth(&token)).await;
    assert_eq!((seen.status, seen.json()["name"].clone()), (200, json!("svc-deploy")), "{}", seen.body);

    // Every decision is audited with the trust.
    let exchanged = audit(&app, "trust.exchanged").await;
    assert_eq!(exchanged.len(), 1);
    assert_eq!(exchanged[0].target, format!("trust:{}", trust.id));
    assert!(exchanged[0].detail.contains("repo:acme/deploy-tools:ref:refs/heads/main"), "{:?}", exchanged[0]);

    // Disabling the trust ends its tokens at once and refuses its JWTs.
    app.core.trusts.set_enabled(&tester(), trust.id.as_str(), false).await.unwrap();
    assert!(!app.is_active(&jira_client, &token).await, "a disabled trust's tokens die");
    let refused = exchange(&app, &platform.token(&app, "acme/deploy-tools", "refs/heads/main"), &[]).await;
    refused.assert_oauth_error(400, "invalid_request");
    assert!(refused.json()["error_description"].as_str().unwrap().contains("disabled"));
    app.core.trusts.set_enabled(&tester(), trust.id.as_str(), true).await.unwrap();
    assert!(!app.is_active(&jira_client, &token).await, "enabling again revives nothing");
    let again = exchange(&app, &platform.token(&app, "acme/deploy-tools", "refs/heads/main"), &[]).await;
    assert_eq!(again.status, 200, "{}", again.body);

    // A disabled service account gets nothing.
    let username = tessera::domain::Username::parse("svc-deploy").unwrap();
    app.core.admin.set_service_account_enabled(&tester(), &username, false).await.unwrap();
    let token = again.json()["access_token"].as_str().unwrap().to_owned();
    assert!(!app.is_active(&jira_client, &token).await);
    exchange(&app, &platform.token(&app, "acme/deploy-tools", "refs/heads/main"), &[])
        .await
        .assert_oauth_error(400, "invalid_request");
    app.core.admin.set_service_account_enabled(&tester(), &username, true).await.unwrap();
    assert!(!app.is_active(&jira_client, &token).await, "enabling the account again revives nothing");
}

async fn every_mismatch_is_refused_with_a_reason_and_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    setup(&app).await;
    let platform = Platform::start().await;
    let stranger = KeyHolder::new(&[("ci-1", "RS256"), ("other", "ES256")]);
    app.core.trusts.create_from(&tester(), &draft(&platform)).await.unwrap();
    let now = app.clock.now().seconds();
    let good = || platform.claims(&app, "acme/deploy-tools", "refs/heads/main");
    let change = |changes: Value| {
        let mut claims = good();
        for (name, value) in changes.as_object().unwrap() {
            claims[name] = value.clone();
        }
        platform.keys.sign("ci-1", &claims)
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("another repository", platform.token(&app, "acme/other", "refs/heads/main"), "claim conditions"),
        (
            "a tag, not a branch",
            platform.token(&app, "acme/deploy-tools", "refs/tags/v1"),
            "claim conditions",
        ),
        ("wrong aud", change(json!({"aud": "https://elsewhere.example"})), "'aud'"),
        ("expired", change(json!({"exp": now - 120})), "expired"),
        ("not yet valid", change(json!({"nbf": now + 600})), "not valid yet"),
        ("signed by a stranger", stranger.sign("ci-1", &good()), "signature"),
        ("an unknown kid", stranger.sign("other", &good()), "no registered key"),
        ("alg none", unsigned(&good()), "not accepted"),
        (
            "an unknown issuer",
            change(json!({"iss": "https://issuer.example"})),
            "not a JWT from a trusted issuer",
        ),
        ("not a JWT", "garbage".to_owned(), "not a JWT from a trusted issuer"),
    ];
    for (case, subject_token, says) in cases {
        let response = exchange(&app, &subject_token, &[]).await;
        response.assert_oauth_error(400, "invalid_request");
        let description = response.json()["error_description"].as_str().unwrap().to_owned();
        assert!(description.contains(says), "{case}: {description}");
    }
    // The glob: any branch.
    let feature = platform.token(&app, "acme/deploy-tools", "refs/heads/feature/x");
    assert_eq!(exchange(&app, &feature, &[]).await.status, 200);
    // More scope than the trust allows.
    let wide = exchange(
        &app,
        &platform.token(&app, "acme/deploy-tools", "refs/heads/main"),
        &[("scope", "jira:read")],
    )
    .await;
    wide.assert_oauth_error(400, "invalid_scope");

    // An issuer whose keys cannot be fetched.
    let down = KeyHolder::new(&[("k", "ES256")]);
    let down_issuer = "http://127.0.0.1:9/issuer";
    let down_draft =
        TrustDraft { issuer: down_issuer.into(), jwks_uri: closed_port_url().await, ..draft(&platform) };
    app.core.trusts.create_from(&tester(), &down_draft).await.unwrap();
    let mut claims = good();
    claims["iss"] = json!(down_issuer);
    let response = exchange(&app, &down.sign("k", &claims), &[]).await;
    response.assert_oauth_error(400, "invalid_request");
    assert!(response.json()["error_description"].as_str().unwrap().contains("could not be fetched"));

    let refused = audit(&app, "trust.refused").await;
    assert!(refused.len() >= 10, "{refused:?}");
    assert!(refused.iter().any(|e| e.target.starts_with("trust:") && e.detail.contains("claim conditions")));
}

async fn only_the_clients_a_trust_names_may_present_its_jwts(backend: Backend) {
    let app = spawn_app(backend).await;
    setup(&app).await;
    let platform = Platform::start().await;
    let named =
        app.create_client(ClientSpec { audiences: &["https://jira.example"], ..Default::default() }).await;
    let other = app.create_client(ClientSpec::default()).await;
    let trust_draft =
        TrustDraft { clients: vec![named.id.clone()], allow_without_client: false, ..draft(&platform) };
    app.core.trusts.create_from(&tester(), &trust_draft).await.unwrap();
    let subject = || platform.token(&app, "acme/deploy-tools", "refs/heads/main");
    let post = |client, token: String| exchange_as(&app, client, token);
    let response = post(Some(&named), subject()).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let (_, claims) = jwt_parts(response.json()["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["client_id"].as_str(), claims["aud"].as_str()),
        (Some(named.id.as_str()), Some("https://jira.example"))
    );

    let stranger = post(Some(&other), subject()).await;
    stranger.assert_oauth_error(400, "invalid_request");
    assert!(stranger.json()["error_description"].as_str().unwrap().contains("may not present"));
    let anonymous = exchange(&app, &subject(), &[]).await;
    anonymous.assert_oauth_error(400, "invalid_request");
    assert!(anonymous.json()["error_description"].as_str().unwrap().contains("needs client authentication"));
    // A wrong secret is a failed client authentication, as anywhere.
    let wrong = TestClient { id: named.id.clone(), secret: "wrong".into() };
    post(Some(&wrong), subject()).await.assert_oauth_error(401, "invalid_client");
}

async fn trusts_are_managed_on_the_command_line(backend: Backend) {
    let data = TestData::new(backend).await;
    assert_eq!(tessera(&data, &["service-account", "create", "--username", "svc-deploy"]).await.code, 0);
    assert_eq!(tessera(&data, &["scope", "create", "jira:write"]).await.code, 0);
    let base = [
        "trust",
        "create",
        "--issuer",
        "https://token.actions.githubusercontent.com",
        "--jwks-uri",
        "https://token.actions.githubusercontent.com/.well-known/jwks",
        "--audience",
        "https://tessera.example",
        "--service-account",
        "svc-deploy",
        "--scope",
        "jira:write",
        "--max-ttl",
        "10m",
    ];
    let create = [
        &base[..],
        &[
            "--claim",
            "repository=acme/deploy",
            "--claim",
            "ref=refs/heads/main",
            "--allow-without-client",
            "--json",
        ],
    ]
    .concat();
    let created = tessera(&data, &create).await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let trust = created.json();
    let id = trust["id"].as_str().unwrap().to_owned();
    assert_eq!(trust["claims"], json!(["repository=acme/deploy", "ref=refs/heads/main"]));
    assert_eq!(trust["max_ttl_seconds"], 600);
    let listed = tessera(&data, &["trust", "list"]).await;
    assert!(
        listed.stdout.contains(&id) && listed.stdout.contains("repository=acme/deploy"),
        "{}",
        listed.stdout
    );
    let shown = tessera(&data, &["trust", "show", &id]).await;
    assert!(
        shown.stdout.contains("svc-deploy") && shown.stdout.contains("no client needed"),
        "{}",
        shown.stdout
    );

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--allow-without-client"], "at least one claim condition"),
        (vec!["--claim", "job.ref=main", "--allow-without-client"], "nested"),
        (vec!["--claim", "aud=x", "--allow-without-client"], "checked by the trust itself"),
        (vec!["--claim", "ref=*", "--allow-without-client"], "matches anything"),
        (vec!["--claim", "ref=main"], "--client"),
        (vec!["--claim", "ref=main", "--client", "nobody"], "no client with id"),
    ];
    for (extra, says) in cases {
        let out = tessera(&data, &[&base[..], &extra].concat()).await;
        assert_ne!(out.code, 0, "{extra:?}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "{extra:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{says}: {}", out.stderr);
    }
    let http = [&base[..], &["--claim", "ref=main", "--allow-without-client"]].concat();
    let http: Vec<&str> = http
        .iter()
        .map(|a| if *a == "https://token.actions.githubusercontent.com" { "http://ci.example" } else { a })
        .collect();
    let out = tessera(&data, &http).await;
    assert!(out.code != 0 && out.stderr.contains("https"), "{}", out.stderr);

    assert_eq!(tessera(&data, &["trust", "disable", &id]).await.code, 0);
    assert!(tessera(&data, &["trust", "show", &id]).await.stdout.contains("enabled:         no"));
    assert_eq!(tessera(&data, &["trust", "delete", &id]).await.code, 0);
    let gone = tessera(&data, &["trust", "show", &id]).await;
    assert!(gone.code != 0 && gone.stderr.contains("no trust"), "{}", gone.stderr);
    assert_eq!(tessera(&data, &["trust", "list", "--json"]).await.json(), json!([]));
}

async fn the_api_refuses_bad_trusts_field_by_field(backend: Backend) {
    use crate::admin_api::{admin_client, call};
    let app = spawn_app(backend).await;
    setup(&app).await;
    let token = app.access_token(&admin_client(&app).await).await;
    let good = json!({
        "issuer": "https://gitlab.example.com", "jwks_uri": "https://gitlab.example.com/oauth/discovery/keys",
        "audience": "https://tessera.test/gitlab", "claims": ["project_path=acme/*"],
        "service_account": "svc-deploy", "scopes": ["jira:write"], "allow_without_client": true,
    });
    let with = |name: &str, value: Value| {
        let mut body = good.clone();
        body[name] = value;
        body
    };
    let cases = [
        (with("issuer", json!("http://gitlab.example.com")), 400, "issuer"),
        (with("claims", json!([])), 400, "claims"),
        (with("claims", json!(["namespace.path=acme"])), 400, "claims"),
        (with("max_ttl", json!("2h")), 400, "max_ttl"),
        (with("allow_without_client", json!(false)), 400, "clients"),
        (with("service_account", json!("svc-nobody")), 404, ""),
        (with("scopes", json!(["jira:nope"])), 404, ""),
    ];
    for (body, status, field) in cases {
        let response = call(&app, &token, "post", "/api/v1/trusts", Some(body.clone())).await;
        assert_eq!(response.status, status, "{body}: {}", response.body);
        if !field.is_empty() {
            assert_eq!(response.json()["field"], field, "{body}");
        }
    }
    let unknown = call(&app, &token, "post", "/api/v1/trusts", Some(with("surprise", json!(1)))).await;
    assert_eq!((unknown.status, unknown.json()["error"].clone()), (400, json!("invalid_json")));
    assert_eq!(call(&app, &token, "get", "/api/v1/trusts", None).await.json(), json!([]), "nothing stored");
    assert_eq!(call(&app, &token, "get", "/api/v1/trusts/tr_nothing", None).await.status, 404);
    assert_eq!(call(&app, &token, "delete", "/api/v1/trusts/tr_nothing", None).await.status, 404);
    let created = call(&app, &token, "post", "/api/v1/trusts", Some(good)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["claims"], json!(["project_path=acme/*"]));
}

async fn the_console_creates_lists_disables_and_deletes_trusts(backend: Backend) {
    let (app, mut console) = crate::console::admin_console(backend).await;
    setup(&app).await;
    let platform = Platform::start().await;
    let form = console.get("/console/trusts/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("svc-deploy") && form.body.contains("jira:write"));
    let issuer = platform.issuer();
    let jwks_uri = platform.site.url();
    let fields = |claims: &'static str| {
        vec![
            ("issuer", issuer.clone()),
            ("jwks_uri", jwks_uri.clone()),
            ("audience", AUDIENCE.to_owned()),
            ("claims", claims.to_owned()),
            ("service_account", "svc-deploy".to_owned()),
            ("scopes", "jira:write".to_owned()),
            ("max_ttl", "10m".to_owned()),
            ("allow_without_client", "on".to_owned()),
        ]
    };
    let refused = post_form(&mut console, fields("")).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("at least one claim condition"), "the field error is shown");
    assert!(refused.body.contains(&issuer), "the input is kept");

    let created = post_form(&mut console, fields("repository=acme/deploy-tools\nref=refs/heads/*")).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let list = console.get("/console/trusts?done=created").await;
    assert!(list.body.contains("repository=acme/deploy-tools, ref=refs/heads/*"), "{}", list.body);
    let trust = app.core.trusts.list().await.unwrap().remove(0);
    assert_eq!(trust.conditions.len(), 2);
    assert!(trust.without_client);
    let response = exchange(&app, &platform.token(&app, "acme/deploy-tools", "refs/heads/main"), &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);

    let disabled = console.post(&format!("/console/trusts/{}/disable", trust.id), &[]).await;
    assert_eq!(disabled.status, 303);
    assert!(!app.core.trusts.find(trust.id.as_str()).await.unwrap().enabled);
    let deleted = console.post(&format!("/console/trusts/{}/delete", trust.id), &[]).await;
    assert_eq!(deleted.status, 303);
    assert!(app.core.trusts.list().await.unwrap().is_empty());
    let audit = audit(&app, "trust.deleted").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "root");
}

async fn post_form(console: &mut crate::console::Console, fields: Vec<(&'static str, String)>) -> Response {
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    console.post("/console/trusts", &borrowed).await
}
