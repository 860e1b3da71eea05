use async_trait::async_trait;
use sqlx::Row as _;

use super::db::scope;
use super::{Database, StoreError, StoreResult};
use crate::domain::{ClientId, GrantId, PersonalTokenId, ScopeSet, UnixTime};

/// An opaque access token as stored (by digest).
#[derive(Debug, Clone)]
pub struct StoredAccessToken {
    pub jti: String,
    pub client_id: ClientId,
    pub subject: String,
    pub username: Option<String>,
    pub scope: ScopeSet,
    pub audience: Vec<String>,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked: bool,
    /// The user grant it came from, if any (its revocation ends the token).
    pub grant_id: Option<GrantId>,
}

/// What ties a JWT to a person, beyond its client: the token dies with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonLink<'a> {
    /// A machine token: the client (and its service account) alone.
    None,
    /// A user's grant (`gid`): revoked grant or disabled user, dead token.
    Grant(&'a GrantId),
    /// The personal token it was exchanged from (`pat`): revoked personal
    /// token or disabled owner, dead token. (Its expiry needs no check: the
    /// JWT never outlives it.)
    PersonalToken(&'a PersonalTokenId),
}

/// Whether a token's client (and the service account it acts for) still
/// stand behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub revoked: bool,
    /// The client exists and is enabled, and so is its service account; for
    /// a person's token, the grant or personal token is unrevoked and the
    /// user enabled.
    pub owner_active: bool,
    /// Tokens of the client issued at or before this are revoked.
    pub not_before: Option<UnixTime>,
}

impl Standing {
    /// Is a token issued at `issued_at` (seconds) still good?
    pub fn is_live(&self, issued_at: i64) -> bool {
        !self.revoked && self.owner_active && self.not_before.is_none_or(|nb| issued_at > nb.seconds())
    }
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_access_token(&self, digest: &str, token: &StoredAccessToken) -> StoreResult<()>;
    /// An opaque token and the standing of its owner, in one read.
    async fn find_access_token(&self, digest: &str) -> StoreResult<Option<(StoredAccessToken, Standing)>>;
    /// Revocation of a JWT and the standing of its client and of the
    /// person behind it, in one read.
    async fn jwt_standing(
        &self,
        jti: &str,
        client: &ClientId,
        person: PersonLink<'_>,
    ) -> StoreResult<Standing>;
    /// Marks the opaque token revoked if it belongs to `client`; true if it did.
    async fn revoke_access_token(&self, digest: &str, client: &ClientId, now: UnixTime) -> StoreResult<bool>;
    async fn revoke_jwt(
        &self,
        jti: &str,
        client: &ClientId,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<()>;
}

/// The standing of a JWT: revoked by `jti` ($1)? its client ($2) and
/// service account enabled? `$person_live`: is the person behind it (bound
/// as $3) still good?
macro_rules! jwt_standing_sql {
    ($person_live:literal) => {
        concat!(
            "SELECT (SELECT COUNT(*) FROM revoked_jwts WHERE jti = $1) AS revoked, \
             c.enabled AS client_enabled, c.tokens_not_before, sa.enabled AS sa_enabled, ",
            $person_live,
            " AS grant_live FROM clients c LEFT JOIN service_accounts sa ON sa.id = c.service_account_id \
             WHERE c.id = $2"
        )
    };
}

#[async_trait]
impl TokenStore for Database {
    async fn insert_access_token(&self, digest: &str, token: &StoredAccessToken) -> StoreResult<()> {
        self.bounded(
            sqlx::query(
                "INSERT INTO access_tokens (token_hash, jti, client_id, subject, username, scope, audience, issued_at, expires_at, revoked_at, grant_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10)",
            )
            .bind(digest)
            .bind(&token.jti)
            .bind(token.client_id.as_str())
            .bind(&token.subject)
            .bind(token.username.as_deref())
            .bind(token.scope.to_string())
            .bind(token.audience.join(" "))
            .bind(token.issued_at.seconds())
            .bind(token.expires_at.seconds())
            .bind(token.grant_id.as_ref().map(GrantId::as_str))
            .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn find_access_token(&self, digest: &str) -> StoreResult<Option<(StoredAccessToken, Standing)>> {
        let row = self.read(|| sqlx::query(
                    "SELECT t.jti, t.client_id, t.subject, t.username, t.scope, t.audience, t.issued_at, t.expires_at, \
                     t.revoked_at, t.grant_id, c.enabled AS client_enabled, c.tokens_not_before, sa.enabled AS sa_enabled, \
                     CASE WHEN t.grant_id IS NULL THEN 1 \
                          WHEN g.revoked_at IS NULL AND u.enabled = 1 THEN 1 ELSE 0 END AS grant_live \
                     FROM access_tokens t JOIN clients c ON c.id = t.client_id \
                     LEFT JOIN service_accounts sa ON sa.id = c.service_account_id \
                     LEFT JOIN grants g ON g.id = t.grant_id LEFT JOIN users u ON u.id = g.user_id \
                     WHERE t.token_hash = $1",
                )
                .bind(digest)
                .fetch_optional(self.pool()),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let read = || -> anyhow::Result<(StoredAccessToken, Standing)> {
            let client_id: String = row.try_get("client_id")?;
            let audience: String = row.try_get("audience")?;
            let revoked = row.try_get::<Option<i64>, _>("revoked_at")?.is_some();
            let token = StoredAccessToken {
                jti: row.try_get("jti")?,
                client_id: ClientId::parse(&client_id)?,
                subject: row.try_get("subject")?,
                username: row.try_get("username")?,
                scope: scope(&row, "scope")?,
                audience: audience.split(' ').filter(|a| !a.is_empty()).map(str::to_owned).collect(),
                issued_at: UnixTime::from_seconds(row.try_get("issued_at")?),
                expires_at: UnixTime::from_seconds(row.try_get("expires_at")?),
                revoked,
                grant_id: row.try_get::<Option<String>, _>("grant_id")?.map(GrantId::new),
            };
            Ok((
                token,
                Standing { revoked, owner_active: owner_active(&row)?, not_before: not_before(&row)? },
            ))
        };
        read().map(Some).map_err(StoreError::Unexpected)
    }

    async fn jwt_standing(
        &self,
        jti: &str,
        client: &ClientId,
        person: PersonLink<'_>,
    ) -> StoreResult<Standing> {
        // One statement per link rather than one with a CASE: a machine
        // token keeps the short plan on the hot path.
        let (sql, person_id) = match person {
            PersonLink::None => (jwt_standing_sql!("CAST(1 AS BIGINT)"), None),
            PersonLink::Grant(grant) => (
                jwt_standing_sql!(
                    "(SELECT COUNT(*) FROM grants g JOIN users u ON u.id = g.user_id \
                     WHERE g.id = $3 AND g.revoked_at IS NULL AND u.enabled = 1)"
                ),
                Some(grant.as_str()),
            ),
            PersonLink::PersonalToken(id) => (
                jwt_standing_sql!(
                    "(SELECT COUNT(*) FROM personal_tokens p JOIN users u ON u.id = p.user_id \
                     WHERE p.id = $3 AND p.revoked_at IS NULL AND u.enabled = 1)"
                ),
                Some(id.as_str()),
            ),
        };
        let row = self
            .read(|| {
                let query = sqlx::query(sql).bind(jti).bind(client.as_str());
                match person_id {
                    Some(id) => query.bind(id),
                    None => query,
                }
                .fetch_optional(self.pool())
            })
            .await?;
        let Some(row) = row else {
            return Ok(Standing { revoked: false, owner_active: false, not_before: None });
        };
        let read = || -> anyhow::Result<Standing> {
            Ok(Standing {
                revoked: row.try_get::<i64, _>("revoked")? > 0,
                owner_active: owner_active(&row)?,
                not_before: not_before(&row)?,
            })
        };
        read().map_err(StoreError::Unexpected)
    }

    async fn revoke_access_token(&self, digest: &str, client: &ClientId, now: UnixTime) -> StoreResult<bool> {
        let done = self
            .bounded(
                sqlx::query(
                    "UPDATE access_tokens SET revoked_at = $1 WHERE token_hash = $2 AND client_id = $3 AND revoked_at IS NULL",
                )
                .bind(now.seconds())
                .bind(digest)
                .bind(client.as_str())
                .execute(self.pool()),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_jwt(
        &self,
        jti: &str,
        client: &ClientId,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<()> {
        self.bounded(
            sqlx::query(
                "INSERT INTO revoked_jwts (jti, client_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(client.as_str())
            .bind(expires_at.seconds())
            .bind(now.seconds())
            .execute(self.pool()),
        )
        .await?;
        Ok(())
    }
}

/// The client is enabled, and so is its service account if it has one;
/// the user grant behind the token (if any) is live.
fn owner_active(row: &sqlx::any::AnyRow) -> Result<bool, sqlx::Error> {
    let client: i64 = row.try_get("client_enabled")?;
    let account: Option<i64> = row.try_get("sa_enabled")?;
    let grant_live: i64 = row.try_get("grant_live")?;
    Ok(client != 0 && account.is_none_or(|a| a != 0) && grant_live > 0)
}

fn not_before(row: &sqlx::any::AnyRow) -> Result<Option<UnixTime>, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>("tokens_not_before")?.map(UnixTime::from_seconds))
}
