//! Password hashing: argon2id with the OWASP parameters (m = 19 MiB, t = 2,
//! p = 1; argon2's defaults), PHC strings, and a dummy hash for unknown
//! users so a failed sign-in takes as long whether or not the user exists.
//!
//! Memory is the resource an attacker goes for: each run needs a 19 MiB
//! block, and an allocator that keeps freed blocks per thread arena grew an
//! idle 16 MiB server to hundreds of MiB under parallel failed sign-ins. So
//! runs take their block from a fixed pool (one per permitted concurrent
//! run, allocated on first use and reused for good), at most `concurrency`
//! run at once, and at most `MAX_WAITING_PER_RUN × concurrency` wait; beyond
//! that the answer is `Busy` at once. A run keeps its permit and its block
//! until it finishes, even if the request that started it is gone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use aws_lc_rs::{constant_time, rand};
use tokio::sync::{OnceCell, Semaphore};

use crate::domain::Password;

/// Checks that may wait for a free run, per concurrent run.
const MAX_WAITING_PER_RUN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too many checks are already waiting; the caller should come back.
    #[error("too many password checks are running; try again in a moment")]
    Busy,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Argon2 working memory, reused from run to run.
    memory: Arc<Mutex<Vec<Box<[Block]>>>>,
    waiting: AtomicUsize,
    max_waiting: usize,
    dummy: OnceCell<String>,
}

impl PasswordHasher {
    /// `concurrency` hashes at most run at once (and hold memory); a few
    /// more wait their turn.
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            memory: Arc::new(Mutex::new(Vec::with_capacity(concurrency))),
            waiting: AtomicUsize::new(0),
            max_waiting: concurrency * MAX_WAITING_PER_RUN,
            dummy: OnceCell::new(),
        }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let plain = password.expose().to_owned();
        self.run(move |memory| hash_with(&plain, memory)).await?
    }

    /// Checks `password` against `stored`; with no stored hash (unknown
    /// user) it checks against a dummy hash and answers false.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<bool, PasswordError> {
        let known = stored.is_some();
        let phc = match stored {
            Some(phc) => phc.to_owned(),
            None => self.dummy().await?.to_owned(),
        };
        let plain = password.expose().to_owned();
        let matches = self.run(move |memory| verify_with(&plain, &phc, memory)).await??;
        Ok(known && matches)
    }

    /// Runs `work` on the blocking pool with a block of argon2 memory,
    /// within the concurrency and queue bounds.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = {
            let queued = WaitingGuard::enter(&self.waiting);
            if queued.position >= self.max_waiting {
                return Err(PasswordError::Busy);
            }
            self.permits.clone().acquire_owned().await.context("password hasher closed")?
        };
        let pool = self.memory.clone();
        let handle = tokio::task::spawn_blocking(move || {
            let taken = crate::sync::lock(&pool).pop();
            let mut memory = taken.unwrap_or_else(new_memory);
            let result = work(&mut memory);
            crate::sync::lock(&pool).push(memory);
            drop(permit);
            result
        });
        Ok(handle.await.context("the password hashing task failed")?)
    }

    async fn dummy(&self) -> Result<&String, PasswordError> {
        self.dummy
            .get_or_try_init(|| async {
                let mut bytes = [0u8; 32];
                rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("random generator failed"))?;
                let plain = crate::crypto::b64url(&bytes);
                self.run(move |memory| hash_with(&plain, memory)).await?
            })
            .await
    }
}

/// Counts a caller in the queue for as long as it waits.
struct WaitingGuard<'a> {
    waiting: &'a AtomicUsize,
    position: usize,
}

impl<'a> WaitingGuard<'a> {
    fn enter(waiting: &'a AtomicUsize) -> Self {
        let position = waiting.fetch_add(1, Ordering::AcqRel);
        Self { waiting, position }
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One run's worth of memory for the current parameters.
fn new_memory() -> Box<[Block]> {
    vec![Block::default(); Params::DEFAULT.block_count()].into_boxed_slice()
}

fn hash_with(plain: &str, memory: &mut [Block]) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt).map_err(|_| anyhow::anyhow!("random generator failed"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt encoding failed: {e}"))?;
    let params = Params::DEFAULT;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut raw_salt = [0u8; 64];
    let raw_salt =
        salt.decode_b64(&mut raw_salt).map_err(|e| anyhow::anyhow!("salt decoding failed: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(plain.as_bytes(), raw_salt, &mut out, memory)
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("argon2 output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Recomputes the stored hash's output with its own parameters and salt,
/// and compares in constant time. A stored hash needing more memory than a
/// pool block (parameters above today's) gets a block of its own.
fn verify_with(plain: &str, phc: &str, memory: &mut [Block]) -> Result<bool, PasswordError> {
    let invalid = |what: &str| anyhow::anyhow!("stored password hash is invalid: {what}");
    let parsed = PasswordHash::new(phc).map_err(|_| invalid("not a PHC string"))?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|_| invalid("not argon2"))?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|_| invalid("unknown version"))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|_| invalid("bad parameters"))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(invalid("no salt or output").into());
    };
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut raw_salt).map_err(|_| invalid("bad salt"))?;
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let computed = if params.block_count() <= memory.len() {
        argon2.hash_password_into_with_memory(plain.as_bytes(), raw_salt, &mut out, memory)
    } else {
        argon2.hash_password_into(plain.as_bytes(), raw_salt, &mut out)
    };
    computed.map_err(|e| anyhow::anyhow!("password verification failed: {e}"))?;
    Ok(constant_time::verify_slices_are_equal(&out, expected.as_bytes()).is_ok())
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

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
    async fn hashes_agree_with_the_argon2_crate_both_ways() {
        let hasher = PasswordHasher::new(1);
        let password = Password::parse("interoperable secret").unwrap();
        let ours = hasher.hash(&password).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok());
        // A hash made elsewhere, with other (smaller) parameters, verifies too.
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let params = Params::new(8_192, 3, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.expose().as_bytes(), &salt)
            .unwrap()
            .to_string();
        assert!(hasher.verify(&password, Some(&theirs)).await.unwrap());
        let wrong = Password::parse("not the secret").unwrap();
        assert!(!hasher.verify(&wrong, Some(&theirs)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let hasher = PasswordHasher::new(1);
        let password = Password::parse("whatever password").unwrap();
        assert!(!hasher.verify(&password, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_garbled_stored_hash_is_an_error_not_a_match() {
        let hasher = PasswordHasher::new(1);
        let password = Password::parse("whatever password").unwrap();
        for bad in ["", "$argon2id$v=19$m=19456,t=2,p=1$", "$bcrypt$xyz", "plain text"] {
            assert!(hasher.verify(&password, Some(bad)).await.is_err(), "{bad:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_queue_bound_the_answer_is_busy_at_once() {
        let hasher = Arc::new(PasswordHasher::new(1));
        let stored = hasher.hash(&Password::parse("some password").unwrap()).await.unwrap();
        let checks = (0..(1 + MAX_WAITING_PER_RUN + 8)).map(|_| {
            let (hasher, stored) = (hasher.clone(), stored.clone());
            let password = Password::parse("some password").unwrap();
            tokio::spawn(async move { hasher.verify(&password, Some(&stored)).await })
        });
        let results = futures_util::future::join_all(checks).await;
        let busy = results.iter().filter(|r| matches!(r, Ok(Err(PasswordError::Busy)))).count();
        let done = results.iter().filter(|r| matches!(r, Ok(Ok(true)))).count();
        assert!(busy >= 1, "some checks are turned away");
        assert!(done > MAX_WAITING_PER_RUN / 2, "the queue is served");
        assert_eq!(busy + done, results.len());
        assert!(hasher.memory.lock().unwrap().len() <= 1, "one block for one concurrent run");
    }
}
