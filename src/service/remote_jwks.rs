//! Key sets fetched from a URL (a client's `jwks_uri`, a trusted issuer's
//! JWKS): cached per URL, fetched again when the cached set is older than
//! `REFRESH_AFTER_SECONDS` or a JWT names a key id it lacks — but never
//! more than once a minute per URL, so a stream of JWTs with made-up key
//! ids cannot turn Tessera into a flood against someone's server. A fetch
//! is bounded (5 s, 64 KiB), follows no redirect, and its failure is an
//! error for the caller to refuse the JWT with, never a 5xx.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::header::ACCEPT;

use crate::clock::Clock;
use crate::domain::{JwksUri, PublicJwks, UnixTime, MAX_JWKS_BYTES};
use crate::outbound::{self, Limits};

/// How long a fetched set is used before it is fetched again.
pub const REFRESH_AFTER_SECONDS: i64 = 300;
/// The least time between two fetches of one URL.
pub const MIN_FETCH_INTERVAL_SECONDS: i64 = 60;
/// The bounds of one fetch.
pub const FETCH_LIMITS: Limits = Limits { timeout: Duration::from_secs(5), max_body: MAX_JWKS_BYTES + 1 };

/// Why no key set is at hand: a sentence safe to send back as the reason a
/// JWT was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JwksUnavailable(pub String);

#[derive(Default)]
struct Entry {
    keys: Option<Arc<PublicJwks>>,
    fetched_at: Option<UnixTime>,
    attempted_at: Option<UnixTime>,
    /// Why the last fetch failed, while it is too soon to try again.
    failure: Option<String>,
    /// Held while a fetch is under way: requests that come meanwhile wait
    /// for its outcome rather than fetch again or be refused.
    gate: Arc<tokio::sync::Mutex<()>>,
}

pub struct RemoteJwks {
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<JwksUri, Entry>>,
}

/// What to do for one request, decided under the lock.
enum Plan {
    Use(Arc<PublicJwks>),
    Refuse(String),
    /// Fetch, holding the entry's gate.
    Fetch(tokio::sync::OwnedMutexGuard<()>),
    /// Wait for the fetch under way, then decide again.
    Wait(Arc<tokio::sync::Mutex<()>>),
}

impl RemoteJwks {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, entries: Mutex::new(HashMap::new()) }
    }

    /// The set at `url`, for a JWT whose header names `kid` (if any).
    pub async fn keys_for(
        &self,
        url: &JwksUri,
        kid: Option<&str>,
    ) -> Result<Arc<PublicJwks>, JwksUnavailable> {
        let now = self.clock.now();
        let mut plan = self.plan(url, kid, now, true);
        if let Plan::Wait(gate) = plan {
            drop(gate.lock().await);
            plan = self.plan(url, kid, now, false);
        }
        match plan {
            Plan::Use(keys) => Ok(keys),
            Plan::Refuse(why) => Err(JwksUnavailable(why)),
            Plan::Wait(_) => Err(JwksUnavailable("the key set is being fetched; try again".into())),
            Plan::Fetch(guard) => {
                let fetched = fetch(url).await;
                let mut entries = crate::sync::lock(&self.entries);
                let entry = entries.entry(url.clone()).or_default();
                let outcome = match fetched {
                    Ok(keys) => {
                        let keys = Arc::new(keys);
                        entry.keys = Some(Arc::clone(&keys));
                        entry.fetched_at = Some(now);
                        entry.failure = None;
                        Ok(keys)
                    }
                    Err(why) => {
                        entry.failure = Some(why.clone());
                        Err(JwksUnavailable(why))
                    }
                };
                drop(guard);
                outcome
            }
        }
    }

    /// Decides under the lock; `may_fetch` is false once a request has
    /// waited for a fetch (it takes that fetch's outcome).
    fn plan(&self, url: &JwksUri, kid: Option<&str>, now: UnixTime, may_fetch: bool) -> Plan {
        let mut entries = crate::sync::lock(&self.entries);
        let entry = entries.entry(url.clone()).or_default();
        let fresh = entry.fetched_at.is_some_and(|at| now.seconds() - at.seconds() < REFRESH_AFTER_SECONDS);
        let knows_kid = |keys: &PublicJwks| {
            kid.is_none_or(|kid| keys.keys().iter().any(|k| k.kid.as_deref() == Some(kid)))
        };
        if let Some(keys) = entry.keys.as_ref().filter(|keys| fresh && knows_kid(keys)) {
            return Plan::Use(Arc::clone(keys));
        }
        let guard = match Arc::clone(&entry.gate).try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => return Plan::Wait(Arc::clone(&entry.gate)),
        };
        let too_soon =
            entry.attempted_at.is_some_and(|at| now.seconds() - at.seconds() < MIN_FETCH_INTERVAL_SECONDS);
        match (&entry.keys, too_soon) {
            (Some(keys), true) if entry.failure.is_none() => Plan::Use(Arc::clone(keys)),
            (_, true) => Plan::Refuse(entry.failure.clone().unwrap_or_else(|| {
                "the key set was fetched less than a minute ago and has no such key".to_owned()
            })),
            (_, false) if may_fetch => {
                entry.attempted_at = Some(now);
                Plan::Fetch(guard)
            }
            (_, false) => Plan::Refuse("the key set has no such key".to_owned()),
        }
    }
}

async fn fetch(url: &JwksUri) -> Result<PublicJwks, String> {
    let headers = [(ACCEPT, "application/json, application/jwk-set+json".to_owned())];
    let fetched = outbound::get(url.as_str(), &headers, FETCH_LIMITS, "the JWKS URL")
        .await
        .map_err(|error| format!("the key set could not be fetched: {error}"))?;
    match fetched.status {
        200 => {}
        300..=399 => {
            return Err(format!(
                "the JWKS URL answered {} (a redirect); redirects are not followed: register the final URL",
                fetched.status
            ))
        }
        status => return Err(format!("the JWKS URL answered {status}, not 200")),
    }
    if fetched.truncated {
        return Err(format!("the key set is larger than {} KiB", MAX_JWKS_BYTES / 1024));
    }
    let text = String::from_utf8(fetched.body).map_err(|_| "the key set is not UTF-8 text".to_owned())?;
    PublicJwks::parse(&text).map_err(|error| format!("the key set at the JWKS URL is not usable: {error}"))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::clock::ManualClock;

    const RSA_N: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    /// A JWKS URL on loopback answering with whatever the test sets, and
    /// counting the requests.
    struct Publisher {
        url: JwksUri,
        answer: Arc<Mutex<String>>,
        requests: Arc<AtomicUsize>,
    }

    async fn publisher() -> Publisher {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let answer = Arc::new(Mutex::new(String::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (shared, counter) = (Arc::clone(&answer), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let reply = crate::sync::lock(&shared).clone();
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        Publisher { url: JwksUri::parse(&format!("http://127.0.0.1:{port}/jwks")).unwrap(), answer, requests }
    }

    impl Publisher {
        fn serve(&self, status: &str, body: &str) {
            *crate::sync::lock(&self.answer) = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }

        fn serve_kids(&self, kids: &[&str]) {
            let keys: Vec<String> = kids
                .iter()
                .map(|kid| format!("{{\"kty\":\"RSA\",\"kid\":\"{kid}\",\"n\":\"{RSA_N}\",\"e\":\"AQAB\"}}"))
                .collect();
            self.serve("200 OK", &format!("{{\"keys\":[{}]}}", keys.join(",")));
        }

        fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }
    }

    fn kids(keys: &PublicJwks) -> Vec<String> {
        keys.keys().iter().filter_map(|k| k.kid.clone()).collect()
    }

    #[tokio::test]
    async fn a_set_is_fetched_once_and_again_for_an_unknown_kid_at_most_once_a_minute() {
        let site = publisher().await;
        site.serve_kids(&["a"]);
        let clock = ManualClock::new(UnixTime::from_seconds(1_000_000));
        let cache = RemoteJwks::new(Arc::new(clock.clone()));
        assert_eq!(kids(&cache.keys_for(&site.url, Some("a")).await.unwrap()), ["a"]);
        assert_eq!(kids(&cache.keys_for(&site.url, None).await.unwrap()), ["a"]);
        assert_eq!(site.requests(), 1, "cached");

        // The client rotates: a JWT names the new key.
        site.serve_kids(&["a", "b"]);
        clock.advance(61);
        assert_eq!(kids(&cache.keys_for(&site.url, Some("b")).await.unwrap()), ["a", "b"]);
        assert_eq!(site.requests(), 2);
        // Made-up key ids do not fetch again within the minute.
        for kid in ["x", "y", "z"] {
            assert_eq!(kids(&cache.keys_for(&site.url, Some(kid)).await.unwrap()), ["a", "b"]);
        }
        assert_eq!(site.requests(), 2, "at most one fetch a minute");
        clock.advance(61);
        cache.keys_for(&site.url, Some("x")).await.unwrap();
        assert_eq!(site.requests(), 3);

        // A set older than the refresh period is fetched again.
        clock.advance(REFRESH_AFTER_SECONDS);
        cache.keys_for(&site.url, Some("a")).await.unwrap();
        assert_eq!(site.requests(), 4);
    }

    #[tokio::test]
    async fn requests_during_a_fetch_wait_for_it_instead_of_failing() {
        let site = publisher().await;
        site.serve_kids(&["a"]);
        let clock = ManualClock::new(UnixTime::from_seconds(1_000_000));
        let cache = RemoteJwks::new(Arc::new(clock));
        let asks = (0..16).map(|_| cache.keys_for(&site.url, Some("a")));
        let answers = futures_util::future::join_all(asks).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(site.requests(), 1, "one fetch for all of them");
    }

    #[tokio::test]
    async fn every_failure_is_a_clear_refusal_and_is_not_retried_within_the_minute() {
        let site = publisher().await;
        let clock = ManualClock::new(UnixTime::from_seconds(1_000_000));
        let cache = RemoteJwks::new(Arc::new(clock.clone()));
        let cases = [
            ("500 Internal Server Error", "{}".to_owned(), "answered 500"),
            ("302 Found", String::new(), "redirects are not followed"),
            ("200 OK", "not json".to_owned(), "not usable: the JWK set is not JSON"),
            (
                "200 OK",
                "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}".to_owned(),
                "private member \"k\"",
            ),
            (
                "200 OK",
                format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(MAX_JWKS_BYTES)),
                "larger than 64 KiB",
            ),
        ];
        for (status, body, expected) in cases {
            site.serve(status, &body);
            clock.advance(MIN_FETCH_INTERVAL_SECONDS);
            let before = site.requests();
            let error = cache.keys_for(&site.url, Some("a")).await.unwrap_err();
            assert!(error.0.contains(expected), "{status}: {}", error.0);
            // Asked again at once: the same reason, no new request.
            assert_eq!(cache.keys_for(&site.url, Some("a")).await.unwrap_err(), error);
            assert_eq!(site.requests(), before + 1, "{status}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_url_is_refused_with_the_cause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let cache = RemoteJwks::new(Arc::new(ManualClock::new(UnixTime::from_seconds(1))));
        let url = JwksUri::parse(&format!("http://127.0.0.1:{port}/jwks")).unwrap();
        let error = cache.keys_for(&url, None).await.unwrap_err();
        assert!(error.0.starts_with("the key set could not be fetched"), "{}", error.0);
    }
}
