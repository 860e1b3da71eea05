//! `verify_access_token` against a fixed key set (one RS256, one ES256, one
//! EdDSA key, generated once per process). It must never accept a token
//! its key did not sign, whatever the header claims.
//!
//! Input: a mode byte, then
//! - 0: the token, as it is: never accepted;
//! - 1: header JSON, `0xFF`, payload JSON, `0xFF`, signature bytes, each
//!   base64url-encoded here: never accepted;
//! - 2: a signer byte, a tamper byte, header JSON, `0xFF`, payload JSON:
//!   encoded and signed by the chosen key;
//! - 3: a signer byte, a tamper byte, then a token whose first two
//!   segments are signed as they are (so the base64 itself is fuzzed).
//!
//! A signed token is accepted only if its header names the signing key,
//! its issuer is ours, and its `typ` is `at+jwt`; with any one character
//! changed it is refused.

#![no_main]

use std::cell::Cell;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera::crypto::jwt::{verify_access_token, JwtRejected, VerifiedClaims};
use tessera::crypto::signing::{SigningAlgorithm, SigningKey};
use tessera::crypto::{b64url, b64url_decode};
use tessera_fuzz::split_at_byte;

const ISSUER: &str = "https://auth.example";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn keys() -> &'static [SigningKey] {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            ("rs-1", SigningAlgorithm::Rs256),
            ("es-1", SigningAlgorithm::Es256),
            ("ed-1", SigningAlgorithm::EdDsa),
        ]
        .into_iter()
        .map(|(kid, alg)| SigningKey::generate(kid.into(), alg).expect("key generation").key)
        .collect()
    })
}

/// Verifies `token`, noting which key the header led to.
fn verify(token: &str) -> (Result<VerifiedClaims, JwtRejected>, Option<usize>) {
    let used = Cell::new(None);
    let result = verify_access_token(
        token,
        |kid| {
            let found = keys().iter().position(|k| k.kid() == kid);
            used.set(found);
            found.map(|at| &keys()[at])
        },
        ISSUER,
    );
    (result, used.get())
}

fn check_signed(token: &str, signer: usize, tamper: u8) {
    let (result, used) = verify(token);
    let Ok(claims) = result else { return };
    assert_eq!(used, Some(signer), "accepted under a key that did not sign it: {token}");
    assert_eq!(claims.iss, ISSUER);
    let header = token.split('.').next().and_then(b64url_decode).expect("an accepted header decodes");
    if let Ok(serde_json::Value::Object(header)) = serde_json::from_slice(&header) {
        let typ = header.get("typ").and_then(|t| t.as_str()).unwrap_or_default();
        assert!(
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt"),
            "{typ:?}"
        );
        assert_eq!(header.get("alg").and_then(|a| a.as_str()), Some(keys()[signer].alg().as_str()));
    }
    // One character changed anywhere (but a dot): refused.
    let mut bytes = token.as_bytes().to_vec();
    let positions: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != b'.').collect();
    let at = positions[usize::from(tamper) * 7919 % positions.len()];
    let replacement = B64URL.iter().copied().cycle().skip(usize::from(tamper)).find(|&c| c != bytes[at]);
    bytes[at] = replacement.expect("the alphabet has other letters");
    let changed = String::from_utf8_lossy(&bytes);
    assert!(verify(&changed).0.is_err(), "accepted {changed}, which differs from the signed {token}");
}

fn sign(signer: usize, message: &str) -> String {
    let signature = keys()[signer].sign(message.as_bytes()).expect("signing");
    format!("{message}.{}", b64url(&signature))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 4 {
        0 => {
            let token = String::from_utf8_lossy(rest);
            assert!(verify(&token).0.is_err(), "accepted an unsigned token: {token}");
        }
        1 => {
            let (header, rest) = split_at_byte(rest, 0xFF);
            let (payload, signature) = split_at_byte(rest.unwrap_or_default(), 0xFF);
            let token =
                format!("{}.{}.{}", b64url(header), b64url(payload), b64url(signature.unwrap_or_default()));
            assert!(verify(&token).0.is_err(), "accepted a forged token: {token}");
        }
        2 => {
            let [signer, tamper, rest @ ..] = rest else { return };
            let signer = usize::from(*signer) % keys().len();
            let (header, payload) = split_at_byte(rest, 0xFF);
            let token = sign(signer, &format!("{}.{}", b64url(header), b64url(payload.unwrap_or_default())));
            check_signed(&token, signer, *tamper);
        }
        _ => {
            let [signer, tamper, rest @ ..] = rest else { return };
            let signer = usize::from(*signer) % keys().len();
            let text = String::from_utf8_lossy(rest);
            let mut segments = text.split('.');
            let (Some(header), Some(payload)) = (segments.next(), segments.next()) else { return };
            let token = sign(signer, &format!("{header}.{payload}"));
            check_signed(&token, signer, *tamper);
        }
    }
});
