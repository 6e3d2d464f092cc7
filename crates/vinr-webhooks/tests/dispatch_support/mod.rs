//! What the dispatcher's tests share: a clock the test moves, a real HTTP receiver on
//! `127.0.0.1:0` that records every hit and answers from a script, and fixtures (endpoints and
//! events committed to a memory store).

#![allow(dead_code)] // Each test file uses a part.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use vinr_domain::customer::{Customer, CustomerFields};
use vinr_domain::event::{EventFilter, EventType};
use vinr_domain::ids::{CustomerId, EventId, WebhookEndpointId};
use vinr_domain::webhook::{EndpointRecord, WebhookSecret};
use vinr_ports::clock::Clock;
use vinr_ports::delivery::{DeliveryState, DeliveryStore};
use vinr_ports::event::{Event, EventData, EventObject};
use vinr_ports::store::{Store, Write, WriteSet};
use vinr_store::memory::MemoryStore;
use vinr_webhooks::dispatch::{
    Dispatcher, DispatcherConfig, FixedJitter, ReqwestSender, RetrySchedule,
};
use vinr_webhooks::{EVENT_ID_HEADER, SIGNATURE_HEADER};

/// The tests' epoch: 2023-11-14T22:13:20Z.
pub(crate) const T0: i64 = 1_700_000_000;

/// [`T0`] as a time.
pub(crate) fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(T0, 0).unwrap()
}

/// A clock that moves only when the test moves it.
#[derive(Debug)]
pub(crate) struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    /// A clock at [`T0`].
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(t0())))
    }

    /// Moves the clock `seconds` ahead.
    pub(crate) fn advance(&self, seconds: i64) {
        *self.0.lock().unwrap() += chrono::Duration::seconds(seconds);
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// How the receiver answers one hit.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// This status, at once.
    Status(u16),
    /// This status, after sleeping this long.
    Late(Duration, u16),
    /// A `307` to this location.
    Redirect(String),
    /// This status, once a permit of the semaphore is given (the test opens the gate).
    Gate(Arc<tokio::sync::Semaphore>, u16),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    /// The path.
    pub(crate) path: String,
    /// `x-vinr-event-id`.
    pub(crate) event_id: Option<String>,
    /// `x-vinr-signature`.
    pub(crate) signature: Option<String>,
    /// `content-type`.
    pub(crate) content_type: Option<String>,
    /// The raw body.
    pub(crate) body: Vec<u8>,
}

type Script = dyn Fn(&Hit, usize) -> Reply + Send + Sync;

struct Shared {
    hits: Mutex<Vec<Hit>>,
    script: Box<Script>,
}

/// A webhook receiver on `127.0.0.1:0`.
pub(crate) struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver that answers `script(hit, n)`, `n` counting the hits of the hit's event id
    /// on the hit's path from 1 (so `n == 1` is the first attempt of that event to the
    /// endpoint at that path).
    pub(crate) async fn start(
        script: impl Fn(&Hit, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let shared = Arc::new(Shared {
            hits: Mutex::new(Vec::new()),
            script: Box::new(script),
        });
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared, task }
    }

    /// A receiver that always answers 200.
    pub(crate) async fn ok() -> Self {
        Self::start(|_, _| Reply::Status(200)).await
    }

    /// The URL of `path` on it.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// Every hit so far, oldest first.
    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// How many hits each event id got.
    pub(crate) fn hits_per_event(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for hit in self.hits() {
            *counts.entry(hit.event_id.unwrap_or_default()).or_default() += 1;
        }
        counts
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let hit = Hit {
        path: uri.path().to_owned(),
        event_id: header(EVENT_ID_HEADER),
        signature: header(SIGNATURE_HEADER),
        content_type: header("content-type"),
        body: body.to_vec(),
    };
    let reply = {
        let mut hits = shared.hits.lock().unwrap();
        hits.push(hit.clone());
        let n = hits
            .iter()
            .filter(|h| h.event_id == hit.event_id && h.path == hit.path)
            .count();
        (shared.script)(&hit, n)
    };
    let status = |code: u16| StatusCode::from_u16(code).unwrap();
    match reply {
        Reply::Status(code) => status(code).into_response(),
        Reply::Late(wait, code) => {
            tokio::time::sleep(wait).await;
            status(code).into_response()
        }
        Reply::Gate(gate, code) => {
            gate.acquire().await.unwrap().forget();
            status(code).into_response()
        }
        Reply::Redirect(location) => {
            (StatusCode::TEMPORARY_REDIRECT, [("location", location)]).into_response()
        }
    }
}

/// 24 bytes of entropy that make a distinct id for each `n` (and `kind`).
fn entropy(kind: u8, n: u32) -> [u8; 24] {
    let mut e = [kind; 24];
    let mut rest = n;
    for byte in e.iter_mut().rev().take(6) {
        *byte = (rest % 62) as u8;
        rest /= 62;
    }
    e
}

/// An enabled endpoint at `url` taking `events` (wire strings), signed by `secret`.
pub(crate) fn endpoint(
    n: u32,
    url: &str,
    events: &[&str],
    livemode: bool,
    secret: &str,
) -> EndpointRecord {
    let wire: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
    EndpointRecord::new(
        WebhookEndpointId::from_entropy(&entropy(1, n)),
        url.to_owned(),
        &EventFilter::parse(&wire).unwrap(),
        WebhookSecret::new(secret),
        livemode,
        t0(),
    )
}

/// An event of `kind` about a fresh customer, created at `created`.
pub(crate) fn event(n: u32, kind: EventType, livemode: bool, created: DateTime<Utc>) -> Event {
    let customer = Customer::new(
        CustomerId::from_entropy(&entropy(2, n)),
        CustomerFields {
            email: Some(format!("buyer{n}@example.com")),
            ..CustomerFields::default()
        },
        livemode,
        created,
    );
    Event {
        id: EventId::from_entropy(&entropy(3, n)),
        kind,
        created,
        livemode,
        data: EventData {
            object: EventObject::Customer(customer),
            previous_attributes: None,
        },
    }
}

/// A sandbox `customer.created` event created at [`T0`].
pub(crate) fn customer_created(n: u32) -> Event {
    event(n, EventType::CustomerCreated, false, t0())
}

/// Commits a write set.
pub(crate) async fn commit(store: &MemoryStore, writes: WriteSet) {
    store.commit(writes).await.unwrap();
}

/// Stores new endpoints.
pub(crate) async fn add_endpoints(store: &MemoryStore, endpoints: &[&EndpointRecord]) {
    let writes = WriteSet {
        endpoints: endpoints
            .iter()
            .map(|e| Write::Insert((*e).clone()))
            .collect(),
        ..WriteSet::default()
    };
    commit(store, writes).await;
}

/// Stores an endpoint's new state (`next.version` is one more than the stored one).
pub(crate) async fn update_endpoint(store: &MemoryStore, next: &EndpointRecord) {
    let writes = WriteSet {
        endpoints: vec![Write::Update {
            expected: next.version - 1,
            value: next.clone(),
        }],
        ..WriteSet::default()
    };
    commit(store, writes).await;
}

/// Deletes a stored endpoint.
pub(crate) async fn delete_endpoint(store: &MemoryStore, endpoint: &EndpointRecord) {
    let writes = WriteSet {
        endpoints: vec![Write::Delete {
            expected: endpoint.version,
            value: endpoint.clone(),
        }],
        ..WriteSet::default()
    };
    commit(store, writes).await;
}

/// Stores new events (the outbox).
pub(crate) async fn add_events(store: &MemoryStore, events: &[&Event]) {
    let writes = WriteSet {
        events: events.iter().map(|e| (*e).clone()).collect(),
        ..WriteSet::default()
    };
    commit(store, writes).await;
}

/// The one delivery of `event`.
pub(crate) async fn only_delivery(store: &MemoryStore, event: &Event) -> DeliveryState {
    let mut all = store.deliveries(&event.id).await.unwrap();
    assert_eq!(all.len(), 1, "deliveries of {}: {all:?}", event.id);
    all.remove(0)
}

/// Test settings: `schedule`, a 300 ms timeout, small batches, short pauses.
pub(crate) fn config(schedule: &str) -> DispatcherConfig {
    DispatcherConfig {
        schedule: RetrySchedule::parse(schedule).unwrap(),
        timeout: Duration::from_millis(300),
        lease: Duration::from_secs(30),
        batch_size: 10,
        concurrency: 4,
        idle_interval: Duration::from_millis(20),
        error_pause: Duration::from_millis(20),
        ..DispatcherConfig::default()
    }
}

/// A dispatcher over `store` with the real HTTP sender, the test clock, no jitter.
pub(crate) fn dispatcher(
    store: &MemoryStore,
    clock: &Arc<TestClock>,
    config: DispatcherConfig,
) -> Dispatcher {
    let store: Arc<dyn DeliveryStore> = Arc::new(store.clone());
    let clock: Arc<dyn Clock> = clock.clone();
    Dispatcher::new(
        store,
        Arc::new(ReqwestSender::new().unwrap()),
        clock,
        config,
    )
    .unwrap()
    .with_jitter(Arc::new(FixedJitter(0.0)))
}
