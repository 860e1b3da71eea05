//! The console in a real browser (issue 4 item 5): headless Chromium signs
//! in as an admin, registers a confidential app for a service account,
//! copies the secret shown once, gets a client-credentials token with it
//! at the token endpoint, revokes the app's tokens in the console, and
//! introspection then says inactive. Screenshots of the main pages go to
//! the test's output directory (target/tmp/screenshots).

use fantoccini::{Client, Locator};
use tessera::domain::Role;

use crate::both_backends;
use crate::console::{add_user, ADMIN_PASSWORD};
use crate::support::chromium::{screenshot_path, start_browser};
use crate::support::{spawn_app_with, Backend, ClientSpec, TestApp, TestClient};

both_backends!(an_admin_registers_an_app_and_revokes_its_token_in_chromium);

async fn shoot(browser: &Client, backend: Backend, name: &str) -> Result<(), fantoccini::error::CmdError> {
    std::fs::write(screenshot_path(&format!("console-{backend:?}-{name}")), browser.screenshot().await?).ok();
    Ok(())
}

async fn an_admin_registers_an_app_and_revokes_its_token_in_chromium(backend: Backend) {
    // A plain-http loopback issuer, so the browser keeps the session cookie.
    let app = spawn_app_with(backend, |raw| raw.issuer = Some("http://127.0.0.1".into())).await;
    add_user(&app, "root", Role::Admin, ADMIN_PASSWORD).await;
    app.scope("jira:read").await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let (driver, browser, profile) = start_browser().await;

    let flow = drive(&app, &browser, backend, &jira);
    let outcome = flow.await;
    let _ = browser.close().await;
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
    let (client, token) = outcome.unwrap_or_else(|e| panic!("the console flow failed in Chromium: {e}"));

    assert!(!app.is_active(&jira, &token).await, "revoked in the console, inactive at introspection");
    assert_eq!(app.core.admin.find_client(&client.id).await.unwrap().name, "Deploy pipeline");
}

/// The browser part; returns the app's credentials and the token it got.
async fn drive(
    app: &TestApp,
    browser: &Client,
    backend: Backend,
    jira: &TestClient,
) -> Result<(TestClient, String), fantoccini::error::CmdError> {
    browser.goto(&app.url("/console")).await?;
    browser.wait().for_element(Locator::Id("username")).await?.send_keys("root").await?;
    browser.find(Locator::Id("password")).await?.send_keys(ADMIN_PASSWORD).await?;
    shoot(browser, backend, "login").await?;
    browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
    browser.wait().for_element(Locator::Css(".tiles")).await?;
    shoot(browser, backend, "dashboard").await?;

    browser.goto(&app.url("/console/service-accounts/new")).await?;
    browser.wait().for_element(Locator::Id("username")).await?.send_keys("svc-deploy").await?;
    browser.find(Locator::Id("display_name")).await?.send_keys("Deploy bot").await?;
    browser.find(Locator::Css("form.wide button[type=submit]")).await?.click().await?;
    browser.wait().for_element(Locator::Css(".notice")).await?;
    shoot(browser, backend, "service-accounts").await?;

    browser.goto(&app.url("/console/apps/new")).await?;
    browser.wait().for_element(Locator::Id("name")).await?.send_keys("Deploy pipeline").await?;
    browser.find(Locator::Css("input[name=scopes][value='jira:read']")).await?.click().await?;
    browser.find(Locator::Id("service_account")).await?.select_by_value("svc-deploy").await?;
    browser.find(Locator::Id("access_token_ttl")).await?.send_keys("15m").await?;
    shoot(browser, backend, "register-app").await?;
    browser.find(Locator::Css("form.wide button[type=submit]")).await?.click().await?;

    let secret_field = browser.wait().for_element(Locator::Id("client-secret")).await?;
    shoot(browser, backend, "secret-shown-once").await?;
    browser.find(Locator::Css("button[data-copy=client-secret]")).await?.click().await?;
    let secret = secret_field.prop("value").await?.unwrap_or_default();
    let client_id = browser.find(Locator::Id("client-id")).await?.text().await?;
    assert!(secret.starts_with("tsr_cs_"), "{secret}");
    let client = TestClient { id: client_id.trim().to_owned(), secret };

    // The app at work, outside the browser.
    let token = app.access_token(&client).await;
    assert!(app.is_active(jira, &token).await);

    // The secret is not shown again.
    // A reload posts the form again: no second app, no secret.
    browser.refresh().await?;
    let page = browser.source().await?;
    assert!(!page.contains(&client.secret), "a reload does not show the secret again");
    assert!(page.contains("already sent"), "{page}");
    let named = app
        .core
        .admin
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.name == "Deploy pipeline")
        .count();
    assert_eq!(named, 1, "a reload registers nothing");
    browser.goto(&app.url(&format!("/console/apps/{}", client.id))).await?;
    assert!(!browser.source().await?.contains("tsr_cs_"));
    shoot(browser, backend, "app").await?;
    browser.find(Locator::Css("form[action$='/revoke-tokens'] button")).await?.click().await?;
    browser.wait().for_element(Locator::Css(".notice")).await?;

    browser.goto(&app.url("/console/apps")).await?;
    shoot(browser, backend, "apps").await?;
    browser.goto(&app.url("/console/keys")).await?;
    shoot(browser, backend, "keys").await?;
    browser.set_window_size(1280, 800).await?;
    browser.goto(&app.url("/console/audit")).await?;
    shoot(browser, backend, "audit").await?;
    // A long unbroken value must wrap inside the audit table, not widen the page.
    let long = format!("scope:{}", "x".repeat(180));
    let grant = tessera::domain::GrantId::new("x".repeat(180));
    let target = tessera::service::audit::Target::Grant(&grant);
    app.core
        .audit
        .record(tessera::service::audit::Kind::ScopeCreated, &crate::support::tester(), target, &long)
        .await
        .unwrap();
    browser.goto(&app.url("/console/audit")).await?;
    let audit = browser.source().await?;
    assert!(audit.contains("client.tokens_revoked") && audit.contains("client.created"));
    let overflow =
        browser.execute("return document.documentElement.scrollWidth - window.innerWidth;", vec![]).await?;
    assert!(overflow.as_i64().unwrap_or(1) <= 0, "the audit page overflows at 1280 px by {overflow} px");
    shoot(browser, backend, "audit-long-entry").await?;

    // The Jira page: a disabled Test button looks disabled; the secret of
    // Jira's new client is shown at the top, without scrolling.
    browser.goto(&app.url("/console/jira")).await?;
    let cursor = browser
        .execute(
            "const b = document.querySelector(\"form[action='/console/jira/test'] button\"); \
             return [b.disabled, getComputedStyle(b).cursor, getComputedStyle(b).opacity];",
            vec![],
        )
        .await?;
    assert_eq!(cursor[0], true, "no TESSERA_JIRA_URL: the test cannot run");
    assert_eq!(cursor[1], "not-allowed", "{cursor}");
    assert!(cursor[2].as_str().unwrap().parse::<f64>().unwrap() < 1.0, "{cursor}");
    browser.find(Locator::Css("form[action='/console/jira/client'] button")).await?.click().await?;
    browser.wait().for_element(Locator::Id("jira-client-secret")).await?;
    let visible = browser
        .execute(
            "const r = document.getElementById('jira-client-secret').getBoundingClientRect(); \
             return r.top >= 0 && r.bottom <= window.innerHeight;",
            vec![],
        )
        .await?;
    assert_eq!(visible, true, "the one-time secret is in view without scrolling");
    shoot(browser, backend, "jira-client-created").await?;
    Ok((client, token))
}
