//! What the PostgreSQL store does beyond the contract suite: atomicity checked in the tables
//! themselves, `Write::Check` against concurrent changes, two pools racing on one key, the
//! vault rotation reads and writes, the idempotency purge, migrations, and errors that keep the
//! password to themselves.
//!
//! Needs `VINR_TEST_POSTGRES_URL` (see `postgres_support`), except where a test says not.
#![cfg(feature = "postgres")]
// Test code: a broken rule fails the test by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use postgres_support::TestDb;
use vinr_domain::card::{Brand, Expiry, Funding};
use vinr_domain::customer::{Customer, CustomerFields, Metadata};
use vinr_domain::event::EventType;
use vinr_domain::ids::{CustomerId, EventId, PaymentId, PaymentMethodId, SetupId};
use vinr_domain::method::{CardSummary, Fingerprint, PendingCard, SealedCard, StoredMethod};
use vinr_domain::money::{Currency, Money};
use vinr_domain::payment::{NewPayment, PaymentInput, PaymentRecord};
use vinr_domain::setup::{SetupInput, SetupRecord};
use vinr_ports::Mode;
use vinr_ports::event::{Event, EventData, EventObject};
use vinr_ports::store::{
    CardOwner, IdempotencyRecord, IdempotencyState, Store, StoreError, Write, WriteSet,
};
use vinr_store::postgres::{PostgresError, PostgresOptions, PostgresStore};

/// Object numbers make ids and creation times (object `n` is created `n` seconds after T0).
const T0: i64 = 1_900_000_000;

fn at(n: u8) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + i64::from(n), 0).unwrap()
}

fn customer(n: u8) -> Customer {
    let fields = CustomerFields {
        email: Some(format!("buyer{n}@example.com")),
        ..CustomerFields::default()
    };
    Customer::new(CustomerId::from_entropy(&[n; 24]), fields, false, at(n))
}

fn sealed(n: u8, key: &str) -> SealedCard {
    SealedCard {
        key_id: key.to_owned(),
        nonce: vec![n; 12],
        ciphertext: vec![255 - n; 32],
    }
}

fn card(n: u8, key: &str) -> PendingCard {
    PendingCard {
        sealed: sealed(n, key),
        summary: CardSummary {
            brand: Brand::Visa,
            last4: "4242".to_owned(),
            expiry: Expiry::new(12, 2034).unwrap(),
            funding: Funding::Credit,
        },
        fingerprint: Fingerprint::new(format!("fp-{n}")),
    }
}

fn method(n: u8, owner: &CustomerId, key: &str) -> StoredMethod {
    StoredMethod::new(
        PaymentMethodId::from_entropy(&[n; 24]),
        Some(owner.clone()),
        card(n, key),
        false,
        false,
        at(n),
    )
}

/// A payment waiting for a card on the hosted page.
fn open_payment(n: u8) -> PaymentRecord {
    let new = NewPayment {
        id: PaymentId::from_entropy(&[n; 24]),
        money: Money::from_minor(1000, Currency::EUR).unwrap(),
        customer_id: None,
        payment_method_id: None,
        off_session: false,
        description: None,
        metadata: Metadata::default(),
        save_payment_method: false,
        return_url: None,
        checkout_url: Some("https://pay.example/checkout".to_owned()),
        livemode: false,
    };
    PaymentRecord::create(new, at(n)).unwrap().record
}

/// A payment holding a card typed on the hosted page (in `processing`).
fn payment_with_card(n: u8, key: &str) -> PaymentRecord {
    open_payment(n)
        .apply(PaymentInput::CardEntered { card: card(n, key) }, at(n))
        .unwrap()
        .record
}

/// A setup waiting for a challenge, holding its card.
fn setup_with_card(n: u8, owner: &CustomerId, key: &str) -> SetupRecord {
    SetupRecord::create(
        SetupId::from_entropy(&[n; 24]),
        owner.clone(),
        "https://pay.example/setup".to_owned(),
        "https://shop.example/done".to_owned(),
        false,
        at(n),
    )
    .apply(SetupInput::ChallengeRequired { card: card(n, key) }, at(n))
    .unwrap()
    .record
}

fn event(n: u8, about: &Customer) -> Event {
    Event {
        id: EventId::from_entropy(&[n; 24]),
        kind: EventType::CustomerCreated,
        created: at(n),
        livemode: false,
        data: EventData {
            object: EventObject::Customer(about.clone()),
            previous_attributes: None,
        },
    }
}

fn record(key: &str, n: u8, resource: Option<String>) -> IdempotencyRecord {
    IdempotencyRecord {
        scope: "sk_test_1".to_owned(),
        key: key.to_owned(),
        request_hash: format!("sha256:{n}"),
        state: IdempotencyState::InFlight { resource },
        created: at(n),
        version: 1,
    }
}

fn inserts(customers: Vec<Customer>, methods: Vec<StoredMethod>) -> WriteSet {
    WriteSet {
        customers: customers.into_iter().map(Write::Insert).collect(),
        methods: methods.into_iter().map(Write::Insert).collect(),
        ..WriteSet::default()
    }
}

const TABLES: [&str; 7] = [
    "customers",
    "payment_methods",
    "payments",
    "setups",
    "webhook_endpoints",
    "events",
    "idempotency_keys",
];

/// A write set failed just before its COMMIT leaves no row in any table (checked in the
/// tables, not through the store), although its statements ran; the next commit is fine.
#[tokio::test]
async fn a_failure_before_commit_leaves_no_row_and_no_event() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let c = customer(1);
    let m = method(2, &c.id, "k1");
    let writes = WriteSet {
        customers: vec![Write::Insert(c.clone())],
        methods: vec![Write::Insert(m.clone())],
        payments: vec![Write::Insert(payment_with_card(3, "k1"))],
        idempotency: vec![Write::Insert(record("k", 4, None))],
        events: vec![event(5, &c)],
        ..WriteSet::default()
    };

    store.fail_next_before_commit(1);
    assert_eq!(
        store.commit(writes.clone()).await,
        Err(StoreError::Unavailable("injected".to_owned()))
    );
    for table in TABLES {
        assert_eq!(
            db.count(table).await,
            0,
            "{table} holds a row of a rolled-back write set"
        );
    }
    assert_eq!(store.customer(Mode::Test, &c.id).await, Ok(None));

    store.commit(writes).await.unwrap();
    for table in [
        "customers",
        "payment_methods",
        "payments",
        "events",
        "idempotency_keys",
    ] {
        assert_eq!(db.count(table).await, 1, "{table}");
    }
    assert_eq!(store.customer(Mode::Test, &c.id).await, Ok(Some(c)));
    assert_eq!(store.method(Mode::Test, &m.method.id).await, Ok(Some(m)));
    // The rolled-back insert drew a sequence number: its statements did run before the rollback.
    let seq: i64 = db
        .raw
        .query_one("SELECT seq FROM customers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seq, 2);
}

/// A failure is injected once per call, and an empty write set counts as a commit.
#[tokio::test]
async fn injected_failures_are_counted_down() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    store.fail_next_before_commit(2);
    let injected = Err(StoreError::Unavailable("injected".to_owned()));
    assert_eq!(store.commit(WriteSet::default()).await, injected);
    assert_eq!(
        store.commit(inserts(vec![customer(1)], vec![])).await,
        injected
    );
    store
        .commit(inserts(vec![customer(1)], vec![]))
        .await
        .unwrap();
    store.commit(WriteSet::default()).await.unwrap();
    assert_eq!(db.count("customers").await, 1);
}

/// `Write::Check` writes nothing and passes only at the stored version: a stale or absent
/// object fails the whole write set.
#[tokio::test]
async fn a_check_guards_a_version_without_writing() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let c = customer(1);
    let m = method(2, &c.id, "k1");
    store
        .commit(inserts(vec![c.clone()], vec![m.clone()]))
        .await
        .unwrap();
    let charge = |n: u8, expected: u64, used: &StoredMethod| WriteSet {
        methods: vec![Write::Check {
            expected,
            value: used.clone(),
        }],
        payments: vec![Write::Insert(payment_with_card(n, "k1"))],
        ..WriteSet::default()
    };

    store.commit(charge(10, 1, &m)).await.unwrap();
    assert_eq!(
        store.method(Mode::Test, &m.method.id).await,
        Ok(Some(m.clone())),
        "a check writes nothing"
    );
    assert_eq!(
        store.commit(charge(11, 2, &m)).await,
        Err(StoreError::Conflict)
    );
    let ghost = method(3, &c.id, "k1");
    assert_eq!(
        store.commit(charge(12, 1, &ghost)).await,
        Err(StoreError::Conflict)
    );
    let detached = m.detached().unwrap();
    store
        .commit(WriteSet {
            methods: vec![Write::Update {
                expected: 1,
                value: detached,
            }],
            ..WriteSet::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.commit(charge(13, 1, &m)).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        db.count("payments").await,
        1,
        "only the first charge was stored"
    );
}

/// A check meeting an uncommitted change of its object waits for it: if the change commits,
/// the check fails; if it rolls back, the check passes.
#[tokio::test]
async fn a_check_waits_for_a_concurrent_change_of_its_object() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let c = customer(1);
    let m = method(2, &c.id, "k1");
    store
        .commit(inserts(vec![c.clone()], vec![m.clone()]))
        .await
        .unwrap();
    let other = postgres_support::raw_client(&db.url).await;
    other
        .batch_execute(&format!("SET search_path = {}", db.schema))
        .await
        .unwrap();

    for (end, expected) in [("ROLLBACK", Ok(())), ("COMMIT", Err(StoreError::Conflict))] {
        other
            .batch_execute(&format!(
                "BEGIN; UPDATE payment_methods SET version = version + 1 WHERE id = '{}'",
                m.method.id
            ))
            .await
            .unwrap();
        let version = store
            .method(Mode::Test, &m.method.id)
            .await
            .unwrap()
            .unwrap()
            .method
            .version;
        let mut used = m.clone();
        used.method.version = version;
        let n = if end == "COMMIT" { 21 } else { 20 };
        let writes = WriteSet {
            methods: vec![Write::Check {
                expected: version,
                value: used,
            }],
            payments: vec![Write::Insert(payment_with_card(n, "k1"))],
            ..WriteSet::default()
        };
        let racing = {
            let store = store.clone();
            tokio::spawn(async move { store.commit(writes).await })
        };
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        assert!(
            !racing.is_finished(),
            "the check did not wait for the uncommitted change"
        );
        other.batch_execute(end).await.unwrap();
        assert_eq!(racing.await.unwrap(), expected, "after the change's {end}");
    }
    assert_eq!(db.count("payments").await, 1);
}

/// Two stores (two pools) inserting one idempotency key from 32 tasks at once: one write set
/// commits, every other conflicts, and only the winner's payment exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_racing_one_key_store_one_record() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let stores = [db.store_with(8).await, db.store_with(8).await];
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32u8)
        .map(|i| {
            let store = stores[usize::from(i % 2)].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let payment = open_payment(100 + i);
                let id = payment.payment.id.to_string();
                let writes = WriteSet {
                    payments: vec![Write::Insert(payment)],
                    idempotency: vec![Write::Insert(record("order-1", i, Some(id.clone())))],
                    ..WriteSet::default()
                };
                barrier.wait().await;
                (id, store.commit(writes).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (id, result) = t.await.unwrap();
        match result {
            Ok(()) => winners.push(id),
            Err(StoreError::Conflict) => {}
            Err(other) => panic!("a racing insert got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "one write set reserves the key");
    assert_eq!(db.count("payments").await, 1);
    let stored = stores[0]
        .idempotency("sk_test_1", "order-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.state,
        IdempotencyState::InFlight {
            resource: Some(winners[0].clone())
        }
    );
}

/// The rotation's work list holds every card under another key (methods in any state,
/// pending cards of payments and setups); replacing a card keeps the object's version and
/// everything else, moves its key id column, and refuses a card that is no longer current.
#[tokio::test]
async fn rotation_lists_and_replaces_sealed_cards_without_a_new_version() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let c = customer(1);
    let old = method(2, &c.id, "old");
    let current = method(3, &c.id, "new");
    let detached = method(4, &c.id, "old").detached().unwrap();
    let paying = payment_with_card(5, "old");
    let cardless = open_payment(6);
    let setup = setup_with_card(7, &c.id, "old");
    store
        .commit(WriteSet {
            customers: vec![Write::Insert(c.clone())],
            methods: vec![
                Write::Insert(old.clone()),
                Write::Insert(current.clone()),
                Write::Insert(detached.clone()),
            ],
            payments: vec![
                Write::Insert(paying.clone()),
                Write::Insert(cardless.clone()),
            ],
            setups: vec![Write::Insert(setup.clone())],
            ..WriteSet::default()
        })
        .await
        .unwrap();
    let owners = |cards: Vec<vinr_ports::store::SealedCardRef>| -> HashSet<CardOwner> {
        cards.into_iter().map(|c| c.owner).collect()
    };
    let stale = HashSet::from([
        CardOwner::Method(old.method.id.clone()),
        CardOwner::Method(detached.method.id.clone()),
        CardOwner::Payment(paying.payment.id.clone()),
        CardOwner::Setup(setup.setup.id.clone()),
    ]);
    assert_eq!(
        owners(
            store
                .cards_sealed_with_other_keys("new", 100)
                .await
                .unwrap()
        ),
        stale
    );
    assert_eq!(
        store
            .cards_sealed_with_other_keys("new", 2)
            .await
            .unwrap()
            .len(),
        2
    );
    let listed = store
        .cards_sealed_with_other_keys("new", 100)
        .await
        .unwrap();
    let old_card = listed
        .iter()
        .find(|c| c.owner == CardOwner::Method(old.method.id.clone()))
        .unwrap();
    assert_eq!(old_card.sealed, old.sealed);

    // Replace the method's card: the version stays, the key id column follows.
    let resealed = sealed(42, "new");
    let owner = CardOwner::Method(old.method.id.clone());
    assert_eq!(
        store
            .replace_sealed_card(&owner, &old.sealed, resealed.clone())
            .await,
        Ok(true)
    );
    let mut expected = old.clone();
    expected.sealed = resealed.clone();
    assert_eq!(
        store.method(Mode::Test, &old.method.id).await,
        Ok(Some(expected.clone()))
    );
    let key: String = db
        .raw
        .query_one(
            "SELECT card_key_id FROM payment_methods WHERE id = $1",
            &[&old.method.id.to_string()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(key, "new");
    assert_eq!(
        store
            .replace_sealed_card(&owner, &old.sealed, sealed(43, "new"))
            .await,
        Ok(false),
        "the card read is no longer the one held"
    );
    assert_eq!(
        store.method(Mode::Test, &old.method.id).await,
        Ok(Some(expected.clone()))
    );
    let nobody = CardOwner::Payment(PaymentId::from_entropy(&[99; 24]));
    assert_eq!(
        store
            .replace_sealed_card(&nobody, &old.sealed, sealed(44, "new"))
            .await,
        Ok(false)
    );
    let no_card = CardOwner::Payment(cardless.payment.id.clone());
    assert_eq!(
        store
            .replace_sealed_card(&no_card, &old.sealed, sealed(45, "new"))
            .await,
        Ok(false)
    );

    // The others.
    for (owner, card) in [
        (
            CardOwner::Method(detached.method.id.clone()),
            detached.sealed.clone(),
        ),
        (
            CardOwner::Payment(paying.payment.id.clone()),
            paying.pending_card.clone().unwrap().sealed,
        ),
        (
            CardOwner::Setup(setup.setup.id.clone()),
            setup.pending_card.clone().unwrap().sealed,
        ),
    ] {
        assert_eq!(
            store
                .replace_sealed_card(&owner, &card, sealed(50, "new"))
                .await,
            Ok(true),
            "{owner:?}"
        );
    }
    assert_eq!(
        store.cards_sealed_with_other_keys("new", 100).await,
        Ok(vec![])
    );
    assert_eq!(
        owners(
            store
                .cards_sealed_with_other_keys("newer", 100)
                .await
                .unwrap()
        )
        .len(),
        5
    );
    let p = store
        .payment(Mode::Test, &paying.payment.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.payment.version, paying.payment.version);
    assert_eq!(p.pending_card.unwrap().sealed, sealed(50, "new"));
    let s = store
        .setup(Mode::Test, &setup.setup.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.setup.version, setup.setup.version);

    // The re-encryption made no version, so a write guarded by the version read before it
    // still commits.
    let detach = WriteSet {
        methods: vec![Write::Update {
            expected: old.method.version,
            value: expected.detached().unwrap(),
        }],
        ..WriteSet::default()
    };
    store.commit(detach).await.unwrap();
}

/// `purge_idempotency` forgets the records created strictly before the bound (whole seconds
/// or not), and only those.
#[tokio::test]
async fn purge_forgets_old_idempotency_records_only() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let writes = WriteSet {
        idempotency: vec![
            Write::Insert(record("a", 0, None)),
            Write::Insert(record("b", 10, None)),
            Write::Insert(record("c", 20, None)),
        ],
        ..WriteSet::default()
    };
    store.commit(writes).await.unwrap();
    assert_eq!(store.purge_idempotency(at(10)).await, Ok(1));
    assert_eq!(store.purge_idempotency(at(10)).await, Ok(0));
    assert_eq!(store.idempotency("sk_test_1", "a").await, Ok(None));
    assert!(store.idempotency("sk_test_1", "b").await.unwrap().is_some());
    assert_eq!(
        store
            .purge_idempotency(at(10) + Duration::milliseconds(500))
            .await,
        Ok(1)
    );
    assert!(store.idempotency("sk_test_1", "c").await.unwrap().is_some());
    assert_eq!(db.count("idempotency_keys").await, 1);
}

/// Any text survives the JSON body exactly (U+0000 too, which jsonb would refuse).
#[tokio::test]
async fn bodies_keep_any_text() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let mut c = customer(1);
    c.name = Some("nul \u{0} quote \" backslash \\ emoji 🦀 rtl \u{202e} ✉".to_owned());
    store
        .commit(inserts(vec![c.clone()], vec![]))
        .await
        .unwrap();
    assert_eq!(store.customer(Mode::Test, &c.id).await, Ok(Some(c)));
}

/// Servers starting together migrate once: four connects racing on a schema that does not
/// exist yet all succeed, and each migration is recorded once; connecting again applies
/// nothing; a database migrated by a newer build is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_even_when_servers_start_together() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let schema = format!("{}_m", db.schema);
    let options = PostgresOptions {
        pool_size: 2,
        schema: Some(schema.clone()),
    };
    let racing: Vec<_> = (0..4)
        .map(|_| {
            let (url, options) = (db.url.clone(), options.clone());
            tokio::spawn(async move { PostgresStore::connect_with(&url, options).await })
        })
        .collect();
    for r in racing {
        r.await.unwrap().unwrap();
    }
    let migrations = format!(
        "SELECT version, applied_at::text FROM {schema}.schema_migrations ORDER BY version"
    );
    let rows = db.raw.query(&migrations, &[]).await.unwrap();
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, vec![1, 2, 3]);
    let applied: Vec<String> = rows.iter().map(|r| r.get(1)).collect();

    let store = PostgresStore::connect_with(&db.url, options.clone())
        .await
        .unwrap();
    assert_eq!(store.schema(), Some(schema.as_str()));
    let rows = db.raw.query(&migrations, &[]).await.unwrap();
    let again: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(again, applied, "connecting again applied a migration");

    db.raw
        .batch_execute(&format!(
            "INSERT INTO {schema}.schema_migrations (version, name) VALUES (999, 'future')"
        ))
        .await
        .unwrap();
    let got = PostgresStore::connect_with(&db.url, options).await;
    assert_eq!(
        got.err(),
        Some(PostgresError::SchemaTooNew {
            found: 999,
            known: 3
        })
    );
    db.raw
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

/// The tables and indexes of the migrations (one table per kind of object, `api_keys`, and the
/// delivery tables), as a reader of the database sees them.
#[tokio::test]
async fn the_schema_has_one_table_per_kind() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let _store = db.store().await;
    let mut expected: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    expected.push("api_keys".to_owned());
    expected.push("deliveries".to_owned());
    expected.push("delivery_attempts".to_owned());
    expected.push("schema_migrations".to_owned());
    expected.sort();
    assert_eq!(db.tables().await, expected);
    let indexes: Vec<String> = db
        .raw
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1",
            &[&db.schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for index in [
        "customers_by_created",
        "customers_by_email",
        "payment_methods_by_customer",
        "payment_methods_by_state",
        "payments_by_customer",
        "payments_by_status",
        "payments_processing",
        "events_by_kind",
        "idempotency_keys_pkey",
        "api_keys_pkey",
        "api_keys_hash_key",
        "api_keys_by_created",
        "events_to_fan_out",
        "deliveries_pkey",
        "deliveries_due",
        "delivery_attempts_pkey",
    ] {
        assert!(
            indexes.iter().any(|i| i == index),
            "no index {index}: {indexes:?}"
        );
    }
}

/// A commit whose caller gives up after the statements left (a request timing out) still ends
/// its transaction on the server: the connection goes back to the pool outside a transaction,
/// and the next command on that one connection works.
#[tokio::test]
async fn a_dropped_commit_leaves_its_connection_clean() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    // A pool of one connection, named so the test finds it among the server's sessions.
    let app = format!("{}_dropped", db.schema);
    let separator = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}application_name={app}", db.url);
    let store = PostgresStore::connect_with(&url, db.options(1))
        .await
        .unwrap();
    // Warm the statement cache, so the next commit sends everything on its first poll.
    store
        .commit(inserts(vec![customer(1)], vec![]))
        .await
        .unwrap();
    let mut commit = store.commit(inserts(vec![customer(2)], vec![]));
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(commit.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "the commit finished on its first poll");
    drop(commit);
    store
        .commit(inserts(vec![customer(3)], vec![]))
        .await
        .unwrap();
    let c3 = customer(3);
    assert_eq!(store.customer(Mode::Test, &c3.id).await, Ok(Some(c3)));
    let stuck: i64 = db
        .raw
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stuck, 0, "the store's connection is not idle");
    let sessions: i64 = db
        .raw
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sessions, 1, "the pool's one connection was kept");
}

/// Connection errors name the server but never the password (no database needed: nothing
/// listens on port 1).
#[tokio::test]
async fn connection_errors_never_show_the_password() {
    let url = "postgres://postgres:pw-4242-secret@127.0.0.1:1/test";
    let err = PostgresStore::connect(url).await.unwrap_err();
    assert!(matches!(err, PostgresError::Connect(_)), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("pw-4242-secret"), "{shown}");
    assert!(shown.contains("127.0.0.1:1"), "{shown}");
}

/// A database that does not exist is a clear connect error, without the password; `Debug`
/// of a store shows its schema, never its URL.
#[tokio::test]
async fn server_errors_and_debug_never_show_the_password() {
    let Some(url) = postgres_support::url() else {
        return;
    };
    // The same server, with a password and a database that does not exist.
    let Some((scheme, rest)) = url.split_once("://") else {
        panic!("{} is not a URL", postgres_support::URL_VAR)
    };
    let server = rest.rsplit_once('@').map_or(rest, |(_, s)| s);
    let server = server.split(['/', '?']).next().unwrap_or(server);
    let wrong = format!("{scheme}://postgres:pw-4242-secret@{server}/vinr_no_such_database");
    let err = PostgresStore::connect(&wrong).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, PostgresError::Connect(_)), "{shown}");
    assert!(!shown.contains("pw-4242-secret"), "{shown}");

    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let debug = format!("{store:?}");
    assert!(debug.contains(&db.schema), "{debug}");
    assert!(!debug.contains("postgres://"), "{debug}");
}
