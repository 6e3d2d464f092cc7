//! What the engine's integration tests share: an engine over the sandbox adapters (with any
//! port swapped for a mock), a customer with a saved test card, and readers of the store.
//!
//! Every test file uses a different subset of these helpers.
#![allow(dead_code)]
// Test support: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::FutureExt;
use tokio::sync::Notify;
use vinr_domain::event::EventType;
use vinr_domain::ids::{AttemptId, CustomerId, PaymentMethodId};
use vinr_domain::payment::PaymentRecord;
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_ports::api::{CustomersApi, SandboxApi};
use vinr_ports::event::Event;
use vinr_ports::network::{AuthorizationRequest, CardNetwork, NetworkAnswer, NetworkError};
use vinr_ports::params::{AttachTestCard, CreateCustomer, CreatePayment};
use vinr_ports::store::{PageRequest, Store};
use vinr_ports::{Error, Mode, RequestContext};
use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::AesVault;

/// The succeeding visa.
pub(crate) const VISA: &str = "4242424242424242";
/// Requires 3-D Secure every time (`requires_action` off-session).
pub(crate) const THREE_DS_ALWAYS: &str = "4000000000003220";

/// The sandbox adapters the engine was built over, kept to inspect and steer them.
#[derive(Clone)]
pub(crate) struct Handles {
    /// The memory store (shared with the engine unless a test swapped the store).
    pub(crate) store: MemoryStore,
    /// The sandbox network (shared with the engine unless a test swapped the network).
    pub(crate) network: SandboxNetwork,
    /// The clock.
    pub(crate) clock: ManualClock,
    /// The id source.
    pub(crate) ids: SequentialIds,
}

/// An engine over the sandbox adapters, and handles on them.
pub(crate) struct Sandbox {
    pub(crate) engine: Engine,
    pub(crate) store: MemoryStore,
    pub(crate) network: SandboxNetwork,
    pub(crate) clock: ManualClock,
    pub(crate) ids: SequentialIds,
}

impl Sandbox {
    /// Every port a sandbox adapter: `MemoryStore`, `AesVault::random()`, `SandboxNetwork`,
    /// `ManualClock`, `SequentialIds`.
    pub(crate) fn new() -> Self {
        Self::with(|_, _| {})
    }

    /// The sandbox adapters, with `adjust` free to swap any port (it sees the handles, so a
    /// swapped port can wrap or delegate to them).
    pub(crate) fn with(adjust: impl FnOnce(&Handles, &mut Ports)) -> Self {
        Self::with_config(EngineConfig::default(), adjust)
    }

    /// As [`Sandbox::with`], with these settings.
    pub(crate) fn with_config(
        config: EngineConfig,
        adjust: impl FnOnce(&Handles, &mut Ports),
    ) -> Self {
        let h = Handles {
            store: MemoryStore::new(),
            network: SandboxNetwork::new(),
            clock: ManualClock::default(),
            ids: SequentialIds::new(7),
        };
        let mut ports = Ports {
            store: Arc::new(h.store.clone()),
            vault: Arc::new(AesVault::random()),
            network: Arc::new(h.network.clone()),
            clock: Arc::new(h.clock.clone()),
            ids: Arc::new(h.ids.clone()),
        };
        adjust(&h, &mut ports);
        Self {
            engine: Engine::new(ports, config),
            store: h.store,
            network: h.network,
            clock: h.clock,
            ids: h.ids,
        }
    }

    /// Every event of the sandbox, of one type or all, newest first.
    pub(crate) async fn events(&self, kind: Option<EventType>) -> Vec<Event> {
        events(&self.store, kind).await
    }

    /// How many events of this type were written.
    pub(crate) async fn count(&self, kind: EventType) -> usize {
        self.events(Some(kind)).await.len()
    }

    /// Every payment record of the sandbox, newest first.
    pub(crate) async fn payments(&self) -> Vec<PaymentRecord> {
        payments(&self.store).await
    }
}

/// A sandbox request context.
pub(crate) fn ctx() -> RequestContext {
    RequestContext::sandbox()
}

/// A sandbox request context with this idempotency key.
pub(crate) fn keyed(key: &str) -> RequestContext {
    RequestContext::sandbox().with_idempotency_key(key)
}

/// Creates a customer.
pub(crate) async fn customer(engine: &Engine) -> CustomerId {
    engine
        .create_customer(
            &ctx(),
            CreateCustomer {
                email: Some("ada@example.com".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id
}

/// Creates a customer and attaches the test card `number` (expiring 12/2034) with the helper.
pub(crate) async fn customer_with_card(
    engine: &Engine,
    number: &str,
) -> (CustomerId, PaymentMethodId) {
    let customer = customer(engine).await;
    let method = engine
        .attach_test_card(&ctx(), &customer, test_card(number))
        .await
        .unwrap();
    (customer, method.id)
}

/// The helper's parameters for a test card expiring 12/2034.
pub(crate) fn test_card(number: &str) -> AttachTestCard {
    AttachTestCard {
        number: number.into(),
        exp_month: 12,
        exp_year: 2034,
        cvc: None,
    }
}

/// An off-session charge of `amount` EUR cents on a saved method.
pub(crate) fn off_session(
    customer: &CustomerId,
    method: &PaymentMethodId,
    amount: i64,
) -> CreatePayment {
    CreatePayment {
        amount,
        currency: "eur".into(),
        customer_id: Some(customer.clone()),
        payment_method_id: Some(method.clone()),
        off_session: true,
        description: Some("Order #4471".into()),
        metadata: Some(BTreeMap::from([("order".to_owned(), "4471".to_owned())])),
        ..Default::default()
    }
}

/// Every event of the store (sandbox mode), of one type or all, newest first.
pub(crate) async fn events(store: &MemoryStore, kind: Option<EventType>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    loop {
        let page = store
            .events(
                Mode::Test,
                kind,
                PageRequest {
                    limit: 100,
                    starting_after: out.last().map(|e| e.id.clone()),
                },
            )
            .await
            .unwrap();
        out.extend(page.items);
        if !page.has_more {
            return out;
        }
    }
}

/// Every payment record of the store (sandbox mode), newest first.
pub(crate) async fn payments(store: &MemoryStore) -> Vec<PaymentRecord> {
    let mut out: Vec<PaymentRecord> = Vec::new();
    loop {
        let page = store
            .payments(
                Mode::Test,
                None,
                None,
                PageRequest {
                    limit: 100,
                    starting_after: out.last().map(|p| p.payment.id.clone()),
                },
            )
            .await
            .unwrap();
        out.extend(page.items);
        if !page.has_more {
            return out;
        }
    }
}

/// Runs a future that is ready at once (the memory store's and the sandbox network's are),
/// for mocks that delegate to them from their synchronous `returning` closures.
pub(crate) fn ready<T>(f: impl Future<Output = T>) -> T {
    f.now_or_never()
        .expect("the delegated call was not ready at once")
}

/// Whether `e` is `Error::Internal`.
pub(crate) fn is_internal(e: &Error) -> bool {
    matches!(e, Error::Internal { .. })
}

/// The JSON of a value, to compare responses as the wire would.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap()
}

/// A sandbox network whose `authorize` stops until the test releases it, so a request can be
/// held between the phases of a charge.
#[derive(Clone)]
pub(crate) struct GatedNetwork {
    inner: SandboxNetwork,
    /// Notified when an `authorize` call arrives.
    pub(crate) entered: Arc<Notify>,
    /// Notify once per held call to let it through.
    pub(crate) release: Arc<Notify>,
}

impl GatedNetwork {
    /// A gate in front of `inner`.
    pub(crate) fn new(inner: SandboxNetwork) -> Self {
        Self {
            inner,
            entered: Arc::new(Notify::new()),
            release: Arc::new(Notify::new()),
        }
    }
}

#[async_trait]
impl CardNetwork for GatedNetwork {
    async fn authorize(
        &self,
        request: AuthorizationRequest,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.entered.notify_one();
        self.release.notified().await;
        self.inner.authorize(request).await
    }

    async fn complete_challenge(
        &self,
        attempt: &AttemptId,
        passed: bool,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.inner.complete_challenge(attempt, passed).await
    }

    async fn attempt_result(
        &self,
        attempt: &AttemptId,
    ) -> Result<Option<NetworkAnswer>, NetworkError> {
        self.inner.attempt_result(attempt).await
    }
}
