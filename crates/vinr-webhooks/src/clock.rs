//! The one OS clock read of this crate: the receiver's "now" for the axum extractor, which
//! is an adapter. Everything else takes time as an argument.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now, from the system clock (negative before 1970, saturating far out).
#[allow(clippy::disallowed_methods)] // The adapter that reads the OS clock.
pub(crate) fn system_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2023() {
        assert!(super::system_now() > 1_700_000_000);
    }
}
