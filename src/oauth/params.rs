//! `application/x-www-form-urlencoded` bodies, parsed strictly: bad
//! percent-encoding and invalid UTF-8 are errors (not replaced), a repeated
//! parameter is an error, an empty value counts as absent (RFC 6749 §3.1,
//! §3.2; OAuth 2.1 §3.2).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use super::OAuthError;

/// Parameters that may legitimately appear more than once (RFC 8707
/// `resource`, RFC 8693 §2.1 `audience`).
const REPEATABLE: &[&str] = &["resource", "audience"];

/// `Debug` shows parameter names only: values include secrets, codes and
/// passwords.
#[derive(Default)]
pub struct FormParams {
    single: HashMap<String, String>,
    repeated: HashMap<String, Vec<String>>,
}

impl std::fmt::Debug for FormParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> =
            self.single.keys().chain(self.repeated.keys()).map(String::as_str).collect();
        names.sort_unstable();
        write!(f, "FormParams({names:?}, values redacted)")
    }
}

impl FormParams {
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let (params, repeated) = Self::parse_noting_repeats(body)?;
        match repeated.first() {
            Some(name) => {
                Err(OAuthError::invalid_request(format!("parameter '{}' is repeated", printable(name))))
            }
            None => Ok(params),
        }
    }

    /// Like `parse`, but a repeated parameter is reported instead of
    /// refused (its first value is kept): the authorization endpoint must
    /// know *which* one was repeated to decide whether it may redirect.
    pub fn parse_noting_repeats(body: &[u8]) -> Result<(Self, Vec<String>), OAuthError> {
        let mut params = Self::default();
        let mut repeats = Vec::new();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            if value.is_empty() {
                continue;
            }
            if REPEATABLE.contains(&name.as_str()) {
                params.repeated.entry(name).or_default().push(value);
            } else {
                match params.single.entry(name) {
                    Entry::Occupied(entry) => repeats.push(entry.key().clone()),
                    Entry::Vacant(entry) => {
                        entry.insert(value);
                    }
                }
            }
        }
        Ok((params, repeats))
    }

    /// The parameters URL-encoded again, without those named in `skip`
    /// (sorted, so the same request reads the same).
    pub fn to_query(&self, skip: &[&str]) -> String {
        let mut pairs: Vec<(&str, &str)> = self
            .single
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(self.repeated.iter().flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str()))))
            .filter(|(name, _)| !skip.contains(name))
            .collect();
        pairs.sort();
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
    }

    /// Every single-valued parameter, for carrying a request through forms.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.single.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.single.get(name).map(String::as_str)
    }

    pub fn all(&self, name: &str) -> &[String] {
        self.repeated.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("parameter '{name}' is required")))
    }
}

/// Form decoding of one name or value: `+` is a space, `%XX` a byte; the
/// result must be UTF-8.
pub fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // Two hex digits exactly: `from_str_radix` alone would take `+2`.
                let hex = raw
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| OAuthError::invalid_request("the body has invalid percent-encoding"))?;
                out.push(hex);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| OAuthError::invalid_request("the body is not valid UTF-8"))
}

/// A parameter name fit for an error message.
fn printable(name: &str) -> String {
    name.chars().take(40).filter(|c| c.is_ascii_graphic()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent() {
        let params = FormParams::parse(b"a=x+y%21&b=%C3%A9").unwrap();
        assert_eq!(params.get("a"), Some("x y!"));
        assert_eq!(params.get("b"), Some("é"));
    }

    #[test]
    fn empty_values_are_absent_and_unknown_names_kept_harmlessly() {
        let params = FormParams::parse(b"scope=&x").unwrap();
        assert_eq!(params.get("scope"), None);
        assert_eq!(params.get("x"), None);
    }

    #[test]
    fn repeated_parameters_bad_encoding_and_bad_utf8_are_invalid_request() {
        for body in [&b"a=1&a=2"[..], b"a=%ZZ", b"a=%4", b"a=%FF%FE"] {
            assert_eq!(FormParams::parse(body).unwrap_err().code(), "invalid_request", "{body:?}");
        }
    }

    #[test]
    fn a_sign_after_percent_is_invalid_encoding() {
        // Found by fuzz/fuzz_targets/form_params.rs: `%+2` decoded to the byte 0x02.
        assert!(decode(b"%+2").is_err());
        for body in [&b"%+2"[..], b"a=%+2", b"a=%+F", b"%+1=x", b"a=%-1"] {
            assert_eq!(FormParams::parse(body).unwrap_err().code(), "invalid_request", "{body:?}");
        }
    }

    #[test]
    fn debug_never_shows_values() {
        let params = FormParams::parse(b"client_secret=tsr_cs_hidden&password=hunter22").unwrap();
        let shown = format!("{params:?}");
        assert!(shown.contains("client_secret") && !shown.contains("hidden") && !shown.contains("hunter22"));
    }

    #[test]
    fn resource_may_repeat() {
        let params = FormParams::parse(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").unwrap();
        assert_eq!(params.all("resource"), ["https://a", "https://b"]);
    }
}
