use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::changes::{record_change, Entity};
use super::db::{flag, to_flag};
use super::{service_accounts, Database, StoreError, StoreResult};
use crate::crypto::secrets::random_id;
use crate::domain::{
    Audience, AuthMethod, Client, ClientId, ClientKeys, Lifetime, NewClient, RedirectUri, ScopeName,
    ScopeSet, UnixTime,
};

/// A stored client secret digest and when it stops working (after rotation).
/// `Debug` hides the digest: a log line is no place for it.
#[derive(Clone)]
pub struct SecretRecord {
    pub digest: String,
    pub expires_at: Option<UnixTime>,
}

impl std::fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRecord")
            .field("digest", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A client with the digests of its secrets, as client authentication needs it.
#[derive(Debug, Clone)]
pub struct StoredClient {
    pub client: Client,
    pub secrets: Vec<SecretRecord>,
    /// The client's allowed scopes that are disabled now.
    pub disabled_scopes: Vec<ScopeName>,
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a validated client with its first secret digest (if any).
    async fn create_client(
        &self,
        id: &ClientId,
        new: &NewClient,
        auth_method: crate::domain::AuthMethod,
        secret_digest: Option<&str>,
        now: UnixTime,
    ) -> StoreResult<Client>;
    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<StoredClient>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Adds `new_digest` as the current secret; secrets that had no expiry
    /// now expire at `old_expire_at`. One transaction.
    async fn rotate_client_secret(
        &self,
        id: &ClientId,
        new_digest: &str,
        old_expire_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<()>;
    async fn set_client_enabled(&self, id: &ClientId, enabled: bool, now: UnixTime) -> StoreResult<()>;
    async fn delete_client(&self, id: &ClientId, now: UnixTime) -> StoreResult<()>;
    /// Replaces everything about a client but its id, type and secrets.
    async fn update_client(
        &self,
        id: &ClientId,
        new: &NewClient,
        auth_method: crate::domain::AuthMethod,
        now: UnixTime,
    ) -> StoreResult<Client>;
    /// Every token the client holds now dies: its grants are revoked and
    /// tokens issued up to `now` are inactive.
    async fn revoke_client_tokens(&self, id: &ClientId, now: UnixTime) -> StoreResult<()>;
    /// Apps, service accounts, users and live user grants, for the dashboard.
    async fn counts(&self, now: UnixTime) -> StoreResult<Counts>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub clients: i64,
    pub service_accounts: i64,
    pub users: i64,
    pub active_grants: i64,
}

fn client_query(filter: &str) -> String {
    format!(
        "SELECT c.id, c.name, c.client_type, c.auth_method, c.token_format, c.access_token_ttl, \
         c.refresh_token_ttl, c.resource_server, c.pkce, c.require_par, c.jwks, c.jwks_uri, c.enabled, c.created_at, {sa} \
         FROM clients c LEFT JOIN service_accounts sa ON sa.id = c.service_account_id {filter}",
        sa = service_accounts::COLUMNS
    )
}

/// The child rows of one client in a single round trip.
/// The child rows (grants, scopes, audiences, redirect URIs, secrets,
/// disabled scopes) of one client (`$1`), or of every client.
static ONE_CLIENTS_CHILDREN: LazyLock<String> = LazyLock::new(|| children_query(true));
static ALL_CLIENTS_CHILDREN: LazyLock<String> = LazyLock::new(|| children_query(false));

fn children_query(one: bool) -> String {
    let which = |column: &str| if one { format!("{column} = $1") } else { "1 = 1".to_owned() };
    let (client, disabled) = (which("client_id"), which("cs.client_id"));
    format!(
        "SELECT client_id, 'grant' AS kind, grant_type AS value, CAST(NULL AS BIGINT) AS expires_at \
         FROM client_grants WHERE {client} \
         UNION ALL SELECT client_id, 'scope', scope, NULL FROM client_scopes WHERE {client} \
         UNION ALL SELECT client_id, 'audience', audience, NULL FROM client_audiences WHERE {client} \
         UNION ALL SELECT client_id, 'redirect_uri', uri, NULL FROM client_redirect_uris WHERE {client} \
         UNION ALL SELECT client_id, 'post_logout_uri', uri, NULL FROM client_post_logout_uris WHERE {client} \
         UNION ALL SELECT client_id, 'secret', secret_hash, expires_at FROM client_secrets WHERE {client} \
         UNION ALL SELECT cs.client_id, 'disabled_scope', cs.scope, NULL FROM client_scopes cs \
         JOIN scopes s ON s.name = cs.scope WHERE {disabled} AND s.enabled = 0"
    )
}

fn jwks_text(new: &NewClient) -> Option<String> {
    new.keys.as_ref().and_then(ClientKeys::inline).map(|jwks| jwks.as_str().to_owned())
}

fn jwks_uri_text(new: &NewClient) -> Option<String> {
    new.keys.as_ref().and_then(ClientKeys::uri).map(|uri| uri.as_str().to_owned())
}

fn client_from_row(row: &AnyRow) -> Result<Client, StoreError> {
    let read = || -> anyhow::Result<Client> {
        let id: String = row.try_get("id")?;
        let client_type: String = row.try_get("client_type")?;
        let auth_method: String = row.try_get("auth_method")?;
        let token_format: String = row.try_get("token_format")?;
        let pkce: String = row.try_get("pkce")?;
        let ttl: Option<i64> = row.try_get("access_token_ttl")?;
        let refresh_ttl: Option<i64> = row.try_get("refresh_token_ttl")?;
        let jwks: Option<String> = row.try_get("jwks")?;
        let jwks_uri: Option<String> = row.try_get("jwks_uri")?;
        Ok(Client {
            id: ClientId::parse(&id).context("stored client id is invalid")?,
            name: row.try_get("name")?,
            client_type: client_type.parse()?,
            auth_method: auth_method.parse()?,
            token_format: token_format.parse()?,
            grants: BTreeSet::new(),
            scopes: ScopeSet::default(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            audiences: Vec::new(),
            service_account: service_accounts::from_row(row)?,
            access_token_ttl: ttl.map(Lifetime::from_seconds),
            refresh_token_ttl: refresh_ttl.map(Lifetime::from_seconds),
            resource_server: flag(row, "resource_server")?,
            pkce: pkce.parse()?,
            require_par: flag(row, "require_par")?,
            keys: ClientKeys::from_parts(jwks.as_deref(), jwks_uri.as_deref())
                .context("stored client keys are invalid")?,
            enabled: flag(row, "enabled")?,
            created_at: UnixTime::from_seconds(row.try_get("created_at")?),
        })
    };
    read().map_err(StoreError::Unexpected)
}

/// Fills `client` from its child rows; returns its secrets and its allowed
/// scopes that are disabled.
fn add_children(
    client: &mut Client,
    rows: &[AnyRow],
) -> Result<(Vec<SecretRecord>, Vec<ScopeName>), StoreError> {
    let mut secrets = Vec::new();
    let mut scopes = Vec::new();
    let mut disabled = Vec::new();
    let mut read = || -> anyhow::Result<()> {
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let value: String = row.try_get("value")?;
            match kind.as_str() {
                "grant" => {
                    // A grant this build does not know (written by a newer
                    // version) is skipped, never honoured.
                    if let Ok(grant) = value.parse() {
                        client.grants.insert(grant);
                    }
                }
                "scope" => scopes.push(ScopeName::parse(&value)?),
                "disabled_scope" => disabled.push(ScopeName::parse(&value)?),
                "audience" => client.audiences.push(Audience::parse(&value)?),
                "redirect_uri" => client.redirect_uris.push(RedirectUri::parse(&value)?),
                "post_logout_uri" => client.post_logout_redirect_uris.push(RedirectUri::parse(&value)?),
                "secret" => secrets.push(SecretRecord {
                    digest: value,
                    expires_at: row.try_get::<Option<i64>, _>("expires_at")?.map(UnixTime::from_seconds),
                }),
                other => anyhow::bail!("unexpected child row kind {other}"),
            }
        }
        Ok(())
    };
    read().map_err(StoreError::Unexpected)?;
    client.scopes = ScopeSet::from_names(scopes);
    client.audiences.sort();
    client.redirect_uris.sort();
    client.post_logout_redirect_uris.sort();
    Ok((secrets, disabled))
}

#[async_trait]
impl ClientStore for Database {
    async fn create_client(
        &self,
        id: &ClientId,
        new: &NewClient,
        auth_method: AuthMethod,
        secret_digest: Option<&str>,
        now: UnixTime,
    ) -> StoreResult<Client> {
        let service_account = self.check_references(new).await?;

        let transaction = async {
            let mut tx = self.pool().begin().await?;
            sqlx::query(
                "INSERT INTO clients (id, name, client_type, auth_method, token_format, service_account_id, \
                 access_token_ttl, refresh_token_ttl, resource_server, pkce, jwks, jwks_uri, enabled, created_at, \
                 updated_at, require_par) VALUES ($1, $2, $3, $4, $5, $6, $7, $11, $8, $9, $12, $13, 1, $10, $10, $14)",
            )
            .bind(id.as_str())
            .bind(new.name.trim())
            .bind(new.client_type.as_str())
            .bind(auth_method.as_str())
            .bind(new.token_format.as_str())
            .bind(service_account.as_ref().map(|sa| sa.id.to_string()))
            .bind(new.access_token_ttl.map(|l| l.seconds()))
            .bind(to_flag(new.resource_server))
            .bind(new.pkce.as_str())
            .bind(now.seconds())
            .bind(new.refresh_token_ttl.map(|l| l.seconds()))
            .bind(jwks_text(new))
            .bind(jwks_uri_text(new))
            .bind(to_flag(new.require_par))
            .execute(&mut *tx)
            .await?;
            insert_children(&mut tx, id, new).await?;
            if let Some(digest) = secret_digest {
                insert_secret(&mut tx, id, digest, now).await?;
            }
            tx.commit().await
        };
        self.bounded(transaction).await?;
        let stored = self.find_client(id).await?;
        stored
            .map(|stored| stored.client)
            .ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("client {id} vanished after insert")))
    }

    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<StoredClient>> {
        let sql = client_query("WHERE c.id = $1");
        let Some(row) = self.read(|| sqlx::query(&sql).bind(id.as_str()).fetch_optional(self.pool())).await?
        else {
            return Ok(None);
        };
        let mut client = client_from_row(&row)?;
        let children = self
            .read(|| sqlx::query(ONE_CLIENTS_CHILDREN.as_str()).bind(id.as_str()).fetch_all(self.pool()))
            .await?;
        let (secrets, disabled_scopes) = add_children(&mut client, &children)?;
        Ok(Some(StoredClient { client, secrets, disabled_scopes }))
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let sql = client_query("ORDER BY c.name, c.id");
        let rows = self.bounded(sqlx::query(&sql).fetch_all(self.pool())).await?;
        // Every client's children in one query, not one query a client.
        let children =
            self.bounded(sqlx::query(ALL_CLIENTS_CHILDREN.as_str()).fetch_all(self.pool())).await?;
        let mut by_client: HashMap<String, Vec<AnyRow>> = HashMap::new();
        for child in children {
            let client_id: String =
                child.try_get("client_id").map_err(|e| StoreError::Unexpected(e.into()))?;
            by_client.entry(client_id).or_default().push(child);
        }
        let mut clients = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut client = client_from_row(row)?;
            let children = by_client.remove(client.id.as_str()).unwrap_or_default();
            add_children(&mut client, &children)?;
            clients.push(client);
        }
        Ok(clients)
    }

    async fn rotate_client_secret(
        &self,
        id: &ClientId,
        new_digest: &str,
        old_expire_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<()> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let exists = sqlx::query("SELECT id FROM clients WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !exists {
                return Ok(false);
            }
            // Secrets already expiring keep their earlier end.
            sqlx::query(
                "UPDATE client_secrets SET expires_at = $1 WHERE client_id = $2 AND (expires_at IS NULL OR expires_at > $1)",
            )
            .bind(old_expire_at.seconds())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM client_secrets WHERE client_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2")
                .bind(id.as_str())
                .bind(now.seconds())
                .execute(&mut *tx)
                .await?;
            insert_secret(&mut tx, id, new_digest, now).await?;
            sqlx::query("UPDATE clients SET updated_at = $1 WHERE id = $2")
                .bind(now.seconds())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            record_change(&mut tx, Entity::Client, id.as_str(), now).await?;
            tx.commit().await?;
            Ok(true)
        };
        if self.bounded(transaction).await? {
            Ok(())
        } else {
            Err(no_such_client(id))
        }
    }

    async fn set_client_enabled(&self, id: &ClientId, enabled: bool, now: UnixTime) -> StoreResult<()> {
        // Disabling also ends every token issued so far (tokens_not_before
        // and the client's grants), so enabling again revives none of them.
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let done = if enabled {
                sqlx::query("UPDATE clients SET enabled = 1, updated_at = $1 WHERE id = $2")
                    .bind(now.seconds())
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?
            } else {
                sqlx::query(
                    "UPDATE clients SET enabled = 0, tokens_not_before = $1, updated_at = $1 WHERE id = $2",
                )
                .bind(now.seconds())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
            };
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            if !enabled {
                revoke_client_grants(&mut tx, id, now).await?;
            }
            record_change(&mut tx, Entity::Client, id.as_str(), now).await?;
            tx.commit().await?;
            Ok(true)
        };
        self.bounded(transaction).await?.then_some(()).ok_or_else(|| no_such_client(id))
    }

    async fn delete_client(&self, id: &ClientId, now: UnixTime) -> StoreResult<()> {
        let statement = sqlx::query("DELETE FROM clients WHERE id = $1").bind(id.as_str());
        let changed = self.apply_change(statement, Entity::Client, id.as_str(), now).await?;
        changed.then_some(()).ok_or_else(|| no_such_client(id))
    }

    async fn update_client(
        &self,
        id: &ClientId,
        new: &NewClient,
        auth_method: AuthMethod,
        now: UnixTime,
    ) -> StoreResult<Client> {
        let service_account = self.check_references(new).await?;
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let done = sqlx::query(
                "UPDATE clients SET name = $1, auth_method = $2, token_format = $3, service_account_id = $4, \
                 access_token_ttl = $5, refresh_token_ttl = $6, resource_server = $7, pkce = $8, updated_at = $9, \
                 jwks = $11, jwks_uri = $12, require_par = $13 WHERE id = $10",
            )
            .bind(new.name.trim())
            .bind(auth_method.as_str())
            .bind(new.token_format.as_str())
            .bind(service_account.as_ref().map(|sa| sa.id.to_string()))
            .bind(new.access_token_ttl.map(|l| l.seconds()))
            .bind(new.refresh_token_ttl.map(|l| l.seconds()))
            .bind(to_flag(new.resource_server))
            .bind(new.pkce.as_str())
            .bind(now.seconds())
            .bind(id.as_str())
            .bind(jwks_text(new))
            .bind(jwks_uri_text(new))
            .bind(to_flag(new.require_par))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            for table in [
                "client_redirect_uris",
                "client_post_logout_uris",
                "client_grants",
                "client_scopes",
                "client_audiences",
            ] {
                sqlx::query(&format!("DELETE FROM {table} WHERE client_id = $1"))
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            insert_children(&mut tx, id, new).await?;
            record_change(&mut tx, Entity::Client, id.as_str(), now).await?;
            tx.commit().await?;
            Ok(true)
        };
        if !self.bounded(transaction).await? {
            return Err(no_such_client(id));
        }
        let stored = self.find_client(id).await?;
        stored.map(|stored| stored.client).ok_or_else(|| no_such_client(id))
    }

    async fn revoke_client_tokens(&self, id: &ClientId, now: UnixTime) -> StoreResult<()> {
        let transaction = async {
            let mut tx = self.pool().begin().await?;
            let done =
                sqlx::query("UPDATE clients SET tokens_not_before = $1, updated_at = $1 WHERE id = $2")
                    .bind(now.seconds())
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            revoke_client_grants(&mut tx, id, now).await?;
            record_change(&mut tx, Entity::Client, id.as_str(), now).await?;
            tx.commit().await?;
            Ok(true)
        };
        self.bounded(transaction).await?.then_some(()).ok_or_else(|| no_such_client(id))
    }

    async fn counts(&self, now: UnixTime) -> StoreResult<Counts> {
        let row = self
            .bounded(
                sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM clients) AS clients, \
                     (SELECT COUNT(*) FROM service_accounts) AS service_accounts, \
                     (SELECT COUNT(*) FROM users) AS users, \
                     (SELECT COUNT(*) FROM grants WHERE revoked_at IS NULL AND expires_at > $1) AS active_grants",
                )
                .bind(now.seconds())
                .fetch_one(self.pool()),
            )
            .await?;
        let read = || -> Result<Counts, sqlx::Error> {
            Ok(Counts {
                clients: row.try_get("clients")?,
                service_accounts: row.try_get("service_accounts")?,
                users: row.try_get("users")?,
                active_grants: row.try_get("active_grants")?,
            })
        };
        read().map_err(|e| StoreError::Unexpected(e.into()))
    }
}

/// A client secret's digest, working from `now` until a rotation ends it.
async fn insert_secret(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &ClientId,
    digest: &str,
    now: UnixTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO client_secrets (id, client_id, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, NULL)",
    )
    .bind(random_id(12))
    .bind(id.as_str())
    .bind(digest)
    .bind(now.seconds())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The rows under a client: redirect URIs, grants, scopes, audiences.
async fn insert_children(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &ClientId,
    new: &NewClient,
) -> Result<(), sqlx::Error> {
    let children: [(&str, Vec<&str>); 5] = [
        (
            "INSERT INTO client_redirect_uris (client_id, uri) VALUES ($1, $2)",
            new.redirect_uris.iter().map(|u| u.as_str()).collect(),
        ),
        (
            "INSERT INTO client_post_logout_uris (client_id, uri) VALUES ($1, $2)",
            new.post_logout_redirect_uris.iter().map(|u| u.as_str()).collect(),
        ),
        (
            "INSERT INTO client_grants (client_id, grant_type) VALUES ($1, $2)",
            new.grants.iter().map(|g| g.as_str()).collect(),
        ),
        (
            "INSERT INTO client_scopes (client_id, scope) VALUES ($1, $2)",
            new.scopes.iter().map(|s| s.as_str()).collect(),
        ),
        (
            "INSERT INTO client_audiences (client_id, audience) VALUES ($1, $2)",
            new.audiences.iter().map(|a| a.as_str()).collect(),
        ),
    ];
    for (sql, values) in children {
        for value in values {
            sqlx::query(sql).bind(id.as_str()).bind(value).execute(&mut **tx).await?;
        }
    }
    Ok(())
}

impl Database {
    /// The bound service account (which must exist) and the scopes (which
    /// must exist and be enabled) of a client being written.
    async fn check_references(&self, new: &NewClient) -> StoreResult<Option<crate::domain::ServiceAccount>> {
        let service_account = match &new.service_account {
            None => None,
            Some(username) => Some(
                super::ServiceAccountStore::find_service_account(self, username)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("no service account named '{username}'")))?,
            ),
        };
        let known: BTreeSet<String> = super::ScopeStore::list_scopes(self)
            .await?
            .into_iter()
            .filter(|s| s.enabled)
            .map(|s| s.name.as_str().to_owned())
            .collect();
        if let Some(unknown) = new.scopes.iter().find(|s| !known.contains(s.as_str())) {
            return Err(StoreError::NotFound(format!(
                "unknown scope '{unknown}': create it first with `tessera scope create {unknown}`"
            )));
        }

        Ok(service_account)
    }
}

fn no_such_client(id: &ClientId) -> StoreError {
    StoreError::NotFound(format!("no client with id '{id}'"))
}

/// Revokes every live grant of a client (its refresh tokens and the access
/// tokens that name the grant die with it).
async fn revoke_client_grants(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &ClientId,
    now: UnixTime,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL")
        .bind(now.seconds())
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
