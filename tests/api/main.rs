#![allow(clippy::unwrap_used, clippy::expect_used)]

//! One integration-test binary: every module below runs against SQLite and
//! against a real Postgres (a fresh database per test).

mod helpers;
mod jira;
mod jira_page;
mod jira_standin;
mod lifecycle;

mod admin_api;
mod authorize;
mod backup;
mod browser;
mod chromium;
mod cli;
mod client_cache;
mod console;
mod console_browser;
mod disabled_scopes;
mod disabling;
mod discovery;
mod fault_proxy;
mod hostile;
mod introspection;
mod oidc;
mod operations;
mod outage;
mod personal_tokens;
mod process;
mod query_plans;
mod refresh;
mod retention;

mod keys;

mod revocation;
mod token_client_credentials;
mod token_errors;
mod users;
