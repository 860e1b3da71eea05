//! The protocol core: token, introspection and revocation requests in,
//! RFC-shaped answers out. Knows nothing of actix or SQL; the HTTP layer
//! hands it header bytes and bodies, the store is behind traits.

mod access_token;
pub mod client_auth;
pub mod discovery;
mod error;
pub mod grants;
pub mod introspection;
pub mod params;
pub mod revocation;
mod token_request;

use std::sync::Arc;

pub use access_token::IssuedAccessToken;
pub use error::OAuthError;
pub use token_request::{TokenRequest, TokenResponse};

use crate::clock::Clock;
use crate::crypto::secrets::SecretHasher;
use crate::domain::Lifetime;
use crate::keys::KeyManager;
use crate::store::Store;

/// The settings the protocol needs.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub issuer: String,
    pub default_audience: String,
    pub username_claim: String,
    pub access_token_ttl: Lifetime,
}

/// Everything a request is answered with; cheap to share between workers.
pub struct OAuthServer {
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyManager>,
    pub hasher: SecretHasher,
    pub clock: Arc<dyn Clock>,
    pub config: OAuthConfig,
}

impl OAuthServer {
    /// `POST /oauth2/token`.
    pub async fn token(
        &self,
        authorization: Option<&[u8]>,
        body: &[u8],
    ) -> Result<TokenResponse, OAuthError> {
        let params = params::FormParams::parse(body)?;
        let request = TokenRequest::parse(&params)?;
        let presented = client_auth::PresentedCredentials::from_request(authorization, &params)?;
        let now = self.clock.now();
        let client =
            client_auth::authenticate_client(self.store.as_ref(), &self.hasher, &presented, now).await?;
        match request {
            TokenRequest::ClientCredentials { scope, resources } => {
                grants::client_credentials::grant(self, &client, scope, &resources, now).await
            }
        }
    }
}
