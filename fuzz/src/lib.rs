//! What several fuzz targets share: reference models written from the
//! RFCs (never by calling the code under test), and property checks of
//! the parsed types. Each check panics, which libFuzzer reports as a crash.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use tessera::domain::{InvalidInput, RedirectUri, ScopeName, ScopeSet};
use url::Url;

/// Parameters the form parser lets repeat (RFC 8707 `resource`, RFC 8693
/// `audience`); every other name may appear once.
pub const REPEATABLE: [&str; 2] = ["resource", "audience"];

/// The input up to the first `separator`, and what follows it (if any).
pub fn split_at_byte(data: &[u8], separator: u8) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&b| b == separator) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    }
}

/// Strict `application/x-www-form-urlencoded` decoding of one name or
/// value: `+` is a space, `%` must be followed by exactly two hex digits,
/// the bytes must be UTF-8. None when any of that fails.
pub fn reference_decode(raw: &[u8]) -> Option<String> {
    fn hex(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            b'A'..=b'F' => Some(digit - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let high = hex(*raw.get(i + 1)?)?;
                let low = hex(*raw.get(i + 2)?)?;
                out.push((high << 4) | low);
                i += 3;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Form encoding of one name or value (the inverse of `reference_decode`).
pub fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// What `FormParams::parse_noting_repeats` should make of a body, worked
/// out from the rules in its documentation: pairs split on `&`, name and
/// value on the first `=`, both decoded strictly, empty values dropped,
/// the first value of a name kept and each later one noted as a repeat.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FormModel {
    pub single: BTreeMap<String, String>,
    pub repeated: BTreeMap<String, Vec<String>>,
    pub repeats: Vec<String>,
}

impl FormModel {
    /// None when the body must be refused.
    pub fn of(body: &[u8]) -> Option<Self> {
        let mut model = Self::default();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = split_at_byte(pair, b'=');
            let name = reference_decode(name)?;
            let value = reference_decode(value.unwrap_or_default())?;
            if value.is_empty() {
                continue;
            }
            if REPEATABLE.contains(&name.as_str()) {
                model.repeated.entry(name).or_default().push(value);
            } else {
                match model.single.entry(name) {
                    Entry::Occupied(first) => model.repeats.push(first.key().clone()),
                    Entry::Vacant(entry) => {
                        entry.insert(value);
                    }
                }
            }
        }
        Some(model)
    }

    /// The body that carries these parameters, form-encoded.
    pub fn encode(&self) -> String {
        let singles = self.single.iter();
        let repeated = self.repeated.iter().flat_map(|(n, vs)| vs.iter().map(move |v| (n, v)));
        singles
            .chain(repeated)
            .map(|(n, v)| format!("{}={}", form_encode(n), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// An error meant for a person: shown in pages and JSON, so never a
/// control character.
pub fn check_message(error: &InvalidInput) {
    assert!(
        !error.message.chars().any(char::is_control),
        "error message carries a control character: {:?}",
        error.message
    );
}

/// What an accepted redirect URI registration must be (SEC-A03).
pub fn check_redirect_parse(text: &str, parsed: &Result<RedirectUri, InvalidInput>) {
    let uri = match parsed {
        Ok(uri) => uri,
        Err(error) => return check_message(error),
    };
    assert_eq!(uri.as_str(), text, "the registration keeps its exact text");
    assert_eq!(uri.to_string(), text);
    assert!(!text.is_empty() && text.len() <= 2_000, "length {}", text.len());
    assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()), "{text:?}");
    assert!(!text.contains('#') && !text.contains('*'), "{text:?}");
    let url = Url::parse(text).expect("an accepted redirect URI is absolute");
    assert!(url.username().is_empty() && url.password().is_none(), "credentials in {text:?}");
    match url.scheme() {
        "https" => {}
        "http" => assert!(is_loopback_ip(&url), "http to a non-loopback host: {text:?}"),
        "javascript" | "data" | "file" | "vbscript" => panic!("forbidden scheme accepted: {text:?}"),
        private => assert!(private.contains('.'), "private scheme not a reversed domain: {text:?}"),
    }
    assert_eq!(uri.is_loopback(), url.scheme() == "http", "{text:?}");
    assert!(uri.matches(text), "a registration matches its own text: {text:?}");
}

/// Exact matching, except that a loopback `http` registration accepts
/// any port (RFC 8252 §7.3) of the very same URI in normal form.
pub fn check_redirect_match(registered: &RedirectUri, asked: &str) {
    let matched = registered.matches(asked);
    if asked == registered.as_str() {
        assert!(matched, "identical text must match: {asked:?}");
        return;
    }
    if !matched {
        return;
    }
    assert!(registered.is_loopback(), "{asked:?} matched non-loopback {registered}");
    let theirs = Url::parse(registered.as_str()).expect("registered URIs parse");
    let ours = Url::parse(asked).expect("a matched URI parses");
    assert_eq!(ours.as_str(), asked, "a matched URI is in normal form");
    assert_eq!(ours.scheme(), "http");
    assert_eq!(ours.host(), theirs.host(), "{asked:?} vs {registered}");
    assert_eq!(ours.path(), theirs.path(), "{asked:?} vs {registered}");
    assert_eq!(ours.query(), theirs.query(), "{asked:?} vs {registered}");
    assert!(ours.fragment().is_none(), "{asked:?}");
    assert!(ours.username().is_empty() && ours.password().is_none(), "{asked:?}");
    if asked.len() <= 2_000 {
        // Whatever matches could itself have been registered.
        assert!(RedirectUri::parse(asked).is_ok(), "{asked:?} matched {registered} but is not registrable");
    }
}

fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// `1*NQCHAR` (RFC 6749 §3.3), at most 128 of them.
pub fn is_scope_name(text: &str) -> bool {
    let nqchar = |b: u8| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b);
    (1..=128).contains(&text.len()) && text.bytes().all(nqchar)
}

/// `ScopeSet::parse`: accepted exactly when every space-separated part is
/// a scope name; its `Display` is the sorted, de-duplicated names with
/// single spaces, and parses back to the same set.
pub fn check_scope_set(text: &str, parsed: &Result<ScopeSet, InvalidInput>) {
    let parts: Vec<&str> = text.split(' ').filter(|p| !p.is_empty()).collect();
    let set = match parsed {
        Ok(set) => set,
        Err(error) => {
            check_message(error);
            assert!(!parts.iter().all(|p| is_scope_name(p)), "refused a valid scope {text:?}");
            return;
        }
    };
    assert!(parts.iter().all(|p| is_scope_name(p)), "accepted an invalid scope {text:?}");
    let mut names: Vec<&str> = parts.clone();
    names.sort_unstable();
    names.dedup();
    let shown = set.to_string();
    assert_eq!(shown, names.join(" "));
    assert_eq!(set.is_empty(), names.is_empty());
    assert_eq!(&ScopeSet::parse(&shown).expect("Display parses back"), set, "{text:?}");
    for name in &names {
        assert!(set.contains(name));
        assert_eq!(ScopeName::parse(name).expect("each part is a name").as_str(), *name);
    }
    assert_eq!(set.iter().count(), names.len());
}

/// An OAuth error as sent: a known code, a description within RFC 6749
/// §5.2's character set.
pub fn check_oauth_error(error: &tessera::oauth::OAuthError, allowed: &[&str]) {
    assert!(allowed.contains(&error.code()), "unexpected error {:?}", error);
    assert_eq!(error.to_string(), error.code());
    let description = error.description();
    assert!(
        description.chars().all(|c| matches!(c, ' ' | '!' | '#'..='[' | ']'..='~')),
        "description outside RFC 6749 section 5.2: {description:?}"
    );
}
