//! The `Clock` port: the only way the engine learns the time.

use chrono::{DateTime, Utc};

/// Tells the time.
///
/// Contract: MUST be monotonic enough that two reads in one command never go backwards by more
/// than the platform clock does; the engine truncates readings to whole seconds.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}
