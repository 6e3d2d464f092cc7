//! The engine over a [`SqliteStore`]: one idempotency key raced by 32 tasks charges once, a
//! detach racing 32 charges lets none through after it, no card number reaches the database
//! file or its WAL, a payment left in `processing` by a lost network answer is finished after
//! a restart, and a vault key rotation re-encrypts every stored card.
#![cfg(feature = "sqlite")]
// Test code: a failed step fails the test, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sqlite_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::Duration;
use tokio::sync::Barrier;
use vinr_domain::InvalidRequestCode;
use vinr_domain::event::EventType;
use vinr_domain::ids::{AttemptId, CustomerId, PaymentMethodId};
use vinr_domain::payment::{Payment, PaymentRecord, PaymentStatus};
use vinr_domain::testcards::TEST_CARDS;
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_ports::api::{CustomersApi, HostedApi, MethodsApi, PaymentsApi, SandboxApi, SetupsApi};
use vinr_ports::event::Event;
use vinr_ports::network::{AuthorizationRequest, CardNetwork, NetworkAnswer, NetworkError};
use vinr_ports::params::{AttachTestCard, CardEntry, CreateCustomer, CreatePayment, CreateSetup};
use vinr_ports::store::{PageRequest, Store};
use vinr_ports::{Error, Mode, RequestContext};
use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
use vinr_store::sqlite::SqliteStore;
use vinr_store::vault::{AesVault, VaultKey};

use sqlite_common::TempDir;

const TASKS: usize = 32;
const VISA: &str = "4242424242424242";

/// An engine over `store` and these sandbox adapters.
fn engine(
    store: &SqliteStore,
    network: Arc<dyn CardNetwork>,
    clock: &ManualClock,
    vault: &AesVault,
    seed: u64,
) -> Engine {
    Engine::new(
        Ports {
            store: Arc::new(store.clone()),
            vault: Arc::new(vault.clone()),
            network,
            clock: Arc::new(clock.clone()),
            ids: Arc::new(SequentialIds::new(seed)),
        },
        EngineConfig::default(),
    )
}

/// An engine over a fresh store in `dir`, and the adapters it runs on.
struct Rig {
    engine: Engine,
    store: SqliteStore,
    network: SandboxNetwork,
    clock: ManualClock,
}

impl Rig {
    fn new(dir: &TempDir) -> Self {
        Self::with_network(dir, |n| Arc::new(n))
    }

    fn with_network(
        dir: &TempDir,
        wrap: impl FnOnce(SandboxNetwork) -> Arc<dyn CardNetwork>,
    ) -> Self {
        let store = SqliteStore::open(dir.db()).unwrap();
        let network = SandboxNetwork::new();
        let clock = ManualClock::default();
        let engine = engine(
            &store,
            wrap(network.clone()),
            &clock,
            &AesVault::random(),
            7,
        );
        Self {
            engine,
            store,
            network,
            clock,
        }
    }
}

fn ctx() -> RequestContext {
    RequestContext::sandbox()
}

fn keyed(key: &str) -> RequestContext {
    RequestContext::sandbox().with_idempotency_key(key)
}

async fn customer(engine: &Engine) -> CustomerId {
    let params = CreateCustomer {
        email: Some("ada@example.com".into()),
        ..Default::default()
    };
    engine.create_customer(&ctx(), params).await.unwrap().id
}

fn test_card(number: &str) -> AttachTestCard {
    AttachTestCard {
        number: number.into(),
        exp_month: 12,
        exp_year: 2034,
        cvc: None,
    }
}

async fn customer_with_card(engine: &Engine, number: &str) -> (CustomerId, PaymentMethodId) {
    let c = customer(engine).await;
    let m = engine
        .attach_test_card(&ctx(), &c, test_card(number))
        .await
        .unwrap();
    (c, m.id)
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

/// Every payment record of the test mode, newest first.
async fn payments(store: &dyn Store) -> Vec<PaymentRecord> {
    let mut out: Vec<PaymentRecord> = Vec::new();
    loop {
        let request = PageRequest {
            limit: 10,
            starting_after: out.last().map(|p| p.payment.id.clone()),
        };
        let page = store
            .payments(Mode::Test, None, None, request)
            .await
            .unwrap();
        out.extend(page.items);
        if !page.has_more {
            return out;
        }
    }
}

/// Every event of the test mode of one type, newest first.
async fn events(store: &dyn Store, kind: EventType) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    loop {
        let request = PageRequest {
            limit: 10,
            starting_after: out.last().map(|e| e.id.clone()),
        };
        let page = store.events(Mode::Test, Some(kind), request).await.unwrap();
        out.extend(page.items);
        if !page.has_more {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_tasks_racing_one_key_charge_once() {
    let dir = TempDir::new("engine-key");
    let rig = Rig::new(&dir);
    let (cust, pm) = customer_with_card(&rig.engine, VISA).await;
    let params = off_session(&cust, &pm, 2500);
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (engine, params, barrier) = (rig.engine.clone(), params.clone(), barrier.clone());
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

    let stored = payments(&rig.store).await;
    assert_eq!(stored.len(), 1, "one payment for one key");
    let the_one = &stored[0].payment;
    assert_eq!(the_one.status, PaymentStatus::Succeeded);
    assert_eq!(rig.network.approved_charges(), 1);
    assert_eq!(
        events(&rig.store, EventType::PaymentSucceeded).await.len(),
        1
    );
    let listed = rig
        .engine
        .list_payments(&ctx(), Default::default())
        .await
        .unwrap();
    assert_eq!(listed.data.len(), 1);
    let mut ok = 0;
    for r in &results {
        match r {
            Ok(p) => {
                assert_eq!(p, the_one);
                ok += 1;
            }
            Err(Error::IdempotencyKeyInUse) => {}
            Err(other) => panic!("a racing task got {other:?}"),
        }
    }
    assert!(ok >= 1, "the task that charged got its payment");
    assert_eq!(
        &rig.engine
            .create_payment(&keyed("one-key"), params)
            .await
            .unwrap(),
        the_one
    );
    println!(
        "one key, {TASKS} tasks: {:?}",
        rig.store.group_commit_stats()
    );
    rig.store.close().unwrap();
}

/// The sandbox network, yielding around each authorization so other tasks run while a charge
/// is between its phases; counts the authorizations that arrived.
struct Yielding(SandboxNetwork, Arc<AtomicUsize>);

#[async_trait]
impl CardNetwork for Yielding {
    async fn authorize(
        &self,
        request: AuthorizationRequest,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        let answer = self.0.authorize(request).await;
        tokio::task::yield_now().await;
        answer
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

fn is_detached_refusal(r: &Result<Payment, Error>) -> bool {
    matches!(
        r,
        Err(Error::InvalidRequest {
            code: InvalidRequestCode::PaymentMethodDetached,
            ..
        })
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detach_racing_thirty_two_charges_lets_none_through_after_it() {
    let dir = TempDir::new("engine-detach");
    let arrived = Arc::new(AtomicUsize::new(0));
    let counter = arrived.clone();
    let rig = Rig::with_network(&dir, move |n| Arc::new(Yielding(n, counter)));
    let (cust, pm) = customer_with_card(&rig.engine, VISA).await;
    let before_detach = rig.clock.now();
    let barrier = Arc::new(Barrier::new(TASKS + 1));
    let charges: Vec<_> = (0..TASKS)
        .map(|i| {
            let (engine, barrier) = (rig.engine.clone(), barrier.clone());
            let params = off_session(&cust, &pm, 100 + i as i64);
            tokio::spawn(async move {
                barrier.wait().await;
                // Staggered starts (4 ms apart, off the runtime's threads): group commit would
                // otherwise take every charge's first phase in one transaction, before any
                // detach could start.
                let delay = std::time::Duration::from_millis(4 * i as u64);
                tokio::task::spawn_blocking(move || std::thread::sleep(delay))
                    .await
                    .unwrap();
                engine.create_payment(&ctx(), params).await
            })
        })
        .collect();
    let detach = {
        let (engine, barrier, cust, pm, clock) = (
            rig.engine.clone(),
            barrier.clone(),
            cust.clone(),
            pm.clone(),
            rig.clock.clone(),
        );
        tokio::spawn(async move {
            barrier.wait().await;
            // Let a few charges get going first, so the detach lands in the middle of them.
            for _ in 0..10_000 {
                if arrived.load(Ordering::SeqCst) >= 6 {
                    break;
                }
                tokio::task::yield_now().await;
            }
            let detached = engine.detach_method(&ctx(), &cust, &pm).await;
            // From now on the clock shows a later second: a payment created after the detach
            // committed would carry it.
            clock.advance(Duration::seconds(10));
            detached
        })
    };
    let mut succeeded: Vec<Payment> = Vec::new();
    let mut refused = 0;
    for c in charges {
        let r = c.await.unwrap();
        if is_detached_refusal(&r) {
            refused += 1;
            continue;
        }
        let p = r.unwrap_or_else(|e| panic!("a racing charge got {e:?}"));
        assert_eq!(p.status, PaymentStatus::Succeeded);
        succeeded.push(p);
    }
    let detached = detach.await.unwrap().unwrap();
    assert_eq!(detached.customer_id, None);
    assert_eq!(succeeded.len() + refused, TASKS);
    // Six charges reached the network before the detach started (their first phase committed
    // before it), and the later ones started well after it committed.
    assert!(
        succeeded.len() >= 6 && refused > 0,
        "the detach must land among the charges"
    );
    println!(
        "detach racing {TASKS} charges: {} succeeded, {refused} refused",
        succeeded.len()
    );

    // The network charged exactly the payments that say so; no payment is left halfway, and
    // none was created after the detach committed.
    assert_eq!(rig.network.approved_charges(), succeeded.len() as u64);
    let stored = payments(&rig.store).await;
    assert_eq!(
        stored.len(),
        succeeded.len(),
        "a refused charge creates no payment"
    );
    for r in &stored {
        assert_eq!(r.payment.status, PaymentStatus::Succeeded);
        assert!(
            r.payment.created <= before_detach,
            "payment created after the detach: {r:?}"
        );
    }
    assert_eq!(
        events(&rig.store, EventType::PaymentSucceeded).await.len(),
        succeeded.len()
    );
    assert_eq!(
        events(&rig.store, EventType::PaymentMethodDetached)
            .await
            .len(),
        1
    );

    // The detach holds: nothing charges the method any more.
    let wallet = rig
        .engine
        .list_methods(&ctx(), &cust, Default::default())
        .await
        .unwrap();
    assert!(wallet.data.is_empty());
    for amount in [1, 2, 3] {
        let after = rig
            .engine
            .create_payment(&ctx(), off_session(&cust, &pm, amount))
            .await;
        assert!(is_detached_refusal(&after), "{after:?}");
    }
    assert_eq!(rig.network.approved_charges(), succeeded.len() as u64);
    assert_eq!(payments(&rig.store).await.len(), succeeded.len());
    rig.store.close().unwrap();
}

/// The bytes of `path`, or nothing if it does not exist.
fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// The files of a SQLite database: the file itself, its WAL and its shared-memory index.
fn database_files(db: &Path) -> Vec<(String, Vec<u8>)> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let name = format!("{}{suffix}", db.display());
            let content = bytes(Path::new(&name));
            (name, content)
        })
        .collect()
}

/// Asserts no test card number appears, as ASCII digits, in any of the files.
fn assert_no_card_number(files: &[(String, Vec<u8>)], when: &str) {
    for (name, content) in files {
        for card in TEST_CARDS {
            let digits = card.number.as_bytes();
            assert!(
                !content.windows(digits.len()).any(|w| w == digits),
                "{when}: {name} holds the card number ending {}",
                &card.number[card.number.len() - 4..]
            );
        }
    }
}

#[tokio::test]
async fn no_card_number_reaches_the_database_file_or_its_wal() {
    let dir = TempDir::new("engine-security");
    let rig = Rig::new(&dir);
    let cust = customer(&rig.engine).await;
    let (mut attached, mut set_up, mut paid) = (0, 0, 0);
    for card in TEST_CARDS {
        if rig
            .engine
            .attach_test_card(&ctx(), &cust, test_card(card.number))
            .await
            .is_ok()
        {
            attached += 1;
        }
        // The hosted setup page, typed by the buyer (spaces and all).
        let setup = rig
            .engine
            .create_setup(
                &ctx(),
                &cust,
                CreateSetup {
                    return_url: "https://shop.example/saved".into(),
                },
            )
            .await
            .unwrap();
        let typed = card
            .number
            .chars()
            .collect::<Vec<_>>()
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ");
        if rig
            .engine
            .submit_setup_card(&setup.id, CardEntry::new(typed, "12/34", "123"))
            .await
            .is_ok()
        {
            set_up += 1;
        }
        // The hosted payment page, saving the card.
        let params = CreatePayment {
            amount: 1999,
            currency: "eur".into(),
            customer_id: Some(cust.clone()),
            save_payment_method: true,
            return_url: Some("https://shop.example/paid".into()),
            ..Default::default()
        };
        let payment = rig.engine.create_payment(&ctx(), params).await.unwrap();
        if rig
            .engine
            .submit_payment_card(&payment.id, CardEntry::new(card.number, "12/34", "123"))
            .await
            .is_ok()
        {
            paid += 1;
        }
    }
    println!(
        "saved {attached} by the helper, {set_up} by setups, {paid} by payments, of {}",
        TEST_CARDS.len()
    );
    assert!(
        attached > TEST_CARDS.len() / 2
            && set_up > TEST_CARDS.len() / 2
            && paid > TEST_CARDS.len() / 2
    );

    // While the store is open, what was written is in the WAL (and, once the checkpointer
    // thread got to it, in the database file too).
    let open = database_files(&dir.db());
    assert!(open[1].1.len() > 4096, "the WAL holds the writes");
    let everything: Vec<u8> = open.iter().flat_map(|(_, b)| b.clone()).collect();
    assert!(
        everything.windows(15).any(|w| w == b"ada@example.com"),
        "the scan reads the records (the customer's email is there)"
    );
    assert_no_card_number(&open, "open");

    drop(rig.engine);
    rig.store.close().unwrap();
    let closed = database_files(&dir.db());
    assert!(
        closed[1].1.is_empty() && closed[0].1.windows(15).any(|w| w == b"ada@example.com"),
        "closing checkpointed the WAL into the file"
    );
    assert_no_card_number(&closed, "closed");
}

#[tokio::test]
async fn a_payment_left_processing_is_finished_after_a_restart() {
    let dir = TempDir::new("engine-recovery");
    let network = SandboxNetwork::new();
    let clock = ManualClock::default();
    let vault = AesVault::random();
    let store = SqliteStore::open(dir.db()).unwrap();
    let first = engine(&store, Arc::new(network.clone()), &clock, &vault, 7);
    let (cust, pm) = customer_with_card(&first, VISA).await;
    let params = off_session(&cust, &pm, 2500);

    // The network charges, and its answer is lost on the way back.
    network.fail_next_after_recording(1);
    let lost = first
        .create_payment(&keyed("order-1"), params.clone())
        .await;
    assert!(lost.is_err(), "{lost:?}");
    let stored = payments(&store).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].payment.status, PaymentStatus::Processing);
    let id = stored[0].payment.id.clone();
    assert_eq!(network.approved_charges(), 1);

    // The process stops; another starts on the same file (another id seed: a new process).
    drop(first);
    store.close().unwrap();
    let store = SqliteStore::open(dir.db()).unwrap();
    let second = engine(&store, Arc::new(network.clone()), &clock, &vault, 8);
    clock.advance(Duration::seconds(1));
    second
        .recover_stuck_payments(Duration::zero())
        .await
        .unwrap();

    let done = second.retrieve_payment(&ctx(), &id).await.unwrap();
    assert_eq!(done.status, PaymentStatus::Succeeded);
    assert_eq!(network.approved_charges(), 1, "charged once");
    assert_eq!(events(&store, EventType::PaymentSucceeded).await.len(), 1);
    assert!(
        store
            .stuck_payments(clock.now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A retry of the original request replays the outcome.
    let replay = second
        .create_payment(&keyed("order-1"), params)
        .await
        .unwrap();
    assert_eq!(replay.id, id);
    assert_eq!(replay.status, PaymentStatus::Succeeded);
    assert_eq!(network.approved_charges(), 1);
    drop(second);
    store.close().unwrap();
}

#[tokio::test]
async fn a_key_rotation_reencrypts_every_stored_card() {
    let dir = TempDir::new("engine-rotation");
    let network = SandboxNetwork::new();
    let clock = ManualClock::default();
    let fingerprint_key = [9u8; 32];
    let old = VaultKey::random("k1");
    let vault1 = AesVault::new(old.clone(), fingerprint_key);
    let store = SqliteStore::open(dir.db()).unwrap();
    let first = engine(&store, Arc::new(network.clone()), &clock, &vault1, 7);
    let cust = customer(&first).await;
    let mut methods = Vec::new();
    for number in [VISA, "5555555555554444", "378282246310005"] {
        methods.push(
            first
                .attach_test_card(&ctx(), &cust, test_card(number))
                .await
                .unwrap()
                .id,
        );
    }
    // A setup waiting for its challenge holds a pending card too.
    let setup = first
        .create_setup(
            &ctx(),
            &cust,
            CreateSetup {
                return_url: "https://shop.example/saved".into(),
            },
        )
        .await
        .unwrap();
    first
        .submit_setup_card(
            &setup.id,
            CardEntry::new("4000000000003220", "12/34", "123"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .cards_sealed_with_other_keys("k2", 100)
            .await
            .unwrap()
            .len(),
        4
    );
    drop(first);

    let new = VaultKey::random("k2");
    let mut vault2 = AesVault::new(old, fingerprint_key)
        .with_key(new.clone())
        .unwrap();
    vault2.set_active("k2").unwrap();
    let second = engine(&store, Arc::new(network.clone()), &clock, &vault2, 8);
    let versions_before: Vec<u64> = {
        let mut v = Vec::new();
        for m in &methods {
            v.push(
                store
                    .method(Mode::Test, m)
                    .await
                    .unwrap()
                    .unwrap()
                    .method
                    .version,
            );
        }
        v
    };
    assert_eq!(second.reencrypt_cards().await.unwrap(), 4);
    assert!(
        store
            .cards_sealed_with_other_keys("k2", 100)
            .await
            .unwrap()
            .is_empty()
    );
    for (m, v) in methods.iter().zip(versions_before) {
        let stored = store.method(Mode::Test, m).await.unwrap().unwrap();
        assert_eq!(stored.sealed.key_id, "k2");
        assert_eq!(
            stored.method.version, v,
            "re-encryption is no change of the method"
        );
    }
    drop(second);
    // The re-encrypted cards charge under the new key alone.
    let third = engine(
        &store,
        Arc::new(network.clone()),
        &clock,
        &AesVault::new(new, fingerprint_key),
        9,
    );
    for (i, m) in methods.iter().enumerate() {
        let p = third
            .create_payment(&ctx(), off_session(&cust, m, 700 + i as i64))
            .await
            .unwrap();
        assert_eq!(p.status, PaymentStatus::Succeeded);
    }
    drop(third);
    store.close().unwrap();
}
