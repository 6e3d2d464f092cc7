#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The dispatcher, one `tick` at a time, against a real HTTP receiver on `127.0.0.1:0` and the
//! memory `DeliveryStore`, under a clock the test moves: retries, timeouts, a spent schedule,
//! rotation overlap, filters and modes, deleted and disabled endpoints, restarts, two
//! dispatchers on one store, redirects, error texts, the purge and the counters.

mod dispatch_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use dispatch_support::*;
use vinr_domain::event::EventType;
use vinr_domain::webhook::{EndpointStatus, WebhookSecret};
use vinr_ports::delivery::{DeliveryStatus, DeliveryStore};
use vinr_store::memory::MemoryStore;
use vinr_webhooks::dispatch::FixedJitter;
use vinr_webhooks::{Verifier, VerifyError, parse_header};

/// Moves the clock and ticks once.
async fn tick_at(d: &vinr_webhooks::dispatch::Dispatcher, clock: &TestClock, ahead: i64) {
    clock.advance(ahead);
    d.tick().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_then_a_200_is_delivered_on_the_second_attempt() {
    let receiver = Receiver::start(|_, n| Reply::Status(if n == 1 { 500 } else { 200 })).await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("hooks"), &["*"], false, "whsec_one");
    add_endpoints(&store, &[&ep]).await;
    let ev = customer_created(1);
    add_events(&store, &[&ev]).await;
    let d = dispatcher(&store, &clock, config("1m,5m"));

    let first = d.tick().await.unwrap();
    assert_eq!(
        (first.fanned_out, first.claimed, first.retrying),
        (1, 1, 1),
        "{first:?}"
    );
    assert_eq!(
        only_delivery(&store, &ev).await.status,
        DeliveryStatus::Pending {
            next_at: t0() + Span::seconds(60)
        }
    );

    // Not due before its time.
    clock.advance(59);
    assert!(d.tick().await.unwrap().is_idle());
    assert_eq!(receiver.hits().len(), 1);

    clock.advance(1);
    let second = d.tick().await.unwrap();
    assert_eq!((second.claimed, second.delivered), (1, 1), "{second:?}");

    let state = only_delivery(&store, &ev).await;
    assert_eq!(state.status, DeliveryStatus::Delivered);
    let numbers: Vec<u32> = state.attempts.iter().map(|a| a.attempt).collect();
    let statuses: Vec<Option<u16>> = state.attempts.iter().map(|a| a.status).collect();
    let times: Vec<i64> = state.attempts.iter().map(|a| a.at.timestamp()).collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(statuses, [Some(500), Some(200)]);
    assert_eq!(times, [T0, T0 + 60]);
    assert_eq!(
        state.attempts[0].error.as_deref(),
        Some("the endpoint answered HTTP 500")
    );
    assert_eq!(state.attempts[1].error, None);

    // The receiver saw the same event twice, each time signed and with the same body.
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2);
    let expected_body = serde_json::to_vec(&ev).unwrap();
    let verifier = Verifier::new(["whsec_one"]);
    for (hit, t) in hits.iter().zip([T0, T0 + 60]) {
        assert_eq!(hit.path, "/hooks");
        assert_eq!(hit.event_id.as_deref(), Some(ev.id.as_str()));
        assert_eq!(hit.content_type.as_deref(), Some("application/json"));
        assert_eq!(hit.body, expected_body);
        let signature = hit.signature.as_deref().unwrap();
        assert_eq!(parse_header(signature).unwrap().timestamp, t);
        let got = verifier.verify(&hit.body, signature, t).unwrap();
        assert_eq!(got.id(), ev.id.as_str());
    }

    // Done: nothing more is sent, however long we wait.
    tick_at(&d, &clock, 86_400).await;
    assert_eq!(receiver.hits().len(), 2);
    let stats = d.stats().snapshot();
    assert_eq!(
        (stats.attempts, stats.delivered, stats.retried, stats.failed),
        (2, 1, 1, 0)
    );
    assert_eq!(stats.fanned_out, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_within_the_timeout_is_retried() {
    // The first answer comes long after the test's 300 ms timeout.
    let receiver = Receiver::start(|_, n| {
        if n == 1 {
            Reply::Late(Duration::from_secs(3), 200)
        } else {
            Reply::Status(204)
        }
    })
    .await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("slow"), &["*"], false, "whsec_slow");
    add_endpoints(&store, &[&ep]).await;
    let ev = customer_created(1);
    add_events(&store, &[&ev]).await;
    let d = dispatcher(&store, &clock, config("1m"));

    let started = std::time::Instant::now();
    let first = d.tick().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the tick waited for the answer"
    );
    assert_eq!(first.retrying, 1, "{first:?}");
    let state = only_delivery(&store, &ev).await;
    let attempt = &state.attempts[0];
    assert_eq!(attempt.status, None);
    assert_eq!(attempt.error.as_deref(), Some("no answer within 300 ms"));
    assert!(attempt.latency_ms >= 300, "{attempt:?}");
    assert!(matches!(state.status, DeliveryStatus::Pending { .. }));

    tick_at(&d, &clock, 60).await;
    let state = only_delivery(&store, &ev).await;
    assert_eq!(state.status, DeliveryStatus::Delivered);
    let statuses: Vec<Option<u16>> = state.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [None, Some(204)]);
    assert_eq!(receiver.hits().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_schedule_fails_the_delivery_and_sends_no_more() {
    let receiver = Receiver::start(|_, _| Reply::Status(503)).await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("down"), &["*"], false, "whsec_down");
    add_endpoints(&store, &[&ep]).await;
    let ev = customer_created(1);
    add_events(&store, &[&ev]).await;
    let d = dispatcher(&store, &clock, config("1s,1s"));

    let r1 = d.tick().await.unwrap();
    clock.advance(1);
    let r2 = d.tick().await.unwrap();
    clock.advance(1);
    let r3 = d.tick().await.unwrap();
    assert_eq!((r1.retrying, r2.retrying, r3.failed), (1, 1, 1));

    let state = only_delivery(&store, &ev).await;
    assert_eq!(state.status, DeliveryStatus::Failed);
    let statuses: Vec<Option<u16>> = state.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503); 3]);

    for _ in 0..3 {
        tick_at(&d, &clock, 3_600).await;
    }
    assert_eq!(receiver.hits().len(), 3);
    let stats = d.stats().snapshot();
    assert_eq!((stats.attempts, stats.retried, stats.failed), (3, 2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_jittered_by_at_most_a_tenth() {
    let receiver = Receiver::start(|_, _| Reply::Status(500)).await;
    for (sample, expected) in [(1.0, 110), (-1.0, 90), (0.5, 105), (0.0, 100)] {
        let store = MemoryStore::new();
        let clock = TestClock::new();
        let ep = endpoint(1, &receiver.url("j"), &["*"], false, "whsec_j");
        add_endpoints(&store, &[&ep]).await;
        let ev = customer_created(1);
        add_events(&store, &[&ev]).await;
        let d =
            dispatcher(&store, &clock, config("100s")).with_jitter(Arc::new(FixedJitter(sample)));
        d.tick().await.unwrap();
        assert_eq!(
            only_delivery(&store, &ev).await.status,
            DeliveryStatus::Pending {
                next_at: t0() + Span::seconds(expected)
            },
            "sample {sample}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_rotation_overlap_deliveries_carry_both_signatures() {
    let receiver = Receiver::ok().await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("rot"), &["*"], false, "whsec_old");
    add_endpoints(&store, &[&ep]).await;
    let rotated = ep.rotated(WebhookSecret::new("whsec_new"), Span::hours(1), t0());
    update_endpoint(&store, &rotated).await;
    let d = dispatcher(&store, &clock, config("1m"));

    let during = customer_created(1);
    add_events(&store, &[&during]).await;
    d.tick().await.unwrap();

    // After the overlap, only the new secret signs.
    clock.advance(2 * 3_600);
    let after = customer_created(2);
    add_events(&store, &[&after]).await;
    d.tick().await.unwrap();

    let hits = receiver.hits();
    assert_eq!(hits.len(), 2);
    let (h1, h2) = (&hits[0], &hits[1]);
    let (s1, s2) = (
        h1.signature.as_deref().unwrap(),
        h2.signature.as_deref().unwrap(),
    );
    let (t1, t2) = (T0, T0 + 2 * 3_600);

    assert_eq!(parse_header(s1).unwrap().signatures.len(), 2);
    for secret in ["whsec_new", "whsec_old"] {
        Verifier::new([secret])
            .verify_signature(&h1.body, s1, t1)
            .unwrap_or_else(|e| panic!("{secret}: {e}"));
    }
    assert_eq!(
        Verifier::new(["whsec_other"]).verify_signature(&h1.body, s1, t1),
        Err(VerifyError::NoMatchingSignature)
    );

    assert_eq!(parse_header(s2).unwrap().signatures.len(), 1);
    Verifier::new(["whsec_new"])
        .verify_signature(&h2.body, s2, t2)
        .unwrap();
    assert_eq!(
        Verifier::new(["whsec_old"]).verify_signature(&h2.body, s2, t2),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_modes_choose_the_endpoints() {
    let receiver = Receiver::ok().await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let payments_only = endpoint(1, &receiver.url("a"), &["payment.succeeded"], false, "k");
    let customers = endpoint(
        2,
        &receiver.url("b"),
        &["customer.created", "customer.deleted"],
        false,
        "k",
    );
    let live = endpoint(3, &receiver.url("c"), &["*"], true, "k");
    let everything = endpoint(4, &receiver.url("d"), &["*"], false, "k");
    add_endpoints(&store, &[&payments_only, &customers, &live, &everything]).await;
    let created = customer_created(1);
    let updated = event(2, EventType::CustomerUpdated, false, t0());
    let live_event = event(3, EventType::CustomerCreated, true, t0());
    add_events(&store, &[&created, &updated, &live_event]).await;
    let d = dispatcher(&store, &clock, config("1m"));

    let report = d.tick().await.unwrap();
    assert_eq!((report.fanned_out, report.delivered), (4, 4), "{report:?}");

    let got: HashSet<(String, String)> = receiver
        .hits()
        .into_iter()
        .map(|h| (h.path, h.event_id.unwrap()))
        .collect();
    let want: HashSet<(String, String)> = [
        ("/b", &created),
        ("/d", &created),
        ("/d", &updated),
        ("/c", &live_event),
    ]
    .into_iter()
    .map(|(p, e)| (p.to_owned(), e.id.as_str().to_owned()))
    .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_endpoint_gets_no_more_deliveries() {
    let receiver = Receiver::start(|_, _| Reply::Status(500)).await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("gone"), &["*"], false, "whsec_gone");
    add_endpoints(&store, &[&ep]).await;
    let ev = customer_created(1);
    add_events(&store, &[&ev]).await;
    let d = dispatcher(&store, &clock, config("1m,1m"));
    d.tick().await.unwrap();
    assert_eq!(receiver.hits().len(), 1);

    delete_endpoint(&store, &ep).await;
    let later = customer_created(2);
    add_events(&store, &[&later]).await;
    clock.advance(60);
    let report = d.tick().await.unwrap();
    assert_eq!((report.fanned_out, report.claimed), (0, 0), "{report:?}");
    assert_eq!(receiver.hits().len(), 1);
    let state = only_delivery(&store, &ev).await;
    assert_eq!(state.status, DeliveryStatus::Failed);
    assert_eq!(state.attempts.len(), 1);
    assert!(store.deliveries(&later.id).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_endpoint_is_not_sent_to() {
    let receiver = Receiver::ok().await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("off"), &["*"], false, "whsec_off");
    add_endpoints(&store, &[&ep]).await;
    let ev = customer_created(1);
    add_events(&store, &[&ev]).await;
    // Fanned out while enabled, then disabled before its attempt.
    store.fan_out(t0(), 10).await.unwrap();
    let mut off = ep.clone();
    off.endpoint.status = EndpointStatus::Disabled;
    off.version += 1;
    update_endpoint(&store, &off).await;

    let d = dispatcher(&store, &clock, config("1m"));
    let report = d.tick().await.unwrap();
    assert_eq!((report.claimed, report.failed), (1, 1), "{report:?}");
    assert!(receiver.hits().is_empty());
    let state = only_delivery(&store, &ev).await;
    assert_eq!(state.status, DeliveryStatus::Failed);
    assert_eq!(
        state.attempts[0].error.as_deref(),
        Some("the endpoint is disabled; not sent")
    );
    assert_eq!(d.stats().snapshot().attempts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_dispatcher_resumes_where_the_last_one_stopped() {
    let receiver = Receiver::start(|_, n| Reply::Status(if n == 1 { 500 } else { 200 })).await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("r"), &["*"], false, "whsec_r");
    add_endpoints(&store, &[&ep]).await;
    let ev = customer_created(1);
    add_events(&store, &[&ev]).await;

    let first = dispatcher(&store, &clock, config("1m,5m"));
    first.tick().await.unwrap();
    drop(first);

    let second = dispatcher(&store, &clock, config("1m,5m"));
    assert!(
        second.tick().await.unwrap().is_idle(),
        "retried before its time"
    );
    for _ in 0..3 {
        tick_at(&second, &clock, 60).await;
    }
    let state = only_delivery(&store, &ev).await;
    assert_eq!(state.status, DeliveryStatus::Delivered);
    assert_eq!(state.attempts.len(), 2);
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2);
    assert_eq!(second.stats().snapshot().delivered, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_cut_off_before_its_record_is_made_again_after_the_lease() {
    // A crash mid-attempt: the receiver got the request, but no record was made.
    let never = Arc::new(tokio::sync::Semaphore::new(0));
    let receiver = Receiver::start(move |_, n| {
        if n == 1 {
            Reply::Gate(Arc::clone(&never), 200)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("crash"), &["*"], false, "whsec_c");
    add_endpoints(&store, &[&ep]).await;
    let ev = customer_created(1);
    add_events(&store, &[&ev]).await;

    let patient = vinr_webhooks::dispatch::DispatcherConfig {
        timeout: Duration::from_secs(10),
        ..config("1m")
    };
    let crashed = dispatcher(&store, &clock, patient);
    tokio::select! {
        _ = crashed.tick() => panic!("the tick finished before it was cut off"),
        () = async {
            while receiver.hits().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } => {}
    }
    drop(crashed);
    assert_eq!(receiver.hits().len(), 1);
    assert!(only_delivery(&store, &ev).await.attempts.is_empty());

    let next = dispatcher(&store, &clock, config("1m"));
    // Still leased (30 s) to the one that crashed.
    tick_at(&next, &clock, 29).await;
    assert_eq!(receiver.hits().len(), 1);
    tick_at(&next, &clock, 1).await;
    let state = only_delivery(&store, &ev).await;
    assert_eq!(state.status, DeliveryStatus::Delivered);
    assert_eq!(state.attempts.len(), 1);
    // At least once: the receiver saw it twice, with the same event id.
    assert_eq!(receiver.hits_per_event()[ev.id.as_str()], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dispatchers_on_one_store_send_each_attempt_once() {
    let receiver = Receiver::start(|_, n| Reply::Status(if n == 1 { 500 } else { 200 })).await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let a = endpoint(1, &receiver.url("a"), &["*"], false, "whsec_a");
    let b = endpoint(
        2,
        &receiver.url("b"),
        &["customer.created"],
        false,
        "whsec_b",
    );
    add_endpoints(&store, &[&a, &b]).await;
    let events: Vec<_> = (1..=25).map(customer_created).collect();
    add_events(&store, &events.iter().collect::<Vec<_>>()).await;

    let one = dispatcher(&store, &clock, config("1s"));
    let two = dispatcher(&store, &clock, config("1s"));
    let mut claimed = 0;
    for _ in 0..10 {
        let (r1, r2) = tokio::join!(one.tick(), two.tick());
        let (r1, r2) = (r1.unwrap(), r2.unwrap());
        assert_eq!(r1.stale + r2.stale, 0);
        claimed += r1.claimed + r2.claimed;
        clock.advance(1);
    }
    // 25 events × 2 endpoints × 2 attempts.
    assert_eq!(claimed, 100);
    let (s1, s2) = (one.stats().snapshot(), two.stats().snapshot());
    assert!(s1.attempts > 0 && s2.attempts > 0, "{s1:?} {s2:?}");
    assert_eq!(s1.delivered + s2.delivered, 50);

    let hits = receiver.hits();
    for ev in &events {
        let mut recorded = 0;
        for state in store.deliveries(&ev.id).await.unwrap() {
            assert_eq!(state.status, DeliveryStatus::Delivered);
            recorded += state.attempts.len();
        }
        let received = hits
            .iter()
            .filter(|h| h.event_id.as_deref() == Some(ev.id.as_str()))
            .count();
        assert_eq!((received, recorded), (4, 4), "{}", ev.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_answers_not_followed() {
    let receiver = Receiver::start(|hit, _| {
        if hit.path == "/moved" {
            Reply::Redirect("/target".to_owned())
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("moved"), &["*"], false, "whsec_m");
    add_endpoints(&store, &[&ep]).await;
    let ev = customer_created(1);
    add_events(&store, &[&ev]).await;
    let d = dispatcher(&store, &clock, config("1m"));
    d.tick().await.unwrap();

    let paths: Vec<String> = receiver.hits().into_iter().map(|h| h.path).collect();
    assert_eq!(paths, ["/moved"]);
    let state = only_delivery(&store, &ev).await;
    assert_eq!(state.attempts[0].status, Some(307));
    assert!(matches!(state.status, DeliveryStatus::Pending { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempt_errors_show_no_secret_url_or_body() {
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let slow = Receiver::start(|_, _| Reply::Late(Duration::from_secs(3), 200)).await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let refused = endpoint(
        1,
        &format!("http://{closed}/hook?token=tok_urlsecret"),
        &["*"],
        false,
        "whsec_topsecret",
    );
    let late = endpoint(
        2,
        &format!("{}?token=tok_urlsecret", slow.url("hook")),
        &["*"],
        false,
        "whsec_topsecret",
    );
    let bad_url = endpoint(3, "not a url", &["*"], false, "whsec_topsecret");
    add_endpoints(&store, &[&refused, &late, &bad_url]).await;
    let ev = customer_created(1);
    add_events(&store, &[&ev]).await;
    let d = dispatcher(&store, &clock, config("1m"));
    let report = d.tick().await.unwrap();
    assert_eq!(report.retrying, 3, "{report:?}");

    let mut errors: Vec<String> = store
        .deliveries(&ev.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.attempts[0].error.clone().unwrap())
        .collect();
    errors.sort();
    assert!(errors[0].starts_with("could not connect: "), "{errors:?}");
    assert_eq!(errors[1], "no answer within 300 ms");
    assert!(
        errors[2].starts_with("the endpoint URL is not usable: "),
        "{errors:?}"
    );
    let body = String::from_utf8(serde_json::to_vec(&ev).unwrap()).unwrap();
    for error in &errors {
        for leak in [
            "whsec_",
            "topsecret",
            "urlsecret",
            "127.0.0.1",
            "buyer1@example.com",
            body.as_str(),
        ] {
            assert!(!error.contains(leak), "{error:?} shows {leak:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_past_their_retention_are_purged_at_most_hourly() {
    let receiver = Receiver::ok().await;
    let store = MemoryStore::new();
    let clock = TestClock::new();
    let ep = endpoint(1, &receiver.url("p"), &["*"], false, "whsec_p");
    add_endpoints(&store, &[&ep]).await;
    let old = event(1, EventType::CustomerCreated, false, t0() - Span::days(31));
    let recent = event(
        2,
        EventType::CustomerCreated,
        false,
        t0() - Span::seconds(100),
    );
    add_events(&store, &[&old, &recent]).await;
    let d = dispatcher(&store, &clock, config("1m"));

    let first = d.tick().await.unwrap();
    assert_eq!(first.purged, Some(1), "{first:?}");
    assert_eq!(first.delivered, 1);
    let ids: Vec<Option<String>> = receiver.hits().into_iter().map(|h| h.event_id).collect();
    assert_eq!(ids, [Some(recent.id.as_str().to_owned())]);
    // The recent event waited 100 s for its first attempt.
    assert_eq!(d.stats().snapshot().last_lag_seconds, 100);

    clock.advance(3_599);
    assert_eq!(d.tick().await.unwrap().purged, None);
    clock.advance(1);
    assert_eq!(d.tick().await.unwrap().purged, Some(0));
    let stats = d.stats().snapshot();
    assert_eq!((stats.purged_events, stats.last_lag_seconds), (1, 0));
}
