//! The application services: what the console, the admin API, the command
//! line and the Jira page ask of Tessera — apps, service accounts, scopes,
//! people, personal API tokens, signing keys, sessions, the audit log and
//! the purge. Each rule and each audit record is written once, here; the
//! adapters (`http`, `cli`, `jira`) call these and never the store.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod directory;
mod error;
pub mod keys;
pub mod personal_tokens;
pub mod readiness;
pub mod remote_jwks;
pub mod replay_guard;
pub mod retention;
pub mod sessions;
pub mod sign_in;
pub mod submissions;
pub mod throttle;
pub mod trusts;

pub use error::{ServiceError, ServiceResult};
