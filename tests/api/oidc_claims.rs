//! OpenID Connect at the edges a stock relying party touches (issue 15):
//! unknown scope values ignored, `acr`/`amr`, what userinfo releases per
//! scope, and `id_token_hint`.

use serde_json::{json, Value};
use tessera::clock::Clock as _;
use tessera::crypto::jwt::sign_jwt;
use tessera::domain::{ClientType, Email, NewUser, Password, PkcePolicy, Role, Username};

use crate::authorize::{authorize_url, exchange, location, setup_with, sign_in_and_approve, Setup, PASSWORD};
use crate::both_backends;
use crate::support::browser::Browser;
use crate::support::outside_keys::KeyHolder;
use crate::support::{jwt_parts, send, tester, Backend};

both_backends!(
    unknown_scope_values_are_ignored_and_known_ones_still_refused,
    id_tokens_say_how_the_person_signed_in,
    userinfo_releases_the_username_with_profile_only,
    an_id_token_hint_must_be_ours_and_for_this_client,
    an_id_token_hint_naming_someone_else_asks_for_sign_in,
);

/// Signs `username` in on a fresh browser and returns the token response.
async fn tokens_of(setup: &Setup, username: &str, scope: &str) -> Value {
    let app = &setup.app;
    let browser = Browser::new();
    let login = browser.get(&authorize_url(app, &setup.client, &[("scope", scope)])).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = browser
        .submit(app, &login, &[("username", username), ("password", PASSWORD), ("tessera_action", "login")])
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let done = browser.submit(app, &consent, &[("tessera_action", "consent")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let code = location(&done).1["code"].clone();
    let response = exchange(setup, &code, &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()
}

async fn add_bob(setup: &Setup) {
    setup
        .app
        .core
        .accounts
        .create_user(
            &tester(),
            NewUser {
                username: Username::parse("bob").unwrap(),
                email: Email::parse("bob@example.com").unwrap(),
                display_name: None,
                profile: Default::default(),
                password: Password::parse(PASSWORD).unwrap(),
                role: Role::User,
            },
        )
        .await
        .unwrap();
}

fn text(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap_or_else(|| panic!("no {name} in {value}")).to_owned()
}

async fn unknown_scope_values_are_ignored_and_known_ones_still_refused(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let app = &setup.app;
    // What many stock clients send: address and phone are not scopes here.
    let body = tokens_of(&setup, "jane", "openid profile email address phone offline_access").await;
    assert_eq!(text(&body, "scope"), "email offline_access openid profile");
    assert!(body.get("id_token").is_some());

    // Known to the server but not the client's: refused, as before.
    let browser = Browser::new();
    let unknown = browser.get(&authorize_url(app, &setup.client, &[("scope", "openid jira:admin")])).await;
    assert_eq!(unknown.status, 200, "jira:admin is unknown so far: ignored, on to sign-in");
    app.scope("jira:admin").await;
    let refused = browser.get(&authorize_url(app, &setup.client, &[("scope", "openid jira:admin")])).await;
    assert_eq!(location(&refused).1.get("error").map(String::as_str), Some("invalid_scope"));

    // The token endpoint keeps invalid_scope for anything outside the grant.
    let refreshed = app
        .post_form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &text(&body, "refresh_token")),
                ("client_id", &setup.client.id),
                ("scope", "openid address"),
            ],
        )
        .await;
    refreshed.assert_oauth_error(400, "invalid_scope");
}

async fn id_tokens_say_how_the_person_signed_in(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let body = tokens_of(&setup, "jane", "openid").await;
    let (_, claims) = jwt_parts(&text(&body, "id_token"));
    assert_eq!(claims["acr"], "1");
    assert_eq!(claims["amr"], json!(["pwd"]));
    let metadata = setup.app.get("/.well-known/openid-configuration").await.json();
    assert_eq!(metadata["acr_values_supported"], json!(["1"]));
    let claims_supported = metadata["claims_supported"].as_array().unwrap();
    assert!(claims_supported.contains(&json!("acr")) && claims_supported.contains(&json!("amr")));
}

async fn userinfo_releases_the_username_with_profile_only(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let app = &setup.app;
    let minimal = text(&tokens_of(&setup, "jane", "openid jira:read").await, "access_token");
    let claims = send(app.http.get(app.url("/oauth2/userinfo")).bearer_auth(&minimal)).await.json();
    assert_eq!(claims.as_object().unwrap().keys().collect::<Vec<_>>(), vec!["sub"], "{claims}");
    // The access token still names the person for Jira, whatever its scope.
    assert_eq!(jwt_parts(&minimal).1["username"], "jane");

    let profile = text(&tokens_of(&setup, "jane", "openid profile").await, "access_token");
    let claims = send(app.http.get(app.url("/oauth2/userinfo")).bearer_auth(&profile)).await.json();
    assert_eq!(
        (claims["preferred_username"].as_str(), claims["username"].as_str()),
        (Some("jane"), Some("jane"))
    );
    assert_eq!(claims["name"], "Jane Doe");
    assert!(claims.get("email").is_none());
}

async fn an_id_token_hint_must_be_ours_and_for_this_client(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    let app = &setup.app;
    let id_token = text(&tokens_of(&setup, "jane", "openid").await, "id_token");
    let (header, claims) = jwt_parts(&id_token);

    // Signed by another key under our kid.
    let other = KeyHolder::new(&[("outside", "RS256")]);
    let forged = other.sign_with_header("outside", &header, &claims);
    // Signed by us, but for another client.
    let mut elsewhere = claims.clone();
    elsewhere["aud"] = json!("another-client");
    let keys = app.core.keys.current();
    let foreign = sign_jwt(keys.signer(app.clock.now()).unwrap(), "JWT", &elsewhere).unwrap();
    // An access token is not an ID token.
    let access_token = text(&tokens_of(&setup, "jane", "openid").await, "access_token");

    let browser = Browser::new();
    for (hint, why) in [
        (forged.as_str(), "another key"),
        (foreign.as_str(), "another client"),
        (access_token.as_str(), "an access token"),
        ("not-a-jwt", "not a JWT"),
    ] {
        let response = browser.get(&authorize_url(app, &setup.client, &[("id_token_hint", hint)])).await;
        let (base, query) = location(&response);
        assert_eq!(base, "https://app.example/cb", "{why}");
        assert_eq!(query.get("error").map(String::as_str), Some("invalid_request"), "{why}");
        assert!(query["error_description"].contains("id_token_hint"), "{why}: {query:?}");
    }

    // Expired, it still names who signed in: honoured.
    app.clock.advance(2 * 86_400);
    let later = browser.get(&authorize_url(app, &setup.client, &[("id_token_hint", &id_token)])).await;
    assert_eq!(later.status, 200, "{}", later.body);
    assert!(later.body.contains("value=\"jane\""), "the hint fills in the username");
}

async fn an_id_token_hint_naming_someone_else_asks_for_sign_in(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, false).await;
    add_bob(&setup).await;
    let app = &setup.app;
    let jane_hint = text(&tokens_of(&setup, "jane", "openid").await, "id_token");
    let bob_hint = text(&tokens_of(&setup, "bob", "openid").await, "id_token");

    // Jane is signed in on this browser.
    let browser = Browser::new();
    let done = sign_in_and_approve(&setup, &browser, &authorize_url(app, &setup.client, &[])).await;
    assert_eq!(done.status, 303);

    // prompt=none for bob while jane is signed in: login_required, never jane's code.
    let none = [("prompt", "none"), ("id_token_hint", bob_hint.as_str())];
    let refused = browser.get(&authorize_url(app, &setup.client, &none)).await;
    assert_eq!(location(&refused).1.get("error").map(String::as_str), Some("login_required"));
    // The claims parameter can name the subject too (Core §5.5.1).
    let bob_sub = jwt_parts(&bob_hint).1["sub"].as_str().unwrap().to_owned();
    let by_sub = json!({"id_token": {"sub": {"value": bob_sub}}}).to_string();
    let refused =
        browser.get(&authorize_url(app, &setup.client, &[("prompt", "none"), ("claims", &by_sub)])).await;
    assert_eq!(location(&refused).1.get("error").map(String::as_str), Some("login_required"));
    // For jane herself the hint passes (a public client is asked to consent every time).
    let own = [("prompt", "none"), ("id_token_hint", jane_hint.as_str())];
    let passed = browser.get(&authorize_url(app, &setup.client, &own)).await;
    assert_eq!(location(&passed).1.get("error").map(String::as_str), Some("consent_required"));

    // Without prompt=none, bob's hint is a sign-in page for bob.
    let page = browser.get(&authorize_url(app, &setup.client, &[("id_token_hint", &bob_hint)])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Sign in") && page.body.contains("value=\"bob\""), "{}", page.body);
    // And login_hint fills in the form too.
    let hinted = Browser::new().get(&authorize_url(app, &setup.client, &[("login_hint", "bob")])).await;
    assert!(hinted.body.contains("value=\"bob\""));
}
