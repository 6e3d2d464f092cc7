//! The engine over [`PostgresStore`]: one idempotency key raced by many tasks (on one pool and
//! on two pools, as two servers would), a detach racing charges of its method, no card number
//! anywhere in the database, recovery of a charge whose answer was lost, and a vault key
//! rotation.
//!
//! Needs `VINR_TEST_POSTGRES_URL` (see `postgres_support`).
#![cfg(feature = "postgres")]
// Test code: a broken rule fails the test by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use postgres_support::TestDb;
use tokio::sync::Barrier;
use vinr_domain::InvalidRequestCode;
use vinr_domain::customer::Customer;
use vinr_domain::event::EventType;
use vinr_domain::ids::{
    AttemptId, CustomerId, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_domain::method::{Fingerprint, SealedCard, StoredMethod};
use vinr_domain::payment::{Payment, PaymentRecord, PaymentStatus};
use vinr_domain::setup::SetupRecord;
use vinr_domain::testcards::TEST_CARDS;
use vinr_domain::webhook::EndpointRecord;
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_ports::api::{CustomersApi, HostedApi, MethodsApi, PaymentsApi, SandboxApi, SetupsApi};
use vinr_ports::event::Event;
use vinr_ports::network::{AuthorizationRequest, CardNetwork, NetworkAnswer, NetworkError};
use vinr_ports::params::{
    AttachTestCard, CardEntry, ChallengeOutcome, CreateCustomer, CreatePayment, CreateSetup,
    HostedOutcome,
};
use vinr_ports::store::{
    CardOwner, IdempotencyRecord, Page, PageRequest, SealedCardRef, Store, StoreError, Write,
    WriteSet,
};
use vinr_ports::{Error, Mode, RequestContext};
use vinr_sandbox::{ManualClock, SandboxNetwork};
use vinr_store::ids::OsRandomIds;
use vinr_store::postgres::PostgresStore;
use vinr_store::vault::{AesVault, VaultKey};

const TASKS: usize = 32;
const VISA: &str = "4242424242424242";

/// What every engine of one test shares: the network is one (it remembers attempts), the
/// vault keys are one (any server opens any card), and so is the time.
#[derive(Clone)]
struct World {
    network: SandboxNetwork,
    vault: Arc<AesVault>,
    clock: ManualClock,
}

impl World {
    fn new() -> Self {
        Self {
            network: SandboxNetwork::new(),
            vault: Arc::new(vault_with(&[("k1", 1)], "k1")),
            clock: ManualClock::default(),
        }
    }

    /// An engine over `store`, as a server on its own pool would be.
    fn engine(&self, store: impl Store) -> Engine {
        self.engine_with(Arc::new(store), Arc::new(self.network.clone()))
    }

    fn engine_with(&self, store: Arc<dyn Store>, network: Arc<dyn CardNetwork>) -> Engine {
        Engine::new(
            Ports {
                store,
                vault: self.vault.clone(),
                network,
                clock: Arc::new(self.clock.clone()),
                ids: Arc::new(OsRandomIds::new()),
            },
            EngineConfig::default(),
        )
    }
}

/// A vault holding keys `(id, byte)` (each key 32 times `byte`), writing with `active`.
fn vault_with(keys: &[(&str, u8)], active: &str) -> AesVault {
    let mut vault = AesVault::new(VaultKey::new(keys[0].0, [keys[0].1; 32]), [7; 32]);
    for (id, byte) in &keys[1..] {
        vault = vault.with_key(VaultKey::new(*id, [*byte; 32])).unwrap();
    }
    vault.set_active(active).unwrap();
    vault
}

fn ctx() -> RequestContext {
    RequestContext::sandbox()
}

fn keyed(key: &str) -> RequestContext {
    RequestContext::sandbox().with_idempotency_key(key)
}

async fn customer_with_card(engine: &Engine, number: &str) -> (CustomerId, PaymentMethodId) {
    let customer = engine
        .create_customer(
            &ctx(),
            CreateCustomer {
                email: Some("ada@example.com".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let method = engine
        .attach_test_card(&ctx(), &customer.id, test_card(number))
        .await
        .unwrap();
    (customer.id, method.id)
}

fn test_card(number: &str) -> AttachTestCard {
    AttachTestCard {
        number: number.into(),
        exp_month: 12,
        exp_year: 2034,
        cvc: None,
    }
}

fn off_session(customer: &CustomerId, method: &PaymentMethodId, amount: i64) -> CreatePayment {
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

/// Every event of a type (sandbox mode), newest first.
async fn events(store: &dyn Store, kind: EventType) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    loop {
        let page = store
            .events(
                Mode::Test,
                Some(kind),
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

/// Every payment (sandbox mode), newest first.
async fn payments(store: &dyn Store) -> Vec<PaymentRecord> {
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

/// Runs `TASKS` creates of one off-session payment under one key, spread over `engines`, all
/// released at once, and checks the outcome: one payment, one charge, one `payment.succeeded`;
/// each task got that payment or `IdempotencyKeyInUse`; a retry afterwards replays it.
async fn race_one_key(engines: &[Engine], store: &dyn Store, network: &SandboxNetwork) {
    let (cust, pm) = customer_with_card(&engines[0], VISA).await;
    let params = off_session(&cust, &pm, 2500);
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let engine = engines[i % engines.len()].clone();
            let (params, barrier) = (params.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                engine.create_payment(&keyed("one-key"), params).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }

    let stored = payments(store).await;
    assert_eq!(stored.len(), 1, "one payment for one key");
    let the_one = &stored[0].payment;
    assert_eq!(the_one.status, PaymentStatus::Succeeded);
    assert_eq!(network.approved_charges(), 1);
    assert_eq!(events(store, EventType::PaymentSucceeded).await.len(), 1);
    let mut got_it = 0;
    for r in &results {
        match r {
            Ok(p) => {
                assert_eq!(p, the_one);
                got_it += 1;
            }
            Err(Error::IdempotencyKeyInUse) => {}
            Err(other) => panic!("a racing task got {other:?}"),
        }
    }
    assert!(got_it >= 1, "the task that charged got its payment");
    for engine in engines {
        let replayed = engine
            .create_payment(&keyed("one-key"), params.clone())
            .await
            .unwrap();
        assert_eq!(&replayed, the_one);
    }
    assert_eq!(network.approved_charges(), 1);
}

/// (a) 32 tasks on one engine (one pool) create a payment under one key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_racing_one_key_charge_once() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let world = World::new();
    let store = db.store_with(16).await;
    let engine = world.engine(store.clone());
    race_one_key(&[engine], &store, &world.network).await;
}

/// (c) The same race across two engines on two pools (two servers on one database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_racing_one_key_charge_once() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let world = World::new();
    let (a, b) = (db.store_with(8).await, db.store_with(8).await);
    let engines = [world.engine(a.clone()), world.engine(b)];
    race_one_key(&engines, &a, &world.network).await;
}

/// The sandbox network, counting the authorizations that arrived.
struct CountingNetwork(SandboxNetwork, Arc<AtomicUsize>);

#[async_trait]
impl CardNetwork for CountingNetwork {
    async fn authorize(
        &self,
        request: AuthorizationRequest,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.authorize(request).await
    }

    async fn complete_challenge(
        &self,
        attempt: &AttemptId,
        passed: bool,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.0.complete_challenge(attempt, passed).await
    }

    async fn attempt_result(
        &self,
        attempt: &AttemptId,
    ) -> Result<Option<NetworkAnswer>, NetworkError> {
        self.0.attempt_result(attempt).await
    }
}

/// The PostgreSQL store, watching the write sets that use a method without changing it (a
/// charge's phase 1, guarded by `Write::Check`): how many began after the detach had
/// committed, and how many of those committed all the same (which must be none).
#[derive(Clone)]
struct Watched {
    inner: PostgresStore,
    detach_committed: Arc<AtomicBool>,
    late_checks: Arc<AtomicUsize>,
    late_checks_committed: Arc<AtomicUsize>,
}

#[async_trait]
impl Store for Watched {
    async fn customer(&self, mode: Mode, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        self.inner.customer(mode, id).await
    }
    async fn customers(
        &self,
        mode: Mode,
        email: Option<String>,
        page: PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        self.inner.customers(mode, email, page).await
    }
    async fn method(
        &self,
        mode: Mode,
        id: &PaymentMethodId,
    ) -> Result<Option<StoredMethod>, StoreError> {
        self.inner.method(mode, id).await
    }
    async fn customer_methods(
        &self,
        mode: Mode,
        customer: &CustomerId,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError> {
        self.inner.customer_methods(mode, customer, page).await
    }
    async fn method_by_fingerprint(
        &self,
        mode: Mode,
        customer: &CustomerId,
        fingerprint: &Fingerprint,
    ) -> Result<Option<StoredMethod>, StoreError> {
        self.inner
            .method_by_fingerprint(mode, customer, fingerprint)
            .await
    }
    async fn attached_methods(
        &self,
        mode: Mode,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError> {
        self.inner.attached_methods(mode, page).await
    }
    async fn payment(
        &self,
        mode: Mode,
        id: &PaymentId,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.inner.payment(mode, id).await
    }
    async fn payments(
        &self,
        mode: Mode,
        customer: Option<CustomerId>,
        status: Option<PaymentStatus>,
        page: PageRequest<PaymentId>,
    ) -> Result<Page<PaymentRecord>, StoreError> {
        self.inner.payments(mode, customer, status, page).await
    }
    async fn stuck_payments(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        self.inner.stuck_payments(before, limit).await
    }
    async fn setup(&self, mode: Mode, id: &SetupId) -> Result<Option<SetupRecord>, StoreError> {
        self.inner.setup(mode, id).await
    }
    async fn endpoint(
        &self,
        mode: Mode,
        id: &WebhookEndpointId,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        self.inner.endpoint(mode, id).await
    }
    async fn endpoints(
        &self,
        mode: Mode,
        page: PageRequest<WebhookEndpointId>,
    ) -> Result<Page<EndpointRecord>, StoreError> {
        self.inner.endpoints(mode, page).await
    }
    async fn event(&self, mode: Mode, id: &EventId) -> Result<Option<Event>, StoreError> {
        self.inner.event(mode, id).await
    }
    async fn events(
        &self,
        mode: Mode,
        kind: Option<EventType>,
        page: PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        self.inner.events(mode, kind, page).await
    }
    async fn idempotency(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.idempotency(scope, key).await
    }
    async fn commit(&self, writes: WriteSet) -> Result<(), StoreError> {
        let uses_a_method = writes
            .methods
            .iter()
            .any(|w| matches!(w, Write::Check { .. }));
        let late = uses_a_method && self.detach_committed.load(Ordering::SeqCst);
        if late {
            self.late_checks.fetch_add(1, Ordering::SeqCst);
        }
        let result = self.inner.commit(writes).await;
        if late && result.is_ok() {
            self.late_checks_committed.fetch_add(1, Ordering::SeqCst);
        }
        result
    }
    async fn cards_sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: usize,
    ) -> Result<Vec<SealedCardRef>, StoreError> {
        self.inner.cards_sealed_with_other_keys(key_id, limit).await
    }
    async fn replace_sealed_card(
        &self,
        owner: &CardOwner,
        current: &SealedCard,
        resealed: SealedCard,
    ) -> Result<bool, StoreError> {
        self.inner
            .replace_sealed_card(owner, current, resealed)
            .await
    }
    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_idempotency(before).await
    }
}

/// (b) A detach races 32 off-session charges of its method. Each charge succeeds or is
/// refused `payment_method_detached`; the network charged exactly the succeeded ones; no
/// charge whose phase 1 began after the detach committed gets through; and afterwards every
/// charge is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detach_racing_charges_of_its_method() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let world = World::new();
    let watched = Watched {
        inner: db.store_with(16).await,
        detach_committed: Arc::default(),
        late_checks: Arc::default(),
        late_checks_committed: Arc::default(),
    };
    let arrived = Arc::new(AtomicUsize::new(0));
    let network = CountingNetwork(world.network.clone(), arrived.clone());
    let engine = world.engine_with(Arc::new(watched.clone()), Arc::new(network));
    // Warm the pool first (its connections opened, their statements prepared), so the race
    // below is between commands and not between connection set-ups.
    let (warm_cust, warm_pm) = customer_with_card(&engine, VISA).await;
    let warm_ups: Vec<_> = (0..TASKS)
        .map(|i| {
            let engine = engine.clone();
            let params = off_session(&warm_cust, &warm_pm, 10 + i as i64);
            tokio::spawn(async move { engine.create_payment(&ctx(), params).await })
        })
        .collect();
    for w in warm_ups {
        w.await.unwrap().unwrap();
    }
    let warm_charges = world.network.approved_charges();
    let warm_events = events(&watched.inner, EventType::PaymentSucceeded)
        .await
        .len();
    arrived.store(0, Ordering::SeqCst);
    let (cust, pm) = customer_with_card(&engine, VISA).await;

    let barrier = Arc::new(Barrier::new(TASKS + 1));
    let charges: Vec<_> = (0..TASKS)
        .map(|i| {
            let (engine, barrier) = (engine.clone(), barrier.clone());
            let params = off_session(&cust, &pm, 100 + i as i64);
            tokio::spawn(async move {
                barrier.wait().await;
                // Staggered starts, 2 ms apart: some charges read the method before the detach,
                // some during it, some after.
                tokio::time::sleep(std::time::Duration::from_millis(2 * i as u64)).await;
                engine.create_payment(&ctx(), params).await
            })
        })
        .collect();
    let detach = {
        let (engine, barrier, cust, pm) =
            (engine.clone(), barrier.clone(), cust.clone(), pm.clone());
        let committed = watched.detach_committed.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            // Let a few charges get going first, so the detach lands in the middle of them.
            for _ in 0..10_000 {
                if arrived.load(Ordering::SeqCst) >= 4 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_micros(100)).await;
            }
            let detached = engine.detach_method(&ctx(), &cust, &pm).await;
            committed.store(true, Ordering::SeqCst);
            detached
        })
    };
    let mut succeeded: Vec<Payment> = Vec::new();
    let mut refused = 0;
    for c in charges {
        match c.await.unwrap() {
            Ok(p) => {
                assert_eq!(p.status, PaymentStatus::Succeeded);
                succeeded.push(p);
            }
            Err(Error::InvalidRequest {
                code: InvalidRequestCode::PaymentMethodDetached,
                ..
            }) => refused += 1,
            Err(other) => panic!("a racing charge got {other:?}"),
        }
    }
    let detached = detach.await.unwrap().unwrap();
    assert_eq!(detached.customer_id, None);
    assert_eq!(succeeded.len() + refused, TASKS);
    assert_eq!(
        watched.late_checks_committed.load(Ordering::SeqCst),
        0,
        "a charge that began after the detach committed got through ({} began late)",
        watched.late_checks.load(Ordering::SeqCst)
    );

    eprintln!(
        "detach race: {} charges succeeded, {refused} refused, {} phase-1 commits began after the detach",
        succeeded.len(),
        watched.late_checks.load(Ordering::SeqCst)
    );
    let store = &watched.inner;
    let charged = || world.network.approved_charges() - warm_charges;
    assert_eq!(charged(), succeeded.len() as u64);
    let stored: Vec<PaymentRecord> = payments(store)
        .await
        .into_iter()
        .filter(|r| r.payment.customer_id.as_ref() == Some(&cust))
        .collect();
    assert_eq!(
        stored.len(),
        succeeded.len(),
        "a refused charge stores no payment"
    );
    assert!(
        stored
            .iter()
            .all(|r| r.payment.status == PaymentStatus::Succeeded)
    );
    let paid = events(store, EventType::PaymentSucceeded).await.len() - warm_events;
    assert_eq!(paid, succeeded.len());
    assert_eq!(
        events(store, EventType::PaymentMethodDetached).await.len(),
        1
    );
    for amount in [1, 2, 3] {
        let after = engine
            .create_payment(&ctx(), off_session(&cust, &pm, amount))
            .await;
        assert!(
            matches!(
                after,
                Err(Error::InvalidRequest {
                    code: InvalidRequestCode::PaymentMethodDetached,
                    ..
                })
            ),
            "{after:?}"
        );
    }
    assert_eq!(charged(), succeeded.len() as u64);
}

/// (d) After every test card was saved with the helper and through the hosted setup page (and
/// typed on a hosted payment page, whose challenge is left open so the card stays pending),
/// no column of any table holds a card number, in any spelling.
#[tokio::test]
async fn no_table_holds_a_card_number() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let world = World::new();
    let store = db.store().await;
    let engine = world.engine(store.clone());
    // One customer per path: a card saved twice for one customer is one method.
    let mut customers = Vec::new();
    for email in [
        "helper@example.com",
        "setup@example.com",
        "payment@example.com",
    ] {
        let params = CreateCustomer {
            email: Some(email.into()),
            ..Default::default()
        };
        customers.push(engine.create_customer(&ctx(), params).await.unwrap().id);
    }
    let mut saved = 0;
    for card in TEST_CARDS {
        if engine
            .attach_test_card(&ctx(), &customers[0], test_card(card.number))
            .await
            .is_ok()
        {
            saved += 1;
        }
        let setup = engine
            .create_setup(
                &ctx(),
                &customers[1],
                CreateSetup {
                    return_url: "https://shop.example/saved".into(),
                },
            )
            .await
            .unwrap();
        let typed = CardEntry::new(card.number, "12/34", "987");
        if let Ok(HostedOutcome::Challenge { .. }) =
            engine.submit_setup_card(&setup.id, typed.clone()).await
        {
            let _ = engine
                .authenticate_setup(&setup.id, ChallengeOutcome::Complete)
                .await;
        }
        let payment = engine
            .create_payment(
                &ctx(),
                CreatePayment {
                    amount: 2500,
                    currency: "EUR".into(),
                    customer_id: Some(customers[2].clone()),
                    save_payment_method: true,
                    return_url: Some("https://shop.example/done".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let _ = engine.submit_payment_card(&payment.id, typed).await;
    }
    assert!(saved > 0, "no test card could be saved");
    let methods = db.count("payment_methods").await;
    assert!(
        methods > saved,
        "the setups saved no card ({methods} methods, {saved} attached)"
    );

    let mut forms: Vec<String> = Vec::new();
    for card in TEST_CARDS {
        let digits = card.number.to_owned();
        let grouped = digits
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        forms.extend([digits, grouped]);
    }
    let mut rows_seen = 0;
    let mut shows_a_last4 = false;
    for table in db.tables().await {
        let rows = db
            .raw
            .query(&format!("SELECT t::text FROM {table} t"), &[])
            .await
            .unwrap();
        for row in rows {
            let text: String = row.get(0);
            rows_seen += 1;
            // What may be shown is there, so the scan does read the card rows.
            shows_a_last4 |= text.contains("4242");
            for form in &forms {
                assert!(
                    !text.contains(form.as_str()),
                    "{table} holds the card number {form}"
                );
            }
        }
    }
    assert!(
        rows_seen > 3 * TEST_CARDS.len(),
        "the scan saw too little: {rows_seen} rows"
    );
    assert!(shows_a_last4, "no row shows even a last four");
    let pending: i64 = db
        .raw
        .query_one(
            "SELECT (SELECT count(*) FROM payments WHERE card_key_id IS NOT NULL) \
             + (SELECT count(*) FROM setups WHERE card_key_id IS NOT NULL)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        pending > 0,
        "no payment or setup holds a pending card, so none was scanned"
    );
}

/// (e) The network charged but its answer was lost: the payment stays `processing`. Another
/// server (a new engine on a new pool) recovers it with the network's remembered answer:
/// `succeeded`, charged once, one `payment.succeeded`; a retry under the key replays it.
#[tokio::test]
async fn a_lost_answer_is_recovered_by_another_server_without_charging_twice() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let world = World::new();
    let first = world.engine(db.store().await);
    let (cust, pm) = customer_with_card(&first, VISA).await;
    let params = off_session(&cust, &pm, 2500);
    world.network.fail_next_after_recording(1);
    let lost = first.create_payment(&keyed("lost"), params.clone()).await;
    assert!(matches!(lost, Err(Error::Internal { .. })), "{lost:?}");
    drop(first);

    let store = db.store().await;
    let stuck = payments(&store).await;
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].payment.status, PaymentStatus::Processing);
    assert_eq!(world.network.approved_charges(), 1);

    world.clock.advance(Duration::seconds(1));
    let second = world.engine(store.clone());
    assert_eq!(
        second
            .recover_stuck_payments(Duration::zero())
            .await
            .unwrap()
            .finished,
        1
    );
    let done = payments(&store).await.remove(0).payment;
    assert_eq!(done.status, PaymentStatus::Succeeded);
    assert_eq!(world.network.approved_charges(), 1);
    assert_eq!(events(&store, EventType::PaymentSucceeded).await.len(), 1);
    assert_eq!(
        second
            .recover_stuck_payments(Duration::zero())
            .await
            .unwrap()
            .finished,
        0
    );
    let replayed = second.create_payment(&keyed("lost"), params).await.unwrap();
    assert_eq!(replayed, done);
    assert_eq!(world.network.approved_charges(), 1);
}

/// A vault key rotation through the engine: every card (saved methods and a card pending on a
/// hosted payment) moves to the new key without a new version, and the cards still charge.
#[tokio::test]
async fn a_key_rotation_reencrypts_every_card() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let world = World::new();
    let store = db.store().await;
    let before = world.engine(store.clone());
    let (cust, pm) = customer_with_card(&before, VISA).await;
    let (_, other) = customer_with_card(&before, "5555555555554444").await;
    let hosted = before
        .create_payment(
            &ctx(),
            CreatePayment {
                amount: 900,
                currency: "EUR".into(),
                customer_id: Some(cust.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let outcome = before
        .submit_payment_card(
            &hosted.id,
            CardEntry::new("4000000000003220", "12/34", "987"),
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome, HostedOutcome::Challenge { .. }),
        "{outcome:?}"
    );
    let version = |m: Option<StoredMethod>| m.unwrap().method.version;
    let pm_version = version(store.method(Mode::Test, &pm).await.unwrap());
    assert_eq!(
        store
            .cards_sealed_with_other_keys("k2", 100)
            .await
            .unwrap()
            .len(),
        3
    );

    let rotated = World {
        vault: Arc::new(vault_with(&[("k1", 1), ("k2", 2)], "k2")),
        ..world.clone()
    };
    let after = rotated.engine(store.clone());
    assert_eq!(after.reencrypt_cards().await, Ok(3));
    assert_eq!(
        store.cards_sealed_with_other_keys("k2", 100).await,
        Ok(vec![])
    );
    let m = store.method(Mode::Test, &pm).await.unwrap().unwrap();
    assert_eq!(
        (m.sealed.key_id.as_str(), m.method.version),
        ("k2", pm_version)
    );
    let key: String = db
        .raw
        .query_one(
            "SELECT card_key_id FROM payment_methods WHERE id = $1",
            &[&other.to_string()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(key, "k2");

    // A server holding only the new key charges the re-encrypted card, and finishes the
    // hosted payment's challenge with its re-encrypted pending card.
    let only_new = World {
        vault: Arc::new(vault_with(&[("k2", 2)], "k2")),
        ..world.clone()
    };
    let fresh = only_new.engine(store.clone());
    let paid = fresh
        .create_payment(&ctx(), off_session(&cust, &pm, 1200))
        .await
        .unwrap();
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    let finished = fresh
        .authenticate_payment(&hosted.id, ChallengeOutcome::Complete)
        .await
        .unwrap();
    assert!(
        !matches!(finished, HostedOutcome::Retry { .. }),
        "{finished:?}"
    );
}
