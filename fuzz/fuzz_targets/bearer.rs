//! `tessera::http::userinfo::bearer_token`: the token of an
//! `Authorization: Bearer <token>` header, as userinfo and the admin API
//! read it (after `HeaderValue::to_str`, which only lets visible ASCII
//! through; the function itself takes any text).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::http::userinfo::bearer_token;

/// RFC 6750 §2.1 as Tessera reads it: the scheme `Bearer` in any case, one
/// space, then the token with surrounding whitespace trimmed.
fn reference(header: &str) -> Option<&str> {
    let scheme = header.get(..7)?;
    if !scheme.eq_ignore_ascii_case("bearer ") {
        return None;
    }
    Some(header[7..].trim()).filter(|token| !token.is_empty())
}

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    let token = bearer_token(&header);
    assert_eq!(token, reference(&header), "{header:?}");
    if let Some(token) = token {
        assert!(header.contains(token));
        assert_eq!(token, token.trim());
        // What any client sends for this token is read back as it.
        for scheme in ["Bearer", "bearer", "BEARER"] {
            assert_eq!(bearer_token(&format!("{scheme} {token}")), Some(token));
            assert_eq!(bearer_token(&format!("{scheme}  {token} ")), Some(token));
        }
    }
    // Visible ASCII only, as actix hands it over.
    if data.iter().all(|&b| (0x20..0x7f).contains(&b) || b == b'\t') {
        let header = std::str::from_utf8(data).expect("ASCII");
        assert_eq!(bearer_token(header), reference(header));
    }
});
