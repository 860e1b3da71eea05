//! The command line. Every command has `--json`; bad input is one
//! line on stderr, a non-zero exit, and no change to stored data.

use std::sync::Arc;

use tessera::clock::ManualClock;
use tessera::domain::UnixTime;

use crate::both_backends;
use crate::support::cli::{tessera, tessera_with_input};
use crate::support::{spawn_node, Backend, ClientSpec, TestClient, TestData};

both_backends!(
    a_client_created_on_the_command_line_gets_tokens,
    public_clients_get_no_secret,
    bad_input_is_one_line_on_stderr_and_changes_nothing,
    keys_can_be_listed_and_rotated,
    secrets_are_shown_only_at_creation_and_rotation,
    an_admin_resets_a_lost_password_from_the_command_line,
    people_read_times_in_utc_and_each_error_once,
);

async fn a_client_created_on_the_command_line_gets_tokens(backend: Backend) {
    let data = Arc::new(TestData::new(backend).await);
    let account = tessera(&data, &["service-account", "create", "--username", "svc-deploy", "--json"]).await;
    assert_eq!(account.json()["username"], "svc-deploy");
    assert_eq!(account.json()["admin"], false);
    let ops =
        tessera(&data, &["service-account", "create", "--username", "svc-ops", "--admin", "--json"]).await;
    assert_eq!(ops.json()["admin"], true, "{}", ops.stderr);
    // Command-line changes are in the audit log, as the OS user.
    let node = crate::support::spawn_node(
        data.clone(),
        data.raw_settings(),
        tessera::clock::ManualClock::new(tessera::domain::UnixTime::now()),
    )
    .await;
    let events =
        node.core.audit.list(&tessera::store::AuditQuery { limit: 10, ..Default::default() }).await.unwrap();
    let created: Vec<_> = events.iter().filter(|e| e.kind == "service_account.created").collect();
    assert_eq!(created.len(), 2);
    assert!(created.iter().all(|e| e.actor.starts_with("cli:")), "{created:?}");
    drop(node);
    let scope =
        tessera(&data, &["scope", "create", "jira:read", "--description", "Read Jira", "--json"]).await;
    assert_eq!(scope.json()["name"], "jira:read");
    let created = tessera(
        &data,
        &[
            "client",
            "create",
            "--name",
            "deployer",
            "--grant",
            "client_credentials",
            "--scope",
            "jira:read",
            "--service-account",
            "svc-deploy",
            "--json",
        ],
    )
    .await
    .json();
    let client = TestClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    assert!(client.secret.starts_with("tsr_cs_"));

    let app = spawn_node(data.clone(), data.raw_settings(), ManualClock::new(UnixTime::now())).await;
    let token = app.access_token(&client).await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    assert!(app.is_active(&jira, &token).await);

    let disabled = tessera(&data, &["client", "disable", &client.id, "--json"]).await.json();
    assert_eq!(disabled["enabled"], false);
    assert!(!app.is_active(&jira, &token).await, "the server sees the command line's change at once");
}

async fn bad_input_is_one_line_on_stderr_and_changes_nothing(backend: Backend) {
    let data = TestData::new(backend).await;
    assert_eq!(tessera(&data, &["migrate"]).await.code, 0);
    assert_eq!(tessera(&data, &["service-account", "create", "--username", "svc-deploy"]).await.code, 0);
    let base = ["client", "create", "--name", "x", "--grant", "client_credentials"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { base.iter().chain(extra).copied().collect() };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["client", "create", "--name", "x", "--grant", "password"], "grant type"),
        (with(&["--service-account", "nobody"]), "no service account named 'nobody'"),
        (with(&["--scope", "unknown:scope"]), "unknown scope 'unknown:scope'"),
        (with(&["--access-token-ttl", "5x"]), "invalid duration"),
        (with(&["--access-token-ttl", "3d"]), "maximum"),
        (with(&["--token-format", "xml"]), "token format"),
        (with(&["--auth-method", "none"]), "public clients"),
        (with(&["--public"]), "public client cannot use the client_credentials grant"),
        (
            vec!["client", "create", "--name", "x", "--grant", "authorization_code"],
            "needs at least one redirect URI",
        ),
        (
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--grant",
                "authorization_code",
                "--redirect-uri",
                "http://app.example/cb",
            ],
            "must use https",
        ),
        (
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--grant",
                "authorization_code",
                "--redirect-uri",
                "https://app.example/cb#f",
            ],
            "fragment",
        ),
        (
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--public",
                "--grant",
                "authorization_code",
                "--redirect-uri",
                "https://app.example/cb",
                "--pkce",
                "optional",
            ],
            "PKCE cannot be optional",
        ),
        (
            vec!["client", "create", "--name", "x", "--grant", "refresh_token"],
            "needs the authorization_code or device_code grant",
        ),
        (with(&["--redirect-uri", "https://app.example/cb"]), "authorization_code"),
        (with(&["--audience", "has space"]), "audience"),
        (vec!["client", "create", "--name", " ", "--grant", "client_credentials"], "client name"),
        (vec!["service-account", "create", "--username", "two words"], "username"),
        (vec!["service-account", "create", "--username", "svc-deploy"], "already exists"),
        (vec!["service-account", "disable", "nobody"], "no service account"),
        (vec!["scope", "create", "bad\"scope"], "scope name"),
        (vec!["scope", "create", "openid"], "already exists"),
        (vec!["client", "show", "no-such-client"], "no client"),
        (vec!["client", "rotate-secret", "no-such-client"], "no client"),
        (vec!["client", "delete", "no-such-client"], "no client"),
        (vec!["keys", "rotate", "--activate-in", "soon"], "invalid duration"),
    ];
    for (args, expected) in cases {
        let output = tessera(&data, &args).await;
        assert_ne!(output.code, 0, "{args:?} must fail");
        assert!(output.stdout.is_empty(), "{args:?} printed {}", output.stdout);
        let line = output.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{args:?}: one line, got {line:?}");
        assert!(line.starts_with("error: ") && line.contains(expected), "{args:?}: {line}");
    }
    assert_eq!(tessera(&data, &["client", "list", "--json"]).await.json(), serde_json::json!([]));
    let accounts = tessera(&data, &["service-account", "list", "--json"]).await.json();
    assert_eq!(accounts.as_array().unwrap().len(), 1);
    let keys = tessera(&data, &["keys", "list", "--json"]).await.json();
    assert_eq!(keys.as_array().unwrap().len(), 1, "no key was added by a failed rotation");
}

async fn keys_can_be_listed_and_rotated(backend: Backend) {
    let data = TestData::new(backend).await;
    let listed = tessera(&data, &["keys", "list", "--json"]).await.json();
    assert_eq!(listed[0]["state"], "active");
    let rotated = tessera(&data, &["keys", "rotate", "--activate-in", "2h", "--json"]).await.json();
    assert_eq!(rotated["state"], "next");
    assert_eq!(rotated["activates_at"].as_i64().unwrap() - rotated["created_at"].as_i64().unwrap(), 7_200);
    let listed = tessera(&data, &["keys", "list"]).await;
    assert!(listed.stdout.contains("next") && listed.stdout.contains("active"), "{}", listed.stdout);
}

async fn secrets_are_shown_only_at_creation_and_rotation(backend: Backend) {
    let data = TestData::new(backend).await;
    let created =
        tessera(&data, &["client", "create", "--name", "ci", "--grant", "client_credentials"]).await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let secret_line = created.stdout.lines().find(|l| l.starts_with("client_secret:")).unwrap();
    let secret = secret_line.split_whitespace().last().unwrap().to_owned();
    let id_line = created.stdout.lines().find(|l| l.starts_with("client_id:")).unwrap();
    let id = id_line.split_whitespace().last().unwrap().to_owned();

    for args in [vec!["client", "list"], vec!["client", "list", "--json"], vec!["client", "show", &id]] {
        let output = tessera(&data, &args).await;
        assert_eq!(output.code, 0);
        assert!(!output.stdout.contains(&secret) && !output.stdout.contains("tsr_cs_"), "{args:?}");
    }
    let rotated = tessera(&data, &["client", "rotate-secret", &id, "--json"]).await.json();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert!(new_secret.starts_with("tsr_cs_") && new_secret != secret);
    assert!(rotated["previous_secret_expires_at"].is_i64());
    // A leaked secret ends at once.
    let ended = tessera(&data, &["client", "rotate-secret", &id, "--grace", "0s"]).await;
    assert_eq!(ended.code, 0, "{}", ended.stderr);
    assert!(ended.stdout.contains("The previous secret no longer works."), "{}", ended.stdout);
}

#[tokio::test]
async fn an_unreachable_database_is_one_line_and_a_failure() {
    let env = [
        ("TESSERA_DATABASE_URL", "postgres://postgres@127.0.0.1:1/nothing"),
        ("TESSERA_DATABASE_TIMEOUT_SECONDS", "1"),
    ];
    let stderr = failure_in_an_empty_folder(&["client", "list"], &env).await;
    assert!(stderr.contains("database is unavailable") && !stderr.contains("secret"), "{stderr}");
}

async fn public_clients_get_no_secret(backend: Backend) {
    let data = TestData::new(backend).await;
    let args = [
        "client",
        "create",
        "--name",
        "spa",
        "--public",
        "--grant",
        "authorization_code",
        "--grant",
        "refresh_token",
        "--redirect-uri",
        "https://spa.example/cb",
        "--redirect-uri",
        "http://127.0.0.1/cb",
    ];
    let text = tessera(&data, &args).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(!text.stdout.contains("client_secret") && text.stdout.contains("no secret"), "{}", text.stdout);
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let created = tessera(&data, &json_args).await.json();
    assert!(created.get("client_secret").is_none());
    assert_eq!(created["client_type"], "public");
    assert_eq!(created["token_endpoint_auth_method"], "none");
    assert_eq!(created["pkce"], "required");
    assert_eq!(
        created["redirect_uris"],
        serde_json::json!(["http://127.0.0.1/cb", "https://spa.example/cb"])
    );
    let id = created["client_id"].as_str().unwrap();
    let rotate = tessera(&data, &["client", "rotate-secret", id]).await;
    assert_ne!(rotate.code, 0);
    assert!(rotate.stderr.contains("no secret"), "{}", rotate.stderr);
}

async fn an_admin_resets_a_lost_password_from_the_command_line(backend: Backend) {
    let data = Arc::new(TestData::new(backend).await);
    let args = ["user", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin"];
    let created = tessera_with_input(&data, &args, "the first long password\n").await;
    assert_eq!(created.code, 0, "{}", created.stderr);

    let reset = ["user", "reset-password", "alice", "--password-stdin"];
    let output = tessera_with_input(&data, &reset, "a second long password\n").await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(output.stdout.contains("set a new password for alice"), "{}", output.stdout);
    let node = spawn_node(data.clone(), data.raw_settings(), ManualClock::new(UnixTime::now())).await;
    let accounts = &node.core.accounts;
    assert!(accounts.verify_login("alice", "a second long password").await.unwrap().is_some());
    assert!(accounts.verify_login("alice", "the first long password").await.unwrap().is_none());
    let events =
        node.core.audit.list(&tessera::store::AuditQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "user.password_reset" && e.actor.starts_with("cli:")));

    // Refusals: one line each, and the password stays.
    for (args, input, says) in [
        (vec!["user", "reset-password", "nobody", "--password-stdin"], "a third long password\n", "no user"),
        (vec!["user", "reset-password", "alice", "--password-stdin"], "short\n", "password"),
        (vec!["user", "reset-password", "alice"], "", "--password-stdin"),
    ] {
        let output = tessera_with_input(&data, &args, input).await;
        assert_ne!(output.code, 0, "{args:?}");
        assert_eq!(output.stderr.trim_end().lines().count(), 1, "{}", output.stderr);
        assert!(output.stderr.contains(says), "{args:?}: {}", output.stderr);
    }
    assert!(accounts.verify_login("alice", "a second long password").await.unwrap().is_some());
}

/// `2026-11-29T08:31:15Z`, and no unix seconds, in every line of `text`.
fn assert_times_are_utc(text: &str, expected_times: usize) {
    let iso = |word: &str| {
        let b = word.as_bytes();
        b.len() == 20 && b[4] == b'-' && b[10] == b'T' && b[19] == b'Z' && word[..4].parse::<u32>().is_ok()
    };
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .map(|w| w.trim_end_matches('.'))
        .collect();
    assert_eq!(words.iter().filter(|w| iso(w)).count(), expected_times, "{text}");
    let unix = |word: &&str| word.len() == 10 && word.chars().all(|c| c.is_ascii_digit());
    assert!(!words.iter().any(unix), "unix seconds in {text}");
}

async fn people_read_times_in_utc_and_each_error_once(backend: Backend) {
    let data = TestData::new(backend).await;
    let args = ["user", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin"];
    assert_eq!(tessera_with_input(&data, &args, "the first long password\n").await.code, 0);

    let created = tessera(
        &data,
        &["token", "create", "--user", "alice", "--label", "deploy script", "--expires-in", "90d"],
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert_times_are_utc(created.stdout.lines().next().unwrap(), 1);
    let listed = tessera(&data, &["token", "list"]).await;
    assert_times_are_utc(&listed.stdout, 1);

    let keys = tessera(&data, &["keys", "list"]).await;
    assert_times_are_utc(&keys.stdout, 1);
    let rotated = tessera(&data, &["keys", "rotate", "--activate-in", "1h"]).await;
    assert_times_are_utc(&rotated.stdout, 1);

    let client =
        tessera(&data, &["client", "create", "--name", "ci", "--grant", "client_credentials", "--json"])
            .await
            .json();
    let id = client["client_id"].as_str().unwrap();
    let rotated = tessera(&data, &["client", "rotate-secret", id, "--grace", "1h"]).await;
    assert!(rotated.stdout.contains("keeps working until"), "{}", rotated.stdout);
    assert_times_are_utc(&rotated.stdout, 1);

    // An error is said once, not once more by each layer it passed.
    let id = tessera(&data, &["token", "list", "--json"]).await.json()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(tessera(&data, &["token", "revoke", &id]).await.code, 0);
    let again = tessera(&data, &["token", "revoke", &id]).await;
    assert_ne!(again.code, 0);
    assert_eq!(again.stderr.matches("already revoked").count(), 1, "{}", again.stderr);
    let bad = tessera(&data, &["client", "create", "--name", "x", "--grant", "password"]).await;
    assert_eq!(bad.stderr.matches("unknown grant type").count(), 1, "{}", bad.stderr);
    let bad = tessera(&data, &["user", "disable", "two words"]).await;
    assert_eq!(bad.stderr.matches("username").count(), 1, "{}", bad.stderr);
}

#[tokio::test]
async fn each_command_shows_its_own_options_and_serve_the_server_settings() {
    let help = |args: &'static [&'static str]| async move {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .arg("--help")
            .env_remove("TESSERA_DATABASE_URL")
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let token = help(&["token", "create"]).await;
    assert!(!token.contains("--workers") && !token.contains("--issuer"), "{token}");
    assert!(token.contains("Database:") && token.contains("--database-url"), "{token}");
    assert!(token.lines().count() <= 30, "{} lines:\n{token}", token.lines().count());
    let create = help(&["client", "create"]).await;
    assert!(
        !create.contains("--default-access-token-ttl") && create.contains("--access-token-ttl"),
        "{create}"
    );
    assert!(create.contains("token-exchange"), "--grant names every grant: {create}");
    let serve = help(&["serve"]).await;
    assert!(serve.contains("Server settings:") && serve.contains("--workers"), "{serve}");
    assert!(serve.contains("--default-access-token-ttl"), "{serve}");
    let health = help(&["healthcheck"]).await;
    assert!(!health.contains("--database-url") && health.contains("--management-bind"), "{health}");

    // Settings of other commands come from the environment; a bad one is one line.
    let stderr = failure_in_an_empty_folder(&["client", "list"], &[("TESSERA_WORKERS", "many")]).await;
    assert!(stderr.contains("many") && stderr.contains("TESSERA_WORKERS"), "{stderr}");
}

/// Runs `args` in a fresh, empty folder with `env`; it must fail with one
/// line on stderr, which is returned.
async fn failure_in_an_empty_folder(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = std::env::temp_dir().join(format!("tessera-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(&dir)
        .env("TESSERA_DATA_DIR", &dir)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_ne!(output.status.code(), Some(0), "{args:?} must fail");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}
