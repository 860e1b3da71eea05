//! Brute-force and scanning protection for client authentication
//! (RFC 6749 §2.3.1, OAuth 2.1 §2.4.1, SECURITY-CHECKLIST SEC-C06): after too
//! many failures in a window, a client id or a source address gets `429`
//! until the window ends. The source is the TCP peer, never a forwarded
//! header, so a spoofed `X-Forwarded-For` cannot reset a counter.
//!
//! Token scanning (RFC 7662 §4): an authenticated caller whose
//! introspections keep finding inactive tokens is slowed down the same way.
//!
//! The map is only touched when failures exist, so the success path of a
//! busy server takes no lock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::domain::UnixTime;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub window_seconds: i64,
    pub max_failures_per_client: u32,
    pub max_failures_per_address: u32,
    /// Inactive introspection answers one caller may get per window. High
    /// enough for a resource server that meets many expired tokens; a
    /// scanner guessing 256-bit tokens needs far more.
    pub max_inactive_introspections: u32,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            window_seconds: 60,
            max_failures_per_client: 20,
            max_failures_per_address: 100,
            max_inactive_introspections: 6_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Client(String),
    Address(IpAddr),
    Scanner(String),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: UnixTime,
    failures: u32,
}

/// Bounds the memory an attacker can make us spend on counters.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Default)]
pub struct FailureThrottle {
    policy: ThrottlePolicy,
    tracked: AtomicUsize,
    windows: Mutex<HashMap<Key, Window>>,
}

impl FailureThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self { policy, ..Default::default() }
    }

    /// Seconds to wait if this client id or address is over its limit.
    pub fn blocked(&self, client_id: Option<&str>, address: Option<IpAddr>, now: UnixTime) -> Option<u64> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let windows = self.windows.lock().expect("throttle lock poisoned");
        let over = |key: Key, limit: u32| {
            windows.get(&key).and_then(|w| {
                let ends = w.started.seconds() + self.policy.window_seconds;
                (w.failures >= limit && now.seconds() < ends).then(|| (ends - now.seconds()).max(1) as u64)
            })
        };
        let by_client =
            client_id.and_then(|id| over(Key::Client(id.to_owned()), self.policy.max_failures_per_client));
        let by_address = address.and_then(|ip| over(Key::Address(ip), self.policy.max_failures_per_address));
        by_client.max(by_address)
    }

    pub fn record_failure(&self, client_id: Option<&str>, address: Option<IpAddr>, now: UnixTime) {
        let keys =
            client_id.map(|id| Key::Client(id.to_owned())).into_iter().chain(address.map(Key::Address));
        self.count(keys, now);
    }

    /// Seconds to wait if this caller has had too many inactive answers.
    pub fn scanning(&self, caller: &str, now: UnixTime) -> Option<u64> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let windows = self.windows.lock().expect("throttle lock poisoned");
        let window = windows.get(&Key::Scanner(caller.to_owned()))?;
        let ends = window.started.seconds() + self.policy.window_seconds;
        (window.failures >= self.policy.max_inactive_introspections && now.seconds() < ends)
            .then(|| (ends - now.seconds()).max(1) as u64)
    }

    pub fn record_inactive(&self, caller: &str, now: UnixTime) {
        self.count(std::iter::once(Key::Scanner(caller.to_owned())), now);
    }

    fn count(&self, keys: impl Iterator<Item = Key>, now: UnixTime) {
        let mut windows = self.windows.lock().expect("throttle lock poisoned");
        if windows.len() >= MAX_TRACKED {
            let window = self.policy.window_seconds;
            windows.retain(|_, w| now.seconds() < w.started.seconds() + window);
        }
        for key in keys {
            if windows.len() >= MAX_TRACKED {
                break;
            }
            let window = windows.entry(key).or_insert(Window { started: now, failures: 0 });
            if now.seconds() >= window.started.seconds() + self.policy.window_seconds {
                *window = Window { started: now, failures: 0 };
            }
            window.failures = window.failures.saturating_add(1);
        }
        self.tracked.store(windows.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> UnixTime {
        UnixTime::from_seconds(seconds)
    }

    #[test]
    fn a_client_id_is_blocked_after_its_limit_until_the_window_ends() {
        let throttle =
            FailureThrottle::new(ThrottlePolicy { max_failures_per_client: 3, ..ThrottlePolicy::default() });
        for _ in 0..2 {
            throttle.record_failure(Some("c1"), None, at(1_000));
        }
        assert_eq!(throttle.blocked(Some("c1"), None, at(1_000)), None);
        throttle.record_failure(Some("c1"), None, at(1_010));
        assert_eq!(throttle.blocked(Some("c1"), None, at(1_010)), Some(50));
        assert_eq!(throttle.blocked(Some("c2"), None, at(1_010)), None, "other clients are unaffected");
        assert_eq!(throttle.blocked(Some("c1"), None, at(1_060)), None, "the window ends");
    }

    #[test]
    fn an_address_is_blocked_across_client_ids() {
        let throttle = FailureThrottle::new(ThrottlePolicy {
            max_failures_per_client: 100,
            max_failures_per_address: 5,
            ..ThrottlePolicy::default()
        });
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for n in 0..5 {
            throttle.record_failure(Some(&format!("random-{n}")), Some(ip), at(0));
        }
        assert!(throttle.blocked(Some("another"), Some(ip), at(1)).is_some());
        assert!(throttle.blocked(Some("another"), Some("192.0.2.8".parse().unwrap()), at(1)).is_none());
    }

    #[test]
    fn a_caller_meeting_too_many_inactive_tokens_is_slowed_down() {
        let throttle = FailureThrottle::new(ThrottlePolicy {
            max_inactive_introspections: 2,
            ..ThrottlePolicy::default()
        });
        throttle.record_inactive("rs", at(0));
        assert_eq!(throttle.scanning("rs", at(0)), None);
        throttle.record_inactive("rs", at(0));
        assert_eq!(throttle.scanning("rs", at(0)), Some(60));
        assert_eq!(throttle.scanning("other", at(0)), None);
        assert_eq!(throttle.scanning("rs", at(60)), None);
    }
}
