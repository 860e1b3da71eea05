//! `personal_token::is_well_formed`: `tsr_pat_` + 43 base62 characters + a
//! 6-digit base62 CRC-32 of everything before it, against a reference
//! written from that description; tokens built from the input (and one
//! from `generate()`) are well formed, and any one character changed
//! breaks them (CRC-32 catches every error in a single byte).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera::crypto::personal_token::{generate, is_well_formed, LENGTH, PREFIX};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn checksum(text: &str) -> String {
    let mut value = crc32fast::hash(text.as_bytes());
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("ASCII")
}

fn reference(token: &str) -> bool {
    let Some(rest) = token.strip_prefix("tsr_pat_") else { return false };
    rest.len() == 49
        && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        && checksum(&token[..token.len() - 6]) == token[token.len() - 6..]
}

/// Every single-character change of a well-formed token is refused.
fn check_one_change_breaks(token: &str, at: usize, with: u8) {
    let mut bytes = token.as_bytes().to_vec();
    let at = at % bytes.len();
    let with = ALPHABET[usize::from(with) % ALPHABET.len()];
    if bytes[at] == with {
        return;
    }
    bytes[at] = with;
    let changed = String::from_utf8(bytes).expect("ASCII");
    assert!(!is_well_formed(&changed), "{changed} differs from {token} in one place");
}

fuzz_target!(|data: &[u8]| {
    static GENERATED: OnceLock<String> = OnceLock::new();
    let generated = GENERATED.get_or_init(|| generate().expose().to_owned());
    assert!(is_well_formed(generated) && generated.len() == LENGTH);

    let text = String::from_utf8_lossy(data);
    assert_eq!(is_well_formed(&text), reference(&text), "{text:?}");

    // A token with a body taken from the input.
    let body: String = data
        .iter()
        .chain(std::iter::repeat(&0))
        .take(43)
        .map(|b| char::from(ALPHABET[usize::from(*b) % 62]))
        .collect();
    let unsigned = format!("{PREFIX}{body}");
    let token = format!("{unsigned}{}", checksum(&unsigned));
    assert!(is_well_formed(&token), "{token}");
    let (at, with) = (data.first().copied().unwrap_or(0), data.get(1).copied().unwrap_or(0));
    check_one_change_breaks(&token, usize::from(at), with);
    check_one_change_breaks(generated, usize::from(at), with);
    assert!(!is_well_formed(&token[..LENGTH - 1]) && !is_well_formed(&format!("{token}0")));
});
