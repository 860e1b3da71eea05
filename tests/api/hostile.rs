//! What an attacker can do to the whole process: exhaust its memory, hold
//! its sockets, fill its tables. Each test runs the real binary and
//! measures the process from outside.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::both_backends;
use crate::support::browser::hidden_fields;
use crate::support::process::ServerProcess;
use crate::support::{spawn_app_with, Backend, ClientSpec, TestData};

both_backends!(
    failed_sign_ins_in_parallel_keep_memory_bounded,
    a_body_that_never_arrives_is_cut_off_and_frees_its_socket,
    anonymous_page_views_store_nothing,
    failed_client_secrets_from_elsewhere_never_lock_out_the_real_client,
    failed_sign_ins_from_elsewhere_never_lock_out_the_person,
);

/// Resident memory the server may reach under a flood of failed sign-ins:
/// the base process plus one 19 MiB argon2 block per concurrent hash (one
/// per core here), with room for allocator slack. Before the memory pool,
/// 200 parallel failed sign-ins took it to ~400–650 MiB.
const RSS_BOUND_KIB: u64 = 128 * 1024;

async fn failed_sign_ins_in_parallel_keep_memory_bounded(backend: Backend) {
    let data = Arc::new(TestData::new(backend).await);
    let server = ServerProcess::start(&data, &[]).await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = browser.get(server.url("/console/login")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_fields(&form).into_iter().find(|(name, _)| name == "tessera_csrf").unwrap().1;
    let idle = server.rss_kib();

    let attempts = (0..200).map(|n| {
        let browser = browser.clone();
        let url = server.url("/console/login");
        let fields = vec![
            ("tessera_csrf".to_owned(), csrf.clone()),
            ("next".to_owned(), "/console".to_owned()),
            ("username".to_owned(), format!("nobody-{n}")),
            ("password".to_owned(), format!("wrong password {n}")),
        ];
        tokio::spawn(async move {
            let response =
                browser.post(url).header("sec-fetch-site", "same-origin").form(&fields).send().await;
            response.map(|r| r.status().as_u16()).unwrap_or(0)
        })
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = statuses.into_iter().map(Result::unwrap).collect();
    assert!(
        statuses.iter().all(|s| [200, 429, 503].contains(s)),
        "every attempt is refused, throttled or told to come back: {statuses:?}"
    );
    assert!(!statuses.contains(&303), "nobody signed in");
    let after = server.rss_kib();
    eprintln!("resident memory: idle {} MiB, after 200 failed sign-ins {} MiB", idle / 1024, after / 1024);
    assert!(
        after < RSS_BOUND_KIB,
        "resident memory {} MiB after 200 parallel failed sign-ins (idle {} MiB); bound {} MiB",
        after / 1024,
        idle / 1024,
        RSS_BOUND_KIB / 1024
    );
    // The server is still there and answering.
    let health = browser.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// A request that announces 1,000 bytes of body and sends 17; the server
/// must answer and close within the body timeout, never wait for the rest.
const SLOW_BODY: &[u8] = b"POST /oauth2/token HTTP/1.1\r\nHost: tessera\r\n\
Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=client";

async fn a_body_that_never_arrives_is_cut_off_and_frees_its_socket(backend: Backend) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let app = spawn_app_with(backend, |raw| {
        raw.body_timeout = Some("1s".into());
        raw.max_connections = Some(100);
    })
    .await;
    let client = app.deploy_client().await;
    let address = app.address.trim_start_matches("http://").to_owned();

    // Three times the connection cap of slow senders, and one that never
    // finishes its request head.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        socket.write_all(SLOW_BODY).await.unwrap();
        slow.push(socket);
    }
    let mut half_head = tokio::net::TcpStream::connect(&address).await.unwrap();
    half_head.write_all(b"POST /oauth2/token HTTP/1.1\r\nHost: tes").await.unwrap();

    // A real caller behind them is served once the slow ones are cut.
    let started = Instant::now();
    let token = app.token(&client, &[]).await;
    assert_eq!(token.status, 200, "{}", token.body);
    assert!(started.elapsed() < Duration::from_secs(10), "served after {:?}", started.elapsed());

    // Every slow sender got an answer and a closed connection.
    for mut socket in slow.into_iter().chain(std::iter::once(half_head)) {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "the server still holds a slow connection open");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 400") || answer.starts_with("HTTP/1.1 408") || answer.is_empty(),
            "{answer}"
        );
    }
}

/// Rows in the sessions table.
async fn session_rows(app: &crate::support::TestApp) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions")
        .fetch_one(app.core.database.pool())
        .await
        .unwrap()
}

async fn anonymous_page_views_store_nothing(backend: Backend) {
    let setup = crate::authorize::setup_with(
        backend,
        tessera::domain::ClientType::Public,
        tessera::domain::PkcePolicy::Required,
        false,
    )
    .await;
    let app = &setup.app;
    let authorize = crate::authorize::authorize_url(app, &setup.client, &[]);
    for _ in 0..50 {
        let console = app.get("/console/login").await;
        assert_eq!(console.status, 200);
        assert!(console.header("set-cookie").is_some(), "the form's token is bound to a cookie");
        let page = crate::support::send(app.http.get(&authorize)).await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
    assert_eq!(session_rows(app).await, 0, "cookie-less page views write no session rows");

    // The stateless form still signs people in, and only with its own token.
    let code = crate::authorize::code_for(&setup, &[]).await;
    assert!(!code.is_empty());
    assert_eq!(session_rows(app).await, 1, "one row, for the signed-in session");

    // A forged or tampered anonymous cookie is no session at all.
    let console = crate::console::Console::new(app);
    let form = console.browser.get(&console.url("/console/login")).await;
    let cookie = form.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let (name, value) = cookie.split_once('=').unwrap();
    let csrf = hidden_fields(&form.body).into_iter().find(|(n, _)| n == "tessera_csrf").unwrap().1;
    let (body, mac) = value.rsplit_once('.').unwrap();
    let (nonce, _expiry) = body.rsplit_once('.').unwrap();
    let tampered =
        [format!("{nonce}.99999999999.{mac}"), format!("{body}.AAAA"), "anon.x.99999999999.y".to_owned()];
    for forged in tampered {
        let post = crate::support::send(
            app.http
                .post(app.url("/console/login"))
                .header("cookie", format!("{name}={forged}"))
                .header("sec-fetch-site", "same-origin")
                .form(&[("tessera_csrf", csrf.as_str()), ("username", "jane"), ("password", "x")]),
        )
        .await;
        assert_eq!(post.status, 403, "{forged}: {}", post.body);
    }
    // The anonymous cookie ends after an hour.
    app.clock.advance(3_600);
    let late = crate::support::send(
        app.http
            .post(app.url("/console/login"))
            .header("cookie", &cookie)
            .header("sec-fetch-site", "same-origin")
            .form(&[("tessera_csrf", csrf.as_str()), ("username", "jane"), ("password", "x")]),
    )
    .await;
    assert_eq!(late.status, 403, "an hour-old form has expired");
}

/// An HTTP client whose connections come from `source` (any 127.0.0.0/8
/// address reaches a server on 127.0.0.1).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(source.parse().unwrap()))
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn failed_client_secrets_from_elsewhere_never_lock_out_the_real_client(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let token = app.access_token(&app.deploy_client().await).await;
    let attacker = client_from("127.0.0.2");
    for _ in 0..40 {
        let guess = attacker
            .post(app.url("/oauth2/introspect"))
            .basic_auth(&jira.id, Some("guessed secret"))
            .form(&[("token", token.as_str())]);
        let status = crate::support::send(guess).await.status;
        assert!(status == 401 || status == 429, "{status}");
    }
    let blocked = attacker
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&jira.id, Some(&jira.secret))
        .form(&[("token", token.as_str())]);
    crate::support::send(blocked).await.assert_oauth_error(429, "slow_down");

    // Jira itself, from its own address, with its secret: served.
    let real = client_from("127.0.0.1");
    let answer = real
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&jira.id, Some(&jira.secret))
        .form(&[("token", token.as_str())]);
    let answer = crate::support::send(answer).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["active"], true);
    let metrics = app.core.metrics.render();
    assert!(metrics.contains("tessera_throttled_total{kind=\"client_auth\"}"), "{metrics}");
    assert!(
        metrics.contains("tessera_client_auth_failures_total{reason=\"invalid_credentials\"} 2"),
        "{metrics}"
    );
}

async fn failed_sign_ins_from_elsewhere_never_lock_out_the_person(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    crate::console::add_user(&app, "hank", tessera::domain::Role::Admin, "hank's real password").await;
    let attempt = |client: reqwest::Client, login: &'static str, password: &'static str| {
        let url = app.url("/console/login");
        async move {
            let form = client.get(&url).send().await.unwrap().text().await.unwrap();
            let csrf = hidden_fields(&form).into_iter().find(|(n, _)| n == "tessera_csrf").unwrap().1;
            let fields = [("tessera_csrf", csrf.as_str()), ("username", login), ("password", password)];
            let response = client.post(&url).header("sec-fetch-site", "same-origin").form(&fields);
            crate::support::send(response).await
        }
    };
    // `hank` and `hank@example.com` are one account: five guesses in all.
    let attacker = client_from("127.0.0.2");
    for login in ["hank", "hank@example.com", "HANK", "Hank@Example.com", "hank"] {
        let refused = attempt(attacker.clone(), login, "a wrong guess").await;
        assert_eq!(refused.status, 200, "{}", refused.body);
        assert!(refused.body.contains("not right"));
    }
    let blocked = attempt(attacker.clone(), "hank@example.com", "another wrong guess").await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    assert!(blocked.body.contains("Too many failed sign-ins"), "{}", blocked.body);
    let blocked = attempt(attacker.clone(), "hank", "hank's real password").await;
    assert_eq!(blocked.status, 429, "even the right password waits from the guessing address");

    // Hank, from his own address, signs in at once: an admin is not locked out.
    let hank = attempt(client_from("127.0.0.1"), "hank", "hank's real password").await;
    assert_eq!(hank.status, 303, "{}", hank.body);

    // The attacker waits 1 s, then 2 s, … between further guesses.
    app.clock.advance(1);
    assert_eq!(attempt(attacker.clone(), "hank", "yet another guess").await.status, 200);
    assert_eq!(attempt(attacker.clone(), "hank", "and another").await.status, 429);
    app.clock.advance(2);
    assert_eq!(attempt(attacker.clone(), "hank", "and another").await.status, 200);
}
