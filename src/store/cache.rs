//! A cache of clients (with their secret digests and service account) for
//! the hot paths: client authentication and client-credentials issuance
//! read no database row while the cache is warm. A cached client's scopes
//! are those it may be issued now: its allowed scopes that are enabled.
//!
//! It stays correct across nodes through the change log: every write to a
//! client or service account records a change in the same transaction, and
//! `sync` (run every `SYNC_INTERVAL` by each server) drops the entries those
//! changes touch. A write made through this node's `Admin` is dropped at
//! once. Entries also expire after `MAX_AGE` as a safety net. Introspection
//! does not rely on this cache for liveness: it reads the enabled flags and
//! revocations from the database on every call.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::changes::LOOKBACK;
use super::{ChangeStore, ClientStore, Entity, StoreResult, StoredClient};
use crate::domain::{ClientId, UnixTime};

/// How often a server reads the change log.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(250);
/// The longest an entry is trusted without rereading it.
pub const MAX_AGE_SECONDS: i64 = 60;

struct Entry {
    client: Arc<StoredClient>,
    loaded_at: UnixTime,
}

#[derive(Default)]
struct SyncState {
    last_seq: i64,
    seen: HashSet<i64>,
    started: bool,
}

pub struct ClientCache {
    entries: RwLock<HashMap<ClientId, Entry>>,
    /// Bumped by every eviction, so a read that raced with one is not cached.
    generation: AtomicU64,
    sync: Mutex<SyncState>,
}

impl Default for ClientCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientCache {
    pub fn new() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            sync: Mutex::new(SyncState::default()),
        }
    }

    /// The client, from memory when a fresh entry exists, else from `store`.
    /// Unknown ids are not cached.
    pub async fn find(
        &self,
        store: &dyn ClientStore,
        id: &ClientId,
        now: UnixTime,
    ) -> StoreResult<Option<Arc<StoredClient>>> {
        if let Some(entry) = crate::sync::read(&self.entries).get(id) {
            if now.seconds() < entry.loaded_at.seconds() + MAX_AGE_SECONDS && now >= entry.loaded_at {
                return Ok(Some(entry.client.clone()));
            }
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let Some(mut stored) = store.find_client(id).await? else {
            return Ok(None);
        };
        // What the protocol may hand out: a disabled scope is never issued.
        for disabled in std::mem::take(&mut stored.disabled_scopes) {
            stored.client.scopes = stored.client.scopes.without(disabled.as_str());
        }
        let client = Arc::new(stored);
        let mut entries = crate::sync::write(&self.entries);
        if self.generation.load(Ordering::SeqCst) == generation {
            entries.insert(id.clone(), Entry { client: client.clone(), loaded_at: now });
        }
        Ok(Some(client))
    }

    pub fn evict_client(&self, id: &ClientId) {
        let mut entries = crate::sync::write(&self.entries);
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.remove(id);
    }

    /// Drops every client acting as this service account.
    pub fn evict_service_account(&self, username: &str) {
        let mut entries = crate::sync::write(&self.entries);
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, entry| {
            entry.client.client.service_account.as_ref().is_none_or(|sa| sa.username.as_str() != username)
        });
    }

    pub fn clear(&self) {
        let mut entries = crate::sync::write(&self.entries);
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }

    /// Reads the change log and drops what changed elsewhere. The first
    /// call only notes where the log stands.
    pub async fn sync(&self, store: &dyn ChangeStore) -> StoreResult<()> {
        let (started, after) = {
            let state = crate::sync::lock(&self.sync);
            (state.started, state.last_seq)
        };
        if !started {
            let latest = store.latest_change().await?;
            let mut state = crate::sync::lock(&self.sync);
            *state = SyncState { last_seq: latest, seen: HashSet::new(), started: true };
            // Anything cached before we knew where the log stood may be stale.
            drop(state);
            self.clear();
            return Ok(());
        }
        let changes = store.changes_since(after).await?;
        let mut state = crate::sync::lock(&self.sync);
        for change in changes {
            if change.seq <= after - LOOKBACK || !state.seen.insert(change.seq) {
                continue;
            }
            // Changes older than where we started were reflected in what we loaded.
            match change.entity {
                Entity::Client => {
                    if let Ok(id) = ClientId::parse(&change.entity_id) {
                        self.evict_client(&id);
                    }
                }
                Entity::ServiceAccount => self.evict_service_account(&change.entity_id),
                Entity::Scope | Entity::Unknown => self.clear(),
            }
            state.last_seq = state.last_seq.max(change.seq);
        }
        let floor = state.last_seq - LOOKBACK;
        state.seen.retain(|&seq| seq > floor);
        Ok(())
    }
}
