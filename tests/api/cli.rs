//! The command line. Every command has `--json`; bad input is one
//! line on stderr, a non-zero exit, and no change to stored data.

use std::sync::Arc;

use serde_json::Value;
use tessera::clock::ManualClock;
use tessera::domain::UnixTime;

use crate::both_backends;
use crate::helpers::{spawn_node, Backend, ClientSpec, TestClient, TestData};

both_backends!(
    a_client_created_on_the_command_line_gets_tokens,
    public_clients_get_no_secret,
    bad_input_is_one_line_on_stderr_and_changes_nothing,
    keys_can_be_listed_and_rotated,
    secrets_are_shown_only_at_creation_and_rotation,
);

pub(crate) struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|_| panic!("not JSON: {}", self.stdout))
    }
}

pub(crate) async fn tessera(data: &TestData, args: &[&str]) -> Output {
    tessera_with_input(data, args, "").await
}

/// Runs the binary on `data` with `input` on standard input.
pub(crate) async fn tessera_with_input(data: &TestData, args: &[&str], input: &str) -> Output {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .current_dir(&data.dir)
        .env("TESSERA_DATABASE_URL", data.database_url())
        .env("TESSERA_DATA_DIR", &data.dir)
        .env("TESSERA_ISSUER", crate::helpers::ISSUER)
        .env_remove("TESSERA_MASTER_KEY")
        .env_remove("DATABASE_URL")
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

async fn a_client_created_on_the_command_line_gets_tokens(backend: Backend) {
    let data = Arc::new(TestData::new(backend).await);
    let account = tessera(&data, &["service-account", "create", "--username", "svc-deploy", "--json"]).await;
    assert_eq!(account.json()["username"], "svc-deploy");
    assert_eq!(account.json()["admin"], false);
    let ops =
        tessera(&data, &["service-account", "create", "--username", "svc-ops", "--admin", "--json"]).await;
    assert_eq!(ops.json()["admin"], true, "{}", ops.stderr);
    // Command-line changes are in the audit log, as the OS user.
    let node = crate::helpers::spawn_node(
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
            "needs the authorization_code grant",
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
    let dir = std::env::temp_dir().join(format!("tessera-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["client", "list"])
        .current_dir(&dir)
        .env("TESSERA_DATABASE_URL", "postgres://postgres@127.0.0.1:1/nothing")
        .env("TESSERA_DATA_DIR", &dir)
        .env("TESSERA_DATABASE_TIMEOUT_SECONDS", "1")
        .output()
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
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
