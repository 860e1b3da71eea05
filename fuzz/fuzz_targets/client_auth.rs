//! `PresentedCredentials::from_request(Authorization header, &FormParams)`:
//! Basic header decoding with RFC 6749 §2.3.1's form-decoding of id and
//! secret, a client assertion (RFC 7523 §2.2) only with its type and
//! alone, one method per request.
//!
//! Input: one flag byte (odd: a header is present), then the header up to
//! the first `\n` and the form body after it; without a header, all of
//! it is the body.

#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tessera::oauth::client_assertion::CLIENT_ASSERTION_TYPE;
use tessera::oauth::client_auth::PresentedCredentials;
use tessera::oauth::params::FormParams;
use tessera::oauth::OAuthError;
use tessera_fuzz::{check_oauth_error, form_encode, reference_decode, split_at_byte};

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, read by the book.
fn reference_basic(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let (id, secret) = split_at_byte(&decoded, b':');
    let (id, secret) = (reference_decode(id)?, reference_decode(secret?)?);
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

fn basic_header(id: &str, secret: &str) -> Vec<u8> {
    format!("Basic {}", STANDARD.encode(format!("{}:{}", form_encode(id), form_encode(secret)))).into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let (header, body) = if flags & 1 == 1 {
        let (header, body) = split_at_byte(rest, b'\n');
        (Some(header), body.unwrap_or_default())
    } else {
        (None, rest)
    };

    // Any id and secret, encoded as RFC 6749 §2.3.1 says, come back intact.
    if let Some((id, secret)) = String::from_utf8_lossy(header.unwrap_or(rest)).split_once(':') {
        if !id.is_empty() && !secret.is_empty() {
            let header = basic_header(id, secret);
            match PresentedCredentials::from_request(Some(&header), &FormParams::default()) {
                Ok(PresentedCredentials::Basic { client_id, secret: s }) => {
                    assert_eq!((client_id.as_str(), s.as_str()), (id, secret));
                }
                other => panic!("Basic for {id:?}: {other:?}"),
            }
        }
    }

    let Ok(params) = FormParams::parse(body) else { return };
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let assertion = params.get("client_assertion");
    let assertion_type = params.get("client_assertion_type");
    let assertion_present = assertion.is_some() || assertion_type.is_some();
    let presented = match PresentedCredentials::from_request(header, &params) {
        Ok(presented) => presented,
        Err(error) => {
            check_oauth_error(&error, &["invalid_request", "invalid_client"]);
            if assertion_present {
                match error {
                    // Only when the assertion must name its client itself.
                    OAuthError::InvalidClientAssertion(_) => {
                        assert!(body_id.is_none() && header.is_none() && body_secret.is_none())
                    }
                    OAuthError::InvalidRequest(_) => assert!(
                        header.is_some()
                            || body_secret.is_some()
                            || assertion.is_none()
                            || assertion_type != Some(CLIENT_ASSERTION_TYPE),
                        "invalid_request without cause: {error:?}"
                    ),
                    other => panic!("an assertion refused as {other:?}"),
                }
                return;
            }
            match error {
                OAuthError::InvalidClient { basic } => {
                    assert!(basic && header.is_some() && body_secret.is_none());
                    assert_eq!(
                        reference_basic(header.unwrap_or_default()),
                        None,
                        "a good Basic header refused"
                    );
                }
                _ => assert!(
                    (header.is_some() && body_secret.is_some())
                        || (header.is_some() && body_id.is_some())
                        || (header.is_none() && body_id.is_none() && body_secret.is_some()),
                    "invalid_request without cause: {error:?}"
                ),
            }
            return;
        }
    };
    let shown = format!("{presented:?}");
    if !matches!(presented, PresentedCredentials::Assertion { .. }) {
        assert!(!assertion_present, "an assertion ignored: {shown}");
    }
    match &presented {
        PresentedCredentials::Assertion { client_id, assertion: presented_assertion } => {
            assert!(header.is_none() && body_secret.is_none());
            assert_eq!(assertion_type, Some(CLIENT_ASSERTION_TYPE));
            assert_eq!(Some(presented_assertion.as_str()), assertion);
            assert!(body_id.is_none_or(|id| id == client_id));
            assert_eq!(shown, format!("Assertion({client_id}, [redacted])"));
        }
        PresentedCredentials::Basic { client_id, secret } => {
            let header = header.expect("Basic without a header");
            assert!(body_secret.is_none());
            assert_eq!(reference_basic(header).as_ref(), Some(&(client_id.clone(), secret.clone())));
            assert!(body_id.is_none_or(|id| id == client_id));
            assert_eq!(shown, format!("Basic({client_id}, [redacted])"));
            let again = basic_header(client_id, secret);
            match PresentedCredentials::from_request(Some(&again), &FormParams::default()) {
                Ok(PresentedCredentials::Basic { client_id: i, secret: s }) => {
                    assert_eq!((&i, &s), (client_id, secret));
                }
                other => panic!("re-encoded Basic: {other:?}"),
            }
        }
        PresentedCredentials::Post { client_id, secret } => {
            assert!(header.is_none());
            assert_eq!((Some(client_id.as_str()), Some(secret.as_str())), (body_id, body_secret));
            assert_eq!(shown, format!("Post({client_id}, [redacted])"));
        }
        PresentedCredentials::IdOnly { client_id } => {
            assert!(header.is_none() && body_secret.is_none());
            assert_eq!(Some(client_id.as_str()), body_id);
        }
        PresentedCredentials::None => {
            assert!(header.is_none() && body_id.is_none() && body_secret.is_none());
        }
    }
    let named = match &presented {
        PresentedCredentials::Basic { client_id, .. }
        | PresentedCredentials::Post { client_id, .. }
        | PresentedCredentials::Assertion { client_id, .. }
        | PresentedCredentials::IdOnly { client_id } => Some(client_id.as_str()),
        PresentedCredentials::None => None,
    };
    assert_eq!(presented.client_id(), named);
});
