#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The receiver's event: what the engine sends reads back typed; what a newer server sends
//! still reads.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use vinr_domain::customer::{Customer, CustomerFields};
use vinr_domain::event::EventType;
use vinr_domain::ids::{CustomerId, EventId, PaymentId, PaymentMethodId, SetupId};
use vinr_domain::setup::SetupRecord;
use vinr_ports::event::{Event as Envelope, EventData, EventObject};
use vinr_webhooks::harness::signed_request;
use vinr_webhooks::{Event, EventKind, Object, Verifier};

const T: i64 = 1_700_000_000;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(T, 0).unwrap()
}

fn customer() -> Customer {
    let fields = CustomerFields {
        email: Some("buyer@example.com".into()),
        name: Some("Ada Buyer".into()),
        ..Default::default()
    };
    Customer::new(CustomerId::from_entropy(&[7; 24]), fields, false, now())
}

fn envelope(kind: EventType, object: EventObject) -> Envelope {
    Envelope {
        id: EventId::from_entropy(&[1; 24]),
        kind,
        created: now(),
        livemode: false,
        data: EventData {
            object,
            previous_attributes: None,
        },
    }
}

/// Objects built through the ports' own serde, so they are exactly what the engine can send.
fn objects() -> Vec<(EventType, EventObject)> {
    let setup = SetupRecord::create(
        SetupId::from_entropy(&[3; 24]),
        customer().id,
        "https://vinr.example/setup".into(),
        "https://shop.example/back".into(),
        false,
        now(),
    )
    .setup;
    let method: EventObject = serde_json::from_value(json!({
        "object": "payment_method",
        "id": PaymentMethodId::from_entropy(&[4; 24]).as_str(),
        "customerId": customer().id.as_str(),
        "type": "card",
        "brand": "visa",
        "last4": "4242",
        "expMonth": 12,
        "expYear": 2034,
        "fingerprint": "fp_abc",
        "funding": "credit",
        "created": T,
        "livemode": false,
        "version": 2,
    }))
    .unwrap();
    let payment: EventObject = serde_json::from_value(json!({
        "object": "payment",
        "id": PaymentId::from_entropy(&[5; 24]).as_str(),
        "amount": 2500,
        "currency": "EUR",
        "status": "succeeded",
        "customerId": customer().id.as_str(),
        "paymentMethodId": PaymentMethodId::from_entropy(&[4; 24]).as_str(),
        "offSession": true,
        "description": null,
        "metadata": {"order": "42"},
        "savePaymentMethod": false,
        "returnUrl": null,
        "checkoutUrl": null,
        "nextAction": null,
        "lastError": null,
        "created": T,
        "livemode": false,
        "version": 3,
    }))
    .unwrap();
    assert!(matches!(method, EventObject::PaymentMethod(_)));
    assert!(matches!(payment, EventObject::Payment(_)));
    vec![
        (
            EventType::CustomerCreated,
            EventObject::Customer(customer()),
        ),
        (EventType::PaymentMethodAttached, method),
        (EventType::SetupCanceled, EventObject::Setup(setup)),
        (EventType::PaymentSucceeded, payment),
    ]
}

fn same_object(ours: &Object, theirs: &EventObject) -> bool {
    match (ours, theirs) {
        (Object::Customer(a), EventObject::Customer(b)) => **a == *b,
        (Object::PaymentMethod(a), EventObject::PaymentMethod(b)) => **a == *b,
        (Object::Setup(a), EventObject::Setup(b)) => **a == *b,
        (Object::Payment(a), EventObject::Payment(b)) => **a == *b,
        _ => false,
    }
}

#[test]
fn what_the_engine_sends_reads_back_known_and_typed() {
    for (kind, object) in objects() {
        let sent = envelope(kind, object.clone());
        let body = serde_json::to_vec(&sent).unwrap();
        for event in [
            Event::parse(&body).unwrap(),
            Event::from_envelope(&sent).unwrap(),
        ] {
            assert_eq!(event.id(), sent.id.as_str());
            assert_eq!(event.kind(), &EventKind::Known(kind));
            assert_eq!(event.created(), T);
            assert!(!event.livemode());
            assert!(
                same_object(event.object(), &object),
                "{kind}: {:?}",
                event.object()
            );
            assert_eq!(event.object_id(), Some(object.id()));
            assert_eq!(event.object_version(), Some(object.version()));
            assert!(event.extra().is_empty(), "{:?}", event.extra());
            assert!(event.data().previous_attributes().is_none());
            // Serializing gives back exactly what was sent.
            assert_eq!(
                serde_json::to_value(&event).unwrap(),
                serde_json::to_value(&sent).unwrap()
            );
        }
    }
}

#[test]
fn every_event_type_is_known() {
    for kind in EventType::ALL {
        let sent = envelope(*kind, EventObject::Customer(customer()));
        let event = Event::from_envelope(&sent).unwrap();
        assert_eq!(event.kind().known(), Some(*kind));
    }
}

#[test]
fn previous_attributes_arrive() {
    let mut sent = envelope(
        EventType::CustomerUpdated,
        EventObject::Customer(customer()),
    );
    let mut before = serde_json::Map::new();
    before.insert("email".into(), json!("old@example.com"));
    sent.data.previous_attributes = Some(before.clone());
    let event = Event::from_envelope(&sent).unwrap();
    assert_eq!(event.data().previous_attributes(), Some(&before));
}

#[test]
fn an_unknown_type_with_an_extra_field_is_kept() {
    let raw = json!({
        "id": "evt_newer", "object": "event", "type": "payment.refunded", "created": T,
        "livemode": true, "apiVersion": "2031-01-01", "request": {"id": "req_1"},
        "data": {"object": {"object": "refund", "id": "re_1", "amount": 500, "version": 1}}
    });
    let body = serde_json::to_vec(&raw).unwrap();
    let event = Event::parse(&body).unwrap();
    assert_eq!(event.kind(), &EventKind::Unknown("payment.refunded".into()));
    assert_eq!(event.kind().as_str(), "payment.refunded");
    assert_eq!(event.extra().len(), 2);
    assert_eq!(event.extra()["apiVersion"], "2031-01-01");
    assert_eq!(event.extra()["request"]["id"], "req_1");
    assert!(matches!(event.object(), Object::Other(v) if v["amount"] == 500));
    assert_eq!(
        (event.object_id(), event.object_version()),
        (Some("re_1"), Some(1))
    );
    assert_eq!(event.raw(), &raw);
    assert_eq!(serde_json::to_value(&event).unwrap(), raw);

    // And it verifies like any other delivery.
    let (body, header) = signed_request(&event, &["whsec_k"], T);
    assert_eq!(
        Verifier::new(["whsec_k"])
            .verify(&body, &header, T)
            .unwrap(),
        event
    );
}

#[test]
fn a_known_object_with_unknown_fields_still_parses_typed() {
    let sent = envelope(
        EventType::CustomerCreated,
        EventObject::Customer(customer()),
    );
    let mut raw = serde_json::to_value(&sent).unwrap();
    raw["data"]["object"]["loyaltyTier"] = json!("gold");
    raw["data"]["object"]["address"] = json!({"country": "FR", "planet": "Earth"});
    raw["data"]["somethingNew"] = json!(true);
    let event = Event::from_value(raw.clone()).unwrap();
    let Object::Customer(c) = event.object() else {
        panic!("not typed: {:?}", event.object());
    };
    assert_eq!(c.email.as_deref(), Some("buyer@example.com"));
    assert_eq!(
        c.address.as_ref().and_then(|a| a.country.as_deref()),
        Some("FR")
    );
    assert_eq!(event.raw_object()["loyaltyTier"], "gold");
    assert_eq!(event.raw_object()["address"]["planet"], "Earth");
    assert_eq!(event.raw()["data"]["somethingNew"], true);
    assert_eq!(serde_json::to_value(&event).unwrap(), raw);
}

#[test]
fn a_payment_with_unknown_fields_at_any_depth_still_parses_typed() {
    let (kind, payment) = objects().pop().unwrap();
    let mut raw = serde_json::to_value(envelope(kind, payment)).unwrap();
    let object = &mut raw["data"]["object"];
    object["captureMethod"] = json!("automatic");
    object["status"] = json!("requires_action");
    object["nextAction"] =
        json!({"type": "redirect", "url": "https://vinr.example/3ds", "expiresAt": 1});
    object["lastError"] = json!({"code": "authentication_required", "message": "m", "docUrl": "d"});
    object["metadata"] = json!({"order": "42", "note": "x"});
    let event = Event::from_value(raw.clone()).unwrap();
    let Object::Payment(p) = event.object() else {
        panic!("not typed: {:?}", event.object());
    };
    assert_eq!(p.amount, 2500);
    assert_eq!(
        p.next_action.as_ref().unwrap().url,
        "https://vinr.example/3ds"
    );
    assert_eq!(event.raw_object()["nextAction"]["expiresAt"], 1);
    assert_eq!(serde_json::to_value(&event).unwrap(), raw);
}

#[test]
fn a_known_type_with_an_object_that_changed_shape_falls_back_to_raw() {
    let sent = envelope(
        EventType::CustomerCreated,
        EventObject::Customer(customer()),
    );
    let mut raw = serde_json::to_value(&sent).unwrap();
    raw["data"]["object"]["email"] = json!({"primary": "a@b.example"});
    let event = Event::from_value(raw.clone()).unwrap();
    assert_eq!(event.kind().known(), Some(EventType::CustomerCreated));
    assert_eq!(
        event.object(),
        &Object::Other(raw["data"]["object"].clone())
    );
    assert_eq!(event.object_id(), Some(customer().id.as_str()));
    assert_eq!(event.object_version(), Some(1));
}

#[test]
fn versions_let_a_receiver_drop_stale_events() {
    let mut raw: Value = serde_json::to_value(envelope(
        EventType::CustomerUpdated,
        EventObject::Customer(customer()),
    ))
    .unwrap();
    raw["data"]["object"]["version"] = json!(5);
    let event = Event::from_value(raw).unwrap();
    assert_eq!(event.object_version(), Some(5));
    assert!(event.is_newer_than(0));
    assert!(event.is_newer_than(4));
    assert!(!event.is_newer_than(5));
    assert!(!event.is_newer_than(6));
}
