//! Back up and restore as docs/operations.md says: `pg_dump` of the
//! database, `pg_restore` into a fresh one, the same master key — and every
//! token issued before the dump still works. With another master key the
//! server refuses to start, with one clear line.

use std::path::PathBuf;
use std::sync::Arc;

use tessera::clock::ManualClock;
use tessera::config::{SecretString, Settings};
use tessera::domain::{ClientType, PkcePolicy, UnixTime};
use tessera::startup::Application;

use crate::authorize::{code_for, exchange, setup_with};
use crate::support::{spawn_node, Backend, TestData};

/// A PostgreSQL client tool: on the PATH, else the newest installed one.
fn pg_tool(name: &str) -> PathBuf {
    if let Ok(output) = std::process::Command::new("which").arg(name).output() {
        if output.status.success() {
            return PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(Result::ok)
                .map(|d| d.path().join("bin").join(name))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| panic!("the backup test needs {name}: apt-get install postgresql-client"))
}

fn run(tool: &str, args: &[&str]) {
    let output = std::process::Command::new(pg_tool(tool)).args(args).output().unwrap();
    assert!(output.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_dump_with_the_same_master_key_keeps_every_token() {
    let setup = setup_with(Backend::Postgres, ClientType::Public, PkcePolicy::Required, true).await;
    let machine = setup.app.deploy_client().await;
    let jwt = setup.app.access_token(&machine).await;
    let code = code_for(&setup, &[("scope", "openid jira:read offline_access")]).await;
    let held = exchange(&setup, &code, &[]).await.json();
    let refresh_token = held["refresh_token"].as_str().unwrap().to_owned();
    let personal_jwt = held["access_token"].as_str().unwrap().to_owned();

    // The backup: the database and the master key.
    let dump = setup.app.data.dir.join("tessera.dump");
    let source = setup.app.data.database_url();
    run("pg_dump", &["--format=custom", "--file", dump.to_str().unwrap(), &source]);
    let key = std::fs::read_to_string(setup.app.data.dir.join("master.key")).unwrap();

    // The restore, into an empty database on another "machine".
    let restored = Arc::new(TestData::empty_postgres().await);
    run(
        "pg_restore",
        &["--no-owner", "--exit-on-error", "--dbname", &restored.database_url(), dump.to_str().unwrap()],
    );

    // With another master key: refused, one line saying why.
    let mut wrong = restored.raw_settings();
    wrong.master_key = Some(SecretString::new(tessera::crypto::master::MasterKey::generate().to_base64()));
    let refused = Application::build_with_clock(
        Settings::resolve(wrong).unwrap(),
        Arc::new(ManualClock::new(UnixTime::now())),
    )
    .await
    .err()
    .expect("another master key cannot start on this database");
    let line = format!("{refused:#}");
    assert!(line.contains("master key differs"), "{line}");
    assert!(!line.contains('\n'), "one line: {line}");

    // With the same one: everything issued before the dump works.
    let mut same = restored.raw_settings();
    same.master_key = Some(SecretString::new(key.trim().to_owned()));
    let node = spawn_node(restored.clone(), same, ManualClock::new(UnixTime::now())).await;
    assert!(node.is_active(&setup.jira, &jwt).await, "a machine token from before the dump");
    assert!(node.is_active(&setup.jira, &personal_jwt).await, "a person's token from before the dump");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
        ("client_id", setup.client.id.as_str()),
    ];
    let refreshed = node.post_form("/oauth2/token", None, &form).await;
    assert_eq!(refreshed.status, 200, "a refresh token from before the dump: {}", refreshed.body);
    assert!(node.is_active(&setup.jira, refreshed.json()["access_token"].as_str().unwrap()).await);
    // The restored node signs with the same keys: the old JWKS still verifies.
    assert_eq!(node.get("/oauth2/jwks").await.json(), setup.app.get("/oauth2/jwks").await.json());
}
