//! The dispatcher's counters, for the server's `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one dispatcher since it was built, shared through an `Arc` (see
/// [`Dispatcher::stats`](super::Dispatcher::stats)) so the server can read them while
/// [`Dispatcher::run`](super::Dispatcher::run) owns the dispatcher. Lock-free; read with
/// [`snapshot`](Self::snapshot).
#[derive(Debug, Default)]
pub struct DispatchStats {
    attempts: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    stale: AtomicU64,
    fanned_out: AtomicU64,
    store_errors: AtomicU64,
    purged_events: AtomicU64,
    last_lag_seconds: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Attempts made (sent, or failed to send), whether or not their record held.
    pub attempts: u64,
    /// Attempts answered 2xx and recorded: deliveries done.
    pub delivered: u64,
    /// Attempts that failed and were recorded with a retry to come.
    pub retried: u64,
    /// Attempts that failed with the schedule spent: deliveries failed for good.
    pub failed: u64,
    /// Attempts whose record another worker had already made (its lease had run out).
    pub stale: u64,
    /// Deliveries created by fan-out.
    pub fanned_out: u64,
    /// Store calls that failed (fan-out, claim, record, purge).
    pub store_errors: u64,
    /// Events purged after their retention.
    pub purged_events: u64,
    /// At the last claim: the longest time, in seconds, that an event claimed for its first
    /// attempt had waited since it was created (0 when that claim found nothing due): how far
    /// behind delivery runs.
    pub last_lag_seconds: u64,
}

impl DispatchStats {
    /// Reads every counter (each atomically; not all at one instant).
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            attempts: get(&self.attempts),
            delivered: get(&self.delivered),
            retried: get(&self.retried),
            failed: get(&self.failed),
            stale: get(&self.stale),
            fanned_out: get(&self.fanned_out),
            store_errors: get(&self.store_errors),
            purged_events: get(&self.purged_events),
            last_lag_seconds: get(&self.last_lag_seconds),
        }
    }

    pub(super) fn attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn delivered(&self) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn stale(&self) {
        self.stale.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn fanned_out(&self, n: u64) {
        self.fanned_out.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn purged(&self, n: u64) {
        self.purged_events.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn set_lag(&self, seconds: u64) {
        self.last_lag_seconds.store(seconds, Ordering::Relaxed);
    }
}
