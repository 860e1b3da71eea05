//! The outermost middleware: gives every request an id and its client
//! address, runs it inside a `request` span (so every log line of the
//! request, audit lines included, carries the id), echoes the id in
//! `X-Request-Id`, counts the answer in the metrics and writes the access
//! log line. The access line holds the path without its query string, so
//! nothing passed in a URL reaches the log.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, HttpRequest};
use tracing::Instrument as _;

use crate::lifecycle::{Lifecycle, Phase};
use crate::metrics::{Metrics, UNMATCHED_ROUTE};
use crate::proxies::TrustedProxies;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a caller.
const MAX_REQUEST_ID: usize = 128;

/// A request's id: the caller's `X-Request-Id` when well-formed (1–128 of
/// `A-Z a-z 0-9 - _ . : + / =`, which covers UUIDs, trace ids and base64),
/// else a fresh random one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn from_caller(value: &[u8]) -> Option<Self> {
        let well_formed = !value.is_empty()
            && value.len() <= MAX_REQUEST_ID
            && value.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(b));
        well_formed.then(|| Self(String::from_utf8_lossy(value).into_owned()))
    }

    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a request comes from, after `TESSERA_TRUSTED_PROXIES`.
#[derive(Debug, Clone, Copy)]
struct ClientAddress(Option<IpAddr>);

/// The client's address for throttles and the audit log: the forwarded
/// address when the peer is a trusted proxy, else the TCP peer.
pub fn client_address(request: &HttpRequest) -> Option<IpAddr> {
    match request.extensions().get::<ClientAddress>() {
        Some(address) => address.0,
        None => request.peer_addr().map(|a| a.ip()),
    }
}

/// What the middleware needs, shared by every worker.
pub struct Observer {
    pub metrics: Arc<Metrics>,
    pub proxies: TrustedProxies,
    pub lifecycle: Arc<Lifecycle>,
}

pub async fn observe(
    observer: Arc<Observer>,
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let _in_flight = observer.lifecycle.enter();
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| RequestId::from_caller(value.as_bytes()))
        .unwrap_or_else(RequestId::generate);
    let client = request.peer_addr().map(|peer| resolve(&observer.proxies, &request, peer.ip()));
    request.extensions_mut().insert(ClientAddress(client));
    let span = tracing::info_span!("request", request_id = id.as_str());
    let method = request.method().clone();
    let path = request.path().to_owned();
    let result = next.call(request).instrument(span.clone()).await;
    let seconds = started.elapsed().as_secs_f64();
    let (status, route) = match &result {
        Ok(response) => (
            response.status(),
            response.request().match_pattern().unwrap_or_else(|| UNMATCHED_ROUTE.to_owned()),
        ),
        Err(error) => (error.as_response_error().status_code(), UNMATCHED_ROUTE.to_owned()),
    };
    observer.metrics.observe_request(&route, method.as_str(), status.as_str(), seconds);
    span.in_scope(|| {
        tracing::info!(
            target: "tessera::access",
            client = client.map(tracing::field::display),
            method = method.as_str(),
            path = path.as_str(),
            route = route.as_str(),
            status = status.as_u16(),
            duration_ms = (seconds * 1000.0 * 100.0).round() / 100.0,
            "{method} {path} {}",
            status.as_u16(),
        );
    });
    let mut response = result?;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    if observer.lifecycle.phase() == Phase::Draining {
        // The node is stopping: this connection closes after this answer,
        // so its client sends the next request elsewhere instead of into
        // a connection about to close.
        response.response_mut().head_mut().set_connection_type(ConnectionType::Close);
    }
    Ok(response)
}

fn resolve(proxies: &TrustedProxies, request: &ServiceRequest, peer: IpAddr) -> IpAddr {
    if proxies.is_empty() {
        return peer;
    }
    let values = |name: &str| -> Vec<&str> {
        request.headers().get_all(name).filter_map(|value| value.to_str().ok()).collect()
    };
    proxies.client_address(peer, &values("forwarded"), &values("x-forwarded-for"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_request_id_is_kept_only_when_well_formed() {
        let kept = RequestId::from_caller(b"0af7651916cd43dd8448eb211c80319c").unwrap();
        assert_eq!(kept.as_str(), "0af7651916cd43dd8448eb211c80319c");
        assert!(RequestId::from_caller(b"trace:abc/def+g=").is_some());
        assert!(RequestId::from_caller(b"").is_none());
        assert!(RequestId::from_caller(b"has space").is_none());
        assert!(RequestId::from_caller(b"\"quoted\"").is_none());
        assert!(RequestId::from_caller(b"line\nbreak").is_none());
        assert!(RequestId::from_caller("ünïcode".as_bytes()).is_none());
        assert!(RequestId::from_caller(&[b'a'; 129]).is_none());
        assert_eq!(RequestId::generate().as_str().len(), 32);
        assert_ne!(RequestId::generate(), RequestId::generate());
    }
}
