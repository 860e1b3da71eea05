//! The signing-key lifecycle: a key is *next* (published, not yet
//! signing), then *active* (signing), then *retired* (published so tokens it
//! signed still verify), then dropped from the JWKS once every token it
//! signed has expired. The key set lives in memory, so JWKS, PEM and
//! signing keep working while the database is down.

use std::sync::{Arc, RwLock};

use crate::clock::Clock;
use crate::crypto::master::KeyCipher;
use crate::crypto::secrets::random_id;
use crate::crypto::signing::{SigningAlgorithm, SigningKey};
use crate::domain::{Lifetime, UnixTime, MAX_ACCESS_TOKEN_TTL};
use crate::store::{Store, StoreError, StoredKey};

/// `Cache-Control: max-age` of the JWKS; resource servers refetch at least this often.
pub const JWKS_MAX_AGE_SECONDS: i64 = 300;

/// How long a retired key stays published: the longest access-token
/// lifetime, plus the JWKS cache time, plus clock-skew leeway.
pub const RETIRED_KEY_RETENTION: i64 = MAX_ACCESS_TOKEN_TTL.seconds() + JWKS_MAX_AGE_SECONDS + 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Active,
    Retired,
    /// Retired long enough ago that no live token can carry it; unpublished.
    Expired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Expired => "expired",
        }
    }
}

struct Entry {
    key: Arc<SigningKey>,
    created_at: UnixTime,
    activates_at: UnixTime,
    superseded_at: Option<UnixTime>,
}

impl Entry {
    fn state(&self, now: UnixTime) -> KeyState {
        match self.superseded_at {
            _ if now < self.activates_at => KeyState::Next,
            Some(at) if now >= at.plus(RETIRED_KEY_RETENTION) => KeyState::Expired,
            Some(at) if now >= at => KeyState::Retired,
            _ => KeyState::Active,
        }
    }
}

/// An immutable snapshot of every known key.
pub struct KeySet {
    entries: Vec<Entry>,
}

impl KeySet {
    fn new(mut entries: Vec<Entry>) -> Self {
        entries.sort_by(|a, b| (a.activates_at, a.key.kid()).cmp(&(b.activates_at, b.key.kid())));
        let starts: Vec<UnixTime> = entries.iter().map(|e| e.activates_at).collect();
        for (i, entry) in entries.iter_mut().enumerate() {
            entry.superseded_at = starts[i + 1..].iter().find(|&&s| s > entry.activates_at).copied();
        }
        Self { entries }
    }

    /// The key that signs at `now`: the most recently activated one.
    pub fn signer(&self, now: UnixTime) -> Option<&Arc<SigningKey>> {
        self.entries.iter().rev().find(|e| e.activates_at <= now).map(|e| &e.key)
    }

    /// Keys a verifier may use at `now`: next, active and retired ones.
    pub fn published(&self, now: UnixTime) -> impl Iterator<Item = &Arc<SigningKey>> {
        self.entries.iter().filter(move |e| e.state(now) != KeyState::Expired).map(|e| &e.key)
    }

    /// A published key by `kid`; never looks anywhere but this in-memory set.
    pub fn find(&self, kid: &str, now: UnixTime) -> Option<&SigningKey> {
        self.published(now).find(|k| k.kid() == kid).map(|k| k.as_ref())
    }

    /// The JWKS document (RFC 7517) of the published keys.
    pub fn jwks(&self, now: UnixTime) -> serde_json::Value {
        let keys: Vec<&serde_json::Value> = self.published(now).map(|k| k.public_jwk()).collect();
        serde_json::json!({ "keys": keys })
    }

    pub fn describe(&self, now: UnixTime) -> Vec<KeyInfo> {
        self.entries
            .iter()
            .map(|e| KeyInfo {
                kid: e.key.kid().to_owned(),
                alg: e.key.alg().as_str(),
                state: e.state(now),
                created_at: e.created_at.seconds(),
                activates_at: e.activates_at.seconds(),
                retired_at: e.superseded_at.map(|s| s.seconds()),
                unpublished_at: e.superseded_at.map(|s| s.plus(RETIRED_KEY_RETENTION).seconds()),
            })
            .collect()
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: &'static str,
    pub state: KeyState,
    pub created_at: i64,
    pub activates_at: i64,
    pub retired_at: Option<i64>,
    pub unpublished_at: Option<i64>,
}

/// Loads, creates and rotates signing keys; holds the current `KeySet`.
pub struct KeyManager {
    store: Arc<dyn Store>,
    cipher: KeyCipher,
    clock: Arc<dyn Clock>,
    algorithm: SigningAlgorithm,
    publish_ahead: Lifetime,
    current: RwLock<Arc<KeySet>>,
}

impl KeyManager {
    pub fn new(
        store: Arc<dyn Store>,
        cipher: KeyCipher,
        clock: Arc<dyn Clock>,
        algorithm: SigningAlgorithm,
        publish_ahead: Lifetime,
    ) -> Self {
        Self {
            store,
            cipher,
            clock,
            algorithm,
            publish_ahead,
            current: RwLock::new(Arc::new(KeySet::new(Vec::new()))),
        }
    }

    pub fn current(&self) -> Arc<KeySet> {
        crate::sync::read(&self.current).clone()
    }

    /// Every key in memory with its state now.
    pub fn describe(&self) -> Vec<KeyInfo> {
        self.current().describe(self.clock.now())
    }

    /// Re-reads every key from the database and decrypts it. On a database
    /// error the previous set stays in place.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let stored = self.store.list_keys().await?;
        let mut entries = Vec::with_capacity(stored.len());
        for record in stored {
            let alg: SigningAlgorithm = record
                .alg
                .parse()
                .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("key {}: {e}", record.kid)))?;
            let pkcs8 = self.cipher.open(&record.kid, &record.sealed_private_key)?;
            let key = SigningKey::from_pkcs8(record.kid.clone(), alg, &pkcs8)?;
            entries.push(Entry {
                key: Arc::new(key),
                created_at: record.created_at,
                activates_at: record.activates_at,
                superseded_at: None,
            });
        }
        *crate::sync::write(&self.current) = Arc::new(KeySet::new(entries));
        Ok(())
    }

    /// At first start: creates a key that signs at once, if none can sign.
    pub async fn ensure_signing_key(&self) -> Result<(), StoreError> {
        self.reload().await?;
        let now = self.clock.now();
        if self.current().signer(now).is_none() {
            let record = self.new_record(now, now)?;
            self.store.insert_key(&record).await?;
            tracing::info!(kid = %record.kid, alg = %record.alg, "created the first signing key");
            self.reload().await?;
        }
        Ok(())
    }

    /// Publishes a new key now that starts signing after `activate_in`
    /// (default: the configured publish-ahead time).
    pub async fn rotate(&self, activate_in: Option<Lifetime>) -> Result<KeyInfo, StoreError> {
        let now = self.clock.now();
        let ahead = activate_in.unwrap_or(self.publish_ahead);
        let record = self.new_record(now, now.plus(ahead.seconds()))?;
        self.store.insert_key(&record).await?;
        self.reload().await?;
        self.info(&record.kid)
    }

    /// Scheduled rotation: once the signing key is `interval` old, publishes
    /// its successor (unless one is already waiting). Safe on many nodes.
    pub async fn rotate_if_due(&self, interval: Lifetime) -> Result<Option<KeyInfo>, StoreError> {
        self.reload().await?;
        let now = self.clock.now();
        let set = self.current();
        let newest = set.entries.last().map(|e| e.activates_at);
        let due = match newest {
            None => true,
            Some(start) => {
                now.seconds() >= start.seconds() + interval.seconds() - self.publish_ahead.seconds()
            }
        };
        if !due {
            return Ok(None);
        }
        let record = self.new_record(now, now.plus(self.publish_ahead.seconds()))?;
        if self.store.insert_next_key_if_none(&record, now).await? {
            tracing::info!(kid = %record.kid, "scheduled key rotation published the next key");
            self.reload().await?;
            return self.info(&record.kid).map(Some);
        }
        Ok(None)
    }

    fn info(&self, kid: &str) -> Result<KeyInfo, StoreError> {
        self.current()
            .describe(self.clock.now())
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("key {kid} vanished after insert")))
    }

    fn new_record(&self, now: UnixTime, activates_at: UnixTime) -> Result<StoredKey, StoreError> {
        let kid = random_id(12);
        let generated = SigningKey::generate(kid.clone(), self.algorithm)?;
        Ok(StoredKey {
            sealed_private_key: self.cipher.seal(&kid, &generated.pkcs8),
            kid,
            alg: self.algorithm.as_str().to_owned(),
            created_at: now,
            activates_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kid: &str, activates_at: i64) -> Entry {
        Entry {
            key: Arc::new(SigningKey::generate(kid.into(), SigningAlgorithm::EdDsa).unwrap().key),
            created_at: UnixTime::from_seconds(0),
            activates_at: UnixTime::from_seconds(activates_at),
            superseded_at: None,
        }
    }

    #[test]
    fn next_key_is_published_before_it_signs_and_old_key_stays_until_retention() {
        let set = KeySet::new(vec![entry("old", 0), entry("new", 1_000)]);
        let at = UnixTime::from_seconds;
        assert_eq!(set.signer(at(999)).unwrap().kid(), "old");
        assert!(set.find("new", at(999)).is_some(), "next key is published early");
        assert_eq!(set.signer(at(1_000)).unwrap().kid(), "new");
        assert!(set.find("old", at(1_000 + RETIRED_KEY_RETENTION - 1)).is_some());
        assert!(set.find("old", at(1_000 + RETIRED_KEY_RETENTION)).is_none());
        let states: Vec<_> = set.describe(at(1_500)).into_iter().map(|k| k.state).collect();
        assert_eq!(states, [KeyState::Retired, KeyState::Active]);
    }

    #[test]
    fn nothing_signs_before_the_first_key_activates() {
        let set = KeySet::new(vec![entry("k", 100)]);
        assert!(set.signer(UnixTime::from_seconds(99)).is_none());
        assert_eq!(set.jwks(UnixTime::from_seconds(99))["keys"].as_array().unwrap().len(), 1);
    }
}
