use async_trait::async_trait;

use super::{Database, StoreResult};
use crate::domain::{ClientId, UnixTime};

/// A pushed authorization request to store (RFC 9126 §2).
#[derive(Debug, Clone)]
pub struct NewPushedRequest {
    pub request_uri_hash: String,
    pub client_id: ClientId,
    /// The request's parameters, URL-encoded, without client authentication.
    pub params: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

#[async_trait]
pub trait PushedRequestStore: Send + Sync {
    async fn create_pushed_request(&self, new: &NewPushedRequest) -> StoreResult<()>;
    /// The parameters of `client_id`'s unused, unexpired pushed request. The
    /// first opening gives it `flow_seconds` from now to finish in.
    async fn open_pushed_request(
        &self,
        request_uri_hash: &str,
        client_id: &ClientId,
        now: UnixTime,
        flow_seconds: i64,
    ) -> StoreResult<Option<String>>;
    /// The request gave its answer: it never works again.
    async fn finish_pushed_request(&self, request_uri_hash: &str, now: UnixTime) -> StoreResult<()>;
}

#[async_trait]
impl PushedRequestStore for Database {
    async fn create_pushed_request(&self, new: &NewPushedRequest) -> StoreResult<()> {
        self.bounded(
            sqlx::query(
                "INSERT INTO pushed_requests (request_uri_hash, client_id, params, created_at, expires_at, \
                 opened_at, used_at) VALUES ($1, $2, $3, $4, $5, NULL, NULL)",
            )
            .bind(&new.request_uri_hash)
            .bind(new.client_id.as_str())
            .bind(&new.params)
            .bind(new.created_at.seconds())
            .bind(new.expires_at.seconds())
            .execute(self.pool()),
        )
        .await?;
        Ok(())
    }

    async fn open_pushed_request(
        &self,
        request_uri_hash: &str,
        client_id: &ClientId,
        now: UnixTime,
        flow_seconds: i64,
    ) -> StoreResult<Option<String>> {
        // One statement: two browsers opening it at once both see it, and
        // the flow window is set once.
        self.bounded(
            sqlx::query_scalar(
                "UPDATE pushed_requests SET \
                 expires_at = CASE WHEN opened_at IS NULL THEN $1 ELSE expires_at END, \
                 opened_at = COALESCE(opened_at, $2) \
                 WHERE request_uri_hash = $3 AND client_id = $4 AND used_at IS NULL AND expires_at > $2 \
                 RETURNING params",
            )
            .bind(now.plus(flow_seconds).seconds())
            .bind(now.seconds())
            .bind(request_uri_hash)
            .bind(client_id.as_str())
            .fetch_optional(self.pool()),
        )
        .await
    }

    async fn finish_pushed_request(&self, request_uri_hash: &str, now: UnixTime) -> StoreResult<()> {
        self.bounded(
            sqlx::query(
                "UPDATE pushed_requests SET used_at = $1 WHERE request_uri_hash = $2 AND used_at IS NULL",
            )
            .bind(now.seconds())
            .bind(request_uri_hash)
            .execute(self.pool()),
        )
        .await?;
        Ok(())
    }
}
