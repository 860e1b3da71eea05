//! Password hashing: argon2id with the OWASP parameters (m = 19 MiB, t = 2,
//! p = 1; argon2's defaults), PHC strings, run on the blocking pool with a
//! bound on how many run at once (each takes 19 MiB), and a dummy hash for
//! unknown users so a failed login takes as long whether or not the user
//! exists.

use std::sync::Arc;

use anyhow::Context as _;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use aws_lc_rs::rand;
use tokio::sync::{OnceCell, Semaphore};

use crate::domain::Password;

pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    dummy: OnceCell<String>,
}

impl PasswordHasher {
    /// `concurrency` hashes at most run at once; more wait their turn.
    pub fn new(concurrency: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(concurrency.max(1))), dummy: OnceCell::new() }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await.context("password hasher closed")?;
        let plain = password.expose().to_owned();
        tokio::task::spawn_blocking(move || hash_now(&plain))
            .await
            .context("the password hashing task failed")?
    }

    /// Checks `password` against `stored`; with no stored hash (unknown
    /// user) it checks against a dummy hash and answers false.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> anyhow::Result<bool> {
        let known = stored.is_some();
        let phc = match stored {
            Some(phc) => phc.to_owned(),
            None => self.dummy().await?.to_owned(),
        };
        let _permit = self.permits.acquire().await.context("password hasher closed")?;
        let plain = password.expose().to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&phc)
                .map_err(|e| anyhow::anyhow!("stored password hash is invalid: {e}"))?;
            Ok::<_, anyhow::Error>(Argon2::default().verify_password(plain.as_bytes(), &parsed).is_ok())
        })
        .await
        .context("the password verification task failed")??;
        Ok(known && matches)
    }

    async fn dummy(&self) -> anyhow::Result<&String> {
        self.dummy
            .get_or_try_init(|| async {
                let mut bytes = [0u8; 32];
                rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("random generator failed"))?;
                let plain = crate::crypto::b64url(&bytes);
                tokio::task::spawn_blocking(move || hash_now(&plain)).await?
            })
            .await
    }
}

fn hash_now(plain: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt).map_err(|_| anyhow::anyhow!("random generator failed"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt encoding failed: {e}"))?;
    Ok(Argon2::default()
        .hash_password(plain.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hasher = PasswordHasher::new(2);
        let password = Password::parse("correct horse battery").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify(&password, Some(&hash)).await.unwrap());
        let wrong = Password::parse("wrong horse battery").unwrap();
        assert!(!hasher.verify(&wrong, Some(&hash)).await.unwrap());
        assert_ne!(hash, hasher.hash(&password).await.unwrap(), "salted");
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let hasher = PasswordHasher::new(1);
        let password = Password::parse("whatever password").unwrap();
        assert!(!hasher.verify(&password, None).await.unwrap());
    }
}
