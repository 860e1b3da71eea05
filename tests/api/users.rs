//! Users (issue 3 item 1): created on the command line with the password on
//! standard input, argon2id-hashed, verified by username or email, disabled;
//! the first start creates an admin.

use std::sync::Arc;

use tessera::clock::ManualClock;
use tessera::config::SecretString;
use tessera::domain::{Role, UnixTime};

use crate::both_backends;
use crate::support::cli::{tessera, tessera_with_input};
use crate::support::{spawn_app, spawn_app_with, spawn_node, Backend, TestData};

both_backends!(
    users_are_created_verified_and_disabled,
    bad_user_input_is_refused_and_changes_nothing,
    the_first_start_creates_one_admin,
    names_that_differ_only_by_case_are_refused,
);

async fn users_are_created_verified_and_disabled(backend: Backend) {
    let data = Arc::new(TestData::new(backend).await);
    let created = tessera_with_input(
        &data,
        &[
            "user",
            "create",
            "--username",
            "jane",
            "--email",
            "Jane@Example.com",
            "--display-name",
            "Jane Doe",
            "--password-stdin",
            "--json",
        ],
        "correct horse battery\n",
    )
    .await
    .json();
    assert_eq!(created["username"], "jane");
    assert_eq!(created["email"], "jane@example.com");
    assert_eq!(created["role"], "user");

    let listed = tessera(&data, &["user", "list", "--json"]).await;
    assert!(!listed.stdout.contains("argon2") && !listed.stdout.contains("password"), "{}", listed.stdout);

    let app = spawn_node(data.clone(), data.raw_settings(), ManualClock::new(UnixTime::now())).await;
    let accounts = &app.core.accounts;
    let by_name = accounts.verify_login("jane", "correct horse battery").await.unwrap();
    assert_eq!(by_name.unwrap().display_name.as_deref(), Some("Jane Doe"));
    assert!(accounts.verify_login("JANE@example.COM", "correct horse battery").await.unwrap().is_some());
    assert!(accounts.verify_login("jane", "wrong horse battery").await.unwrap().is_none());
    assert!(accounts.verify_login("nobody", "correct horse battery").await.unwrap().is_none());

    assert_eq!(tessera(&data, &["user", "disable", "jane"]).await.code, 0);
    assert!(
        accounts.verify_login("jane", "correct horse battery").await.unwrap().is_none(),
        "disabled users cannot sign in"
    );
    assert_eq!(tessera(&data, &["user", "enable", "jane"]).await.code, 0);
    assert!(accounts.verify_login("jane", "correct horse battery").await.unwrap().is_some());
}

async fn bad_user_input_is_refused_and_changes_nothing(backend: Backend) {
    let data = TestData::new(backend).await;
    let create = |name: &'static str, email: &'static str| {
        vec!["user", "create", "--username", name, "--email", email, "--password-stdin"]
    };
    assert_eq!(
        tessera_with_input(&data, &create("jane", "jane@example.com"), "long enough pw\n").await.code,
        0
    );
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (create("bob", "bob@example.com"), "short\n", "at least 8 characters"),
        (create("bob", "not-an-email"), "long enough pw\n", "not an email address"),
        (create("two words", "bob@example.com"), "long enough pw\n", "username"),
        (create("jane", "other@example.com"), "long enough pw\n", "already exists"),
        (create("bob", "JANE@example.com"), "long enough pw\n", "already exists"),
        (vec!["user", "create", "--username", "bob", "--email", "bob@example.com"], "", "--password-stdin"),
        (vec!["user", "disable", "nobody"], "", "no user named 'nobody'"),
    ];
    for (args, input, expected) in cases {
        let output = tessera_with_input(&data, &args, input).await;
        assert_ne!(output.code, 0, "{args:?}");
        let line = output.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{args:?}: {line}");
        assert!(line.contains(expected), "{args:?}: {line}");
        assert!(!line.contains("long enough pw"), "the password never appears in an error");
    }
    let flag = tessera(
        &data,
        &["user", "create", "--username", "bob", "--email", "b@example.com", "--password", "x"],
    )
    .await;
    assert_ne!(flag.code, 0, "there is no --password flag");
    let users = tessera(&data, &["user", "list", "--json"]).await.json();
    assert_eq!(users.as_array().unwrap().len(), 1);
}

async fn the_first_start_creates_one_admin(backend: Backend) {
    let app = spawn_app_with(backend, |raw| {
        raw.bootstrap_admin_password = Some(SecretString::new("first admin password".into()));
    })
    .await;
    let users = app.core.accounts.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!((users[0].username.as_str(), users[0].role), ("admin", Role::Admin));
    let admin = app.core.accounts.verify_login("admin", "first admin password").await.unwrap();
    assert!(admin.is_some());

    let second = spawn_node(Arc::clone(&app.data), app.data.raw_settings(), app.clock.clone()).await;
    assert_eq!(second.core.accounts.list_users().await.unwrap().len(), 1, "no second admin");

    let generated = spawn_app(backend).await;
    let users = generated.core.accounts.list_users().await.unwrap();
    assert_eq!(users.len(), 1, "a random password is generated when none is configured");
}

/// Jira usernames ignore case: no two principals (users or service
/// accounts) may have names that differ only by case (security review,
/// issue 11).
async fn names_that_differ_only_by_case_are_refused(backend: Backend) {
    use tessera::domain::{
        Email, NewServiceAccount, NewUser, Password, ServiceAccountChanges, UserChanges, Username,
    };

    let app = spawn_app(backend).await;
    let name = |text: &str| Username::parse(text).unwrap();
    let user = |username: &str| NewUser {
        username: name(username),
        email: Email::parse(&format!("{}@example.com", username.to_lowercase().replace('ü', "u"))).unwrap(),
        display_name: None,
        profile: Default::default(),
        password: Password::parse("long enough password").unwrap(),
        role: Role::User,
    };
    let account = |username: &str| NewServiceAccount { username: name(username), display_name: None };
    let accounts = &app.core.accounts;
    let admin = &app.core.admin;
    let who = crate::support::tester();

    accounts.create_user(&who, user("alice")).await.unwrap();
    admin.create_service_account(&who, account("svc-deploy")).await.unwrap();
    let mut refusals = Vec::new();
    refusals.push(accounts.create_user(&who, user("ALICE")).await.unwrap_err().to_string());
    refusals.push(admin.create_service_account(&who, account("Alice")).await.unwrap_err().to_string());
    refusals.push(accounts.create_user(&who, user("SVC-Deploy")).await.unwrap_err().to_string());
    refusals.push(admin.create_service_account(&who, account("svc-deploy")).await.unwrap_err().to_string());
    for refusal in &refusals {
        assert!(refusal.contains("is taken") || refusal.contains("already exists"), "{refusal}");
    }
    assert!(refusals[0].contains("a user named 'alice'"), "{}", refusals[0]);
    assert!(refusals[2].contains("a service account named 'svc-deploy'"), "{}", refusals[2]);

    // Renames claim the new name the same way; a change of case of one's
    // own name is fine, and frees nothing for anyone else.
    accounts.create_user(&who, user("ünal")).await.unwrap();
    let rename = |to: &str| UserChanges {
        username: name(to),
        email: Email::parse("unal@example.com").unwrap(),
        display_name: None,
        profile: Default::default(),
        role: Role::User,
    };
    let taken = accounts.update_user(&who, &name("ünal"), rename("ALICE")).await.unwrap_err();
    assert!(taken.to_string().contains("is taken"), "{taken}");
    accounts.update_user(&who, &name("ünal"), rename("ÜNAL")).await.unwrap();
    assert!(accounts.create_user(&who, user("Ünal")).await.is_err(), "the key follows Unicode case");
    let to_sa = ServiceAccountChanges { username: name("Alice"), display_name: None, admin: false };
    assert!(admin.update_service_account(&who, &name("svc-deploy"), to_sa).await.is_err());

    // Sign-in takes the username in any case, as Jira does.
    let signed_in = accounts.verify_login("ALICE", "long enough password").await.unwrap();
    assert_eq!(signed_in.unwrap().username.as_str(), "alice");

    // The command line says it in one line.
    let cli = crate::support::cli::tessera_with_input(
        &app.data,
        &["user", "create", "--username", "Alice", "--email", "a2@example.com", "--password-stdin"],
        "long enough password\n",
    )
    .await;
    assert_ne!(cli.code, 0);
    assert_eq!(cli.stderr.trim_end().lines().count(), 1, "{}", cli.stderr);
    assert!(cli.stderr.contains("is taken"), "{}", cli.stderr);
    let mut names: Vec<String> =
        accounts.list_users().await.unwrap().into_iter().map(|u| u.username.to_string()).collect();
    names.sort();
    assert_eq!(names, ["admin", "alice", "ÜNAL"], "nothing was stored by a refusal");

    // Names stored before the rule (or by an older build) are registered
    // at start; a pair that already clashes keeps working.
    for (id, username) in [("legacy1", "CAROL"), ("legacy2", "carol")] {
        sqlx::query(
            "INSERT INTO users (id, username, email, display_name, password_hash, role, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, NULL, 'x', 'user', 1, 0, 0)",
        )
        .bind(id)
        .bind(username)
        .bind(format!("{id}@example.com"))
        .execute(app.core.database.pool())
        .await
        .unwrap();
    }
    app.core.database.migrate().await.unwrap();
    assert!(accounts.create_user(&who, user("Carol")).await.is_err(), "the old names are claimed");
}
