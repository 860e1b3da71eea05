use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::db::{flag, to_flag};
use super::principals;
use super::{Database, StoreError, StoreResult};
use crate::crypto::secrets::random_id;
use crate::domain::{DirectoryLink, Email, NewUser, Profile, UnixTime, User, UserChanges, UserId, Username};

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, new: &NewUser, password_hash: &str, now: UnixTime) -> StoreResult<User>;
    /// The user whose username or (lower-case) email is `login`, with the
    /// password hash to verify.
    async fn find_user_for_login(&self, login: &str) -> StoreResult<Option<(User, String)>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    async fn set_user_enabled(&self, username: &Username, enabled: bool, now: UnixTime) -> StoreResult<()>;
    async fn any_enabled_admin(&self) -> StoreResult<bool>;
    async fn find_user(&self, id: &UserId) -> StoreResult<Option<User>>;
    async fn find_user_by_username(&self, username: &Username) -> StoreResult<Option<User>>;
    async fn update_user(&self, username: &Username, changes: &UserChanges, now: UnixTime)
        -> StoreResult<()>;
    async fn set_password_hash(
        &self,
        username: &Username,
        password_hash: &str,
        now: UnixTime,
    ) -> StoreResult<()>;
}

pub(super) const COLUMNS: &str =
    "id, username, email, display_name, given_name, family_name, email_verified, \
     locale, zoneinfo, role, enabled, created_at, updated_at, password_hash, origin, directory_dn, \
     directory_groups, directory_seen_at";

pub(super) fn from_row(row: &AnyRow) -> Result<(User, String), StoreError> {
    let read = || -> anyhow::Result<(User, String)> {
        let username: String = row.try_get("username")?;
        let email: String = row.try_get("email")?;
        let role: String = row.try_get("role")?;
        let user = User {
            id: UserId::new(row.try_get::<String, _>("id")?),
            username: Username::parse(&username).context("stored username is invalid")?,
            email: Email::parse(&email).context("stored email is invalid")?,
            display_name: row.try_get("display_name")?,
            profile: Profile {
                given_name: row.try_get("given_name")?,
                family_name: row.try_get("family_name")?,
                email_verified: flag(row, "email_verified")?,
                locale: row.try_get("locale")?,
                zoneinfo: row.try_get("zoneinfo")?,
            },
            role: role.parse()?,
            enabled: flag(row, "enabled")?,
            created_at: UnixTime::from_seconds(row.try_get("created_at")?),
            updated_at: UnixTime::from_seconds(row.try_get("updated_at")?),
            directory: directory_link(row)?,
        };
        Ok((user, row.try_get("password_hash")?))
    };
    read().map_err(StoreError::Unexpected)
}

/// The directory columns of a user row: `None` for a local account.
fn directory_link(row: &AnyRow) -> anyhow::Result<Option<DirectoryLink>> {
    let origin: String = row.try_get("origin")?;
    if origin != ORIGIN_DIRECTORY {
        return Ok(None);
    }
    let groups: String = row.try_get("directory_groups")?;
    Ok(Some(DirectoryLink {
        dn: row.try_get::<Option<String>, _>("directory_dn")?.unwrap_or_default(),
        groups: groups.lines().filter(|g| !g.is_empty()).map(str::to_owned).collect(),
        seen_at: UnixTime::from_seconds(row.try_get::<Option<i64>, _>("directory_seen_at")?.unwrap_or(0)),
    }))
}

pub(super) const ORIGIN_DIRECTORY: &str = "directory";

#[async_trait]
impl UserStore for Database {
    async fn create_user(&self, new: &NewUser, password_hash: &str, now: UnixTime) -> StoreResult<User> {
        let id = random_id(12);
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            if let Err(taken) = principals::claim(&mut tx, &new.username, principals::Kind::User, &id).await?
            {
                return Ok(Err(taken));
            }
            sqlx::query(
                "INSERT INTO users (id, username, email, display_name, given_name, family_name, email_verified, \
                 locale, zoneinfo, password_hash, role, enabled, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12)",
            )
            .bind(&id)
            .bind(new.username.as_str())
            .bind(new.email.as_str())
            .bind(new.display_name.as_deref())
            .bind(new.profile.given_name.as_deref())
            .bind(new.profile.family_name.as_deref())
            .bind(to_flag(new.profile.email_verified))
            .bind(new.profile.locale.as_deref())
            .bind(new.profile.zoneinfo.as_deref())
            .bind(password_hash)
            .bind(new.role.as_str())
            .bind(now.seconds())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        };
        match self.bounded(transaction).await {
            Ok(Err(taken)) => Err(taken),
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                "a user named '{}' or with the email {} already exists",
                new.username, new.email
            ))),
            Err(other) => Err(other),
            Ok(Ok(())) => Ok(User {
                id: UserId::new(id),
                username: new.username.clone(),
                email: new.email.clone(),
                display_name: new.display_name.clone(),
                profile: new.profile.clone(),
                role: new.role,
                enabled: true,
                created_at: now,
                updated_at: now,
                directory: None,
            }),
        }
    }

    async fn find_user_for_login(&self, login: &str) -> StoreResult<Option<(User, String)>> {
        // The username in any case (Jira's usernames ignore case), or the email.
        let sql = format!(
            "SELECT {COLUMNS} FROM users WHERE username = $1 OR email = $2 OR id IN \
             (SELECT principal_id FROM principal_names WHERE name_key = $3 AND kind = 'user')"
        );
        let rows = self
            .read(|| {
                sqlx::query(&sql)
                    .bind(login)
                    .bind(login.to_lowercase())
                    .bind(principals::name_key(login))
                    .fetch_all(self.pool())
            })
            .await?;
        // A username that equals another user's email is ambiguous: the
        // username wins, as Jira's own login does; an exact match wins over
        // one in another case.
        let mut found: Vec<(User, String)> = rows.iter().map(from_row).collect::<Result<_, _>>()?;
        let key = principals::name_key(login);
        found.sort_by_key(|(user, _)| {
            (user.username.as_str() != login, principals::name_key(user.username.as_str()) != key)
        });
        Ok(found.into_iter().next())
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY username");
        let rows = self.bounded(sqlx::query(&sql).fetch_all(self.pool())).await?;
        rows.iter().map(|row| from_row(row).map(|(user, _)| user)).collect()
    }

    async fn set_user_enabled(&self, username: &Username, enabled: bool, now: UnixTime) -> StoreResult<()> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let found = set_enabled_in(&mut tx, "username", username.as_str(), enabled, now).await?;
            if found.is_some() {
                // An admin's decision: a later directory sync does not undo it.
                sqlx::query("UPDATE users SET directory_disabled = 0 WHERE username = $1")
                    .bind(username.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(found.is_some())
        };
        if !self.bounded(transaction).await? {
            return Err(StoreError::NotFound(format!("no user named '{username}'")));
        }
        Ok(())
    }

    async fn find_user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        let row = self.read(|| sqlx::query(&sql).bind(id.as_str()).fetch_optional(self.pool())).await?;
        row.map(|row| from_row(&row).map(|(user, _)| user)).transpose()
    }

    async fn any_enabled_admin(&self) -> StoreResult<bool> {
        let row = self
            .bounded(
                sqlx::query("SELECT id FROM users WHERE role = 'admin' AND enabled = 1 LIMIT 1")
                    .fetch_optional(self.pool()),
            )
            .await?;
        Ok(row.is_some())
    }

    async fn find_user_by_username(&self, username: &Username) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1");
        let row = self.bounded(sqlx::query(&sql).bind(username.as_str()).fetch_optional(self.pool())).await?;
        row.map(|row| from_row(&row).map(|(user, _)| user)).transpose()
    }

    async fn update_user(
        &self,
        username: &Username,
        changes: &UserChanges,
        now: UnixTime,
    ) -> StoreResult<()> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let id: Option<String> = sqlx::query_scalar(
                "UPDATE users SET username = $1, email = $2, display_name = $3, given_name = $4, family_name = $5, \
                 email_verified = $6, locale = $7, zoneinfo = $8, role = $9, updated_at = $10 \
                 WHERE username = $11 RETURNING id",
            )
            .bind(changes.username.as_str())
            .bind(changes.email.as_str())
            .bind(changes.display_name.as_deref())
            .bind(changes.profile.given_name.as_deref())
            .bind(changes.profile.family_name.as_deref())
            .bind(to_flag(changes.profile.email_verified))
            .bind(changes.profile.locale.as_deref())
            .bind(changes.profile.zoneinfo.as_deref())
            .bind(changes.role.as_str())
            .bind(now.seconds())
            .bind(username.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else {
                return Ok(Err(StoreError::NotFound(format!("no user named '{username}'"))));
            };
            if changes.username != *username {
                let claimed =
                    principals::claim(&mut tx, &changes.username, principals::Kind::User, &id).await?;
                if let Err(taken) = claimed {
                    return Ok(Err(taken));
                }
            }
            tx.commit().await?;
            Ok(Ok(()))
        };
        match self.bounded(transaction).await {
            Ok(result) => result,
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                "another user already has the username '{}' or the email '{}'",
                changes.username, changes.email
            ))),
            Err(other) => Err(other),
        }
    }

    async fn set_password_hash(
        &self,
        username: &Username,
        password_hash: &str,
        now: UnixTime,
    ) -> StoreResult<()> {
        // A new password ends the user's sessions and app grants with it:
        // whoever knew the old one keeps nothing it gave them.
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let id: Option<String> = sqlx::query_scalar(
                "UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3 RETURNING id",
            )
            .bind(password_hash)
            .bind(now.seconds())
            .bind(username.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else { return Ok(false) };
            end_user_grants_and_sessions(&mut tx, &id, now).await?;
            tx.commit().await?;
            Ok(true)
        };
        if !self.bounded(transaction).await? {
            return Err(StoreError::NotFound(format!("no user named '{username}'")));
        }
        Ok(())
    }
}

/// Revokes every live grant of a user (their refresh tokens and the access
/// tokens that name the grant die with it) and ends their browser sessions.
/// Enables or disables the user whose `column` (id or username) is
/// `value`; returns their id, or `None` when there is no such user.
/// Disabling ends everything the user holds in the same transaction —
/// sessions, grants with their refresh tokens, personal API tokens — so
/// enabling them again revives nothing issued before.
pub(super) async fn set_enabled_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    column: &str,
    value: &str,
    enabled: bool,
    now: UnixTime,
) -> Result<Option<String>, sqlx::Error> {
    let column = if column == "id" { "id" } else { "username" };
    let id: Option<String> = sqlx::query_scalar(&format!(
        "UPDATE users SET enabled = $1, updated_at = $2 WHERE {column} = $3 RETURNING id"
    ))
    .bind(to_flag(enabled))
    .bind(now.seconds())
    .bind(value)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(id) = id else { return Ok(None) };
    if !enabled {
        end_user_grants_and_sessions(tx, &id, now).await?;
        sqlx::query(
            "UPDATE personal_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(now.seconds())
        .bind(&id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(Some(id))
}

async fn end_user_grants_and_sessions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    now: UnixTime,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE grants SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now.seconds())
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut **tx).await?;
    Ok(())
}
