//! What the PostgreSQL `DeliveryStore` does beyond the delivery contract suite: many workers
//! on two pools (two servers) sharing one database never claim a delivery twice within its
//! lease nor fan an event out twice; claims and fan-outs skip rows another transaction holds
//! instead of waiting for them; racing records of one attempt let one in; leases are kept to
//! the microsecond; a purge takes deliveries and attempts with their events; and a schema made
//! before the delivery tables delivers the events it already held once upgraded.
//!
//! Needs `VINR_TEST_POSTGRES_URL` (see `postgres_support`).
#![cfg(feature = "postgres")]
// Test code: a broken rule fails the test by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use postgres_support::TestDb;
use vinr_domain::customer::{Customer, CustomerFields};
use vinr_domain::event::{EventFilter, EventType};
use vinr_domain::ids::{CustomerId, Entropy, EventId, WebhookEndpointId};
use vinr_domain::webhook::{EndpointRecord, EndpointStatus, WebhookSecret};
use vinr_ports::delivery::{AttemptRecord, DeliveryKey, DeliveryStatus, DeliveryStore};
use vinr_ports::event::{Event, EventData, EventObject};
use vinr_ports::store::{Store, Write, WriteSet};
use vinr_store::postgres::PostgresStore;

/// Object `n` is created `n` seconds after T0.
const T0: i64 = 1_900_000_000;

fn at(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + n, 0).unwrap()
}

/// Distinct ids for distinct `(tag, n)` (ids reduce each byte modulo 62: `n` is written in
/// base 62).
fn entropy(tag: u8, n: u32) -> Entropy {
    let mut e = [0u8; 24];
    e[0] = tag;
    let mut rest = n;
    for byte in e.iter_mut().skip(1).take(6) {
        *byte = u8::try_from(rest % 62).unwrap();
        rest /= 62;
    }
    e
}

fn customer(livemode: bool) -> Customer {
    Customer::new(
        CustomerId::from_entropy(&entropy(1, 0)),
        CustomerFields {
            email: Some("ada@example.com".to_owned()),
            ..CustomerFields::default()
        },
        livemode,
        at(0),
    )
}

/// Event `n` of this type and mode, created `n` seconds after T0.
fn event(n: u32, kind: EventType, livemode: bool) -> Event {
    Event {
        id: EventId::from_entropy(&entropy(2, n)),
        kind,
        created: at(i64::from(n)),
        livemode,
        data: EventData {
            object: EventObject::Customer(customer(livemode)),
            previous_attributes: None,
        },
    }
}

/// Endpoint `n`, taking these event types (`["*"]` for all).
fn endpoint(n: u32, events: &[&str], livemode: bool) -> EndpointRecord {
    let items: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
    EndpointRecord::new(
        WebhookEndpointId::from_entropy(&entropy(3, n)),
        format!("https://merchant.example/hooks/{n}"),
        &EventFilter::parse(&items).unwrap(),
        WebhookSecret::from_entropy(&entropy(4, n), &entropy(5, n)),
        livemode,
        at(0),
    )
}

async fn write(store: &PostgresStore, endpoints: Vec<EndpointRecord>, events: Vec<Event>) {
    store
        .commit(WriteSet {
            endpoints: endpoints.into_iter().map(Write::Insert).collect(),
            events,
            ..WriteSet::default()
        })
        .await
        .unwrap();
}

/// `n` test-mode `customer.created` events, written 50 to a write set.
async fn write_events(store: &PostgresStore, n: u32) -> Vec<Event> {
    let all: Vec<Event> = (1..=n)
        .map(|i| event(i, EventType::CustomerCreated, false))
        .collect();
    for chunk in all.chunks(50) {
        write(store, vec![], chunk.to_vec()).await;
    }
    all
}

fn attempt(n: u32, when: DateTime<Utc>, status: Option<u16>) -> AttemptRecord {
    AttemptRecord {
        attempt: n,
        at: when,
        status,
        latency_ms: 12,
        error: status
            .filter(|s| !(200..300).contains(s))
            .map(|s| format!("HTTP {s}")),
    }
}

/// Two stores (two pools, as two servers would have) with four tasks each, claiming over and
/// over at one `now` until nothing is left: each of 200 due deliveries is claimed exactly once,
/// as attempt 1; within the lease no claim returns any of them again; once it ends, every one
/// of them is due again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_on_two_pools_claim_each_delivery_once() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let stores = Arc::new([db.store_with(4).await, db.store_with(4).await]);
    write(
        &stores[0],
        vec![endpoint(1, &["*"], false), endpoint(2, &["*"], false)],
        vec![],
    )
    .await;
    write_events(&stores[0], 100).await;
    assert_eq!(stores[0].fan_out(at(200), 500).await, Ok(200));

    let now = at(300);
    let lease = Duration::seconds(30);
    let tasks: Vec<_> = (0..8usize)
        .map(|i| {
            let stores = stores.clone();
            tokio::spawn(async move {
                let store = &stores[i % 2];
                let mut mine = Vec::new();
                let mut empty_in_a_row = 0;
                // Several empty answers in a row: the others hold the rest, or it is all gone.
                while empty_in_a_row < 3 {
                    let jobs = store.claim_due(now, lease, 7).await.unwrap();
                    if jobs.is_empty() {
                        empty_in_a_row += 1;
                        tokio::task::yield_now().await;
                    } else {
                        empty_in_a_row = 0;
                    }
                    mine.extend(jobs);
                }
                mine
            })
        })
        .collect();
    let mut claimed: HashMap<DeliveryKey, usize> = HashMap::new();
    let mut workers_with_work = 0;
    for t in tasks {
        let jobs = t.await.unwrap();
        workers_with_work += usize::from(!jobs.is_empty());
        for job in jobs {
            assert_eq!(job.attempt, 1);
            assert_eq!(job.event.id, job.key.event);
            assert_eq!(job.endpoint.endpoint.id, job.key.endpoint);
            *claimed.entry(job.key).or_default() += 1;
        }
    }
    let twice: Vec<_> = claimed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "claimed more than once: {twice:?}");
    assert_eq!(claimed.len(), 200, "every due delivery is claimed");
    eprintln!("{workers_with_work} of 8 workers claimed deliveries");

    // Still leased: no pool sees any of them, up to the last microsecond of the lease.
    for store in stores.iter() {
        let until = now + lease - Duration::microseconds(1);
        assert_eq!(store.claim_due(until, lease, 500).await.unwrap(), vec![]);
    }
    // The lease over, each is due again, once.
    let again = stores[1].claim_due(now + lease, lease, 500).await.unwrap();
    let keys: HashSet<DeliveryKey> = again.iter().map(|j| j.key.clone()).collect();
    assert_eq!(again.len(), 200);
    assert_eq!(keys, claimed.into_keys().collect());
}

/// Two stores with four tasks each fanning out 200 events to three endpoints in small batches
/// at once: each of the 600 deliveries is created once, the counts the callers got add up to
/// it, and every event is marked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fan_outs_on_two_pools_create_each_delivery_once() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let stores = Arc::new([db.store_with(4).await, db.store_with(4).await]);
    write(
        &stores[0],
        (1..=3).map(|n| endpoint(n, &["*"], false)).collect(),
        vec![],
    )
    .await;
    let events = write_events(&stores[0], 200).await;

    let tasks: Vec<_> = (0..8usize)
        .map(|i| {
            let stores = stores.clone();
            tokio::spawn(async move {
                let store = &stores[i % 2];
                let mut created = 0;
                loop {
                    created += store.fan_out(at(300), 5).await.unwrap();
                    if store.outbox_stats(at(300)).await.unwrap().unfanned_events == 0 {
                        return created;
                    }
                }
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 600, "the fan-outs reported each delivery once");
    assert_eq!(db.count("deliveries").await, 600);
    let distinct: i64 = db
        .raw
        .query_one(
            "SELECT count(DISTINCT (event_id, endpoint_id)) FROM deliveries",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(distinct, 600);
    let unmarked: i64 = db
        .raw
        .query_one("SELECT count(*) FROM events WHERE NOT fanned_out", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(unmarked, 0);
    for e in [&events[0], &events[199]] {
        assert_eq!(stores[1].deliveries(&e.id).await.unwrap().len(), 3);
    }
    assert_eq!(stores[0].fan_out(at(301), 500).await, Ok(0));
}

/// Fan-out follows the endpoints: enabled ones of the event's mode whose filter takes its type,
/// in creation order; disabled ones, the other mode's and other types get nothing.
#[tokio::test]
async fn fan_out_matches_mode_status_and_filter() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let mut disabled = endpoint(3, &["*"], false);
    disabled.endpoint.status = EndpointStatus::Disabled;
    let endpoints = vec![
        endpoint(1, &["*"], false),
        endpoint(2, &["payment.succeeded", "payment.failed"], false),
        disabled,
        endpoint(4, &["*"], true),
    ];
    let events = vec![
        event(1, EventType::CustomerCreated, false),
        event(2, EventType::PaymentSucceeded, false),
        event(3, EventType::PaymentSucceeded, true),
    ];
    write(&store, endpoints.clone(), events.clone()).await;
    assert_eq!(store.fan_out(at(10), 10).await, Ok(4));
    let id = |i: usize| endpoints[i].endpoint.id.clone();
    let to = |n: usize| receivers(&store, &events[n], at(10));
    assert_eq!(to(0).await, vec![id(0)]);
    assert_eq!(to(1).await, vec![id(0), id(1)]);
    assert_eq!(to(2).await, vec![id(3)]);
    assert_eq!(store.fan_out(at(11), 10).await, Ok(0));
}

/// The endpoints of an event's deliveries, each checked to be pending at `due` and untried.
async fn receivers(store: &PostgresStore, e: &Event, due: DateTime<Utc>) -> Vec<WebhookEndpointId> {
    let states = store.deliveries(&e.id).await.unwrap();
    states
        .into_iter()
        .map(|d| {
            assert_eq!(d.key.event, e.id);
            assert_eq!(d.status, DeliveryStatus::Pending { next_at: due });
            assert!(d.attempts.is_empty());
            d.key.endpoint
        })
        .collect()
}

/// A claim does not wait for deliveries another transaction holds locked, nor does a fan-out
/// for events: each takes what is free (`SKIP LOCKED`), and the held rows once let go.
#[tokio::test]
async fn claims_and_fan_outs_skip_rows_another_transaction_holds() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    write(&store, vec![endpoint(1, &["*"], false)], vec![]).await;
    let events = write_events(&store, 4).await;
    let held_event = events[0].id.to_string();

    let other = postgres_support::raw_client(&db.url).await;
    other
        .batch_execute(&format!("SET search_path = {}; BEGIN", db.schema))
        .await
        .unwrap();
    other
        .execute(
            "SELECT 1 FROM events WHERE id = $1 FOR UPDATE",
            &[&held_event],
        )
        .await
        .unwrap();
    let fan_out =
        tokio::time::timeout(std::time::Duration::from_secs(5), store.fan_out(at(10), 10));
    assert_eq!(fan_out.await.expect("fan-out waited on a lock"), Ok(3));
    other.batch_execute("COMMIT; BEGIN").await.unwrap();
    assert_eq!(store.fan_out(at(10), 10).await, Ok(1));

    // The delivery of event 2 is held now.
    let held = events[1].id.to_string();
    other
        .execute(
            "SELECT 1 FROM deliveries WHERE event_id = $1 FOR UPDATE",
            &[&held],
        )
        .await
        .unwrap();
    let claim = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        store.claim_due(at(20), Duration::seconds(30), 10),
    );
    let jobs = claim.await.expect("a claim waited on a lock").unwrap();
    let got: Vec<EventId> = jobs.into_iter().map(|j| j.key.event).collect();
    // Due at one time, so in fan-out order: event 1 was fanned out last.
    let want: Vec<EventId> = [2, 3, 0].iter().map(|&i| events[i].id.clone()).collect();
    assert_eq!(got, want, "the free ones, oldest due first");
    other.batch_execute("ROLLBACK").await.unwrap();
    let jobs = store
        .claim_due(at(20), Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].key.event, events[1].id);
}

/// Sixteen workers on two pools recording attempt 1 of one delivery at once: one is recorded,
/// the others change nothing; attempt 2 is then the only next one, and a delivered delivery
/// takes no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_records_of_one_attempt_let_one_in() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let stores = Arc::new([db.store_with(8).await, db.store_with(8).await]);
    write(&stores[0], vec![endpoint(1, &["*"], false)], vec![]).await;
    let events = write_events(&stores[0], 1).await;
    assert_eq!(stores[0].fan_out(at(10), 10).await, Ok(1));
    let job = stores[0]
        .claim_due(at(10), Duration::seconds(30), 1)
        .await
        .unwrap()
        .remove(0);

    let tasks: Vec<_> = (0..16u16)
        .map(|i| {
            let (stores, key) = (stores.clone(), job.key.clone());
            tokio::spawn(async move {
                let next = DeliveryStatus::Pending {
                    next_at: at(100 + i64::from(i)),
                };
                let won = stores[usize::from(i % 2)]
                    .record_attempt(&key, attempt(1, at(11), Some(500 + i)), next)
                    .await
                    .unwrap();
                (i, won)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (i, won) = t.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let w = winners[0];
    let states = stores[1].deliveries(&events[0].id).await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(
        states[0].status,
        DeliveryStatus::Pending {
            next_at: at(100 + i64::from(w))
        }
    );
    assert_eq!(states[0].attempts, vec![attempt(1, at(11), Some(500 + w))]);

    let key = &job.key;
    assert_eq!(
        stores[0]
            .record_attempt(
                key,
                attempt(3, at(12), Some(200)),
                DeliveryStatus::Delivered
            )
            .await,
        Ok(false),
        "attempt 3 before attempt 2"
    );
    assert_eq!(
        stores[1]
            .record_attempt(
                key,
                attempt(2, at(12), Some(204)),
                DeliveryStatus::Delivered
            )
            .await,
        Ok(true)
    );
    assert_eq!(
        stores[0]
            .record_attempt(
                key,
                attempt(3, at(13), Some(200)),
                DeliveryStatus::Delivered
            )
            .await,
        Ok(false),
        "a delivered delivery takes no more attempts"
    );
    let states = stores[0].deliveries(&events[0].id).await.unwrap();
    assert_eq!(states[0].status, DeliveryStatus::Delivered);
    assert_eq!(
        states[0]
            .attempts
            .iter()
            .map(|a| (a.attempt, a.status))
            .collect::<Vec<_>>(),
        vec![(1, Some(500 + w)), (2, Some(204))]
    );
    assert_eq!(db.count("delivery_attempts").await, 2);
}

/// Leases and retry times are kept to the microsecond: a worker whose lease ran out loses the
/// delivery to the next claim, and its late record of the attempt changes nothing.
#[tokio::test]
async fn leases_and_retries_are_kept_to_the_microsecond() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    write(&store, vec![endpoint(1, &["*"], false)], vec![]).await;
    let events = write_events(&store, 1).await;
    let t = at(10) + Duration::milliseconds(250);
    assert_eq!(store.fan_out(t, 10).await, Ok(1));
    let lease = Duration::milliseconds(1_500);

    let first = store.claim_due(t, lease, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    let nearly = t + lease - Duration::microseconds(1);
    assert_eq!(store.claim_due(nearly, lease, 1).await.unwrap(), vec![]);
    let second = store.claim_due(t + lease, lease, 1).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempt, 1, "nothing was recorded yet");

    let retry = t + Duration::seconds(60) + Duration::microseconds(7);
    let key = &second[0].key;
    assert_eq!(
        store
            .record_attempt(
                key,
                attempt(1, t + lease, Some(503)),
                DeliveryStatus::Pending { next_at: retry }
            )
            .await,
        Ok(true)
    );
    // The first worker, late: the attempt is recorded already.
    assert_eq!(
        store
            .record_attempt(key, attempt(1, t, Some(200)), DeliveryStatus::Delivered)
            .await,
        Ok(false)
    );
    let states = store.deliveries(&events[0].id).await.unwrap();
    assert_eq!(states[0].status, DeliveryStatus::Pending { next_at: retry });
    // The record released the lease; the retry is due at its microsecond, not before.
    let before = retry - Duration::microseconds(1);
    assert_eq!(store.claim_due(before, lease, 1).await.unwrap(), vec![]);
    let stats = store
        .outbox_stats(retry + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(stats.pending_deliveries, 1);
    assert_eq!(stats.oldest_due_seconds, 5);
    let third = store.claim_due(retry, lease, 1).await.unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].attempt, 2);
}

/// A delivery whose endpoint was deleted is marked failed by the claim that meets it, and the
/// others of the batch are returned as usual.
#[tokio::test]
async fn a_claim_fails_the_deliveries_of_a_deleted_endpoint() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let (kept, gone) = (endpoint(1, &["*"], false), endpoint(2, &["*"], false));
    write(&store, vec![kept.clone(), gone.clone()], vec![]).await;
    let events = write_events(&store, 1).await;
    assert_eq!(store.fan_out(at(10), 10).await, Ok(2));
    store
        .commit(WriteSet {
            endpoints: vec![Write::Delete {
                expected: gone.version,
                value: gone.clone(),
            }],
            ..WriteSet::default()
        })
        .await
        .unwrap();
    let jobs = store
        .claim_due(at(20), Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].key.endpoint, kept.endpoint.id);
    assert_eq!(jobs[0].endpoint, kept);
    let states = store.deliveries(&events[0].id).await.unwrap();
    let status_of = |id: &WebhookEndpointId| {
        states
            .iter()
            .find(|s| s.key.endpoint == *id)
            .map(|s| s.status)
    };
    assert_eq!(status_of(&gone.endpoint.id), Some(DeliveryStatus::Failed));
    assert_eq!(
        status_of(&kept.endpoint.id),
        Some(DeliveryStatus::Pending { next_at: at(10) })
    );
    let stats = store.outbox_stats(at(20)).await.unwrap();
    assert_eq!(stats.pending_deliveries, 1);
}

/// A purge deletes the old events with their deliveries and attempts (by cascade), and
/// nothing of the newer ones.
#[tokio::test]
async fn a_purge_takes_deliveries_and_attempts_with_their_events() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    write(&store, vec![endpoint(1, &["*"], false)], vec![]).await;
    let events = write_events(&store, 6).await;
    assert_eq!(store.fan_out(at(100), 10).await, Ok(6));
    let jobs = store
        .claim_due(at(100), Duration::seconds(30), 10)
        .await
        .unwrap();
    for job in &jobs {
        let recorded = store
            .record_attempt(
                &job.key,
                attempt(1, at(101), Some(200)),
                DeliveryStatus::Delivered,
            )
            .await;
        assert_eq!(recorded, Ok(true));
    }
    // Events 1 to 3 were created before T0 + 3.5 s.
    let purged = store
        .purge_events(at(3) + Duration::milliseconds(500))
        .await
        .unwrap();
    assert_eq!(purged, 3);
    assert_eq!(db.count("events").await, 3);
    assert_eq!(db.count("deliveries").await, 3);
    assert_eq!(db.count("delivery_attempts").await, 3);
    assert_eq!(store.deliveries(&events[0].id).await.unwrap(), vec![]);
    assert_eq!(store.deliveries(&events[3].id).await.unwrap().len(), 1);
    assert_eq!(store.purge_events(at(3)).await, Ok(0));
}

/// A schema made before the delivery tables (migration 3) gets them on connect, and the events
/// it already held are fanned out and delivered like new ones.
#[tokio::test]
async fn a_schema_made_before_deliveries_delivers_the_events_it_held() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    write(&store, vec![endpoint(1, &["*"], false)], vec![]).await;
    let events = write_events(&store, 2).await;
    drop(store);
    // Back to the schema of version 2, as a build before the delivery tables left it.
    db.raw
        .batch_execute(
            "DROP TABLE delivery_attempts, deliveries; \
             ALTER TABLE events DROP COLUMN fanned_out; \
             DELETE FROM schema_migrations WHERE version > 2",
        )
        .await
        .unwrap();

    let store = db.store().await;
    let stats = store.outbox_stats(at(10)).await.unwrap();
    assert_eq!(stats.unfanned_events, 2);
    assert_eq!(store.fan_out(at(10), 10).await, Ok(2));
    let jobs = store
        .claim_due(at(10), Duration::seconds(30), 10)
        .await
        .unwrap();
    let got: Vec<Event> = jobs.into_iter().map(|j| j.event).collect();
    assert_eq!(got, events);
    let versions: Vec<i64> = db
        .raw
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec![1, 2, 3]);
}
