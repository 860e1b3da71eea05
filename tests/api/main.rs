#![allow(clippy::unwrap_used, clippy::expect_used)]

//! One integration-test binary: every module below runs against SQLite and
//! against a real Postgres (a fresh database per test). What the tests share
//! is in `support/`; every other module is a behaviour.

mod support;

mod admin_api;
mod architecture;
mod authorize;
mod backup;
mod chromium;
mod cli;
mod client_cache;
mod client_keys;
mod console;
mod console_browser;
mod device_flow;
mod directory;
mod disabled_scopes;
mod disabling;
mod discovery;
mod hostile;
mod introspection;
mod jira;
mod jira_page;
mod jwt_bearer;
mod keys;
mod lifecycle;
mod logout;
mod oidc;
mod oidc_claims;
mod operations;
mod outage;
mod par;
mod personal_tokens;
mod private_key_jwt;
mod query_plans;
mod refresh;
mod retention;
mod revocation;
mod standard_claims;
mod token_client_credentials;
mod token_errors;
mod trusts;
mod used_assertions;
mod users;
