//! The SQLite `DeliveryStore` beyond the contract suite (`tests/sqlite_contract.rs`, `mod
//! delivery`): the outbox is durable (a restart resumes where it stopped: events not fanned out
//! yet, pending deliveries, leases and attempts are all there after close and reopen), the
//! claim's lease and the guard of `record_attempt` across restarts, a claim that skips the
//! deliveries of deleted endpoints and still fills its limit, a lease of zero, idle polls that
//! never reach the writer, and the columns as another connection reads them.
#![cfg(feature = "sqlite")]
// Test code: a failed step fails the test, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sqlite_common;

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OpenFlags};
use vinr_domain::event::EventFilter;
use vinr_domain::ids::WebhookEndpointId;
use vinr_domain::webhook::{EndpointRecord, WebhookSecret};
use vinr_ports::delivery::{
    AttemptRecord, DeliveryKey, DeliveryState, DeliveryStatus, DeliveryStore, OutboxStats,
};
use vinr_ports::event::Event;
use vinr_ports::store::{Store, Write, WriteSet};
use vinr_store::sqlite::SqliteStore;

use sqlite_common::TempDir;
use sqlite_common::fixtures::{Fx, at, entropy};

/// A whole-second time `s` seconds after every fixture's creation time.
fn t(s: i64) -> DateTime<Utc> {
    at(100_000) + Duration::seconds(s)
}

/// The lease the tests claim with.
fn lease() -> Duration {
    Duration::seconds(60)
}

/// An enabled test-mode endpoint taking every event.
fn endpoint(fx: &Fx) -> EndpointRecord {
    let n = fx.n();
    EndpointRecord::new(
        WebhookEndpointId::from_entropy(&entropy(n)),
        format!("https://shop.example/hooks/{n}"),
        &EventFilter::All,
        WebhookSecret::from_entropy(&entropy(n), &entropy(n + 60_000)),
        false,
        at(n),
    )
}

/// `n` `customer.created` events of the test mode, oldest first.
fn events(fx: &Fx, n: usize) -> Vec<Event> {
    (0..n)
        .map(|_| {
            let customer = fx.customer();
            fx.event(&customer)
        })
        .collect()
}

/// Commits endpoints and events in one write set.
async fn commit(store: &SqliteStore, endpoints: &[&EndpointRecord], events: &[Event]) {
    let writes = WriteSet {
        endpoints: endpoints
            .iter()
            .map(|e| Write::Insert((*e).clone()))
            .collect(),
        events: events.to_vec(),
        ..WriteSet::default()
    };
    store.commit(writes).await.unwrap();
}

/// The key of `event`'s delivery to `endpoint`.
fn key(event: &Event, endpoint: &EndpointRecord) -> DeliveryKey {
    DeliveryKey {
        event: event.id.clone(),
        endpoint: endpoint.endpoint.id.clone(),
    }
}

/// Attempt `n` at `at`, answered with `status`.
fn attempt(n: u32, at: DateTime<Utc>, status: u16) -> AttemptRecord {
    AttemptRecord {
        attempt: n,
        at,
        status: Some(status),
        latency_ms: 40 + u64::from(n),
        error: (status >= 300).then(|| format!("the receiver answered {status}")),
    }
}

/// The keys a claim returns, in order.
async fn claim(store: &SqliteStore, now: DateTime<Utc>, limit: usize) -> Vec<(DeliveryKey, u32)> {
    store
        .claim_due(now, lease(), limit)
        .await
        .unwrap()
        .into_iter()
        .map(|job| (job.key, job.attempt))
        .collect()
}

/// One delivery's state.
async fn state(store: &SqliteStore, key: &DeliveryKey) -> DeliveryState {
    store
        .deliveries(&key.event)
        .await
        .unwrap()
        .into_iter()
        .find(|d| &d.key == key)
        .unwrap()
}

/// The `(status, next_at, leased_until, attempts)` columns of every delivery, in fan-out
/// order, read through a connection of its own.
fn rows(db: &Path) -> Vec<(String, Option<i64>, Option<i64>, String)> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare("SELECT status, next_at, leased_until, attempts FROM deliveries ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn events_not_fanned_out_before_a_restart_are_fanned_out_after_it() {
    let dir = TempDir::new("delivery-unfanned");
    let fx = Fx::default();
    let hook = endpoint(&fx);
    let evs = events(&fx, 5);
    let store = SqliteStore::open(dir.db()).unwrap();
    commit(&store, &[&hook], &evs).await;
    assert_eq!(store.fan_out(t(0), 2).await, Ok(2));
    store.close().unwrap();

    let store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(
        store.outbox_stats(t(0)).await,
        Ok(OutboxStats {
            unfanned_events: 3,
            pending_deliveries: 2,
            oldest_due_seconds: 0,
        }),
        "the outbox is as it was: two events fanned out, three waiting"
    );
    assert_eq!(store.fan_out(t(1), 10).await, Ok(3));
    assert_eq!(store.fan_out(t(2), 10).await, Ok(0), "each event once");
    let claimed = claim(&store, t(5), 10).await;
    assert_eq!(
        claimed,
        evs.iter().map(|e| (key(e, &hook), 1)).collect::<Vec<_>>(),
        "every event is delivered once, oldest due first"
    );
    store.close().unwrap();
}

#[tokio::test]
async fn a_restart_resumes_pending_leased_and_recorded_deliveries() {
    let dir = TempDir::new("delivery-restart");
    let fx = Fx::default();
    let hook = endpoint(&fx);
    let evs = events(&fx, 3);
    let (k_due, k_leased, k_done) = (
        key(&evs[0], &hook),
        key(&evs[1], &hook),
        key(&evs[2], &hook),
    );
    let store = SqliteStore::open(dir.db()).unwrap();
    commit(&store, &[&hook], &evs).await;
    assert_eq!(store.fan_out(t(0), 10).await, Ok(3));
    let claimed = claim(&store, t(0), 10).await;
    assert_eq!(claimed.len(), 3);
    // The first failed once and waits for its retry, due at 30; the third is delivered; the
    // second is still leased (its worker "dies" with the process) until 60.
    assert_eq!(
        store
            .record_attempt(
                &k_due,
                attempt(1, t(1), 500),
                DeliveryStatus::Pending { next_at: t(30) }
            )
            .await,
        Ok(true)
    );
    assert_eq!(
        store
            .record_attempt(&k_done, attempt(1, t(1), 200), DeliveryStatus::Delivered)
            .await,
        Ok(true)
    );
    let before = [
        state(&store, &k_due).await,
        state(&store, &k_leased).await,
        state(&store, &k_done).await,
    ];
    store.close().unwrap();

    let store = SqliteStore::open(dir.db()).unwrap();
    let after = [
        state(&store, &k_due).await,
        state(&store, &k_leased).await,
        state(&store, &k_done).await,
    ];
    assert_eq!(after, before, "statuses and attempts survive the restart");
    assert_eq!(after[0].attempts, vec![attempt(1, t(1), 500)]);
    assert_eq!(
        claim(&store, t(29), 10).await,
        vec![],
        "the retry is not due yet and the lease still holds"
    );
    assert_eq!(
        claim(&store, t(30), 10).await,
        vec![(k_due.clone(), 2)],
        "the retry is due: its second attempt"
    );
    assert_eq!(
        claim(&store, t(59), 10).await,
        vec![],
        "the lease taken before the restart still holds"
    );
    assert_eq!(
        claim(&store, t(60), 10).await,
        vec![(k_leased.clone(), 1)],
        "once the lease ends the delivery comes back, as the same attempt"
    );
    assert_eq!(
        store
            .record_attempt(&k_due, attempt(2, t(31), 200), DeliveryStatus::Delivered)
            .await,
        Ok(true)
    );
    store.close().unwrap();

    let store = SqliteStore::open(dir.db()).unwrap();
    let due = state(&store, &k_due).await;
    assert_eq!(due.status, DeliveryStatus::Delivered);
    assert_eq!(
        due.attempts,
        vec![attempt(1, t(1), 500), attempt(2, t(31), 200)],
        "every attempt, oldest first, after a second restart"
    );
    assert_eq!(
        store.outbox_stats(t(61)).await,
        Ok(OutboxStats {
            unfanned_events: 0,
            pending_deliveries: 1,
            oldest_due_seconds: 61,
        }),
        "only the leased one is left, due since 0"
    );
    store.close().unwrap();
}

#[tokio::test]
async fn a_lease_holds_until_it_ends_and_the_record_guard_picks_one_worker() {
    let dir = TempDir::new("delivery-lease");
    let fx = Fx::default();
    let hook = endpoint(&fx);
    let evs = events(&fx, 1);
    let k = key(&evs[0], &hook);
    let store = SqliteStore::open(dir.db()).unwrap();
    commit(&store, &[&hook], &evs).await;
    store.fan_out(t(0), 10).await.unwrap();

    assert_eq!(claim(&store, t(0), 10).await, vec![(k.clone(), 1)]);
    let leased = rows(&dir.db());
    assert_eq!(
        leased[0].2,
        Some((t(0) + lease()).timestamp_micros()),
        "the claim wrote its lease, in microseconds"
    );
    assert_eq!(claim(&store, t(59), 10).await, vec![], "leased to worker A");
    // Worker A is slow; the lease ends and worker B takes the same attempt.
    assert_eq!(claim(&store, t(60), 10).await, vec![(k.clone(), 1)]);
    assert_eq!(
        store
            .record_attempt(
                &k,
                attempt(1, t(61), 503),
                DeliveryStatus::Pending { next_at: t(120) }
            )
            .await,
        Ok(true),
        "the first to record attempt 1 records it"
    );
    assert_eq!(
        rows(&dir.db())[0].2,
        None,
        "recording an attempt releases the lease"
    );
    assert_eq!(
        store
            .record_attempt(&k, attempt(1, t(62), 200), DeliveryStatus::Delivered)
            .await,
        Ok(false),
        "the other worker's record of attempt 1 changes nothing"
    );
    for (n, next) in [
        (0, DeliveryStatus::Delivered),
        (1, DeliveryStatus::Delivered),
        (3, DeliveryStatus::Failed),
    ] {
        assert_eq!(
            store.record_attempt(&k, attempt(n, t(63), 200), next).await,
            Ok(false),
            "attempt {n} is not the next one (2)"
        );
    }
    let unknown = DeliveryKey {
        event: k.event.clone(),
        endpoint: WebhookEndpointId::from_entropy(&entropy(999_999)),
    };
    assert_eq!(
        store
            .record_attempt(&unknown, attempt(1, t(63), 200), DeliveryStatus::Delivered)
            .await,
        Ok(false),
        "no such delivery"
    );
    assert_eq!(
        state(&store, &k).await,
        DeliveryState {
            key: k.clone(),
            status: DeliveryStatus::Pending { next_at: t(120) },
            attempts: vec![attempt(1, t(61), 503)],
        }
    );
    store.close().unwrap();

    // The guard holds across a restart: the attempt count is what is stored.
    let store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(claim(&store, t(120), 10).await, vec![(k.clone(), 2)]);
    assert_eq!(
        store
            .record_attempt(&k, attempt(2, t(121), 200), DeliveryStatus::Delivered)
            .await,
        Ok(true)
    );
    assert_eq!(
        store
            .record_attempt(
                &k,
                attempt(3, t(122), 500),
                DeliveryStatus::Pending { next_at: t(200) }
            )
            .await,
        Ok(false),
        "a delivered delivery takes no more attempts"
    );
    assert_eq!(claim(&store, t(10_000), 10).await, vec![]);
    let row = &rows(&dir.db())[0];
    assert_eq!(
        (row.0.as_str(), row.1, row.2),
        ("delivered", None, None),
        "a delivered row has no next time and no lease"
    );
    store.close().unwrap();
}

#[tokio::test]
async fn a_claim_fails_the_deliveries_of_deleted_endpoints_and_still_fills_its_limit() {
    let dir = TempDir::new("delivery-deleted");
    let fx = Fx::default();
    let gone = endpoint(&fx);
    let kept = endpoint(&fx);
    let evs = events(&fx, 4);
    let store = SqliteStore::open(dir.db()).unwrap();
    commit(&store, &[&gone, &kept], &evs).await;
    assert_eq!(store.fan_out(t(0), 10).await, Ok(8));
    let writes = WriteSet {
        endpoints: vec![Write::Delete {
            expected: gone.version,
            value: gone.clone(),
        }],
        ..WriteSet::default()
    };
    store.commit(writes).await.unwrap();

    let claimed = claim(&store, t(0), 3).await;
    assert_eq!(claimed.len(), 3, "the limit is filled past the failed ones");
    assert!(claimed.iter().all(|(k, _)| k.endpoint == kept.endpoint.id));
    assert_eq!(
        claim(&store, t(0), 10).await,
        vec![(key(&evs[3], &kept), 1)]
    );
    for e in &evs {
        assert_eq!(
            state(&store, &key(e, &gone)).await.status,
            DeliveryStatus::Failed,
            "no send to an endpoint that is gone"
        );
    }
    assert_eq!(
        store.outbox_stats(t(0)).await.unwrap().pending_deliveries,
        4
    );
    store.close().unwrap();
}

#[tokio::test]
async fn a_zero_lease_returns_each_delivery_once_per_claim() {
    let dir = TempDir::new("delivery-zero-lease");
    let fx = Fx::default();
    let hook = endpoint(&fx);
    let evs = events(&fx, 3);
    let store = SqliteStore::open(dir.db()).unwrap();
    commit(&store, &[&hook], &evs).await;
    store.fan_out(t(0), 10).await.unwrap();
    let all: Vec<DeliveryKey> = evs.iter().map(|e| key(e, &hook)).collect();
    for _ in 0..2 {
        let jobs = store.claim_due(t(5), Duration::zero(), 10).await.unwrap();
        assert_eq!(
            jobs.into_iter().map(|j| j.key).collect::<Vec<_>>(),
            all,
            "a lease ending now holds nothing, and a claim returns each delivery once"
        );
    }
    store.close().unwrap();
}

#[tokio::test]
async fn idle_polls_never_reach_the_writer() {
    let dir = TempDir::new("delivery-idle");
    let fx = Fx::default();
    let hook = endpoint(&fx);
    let store = SqliteStore::open(dir.db()).unwrap();
    commit(&store, &[&hook], &events(&fx, 1)).await;
    store.fan_out(t(0), 10).await.unwrap();
    assert_eq!(claim(&store, t(0), 10).await.len(), 1);
    let before = store.group_commit_stats();
    for i in 0..20 {
        assert_eq!(store.fan_out(t(i), 10).await, Ok(0));
        assert_eq!(claim(&store, t(i), 10).await, vec![]);
    }
    assert_eq!(
        store.group_commit_stats(),
        before,
        "nothing to fan out or claim: answered from a reader, no transaction"
    );
    store.close().unwrap();
}

#[tokio::test]
async fn a_purge_removes_old_events_and_their_deliveries_durably() {
    let dir = TempDir::new("delivery-purge");
    let fx = Fx::default();
    let hook = endpoint(&fx);
    let evs = events(&fx, 4);
    let store = SqliteStore::open(dir.db()).unwrap();
    commit(&store, &[&hook], &evs).await;
    store.fan_out(t(0), 2).await.unwrap();
    assert_eq!(store.purge_events(evs[2].created).await, Ok(2));
    store.close().unwrap();

    let store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(
        rows(&dir.db()),
        vec![],
        "the purged events' deliveries are gone"
    );
    assert_eq!(
        store.outbox_stats(t(0)).await.unwrap().unfanned_events,
        2,
        "the newer events wait for their fan-out"
    );
    assert_eq!(store.fan_out(t(0), 10).await, Ok(2));
    assert_eq!(
        claim(&store, t(0), 10).await,
        vec![(key(&evs[2], &hook), 1), (key(&evs[3], &hook), 1)]
    );
    store.close().unwrap();
}
