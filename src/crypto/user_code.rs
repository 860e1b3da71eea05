//! The user codes of the device flow (RFC 8628 §6.1): eight characters from
//! twenty consonants — no vowels, so no words; none of `0/O`, `1/I` to
//! confuse — shown as `BCDF-GHJK`, about 34.6 bits. Typing is forgiving:
//! lower case, spaces and dashes are accepted.

use super::secrets::random_chars;

/// The letters a user code is made of.
pub const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code.
pub const LENGTH: usize = 8;

/// A new user code, in its canonical form (no dash).
pub fn generate() -> String {
    random_chars(ALPHABET, LENGTH)
}

/// The code as people see it: `BCDF-GHJK`.
pub fn display(code: &str) -> String {
    if code.len() == LENGTH {
        format!("{}-{}", &code[..LENGTH / 2], &code[LENGTH / 2..])
    } else {
        code.to_owned()
    }
}

/// What someone typed, in canonical form; None if it cannot be a code.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_alphabet_and_read_back_however_typed() {
        let code = generate();
        assert_eq!(code.len(), LENGTH);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        assert_eq!(normalize(&display(&code)), Some(code.clone()));
        assert_eq!(normalize(" bcdf-ghjk "), Some("BCDFGHJK".into()));
        assert_eq!(normalize("bcdf ghjk"), Some("BCDFGHJK".into()));
        for bad in ["", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ0", "BCDF_GHJK"] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_letter_is_drawn() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.extend(generate().bytes());
        }
        assert_eq!(seen.len(), ALPHABET.len());
    }
}
