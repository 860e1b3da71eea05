//! RP-Initiated Logout 1.0 (issue 15): an app signs the person out of
//! Tessera and gets the browser back at an address it registered, and
//! nothing else can use the endpoint to send a browser anywhere.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use tessera::domain::{ClientDraft, ClientType, PkcePolicy};

use crate::admin_api::{admin_client, call};
use crate::authorize::{authorize_url, exchange, location, setup_with, sign_in_and_approve, Setup, PASSWORD};
use crate::both_backends;
use crate::support::browser::{hidden_fields, Browser};
use crate::support::outside_keys::KeyHolder;
use crate::support::{jwt_parts, tester, Backend, Response};

both_backends!(
    an_app_signs_its_user_out_and_gets_the_browser_back,
    a_request_not_tied_to_the_session_asks_first,
    bad_sign_out_requests_are_a_page_and_sign_nobody_out,
    post_logout_redirect_uris_are_registered_per_app,
    the_console_registers_logout_addresses_and_the_par_requirement,
);

const BACK: &str = "https://app.example/signed-out";

/// Jane signed in on `browser`; her ID token.
async fn signed_in(setup: &Setup, browser: &Browser) -> String {
    let done = sign_in_and_approve(setup, browser, &authorize_url(&setup.app, &setup.client, &[])).await;
    let code = location(&done).1["code"].clone();
    let tokens = exchange(setup, &code, &[]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    tokens.json()["id_token"].as_str().unwrap().to_owned()
}

fn logout_url(setup: &Setup, params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    setup.app.url(&format!("/oauth2/logout?{query}"))
}

/// Whether `browser` is still signed in, asked the way an app would.
async fn still_signed_in(setup: &Setup, browser: &Browser) -> bool {
    let silent = browser.get(&authorize_url(&setup.app, &setup.client, &[("prompt", "none")])).await;
    location(&silent).1.get("error").map(String::as_str) != Some("login_required")
}

async fn an_app_signs_its_user_out_and_gets_the_browser_back(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let browser = Browser::new();
    let id_token = signed_in(&setup, &browser).await;
    assert!(still_signed_in(&setup, &browser).await);

    let params = [("id_token_hint", id_token.as_str()), ("post_logout_redirect_uri", BACK), ("state", "s&1")];
    let response = browser.get(&logout_url(&setup, &params)).await;
    assert_eq!(response.status, 302, "{}", response.body);
    assert_eq!(response.header("location"), Some("https://app.example/signed-out?state=s%261"));
    assert_eq!(response.header("clear-site-data"), Some("\"cookies\""));
    assert!(!still_signed_in(&setup, &browser).await, "the session is gone");

    // An expired ID token still says who is signed in; without a return
    // address the page says it is done.
    let id_token = signed_in(&setup, &browser).await;
    setup.app.clock.advance(2 * 86_400);
    let response = browser.get(&logout_url(&setup, &[("id_token_hint", &id_token)])).await;
    assert_eq!(response.status, 200);
    assert!(response.body.contains("You are signed out"), "{}", response.body);
    assert!(!still_signed_in(&setup, &browser).await);

    // Nobody signed in: straight back.
    let again = browser
        .get(&logout_url(&setup, &[("client_id", &setup.client.id), ("post_logout_redirect_uri", BACK)]))
        .await;
    assert_eq!((again.status, again.header("location")), (302, Some(BACK)));

    let metadata = setup.app.get("/.well-known/openid-configuration").await.json();
    assert_eq!(metadata["end_session_endpoint"], "https://tessera.test/oauth2/logout");
}

async fn a_request_not_tied_to_the_session_asks_first(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let app = &setup.app;
    // Bob's ID token while jane is signed in: not jane's request.
    crate::console::add_user(app, "bob", tessera::domain::Role::User, PASSWORD).await;
    let bob = Browser::new();
    let login = bob.get(&authorize_url(app, &setup.client, &[])).await;
    let consent = bob
        .submit(app, &login, &[("username", "bob"), ("password", PASSWORD), ("tessera_action", "login")])
        .await;
    let done = bob.submit(app, &consent, &[("tessera_action", "consent")]).await;
    let bob_token = exchange(&setup, &location(&done).1["code"], &[]).await.json()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let browser = Browser::new();
    signed_in(&setup, &browser).await;
    for params in [
        vec![("client_id", setup.client.id.as_str()), ("post_logout_redirect_uri", BACK), ("state", "s2")],
        vec![("id_token_hint", bob_token.as_str()), ("post_logout_redirect_uri", BACK), ("state", "s2")],
    ] {
        let page = browser.get(&logout_url(&setup, &params)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("Sign out of Tessera?") && page.body.contains("Demo &#60;App&#62;"),
            "{}",
            page.body
        );
        assert!(still_signed_in(&setup, &browser).await, "asking is not signing out");
    }
    // Confirmed with the form: out, and back with state.
    let page = browser
        .get(&logout_url(
            &setup,
            &[("client_id", &setup.client.id), ("post_logout_redirect_uri", BACK), ("state", "s2")],
        ))
        .await;
    let mut fields = hidden_fields(&page.body);
    fields.push(("tessera_action".into(), "logout".into()));
    let done = browser.post(&app.url("/oauth2/logout"), &fields, HeaderMap::new()).await;
    assert_eq!(
        (done.status, done.header("location")),
        (303, Some("https://app.example/signed-out?state=s2"))
    );
    assert!(!still_signed_in(&setup, &browser).await);
}

fn refused_page(response: &Response, why: &str) {
    assert_eq!(response.status, 400, "{why}: {}", response.body);
    assert!(response.header("location").is_none(), "{why}: never a redirect");
}

async fn bad_sign_out_requests_are_a_page_and_sign_nobody_out(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let browser = Browser::new();
    let id_token = signed_in(&setup, &browser).await;
    let (header, claims) = jwt_parts(&id_token);
    let forged = KeyHolder::new(&[("outside", "RS256")]).sign_with_header("outside", &header, &claims);
    let client = setup.client.id.as_str();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", "https://app.example/signed-out/"),
            ],
            "a trailing slash",
        ),
        (
            vec![("id_token_hint", &id_token), ("post_logout_redirect_uri", "https://evil.example/")],
            "not registered",
        ),
        (
            vec![("client_id", client), ("post_logout_redirect_uri", "https://app.example/cb")],
            "a login redirect URI is not a logout one",
        ),
        (vec![("post_logout_redirect_uri", BACK)], "no client to check it against"),
        (vec![("id_token_hint", &forged), ("post_logout_redirect_uri", BACK)], "signed by another key"),
        (vec![("id_token_hint", "not.a.jwt")], "not a JWT"),
        (vec![("id_token_hint", &id_token), ("client_id", &setup.jira.id)], "another client than the hint's"),
        (vec![("client_id", "no-such-client"), ("post_logout_redirect_uri", BACK)], "unknown client"),
    ];
    for (params, why) in cases {
        refused_page(&browser.get(&logout_url(&setup, &params)).await, why);
        assert!(still_signed_in(&setup, &browser).await, "{why}: nobody signed out");
    }
    let repeated = format!(
        "{}&post_logout_redirect_uri={BACK}",
        logout_url(&setup, &[("client_id", client), ("post_logout_redirect_uri", BACK)])
    );
    refused_page(&browser.get(&repeated).await, "a repeated parameter");
}

async fn post_logout_redirect_uris_are_registered_per_app(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let admin = &setup.app.core.admin;
    let draft = |uris: &[&str], grants: &[&str]| ClientDraft {
        name: "Portal".into(),
        client_type: "public".into(),
        grants: grants.iter().map(|g| g.to_string()).collect(),
        redirect_uris: if grants.contains(&"authorization_code") {
            vec!["https://portal.example/cb".into()]
        } else {
            Vec::new()
        },
        post_logout_redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
        ..ClientDraft::default()
    };
    let made = admin
        .create_client(
            &tester(),
            draft(&["https://portal.example/bye", "http://127.0.0.1:8400/bye"], &["authorization_code"])
                .parse()
                .unwrap(),
        )
        .await
        .unwrap();
    let shown: Value = serde_json::to_value(tessera::domain::App::from(&made.client)).unwrap();
    assert_eq!(
        shown["post_logout_redirect_uris"],
        json!(["http://127.0.0.1:8400/bye", "https://portal.example/bye"])
    );
    for (uris, grants, says) in [
        (vec!["http://portal.example/bye"], vec!["authorization_code"], "https"),
        (vec!["https://portal.example/bye#x"], vec!["authorization_code"], "fragment"),
        (vec!["https://a.example/x", "https://a.example/x"], vec!["authorization_code"], "twice"),
    ] {
        let errors = draft(&uris, &grants)
            .parse()
            .map(|new| new.validate().map(|_| ()).map_err(|e| vec![e]))
            .unwrap_or_else(Err)
            .unwrap_err();
        assert!(
            errors.iter().any(|e| e.field == Some("post_logout_redirect_uris") && e.message.contains(says)),
            "{uris:?}: {errors:?}"
        );
    }

    // The same through the admin API (and so the console and the command
    // line, which read the same draft).
    let app = &setup.app;
    let token = app.access_token(&admin_client(app).await).await;
    let mut body = json!({
        "name": "Wiki", "client_type": "public", "grants": ["authorization_code"],
        "redirect_uris": ["https://wiki.example/cb"], "post_logout_redirect_uris": ["https://wiki.example/bye"],
    });
    let created = call(app, &token, "post", "/api/v1/apps", Some(body.clone())).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["app"]["post_logout_redirect_uris"], json!(["https://wiki.example/bye"]));
    body["post_logout_redirect_uris"] = json!(["ftp://wiki.example/bye"]);
    let refused = call(app, &token, "post", "/api/v1/apps", Some(body)).await;
    assert_eq!((refused.status, refused.json()["field"].clone()), (400, json!("post_logout_redirect_uris")));
}

/// The console's app form registers post-logout redirect URIs (one per
/// line) and the PAR requirement, and refuses a bad URI on its field.
async fn the_console_registers_logout_addresses_and_the_par_requirement(backend: Backend) {
    let (app, mut console) = crate::console::admin_console(backend).await;
    console.get("/console/apps/new").await;
    let fields = |logout: &'static str| {
        vec![
            ("name", "Portal"),
            ("client_type", "public"),
            ("grants", "authorization_code"),
            ("redirect_uris", "https://portal.example/cb"),
            ("post_logout_redirect_uris", logout),
            ("scopes", "openid"),
            ("auth_method", "none"),
            ("token_format", "jwt"),
            ("pkce", "required"),
            ("require_pushed_authorization_requests", "on"),
        ]
    };
    let bad = console.post("/console/apps", &fields("http://portal.example/bye")).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let errors = crate::console::field_errors(&bad.body);
    assert!(errors.iter().any(|e| e.contains("https")), "{errors:?}");

    let made = console
        .post("/console/apps", &fields("https://portal.example/bye\nhttps://portal.example/bye2"))
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let id = crate::console::client_id_on(&made.body);
    let shown = console.get(&format!("/console/apps/{id}")).await;
    assert!(shown.body.contains("<code>https://portal.example/bye</code>"), "{}", shown.body);
    assert!(shown.body.contains("<code>https://portal.example/bye2</code>"));
    assert!(shown.body.contains("Pushed requests (PAR)</dt><dd>required"), "{}", shown.body);
    let stored = app.core.admin.find_client(&id).await.unwrap();
    assert!(stored.require_par);
    assert_eq!(stored.post_logout_redirect_uris.len(), 2);
}
