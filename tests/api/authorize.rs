//! The authorization code flow through HTTP (issue 3): authorize → sign in
//! (CSRF) → consent → redirect → code exchange with PKCE; and the bad inputs
//! of the authorization request and the code.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, HeaderValue};

use tessera::domain::{
    ClientType, Email, GrantType, NewClient, NewUser, Password, PkcePolicy, Profile, RedirectUri, Role,
    ScopeName, ScopeSet, TokenFormat, Username,
};

use crate::both_backends;
use crate::support::browser::{hidden_fields, Browser};
use crate::support::tester;
use crate::support::{jwt_parts, spawn_app, Backend, ClientSpec, Response, TestApp, TestClient, ISSUER};

both_backends!(
    a_user_signs_in_consents_and_the_code_exchanges_for_tokens,
    a_request_that_cannot_be_trusted_gets_a_page_never_a_redirect,
    bad_requests_from_a_verified_client_go_back_with_an_error,
    forms_need_their_csrf_token_and_a_same_site_origin,
    a_denied_consent_goes_back_with_access_denied,
    a_wrong_password_gets_the_same_answer_as_an_unknown_user,
    the_code_is_bound_to_client_verifier_and_redirect_uri,
    a_replayed_code_revokes_what_it_issued,
    twenty_concurrent_redemptions_of_one_code_give_one_token,
    pkce_downgrade_is_refused_for_a_legacy_client,
    prompt_none_never_shows_a_page,
    signing_out_ends_the_session,
    withdrawing_consent_ends_the_apps_tokens,
    long_parameters_are_echoed_whole_or_refused,
);

pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) struct Setup {
    pub app: TestApp,
    pub client: TestClient,
    pub jira: TestClient,
}

async fn setup(backend: Backend, kind: ClientType, pkce: PkcePolicy) -> Setup {
    setup_with(backend, kind, pkce, false).await
}

/// A user `jane`, a client of the code flow (with the refresh_token grant
/// and `offline_access` if `refresh`), and a resource-server client.
pub(crate) async fn setup_with(backend: Backend, kind: ClientType, pkce: PkcePolicy, refresh: bool) -> Setup {
    let app = spawn_app(backend).await;
    setup_on(app, kind, pkce, refresh).await
}

/// The public-client set-up on a server whose issuer is `issuer` (a real
/// browser needs a plain-http issuer to keep its session cookie).
pub(crate) async fn setup_with_issuer(backend: Backend, issuer: &str) -> Setup {
    let issuer = issuer.to_owned();
    let app = crate::support::spawn_app_with(backend, move |raw| raw.issuer = Some(issuer)).await;
    setup_on(app, ClientType::Public, PkcePolicy::Required, false).await
}

pub(crate) async fn setup_on(app: TestApp, kind: ClientType, pkce: PkcePolicy, refresh: bool) -> Setup {
    add_jane(&app).await;
    setup_apps_on(app, kind, pkce, refresh).await
}

async fn add_jane(app: &TestApp) {
    app.core
        .accounts
        .create_user(
            &tester(),
            NewUser {
                username: Username::parse("jane").unwrap(),
                email: Email::parse("jane@example.com").unwrap(),
                display_name: Some("Jane Doe".into()),
                profile: Profile {
                    given_name: Some("Jane".into()),
                    family_name: Some("Doe".into()),
                    email_verified: true,
                    locale: Some("en-GB".into()),
                    zoneinfo: Some("Europe/London".into()),
                },
                password: Password::parse(PASSWORD).unwrap(),
                role: Role::User,
            },
        )
        .await
        .unwrap();
}

/// The clients of `setup_on`, on a server whose people are already there
/// (or come from the directory).
pub(crate) async fn setup_apps_on(app: TestApp, kind: ClientType, pkce: PkcePolicy, refresh: bool) -> Setup {
    app.scope("jira:read").await;
    let created =
        app.core
            .admin
            .create_client(
                &tester(),
                NewClient {
                    name: "Demo <App>".into(),
                    client_type: kind,
                    auth_method: None,
                    token_format: TokenFormat::Jwt,
                    grants: if refresh {
                        [GrantType::AuthorizationCode, GrantType::RefreshToken].into_iter().collect()
                    } else {
                        [GrantType::AuthorizationCode].into_iter().collect()
                    },
                    scopes: ScopeSet::from_names(
                        ["openid", "profile", "email", "jira:read", "offline_access"]
                            .map(|s| ScopeName::parse(s).unwrap()),
                    ),
                    redirect_uris: vec![
                        RedirectUri::parse("http://127.0.0.1/cb").unwrap(),
                        RedirectUri::parse("https://app.example/cb").unwrap(),
                    ],
                    post_logout_redirect_uris: vec![
                        RedirectUri::parse("https://app.example/signed-out").unwrap()
                    ],
                    require_par: false,
                    audiences: Vec::new(),
                    service_account: None,
                    access_token_ttl: None,
                    refresh_token_ttl: None,
                    resource_server: false,
                    pkce,
                    keys: None,
                },
            )
            .await
            .unwrap();
    let client = TestClient {
        id: created.client.id.to_string(),
        secret: created.secret.map(|s| s.expose().to_owned()).unwrap_or_default(),
    };
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    Setup { app, client, jira }
}

pub(crate) fn authorize_url(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", client.id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", "https://app.example/cb"),
        ("scope", "openid jira:read"),
        ("state", "st-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    app.url(&format!("/oauth2/authorize?{query}"))
}

/// The query parameters of a redirect's `Location`.
pub(crate) fn location(response: &Response) -> (String, HashMap<String, String>) {
    let location = response
        .header("location")
        .unwrap_or_else(|| panic!("no redirect: {} {}", response.status, response.body));
    let url = url::Url::parse(location).unwrap();
    let base = format!("{}://{}{}", url.scheme(), url.host_str().unwrap(), url.path());
    (base, url.query_pairs().into_owned().collect())
}

/// Signs jane in and approves; returns the redirect to the client.
pub(crate) async fn sign_in_and_approve(setup: &Setup, browser: &Browser, url: &str) -> Response {
    sign_in_with_and_approve(setup, browser, url, PASSWORD).await
}

async fn sign_in_with_and_approve(setup: &Setup, browser: &Browser, url: &str, password: &str) -> Response {
    sign_in_as_and_approve(setup, browser, url, "jane", password).await
}

/// Signs `username` in with `password` and approves.
pub(crate) async fn sign_in_as_and_approve(
    setup: &Setup,
    browser: &Browser,
    url: &str,
    username: &str,
    password: &str,
) -> Response {
    let app = &setup.app;
    let login = browser.get(url).await;
    assert_eq!(login.status, 200, "{} {:?}", login.body, login.header("location"));
    assert!(login.body.contains("Sign in"), "{}", login.body);
    let consent = browser
        .submit(app, &login, &[("username", username), ("password", password), ("tessera_action", "login")])
        .await;
    if consent.status == 303 {
        return consent; // consent remembered from before
    }
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("Allow"), "{}", consent.body);
    browser.submit(app, &consent, &[("tessera_action", "consent")]).await
}

pub(crate) async fn exchange(setup: &Setup, code: &str, extra: &[(&str, &str)]) -> Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", "https://app.example/cb"),
        ("code_verifier", VERIFIER),
        ("client_id", setup.client.id.as_str()),
    ];
    for (name, value) in extra {
        form.retain(|(n, _)| n != name);
        if !value.is_empty() {
            form.push((name, value));
        }
    }
    setup.app.post_form("/oauth2/token", None, &form).await
}

/// A fresh code for jane, through the whole browser flow.
pub(crate) async fn code_for(setup: &Setup, extra: &[(&str, &str)]) -> String {
    let browser = Browser::new();
    let done = sign_in_and_approve(setup, &browser, &authorize_url(&setup.app, &setup.client, extra)).await;
    assert_eq!(done.status, 303, "{}", done.body);
    location(&done).1["code"].clone()
}

/// A fresh code for jane (scope `openid jira:read offline_access`), signing
/// in with `password`.
pub(crate) async fn code_for_password(setup: &Setup, password: &str) -> String {
    let browser = Browser::new();
    let url = authorize_url(&setup.app, &setup.client, &[("scope", "openid jira:read offline_access")]);
    let done = sign_in_with_and_approve(setup, &browser, &url, password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    location(&done).1["code"].clone()
}

async fn a_user_signs_in_consents_and_the_code_exchanges_for_tokens(backend: Backend) {
    let setup = setup(backend, ClientType::Public, PkcePolicy::Required).await;
    let app = &setup.app;
    let browser = Browser::new();
    let state = "\"><script>alert(1)</script> & ünïcode\r\n";
    let url = authorize_url(
        app,
        &setup.client,
        &[("state", state), ("redirect_uri", "http://127.0.0.1:53123/cb"), ("extra", "foobar")],
    );

    let login = browser.get(&url).await;
    assert_eq!(login.status, 200);
    assert_eq!(login.header("x-frame-options"), Some("DENY"));
    assert_eq!(login.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let csp = login.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("form-action"), "{csp}");
    assert!(!login.body.contains("<script>"), "escaped on the page: {}", login.body);
    assert!(
        login.body.contains("Demo &#60;App&#62;") || login.body.contains("Demo &lt;App&gt;"),
        "{}",
        login.body
    );
    let anonymous_cookie = login.header("set-cookie").unwrap().to_owned();
    assert!(anonymous_cookie.contains("HttpOnly") && anonymous_cookie.contains("SameSite=Lax"));

    let consent = browser
        .submit(
            app,
            &login,
            &[("username", "JANE@example.com"), ("password", PASSWORD), ("tessera_action", "login")],
        )
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let signed_in_cookie = consent.header("set-cookie").expect("a new session id at sign-in");
    assert_ne!(signed_in_cookie.split(';').next(), anonymous_cookie.split(';').next());
    assert!(consent.body.contains("jira:read") && consent.body.contains("openid"));

    let done = browser.submit(app, &consent, &[("tessera_action", "consent")]).await;
    assert_eq!(done.status, 303, "never 307 after a form post");
    let (base, query) = location(&done);
    assert_eq!(base, "http://127.0.0.1/cb");
    assert!(done.header("location").unwrap().starts_with("http://127.0.0.1:53123/cb?"));
    assert_eq!(query["state"], state, "state comes back byte for byte");
    assert_eq!(query["iss"], ISSUER);
    assert_eq!(query["code"].len(), 43);

    let tokens = exchange(&setup, &query["code"], &[("redirect_uri", "http://127.0.0.1:53123/cb")]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    let body = tokens.json();
    assert_eq!(body["scope"], "jira:read openid");
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["username"], "jane");
    assert_eq!(claims["email"], "jane@example.com");
    assert_eq!(claims["client_id"], setup.client.id.as_str());
    assert_ne!(claims["sub"], "jane", "sub is the user's stable id, not the renamable username");
    let introspected = app.introspect(&setup.jira, body["access_token"].as_str().unwrap()).await.json();
    assert_eq!(
        (introspected["active"].as_bool(), introspected["username"].as_str()),
        (Some(true), Some("jane"))
    );

    // A public client is asked again next time (SEC-A21), but the user stays signed in.
    let again = browser.get(&authorize_url(app, &setup.client, &[])).await;
    assert!(again.body.contains("Allow") && !again.body.contains("Sign in"), "{}", again.body);
}

async fn a_request_that_cannot_be_trusted_gets_a_page_never_a_redirect(backend: Backend) {
    let setup = setup(backend, ClientType::Public, PkcePolicy::Required).await;
    let app = &setup.app;
    let browser = Browser::new();
    let id = setup.client.id.as_str();
    let mut cases: Vec<String> = vec![
        authorize_url(app, &setup.client, &[("client_id", "")]),
        authorize_url(app, &setup.client, &[("client_id", "unknown-client")]),
        authorize_url(app, &setup.client, &[("redirect_uri", "")]),
        authorize_url(app, &setup.client, &[("redirect_uri", "https://app.example/cb#frag")]),
        authorize_url(app, &setup.client, &[("redirect_uri", "http://localhost:53123/cb")]),
        app.url(&format!("/oauth2/authorize?client_id={id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code")),
    ];
    for variant in [
        "https://app.example/cb/",
        "https://app.example/CB",
        "https://app.example/cb?x=1",
        "https://app.example:443/cb",
        "https://app.example.evil.com/cb",
        "https://app.example@evil.com/cb",
        "https://app.example/cb/../cb",
        "http://app.example/cb",
    ] {
        cases.push(authorize_url(app, &setup.client, &[("redirect_uri", variant)]));
    }
    for url in cases {
        let response = browser.get(&url).await;
        assert_eq!(response.status, 400, "{url}");
        assert!(response.header("location").is_none(), "{url} must not redirect");
        assert!(response.body.contains("could not trust") || response.body.contains("cannot be completed"));
    }
    app.core.admin.set_client_enabled(&tester(), &setup.client.id, false).await.unwrap();
    let disabled = browser.get(&authorize_url(app, &setup.client, &[])).await;
    assert_eq!((disabled.status, disabled.header("location")), (400, None));
}

async fn bad_requests_from_a_verified_client_go_back_with_an_error(backend: Backend) {
    let setup = setup(backend, ClientType::Public, PkcePolicy::Required).await;
    let app = &setup.app;
    // Known here but not the client's (an unknown one would be ignored).
    app.scope("jira:admin").await;
    let browser = Browser::new();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("response_type", "")], "invalid_request"),
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("response_type", "code id_token")], "unsupported_response_type"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge_method", "S512")], "invalid_request"),
        (vec![("code_challenge", "tooshort")], "invalid_request"),
        (vec![("scope", "openid jira:admin")], "invalid_scope"),
        (vec![("scope", "bad\"scope")], "invalid_scope"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("prompt", "none")], "login_required"),
        (vec![("request", "eyJ.x.y")], "request_not_supported"),
        (vec![("response_mode", "fragment")], "invalid_request"),
        (vec![("max_age", "-1")], "invalid_request"),
    ];
    for (extra, error) in cases {
        let response = browser.get(&authorize_url(app, &setup.client, &extra)).await;
        assert_eq!(response.status, 302, "{extra:?}: {}", response.body);
        let (base, query) = location(&response);
        assert_eq!(base, "https://app.example/cb");
        assert_eq!(query.get("error").map(String::as_str), Some(error), "{extra:?}");
        assert_eq!(query["state"], "st-1");
        assert_eq!(query["iss"], ISSUER);
    }
    let repeated = format!("{}&scope=openid", authorize_url(app, &setup.client, &[]));
    let response = browser.get(&repeated).await;
    assert_eq!(location(&response).1["error"], "invalid_request");
    let without_state =
        browser.get(&authorize_url(app, &setup.client, &[("state", ""), ("response_type", "")])).await;
    assert!(!location(&without_state).1.contains_key("state"), "an empty state is absent");
    // A request_uri is only ever one Tessera issued for a pushed request:
    // anything else is a page, and nothing it names is fetched.
    let foreign =
        browser.get(&authorize_url(app, &setup.client, &[("request_uri", "https://x.example/r")])).await;
    assert_eq!((foreign.status, foreign.header("location")), (400, None));
}

async fn forms_need_their_csrf_token_and_a_same_site_origin(backend: Backend) {
    let setup = setup(backend, ClientType::Public, PkcePolicy::Required).await;
    let app = &setup.app;
    let browser = Browser::new();
    let login = browser.get(&authorize_url(app, &setup.client, &[])).await;
    let mut fields: Vec<(String, String)> =
        hidden_fields(&login.body).into_iter().filter(|(k, _)| k != "tessera_csrf").collect();
    fields.extend(
        [("username", "jane"), ("password", PASSWORD), ("tessera_action", "login")]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let forged = browser.post(&app.url("/oauth2/authorize"), &fields, HeaderMap::new()).await;
    assert_eq!(forged.status, 403);
    assert!(forged.header("set-cookie").is_none(), "no session is created");

    let mut cross_site = HeaderMap::new();
    cross_site.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    let mut with_token = hidden_fields(&login.body);
    with_token.extend(
        [("username", "jane"), ("password", PASSWORD), ("tessera_action", "login")]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let from_elsewhere = browser.post(&app.url("/oauth2/authorize"), &with_token, cross_site).await;
    assert_eq!(from_elsewhere.status, 403);

    let other_browser = Browser::new();
    let stolen = other_browser.post(&app.url("/oauth2/authorize"), &with_token, HeaderMap::new()).await;
    assert_eq!(stolen.status, 403, "the token is bound to its own session");
}

async fn a_denied_consent_goes_back_with_access_denied(backend: Backend) {
    let setup = setup(backend, ClientType::Public, PkcePolicy::Required).await;
    let app = &setup.app;
    let browser = Browser::new();
    let login = browser.get(&authorize_url(app, &setup.client, &[])).await;
    let consent = browser
        .submit(app, &login, &[("username", "jane"), ("password", PASSWORD), ("tessera_action", "login")])
        .await;
    let denied = browser.submit(app, &consent, &[("tessera_action", "deny")]).await;
    assert_eq!(denied.status, 303);
    let (_, query) = location(&denied);
    assert_eq!(
        (query["error"].as_str(), query["state"].as_str(), query["iss"].as_str()),
        ("access_denied", "st-1", ISSUER)
    );
    assert!(!query.contains_key("code"));
}

async fn a_wrong_password_gets_the_same_answer_as_an_unknown_user(backend: Backend) {
    let setup = setup(backend, ClientType::Public, PkcePolicy::Required).await;
    let app = &setup.app;
    let browser = Browser::new();
    let login = browser.get(&authorize_url(app, &setup.client, &[])).await;
    let wrong = browser
        .submit(
            app,
            &login,
            &[("username", "jane"), ("password", "wrong password!"), ("tessera_action", "login")],
        )
        .await;
    let unknown = browser
        .submit(app, &login, &[("username", "nobody"), ("password", PASSWORD), ("tessera_action", "login")])
        .await;
    assert_eq!(wrong.status, unknown.status);
    for page in [&wrong, &unknown] {
        assert!(page.body.contains("The username or password is not right."), "{}", page.body);
        assert!(
            !page.body.contains(PASSWORD) && !page.body.contains("wrong password!"),
            "passwords are never echoed"
        );
    }
    app.core.accounts.set_user_enabled(&tester(), &Username::parse("jane").unwrap(), false).await.unwrap();
    let disabled = browser
        .submit(app, &login, &[("username", "jane"), ("password", PASSWORD), ("tessera_action", "login")])
        .await;
    assert!(disabled.body.contains("The username or password is not right."));
    // After five failures for one account, sign-in waits (per-account back-off).
    app.core.accounts.set_user_enabled(&tester(), &Username::parse("jane").unwrap(), true).await.unwrap();
    for _ in 0..3 {
        browser
            .submit(
                app,
                &login,
                &[("username", "jane"), ("password", "wrong password!"), ("tessera_action", "login")],
            )
            .await;
    }
    let blocked = browser
        .submit(app, &login, &[("username", "jane"), ("password", PASSWORD), ("tessera_action", "login")])
        .await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    assert!(blocked.body.contains("Too many failed sign-ins"));
}

async fn the_code_is_bound_to_client_verifier_and_redirect_uri(backend: Backend) {
    let setup = setup(backend, ClientType::Public, PkcePolicy::Required).await;
    let code = code_for(&setup, &[]).await;
    exchange(&setup, &code, &[("code_verifier", "")]).await.assert_oauth_error(400, "invalid_grant");
    exchange(&setup, &code, &[("code_verifier", &"a".repeat(43))])
        .await
        .assert_oauth_error(400, "invalid_grant");
    exchange(&setup, &code, &[("code_verifier", "short")]).await.assert_oauth_error(400, "invalid_request");
    exchange(&setup, &code, &[("redirect_uri", "http://127.0.0.1/cb")])
        .await
        .assert_oauth_error(400, "invalid_grant");
    let other = setup.app.core.admin.find_client(&setup.client.id).await.unwrap();
    assert_eq!(other.client_type, ClientType::Public);
    let intruder = setup.app.create_client(ClientSpec::default()).await;
    exchange(&setup, &code, &[("client_id", &intruder.id)]).await.assert_oauth_error(401, "invalid_client");
    exchange(&setup, "garbage", &[]).await.assert_oauth_error(400, "invalid_grant");
    exchange(&setup, &code, &[("code", "")]).await.assert_oauth_error(400, "invalid_request");
    // None of the failed attempts burned the code.
    assert_eq!(
        exchange(&setup, &code, &[("redirect_uri", "")]).await.status,
        200,
        "OAuth 2.1 clients may omit redirect_uri"
    );

    let late = code_for(&setup, &[]).await;
    setup.app.clock.advance(60);
    exchange(&setup, &late, &[]).await.assert_oauth_error(400, "invalid_grant");
}

async fn a_replayed_code_revokes_what_it_issued(backend: Backend) {
    let setup = setup(backend, ClientType::Public, PkcePolicy::Required).await;
    let code = code_for(&setup, &[]).await;
    let first = exchange(&setup, &code, &[]).await;
    let token = first.json()["access_token"].as_str().unwrap().to_owned();
    assert!(setup.app.is_active(&setup.jira, &token).await);
    exchange(&setup, &code, &[]).await.assert_oauth_error(400, "invalid_grant");
    assert!(!setup.app.is_active(&setup.jira, &token).await, "tokens of a replayed code are revoked");
    assert!(setup.app.core.audit.flush(std::time::Duration::from_secs(5)).await, "failure events are queued");
    let query =
        tessera::store::AuditQuery { kinds: vec!["code_replay".into()], limit: 10, ..Default::default() };
    let events = setup.app.core.audit.list(&query).await.unwrap();
    assert_eq!(events.len(), 1, "the replay is in the audit log");

    // A replay after the code's 60 s have passed revokes just the same.
    let code = code_for(&setup, &[]).await;
    let first = exchange(&setup, &code, &[]).await;
    let token = first.json()["access_token"].as_str().unwrap().to_owned();
    setup.app.clock.advance(61);
    exchange(&setup, &code, &[]).await.assert_oauth_error(400, "invalid_grant");
    assert!(!setup.app.is_active(&setup.jira, &token).await, "a late replay revokes too");
    // An expired code that was never used is refused and revokes nothing.
    let unused = code_for(&setup, &[]).await;
    setup.app.clock.advance(61);
    exchange(&setup, &unused, &[]).await.assert_oauth_error(400, "invalid_grant");
}

async fn twenty_concurrent_redemptions_of_one_code_give_one_token(backend: Backend) {
    let setup = setup(backend, ClientType::Public, PkcePolicy::Required).await;
    let code = code_for(&setup, &[]).await;
    let attempts = (0..20).map(|_| exchange(&setup, &code, &[]));
    let results = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 19, "{statuses:?}");
    for rejected in results.iter().filter(|r| r.status == 400) {
        assert_eq!(rejected.json()["error"], "invalid_grant");
    }
}

async fn pkce_downgrade_is_refused_for_a_legacy_client(backend: Backend) {
    let setup = setup(backend, ClientType::Confidential, PkcePolicy::Optional).await;
    let code = code_for(&setup, &[("code_challenge", ""), ("code_challenge_method", "")]).await;
    let basic = |form: &[(&str, &str)]| {
        let form: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        setup
            .app
            .http
            .post(setup.app.url("/oauth2/token"))
            .basic_auth(&setup.client.id, Some(&setup.client.secret))
            .form(&form)
    };
    let downgrade = crate::support::send(basic(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("code_verifier", VERIFIER),
    ]))
    .await;
    downgrade.assert_oauth_error(400, "invalid_request");
    let plain = crate::support::send(basic(&[("grant_type", "authorization_code"), ("code", &code)])).await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    // A confidential client must still authenticate.
    exchange(
        &setup,
        &code_for(&setup, &[("code_challenge", ""), ("code_challenge_method", "")]).await,
        &[("code_verifier", "")],
    )
    .await
    .assert_oauth_error(401, "invalid_client");
}

async fn prompt_none_never_shows_a_page(backend: Backend) {
    let setup = setup(backend, ClientType::Confidential, PkcePolicy::Required).await;
    let app = &setup.app;
    let browser = Browser::new();
    let done = sign_in_and_approve(&setup, &browser, &authorize_url(app, &setup.client, &[])).await;
    assert_eq!(done.status, 303);
    // Signed in and consented: prompt=none goes straight back with a code.
    let silent = browser.get(&authorize_url(app, &setup.client, &[("prompt", "none")])).await;
    assert_eq!(silent.status, 302, "{}", silent.body);
    assert!(location(&silent).1.contains_key("code"));
    // A wider scope was never approved.
    let wider = browser
        .get(&authorize_url(app, &setup.client, &[("prompt", "none"), ("scope", "openid profile")]))
        .await;
    assert_eq!(location(&wider).1["error"], "consent_required");
    // prompt=login asks for the password again.
    let again = browser.get(&authorize_url(app, &setup.client, &[("prompt", "login")])).await;
    assert!(again.body.contains("Sign in"));
    let stale = browser.get(&authorize_url(app, &setup.client, &[("max_age", "0")])).await;
    assert!(stale.body.contains("Sign in"), "max_age=0 means sign in again: {}", stale.body);
    let recent =
        browser.get(&authorize_url(app, &setup.client, &[("max_age", "3600"), ("prompt", "none")])).await;
    assert!(location(&recent).1.contains_key("code"), "a sign-in younger than max_age is enough");
}

async fn signing_out_ends_the_session(backend: Backend) {
    let setup = setup(backend, ClientType::Confidential, PkcePolicy::Required).await;
    let app = &setup.app;
    let browser = Browser::new();
    assert_eq!(
        sign_in_and_approve(&setup, &browser, &authorize_url(app, &setup.client, &[])).await.status,
        303
    );

    let form = browser.get(&app.url("/oauth2/logout")).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Sign out of Tessera") && form.body.contains("jane"));
    let forged = browser
        .post(&app.url("/oauth2/logout"), &[("tessera_action".into(), "logout".into())], HeaderMap::new())
        .await;
    assert_eq!(forged.status, 403, "no CSRF token, no sign-out");
    // A bare POST is a sign-out request from elsewhere: it asks first.
    let asked = browser.post(&app.url("/oauth2/logout"), &[], HeaderMap::new()).await;
    assert!(asked.status == 200 && asked.body.contains("Sign out of Tessera"), "{}", asked.body);
    let still = browser.get(&authorize_url(app, &setup.client, &[("prompt", "none")])).await;
    assert!(location(&still).1.contains_key("code"), "still signed in");

    let mut fields = hidden_fields(&form.body);
    fields.push(("tessera_action".into(), "logout".into()));
    let done = browser.post(&app.url("/oauth2/logout"), &fields, HeaderMap::new()).await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("You are signed out"));
    assert_eq!(done.header("clear-site-data"), Some("\"cookies\""));
    assert!(done.header("location").is_none(), "never a redirect");
    let after = browser.get(&authorize_url(app, &setup.client, &[("prompt", "none")])).await;
    assert_eq!(location(&after).1["error"], "login_required");
}

async fn withdrawing_consent_ends_the_apps_tokens(backend: Backend) {
    let setup = setup(backend, ClientType::Confidential, PkcePolicy::Required).await;
    let app = &setup.app;
    let browser = Browser::new();
    let done = sign_in_and_approve(&setup, &browser, &authorize_url(app, &setup.client, &[])).await;
    let code = location(&done).1["code"].clone();
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("code_verifier", VERIFIER)];
    let tokens = app.post_form("/oauth2/token", Some(&setup.client), &form).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let access = tokens.json()["access_token"].as_str().unwrap().to_owned();
    assert!(app.is_active(&setup.jira, &access).await);

    let jane = Username::parse("jane").unwrap();
    let consents = app.core.accounts.consents(&jane).await.unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0].0.as_str(), setup.client.id);
    let client = tessera::domain::ClientId::parse(&setup.client.id).unwrap();
    app.core.accounts.revoke_consent(&tester(), &jane, &client).await.unwrap();

    assert!(!app.is_active(&setup.jira, &access).await, "the app's tokens stop working");
    let silent = browser.get(&authorize_url(app, &setup.client, &[("prompt", "none")])).await;
    assert_eq!(location(&silent).1["error"], "consent_required", "the approval is forgotten");
    assert!(
        app.core.accounts.revoke_consent(&tester(), &jane, &client).await.is_err(),
        "nothing left to revoke"
    );
}

async fn long_parameters_are_echoed_whole_or_refused(backend: Backend) {
    let setup = setup(backend, ClientType::Public, PkcePolicy::Required).await;
    let app = &setup.app;
    let browser = Browser::new();
    let long_state = "s".repeat(4_096);
    let echoed = browser
        .get(&authorize_url(app, &setup.client, &[("state", &long_state), ("response_type", "")]))
        .await;
    assert_eq!(location(&echoed).1["state"], long_state, "4 KiB of state comes back whole");
    let too_long = "s".repeat(4_097);
    let refused = browser.get(&authorize_url(app, &setup.client, &[("state", &too_long)])).await;
    let (_, query) = location(&refused);
    assert_eq!(query["error"], "invalid_request");
    assert!(!query.contains_key("state"), "never truncated");
    let long_nonce = browser.get(&authorize_url(app, &setup.client, &[("nonce", &too_long)])).await;
    assert_eq!(location(&long_nonce).1["error"], "invalid_request");
    let huge = browser.get(&authorize_url(app, &setup.client, &[("extra", &"x".repeat(17 * 1024))])).await;
    assert_eq!(huge.status, 414);
    assert!(huge.header("location").is_none());
}
