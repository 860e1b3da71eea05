use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::Row as _;

use super::changes::Entity;
use super::db::{flag, to_flag};
use super::{Database, StoreError, StoreResult};
use crate::domain::{ScopeName, UnixTime};

#[derive(Debug, Clone)]
pub struct Scope {
    pub name: ScopeName,
    pub description: String,
    pub builtin: bool,
    pub enabled: bool,
}

#[async_trait]
pub trait ScopeStore: Send + Sync {
    async fn create_scope(&self, name: &ScopeName, description: &str, now: UnixTime) -> StoreResult<Scope>;
    async fn list_scopes(&self) -> StoreResult<Vec<Scope>>;
    /// Changes a scope's description and enabled flag; built-in scopes
    /// cannot be disabled.
    async fn update_scope(
        &self,
        name: &ScopeName,
        description: &str,
        enabled: bool,
        now: UnixTime,
    ) -> StoreResult<()>;
}

#[async_trait]
impl ScopeStore for Database {
    async fn create_scope(&self, name: &ScopeName, description: &str, now: UnixTime) -> StoreResult<Scope> {
        let result = self
            .bounded(
                sqlx::query(
                    "INSERT INTO scopes (name, description, builtin, enabled, created_at) VALUES ($1, $2, 0, 1, $3)",
                )
                .bind(name.as_str())
                .bind(description)
                .bind(now.seconds())
                .execute(self.pool()),
            )
            .await;
        match result {
            Err(StoreError::Conflict(_)) => {
                Err(StoreError::Conflict(format!("scope '{name}' already exists")))
            }
            Err(other) => Err(other),
            Ok(_) => Ok(Scope {
                name: name.clone(),
                description: description.to_owned(),
                builtin: false,
                enabled: true,
            }),
        }
    }

    async fn list_scopes(&self) -> StoreResult<Vec<Scope>> {
        let rows = self
            .bounded(
                sqlx::query("SELECT name, description, builtin, enabled FROM scopes ORDER BY name")
                    .fetch_all(self.pool()),
            )
            .await?;
        rows.iter()
            .map(|row| {
                let read = || -> anyhow::Result<Scope> {
                    let name: String = row.try_get("name")?;
                    Ok(Scope {
                        name: ScopeName::parse(&name).context("stored scope name is invalid")?,
                        description: row.try_get("description")?,
                        builtin: flag(row, "builtin")?,
                        enabled: flag(row, "enabled")?,
                    })
                };
                read().map_err(StoreError::Unexpected)
            })
            .collect()
    }

    async fn update_scope(
        &self,
        name: &ScopeName,
        description: &str,
        enabled: bool,
        now: UnixTime,
    ) -> StoreResult<()> {
        // Recorded in the change log: every node re-reads its cached
        // clients, whose issuable scopes may have changed.
        let statement = sqlx::query(
            "UPDATE scopes SET description = $1, enabled = CASE WHEN builtin = 1 THEN 1 ELSE $2 END WHERE name = $3",
        )
        .bind(description)
        .bind(to_flag(enabled))
        .bind(name.as_str());
        if !self.apply_change(statement, Entity::Scope, name.as_str(), now).await? {
            return Err(StoreError::NotFound(format!("no scope named '{name}'")));
        }
        Ok(())
    }
}
