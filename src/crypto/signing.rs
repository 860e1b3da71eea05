//! Signing keys: generated here, held as parsed aws-lc-rs key pairs (parsed
//! once, never per token), exported as PKCS#8 for encrypted storage and as
//! JWK and PEM for resource servers.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPublicKeyUncompressedBin, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair as _};
use serde_json::json;

use super::b64url;
use crate::domain::InvalidInput;

/// The JWS algorithms Tessera signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    Rs256,
    Es256,
    EdDsa,
}

impl SigningAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl FromStr for SigningAlgorithm {
    type Err = InvalidInput;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "RS256" => Ok(Self::Rs256),
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            other => Err(InvalidInput::new(format!(
                "unknown signing algorithm '{other}' (expected RS256, ES256 or EdDSA)"
            ))),
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

enum KeyPair {
    Rsa(signature::RsaKeyPair),
    Ec(signature::EcdsaKeyPair),
    Ed(signature::Ed25519KeyPair),
}

/// A private signing key with everything derived from it computed once.
pub struct SigningKey {
    kid: String,
    alg: SigningAlgorithm,
    pair: KeyPair,
    jwk: serde_json::Value,
    public_pem: String,
    decoding: jsonwebtoken::DecodingKey,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// A freshly generated key: the parsed key and its PKCS#8 bytes to be
/// encrypted and stored.
pub struct GeneratedKey {
    pub key: SigningKey,
    pub pkcs8: Vec<u8>,
}

impl SigningKey {
    pub fn generate(kid: String, alg: SigningAlgorithm) -> anyhow::Result<GeneratedKey> {
        let pkcs8 = match alg {
            SigningAlgorithm::Rs256 => {
                let pair = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
                AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
                    .map_err(|_| anyhow::anyhow!("RSA key export failed"))?
                    .as_ref()
                    .to_vec()
            }
            SigningAlgorithm::Es256 => {
                let pair = signature::EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| anyhow::anyhow!("EC key generation failed"))?;
                pair.to_pkcs8v1().map_err(|_| anyhow::anyhow!("EC key export failed"))?.as_ref().to_vec()
            }
            SigningAlgorithm::EdDsa => {
                let pair = signature::Ed25519KeyPair::generate()
                    .map_err(|_| anyhow::anyhow!("Ed25519 key generation failed"))?;
                pair.to_pkcs8v1().map_err(|_| anyhow::anyhow!("Ed25519 key export failed"))?.as_ref().to_vec()
            }
        };
        let key = Self::from_pkcs8(kid, alg, &pkcs8)?;
        Ok(GeneratedKey { key, pkcs8 })
    }

    pub fn from_pkcs8(kid: String, alg: SigningAlgorithm, pkcs8: &[u8]) -> anyhow::Result<Self> {
        let rejected =
            |e: aws_lc_rs::error::KeyRejected| anyhow::anyhow!("stored {alg} key {kid} is unusable: {e}");
        let (pair, jwk_members, spki) = match alg {
            SigningAlgorithm::Rs256 => {
                let pair = signature::RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                let public = pair.public_key();
                let n = b64url(public.modulus().big_endian_without_leading_zero());
                let e = b64url(public.exponent().big_endian_without_leading_zero());
                let spki = spki_der(public.as_der())?;
                (KeyPair::Rsa(pair), json!({"kty": "RSA", "n": n, "e": e}), spki)
            }
            SigningAlgorithm::Es256 => {
                let pair =
                    signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                        .map_err(rejected)?;
                let public = pair.public_key();
                let point = AsBigEndian::<EcPublicKeyUncompressedBin>::as_be_bytes(public)
                    .map_err(|_| anyhow::anyhow!("EC public key export failed"))?;
                let point = point.as_ref();
                if point.len() != 65 || point[0] != 4 {
                    anyhow::bail!("unexpected EC public key encoding");
                }
                let spki = spki_der(public.as_der())?;
                let members = json!({
                    "kty": "EC", "crv": "P-256",
                    "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
                });
                (KeyPair::Ec(pair), members, spki)
            }
            SigningAlgorithm::EdDsa => {
                let pair = signature::Ed25519KeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                let x = b64url(pair.public_key().as_ref());
                let spki = spki_der(pair.public_key().as_der())?;
                (KeyPair::Ed(pair), json!({"kty": "OKP", "crv": "Ed25519", "x": x}), spki)
            }
        };
        let mut jwk = jwk_members;
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(alg.as_str());
        let decoding = decoding_key(alg, &jwk)?;
        let public_pem = pem::encode(&pem::Pem::new("PUBLIC KEY", spki));
        Ok(Self { kid, alg, pair, jwk, public_pem, decoding, rng: SystemRandom::new() })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The public JWK (RFC 7517): only public members.
    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// The SubjectPublicKeyInfo as PEM, for resource servers that take a
    /// pasted key (the Jira app's JWT mode).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    pub fn decoding_key(&self) -> &jsonwebtoken::DecodingKey {
        &self.decoding
    }

    /// The JWS signature of `message` (for ES256 the fixed r‖s form).
    pub fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        match &self.pair {
            KeyPair::Rsa(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
                    .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
                Ok(signature)
            }
            KeyPair::Ec(pair) => Ok(pair
                .sign(&self.rng, message)
                .map_err(|_| anyhow::anyhow!("ECDSA signing failed"))?
                .as_ref()
                .to_vec()),
            KeyPair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

fn spki_der(
    der: Result<PublicKeyX509Der<'static>, aws_lc_rs::error::Unspecified>,
) -> anyhow::Result<Vec<u8>> {
    Ok(der.map_err(|_| anyhow::anyhow!("public key export failed"))?.as_ref().to_vec())
}

fn decoding_key(alg: SigningAlgorithm, jwk: &serde_json::Value) -> anyhow::Result<jsonwebtoken::DecodingKey> {
    let member = |name: &str| jwk[name].as_str().unwrap_or_default().to_owned();
    let key = match alg {
        SigningAlgorithm::Rs256 => jsonwebtoken::DecodingKey::from_rsa_components(&member("n"), &member("e")),
        SigningAlgorithm::Es256 => jsonwebtoken::DecodingKey::from_ec_components(&member("x"), &member("y")),
        SigningAlgorithm::EdDsa => jsonwebtoken::DecodingKey::from_ed_components(&member("x")),
    };
    key.map_err(|e| anyhow::anyhow!("cannot build the verification key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_algorithm_generates_reloads_and_exports_only_public_members() {
        for alg in [SigningAlgorithm::Rs256, SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let generated = SigningKey::generate("k1".into(), alg).unwrap();
            let reloaded = SigningKey::from_pkcs8("k1".into(), alg, &generated.pkcs8).unwrap();
            assert_eq!(generated.key.public_jwk(), reloaded.public_jwk());
            let jwk = reloaded.public_jwk().as_object().unwrap();
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(!jwk.contains_key(private), "{alg}: {private} leaked");
            }
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            assert!(reloaded.public_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
            assert!(!reloaded.sign(b"message").unwrap().is_empty());
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let generated = SigningKey::generate("k1".into(), SigningAlgorithm::EdDsa).unwrap();
        let shown = format!("{:?}", generated.key);
        assert!(shown.contains("k1") && !shown.contains("pkcs8"));
    }
}
