//! The server's metrics: one Prometheus registry per server (never a
//! global), so every server in a test process counts on its own. The names
//! and labels are part of the contract; labels take only values from a
//! fixed set, never a secret, a token or an unbounded string.

use prometheus::{Encoder as _, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

/// `kind` label values of the throttles.
pub const THROTTLE_CLIENT_AUTH: &str = "client_auth";
pub const THROTTLE_SIGN_IN: &str = "sign_in";
pub const THROTTLE_INTROSPECTION_SCAN: &str = "introspection_scan";

pub struct Metrics {
    registry: Registry,
    /// Requests turned away by a throttle, by throttle.
    pub throttled: IntCounterVec,
    /// Failures a throttle could not count because it already tracks as
    /// many sources as it may hold (its memory bound).
    pub throttle_untracked: IntCounterVec,
    /// Failed client authentications, by reason.
    pub client_auth_failures: IntCounterVec,
    /// Audit events dropped because the background queue was full.
    pub audit_dropped: IntCounter,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, label: &str| {
            let vec = IntCounterVec::new(Opts::new(name, help), &[label]).expect("a valid metric");
            registry.register(Box::new(vec.clone())).expect("registered once");
            vec
        };
        let throttled = counter_vec("tessera_throttled_total", "Requests refused by a throttle.", "kind");
        let throttle_untracked = counter_vec(
            "tessera_throttle_untracked_total",
            "Failures a throttle did not count because it holds as many sources as it may.",
            "kind",
        );
        let client_auth_failures = counter_vec(
            "tessera_client_auth_failures_total",
            "Failed client authentications at the token, introspection and revocation endpoints.",
            "reason",
        );
        let audit_dropped = IntCounter::new(
            "tessera_audit_events_dropped_total",
            "Audit events of failure paths dropped because the background queue was full.",
        )
        .expect("a valid metric");
        registry.register(Box::new(audit_dropped.clone())).expect("registered once");
        Self { registry, throttled, throttle_untracked, client_auth_failures, audit_dropped }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
