use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::changes::{record_change, Entity};
use super::db::{flag, to_flag};
use super::principals;
use super::{Database, StoreError, StoreResult};
use crate::crypto::secrets::random_id;
use crate::domain::{
    NewServiceAccount, ServiceAccount, ServiceAccountChanges, ServiceAccountId, UnixTime, Username,
};

#[async_trait]
pub trait ServiceAccountStore: Send + Sync {
    async fn create_service_account(
        &self,
        new: &NewServiceAccount,
        now: UnixTime,
    ) -> StoreResult<ServiceAccount>;
    async fn list_service_accounts(&self) -> StoreResult<Vec<ServiceAccount>>;
    async fn find_service_account(&self, username: &Username) -> StoreResult<Option<ServiceAccount>>;
    async fn set_service_account_enabled(
        &self,
        username: &Username,
        enabled: bool,
        now: UnixTime,
    ) -> StoreResult<()>;
    async fn update_service_account(
        &self,
        username: &Username,
        changes: &ServiceAccountChanges,
        now: UnixTime,
    ) -> StoreResult<()>;
}

pub(super) const COLUMNS: &str = "sa.id AS sa_id, sa.username AS sa_username, sa.display_name AS sa_display_name, sa.enabled AS sa_enabled, sa.admin AS sa_admin, sa.created_at AS sa_created_at";

/// Reads the `sa_*` columns of `COLUMNS`; None when the join found no account.
pub(super) fn from_row(row: &AnyRow) -> Result<Option<ServiceAccount>, StoreError> {
    let read = || -> anyhow::Result<Option<ServiceAccount>> {
        let Some(id) = row.try_get::<Option<String>, _>("sa_id")? else {
            return Ok(None);
        };
        let username: String = row.try_get("sa_username")?;
        Ok(Some(ServiceAccount {
            id: ServiceAccountId::new(id),
            username: Username::parse(&username).context("stored username is invalid")?,
            display_name: row.try_get("sa_display_name")?,
            enabled: flag(row, "sa_enabled")?,
            admin: flag(row, "sa_admin")?,
            created_at: UnixTime::from_seconds(row.try_get("sa_created_at")?),
        }))
    };
    read().map_err(StoreError::Unexpected)
}

#[async_trait]
impl ServiceAccountStore for Database {
    async fn create_service_account(
        &self,
        new: &NewServiceAccount,
        now: UnixTime,
    ) -> StoreResult<ServiceAccount> {
        let id = random_id(12);
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let kind = principals::Kind::ServiceAccount;
            if let Err(taken) = principals::claim(&mut tx, &new.username, kind, &id).await? {
                return Ok(Err(taken));
            }
            sqlx::query(
                "INSERT INTO service_accounts (id, username, display_name, enabled, created_at) VALUES ($1, $2, $3, 1, $4)",
            )
            .bind(&id)
            .bind(new.username.as_str())
            .bind(new.display_name.as_deref())
            .bind(now.seconds())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        };
        match self.bounded(transaction).await {
            Ok(Err(taken)) => Err(taken),
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                "a service account named '{}' already exists",
                new.username
            ))),
            Err(other) => Err(other),
            Ok(Ok(())) => Ok(ServiceAccount {
                id: ServiceAccountId::new(id),
                username: new.username.clone(),
                display_name: new.display_name.clone(),
                enabled: true,
                admin: false,
                created_at: now,
            }),
        }
    }

    async fn list_service_accounts(&self) -> StoreResult<Vec<ServiceAccount>> {
        let sql = format!("SELECT {COLUMNS} FROM service_accounts sa ORDER BY sa.username");
        let rows = self.bounded(sqlx::query(&sql).fetch_all(self.pool())).await?;
        // Every row here has an id, so from_row always finds an account.
        rows.iter().filter_map(|row| from_row(row).transpose()).collect()
    }

    async fn find_service_account(&self, username: &Username) -> StoreResult<Option<ServiceAccount>> {
        let sql = format!("SELECT {COLUMNS} FROM service_accounts sa WHERE sa.username = $1");
        let row = self.bounded(sqlx::query(&sql).bind(username.as_str()).fetch_optional(self.pool())).await?;
        match row {
            Some(row) => from_row(&row),
            None => Ok(None),
        }
    }

    async fn set_service_account_enabled(
        &self,
        username: &Username,
        enabled: bool,
        now: UnixTime,
    ) -> StoreResult<()> {
        // Disabling also ends the tokens of every client and trust acting
        // for the account (tokens_not_before), so enabling again revives none.
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let done = sqlx::query("UPDATE service_accounts SET enabled = $1 WHERE username = $2")
                .bind(to_flag(enabled))
                .bind(username.as_str())
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            if !enabled {
                sqlx::query(
                    "UPDATE clients SET tokens_not_before = $1, updated_at = $1 WHERE service_account_id = \
                     (SELECT id FROM service_accounts WHERE username = $2)",
                )
                .bind(now.seconds())
                .bind(username.as_str())
                .execute(&mut *tx)
                .await?;
                // And of every trust mapped to it.
                sqlx::query(
                    "UPDATE trusts SET tokens_not_before = $1, updated_at = $1 WHERE service_account_id = \
                     (SELECT id FROM service_accounts WHERE username = $2)",
                )
                .bind(now.seconds())
                .bind(username.as_str())
                .execute(&mut *tx)
                .await?;
            }
            record_change(&mut tx, Entity::ServiceAccount, username.as_str(), now).await?;
            tx.commit().await?;
            Ok(true)
        };
        self.bounded(transaction)
            .await?
            .then_some(())
            .ok_or_else(|| StoreError::NotFound(format!("no service account named '{username}'")))
    }

    async fn update_service_account(
        &self,
        username: &Username,
        changes: &ServiceAccountChanges,
        now: UnixTime,
    ) -> StoreResult<()> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let id: Option<String> = sqlx::query_scalar(
                "UPDATE service_accounts SET username = $1, display_name = $2, admin = $3 WHERE username = $4 \
                 RETURNING id",
            )
            .bind(changes.username.as_str())
            .bind(changes.display_name.as_deref())
            .bind(to_flag(changes.admin))
            .bind(username.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else {
                return Ok(Err(StoreError::NotFound(format!("no service account named '{username}'"))));
            };
            if changes.username != *username {
                let kind = principals::Kind::ServiceAccount;
                if let Err(taken) = principals::claim(&mut tx, &changes.username, kind, &id).await? {
                    return Ok(Err(taken));
                }
            }
            record_change(&mut tx, Entity::ServiceAccount, username.as_str(), now).await?;
            tx.commit().await?;
            Ok(Ok(()))
        };
        match self.bounded(transaction).await {
            Ok(result) => result,
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                "a service account named '{}' already exists",
                changes.username
            ))),
            Err(other) => Err(other),
        }
    }
}
