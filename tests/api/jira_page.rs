//! The console's Jira page (issue 5, item 3): the values shown for each
//! mode are the ones the Jira stand-in needs (read off the page and pasted
//! into it), Jira's client is created from the page, and the test button
//! mints a token, calls the stand-in's `/rest/api/2/myself` and shows the
//! answer — on both stores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use reqwest::header::{HeaderMap, HeaderValue};
use tessera::domain::{ClientDraft, Role, TokenFormat, Username};
use tessera::service::keys::KeyState;

use crate::both_backends;
use crate::console::{add_user, admin_console, sign_in, Console, ADMIN_PASSWORD};
use crate::support::jira_standin::{JiraAddress, JiraMode, JiraStandIn};
use crate::support::{send, spawn_app_with, tester, Backend, ClientSpec, TestApp};

both_backends!(
    the_page_gives_each_modes_values_and_warns_of_a_scheduled_rotation,
    jiras_client_is_created_on_the_page_and_works_in_introspection_mode,
    the_test_button_shows_jiras_answer_in_pem_mode,
    the_test_refuses_bad_choices_and_reports_an_unreachable_jira,
    a_test_as_yourself_passes_userinfo_mode_and_every_test_token_dies_after,
    whatever_jira_answers_is_shown_escaped_cut_and_without_the_token,
);

/// A server that knows Jira's address and names the username claim
/// `claim`; `root` (admin) signed in.
async fn console_with_jira(backend: Backend, jira: &JiraAddress, claim: &str) -> (TestApp, Console) {
    let (url, claim) = (jira.base_url.clone(), claim.to_owned());
    let app = spawn_app_with(backend, move |raw| {
        raw.jira_url = Some(url);
        raw.username_claim = Some(claim);
    })
    .await;
    add_user(&app, "root", Role::Admin, ADMIN_PASSWORD).await;
    let console = sign_in(&app, "root", ADMIN_PASSWORD).await;
    (app, console)
}

/// The text of the element with `id`, unescaped, as a person copies it.
fn copied(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no #{id} on the page:\n{page}"));
    let text_start = start + page[start..].find('>').unwrap() + 1;
    let text_end = text_start + page[text_start..].find('<').unwrap();
    page[text_start..text_end]
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
}

/// An app people sign in to (authorization code), by name.
async fn people_app(app: &TestApp, name: &str) -> String {
    let draft = ClientDraft {
        name: name.into(),
        client_type: "public".into(),
        grants: vec!["authorization_code".into()],
        redirect_uris: vec!["https://portal.example.com/callback".into()],
        // Jira's userinfo mode reads the username, a profile claim.
        scopes: vec!["openid".into(), "profile".into()],
        ..ClientDraft::default()
    };
    let created = app.core.admin.create_client(&tester(), draft.parse().unwrap()).await.unwrap();
    created.client.id.to_string()
}

/// Runs the test as `principal`; the page, asserting 200.
async fn run_test(console: &mut Console, principal: &str) -> String {
    let page = console.post("/console/jira/test", &[("as", principal)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let shown = without_pems(&page.body);
    assert!(!shown.contains("eyJ") && !shown.contains("tsr_at_"), "the test token is never shown");
    page.body
}

/// The page without its PEM blocks: the public keys it shows on purpose are
/// base64, where `eyJ` turns up by chance about once in 600 pages.
fn without_pems(body: &str) -> String {
    let mut rest = body;
    let mut kept = String::new();
    while let Some(start) = rest.find("-----BEGIN") {
        kept.push_str(&rest[..start]);
        let end = rest[start..].find("-----END").map_or(rest.len(), |end| start + end);
        rest = &rest[end..];
        rest = rest.get("-----END".len()..).unwrap_or_default();
    }
    kept.push_str(rest);
    kept
}

async fn the_page_gives_each_modes_values_and_warns_of_a_scheduled_rotation(backend: Backend) {
    let (app, mut admin) = admin_console(backend).await;
    let deploy = app.deploy_client().await;
    let page = admin.get("/console/jira").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let issuer = &app.core.settings.issuer;
    assert_eq!(copied(&page.body, "introspection-url"), format!("{issuer}/oauth2/introspect"));
    assert_eq!(copied(&page.body, "userinfo-url"), format!("{issuer}/oauth2/userinfo"));
    assert!(page.body.contains(&format!("<code>{issuer}/oauth2/jwks</code>")));
    assert_eq!(copied(&page.body, "username-claim"), "username");
    let keys = app.core.admin.keys();
    let active = keys.iter().find(|k| k.state == KeyState::Active).unwrap();
    let served = app.get(&format!("/oauth2/keys/{}.pem", active.kid)).await;
    assert_eq!(copied(&page.body, "active-pem"), served.body, "the PEM as /oauth2/keys serves it");
    assert!(!page.body.contains("A key rotation is scheduled"));
    assert!(!page.body.contains("next-pem"));

    // Without TESSERA_JIRA_URL the page says how to set it, and the test cannot run.
    assert!(
        page.body.contains("TESSERA_JIRA_URL=")
            && page.body.contains(
                r#"disabled title="Start Tessera with TESSERA_JIRA_URL to enable the test">Test</button>"#
            )
    );
    let refused = admin.post("/console/jira/test", &[("as", &format!("service:{}", deploy.id))]).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("no Jira URL is configured: set TESSERA_JIRA_URL"), "{}", refused.body);

    // A scheduled rotation: the warning, and the PEM that must replace the pasted one.
    assert_eq!(admin.post("/console/keys/rotate", &[]).await.status, 303);
    let page = admin.get("/console/jira").await;
    let next = app.core.admin.keys().into_iter().find(|k| k.state == KeyState::Next).unwrap();
    assert!(page.body.contains("A key rotation is scheduled"), "{}", page.body);
    assert!(page.body.contains(&format!("Key <code>{}</code> starts signing", next.kid)));
    let next_served = app.get(&format!("/oauth2/keys/{}.pem", next.kid)).await;
    assert_eq!(copied(&page.body, "next-pem"), next_served.body);
    assert_eq!(copied(&page.body, "active-pem"), served.body, "the active key still signs");

    // Users of the console who are not admins do not see it.
    add_user(&app, "jim", Role::User, "jim's long password").await;
    let mut user = sign_in(&app, "jim", "jim's long password").await;
    assert_eq!(user.get("/console/jira").await.status, 403);
}

async fn jiras_client_is_created_on_the_page_and_works_in_introspection_mode(backend: Backend) {
    let address = JiraAddress::reserve();
    let (app, mut admin) = console_with_jira(backend, &address, "username").await;
    let deploy = app.deploy_client().await;
    let page = admin.get("/console/jira").await;
    assert!(page.body.contains("No client may introspect other clients' tokens yet"));

    // A bad name: the error on the page, nothing stored.
    let long = "x".repeat(201);
    let refused = admin.post("/console/jira/client", &[("name", &long), ("submission", "s-bad")]).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("the name must be 1 to 200 characters"), "{}", refused.body);
    assert!(app.core.admin.list_clients().await.unwrap().iter().all(|c| !c.resource_server));

    let created = admin.post("/console/jira/client", &[("name", "Jira prod"), ("submission", "s-1")]).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let client_id = copied(&created.body, "jira-client-id");
    let secret = created.body.split("value=\"").find_map(|rest| rest.strip_prefix("tsr_cs_")).unwrap();
    let secret = format!("tsr_cs_{}", &secret[..secret.find('"').unwrap()]);
    let jira_client = app.core.admin.find_client(&client_id).await.unwrap();
    assert!(jira_client.resource_server && jira_client.name == "Jira prod");

    // The same form again (a reload) creates nothing and shows no secret.
    let again = admin.post("/console/jira/client", &[("name", "Jira prod"), ("submission", "s-1")]).await;
    assert_eq!(again.status, 303);
    assert_eq!(again.header("location"), Some("/console/jira?done=jira_client_already"));
    let page = admin.get("/console/jira?done=jira_client_already").await;
    assert!(page.body.contains("client exists (below)"), "{}", page.body);
    assert!(page.body.contains(&format!("<code>{client_id}</code>")) && !page.body.contains(&secret));
    let resource_servers = app.core.admin.list_clients().await.unwrap();
    assert_eq!(resource_servers.iter().filter(|c| c.resource_server).count(), 1);

    // Jira set up with what the page shows (the test server's issuer is a
    // name; it listens on a loopback port).
    let shown = copied(&page.body, "introspection-url");
    assert_eq!(shown, format!("{}/oauth2/introspect", app.core.settings.issuer));
    let jira = JiraStandIn::start_at(
        address,
        JiraMode::Introspection {
            url: app.url("/oauth2/introspect"),
            client_id: client_id.clone(),
            client_secret: secret,
        },
        &["svc-deploy", "root"],
    )
    .await;
    let result = run_test(&mut admin, &format!("service:{}", deploy.id)).await;
    assert!(
        result.contains("Jira accepted the token.") && result.contains("as Jira user svc-deploy"),
        "{result}"
    );
    assert_eq!(copied(&result, "test-status"), "200");
    let body = copied(&result, "test-body");
    assert!(body.contains("\"emailAddress\": \"svc-deploy@example.com\""), "{body}");
    assert!(result.contains(&format!("GET {}/rest/api/2/myself", jira.base_url)));

    // Disabling Jira's client: introspection refuses it, and the page says what to do.
    app.core.admin.set_client_enabled(&tester(), &client_id, false).await.unwrap();
    let result = run_test(&mut admin, &format!("service:{}", deploy.id)).await;
    assert_eq!(copied(&result, "test-status"), "401", "{result}");
    assert!(result.contains("Tessera refused the client id or secret"), "{result}");
}

async fn the_test_button_shows_jiras_answer_in_pem_mode(backend: Backend) {
    let address = JiraAddress::reserve();
    let (app, mut admin) = console_with_jira(backend, &address, "jira_user").await;
    let deploy = app.deploy_client().await;
    app.service_account("svc-stranger").await;
    let stranger =
        app.create_client(ClientSpec { service_account: Some("svc-stranger"), ..Default::default() }).await;
    app.service_account("svc-opaque").await;
    let opaque = app
        .create_client(ClientSpec {
            service_account: Some("svc-opaque"),
            token_format: TokenFormat::Opaque,
            ..Default::default()
        })
        .await;
    let portal = people_app(&app, "Portal").await;

    let page = admin.get("/console/jira").await;
    for option in [
        format!("<option value=\"user:{portal}\" selected>you, root (app Portal)</option>"),
        format!(
            "<option value=\"service:{}\">service account svc-deploy (app test client)</option>",
            deploy.id
        ),
        format!("<option value=\"service:{}\">service account svc-stranger", stranger.id),
    ] {
        assert!(page.body.contains(&option), "{option} in\n{}", page.body);
    }
    // Jira configured from the page: the active key's PEM and the claim's name.
    let claim = copied(&page.body, "username-claim");
    assert_eq!(claim, "jira_user");
    let jira = JiraStandIn::start_at(
        address,
        JiraMode::Pem { pem: copied(&page.body, "active-pem"), username_claim: claim },
        &["svc-deploy", "svc-opaque", "root"],
    )
    .await;

    let result = run_test(&mut admin, &format!("service:{}", deploy.id)).await;
    assert!(
        result.contains("Jira accepted the token.") && result.contains("as Jira user svc-deploy"),
        "{result}"
    );
    assert!(result.contains("JWT for <code>svc-deploy</code> through app test client"), "{result}");
    assert!(result.contains("expires in 60 s"), "{result}");

    let result = run_test(&mut admin, &format!("user:{portal}")).await;
    assert!(result.contains("as Jira user root"), "{result}");
    assert!(result.contains(&format!("<option value=\"user:{portal}\" selected>")), "the choice is kept");

    let result = run_test(&mut admin, &format!("service:{}", stranger.id)).await;
    assert!(result.contains("Jira did not accept the token."), "{result}");
    assert!(result.contains("has no user named svc-stranger"), "{result}");
    assert_eq!(copied(&result, "test-status"), "400");
    assert!(copied(&result, "test-body").contains("No user found with this username/email address"));

    // An opaque token in PEM mode: Jira cannot validate it, and the page says why.
    let result = run_test(&mut admin, &format!("service:{}", opaque.id)).await;
    assert!(
        result.contains("Token Invalid") && result.contains("the pasted PEM is not the active key"),
        "{result}"
    );

    // Each run is in the audit log, with who ran it and what Jira said.
    let audit = admin.get("/console/audit?kind=jira.tested").await;
    assert_eq!(audit.status, 200);
    assert_eq!(audit.body.matches("as svc-deploy: HTTP 200").count(), 1, "{}", audit.body);
    assert!(audit.body.contains("as svc-stranger: HTTP 400") && audit.body.contains("as root: HTTP 200"));
    drop(jira);
}

async fn the_test_refuses_bad_choices_and_reports_an_unreachable_jira(backend: Backend) {
    // Jira's port is reserved, then closed: nothing answers there.
    let address = JiraAddress::reserve();
    let (app, mut admin) = console_with_jira(backend, &address, "username").await;
    drop(address);
    let deploy = app.deploy_client().await;
    let portal = people_app(&app, "Portal").await;
    admin.get("/console/jira").await;

    let cases = [
        ("", "choose whom to mint the test token for"),
        ("somebody", "choose whom to mint the test token for"),
        ("service:not\ta client id", "choose whom to mint the test token for"),
        ("service:no-such-app", "that app no longer exists"),
        (&format!("service:{portal}") as &str, "is not bound to an enabled service account"),
        (&format!("user:{}", deploy.id) as &str, "people cannot sign in to it"),
    ];
    for (choice, expected) in cases {
        let page = admin.post("/console/jira/test", &[("as", choice)]).await;
        assert_eq!(page.status, 400, "{choice}: {}", page.body);
        assert!(page.body.contains(expected), "{choice}: {expected} in\n{}", page.body);
    }
    app.core.admin.set_client_enabled(&tester(), &deploy.id, false).await.unwrap();
    let page = admin.post("/console/jira/test", &[("as", &format!("service:{}", deploy.id))]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("it is disabled"), "{}", page.body);
    app.core.admin.set_client_enabled(&tester(), &deploy.id, true).await.unwrap();
    let svc = Username::parse("svc-deploy").unwrap();
    app.core.admin.set_service_account_enabled(&tester(), &svc, false).await.unwrap();
    let page = admin.post("/console/jira/test", &[("as", &format!("service:{}", deploy.id))]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("is not bound to an enabled service account"), "{}", page.body);
    app.core.admin.set_service_account_enabled(&tester(), &svc, true).await.unwrap();

    // Without the CSRF token: refused, nothing minted, nothing audited.
    let forged = admin
        .browser
        .post(
            &app.url("/console/jira/test"),
            &[("as".to_owned(), format!("service:{}", deploy.id))],
            same_site(),
        )
        .await;
    assert_eq!(forged.status, 403);
    let audit = admin.get("/console/audit?kind=jira.tested").await;
    assert!(!audit.body.contains("as svc-deploy"), "{}", audit.body);

    let result = run_test(&mut admin, &format!("service:{}", deploy.id)).await;
    assert!(
        result.contains("No answer from Jira.") && result.contains("Tessera could not reach Jira:"),
        "{result}"
    );
    assert!(result.to_lowercase().contains("refused"), "{result}");
    assert!(!result.contains("id=\"test-status\""));
}

fn same_site() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    headers
}

async fn a_test_as_yourself_passes_userinfo_mode_and_every_test_token_dies_after(backend: Backend) {
    let address = JiraAddress::reserve();
    let (app, mut admin) = console_with_jira(backend, &address, "username").await;
    let portal = people_app(&app, "Portal").await;
    let deploy = app.deploy_client().await;
    let opaque = app
        .create_client(ClientSpec {
            service_account: Some("svc-deploy"),
            token_format: TokenFormat::Opaque,
            ..Default::default()
        })
        .await;
    let page = admin.get("/console/jira").await;
    let jira = JiraStandIn::start_at(
        address,
        JiraMode::Userinfo {
            url: app.url("/oauth2/userinfo"),
            username_claim: copied(&page.body, "username-claim"),
        },
        &["root", "svc-deploy"],
    )
    .await;
    // Mode 2 resolves the person through userinfo: the token stands on a grant.
    let result = run_test(&mut admin, &format!("user:{portal}")).await;
    assert!(result.contains("Jira accepted the token.") && result.contains("as Jira user root"), "{result}");
    assert!(
        result.contains("JWT for <code>root</code> through app Portal; scope openid profile"),
        "{result}"
    );

    // Each test token (JWT for a person, JWT and opaque for a service) is
    // dead once Jira has answered.
    run_test(&mut admin, &format!("service:{}", deploy.id)).await;
    run_test(&mut admin, &format!("service:{}", opaque.id)).await;
    let seen = jira.tokens_seen();
    assert_eq!(seen.len(), 3);
    assert!(seen[2].starts_with("tsr_at_"), "the opaque app's token is opaque");
    let resource_server = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    for token in &seen {
        assert!(!app.is_active(&resource_server, token).await, "a test token outlives its test");
    }
    let userinfo = send(app.http.get(app.url("/oauth2/userinfo")).bearer_auth(&seen[0])).await;
    assert_eq!(userinfo.status, 401);
    // The test's grant does not linger among root's authorized apps.
    let me = admin.get("/console/me").await;
    assert!(!me.body.contains("Portal"), "{}", me.body);
}

/// What the odd Jira answers: status, headers, body (`{authorization}` in
/// the body becomes the Authorization header it was sent).
type Answer = (u16, Vec<(&'static str, String)>, String);

/// A Jira that answers whatever the test sets, and a second server that
/// counts the requests a followed redirect would send it.
struct OddJira {
    answer: Arc<Mutex<Answer>>,
    elsewhere_hits: Arc<AtomicUsize>,
    elsewhere: String,
}

impl OddJira {
    fn start(address: JiraAddress) -> Self {
        let answer = Arc::new(Mutex::new((200, Vec::new(), String::new())));
        let shared = answer.clone();
        let jira = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().route(
                "/rest/api/2/myself",
                web::get().to(move |request: actix_web::HttpRequest| {
                    let (status, headers, body) = shared.lock().unwrap().clone();
                    // An echo of the Authorization header, as a careless proxy might send.
                    let sent = request.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
                    let body = body.replace("{authorization}", &sent.unwrap_or_default());
                    let mut response =
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
                    for (name, value) in headers {
                        response.insert_header((name, value));
                    }
                    async move { response.body(body) }
                }),
            )
        })
        .workers(1)
        .listen(address.listener)
        .unwrap()
        .run();
        tokio::spawn(jira);
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let elsewhere = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let other = HttpServer::new(move || {
            let counted = counted.clone();
            App::new().default_service(web::to(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { HttpResponse::Ok().body("followed") }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(other);
        Self { answer, elsewhere_hits: hits, elsewhere }
    }

    fn answer(&self, status: u16, headers: Vec<(&'static str, String)>, body: String) {
        *self.answer.lock().unwrap() = (status, headers, body);
    }
}

async fn whatever_jira_answers_is_shown_escaped_cut_and_without_the_token(backend: Backend) {
    let address = JiraAddress::reserve();
    let (app, mut admin) = console_with_jira(backend, &address, "username").await;
    app.service_account("svc-deploy").await;
    let draft = ClientDraft {
        name: "<i>deploy</i>".into(),
        client_type: "confidential".into(),
        grants: vec!["client_credentials".into()],
        service_account: Some("svc-deploy".into()),
        ..ClientDraft::default()
    };
    let app_id = app.core.admin.create_client(&tester(), draft.parse().unwrap()).await.unwrap().client.id;
    let jira = OddJira::start(address);
    let page = admin.get("/console/jira").await;
    assert!(!page.body.contains("<i>deploy"), "{}", page.body);
    assert!(page.body.contains("(app &#60;i&#62;deploy&#60;/i&#62;)"), "{}", page.body);
    let principal = format!("service:{app_id}");

    // Markup in Jira's answer is text on the page.
    jira.answer(200, vec![("content-type", "text/html".into())], "<script>alert(1)</script>".into());
    let result = run_test(&mut admin, &principal).await;
    assert!(!result.contains("<script>alert(1)"), "{result}");
    assert!(result.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{result}");
    assert!(result.contains("is not a Jira user"), "{result}");

    // A redirect is reported, not followed: the token goes nowhere else.
    let login = format!("{}/login.jsp?os_destination=x", jira.elsewhere);
    jira.answer(302, vec![("location", login.clone())], String::new());
    let result = run_test(&mut admin, &principal).await;
    assert_eq!(copied(&result, "test-status"), "302");
    assert!(result.contains("redirected the call to"), "{result}");
    assert_eq!(jira.elsewhere_hits.load(Ordering::SeqCst), 0);

    // A huge answer is cut at 64 KiB.
    jira.answer(200, vec![("content-type", "text/plain".into())], "x".repeat(100 * 1024));
    let result = run_test(&mut admin, &principal).await;
    assert!(result.contains("id=\"test-truncated\""), "the cut is said");
    assert_eq!(copied(&result, "test-body").len(), 64 * 1024);

    // An echoed Authorization header shows a placeholder, not the token.
    jira.answer(401, Vec::new(), "you sent: {authorization}".into());
    let result = run_test(&mut admin, &principal).await;
    assert!(copied(&result, "test-body").contains("you sent: Bearer [the test token]"), "{result}");
}
