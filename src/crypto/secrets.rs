//! Opaque secrets (client secrets, opaque access tokens, and later refresh
//! tokens, codes and personal tokens): 256 random bits behind a readable
//! prefix, stored only as HMAC-SHA-256 under the server pepper. Verifying
//! one costs a microsecond, never a password hash.

use std::fmt;

use aws_lc_rs::{constant_time, hmac, rand};

use super::b64url;

/// Prefix of opaque access tokens.
pub const ACCESS_TOKEN_PREFIX: &str = "tsr_at_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "tsr_rt_";
/// Prefix of client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "tsr_cs_";

/// A secret value handed to a person or program once. `Debug` never shows it.
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Fills `buffer` from the operating system's random generator. If that
/// fails, nothing safe can be made, so the process stops here: the one
/// panic Tessera allows itself outside tests.
#[expect(clippy::expect_used, reason = "no secret may be made without the system's randomness")]
pub fn fill_random(buffer: &mut [u8]) {
    rand::fill(buffer).expect("the system random generator failed");
}

/// `prefix` followed by 256 random bits in base64url (43 characters).
pub fn generate_secret(prefix: &str) -> Secret {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    Secret(format!("{prefix}{}", b64url(&bytes)))
}

/// `n` random bytes in base64url, for identifiers (client ids, jti, kid).
pub fn random_id(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    fill_random(&mut bytes);
    b64url(&bytes)
}

/// `n` random characters from `[A-Za-z0-9]` (5.95 bits each), for
/// identifiers people type: they never start with `-`, so a command line
/// never mistakes one for a flag.
pub fn random_alphanumeric(n: usize) -> String {
    random_chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", n)
}

/// `n` characters drawn uniformly from `alphabet` (at most 256 of them).
pub fn random_chars(alphabet: &[u8], n: usize) -> String {
    let size = alphabet.len();
    // Bytes at or above the largest multiple of the size are dropped, so
    // every character is equally likely.
    let limit = 256 - 256 % size;
    let mut out = String::with_capacity(n);
    let mut buffer = [0u8; 64];
    while out.len() < n {
        fill_random(&mut buffer);
        for byte in buffer.iter().map(|b| usize::from(*b)).filter(|b| *b < limit) {
            if out.len() == n {
                break;
            }
            out.push(char::from(alphabet[byte % size]));
        }
    }
    out
}

/// Keyed SHA-256 of high-entropy secrets; the digest is what the database
/// holds and what lookups use.
#[derive(Clone)]
pub struct SecretHasher(hmac::Key);

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHasher([redacted])")
    }
}

impl SecretHasher {
    pub fn new(pepper: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, pepper))
    }

    pub fn digest(&self, secret: &str) -> String {
        b64url(hmac::sign(&self.0, secret.as_bytes()).as_ref())
    }

    /// Constant-time comparison of a presented secret with a stored digest.
    pub fn matches(&self, presented: &str, stored_digest: &str) -> bool {
        let digest = self.digest(presented);
        constant_time::verify_slices_are_equal(digest.as_bytes(), stored_digest.as_bytes()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_long_and_distinct() {
        let a = generate_secret(ACCESS_TOKEN_PREFIX);
        let b = generate_secret(ACCESS_TOKEN_PREFIX);
        assert!(a.expose().starts_with("tsr_at_"));
        assert_eq!(a.expose().len(), "tsr_at_".len() + 43);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "Secret([redacted])");
    }

    #[test]
    fn alphanumeric_ids_have_the_length_and_alphabet_asked_for() {
        for _ in 0..200 {
            let id = random_alphanumeric(22);
            assert_eq!(id.len(), 22);
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        }
        assert_ne!(random_alphanumeric(22), random_alphanumeric(22));
    }

    #[test]
    fn digest_depends_on_the_pepper_and_matches_only_the_secret() {
        let hasher = SecretHasher::new(b"pepper one");
        let other = SecretHasher::new(b"pepper two");
        let digest = hasher.digest("tsr_cs_abc");
        assert!(hasher.matches("tsr_cs_abc", &digest));
        assert!(!hasher.matches("tsr_cs_abd", &digest));
        assert_ne!(digest, other.digest("tsr_cs_abc"));
    }
}
