//! The single use of JWT assertions (`jti`), across every node: each use is
//! one row in the database, so the database decides who was first. To keep
//! that write off the hot path's bill, concurrent uses on one node are
//! gathered into one statement: while one batch is being written, the next
//! one collects — one round trip and one commit for many assertions, at no
//! added wait when the server is idle.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::domain::UnixTime;
use crate::store::{AssertionUse, Store, StoreError, StoreResult};

/// The most uses written in one statement.
const MAX_BATCH: usize = 128;

/// Uses waiting for the writer, at most.
const QUEUE: usize = 4_096;

struct Pending {
    record: AssertionUse,
    reply: oneshot::Sender<StoreResult<bool>>,
}

pub struct ReplayGuard {
    sender: mpsc::Sender<Pending>,
}

impl ReplayGuard {
    /// Starts the writer (on the current tokio runtime).
    pub fn new(store: Arc<dyn Store>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, receiver));
        Self { sender }
    }

    /// Records the assertion `jti_digest` of `issuer` as used until
    /// `expires_at`: true the first time, false for a replay.
    pub async fn first_use(&self, issuer: &str, jti_digest: &str, expires_at: UnixTime) -> StoreResult<bool> {
        let (reply, answer) = oneshot::channel();
        let record =
            AssertionUse { issuer: issuer.to_owned(), jti_digest: jti_digest.to_owned(), expires_at };
        let gone = || StoreError::Unexpected(anyhow::anyhow!("the assertion writer has stopped"));
        self.sender.send(Pending { record, reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn write_batches(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Pending>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // The same assertion twice in one batch: the later one is a replay.
        let mut seen = HashSet::new();
        let (unique, repeats): (Vec<Pending>, Vec<Pending>) = batch
            .into_iter()
            .partition(|p| seen.insert((p.record.issuer.clone(), p.record.jti_digest.clone())));
        for repeat in repeats {
            let _ = repeat.reply.send(Ok(false));
        }
        let records: Vec<AssertionUse> = unique.iter().map(|p| p.record.clone()).collect();
        match store.use_assertions(&records).await {
            Ok(firsts) => {
                for (pending, first) in unique.into_iter().zip(firsts) {
                    let _ = pending.reply.send(Ok(first));
                }
            }
            Err(error) => {
                for pending in unique {
                    let _ = pending.reply.send(Err(copy(&error)));
                }
            }
        }
    }
}

/// The same failure for each waiter of a batch.
fn copy(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(cause) => StoreError::Unavailable(anyhow::anyhow!("{cause:#}")),
        StoreError::Conflict(text) => StoreError::Conflict(text.clone()),
        StoreError::NotFound(text) => StoreError::NotFound(text.clone()),
        StoreError::Unexpected(cause) => StoreError::Unexpected(anyhow::anyhow!("{cause:#}")),
    }
}
