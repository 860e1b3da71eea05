//! A real browser (issue 3 item 7): headless Chromium, driven over WebDriver,
//! signs in, approves and lands on the client's redirect URI with a code
//! that exchanges for tokens. No JavaScript: real submit buttons. Fails —
//! never skips — when no browser can start.

use std::net::TcpListener;

use fantoccini::Locator;

use crate::authorize::{exchange, setup_with_issuer};
use crate::both_backends;
use crate::support::chromium::{screenshot_path, start_browser};
use crate::support::Backend;

both_backends!(a_person_signs_in_and_approves_in_chromium);

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

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
