//! The personal API token format: `tsr_pat_` + 43 random base62 characters
//! (256 bits) + a 6-character base62 CRC-32 of everything before it. The
//! prefix lets a secret scanner find a token; the checksum lets it (and us,
//! before any database read) tell a real one from a typo or a lookalike —
//! GitHub's token format, with our prefix.

use super::secrets::{random_alphanumeric, Secret};

pub const PREFIX: &str = "tsr_pat_";
/// 62^43 > 2^256.
const BODY_LENGTH: usize = 43;
/// 62^6 > 2^32.
const CHECKSUM_LENGTH: usize = 6;
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The length of every personal token.
pub const LENGTH: usize = PREFIX.len() + BODY_LENGTH + CHECKSUM_LENGTH;

pub fn generate() -> Secret {
    let mut token = format!("{PREFIX}{}", random_alphanumeric(BODY_LENGTH));
    let checksum = checksum(&token);
    token.push_str(&checksum);
    Secret::new(token)
}

/// Prefix, length, alphabet and checksum: all a scanner can check offline.
pub fn is_well_formed(token: &str) -> bool {
    if token.len() != LENGTH || !token.starts_with(PREFIX) {
        return false;
    }
    let rest = &token[PREFIX.len()..];
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (signed, given) = token.split_at(LENGTH - CHECKSUM_LENGTH);
    checksum(signed) == given
}

fn checksum(text: &str) -> String {
    let mut value = u64::from(crc32fast::hash(text.as_bytes()));
    let mut digits = [b'0'; CHECKSUM_LENGTH];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&digit| char::from(digit)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.expose().len(), LENGTH);
        assert!(is_well_formed(a.expose()) && is_well_formed(b.expose()));
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn a_changed_character_breaks_the_checksum() {
        let token = generate().expose().to_owned();
        let mut bytes = token.clone().into_bytes();
        let at = PREFIX.len() + 5;
        bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
        assert!(!is_well_formed(&String::from_utf8(bytes).unwrap()));
        assert!(!is_well_formed(&token[..LENGTH - 1]));
        assert!(!is_well_formed(&token.replace(PREFIX, "tsr_xyz_")));
        assert!(!is_well_formed(&format!("{}-{}", &token[..20], &token[21..])));
    }

    #[test]
    fn the_checksum_is_crc32_in_six_base62_digits() {
        // CRC-32 of "123456789" is 0xCBF43926 = "3jZRME" in base 62.
        assert_eq!(checksum("123456789"), "3jZRME");
    }
}
