//! One namespace for the names of users and service accounts, ignoring
//! case: Jira usernames are case-insensitive, so `ALICE` beside `alice`, or
//! a service account named like a person, would be two principals Jira
//! takes for one. Each name's lower-case key is claimed in
//! `principal_names`, in the transaction that creates or renames the
//! principal; the primary key makes a second claim fail, on both stores,
//! under any concurrency.

use sqlx::{Any, Row as _, Transaction};

use super::{Database, StoreError, StoreResult};
use crate::domain::Username;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    User,
    ServiceAccount,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ServiceAccount => "service_account",
        }
    }
}

/// The key a name is unique by: its Unicode lower case.
pub(super) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Claims `username` for the principal `id`, first releasing whatever
/// name that principal held (a rename). `Err(Conflict)` names who holds it.
pub(super) async fn claim(
    tx: &mut Transaction<'_, Any>,
    username: &Username,
    kind: Kind,
    id: &str,
) -> Result<Result<(), StoreError>, sqlx::Error> {
    sqlx::query("DELETE FROM principal_names WHERE principal_id = $1").bind(id).execute(&mut **tx).await?;
    let key = name_key(username.as_str());
    let done = sqlx::query(
        "INSERT INTO principal_names (name_key, kind, principal_id) VALUES ($1, $2, $3) \
         ON CONFLICT (name_key) DO NOTHING",
    )
    .bind(&key)
    .bind(kind.as_str())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Ok(()));
    }
    let holder = sqlx::query(
        "SELECT p.kind, COALESCE(u.username, sa.username) AS name FROM principal_names p \
         LEFT JOIN users u ON u.id = p.principal_id \
         LEFT JOIN service_accounts sa ON sa.id = p.principal_id WHERE p.name_key = $1",
    )
    .bind(&key)
    .fetch_optional(&mut **tx)
    .await?;
    let (kind, name) = match holder {
        Some(row) => (row.try_get::<String, _>("kind")?, row.try_get::<Option<String>, _>("name")?),
        None => (String::new(), None),
    };
    let what = if kind == Kind::ServiceAccount.as_str() { "a service account" } else { "a user" };
    let name = name.unwrap_or_else(|| username.as_str().to_owned());
    let message = if name == username.as_str() {
        format!("{what} named '{name}' already exists")
    } else {
        format!("'{username}' is taken: {what} named '{name}' exists, and Jira usernames ignore case")
    };
    Ok(Err(StoreError::Conflict(message)))
}

impl Database {
    /// Claims the names of principals created before the registry existed
    /// (or by an older build). A pair that already differed only by case
    /// keeps working; the name claimed second is reported so an admin can
    /// rename one of them.
    pub(super) async fn register_principal_names(&self) -> StoreResult<()> {
        let unregistered = self
            .bounded(
                sqlx::query(
                    "SELECT id, username, 'user' AS kind FROM users WHERE id NOT IN (SELECT principal_id FROM principal_names) \
                     UNION ALL SELECT id, username, 'service_account' FROM service_accounts \
                     WHERE id NOT IN (SELECT principal_id FROM principal_names)",
                )
                .fetch_all(self.pool()),
            )
            .await?;
        for row in unregistered {
            let read = || -> Result<(String, String, String), sqlx::Error> {
                Ok((row.try_get("id")?, row.try_get("username")?, row.try_get("kind")?))
            };
            let (id, username, kind) = read().map_err(|e| StoreError::Unexpected(e.into()))?;
            let done = self
                .bounded(
                    sqlx::query(
                        "INSERT INTO principal_names (name_key, kind, principal_id) VALUES ($1, $2, $3) \
                         ON CONFLICT (name_key) DO NOTHING",
                    )
                    .bind(name_key(&username))
                    .bind(&kind)
                    .bind(&id)
                    .execute(self.pool()),
                )
                .await?;
            if done.rows_affected() == 0 {
                tracing::warn!(
                    %username,
                    "another user or service account has this name in another case; Jira takes them for one: rename one of them"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::name_key;

    #[test]
    fn keys_ignore_case_beyond_ascii() {
        assert_eq!(name_key("ALICE"), name_key("alice"));
        assert_eq!(name_key("Ünal"), name_key("üNAL"));
        assert_ne!(name_key("alice"), name_key("alice2"));
    }
}
