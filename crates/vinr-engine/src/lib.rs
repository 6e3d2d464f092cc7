//! The VINR use cases: every operation of the API, in-process, over the ports.
//!
//! [`Engine`] implements the whole driving API of `vinr-ports` ([`vinr_ports::api::VinrApi`]).
//! It knows only ports: a [`Store`](vinr_ports::store::Store), a
//! [`CardVault`](vinr_ports::vault::CardVault), a [`CardNetwork`](vinr_ports::network::CardNetwork),
//! a [`Clock`](vinr_ports::clock::Clock) and an [`IdGenerator`](vinr_ports::ids::IdGenerator).
//!
//! # The write path
//! Every command **reads** what it needs (each object carries its `version`), **decides** with
//! the pure domain (next states, events, the idempotency record), and **commits** one
//! [`WriteSet`](vinr_ports::store::WriteSet) guarded by the versions it read.
//! A guard that fails means a concurrent change; the command runs again from its reads.
//! A charge crosses the network, so it has two phases: phase 1 commits the payment in
//! `processing` with its idempotency key reserved; the network authorizes keyed by the attempt
//! id (asking twice gives one answer and one charge); phase 2 commits the outcome and its events.
//! [`Engine::recover_stuck_payments`] finishes payments a crash left between the phases.
//!
//! # Layout
//! - `core`: the engine's own error, the retry loop, ids, time, events, idempotency.
//! - `customers`, `methods`, `setups`, `payments`, `webhooks`, `events`, `sandbox`: one module
//!   per part of the API.
//! - `cards`: checking a card typed on a hosted page and vaulting it.
//! - `hosted`: the buyer's steps on the hosted pages as the server sees them (whether a step
//!   was a failed card attempt), and locking a link.

use std::sync::Arc;

use vinr_domain::limits::AttemptLimit;
use vinr_ports::clock::Clock;
use vinr_ports::ids::IdGenerator;
use vinr_ports::network::CardNetwork;
use vinr_ports::store::Store;
use vinr_ports::vault::CardVault;

mod cards;
mod core;
mod customers;
mod events;
mod hosted;
mod maintenance;
mod methods;
mod payments;
mod sandbox;
mod setups;
mod webhooks;

pub use crate::core::EngineError;
pub use crate::hosted::{HostedLink, HostedStep};
pub use crate::payments::RecoveryReport;

/// The driven ports the engine runs on.
#[derive(Clone)]
pub struct Ports {
    /// Where everything is kept.
    pub store: Arc<dyn Store>,
    /// Seals card numbers.
    pub vault: Arc<dyn CardVault>,
    /// Authorizes cards.
    pub network: Arc<dyn CardNetwork>,
    /// Tells the time.
    pub clock: Arc<dyn Clock>,
    /// Supplies randomness for ids and secrets.
    pub ids: Arc<dyn IdGenerator>,
}

/// Settings of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The base of hosted page URLs (`checkoutUrl`, `nextAction.url`), without a trailing slash.
    pub public_url: String,
    /// The expiry notice fires when a card lapses at most this many days ahead.
    pub expiry_notice_days: i64,
    /// How many times a command runs again after losing a race before it gives up.
    pub max_attempts: usize,
    /// How many failed card attempts a hosted link (a setup's or a payment's card page) takes
    /// before it locks (`canceled`, `lastError.code = "too_many_attempts"`).
    pub hosted_max_attempts: AttemptLimit,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:4242".to_owned(),
            expiry_notice_days: 30,
            max_attempts: 32,
            hosted_max_attempts: AttemptLimit::DEFAULT,
        }
    }
}

/// The in-process implementation of the whole VINR API. Cheap to clone.
///
/// ```
/// # use std::sync::Arc;
/// # use vinr_engine::{Engine, EngineConfig, Ports};
/// # use vinr_ports::api::CustomersApi;
/// # use vinr_ports::params::CreateCustomer;
/// # use vinr_ports::RequestContext;
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let engine = Engine::new(
///     Ports {
///         store: Arc::new(vinr_store::memory::MemoryStore::new()),
///         vault: Arc::new(vinr_store::vault::AesVault::random()),
///         network: Arc::new(vinr_sandbox::SandboxNetwork::new()),
///         clock: Arc::new(vinr_sandbox::ManualClock::default()),
///         ids: Arc::new(vinr_sandbox::SequentialIds::new(7)),
///     },
///     EngineConfig::default(),
/// );
/// let ctx = RequestContext::sandbox();
/// let ada = engine
///     .create_customer(&ctx, CreateCustomer { email: Some("ada@example.com".into()), ..Default::default() })
///     .await
///     .unwrap();
/// assert!(ada.id.as_str().starts_with("cust_"));
/// # });
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    ports: Ports,
    config: EngineConfig,
}

impl Engine {
    /// An engine over these ports.
    pub fn new(ports: Ports, config: EngineConfig) -> Self {
        let mut config = config;
        while config.public_url.ends_with('/') {
            config.public_url.pop();
        }
        Self {
            inner: Arc::new(Inner { ports, config }),
        }
    }

    /// The ports the engine runs on.
    pub fn ports(&self) -> &Ports {
        &self.inner.ports
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }
}
