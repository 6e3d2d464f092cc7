//! The flows of the seed page and of api.md §2–§6, written once against the public [`vinr::Vinr`]
//! facade, so that the in-process sandbox (`sandbox_flows.rs`) and, later, the HTTP client run
//! the very same checks.
//!
//! Each flow is `pub async fn <behaviour>(vinr: &Vinr)` on a fresh handle: it asserts with
//! `assert!`/`assert_eq!` and returns nothing (a panic is a failure).
//! The flows use only the facade (`customers()`, `payments()`, `setups()`, `hosted()`,
//! `test_helpers()`, `events()`, `webhook_endpoints()`, `idempotent(key)`); charge counts read
//! `sandbox_network()` when there is one and are skipped otherwise.
//! The flows in [`clock_flows`] move time through `vinr.clock()` and run in-process only.

// Several test binaries include this module and each uses only some of it; the flows are
// `pub` so that any of them can.
#![allow(unreachable_pub, dead_code)]
// Test code may panic (conventions.md); clippy's `allow-*-in-tests` covers only `#[test]`
// functions, not the flows they call.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod clock_flows;
pub mod customers;
pub mod events;
pub mod hosted_payments;
pub mod idempotency;
pub mod methods;
pub mod payments;
pub mod security;
pub mod setups;
pub mod support;
pub mod test_helpers;
pub mod webhooks;
