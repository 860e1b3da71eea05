//! Brute-force and scanning protection (RFC 6749 §2.3.1, OAuth 2.1 §2.4.1),
//! built so that our defence is never
//! the attack: failures are counted per (principal, source) pair and per
//! source, **never per principal alone**. Someone who knows a client id or
//! a username can slow down their own guesses, not the real client or
//! person calling from elsewhere.
//!
//! - A pair (client id or account, source) gets `free` failures in a
//!   window; after that each attempt must wait twice as long as the one
//!   before (1 s, 2 s, 4 s … up to `max_delay`). The window restarts once
//!   it has passed.
//! - A source (an IPv4 address, or an IPv6 /64, what one host can change
//!   freely) that fails too often across principals is slowed down the
//!   same way, with its own limit.
//! - Token scanning (RFC 7662 §4): an authenticated caller whose
//!   introspections keep finding inactive tokens is slowed down too.
//!
//! The source is the TCP peer (or, behind trusted proxies, what they
//! report), never a header a client can set. The map holds at most
//! `max_tracked` counters: past that, new failures are not counted, which
//! is logged and counted in `tessera_throttle_untracked_total`, while every
//! counter already held keeps working. The success path of a busy server
//! takes no lock while no failure is tracked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;

use prometheus::IntCounter;

use crate::domain::UnixTime;

/// How many failures a key may have in a window before it waits, and the
/// longest wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub free: u32,
    pub max_delay_seconds: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub window_seconds: i64,
    /// Per (principal, source).
    pub per_pair: Limit,
    /// Per source, across principals.
    pub per_source: Limit,
    /// Inactive introspection answers one caller may get per window. High
    /// enough for a resource server that meets many expired tokens; a
    /// scanner guessing 256-bit tokens needs far more.
    pub max_inactive_introspections: u32,
    /// Counters held at most (the memory bound).
    pub max_tracked: usize,
}

impl ThrottlePolicy {
    /// Client authentication at the token, introspection and revocation
    /// endpoints: 20 failures per client id and source in a minute, 100 per
    /// source.
    pub const CLIENT_AUTHENTICATION: Self = Self {
        window_seconds: 60,
        per_pair: Limit { free: 20, max_delay_seconds: 60 },
        per_source: Limit { free: 100, max_delay_seconds: 60 },
        max_inactive_introspections: 6_000,
        max_tracked: MAX_TRACKED,
    };

    /// Sign-in with a password: 5 failures per account and source in 15
    /// minutes, then 1 s, 2 s, 4 s … up to 15 minutes between attempts; 50
    /// failures per source across accounts.
    pub const SIGN_IN: Self = Self {
        window_seconds: 900,
        per_pair: Limit { free: 5, max_delay_seconds: 900 },
        per_source: Limit { free: 50, max_delay_seconds: 900 },
        max_inactive_introspections: u32::MAX,
        max_tracked: MAX_TRACKED,
    };
}

impl ThrottlePolicy {
    /// User codes typed on the device verification page (RFC 8628 §5.1):
    /// 5 wrong codes per browser session and address in 15 minutes, then
    /// 1 s, 2 s, 4 s … up to 15 minutes; 20 per address across sessions.
    /// With 20^8 codes and a handful live, guessing one takes centuries.
    pub const USER_CODE: Self = Self {
        window_seconds: 900,
        per_pair: Limit { free: 5, max_delay_seconds: 900 },
        per_source: Limit { free: 20, max_delay_seconds: 900 },
        max_inactive_introspections: u32::MAX,
        max_tracked: MAX_TRACKED,
    };
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self::CLIENT_AUTHENTICATION
    }
}

/// Counters held at most by one throttle: about 100 bytes each, so the
/// bound is ~10 MiB per throttle.
pub const MAX_TRACKED: usize = 100_000;

/// Longest principal kept in a key: client ids and usernames are shorter;
/// an attacker's 16 KiB "client id" is not stored whole.
const MAX_PRINCIPAL_BYTES: usize = 256;

/// Where failures come from: an IPv4 address, or the /64 of an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, Source),
    Source(Source),
    Scanner(String),
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    window_started: UnixTime,
    last_failure: UnixTime,
    failures: u32,
}

impl Counter {
    /// Seconds to wait before the next attempt, if any.
    fn wait(&self, limit: Limit, window_seconds: i64, now: UnixTime) -> Option<u64> {
        let window_ends = self.window_started.seconds() + window_seconds;
        if now.seconds() >= window_ends || self.failures < limit.free {
            return None;
        }
        let doublings = (self.failures - limit.free).min(30);
        let delay = (1i64 << doublings).min(limit.max_delay_seconds).max(1);
        let until = (self.last_failure.seconds() + delay).min(window_ends);
        (now.seconds() < until).then(|| (until - now.seconds()).max(1) as u64)
    }
}

/// The counters a throttle reports to.
#[derive(Clone, Default)]
pub struct ThrottleCounters {
    pub throttled: Option<IntCounter>,
    pub untracked: Option<IntCounter>,
    /// Introspection callers slowed down for scanning.
    pub scanners: Option<IntCounter>,
}

#[derive(Default)]
pub struct FailureThrottle {
    policy: ThrottlePolicy,
    counters: ThrottleCounters,
    tracked: AtomicUsize,
    /// When the last "throttle full" warning was logged.
    warned_full_at: AtomicI64,
    windows: Mutex<HashMap<Key, Counter>>,
}

impl FailureThrottle {
    pub fn new(policy: ThrottlePolicy, counters: ThrottleCounters) -> Self {
        Self { policy, counters, ..Default::default() }
    }

    /// Seconds to wait before `principal` may be tried from `address`
    /// (by this pair's failures or the source's), if any.
    pub fn blocked(&self, principal: Option<&str>, address: Option<IpAddr>, now: UnixTime) -> Option<u64> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let source = address.map(Source::of)?;
        let windows = self.lock();
        let window = self.policy.window_seconds;
        let by_pair = principal.and_then(|p| {
            windows
                .get(&Key::Pair(principal_key(p), source))
                .and_then(|c| c.wait(self.policy.per_pair, window, now))
        });
        let by_source =
            windows.get(&Key::Source(source)).and_then(|c| c.wait(self.policy.per_source, window, now));
        let wait = by_pair.max(by_source);
        if wait.is_some() {
            if let Some(counter) = &self.counters.throttled {
                counter.inc();
            }
        }
        wait
    }

    /// Counts a failure of `principal` from `address` (pair and source).
    pub fn record_failure(&self, principal: Option<&str>, address: Option<IpAddr>, now: UnixTime) {
        let Some(source) = address.map(Source::of) else { return };
        let pair = principal.map(|p| Key::Pair(principal_key(p), source));
        self.count(pair.into_iter().chain(std::iter::once(Key::Source(source))), now);
    }

    /// A success forgets the pair's failures (not the source's).
    pub fn record_success(&self, principal: &str, address: Option<IpAddr>) {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Some(source) = address.map(Source::of) else { return };
        let mut windows = self.lock();
        windows.remove(&Key::Pair(principal_key(principal), source));
        self.tracked.store(windows.len(), Ordering::Relaxed);
    }

    /// Seconds to wait if this caller has had too many inactive answers.
    pub fn scanning(&self, caller: &str, now: UnixTime) -> Option<u64> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let limit = Limit { free: self.policy.max_inactive_introspections, max_delay_seconds: 60 };
        let windows = self.lock();
        let wait = windows
            .get(&Key::Scanner(principal_key(caller)))
            .and_then(|c| c.wait(limit, self.policy.window_seconds, now));
        if wait.is_some() {
            if let Some(counter) = &self.counters.scanners {
                counter.inc();
            }
        }
        wait
    }

    pub fn record_inactive(&self, caller: &str, now: UnixTime) {
        self.count(std::iter::once(Key::Scanner(principal_key(caller))), now);
    }

    fn count(&self, keys: impl Iterator<Item = Key>, now: UnixTime) {
        let mut windows = self.lock();
        let window = self.policy.window_seconds;
        if windows.len() >= self.policy.max_tracked {
            windows.retain(|_, c| now.seconds() < c.window_started.seconds() + window);
        }
        for key in keys {
            let full = windows.len() >= self.policy.max_tracked;
            let counter = match windows.get_mut(&key) {
                Some(counter) => counter,
                None if full => {
                    self.note_untracked(now);
                    continue;
                }
                None => windows.entry(key).or_insert(Counter {
                    window_started: now,
                    last_failure: now,
                    failures: 0,
                }),
            };
            if now.seconds() >= counter.window_started.seconds() + window {
                *counter = Counter { window_started: now, last_failure: now, failures: 0 };
            }
            counter.failures = counter.failures.saturating_add(1);
            counter.last_failure = now;
        }
        self.tracked.store(windows.len(), Ordering::Relaxed);
    }

    /// A failure that found the map full: counted, and logged once a minute.
    fn note_untracked(&self, now: UnixTime) {
        if let Some(counter) = &self.counters.untracked {
            counter.inc();
        }
        let last = self.warned_full_at.load(Ordering::Relaxed);
        if now.seconds() - last >= 60
            && self
                .warned_full_at
                .compare_exchange(last, now.seconds(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                max_tracked = self.policy.max_tracked,
                "the failure throttle holds as many counters as it may; new sources are not counted until old windows end"
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Counter>> {
        crate::sync::lock(&self.windows)
    }
}

/// The principal as stored in a key: at most `MAX_PRINCIPAL_BYTES`.
fn principal_key(principal: &str) -> String {
    if principal.len() <= MAX_PRINCIPAL_BYTES {
        return principal.to_owned();
    }
    let mut end = MAX_PRINCIPAL_BYTES;
    while !principal.is_char_boundary(end) {
        end -= 1;
    }
    principal[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> UnixTime {
        UnixTime::from_seconds(seconds)
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    fn throttle(per_pair: u32, per_source: u32) -> FailureThrottle {
        FailureThrottle::new(
            ThrottlePolicy {
                per_pair: Limit { free: per_pair, max_delay_seconds: 60 },
                per_source: Limit { free: per_source, max_delay_seconds: 60 },
                ..ThrottlePolicy::CLIENT_AUTHENTICATION
            },
            ThrottleCounters::default(),
        )
    }

    #[test]
    fn a_pair_waits_after_its_free_failures_and_the_wait_doubles() {
        let throttle = throttle(3, 100);
        let attacker = ip("192.0.2.66");
        for _ in 0..3 {
            assert_eq!(throttle.blocked(Some("c1"), attacker, at(1_000)), None);
            throttle.record_failure(Some("c1"), attacker, at(1_000));
        }
        assert_eq!(throttle.blocked(Some("c1"), attacker, at(1_000)), Some(1));
        assert_eq!(throttle.blocked(Some("c1"), attacker, at(1_001)), None, "one second later");
        throttle.record_failure(Some("c1"), attacker, at(1_001));
        assert_eq!(throttle.blocked(Some("c1"), attacker, at(1_001)), Some(2), "then two");
        throttle.record_failure(Some("c1"), attacker, at(1_003));
        assert_eq!(throttle.blocked(Some("c1"), attacker, at(1_003)), Some(4), "then four");
        assert_eq!(throttle.blocked(Some("c1"), attacker, at(1_060)), None, "the window ends");
    }

    #[test]
    fn the_real_caller_elsewhere_is_never_blocked_by_an_attackers_failures() {
        let throttle = throttle(3, 100);
        for _ in 0..40 {
            throttle.record_failure(Some("jira"), ip("127.0.0.2"), at(0));
        }
        assert!(throttle.blocked(Some("jira"), ip("127.0.0.2"), at(0)).is_some());
        assert_eq!(throttle.blocked(Some("jira"), ip("127.0.0.1"), at(0)), None);
        assert_eq!(throttle.blocked(Some("other"), ip("127.0.0.2"), at(0)), None, "a pair, not a source");
    }

    #[test]
    fn a_source_spraying_many_principals_is_slowed_down() {
        let throttle = throttle(100, 5);
        let attacker = ip("192.0.2.7");
        for n in 0..5 {
            throttle.record_failure(Some(&format!("random-{n}")), attacker, at(0));
        }
        assert!(throttle.blocked(Some("another"), attacker, at(0)).is_some());
        assert!(throttle.blocked(Some("another"), ip("192.0.2.8"), at(0)).is_none());
    }

    #[test]
    fn an_ipv6_host_is_one_source_across_its_slash_64() {
        let throttle = throttle(2, 100);
        throttle.record_failure(Some("c"), ip("2001:db8:1:2::1"), at(0));
        throttle.record_failure(Some("c"), ip("2001:db8:1:2:ffff::9"), at(0));
        assert!(throttle.blocked(Some("c"), ip("2001:db8:1:2:abcd::1"), at(0)).is_some());
        assert!(throttle.blocked(Some("c"), ip("2001:db8:1:3::1"), at(0)).is_none());
        assert_eq!(Source::of("::ffff:192.0.2.1".parse().unwrap()), Source::of("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn a_success_forgets_the_pair() {
        let throttle = throttle(2, 100);
        throttle.record_failure(Some("jane"), ip("192.0.2.1"), at(0));
        throttle.record_failure(Some("jane"), ip("192.0.2.1"), at(0));
        assert!(throttle.blocked(Some("jane"), ip("192.0.2.1"), at(0)).is_some());
        throttle.record_success("jane", ip("192.0.2.1"));
        assert!(throttle.blocked(Some("jane"), ip("192.0.2.1"), at(0)).is_none());
    }

    #[test]
    fn a_caller_meeting_too_many_inactive_tokens_is_slowed_down() {
        let throttle = FailureThrottle::new(
            ThrottlePolicy { max_inactive_introspections: 2, ..ThrottlePolicy::default() },
            ThrottleCounters::default(),
        );
        throttle.record_inactive("rs", at(0));
        assert_eq!(throttle.scanning("rs", at(0)), None);
        throttle.record_inactive("rs", at(0));
        assert_eq!(throttle.scanning("rs", at(0)), Some(1));
        assert_eq!(throttle.scanning("other", at(0)), None);
        assert_eq!(throttle.scanning("rs", at(60)), None);
    }

    #[test]
    fn past_its_bound_it_counts_what_it_cannot_track_and_keeps_what_it_holds() {
        let untracked = IntCounter::new("untracked", "test").unwrap();
        let throttle = FailureThrottle::new(
            ThrottlePolicy {
                max_tracked: 4,
                per_pair: Limit { free: 1, max_delay_seconds: 60 },
                ..ThrottlePolicy::default()
            },
            ThrottleCounters { untracked: Some(untracked.clone()), ..ThrottleCounters::default() },
        );
        throttle.record_failure(Some("a"), ip("192.0.2.1"), at(0)); // pair + source
        throttle.record_failure(Some("b"), ip("192.0.2.2"), at(0)); // pair + source: full
        throttle.record_failure(Some("c"), ip("192.0.2.3"), at(0)); // neither fits
        assert_eq!(untracked.get(), 2);
        assert!(throttle.blocked(Some("a"), ip("192.0.2.1"), at(0)).is_some(), "held counters still work");
        // Once the old windows have ended, there is room again.
        throttle.record_failure(Some("c"), ip("192.0.2.3"), at(61));
        assert!(throttle.blocked(Some("c"), ip("192.0.2.3"), at(61)).is_some());
        assert_eq!(untracked.get(), 2);
    }

    #[test]
    fn an_oversized_principal_is_stored_cut_short() {
        let long = "é".repeat(1_000);
        assert!(principal_key(&long).len() <= MAX_PRINCIPAL_BYTES);
        assert_eq!(principal_key("short"), "short");
    }
}
