//! In-process webhook delivery, as a merchant's tests use it: `test_helpers().deliver_webhooks()`
//! (signed by the endpoint's secret at the handle's clock, retried when the clock reaches the
//! next try, failed once the schedule is spent), `webhook_deliveries`, the store it needs, and
//! `deliver_webhooks_in_background`. The receiver is a real HTTP server on `127.0.0.1:0`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Utc};
use vinr::webhooks::{EVENT_ID_HEADER, SIGNATURE_HEADER, Verifier};
use vinr::{
    CreateCustomer, CreateWebhookEndpoint, DeliveryStatus, DispatcherConfig, Error, EventId,
    InvalidRequestCode, ListEvents, ManualClock, RetrySchedule, Vinr,
};
use vinr_store::memory::MemoryStore;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    event_id: String,
    signature: String,
    body: Vec<u8>,
}

/// A receiver that records every hit and answers the scripted statuses in turn (then 200).
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    /// Serves on `127.0.0.1:0`; returns the receiver and its URL.
    async fn start(script: &[u16]) -> (Receiver, String) {
        let receiver = Receiver::default();
        receiver.script.lock().unwrap().extend(script);
        async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            r.hits.lock().unwrap().push(Hit {
                event_id: header(EVENT_ID_HEADER),
                signature: header(SIGNATURE_HEADER),
                body: body.to_vec(),
            });
            let status = r.script.lock().unwrap().pop_front().unwrap_or(200);
            StatusCode::from_u16(status).unwrap()
        }
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

/// An endpoint for every event at `url`; its secret.
async fn endpoint(vinr: &Vinr, url: &str) -> String {
    vinr.webhook_endpoints()
        .create(CreateWebhookEndpoint {
            url: url.to_owned(),
            events: vec!["*".into()],
        })
        .await
        .unwrap()
        .secret
        .unwrap()
        .expose()
        .to_owned()
}

async fn a_customer(vinr: &Vinr) -> EventId {
    vinr.customers()
        .create(CreateCustomer::default())
        .await
        .unwrap();
    vinr.events()
        .list(ListEvents::default())
        .await
        .unwrap()
        .data
        .first()
        .unwrap()
        .id
        .clone()
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

#[tokio::test]
async fn deliveries_are_signed_by_the_endpoint_secret_at_the_sandbox_clock() {
    const T: i64 = 1_900_000_000;
    let clock = ManualClock::new(at(T));
    let vinr = Vinr::builder().manual_clock(clock).build();
    let (receiver, url) = Receiver::start(&[]).await;
    let secret = endpoint(&vinr, &url).await;
    let event = a_customer(&vinr).await;

    let report = vinr.test_helpers().deliver_webhooks().await.unwrap();
    assert_eq!(
        (report.fanned_out, report.attempted, report.delivered),
        (1, 1, 1)
    );
    assert_eq!(
        (report.retrying, report.failed, report.record_errors),
        (0, 0, 0)
    );
    assert!(report.drained);
    assert_eq!(
        report.rounds, 2,
        "one round of work, one that found nothing"
    );

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.event_id, event.as_str());
    assert!(
        hit.signature.starts_with(&format!("t={T},v1=")),
        "{}",
        hit.signature
    );
    let verified = Verifier::new([secret.as_str()])
        .verify(&hit.body, &hit.signature, T)
        .unwrap();
    assert_eq!(verified.id(), event.as_str());
    assert_eq!(verified.kind().as_str(), "customer.created");
    assert!(
        Verifier::new(["whsec_other"])
            .verify_signature(&hit.body, &hit.signature, T)
            .is_err()
    );

    let deliveries = vinr
        .test_helpers()
        .webhook_deliveries(&event)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
    assert_eq!(deliveries[0].attempts[0].at, at(T));
}

#[tokio::test]
async fn a_failed_attempt_is_retried_when_the_sandbox_clock_reaches_the_next_try() {
    let clock = ManualClock::new(at(1_900_000_000));
    let vinr = Vinr::builder().manual_clock(clock.clone()).build();
    let (receiver, url) = Receiver::start(&[503]).await;
    endpoint(&vinr, &url).await;
    let event = a_customer(&vinr).await;

    let first = vinr.test_helpers().deliver_webhooks().await.unwrap();
    assert_eq!(
        (first.attempted, first.retrying, first.delivered),
        (1, 1, 0)
    );
    let deliveries = vinr
        .test_helpers()
        .webhook_deliveries(&event)
        .await
        .unwrap();
    let DeliveryStatus::Pending { next_at } = deliveries[0].status else {
        panic!("{:?}", deliveries[0].status);
    };
    // The default schedule: 1 minute, ±10 %.
    let wait = (next_at - clock.now()).num_seconds();
    assert!((54..=66).contains(&wait), "{wait}");

    // Not due yet: nothing is sent.
    clock.advance(chrono::Duration::seconds(50));
    let early = vinr.test_helpers().deliver_webhooks().await.unwrap();
    assert_eq!(early.attempted, 0);
    assert_eq!(receiver.hits().len(), 1);

    clock.advance(chrono::Duration::seconds(20));
    let second = vinr.test_helpers().deliver_webhooks().await.unwrap();
    assert_eq!((second.attempted, second.delivered), (1, 1));
    let deliveries = vinr
        .test_helpers()
        .webhook_deliveries(&event)
        .await
        .unwrap();
    assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
    let statuses: Vec<Option<u16>> = deliveries[0].attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Some(503), Some(200)]);
    assert!(deliveries[0].attempts[0].error.is_some());
    assert_eq!(receiver.hits().len(), 2);
}

#[tokio::test]
async fn a_delivery_fails_once_a_configured_schedule_is_spent() {
    let clock = ManualClock::new(at(1_900_000_000));
    let vinr = Vinr::builder()
        .manual_clock(clock.clone())
        .webhook_dispatch(DispatcherConfig {
            schedule: "5s".parse::<RetrySchedule>().unwrap(),
            ..DispatcherConfig::default()
        })
        .build();
    let (receiver, url) = Receiver::start(&[500, 500, 500]).await;
    endpoint(&vinr, &url).await;
    let event = a_customer(&vinr).await;

    let first = vinr.test_helpers().deliver_webhooks().await.unwrap();
    assert_eq!(first.retrying, 1);
    clock.advance(chrono::Duration::seconds(6));
    let last = vinr.test_helpers().deliver_webhooks().await.unwrap();
    assert_eq!((last.attempted, last.failed), (1, 1));
    clock.advance(chrono::Duration::days(1));
    assert_eq!(
        vinr.test_helpers()
            .deliver_webhooks()
            .await
            .unwrap()
            .attempted,
        0
    );
    let deliveries = vinr
        .test_helpers()
        .webhook_deliveries(&event)
        .await
        .unwrap();
    assert_eq!(deliveries[0].status, DeliveryStatus::Failed);
    assert_eq!(deliveries[0].attempts.len(), 2);
    assert_eq!(receiver.hits().len(), 2);
}

#[tokio::test]
async fn deliveries_need_a_delivery_store_with_a_custom_store() {
    let (receiver, url) = Receiver::start(&[]).await;

    let without = Vinr::builder().store(MemoryStore::new()).build();
    endpoint(&without, &url).await;
    let event = a_customer(&without).await;
    for err in [
        without.test_helpers().deliver_webhooks().await.unwrap_err(),
        without
            .test_helpers()
            .webhook_deliveries(&event)
            .await
            .unwrap_err(),
        without.deliver_webhooks_in_background().unwrap_err(),
    ] {
        let Error::InvalidRequest {
            code,
            param,
            message,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(*code, InvalidRequestCode::ParameterMissing);
        assert_eq!(param.as_deref(), Some("deliveries"));
        assert!(message.contains("VinrBuilder::deliveries"), "{message}");
    }

    let store = MemoryStore::new();
    let with = Vinr::builder()
        .store(store.clone())
        .deliveries(store)
        .build();
    endpoint(&with, &url).await;
    a_customer(&with).await;
    let report = with.test_helpers().deliver_webhooks().await.unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(receiver.hits().len(), 1);
}

#[tokio::test]
async fn an_http_handle_leaves_delivery_to_its_server_and_bad_settings_are_reported() {
    let http = Vinr::with_base_url("sk_test_123", "http://127.0.0.1:9").unwrap();
    let err = http.test_helpers().deliver_webhooks().await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidRequest { message, .. } if message.contains("server")),
        "{err:?}"
    );
    assert!(http.deliver_webhooks_in_background().is_err());

    let bad = Vinr::builder()
        .webhook_dispatch(DispatcherConfig {
            batch_size: 0,
            ..DispatcherConfig::default()
        })
        .build();
    let err = bad.test_helpers().deliver_webhooks().await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidRequest { param: Some(p), .. } if p == "webhook_dispatch"),
        "{err:?}"
    );
}

#[tokio::test]
async fn background_delivery_sends_events_as_they_happen_until_stopped() {
    let vinr = Vinr::sandbox();
    let (receiver, url) = Receiver::start(&[]).await;
    endpoint(&vinr, &url).await;
    let worker = vinr.deliver_webhooks_in_background().unwrap();
    let first = a_customer(&vinr).await;
    let second = a_customer(&vinr).await;

    let mut waited = Duration::ZERO;
    while worker.stats().delivered < 2 {
        assert!(waited < Duration::from_secs(20), "{:?}", receiver.hits());
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    let mut ids: Vec<String> = receiver.hits().into_iter().map(|h| h.event_id).collect();
    ids.sort();
    let mut expected = vec![first.to_string(), second.to_string()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(worker.stats().delivered, 2);
    worker.stop().await;

    // Stopped: a new event waits for the next flush.
    a_customer(&vinr).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(receiver.hits().len(), 2);
    let report = vinr.test_helpers().deliver_webhooks().await.unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(receiver.hits().len(), 3);
}

#[test]
fn background_delivery_needs_a_tokio_runtime() {
    let err = Vinr::sandbox()
        .deliver_webhooks_in_background()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidRequest { param: Some(p), .. } if p == "runtime"),
        "{err:?}"
    );
}
