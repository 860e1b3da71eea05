//! Client authentication at the token, introspection and revocation
//! endpoints: `client_secret_basic`, `client_secret_post` or
//! `private_key_jwt` (RFC 7523 §2.2), only one at a time (RFC 6749 §2.3).
//! A secret's failures all look the same to the caller; an assertion's say
//! which rule it broke (`client_assertion.rs` checks it).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::client_assertion::CLIENT_ASSERTION_TYPE;
use super::params::{decode, FormParams};
use super::OAuthError;
use crate::crypto::assertion::peek;
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
    /// A JWT signed with the client's private key; `client_id` is the
    /// body's, or else the one the assertion claims (unverified).
    Assertion {
        client_id: String,
        assertion: String,
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
            Self::Assertion { client_id, .. } => write!(f, "Assertion({client_id}, [redacted])"),
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
        let assertion_type = params.get("client_assertion_type");
        let assertion = params.get("client_assertion");
        if assertion_type.is_some() || assertion.is_some() {
            if authorization.is_some() || body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "client authentication must use only one method (a client assertion, a Basic header or client_secret)",
                ));
            }
            let (Some(assertion_type), Some(assertion)) = (assertion_type, assertion) else {
                return Err(OAuthError::invalid_request(
                    "client_assertion and client_assertion_type must be sent together",
                ));
            };
            if assertion_type != CLIENT_ASSERTION_TYPE {
                return Err(OAuthError::InvalidRequest(format!(
                    "client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
                )));
            }
            let client_id = match body_id {
                Some(id) => id.to_owned(),
                None => peek(assertion)
                    .map_err(|why| OAuthError::InvalidClientAssertion(why.to_string()))?
                    .issuer
                    .ok_or_else(|| {
                        OAuthError::InvalidClientAssertion("the assertion has no 'iss' claim".into())
                    })?,
            };
            return Ok(Self::Assertion { client_id, assertion: assertion.to_owned() });
        }
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
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::Assertion { client_id, .. }
            | Self::IdOnly { client_id } => Some(client_id),
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
        // Checked by `OAuthServer::verify_client_assertion`: the keys may
        // need fetching.
        PresentedCredentials::Assertion { .. } | PresentedCredentials::None => return Err(fail()),
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
    fn an_assertion_goes_alone_and_with_its_type() {
        let assertion = format!("client_assertion_type={}&client_assertion=a.b.c", CLIENT_ASSERTION_TYPE);
        let with_secret = FormParams::parse(format!("{assertion}&client_secret=s").as_bytes()).unwrap();
        let error = PresentedCredentials::from_request(None, &with_secret).unwrap_err();
        assert_eq!(error.code(), "invalid_request");
        let params = FormParams::parse(format!("{assertion}&client_id=c").as_bytes()).unwrap();
        let error = PresentedCredentials::from_request(Some(&basic("c", "s")), &params).unwrap_err();
        assert_eq!(error.code(), "invalid_request");
        let alone = FormParams::parse(b"client_assertion=a.b.c&client_id=c").unwrap();
        assert_eq!(PresentedCredentials::from_request(None, &alone).unwrap_err().code(), "invalid_request");
        let saml = FormParams::parse(
            b"client_assertion_type=urn:ietf:params:oauth:client-assertion-type:saml2-bearer&client_assertion=x",
        )
        .unwrap();
        assert_eq!(PresentedCredentials::from_request(None, &saml).unwrap_err().code(), "invalid_request");
        let named = PresentedCredentials::from_request(None, &params).unwrap();
        assert_eq!(named.client_id(), Some("c"));
        assert!(!format!("{named:?}").contains("a.b.c"));
    }

    #[test]
    fn an_assertion_without_client_id_names_its_client_by_iss() {
        let header = crate::crypto::b64url(br#"{"alg":"RS256"}"#);
        let payload = crate::crypto::b64url(br#"{"iss":"my-client","sub":"my-client"}"#);
        let body =
            format!("client_assertion_type={CLIENT_ASSERTION_TYPE}&client_assertion={header}.{payload}.c2ln");
        let params = FormParams::parse(body.as_bytes()).unwrap();
        let presented = PresentedCredentials::from_request(None, &params).unwrap();
        assert_eq!(presented.client_id(), Some("my-client"));
        let garbage = FormParams::parse(
            format!("client_assertion_type={CLIENT_ASSERTION_TYPE}&client_assertion=garbage").as_bytes(),
        )
        .unwrap();
        let error = PresentedCredentials::from_request(None, &garbage).unwrap_err();
        assert_eq!(error.code(), "invalid_client");
    }

    #[test]
    fn debug_hides_the_secret() {
        let presented = PresentedCredentials::Post { client_id: "c".into(), secret: "s3cr3t".into() };
        assert!(!format!("{presented:?}").contains("s3cr3t"));
    }
}
