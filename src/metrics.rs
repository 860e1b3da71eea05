//! The server's metrics: one Prometheus registry per server (never a
//! global), so every server in a test process counts on its own. The names
//! and labels are part of the contract (docs/operations.md lists them);
//! labels take only values from bounded sets — route templates, registered
//! client ids, status codes — never a secret, a token or a raw path.

use prometheus::core::Collector;
use prometheus::{
    Encoder as _, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// `kind` label values of the throttles.
pub const THROTTLE_CLIENT_AUTH: &str = "client_auth";
pub const THROTTLE_SIGN_IN: &str = "sign_in";
pub const THROTTLE_INTROSPECTION_SCAN: &str = "introspection_scan";
pub const THROTTLE_USER_CODE: &str = "user_code";

/// `reason` label values of failed client authentications.
pub const AUTH_FAILURE_INVALID_CREDENTIALS: &str = "invalid_credentials";
pub const AUTH_FAILURE_UNKNOWN_CLIENT: &str = "unknown_client";

/// The `route` label of a request no route matched (scanners, typos): one
/// value, however many paths are tried.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Request-duration buckets, in seconds: a token is ~1 ms, a password
/// check ~100 ms, the statement timeout a few seconds.
const DURATION_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

pub struct Metrics {
    registry: Registry,
    /// Answers by route template, method and status.
    pub http_requests: IntCounterVec,
    /// Time from the request's head to its answer, by route template.
    pub http_duration: HistogramVec,
    /// Access tokens issued, by grant type, client and format.
    pub tokens_issued: IntCounterVec,
    /// Introspection answers, by calling client and whether active.
    pub introspections: IntCounterVec,
    /// Failed client authentications, by reason.
    pub client_auth_failures: IntCounterVec,
    /// Refresh tokens presented again after rotation (their grant is revoked).
    pub refresh_token_reuse: IntCounter,
    /// Requests turned away by a throttle, by throttle.
    pub throttled: IntCounterVec,
    /// Failures a throttle could not count because it already tracks as
    /// many sources as it may hold (its memory bound).
    pub throttle_untracked: IntCounterVec,
    /// 1 while the database answers, 0 otherwise (set at each scrape).
    pub db_up: IntGauge,
    /// The pool's connections by state, `idle` or `in_use` (set at each scrape).
    pub db_pool_connections: IntGaugeVec,
    /// When each signing key starts (or started) to sign, by state.
    pub signing_key_activation: GaugeVec,
    /// Rows the retention purge deleted, by table.
    pub purged_rows: IntCounterVec,
    /// Audit events dropped because the background queue was full.
    pub audit_dropped: IntCounter,
}

impl Metrics {
    #[expect(clippy::expect_used, reason = "the metric definitions are constants, built by every test")]
    pub fn new() -> Self {
        let registry = Registry::new();
        let counters = |name: &str, help: &str, labels: &[&str]| {
            register(&registry, IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric"))
        };
        let http_requests = counters(
            "tessera_http_requests_total",
            "HTTP answers by route template, method and status.",
            &["route", "method", "status"],
        );
        let http_duration = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "tessera_http_request_duration_seconds",
                    "Time to answer an HTTP request, by route template.",
                )
                .buckets(DURATION_BUCKETS.to_vec()),
                &["route"],
            )
            .expect("a valid metric"),
        );
        let tokens_issued = counters(
            "tessera_tokens_issued_total",
            "Access tokens issued, by grant type, client and token format.",
            &["grant_type", "client_id", "format"],
        );
        let introspections = counters(
            "tessera_introspections_total",
            "Introspection answers, by calling client and whether the token was active.",
            &["client_id", "active"],
        );
        let client_auth_failures = counters(
            "tessera_client_auth_failures_total",
            "Failed client authentications at the token, introspection and revocation endpoints.",
            &["reason"],
        );
        let refresh_token_reuse = register(
            &registry,
            IntCounter::new(
                "tessera_refresh_token_reuse_total",
                "Rotated refresh tokens presented again; each revoked its whole grant.",
            )
            .expect("a valid metric"),
        );
        let throttled = counters("tessera_throttled_total", "Requests refused by a throttle.", &["kind"]);
        let throttle_untracked = counters(
            "tessera_throttle_untracked_total",
            "Failures a throttle did not count because it holds as many sources as it may.",
            &["kind"],
        );
        let db_up = register(
            &registry,
            IntGauge::new("tessera_db_up", "1 when the database answered the last check, else 0.")
                .expect("a valid metric"),
        );
        let db_pool_connections = register(
            &registry,
            IntGaugeVec::new(
                Opts::new("tessera_db_pool_connections", "Database connections held by this node, by state."),
                &["state"],
            )
            .expect("a valid metric"),
        );
        let signing_key_activation = register(
            &registry,
            GaugeVec::new(
                Opts::new(
                    "tessera_signing_key_activation_timestamp_seconds",
                    "When each signing key starts or started to sign (unix seconds), by key id and state.",
                ),
                &["kid", "state"],
            )
            .expect("a valid metric"),
        );
        let purged_rows = counters(
            "tessera_purged_rows_total",
            "Rows deleted by the retention purge, by table.",
            &["table"],
        );
        let audit_dropped = register(
            &registry,
            IntCounter::new(
                "tessera_audit_events_dropped_total",
                "Audit events of failure paths dropped because the background queue was full.",
            )
            .expect("a valid metric"),
        );
        let build_info = register(
            &registry,
            IntGaugeVec::new(
                Opts::new("tessera_build_info", "Always 1; the version of this build is the label."),
                &["version"],
            )
            .expect("a valid metric"),
        );
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        // Known label values start at 0, so a rate or an alert on them
        // works before the first event.
        for reason in [AUTH_FAILURE_INVALID_CREDENTIALS, AUTH_FAILURE_UNKNOWN_CLIENT] {
            client_auth_failures.with_label_values(&[reason]);
        }
        for kind in [THROTTLE_CLIENT_AUTH, THROTTLE_SIGN_IN, THROTTLE_INTROSPECTION_SCAN, THROTTLE_USER_CODE]
        {
            throttled.with_label_values(&[kind]);
            throttle_untracked.with_label_values(&[kind]);
        }
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("the process collector is registered once");
        Self {
            registry,
            http_requests,
            http_duration,
            tokens_issued,
            introspections,
            client_auth_failures,
            refresh_token_reuse,
            throttled,
            throttle_untracked,
            db_up,
            db_pool_connections,
            signing_key_activation,
            purged_rows,
            audit_dropped,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// One answered HTTP request. `route` is the matched route template
    /// (or `UNMATCHED_ROUTE`), never the raw path.
    pub fn observe_request(&self, route: &str, method: &str, status: &str, seconds: f64) {
        let method = match method {
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => method,
            _ => "other",
        };
        self.http_requests.with_label_values(&[route, method, status]).inc();
        self.http_duration.with_label_values(&[route]).observe(seconds);
    }

    /// The database's state as a scrape sees it.
    pub fn observe_database(&self, up: bool, connections: u32, idle: usize) {
        self.db_up.set(i64::from(up));
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        self.db_pool_connections.with_label_values(&["idle"]).set(idle);
        self.db_pool_connections.with_label_values(&["in_use"]).set((i64::from(connections) - idle).max(0));
    }

    /// The signing keys as they stand now: a key that left the set (or
    /// changed state) loses its old series.
    /// Each key is its kid, its state and when it signs (unix seconds).
    pub fn observe_keys<'a>(&self, keys: impl IntoIterator<Item = (&'a str, &'a str, i64)>) {
        self.signing_key_activation.reset();
        for (kid, state, activates_at) in keys {
            #[allow(clippy::cast_precision_loss)] // unix seconds fit an f64's 53 bits
            let at = activates_at as f64;
            self.signing_key_activation.with_label_values(&[kid, state]).set(at);
        }
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(%error, "the metrics could not be rendered in full");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[expect(clippy::expect_used, reason = "each metric has its own name, registered once in Metrics::new")]
fn register<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    registry.register(Box::new(collector.clone())).expect("each metric is registered once");
    collector
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_the_contracts_names_and_no_unbounded_label() {
        let metrics = Metrics::new();
        metrics.observe_request("/oauth2/token", "BREW", "200", 0.002);
        metrics.tokens_issued.with_label_values(&["client_credentials", "c-1", "jwt"]).inc();
        metrics.observe_database(true, 5, 3);
        let text = metrics.render();
        assert!(text
            .contains(r#"tessera_http_requests_total{method="other",route="/oauth2/token",status="200"} 1"#));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket"));
        assert!(text.contains(
            r#"tessera_tokens_issued_total{client_id="c-1",format="jwt",grant_type="client_credentials"} 1"#
        ));
        assert!(text.contains(r#"tessera_db_pool_connections{state="in_use"} 2"#));
        assert!(text.contains("tessera_db_up 1"));
        assert!(text.contains(&format!(r#"tessera_build_info{{version="{}"}} 1"#, env!("CARGO_PKG_VERSION"))));
        assert!(text.contains("process_resident_memory_bytes"), "the process collector is registered");
    }
}
