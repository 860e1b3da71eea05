//! Tessera: an OAuth 2.0 / OpenID Connect authorization server whose tokens
//! Jira accepts. See `docs/ARCHITECTURE.md` for the map of these modules.

pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod directory;
pub mod domain;
pub mod http;
pub mod jira;
pub mod lifecycle;
pub mod metrics;
pub mod oauth;
pub mod outbound;
pub mod proxies;
pub mod service;
pub mod startup;
pub mod store;
pub mod sync;
pub mod telemetry;
