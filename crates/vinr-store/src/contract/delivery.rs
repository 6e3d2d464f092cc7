//! The delivery store contract: the checks every [`DeliveryStore`] adapter runs unchanged.
//!
//! A delivery store is also a [`Store`]: its events and endpoints are committed through
//! [`Store::commit`] write sets, as the engine commits them. So each check is an `async fn`
//! taking `&(impl Store + DeliveryStore)` that starts empty, and panics with a message naming
//! the broken rule. [`delivery_store_contract_tests!`] makes one test per check; [`run_all`]
//! runs them all in one test:
//!
//! ```
//! use vinr_store::memory::MemoryStore;
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! vinr_store::contract::delivery::run_all(|| async { MemoryStore::new() }).await;
//! # });
//! ```
//!
//! What it checks is the contract documented on [`DeliveryStore`]:
//! - [`fan_out_follows_filter_mode_and_status`]: one delivery per enabled endpoint of the
//!   event's mode whose filter (`*` or a list) matches its type, pending at `now`;
//! - [`fan_out_happens_once_per_event`], [`concurrent_fan_outs_fan_out_each_event_once`]: an
//!   event is fanned out once, by one caller, and never again (not even for a newer endpoint);
//! - [`fan_out_takes_the_oldest_events_first_up_to_limit`]: at most `limit` events per call,
//!   oldest first, an event no endpoint wants included;
//! - [`claim_returns_due_deliveries_oldest_first_and_leases_them`]: only due deliveries,
//!   oldest due first, up to `limit`, leased until `now + lease`, each with its event and the
//!   endpoint as stored now;
//! - [`record_attempt_decides_what_follows`]: delivered and failed end the delivery, a retry
//!   waits for its time, the lease is released, attempts are numbered and listed oldest first;
//! - [`a_stale_record_changes_nothing`], [`concurrent_records_of_one_attempt_record_it_once`]:
//!   the guard of `record_attempt`;
//! - [`a_deleted_endpoints_delivery_fails_on_claim`]: no send to an endpoint that is gone;
//! - [`outbox_stats_counts_and_lag`]: the outbox's size and lag;
//! - [`purge_events_removes_old_events_and_their_deliveries`]: the 30-day purge;
//! - [`concurrent_claimers_never_share_a_delivery`]: claims made at once never overlap.
//!
//! The concurrent checks poll their calls together in one task (a store that does I/O runs
//! them as concurrent transactions; the memory store, which never waits, runs them one after
//! another). Times are whole seconds: attempt records and statuses keep seconds on the wire,
//! and so may a store. A check never depends on what the port leaves open: the order of
//! `deliveries`, ties between deliveries due at one time, the lease's last instant, and
//! whether a leased delivery counts toward `oldest_due_seconds`.
//!
//! [`DeliveryStore`]: vinr_ports::delivery::DeliveryStore
//! [`Store`]: vinr_ports::store::Store
//! [`Store::commit`]: vinr_ports::store::Store::commit
//! [`delivery_store_contract_tests!`]: crate::delivery_store_contract_tests

use std::collections::HashSet;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use chrono::{DateTime, Duration, Utc};
use vinr_domain::event::{EventFilter, EventType};
use vinr_domain::ids::{EventId, WebhookEndpointId};
use vinr_domain::payment::PaymentStatus;
use vinr_domain::webhook::{EndpointRecord, EndpointStatus, WebhookSecret};
use vinr_ports::Mode;
use vinr_ports::delivery::{
    AttemptRecord, DeliveryJob, DeliveryKey, DeliveryState, DeliveryStatus, DeliveryStore,
    OutboxStats,
};
use vinr_ports::event::{Event, EventObject};
use vinr_ports::store::{PageRequest, Store, Write, WriteSet};

use super::fixtures::{Fx, at, commit_ok, delete, entropy, update};

/// How long the checks lease what they claim.
const LEASE_SECONDS: i64 = 60;

/// The lease of every claim of the suite.
fn lease() -> Duration {
    Duration::seconds(LEASE_SECONDS)
}

/// A whole-second time `s` seconds after a point later than every fixture's creation time.
fn t(s: i64) -> DateTime<Utc> {
    at(100_000) + Duration::seconds(s)
}

/// An enabled endpoint of `mode` whose `events` filter is `events` (wire strings).
fn endpoint(fx: &Fx, mode: Mode, events: &[&str]) -> EndpointRecord {
    let n = fx.n();
    let wire: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
    let filter = EventFilter::parse(&wire).expect("suite bug: an invalid filter");
    EndpointRecord::new(
        WebhookEndpointId::from_entropy(&entropy(n)),
        format!("https://shop.example/hooks/{n}"),
        &filter,
        WebhookSecret::from_entropy(&entropy(n), &entropy(n + 50_000)),
        mode.livemode(),
        at(n),
    )
}

/// A disabled endpoint of `mode` that would take every event.
fn disabled_endpoint(fx: &Fx, mode: Mode) -> EndpointRecord {
    let mut e = endpoint(fx, mode, &["*"]);
    e.endpoint.status = EndpointStatus::Disabled;
    e
}

/// An event of `kind` in `mode`, about a payment for `payment.*` types and a customer for the
/// others (neither object is stored: the outbox does not look inside).
fn event(fx: &Fx, mode: Mode, kind: EventType) -> Event {
    let object = if kind.as_str().starts_with("payment.") {
        EventObject::Payment(fx.payment(mode, None, PaymentStatus::Succeeded).payment)
    } else {
        EventObject::Customer(fx.customer(mode))
    };
    fx.event(mode, kind, object)
}

/// Commits endpoints, in one write set.
async fn store_endpoints(store: &dyn Store, endpoints: &[&EndpointRecord]) {
    let writes = WriteSet {
        endpoints: endpoints
            .iter()
            .map(|e| Write::Insert((*e).clone()))
            .collect(),
        ..WriteSet::default()
    };
    commit_ok(store, writes, "storing webhook endpoints").await;
}

/// Commits events, in one write set, in the order given.
async fn store_events(store: &dyn Store, events: &[&Event]) {
    let writes = WriteSet {
        events: events.iter().map(|e| (*e).clone()).collect(),
        ..WriteSet::default()
    };
    commit_ok(store, writes, "storing events").await;
}

/// Commits each event in a write set of its own, in the order given.
async fn store_events_one_by_one(store: &dyn Store, events: &[&Event]) {
    for e in events {
        store_events(store, &[e]).await;
    }
}

/// `fan_out`, panicking if the store fails.
async fn fan_out(store: &dyn DeliveryStore, now: DateTime<Utc>, limit: usize) -> u64 {
    store
        .fan_out(now, limit)
        .await
        .unwrap_or_else(|e| panic!("fan_out(limit {limit}) failed: {e:?}"))
}

/// `claim_due` with the suite's lease, panicking if the store fails.
async fn claim(store: &dyn DeliveryStore, now: DateTime<Utc>, limit: usize) -> Vec<DeliveryJob> {
    store
        .claim_due(now, lease(), limit)
        .await
        .unwrap_or_else(|e| panic!("claim_due(limit {limit}) failed: {e:?}"))
}

/// The keys of a claim, in the order returned.
async fn claim_keys(
    store: &dyn DeliveryStore,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<DeliveryKey> {
    claim(store, now, limit)
        .await
        .into_iter()
        .map(|job| job.key)
        .collect()
}

/// `record_attempt`, panicking if the store fails.
async fn record(
    store: &dyn DeliveryStore,
    key: &DeliveryKey,
    attempt: AttemptRecord,
    next: DeliveryStatus,
) -> bool {
    store
        .record_attempt(key, attempt, next)
        .await
        .unwrap_or_else(|e| panic!("record_attempt failed: {e:?}"))
}

/// An event's deliveries, sorted by endpoint id (the port leaves their order open).
async fn deliveries(store: &dyn DeliveryStore, event: &EventId) -> Vec<DeliveryState> {
    let mut states = store
        .deliveries(event)
        .await
        .unwrap_or_else(|e| panic!("deliveries({event}) failed: {e:?}"));
    states.sort_by(|a, b| a.key.endpoint.cmp(&b.key.endpoint));
    states
}

/// One delivery's state, if it exists.
async fn delivery(store: &dyn DeliveryStore, key: &DeliveryKey) -> Option<DeliveryState> {
    deliveries(store, &key.event)
        .await
        .into_iter()
        .find(|d| &d.key == key)
}

/// `outbox_stats`, panicking if the store fails.
async fn stats(store: &dyn DeliveryStore, now: DateTime<Utc>) -> OutboxStats {
    store
        .outbox_stats(now)
        .await
        .unwrap_or_else(|e| panic!("outbox_stats failed: {e:?}"))
}

/// The outbox stats the checks expect.
fn outbox(unfanned_events: u64, pending_deliveries: u64, oldest_due_seconds: u64) -> OutboxStats {
    OutboxStats {
        unfanned_events,
        pending_deliveries,
        oldest_due_seconds,
    }
}

/// The key of `event`'s delivery to `endpoint`.
fn key(event: &Event, endpoint: &EndpointRecord) -> DeliveryKey {
    DeliveryKey {
        event: event.id.clone(),
        endpoint: endpoint.endpoint.id.clone(),
    }
}

/// What fan-out at `now` makes of `event` for `endpoints`: fresh pending deliveries, sorted as
/// [`deliveries`] sorts them.
fn fresh(event: &Event, endpoints: &[&EndpointRecord], now: DateTime<Utc>) -> Vec<DeliveryState> {
    let mut states: Vec<DeliveryState> = endpoints
        .iter()
        .map(|e| DeliveryState {
            key: key(event, e),
            status: DeliveryStatus::Pending { next_at: now },
            attempts: Vec::new(),
        })
        .collect();
    states.sort_by(|a, b| a.key.endpoint.cmp(&b.key.endpoint));
    states
}

/// Attempt number `n`, made at `at`, answered with `status` (`None`: no answer).
fn attempt(n: u32, at: DateTime<Utc>, status: Option<u16>) -> AttemptRecord {
    AttemptRecord {
        attempt: n,
        at,
        status,
        latency_ms: 100 + u64::from(n),
        error: match status {
            Some(s) if (200..300).contains(&s) => None,
            Some(s) => Some(format!("the receiver answered {s}")),
            None => Some("timed out after 10 s".to_owned()),
        },
    }
}

/// The pending status due at `at`.
fn retry_at(at: DateTime<Utc>) -> DeliveryStatus {
    DeliveryStatus::Pending { next_at: at }
}

/// Polls every future together in this task until all are done; their outputs, in order.
///
/// Calls to a store that does I/O wait at the same time (as concurrent transactions would),
/// with no runtime-specific spawning and no `'static` bound on the store.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut waiting = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// Fan-out makes one `Pending { next_at: now }` delivery, with no attempts, for each endpoint
/// of the event's mode that is enabled and whose filter matches the event's type: `*` takes
/// every type, a list only its own; a test event never goes to a live endpoint nor a live one
/// to a test endpoint; a disabled endpoint gets nothing. It returns how many it made.
pub async fn fan_out_follows_filter_mode_and_status(store: &(impl Store + DeliveryStore)) {
    let fx = Fx::default();
    let test_all = endpoint(&fx, Mode::Test, &["*"]);
    let test_payments = endpoint(&fx, Mode::Test, &["payment.succeeded", "payment.failed"]);
    let test_created = endpoint(&fx, Mode::Test, &["customer.created"]);
    let test_disabled = disabled_endpoint(&fx, Mode::Test);
    let live_all = endpoint(&fx, Mode::Live, &["*"]);
    let live_succeeded = endpoint(&fx, Mode::Live, &["payment.succeeded"]);
    let live_disabled = disabled_endpoint(&fx, Mode::Live);
    store_endpoints(
        store,
        &[
            &test_all,
            &test_payments,
            &test_created,
            &test_disabled,
            &live_all,
            &live_succeeded,
            &live_disabled,
        ],
    )
    .await;

    let now = t(0);
    assert_eq!(
        fan_out(store, now, 100).await,
        0,
        "fan-out with no events makes nothing"
    );
    let created = event(&fx, Mode::Test, EventType::CustomerCreated);
    let succeeded = event(&fx, Mode::Test, EventType::PaymentSucceeded);
    let updated = event(&fx, Mode::Test, EventType::CustomerUpdated);
    let live_succeeded_event = event(&fx, Mode::Live, EventType::PaymentSucceeded);
    let live_failed = event(&fx, Mode::Live, EventType::PaymentFailed);
    store_events(store, &[&created, &succeeded, &updated]).await;
    store_events(store, &[&live_succeeded_event, &live_failed]).await;
    assert_eq!(
        stats(store, now).await,
        outbox(5, 0, 0),
        "five events wait to be fanned out"
    );

    let expected: [(&Event, Vec<&EndpointRecord>, &str); 5] = [
        (
            &created,
            vec![&test_all, &test_created],
            "a test customer.created",
        ),
        (
            &succeeded,
            vec![&test_all, &test_payments],
            "a test payment.succeeded",
        ),
        (&updated, vec![&test_all], "a test customer.updated"),
        (
            &live_succeeded_event,
            vec![&live_all, &live_succeeded],
            "a live payment.succeeded",
        ),
        (&live_failed, vec![&live_all], "a live payment.failed"),
    ];
    let total: usize = expected.iter().map(|(_, to, _)| to.len()).sum();
    assert_eq!(
        fan_out(store, now, 100).await,
        total as u64,
        "fan-out returns the number of deliveries it made"
    );
    for (e, to, what) in &expected {
        assert_eq!(
            deliveries(store, &e.id).await,
            fresh(e, to, now),
            "{what} goes to the enabled endpoints of its mode whose filter matches, \
             pending at the fan-out's now, and to no other"
        );
    }
    assert_eq!(
        stats(store, now).await,
        outbox(0, total as u64, 0),
        "every event is fanned out"
    );
}

/// An event is fanned out once: a second fan-out makes nothing and leaves its deliveries as
/// they are (a delivered one stays delivered), and an endpoint created after the fan-out never
/// gets the event; a newer event is fanned out on its own.
pub async fn fan_out_happens_once_per_event(store: &(impl Store + DeliveryStore)) {
    let fx = Fx::default();
    let all = endpoint(&fx, Mode::Test, &["*"]);
    let created_only = endpoint(&fx, Mode::Test, &["customer.created"]);
    store_endpoints(store, &[&all, &created_only]).await;
    let e1 = event(&fx, Mode::Test, EventType::CustomerCreated);
    let e2 = event(&fx, Mode::Test, EventType::CustomerUpdated);
    store_events(store, &[&e1, &e2]).await;

    assert_eq!(fan_out(store, t(0), 10).await, 3, "the first fan-out");
    let e1_fresh = fresh(&e1, &[&all, &created_only], t(0));
    let e2_fresh = fresh(&e2, &[&all], t(0));
    assert_eq!(deliveries(store, &e1.id).await, e1_fresh);
    assert_eq!(deliveries(store, &e2.id).await, e2_fresh);

    assert_eq!(
        fan_out(store, t(5), 10).await,
        0,
        "a second fan-out makes nothing"
    );
    assert_eq!(
        deliveries(store, &e1.id).await,
        e1_fresh,
        "a second fan-out must not remake or reschedule a delivery"
    );
    assert_eq!(deliveries(store, &e2.id).await, e2_fresh);

    // One delivery is made; fan-out must not bring it back.
    let k = key(&e2, &all);
    let jobs = claim(store, t(5), 10).await;
    assert!(
        jobs.iter().any(|j| j.key == k),
        "the fanned-out deliveries are due"
    );
    let made = attempt(1, t(6), Some(200));
    assert!(record(store, &k, made.clone(), DeliveryStatus::Delivered).await);
    let newer = endpoint(&fx, Mode::Test, &["*"]);
    store_endpoints(store, &[&newer]).await;
    assert_eq!(
        fan_out(store, t(7), 10).await,
        0,
        "an endpoint created after the fan-out does not get the older events"
    );
    assert_eq!(
        deliveries(store, &e2.id).await,
        vec![DeliveryState {
            key: k,
            status: DeliveryStatus::Delivered,
            attempts: vec![made],
        }],
        "a delivered delivery stays delivered, and the newer endpoint gets no delivery"
    );
    assert_eq!(deliveries(store, &e1.id).await.len(), 2);

    let e3 = event(&fx, Mode::Test, EventType::CustomerCreated);
    store_events(store, &[&e3]).await;
    assert_eq!(
        fan_out(store, t(8), 10).await,
        3,
        "a newer event is fanned out to every endpoint that wants it, the newer one too"
    );
    assert_eq!(
        deliveries(store, &e3.id).await,
        fresh(&e3, &[&all, &created_only, &newer], t(8))
    );
    assert_eq!(
        deliveries(store, &e1.id).await.len(),
        2,
        "older events stay as they were"
    );
    assert_eq!(fan_out(store, t(9), 10).await, 0);
    assert_eq!(stats(store, t(9)).await.unfanned_events, 0);
}

/// Fan-outs made at once never fan out one event twice: together (and with a last call for
/// what they left) they make exactly one delivery per event and endpoint.
pub async fn concurrent_fan_outs_fan_out_each_event_once(store: &(impl Store + DeliveryStore)) {
    let fx = Fx::default();
    let a = endpoint(&fx, Mode::Test, &["*"]);
    let b = endpoint(&fx, Mode::Test, &["*"]);
    let live = endpoint(&fx, Mode::Live, &["*"]);
    store_endpoints(store, &[&a, &b, &live]).await;
    let events: Vec<Event> = (0..12)
        .map(|i| {
            let mode = if i % 3 == 0 { Mode::Live } else { Mode::Test };
            event(&fx, mode, EventType::CustomerCreated)
        })
        .collect();
    store_events_one_by_one(store, &events.iter().collect::<Vec<_>>()).await;
    // 8 test events to two endpoints, 4 live events to one.
    let total = 8 * 2 + 4;

    let now = t(0);
    let made: u64 = join_all((0..8).map(|_| store.fan_out(now, 3)).collect())
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("a concurrent fan_out failed: {e:?}")))
        .sum();
    let rest = fan_out(store, now, 100).await;
    assert_eq!(
        made + rest,
        total,
        "concurrent fan-outs made {made} deliveries and a last one {rest}; \
         each event must be fanned out exactly once"
    );
    for e in &events {
        let to = if e.livemode {
            vec![&live]
        } else {
            vec![&a, &b]
        };
        assert_eq!(
            deliveries(store, &e.id).await,
            fresh(e, &to, now),
            "event {} must have one delivery per endpoint",
            e.id
        );
    }
    assert_eq!(stats(store, now).await, outbox(0, total, 0));
}

/// Fan-out takes at most `limit` events per call, oldest first (an event no endpoint wants
/// counts: it is fanned out to nobody); `limit` 0 takes none.
pub async fn fan_out_takes_the_oldest_events_first_up_to_limit(
    store: &(impl Store + DeliveryStore),
) {
    let fx = Fx::default();
    let created_only = endpoint(&fx, Mode::Test, &["customer.created"]);
    store_endpoints(store, &[&created_only]).await;
    let e1 = event(&fx, Mode::Test, EventType::CustomerCreated);
    let e2 = event(&fx, Mode::Test, EventType::CustomerUpdated);
    let e3 = event(&fx, Mode::Test, EventType::CustomerCreated);
    let e4 = event(&fx, Mode::Test, EventType::CustomerCreated);
    let e5 = event(&fx, Mode::Test, EventType::CustomerCreated);
    store_events_one_by_one(store, &[&e1, &e2, &e3, &e4, &e5]).await;

    assert_eq!(fan_out(store, t(0), 0).await, 0, "limit 0 fans out nothing");
    assert_eq!(stats(store, t(0)).await.unfanned_events, 5);

    assert_eq!(
        fan_out(store, t(0), 3).await,
        2,
        "the three oldest events, one of which no endpoint wants"
    );
    assert_eq!(
        deliveries(store, &e1.id).await,
        fresh(&e1, &[&created_only], t(0))
    );
    assert_eq!(deliveries(store, &e2.id).await, Vec::new());
    assert_eq!(
        deliveries(store, &e3.id).await,
        fresh(&e3, &[&created_only], t(0))
    );
    for e in [&e4, &e5] {
        assert_eq!(
            deliveries(store, &e.id).await,
            Vec::new(),
            "a newer event waits for a later fan-out"
        );
    }
    assert_eq!(
        stats(store, t(0)).await.unfanned_events,
        2,
        "the event no endpoint wants counts as fanned out"
    );

    assert_eq!(fan_out(store, t(1), 1).await, 1, "the next oldest");
    assert_eq!(
        deliveries(store, &e4.id).await,
        fresh(&e4, &[&created_only], t(1))
    );
    assert_eq!(deliveries(store, &e5.id).await, Vec::new());
    assert_eq!(fan_out(store, t(2), 3).await, 1, "the last one");
    assert_eq!(
        deliveries(store, &e5.id).await,
        fresh(&e5, &[&created_only], t(2))
    );
    assert_eq!(stats(store, t(2)).await, outbox(0, 4, 2));
}

/// A claim returns, of both modes, only pending deliveries due at `now` and not leased,
/// oldest due first, up to `limit`, as attempt 1 with the event and the endpoint as stored at
/// the claim (a rotated secret included); it leases them: until `now + lease` no claim returns
/// them, after it they come back (still attempt 1, as nothing was recorded).
pub async fn claim_returns_due_deliveries_oldest_first_and_leases_them(
    store: &(impl Store + DeliveryStore),
) {
    let fx = Fx::default();
    let test = endpoint(&fx, Mode::Test, &["*"]);
    let live = endpoint(&fx, Mode::Live, &["*"]);
    store_endpoints(store, &[&test, &live]).await;
    let e1 = event(&fx, Mode::Test, EventType::CustomerCreated);
    let e2 = event(&fx, Mode::Live, EventType::PaymentSucceeded);
    let e3 = event(&fx, Mode::Test, EventType::CustomerUpdated);
    for (e, now) in [(&e1, t(0)), (&e2, t(10)), (&e3, t(20))] {
        store_events(store, &[e]).await;
        assert_eq!(fan_out(store, now, 10).await, 1);
    }
    let (k1, k2, k3) = (key(&e1, &test), key(&e2, &live), key(&e3, &test));
    assert_eq!(
        claim(store, t(-1), 10).await,
        Vec::new(),
        "nothing is due before its time"
    );

    // The test endpoint's secret is rotated after the fan-out: jobs carry the endpoint as now.
    let rotated = test.rotated(
        WebhookSecret::from_entropy(&entropy(90_001), &entropy(90_002)),
        Duration::hours(24),
        t(1),
    );
    commit_ok(
        store,
        WriteSet {
            endpoints: vec![update(test.version, rotated.clone())],
            ..WriteSet::default()
        },
        "rotating the endpoint's secret",
    )
    .await;

    let first = claim(store, t(10), 1).await;
    assert_eq!(
        first,
        vec![DeliveryJob {
            key: k1.clone(),
            attempt: 1,
            event: e1.clone(),
            endpoint: rotated.clone(),
        }],
        "limit 1 at t+10 claims the oldest due delivery, as attempt 1, with its event and the \
         endpoint as stored now"
    );
    assert_eq!(
        claim(store, t(10), 10).await,
        vec![DeliveryJob {
            key: k2.clone(),
            attempt: 1,
            event: e2.clone(),
            endpoint: live.clone(),
        }],
        "the next claim skips the leased delivery and the one not yet due"
    );
    assert_eq!(
        claim_keys(store, t(11), 10).await,
        Vec::<DeliveryKey>::new(),
        "leased deliveries are not claimed again"
    );
    assert_eq!(
        claim_keys(store, t(20), 10).await,
        vec![k3.clone()],
        "the third comes due"
    );
    assert_eq!(
        claim_keys(store, t(10 + LEASE_SECONDS - 1), 10).await,
        Vec::<DeliveryKey>::new(),
        "no claim returns a delivery before its lease ends"
    );
    let again = claim(store, t(10 + LEASE_SECONDS + 1), 10).await;
    assert_eq!(
        again.iter().map(|j| &j.key).collect::<Vec<_>>(),
        vec![&k1, &k2],
        "after the lease, the deliveries come back, oldest due first (the third is still \
         leased)"
    );
    assert!(
        again.iter().all(|j| j.attempt == 1),
        "no attempt was recorded, so it is attempt 1 again"
    );
    assert_eq!(
        claim_keys(store, t(20 + LEASE_SECONDS + 1), 10).await,
        vec![k3.clone()]
    );
    for (e, k, at) in [(&e1, &k1, t(0)), (&e2, &k2, t(10)), (&e3, &k3, t(20))] {
        assert_eq!(
            deliveries(store, &e.id).await,
            vec![DeliveryState {
                key: k.clone(),
                status: retry_at(at),
                attempts: Vec::new(),
            }],
            "a claim records no attempt and keeps the delivery pending"
        );
    }
}

/// `record_attempt` appends the attempt and sets what follows: delivered and failed
/// deliveries are never claimed again; a retry is claimed when its time comes and not before,
/// even within the lease of the earlier claim (recording releases the lease), as the next
/// attempt; `deliveries` lists the attempts oldest first.
pub async fn record_attempt_decides_what_follows(store: &(impl Store + DeliveryStore)) {
    let fx = Fx::default();
    let all = endpoint(&fx, Mode::Test, &["*"]);
    store_endpoints(store, &[&all]).await;
    let e1 = event(&fx, Mode::Test, EventType::PaymentSucceeded);
    let e2 = event(&fx, Mode::Test, EventType::PaymentFailed);
    let e3 = event(&fx, Mode::Test, EventType::CustomerCreated);
    store_events(store, &[&e1, &e2, &e3]).await;
    assert_eq!(fan_out(store, t(0), 10).await, 3);
    let (k1, k2, k3) = (key(&e1, &all), key(&e2, &all), key(&e3, &all));

    let jobs = claim(store, t(0), 10).await;
    let mut claimed: Vec<(DeliveryKey, u32)> =
        jobs.into_iter().map(|j| (j.key, j.attempt)).collect();
    claimed.sort_by(|a, b| a.0.event.cmp(&b.0.event));
    let mut want = vec![(k1.clone(), 1), (k2.clone(), 1), (k3.clone(), 1)];
    want.sort_by(|a, b| a.0.event.cmp(&b.0.event));
    assert_eq!(claimed, want, "three first attempts are claimed");

    let delivered = attempt(1, t(1), Some(200));
    let first_500 = attempt(1, t(1), Some(500));
    let timed_out = attempt(1, t(1), None);
    assert!(
        record(store, &k1, delivered.clone(), DeliveryStatus::Delivered).await,
        "recording a delivered attempt"
    );
    assert!(
        record(store, &k2, first_500.clone(), retry_at(t(30))).await,
        "recording a retry"
    );
    assert!(
        record(store, &k3, timed_out.clone(), DeliveryStatus::Failed).await,
        "recording a failure for good"
    );
    assert_eq!(
        delivery(store, &k1).await,
        Some(DeliveryState {
            key: k1.clone(),
            status: DeliveryStatus::Delivered,
            attempts: vec![delivered.clone()],
        })
    );
    assert_eq!(
        delivery(store, &k3).await,
        Some(DeliveryState {
            key: k3.clone(),
            status: DeliveryStatus::Failed,
            attempts: vec![timed_out.clone()],
        })
    );

    assert_eq!(
        claim_keys(store, t(29), 10).await,
        Vec::<DeliveryKey>::new(),
        "a retry is not claimed before its time; delivered and failed ones never"
    );
    let retry = claim(store, t(30), 10).await;
    assert_eq!(
        retry
            .iter()
            .map(|j| (&j.key, j.attempt))
            .collect::<Vec<_>>(),
        vec![(&k2, 2)],
        "the retry is claimed at its time, within the first claim's lease (recording released \
         it), as attempt 2"
    );
    let second_503 = attempt(2, t(31), Some(503));
    assert!(record(store, &k2, second_503.clone(), retry_at(t(40))).await);
    assert_eq!(
        claim(store, t(40), 10)
            .await
            .iter()
            .map(|j| (&j.key, j.attempt))
            .collect::<Vec<_>>(),
        vec![(&k2, 3)],
        "attempt 3"
    );
    let third_ok = attempt(3, t(41), Some(204));
    assert!(record(store, &k2, third_ok.clone(), DeliveryStatus::Delivered).await);
    assert_eq!(
        deliveries(store, &e2.id).await,
        vec![DeliveryState {
            key: k2.clone(),
            status: DeliveryStatus::Delivered,
            attempts: vec![first_500, second_503, third_ok],
        }],
        "every attempt is kept, oldest first"
    );
    assert_eq!(
        claim_keys(store, t(100_000), 10).await,
        Vec::<DeliveryKey>::new(),
        "delivered and failed deliveries are never claimed again"
    );
    assert_eq!(stats(store, t(100_000)).await, outbox(0, 0, 0));
}

/// A record that is not the next attempt of a pending delivery (the same attempt twice, one
/// skipped, attempt 0, one after the delivery ended, or for a delivery that does not exist)
/// answers `false` and changes nothing: not the status, not the attempts, not the lease.
pub async fn a_stale_record_changes_nothing(store: &(impl Store + DeliveryStore)) {
    let fx = Fx::default();
    let all = endpoint(&fx, Mode::Test, &["*"]);
    store_endpoints(store, &[&all]).await;
    let e = event(&fx, Mode::Test, EventType::PaymentSucceeded);
    store_events(store, &[&e]).await;
    assert_eq!(fan_out(store, t(0), 10).await, 1);
    let k = key(&e, &all);
    assert_eq!(claim_keys(store, t(0), 10).await, vec![k.clone()]);

    let first = attempt(1, t(1), Some(500));
    assert!(record(store, &k, first.clone(), retry_at(t(10))).await);
    let after_first = deliveries(store, &e.id).await;
    let stale = [
        (
            attempt(1, t(2), Some(200)),
            "attempt 1 again (another worker's)",
        ),
        (attempt(3, t(2), Some(200)), "attempt 3, skipping 2"),
        (attempt(0, t(2), Some(200)), "attempt 0"),
    ];
    for (record_, what) in &stale {
        assert!(
            !record(store, &k, record_.clone(), DeliveryStatus::Delivered).await,
            "{what} must answer false"
        );
        assert_eq!(
            deliveries(store, &e.id).await,
            after_first,
            "{what} must change nothing"
        );
    }
    let unknown_endpoint = DeliveryKey {
        event: e.id.clone(),
        endpoint: WebhookEndpointId::from_entropy(&[9; 24]),
    };
    let unknown_event = DeliveryKey {
        event: EventId::from_entropy(&[9; 24]),
        endpoint: all.endpoint.id.clone(),
    };
    for (k_, what) in [
        (
            &unknown_endpoint,
            "an endpoint with no delivery of the event",
        ),
        (&unknown_event, "an event that does not exist"),
    ] {
        assert!(
            !record(
                store,
                k_,
                attempt(1, t(2), Some(200)),
                DeliveryStatus::Delivered
            )
            .await,
            "recording for {what} must answer false"
        );
    }
    assert_eq!(
        deliveries(store, &e.id).await,
        after_first,
        "recording for a delivery that does not exist must not create one"
    );
    assert_eq!(deliveries(store, &unknown_event.event).await, Vec::new());

    // The retry is still due at its time, as attempt 2, and its lease holds against a stale
    // record.
    let retry = claim(store, t(10), 10).await;
    assert_eq!(
        retry
            .iter()
            .map(|j| (&j.key, j.attempt))
            .collect::<Vec<_>>(),
        vec![(&k, 2)]
    );
    assert!(
        !record(
            store,
            &k,
            attempt(1, t(11), Some(200)),
            DeliveryStatus::Delivered
        )
        .await,
        "a stale record during a lease"
    );
    assert_eq!(
        claim_keys(store, t(11), 10).await,
        Vec::<DeliveryKey>::new(),
        "a stale record must not release the lease"
    );
    let second = attempt(2, t(12), Some(410));
    assert!(record(store, &k, second.clone(), DeliveryStatus::Failed).await);
    let ended = deliveries(store, &e.id).await;
    assert!(
        !record(store, &k, attempt(3, t(13), Some(200)), retry_at(t(20))).await,
        "a failed delivery takes no more attempts"
    );
    assert_eq!(
        deliveries(store, &e.id).await,
        ended,
        "an attempt after the end changes nothing"
    );
    assert_eq!(
        ended,
        vec![DeliveryState {
            key: k,
            status: DeliveryStatus::Failed,
            attempts: vec![first, second],
        }]
    );
    assert_eq!(
        claim_keys(store, t(100), 10).await,
        Vec::<DeliveryKey>::new()
    );
}

/// When workers record the same attempt at once, exactly one record is kept: one call answers
/// `true`, the others `false`, and the delivery holds that one's attempt and status.
pub async fn concurrent_records_of_one_attempt_record_it_once(
    store: &(impl Store + DeliveryStore),
) {
    let fx = Fx::default();
    let all = endpoint(&fx, Mode::Test, &["*"]);
    store_endpoints(store, &[&all]).await;
    let e = event(&fx, Mode::Test, EventType::PaymentSucceeded);
    store_events(store, &[&e]).await;
    assert_eq!(fan_out(store, t(0), 10).await, 1);
    let k = key(&e, &all);
    assert_eq!(claim_keys(store, t(0), 10).await, vec![k.clone()]);

    let tries: Vec<(AttemptRecord, DeliveryStatus)> = (0..8u16)
        .map(|i| {
            let mut a = attempt(1, t(1), Some(if i % 2 == 0 { 200 } else { 500 }));
            a.latency_ms = 1_000 + u64::from(i);
            let next = if i % 2 == 0 {
                DeliveryStatus::Delivered
            } else {
                retry_at(t(60))
            };
            (a, next)
        })
        .collect();
    let answers: Vec<bool> = join_all(
        tries
            .iter()
            .map(|(a, next)| store.record_attempt(&k, a.clone(), *next))
            .collect(),
    )
    .await
    .into_iter()
    .map(|r| r.unwrap_or_else(|e| panic!("a concurrent record_attempt failed: {e:?}")))
    .collect();
    let winners: Vec<usize> = (0..answers.len()).filter(|i| answers[*i]).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one of eight records of attempt 1 may win; answers {answers:?}"
    );
    let (a, next) = tries[winners[0]].clone();
    assert_eq!(
        deliveries(store, &e.id).await,
        vec![DeliveryState {
            key: k,
            status: next,
            attempts: vec![a],
        }],
        "the delivery holds the winner's attempt and status, once"
    );
}

/// A due delivery whose endpoint was deleted is not returned by a claim but marked failed,
/// with no attempt; the other endpoints' deliveries of the event are claimed as usual.
pub async fn a_deleted_endpoints_delivery_fails_on_claim(store: &(impl Store + DeliveryStore)) {
    let fx = Fx::default();
    let kept = endpoint(&fx, Mode::Test, &["*"]);
    let deleted = endpoint(&fx, Mode::Test, &["*"]);
    store_endpoints(store, &[&kept, &deleted]).await;
    let e = event(&fx, Mode::Test, EventType::CustomerCreated);
    store_events(store, &[&e]).await;
    assert_eq!(fan_out(store, t(0), 10).await, 2);
    commit_ok(
        store,
        WriteSet {
            endpoints: vec![delete(deleted.version, deleted.clone())],
            ..WriteSet::default()
        },
        "deleting an endpoint",
    )
    .await;

    let (k_kept, k_deleted) = (key(&e, &kept), key(&e, &deleted));
    assert_eq!(
        claim_keys(store, t(0), 10).await,
        vec![k_kept.clone()],
        "the deleted endpoint's delivery must not be returned"
    );
    let mut want = vec![
        DeliveryState {
            key: k_kept.clone(),
            status: retry_at(t(0)),
            attempts: Vec::new(),
        },
        DeliveryState {
            key: k_deleted.clone(),
            status: DeliveryStatus::Failed,
            attempts: Vec::new(),
        },
    ];
    want.sort_by(|a, b| a.key.endpoint.cmp(&b.key.endpoint));
    assert_eq!(
        deliveries(store, &e.id).await,
        want,
        "the deleted endpoint's delivery is marked failed by the claim"
    );
    assert!(
        !record(
            store,
            &k_deleted,
            attempt(1, t(1), Some(200)),
            DeliveryStatus::Delivered
        )
        .await,
        "a failed delivery takes no attempt"
    );
    assert_eq!(
        claim_keys(store, t(1_000), 10).await,
        vec![k_kept],
        "after the lease only the kept endpoint's delivery comes back"
    );
    assert_eq!(stats(store, t(1_000)).await.pending_deliveries, 1);
}

/// `outbox_stats` counts the events not fanned out and the pending deliveries (due or not),
/// and gives the age in seconds of the oldest due delivery at `now` (0 when none is due).
pub async fn outbox_stats_counts_and_lag(store: &(impl Store + DeliveryStore)) {
    let fx = Fx::default();
    assert_eq!(
        stats(store, t(0)).await,
        OutboxStats::default(),
        "an empty outbox"
    );
    let a = endpoint(&fx, Mode::Test, &["*"]);
    let b = endpoint(&fx, Mode::Test, &["*"]);
    let live = endpoint(&fx, Mode::Live, &["*"]);
    store_endpoints(store, &[&a, &b, &live]).await;
    let e1 = event(&fx, Mode::Test, EventType::CustomerCreated);
    let e2 = event(&fx, Mode::Live, EventType::CustomerCreated);
    store_events_one_by_one(store, &[&e1, &e2]).await;
    assert_eq!(
        stats(store, t(0)).await,
        outbox(2, 0, 0),
        "events of both modes wait"
    );

    assert_eq!(fan_out(store, t(0), 1).await, 2);
    assert_eq!(
        stats(store, t(0)).await,
        outbox(1, 2, 0),
        "due right now: no lag"
    );
    assert_eq!(
        stats(store, t(90)).await,
        outbox(1, 2, 90),
        "90 s later, 90 s of lag"
    );
    assert_eq!(
        stats(store, t(-10)).await,
        outbox(1, 2, 0),
        "before they are due, pending but no lag"
    );
    assert_eq!(fan_out(store, t(30), 10).await, 1);
    assert_eq!(
        stats(store, t(90)).await,
        outbox(0, 3, 90),
        "the lag is the oldest due delivery's"
    );

    // The two deliveries of e1 (due at 0) go first, then e2's (due at 30).
    let first = claim_keys(store, t(90), 1).await;
    assert_eq!(
        first.iter().map(|k| &k.event).collect::<Vec<_>>(),
        vec![&e1.id]
    );
    assert!(
        record(
            store,
            &first[0],
            attempt(1, t(90), Some(200)),
            DeliveryStatus::Delivered
        )
        .await
    );
    assert_eq!(
        stats(store, t(90)).await,
        outbox(0, 2, 90),
        "a delivered delivery is no longer pending"
    );
    let second = claim_keys(store, t(90), 1).await;
    assert_eq!(
        second.iter().map(|k| &k.event).collect::<Vec<_>>(),
        vec![&e1.id]
    );
    assert!(
        record(
            store,
            &second[0],
            attempt(1, t(90), Some(500)),
            retry_at(t(200))
        )
        .await
    );
    assert_eq!(
        stats(store, t(90)).await,
        outbox(0, 2, 60),
        "a retry not yet due is pending but adds no lag; e2's delivery, due at 30, is oldest"
    );
    let third = claim_keys(store, t(90), 1).await;
    assert_eq!(third, vec![key(&e2, &live)]);
    assert!(
        record(
            store,
            &third[0],
            attempt(1, t(91), None),
            DeliveryStatus::Failed
        )
        .await
    );
    assert_eq!(
        stats(store, t(90)).await,
        outbox(0, 1, 0),
        "a failed delivery is no longer pending; the retry is not due"
    );
    assert_eq!(
        stats(store, t(250)).await,
        outbox(0, 1, 50),
        "the retry, due at 200, is 50 s late at 250"
    );
}

/// `purge_events` deletes the events created strictly before the time given, of both modes,
/// fanned out or not, with their deliveries (whatever their state), returns how many events,
/// and keeps the newer events and their deliveries as they were.
pub async fn purge_events_removes_old_events_and_their_deliveries(
    store: &(impl Store + DeliveryStore),
) {
    let fx = Fx::default();
    assert_eq!(
        store.purge_events(t(1_000_000)).await,
        Ok(0),
        "purging an empty store"
    );
    let test = endpoint(&fx, Mode::Test, &["*"]);
    let live = endpoint(&fx, Mode::Live, &["*"]);
    store_endpoints(store, &[&test, &live]).await;
    let e1 = event(&fx, Mode::Test, EventType::CustomerCreated);
    let e2 = event(&fx, Mode::Live, EventType::CustomerCreated);
    let e3 = event(&fx, Mode::Test, EventType::PaymentSucceeded);
    store_events_one_by_one(store, &[&e1, &e2, &e3]).await;
    assert_eq!(fan_out(store, t(0), 10).await, 3);
    assert_eq!(claim(store, t(0), 10).await.len(), 3);
    let k1 = key(&e1, &test);
    assert!(record(store, &k1, attempt(1, t(1), Some(500)), retry_at(t(10))).await);
    let e4 = event(&fx, Mode::Test, EventType::CustomerUpdated);
    store_events(store, &[&e4]).await;
    let e2_before = deliveries(store, &e2.id).await;
    let e3_before = deliveries(store, &e3.id).await;

    assert_eq!(
        store.purge_events(e1.created - Duration::hours(1)).await,
        Ok(0),
        "nothing is that old"
    );
    assert_eq!(
        store.purge_events(e2.created).await,
        Ok(1),
        "only the event created before the time given goes"
    );
    assert_eq!(store.event(Mode::Test, &e1.id).await, Ok(None));
    assert_eq!(
        deliveries(store, &e1.id).await,
        Vec::new(),
        "a purged event's deliveries go with it"
    );
    assert_eq!(store.event(Mode::Live, &e2.id).await, Ok(Some(e2.clone())));
    assert_eq!(store.event(Mode::Test, &e3.id).await, Ok(Some(e3.clone())));
    assert_eq!(deliveries(store, &e2.id).await, e2_before);
    assert_eq!(deliveries(store, &e3.id).await, e3_before);
    assert_eq!(stats(store, t(1_000)).await, outbox(1, 2, 1_000));
    assert_eq!(
        claim_keys(store, t(1_000), 10)
            .await
            .into_iter()
            .map(|k| k.event)
            .collect::<HashSet<_>>(),
        HashSet::from([e2.id.clone(), e3.id.clone()]),
        "a purged event's delivery is never claimed"
    );

    assert_eq!(
        store.purge_events(e4.created + Duration::seconds(1)).await,
        Ok(3),
        "the rest, the event not yet fanned out included"
    );
    for mode in [Mode::Test, Mode::Live] {
        let page = store
            .events(mode, None, PageRequest::first(100))
            .await
            .unwrap_or_else(|e| panic!("listing events failed: {e:?}"));
        assert!(page.items.is_empty(), "every event of {mode:?} is purged");
    }
    for e in [&e2, &e3, &e4] {
        assert_eq!(deliveries(store, &e.id).await, Vec::new());
    }
    assert_eq!(
        stats(store, t(2_000)).await,
        OutboxStats::default(),
        "nothing is left in the outbox"
    );
    assert_eq!(
        fan_out(store, t(2_000), 10).await,
        0,
        "a purged event is not fanned out"
    );
    assert_eq!(claim(store, t(2_000), 10).await, Vec::new());
    assert_eq!(store.purge_events(t(1_000_000)).await, Ok(0));
}

/// Claims made at once at the same `now` never return one delivery twice: the eight claims
/// and a last one together return every due delivery exactly once, each as attempt 1; then
/// all are leased.
pub async fn concurrent_claimers_never_share_a_delivery(store: &(impl Store + DeliveryStore)) {
    let fx = Fx::default();
    let endpoints = [
        endpoint(&fx, Mode::Test, &["*"]),
        endpoint(&fx, Mode::Test, &["*"]),
        endpoint(&fx, Mode::Test, &["*"]),
    ];
    store_endpoints(store, &endpoints.iter().collect::<Vec<_>>()).await;
    let events: Vec<Event> = (0..10)
        .map(|_| event(&fx, Mode::Test, EventType::CustomerCreated))
        .collect();
    store_events(store, &events.iter().collect::<Vec<_>>()).await;
    assert_eq!(fan_out(store, t(0), 100).await, 30);
    let every: HashSet<DeliveryKey> = events
        .iter()
        .flat_map(|e| endpoints.iter().map(|ep| key(e, ep)))
        .collect();

    let now = t(5);
    let claims: Vec<Vec<DeliveryJob>> =
        join_all((0..8).map(|_| store.claim_due(now, lease(), 5)).collect())
            .await
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("a concurrent claim_due failed: {e:?}")))
            .collect();
    let mut seen = HashSet::new();
    for job in claims.iter().flatten() {
        assert!(
            seen.insert(job.key.clone()),
            "delivery {:?} was claimed twice by concurrent claimers",
            job.key
        );
        assert_eq!(job.attempt, 1);
        assert!(
            every.contains(&job.key),
            "an unknown delivery {:?}",
            job.key
        );
    }
    assert!(
        claims.iter().all(|c| c.len() <= 5),
        "a claim returned more than its limit"
    );
    let rest = claim(store, now, 100).await;
    for job in &rest {
        assert!(
            seen.insert(job.key.clone()),
            "delivery {:?} was claimed again while leased",
            job.key
        );
    }
    assert_eq!(
        seen, every,
        "together the claims return every due delivery exactly once"
    );
    assert_eq!(
        claim(store, now, 100).await,
        Vec::new(),
        "every delivery is leased"
    );
}

/// Runs every check of the delivery suite in turn, each on a fresh store from `make`.
///
/// Prefer [`delivery_store_contract_tests!`](crate::delivery_store_contract_tests), which
/// makes one test per check.
pub async fn run_all<S, F>(make: impl Fn() -> F)
where
    S: Store + DeliveryStore,
    F: Future<Output = S>,
{
    crate::delivery_store_contract_tests!(@run make);
}

/// Expands to one test per check of the delivery store contract
/// ([`contract::delivery`](crate::contract::delivery)), each running on a fresh store.
///
/// The argument is an expression callable with no arguments that returns a future of a fresh,
/// empty store (any type implementing both `Store` and `DeliveryStore`); it is called once per
/// test. The tests are named after the checks; put the macro in a module of its own if the
/// same file also runs [`store_contract_tests!`](crate::store_contract_tests). Each test is a
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`, so a store's own tasks run in
/// parallel with the checks' concurrent calls: the calling crate needs `tokio` with the
/// `macros`, `rt` and `rt-multi-thread` features, and `vinr-store` with the `contract` feature.
///
/// ```no_run
/// mod delivery {
///     vinr_store::delivery_store_contract_tests!(|| async { vinr_store::memory::MemoryStore::new() });
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! delivery_store_contract_tests {
    // The list of checks lives here only; both expansions below use it.
    (@each $how:ident $make:expr) => {
        $crate::delivery_store_contract_tests!(@$how $make;
            fan_out_follows_filter_mode_and_status,
            fan_out_happens_once_per_event,
            concurrent_fan_outs_fan_out_each_event_once,
            fan_out_takes_the_oldest_events_first_up_to_limit,
            claim_returns_due_deliveries_oldest_first_and_leases_them,
            record_attempt_decides_what_follows,
            a_stale_record_changes_nothing,
            concurrent_records_of_one_attempt_record_it_once,
            a_deleted_endpoints_delivery_fails_on_claim,
            outbox_stats_counts_and_lag,
            purge_events_removes_old_events_and_their_deliveries,
            concurrent_claimers_never_share_a_delivery,
        );
    };
    (@tests $make:expr; $($check:ident,)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store = ($make)().await;
                $crate::contract::delivery::$check(&store).await;
            }
        )+
    };
    (@sequence $make:expr; $($check:ident,)+) => {
        $(
            {
                let store = ($make)().await;
                $crate::contract::delivery::$check(&store).await;
            }
        )+
    };
    (@run $make:expr) => {
        $crate::delivery_store_contract_tests!(@each sequence $make)
    };
    ($make:expr) => {
        $crate::delivery_store_contract_tests!(@each tests $make);
    };
}
