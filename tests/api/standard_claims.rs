//! People's standard claims (issue 15): kept in the profile (command line,
//! API, console), released per scope (OIDC Core §5.4) and as the `claims`
//! request parameter names them (Core §5.5).

use std::sync::Arc;

use serde_json::{json, Value};
use tessera::clock::ManualClock;
use tessera::domain::{ClientType, PkcePolicy, UnixTime, Username};

use crate::admin_api::{admin_client, call};
use crate::authorize::{authorize_url, exchange, location, setup_with, Setup, PASSWORD};
use crate::both_backends;
use crate::console::{admin_console, field_errors};
use crate::support::browser::Browser;
use crate::support::cli::{tessera, tessera_with_input};
use crate::support::{jwt_parts, send, spawn_node, Backend, TestData};

both_backends!(
    the_profile_is_kept_from_the_command_line,
    the_profile_is_kept_from_the_api_and_the_console,
    scopes_release_the_standard_claims,
    the_claims_parameter_releases_what_it_names_where_it_names_it,
    a_claims_parameter_that_is_not_usable_is_refused,
);

fn text(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap_or_else(|| panic!("no {name} in {value}")).to_owned()
}

async fn the_profile_is_kept_from_the_command_line(backend: Backend) {
    let data = Arc::new(TestData::new(backend).await);
    let create = [
        "user",
        "create",
        "--username",
        "alice",
        "--email",
        "alice@example.com",
        "--given-name",
        "Alice",
        "--family-name",
        "Liddell",
        "--email-verified",
        "--locale",
        "en-GB",
        "--zoneinfo",
        "Europe/London",
        "--password-stdin",
        "--json",
    ];
    let created = tessera_with_input(&data, &create, "alice's long password\n").await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let shown = created.json();
    assert_eq!(
        (
            &shown["given_name"],
            &shown["family_name"],
            &shown["email_verified"],
            &shown["locale"],
            &shown["zoneinfo"]
        ),
        (&json!("Alice"), &json!("Liddell"), &json!(true), &json!("en-GB"), &json!("Europe/London"))
    );

    // Update: what is given changes, an empty value clears, the rest stays.
    let update =
        ["user", "update", "alice", "--locale", "fr", "--family-name", "", "--email-verified", "false"];
    let updated = tessera(&data, &[&update[..], &["--json"]].concat()).await;
    assert_eq!(updated.code, 0, "{}", updated.stderr);
    let shown = updated.json();
    assert_eq!((&shown["locale"], &shown["given_name"]), (&json!("fr"), &json!("Alice")));
    assert!(shown["family_name"].is_null() && shown["email_verified"] == json!(false), "{shown}");

    for (args, says) in [
        (vec!["user", "update", "alice", "--locale", "en_GB"], "use '-', not '_'"),
        (vec!["user", "update", "alice", "--zoneinfo", "../etc/passwd"], "not a time zone"),
        (vec!["user", "update", "nobody", "--locale", "en"], "no user"),
        (vec!["user", "update", "alice", "--email", "not-an-email"], "not an email address"),
    ] {
        let output = tessera(&data, &args).await;
        assert_ne!(output.code, 0, "{args:?}");
        assert_eq!(output.stderr.trim_end().lines().count(), 1, "{}", output.stderr);
        assert!(output.stderr.contains(says), "{args:?}: {}", output.stderr);
    }
    let node = spawn_node(data.clone(), data.raw_settings(), ManualClock::new(UnixTime::now())).await;
    let alice = node.core.accounts.find_user(&Username::parse("alice").unwrap()).await.unwrap();
    assert_eq!(alice.profile.locale.as_deref(), Some("fr"), "refusals changed nothing");
}

async fn the_profile_is_kept_from_the_api_and_the_console(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    let admin = admin_client(&app).await;
    let token = app.access_token(&admin).await;
    let mut body = json!({
        "username": "carol", "email": "carol@example.com", "password": "carol's long password",
        "given_name": "Carol", "family_name": "Danvers", "email_verified": true,
        "locale": "en-US", "zoneinfo": "America/New_York",
    });
    let created = call(&app, &token, "post", "/api/v1/users", Some(body.clone())).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let user = created.json();
    assert_eq!((&user["given_name"], &user["zoneinfo"]), (&json!("Carol"), &json!("America/New_York")));
    assert!(user["updated_at"].as_i64().is_some());

    body.as_object_mut().unwrap().remove("password");
    body["zoneinfo"] = json!("Not A Zone");
    let refused = call(&app, &token, "put", "/api/v1/users/carol", Some(body.clone())).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.json()["field"], "zoneinfo");
    body["zoneinfo"] = json!("America/Chicago");
    body["locale"] = Value::Null;
    let changed = call(&app, &token, "put", "/api/v1/users/carol", Some(body)).await.json();
    assert_eq!((&changed["zoneinfo"], &changed["locale"]), (&json!("America/Chicago"), &Value::Null));

    let fields = [
        ("username", "dave"),
        ("email", "dave@example.com"),
        ("role", "user"),
        ("password", "dave's long password"),
        ("given_name", "Dave"),
        ("locale", "en_GB"),
        ("email_verified", "on"),
    ];
    let bad = console.post("/console/users", &fields).await;
    assert_eq!(bad.status, 400);
    assert!(field_errors(&bad.body).iter().any(|e| e.contains("not a language tag")), "{}", bad.body);
    assert!(bad.body.contains("value=\"Dave\""), "what was typed stays in the form");
    let good: Vec<(&str, &str)> =
        fields.iter().map(|&(k, v)| if k == "locale" { (k, "en-GB") } else { (k, v) }).collect();
    assert_eq!(console.post("/console/users", &good).await.status, 303);
    let dave = app.core.accounts.find_user(&Username::parse("dave").unwrap()).await.unwrap();
    assert_eq!(
        (dave.profile.given_name.as_deref(), dave.profile.locale.as_deref(), dave.profile.email_verified),
        (Some("Dave"), Some("en-GB"), true)
    );
    let page = console.get("/console/users/dave").await;
    assert!(
        page.body.contains("value=\"en-GB\"")
            && page.body.contains("name=\"email_verified\" value=\"on\" checked")
    );
}

/// Jane signs in on a fresh browser; the approved redirect.
async fn approve(setup: &Setup, extra: &[(&str, &str)]) -> (Browser, String) {
    let app = &setup.app;
    let browser = Browser::new();
    let login = browser.get(&authorize_url(app, &setup.client, extra)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = browser
        .submit(app, &login, &[("username", "jane"), ("password", PASSWORD), ("tessera_action", "login")])
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let body = consent.body.clone();
    let done = browser.submit(app, &consent, &[("tessera_action", "consent")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    (browser, format!("{}\n{body}", location(&done).1["code"]))
}

/// Tokens for jane after consent; the consent page's HTML too.
async fn tokens(setup: &Setup, extra: &[(&str, &str)]) -> (Value, String) {
    let (_, both) = approve(setup, extra).await;
    let (code, page) = both.split_once('\n').unwrap();
    let response = exchange(setup, code, &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    (response.json(), page.to_owned())
}

async fn userinfo(setup: &Setup, access_token: &str) -> Value {
    let app = &setup.app;
    let response = send(app.http.get(app.url("/oauth2/userinfo")).bearer_auth(access_token)).await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()
}

async fn scopes_release_the_standard_claims(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let (body, _) = tokens(&setup, &[("scope", "openid profile email")]).await;
    let (_, id_token) = jwt_parts(&text(&body, "id_token"));
    let info = userinfo(&setup, &text(&body, "access_token")).await;
    for claims in [&id_token, &info] {
        assert_eq!(claims["name"], "Jane Doe");
        assert_eq!(claims["given_name"], "Jane");
        assert_eq!(claims["family_name"], "Doe");
        assert_eq!(claims["locale"], "en-GB");
        assert_eq!(claims["zoneinfo"], "Europe/London");
        assert_eq!(claims["email"], "jane@example.com");
        assert_eq!(claims["email_verified"], true);
        assert!(claims["updated_at"].as_i64().is_some(), "{claims}");
    }
    let (body, _) = tokens(&setup, &[("scope", "openid email")]).await;
    let info = userinfo(&setup, &text(&body, "access_token")).await;
    let mut names: Vec<&String> = info.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["email", "email_verified", "sub"], "email alone: no profile claims");

    let metadata = setup.app.get("/.well-known/openid-configuration").await.json();
    assert_eq!(metadata["claims_parameter_supported"], true);
    for claim in ["given_name", "family_name", "email_verified", "locale", "zoneinfo", "updated_at"] {
        assert!(metadata["claims_supported"].as_array().unwrap().contains(&json!(claim)), "{claim}");
    }
}

async fn the_claims_parameter_releases_what_it_names_where_it_names_it(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let claims = json!({
        "id_token": {"email": {"essential": true}, "given_name": null, "acr": {"values": ["1"]}},
        "userinfo": {"locale": null, "email_verified": null, "no_such_claim": null},
    })
    .to_string();
    let (body, consent) = tokens(&setup, &[("scope", "openid offline_access"), ("claims", &claims)]).await;
    // The consent page names what the scope does not cover.
    for claim in ["email", "given_name", "locale", "email_verified"] {
        assert!(consent.contains(&format!("<code>{claim}</code>")), "{claim}: {consent}");
    }
    assert!(!consent.contains("<code>no_such_claim</code>"));

    let (_, id_token) = jwt_parts(&text(&body, "id_token"));
    assert_eq!(
        (&id_token["email"], &id_token["given_name"], &id_token["acr"]),
        (&json!("jane@example.com"), &json!("Jane"), &json!("1"))
    );
    assert!(id_token.get("locale").is_none() && id_token.get("preferred_username").is_none(), "{id_token}");
    let info = userinfo(&setup, &text(&body, "access_token")).await;
    assert_eq!((&info["locale"], &info["email_verified"]), (&json!("en-GB"), &json!(true)));
    assert!(info.get("email").is_none() && info.get("given_name").is_none(), "{info}");

    // The refresh keeps the grant's claims request.
    let refreshed = setup
        .app
        .post_form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &text(&body, "refresh_token")),
                ("client_id", &setup.client.id),
            ],
        )
        .await
        .json();
    let (_, again) = jwt_parts(&text(&refreshed, "id_token"));
    assert_eq!(again["given_name"], "Jane");
    let info = userinfo(&setup, &text(&refreshed, "access_token")).await;
    assert_eq!(info["locale"], "en-GB");
}

async fn a_claims_parameter_that_is_not_usable_is_refused(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let app = &setup.app;
    let browser = Browser::new();
    let essential_acr =
        json!({"id_token": {"acr": {"essential": true, "values": ["urn:example:mfa"]}}}).to_string();
    for (claims, error, says) in [
        ("{not json", "invalid_request", "claims is not valid JSON"),
        ("[\"email\"]", "invalid_request", "claims must be a JSON object"),
        ("{\"userinfo\":{\"email\":\"yes\"}}", "invalid_request", "null or a JSON object"),
        (essential_acr.as_str(), "access_denied", "acr"),
    ] {
        let response = browser.get(&authorize_url(app, &setup.client, &[("claims", claims)])).await;
        let (base, query) = location(&response);
        assert_eq!(base, "https://app.example/cb", "{claims}");
        assert_eq!(query.get("error").map(String::as_str), Some(error), "{claims}");
        assert!(query["error_description"].contains(says), "{claims}: {query:?}");
        assert_eq!(query["state"], "st-1");
    }
}
