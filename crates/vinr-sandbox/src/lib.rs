//! The sandbox adapters of VINR: a card network that follows the test-card table, a clock that
//! only moves when told, and reproducible ids.
//!
//! These implement the driven ports of `vinr-ports` without touching the outside world, so
//! `Vinr::sandbox()` and the engine's tests run hermetically and deterministically.
//!
//! # Layout
//! - [`network`]: [`SandboxNetwork`], the [`CardNetwork`](vinr_ports::network::CardNetwork) of
//!   the sandbox: answers from `vinr_domain::testcards`, one answer per attempt id, 3-D Secure
//!   challenges, charge counters and fault injection for tests of callers; optionally kept in
//!   an append-only file so that its memory outlives a crash of the server using it.
//! - [`journal`]: that file ([`JournalError`] when it cannot be used).
//! - [`clock`]: [`ManualClock`], a [`Clock`](vinr_ports::clock::Clock) set and advanced by hand.
//! - [`ids`]: [`SequentialIds`], a deterministic [`IdGenerator`](vinr_ports::ids::IdGenerator)
//!   for tests.
//!
//! ```
//! use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
//!
//! let network = SandboxNetwork::new();
//! let handle = network.clone(); // shares the same memory
//! assert_eq!(handle.approved_charges(), 0);
//! let _clock = ManualClock::default();
//! let _ids = SequentialIds::new(42);
//! ```

pub mod clock;
pub mod ids;
pub mod journal;
pub mod network;

pub use clock::ManualClock;
pub use ids::SequentialIds;
pub use journal::JournalError;
pub use network::SandboxNetwork;
