//! People from a real OpenLDAP server (`support::slapd`): sign-in against
//! the directory over StartTLS (or ldaps) with a test CA, provisioning on
//! first sign-in, the admin group, local accounts never taken over, LDAP
//! injection, a directory that is down or hangs, and the sync that disables
//! people removed or disabled there — killing every token of theirs.

use std::time::{Duration, Instant};

use tessera::clock::Clock as _;

use tessera::domain::{ClientType, PkcePolicy, Role, Username};
use tessera::service::audit::Actor;
use tessera::service::directory::SyncTrigger;
use tessera::service::personal_tokens::TokenRequest;
use tessera::store::AuditQuery;

use crate::authorize::{authorize_url, exchange, location, setup_apps_on, sign_in_as_and_approve, Setup};
use crate::both_backends;
use crate::console::{add_user, Console};
use crate::refresh::refresh;
use crate::support::browser::Browser;
use crate::support::slapd::{Slapd, BOB, DIRECTORY_ADMIN, JANE, PEOPLE};
use crate::support::{spawn_app_with, tester, Backend, TestApp};

both_backends!(
    a_directory_person_signs_in_and_is_provisioned,
    wrong_passwords_unknown_people_and_injections_are_refused,
    a_local_account_is_never_taken_over,
    a_directory_that_is_down_or_hangs_fails_fast_and_local_accounts_still_work,
    tls_is_checked_against_the_configured_ca,
    the_sync_disables_people_removed_or_disabled_and_their_tokens_die,
    a_sync_that_cannot_reach_the_directory_disables_nobody,
    active_directory_accounts_and_their_disabled_bit,
    the_sync_runs_on_one_node_at_a_time,
    a_scope_limited_to_a_group_is_for_its_members_only,
    the_console_and_the_api_show_test_and_sync_the_directory,
    the_command_line_tests_syncs_shows_and_links,
    the_scheduled_sync_runs_by_itself,
    a_pooled_connection_that_went_silent_is_replaced,
);

async fn app_with(backend: Backend, slapd: &Slapd) -> TestApp {
    spawn_app_with(backend, |raw| slapd.configure(raw)).await
}

/// Signs in through the console's form; returns the answer to the post.
async fn console_sign_in(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (Console, crate::support::Response) {
    let mut console = Console::new(app);
    let form = console.get("/console/login").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let done = console.post("/console/login", &[("username", username), ("password", password)]).await;
    (console, done)
}

async fn user(app: &TestApp, name: &str) -> Option<tessera::domain::User> {
    app.core.accounts.find_user(&Username::parse(name).unwrap()).await.ok()
}

async fn audit_details(app: &TestApp, kind: &str) -> Vec<String> {
    assert!(app.core.audit.flush(Duration::from_secs(5)).await, "queued audit events are written");
    let query = AuditQuery { kinds: vec![kind.into()], limit: 100, ..Default::default() };
    let events = app.core.audit.list(&query).await.unwrap();
    events.into_iter().map(|e| format!("{} {}", e.target, e.detail)).collect()
}

async fn a_directory_person_signs_in_and_is_provisioned(backend: Backend) {
    let slapd = Slapd::start();
    let app = app_with(backend, &slapd).await;
    assert!(user(&app, "jane").await.is_none(), "nobody is created before signing in");

    let (_, done) = console_sign_in(&app, "jane", JANE.password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let jane = user(&app, "jane").await.expect("jane was provisioned");
    assert_eq!(jane.email.as_str(), "jane@example.com");
    assert_eq!(jane.display_name.as_deref(), Some("Jane Doe"));
    assert_eq!(jane.profile.given_name.as_deref(), Some("Jane"));
    assert_eq!(jane.profile.family_name.as_deref(), Some("Doe"));
    assert_eq!(jane.role, Role::Admin, "jane is in jira-administrators");
    let link = jane.directory.as_ref().expect("a directory user");
    assert_eq!(link.dn, format!("uid=jane,{PEOPLE}"));
    assert_eq!(link.groups, vec!["jira-administrators".to_owned()]);

    let (mut bob_console, done) = console_sign_in(&app, "bob", BOB.password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(user(&app, "bob").await.unwrap().role, Role::User);
    // bob is no admin: the console's admin pages are not his.
    assert_eq!(bob_console.get("/console/apps").await.status, 403);

    let provisioned = audit_details(&app, "directory.user_provisioned").await;
    assert_eq!(provisioned.len(), 2, "{provisioned:?}");
    assert!(provisioned.iter().any(|d| d.contains("jane") && d.contains("role admin")), "{provisioned:?}");

    // Attributes and groups are refreshed at each sign-in.
    slapd.set(&format!("uid=jane,{PEOPLE}"), "cn", "Jane Smith").await;
    slapd.set(&format!("uid=jane,{PEOPLE}"), "mail", "jane.smith@example.com").await;
    slapd.remove_member("jira-administrators", &format!("uid=jane,{PEOPLE}")).await;
    let (_, done) = console_sign_in(&app, "jane", JANE.password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let jane = user(&app, "jane").await.unwrap();
    assert_eq!(jane.display_name.as_deref(), Some("Jane Smith"));
    assert_eq!(jane.email.as_str(), "jane.smith@example.com");
    assert_eq!(jane.role, Role::User, "out of the admin group, out of the admin role");
    // The email signs in too (the directory checks the password).
    let (_, done) = console_sign_in(&app, "jane.smith@example.com", JANE.password).await;
    assert_eq!(done.status, 303, "{}", done.body);

    // Her password lives in the directory: it is not changed here.
    let error = app
        .core
        .accounts
        .change_own_password(
            &tester(),
            &jane,
            JANE.password,
            &tessera::domain::Password::parse("a new local password").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("kept in the company directory"), "{error}");
}

async fn wrong_passwords_unknown_people_and_injections_are_refused(backend: Backend) {
    let slapd = Slapd::start();
    let app = app_with(backend, &slapd).await;
    for (login, password) in [
        ("jane", "not jane's password"),
        ("nobody", "some password here"),
        // RFC 4515: the typed name is a literal, never filter syntax.
        ("*", JANE.password),
        ("*)(uid=*", JANE.password),
        ("jane)(|(uid=*", JANE.password),
        ("j*", JANE.password),
        ("jane\\2a", JANE.password),
        // An empty password would be an unauthenticated bind (RFC 4513 §5.1.2).
        ("jane", ""),
    ] {
        let (_, done) = console_sign_in(&app, login, password).await;
        assert_eq!(done.status, 200, "{login}: {}", done.body);
        assert!(done.body.contains("The username or password is not right."), "{login}: {}", done.body);
    }
    assert!(app.core.accounts.list_users().await.unwrap().iter().all(|u| u.directory.is_none()));
    // The back-off after failed attempts is the local accounts' one.
    for _ in 0..5 {
        console_sign_in(&app, "bob", "a wrong password").await;
    }
    let (_, throttled) = console_sign_in(&app, "bob", BOB.password).await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.body.contains("Too many failed sign-ins"), "{}", throttled.body);
    // The password never reaches the audit log.
    let failed = audit_details(&app, "sign_in_failed").await;
    assert!(failed.iter().any(|d| d.contains("directory")), "{failed:?}");
    assert!(
        failed.iter().all(|d| !d.contains(JANE.password) && !d.contains("a wrong password")),
        "{failed:?}"
    );
}

async fn a_local_account_is_never_taken_over(backend: Backend) {
    let slapd = Slapd::start();
    let app = app_with(backend, &slapd).await;
    let local_password = "bob's local password";
    add_user(&app, "bob", Role::User, local_password).await;

    // The directory's bob is refused, and told why only through the admin.
    let (_, done) = console_sign_in(&app, "bob", BOB.password).await;
    assert_eq!(done.status, 200, "the local account answers: {}", done.body);
    assert!(done.body.contains("not right"), "{}", done.body);
    assert!(user(&app, "bob").await.unwrap().directory.is_none(), "still the local account");
    // The local bob keeps signing in with his own password.
    let (_, done) = console_sign_in(&app, "bob", local_password).await;
    assert_eq!(done.status, 303, "{}", done.body);

    // The directory's `admin` finds the bootstrap admin's name taken.
    if user(&app, "admin").await.is_some() {
        let (_, done) = console_sign_in(&app, "admin", DIRECTORY_ADMIN.password).await;
        assert_eq!(done.status, 200, "{}", done.body);
    }
    // A directory person whose username a local account holds in another
    // case meets the local account (Jira usernames ignore case).
    slapd
        .add_person(&crate::support::slapd::Person {
            uid: "Carol",
            password: "carol's directory password",
            mail: Some("carol@example.com"),
            cn: "Carol",
            given_name: "Carol",
            sn: "King",
        })
        .await;
    add_user(&app, "carol", Role::User, "carol's local password").await;
    let (_, done) = console_sign_in(&app, "Carol", "carol's directory password").await;
    assert_eq!(done.status, 200, "{}", done.body);

    // An admin links the local bob to the directory: then only the
    // directory's password works.
    let linked =
        app.core.directory.as_ref().unwrap().link(&tester(), &Username::parse("bob").unwrap()).await.unwrap();
    assert_eq!(linked.directory.as_ref().unwrap().dn, format!("uid=bob,{PEOPLE}"));
    let (_, done) = console_sign_in(&app, "bob", local_password).await;
    assert_eq!(done.status, 200, "the local password stopped working: {}", done.body);
    let (_, done) = console_sign_in(&app, "bob", BOB.password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(audit_details(&app, "directory.user_linked").await.len(), 1);

    // A new directory person whose email a local account holds is refused
    // with a reason the audit log keeps.
    slapd
        .add_person(&crate::support::slapd::Person {
            uid: "dave",
            password: "dave's directory password",
            mail: Some("carol@example.com"),
            cn: "Dave",
            given_name: "Dave",
            sn: "Hill",
        })
        .await;
    let (_, done) = console_sign_in(&app, "dave", "dave's directory password").await;
    assert_eq!(done.status, 403, "{}", done.body);
    assert!(done.body.contains("cannot sign in here yet"), "{}", done.body);
    assert!(user(&app, "dave").await.is_none());
    let failed = audit_details(&app, "sign_in_failed").await;
    assert!(failed.iter().any(|d| d.contains("carol@example.com belongs to the user 'carol'")), "{failed:?}");
}

async fn a_directory_that_is_down_or_hangs_fails_fast_and_local_accounts_still_work(backend: Backend) {
    let mut slapd = Slapd::start();
    let app = spawn_app_with(backend, |raw| {
        slapd.configure(raw);
        raw.ldap_timeout = Some("2s".into());
    })
    .await;
    add_user(&app, "local-admin", Role::Admin, "a local admin password").await;
    let (_, done) = console_sign_in(&app, "jane", JANE.password).await;
    assert_eq!(done.status, 303, "{}", done.body);

    slapd.stop();
    let started = Instant::now();
    let (_, done) = console_sign_in(&app, "jane", JANE.password).await;
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(done.status, 503, "{}", done.body);
    assert!(done.body.contains("cannot be reached right now"), "{}", done.body);
    let (_, done) = console_sign_in(&app, "local-admin", "a local admin password").await;
    assert_eq!(done.status, 303, "local accounts sign in without the directory: {}", done.body);

    // A directory that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("ldap://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let hanging = spawn_app_with(backend, |raw| {
        slapd.configure(raw);
        raw.ldap_url = Some(silent_url);
        raw.ldap_timeout = Some("2s".into());
    })
    .await;
    let started = Instant::now();
    let (_, done) = console_sign_in(&hanging, "jane", JANE.password).await;
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(done.status, 503, "{}", done.body);

    // Back up: the directory's people sign in again, no restart needed.
    slapd.restart();
    let (_, done) = console_sign_in(&app, "jane", JANE.password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    drop(silent);
}

async fn tls_is_checked_against_the_configured_ca(backend: Backend) {
    let slapd = Slapd::start();
    // ldaps:// with the test CA.
    let app = spawn_app_with(backend, |raw| {
        slapd.configure(raw);
        raw.ldap_url = Some(slapd.ldaps_url.clone());
    })
    .await;
    let (_, done) = console_sign_in(&app, "jane", JANE.password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    // A CA that did not sign the directory's certificate: no sign-in, and
    // the test action says why.
    let other_ca = app.data.dir.join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout"])
        .arg(app.data.dir.join("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .args(["-days", "1", "-subj", "/CN=Someone else's CA"])
        .output()
        .unwrap();
    assert!(made.status.success());
    let distrusting = spawn_app_with(backend, |raw| {
        slapd.configure(raw);
        raw.ldap_ca_file = Some(other_ca.clone());
    })
    .await;
    let (_, done) = console_sign_in(&distrusting, "jane", JANE.password).await;
    assert_eq!(done.status, 503, "{}", done.body);
    let test = distrusting.core.directory.as_ref().unwrap().test(None).await;
    assert!(!test.ok);
    let error = test.error.unwrap();
    assert!(error.contains("cannot be reached") && error.to_lowercase().contains("certificate"), "{error}");
    // StartTLS with the right CA: the test action passes, and finds jane.
    let test = app.core.directory.as_ref().unwrap().test(Some("jane")).await;
    assert!(test.ok, "{:?}", test.error);
    assert!(test.steps.iter().any(|s| s.contains("member of jira-administrators")), "{:?}", test.steps);
}

/// jane's tokens: an app grant's access and refresh tokens, and a personal token.
struct Held {
    access: String,
    refresh: String,
    personal: String,
}

async fn tokens_of(setup: &Setup, username: &str, password: &str) -> Held {
    let browser = Browser::new();
    let url = authorize_url(&setup.app, &setup.client, &[("scope", "openid jira:read offline_access")]);
    let done = sign_in_as_and_approve(setup, &browser, &url, username, password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let code = location(&done).1["code"].clone();
    let tokens = exchange(setup, &code, &[]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let tokens = tokens.json();
    let person = user(&setup.app, username).await.unwrap();
    let request = TokenRequest { label: "script".into(), scopes: vec!["jira:read".into()], expires_in: None };
    let personal = setup.app.core.personal_tokens.create(&tester(), &person, &request).await.unwrap();
    Held {
        access: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        personal: personal.secret.expose().to_owned(),
    }
}

async fn assert_dead(setup: &Setup, held: &Held, who: &str) {
    assert!(!setup.app.is_active(&setup.jira, &held.access).await, "{who}'s access token");
    assert!(!setup.app.is_active(&setup.jira, &held.personal).await, "{who}'s personal token");
    refresh(setup, &held.refresh, &[]).await.assert_oauth_error(400, "invalid_grant");
}

async fn the_sync_disables_people_removed_or_disabled_and_their_tokens_die(backend: Backend) {
    let slapd = Slapd::start();
    let app = app_with(backend, &slapd).await;
    let setup = setup_apps_on(app, ClientType::Public, PkcePolicy::Required, true).await;
    let jane = tokens_of(&setup, "jane", JANE.password).await;
    let bob = tokens_of(&setup, "bob", BOB.password).await;
    for held in [&jane, &bob] {
        assert!(setup.app.is_active(&setup.jira, &held.access).await);
        assert!(setup.app.is_active(&setup.jira, &held.personal).await);
    }

    slapd.delete(&format!("uid=bob,{PEOPLE}")).await;
    slapd.set(&format!("uid=jane,{PEOPLE}"), "employeeType", "disabled").await;
    let directory = setup.app.core.directory.clone().unwrap();
    let report = directory.sync(SyncTrigger::Manual, &tester()).await.unwrap();
    assert!(report.ran && report.ok, "{report:?}");
    assert_eq!((report.people_seen, report.users_disabled), (2, 2), "{report:?}");
    assert_dead(&setup, &jane, "jane").await;
    assert_dead(&setup, &bob, "bob").await;
    assert!(!user(&setup.app, "jane").await.unwrap().enabled);
    let disabled = audit_details(&setup.app, "directory.user_disabled").await;
    assert!(
        disabled.iter().any(|d| d.contains("bob") && d.contains("missing from the directory")),
        "{disabled:?}"
    );
    assert!(
        disabled.iter().any(|d| d.contains("jane") && d.contains("disabled in the directory")),
        "{disabled:?}"
    );
    let status = directory.status().await.unwrap();
    assert_eq!(status.outcome.as_deref(), Some("ok"));
    assert_eq!(status.users_disabled, 2);
    // Disabled in the directory: no sign-in either.
    let (_, done) = console_sign_in(&setup.app, "jane", JANE.password).await;
    assert_eq!(done.status, 200, "{}", done.body);

    // Back in the directory: the next sync enables jane, with none of her
    // old tokens (they ended for good).
    slapd.set(&format!("uid=jane,{PEOPLE}"), "employeeType", "staff").await;
    let report = directory.sync(SyncTrigger::Manual, &tester()).await.unwrap();
    assert_eq!(report.users_enabled, 1, "{report:?}");
    assert!(user(&setup.app, "jane").await.unwrap().enabled);
    assert_dead(&setup, &jane, "jane").await;
    let (_, done) = console_sign_in(&setup.app, "jane", JANE.password).await;
    assert_eq!(done.status, 303, "{}", done.body);

    // An admin's own "disable" is not undone by a sync.
    setup
        .app
        .core
        .accounts
        .set_user_enabled(&tester(), &Username::parse("jane").unwrap(), false)
        .await
        .unwrap();
    directory.sync(SyncTrigger::Manual, &tester()).await.unwrap();
    assert!(!user(&setup.app, "jane").await.unwrap().enabled);
}

async fn a_sync_that_cannot_reach_the_directory_disables_nobody(backend: Backend) {
    let mut slapd = Slapd::start();
    let app = app_with(backend, &slapd).await;
    let setup = setup_apps_on(app, ClientType::Public, PkcePolicy::Required, true).await;
    let jane = tokens_of(&setup, "jane", JANE.password).await;
    slapd.stop();
    let directory = setup.app.core.directory.clone().unwrap();
    let report = directory.sync(SyncTrigger::Manual, &Actor::new("test", None)).await.unwrap();
    assert!(report.ran && !report.ok, "{report:?}");
    assert_eq!(report.users_disabled, 0);
    assert!(report.error.as_deref().unwrap().contains("cannot be reached"), "{report:?}");
    assert!(user(&setup.app, "jane").await.unwrap().enabled);
    assert!(setup.app.is_active(&setup.jira, &jane.access).await);
    let status = directory.status().await.unwrap();
    assert_eq!(status.outcome.as_deref(), Some("failed"));
    let syncs = audit_details(&setup.app, "directory.sync").await;
    assert!(syncs.iter().any(|d| d.contains("nobody disabled")), "{syncs:?}");

    // A directory that answers but lists nobody (a wrong base or filter)
    // disables nobody either.
    slapd.restart();
    let empty = spawn_app_with(backend, |raw| {
        slapd.configure(raw);
        raw.database_url = Some(setup.app.data.database_url());
        raw.data_dir = Some(setup.app.data.dir.clone());
        raw.ldap_user_filter = Some("(employeeType=nobody-has-this)".into());
    })
    .await;
    let report = empty.core.directory.as_ref().unwrap().sync(SyncTrigger::Manual, &tester()).await.unwrap();
    assert!(!report.ok, "{report:?}");
    assert!(report.error.as_deref().unwrap().contains("nobody was disabled"), "{report:?}");
    assert!(user(&setup.app, "jane").await.unwrap().enabled);
}

async fn active_directory_accounts_and_their_disabled_bit(backend: Backend) {
    let slapd = Slapd::start();
    slapd.add_ad_account("carl", "carl's AD password", "carl@example.com", 512).await;
    slapd.add_ad_account("dora", "dora's AD password", "dora@example.com", 514).await;
    let app = spawn_app_with(backend, |raw| {
        slapd.configure(raw);
        raw.ldap_username_attribute = Some("sAMAccountName".into());
        raw.ldap_name_attribute = Some("displayName".into());
        raw.ldap_user_filter = Some("(objectClass=testADAccount)".into());
        raw.ldap_disabled_filter = None;
    })
    .await;
    let (_, done) = console_sign_in(&app, "carl", "carl's AD password").await;
    assert_eq!(done.status, 303, "{}", done.body);
    let carl = user(&app, "carl").await.unwrap();
    assert_eq!(carl.display_name.as_deref(), Some("carl (AD)"));
    // ACCOUNTDISABLE (0x2) set: refused, even with the right password.
    let (_, done) = console_sign_in(&app, "dora", "dora's AD password").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(user(&app, "dora").await.is_none());
    // Disabled after signing in: the sync disables carl.
    slapd.set("cn=carl,ou=people,dc=example,dc=com", "userAccountControl", "514").await;
    let report = app.core.directory.as_ref().unwrap().sync(SyncTrigger::Manual, &tester()).await.unwrap();
    assert_eq!(report.users_disabled, 1, "{report:?}");
    assert!(!user(&app, "carl").await.unwrap().enabled);
}

async fn the_sync_runs_on_one_node_at_a_time(backend: Backend) {
    let slapd = Slapd::start();
    let app = spawn_app_with(backend, |raw| {
        slapd.configure(raw);
        raw.ldap_sync_interval = Some("1h".into());
    })
    .await;
    let (_, done) = console_sign_in(&app, "jane", JANE.password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let store = app.core.store.clone();
    let now = app.clock.now();
    // Node a holds the sync: b can take it neither when due nor by hand.
    assert!(store.claim_directory_sync("a", now, now.plus(600), None).await.unwrap());
    assert!(!store.claim_directory_sync("b", now, now.plus(600), None).await.unwrap());
    let directory = app.core.directory.clone().unwrap();
    let error = directory.sync(SyncTrigger::Manual, &tester()).await.unwrap_err();
    assert!(error.to_string().contains("running on another node"), "{error}");
    let report = directory.sync(SyncTrigger::Scheduled, &tester()).await.unwrap();
    assert!(!report.ran);
    // A holder that died frees the lease when it runs out.
    app.clock.advance(601);
    let report = directory.sync(SyncTrigger::Scheduled, &tester()).await.unwrap();
    assert!(report.ran && report.ok, "{report:?}");
    // Not due again until the interval has passed since the last start.
    let report = directory.sync(SyncTrigger::Scheduled, &tester()).await.unwrap();
    assert!(!report.ran, "{report:?}");
    app.clock.advance(3_601);
    let report = directory.sync(SyncTrigger::Scheduled, &tester()).await.unwrap();
    assert!(report.ran, "{report:?}");
}

async fn a_scope_limited_to_a_group_is_for_its_members_only(backend: Backend) {
    let slapd = Slapd::start();
    slapd.add_group("jira-writers", &[&format!("uid=jane,{PEOPLE}")]).await;
    let app = app_with(backend, &slapd).await;
    let setup = setup_apps_on(app, ClientType::Public, PkcePolicy::Required, true).await;
    let app = &setup.app;

    // An admin limits jira:read to jira-writers in the console …
    add_user(app, "root", Role::Admin, "root's local password").await;
    let mut console = crate::console::sign_in(app, "root", "root's local password").await;
    console.get("/console/scopes/jira:read/edit").await;
    let saved = console
        .post(
            "/console/scopes/jira:read/edit",
            &[("description", "Read Jira"), ("enabled", "on"), ("allowed_groups", "jira-writers\n\n")],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let form = console.get("/console/scopes/jira:read/edit").await;
    assert!(form.body.contains(">jira-writers</textarea>"), "{}", form.body);
    let bad = console
        .post(
            "/console/scopes/jira:read/edit",
            &[("description", "x"), ("enabled", "on"), ("allowed_groups", "bad\u{7}")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    // … and the API shows it, and can change it.
    let admin = crate::admin_api::admin_client(app).await;
    let token = app.access_token(&admin).await;
    let listed = crate::admin_api::call(app, &token, "get", "/api/v1/scopes", None).await;
    let read = listed.json().as_array().unwrap().iter().find(|s| s["name"] == "jira:read").unwrap().clone();
    assert_eq!(read["allowed_groups"], serde_json::json!(["jira-writers"]));
    let body = serde_json::json!({"description": "Read Jira", "allowed_groups": ["jira-writers", "jira-administrators"]});
    let changed = crate::admin_api::call(app, &token, "put", "/api/v1/scopes/jira:read", Some(body)).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.json()["allowed_groups"], serde_json::json!(["jira-writers", "jira-administrators"]));
    let body = serde_json::json!({"description": "Read Jira", "allowed_groups": ["jira-writers"]});
    crate::admin_api::call(app, &token, "put", "/api/v1/scopes/jira:read", Some(body)).await;
    // Bad group names are refused on their field, and change nothing.
    let body = serde_json::json!({"description": "x", "allowed_groups": ["bad\u{7}name"]});
    let refused = crate::admin_api::call(app, &token, "put", "/api/v1/scopes/jira:read", Some(body)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.json()["field"], "allowed_groups", "{}", refused.body);
    let many: Vec<String> = (0..51).map(|i| format!("g{i}")).collect();
    let body = serde_json::json!({"description": "x", "allowed_groups": many});
    let refused = crate::admin_api::call(app, &token, "put", "/api/v1/scopes/jira:read", Some(body)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let listed = crate::admin_api::call(app, &token, "get", "/api/v1/scopes", None).await.json();
    let read = listed.as_array().unwrap().iter().find(|s| s["name"] == "jira:read").unwrap().clone();
    assert_eq!(read["allowed_groups"], serde_json::json!(["jira-writers"]));
    assert_eq!(read["description"], "Read Jira");

    // Consent: jane (a member) gets the scope; bob is told he cannot.
    let jane = tokens_of(&setup, "jane", JANE.password).await;
    let granted = app.introspect(&setup.jira, &jane.access).await.json();
    assert_eq!(granted["scope"], "jira:read offline_access openid", "{granted}");
    let browser = Browser::new();
    let url = authorize_url(app, &setup.client, &[("scope", "openid jira:read offline_access")]);
    let login = browser.get(&url).await;
    let consent = browser
        .submit(app, &login, &[("username", "bob"), ("password", BOB.password), ("tessera_action", "login")])
        .await;
    assert!(consent.body.contains("is for members of jira-writers only"), "{}", consent.body);
    let done = browser.submit(app, &consent, &[("tessera_action", "consent")]).await;
    let code = location(&done).1["code"].clone();
    let bob_tokens = exchange(&setup, &code, &[]).await.json();
    assert_eq!(bob_tokens["scope"], "offline_access openid", "{bob_tokens}");

    // Personal API tokens: the same rule.
    let bob = user(app, "bob").await.unwrap();
    let request = TokenRequest { label: "script".into(), scopes: vec!["jira:read".into()], expires_in: None };
    let error = app.core.personal_tokens.create(&tester(), &bob, &request).await.err().unwrap();
    assert!(error.to_string().contains("is for members of jira-writers only"), "{error}");

    // Refresh: out of the group (seen at the next sync), out of the scope.
    slapd.delete(&format!("cn=jira-writers,{}", crate::support::slapd::GROUPS)).await;
    slapd.add_group("jira-writers", &[&format!("uid=bob,{PEOPLE}")]).await;
    setup.app.core.directory.as_ref().unwrap().sync(SyncTrigger::Manual, &tester()).await.unwrap();
    let asked = refresh(&setup, &jane.refresh, &[("scope", "jira:read")]).await;
    asked.assert_oauth_error(400, "invalid_scope");
    assert!(asked.body.contains("jira-writers"), "{}", asked.body);
    let narrowed = refresh(&setup, &jane.refresh, &[]).await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(narrowed.json()["scope"], "offline_access openid");
    // bob, now a member, may put it on a token.
    let bob = user(app, "bob").await.unwrap();
    assert!(bob.in_any_group(&["jira-writers".to_owned()]));
    app.core.personal_tokens.create(&tester(), &bob, &request).await.unwrap();
}

async fn the_console_and_the_api_show_test_and_sync_the_directory(backend: Backend) {
    let slapd = Slapd::start();
    let app = app_with(backend, &slapd).await;
    let (_, done) = console_sign_in(&app, "bob", BOB.password).await;
    assert_eq!(done.status, 303, "{}", done.body);

    // The console: a directory admin (jane) finds the page, tests, syncs.
    let (mut console, done) = console_sign_in(&app, "jane", JANE.password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let page = console.get("/console/directory").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&slapd.url) && page.body.contains("never"), "{}", page.body);
    let tested = console.post("/console/directory/test", &[("username", "bob")]).await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert!(tested.body.contains("found bob at uid=bob,ou=people"), "{}", tested.body);
    let unknown = console.post("/console/directory/test", &[("username", "nobody")]).await;
    assert!(unknown.body.contains("no single entry has uid=nobody"), "{}", unknown.body);
    slapd.delete(&format!("uid=bob,{PEOPLE}")).await;
    let synced = console.post("/console/directory/sync", &[]).await;
    assert_eq!(synced.status, 303, "{}", synced.body);
    let page = console.get("/console/directory?done=synced").await;
    assert!(page.body.contains("Synced with the directory."), "{}", page.body);
    assert!(page.body.contains("<td>0 / 1 / 0</td>") || page.body.contains("/ 1 /"), "{}", page.body);
    assert!(!user(&app, "bob").await.unwrap().enabled);
    let dashboard = console.get("/console/dashboard").await;
    assert!(dashboard.body.contains("People in the directory"), "{}", dashboard.body);

    // The API: status, test, sync.
    let admin = crate::admin_api::admin_client(&app).await;
    let token = app.access_token(&admin).await;
    let status = crate::admin_api::call(&app, &token, "get", "/api/v1/directory", None).await;
    assert_eq!(status.status, 200, "{}", status.body);
    let status = status.json();
    assert_eq!(status["configured"], true);
    assert_eq!(status["last_sync_outcome"], "ok");
    assert_eq!(status["users_disabled"], 1);
    assert_eq!(status["people_seen"], 2);
    let body = serde_json::json!({"username": "jane"});
    let test =
        crate::admin_api::call(&app, &token, "post", "/api/v1/directory/test", Some(body)).await.json();
    assert_eq!(test["ok"], true, "{test}");
    let jane = crate::admin_api::call(&app, &token, "get", "/api/v1/users/jane", None).await.json();
    assert_eq!(jane["source"], "directory", "{jane}");
    assert_eq!(jane["directory_dn"], format!("uid=jane,{PEOPLE}"));
    let users = console.get("/console/users").await;
    assert!(users.body.contains("<td>directory</td>"), "{}", users.body);
    let shown = console.get("/console/users/jane").await;
    assert!(shown.body.contains("From the directory: <code>uid=jane,ou=people"), "{}", shown.body);
    assert!(!shown.body.contains("Reset password"), "{}", shown.body);
    let sync = crate::admin_api::call(&app, &token, "post", "/api/v1/directory/sync", None).await;
    assert_eq!(sync.status, 200, "{}", sync.body);
    assert_eq!(sync.json()["people_seen"], 2);
    let audit = audit_details(&app, "directory.sync").await;
    assert_eq!(audit.len(), 2, "{audit:?}");
}

async fn the_command_line_tests_syncs_shows_and_links(backend: Backend) {
    use crate::support::process::command_for;
    let slapd = Slapd::start();
    let app = app_with(backend, &slapd).await;
    add_user(&app, "bob", Role::User, "bob's local password").await;
    let run = |args: &'static [&'static str], bind_password: &'static str| {
        let mut command = command_for(&app.data);
        command
            .args(args)
            .env("TESSERA_LDAP_URL", &slapd.url)
            .env("TESSERA_LDAP_BIND_DN", crate::support::slapd::SERVICE_DN)
            .env("TESSERA_LDAP_BIND_PASSWORD", bind_password)
            .env("TESSERA_LDAP_USER_BASE", PEOPLE)
            .env("TESSERA_LDAP_GROUP_BASE", crate::support::slapd::GROUPS)
            .env("TESSERA_LDAP_ADMIN_GROUP", "jira-administrators")
            .env("TESSERA_LDAP_CA_FILE", &slapd.ca_file);
        async move { command.output().await.unwrap() }
    };
    let password = crate::support::slapd::SERVICE_PASSWORD;
    let tested = run(&["directory", "test", "--user", "jane"], password).await;
    let stdout = String::from_utf8_lossy(&tested.stdout);
    assert!(tested.status.success(), "{stdout} {}", String::from_utf8_lossy(&tested.stderr));
    assert!(stdout.contains("ok: found jane at uid=jane,ou=people,dc=example,dc=com"), "{stdout}");
    assert!(stdout.contains("member of jira-administrators"), "{stdout}");
    // A wrong service password: one line on stderr, a non-zero exit, and
    // the password nowhere.
    let refused = run(&["directory", "test"], "not the service password").await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("refused TESSERA_LDAP_BIND_DN"), "{stderr}");
    assert!(!stderr.contains("not the service password"), "{stderr}");
    // Link the local bob, then sync and read the status.
    let linked = run(&["directory", "link", "bob"], password).await;
    assert!(linked.status.success(), "{}", String::from_utf8_lossy(&linked.stderr));
    assert!(user(&app, "bob").await.unwrap().directory.is_some());
    let synced = run(&["directory", "sync", "--json"], password).await;
    assert!(synced.status.success(), "{}", String::from_utf8_lossy(&synced.stderr));
    let report: serde_json::Value = serde_json::from_slice(&synced.stdout).unwrap();
    assert_eq!((report["ok"].as_bool(), report["people_seen"].as_u64()), (Some(true), Some(3)), "{report}");
    let status = run(&["directory", "status"], password).await;
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(stdout.contains("people seen 3") && stdout.contains("(ok)"), "{stdout}");
    // Linking someone the directory does not know: one clear line.
    add_user(&app, "zed", Role::User, "zed's local password").await;
    let unknown = run(&["directory", "link", "zed"], password).await;
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success());
    assert!(stderr.contains("the directory has no single entry with uid=zed"), "{stderr}");
    assert!(user(&app, "zed").await.unwrap().directory.is_none());
    // Without a directory: one clear line.
    let mut bare = command_for(&app.data);
    let none = bare.args(["directory", "sync"]).output().await.unwrap();
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no directory is configured"));
}

async fn the_scheduled_sync_runs_by_itself(backend: Backend) {
    let slapd = Slapd::start();
    // A 10 s interval: the server looks every second, and the first sync is due at once.
    let app = spawn_app_with(backend, |raw| {
        slapd.configure(raw);
        raw.ldap_sync_interval = Some("10s".into());
    })
    .await;
    let (_, done) = console_sign_in(&app, "bob", BOB.password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    slapd.delete(&format!("uid=bob,{PEOPLE}")).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while user(&app, "bob").await.unwrap().enabled {
        assert!(Instant::now() < deadline, "the scheduled sync did not disable bob within 20 s");
        // The server's clock is the test's: let an interval pass each time.
        app.clock.advance(11);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let syncs = audit_details(&app, "directory.sync").await;
    assert!(!syncs.is_empty());
    assert!(audit_details(&app, "directory.user_disabled").await.iter().any(|d| d.contains("bob")));
}

async fn a_pooled_connection_that_went_silent_is_replaced(backend: Backend) {
    let slapd = Slapd::start();
    let proxy = crate::support::fault_proxy::FaultProxy::start(([127, 0, 0, 1], slapd.port).into()).await;
    let app = spawn_app_with(backend, |raw| {
        slapd.configure(raw);
        raw.ldap_url = Some(format!("ldap://127.0.0.1:{}", proxy.port));
    })
    .await;
    let (_, done) = console_sign_in(&app, "jane", JANE.password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    // The pooled connections go silent, as after a firewall's idle timeout.
    proxy.stall();
    let started = Instant::now();
    let (_, done) = console_sign_in(&app, "jane", JANE.password).await;
    assert_eq!(done.status, 303, "a new connection replaces the silent one: {}", done.body);
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}
