//! Every flow of `flows/` against the in-process sandbox: one test per flow, each on a fresh
//! `Vinr::sandbox()`; the clock flows on a sandbox whose clock starts at a fixed instant.

mod flows;

use chrono::{DateTime, Utc};
use vinr::{ManualClock, Vinr};

/// The clock flows start on the last day of a month, late in the day, so that month and day
/// arithmetic is exercised where it is easiest to get wrong.
#[allow(clippy::expect_used)] // a constant, valid instant
fn sandbox_with_clock() -> Vinr {
    let start = DateTime::<Utc>::from_timestamp(1_896_115_500, 0).expect("2030-01-31T18:45:00Z");
    Vinr::builder()
        .manual_clock(ManualClock::new(start))
        .build()
}

/// `group { flow, … }` → `mod group { #[tokio::test] async fn flow() { … } }`, each flow run on
/// a handle made by `$make`.
macro_rules! flows {
    ($make:path => $($group:ident { $($flow:ident),* $(,)? })*) => {
        $(mod $group {
            $(
                #[tokio::test]
                async fn $flow() {
                    crate::flows::$group::$flow(&$make()).await;
                }
            )*
        })*
    };
}

every_adapter_flow!(flows, vinr::Vinr::sandbox);

flows! { crate::sandbox_with_clock =>
    clock_flows {
        an_abandoned_setup_expires_after_24_hours_silently,
        a_setup_waiting_for_its_challenge_expires_after_24_hours,
        an_unpaid_payment_is_canceled_after_24_hours,
        a_payment_waiting_for_its_challenge_is_canceled_after_24_hours,
        a_card_is_noticed_before_it_lapses_and_refused_after,
    }
}
