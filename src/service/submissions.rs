//! One-time form submissions: a form that creates a secret carries a
//! random `submission` id, claimed before the operation runs. A repeat (a
//! reload posting the form again) learns what the first one produced
//! instead of making a second secret.

use std::sync::Arc;

use crate::clock::Clock;
use crate::service::ServiceResult;
use crate::store::Store;

/// Longest submission id accepted; longer ones are treated as absent.
pub const MAX_ID_LENGTH: usize = 64;

pub struct Submissions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

/// What claiming a submission id found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nobody sent this form before: go ahead.
    First,
    /// It was sent before; what that produced, if it finished.
    Repeated(Option<String>),
}

impl Submissions {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn claim(&self, id: &str) -> ServiceResult<Claim> {
        if self.store.claim_submission(id, self.clock.now()).await? {
            Ok(Claim::First)
        } else {
            Ok(Claim::Repeated(self.store.submission_result(id).await?))
        }
    }

    /// Records what a claimed submission produced, or gives the id back
    /// when it produced nothing (a refused form may be sent again). A
    /// failure here is logged: the operation itself is done.
    pub async fn settle(&self, id: &str, result: Option<&str>) {
        let outcome = match result {
            Some(result) => self.store.complete_submission(id, result).await,
            None => self.store.release_submission(id).await,
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, "could not record a form submission");
        }
    }
}
