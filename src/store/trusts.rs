//! Trusted outside issuers, and the standing of the tokens they bought.

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::db::{flag, to_flag};
use super::tokens::Standing;
use super::{service_accounts, Database, StoreError, StoreResult};
use crate::domain::{
    Audience, ClaimCondition, ClientId, IssuerUrl, JwksUri, Lifetime, NewTrust, ScopeSet, Trust, TrustId,
    UnixTime,
};

#[async_trait]
pub trait TrustStore: Send + Sync {
    /// Stores a trust; its service account, scopes and clients must exist.
    async fn create_trust(&self, id: &TrustId, new: &NewTrust, now: UnixTime) -> StoreResult<Trust>;
    async fn find_trust(&self, id: &TrustId) -> StoreResult<Option<Trust>>;
    async fn list_trusts(&self) -> StoreResult<Vec<Trust>>;
    /// Every trust of `issuer`, enabled or not, oldest first.
    async fn trusts_of_issuer(&self, issuer: &str) -> StoreResult<Vec<Trust>>;
    /// Disabling also ends every token the trust has issued so far.
    async fn set_trust_enabled(&self, id: &TrustId, enabled: bool, now: UnixTime) -> StoreResult<()>;
    /// Its tokens die with it.
    async fn delete_trust(&self, id: &TrustId) -> StoreResult<()>;
    /// Revocation of a trust's JWT (by `jti`) and the standing of its
    /// trust and service account, in one read.
    async fn trust_token_standing(&self, jti: &str, trust: &TrustId) -> StoreResult<Standing>;
}

fn trust_query(filter: &str) -> String {
    format!(
        "SELECT t.id, t.issuer, t.jwks_uri, t.audience, t.conditions, t.scopes, t.max_ttl, t.clients, \
         t.without_client, t.enabled, t.created_at, {sa} \
         FROM trusts t JOIN service_accounts sa ON sa.id = t.service_account_id {filter}",
        sa = service_accounts::COLUMNS
    )
}

fn trust_from_row(row: &AnyRow) -> Result<Trust, StoreError> {
    let read = || -> anyhow::Result<Trust> {
        let text = |name: &str| -> anyhow::Result<String> { Ok(row.try_get::<String, _>(name)?) };
        let conditions = text("conditions")?
            .lines()
            .map(ClaimCondition::parse)
            .collect::<Result<Vec<_>, _>>()
            .context("a stored claim condition is invalid")?;
        let clients = text("clients")?
            .split_whitespace()
            .map(ClientId::parse)
            .collect::<Result<Vec<_>, _>>()
            .context("a stored client id is invalid")?;
        Ok(Trust {
            id: TrustId::new(text("id")?),
            issuer: IssuerUrl::parse(&text("issuer")?).context("a stored issuer is invalid")?,
            jwks_uri: JwksUri::parse(&text("jwks_uri")?).context("a stored JWKS URL is invalid")?,
            audience: Audience::parse(&text("audience")?).context("a stored audience is invalid")?,
            conditions,
            service_account: service_accounts::from_row(row)?
                .context("the trust's service account is gone")?,
            scopes: ScopeSet::parse(&text("scopes")?).context("a stored scope is invalid")?,
            max_ttl: Lifetime::from_seconds(row.try_get("max_ttl")?),
            clients,
            without_client: flag(row, "without_client")?,
            enabled: flag(row, "enabled")?,
            created_at: UnixTime::from_seconds(row.try_get("created_at")?),
        })
    };
    read().map_err(StoreError::Unexpected)
}

fn no_such_trust(id: &TrustId) -> StoreError {
    StoreError::NotFound(format!("no trust with id '{id}'"))
}

#[async_trait]
impl TrustStore for Database {
    async fn create_trust(&self, id: &TrustId, new: &NewTrust, now: UnixTime) -> StoreResult<Trust> {
        let service_account =
            super::ServiceAccountStore::find_service_account(self, &new.service_account).await?.ok_or_else(
                || StoreError::NotFound(format!("no service account named '{}'", new.service_account)),
            )?;
        let known = super::ScopeStore::list_scopes(self).await?;
        if let Some(unknown) =
            new.scopes.iter().find(|s| !known.iter().any(|k| k.enabled && k.name.as_str() == s.as_str()))
        {
            return Err(StoreError::NotFound(format!(
                "unknown scope '{unknown}': create it first with `tessera scope create {unknown}`"
            )));
        }
        for client in &new.clients {
            if super::ClientStore::find_client(self, client).await?.is_none() {
                return Err(StoreError::NotFound(format!("no client with id '{client}'")));
            }
        }
        let conditions: Vec<String> = new.conditions.iter().map(ToString::to_string).collect();
        let clients: Vec<&str> = new.clients.iter().map(ClientId::as_str).collect();
        self.bounded(
            sqlx::query(
                "INSERT INTO trusts (id, issuer, jwks_uri, audience, conditions, service_account_id, scopes, \
                 max_ttl, clients, without_client, enabled, tokens_not_before, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, NULL, $11, $11)",
            )
            .bind(id.as_str())
            .bind(new.issuer.as_str())
            .bind(new.jwks_uri.as_str())
            .bind(new.audience.as_str())
            .bind(conditions.join("\n"))
            .bind(service_account.id.as_str())
            .bind(new.scopes.to_string())
            .bind(new.max_ttl.seconds())
            .bind(clients.join(" "))
            .bind(to_flag(new.without_client))
            .bind(now.seconds())
            .execute(self.pool()),
        )
        .await?;
        self.find_trust(id)
            .await?
            .ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("trust {id} vanished after insert")))
    }

    async fn find_trust(&self, id: &TrustId) -> StoreResult<Option<Trust>> {
        let sql = trust_query("WHERE t.id = $1");
        let row = self.read(|| sqlx::query(&sql).bind(id.as_str()).fetch_optional(self.pool())).await?;
        row.as_ref().map(trust_from_row).transpose()
    }

    async fn list_trusts(&self) -> StoreResult<Vec<Trust>> {
        let sql = trust_query("ORDER BY t.issuer, t.created_at, t.id");
        let rows = self.bounded(sqlx::query(&sql).fetch_all(self.pool())).await?;
        rows.iter().map(trust_from_row).collect()
    }

    async fn trusts_of_issuer(&self, issuer: &str) -> StoreResult<Vec<Trust>> {
        let sql = trust_query("WHERE t.issuer = $1 ORDER BY t.created_at, t.id");
        let rows = self.read(|| sqlx::query(&sql).bind(issuer).fetch_all(self.pool())).await?;
        rows.iter().map(trust_from_row).collect()
    }

    async fn set_trust_enabled(&self, id: &TrustId, enabled: bool, now: UnixTime) -> StoreResult<()> {
        let query = if enabled {
            sqlx::query("UPDATE trusts SET enabled = 1, updated_at = $1 WHERE id = $2")
        } else {
            sqlx::query(
                "UPDATE trusts SET enabled = 0, tokens_not_before = $1, updated_at = $1 WHERE id = $2",
            )
        };
        let done = self.bounded(query.bind(now.seconds()).bind(id.as_str()).execute(self.pool())).await?;
        if done.rows_affected() == 0 {
            return Err(no_such_trust(id));
        }
        Ok(())
    }

    async fn delete_trust(&self, id: &TrustId) -> StoreResult<()> {
        let done = self
            .bounded(sqlx::query("DELETE FROM trusts WHERE id = $1").bind(id.as_str()).execute(self.pool()))
            .await?;
        if done.rows_affected() == 0 {
            return Err(no_such_trust(id));
        }
        Ok(())
    }

    async fn trust_token_standing(&self, jti: &str, trust: &TrustId) -> StoreResult<Standing> {
        let row = self
            .read(|| {
                sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM revoked_jwts WHERE jti = $1) AS revoked, \
                     t.enabled AS trust_enabled, t.tokens_not_before, sa.enabled AS sa_enabled \
                     FROM trusts t JOIN service_accounts sa ON sa.id = t.service_account_id WHERE t.id = $2",
                )
                .bind(jti)
                .bind(trust.as_str())
                .fetch_optional(self.pool())
            })
            .await?;
        let Some(row) = row else {
            // Deleted: nothing it issued lives on.
            return Ok(Standing { revoked: false, owner_active: false, not_before: None });
        };
        let read = || -> anyhow::Result<Standing> {
            let revoked: i64 = row.try_get("revoked")?;
            Ok(Standing {
                revoked: revoked > 0,
                owner_active: flag(&row, "trust_enabled")? && flag(&row, "sa_enabled")?,
                not_before: row.try_get::<Option<i64>, _>("tokens_not_before")?.map(UnixTime::from_seconds),
            })
        };
        read().map_err(StoreError::Unexpected)
    }
}
