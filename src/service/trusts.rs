//! Trusted outside issuers, as admins manage them (the command line, the
//! console, the admin API): create, list, show, disable, enable, delete,
//! each change audited. What a trust's JWT buys is the token endpoint's
//! (`oauth::grants::trusted_jwt`).

use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::secrets::random_alphanumeric;
use crate::domain::{NewTrust, Trust, TrustDraft, TrustId};
use crate::service::audit::{Actor, Audit, Kind, Target};
use crate::service::ServiceError;
use crate::store::Store;

pub struct Trusts {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Arc<Audit>,
}

impl Trusts {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, audit: Arc<Audit>) -> Self {
        Self { store, clock, audit }
    }

    /// Parses a draft and creates the trust; every field error at once.
    pub async fn create_from(&self, actor: &Actor, draft: &TrustDraft) -> Result<Trust, ServiceError> {
        let new = draft.parse().map_err(ServiceError::from_field_errors)?;
        self.create(actor, new).await
    }

    pub async fn create(&self, actor: &Actor, new: NewTrust) -> Result<Trust, ServiceError> {
        let id = TrustId::new(format!("tr_{}", random_alphanumeric(16)));
        let trust = self.store.create_trust(&id, &new, self.clock.now()).await?;
        let detail = format!(
            "{} ({}) → {}",
            trust.issuer.as_str(),
            conditions(&trust),
            trust.service_account.username
        );
        self.audit.record(Kind::TrustCreated, actor, Target::Trust(&id), &detail).await?;
        Ok(trust)
    }

    pub async fn list(&self) -> Result<Vec<Trust>, ServiceError> {
        Ok(self.store.list_trusts().await?)
    }

    pub async fn find(&self, id: &str) -> Result<Trust, ServiceError> {
        self.store
            .find_trust(&TrustId::new(id))
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no trust with id '{id}'")))
    }

    /// Disabling ends every token the trust issued, on every node.
    pub async fn set_enabled(&self, actor: &Actor, id: &str, enabled: bool) -> Result<(), ServiceError> {
        let trust = self.find(id).await?;
        self.store.set_trust_enabled(&trust.id, enabled, self.clock.now()).await?;
        let (kind, detail) = if enabled {
            (Kind::TrustEnabled, "tokens issued before it was disabled stay dead")
        } else {
            (Kind::TrustDisabled, "its tokens stopped working")
        };
        self.audit.record(kind, actor, Target::Trust(&trust.id), detail).await?;
        Ok(())
    }

    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<(), ServiceError> {
        let trust = self.find(id).await?;
        self.store.delete_trust(&trust.id).await?;
        let detail = format!("{} → {}", trust.issuer.as_str(), trust.service_account.username);
        self.audit.record(Kind::TrustDeleted, actor, Target::Trust(&trust.id), &detail).await?;
        Ok(())
    }
}

/// The conditions as one line for the audit log.
pub fn conditions(trust: &Trust) -> String {
    trust.conditions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
