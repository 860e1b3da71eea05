//! Disabling ends things for good (security review, issue 11): a user,
//! client or service account enabled again gets new tokens, never the old
//! ones back; a password change or reset ends the user's app grants, so
//! "disable, reset, re-enable" leaves a stolen refresh token dead.

use tessera::domain::{ClientType, Password, PkcePolicy, TokenFormat, Username};
use tessera::service::personal_tokens::TokenRequest;

use crate::authorize::{code_for, exchange, setup_with, Setup};
use crate::both_backends;
use crate::refresh::refresh;
use crate::support::{tester, Backend, ClientSpec};

both_backends!(
    a_disabled_user_enabled_again_gets_no_old_token_back,
    a_password_reset_or_change_ends_the_users_app_grants,
    a_disabled_client_enabled_again_gets_no_old_token_back,
    a_disabled_service_account_enabled_again_gets_no_old_token_back,
);

/// What jane holds: the tokens of one app grant and a personal token.
struct Held {
    access: String,
    refresh: String,
    personal: String,
}

async fn jane_signs_in_and_makes_a_personal_token(setup: &Setup) -> Held {
    let code = code_for(setup, &[("scope", "openid jira:read offline_access")]).await;
    let tokens = exchange(setup, &code, &[]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let tokens = tokens.json();
    let jane = setup.app.core.accounts.find_user(&Username::parse("jane").unwrap()).await.unwrap();
    let request = TokenRequest { label: "script".into(), scopes: vec!["jira:read".into()], expires_in: None };
    let personal = setup.app.core.personal_tokens.create(&tester(), &jane, &request).await.unwrap();
    Held {
        access: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        personal: personal.secret.expose().to_owned(),
    }
}

async fn a_disabled_user_enabled_again_gets_no_old_token_back(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let held = jane_signs_in_and_makes_a_personal_token(&setup).await;
    let app = &setup.app;
    assert!(app.is_active(&setup.jira, &held.access).await);
    assert!(app.is_active(&setup.jira, &held.personal).await);

    let jane = Username::parse("jane").unwrap();
    app.core.accounts.set_user_enabled(&tester(), &jane, false).await.unwrap();
    app.clock.advance(1);
    app.core.accounts.set_user_enabled(&tester(), &jane, true).await.unwrap();

    assert!(!app.is_active(&setup.jira, &held.access).await, "the app's access token stays dead");
    assert!(!app.is_active(&setup.jira, &held.personal).await, "the personal token stays dead");
    refresh(&setup, &held.refresh, &[]).await.assert_oauth_error(400, "invalid_grant");
    let tokens = app.core.personal_tokens.list(None).await.unwrap();
    assert!(tokens.iter().all(|t| t.revoked_at.is_some()), "listed as revoked, not merely paused");

    // Enabled again, jane can start afresh.
    let fresh = jane_signs_in_and_makes_a_personal_token(&setup).await;
    assert!(app.is_active(&setup.jira, &fresh.access).await);
    assert!(app.is_active(&setup.jira, &fresh.personal).await);
    assert_eq!(refresh(&setup, &fresh.refresh, &[]).await.status, 200);
}

async fn a_password_reset_or_change_ends_the_users_app_grants(backend: Backend) {
    let setup = setup_with(backend, ClientType::Public, PkcePolicy::Required, true).await;
    let app = &setup.app;
    let jane = Username::parse("jane").unwrap();

    let held = jane_signs_in_and_makes_a_personal_token(&setup).await;
    let new_password = Password::parse("a brand new password").unwrap();
    app.core.accounts.reset_password(&tester(), &jane, &new_password).await.unwrap();
    assert!(!app.is_active(&setup.jira, &held.access).await, "reset: the app grant ends");
    refresh(&setup, &held.refresh, &[]).await.assert_oauth_error(400, "invalid_grant");
    assert!(app.is_active(&setup.jira, &held.personal).await, "personal tokens are kept, as documented");

    // The same when jane changes it herself (she signs in with the new one).
    let user = app.core.accounts.find_user(&jane).await.unwrap();
    let second = {
        let code = crate::authorize::code_for_password(&setup, "a brand new password").await;
        let tokens = exchange(&setup, &code, &[]).await.json();
        (
            tokens["access_token"].as_str().unwrap().to_owned(),
            tokens["refresh_token"].as_str().unwrap().to_owned(),
        )
    };
    let newer = Password::parse("yet another password").unwrap();
    app.core.accounts.change_own_password(&tester(), &user, "a brand new password", &newer).await.unwrap();
    assert!(!app.is_active(&setup.jira, &second.0).await, "change: the app grant ends");
    refresh(&setup, &second.1, &[]).await.assert_oauth_error(400, "invalid_grant");
}

async fn a_disabled_client_enabled_again_gets_no_old_token_back(backend: Backend) {
    let app = crate::support::spawn_app(backend).await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let client = app.create_client(ClientSpec { token_format: format, ..Default::default() }).await;
        let old = app.access_token(&client).await;
        assert!(app.is_active(&jira, &old).await);

        app.core.admin.set_client_enabled(&tester(), &client.id, false).await.unwrap();
        app.clock.advance(1);
        app.core.admin.set_client_enabled(&tester(), &client.id, true).await.unwrap();
        app.clock.advance(1);

        assert!(!app.is_active(&jira, &old).await, "{format:?}: the old token stays dead");
        let new = app.access_token(&client).await;
        assert!(app.is_active(&jira, &new).await, "{format:?}: new tokens work");
    }
}

async fn a_disabled_service_account_enabled_again_gets_no_old_token_back(backend: Backend) {
    let app = crate::support::spawn_app(backend).await;
    let jira = app.create_client(ClientSpec { resource_server: true, ..Default::default() }).await;
    let client = app.deploy_client().await;
    let old = app.access_token(&client).await;
    assert!(app.is_active(&jira, &old).await);

    let account = Username::parse("svc-deploy").unwrap();
    app.core.admin.set_service_account_enabled(&tester(), &account, false).await.unwrap();
    app.clock.advance(1);
    app.core.admin.set_service_account_enabled(&tester(), &account, true).await.unwrap();
    app.clock.advance(1);

    assert!(!app.is_active(&jira, &old).await, "the old token stays dead");
    let new = app.access_token(&client).await;
    assert!(app.is_active(&jira, &new).await, "new tokens work");
}
