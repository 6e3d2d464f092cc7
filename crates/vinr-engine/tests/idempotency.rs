//! Idempotency keys (api.md §1 "Idempotency"): a replay returns the identical object and creates,
//! charges and emits nothing; the same key for another request is refused; a key still in
//! flight answers `idempotency_key_in_use` (winning over `reused`); bad keys are refused; keys
//! are scoped to the API key and forgotten after 24 h; the request is compared as JSON values.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;
use vinr_domain::InvalidRequestCode;
use vinr_domain::event::EventType;
use vinr_domain::payment::PaymentStatus;
use vinr_ports::api::{CustomersApi, MethodsApi, PaymentsApi, SandboxApi, WebhookEndpointsApi};
use vinr_ports::params::{
    CreateCustomer, CreatePayment, CreateWebhookEndpoint, RotateSecret, UpdateCustomer,
};
use vinr_ports::{Error, RequestContext};

use common::{
    GatedNetwork, Sandbox, VISA, ctx, customer_with_card, json, keyed, off_session, ready,
};

fn ada() -> CreateCustomer {
    CreateCustomer {
        email: Some("ada@example.com".into()),
        name: Some("Ada Lovelace".into()),
        metadata: Some(BTreeMap::from([("tier".to_owned(), "gold".to_owned())])),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_replayed_customer_is_identical_and_creates_nothing() {
    let sb = Sandbox::new();
    let first = sb
        .engine
        .create_customer(&keyed("k1"), ada())
        .await
        .unwrap();
    let (commits, events, ids) = (
        sb.store.commit_count(),
        sb.events(None).await.len(),
        sb.ids.issued(),
    );

    for _ in 0..3 {
        let again = sb
            .engine
            .create_customer(&keyed("k1"), ada())
            .await
            .unwrap();
        assert_eq!(json(&again), json(&first));
    }
    assert_eq!(sb.store.commit_count(), commits);
    assert_eq!(sb.events(None).await.len(), events);
    assert_eq!(sb.ids.issued(), ids, "a replay draws no new id");
    let all = sb
        .engine
        .list_customers(&ctx(), Default::default())
        .await
        .unwrap();
    assert_eq!(all.data.len(), 1);
}

#[tokio::test]
async fn a_replayed_charge_is_identical_and_charges_nothing() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let first = sb
        .engine
        .create_payment(&keyed("pay-1"), off_session(&cust, &pm, 2500))
        .await
        .unwrap();
    assert_eq!(first.status, PaymentStatus::Succeeded);
    let (commits, events) = (sb.store.commit_count(), sb.events(None).await.len());

    let again = sb
        .engine
        .create_payment(&keyed("pay-1"), off_session(&cust, &pm, 2500))
        .await
        .unwrap();
    assert_eq!(json(&again), json(&first));
    assert_eq!(sb.store.commit_count(), commits);
    assert_eq!(sb.events(None).await.len(), events);
    assert_eq!(sb.count(EventType::PaymentSucceeded).await, 1);
    assert_eq!(sb.network.approved_charges(), 1);
    assert_eq!(sb.payments().await.len(), 1);
}

/// The stored response is replayed as it was, not the object as it is now.
#[tokio::test]
async fn a_replay_returns_the_original_response_after_the_object_changed() {
    let sb = Sandbox::new();
    let first = sb.engine.create_customer(&keyed("k"), ada()).await.unwrap();
    let changed = sb
        .engine
        .update_customer(
            &ctx(),
            &first.id,
            UpdateCustomer {
                name: Some(Some("Countess of Lovelace".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.version, 2);
    let again = sb.engine.create_customer(&keyed("k"), ada()).await.unwrap();
    assert_eq!(json(&again), json(&first));
    assert_eq!(again.version, 1);
}

/// A 402 is stored: the retry gets the same card error, with the same payment id.
#[tokio::test]
async fn a_declined_charge_is_replayed_as_the_same_card_error() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, "4000000000009995").await;
    let first = sb
        .engine
        .create_payment(&keyed("d"), off_session(&cust, &pm, 2500))
        .await
        .unwrap_err();
    assert!(
        matches!(
            first,
            Error::Card {
                payment_id: Some(_),
                ..
            }
        ),
        "{first:?}"
    );
    let commits = sb.store.commit_count();
    let again = sb
        .engine
        .create_payment(&keyed("d"), off_session(&cust, &pm, 2500))
        .await
        .unwrap_err();
    assert_eq!(again, first);
    assert_eq!(
        serde_json::to_string(&again.to_body()).unwrap(),
        serde_json::to_string(&first.to_body()).unwrap()
    );
    assert_eq!(sb.store.commit_count(), commits);
    assert_eq!(sb.payments().await.len(), 1);
    assert_eq!(sb.network.authorizations(), 1);
    assert_eq!(sb.count(EventType::PaymentFailed).await, 1);
}

#[tokio::test]
async fn the_same_key_for_another_request_is_reused() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    sb.engine.create_customer(&keyed("k"), ada()).await.unwrap();
    let commits = sb.store.commit_count();

    // Other parameters.
    let other = CreateCustomer {
        email: Some("grace@example.com".into()),
        ..ada()
    };
    assert_eq!(
        sb.engine.create_customer(&keyed("k"), other).await,
        Err(Error::IdempotencyKeyReused)
    );
    // Another operation.
    assert_eq!(
        sb.engine
            .create_payment(&keyed("k"), off_session(&cust, &pm, 100))
            .await,
        Err(Error::IdempotencyKeyReused)
    );
    assert_eq!(sb.store.commit_count(), commits);
    assert_eq!(sb.network.authorizations(), 0);
    assert!(sb.payments().await.is_empty());

    // A charge's key, with another amount.
    sb.engine
        .create_payment(&keyed("p"), off_session(&cust, &pm, 100))
        .await
        .unwrap();
    assert_eq!(
        sb.engine
            .create_payment(&keyed("p"), off_session(&cust, &pm, 101))
            .await,
        Err(Error::IdempotencyKeyReused)
    );
    assert_eq!(sb.network.approved_charges(), 1);
}

/// A request refused before it did anything (a 4xx other than 402) is not recorded, so the
/// corrected request goes through under the same key.
#[tokio::test]
async fn a_refused_request_is_not_recorded_so_a_corrected_retry_goes_through() {
    let sb = Sandbox::new();
    let bad = CreateCustomer {
        email: Some("not an email".into()),
        ..Default::default()
    };
    let err = sb
        .engine
        .create_customer(&keyed("k"), bad)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidRequest {
                code: InvalidRequestCode::InvalidEmail,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(sb.store.commit_count(), 0);
    let ok = sb.engine.create_customer(&keyed("k"), ada()).await.unwrap();
    assert_eq!(ok.email.as_deref(), Some("ada@example.com"));

    // A charge of a detached method, then of the right one.
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let second = sb
        .engine
        .attach_test_card(&ctx(), &cust, common::test_card("5555555555554444"))
        .await
        .unwrap();
    sb.engine.detach_method(&ctx(), &cust, &pm).await.unwrap();
    let err = sb
        .engine
        .create_payment(&keyed("pay"), off_session(&cust, &pm, 900))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidRequest {
                code: InvalidRequestCode::PaymentMethodDetached,
                ..
            }
        ),
        "{err:?}"
    );
    let paid = sb
        .engine
        .create_payment(&keyed("pay"), off_session(&cust, &second.id, 900))
        .await
        .unwrap();
    assert_eq!(paid.status, PaymentStatus::Succeeded);
}

/// While a charge under a key is between its phases, every other request under that key — the
/// same or a different one — answers `idempotency_key_in_use` at once.
#[tokio::test]
async fn a_key_in_flight_answers_in_use_even_for_another_request() {
    let mut gate = None;
    let sb = Sandbox::with(|h, ports| {
        let g = GatedNetwork::new(h.network.clone());
        gate = Some(g.clone());
        ports.network = Arc::new(g);
    });
    let gate = gate.unwrap();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let params = off_session(&cust, &pm, 2500);

    let engine = sb.engine.clone();
    let p = params.clone();
    let first = tokio::spawn(async move { engine.create_payment(&keyed("k"), p).await });
    gate.entered.notified().await;

    // `ready` panics unless the answer comes at once, without waiting for the held request.
    let same = ready(sb.engine.create_payment(&keyed("k"), params.clone()));
    assert_eq!(same, Err(Error::IdempotencyKeyInUse));
    let other_amount = ready(
        sb.engine
            .create_payment(&keyed("k"), off_session(&cust, &pm, 9999)),
    );
    assert_eq!(
        other_amount,
        Err(Error::IdempotencyKeyInUse),
        "409 wins over 422"
    );
    let other_operation = ready(sb.engine.create_customer(&keyed("k"), ada()));
    assert_eq!(
        other_operation,
        Err(Error::IdempotencyKeyInUse),
        "409 wins over 422"
    );
    assert_eq!(
        sb.network.authorizations(),
        0,
        "nothing reached the network yet"
    );

    gate.release.notify_one();
    let paid = first.await.unwrap().unwrap();
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    assert_eq!(sb.network.approved_charges(), 1);
    assert_eq!(sb.payments().await.len(), 1);

    // Finished: the same request replays, a different one is refused.
    let replay = sb.engine.create_payment(&keyed("k"), params).await.unwrap();
    assert_eq!(json(&replay), json(&paid));
    assert_eq!(
        sb.engine
            .create_payment(&keyed("k"), off_session(&cust, &pm, 9999))
            .await,
        Err(Error::IdempotencyKeyReused)
    );
    assert_eq!(sb.network.approved_charges(), 1);
}

#[tokio::test]
async fn malformed_keys_are_refused_and_record_nothing() {
    let sb = Sandbox::new();
    let too_long = "k".repeat(256);
    for key in [
        too_long.as_str(),
        "",
        "line\nbreak",
        "tab\there",
        "nul\0",
        "del\x7f",
        "café",
    ] {
        let err = sb
            .engine
            .create_customer(&keyed(key), ada())
            .await
            .unwrap_err();
        match &err {
            Error::InvalidRequest { param, .. } => {
                assert_eq!(param.as_deref(), Some("Idempotency-Key"), "{key:?}");
            }
            other => panic!("{key:?}: expected an invalid request, got {other:?}"),
        }
    }
    assert_eq!(sb.store.commit_count(), 0);

    // The limits themselves are fine: 255 printable characters, spaces and punctuation included.
    let longest = "k".repeat(255);
    for key in [longest.as_str(), "a", "order 4471 / retry #2 ~!"] {
        sb.engine
            .create_customer(&keyed(key), ada())
            .await
            .unwrap_or_else(|e| panic!("{key:?}: {e:?}"));
    }
}

/// The same key text under two API keys names two requests.
#[tokio::test]
async fn keys_are_scoped_to_the_api_key() {
    let sb = Sandbox::new();
    let scoped = |scope: &str| RequestContext {
        scope: scope.to_owned(),
        ..keyed("shared")
    };
    let a = sb
        .engine
        .create_customer(&scoped("key_a"), ada())
        .await
        .unwrap();
    let b = sb
        .engine
        .create_customer(&scoped("key_b"), ada())
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(sb.count(EventType::CustomerCreated).await, 2);
    // Each scope replays its own.
    assert_eq!(
        sb.engine
            .create_customer(&scoped("key_a"), ada())
            .await
            .unwrap()
            .id,
        a.id
    );
    assert_eq!(
        sb.engine
            .create_customer(&scoped("key_b"), ada())
            .await
            .unwrap()
            .id,
        b.id
    );
    // A different request in one scope is refused there only.
    let other = CreateCustomer::default();
    assert_eq!(
        sb.engine
            .create_customer(&scoped("key_a"), other.clone())
            .await,
        Err(Error::IdempotencyKeyReused)
    );
    let c = sb
        .engine
        .create_customer(&scoped("key_c"), other)
        .await
        .unwrap();
    assert!(c.email.is_none());
}

/// Records are kept 24 h: within them the key replays, after them it is forgotten.
#[tokio::test]
async fn a_record_older_than_24h_is_forgotten() {
    let sb = Sandbox::new();
    let first = sb.engine.create_customer(&keyed("k"), ada()).await.unwrap();
    sb.clock.advance(Duration::hours(23));
    assert_eq!(
        sb.engine
            .create_customer(&keyed("k"), ada())
            .await
            .unwrap()
            .id,
        first.id
    );

    sb.clock.advance(Duration::hours(2));
    let second = sb.engine.create_customer(&keyed("k"), ada()).await.unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(sb.count(EventType::CustomerCreated).await, 2);
    // The new record replays from now on.
    assert_eq!(
        json(&sb.engine.create_customer(&keyed("k"), ada()).await.unwrap()),
        json(&second)
    );
    assert_eq!(sb.count(EventType::CustomerCreated).await, 2);

    // An old key may also carry a different request.
    sb.clock.advance(Duration::hours(25));
    let third = sb
        .engine
        .create_customer(&keyed("k"), CreateCustomer::default())
        .await
        .unwrap();
    assert!(third.email.is_none());
}

/// Same for a charge: after 24 h the key charges anew, then replays that charge.
#[tokio::test]
async fn a_charge_key_older_than_24h_charges_anew_then_replays() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let params = off_session(&cust, &pm, 2500);
    let first = sb
        .engine
        .create_payment(&keyed("k"), params.clone())
        .await
        .unwrap();
    sb.clock.advance(Duration::hours(25));
    let second = sb
        .engine
        .create_payment(&keyed("k"), params.clone())
        .await
        .unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(sb.network.approved_charges(), 2);
    let replay = sb.engine.create_payment(&keyed("k"), params).await.unwrap();
    assert_eq!(json(&replay), json(&second));
    assert_eq!(sb.network.approved_charges(), 2);
}

/// A key whose first charge was left `processing` (the network was down) is forgotten after
/// 24 h and charges anew; that new charge must then be replayed like any other — a retry a
/// second later must not charge a third time.
#[tokio::test]
async fn a_key_reused_after_24h_over_a_stuck_charge_replays_its_new_charge() {
    let sb = Sandbox::new();
    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let params = off_session(&cust, &pm, 2500);
    sb.network.fail_next(1);
    assert!(
        sb.engine
            .create_payment(&keyed("k"), params.clone())
            .await
            .is_err()
    );
    assert_eq!(
        sb.payments().await[0].payment.status,
        PaymentStatus::Processing
    );

    sb.clock.advance(Duration::hours(25));
    let second = sb
        .engine
        .create_payment(&keyed("k"), params.clone())
        .await
        .unwrap();
    assert_eq!(second.status, PaymentStatus::Succeeded);
    assert_eq!(sb.network.approved_charges(), 1);

    sb.clock.advance(Duration::seconds(1));
    let retry = sb.engine.create_payment(&keyed("k"), params).await.unwrap();
    assert_eq!(
        retry.id, second.id,
        "a retry one second after a completed charge created another payment"
    );
    assert_eq!(
        sb.network.approved_charges(),
        1,
        "the card was charged again under the same key"
    );
}

/// The request is compared as JSON values: the order of keys in the body does not matter.
#[tokio::test]
async fn the_order_of_keys_in_the_request_does_not_matter() {
    let sb = Sandbox::new();
    let a: CreateCustomer = serde_json::from_str(
        r#"{"email":"ada@example.com","name":"Ada","metadata":{"a":"1","b":"2","c":"3"}}"#,
    )
    .unwrap();
    let b: CreateCustomer = serde_json::from_str(
        r#"{ "metadata": {"c":"3", "a":"1", "b":"2"}, "name": "Ada", "email": "ada@example.com" }"#,
    )
    .unwrap();
    let first = sb.engine.create_customer(&keyed("k"), a).await.unwrap();
    let second = sb.engine.create_customer(&keyed("k"), b).await.unwrap();
    assert_eq!(json(&first), json(&second));
    assert_eq!(sb.count(EventType::CustomerCreated).await, 1);

    let (cust, pm) = customer_with_card(&sb.engine, VISA).await;
    let body = |order: &str| -> CreatePayment {
        let text = match order {
            "one" => format!(
                r#"{{"amount":2500,"currency":"eur","customerId":"{cust}","paymentMethodId":"{pm}","offSession":true,"metadata":{{"x":"1","y":"2"}}}}"#
            ),
            _ => format!(
                r#"{{"metadata":{{"y":"2","x":"1"}},"offSession":true,"paymentMethodId":"{pm}","customerId":"{cust}","currency":"eur","amount":2500}}"#
            ),
        };
        serde_json::from_str(&text).unwrap()
    };
    let paid = sb
        .engine
        .create_payment(&keyed("p"), body("one"))
        .await
        .unwrap();
    let replay = sb
        .engine
        .create_payment(&keyed("p"), body("two"))
        .await
        .unwrap();
    assert_eq!(json(&replay), json(&paid));
    assert_eq!(sb.network.approved_charges(), 1);
}

/// api.md §1: *every* `POST` takes a key. `POST /v1/payments/{id}/cancel` retried after a lost
/// response must replay the canceled payment, not answer `payment_unexpected_state`.
#[tokio::test]
async fn a_retried_cancel_replays_its_first_answer() {
    let sb = Sandbox::new();
    let open = sb
        .engine
        .create_payment(
            &ctx(),
            CreatePayment {
                amount: 1500,
                currency: "EUR".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(open.status, PaymentStatus::RequiresPaymentMethod);
    let canceled = sb
        .engine
        .cancel_payment(&keyed("cancel-1"), &open.id)
        .await
        .unwrap();
    assert_eq!(canceled.status, PaymentStatus::Canceled);
    let retried = sb.engine.cancel_payment(&keyed("cancel-1"), &open.id).await;
    assert_eq!(retried.map(|p| json(&p)), Ok(json(&canceled)));
    assert_eq!(sb.count(EventType::PaymentCanceled).await, 1);
}

/// The same for `POST /v1/webhook_endpoints/{id}/rotate_secret`: a retry must replay the
/// secret of the first rotation rather than rotate again.
#[tokio::test]
async fn a_retried_secret_rotation_replays_its_first_answer() {
    let sb = Sandbox::new();
    let endpoint = sb
        .engine
        .create_webhook_endpoint(
            &ctx(),
            CreateWebhookEndpoint {
                url: "https://example.com/hooks".into(),
                events: vec!["*".into()],
            },
        )
        .await
        .unwrap();
    let first = sb
        .engine
        .rotate_webhook_secret(&keyed("rotate-1"), &endpoint.id, RotateSecret::default())
        .await
        .unwrap();
    let commits = sb.store.commit_count();
    let retried = sb
        .engine
        .rotate_webhook_secret(&keyed("rotate-1"), &endpoint.id, RotateSecret::default())
        .await
        .unwrap();
    assert_eq!(
        json(&retried),
        json(&first),
        "the retry rotated the secret again"
    );
    assert_eq!(sb.store.commit_count(), commits);
}
