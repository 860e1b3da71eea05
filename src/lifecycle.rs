//! Where a node is in its life, for `/readyz`: starting (waiting for its
//! database), serving, or draining after SIGTERM. Liveness (`/healthz`)
//! never looks here: a node is alive from its first instant to its last.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Serving,
    Draining,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Serving => "serving",
            Self::Draining => "draining",
        }
    }
}

#[derive(Debug)]
pub struct Lifecycle {
    phase: AtomicU8,
    /// Requests being handled right now.
    in_flight: AtomicUsize,
}

/// Held while a request is handled (see `Lifecycle::enter`).
pub struct InFlight<'a>(&'a Lifecycle);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Lifecycle {
    pub fn new() -> Self {
        Self { phase: AtomicU8::new(0), in_flight: AtomicUsize::new(0) }
    }

    /// Counts a request as in flight until the guard is dropped.
    pub fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Waits until no request has been in flight for `quiet`, or `limit`
    /// has passed; true when it settled.
    pub async fn settled(&self, quiet: Duration, limit: Duration) -> bool {
        let started = Instant::now();
        let mut idle_since: Option<Instant> = None;
        while started.elapsed() < limit {
            if self.in_flight() == 0 {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= quiet {
                    return true;
                }
            } else {
                idle_since = None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Serving,
            _ => Phase::Draining,
        }
    }

    /// The database answered and everything is loaded.
    pub fn serving(&self) {
        // Never back from draining.
        let _ = self.phase.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire);
    }

    /// A stop was asked for: not ready from now on.
    pub fn drain(&self) {
        self.phase.store(2, Ordering::Release);
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_starts_serves_and_drains_but_never_serves_again() {
        let life = Lifecycle::new();
        assert_eq!(life.phase(), Phase::Starting);
        life.serving();
        assert_eq!(life.phase(), Phase::Serving);
        life.drain();
        life.serving();
        assert_eq!(life.phase(), Phase::Draining);
    }

    #[tokio::test]
    async fn settling_waits_for_requests_in_flight() {
        let life = std::sync::Arc::new(Lifecycle::new());
        let held = life.enter();
        assert_eq!(life.in_flight(), 1);
        assert!(
            !life.settled(Duration::from_millis(20), Duration::from_millis(60)).await,
            "one is in flight"
        );
        drop(held);
        assert!(life.settled(Duration::from_millis(20), Duration::from_secs(1)).await);
    }
}
