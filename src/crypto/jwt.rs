//! JWT access tokens (RFC 9068): signed here with a pre-parsed key,
//! verified through `jsonwebtoken` against the published keys.

use serde::ser::SerializeMap as _;
use serde::{Deserialize, Serialize, Serializer};

use super::b64url;
use super::signing::SigningKey;

/// The media type in the `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claim naming the user grant a token belongs to.
pub const GRANT_CLAIM: &str = "gid";
/// The claim of a JWT exchanged from a personal token: that token's id, so
/// introspection follows its revocation.
pub const PERSONAL_TOKEN_CLAIM: &str = "pat";
/// The claim of a JWT bought with a trusted outside issuer's JWT: the
/// trust's id, so introspection follows the trust being disabled.
pub const TRUST_CLAIM: &str = "trust";

/// The claims of an access token as issued.
#[derive(Debug, Clone)]
pub struct AccessTokenClaims {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    /// The Jira username, under the configured claim name.
    pub username: Option<(String, String)>,
    pub email: Option<String>,
    /// The user grant the token belongs to (`gid`), so introspection can
    /// tell when the grant was revoked.
    pub grant_id: Option<String>,
    /// The personal token this was exchanged from (`pat`), so introspection
    /// follows that token's revocation.
    pub personal_token: Option<String>,
    /// The trust that issued it (`trust`).
    pub trust: Option<String>,
}

impl Serialize for AccessTokenClaims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("iss", &self.issuer)?;
        map.serialize_entry("sub", &self.subject)?;
        match self.audiences.as_slice() {
            [one] => map.serialize_entry("aud", one)?,
            many => map.serialize_entry("aud", many)?,
        }
        map.serialize_entry("exp", &self.expires_at)?;
        map.serialize_entry("iat", &self.issued_at)?;
        map.serialize_entry("jti", &self.jti)?;
        map.serialize_entry("client_id", &self.client_id)?;
        map.serialize_entry("scope", &self.scope)?;
        if let Some((claim, username)) = &self.username {
            map.serialize_entry(claim, username)?;
        }
        if let Some(email) = &self.email {
            map.serialize_entry("email", email)?;
        }
        if let Some(personal_token) = &self.personal_token {
            map.serialize_entry(PERSONAL_TOKEN_CLAIM, personal_token)?;
        }
        if let Some(grant_id) = &self.grant_id {
            map.serialize_entry(GRANT_CLAIM, grant_id)?;
        }
        if let Some(trust) = &self.trust {
            map.serialize_entry(TRUST_CLAIM, trust)?;
        }
        map.end()
    }
}

/// Signs `claims` as a compact JWS with `typ: at+jwt` and the key's `kid`.
pub fn sign_access_token(key: &SigningKey, claims: &AccessTokenClaims) -> anyhow::Result<String> {
    sign_jwt(key, ACCESS_TOKEN_TYP, claims)
}

/// A compact JWS of `claims` with the given `typ`, the key's `alg` and `kid`.
pub fn sign_jwt(key: &SigningKey, typ: &str, claims: &impl Serialize) -> anyhow::Result<String> {
    let header = serde_json::json!({"alg": key.alg().as_str(), "typ": typ, "kid": key.kid()});
    let mut token = b64url(&serde_json::to_vec(&header)?);
    token.push('.');
    token.push_str(&b64url(&serde_json::to_vec(claims)?));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64url(&signature));
    Ok(token)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one.clone()],
            Self::Many(many) => many.clone(),
        }
    }
}

/// The claims of a verified access token. Every registered claim is typed,
/// so a string-typed `exp` fails to parse instead of being skipped.
#[derive(Debug, Clone, Deserialize)]
pub struct VerifiedClaims {
    pub iss: String,
    pub sub: String,
    pub aud: OneOrMany,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Why a JWT was not accepted; callers answer all of these the same way.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtRejected {
    #[error("not a JWT")]
    Malformed,
    #[error("not an access token (typ)")]
    WrongType,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("signature or claims invalid")]
    Invalid,
    #[error("issued by another issuer")]
    WrongIssuer,
}

/// Verifies signature, `typ`, key and issuer. Expiry is left to the caller,
/// which owns the clock.
pub fn verify_access_token<'k>(
    token: &str,
    find_key: impl Fn(&str) -> Option<&'k SigningKey>,
    issuer: &str,
) -> Result<VerifiedClaims, JwtRejected> {
    let is_access_token =
        |t: &str| t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt");
    verify_own(token, find_key, issuer, is_access_token, &["exp", "iss", "sub"])
}

/// The typ of the ID tokens this server signs.
pub const ID_TOKEN_TYP: &str = "JWT";

/// The claims of a verified ID token of ours.
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenHintClaims {
    pub iss: String,
    pub sub: String,
    pub aud: OneOrMany,
    pub exp: i64,
}

/// Verifies an ID token this server issued, given back as a hint
/// (`id_token_hint`): signature with one of our keys, `typ` of an ID token
/// (an access token is not a hint), issuer. Expiry is not checked: an
/// expired ID token still says who signed in.
pub fn verify_id_token_hint<'k>(
    token: &str,
    find_key: impl Fn(&str) -> Option<&'k SigningKey>,
    issuer: &str,
) -> Result<IdTokenHintClaims, JwtRejected> {
    verify_own(token, find_key, issuer, |t| t.eq_ignore_ascii_case(ID_TOKEN_TYP), &["iss", "sub", "aud"])
}

/// A JWT signed with one of our keys, of a `typ` that `typ_ok` accepts,
/// from `issuer`, with the `required` claims.
fn verify_own<'k, C: serde::de::DeserializeOwned + HasIssuer>(
    token: &str,
    find_key: impl Fn(&str) -> Option<&'k SigningKey>,
    issuer: &str,
    typ_ok: impl Fn(&str) -> bool,
    required: &[&str],
) -> Result<C, JwtRejected> {
    if token.len() > 16 * 1024 || token.split('.').count() != 3 {
        return Err(JwtRejected::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtRejected::Malformed)?;
    if !header.typ.as_deref().is_some_and(typ_ok) {
        return Err(JwtRejected::WrongType);
    }
    let kid = header.kid.as_deref().filter(|k| k.len() <= 128).ok_or(JwtRejected::UnknownKey)?;
    let key = find_key(kid).ok_or(JwtRejected::UnknownKey)?;
    let alg = key.alg().jsonwebtoken();
    if header.alg != alg {
        return Err(JwtRejected::Invalid);
    }
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = required.iter().map(|s| s.to_string()).collect();
    let data = jsonwebtoken::decode::<C>(token, key.decoding_key(), &validation)
        .map_err(|_| JwtRejected::Invalid)?;
    if data.claims.issuer() != issuer {
        return Err(JwtRejected::WrongIssuer);
    }
    Ok(data.claims)
}

trait HasIssuer {
    fn issuer(&self) -> &str;
}

impl HasIssuer for VerifiedClaims {
    fn issuer(&self) -> &str {
        &self.iss
    }
}

impl HasIssuer for IdTokenHintClaims {
    fn issuer(&self) -> &str {
        &self.iss
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::signing::SigningAlgorithm;

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            issuer: "https://auth.example".into(),
            subject: "svc-deploy".into(),
            audiences: vec!["https://jira.example".into()],
            issued_at: 1_000,
            expires_at: 1_600,
            jti: "j1".into(),
            client_id: "c1".into(),
            scope: "read".into(),
            username: Some(("username".into(), "svc-deploy".into())),
            email: None,
            grant_id: None,
            personal_token: None,
            trust: None,
        }
    }

    #[test]
    fn signed_tokens_verify_with_every_algorithm() {
        for alg in [SigningAlgorithm::Rs256, SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let key = SigningKey::generate("k1".into(), alg).unwrap().key;
            let token = sign_access_token(&key, &claims()).unwrap();
            let verified =
                verify_access_token(&token, |kid| (kid == "k1").then_some(&key), "https://auth.example")
                    .unwrap();
            assert_eq!(verified.sub, "svc-deploy");
            assert_eq!(verified.other["username"], "svc-deploy");
        }
    }

    #[test]
    fn tampering_wrong_issuer_and_unknown_kid_are_rejected() {
        let key = SigningKey::generate("k1".into(), SigningAlgorithm::Rs256).unwrap().key;
        let token = sign_access_token(&key, &claims()).unwrap();
        let find = |kid: &str| (kid == "k1").then_some(&key);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = b64url(br#"{"iss":"https://auth.example","sub":"admin","aud":"x","exp":9999999999,"iat":1,"jti":"j","client_id":"c1","scope":"read"}"#);
        assert_eq!(
            verify_access_token(&parts.join("."), find, "https://auth.example").unwrap_err(),
            JwtRejected::Invalid
        );
        assert_eq!(verify_access_token(&token, find, "https://other").unwrap_err(), JwtRejected::WrongIssuer);
        assert_eq!(
            verify_access_token(&token, |_| None, "https://auth.example").unwrap_err(),
            JwtRejected::UnknownKey
        );
        assert_eq!(
            verify_access_token("a.b", find, "https://auth.example").unwrap_err(),
            JwtRejected::Malformed
        );
    }

    #[test]
    fn alg_none_and_hs256_with_the_public_key_are_rejected() {
        let key = SigningKey::generate("k1".into(), SigningAlgorithm::Rs256).unwrap().key;
        let find = |kid: &str| (kid == "k1").then_some(&key);
        let body = b64url(&serde_json::to_vec(&claims()).unwrap());
        let none_header = b64url(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#);
        assert!(verify_access_token(&format!("{none_header}.{body}."), find, "https://auth.example").is_err());
        let hs_header = b64url(br#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#);
        let input = format!("{hs_header}.{body}");
        let mac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.public_pem().as_bytes());
        let mac = aws_lc_rs::hmac::sign(&mac_key, input.as_bytes());
        let forged = format!("{input}.{}", b64url(mac.as_ref()));
        assert_eq!(
            verify_access_token(&forged, find, "https://auth.example").unwrap_err(),
            JwtRejected::Invalid
        );
    }

    #[test]
    fn string_typed_exp_is_rejected() {
        let key = SigningKey::generate("k1".into(), SigningAlgorithm::EdDsa).unwrap().key;
        let header = b64url(br#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}"#);
        let body = b64url(br#"{"iss":"i","sub":"s","aud":"a","exp":"99999999999","iat":1,"jti":"j","client_id":"c","scope":""}"#);
        let input = format!("{header}.{body}");
        let token = format!("{input}.{}", b64url(&key.sign(input.as_bytes()).unwrap()));
        assert!(verify_access_token(&token, |_| Some(&key), "i").is_err());
    }
}
