//! PKCE (RFC 7636), `S256` only: `plain` and an absent method (which means
//! `plain`, §4.3) are refused.

use std::fmt;

use aws_lc_rs::{constant_time, digest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::InvalidInput;

/// `43*128unreserved` (RFC 7636 §4.1, §4.2).
fn well_formed(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, InvalidInput> {
        match method {
            Some("S256") => {}
            Some("plain") => return Err(InvalidInput::new("code_challenge_method plain is not supported; use S256")),
            Some(_) => return Err(InvalidInput::new("code_challenge_method must be S256")),
            None => {
                return Err(InvalidInput::new(
                    "code_challenge_method is required and must be S256 (absent means plain, which is not supported)",
                ))
            }
        }
        if !well_formed(challenge) {
            return Err(InvalidInput::new("code_challenge must be 43 to 128 unreserved characters"));
        }
        Ok(Self(challenge.to_owned()))
    }

    /// Rebuilds a stored challenge (already checked when it was received).
    pub fn from_stored(challenge: String) -> Self {
        Self(challenge)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `BASE64URL(SHA256(verifier)) == challenge`, in constant time.
    pub fn is_satisfied_by(&self, verifier: &CodeVerifier) -> bool {
        let hash = digest::digest(&digest::SHA256, verifier.0.as_bytes());
        let expected = URL_SAFE_NO_PAD.encode(hash.as_ref());
        constant_time::verify_slices_are_equal(expected.as_bytes(), self.0.as_bytes()).is_ok()
    }
}

/// The client's secret half of PKCE. Not `Clone`, never printed.
pub struct CodeVerifier(String);

impl CodeVerifier {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        if !well_formed(text) {
            return Err(InvalidInput::new("code_verifier must be 43 to 128 unreserved characters"));
        }
        Ok(Self(text.to_owned()))
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_verifies() {
        let challenge = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert!(challenge.is_satisfied_by(&CodeVerifier::parse(VERIFIER).unwrap()));
        let other = CodeVerifier::parse(&"a".repeat(43)).unwrap();
        assert!(!challenge.is_satisfied_by(&other));
    }

    #[test]
    fn plain_absent_and_unknown_methods_are_refused() {
        for method in [None, Some("plain"), Some("S512"), Some("s256")] {
            assert!(CodeChallenge::parse(CHALLENGE, method).is_err(), "{method:?}");
        }
    }

    #[test]
    fn malformed_challenges_and_verifiers_are_refused() {
        for bad in [
            "a".repeat(42),
            "a".repeat(129),
            format!("{}+", "a".repeat(42)),
            format!("{}=", "a".repeat(43)),
            format!("{}é", "a".repeat(42)),
        ] {
            assert!(CodeChallenge::parse(&bad, Some("S256")).is_err(), "{bad}");
            assert!(CodeVerifier::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{:?}", CodeVerifier::parse(VERIFIER).unwrap()), "CodeVerifier([redacted])");
    }
}
