//! [`SystemClock`]: the [`Clock`] that reads the operating system's clock.
//!
//! This is the one place of the crate allowed to read the OS clock (the workspace's tidy rule
//! admits clock reads only in files whose path contains `clock`).

use chrono::{DateTime, Utc};
use vinr_ports::clock::Clock;

/// The wall clock of the machine, in UTC.
///
/// It is as monotonic as the platform clock, which is what the port asks; the engine truncates
/// readings to whole seconds itself.
///
/// ```
/// use vinr_ports::clock::Clock;
/// use vinr_store::clock::SystemClock;
///
/// let clock = SystemClock;
/// let a = clock.now();
/// assert!(clock.now() >= a - chrono::Duration::seconds(1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock.
    pub fn new() -> Self {
        Self
    }
}

impl Clock for SystemClock {
    // The Clock adapter is the one place the OS clock may be read; clippy bans it elsewhere.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plausible_time() {
        let now = SystemClock::new().now();
        // 2024-01-01: any machine running this has a clock past it.
        assert!(now.timestamp() > 1_704_067_200);
    }
}
