#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `Dispatcher::run`, the loop `vinr serve` runs: it delivers, stops on shutdown after
//! finishing what is in flight, survives a failing store, is not held up by one slow
//! endpoint, and shares one store with a second dispatcher without sending an attempt twice.

mod dispatch_support;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dispatch_support::*;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use vinr_domain::ids::{EventId, WebhookEndpointId};
use vinr_ports::clock::Clock;
use vinr_ports::delivery::{
    AttemptRecord, DeliveryJob, DeliveryKey, DeliveryState, DeliveryStatus, DeliveryStore,
    OutboxStats,
};
use vinr_ports::event::Event;
use vinr_ports::store::StoreError;
use vinr_store::memory::MemoryStore;
use vinr_webhooks::dispatch::{
    DispatchStats, Dispatcher, DispatcherConfig, FixedJitter, ReqwestSender,
};

/// A running dispatcher and the switch that stops it.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    stats: Arc<DispatchStats>,
}

fn start(dispatcher: Dispatcher) -> Running {
    let stats = dispatcher.stats();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(dispatcher.run(async move {
        let _ = stopped.await;
    }));
    Running { stop, task, stats }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the dispatcher did not stop")
            .unwrap();
    }
}

/// Waits (up to 10 s) until `check` holds.
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn all_delivered(store: &MemoryStore, events: &[Event]) -> bool {
    for ev in events {
        let states = store.deliveries(&ev.id).await.unwrap();
        if states.is_empty() || states.iter().any(|s| s.status != DeliveryStatus::Delivered) {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_delivers_until_shutdown() {
    let receiver = Receiver::ok().await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("run"), &["*"], false, "whsec_run");
    add_endpoints(&store, &[&ep]).await;
    let running = start(dispatcher(&store, &clock, config("1m")));

    // Events arriving while it runs are picked up.
    let events: Vec<Event> = (1..=15).map(customer_created).collect();
    for ev in &events {
        add_events(&store, &[ev]).await;
    }
    eventually("every event delivered", || all_delivered(&store, &events)).await;
    let stats = running.stats.clone();
    running.stop().await;

    assert_eq!(receiver.hits().len(), 15);
    let snapshot = stats.snapshot();
    assert_eq!((snapshot.attempts, snapshot.delivered), (15, 15));
}

/// A store whose first `failures` claims fail.
struct FlakyStore {
    inner: MemoryStore,
    failures: AtomicUsize,
}

#[async_trait]
impl DeliveryStore for FlakyStore {
    async fn fan_out(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        self.inner.fan_out(now, limit).await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(StoreError::Unavailable("the database is down".to_owned()));
        }
        self.inner.claim_due(now, lease, limit).await
    }

    async fn record_attempt(
        &self,
        key: &DeliveryKey,
        record: AttemptRecord,
        next: DeliveryStatus,
    ) -> Result<bool, StoreError> {
        self.inner.record_attempt(key, record, next).await
    }

    async fn deliveries(&self, event: &EventId) -> Result<Vec<DeliveryState>, StoreError> {
        self.inner.deliveries(event).await
    }

    async fn outbox_stats(&self, now: DateTime<Utc>) -> Result<OutboxStats, StoreError> {
        self.inner.outbox_stats(now).await
    }

    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_events(before).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_survives_a_failing_store() {
    let receiver = Receiver::ok().await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("flaky"), &["*"], false, "whsec_f");
    add_endpoints(&store, &[&ep]).await;
    let events = vec![customer_created(1)];
    add_events(&store, &[&events[0]]).await;
    let flaky: Arc<dyn DeliveryStore> = Arc::new(FlakyStore {
        inner: store.clone(),
        failures: AtomicUsize::new(3),
    });
    let clock_port: Arc<dyn Clock> = clock.clone();
    let d = Dispatcher::new(
        flaky,
        Arc::new(ReqwestSender::new().unwrap()),
        clock_port,
        config("1m"),
    )
    .unwrap()
    .with_jitter(Arc::new(FixedJitter(0.0)));
    let running = start(d);

    eventually("delivered despite the failures", || {
        all_delivered(&store, &events)
    })
    .await;
    let stats = running.stats.snapshot();
    running.stop().await;
    assert_eq!(stats.store_errors, 3);
    assert_eq!(receiver.hits().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slow_endpoint_does_not_hold_up_the_others() {
    // "/slow" answers only when the test lets it.
    let gate = Arc::new(Semaphore::new(0));
    let held = Arc::clone(&gate);
    let receiver = Receiver::start(move |hit, _| {
        if hit.path == "/slow" {
            Reply::Gate(Arc::clone(&held), 200)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let slow = endpoint(1, &receiver.url("slow"), &["customer.created"], false, "k");
    let fast = endpoint(2, &receiver.url("fast"), &["*"], false, "k");
    add_endpoints(&store, &[&slow, &fast]).await;
    let config = DispatcherConfig {
        timeout: Duration::from_secs(10),
        lease: Duration::from_secs(30),
        ..config("1m")
    };
    let running = start(dispatcher(&store, &clock, config));

    let first = customer_created(1);
    add_events(&store, &[&first]).await;
    eventually("the slow endpoint is waiting", || async {
        receiver.hits().iter().any(|h| h.path == "/slow")
    })
    .await;
    // While "/slow" holds its attempt, later events still reach "/fast".
    let later: Vec<Event> = (2..=6)
        .map(|n| {
            event(
                n,
                vinr_domain::event::EventType::CustomerUpdated,
                false,
                t0(),
            )
        })
        .collect();
    for ev in &later {
        add_events(&store, &[ev]).await;
    }
    eventually("later events delivered", || all_delivered(&store, &later)).await;
    let slow_id = &slow.endpoint.id;
    assert_ne!(
        status_for(&store, &first, slow_id).await,
        DeliveryStatus::Delivered
    );

    gate.add_permits(1);
    eventually("the slow attempt delivered", || async {
        status_for(&store, &first, slow_id).await == DeliveryStatus::Delivered
    })
    .await;
    running.stop().await;
}

/// The status of `event`'s delivery to `endpoint`.
async fn status_for(
    store: &MemoryStore,
    event: &Event,
    endpoint: &WebhookEndpointId,
) -> DeliveryStatus {
    store
        .deliveries(&event.id)
        .await
        .unwrap()
        .into_iter()
        .find(|s| &s.key.endpoint == endpoint)
        .map(|s| s.status)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_attempts_in_flight() {
    let gate = Arc::new(Semaphore::new(0));
    let held = Arc::clone(&gate);
    let receiver = Receiver::start(move |_, _| Reply::Gate(Arc::clone(&held), 200)).await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("held"), &["*"], false, "k");
    add_endpoints(&store, &[&ep]).await;
    let ev = customer_created(1);
    add_events(&store, &[&ev]).await;
    let config = DispatcherConfig {
        timeout: Duration::from_secs(10),
        ..config("1m")
    };
    let running = start(dispatcher(&store, &clock, config));
    eventually("the attempt is in flight", || async {
        !receiver.hits().is_empty()
    })
    .await;

    let Running { stop, task, .. } = running;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!task.is_finished(), "stopped without finishing its attempt");
    gate.add_permits(1);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        only_delivery(&store, &ev).await.status,
        DeliveryStatus::Delivered
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_running_dispatchers_send_each_attempt_once() {
    let receiver = Receiver::start(|_, n| Reply::Status(if n == 1 { 500 } else { 200 })).await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("shared"), &["*"], false, "whsec_s");
    add_endpoints(&store, &[&ep]).await;
    let events: Vec<Event> = (1..=40).map(customer_created).collect();
    add_events(&store, &events.iter().collect::<Vec<_>>()).await;

    let one = start(dispatcher(&store, &clock, config("1s")));
    let two = start(dispatcher(&store, &clock, config("1s")));
    eventually("every first attempt recorded", || async {
        for ev in &events {
            let states = store.deliveries(&ev.id).await.unwrap();
            if states.iter().any(|s| s.attempts.is_empty()) || states.is_empty() {
                return false;
            }
        }
        true
    })
    .await;
    clock.advance(1);
    eventually("every event delivered", || all_delivered(&store, &events)).await;
    let (s1, s2) = (one.stats.snapshot(), two.stats.snapshot());
    one.stop().await;
    two.stop().await;

    assert_eq!(s1.attempts + s2.attempts, 80);
    assert_eq!(s1.stale + s2.stale, 0);
    let per_event = receiver.hits_per_event();
    for ev in &events {
        let state = only_delivery(&store, ev).await;
        assert_eq!(state.attempts.len(), 2);
        assert_eq!(per_event[ev.id.as_str()], state.attempts.len(), "{}", ev.id);
    }
}

/// A dispatcher that is dropped while running stops cleanly (the task is aborted, as at a
/// process exit), and a new one over the same store takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_run_is_taken_over_by_a_new_one() {
    let receiver = Receiver::start(|_, n| Reply::Status(if n == 1 { 500 } else { 200 })).await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("kill"), &["*"], false, "whsec_k");
    add_endpoints(&store, &[&ep]).await;
    let ev = customer_created(1);
    add_events(&store, &[&ev]).await;

    let first = start(dispatcher(&store, &clock, config("1m")));
    eventually("the first attempt recorded", || async {
        let states = store.deliveries(&ev.id).await.unwrap();
        states.iter().any(|s| !s.attempts.is_empty())
    })
    .await;
    first.task.abort();
    let _ = first.task.await;

    clock.advance(60);
    let second = start(dispatcher(&store, &clock, config("1m")));
    eventually("delivered by the second", || {
        all_delivered(&store, std::slice::from_ref(&ev))
    })
    .await;
    // Give it a moment to send anything it should not.
    tokio::time::sleep(Duration::from_millis(100)).await;
    second.stop().await;
    assert_eq!(receiver.hits().len(), 2);
    assert_eq!(only_delivery(&store, &ev).await.attempts.len(), 2);
}
