//! Off-session payments on saved methods (api.md §5): the seed's €25.00 charge, validation,
//! every declining test card, the 3-D Secure branch, history and cancel.

use vinr::{
    CardErrorCode, ChallengeOutcome, CreatePayment, DeclineCode, Error, HostedOutcome,
    InvalidRequestCode, LastErrorCode, ListPayments, PaymentStatus, UpdateCustomer, Vinr,
};

use super::support::{
    DECLINED, EXPIRED, INCORRECT_CVC, INSUFFICIENT_FUNDS, LOST, MASTERCARD, PROCESSING_ERROR,
    SETUP_ONLY, STOLEN, THREE_DS_ALWAYS, THREE_DS_ALWAYS_2, THREE_DS_ONCE, THREE_DS_THEN_DECLINE,
    THREE_DS_THEN_FUNDS, VISA, approved_charges, assert_charged, assert_invalid, assert_not_found,
    attach, create_ada, create_customer, events_about, off_session, payments_of, save_card,
    unknown_customer,
};

/// The seed's charge: €25.00 on Ada's default method, buyer absent: `succeeded`,
/// `payment.succeeded`, one charge at the network.
pub async fn charging_the_default_method_off_session_succeeds_once(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = save_card(vinr, &ada.id, VISA).await;
    vinr.customers()
        .update(
            &ada.id,
            UpdateCustomer {
                default_method_id: Some(Some(pm.clone())),
                ..Default::default()
            },
        )
        .await
        .expect("setting the default");
    let before = approved_charges(vinr);

    let payment = vinr
        .payments()
        .create(off_session(&ada.id, None, 2500))
        .await
        .expect("charging Ada");
    let id = payment.id.as_str();
    assert!(
        id.starts_with("pay_") && id.len() == "pay_".len() + 24,
        "{id}"
    );
    assert_eq!(payment.status, PaymentStatus::Succeeded);
    assert_eq!(payment.amount, 2500);
    assert_eq!(payment.currency.code(), "EUR");
    assert_eq!(payment.customer_id.as_ref(), Some(&ada.id));
    assert_eq!(
        payment.payment_method_id.as_ref(),
        Some(&pm),
        "the default method was charged"
    );
    assert!(payment.off_session);
    assert_eq!(payment.description.as_deref(), Some("Order #4471"));
    assert_eq!(payment.last_error, None);
    assert_eq!(payment.next_action, None);
    assert!(!payment.livemode);
    assert_charged(vinr, before, 1);

    assert_eq!(
        vinr.payments()
            .retrieve(&payment.id)
            .await
            .expect("retrieve"),
        payment
    );
    let succeeded = events_about(vinr, "payment.succeeded", id).await;
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].data.object.version(), payment.version);
}

/// `paymentMethodId` picks the method to charge, over the default.
pub async fn charging_an_explicit_method_off_session_succeeds(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let visa = save_card(vinr, &ada.id, VISA).await;
    let mastercard = save_card(vinr, &ada.id, MASTERCARD).await;
    vinr.customers()
        .update(
            &ada.id,
            UpdateCustomer {
                default_method_id: Some(Some(visa)),
                ..Default::default()
            },
        )
        .await
        .expect("setting the default");
    let before = approved_charges(vinr);
    let payment = vinr
        .payments()
        .create(off_session(&ada.id, Some(&mastercard), 1999))
        .await
        .expect("charging the mastercard");
    assert_eq!(payment.status, PaymentStatus::Succeeded);
    assert_eq!(payment.payment_method_id.as_ref(), Some(&mastercard));
    assert_eq!(payment.amount, 1999);
    assert_charged(vinr, before, 1);
}

/// A currency in any case comes back upper case; zero- and three-decimal currencies work.
pub async fn currencies_are_accepted_in_any_case_and_any_exponent(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, VISA).await.id;
    for (currency, amount, want) in [
        ("eur", 2500, "EUR"),
        ("JPY", 500, "JPY"),
        ("bhd", 1250, "BHD"),
        ("Usd", 1, "USD"),
    ] {
        let payment = vinr
            .payments()
            .create(CreatePayment {
                currency: currency.into(),
                ..off_session(&ada.id, Some(&pm), amount)
            })
            .await
            .expect(currency);
        assert_eq!(payment.currency.code(), want);
        assert_eq!(payment.amount, amount);
        assert_eq!(payment.status, PaymentStatus::Succeeded, "{currency}");
        let json = serde_json::to_value(&payment).expect("json");
        assert_eq!(json["currency"], want);
    }
}

/// Amounts are `1 ..= 99_999_999` minor units: `amount_invalid` outside.
pub async fn amounts_outside_1_to_99_999_999_are_refused(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, VISA).await.id;
    let before = approved_charges(vinr);
    for amount in [0, -1, 100_000_000] {
        let err = vinr
            .payments()
            .create(off_session(&ada.id, Some(&pm), amount))
            .await
            .expect_err("an amount out of range");
        assert_invalid(&err, InvalidRequestCode::AmountInvalid, Some("amount"));
    }
    assert!(
        payments_of(vinr, &ada.id).await.is_empty(),
        "nothing was created"
    );
    let top = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm), 99_999_999))
        .await
        .expect("the largest amount");
    assert_eq!(top.status, PaymentStatus::Succeeded);
    assert_charged(vinr, before, 1);
}

/// A currency that is not ISO 4217 is `currency_invalid`.
pub async fn unknown_currencies_are_refused(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, VISA).await.id;
    for currency in ["XXX", "EURO", "", "€"] {
        let err = vinr
            .payments()
            .create(CreatePayment {
                currency: currency.into(),
                ..off_session(&ada.id, Some(&pm), 2500)
            })
            .await
            .expect_err(currency);
        assert_invalid(&err, InvalidRequestCode::CurrencyInvalid, Some("currency"));
    }
    assert!(payments_of(vinr, &ada.id).await.is_empty());
}

/// `paymentMethodId` without `customerId` is `parameter_missing` on `customerId`.
pub async fn a_method_without_its_customer_is_refused(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, VISA).await.id;
    let before = approved_charges(vinr);
    let err = vinr
        .payments()
        .create(CreatePayment {
            customer_id: None,
            ..off_session(&ada.id, Some(&pm), 2500)
        })
        .await
        .expect_err("a method without a customer");
    assert_invalid(
        &err,
        InvalidRequestCode::ParameterMissing,
        Some("customerId"),
    );
    assert_charged(vinr, before, 0);
}

/// A detached method can never be charged again: `payment_method_detached`.
pub async fn a_detached_method_cannot_be_charged(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = save_card(vinr, &ada.id, VISA).await;
    vinr.customers()
        .detach_method(&ada.id, &pm)
        .await
        .expect("detach");
    let before = approved_charges(vinr);
    let err = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect_err("a detached method");
    assert_invalid(
        &err,
        InvalidRequestCode::PaymentMethodDetached,
        Some("paymentMethodId"),
    );
    assert_charged(vinr, before, 0);
    assert!(payments_of(vinr, &ada.id).await.is_empty());

    // Detached is checked first: charging it for another customer says detached, not mismatch.
    let bob = create_customer(vinr, "bob@example.com").await;
    let err = vinr
        .payments()
        .create(off_session(&bob.id, Some(&pm), 2500))
        .await
        .expect_err("a detached method for Bob");
    assert_invalid(
        &err,
        InvalidRequestCode::PaymentMethodDetached,
        Some("paymentMethodId"),
    );
}

/// Bob's method cannot be charged for Ada: `payment_method_customer_mismatch`.
pub async fn another_customers_method_cannot_be_charged(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let bob = create_customer(vinr, "bob@example.com").await;
    let bobs = save_card(vinr, &bob.id, VISA).await;
    let before = approved_charges(vinr);
    let err = vinr
        .payments()
        .create(off_session(&ada.id, Some(&bobs), 2500))
        .await
        .expect_err("Bob's method for Ada");
    assert_invalid(
        &err,
        InvalidRequestCode::PaymentMethodCustomerMismatch,
        Some("paymentMethodId"),
    );
    assert_charged(vinr, before, 0);
    assert!(payments_of(vinr, &ada.id).await.is_empty());
    assert!(payments_of(vinr, &bob.id).await.is_empty());
}

/// An unknown customer in the body is 404 with `param: customerId`.
pub async fn an_unknown_customer_is_not_found_by_param(vinr: &Vinr) {
    let err = vinr
        .payments()
        .create(off_session(&unknown_customer(), None, 2500))
        .await
        .expect_err("an unknown customer");
    assert_not_found(&err, Some("customerId"));
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, VISA).await.id;
    let err = vinr
        .payments()
        .create(off_session(&unknown_customer(), Some(&pm), 2500))
        .await
        .expect_err("an unknown customer with a method");
    assert_not_found(&err, Some("customerId"));
}

/// Off-session with no method and no default: `payment_method_required`, nothing created.
pub async fn off_session_without_any_method_creates_nothing(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let err = vinr
        .payments()
        .create(off_session(&ada.id, None, 2500))
        .await
        .expect_err("nothing to charge");
    assert_invalid(&err, InvalidRequestCode::PaymentMethodRequired, None);
    assert!(
        payments_of(vinr, &ada.id).await.is_empty(),
        "no payment was created"
    );

    // A saved method that is not the default does not count.
    attach(vinr, &ada.id, VISA).await;
    let err = vinr
        .payments()
        .create(off_session(&ada.id, None, 2500))
        .await
        .expect_err("no default method");
    assert!(
        matches!(
            err,
            Error::InvalidRequest {
                code: InvalidRequestCode::PaymentMethodRequired,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(payments_of(vinr, &ada.id).await.is_empty());
}

/// Every declining test card, attached by the helper and charged off-session: a card error
/// naming the failed payment, which reads `failed` with the same `lastError`, and
/// `payment.failed`.
pub async fn every_declining_test_card_fails_the_payment_with_its_reason(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let table = [
        (
            DECLINED,
            CardErrorCode::CardDeclined,
            Some(DeclineCode::GenericDecline),
        ),
        (
            INSUFFICIENT_FUNDS,
            CardErrorCode::CardDeclined,
            Some(DeclineCode::InsufficientFunds),
        ),
        (
            LOST,
            CardErrorCode::CardDeclined,
            Some(DeclineCode::LostCard),
        ),
        (
            STOLEN,
            CardErrorCode::CardDeclined,
            Some(DeclineCode::StolenCard),
        ),
        (EXPIRED, CardErrorCode::ExpiredCard, None),
        (PROCESSING_ERROR, CardErrorCode::ProcessingError, None),
        (
            SETUP_ONLY,
            CardErrorCode::CardDeclined,
            Some(DeclineCode::GenericDecline),
        ),
    ];
    let before = approved_charges(vinr);
    for (number, want_code, want_decline) in table {
        let pm = attach(vinr, &ada.id, number).await.id;
        let err = vinr
            .payments()
            .create(off_session(&ada.id, Some(&pm), 2500))
            .await
            .expect_err(number);
        let Error::Card {
            code,
            decline_code,
            payment_id: Some(payment_id),
            ..
        } = &err
        else {
            panic!("{number}: expected a card error naming the payment, got {err:?}");
        };
        assert_eq!(
            (*code, *decline_code),
            (want_code, want_decline),
            "{number}"
        );
        assert_eq!(
            err.is_retryable(),
            want_code == CardErrorCode::ProcessingError,
            "{number}"
        );

        let payment = vinr
            .payments()
            .retrieve(payment_id)
            .await
            .expect("the failed payment");
        assert_eq!(payment.status, PaymentStatus::Failed, "{number}");
        assert_eq!(payment.payment_method_id.as_ref(), Some(&pm));
        let last = payment.last_error.expect("lastError");
        assert_eq!(last.code, LastErrorCode::from(want_code), "{number}");
        assert_eq!(last.decline_code, want_decline, "{number}");
        assert_eq!(
            events_about(vinr, "payment.failed", payment_id.as_str())
                .await
                .len(),
            1,
            "{number}"
        );
        assert!(
            events_about(vinr, "payment.succeeded", payment_id.as_str())
                .await
                .is_empty()
        );
    }
    assert_charged(vinr, before, 0);
    assert_eq!(
        payments_of(vinr, &ada.id).await.len(),
        table.len(),
        "every failed payment exists"
    );
}

/// 4000 0000 0000 0127 fails its CVC check with the buyer present, but off-session there is no
/// CVC: it succeeds.
pub async fn card_0127_succeeds_off_session_without_a_cvc(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, INCORRECT_CVC).await.id;
    let before = approved_charges(vinr);
    let payment = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect("0127 off-session");
    assert_eq!(payment.status, PaymentStatus::Succeeded);
    assert_charged(vinr, before, 1);
}

/// The seed's 3DS branch: 3220 saved through a completed challenge still stops off-session in
/// `requires_action` (`authentication_required`); the buyer completes the challenge and it is
/// charged once.
pub async fn a_3220_card_needs_action_off_session_and_succeeds_after_the_challenge(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = save_card(vinr, &ada.id, THREE_DS_ALWAYS).await;
    let before = approved_charges(vinr);
    let payment = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect("requires_action is not an error");
    assert_eq!(payment.status, PaymentStatus::RequiresAction);
    let action = payment.next_action.clone().expect("nextAction");
    assert!(
        action
            .url
            .ends_with(&format!("/hosted/authenticate/{}", payment.id)),
        "{}",
        action.url
    );
    assert_eq!(
        serde_json::to_value(&action).expect("json")["type"],
        "redirect"
    );
    assert_eq!(
        payment.last_error.as_ref().map(|e| e.code),
        Some(LastErrorCode::AuthenticationRequired)
    );
    assert_eq!(
        events_about(vinr, "payment.requires_action", payment.id.as_str())
            .await
            .len(),
        1
    );
    assert_charged(vinr, before, 0);
    let page = vinr
        .hosted()
        .payment_page(&payment.id)
        .await
        .expect("the challenge page");
    assert_eq!(page.stage, vinr::HostedStage::Authenticate);
    assert_eq!(page.amount.as_deref(), Some("25.00 EUR"));

    let outcome = vinr
        .hosted()
        .authenticate_payment(&payment.id, ChallengeOutcome::Complete)
        .await
        .expect("complete");
    assert!(
        !matches!(
            outcome,
            HostedOutcome::Retry { .. } | HostedOutcome::Challenge { .. }
        ),
        "{outcome:?}"
    );
    let done = vinr
        .payments()
        .retrieve(&payment.id)
        .await
        .expect("retrieve");
    assert_eq!(done.status, PaymentStatus::Succeeded);
    assert_eq!(done.last_error, None);
    assert_eq!(done.next_action, None);
    assert_eq!(done.amount, 2500, "the amount never changes");
    assert_charged(vinr, before, 1);
    assert_eq!(
        events_about(vinr, "payment.succeeded", payment.id.as_str())
            .await
            .len(),
        1
    );

    let err = vinr
        .hosted()
        .authenticate_payment(&payment.id, ChallengeOutcome::Complete)
        .await
        .expect_err("a second challenge answer");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    assert_charged(vinr, before, 1);
}

/// A failed off-session challenge fails the payment: `authentication_failed`, `payment.failed`.
pub async fn a_failed_off_session_challenge_fails_the_payment(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, THREE_DS_ALWAYS).await.id;
    let before = approved_charges(vinr);
    let payment = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect("requires_action");
    assert_eq!(payment.status, PaymentStatus::RequiresAction);
    vinr.hosted()
        .authenticate_payment(&payment.id, ChallengeOutcome::Fail)
        .await
        .expect("fail");
    let failed = vinr
        .payments()
        .retrieve(&payment.id)
        .await
        .expect("retrieve");
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert_eq!(
        failed.last_error.map(|e| e.code),
        Some(LastErrorCode::AuthenticationFailed)
    );
    assert_eq!(failed.next_action, None);
    assert_eq!(
        events_about(vinr, "payment.failed", payment.id.as_str())
            .await
            .len(),
        1
    );
    assert_charged(vinr, before, 0);
}

/// 3155 attached by the helper has never been through a challenge: off-session it needs action.
pub async fn a_3155_card_never_challenged_needs_action_off_session(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, THREE_DS_ONCE).await.id;
    let payment = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect("requires_action");
    assert_eq!(payment.status, PaymentStatus::RequiresAction);
    assert_eq!(
        payment.last_error.map(|e| e.code),
        Some(LastErrorCode::AuthenticationRequired)
    );
}

/// 3155 saved through a completed challenge is charged off-session without another one.
pub async fn a_3155_card_saved_through_a_challenge_succeeds_off_session(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = save_card(vinr, &ada.id, THREE_DS_ONCE).await;
    let before = approved_charges(vinr);
    let payment = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect("3155 after a challenge");
    assert_eq!(payment.status, PaymentStatus::Succeeded);
    assert_charged(vinr, before, 1);

    // Re-saving the same card through a challenge later keeps it authenticated.
    let again = save_card(vinr, &ada.id, THREE_DS_ONCE).await;
    assert_eq!(again, pm);
    let payment = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm), 1000))
        .await
        .expect("3155 again");
    assert_eq!(payment.status, PaymentStatus::Succeeded);
}

/// 3178 and 1629 need action off-session, and after the challenge they are declined.
pub async fn a_card_declined_after_its_off_session_challenge_fails_the_payment(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let before = approved_charges(vinr);
    for (number, decline) in [
        (THREE_DS_THEN_FUNDS, DeclineCode::InsufficientFunds),
        (THREE_DS_THEN_DECLINE, DeclineCode::GenericDecline),
    ] {
        let pm = attach(vinr, &ada.id, number).await.id;
        let payment = vinr
            .payments()
            .create(off_session(&ada.id, Some(&pm), 2500))
            .await
            .expect("requires_action");
        assert_eq!(payment.status, PaymentStatus::RequiresAction, "{number}");
        vinr.hosted()
            .authenticate_payment(&payment.id, ChallengeOutcome::Complete)
            .await
            .expect("complete");
        let failed = vinr
            .payments()
            .retrieve(&payment.id)
            .await
            .expect("retrieve");
        assert_eq!(failed.status, PaymentStatus::Failed, "{number}");
        let last = failed.last_error.expect("lastError");
        assert_eq!(
            (last.code, last.decline_code),
            (LastErrorCode::CardDeclined, Some(decline)),
            "{number}"
        );
        assert_eq!(
            events_about(vinr, "payment.failed", payment.id.as_str())
                .await
                .len(),
            1
        );
    }
    assert_charged(vinr, before, 0);
}

/// 3184, like 3220, needs action off-session every time.
pub async fn a_3184_card_needs_action_off_session(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = save_card(vinr, &ada.id, THREE_DS_ALWAYS_2).await;
    let payment = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect("requires_action");
    assert_eq!(payment.status, PaymentStatus::RequiresAction);
}

/// A customer's payment history: `list` by `customerId` (and `status`), newest first.
pub async fn a_customers_payment_history_lists_their_payments_newest_first(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let bob = create_customer(vinr, "bob@example.com").await;
    let visa = attach(vinr, &ada.id, VISA).await.id;
    let declined = attach(vinr, &ada.id, DECLINED).await.id;
    let bobs = attach(vinr, &bob.id, VISA).await.id;
    let first = vinr
        .payments()
        .create(off_session(&ada.id, Some(&visa), 100))
        .await
        .expect("first");
    let Err(Error::Card {
        payment_id: Some(failed),
        ..
    }) = vinr
        .payments()
        .create(off_session(&ada.id, Some(&declined), 200))
        .await
    else {
        panic!("0002 is declined");
    };
    let third = vinr
        .payments()
        .create(off_session(&ada.id, Some(&visa), 300))
        .await
        .expect("third");
    vinr.payments()
        .create(off_session(&bob.id, Some(&bobs), 400))
        .await
        .expect("Bob's");

    let history: Vec<_> = payments_of(vinr, &ada.id)
        .await
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        history,
        vec![third.id.clone(), failed.clone(), first.id.clone()]
    );

    let succeeded: Vec<_> = vinr
        .payments()
        .list(ListPayments {
            customer_id: Some(ada.id.clone()),
            status: Some(PaymentStatus::Succeeded),
            ..Default::default()
        })
        .await
        .expect("by status")
        .data
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(succeeded, vec![third.id.clone(), first.id.clone()]);

    let page = vinr
        .payments()
        .list(ListPayments {
            customer_id: Some(ada.id.clone()),
            limit: Some(2),
            ..Default::default()
        })
        .await
        .expect("a page of 2");
    assert_eq!(page.data.len(), 2);
    assert!(page.has_more);
}

/// `cancel` on a payment waiting for a card: `canceled`, `payment.canceled`; on a succeeded
/// payment: `payment_unexpected_state`.
pub async fn only_an_open_payment_can_be_canceled(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let open = vinr
        .payments()
        .create(CreatePayment {
            amount: 2500,
            currency: "EUR".into(),
            customer_id: Some(ada.id.clone()),
            return_url: Some("https://yoursite.com/checkout/done".into()),
            ..Default::default()
        })
        .await
        .expect("an on-session payment");
    assert_eq!(open.status, PaymentStatus::RequiresPaymentMethod);
    let canceled = vinr.payments().cancel(&open.id).await.expect("cancel");
    assert_eq!(canceled.status, PaymentStatus::Canceled);
    assert_eq!(
        events_about(vinr, "payment.canceled", open.id.as_str())
            .await
            .len(),
        1
    );
    let err = vinr
        .hosted()
        .payment_page(&open.id)
        .await
        .expect_err("a canceled page");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    let err = vinr
        .payments()
        .cancel(&open.id)
        .await
        .expect_err("cancel twice");
    assert_invalid(&err, InvalidRequestCode::PaymentUnexpectedState, None);

    let pm = attach(vinr, &ada.id, VISA).await.id;
    let paid = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm), 2500))
        .await
        .expect("charge");
    let err = vinr
        .payments()
        .cancel(&paid.id)
        .await
        .expect_err("cancel a succeeded payment");
    assert!(
        matches!(
            err,
            Error::InvalidRequest {
                code: InvalidRequestCode::PaymentUnexpectedState,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        vinr.payments()
            .retrieve(&paid.id)
            .await
            .expect("retrieve")
            .status,
        PaymentStatus::Succeeded
    );
    assert!(
        events_about(vinr, "payment.canceled", paid.id.as_str())
            .await
            .is_empty()
    );

    // A payment waiting for its challenge can be canceled as well.
    let three_ds = attach(vinr, &ada.id, THREE_DS_ALWAYS).await.id;
    let waiting = vinr
        .payments()
        .create(off_session(&ada.id, Some(&three_ds), 2500))
        .await
        .expect("requires_action");
    let canceled = vinr
        .payments()
        .cancel(&waiting.id)
        .await
        .expect("cancel requires_action");
    assert_eq!(canceled.status, PaymentStatus::Canceled);
    assert_eq!(canceled.next_action, None);
}

/// A payment's metadata has the customer's limits; its description is checked too.
pub async fn payment_metadata_is_validated(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, VISA).await.id;
    let keys: std::collections::BTreeMap<String, String> =
        (0..51).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let err = vinr
        .payments()
        .create(CreatePayment {
            metadata: Some(keys),
            ..off_session(&ada.id, Some(&pm), 2500)
        })
        .await
        .expect_err("51 metadata keys");
    assert!(
        matches!(
            err,
            Error::InvalidRequest {
                code: InvalidRequestCode::InvalidMetadata,
                ..
            }
        ),
        "{err:?}"
    );
    let paid = vinr
        .payments()
        .create(CreatePayment {
            metadata: Some(std::collections::BTreeMap::from([(
                "orderId".into(),
                "4471".into(),
            )])),
            ..off_session(&ada.id, Some(&pm), 2500)
        })
        .await
        .expect("with metadata");
    assert_eq!(paid.metadata.get("orderId"), Some("4471"));
    assert!(
        payments_of(vinr, &ada.id).await.len() == 1,
        "the refused one was not created"
    );
}
