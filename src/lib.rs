//! Tessera: an OAuth 2.0 / OpenID Connect authorization server whose tokens
//! Jira accepts. See `docs/ARCHITECTURE.md` for the map of these modules.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod jira;
pub mod keys;
pub mod lifecycle;
pub mod metrics;
pub mod oauth;
pub mod personal_tokens;
pub mod proxies;
pub mod retention;
pub mod sessions;
pub mod startup;
pub mod store;
pub mod sync;
pub mod telemetry;
