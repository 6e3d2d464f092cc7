//! The ports of VINR: the traits between the engine and the world, and the wire types they
//! speak.
//!
//! Two families live here.
//! The **driving** side ([`api`]) is what a merchant can do: customers, setups, methods,
//! payments, webhook endpoints, events, the hosted card pages and the sandbox helpers.
//! `vinr-engine` implements it in-process; an HTTP client implements it over the wire, and the
//! facade `vinr` holds either.
//! The **driven** side is what the engine needs: [`store::Store`] (reads, plus one
//! [`store::WriteSet`] committed as a unit), [`vault::CardVault`], [`network::CardNetwork`],
//! [`clock::Clock`] and [`ids::IdGenerator`].
//!
//! Every port is `Send + Sync + 'static`, and its doc comment states the contract an adapter
//! MUST keep; the store contract suite in `vinr-store` checks those of the store.
//! With the `mocks` feature every port has a `mockall` mock (`MockStore`, `MockCardNetwork`, …).
//!
//! # Layout
//! - [`error`]: [`Error`], the one error type of the driving API, and its wire form.
//! - [`params`]: request parameters and response shapes of the driving API.
//! - [`api`]: the driving traits.
//! - [`event`]: the event envelope as delivered and listed.
//! - [`store`], [`vault`], [`network`], [`clock`], [`ids`]: the driven ports.

pub mod api;
pub mod clock;
pub mod delivery;
pub mod error;
pub mod event;
pub mod ids;
pub mod keys;
pub mod network;
pub mod params;
pub mod store;
pub mod vault;

pub use error::{Error, ErrorBody, ErrorType};

/// Sandbox (`sk_test_…`) or live (`sk_live_…`). Objects of one mode are invisible to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Sandbox: test cards only.
    Test,
    /// Live: real cards only.
    Live,
}

impl Mode {
    /// The `livemode` flag of objects in this mode.
    pub fn livemode(&self) -> bool {
        match self {
            Mode::Test => false,
            Mode::Live => true,
        }
    }
}

/// Who is asking, in which mode, and under which idempotency key.
///
/// `scope` separates idempotency keys of different API keys: the same key text sent with two
/// API keys names two different requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// Sandbox or live.
    pub mode: Mode,
    /// The idempotency scope (the API key's id).
    pub scope: String,
    /// The `Idempotency-Key` of a POST, if one was sent.
    pub idempotency_key: Option<String>,
    /// Set when the call replayed a stored outcome instead of running (the HTTP server
    /// answers `Idempotent-Replayed: true` then); `None` when nobody asks.
    pub replay: Option<ReplayProbe>,
}

/// Tells whoever holds it whether an idempotent call replayed a stored outcome.
///
/// ```
/// let probe = vinr_ports::ReplayProbe::default();
/// assert!(!probe.replayed());
/// probe.mark();
/// assert!(probe.replayed());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReplayProbe(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl ReplayProbe {
    /// Records that the call replayed.
    pub fn mark(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the call replayed.
    pub fn replayed(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl PartialEq for ReplayProbe {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ReplayProbe {}

impl RequestContext {
    /// A sandbox context with no idempotency key.
    pub fn sandbox() -> Self {
        Self {
            mode: Mode::Test,
            scope: "sandbox".to_owned(),
            idempotency_key: None,
            replay: None,
        }
    }

    /// The same context with an idempotency key.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}
