//! Headless Chromium for the browser tests, driven over WebDriver:
//! chromedriver on a free port, a throwaway profile, and where screenshots
//! go. Fails — never skips — when no browser can start.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

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
pub struct Driver {
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

pub async fn start_driver() -> Driver {
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

/// chromedriver, a headless Chromium behind it, and its throwaway profile
/// directory (the caller removes it).
pub async fn start_browser() -> (Driver, fantoccini::Client, PathBuf) {
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
pub fn screenshot_path(name: &str) -> PathBuf {
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    shots.join(format!("{name}.png").to_lowercase())
}
