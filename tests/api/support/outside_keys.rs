//! Parties outside Tessera that sign JWTs with their own keys — a client
//! using `private_key_jwt`, a CI platform issuing OIDC tokens — and the
//! real HTTP server they publish their key set on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PSS_SHA256};
use serde_json::{json, Value};
use tessera::crypto::b64url;
use tessera::crypto::signing::{SigningAlgorithm, SigningKey};
use tessera::domain::{ClientKeys, JwksUri, PublicJwks};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One private key and how it signs.
struct HeldKey {
    kid: String,
    alg: &'static str,
    key: SigningKey,
    /// The PKCS#8 bytes, for PS256 (RSA-PSS), which `SigningKey` does not do.
    pkcs8: Vec<u8>,
}

/// Someone holding private keys: publishes the public halves, signs JWTs.
pub struct KeyHolder {
    keys: Vec<HeldKey>,
}

impl KeyHolder {
    /// Keys by `(kid, alg)`: RS256, PS256, ES256 or EdDSA.
    pub fn new(keys: &[(&str, &'static str)]) -> Self {
        let keys = keys
            .iter()
            .map(|(kid, alg)| {
                let kind = match *alg {
                    "RS256" | "PS256" => SigningAlgorithm::Rs256,
                    "ES256" => SigningAlgorithm::Es256,
                    "EdDSA" => SigningAlgorithm::EdDsa,
                    other => panic!("no such algorithm {other}"),
                };
                let generated = SigningKey::generate((*kid).into(), kind).unwrap();
                HeldKey { kid: (*kid).into(), alg, key: generated.key, pkcs8: generated.pkcs8 }
            })
            .collect();
        Self { keys }
    }

    fn held(&self, kid: &str) -> &HeldKey {
        self.keys.iter().find(|k| k.kid == kid).unwrap_or_else(|| panic!("no key {kid}"))
    }

    /// The public key `kid` as a JWK, `alg` set to the one it signs with.
    pub fn public_jwk(&self, kid: &str) -> Value {
        let held = self.held(kid);
        let mut jwk = held.key.public_jwk().clone();
        jwk["alg"] = json!(held.alg);
        jwk
    }

    /// The public set of the keys named (all of them when `kids` is empty).
    pub fn jwks_of(&self, kids: &[&str]) -> String {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|k| kids.is_empty() || kids.contains(&k.kid.as_str()))
            .map(|k| self.public_jwk(&k.kid))
            .collect();
        json!({ "keys": keys }).to_string()
    }

    pub fn jwks(&self) -> String {
        self.jwks_of(&[])
    }

    /// The set registered inline with a client.
    pub fn inline(&self) -> ClientKeys {
        ClientKeys::Inline(Arc::new(PublicJwks::parse(&self.jwks()).unwrap()))
    }

    /// The PEM of key `kid`'s public half (what an attacker would use as an
    /// HMAC secret).
    pub fn public_pem(&self, kid: &str) -> String {
        self.held(kid).key.public_pem().to_owned()
    }

    /// `claims` signed with key `kid`, its header `{alg, kid, typ: JWT}`.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let held = self.held(kid);
        self.sign_with_header(kid, &json!({"alg": held.alg, "kid": kid, "typ": "JWT"}), claims)
    }

    /// `claims` under any `header`, signed with key `kid`'s own algorithm.
    pub fn sign_with_header(&self, kid: &str, header: &Value, claims: &Value) -> String {
        let held = self.held(kid);
        let input =
            format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let signature = if held.alg == "PS256" {
            let pair = RsaKeyPair::from_pkcs8(&held.pkcs8).unwrap();
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(&RSA_PSS_SHA256, &SystemRandom::new(), input.as_bytes(), &mut signature).unwrap();
            signature
        } else {
            held.key.sign(input.as_bytes()).unwrap()
        };
        format!("{input}.{}", b64url(&signature))
    }
}

/// `claims` with no signature at all (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    let header = b64url(json!({"alg": "none", "typ": "JWT"}).to_string().as_bytes());
    format!("{header}.{}.", b64url(claims.to_string().as_bytes()))
}

/// `claims` as HS256 with `secret` as the HMAC key (the classic attack:
/// the verifier's public key used as a shared secret).
pub fn hmac_signed(claims: &Value, kid: &str, secret: &[u8]) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
}

/// What a `KeySite` answers.
#[derive(Clone)]
pub enum Answer {
    /// 200 with this body.
    Serve(String),
    /// Only this status, no key set.
    Status(u16),
    /// A redirect to `location`.
    Redirect(String),
    /// Nothing for longer than Tessera waits, then a valid set.
    Slow(String),
    /// 200 with this many bytes of body.
    Huge(usize),
}

/// A real HTTP server on loopback publishing a key set at `/jwks`, as a
/// client or a CI platform would; counts the requests it gets.
pub struct KeySite {
    pub base: String,
    answer: Arc<Mutex<Answer>>,
    requests: Arc<AtomicUsize>,
}

impl KeySite {
    pub async fn start(answer: Answer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let answer = Arc::new(Mutex::new(answer));
        let requests = Arc::new(AtomicUsize::new(0));
        let (shared, counter) = (Arc::clone(&answer), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let answer = shared.lock().unwrap().clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let reply = match answer {
                        Answer::Serve(body) => reply("200 OK", "application/json", body.into_bytes()),
                        Answer::Status(status) => reply(&format!("{status} Failing"), "text/plain", Vec::new()),
                        Answer::Redirect(location) => format!(
                            "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                        .into_bytes(),
                        Answer::Slow(body) => {
                            tokio::time::sleep(Duration::from_secs(7)).await;
                            reply("200 OK", "application/json", body.into_bytes())
                        }
                        Answer::Huge(bytes) => {
                            let mut body = b"{\"keys\":[\"".to_vec();
                            body.resize(bytes, b'A');
                            reply("200 OK", "application/json", body)
                        }
                    };
                    let _ = socket.write_all(&reply).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { base, answer, requests }
    }

    pub fn url(&self) -> String {
        format!("{}/jwks", self.base)
    }

    pub fn keys(&self) -> ClientKeys {
        ClientKeys::Remote(JwksUri::parse(&self.url()).unwrap())
    }

    pub fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn reply(status: &str, content_type: &str, body: Vec<u8>) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend(body);
    out
}

/// A loopback URL nothing listens on.
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/jwks")
}
