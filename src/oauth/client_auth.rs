//! Client authentication at the token, introspection and revocation
//! endpoints: `client_secret_basic` or `client_secret_post`, never both
//! (RFC 6749 §2.3). Every failure looks the same to the caller.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::params::{decode, FormParams};
use super::OAuthError;
use crate::crypto::secrets::SecretHasher;
use crate::domain::{AuthMethod, ClientType, UnixTime};
use crate::store::StoredClient;

/// The credentials a request presented, before they are checked.
pub enum PresentedCredentials {
    Basic {
        client_id: String,
        secret: String,
    },
    Post {
        client_id: String,
        secret: String,
    },
    /// Only a `client_id` (a public client, or a confidential one that forgot its secret).
    IdOnly {
        client_id: String,
    },
    None,
}

impl fmt::Debug for PresentedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { client_id, .. } => write!(f, "Basic({client_id}, [redacted])"),
            Self::Post { client_id, .. } => write!(f, "Post({client_id}, [redacted])"),
            Self::IdOnly { client_id } => write!(f, "IdOnly({client_id})"),
            Self::None => f.write_str("None"),
        }
    }
}

impl PresentedCredentials {
    /// Reads the `Authorization` header (if any) and the body parameters.
    pub fn from_request(authorization: Option<&[u8]>, params: &FormParams) -> Result<Self, OAuthError> {
        let body_id = params.get("client_id");
        let body_secret = params.get("client_secret");
        if let Some(header) = authorization {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "client authentication must use only one method (Basic header or client_secret in the body)",
                ));
            }
            let (client_id, secret) = parse_basic(header).ok_or(OAuthError::InvalidClient { basic: true })?;
            if body_id.is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Basic header",
                ));
            }
            return Ok(Self::Basic { client_id, secret });
        }
        Ok(match (body_id, body_secret) {
            (Some(id), Some(secret)) => Self::Post { client_id: id.to_owned(), secret: secret.to_owned() },
            (Some(id), None) => Self::IdOnly { client_id: id.to_owned() },
            (None, Some(_)) => return Err(OAuthError::invalid_request("client_secret without client_id")),
            (None, None) => Self::None,
        })
    }

    /// The client id the request names, if any.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Basic { client_id, .. } | Self::Post { client_id, .. } | Self::IdOnly { client_id } => {
                Some(client_id)
            }
            Self::None => None,
        }
    }

    pub fn used_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let id = decode(&decoded[..colon]).ok()?;
    let secret = decode(&decoded[colon + 1..]).ok()?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// Checks the presented credentials against the client they name (looked
/// up by the caller). Unknown client, wrong secret, wrong method and
/// disabled client all give the same `invalid_client`.
pub fn verify_client(
    stored: Option<&StoredClient>,
    hasher: &SecretHasher,
    presented: &PresentedCredentials,
    now: UnixTime,
) -> Result<(), OAuthError> {
    let fail = || OAuthError::InvalidClient { basic: presented.used_basic() };
    let (secret, method) = match presented {
        PresentedCredentials::Basic { secret, .. } => (secret, AuthMethod::ClientSecretBasic),
        PresentedCredentials::Post { secret, .. } => (secret, AuthMethod::ClientSecretPost),
        // A public client identifies itself by client_id alone (RFC 6749 §3.2.1).
        PresentedCredentials::IdOnly { .. } => {
            let public = stored.is_some_and(|s| {
                s.client.enabled
                    && s.client.client_type == ClientType::Public
                    && s.client.auth_method == AuthMethod::None
            });
            return if public { Ok(()) } else { Err(fail()) };
        }
        PresentedCredentials::None => return Err(fail()),
    };
    let Some(stored) = stored else {
        // Same work as a known client, so timing does not tell who exists.
        let _ = hasher.digest(secret);
        return Err(fail());
    };
    let secret_ok = stored
        .secrets
        .iter()
        .filter(|s| s.expires_at.is_none_or(|at| now < at))
        .fold(false, |ok, s| hasher.matches(secret, &s.digest) | ok);
    let client = &stored.client;
    if !secret_ok
        || !client.enabled
        || client.client_type != ClientType::Confidential
        || client.auth_method != method
    {
        return Err(fail());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))).into_bytes()
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = basic("my%3Aclient", "a%2Bb+c%25");
        let presented = PresentedCredentials::from_request(Some(&header), &FormParams::default()).unwrap();
        let PresentedCredentials::Basic { client_id, secret } = presented else { panic!() };
        assert_eq!(client_id, "my:client");
        assert_eq!(secret, "a+b c%");
    }

    #[test]
    fn two_methods_at_once_is_invalid_request() {
        let params = FormParams::parse(b"client_id=a&client_secret=b").unwrap();
        let error = PresentedCredentials::from_request(Some(&basic("a", "b")), &params).unwrap_err();
        assert_eq!(error.code(), "invalid_request");
    }

    #[test]
    fn malformed_basic_is_invalid_client() {
        for header in [&b"Basic !!!"[..], b"Basic bm9jb2xvbg==", b"Bearer abc", b"Basic \xff"] {
            let error = PresentedCredentials::from_request(Some(header), &FormParams::default()).unwrap_err();
            assert!(matches!(error, OAuthError::InvalidClient { basic: true }), "{header:?}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let presented = PresentedCredentials::Post { client_id: "c".into(), secret: "s3cr3t".into() };
        assert!(!format!("{presented:?}").contains("s3cr3t"));
    }
}
