#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The receivers' harness, used as a merchant would: an idempotent, order-proof handler
//! passes; naive ones fail with the schedule that shows why.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::json;
use vinr_domain::event::EventType;
use vinr_webhooks::harness::{Harness, signed_request};
use vinr_webhooks::{Event, EventKind, Verifier, VerifyError};

/// A customer's life: created, updated twice; and two payments that succeed.
fn events() -> Vec<Event> {
    let customer = |version: u64, email: &str| json!({"object": "customer", "id": "cust_1", "email": email, "version": version});
    let payment = |id: &str| json!({"object": "payment", "id": id, "amount": 1000, "status": "succeeded", "version": 2});
    [
        ("evt_1", "customer.created", customer(1, "a@example.com")),
        ("evt_2", "customer.updated", customer(2, "b@example.com")),
        ("evt_3", "payment.succeeded", payment("pay_1")),
        ("evt_4", "customer.updated", customer(3, "c@example.com")),
        ("evt_5", "payment.succeeded", payment("pay_2")),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (id, kind, object))| {
        Event::from_value(json!({
            "id": id, "object": "event", "type": kind, "created": 1_700_000_000 + i as i64 * 60,
            "livemode": false, "data": {"object": object}
        }))
        .unwrap()
    })
    .collect()
}

/// What a careful receiver keeps: each object's newest version and email, and revenue
/// counted once per payment.
#[derive(Debug, Clone, Default, PartialEq)]
struct Shop {
    customers: BTreeMap<String, (u64, String)>,
    paid: BTreeSet<String>,
    revenue: i64,
}

fn careful(shop: &mut Shop, event: &Event) {
    match event.kind() {
        EventKind::Known(EventType::CustomerCreated | EventType::CustomerUpdated) => {
            let id = event.object_id().unwrap().to_owned();
            let held = shop.customers.get(&id).map(|(v, _)| *v);
            if held.is_none_or(|v| event.is_newer_than(v)) {
                let email = event.raw_object()["email"].as_str().unwrap().to_owned();
                shop.customers
                    .insert(id, (event.object_version().unwrap(), email));
            }
        }
        EventKind::Known(EventType::PaymentSucceeded) => {
            let first_time = shop.paid.insert(event.object_id().unwrap().to_owned());
            if first_time {
                shop.revenue += event.raw_object()["amount"].as_i64().unwrap();
            }
        }
        _ => {}
    }
}

#[test]
fn an_idempotent_order_proof_handler_passes() {
    for seed in 0..20 {
        let checked = Harness::new(seed)
            .check(&events(), Shop::default(), careful)
            .unwrap();
        assert_eq!(checked.rounds, 16);
        assert!(checked.duplicates >= 16, "{checked:?}");
        assert!(checked.reordered >= 16, "{checked:?}");
    }
}

#[test]
fn a_naive_counting_handler_fails() {
    let naive = |shop: &mut Shop, event: &Event| {
        if event.kind().known() == Some(EventType::PaymentSucceeded) {
            shop.revenue += event.raw_object()["amount"].as_i64().unwrap();
        }
    };
    let violation = Harness::new(1)
        .check(&events(), Shop::default(), naive)
        .unwrap_err();
    assert_eq!(violation.expected.revenue, 2000);
    assert!(violation.actual.revenue > 2000, "{violation}");
    assert!(violation.schedule.duplicates() > 0);
    let message = violation.to_string();
    assert!(message.contains("not idempotent"), "{message}");
    assert!(
        message.contains(&format!("seed {}", violation.schedule.seed())),
        "{message}"
    );
}

#[test]
fn a_last_write_wins_handler_fails_on_reordering() {
    /// Dedupes by event id (so duplicates are harmless), but ignores versions.
    #[derive(Debug, Clone, Default, PartialEq)]
    struct LastWriteWins {
        seen: BTreeSet<String>,
        emails: BTreeMap<String, String>,
    }
    let handler = |state: &mut LastWriteWins, event: &Event| {
        if !state.seen.insert(event.id().to_owned()) {
            return;
        }
        if let Some(email) = event.raw_object()["email"].as_str() {
            state
                .emails
                .insert(event.object_id().unwrap().to_owned(), email.to_owned());
        }
    };
    // Without duplicates, reordering alone shows it.
    let harness = Harness::new(3).duplicates(0.0);
    let violation = harness
        .check(&events(), LastWriteWins::default(), handler)
        .unwrap_err();
    assert_eq!(violation.schedule.duplicates(), 0);
    assert!(violation.schedule.reordered() > 0);
    assert_eq!(violation.expected.emails["cust_1"], "c@example.com");
    assert_ne!(violation.actual.emails, violation.expected.emails);
}

#[test]
fn run_reports_every_delivery() {
    let events = events();
    let report = Harness::new(11).run(&events, |e| e.id().to_owned());
    let schedule = report.schedule();
    assert_eq!(report.outputs().len(), schedule.deliveries().len());
    for (delivery, output) in report.iter() {
        assert_eq!(&delivery.event_id, output);
        assert_eq!(events[delivery.index].id(), output);
    }
    let delivered: BTreeSet<&str> = report.outputs().iter().map(String::as_str).collect();
    assert_eq!(delivered.len(), events.len());
    assert!(schedule.duplicates() > 0 && schedule.reordered() > 0);
    // Deterministic from the seed; another seed, another schedule.
    assert_eq!(Harness::new(11).plan(&events), *schedule);
    assert_ne!(Harness::new(12).plan(&events), *schedule);
}

#[test]
fn signed_deliveries_verify_at_their_own_time_and_are_late() {
    let events = events();
    let secrets = ["whsec_current", "whsec_previous"];
    let receiver = Verifier::new(["whsec_previous"]);
    let report = Harness::new(5).run_signed(&events, &secrets, |body, header, now| {
        receiver
            .verify(body, header, now)
            .map(|e| (e.id().to_owned(), now))
    });
    for (delivery, output) in report.iter() {
        let (id, now) = output.as_ref().unwrap();
        assert_eq!(id, &delivery.event_id);
        assert!(*now >= events[delivery.index].created());
    }
    // A delivery is signed when it is sent: a receiver that checks against the event's
    // creation time instead would refuse the late ones.
    let late = Harness::new(5).run_signed(&events, &secrets, |body, header, _| {
        let created = Event::parse(body).unwrap().created();
        receiver.verify_signature(body, header, created)
    });
    assert!(
        late.outputs()
            .iter()
            .any(|r| matches!(r, Err(VerifyError::TimestampOutsideTolerance { .. })))
    );
}

#[test]
fn signed_request_is_a_realistic_delivery() {
    let event = &events()[0];
    let (body, header) = signed_request(event, &["whsec_a", "whsec_b"], 1_700_000_123);
    assert_eq!(Event::parse(&body).unwrap(), *event);
    assert!(header.starts_with("t=1700000123,v1="));
    assert_eq!(header.matches("v1=").count(), 2);
    for secret in ["whsec_a", "whsec_b"] {
        assert!(
            Verifier::new([secret])
                .verify_signature(&body, &header, 1_700_000_123)
                .is_ok()
        );
    }
}

#[tokio::test]
async fn async_receivers() {
    let events = events();
    // Idempotent: a set of paid payment ids behind a shared handle.
    let checked = Harness::new(9)
        .check_async(
            &events,
            || Arc::new(Mutex::new(Shop::default())),
            |shop, event| async move {
                tokio::task::yield_now().await;
                careful(&mut shop.lock().unwrap(), &event);
            },
            |shop| async move { shop.lock().unwrap().clone() },
        )
        .await
        .unwrap();
    assert!(checked.deliveries > 16 * events.len());

    // A counter is not.
    let violation = Harness::new(9)
        .check_async(
            &events,
            || Arc::new(Mutex::new(0u32)),
            |count, _| async move { *count.lock().unwrap() += 1 },
            |count| async move { *count.lock().unwrap() },
        )
        .await
        .unwrap_err();
    assert!(violation.actual > violation.expected);

    let report = Harness::new(9)
        .run_async(&events, |event| async move { event.id().to_owned() })
        .await;
    assert_eq!(report.schedule(), &Harness::new(9).plan(&events));
}
