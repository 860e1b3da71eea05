use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::db::scope;
use super::grants::{insert_grant, insert_refresh_token};
use super::{Database, NewGrant, NewRefreshToken, StoreError, StoreResult};
use crate::domain::{ClientId, GrantId, ScopeSet, UnixTime, UserId};

/// A device authorization to store (RFC 8628 §3.2).
#[derive(Debug, Clone)]
pub struct NewDeviceCode {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub client_id: ClientId,
    pub scope: ScopeSet,
    pub poll_interval: i64,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the person.
    Pending,
    /// The person approved; the device may redeem it once.
    Approved,
    Denied,
    /// Redeemed: its tokens were issued.
    Used,
}

impl DeviceStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Used => "used",
        }
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(match text {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "used" => Self::Used,
            other => anyhow::bail!("unknown device code status '{other}'"),
        })
    }
}

/// A stored device authorization, with the grant an approval started.
#[derive(Debug, Clone)]
pub struct StoredDeviceCode {
    pub client_id: ClientId,
    pub scope: ScopeSet,
    pub status: DeviceStatus,
    pub grant_id: Option<GrantId>,
    /// Who approved, and when they had signed in (from the grant).
    pub user_id: Option<UserId>,
    pub auth_time: Option<UnixTime>,
    pub poll_interval: i64,
    pub expires_at: UnixTime,
}

#[async_trait]
pub trait DeviceCodeStore: Send + Sync {
    async fn create_device_code(&self, new: &NewDeviceCode) -> StoreResult<()>;
    async fn find_device_code(&self, device_code_hash: &str) -> StoreResult<Option<StoredDeviceCode>>;
    async fn find_user_code(&self, user_code_hash: &str) -> StoreResult<Option<StoredDeviceCode>>;
    /// Approves a pending, unexpired code: stores `grant` and links it, in
    /// one transaction; false if it is no longer pending (nothing changes).
    async fn approve_device_code(
        &self,
        user_code_hash: &str,
        grant: &NewGrant,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Denies a pending, unexpired code; false if it is no longer pending.
    async fn deny_device_code(&self, user_code_hash: &str, now: UnixTime) -> StoreResult<bool>;
    /// A poll of a pending code: true if it came at least `poll_interval`
    /// (less a second of leeway) after the last; if not, the interval grows
    /// by `slow_down_seconds` (RFC 8628 §3.5). Either way it is the last poll now.
    async fn poll_device_code(
        &self,
        device_code_hash: &str,
        now: UnixTime,
        slow_down_seconds: i64,
    ) -> StoreResult<bool>;
    /// Redeems an approved code: marks it used and stores the refresh token
    /// it yields (if any), in one transaction; false if another poll
    /// redeemed it first (nothing changes).
    async fn redeem_device_code(
        &self,
        device_code_hash: &str,
        refresh: Option<&NewRefreshToken>,
        now: UnixTime,
    ) -> StoreResult<bool>;
}

const SELECT: &str = "SELECT d.client_id, d.scope, d.status, d.grant_id, d.poll_interval, d.expires_at, \
     g.user_id, g.auth_time FROM device_codes d LEFT JOIN grants g ON g.id = d.grant_id";

fn from_row(row: &AnyRow) -> Result<StoredDeviceCode, StoreError> {
    let read = || -> anyhow::Result<StoredDeviceCode> {
        let client_id: String = row.try_get("client_id")?;
        let status: String = row.try_get("status")?;
        Ok(StoredDeviceCode {
            client_id: ClientId::parse(&client_id).context("stored client id is invalid")?,
            scope: scope(row, "scope")?,
            status: DeviceStatus::parse(&status)?,
            grant_id: row.try_get::<Option<String>, _>("grant_id")?.map(GrantId::new),
            user_id: row.try_get::<Option<String>, _>("user_id")?.map(UserId::new),
            auth_time: row.try_get::<Option<i64>, _>("auth_time")?.map(UnixTime::from_seconds),
            poll_interval: row.try_get("poll_interval")?,
            expires_at: UnixTime::from_seconds(row.try_get("expires_at")?),
        })
    };
    read().map_err(StoreError::Unexpected)
}

impl Database {
    async fn find_device_code_where(
        &self,
        column: &str,
        hash: &str,
    ) -> StoreResult<Option<StoredDeviceCode>> {
        let sql = format!("{SELECT} WHERE d.{column} = $1");
        let row = self.read(|| sqlx::query(&sql).bind(hash).fetch_optional(self.pool())).await?;
        row.as_ref().map(from_row).transpose()
    }
}

#[async_trait]
impl DeviceCodeStore for Database {
    async fn create_device_code(&self, new: &NewDeviceCode) -> StoreResult<()> {
        self.bounded(
            sqlx::query(
                "INSERT INTO device_codes (device_code_hash, user_code_hash, client_id, scope, status, grant_id, \
                 poll_interval, last_polled_at, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL, $6, NULL, $7, $8)",
            )
            .bind(&new.device_code_hash)
            .bind(&new.user_code_hash)
            .bind(new.client_id.as_str())
            .bind(new.scope.to_string())
            .bind(DeviceStatus::Pending.as_str())
            .bind(new.poll_interval)
            .bind(new.created_at.seconds())
            .bind(new.expires_at.seconds())
            .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn find_device_code(&self, device_code_hash: &str) -> StoreResult<Option<StoredDeviceCode>> {
        self.find_device_code_where("device_code_hash", device_code_hash).await
    }

    async fn find_user_code(&self, user_code_hash: &str) -> StoreResult<Option<StoredDeviceCode>> {
        self.find_device_code_where("user_code_hash", user_code_hash).await
    }

    async fn approve_device_code(
        &self,
        user_code_hash: &str,
        grant: &NewGrant,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            insert_grant(&mut *tx, grant, None, now).await?;
            let done = sqlx::query(
                "UPDATE device_codes SET status = $1, grant_id = $2 \
                 WHERE user_code_hash = $3 AND status = $4 AND expires_at > $5",
            )
            .bind(DeviceStatus::Approved.as_str())
            .bind(grant.grant_id.as_str())
            .bind(user_code_hash)
            .bind(DeviceStatus::Pending.as_str())
            .bind(now.seconds())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                // Dropping the transaction rolls the grant back too.
                return Ok(false);
            }
            tx.commit().await?;
            Ok(true)
        };
        self.bounded(transaction).await
    }

    async fn deny_device_code(&self, user_code_hash: &str, now: UnixTime) -> StoreResult<bool> {
        let done = self
            .bounded(
                sqlx::query(
                    "UPDATE device_codes SET status = $1 WHERE user_code_hash = $2 AND status = $3 AND expires_at > $4",
                )
                .bind(DeviceStatus::Denied.as_str())
                .bind(user_code_hash)
                .bind(DeviceStatus::Pending.as_str())
                .bind(now.seconds())
                .execute(self.pool()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn poll_device_code(
        &self,
        device_code_hash: &str,
        now: UnixTime,
        slow_down_seconds: i64,
    ) -> StoreResult<bool> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let in_time = sqlx::query(
                "UPDATE device_codes SET last_polled_at = $1 WHERE device_code_hash = $2 \
                 AND (last_polled_at IS NULL OR last_polled_at + poll_interval - 1 <= $1)",
            )
            .bind(now.seconds())
            .bind(device_code_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !in_time {
                sqlx::query(
                    "UPDATE device_codes SET last_polled_at = $1, poll_interval = poll_interval + $2 \
                     WHERE device_code_hash = $3",
                )
                .bind(now.seconds())
                .bind(slow_down_seconds)
                .bind(device_code_hash)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(in_time)
        };
        self.bounded(transaction).await
    }

    async fn redeem_device_code(
        &self,
        device_code_hash: &str,
        refresh: Option<&NewRefreshToken>,
        _now: UnixTime,
    ) -> StoreResult<bool> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let done = sqlx::query(
                "UPDATE device_codes SET status = $1 WHERE device_code_hash = $2 AND status = $3",
            )
            .bind(DeviceStatus::Used.as_str())
            .bind(device_code_hash)
            .bind(DeviceStatus::Approved.as_str())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            if let Some(token) = refresh {
                insert_refresh_token(&mut tx, token).await?;
            }
            tx.commit().await?;
            Ok(true)
        };
        self.bounded(transaction).await
    }
}
