//! Pure types of the problem: parsed once at the edge, trusted inside.
//! Nothing here knows about HTTP or SQL.

mod client;
mod duration;
mod pkce;
mod redirect_uri;
mod scope;
mod service_account;
mod time;
mod user;
mod username;

pub use client::{
    Audience, AuthMethod, Client, ClientId, ClientType, GrantType, NewClient, PkcePolicy, TokenFormat,
    MAX_ACCESS_TOKEN_TTL, MAX_REFRESH_TOKEN_TTL,
};
pub use duration::Lifetime;
pub use pkce::{CodeChallenge, CodeVerifier};
pub use redirect_uri::RedirectUri;
pub use scope::{ScopeName, ScopeSet};
pub use service_account::{NewServiceAccount, ServiceAccount};
pub use time::UnixTime;
pub use user::{Email, NewUser, Password, Role, User};
pub use username::Username;

/// Why a value given by a person or a peer was refused; the text is safe to
/// show (it never repeats a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl InvalidInput {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
