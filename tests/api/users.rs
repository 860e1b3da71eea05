//! Users (issue 3 item 1): created on the command line with the password on
//! standard input, argon2id-hashed, verified by username or email, disabled;
//! the first start creates an admin.

use std::sync::Arc;

use tessera::clock::ManualClock;
use tessera::config::SecretString;
use tessera::domain::{Role, UnixTime};

use crate::both_backends;
use crate::cli::{tessera, tessera_with_input};
use crate::helpers::{spawn_app, spawn_app_with, spawn_node, Backend, TestData};

both_backends!(
    users_are_created_verified_and_disabled,
    bad_user_input_is_refused_and_changes_nothing,
    the_first_start_creates_one_admin,
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
