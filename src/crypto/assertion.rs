//! JWTs signed with someone else's key (RFC 7523, RFC 8725): a client's
//! assertion (`private_key_jwt`), a JWT bearer grant, a trusted issuer's
//! token. Only the algorithms of `PublicJwks` are tried, only with a key
//! of the right kind; the time claims are checked against the server's
//! clock with a fixed skew, never the system's.

use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::b64url_decode;
use crate::domain::{PublicJwk, PublicJwks, PublicKeyMaterial, ACCEPTED_ALGORITHMS};

/// How far apart two clocks may be: `exp`, `nbf` and `iat` are allowed
/// this much either way.
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// The longest JWT read at all.
const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// What an assertion must say, beyond a good signature.
#[derive(Debug, Clone, Copy)]
pub struct AssertionRules<'a> {
    /// The `iss` it must carry, when the caller knows it.
    pub issuer: Option<&'a str>,
    /// The `sub` it must carry, when the caller knows it.
    pub subject: Option<&'a str>,
    /// Its `aud` must hold at least one of these.
    pub audiences: &'a [&'a str],
    /// The server's clock, unix seconds.
    pub now: i64,
    /// How far ahead `exp` may lie, when limited (beyond the skew).
    pub max_lifetime: Option<i64>,
    /// Whether a `jti` is required (single use is the caller's to enforce).
    pub require_jti: bool,
}

/// The claims of a verified assertion.
#[derive(Debug, Clone, Deserialize)]
pub struct AssertionClaims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    #[serde(default)]
    aud: Option<OneOrMany>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
    /// Every other claim, for conditions on them.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl AssertionClaims {
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        let list: &[String] = match &self.aud {
            Some(OneOrMany::One(one)) => std::slice::from_ref(one),
            Some(OneOrMany::Many(many)) => many,
            None => &[],
        };
        list.iter().map(String::as_str)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Why an assertion was refused; the text names the rule, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionRejected {
    Malformed,
    /// The header's `alg` is not accepted (`none`, an HMAC, anything else).
    Algorithm(String),
    /// No registered key has this `kid` and fits the algorithm.
    UnknownKey,
    BadSignature,
    Missing(&'static str),
    WrongIssuer,
    WrongSubject,
    WrongAudience,
    Expired,
    TooLong,
    NotYetValid,
    IssuedInTheFuture,
}

impl fmt::Display for AssertionRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("the assertion is not a well-formed signed JWT"),
            Self::Algorithm(alg) => write!(
                f,
                "the assertion's algorithm '{}' is not accepted (accepted: {})",
                printable(alg),
                ACCEPTED_ALGORITHMS.join(", ")
            ),
            Self::UnknownKey => f.write_str("no registered key matches the assertion's kid and algorithm"),
            Self::BadSignature => f.write_str("the assertion's signature does not verify"),
            Self::Missing(claim) => write!(f, "the assertion has no '{claim}' claim"),
            Self::WrongIssuer => f.write_str("the assertion's 'iss' is not the expected issuer"),
            Self::WrongSubject => f.write_str("the assertion's 'sub' is not the expected subject"),
            Self::WrongAudience => f.write_str("the assertion's 'aud' does not name this server"),
            Self::Expired => f.write_str("the assertion has expired"),
            Self::TooLong => f.write_str("the assertion's 'exp' lies too far ahead"),
            Self::NotYetValid => f.write_str("the assertion is not valid yet ('nbf')"),
            Self::IssuedInTheFuture => f.write_str("the assertion was issued in the future ('iat')"),
        }
    }
}

/// Verifies `token`'s signature with one of `keys`, then `rules`.
pub fn verify_assertion(
    token: &str,
    keys: &PublicJwks,
    rules: &AssertionRules<'_>,
) -> Result<AssertionClaims, AssertionRejected> {
    let (alg, kid) = read_header(token)?;
    let algorithm = accepted(&alg).ok_or_else(|| AssertionRejected::Algorithm(alg.clone()))?;
    let mut candidates = keys.candidates(kid.as_deref(), &alg).peekable();
    if candidates.peek().is_none() {
        return Err(AssertionRejected::UnknownKey);
    }
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = candidates
        .find_map(|key| {
            let decoding = decoding_key(key)?;
            jsonwebtoken::decode::<AssertionClaims>(token, &decoding, &validation).ok()
        })
        .ok_or(AssertionRejected::BadSignature)?
        .claims;
    check(&claims, rules)?;
    Ok(claims)
}

/// What an assertion says of itself before its signature is checked: the
/// key it names and who it claims to come from. Only for finding the keys
/// to check it with; nothing here is to be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub kid: Option<String>,
    /// `iss`, or else `sub`, when a string.
    pub issuer: Option<String>,
}

/// Reads `token`'s header and the issuer it claims, unverified.
pub fn peek(token: &str) -> Result<Unverified, AssertionRejected> {
    let (_, kid) = read_header(token)?;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let claims: Value = b64url_decode(payload)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(AssertionRejected::Malformed)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(Unverified { kid, issuer: text("iss").or_else(|| text("sub")) })
}

/// The key id `token`'s header names, unverified (the header alone is read).
pub fn key_id(token: &str) -> Result<Option<String>, AssertionRejected> {
    Ok(read_header(token)?.1)
}

/// The header's `alg` and `kid`, read before anything trusts them.
fn read_header(token: &str) -> Result<(String, Option<String>), AssertionRejected> {
    if token.len() > MAX_ASSERTION_BYTES || token.split('.').count() != 3 {
        return Err(AssertionRejected::Malformed);
    }
    let encoded = token.split('.').next().unwrap_or_default();
    let header: Value = b64url_decode(encoded)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(AssertionRejected::Malformed)?;
    let alg = header.get("alg").and_then(Value::as_str).ok_or(AssertionRejected::Malformed)?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(AssertionRejected::Malformed),
    };
    Ok((alg.to_owned(), kid))
}

fn accepted(alg: &str) -> Option<jsonwebtoken::Algorithm> {
    match alg {
        "RS256" => Some(jsonwebtoken::Algorithm::RS256),
        "PS256" => Some(jsonwebtoken::Algorithm::PS256),
        "ES256" => Some(jsonwebtoken::Algorithm::ES256),
        "EdDSA" => Some(jsonwebtoken::Algorithm::EdDSA),
        _ => None,
    }
}

fn decoding_key(key: &PublicJwk) -> Option<jsonwebtoken::DecodingKey> {
    match &key.material {
        PublicKeyMaterial::Rsa { n, e } => jsonwebtoken::DecodingKey::from_rsa_components(n, e).ok(),
        PublicKeyMaterial::P256 { x, y } => jsonwebtoken::DecodingKey::from_ec_components(x, y).ok(),
        PublicKeyMaterial::Ed25519 { x } => jsonwebtoken::DecodingKey::from_ed_components(x).ok(),
    }
}

fn check(claims: &AssertionClaims, rules: &AssertionRules<'_>) -> Result<(), AssertionRejected> {
    let iss = claims.iss.as_deref().ok_or(AssertionRejected::Missing("iss"))?;
    let sub = claims.sub.as_deref().ok_or(AssertionRejected::Missing("sub"))?;
    if claims.aud.is_none() {
        return Err(AssertionRejected::Missing("aud"));
    }
    let exp = claims.exp.ok_or(AssertionRejected::Missing("exp"))?;
    if rules.require_jti && claims.jti.as_deref().is_none_or(str::is_empty) {
        return Err(AssertionRejected::Missing("jti"));
    }
    if rules.issuer.is_some_and(|expected| expected != iss) {
        return Err(AssertionRejected::WrongIssuer);
    }
    if rules.subject.is_some_and(|expected| expected != sub) {
        return Err(AssertionRejected::WrongSubject);
    }
    if !claims.audiences().any(|aud| rules.audiences.contains(&aud)) {
        return Err(AssertionRejected::WrongAudience);
    }
    let now = rules.now;
    if exp.saturating_add(CLOCK_SKEW_SECONDS) <= now {
        return Err(AssertionRejected::Expired);
    }
    if let Some(max) = rules.max_lifetime {
        if exp.saturating_sub(now) > max.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(AssertionRejected::TooLong);
        }
    }
    if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(CLOCK_SKEW_SECONDS)) {
        return Err(AssertionRejected::NotYetValid);
    }
    if claims.iat.is_some_and(|iat| iat > now.saturating_add(CLOCK_SKEW_SECONDS)) {
        return Err(AssertionRejected::IssuedInTheFuture);
    }
    Ok(())
}

/// At most 20 visible ASCII characters of a value an attacker chose.
fn printable(text: &str) -> String {
    text.chars().filter(char::is_ascii_graphic).take(20).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crypto::b64url;
    use crate::crypto::signing::{SigningAlgorithm, SigningKey};

    const NOW: i64 = 1_800_000_000;
    const ISSUER: &str = "https://tessera.example";

    fn key(kid: &str, alg: SigningAlgorithm) -> SigningKey {
        SigningKey::generate(kid.into(), alg).unwrap().key
    }

    fn jwks(keys: &[&SigningKey]) -> PublicJwks {
        let keys: Vec<Value> = keys.iter().map(|k| k.public_jwk().clone()).collect();
        PublicJwks::parse(&json!({ "keys": keys }).to_string()).unwrap()
    }

    fn sign(key: &SigningKey, header: Value, claims: Value) -> String {
        let input =
            format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let signature = key.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64url(&signature))
    }

    fn claims() -> Value {
        json!({"iss": "app", "sub": "app", "aud": ISSUER, "exp": NOW + 60, "iat": NOW, "jti": "j1"})
    }

    fn rules() -> AssertionRules<'static> {
        AssertionRules {
            issuer: Some("app"),
            subject: Some("app"),
            audiences: &[ISSUER, "https://tessera.example/oauth2/token"],
            now: NOW,
            max_lifetime: Some(300),
            require_jti: true,
        }
    }

    fn with(changes: Value) -> Value {
        let mut claims = claims();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    }

    #[test]
    fn peek_reads_the_kid_and_the_claimed_issuer_without_verifying() {
        let signer = key("k1", SigningAlgorithm::Es256);
        let token = sign(&signer, json!({"alg": "ES256", "kid": "k1"}), claims());
        let seen = peek(&token).unwrap();
        assert_eq!(seen, Unverified { kid: Some("k1".into()), issuer: Some("app".into()) });
        let forged = format!("{}x", &token[..token.len() - 2]);
        assert_eq!(peek(&forged).unwrap().issuer.as_deref(), Some("app"));
        assert_eq!(key_id(&forged).unwrap().as_deref(), Some("k1"), "the header alone is read");
        assert_eq!(peek("a.b").unwrap_err(), AssertionRejected::Malformed);
        let only_sub = sign(&signer, json!({"alg": "ES256"}), json!({"sub": "svc"}));
        assert_eq!(peek(&only_sub).unwrap().issuer.as_deref(), Some("svc"));
    }

    #[test]
    fn each_accepted_algorithm_verifies_with_its_key() {
        for alg in [SigningAlgorithm::Rs256, SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let key = key("k1", alg);
            let token = sign(&key, json!({"alg": alg.as_str(), "kid": "k1"}), claims());
            let verified = verify_assertion(&token, &jwks(&[&key]), &rules()).unwrap();
            assert_eq!(verified.jti.as_deref(), Some("j1"), "{alg:?}");
        }
    }

    #[test]
    fn ps256_verifies_with_an_rsa_key() {
        use aws_lc_rs::signature::{RsaKeyPair, RSA_PSS_SHA256};
        let generated = SigningKey::generate("k1".into(), SigningAlgorithm::Rs256).unwrap();
        let pair = RsaKeyPair::from_pkcs8(&generated.pkcs8).unwrap();
        let header = b64url(json!({"alg": "PS256", "kid": "k1"}).to_string().as_bytes());
        let input = format!("{header}.{}", b64url(claims().to_string().as_bytes()));
        let mut signature = vec![0; pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        pair.sign(&RSA_PSS_SHA256, &rng, input.as_bytes(), &mut signature).unwrap();
        let token = format!("{input}.{}", b64url(&signature));
        // Published as RS256, the key checks no PS256 signature.
        assert_eq!(
            verify_assertion(&token, &jwks(&[&generated.key]), &rules()).unwrap_err(),
            AssertionRejected::UnknownKey
        );
        let mut jwk = generated.key.public_jwk().clone();
        jwk.as_object_mut().unwrap().remove("alg");
        let any_rsa = PublicJwks::parse(&json!({ "keys": [jwk] }).to_string()).unwrap();
        assert!(verify_assertion(&token, &any_rsa, &rules()).is_ok());
        // A PSS signature relabelled as PKCS#1 v1.5 does not verify.
        let relabelled = token.replacen(&header, &b64url(br#"{"alg":"RS256","kid":"k1"}"#), 1);
        assert_eq!(
            verify_assertion(&relabelled, &any_rsa, &rules()).unwrap_err(),
            AssertionRejected::BadSignature
        );
    }

    #[test]
    fn the_second_key_of_a_rotation_verifies_too() {
        let (old, new) = (key("old", SigningAlgorithm::Es256), key("new", SigningAlgorithm::Es256));
        let set = jwks(&[&old, &new]);
        for (signer, kid) in [(&old, "old"), (&new, "new")] {
            let token = sign(signer, json!({"alg": "ES256", "kid": kid}), claims());
            assert!(verify_assertion(&token, &set, &rules()).is_ok(), "{kid}");
        }
        let wrong_kid = sign(&new, json!({"alg": "ES256", "kid": "old"}), claims());
        assert_eq!(
            verify_assertion(&wrong_kid, &set, &rules()).unwrap_err(),
            AssertionRejected::BadSignature
        );
    }

    #[test]
    fn none_hmac_and_unknown_keys_are_refused_before_any_verification() {
        let key = key("k1", SigningAlgorithm::Rs256);
        let set = jwks(&[&key]);
        let body = b64url(claims().to_string().as_bytes());
        let unsigned = format!("{}.{body}.", b64url(br#"{"alg":"none"}"#));
        assert_eq!(
            verify_assertion(&unsigned, &set, &rules()).unwrap_err(),
            AssertionRejected::Algorithm("none".into())
        );
        // HS256 with the public key as the secret: the classic confusion.
        let public = key.public_jwk()["n"].as_str().unwrap().to_owned();
        let input = format!("{}.{body}", b64url(br#"{"alg":"HS256","kid":"k1"}"#));
        let mac = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public.as_bytes()),
            input.as_bytes(),
        );
        let forged = format!("{input}.{}", b64url(mac.as_ref()));
        assert_eq!(
            verify_assertion(&forged, &set, &rules()).unwrap_err(),
            AssertionRejected::Algorithm("HS256".into())
        );
        let unknown = sign(&key, json!({"alg": "RS256", "kid": "elsewhere"}), claims());
        assert_eq!(verify_assertion(&unknown, &set, &rules()).unwrap_err(), AssertionRejected::UnknownKey);
        let other = self::key("k1", SigningAlgorithm::Rs256);
        let forged = sign(&other, json!({"alg": "RS256", "kid": "k1"}), claims());
        assert_eq!(verify_assertion(&forged, &set, &rules()).unwrap_err(), AssertionRejected::BadSignature);
        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert_eq!(
                verify_assertion(junk, &set, &rules()).unwrap_err(),
                AssertionRejected::Malformed,
                "{junk}"
            );
        }
    }

    #[test]
    fn each_claim_rule_has_its_own_refusal() {
        let key = key("k1", SigningAlgorithm::Es256);
        let set = jwks(&[&key]);
        let refused = |changes: Value| {
            let token = sign(&key, json!({"alg": "ES256", "kid": "k1"}), with(changes));
            verify_assertion(&token, &set, &rules()).err()
        };
        use AssertionRejected::*;
        assert_eq!(refused(json!({"iss": null})), Some(Missing("iss")));
        assert_eq!(refused(json!({"sub": null})), Some(Missing("sub")));
        assert_eq!(refused(json!({"aud": null})), Some(Missing("aud")));
        assert_eq!(refused(json!({"exp": null})), Some(Missing("exp")));
        assert_eq!(refused(json!({"jti": null})), Some(Missing("jti")));
        assert_eq!(refused(json!({"iss": "other"})), Some(WrongIssuer));
        assert_eq!(refused(json!({"sub": "other"})), Some(WrongSubject));
        assert_eq!(refused(json!({"aud": "https://elsewhere.example"})), Some(WrongAudience));
        assert_eq!(
            refused(json!({"aud": ["https://elsewhere.example", ISSUER]})),
            None,
            "one of several audiences"
        );
        assert_eq!(
            refused(json!({"aud": "https://tessera.example/oauth2/token"})),
            None,
            "the token endpoint"
        );
        assert_eq!(refused(json!({"exp": NOW - 300})), Some(Expired), "5 minutes in the past");
        assert_eq!(refused(json!({"exp": NOW - 30})), None, "within the skew");
        assert_eq!(refused(json!({"exp": NOW + 300 + 61})), Some(TooLong));
        assert_eq!(refused(json!({"exp": NOW + 300})), None);
        assert_eq!(refused(json!({"nbf": NOW + 61})), Some(NotYetValid), "nbf more than 60 s ahead");
        assert_eq!(refused(json!({"nbf": NOW + 8})), None, "nbf 8 s ahead is within the skew");
        assert_eq!(refused(json!({"iat": NOW + 120})), Some(IssuedInTheFuture));
    }

    #[test]
    fn refusals_never_repeat_the_token() {
        let long = "x".repeat(100);
        let message = AssertionRejected::Algorithm(format!("HS256{long}<script>")).to_string();
        assert!(!message.contains(&long) && !message.contains('<'), "{message}");
    }
}
