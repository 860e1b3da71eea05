//! `RedirectUri::parse` (the registration rules of SEC-A03) and
//! `matches` (exact, except any port on a loopback `http` URI).
//!
//! Input: the registered URI up to the first `\n`, the requested one after
//! it (without a `\n`, the same text is both).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::domain::RedirectUri;
use tessera_fuzz::{check_redirect_match, check_redirect_parse, split_at_byte};

/// Registrations from the README and the tests, to match fuzzed requests against.
const REGISTERED: &[&str] = &[
    "https://app.example/cb",
    "https://c.example/cb?tenant=1",
    "http://127.0.0.1/callback",
    "http://127.0.0.1:8080/cb",
    "http://[::1]:9000/cb",
    "com.example.app:/oauth2redirect",
];

fuzz_target!(|data: &[u8]| {
    let (registered, requested) = split_at_byte(data, b'\n');
    let registered = String::from_utf8_lossy(registered);
    let requested = requested.map_or(registered.clone(), String::from_utf8_lossy);

    let parsed = RedirectUri::parse(&registered);
    check_redirect_parse(&registered, &parsed);
    check_redirect_parse(&requested, &RedirectUri::parse(&requested));
    if let Ok(uri) = &parsed {
        check_redirect_match(uri, &requested);
        check_redirect_match(uri, &registered);
    }
    for fixed in REGISTERED {
        let uri = RedirectUri::parse(fixed).expect("the fixed registrations are valid");
        check_redirect_match(&uri, &requested);
    }
});
