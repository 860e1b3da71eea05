//! The master key: 32 bytes from `TESSERA_MASTER_KEY` or, in the embedded
//! default, a generated key file. Two keys are derived from it with HKDF:
//! the pepper of the keyed secret hashes and the key that encrypts private
//! signing keys at rest.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use aws_lc_rs::{aead, hkdf};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::secrets::SecretHasher;
use crate::domain::InvalidInput;

pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        crate::crypto::secrets::fill_random(&mut bytes);
        Self(bytes)
    }

    /// Parses the base64 form used in `TESSERA_MASTER_KEY` and the key file.
    pub fn from_base64(text: &str) -> Result<Self, InvalidInput> {
        let bytes =
            STANDARD.decode(text.trim()).map_err(|_| InvalidInput::new("master key is not valid base64"))?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            InvalidInput::new("master key must be exactly 32 bytes (44 characters of base64)")
        })?;
        Ok(Self(array))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Reads the key file, or creates it (mode 0600) when it does not exist.
    /// Returns whether the file was created.
    pub fn load_or_create_file(path: &Path) -> anyhow::Result<(Self, bool)> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let key = Self::from_base64(&text)
                    .with_context(|| format!("the master key file {} is damaged", path.display()))?;
                Ok((key, false))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt as _;
                    options.mode(0o600);
                }
                let mut file = options
                    .open(path)
                    .with_context(|| format!("cannot create the master key file {}", path.display()))?;
                file.write_all(key.to_base64().as_bytes())?;
                file.sync_all()?;
                Ok((key, true))
            }
            Err(error) => {
                Err(error).with_context(|| format!("cannot read the master key file {}", path.display()))
            }
        }
    }

    #[expect(clippy::expect_used, reason = "HKDF-SHA256 always yields 32 bytes")]
    fn derive(&self, label: &[u8]) -> [u8; 32] {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tessera master key v1");
        let prk = salt.extract(&self.0);
        let info = [label];
        let okm =
            prk.expand(&info, hkdf::HKDF_SHA256).expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut out = [0u8; 32];
        okm.fill(&mut out).expect("output length matches");
        out
    }

    pub fn secret_hasher(&self) -> SecretHasher {
        SecretHasher::new(&self.derive(b"secret pepper"))
    }

    pub fn key_cipher(&self) -> KeyCipher {
        KeyCipher::new(&self.derive(b"signing key encryption"))
    }
}

/// AES-256-GCM for private keys at rest. The key id is the associated data,
/// so a ciphertext moved to another row does not decrypt.
pub struct KeyCipher(aead::LessSafeKey);

impl fmt::Debug for KeyCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyCipher([redacted])")
    }
}

impl KeyCipher {
    #[expect(clippy::expect_used, reason = "a 32-byte array is always an AES-256 key")]
    fn new(key: &[u8; 32]) -> Self {
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, key).expect("32-byte AES key");
        Self(aead::LessSafeKey::new(unbound))
    }

    /// Returns base64(nonce ‖ ciphertext ‖ tag).
    #[expect(clippy::expect_used, reason = "AES-GCM sealing of an in-memory buffer cannot fail")]
    pub fn seal(&self, associated: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; aead::NONCE_LEN];
        crate::crypto::secrets::fill_random(&mut nonce);
        let mut buffer = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(associated.as_bytes()),
                &mut buffer,
            )
            .expect("AES-GCM sealing cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        STANDARD.encode(out)
    }

    pub fn open(&self, associated: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let bytes = STANDARD.decode(sealed).context("sealed key is not base64")?;
        if bytes.len() < aead::NONCE_LEN + aead::AES_256_GCM.tag_len() {
            anyhow::bail!("sealed key is too short");
        }
        let (nonce, ciphertext) = bytes.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).context("bad nonce")?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, aead::Aad::from(associated.as_bytes()), &mut buffer)
            .map_err(|_| {
                anyhow::anyhow!(
                    "cannot decrypt signing key {associated}: the master key differs from the one it was stored with"
                )
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_key_opens_only_with_the_same_master_key_and_id() {
        let master = MasterKey::generate();
        let cipher = master.key_cipher();
        let sealed = cipher.seal("kid-1", b"private key");
        assert_eq!(cipher.open("kid-1", &sealed).unwrap(), b"private key");
        assert!(cipher.open("kid-2", &sealed).is_err());
        assert!(MasterKey::generate().key_cipher().open("kid-1", &sealed).is_err());
    }

    #[test]
    fn base64_round_trip_and_length_check() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.0, again.0);
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }

    #[test]
    fn debug_never_prints_the_key() {
        let key = MasterKey::generate();
        assert!(!format!("{key:?}").contains(&key.to_base64()));
    }

    #[test]
    fn key_file_is_created_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("tessera-mk-{}", uuid::Uuid::new_v4()));
        let path = dir.join("master.key");
        let (first, created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(created);
        let (second, created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(!created);
        assert_eq!(first.0, second.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
