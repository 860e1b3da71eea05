//! Starting, stopping and logging, seen from outside the real binary: a
//! stop under load fails nothing it accepted and exits 0; two nodes on an
//! empty database migrate it once; every JSON log line is one object.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::both_backends;
use crate::support::process::{cli, command_for, Output, ServerProcess};
use crate::support::{Backend, TestData};

both_backends!(a_stopping_node_finishes_what_it_accepted_and_exits_0, every_json_log_line_is_one_object,);

/// A service account and a client of it, made with the command line.
async fn machine_client(data: &TestData) -> (String, String) {
    cli(data, &["service-account", "create", "--username", "svc-life"]).await;
    cli(data, &["scope", "create", "api:read"]).await;
    let client = cli(
        data,
        &[
            "client",
            "create",
            "--name",
            "life",
            "--grant",
            "client_credentials",
            "--scope",
            "api:read",
            "--service-account",
            "svc-life",
        ],
    )
    .await;
    (client["client_id"].as_str().unwrap().to_owned(), client["client_secret"].as_str().unwrap().to_owned())
}

async fn a_stopping_node_finishes_what_it_accepted_and_exits_0(backend: Backend) {
    let data = TestData::new(backend).await;
    let (id, secret) = machine_client(&data).await;
    let mut server = ServerProcess::start(&data, &[("TESSERA_SHUTDOWN_GRACE", "10s")]).await;

    // Load: eight workers, each on one keep-alive connection opened (and
    // so accepted) before the signal, sending token requests until it. A
    // request written before the signal must get its token.
    let address = server.address.trim_start_matches("http://").to_owned();
    let auth = base64_basic(&id, &secret);
    let signalled = Arc::new(AtomicBool::new(false));
    let base = Instant::now();
    let signal_at = Arc::new(AtomicU64::new(u64::MAX));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let mut connection = KeepAlive::open(&address).await;
        assert_eq!(connection.token(&address, &auth, Instant::now()).await.map_err(|e| e.0).unwrap(), 200);
        let (address, auth, signalled, signal_at) =
            (address.clone(), auth.clone(), signalled.clone(), signal_at.clone());
        workers.push(tokio::spawn(async move {
            let (mut ok, mut failed_before_signal, mut raced) = (1u32, Vec::new(), 0u32);
            while !signalled.load(Ordering::Acquire) {
                match connection.token(&address, &auth, base).await {
                    Ok(200) => ok += 1,
                    Ok(status) => failed_before_signal.push(format!("status {status}")),
                    // Written after the stop began: the server closed the
                    // idle connection as the request arrived (the race of
                    // every keep-alive server); a client retries it.
                    Err((_, written)) if written >= signal_at.load(Ordering::Acquire) => raced += 1,
                    Err((error, written)) => failed_before_signal.push(format!(
                        "{error} (written {} µs before the signal)",
                        (signal_at.load(Ordering::Acquire).saturating_sub(written)) / 1000
                    )),
                }
                if raced > 0 {
                    break;
                }
            }
            (ok, failed_before_signal)
        }));
    }

    // A request in flight across the signal: its head now, its body later.
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    let body = "grant_type=client_credentials";
    let head = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    signalled.store(true, Ordering::Release);
    signal_at.store(base.elapsed().as_nanos() as u64, Ordering::Release);
    server.terminate();
    let stopping = Instant::now();
    // Not ready at once (the management listener stays up while draining).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = server.http.get(format!("{}/readyz", server.management)).send().await.unwrap();
    assert_eq!(ready.status(), 503, "a draining node is not ready");
    // No new connection is accepted on the main listener (a fresh client,
    // not one with a kept-alive connection).
    let fresh = reqwest::Client::new();
    let refused = fresh.get(server.url("/healthz")).timeout(Duration::from_millis(500)).send().await;
    assert!(refused.is_err(), "a new connection is not served: {refused:?}");

    // The request in flight finishes, with its token.
    slow.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("access_token"));

    let status = tokio::time::timeout(Duration::from_secs(15), server.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit 0 after a graceful stop: {status}");
    assert!(stopping.elapsed() < Duration::from_secs(10), "well within the grace");
    let mut issued = 1; // the slow request
    for worker in workers {
        let (ok, failed) = worker.await.unwrap();
        assert!(failed.is_empty(), "requests accepted before the stop failed: {failed:?}");
        issued += ok;
    }
    assert!(issued > 10, "the load ran ({issued} tokens)");

    // The batched per-client counts were saved on the way out.
    let settings = tessera::config::Settings::resolve(data.raw_settings()).unwrap();
    let core = tessera::startup::Core::open(settings, Arc::new(tessera::clock::SystemClock)).await.unwrap();
    let counts = core.audit.issued_last_day().await.unwrap();
    let saved = counts.iter().find(|(client, _)| *client == id).map_or(0, |(_, n)| *n);
    assert_eq!(saved, i64::from(issued), "every token issued is counted");
}

/// One HTTP/1.1 connection kept alive across requests (a pooled client may
/// open a new connection at any moment, and one still waiting in the
/// kernel's backlog when the listener closes was never accepted).
struct KeepAlive {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl KeepAlive {
    async fn open(address: &str) -> Self {
        Self { stream: tokio::io::BufReader::new(tokio::net::TcpStream::connect(address).await.unwrap()) }
    }

    /// A client-credentials request; the answer's status, or the error and
    /// when (nanoseconds after `base`) the request was fully written.
    async fn token(
        &mut self,
        address: &str,
        auth: &str,
        base: Instant,
    ) -> Result<u16, (std::io::Error, u64)> {
        let mut written = u64::MAX;
        self.exchange(address, auth, base, &mut written).await.map_err(|error| (error, written))
    }

    async fn exchange(
        &mut self,
        address: &str,
        auth: &str,
        base: Instant,
        written: &mut u64,
    ) -> std::io::Result<u16> {
        use tokio::io::AsyncBufReadExt as _;
        let body = "grant_type=client_credentials";
        let request = format!(
            "POST /oauth2/token HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {auth}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        *written = base.elapsed().as_nanos() as u64;
        let mut status_line = String::new();
        if self.stream.read_line(&mut status_line).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before answering"));
        }
        let status = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(status)
    }
}

fn base64_basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

/// One JSON object's keys and values in the order written, so a repeated
/// key is seen (a map would keep just one of them).
struct Pairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

async fn every_json_log_line_is_one_object(backend: Backend) {
    let data = TestData::new(backend).await;
    let (id, secret) = machine_client(&data).await;
    let (stdout, stderr) = (data.dir.join("server.out"), data.dir.join("server.log"));
    let output = Output { files: Some((stdout.clone(), stderr.clone())), generated_admin: true };
    let mut server = ServerProcess::spawn(&data, &[("TESSERA_LOG_FORMAT", "json")], output);
    server.wait_ready().await;

    // A token, a failed authentication (audited) and a sign-in page; the
    // first administrator is created (audited) outside any request.
    let token = |secret: &str, request_id: &str| {
        server
            .http
            .post(server.url("/oauth2/token"))
            .basic_auth(&id, Some(secret))
            .header("X-Request-Id", request_id)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    assert_eq!(token(&secret, "flow-ok").await.unwrap().status(), 200);
    assert_eq!(token("not-the-secret-7f3a", "flow-denied").await.unwrap().status(), 401);
    let page = server.http.get(server.url("/console/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    server.terminate();
    let status = tokio::time::timeout(Duration::from_secs(15), server.child.wait()).await.unwrap().unwrap();
    assert!(status.success());

    let log = std::fs::read_to_string(&stderr).unwrap();
    let mut targets = HashSet::new();
    let mut denied_lines = 0;
    for line in log.lines() {
        let pairs: Pairs =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        let keys: Vec<&str> = pairs.0.iter().map(|(k, _)| k.as_str()).collect();
        let unique: HashSet<&str> = keys.iter().copied().collect();
        assert_eq!(unique.len(), keys.len(), "repeated keys: {line}");
        for key in ["timestamp", "level", "target", "message", "request_id"] {
            assert!(unique.contains(key), "{key} missing: {line}");
        }
        assert!(!line.contains("\"None\"") && !line.contains("Some("), "Rust's Option leaked: {line}");
        assert!(
            !line.contains(&secret) && !line.contains("not-the-secret"),
            "a secret reached the log: {line}"
        );
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let target = value["target"].as_str().unwrap().to_owned();
        if target == "tessera::access" {
            assert!(value["request_id"].is_string(), "an access line names its request: {line}");
        }
        if value["request_id"] == "flow-denied" {
            denied_lines += 1;
        }
        if target == "tessera::audit" {
            assert!(value.get("address").is_some() && value.get("object").is_some(), "{line}");
        }
        targets.insert(target);
    }
    assert!(targets.contains("tessera::access") && targets.contains("tessera::audit"), "{targets:?}");
    assert_eq!(denied_lines, 2, "the denied request's access line and audit line carry its id:\n{log}");
    // The one-time password went to standard output, not into the log.
    assert!(!log.contains("Created the first administrator"));
    let out = std::fs::read_to_string(&stdout).unwrap();
    assert!(out.contains("Created the first administrator"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_an_empty_postgres_migrate_it_once_and_both_come_up() {
    let data = TestData::empty_postgres().await;
    let master = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    };
    let env = [("TESSERA_MASTER_KEY", master.as_str())];
    let first = ServerProcess::spawn(&data, &env, Output::default());
    let second = ServerProcess::spawn(&data, &env, Output::default());
    tokio::join!(first.wait_ready(), second.wait_ready());
    let admin =
        tessera::store::Database::connect_lazy(&data.database_url(), Duration::from_secs(5), 1).unwrap();
    let (applied, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT version) FROM _sqlx_migrations WHERE success")
            .fetch_one(admin.pool())
            .await
            .unwrap();
    assert_eq!(applied, distinct, "each migration applied once");
    let files =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap().count();
    assert_eq!(applied as usize, files, "and every one of them");
}

#[tokio::test]
async fn the_binary_says_its_version() {
    let data = TestData::new(Backend::Sqlite).await;
    let output = command_for(&data).arg("--version").output().await.unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("tessera {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_health_check_asks_the_local_listener() {
    let data = TestData::new(Backend::Sqlite).await;
    let server = ServerProcess::start(&data, &[]).await;
    let bind = server.management.trim_start_matches("http://").to_owned();
    let healthy =
        command_for(&data).args(["healthcheck", "--management-bind", &bind]).output().await.unwrap();
    assert!(healthy.status.success(), "{}", String::from_utf8_lossy(&healthy.stderr));
    drop(server);
    let port = crate::support::process::free_port();
    let down = command_for(&data)
        .args(["healthcheck", "--management-bind", &format!("127.0.0.1:{port}")])
        .output()
        .await
        .unwrap();
    assert!(!down.status.success());
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: nothing answers at 127.0.0.1:"), "{stderr}");
}
