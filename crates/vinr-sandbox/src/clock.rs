//! [`ManualClock`]: a [`Clock`] that only moves when told.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};
use vinr_ports::clock::Clock;

/// Where [`ManualClock::default`] starts: 2026-01-01T00:00:00Z.
pub const DEFAULT_START: DateTime<Utc> = match DateTime::from_timestamp(1_767_225_600, 0) {
    Some(t) => t,
    // Never taken: the timestamp is in range (a test checks the date).
    None => DateTime::<Utc>::MIN_UTC,
};

/// A [`Clock`] set and advanced by hand, never reading the OS clock, so tests of expiry scans,
/// timestamps and retries are deterministic.
///
/// Clones share the same time: advance one handle and every holder of a clone sees it.
///
/// ```
/// use chrono::Duration;
/// use vinr_ports::clock::Clock;
/// use vinr_sandbox::ManualClock;
///
/// let clock = ManualClock::default();
/// let engine_side = clock.clone();
/// clock.advance(Duration::days(30));
/// assert_eq!(engine_side.now().to_rfc3339(), "2026-01-31T00:00:00+00:00");
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the time by `by` (backwards if negative), saturating at the ends of chrono's range.
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now = now
            .checked_add_signed(by)
            .unwrap_or(if by < Duration::zero() {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            });
    }

    /// Sets the time to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.lock() = to;
    }

    /// The time the clock shows (the same as [`Clock::now`]).
    pub fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }

    /// The shared time; a poisoned lock is taken over, since every update is one assignment.
    fn lock(&self) -> MutexGuard<'_, DateTime<Utc>> {
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    /// A clock showing [`DEFAULT_START`], 2026-01-01T00:00:00Z.
    fn default() -> Self {
        Self::new(DEFAULT_START)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        ManualClock::now(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn default_starts_on_new_year_2026() {
        assert_eq!(DEFAULT_START, at(2026, 1, 1, 0, 0, 0));
        assert_eq!(Clock::now(&ManualClock::default()), at(2026, 1, 1, 0, 0, 0));
    }

    #[test]
    fn new_advance_set() {
        let clock = ManualClock::new(at(2030, 6, 15, 12, 0, 0));
        assert_eq!(clock.now(), at(2030, 6, 15, 12, 0, 0));
        assert_eq!(
            clock.now(),
            clock.now(),
            "the clock does not move by itself"
        );
        clock.advance(Duration::seconds(90));
        assert_eq!(clock.now(), at(2030, 6, 15, 12, 1, 30));
        clock.advance(Duration::days(-1));
        assert_eq!(clock.now(), at(2030, 6, 14, 12, 1, 30));
        clock.set(at(2027, 2, 28, 23, 59, 59));
        assert_eq!(clock.now(), at(2027, 2, 28, 23, 59, 59));
    }

    #[test]
    fn clones_share_the_time() {
        let clock = ManualClock::default();
        let port: Box<dyn Clock> = Box::new(clock.clone());
        clock.advance(Duration::hours(1));
        assert_eq!(port.now(), at(2026, 1, 1, 1, 0, 0));
    }

    #[test]
    fn advance_saturates() {
        let clock = ManualClock::default();
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
        clock.set(DEFAULT_START);
        clock.advance(Duration::MIN);
        assert_eq!(clock.now(), DateTime::<Utc>::MIN_UTC);
    }
}
