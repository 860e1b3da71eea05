//! A set of public keys someone else holds the private halves of (a
//! client's keys for `private_key_jwt` and the JWT bearer grant, a trusted
//! issuer's published keys), parsed once: only public members, only the
//! algorithms this server accepts, unique key ids.

use std::sync::Arc;

use serde_json::Value;

use super::InvalidInput;

/// The signature algorithms accepted on JWTs from outside; never `none`,
/// never an HMAC (a public key used as an HMAC secret forges anything).
pub const ACCEPTED_ALGORITHMS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

/// The most keys one set may hold (two suffice for a rotation).
pub const MAX_KEYS: usize = 10;

/// The largest JWK set accepted, in bytes of JSON.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// The members that belong only to private or symmetric keys.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The kind of a public key, with the members that make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyMaterial {
    /// RSA: modulus and exponent, base64url.
    Rsa { n: String, e: String },
    /// EC on P-256: the point, base64url.
    P256 { x: String, y: String },
    /// Ed25519: the public key, base64url.
    Ed25519 { x: String },
}

/// One public key of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub kid: Option<String>,
    /// The algorithm the key is for, when the set says; else any accepted
    /// algorithm of its kind.
    pub alg: Option<String>,
    pub material: PublicKeyMaterial,
}

impl PublicJwk {
    /// Whether a JWT signed with `alg` may be checked with this key.
    pub fn fits(&self, alg: &str) -> bool {
        let kind_fits = match self.material {
            PublicKeyMaterial::Rsa { .. } => alg == "RS256" || alg == "PS256",
            PublicKeyMaterial::P256 { .. } => alg == "ES256",
            PublicKeyMaterial::Ed25519 { .. } => alg == "EdDSA",
        };
        kind_fits && self.alg.as_deref().is_none_or(|wanted| wanted == alg)
    }
}

/// A parsed JWK set (RFC 7517 §5): what `parse` accepts is safe to verify
/// signatures with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwks {
    keys: Vec<PublicJwk>,
    /// The set as given, members and order kept, for storing and showing.
    text: String,
}

impl PublicJwks {
    /// Parses `{"keys": [...]}`. Refuses a private or symmetric key, an
    /// algorithm outside `ACCEPTED_ALGORITHMS`, an RSA modulus under 2048
    /// bits, a curve other than P-256 or Ed25519, duplicate `kid`s, and
    /// several keys without `kid`s to tell them apart.
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        if text.len() > MAX_JWKS_BYTES {
            return Err(InvalidInput::new(format!(
                "the JWK set is larger than {} KiB",
                MAX_JWKS_BYTES / 1024
            )));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            InvalidInput::new(format!("the JWK set is not JSON (line {}, column {})", e.line(), e.column()))
        })?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| InvalidInput::new("a JWK set is a JSON object with a \"keys\" array"))?;
        if keys.is_empty() {
            return Err(InvalidInput::new("the JWK set holds no key"));
        }
        if keys.len() > MAX_KEYS {
            return Err(InvalidInput::new(format!("a JWK set may hold at most {MAX_KEYS} keys")));
        }
        let keys = keys
            .iter()
            .enumerate()
            .map(|(index, key)| {
                parse_key(key).map_err(|why| InvalidInput::new(format!("key {}: {why}", index + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut kids: Vec<&str> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        kids.sort_unstable();
        if let Some(twice) = kids.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(InvalidInput::new(format!("the key id '{}' is used twice", twice[0])));
        }
        if keys.len() > 1 && keys.iter().any(|k| k.kid.is_none()) {
            return Err(InvalidInput::new("when a set holds several keys, each needs a \"kid\""));
        }
        Ok(Self { keys, text: text.trim().to_owned() })
    }

    pub fn keys(&self) -> &[PublicJwk] {
        &self.keys
    }

    /// The keys that may check a JWT with this header: the one named by
    /// `kid`, or (no `kid`) every key that fits the algorithm.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: &'a str,
    ) -> impl Iterator<Item = &'a PublicJwk> {
        self.keys.iter().filter(move |k| k.fits(alg) && kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)))
    }

    /// The set as it was given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Where a key set is published: `https`, or `http` to a loopback address
/// (a sidecar, a test); no credentials, no fragment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JwksUri(String);

impl JwksUri {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        check_outside_url(text, "JWKS URL")?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL of a party outside Tessera (`what` names it in the error):
/// `https`, or `http` to a loopback address (a sidecar, a test); no
/// credentials, no fragment, at most 2,000 characters.
pub(super) fn check_outside_url(text: &str, what: &str) -> Result<(), InvalidInput> {
    let shown: String = text.chars().take(200).filter(|c| !c.is_control()).collect();
    let bad = |why: &str| InvalidInput::new(format!("{what} '{shown}' {why}"));
    if text.is_empty() || text.len() > 2_000 {
        return Err(bad("must be 1 to 2,000 characters"));
    }
    let url = url::Url::parse(text).map_err(|_| bad("is not an absolute URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not contain a fragment"));
    }
    let loopback = super::redirect_uri::loopback_ip(&url) || url.host_str() == Some("localhost");
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(bad("must use https (plain http only to a loopback address)")),
        _ => Err(bad("must be an https URL")),
    }
}

/// Where a client's public keys come from: registered with the client, or
/// fetched from the client's own URL (so it can rotate them alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKeys {
    Inline(Arc<PublicJwks>),
    Remote(JwksUri),
}

impl ClientKeys {
    /// Keys given as a set (`jwks`) or a URL (`jwks_uri`), never both.
    pub fn from_parts(jwks: Option<&str>, jwks_uri: Option<&str>) -> Result<Option<Self>, InvalidInput> {
        match (jwks, jwks_uri) {
            (Some(_), Some(_)) => {
                Err(InvalidInput::new("give the public keys either as a JWK set or as a JWKS URL, not both"))
            }
            (Some(jwks), None) => Ok(Some(Self::Inline(Arc::new(PublicJwks::parse(jwks)?)))),
            (None, Some(uri)) => Ok(Some(Self::Remote(JwksUri::parse(uri)?))),
            (None, None) => Ok(None),
        }
    }

    /// The registered set, when the keys are inline.
    pub fn inline(&self) -> Option<&PublicJwks> {
        match self {
            Self::Inline(jwks) => Some(jwks),
            Self::Remote(_) => None,
        }
    }

    /// The URL, when the keys are fetched.
    pub fn uri(&self) -> Option<&JwksUri> {
        match self {
            Self::Inline(_) => None,
            Self::Remote(uri) => Some(uri),
        }
    }
}

fn parse_key(key: &Value) -> Result<PublicJwk, String> {
    let key = key.as_object().ok_or("a key is a JSON object")?;
    if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| key.contains_key(**m)) {
        return Err(format!("it holds the private member \"{private}\": register public keys only"));
    }
    let text = |name: &str| -> Result<Option<String>, String> {
        match key.get(name) {
            None => Ok(None),
            Some(Value::String(value)) if !value.is_empty() && value.len() <= 2048 => Ok(Some(value.clone())),
            Some(_) => Err(format!("\"{name}\" must be a non-empty string")),
        }
    };
    let required = |name: &str| text(name)?.ok_or_else(|| format!("\"{name}\" is missing"));
    if let Some(usage) = text("use")? {
        if usage != "sig" {
            return Err(format!("\"use\" is '{usage}'; only signing keys (\"sig\") are accepted"));
        }
    }
    let alg = text("alg")?;
    if let Some(alg) = &alg {
        if !ACCEPTED_ALGORITHMS.contains(&alg.as_str()) {
            return Err(format!(
                "algorithm '{alg}' is not accepted (accepted: {})",
                ACCEPTED_ALGORITHMS.join(", ")
            ));
        }
    }
    let kty = required("kty")?;
    let material = match kty.as_str() {
        "RSA" => {
            let n = required("n")?;
            let bits = base64url_len(&n).ok_or("\"n\" is not base64url")? * 8;
            if bits < 2048 {
                return Err(format!("the RSA key has {bits} bits; at least 2048 are required"));
            }
            let e = required("e")?;
            base64url_len(&e).ok_or("\"e\" is not base64url")?;
            PublicKeyMaterial::Rsa { n, e }
        }
        "EC" => {
            let crv = required("crv")?;
            if crv != "P-256" {
                return Err(format!("curve '{crv}' is not accepted; use P-256 (ES256)"));
            }
            let (x, y) = (required("x")?, required("y")?);
            if base64url_len(&x) != Some(32) || base64url_len(&y) != Some(32) {
                return Err("a P-256 point has 32-byte \"x\" and \"y\"".into());
            }
            PublicKeyMaterial::P256 { x, y }
        }
        "OKP" => {
            let crv = required("crv")?;
            if crv != "Ed25519" {
                return Err(format!("curve '{crv}' is not accepted; use Ed25519 (EdDSA)"));
            }
            let x = required("x")?;
            if base64url_len(&x) != Some(32) {
                return Err("an Ed25519 key has a 32-byte \"x\"".into());
            }
            PublicKeyMaterial::Ed25519 { x }
        }
        "oct" => return Err("symmetric keys (\"oct\") are never accepted".into()),
        other => return Err(format!("key type '{other}' is not accepted (RSA, EC or OKP)")),
    };
    let jwk = PublicJwk { kid: text("kid")?, alg: alg.clone(), material };
    if let Some(alg) = &alg {
        if !jwk.fits(alg) {
            return Err(format!("algorithm '{alg}' does not fit a key of type {kty}"));
        }
    }
    Ok(jwk)
}

/// The decoded length of base64url text without padding, or None when it
/// is not base64url.
fn base64url_len(text: &str) -> Option<usize> {
    let valid = text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid || text.len() % 4 == 1 {
        return None;
    }
    Some(text.len() * 3 / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_N: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const X32: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn set(keys: &str) -> Result<PublicJwks, InvalidInput> {
        PublicJwks::parse(&format!("{{\"keys\":[{keys}]}}"))
    }

    #[test]
    fn each_accepted_kind_parses_and_fits_its_algorithms() {
        let rsa = format!("{{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"{RSA_N}\",\"e\":\"AQAB\"}}");
        let ec = format!("{{\"kty\":\"EC\",\"kid\":\"e\",\"crv\":\"P-256\",\"x\":\"{X32}\",\"y\":\"{X32}\",\"alg\":\"ES256\"}}");
        let ed =
            format!("{{\"kty\":\"OKP\",\"kid\":\"o\",\"crv\":\"Ed25519\",\"x\":\"{X32}\",\"use\":\"sig\"}}");
        let jwks = set(&format!("{rsa},{ec},{ed}")).unwrap();
        assert_eq!(jwks.keys().len(), 3);
        let names = |alg| jwks.candidates(None, alg).map(|k| k.kid.clone().unwrap()).collect::<Vec<_>>();
        assert_eq!(names("RS256"), ["r"]);
        assert_eq!(names("PS256"), ["r"]);
        assert_eq!(names("ES256"), ["e"]);
        assert_eq!(names("EdDSA"), ["o"]);
        assert!(names("HS256").is_empty() && names("none").is_empty());
        assert_eq!(jwks.candidates(Some("e"), "ES256").count(), 1);
        assert_eq!(jwks.candidates(Some("r"), "ES256").count(), 0, "kid and alg must both fit");
    }

    #[test]
    fn private_symmetric_weak_and_unknown_keys_are_refused_with_the_reason() {
        let cases = [
            (
                format!("{{\"kty\":\"RSA\",\"n\":\"{RSA_N}\",\"e\":\"AQAB\",\"d\":\"AQAB\"}}"),
                "private member \"d\"",
            ),
            ("{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}".to_owned(), "private member \"k\""),
            ("{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}".to_owned(), "at least 2048"),
            (
                format!("{{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"{X32}\",\"y\":\"{X32}\"}}"),
                "curve 'P-384'",
            ),
            (
                format!("{{\"kty\":\"RSA\",\"n\":\"{RSA_N}\",\"e\":\"AQAB\",\"alg\":\"HS256\"}}"),
                "'HS256' is not accepted",
            ),
            (
                format!("{{\"kty\":\"RSA\",\"n\":\"{RSA_N}\",\"e\":\"AQAB\",\"alg\":\"none\"}}"),
                "'none' is not accepted",
            ),
            (
                format!("{{\"kty\":\"RSA\",\"n\":\"{RSA_N}\",\"e\":\"AQAB\",\"alg\":\"ES256\"}}"),
                "does not fit",
            ),
            (
                format!("{{\"kty\":\"RSA\",\"n\":\"{RSA_N}\",\"e\":\"AQAB\",\"use\":\"enc\"}}"),
                "only signing keys",
            ),
            ("{\"kty\":\"XYZ\"}".to_owned(), "key type 'XYZ'"),
            ("{\"n\":\"x\"}".to_owned(), "\"kty\" is missing"),
        ];
        for (key, expected) in cases {
            let error = set(&key).unwrap_err();
            assert!(error.message.contains(expected), "{key}: {}", error.message);
            assert!(error.message.starts_with("key 1: "), "{}", error.message);
        }
    }

    #[test]
    fn a_jwks_url_is_https_or_loopback_http() {
        for good in [
            "https://issuer.example/.well-known/jwks.json",
            "http://127.0.0.1:8080/keys",
            "http://[::1]/k",
            "http://localhost:9000/k",
        ] {
            assert_eq!(JwksUri::parse(good).unwrap().as_str(), good);
        }
        let cases = [
            ("http://issuer.example/keys", "must use https"),
            ("ftp://issuer.example/keys", "must be an https URL"),
            ("https://user:pw@issuer.example/keys", "credentials"),
            ("https://issuer.example/keys#x", "fragment"),
            ("/keys", "not an absolute URL"),
            ("", "1 to 2,000"),
        ];
        for (bad, expected) in cases {
            let error = JwksUri::parse(bad).unwrap_err();
            assert!(error.message.contains(expected), "{bad}: {}", error.message);
        }
    }

    #[test]
    fn the_set_itself_must_be_well_formed() {
        let rsa =
            |kid: &str| format!("{{\"kty\":\"RSA\",\"kid\":\"{kid}\",\"n\":\"{RSA_N}\",\"e\":\"AQAB\"}}");
        assert!(PublicJwks::parse("not json").unwrap_err().message.contains("not JSON"));
        assert!(PublicJwks::parse("{\"keys\":{}}").unwrap_err().message.contains("\"keys\" array"));
        assert!(set("").unwrap_err().message.contains("no key"));
        assert!(set(&format!("{},{}", rsa("a"), rsa("a")))
            .unwrap_err()
            .message
            .contains("'a' is used twice"));
        let unnamed = format!("{{\"kty\":\"RSA\",\"n\":\"{RSA_N}\",\"e\":\"AQAB\"}}");
        assert!(set(&format!("{},{unnamed}", rsa("a")))
            .unwrap_err()
            .message
            .contains("each needs a \"kid\""));
        let many = (0..=MAX_KEYS).map(|i| rsa(&i.to_string())).collect::<Vec<_>>().join(",");
        assert!(set(&many).unwrap_err().message.contains("at most 10 keys"));
        assert!(set(&rsa("a")).is_ok(), "one key may go without a second");
    }
}
