use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::Row as _;

use super::changes::Entity;
use super::db::{flag, to_flag};
use super::{Database, StoreError, StoreResult};
use crate::domain::{ScopeLimits, ScopeName, UnixTime};

#[derive(Debug, Clone)]
pub struct Scope {
    pub name: ScopeName,
    pub description: String,
    pub builtin: bool,
    pub enabled: bool,
    /// Directory groups whose members alone may grant it (empty: anyone).
    pub allowed_groups: Vec<String>,
}

#[async_trait]
pub trait ScopeStore: Send + Sync {
    async fn create_scope(&self, name: &ScopeName, description: &str, now: UnixTime) -> StoreResult<Scope>;
    async fn list_scopes(&self) -> StoreResult<Vec<Scope>>;
    /// Who may grant which scope: the limits the scopes carry.
    async fn scope_limits(&self) -> StoreResult<ScopeLimits> {
        Ok(limits_of(&self.list_scopes().await?))
    }
    /// Changes a scope's description and enabled flag; built-in scopes
    /// cannot be disabled.
    async fn update_scope(
        &self,
        name: &ScopeName,
        description: &str,
        enabled: bool,
        allowed_groups: &[String],
        now: UnixTime,
    ) -> StoreResult<()>;
}

/// The limits `scopes` carry.
pub fn limits_of(scopes: &[Scope]) -> ScopeLimits {
    ScopeLimits::new(scopes.iter().map(|s| (s.name.clone(), s.allowed_groups.clone())))
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
                allowed_groups: Vec::new(),
            }),
        }
    }

    async fn list_scopes(&self) -> StoreResult<Vec<Scope>> {
        let rows = self
            .bounded(
                sqlx::query(
                    "SELECT name, description, builtin, enabled, allowed_groups FROM scopes ORDER BY name",
                )
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
                        allowed_groups: row
                            .try_get::<String, _>("allowed_groups")?
                            .lines()
                            .filter(|g| !g.is_empty())
                            .map(str::to_owned)
                            .collect(),
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
        allowed_groups: &[String],
        now: UnixTime,
    ) -> StoreResult<()> {
        // Recorded in the change log: every node re-reads its cached
        // clients, whose issuable scopes may have changed.
        let statement = sqlx::query(
            "UPDATE scopes SET description = $1, enabled = CASE WHEN builtin = 1 THEN 1 ELSE $2 END, \
             allowed_groups = $3 WHERE name = $4",
        )
        .bind(description)
        .bind(to_flag(enabled))
        .bind(allowed_groups.join("\n"))
        .bind(name.as_str());
        if !self.apply_change(statement, Entity::Scope, name.as_str(), now).await? {
            return Err(StoreError::NotFound(format!("no scope named '{name}'")));
        }
        Ok(())
    }
}
