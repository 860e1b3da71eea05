//! Pure types of the problem: parsed once at the edge, trusted inside.
//! Nothing here knows about HTTP or SQL.

mod claim_condition;
mod client;
mod client_kinds;
mod duration;
mod ids;
mod jwks;
mod personal_token;
mod pkce;
mod redirect_uri;
mod scope;
mod scope_limits;
mod service_account;
mod time;
mod trust;
mod user;
mod username;
pub mod wire_schema;

pub use claim_condition::ClaimCondition;
pub use client::{
    App, Client, ClientDraft, FormFields, NewClient, MAX_ACCESS_TOKEN_TTL, MAX_REFRESH_TOKEN_TTL,
};
pub use client_kinds::{Audience, AuthMethod, ClientId, ClientType, GrantType, PkcePolicy, TokenFormat};
pub use duration::{Grace, Lifetime};
pub use ids::{GrantId, PersonalTokenId, ServiceAccountId, TrustId, UserId};
pub use jwks::{
    ClientKeys, JwksUri, PublicJwk, PublicJwks, PublicKeyMaterial, ACCEPTED_ALGORITHMS, MAX_JWKS_BYTES,
};
pub use personal_token::{parse_token_label, PersonalToken, TokenPolicy, TokenStatus};
pub use pkce::{CodeChallenge, CodeVerifier};
pub use redirect_uri::RedirectUri;
pub use scope::{ScopeName, ScopeSet, ADMIN_SCOPE, OFFLINE_ACCESS};
pub use scope_limits::{parse_group_names, ScopeLimits};
pub use service_account::{NewServiceAccount, ServiceAccount, ServiceAccountChanges};
pub use time::{UnixTime, Utc};
pub use trust::{IssuerUrl, NewTrust, Trust, TrustDraft, TrustView, DEFAULT_TRUST_TTL, MAX_TRUST_TTL};
pub use user::{DirectoryLink, Email, NewUser, Password, Profile, ProfileDraft, Role, User, UserChanges};
pub use username::Username;

/// A draft's parse: the value, or None with the error noted against `field`.
fn take<T>(
    errors: &mut Vec<InvalidInput>,
    field: &'static str,
    result: Result<T, InvalidInput>,
) -> Option<T> {
    result.map_err(|error| errors.push(error.in_field(field))).ok()
}

fn non_blank(values: &[String]) -> impl Iterator<Item = &str> {
    values.iter().map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Why a value given by a person or a peer was refused; the text is safe to
/// show (it never repeats a secret).
/// `field` names the form field (or API property) at fault, when one is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    pub message: String,
    pub field: Option<&'static str>,
}

impl InvalidInput {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), field: None }
    }

    /// The same error, blamed on `field`.
    pub fn in_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }
}
