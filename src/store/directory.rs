//! Directory users and the directory sync's record: provisioning a person
//! the directory vouched for (creating or refreshing their row, never
//! taking over a local account), disabling and re-enabling them for the
//! sync, and the one-row lease that lets one node at a time sync.

use async_trait::async_trait;
use sqlx::Row as _;

use super::users::{from_row, set_enabled_in, COLUMNS, ORIGIN_DIRECTORY};
use super::{principals, Database, StoreError, StoreResult};
use crate::crypto::secrets::random_id;
use crate::domain::{Email, Role, UnixTime, User, UserId, Username};

/// Stands where a directory user's password hash would be: no argon2
/// string looks like it, so no password ever matches it locally.
const NO_LOCAL_PASSWORD: &str = "!directory";

/// A person as the directory describes them, ready to be stored.
#[derive(Debug, Clone)]
pub struct DirectoryRecord {
    pub username: Username,
    pub email: Email,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub dn: String,
    pub groups: Vec<String>,
    /// `Some` when the directory decides the role (an admin group is set).
    pub role: Option<Role>,
}

/// Why a person the directory vouched for cannot be a user here; the
/// text is for the admin (the console, the audit log, the sync status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotProvisioned(pub String);

/// A directory user as stored after provisioning.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub user: User,
    /// This sign-in created them (their first).
    pub created: bool,
}

/// The last sync, and who runs one now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncRecord {
    pub holder: Option<String>,
    pub lease_until: Option<UnixTime>,
    pub started_at: Option<UnixTime>,
    pub finished_at: Option<UnixTime>,
    /// `ok` or `failed`.
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub people_seen: u64,
    pub users_updated: u64,
    pub users_disabled: u64,
    pub users_enabled: u64,
}

impl SyncRecord {
    /// Is a node syncing at `now`? (A holder that died leaves its name
    /// until the lease runs out.)
    pub fn running(&self, now: UnixTime) -> bool {
        self.holder.is_some() && self.lease_until.is_some_and(|until| until >= now)
    }
}

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Creates the directory user, or refreshes their attributes, groups
    /// and (when given) role. A local user or a service account holding the
    /// name, or another user holding the email, is never taken over.
    async fn provision_directory_user(
        &self,
        record: &DirectoryRecord,
        now: UnixTime,
    ) -> StoreResult<Result<Provisioned, NotProvisioned>>;
    /// Every user who came from the directory.
    async fn list_directory_users(&self) -> StoreResult<Vec<User>>;
    /// The sync disables a directory user: every token of theirs ends, and
    /// the row remembers the sync did it (so it may enable them again).
    async fn disable_directory_user(&self, id: &UserId, now: UnixTime) -> StoreResult<()>;
    /// Enables a directory user the sync had disabled; `false` when an
    /// admin disabled them (or nobody did).
    async fn enable_directory_user(&self, id: &UserId, now: UnixTime) -> StoreResult<bool>;
    /// Makes a local user a directory user (their password here stops
    /// working; grants and tokens stay: it is the same person).
    async fn link_user_to_directory(&self, username: &Username, dn: &str, now: UnixTime) -> StoreResult<()>;
    /// Takes the sync for `holder` until `lease_until`, if nobody holds it
    /// and (when `due_before` is given) the last one finished before it (a
    /// holder that died never finished: the next node runs at once).
    async fn claim_directory_sync(
        &self,
        holder: &str,
        now: UnixTime,
        lease_until: UnixTime,
        due_before: Option<UnixTime>,
    ) -> StoreResult<bool>;
    /// Records the end of the sync `holder` ran and frees the lease.
    async fn finish_directory_sync(&self, holder: &str, record: &SyncRecord) -> StoreResult<()>;
    async fn directory_sync_status(&self) -> StoreResult<SyncRecord>;
}

#[async_trait]
impl DirectoryStore for Database {
    async fn provision_directory_user(
        &self,
        record: &DirectoryRecord,
        now: UnixTime,
    ) -> StoreResult<Result<Provisioned, NotProvisioned>> {
        let key = principals::name_key(record.username.as_str());
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let holder = sqlx::query("SELECT kind, principal_id FROM principal_names WHERE name_key = $1")
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await?;
            let existing = match holder {
                Some(row) if row.try_get::<String, _>("kind")? == "user" => {
                    let id: String = row.try_get("principal_id")?;
                    let origin: String = sqlx::query_scalar("SELECT origin FROM users WHERE id = $1")
                        .bind(&id)
                        .fetch_one(&mut *tx)
                        .await?;
                    if origin != ORIGIN_DIRECTORY {
                        return Ok(Err(NotProvisioned(format!(
                            "a local user named '{}' exists; an administrator must link it to the directory \
                             (tessera directory link) or rename it",
                            record.username
                        ))));
                    }
                    Some(id)
                }
                Some(_) => {
                    return Ok(Err(NotProvisioned(format!(
                        "a service account is named '{}'",
                        record.username
                    ))))
                }
                None => None,
            };
            let email_holder: Option<String> = sqlx::query_scalar(
                "SELECT username FROM users WHERE email = $1 AND ($2 IS NULL OR id <> $2)",
            )
            .bind(record.email.as_str())
            .bind(existing.as_deref())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(other) = email_holder {
                return Ok(Err(NotProvisioned(format!(
                    "the email address {} belongs to the user '{other}'",
                    record.email
                ))));
            }
            let groups = record.groups.join("\n");
            let created = existing.is_none();
            let id = match existing {
                Some(id) => {
                    sqlx::query(
                        "UPDATE users SET email = $1, display_name = $2, given_name = $3, family_name = $4, \
                         directory_dn = $5, directory_groups = $6, directory_seen_at = $7, \
                         role = COALESCE($8, role), \
                         updated_at = CASE WHEN email = $1 AND display_name IS NOT DISTINCT FROM $2 \
                           AND given_name IS NOT DISTINCT FROM $3 AND family_name IS NOT DISTINCT FROM $4 \
                           THEN updated_at ELSE $7 END \
                         WHERE id = $9",
                    )
                    .bind(record.email.as_str())
                    .bind(record.display_name.as_deref())
                    .bind(record.given_name.as_deref())
                    .bind(record.family_name.as_deref())
                    .bind(&record.dn)
                    .bind(&groups)
                    .bind(now.seconds())
                    .bind(record.role.map(Role::as_str))
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                    id
                }
                None => {
                    let id = random_id(12);
                    if let Err(taken) =
                        principals::claim(&mut tx, &record.username, principals::Kind::User, &id).await?
                    {
                        return Ok(Err(NotProvisioned(taken.to_string())));
                    }
                    sqlx::query(
                        "INSERT INTO users (id, username, email, display_name, given_name, family_name, \
                         email_verified, password_hash, role, enabled, created_at, updated_at, origin, \
                         directory_dn, directory_groups, directory_seen_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, 1, $9, $9, $10, $11, $12, $9)",
                    )
                    .bind(&id)
                    .bind(record.username.as_str())
                    .bind(record.email.as_str())
                    .bind(record.display_name.as_deref())
                    .bind(record.given_name.as_deref())
                    .bind(record.family_name.as_deref())
                    .bind(NO_LOCAL_PASSWORD)
                    .bind(record.role.unwrap_or(Role::User).as_str())
                    .bind(now.seconds())
                    .bind(ORIGIN_DIRECTORY)
                    .bind(&record.dn)
                    .bind(&groups)
                    .execute(&mut *tx)
                    .await?;
                    id
                }
            };
            let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
            let row = sqlx::query(&sql).bind(&id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(Ok((row, created)))
        };
        match self.bounded(transaction).await {
            Ok(Ok((row, created))) => Ok(Ok(Provisioned { user: from_row(&row)?.0, created })),
            Ok(Err(refused)) => Ok(Err(refused)),
            // Two first sign-ins of one person at once: the other one won.
            Err(StoreError::Conflict(_)) => Ok(Err(NotProvisioned(format!(
                "'{}' was being created by another sign-in at the same moment; try again",
                record.username
            )))),
            Err(other) => Err(other),
        }
    }

    async fn list_directory_users(&self) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE origin = $1 ORDER BY username");
        let rows = self.bounded(sqlx::query(&sql).bind(ORIGIN_DIRECTORY).fetch_all(self.pool())).await?;
        rows.iter().map(|row| from_row(row).map(|(user, _)| user)).collect()
    }

    async fn disable_directory_user(&self, id: &UserId, now: UnixTime) -> StoreResult<()> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            if set_enabled_in(&mut tx, "id", id.as_str(), false, now).await?.is_some() {
                sqlx::query("UPDATE users SET directory_disabled = 1 WHERE id = $1")
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        };
        self.bounded(transaction).await
    }

    async fn enable_directory_user(&self, id: &UserId, now: UnixTime) -> StoreResult<bool> {
        let done = self
            .bounded(
                sqlx::query(
                    "UPDATE users SET enabled = 1, directory_disabled = 0, updated_at = $1 \
                     WHERE id = $2 AND directory_disabled = 1 AND enabled = 0",
                )
                .bind(now.seconds())
                .bind(id.as_str())
                .execute(self.pool()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn link_user_to_directory(&self, username: &Username, dn: &str, now: UnixTime) -> StoreResult<()> {
        let done = self
            .bounded(
                sqlx::query(
                    "UPDATE users SET origin = $1, password_hash = $2, directory_dn = $3, directory_seen_at = $4, \
                     updated_at = $4 WHERE username = $5",
                )
                .bind(ORIGIN_DIRECTORY)
                .bind(NO_LOCAL_PASSWORD)
                .bind(dn)
                .bind(now.seconds())
                .bind(username.as_str())
                .execute(self.pool()),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no user named '{username}'")));
        }
        Ok(())
    }

    async fn claim_directory_sync(
        &self,
        holder: &str,
        now: UnixTime,
        lease_until: UnixTime,
        due_before: Option<UnixTime>,
    ) -> StoreResult<bool> {
        let done = self
            .bounded(
                sqlx::query(
                    "UPDATE directory_sync SET holder = $1, lease_until = $2, started_at = $3 \
                     WHERE id = 1 AND (lease_until IS NULL OR lease_until < $3) \
                     AND ($4 IS NULL OR finished_at IS NULL OR finished_at < $4)",
                )
                .bind(holder)
                .bind(lease_until.seconds())
                .bind(now.seconds())
                .bind(due_before.map(UnixTime::seconds))
                .execute(self.pool()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_directory_sync(&self, holder: &str, record: &SyncRecord) -> StoreResult<()> {
        self.bounded(
            sqlx::query(
                "UPDATE directory_sync SET holder = NULL, lease_until = NULL, finished_at = $1, outcome = $2, \
                 error = $3, people_seen = $4, users_updated = $5, users_disabled = $6, users_enabled = $7 \
                 WHERE id = 1 AND holder = $8",
            )
            .bind(record.finished_at.map(UnixTime::seconds))
            .bind(record.outcome.as_deref())
            .bind(record.error.as_deref())
            .bind(count(record.people_seen))
            .bind(count(record.users_updated))
            .bind(count(record.users_disabled))
            .bind(count(record.users_enabled))
            .bind(holder)
            .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn directory_sync_status(&self) -> StoreResult<SyncRecord> {
        let row = self
            .read(|| {
                sqlx::query(
                    "SELECT holder, lease_until, started_at, finished_at, outcome, error, people_seen, \
                     users_updated, users_disabled, users_enabled FROM directory_sync WHERE id = 1",
                )
                .fetch_optional(self.pool())
            })
            .await?;
        let Some(row) = row else { return Ok(SyncRecord::default()) };
        let read = || -> Result<SyncRecord, sqlx::Error> {
            let time = |name: &str| -> Result<Option<UnixTime>, sqlx::Error> {
                Ok(row.try_get::<Option<i64>, _>(name)?.map(UnixTime::from_seconds))
            };
            let number = |name: &str| -> Result<u64, sqlx::Error> {
                Ok(row.try_get::<i64, _>(name)?.max(0).unsigned_abs())
            };
            Ok(SyncRecord {
                holder: row.try_get("holder")?,
                lease_until: time("lease_until")?,
                started_at: time("started_at")?,
                finished_at: time("finished_at")?,
                outcome: row.try_get("outcome")?,
                error: row.try_get("error")?,
                people_seen: number("people_seen")?,
                users_updated: number("users_updated")?,
                users_disabled: number("users_disabled")?,
                users_enabled: number("users_enabled")?,
            })
        };
        read().map_err(|e| StoreError::Unexpected(e.into()))
    }
}

fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
