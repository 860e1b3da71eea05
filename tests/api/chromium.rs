//! A real browser (issue 3 item 7): headless Chromium, driven over WebDriver,
//! signs in, approves and lands on the client's redirect URI with a code
//! that exchanges for tokens. No JavaScript: real submit buttons. Fails —
//! never skips — when no browser can start.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::authorize::{exchange, setup_with_issuer};
use crate::both_backends;
use crate::helpers::Backend;

both_backends!(a_person_signs_in_and_approves_in_chromium);

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn binary(variable: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(variable).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.exists(),
        "the browser tests need {} ({variable}); install Debian's chromium and chromium-driver (scripts/test does when it can)",
        path.display()
    );
    path
}

/// chromedriver on a free port, stopped when dropped.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(crate) async fn start_driver() -> Driver {
    let chromedriver = binary("TESSERA_CHROMEDRIVER", "/usr/bin/chromedriver");
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not answer within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { child, url }
}

/// A tiny stand-in for the client's web app: it only shows where it landed.
async fn start_callback_page() -> (u16, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = actix_web::HttpServer::new(|| {
        actix_web::App::new().route(
            "/cb",
            actix_web::web::get().to(|| async {
                actix_web::HttpResponse::Ok()
                    .content_type("text/html")
                    .body("<h1 id=landed>Back at the app</h1>")
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (port, handle)
}

async fn a_person_signs_in_and_approves_in_chromium(backend: Backend) {
    let setup = setup_with_issuer(backend, "http://127.0.0.1").await;
    let (app_port, callback) = start_callback_page().await;
    let redirect_uri = format!("http://127.0.0.1:{app_port}/cb");
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", setup.client.id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", "openid profile"),
            ("state", "browser-state"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let authorize = setup.app.url(&format!("/oauth2/authorize?{query}"));

    let (driver, browser, profile) = start_browser().await;
    let shot = |name: &str| screenshot_path(&format!("{backend:?}-{name}"));

    let flow = async {
        browser.goto(&authorize).await?;
        browser.wait().for_element(Locator::Id("username")).await?.send_keys("jane").await?;
        std::fs::write(shot("login"), browser.screenshot().await?).ok();
        browser.find(Locator::Id("password")).await?.send_keys("correct horse battery").await?;
        browser.find(Locator::Css("button[value=login]")).await?.click().await?;
        let allow = browser.wait().for_element(Locator::Css("button[value=consent]")).await?;
        std::fs::write(shot("consent"), browser.screenshot().await?).ok();
        allow.click().await?;
        browser.wait().for_element(Locator::Id("landed")).await?;
        browser.current_url().await
    };
    let landed = flow.await;
    let _ = browser.close().await;
    callback.stop(false).await;
    let _ = std::fs::remove_dir_all(&profile);
    drop(driver);
    let landed = landed.unwrap_or_else(|e| panic!("the browser flow failed: {e}"));

    assert!(landed.as_str().starts_with(&redirect_uri), "{landed}");
    let query: std::collections::HashMap<String, String> = landed.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "browser-state");
    assert_eq!(query["iss"], "http://127.0.0.1");
    let tokens = exchange(&setup, &query["code"], &[("redirect_uri", redirect_uri.as_str())]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert!(tokens.json()["id_token"].is_string());
}

/// chromedriver, a headless Chromium behind it, and its throwaway profile
/// directory (the caller removes it).
pub(crate) async fn start_browser() -> (Driver, fantoccini::Client, PathBuf) {
    let chromium = binary("TESSERA_CHROMIUM", "/usr/bin/chromium");
    let driver = start_driver().await;
    let profile = std::env::temp_dir().join(format!("tessera-chromium-{}", uuid::Uuid::new_v4().simple()));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("Chromium did not start through chromedriver: {e}"));
    (driver, browser, profile)
}

/// Where a browser test saves the screenshot `name` (the test's output
/// directory, never the repository).
pub(crate) fn screenshot_path(name: &str) -> PathBuf {
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    shots.join(format!("{name}.png").to_lowercase())
}
