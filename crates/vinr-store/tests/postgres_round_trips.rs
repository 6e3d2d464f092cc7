//! How many round trips the PostgreSQL store makes, counted on the wire by a proxy between the
//! store and the server: a write set is one (its statements and `COMMIT` pipelined behind
//! `BEGIN`), once the connection has prepared its statements; a read is one; each step of
//! webhook delivery is one, but fan-out, which is two.
//!
//! Needs `VINR_TEST_POSTGRES_URL` (see `postgres_support`).
#![cfg(feature = "postgres")]
// Test code: a broken rule fails the test by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::DateTime;
use postgres_support::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vinr_domain::customer::{Customer, CustomerFields, Metadata};
use vinr_domain::event::{EventFilter, EventType};
use vinr_domain::ids::{CustomerId, EventId, PaymentId, PaymentMethodId, WebhookEndpointId};
use vinr_domain::money::{Currency, Money};
use vinr_domain::payment::{NewPayment, PaymentInput, PaymentRecord};
use vinr_domain::webhook::{EndpointRecord, WebhookSecret};
use vinr_ports::Mode;
use vinr_ports::delivery::{AttemptRecord, DeliveryStatus, DeliveryStore};
use vinr_ports::event::{Event, EventData, EventObject};
use vinr_ports::store::{IdempotencyRecord, IdempotencyState, PageRequest, Store, Write, WriteSet};
use vinr_store::postgres::{PostgresOptions, PostgresStore};

/// Counts turns: a turn starts when the client sends after the server last spoke, so a
/// request and its answer is one, and requests pipelined before any answer are one too.
#[derive(Default)]
struct Turns {
    count: AtomicU64,
    server_spoke_last: AtomicBool,
}

/// A proxy in front of the server's address `upstream`; returns the port it listens on.
async fn counting_proxy(upstream: String, turns: Arc<Turns>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let server = TcpStream::connect(&upstream).await.unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let up = turns.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                    if up.server_spoke_last.swap(false, Ordering::SeqCst) {
                        up.count.fetch_add(1, Ordering::SeqCst);
                    }
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
            let down = turns.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                    down.server_spoke_last.store(true, Ordering::SeqCst);
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn customer(n: u8) -> Customer {
    let at = DateTime::from_timestamp(1_900_000_000 + i64::from(n), 0).unwrap();
    let fields = CustomerFields {
        email: Some(format!("buyer{n}@example.com")),
        ..CustomerFields::default()
    };
    Customer::new(CustomerId::from_entropy(&[n; 24]), fields, false, at)
}

/// A charge's phase 1 (payment in `processing`, key reserved) and phase 2 (payment
/// succeeded, event, key done), as the engine writes them.
fn phases(n: u8) -> (WriteSet, WriteSet) {
    let at = DateTime::from_timestamp(1_900_000_000 + i64::from(n), 0).unwrap();
    let new = NewPayment {
        id: PaymentId::from_entropy(&[n; 24]),
        money: Money::from_minor(2500, Currency::EUR).unwrap(),
        customer_id: Some(customer(1).id),
        payment_method_id: Some(PaymentMethodId::from_entropy(&[n; 24])),
        off_session: true,
        description: Some("Order #4471".to_owned()),
        metadata: Metadata::default(),
        save_payment_method: false,
        return_url: None,
        checkout_url: None,
        livemode: false,
    };
    let created = PaymentRecord::create(new, at).unwrap().record;
    let record = IdempotencyRecord {
        scope: "sk_test_1".to_owned(),
        key: format!("order-{n}"),
        request_hash: "sha256:0".to_owned(),
        state: IdempotencyState::InFlight {
            resource: Some(created.payment.id.to_string()),
        },
        created: at,
        version: 1,
    };
    let phase1 = WriteSet {
        payments: vec![Write::Insert(created.clone())],
        idempotency: vec![Write::Insert(record.clone())],
        ..WriteSet::default()
    };
    let done = created
        .apply(PaymentInput::Approved { method: None }, at)
        .unwrap()
        .record;
    let mut finished = record.clone();
    finished.version = 2;
    let event = Event {
        id: EventId::from_entropy(&[n; 24]),
        kind: EventType::PaymentSucceeded,
        created: at,
        livemode: false,
        data: EventData {
            object: EventObject::Payment(done.payment.clone()),
            previous_attributes: None,
        },
    };
    let phase2 = WriteSet {
        payments: vec![Write::Update {
            expected: created.payment.version,
            value: done,
        }],
        idempotency: vec![Write::Update {
            expected: 1,
            value: finished,
        }],
        events: vec![event],
        ..WriteSet::default()
    };
    (phase1, phase2)
}

/// A store with one connection, through a counting proxy in front of the test database's
/// server, and the proxy's count.
async fn proxied_store(db: &TestDb) -> (PostgresStore, Arc<Turns>) {
    // The same server through the proxy: host and port replaced in the URL.
    let config: tokio_postgres::Config = db.url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("the test database is not on TCP: {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let turns = Arc::new(Turns::default());
    let proxy = counting_proxy(format!("{host}:{port}"), turns.clone()).await;
    let (scheme, rest) = db.url.split_once("://").unwrap();
    let (user, path) = match rest.rsplit_once('@') {
        Some((user, server)) => (
            format!("{user}@"),
            server.split_once('/').map_or("", |(_, p)| p),
        ),
        None => (String::new(), rest.split_once('/').map_or("", |(_, p)| p)),
    };
    let url = format!("{scheme}://{user}127.0.0.1:{proxy}/{path}");
    let store = PostgresStore::connect_with(
        &url,
        PostgresOptions {
            pool_size: 1,
            schema: Some(db.schema.clone()),
        },
    )
    .await
    .unwrap();
    (store, turns)
}

#[tokio::test]
async fn a_write_set_is_one_round_trip_and_a_read_is_one() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let (store, turns) = proxied_store(&db).await;
    let count = || turns.count.load(Ordering::SeqCst);

    let mut measured = Vec::new();
    // Each shape of write set twice: the first prepares the connection's statements.
    store
        .commit(WriteSet {
            customers: vec![Write::Insert(customer(1))],
            ..WriteSet::default()
        })
        .await
        .unwrap();
    for n in [10, 11] {
        let (phase1, phase2) = phases(n);
        let before = count();
        store.commit(phase1).await.unwrap();
        let after1 = count();
        store.commit(phase2).await.unwrap();
        measured.push((n, after1 - before, count() - after1));
    }
    // Reads too: the second of each is on a prepared statement.
    let mut reads = Vec::new();
    for _ in 0..2 {
        let before = count();
        let read = store.customer(Mode::Test, &customer(1).id).await.unwrap();
        assert!(read.is_some());
        reads.push(count() - before);
    }
    let first = store
        .payments(Mode::Test, None, None, PageRequest::first(1))
        .await
        .unwrap();
    let mut cursor_pages = Vec::new();
    for _ in 0..2 {
        let before = count();
        let page = store
            .payments(
                Mode::Test,
                None,
                None,
                PageRequest {
                    limit: 1,
                    starting_after: Some(first.items[0].payment.id.clone()),
                },
            )
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        cursor_pages.push(count() - before);
    }
    eprintln!(
        "round trips (cold, then warm): charge phase 1 / phase 2 {measured:?}; a read {reads:?}; a page after a cursor {cursor_pages:?}"
    );
    assert_eq!(
        (measured[0].1, measured[0].2),
        (2, 2),
        "a cold write set: its statements prepared in one flight, then the write set in one"
    );
    assert_eq!(
        (measured[1].1, measured[1].2),
        (1, 1),
        "a write set on a warm connection"
    );
    assert_eq!(reads, [2, 1], "a read: prepared once, then one round trip");
    assert_eq!(
        cursor_pages,
        [2, 1],
        "the cursor is found in the page's own query"
    );
}

/// Each step of webhook delivery is one round trip on a warm connection (claim, record, the
/// listing, the stats, the purge), and fan-out two (one when nothing waits); a connection
/// meeting a step's statements for the first time prepares them in one more.
#[tokio::test]
async fn delivery_steps_are_one_round_trip_and_fan_out_two() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let (store, turns) = proxied_store(&db).await;
    let count = || turns.count.load(Ordering::SeqCst);
    let writer = db.store().await;
    let at = |s: i64| DateTime::from_timestamp(1_900_000_000 + s, 0).unwrap();
    let endpoint = EndpointRecord::new(
        WebhookEndpointId::from_entropy(&[9; 24]),
        "https://shop.example/hooks".to_owned(),
        &EventFilter::All,
        WebhookSecret::new("whsec_test"),
        false,
        at(0),
    );
    let event = |n: u8| Event {
        id: EventId::from_entropy(&[n; 24]),
        kind: EventType::CustomerCreated,
        created: at(i64::from(n)),
        livemode: false,
        data: EventData {
            object: EventObject::Customer(customer(1)),
            previous_attributes: None,
        },
    };
    writer
        .commit(WriteSet {
            endpoints: vec![Write::Insert(endpoint)],
            events: vec![event(1), event(2)],
            ..WriteSet::default()
        })
        .await
        .unwrap();

    let mut measure = Vec::new();
    let mut turns_of = |what: &'static str, before: u64, after: u64| {
        measure.push((what, after - before));
    };
    // Fan-out with work, cold then warm (one event each), then with nothing waiting.
    for _ in 0..2 {
        let before = count();
        assert_eq!(store.fan_out(at(10), 1).await, Ok(1));
        turns_of("fan-out", before, count());
    }
    let before = count();
    assert_eq!(store.fan_out(at(10), 1).await, Ok(0));
    turns_of("idle fan-out", before, count());
    // Claims, records, listings, stats and purges: cold, then warm.
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let before = count();
        jobs.extend(
            store
                .claim_due(at(10), chrono::Duration::seconds(30), 1)
                .await
                .unwrap(),
        );
        turns_of("claim", before, count());
    }
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        let attempt = AttemptRecord {
            attempt: 1,
            at: at(11),
            status: Some(200),
            latency_ms: 5,
            error: None,
        };
        let before = count();
        assert_eq!(
            store
                .record_attempt(&job.key, attempt, DeliveryStatus::Delivered)
                .await,
            Ok(true)
        );
        turns_of("record", before, count());
    }
    for job in &jobs {
        let before = count();
        assert_eq!(store.deliveries(&job.key.event).await.unwrap().len(), 1);
        turns_of("deliveries", before, count());
    }
    for _ in 0..2 {
        let before = count();
        store.outbox_stats(at(12)).await.unwrap();
        turns_of("stats", before, count());
    }
    for (bound, purged) in [(2, 1), (3, 1)] {
        let before = count();
        assert_eq!(store.purge_events(at(bound)).await, Ok(purged));
        turns_of("purge", before, count());
    }
    eprintln!("round trips (cold, then warm): {measure:?}");
    assert_eq!(
        measure,
        [
            ("fan-out", 3),
            ("fan-out", 2),
            ("idle fan-out", 1),
            ("claim", 2),
            ("claim", 1),
            ("record", 2),
            ("record", 1),
            ("deliveries", 2),
            ("deliveries", 1),
            ("stats", 2),
            ("stats", 1),
            ("purge", 2),
            ("purge", 1),
        ]
    );
}
