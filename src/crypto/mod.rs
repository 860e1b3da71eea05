//! Everything cryptographic, over one provider (aws-lc-rs): the master key
//! and what is derived from it, opaque secrets and their keyed hashes,
//! signing keys, and JWT signing and verification. See docs/adr/0002.

pub mod assertion;
pub mod jwt;
pub mod master;
pub mod password;
pub mod personal_token;
pub mod secrets;
pub mod signing;
pub mod user_code;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// base64url without padding, the encoding of JOSE and of our tokens.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}
