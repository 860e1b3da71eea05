//! The web console (issue 4): sign-in, who may reach what, each page and
//! form with its validation errors, the secret shown once, and the audit
//! log — over HTTP with a cookie jar, on both stores.

use reqwest::header::{HeaderMap, HeaderValue};
use tessera::clock::Clock as _;
use tessera::domain::{Email, NewUser, Password, Role, Username};

use crate::both_backends;
use crate::support::browser::{hidden_fields, Browser};
use crate::support::{spawn_app, tester, Backend, ClientSpec, Response, TestApp, TestClient};

both_backends!(
    console_pages_are_for_admins_only,
    forms_need_the_csrf_token_and_a_same_site_post,
    signing_in_rotates_the_session_and_never_redirects_away,
    an_app_registered_in_the_console_gets_tokens_with_the_secret_shown_once,
    bad_app_registrations_show_field_errors_and_store_nothing,
    an_app_can_be_rotated_revoked_disabled_and_deleted,
    service_accounts_users_and_scopes_are_managed_with_field_errors,
    the_last_admin_cannot_lock_everyone_out,
    keys_page_rotates_with_a_warning_and_links_pems,
    the_audit_log_records_who_did_what_and_pages,
    the_dashboard_counts_tokens_per_app,
    people_see_and_revoke_their_own_apps_and_change_their_password,
    app_search_ignores_case_in_names_ids_and_service_accounts,
);

pub const ADMIN_PASSWORD: &str = "console admin password";
pub const USER_PASSWORD: &str = "plain user password";

/// A browser signed in to the console, remembering the last page's CSRF token.
pub struct Console {
    pub address: String,
    pub browser: Browser,
    pub csrf: String,
}

impl Console {
    /// A fresh browser (no session) for `app`.
    pub fn new(app: &TestApp) -> Self {
        Self { address: app.address.clone(), browser: Browser::new(), csrf: String::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&mut self, path: &str) -> Response {
        let page = self.browser.get(&self.url(path)).await;
        self.remember(&page);
        page
    }

    /// Posts `fields` plus the CSRF token, as the page's form would.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut all = vec![("tessera_csrf".to_owned(), self.csrf.clone())];
        all.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let page = self.browser.post(&self.url(path), &all, same_origin()).await;
        self.remember(&page);
        page
    }

    fn remember(&mut self, page: &Response) {
        if let Some((_, token)) =
            hidden_fields(&page.body).into_iter().find(|(name, _)| name == "tessera_csrf")
        {
            self.csrf = token;
        }
    }
}

fn same_origin() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    headers
}

pub async fn add_user(app: &TestApp, name: &str, role: Role, password: &str) -> tessera::domain::User {
    app.core
        .accounts
        .create_user(
            &tester(),
            NewUser {
                username: Username::parse(name).unwrap(),
                email: Email::parse(&format!("{name}@example.com")).unwrap(),
                display_name: None,
                profile: Default::default(),
                password: Password::parse(password).unwrap(),
                role,
            },
        )
        .await
        .unwrap()
}

/// Signs in through the console's form.
pub async fn sign_in(app: &TestApp, name: &str, password: &str) -> Console {
    let mut console = Console::new(app);
    let form = console.get("/console/login").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let done = console.post("/console/login", &[("username", name), ("password", password)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    console.get("/console/me").await;
    console
}

/// A server with `root` (admin) and `jane` (user); signed in as `root`.
pub async fn admin_console(backend: Backend) -> (TestApp, Console) {
    let app = spawn_app(backend).await;
    add_user(&app, "root", Role::Admin, ADMIN_PASSWORD).await;
    add_user(&app, "jane", Role::User, USER_PASSWORD).await;
    let console = sign_in(&app, "root", ADMIN_PASSWORD).await;
    (app, console)
}

fn location(response: &Response) -> &str {
    response
        .header("location")
        .unwrap_or_else(|| panic!("no redirect: {} {}", response.status, response.body))
}

/// The text of the field errors on a page.
pub(crate) fn field_errors(page: &str) -> Vec<String> {
    page.split("class=\"field-error\"")
        .skip(1)
        .filter_map(|part| Some(part[part.find('>')? + 1..part.find("</p>")?].to_owned()))
        .collect()
}

/// The client secret shown on a page, if any.
fn shown_secret(page: &str) -> Option<String> {
    let start = page.find("tsr_cs_")?;
    let end = page[start..].find('"')? + start;
    Some(page[start..end].to_owned())
}

/// Every console page an admin may open: (path, needs an admin).
const PAGES: &[(&str, bool)] = &[
    ("/console/dashboard", true),
    ("/console/apps", true),
    ("/console/apps/new", true),
    ("/console/service-accounts", true),
    ("/console/service-accounts/new", true),
    ("/console/users", true),
    ("/console/users/new", true),
    ("/console/users/jane", true),
    ("/console/scopes", true),
    ("/console/scopes/new", true),
    ("/console/scopes/openid/edit", true),
    ("/console/keys", true),
    ("/console/audit", true),
    ("/console/personal-tokens", true),
    ("/console/jira", true),
    ("/console/me", false),
    ("/console/me/tokens", false),
    ("/console/me/password", false),
];

/// Every state-changing admin route (ids made up: the role check comes first).
const ADMIN_POSTS: &[&str] = &[
    "/console/apps",
    "/console/apps/abc/edit",
    "/console/apps/abc/rotate-secret",
    "/console/apps/abc/revoke-tokens",
    "/console/apps/abc/enable",
    "/console/apps/abc/disable",
    "/console/apps/abc/delete",
    "/console/grants/abc/revoke",
    "/console/personal-tokens/abc/revoke",
    "/console/service-accounts",
    "/console/service-accounts/svc/edit",
    "/console/service-accounts/svc/enable",
    "/console/service-accounts/svc/disable",
    "/console/users",
    "/console/users/jane/edit",
    "/console/users/jane/password",
    "/console/users/jane/enable",
    "/console/users/jane/disable",
    "/console/users/jane/revoke-grants",
    "/console/scopes",
    "/console/scopes/openid/edit",
    "/console/keys/rotate",
    "/console/jira/client",
    "/console/jira/test",
];

async fn console_pages_are_for_admins_only(backend: Backend) {
    let (app, mut admin) = admin_console(backend).await;
    let anonymous = Browser::new();
    for (path, _) in PAGES {
        let page = anonymous.get(&app.url(path)).await;
        assert_eq!(page.status, 303, "{path} without a session");
        let expected = format!(
            "/console/login?next={}",
            url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
        );
        assert_eq!(location(&page), expected);
    }
    for (path, _) in PAGES {
        let page = admin.get(path).await;
        assert_eq!(page.status, 200, "{path} as admin: {}", page.body);
        assert_eq!(page.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
        let csp = page.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(
            !page.body.contains("<script>") && !page.body.contains(" onclick="),
            "no inline script on {path}"
        );
    }

    let mut user = sign_in(&app, "jane", USER_PASSWORD).await;
    for (path, admin_only) in PAGES {
        let page = user.get(path).await;
        assert_eq!(page.status, if *admin_only { 403 } else { 200 }, "{path} as a user");
    }
    let apps_before = app.core.admin.list_clients().await.unwrap().len();
    for path in ADMIN_POSTS {
        let page = user.post(path, &[("name", "x"), ("username", "x")]).await;
        assert_eq!(page.status, 403, "POST {path} as a user");
    }
    assert_eq!(app.core.admin.list_clients().await.unwrap().len(), apps_before);
    assert_eq!(app.core.keys.current().describe(app.clock.now()).len(), 1, "no key rotated");
}

async fn forms_need_the_csrf_token_and_a_same_site_post(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    console.get("/console/service-accounts/new").await;
    let fields = [("username", "svc-a".to_owned())];
    let url = app.url("/console/service-accounts");
    let no_token: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let refused = console.browser.post(&url, &no_token, same_origin()).await;
    assert_eq!(refused.status, 403);
    let mut wrong = no_token.clone();
    wrong.push(("tessera_csrf".into(), "not-the-token".into()));
    assert_eq!(console.browser.post(&url, &wrong, same_origin()).await.status, 403);
    let mut right = no_token.clone();
    right.push(("tessera_csrf".into(), console.csrf.clone()));
    let mut cross = HeaderMap::new();
    cross.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    assert_eq!(console.browser.post(&url, &right, cross).await.status, 403, "a cross-site post");
    assert!(app.core.admin.list_service_accounts().await.unwrap().is_empty(), "nothing stored");
    let accepted = console.browser.post(&url, &right, same_origin()).await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    assert_eq!(app.core.admin.list_service_accounts().await.unwrap().len(), 1);
}

async fn signing_in_rotates_the_session_and_never_redirects_away(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "root", Role::Admin, ADMIN_PASSWORD).await;
    let mut console = Console::new(&app);
    let form = console.get("/console/login?next=https://evil.example/").await;
    let before = form.header("set-cookie").expect("an anonymous session for the form's token").to_owned();
    assert!(before.contains("HttpOnly") && before.contains("SameSite=Lax"), "{before}");

    let wrong =
        console.post("/console/login", &[("username", "root"), ("password", "wrong password!")]).await;
    assert_eq!(wrong.status, 200);
    assert!(wrong.body.contains("The username or password is not right."));
    assert!(!wrong.body.contains("wrong password!"), "a typed password is never echoed");

    let done = console
        .post(
            "/console/login",
            &[("username", "root"), ("password", ADMIN_PASSWORD), ("next", "//evil.example/x")],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(location(&done), "/console", "only console paths are followed");
    let after = done.header("set-cookie").expect("a new session id at sign-in");
    assert_ne!(after.split(';').next(), before.split(';').next());
    assert_eq!(location(&console.get("/console").await), "/console/dashboard");

    console.get("/console/dashboard").await;
    // An hour without a request ends the session.
    app.clock.advance(3_601);
    assert_eq!(
        location(&console.get("/console/dashboard").await),
        "/console/login?next=%2Fconsole%2Fdashboard"
    );
    // Eight hours after sign-in the session ends, however busy.
    console = sign_in(&app, "root", ADMIN_PASSWORD).await;
    for _ in 0..15 {
        app.clock.advance(1_800);
        assert_eq!(console.get("/console/dashboard").await.status, 200);
    }
    app.clock.advance(1_800);
    assert_eq!(console.get("/console/dashboard").await.status, 303, "the absolute timeout");
    console = sign_in(&app, "root", ADMIN_PASSWORD).await;
    console.get("/console/dashboard").await;
    let signed_out = console.post("/console/logout", &[]).await;
    assert_eq!(location(&signed_out), "/console/login");
    assert_eq!(signed_out.header("clear-site-data"), Some("\"cookies\""));
    assert_eq!(console.get("/console/dashboard").await.status, 303, "the session is over");
}

/// Registers a confidential app for `svc-deploy` through the form; returns
/// the detail page (with the secret).
async fn register_deploy_app(app: &TestApp, console: &mut Console, name: &str) -> Response {
    app.service_account("svc-deploy").await;
    app.scope("jira:read").await;
    console.get("/console/apps/new").await;
    console
        .post(
            "/console/apps",
            &[
                ("name", name),
                ("client_type", "confidential"),
                ("grants", "client_credentials"),
                ("scopes", "jira:read"),
                ("auth_method", "client_secret_basic"),
                ("token_format", "jwt"),
                ("pkce", "required"),
                ("access_token_ttl", "15m"),
                ("audiences", "https://jira.example"),
                ("service_account", "svc-deploy"),
            ],
        )
        .await
}

pub(crate) fn client_id_on(page: &str) -> String {
    let start = page.find("id=\"client-id\">").expect("the client id is shown") + "id=\"client-id\">".len();
    page[start..start + page[start..].find('<').unwrap()].to_owned()
}

async fn an_app_registered_in_the_console_gets_tokens_with_the_secret_shown_once(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    let page = register_deploy_app(&app, &mut console, "Deploy <pipeline>").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.body.contains("Deploy &#60;pipeline&#62;") || page.body.contains("Deploy &lt;pipeline&gt;"));
    let secret = shown_secret(&page.body).expect("the secret is shown once");
    let id = client_id_on(&page.body);
    let client = TestClient { id: id.clone(), secret: secret.clone() };

    let token = app.access_token(&client).await;
    let (_, claims) = crate::support::jwt_parts(&token);
    assert_eq!(claims["username"], "svc-deploy");
    assert_eq!(claims["aud"], "https://jira.example");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);

    for path in [format!("/console/apps/{id}"), format!("/console/apps/{id}/edit"), "/console/apps".into()] {
        let again = console.get(&path).await;
        assert_eq!(again.status, 200);
        assert!(!again.body.contains(&secret) && !again.body.contains("tsr_cs_"), "{path} shows no secret");
    }
    // The form posted again (a reload) registers nothing and shows no secret.
    let form = console.get("/console/apps/new").await;
    let submission = hidden_fields(&form.body).into_iter().find(|(n, _)| n == "submission").unwrap().1;
    let fields = [
        ("name", "Once"),
        ("client_type", "confidential"),
        ("grants", "client_credentials"),
        ("submission", submission.as_str()),
    ];
    let first = console.post("/console/apps", &fields).await;
    assert!(shown_secret(&first.body).is_some());
    let again = console.post("/console/apps", &fields).await;
    assert_eq!(again.status, 303);
    assert!(location(&again).ends_with("?done=already"), "{}", location(&again));
    let once = app.core.admin.list_clients().await.unwrap().into_iter().filter(|c| c.name == "Once").count();
    assert_eq!(once, 1);
    let after = console.get(location(&again)).await;
    assert!(after.body.contains("already sent") && shown_secret(&after.body).is_none());

    let found = console.get("/console/apps?q=pipeline").await;
    assert!(found.body.contains(&id));
    let none = console.get("/console/apps?q=nothing-like-it").await;
    assert!(!none.body.contains(&id) && none.body.contains("No apps"));
}

async fn bad_app_registrations_show_field_errors_and_store_nothing(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    console.get("/console/apps/new").await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("name", ""), ("client_type", "confidential"), ("grants", "client_credentials")], "name must be"),
        (
            &[
                ("name", "a"),
                ("client_type", "confidential"),
                ("grants", "authorization_code"),
                ("redirect_uris", "https://a.example/cb#frag"),
            ],
            "fragment",
        ),
        (
            &[
                ("name", "a"),
                ("client_type", "confidential"),
                ("grants", "authorization_code"),
                ("redirect_uris", "http://a.example/cb"),
            ],
            "http",
        ),
        (
            &[
                ("name", "a"),
                ("client_type", "confidential"),
                ("grants", "client_credentials"),
                ("access_token_ttl", "5x"),
            ],
            "invalid duration",
        ),
        (
            &[
                ("name", "a"),
                ("client_type", "confidential"),
                ("grants", "client_credentials"),
                ("access_token_ttl", "30d"),
            ],
            "longer than the maximum",
        ),
        (
            &[("name", "a"), ("client_type", "public"), ("grants", "client_credentials")],
            "public client cannot use",
        ),
        (&[("name", "a"), ("client_type", "confidential")], "at least one grant"),
        (&[("name", "a"), ("client_type", "confidential"), ("grants", "authorization_code")], "redirect URI"),
        (
            &[
                ("name", "a"),
                ("client_type", "confidential"),
                ("grants", "client_credentials"),
                ("scopes", "no-such-scope"),
            ],
            "unknown scope",
        ),
        (
            &[
                ("name", "a"),
                ("client_type", "confidential"),
                ("grants", "client_credentials"),
                ("service_account", "ghost"),
            ],
            "no service account",
        ),
        (
            &[
                ("name", "a"),
                ("client_type", "confidential"),
                ("grants", "client_credentials"),
                ("scopes", "tessera:admin"),
            ],
            "flagged admin",
        ),
        (&[("name", "a"), ("client_type", "weird"), ("grants", "client_credentials")], "unknown client type"),
    ];
    for (fields, expected) in cases {
        let page = console.post("/console/apps", fields).await;
        assert_eq!(page.status, 400, "{fields:?}: {}", page.body);
        let errors = field_errors(&page.body);
        assert!(
            errors.iter().any(|e| e.contains(expected)) || page.body.contains(expected),
            "{fields:?}: expected '{expected}' in {errors:?}"
        );
        assert!(page.body.contains("value=\"a\"") || fields[0].1.is_empty(), "typed values are kept");
    }
    assert!(app.core.admin.list_clients().await.unwrap().is_empty(), "nothing was stored");
}

async fn an_app_can_be_rotated_revoked_disabled_and_deleted(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    let page = register_deploy_app(&app, &mut console, "Deploy").await;
    let id = client_id_on(&page.body);
    let first = TestClient { id: id.clone(), secret: shown_secret(&page.body).unwrap() };
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let early = app.access_token(&first).await;

    let rotated = console.post(&format!("/console/apps/{id}/rotate-secret"), &[("grace", "1h")]).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let second = TestClient { id: id.clone(), secret: shown_secret(&rotated.body).unwrap() };
    assert_ne!(first.secret, second.secret);
    assert!(rotated.body.contains("keeps working until"));
    app.access_token(&first).await;
    app.access_token(&second).await;
    let shown = console.get(&format!("/console/apps/{id}")).await;
    let submission = hidden_fields(&shown.body).into_iter().find(|(n, _)| n == "submission").unwrap().1;
    let once = [("grace", "1h"), ("submission", submission.as_str())];
    let third = console.post(&format!("/console/apps/{id}/rotate-secret"), &once).await;
    let third = TestClient { id: id.clone(), secret: shown_secret(&third.body).unwrap() };
    let repeated = console.post(&format!("/console/apps/{id}/rotate-secret"), &once).await;
    assert!(location(&repeated).ends_with("?done=already_rotated"));
    app.access_token(&third).await;
    let second = third;
    let bad_grace = console.post(&format!("/console/apps/{id}/rotate-secret"), &[("grace", "soon")]).await;
    assert_eq!(bad_grace.status, 400);
    // Not a dead end: the app's page again, the error beside the field and
    // what was typed kept, so the admin can correct it.
    assert!(bad_grace.body.contains("Rotate secret"), "{}", bad_grace.body);
    assert!(field_errors(&bad_grace.body)
        .iter()
        .any(|e| e.contains("invalid duration") && e.contains("soon")));
    assert!(bad_grace.body.contains(r#"name="grace" value="soon""#));
    assert!(shown_secret(&bad_grace.body).is_none(), "nothing rotated");

    app.clock.advance(2);
    let revoked = console.post(&format!("/console/apps/{id}/revoke-tokens"), &[]).await;
    assert_eq!(revoked.status, 303);
    assert!(!app.is_active(&jira, &early).await, "a token from before the revocation is dead");
    app.clock.advance(2);
    let fresh = app.access_token(&second).await;
    assert!(app.is_active(&jira, &fresh).await, "tokens issued afterwards work");

    assert_eq!(console.post(&format!("/console/apps/{id}/disable"), &[]).await.status, 303);
    app.token(&second, &[]).await.assert_oauth_error(401, "invalid_client");
    assert!(console.get(&format!("/console/apps/{id}")).await.body.contains("disabled"));
    assert_eq!(console.post(&format!("/console/apps/{id}/enable"), &[]).await.status, 303);
    app.access_token(&second).await;

    let confirm = console.get(&format!("/console/apps/{id}/delete")).await;
    assert!(confirm.body.contains("Type the app"));
    let wrong = console.post(&format!("/console/apps/{id}/delete"), &[("confirm", "Deplo")]).await;
    assert_eq!(wrong.status, 400);
    assert!(app.core.admin.find_client(&id).await.is_ok(), "not deleted on a wrong name");
    let gone = console.post(&format!("/console/apps/{id}/delete"), &[("confirm", "Deploy")]).await;
    assert_eq!(location(&gone), "/console/apps?done=deleted");
    assert!(app.core.admin.find_client(&id).await.is_err());
    assert_eq!(console.get(&format!("/console/apps/{id}")).await.status, 404);

    // Editing: a change is saved, a bad value is refused and changes nothing.
    let page = register_deploy_app_again(&mut console).await;
    let id = client_id_on(&page.body);
    let edit = console.get(&format!("/console/apps/{id}/edit")).await;
    assert!(edit.body.contains("value=\"15m\""));
    let fields = [
        ("name", "Renamed"),
        ("client_type", "confidential"),
        ("grants", "client_credentials"),
        ("token_format", "opaque"),
        ("service_account", "svc-deploy"),
    ];
    let saved = console.post(&format!("/console/apps/{id}/edit"), &fields).await;
    assert_eq!(location(&saved), format!("/console/apps/{id}?done=saved"));
    let client = app.core.admin.find_client(&id).await.unwrap();
    assert_eq!((client.name.as_str(), client.token_format.as_str()), ("Renamed", "opaque"));
    let type_change = [
        ("name", "Renamed"),
        ("client_type", "public"),
        ("grants", "authorization_code"),
        ("redirect_uris", "https://a.example/cb"),
    ];
    let refused = console.post(&format!("/console/apps/{id}/edit"), &type_change).await;
    assert_eq!(refused.status, 400);
    assert!(field_errors(&refused.body).iter().any(|e| e.contains("type cannot change")), "{}", refused.body);
    assert_eq!(app.core.admin.find_client(&id).await.unwrap().client_type.as_str(), "confidential");
}

async fn register_deploy_app_again(console: &mut Console) -> Response {
    console
        .post(
            "/console/apps",
            &[
                ("name", "Second"),
                ("client_type", "confidential"),
                ("grants", "client_credentials"),
                ("access_token_ttl", "15m"),
                ("service_account", "svc-deploy"),
            ],
        )
        .await
}

async fn service_accounts_users_and_scopes_are_managed_with_field_errors(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    // Service accounts.
    console.get("/console/service-accounts/new").await;
    let bad = console.post("/console/service-accounts", &[("username", "has space")]).await;
    assert_eq!(bad.status, 400);
    assert!(!field_errors(&bad.body).is_empty());
    let made =
        console.post("/console/service-accounts", &[("username", "svc-ci"), ("display_name", "CI")]).await;
    assert_eq!(location(&made), "/console/service-accounts?done=created");
    let twice = console.post("/console/service-accounts", &[("username", "svc-ci")]).await;
    assert_eq!(twice.status, 400);
    assert!(field_errors(&twice.body).iter().any(|e| e.contains("already exists")));
    let renamed = console
        .post("/console/service-accounts/svc-ci/edit", &[("username", "svc-build"), ("admin", "on")])
        .await;
    assert_eq!(renamed.status, 303, "{}", renamed.body);
    let account = app.core.admin.find_service_account(&Username::parse("svc-build").unwrap()).await.unwrap();
    assert!(account.admin);
    assert_eq!(console.post("/console/service-accounts/svc-build/disable", &[]).await.status, 303);
    assert!(console.get("/console/service-accounts").await.body.contains("disabled"));

    // Users.
    console.get("/console/users/new").await;
    let bad = console
        .post(
            "/console/users",
            &[("username", "bob"), ("email", "not-an-email"), ("role", "user"), ("password", "short")],
        )
        .await;
    assert_eq!(bad.status, 400);
    let errors = field_errors(&bad.body);
    assert_eq!(errors.len(), 2, "email and password: {errors:?}");
    assert!(app.core.accounts.list_users().await.unwrap().iter().all(|u| u.username.as_str() != "bob"));
    let made = console
        .post(
            "/console/users",
            &[
                ("username", "bob"),
                ("email", "bob@example.com"),
                ("role", "user"),
                ("password", "bob's password"),
            ],
        )
        .await;
    assert_eq!(location(&made), "/console/users/bob?done=created");
    let taken = console
        .post(
            "/console/users/bob/edit",
            &[("username", "bob"), ("email", "jane@example.com"), ("role", "user")],
        )
        .await;
    assert_eq!(taken.status, 400, "jane's email");
    let promoted = console
        .post(
            "/console/users/bob/edit",
            &[("username", "bob"), ("email", "bob@example.com"), ("role", "admin")],
        )
        .await;
    assert_eq!(promoted.status, 303);
    let short = console.post("/console/users/bob/password", &[("password", "short")]).await;
    assert_eq!(short.status, 400);
    assert!(
        field_errors(&short.body).iter().any(|e| e.contains("at least")),
        "{:?}",
        field_errors(&short.body)
    );
    assert_eq!(
        console.post("/console/users/bob/password", &[("password", "bob's new password")]).await.status,
        303
    );
    assert!(app.core.accounts.verify_login("bob", "bob's new password").await.unwrap().is_some());
    assert_eq!(console.post("/console/users/bob/disable", &[]).await.status, 303);
    assert!(app.core.accounts.verify_login("bob", "bob's new password").await.unwrap().is_none());

    // Scopes.
    console.get("/console/scopes/new").await;
    let bad = console.post("/console/scopes", &[("name", "bad\"scope")]).await;
    assert_eq!(bad.status, 400);
    let made = console
        .post("/console/scopes", &[("name", "jira:write"), ("description", "Change Jira issues")])
        .await;
    assert_eq!(location(&made), "/console/scopes?done=created");
    let off = console.post("/console/scopes/jira:write/edit", &[("description", "Change issues")]).await;
    assert_eq!(off.status, 303, "unchecked = disabled");
    let scopes = app.core.admin.list_scopes().await.unwrap();
    let scope = scopes.iter().find(|s| s.name.as_str() == "jira:write").unwrap();
    assert!(!scope.enabled && scope.description == "Change issues");
    let builtin = console.post("/console/scopes/openid/edit", &[("description", "x")]).await;
    assert_eq!(builtin.status, 400, "built-in scopes stay enabled");
}

async fn the_last_admin_cannot_lock_everyone_out(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    // The server's own bootstrap admin is the other admin: disable it first.
    let admin = Username::parse("admin").unwrap();
    app.core.accounts.set_user_enabled(&tester(), &admin, false).await.unwrap();
    let refused = console.post("/console/users/root/disable", &[]).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("only enabled admin"));
    let demote = console
        .post(
            "/console/users/root/edit",
            &[("username", "root"), ("email", "root@example.com"), ("role", "user")],
        )
        .await;
    assert_eq!(demote.status, 400);
    assert!(app.core.accounts.verify_login("root", ADMIN_PASSWORD).await.unwrap().is_some());
}

async fn keys_page_rotates_with_a_warning_and_links_pems(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    let page = console.get("/console/keys").await;
    let kid = app.core.keys.current().describe(app.clock.now())[0].kid.clone();
    assert!(page.body.contains(&format!("/oauth2/keys/{kid}.pem")));
    assert!(page.body.contains("pinned PEM"));
    let rotated = console.post("/console/keys/rotate", &[]).await;
    assert_eq!(location(&rotated), "/console/keys?done=rotated");
    let after = console.get("/console/keys").await;
    assert!(after.body.contains("will start signing at"), "the scheduled switch is announced");
    let keys = app.core.keys.current().describe(app.clock.now());
    assert_eq!(keys.len(), 2);
    let pem = app.get(&format!("/oauth2/keys/{}.pem", keys[1].kid)).await;
    assert_eq!(pem.status, 200);
}

async fn the_audit_log_records_who_did_what_and_pages(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    let app_page = register_deploy_app(&app, &mut console, "Audited").await;
    let id = client_id_on(&app_page.body);
    let wrong = TestClient { id: id.clone(), secret: "tsr_cs_wrong".into() };
    app.token(&wrong, &[]).await.assert_oauth_error(401, "invalid_client");
    // A failed console sign-in from another browser.
    let mut stranger = Console::new(&app);
    stranger.get("/console/login").await;
    stranger.post("/console/login", &[("username", "root"), ("password", "guessing wrong")]).await;

    assert!(app.core.audit.flush(std::time::Duration::from_secs(5)).await, "failure events are queued");
    let page = console.get("/console/audit").await;
    assert!(page.body.contains(">client.created</span>") && page.body.contains(&format!("client:{id}")));
    assert!(page.body.contains(">client_auth_failed</span>"));
    assert!(page.body.contains("sign_in") && page.body.contains("root"));
    assert!(page.body.contains(">sign_in_failed</span>") && !page.body.contains("guessing wrong"));
    let only_admin = console.get("/console/audit?category=admin").await;
    let shown = |page: &Response, kind: &str| page.body.contains(&format!(">{kind}</span>"));
    assert!(shown(&only_admin, "client.created") && !shown(&only_admin, "client_auth_failed"));
    let by_kind = console.get("/console/audit?kind=client_auth_failed").await;
    assert!(shown(&by_kind, "client_auth_failed") && !shown(&by_kind, "client.created"));
    let by_actor = console.get("/console/audit?actor=nobody").await;
    assert!(by_actor.body.contains("Nothing recorded"));
    let by_text = console.get(&format!("/console/audit?q={id}")).await;
    assert!(by_text.body.contains(">client.created</span>"));
    let injection = console.get("/console/audit?q=%25&actor=%27%20OR%201%3D1").await;
    assert_eq!(injection.status, 200);
    assert!(injection.body.contains("Nothing recorded"), "filters are values, never SQL");

    for n in 0..60 {
        app.core
            .audit
            .record(
                tessera::service::audit::Kind::ScopeCreated,
                &tester(),
                tessera::service::audit::Target::Scope(
                    &tessera::domain::ScopeName::parse(&format!("s{n}")).unwrap(),
                ),
                "",
            )
            .await
            .unwrap();
    }
    let first = console.get("/console/audit?category=admin").await;
    let next = first
        .body
        .split("href=\"")
        .find(|p| p.starts_with("/console/audit?"))
        .map(|p| p[..p.find('"').unwrap()].replace("&amp;", "&").replace("&#38;", "&"));
    let next = next.expect("a link to older events");
    assert!(first.body.contains("scope:s59") && !first.body.contains("scope:s5<"));
    let older = console.get(&next).await;
    assert!(
        older.body.contains("scope:s5<")
            || older.body.contains("scope:s5\n")
            || older.body.contains(">scope:s5<")
    );
    assert!(!older.body.contains("scope:s59"));
}

async fn the_dashboard_counts_tokens_per_app(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    let page = register_deploy_app(&app, &mut console, "Counted app").await;
    let client = TestClient { id: client_id_on(&page.body), secret: shown_secret(&page.body).unwrap() };
    for _ in 0..3 {
        app.access_token(&client).await;
    }
    app.core.audit.flush_counts().await.unwrap();
    let dashboard = console.get("/console/dashboard").await;
    assert_eq!(dashboard.status, 200);
    let row =
        dashboard.body.split("<tr>").find(|row| row.contains("Counted app")).expect("a row for the app");
    assert!(row.contains(">3<"), "{row}");
    assert!(dashboard.body.contains("<span class=\"number\">1</span> OAuth apps"));
    assert!(dashboard.body.contains("<span class=\"number\">3</span> users"), "admin, root, jane");
    // Counts add up across flushes.
    app.access_token(&client).await;
    app.core.audit.flush_counts().await.unwrap();
    let again = console.get("/console/dashboard").await;
    let row = again.body.split("<tr>").find(|row| row.contains("Counted app")).unwrap();
    assert!(row.contains(">4<"), "{row}");
}

async fn people_see_and_revoke_their_own_apps_and_change_their_password(backend: Backend) {
    let setup = crate::authorize::setup_with(
        backend,
        tessera::domain::ClientType::Confidential,
        tessera::domain::PkcePolicy::Required,
        false,
    )
    .await;
    let code = crate::authorize::code_for(&setup, &[]).await;
    let exchanged =
        crate::authorize::exchange(&setup, &code, &[("client_secret", &setup.client.secret)]).await;
    let token = if exchanged.status == 200 {
        exchanged.json()["access_token"].as_str().unwrap().to_owned()
    } else {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://app.example/cb"),
            ("code_verifier", crate::authorize::VERIFIER),
        ];
        let response = crate::support::send(
            setup
                .app
                .http
                .post(setup.app.url("/oauth2/token"))
                .basic_auth(&setup.client.id, Some(&setup.client.secret))
                .form(&form),
        )
        .await;
        assert_eq!(response.status, 200, "{}", response.body);
        response.json()["access_token"].as_str().unwrap().to_owned()
    };
    let jira = setup.jira.clone();
    let client_id = setup.client.id.clone();
    let app = &setup.app;
    let mut jane = sign_in(app, "jane", "correct horse battery").await;
    let mine = jane.get("/console/me").await;
    assert!(
        mine.body.contains("Demo &#60;App&#62;") || mine.body.contains("Demo &lt;App&gt;"),
        "{}",
        mine.body
    );
    let grant = mine
        .body
        .split("action=\"/console/me/grants/")
        .nth(1)
        .map(|p| p[..p.find('/').unwrap()].to_owned())
        .unwrap();

    // Another user's grant id is not found for jane.
    add_user(app, "eve", Role::User, USER_PASSWORD).await;
    let mut eve = sign_in(app, "eve", USER_PASSWORD).await;
    let refused = eve.post(&format!("/console/me/grants/{grant}/revoke"), &[]).await;
    assert_eq!(refused.status, 404);
    assert!(app.is_active(&jira, &token).await);

    let revoked = jane.post(&format!("/console/me/grants/{grant}/revoke"), &[]).await;
    assert_eq!(location(&revoked), "/console/me?done=revoked");
    assert!(!app.is_active(&jira, &token).await, "the app's token died with the grant");
    let withdrawn = jane.post(&format!("/console/me/consents/{client_id}/revoke"), &[]).await;
    assert_eq!(withdrawn.status, 303);
    assert!(!jane.get("/console/me").await.body.contains("Withdraw"));

    // Changing the password.
    jane.get("/console/me/password").await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("current_password", "wrong"),
                ("new_password", "a new password"),
                ("confirm_password", "a new password"),
            ],
            "current password is not right",
        ),
        (
            &[
                ("current_password", "correct horse battery"),
                ("new_password", "a new password"),
                ("confirm_password", "other"),
            ],
            "differ",
        ),
        (
            &[
                ("current_password", "correct horse battery"),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
            "at least",
        ),
    ];
    for (fields, expected) in cases {
        let page = jane.post("/console/me/password", fields).await;
        assert_eq!(page.status, 400, "{fields:?}");
        assert!(
            field_errors(&page.body).iter().any(|e| e.contains(expected)),
            "{:?}",
            field_errors(&page.body)
        );
    }
    let other_session = sign_in(app, "jane", "correct horse battery").await;
    let changed = jane
        .post(
            "/console/me/password",
            &[
                ("current_password", "correct horse battery"),
                ("new_password", "a new password"),
                ("confirm_password", "a new password"),
            ],
        )
        .await;
    assert_eq!(location(&changed), "/console/me/password?done=password");
    assert!(changed.header("set-cookie").is_some(), "this browser gets a new session");
    assert_eq!(jane.get("/console/me").await.status, 200, "still signed in here");
    let mut other = other_session;
    assert_eq!(other.get("/console/me").await.status, 303, "other sessions ended");
    assert!(app.core.accounts.verify_login("jane", "a new password").await.unwrap().is_some());
}

/// The console and the admin API search apps the same way: by name, client
/// id or service account, whatever the case typed.
async fn app_search_ignores_case_in_names_ids_and_service_accounts(backend: Backend) {
    let (app, mut console) = admin_console(backend).await;
    // Stored with capitals, as Jira usernames may be.
    app.service_account("Svc-Deploy").await;
    let deployer =
        app.create_client(ClientSpec { service_account: Some("Svc-Deploy"), ..Default::default() }).await;
    let other = app.create_client(ClientSpec::default()).await;
    let admin = crate::admin_api::admin_client(&app).await;
    let token = app.access_token(&admin).await;
    for typed in ["SVC-DEPLOY", "svc-deploy", "Svc-Dep"] {
        let page = console.get(&format!("/console/apps?q={typed}")).await;
        assert!(page.body.contains(&deployer.id) && !page.body.contains(&other.id), "{typed}");
        let found =
            crate::admin_api::call(&app, &token, "get", &format!("/api/v1/apps?q={typed}"), None).await;
        let ids: Vec<String> = found
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["client_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, vec![deployer.id.clone()], "{typed}");
    }
    let by_id = console.get(&format!("/console/apps?q={}", deployer.id.to_uppercase())).await;
    assert!(by_id.body.contains(&deployer.id));
}
