//! VINR for Rust: buyers as long-lived customers, cards vaulted once and charged again later,
//! off-session charges that stop in `requires_action` when the card wants 3-D Secure, and an
//! event for everything that happens.
//!
//! [`Vinr`] is the one handle a service holds.
//! [`Vinr::sandbox()`] runs the whole engine in-process (memory store, encrypted vault, the
//! test-card network, a clock a test can move), so a service's tests exercise every flow with no
//! server; a production service swaps the adapter and keeps its code.
//!
//! ```
//! use vinr::{CreateCustomer, CreatePayment, Vinr};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let vinr = Vinr::sandbox();
//! let ada = vinr
//!     .customers()
//!     .create(CreateCustomer { email: Some("ada@example.com".into()), ..Default::default() })
//!     .await?;
//! let card = vinr.test_helpers().attach_card(&ada.id, "4242 4242 4242 4242", 12, 2034).await?;
//! let payment = vinr
//!     .payments()
//!     .create(CreatePayment {
//!         amount: 2500,
//!         currency: "EUR".into(),
//!         customer_id: Some(ada.id.clone()),
//!         payment_method_id: Some(card.id.clone()),
//!         off_session: true,
//!         ..Default::default()
//!     })
//!     .await?;
//! assert_eq!(payment.status, vinr::PaymentStatus::Succeeded);
//! # Ok::<(), vinr::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Layout
//! - [`Vinr`], [`VinrBuilder`]: the handle and how to make one ([`Vinr::sandbox`] in-process;
//!   with the default `client` feature, `Vinr::new` and `Vinr::with_base_url` over HTTP
//!   through `HttpClient`).
//! - [`Customers`], [`Payments`], [`Setups`], [`WebhookEndpoints`], [`Events`],
//!   [`TestHelpers`], [`Hosted`]: the parts of the API, reached from the handle.
//! - Re-exports: the objects ([`Customer`], [`PaymentMethod`], [`Payment`], [`Setup`],
//!   [`Event`], …), the ids, the request parameters and the one [`Error`] type.
//! - Webhooks: in-process handles deliver them with the dispatcher of `vinr serve`, on demand
//!   ([`TestHelpers::deliver_webhooks`]) or in the background
//!   ([`Vinr::deliver_webhooks_in_background`]); [`webhooks`] (the `vinr-webhooks` crate) is
//!   the receiver's side: [`webhooks::Verifier`], the typed [`webhooks::Event`], the test
//!   harness and, with the `axum` feature, the `VerifiedEvent` extractor.
//!
//! # Receiving webhooks in a merchant's tests
//!
//! ```no_run
//! use vinr::{CreateCustomer, CreateWebhookEndpoint, Vinr};
//!
//! # async fn run() -> vinr::Result<()> {
//! let vinr = Vinr::sandbox();
//! let endpoint = vinr
//!     .webhook_endpoints()
//!     .create(CreateWebhookEndpoint {
//!         url: "http://127.0.0.1:8080/webhooks".into(), // the receiver under test
//!         events: vec!["*".into()],
//!     })
//!     .await?;
//! let secret = endpoint.secret.expect("shown at creation");
//! // … give `secret` to the receiver's `Verifier`, then act:
//! vinr.customers().create(CreateCustomer::default()).await?;
//! // Fan out, sign and POST everything due now, and record each attempt:
//! let report = vinr.test_helpers().deliver_webhooks().await?;
//! assert_eq!(report.delivered, 1); // customer.created
//! # Ok(())
//! # }
//! ```

mod delivery;

use std::sync::Arc;

use futures::Stream;
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_ports::api::VinrApi;
use vinr_ports::clock::Clock;
use vinr_ports::delivery::DeliveryStore;
use vinr_ports::ids::IdGenerator;
use vinr_ports::network::CardNetwork;
use vinr_ports::store::Store;
use vinr_ports::vault::CardVault;

pub use vinr_domain::card::{Brand, Funding};
pub use vinr_domain::customer::{Address, Customer, Metadata};
pub use vinr_domain::error::{
    CardErrorCode, DeclineCode, InvalidRequestCode, LastError, LastErrorCode,
};
pub use vinr_domain::event::EventType;
pub use vinr_domain::ids::{
    CustomerId, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
pub use vinr_domain::method::PaymentMethod;
pub use vinr_domain::money::{Currency, Money};
pub use vinr_domain::payment::{NextAction, Payment, PaymentStatus};
pub use vinr_domain::setup::{Setup, SetupStatus};
pub use vinr_domain::webhook::{WebhookEndpoint, WebhookSecret};
pub use vinr_engine::Engine as InProcessEngine;
pub use vinr_ports::error::AuthenticationCode;
pub use vinr_ports::event::{Event, EventData, EventObject};
pub use vinr_ports::params::{
    AttachTestCard, CardEntry, ChallengeOutcome, CreateCustomer, CreatePayment, CreateSetup,
    CreateWebhookEndpoint, Deleted, DeletedCustomer, ExpiringScan, HostedOutcome, HostedStage,
    HostedView, List, ListCustomers, ListEvents, ListParams, ListPayments, NetworkUpdate,
    RotateSecret, ScanResult, UpdateCustomer,
};
pub use vinr_ports::{Error, Mode, RequestContext};
pub use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
pub use vinr_store::clock::SystemClock;
/// The receiver's side of webhooks (the `vinr-webhooks` crate): [`webhooks::Verifier`], the
/// typed [`webhooks::Event`], [`webhooks::harness`], and with this crate's `axum` feature the
/// `webhooks::axum::VerifiedEvent` extractor.
pub use vinr_webhooks as webhooks;

pub use delivery::{DeliveryReport, WebhookWorker};
pub use vinr_ports::delivery::{AttemptRecord, DeliveryKey, DeliveryState, DeliveryStatus};
pub use vinr_webhooks::dispatch::{DispatcherConfig, RetrySchedule, StatsSnapshot};

#[cfg(feature = "client")]
pub use vinr_http::client::{ClientOptions, HttpClient};

/// Where [`Vinr::new`] finds the server when `VINR_API_BASE` is not set.
#[cfg(feature = "client")]
pub const DEFAULT_API_BASE: &str = "http://127.0.0.1:4242";

/// The result of every call.
pub type Result<T> = std::result::Result<T, Error>;

/// The handle to VINR: cheap to clone, `Send + Sync`, usable from many tasks.
#[derive(Clone)]
pub struct Vinr {
    api: Arc<dyn VinrApi>,
    engine: Option<Engine>,
    ctx: RequestContext,
    clock: Option<ManualClock>,
    network: Option<SandboxNetwork>,
    /// In-process handles only: what webhooks are delivered with.
    delivery: Option<Arc<delivery::InProcessDelivery>>,
}

impl std::fmt::Debug for Vinr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vinr")
            .field("mode", &self.ctx.mode)
            .field("in_process", &self.engine.is_some())
            .finish_non_exhaustive()
    }
}

impl Vinr {
    /// A complete in-process sandbox: memory store, a fresh AES-256-GCM vault, the test-card
    /// network, random ids, and a [`ManualClock`] that starts at the current time and moves
    /// only when the test moves it.
    pub fn sandbox() -> Vinr {
        Self::builder().build()
    }

    /// A builder that lets a test inject any port (a fixed clock, deterministic ids, a mock
    /// network, another store).
    pub fn builder() -> VinrBuilder {
        VinrBuilder::default()
    }

    /// A handle over the VINR server at `VINR_API_BASE` (default `http://127.0.0.1:4242`),
    /// authenticating with `secret_key` (`sk_test_…` for the sandbox, `sk_live_…` for live).
    ///
    /// The same code runs against [`Vinr::sandbox()`] in tests and against a server here: the
    /// calls, the objects and the typed [`Error`]s are the same. Every create carries an
    /// idempotency key (a fresh one per call unless [`Vinr::idempotent`] names one), and
    /// network failures, 409, 429 and 5xx are retried under that key.
    ///
    /// Fails when the URL or the key cannot be used (never echoing the key); nothing is sent
    /// until the first call.
    ///
    /// ```no_run
    /// # async fn run() -> vinr::Result<()> {
    /// let vinr = vinr::Vinr::new(&std::env::var("VINR_SECRET_KEY").unwrap_or_default())?;
    /// let ada = vinr.customers().create(Default::default()).await?;
    /// # let _ = ada;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "client")]
    pub fn new(secret_key: &str) -> Result<Vinr> {
        let base = std::env::var("VINR_API_BASE")
            .ok()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        Self::with_base_url(secret_key, &base)
    }

    /// A handle over the VINR server at `base_url`, authenticating with `secret_key`.
    ///
    /// ```
    /// let vinr = vinr::Vinr::with_base_url("sk_test_123", "http://127.0.0.1:4242")?;
    /// assert!(!format!("{vinr:?}").contains("sk_test_123"));
    /// # Ok::<(), vinr::Error>(())
    /// ```
    #[cfg(feature = "client")]
    pub fn with_base_url(secret_key: &str, base_url: &str) -> Result<Vinr> {
        let client = HttpClient::new(base_url, secret_key)?;
        let ctx = RequestContext {
            mode: client.mode(),
            // The server scopes idempotency keys by API key itself.
            scope: "http".to_owned(),
            idempotency_key: None,
            replay: None,
        };
        Ok(Self::from_api(Arc::new(client), ctx))
    }

    /// A handle over any implementation of the API (for example an HTTP client).
    pub fn from_api(api: Arc<dyn VinrApi>, ctx: RequestContext) -> Vinr {
        Vinr {
            api,
            engine: None,
            ctx,
            clock: None,
            network: None,
            delivery: None,
        }
    }

    /// The same handle, sending `key` as the idempotency key of its creates.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let vinr = vinr::Vinr::sandbox();
    /// let a = vinr.idempotent("signup-8821").customers().create(Default::default()).await?;
    /// let b = vinr.idempotent("signup-8821").customers().create(Default::default()).await?;
    /// assert_eq!(a.id, b.id);
    /// # Ok::<(), vinr::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn idempotent(&self, key: impl Into<String>) -> Vinr {
        let mut v = self.clone();
        v.ctx.idempotency_key = Some(key.into());
        v
    }

    /// Customers and their saved methods.
    pub fn customers(&self) -> Customers<'_> {
        Customers { vinr: self }
    }

    /// Payments.
    pub fn payments(&self) -> Payments<'_> {
        Payments { vinr: self }
    }

    /// Setups (saving a card through the hosted page).
    pub fn setups(&self) -> Setups<'_> {
        Setups { vinr: self }
    }

    /// Webhook endpoints.
    pub fn webhook_endpoints(&self) -> WebhookEndpoints<'_> {
        WebhookEndpoints { vinr: self }
    }

    /// The event log.
    pub fn events(&self) -> Events<'_> {
        Events { vinr: self }
    }

    /// The sandbox helpers.
    pub fn test_helpers(&self) -> TestHelpers<'_> {
        TestHelpers { vinr: self }
    }

    /// The hosted pages, as the buyer uses them (tests play the buyer through this).
    pub fn hosted(&self) -> Hosted<'_> {
        Hosted { vinr: self }
    }

    /// The sandbox clock, when this handle runs on one: move it to make setups expire and
    /// expiry notices fire, with no sleeping.
    pub fn clock(&self) -> Option<&ManualClock> {
        self.clock.as_ref()
    }

    /// The sandbox card network, when this handle runs on one (to count charges in tests).
    pub fn sandbox_network(&self) -> Option<&SandboxNetwork> {
        self.network.as_ref()
    }

    /// The in-process engine, when this handle runs one (for maintenance such as the
    /// recovery sweep or the daily expiry scan).
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// Delivers webhooks in the background, as `vinr serve` does: spawns the dispatcher's
    /// loop on the current tokio runtime, over this handle's store and clock. Events are sent
    /// about a second after they happen; a failed attempt is retried when the handle's clock
    /// reaches its next try (a [`ManualClock`] must be moved for that; build with
    /// [`SystemClock`] for a long-running service).
    ///
    /// Runs until the returned [`WebhookWorker`] is stopped or dropped.
    /// Fails outside a tokio runtime, over HTTP (the server delivers), and for an in-process
    /// handle with a custom store but no [`VinrBuilder::deliveries`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let vinr = vinr::Vinr::sandbox();
    /// let worker = vinr.deliver_webhooks_in_background()?;
    /// // … endpoints receive events as they happen …
    /// worker.stop().await;
    /// # Ok::<(), vinr::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn deliver_webhooks_in_background(&self) -> Result<WebhookWorker> {
        self.in_process_delivery()?.spawn()
    }

    /// The in-process delivery set-up, or why there is none.
    fn in_process_delivery(&self) -> Result<&delivery::InProcessDelivery> {
        self.delivery.as_deref().ok_or_else(|| {
            delivery::invalid(
                vinr_domain::error::InvalidRequestCode::ParameterInvalid,
                "deliveries",
                "this handle talks to a VINR server, which delivers webhooks itself",
            )
        })
    }

    fn ctx(&self) -> &RequestContext {
        &self.ctx
    }
}

/// Builds a [`Vinr`] over the in-process engine, with any port replaced.
///
/// ```
/// use vinr::{ManualClock, SequentialIds, Vinr};
/// let clock = ManualClock::default();
/// let vinr = Vinr::builder()
///     .manual_clock(clock.clone())
///     .ids(SequentialIds::new(42))
///     .public_url("https://pay.example.com")
///     .build();
/// assert!(vinr.clock().is_some());
/// ```
#[derive(Default)]
pub struct VinrBuilder {
    store: Option<Arc<dyn Store>>,
    deliveries: Option<Arc<dyn DeliveryStore>>,
    dispatch: Option<DispatcherConfig>,
    vault: Option<Arc<dyn CardVault>>,
    network: Option<Arc<dyn CardNetwork>>,
    sandbox_network: Option<SandboxNetwork>,
    clock: Option<Arc<dyn Clock>>,
    manual_clock: Option<ManualClock>,
    ids: Option<Arc<dyn IdGenerator>>,
    config: Option<EngineConfig>,
    mode: Option<Mode>,
}

impl VinrBuilder {
    /// Uses this store (default: a fresh memory store).
    ///
    /// The default memory store also keeps webhook deliveries; with another store, give its
    /// delivery side to [`deliveries`](Self::deliveries) to deliver webhooks in-process.
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Keeps webhook deliveries in this store, which must be the one given to
    /// [`store`](Self::store) (its events table is the outbox): the stores of `vinr-store` are
    /// cheap to clone, so `.store(s.clone()).deliveries(s)`.
    /// Default: the default memory store; none with a custom store.
    ///
    /// ```
    /// use vinr_store::memory::MemoryStore;
    /// let store = MemoryStore::new();
    /// let vinr = vinr::Vinr::builder().store(store.clone()).deliveries(store).build();
    /// # let _ = vinr;
    /// ```
    pub fn deliveries(mut self, deliveries: impl DeliveryStore) -> Self {
        self.deliveries = Some(Arc::new(deliveries));
        self
    }

    /// How in-process webhook delivery works (default: [`DispatcherConfig::default`], the
    /// schedule `1m,5m,30m,2h,6h,12h,24h,24h` with ±10 % jitter and a 10 s timeout). Invalid
    /// settings are reported by the first delivery call.
    pub fn webhook_dispatch(mut self, config: DispatcherConfig) -> Self {
        self.dispatch = Some(config);
        self
    }

    /// Uses this vault (default: a fresh AES-256-GCM vault with random keys).
    pub fn vault(mut self, vault: impl CardVault) -> Self {
        self.vault = Some(Arc::new(vault));
        self
    }

    /// Uses this card network (default: the sandbox test-card network).
    pub fn network(mut self, network: impl CardNetwork) -> Self {
        self.network = Some(Arc::new(network));
        self.sandbox_network = None;
        self
    }

    /// Uses this sandbox network and keeps a handle to it ([`Vinr::sandbox_network`]).
    pub fn sandbox_network(mut self, network: SandboxNetwork) -> Self {
        self.network = Some(Arc::new(network.clone()));
        self.sandbox_network = Some(network);
        self
    }

    /// Uses this clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self.manual_clock = None;
        self
    }

    /// Uses this manual clock and keeps a handle to it ([`Vinr::clock`]).
    pub fn manual_clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(Arc::new(clock.clone()));
        self.manual_clock = Some(clock);
        self
    }

    /// Uses this id generator (default: the operating system's random source).
    pub fn ids(mut self, ids: impl IdGenerator) -> Self {
        self.ids = Some(Arc::new(ids));
        self
    }

    /// The base URL of the hosted pages (default `http://127.0.0.1:4242`).
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        let mut config = self.config.take().unwrap_or_default();
        config.public_url = url.into();
        self.config = Some(config);
        self
    }

    /// Engine settings.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Sandbox (default) or live mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Builds the handle.
    pub fn build(self) -> Vinr {
        let (clock, manual): (Arc<dyn Clock>, Option<ManualClock>) =
            match (self.clock, self.manual_clock) {
                (Some(c), m) => (c, m),
                (None, _) => {
                    let m = ManualClock::new(vinr_store::clock::SystemClock::new().now());
                    (Arc::new(m.clone()), Some(m))
                }
            };
        let (network, sandbox): (Arc<dyn CardNetwork>, Option<SandboxNetwork>) =
            match (self.network, self.sandbox_network) {
                (Some(n), s) => (n, s),
                (None, _) => {
                    let s = SandboxNetwork::new();
                    (Arc::new(s.clone()), Some(s))
                }
            };
        let (store, deliveries): (Arc<dyn Store>, Option<Arc<dyn DeliveryStore>>) = match self.store
        {
            Some(store) => (store, self.deliveries),
            None => {
                let memory = vinr_store::memory::MemoryStore::new();
                let deliveries = self.deliveries.unwrap_or_else(|| Arc::new(memory.clone()));
                (Arc::new(memory), Some(deliveries))
            }
        };
        let delivery = delivery::InProcessDelivery::new(
            deliveries,
            Arc::clone(&clock),
            self.dispatch.unwrap_or_default(),
        );
        let engine = Engine::new(
            Ports {
                store,
                vault: self
                    .vault
                    .unwrap_or_else(|| Arc::new(vinr_store::vault::AesVault::random())),
                network,
                clock,
                ids: self
                    .ids
                    .unwrap_or_else(|| Arc::new(vinr_store::ids::OsRandomIds::new())),
            },
            self.config.unwrap_or_default(),
        );
        let mode = self.mode.unwrap_or(Mode::Test);
        Vinr {
            api: Arc::new(engine.clone()),
            engine: Some(engine),
            ctx: RequestContext {
                mode,
                scope: format!("in-process-{mode:?}"),
                idempotency_key: None,
                replay: None,
            },
            clock: manual,
            network: sandbox,
            delivery: Some(Arc::new(delivery)),
        }
    }
}

/// Customers and their saved methods: `vinr.customers()`.
#[derive(Debug, Clone, Copy)]
pub struct Customers<'a> {
    vinr: &'a Vinr,
}

impl Customers<'_> {
    /// Creates a customer.
    pub async fn create(&self, params: CreateCustomer) -> Result<Customer> {
        self.vinr.api.create_customer(self.vinr.ctx(), params).await
    }

    /// One customer.
    pub async fn retrieve(&self, id: &CustomerId) -> Result<Customer> {
        self.vinr.api.retrieve_customer(self.vinr.ctx(), id).await
    }

    /// Changes a customer (metadata merges; `default_method_id: Some(None)` clears the default).
    pub async fn update(&self, id: &CustomerId, params: UpdateCustomer) -> Result<Customer> {
        self.vinr
            .api
            .update_customer(self.vinr.ctx(), id, params)
            .await
    }

    /// Deletes a customer and detaches its methods.
    pub async fn delete(&self, id: &CustomerId) -> Result<DeletedCustomer> {
        self.vinr.api.delete_customer(self.vinr.ctx(), id).await
    }

    /// One page of customers (filter by `email`), newest first.
    pub async fn list(&self, params: ListCustomers) -> Result<List<Customer>> {
        self.vinr.api.list_customers(self.vinr.ctx(), params).await
    }

    /// Every customer matching `params`, following `startingAfter` page by page.
    pub fn list_all(
        &self,
        params: ListCustomers,
    ) -> impl Stream<Item = Result<Customer>> + Send + 'static {
        let vinr = self.vinr.clone();
        paginate(
            params.starting_after.clone(),
            move |after| {
                let vinr = vinr.clone();
                let params = ListCustomers {
                    starting_after: after,
                    ..params.clone()
                };
                async move { vinr.customers().list(params).await }
            },
            |c: &Customer| c.id.clone(),
        )
    }

    /// Starts saving a card: send the buyer to the setup's `checkout_url`.
    pub async fn setup_method(
        &self,
        customer: &CustomerId,
        return_url: impl Into<String>,
    ) -> Result<Setup> {
        let params = CreateSetup {
            return_url: return_url.into(),
        };
        self.vinr
            .api
            .create_setup(self.vinr.ctx(), customer, params)
            .await
    }

    /// The customer's saved methods (first page of up to 100).
    pub async fn list_methods(&self, customer: &CustomerId) -> Result<List<PaymentMethod>> {
        let params = ListParams {
            limit: Some(100),
            starting_after: None,
        };
        self.vinr
            .api
            .list_methods(self.vinr.ctx(), customer, params)
            .await
    }

    /// One saved method.
    pub async fn retrieve_method(
        &self,
        customer: &CustomerId,
        id: &PaymentMethodId,
    ) -> Result<PaymentMethod> {
        self.vinr
            .api
            .retrieve_method(self.vinr.ctx(), customer, id)
            .await
    }

    /// Detaches a method now and for ever.
    pub async fn detach_method(
        &self,
        customer: &CustomerId,
        id: &PaymentMethodId,
    ) -> Result<PaymentMethod> {
        self.vinr
            .api
            .detach_method(self.vinr.ctx(), customer, id)
            .await
    }
}

/// Payments: `vinr.payments()`.
#[derive(Debug, Clone, Copy)]
pub struct Payments<'a> {
    vinr: &'a Vinr,
}

impl Payments<'_> {
    /// Creates (and, with a method, charges) a payment. A decline is
    /// `Err(Error::Card { payment_id: Some(..), .. })`; a card that needs 3-D Secure gives
    /// `Ok` with `status == RequiresAction` and a `next_action`.
    pub async fn create(&self, params: CreatePayment) -> Result<Payment> {
        self.vinr.api.create_payment(self.vinr.ctx(), params).await
    }

    /// One payment.
    pub async fn retrieve(&self, id: &PaymentId) -> Result<Payment> {
        self.vinr.api.retrieve_payment(self.vinr.ctx(), id).await
    }

    /// One page of payments (filter by customer, status), newest first.
    pub async fn list(&self, params: ListPayments) -> Result<List<Payment>> {
        self.vinr.api.list_payments(self.vinr.ctx(), params).await
    }

    /// Every payment matching `params`, following `startingAfter` page by page.
    pub fn list_all(
        &self,
        params: ListPayments,
    ) -> impl Stream<Item = Result<Payment>> + Send + 'static {
        let vinr = self.vinr.clone();
        paginate(
            params.starting_after.clone(),
            move |after| {
                let vinr = vinr.clone();
                let params = ListPayments {
                    starting_after: after,
                    ..params.clone()
                };
                async move { vinr.payments().list(params).await }
            },
            |p: &Payment| p.id.clone(),
        )
    }

    /// Cancels a payment waiting for a card or a challenge.
    pub async fn cancel(&self, id: &PaymentId) -> Result<Payment> {
        self.vinr.api.cancel_payment(self.vinr.ctx(), id).await
    }
}

/// Setups: `vinr.setups()` (create them with [`Customers::setup_method`]).
#[derive(Debug, Clone, Copy)]
pub struct Setups<'a> {
    vinr: &'a Vinr,
}

impl Setups<'_> {
    /// One setup.
    pub async fn retrieve(&self, id: &SetupId) -> Result<Setup> {
        self.vinr.api.retrieve_setup(self.vinr.ctx(), id).await
    }

    /// Cancels an open setup.
    pub async fn cancel(&self, id: &SetupId) -> Result<Setup> {
        self.vinr.api.cancel_setup(self.vinr.ctx(), id).await
    }
}

/// Webhook endpoints: `vinr.webhook_endpoints()`.
#[derive(Debug, Clone, Copy)]
pub struct WebhookEndpoints<'a> {
    vinr: &'a Vinr,
}

impl WebhookEndpoints<'_> {
    /// Creates an endpoint; its `secret` is shown only in this answer.
    pub async fn create(&self, params: CreateWebhookEndpoint) -> Result<WebhookEndpoint> {
        self.vinr
            .api
            .create_webhook_endpoint(self.vinr.ctx(), params)
            .await
    }

    /// Lists endpoints.
    pub async fn list(
        &self,
        params: ListParams<WebhookEndpointId>,
    ) -> Result<List<WebhookEndpoint>> {
        self.vinr
            .api
            .list_webhook_endpoints(self.vinr.ctx(), params)
            .await
    }

    /// Deletes an endpoint.
    pub async fn delete(&self, id: &WebhookEndpointId) -> Result<Deleted<WebhookEndpointId>> {
        self.vinr
            .api
            .delete_webhook_endpoint(self.vinr.ctx(), id)
            .await
    }

    /// Gives an endpoint a new secret; the old one keeps signing during the overlap.
    pub async fn rotate_secret(
        &self,
        id: &WebhookEndpointId,
        params: RotateSecret,
    ) -> Result<WebhookEndpoint> {
        self.vinr
            .api
            .rotate_webhook_secret(self.vinr.ctx(), id, params)
            .await
    }
}

/// The event log: `vinr.events()`.
#[derive(Debug, Clone, Copy)]
pub struct Events<'a> {
    vinr: &'a Vinr,
}

impl Events<'_> {
    /// One page of events (filter by type), newest first.
    pub async fn list(&self, params: ListEvents) -> Result<List<Event>> {
        self.vinr.api.list_events(self.vinr.ctx(), params).await
    }

    /// One event.
    pub async fn retrieve(&self, id: &EventId) -> Result<Event> {
        self.vinr.api.retrieve_event(self.vinr.ctx(), id).await
    }
}

/// The sandbox helpers: `vinr.test_helpers()`.
#[derive(Debug, Clone, Copy)]
pub struct TestHelpers<'a> {
    vinr: &'a Vinr,
}

impl TestHelpers<'_> {
    /// Attaches a test card to a customer without the hosted flow and without authorization.
    pub async fn attach_card(
        &self,
        customer: &CustomerId,
        number: impl Into<String>,
        exp_month: u32,
        exp_year: i32,
    ) -> Result<PaymentMethod> {
        let params = AttachTestCard {
            number: number.into(),
            exp_month,
            exp_year,
            cvc: None,
        };
        self.vinr
            .api
            .attach_test_card(self.vinr.ctx(), customer, params)
            .await
    }

    /// Simulates the network auto-updater on a method.
    pub async fn network_update(
        &self,
        id: &PaymentMethodId,
        params: NetworkUpdate,
    ) -> Result<PaymentMethod> {
        self.vinr
            .api
            .network_update(self.vinr.ctx(), id, params)
            .await
    }

    /// Delivers the webhooks due now, in-process, exactly as `vinr serve` would: new events
    /// are fanned out to the matching endpoints, each delivery is signed by the endpoint's
    /// secrets (`x-vinr-signature`, timed by the handle's clock) and `POST`ed, and every
    /// attempt is recorded; rounds repeat until nothing is due (so events made by the
    /// receivers while handling a delivery go out too), at most 100 rounds.
    ///
    /// A failed attempt (no 2xx within 10 s) is retried on the schedule
    /// ([`VinrBuilder::webhook_dispatch`]): move the [`ManualClock`] past its delay (±10 %)
    /// and call this again.
    ///
    /// Fails over HTTP (the server delivers) and for a handle with a custom store but no
    /// [`VinrBuilder::deliveries`].
    pub async fn deliver_webhooks(&self) -> Result<DeliveryReport> {
        self.vinr.in_process_delivery()?.flush().await
    }

    /// An event's deliveries (one per endpoint it was sent to) with every attempt; in-process
    /// handles only, like [`deliver_webhooks`](Self::deliver_webhooks).
    pub async fn webhook_deliveries(&self, event: &EventId) -> Result<Vec<DeliveryState>> {
        self.vinr
            .in_process_delivery()?
            .store()?
            .deliveries(event)
            .await
            .map_err(|e| Error::internal(e.to_string()))
    }

    /// Runs the expiry scan as if today were `as_of`; returns how many notices it emitted.
    pub async fn expiring_scan(&self, as_of: chrono::NaiveDate) -> Result<u64> {
        let params = ExpiringScan { as_of };
        Ok(self
            .vinr
            .api
            .expiring_scan(self.vinr.ctx(), params)
            .await?
            .emitted)
    }
}

/// The hosted pages as the buyer uses them: `vinr.hosted()`. In production the buyer's
/// browser does this on the server's pages; in tests, this plays the buyer.
#[derive(Debug, Clone, Copy)]
pub struct Hosted<'a> {
    vinr: &'a Vinr,
}

impl Hosted<'_> {
    /// What the setup page shows.
    pub async fn setup_page(&self, id: &SetupId) -> Result<HostedView> {
        self.vinr.api.setup_page(id).await
    }

    /// Types a card on the setup page and submits it.
    pub async fn submit_setup_card(&self, id: &SetupId, card: CardEntry) -> Result<HostedOutcome> {
        self.vinr.api.submit_setup_card(id, card).await
    }

    /// Answers the setup's 3-D Secure challenge.
    pub async fn authenticate_setup(
        &self,
        id: &SetupId,
        outcome: ChallengeOutcome,
    ) -> Result<HostedOutcome> {
        self.vinr.api.authenticate_setup(id, outcome).await
    }

    /// What the payment page shows.
    pub async fn payment_page(&self, id: &PaymentId) -> Result<HostedView> {
        self.vinr.api.payment_page(id).await
    }

    /// Types a card on the payment page and submits it.
    pub async fn submit_payment_card(
        &self,
        id: &PaymentId,
        card: CardEntry,
    ) -> Result<HostedOutcome> {
        self.vinr.api.submit_payment_card(id, card).await
    }

    /// Answers the payment's 3-D Secure challenge.
    pub async fn authenticate_payment(
        &self,
        id: &PaymentId,
        outcome: ChallengeOutcome,
    ) -> Result<HostedOutcome> {
        self.vinr.api.authenticate_payment(id, outcome).await
    }
}

/// Follows `startingAfter` from page to page, yielding every item once.
fn paginate<T, Id, F, Fut>(
    start: Option<Id>,
    fetch: F,
    id_of: fn(&T) -> Id,
) -> impl Stream<Item = Result<T>> + Send + 'static
where
    T: Send + 'static,
    Id: Clone + Send + 'static,
    F: Fn(Option<Id>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<List<T>>> + Send + 'static,
{
    struct State<T, Id> {
        after: Option<Id>,
        buffer: std::collections::VecDeque<T>,
        more: bool,
    }
    let fetch = Arc::new(fetch);
    futures::stream::unfold(
        State {
            after: start,
            buffer: std::collections::VecDeque::new(),
            more: true,
        },
        move |mut st| {
            let fetch = Arc::clone(&fetch);
            async move {
                loop {
                    if let Some(item) = st.buffer.pop_front() {
                        st.after = Some(id_of(&item));
                        return Some((Ok(item), st));
                    }
                    if !st.more {
                        return None;
                    }
                    match fetch(st.after.clone()).await {
                        Ok(page) => {
                            st.more = page.has_more && !page.data.is_empty();
                            st.buffer.extend(page.data);
                        }
                        Err(e) => {
                            st.more = false;
                            return Some((Err(e), st));
                        }
                    }
                }
            }
        },
    )
}
