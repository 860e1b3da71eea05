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

both_backends!(a_person_signs_in_and_approves_in_chromium, a_person_connects_a_device_in_chromium);

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

/// The device verification page (RFC 8628) in a real browser: the
/// complete URI fills in the code, the person signs in and allows, and the
/// device's next poll gets the tokens.
async fn a_person_connects_a_device_in_chromium(backend: Backend) {
    let app =
        crate::support::spawn_app_with(backend, |raw| raw.issuer = Some("http://127.0.0.1".into())).await;
    let setup = crate::device_flow::setup_on(app).await;
    let started = crate::device_flow::start(&setup, "openid jira:read").await;
    let complete = started["verification_uri_complete"].as_str().unwrap();
    // The issuer is http://127.0.0.1 without the test server's port.
    let page = setup.app.url(&format!("/oauth2/device?{}", complete.split_once('?').unwrap().1));
    let device_code = started["device_code"].as_str().unwrap().to_owned();

    let (driver, browser, profile) = start_browser().await;
    let shot = |name: &str| screenshot_path(&format!("{backend:?}-device-{name}"));
    let flow = async {
        browser.goto(&page).await?;
        let code = browser.wait().for_element(Locator::Id("user_code")).await?;
        let shown = code.prop("value").await?.unwrap_or_default();
        std::fs::write(shot("code"), browser.screenshot().await?).ok();
        browser.find(Locator::Css("button[value=code]")).await?.click().await?;
        browser.wait().for_element(Locator::Id("username")).await?.send_keys("jane").await?;
        browser.find(Locator::Id("password")).await?.send_keys(crate::device_flow::PASSWORD).await?;
        browser.find(Locator::Css("button[value=login]")).await?.click().await?;
        let allow = browser.wait().for_element(Locator::Css("button[value=approve]")).await?;
        let confirm = browser.source().await?;
        std::fs::write(shot("confirm"), browser.screenshot().await?).ok();
        allow.click().await?;
        browser.wait().for_element(Locator::XPath("//h1[text()='Device connected']")).await?;
        Ok::<_, fantoccini::error::CmdError>((shown, confirm))
    };
    let result = flow.await;
    let _ = browser.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    drop(driver);
    let (shown, confirm) = result.unwrap_or_else(|e| panic!("the device flow failed in the browser: {e}"));
    assert_eq!(shown, started["user_code"].as_str().unwrap(), "the complete URI filled in the code");
    assert!(confirm.contains(&shown), "the approval page shows the code to compare");

    setup.app.clock.advance(6);
    let tokens = crate::device_flow::poll(&setup, &device_code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert!(tokens.json()["id_token"].is_string());
}
