//! Idempotency keys (api.md §1): a retry replays, never charges, creates or emits again.

use vinr::{CreateCustomer, CreatePayment, Error, InvalidRequestCode, PaymentStatus, Vinr};

use super::support::{
    DECLINED, RETURN_URL, VISA, approved_charges, assert_charged, attach, create_ada, events,
    events_about, off_session, payments_of, unknown_customer,
};

/// The seed's `order-4471`, sent twice: one payment, one charge, one `payment.succeeded`.
pub async fn a_retried_payment_with_the_same_key_charges_once(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, VISA).await.id;
    let before = approved_charges(vinr);
    let first = vinr
        .idempotent("order-4471")
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect("first");
    let second = vinr
        .idempotent("order-4471")
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect("retry");
    assert_eq!(second, first, "the retry replays the first answer");
    assert_eq!(first.status, PaymentStatus::Succeeded);
    assert_charged(vinr, before, 1);
    assert_eq!(payments_of(vinr, &ada.id).await.len(), 1);
    assert_eq!(
        events_about(vinr, "payment.succeeded", first.id.as_str())
            .await
            .len(),
        1
    );

    // Without a key, the same body is a new payment.
    let third = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect("no key");
    assert_ne!(third.id, first.id);
    assert_charged(vinr, before, 2);
}

/// The same key with a different body is `idempotency_key_reused`, and does nothing.
pub async fn the_same_key_with_other_params_is_refused(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, VISA).await.id;
    vinr.idempotent("order-4472")
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect("first");
    let before = approved_charges(vinr);
    let err = vinr
        .idempotent("order-4472")
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2600))
        .await
        .expect_err("another amount under the same key");
    assert!(matches!(err, Error::IdempotencyKeyReused), "{err:?}");
    assert_charged(vinr, before, 0);
    assert_eq!(payments_of(vinr, &ada.id).await.len(), 1);

    // A key is per operation and body: the same key on a customer create is a different request.
    let err = vinr
        .idempotent("order-4472")
        .customers()
        .create(CreateCustomer::default())
        .await
        .expect_err("the same key on another call");
    assert!(matches!(err, Error::IdempotencyKeyReused), "{err:?}");
}

/// A declined payment under a key: the retry replays the same card error with the same
/// `paymentId`, and creates, charges and emits nothing more.
pub async fn a_declined_payment_replays_its_decline(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, DECLINED).await.id;
    let before = approved_charges(vinr);
    let first = vinr
        .idempotent("order-4473")
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect_err("declined");
    let second = vinr
        .idempotent("order-4473")
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect_err("declined again");
    assert_eq!(second, first, "the same error, replayed");
    let Error::Card {
        code: vinr::CardErrorCode::CardDeclined,
        payment_id: Some(payment_id),
        ..
    } = &first
    else {
        panic!("expected a card error naming the payment, got {first:?}");
    };
    assert_eq!(payments_of(vinr, &ada.id).await.len(), 1);
    assert_eq!(
        events_about(vinr, "payment.failed", payment_id.as_str())
            .await
            .len(),
        1
    );
    assert_charged(vinr, before, 0);
}

/// A customer created twice under one key exists once, with one `customer.created`.
pub async fn a_customer_created_twice_under_one_key_exists_once(vinr: &Vinr) {
    let params = CreateCustomer {
        email: Some("ada@example.com".into()),
        name: Some("Ada Lovelace".into()),
        ..Default::default()
    };
    let a = vinr
        .idempotent("signup-8821")
        .customers()
        .create(params.clone())
        .await
        .expect("first");
    let b = vinr
        .idempotent("signup-8821")
        .customers()
        .create(params)
        .await
        .expect("retry");
    assert_eq!(a, b);
    assert_eq!(events(vinr, Some("customer.created")).await.len(), 1);
    let all = vinr
        .customers()
        .list(vinr::ListCustomers::default())
        .await
        .expect("list");
    assert_eq!(all.data.len(), 1);
}

/// A request refused before it did anything is not stored: the corrected request under the
/// same key goes through.
pub async fn a_refused_request_does_not_use_up_its_key(vinr: &Vinr) {
    let err = vinr
        .idempotent("signup-8822")
        .customers()
        .create(CreateCustomer {
            email: Some("not-an-email".into()),
            ..Default::default()
        })
        .await
        .expect_err("a bad email");
    assert!(
        matches!(
            err,
            Error::InvalidRequest {
                code: InvalidRequestCode::InvalidEmail,
                ..
            }
        ),
        "{err:?}"
    );
    let fixed = vinr
        .idempotent("signup-8822")
        .customers()
        .create(CreateCustomer {
            email: Some("ada@example.com".into()),
            ..Default::default()
        })
        .await
        .expect("the corrected request under the same key");
    assert_eq!(fixed.email.as_deref(), Some("ada@example.com"));

    // The same for a payment refused for its amount.
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, VISA).await.id;
    let err = vinr
        .idempotent("order-4474")
        .payments()
        .create(off_session(&ada.id, Some(&pm), 0))
        .await
        .expect_err("amount 0");
    assert!(
        matches!(
            err,
            Error::InvalidRequest {
                code: InvalidRequestCode::AmountInvalid,
                ..
            }
        ),
        "{err:?}"
    );
    // A 404 is not stored either.
    let err = vinr
        .idempotent("order-4474")
        .payments()
        .create(off_session(&unknown_customer(), None, 2500))
        .await
        .expect_err("an unknown customer");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let paid = vinr
        .idempotent("order-4474")
        .payments()
        .create(CreatePayment {
            amount: 2500,
            ..off_session(&ada.id, Some(&pm), 2500)
        })
        .await
        .expect("the corrected payment under the same key");
    assert_eq!(paid.status, PaymentStatus::Succeeded);
}

/// An on-session payment (no card yet) created under a key replays as the same open payment.
pub async fn an_open_payment_created_under_a_key_replays(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let on_session = |customer: &vinr::CustomerId, save: bool| CreatePayment {
        amount: 2500,
        currency: "EUR".into(),
        customer_id: Some(customer.clone()),
        save_payment_method: save,
        return_url: Some("https://yoursite.com/checkout/done".into()),
        ..Default::default()
    };
    let a = vinr
        .idempotent("checkout-4471")
        .payments()
        .create(on_session(&ada.id, true))
        .await
        .expect("first");
    let b = vinr
        .idempotent("checkout-4471")
        .payments()
        .create(on_session(&ada.id, true))
        .await
        .expect("retry");
    assert_eq!(a, b);
    assert_eq!(payments_of(vinr, &ada.id).await.len(), 1);
}

/// A setup created twice under one key is one setup.
pub async fn a_setup_created_twice_under_one_key_is_one_setup(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let a = vinr
        .idempotent("wallet-8821")
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("first");
    let b = vinr
        .idempotent("wallet-8821")
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("retry");
    assert_eq!(a, b);
    let err = vinr
        .idempotent("wallet-8821")
        .customers()
        .setup_method(&ada.id, "https://yoursite.com/elsewhere")
        .await
        .expect_err("another return URL under the same key");
    assert!(matches!(err, Error::IdempotencyKeyReused), "{err:?}");
}

/// An `Idempotency-Key` has 1 to 255 printable ASCII characters.
pub async fn an_idempotency_key_must_be_1_to_255_printable_characters(vinr: &Vinr) {
    for bad in [
        String::new(),
        "k".repeat(256),
        "order\n4471".to_owned(),
        "ordre-4471-é".to_owned(),
    ] {
        let err = vinr
            .idempotent(bad.clone())
            .customers()
            .create(CreateCustomer::default())
            .await
            .expect_err("a malformed key");
        assert!(
            matches!(
                err,
                Error::InvalidRequest {
                    code: InvalidRequestCode::ParameterInvalid,
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
    }
    assert!(events(vinr, Some("customer.created")).await.is_empty());
    vinr.idempotent("k".repeat(255))
        .customers()
        .create(CreateCustomer::default())
        .await
        .expect("255 characters");
    vinr.idempotent("a key with spaces ~!")
        .customers()
        .create(CreateCustomer::default())
        .await
        .expect("printable ASCII");
}
