//! On-session payments on the hosted payment page (api.md §5), and `savePaymentMethod`.

use vinr::{
    ChallengeOutcome, CreatePayment, DeclineCode, Error, HostedOutcome, HostedStage, LastErrorCode,
    PaymentStatus, Vinr,
};

use super::support::{
    DECLINED, INCORRECT_CVC, SETUP_ONLY, THREE_DS_ALWAYS, VISA, approved_charges, assert_charged,
    assert_redirect, card, create_ada, events_about, methods_of,
};

/// Where the merchant's checkout returns to.
const CHECKOUT_RETURN: &str = "https://yoursite.com/checkout/done?order=4471";

/// €25.00 for Ada, with no method: the buyer pays on the hosted page.
fn on_session(customer: &vinr::CustomerId, save: bool) -> CreatePayment {
    CreatePayment {
        amount: 2500,
        currency: "EUR".into(),
        customer_id: Some(customer.clone()),
        description: Some("Order #4471".into()),
        save_payment_method: save,
        return_url: Some(CHECKOUT_RETURN.into()),
        ..Default::default()
    }
}

/// A payment without a method waits on its checkout page, which shows "25.00 EUR".
pub async fn an_on_session_payment_waits_on_its_checkout_page(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let payment = vinr
        .payments()
        .create(on_session(&ada.id, true))
        .await
        .expect("create");
    assert_eq!(payment.status, PaymentStatus::RequiresPaymentMethod);
    assert!(!payment.off_session);
    assert!(payment.save_payment_method);
    assert_eq!(payment.payment_method_id, None);
    assert_eq!(payment.return_url.as_deref(), Some(CHECKOUT_RETURN));
    let checkout = payment.checkout_url.clone().expect("checkoutUrl");
    assert!(
        checkout.ends_with(&format!("/hosted/pay/{}", payment.id)),
        "{checkout}"
    );
    assert!(
        events_about(vinr, "payment.succeeded", payment.id.as_str())
            .await
            .is_empty()
    );

    let page = vinr
        .hosted()
        .payment_page(&payment.id)
        .await
        .expect("the payment page");
    assert_eq!(page.stage, HostedStage::CollectCard);
    assert_eq!(page.amount.as_deref(), Some("25.00 EUR"));
    assert_eq!(page.description.as_deref(), Some("Order #4471"));
    assert_eq!(page.last_error, None);
    assert!(!page.livemode);
}

/// A declined card leaves the payment open with `lastError`; 4242 then pays it, sends the buyer
/// back with `payment=<id>&status=succeeded`, and (asked to) saves the card to Ada.
pub async fn a_declined_card_leaves_the_payment_open_and_a_good_card_pays_and_is_saved(
    vinr: &Vinr,
) {
    let ada = create_ada(vinr).await;
    let payment = vinr
        .payments()
        .create(on_session(&ada.id, true))
        .await
        .expect("create");
    let before = approved_charges(vinr);

    let outcome = vinr
        .hosted()
        .submit_payment_card(&payment.id, card(DECLINED))
        .await
        .expect("submit 0002");
    assert!(
        matches!(outcome, HostedOutcome::Retry { .. }),
        "{outcome:?}"
    );
    let open = vinr
        .payments()
        .retrieve(&payment.id)
        .await
        .expect("retrieve");
    assert_eq!(open.status, PaymentStatus::RequiresPaymentMethod);
    let last = open.last_error.clone().expect("lastError");
    assert_eq!(
        (last.code, last.decline_code),
        (
            LastErrorCode::CardDeclined,
            Some(DeclineCode::GenericDecline)
        )
    );
    assert!(
        methods_of(vinr, &ada.id).await.is_empty(),
        "a declined card is not saved"
    );
    let page = vinr
        .hosted()
        .payment_page(&payment.id)
        .await
        .expect("the form again");
    assert!(page.last_error.is_some(), "the reason is shown");

    let outcome = vinr
        .hosted()
        .submit_payment_card(&payment.id, card(VISA))
        .await
        .expect("submit 4242");
    assert_redirect(
        &outcome,
        CHECKOUT_RETURN,
        &[("payment", payment.id.as_str()), ("status", "succeeded")],
    );
    let paid = vinr
        .payments()
        .retrieve(&payment.id)
        .await
        .expect("retrieve");
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    assert_eq!(paid.last_error, None);
    assert_eq!((paid.amount, paid.currency.code()), (2500, "EUR"));
    assert_charged(vinr, before, 1);
    let pm = paid.payment_method_id.clone().expect("the card used");
    let methods = methods_of(vinr, &ada.id).await;
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0].id, pm);
    assert_eq!(methods[0].last4, "4242");
    assert_eq!(
        events_about(vinr, "payment_method.attached", pm.as_str())
            .await
            .len(),
        1
    );
    assert_eq!(
        events_about(vinr, "payment.succeeded", payment.id.as_str())
            .await
            .len(),
        1
    );

    // The saved card is reusable off-session.
    let again = vinr
        .payments()
        .create(super::support::off_session(&ada.id, Some(&pm), 1000))
        .await
        .expect("charging the saved card");
    assert_eq!(again.status, PaymentStatus::Succeeded);
}

/// Without `savePaymentMethod` the card pays but does not join the wallet.
pub async fn without_save_payment_method_the_card_is_not_kept_in_the_wallet(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let payment = vinr
        .payments()
        .create(on_session(&ada.id, false))
        .await
        .expect("create");
    let outcome = vinr
        .hosted()
        .submit_payment_card(&payment.id, card(VISA))
        .await
        .expect("submit");
    assert_redirect(
        &outcome,
        CHECKOUT_RETURN,
        &[("payment", payment.id.as_str()), ("status", "succeeded")],
    );
    assert_eq!(
        vinr.payments()
            .retrieve(&payment.id)
            .await
            .expect("retrieve")
            .status,
        PaymentStatus::Succeeded
    );
    assert!(
        methods_of(vinr, &ada.id).await.is_empty(),
        "the card was not saved"
    );
    assert!(
        super::support::events(vinr, Some("payment_method.attached"))
            .await
            .is_empty()
    );
}

/// The seed's 3DS card on the payment page: a challenge, then paid.
pub async fn a_3ds_card_on_the_payment_page_pays_after_the_challenge(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let payment = vinr
        .payments()
        .create(on_session(&ada.id, true))
        .await
        .expect("create");
    let before = approved_charges(vinr);
    let outcome = vinr
        .hosted()
        .submit_payment_card(&payment.id, card(THREE_DS_ALWAYS))
        .await
        .expect("submit 3220");
    let HostedOutcome::Challenge { url } = &outcome else {
        panic!("expected a challenge, got {outcome:?}");
    };
    assert!(
        url.ends_with(&format!("/hosted/authenticate/{}", payment.id)),
        "{url}"
    );
    let waiting = vinr
        .payments()
        .retrieve(&payment.id)
        .await
        .expect("retrieve");
    assert_eq!(waiting.status, PaymentStatus::RequiresAction);
    assert_eq!(
        waiting.last_error, None,
        "on-session needs no authentication_required"
    );
    assert_eq!(
        events_about(vinr, "payment.requires_action", payment.id.as_str())
            .await
            .len(),
        1
    );
    assert_charged(vinr, before, 0);
    assert_eq!(
        vinr.hosted()
            .payment_page(&payment.id)
            .await
            .expect("page")
            .stage,
        HostedStage::Authenticate
    );

    let outcome = vinr
        .hosted()
        .authenticate_payment(&payment.id, ChallengeOutcome::Complete)
        .await
        .expect("complete");
    assert_redirect(
        &outcome,
        CHECKOUT_RETURN,
        &[("payment", payment.id.as_str()), ("status", "succeeded")],
    );
    let paid = vinr
        .payments()
        .retrieve(&payment.id)
        .await
        .expect("retrieve");
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    assert_charged(vinr, before, 1);
    assert_eq!(
        methods_of(vinr, &ada.id).await.len(),
        1,
        "saved after the challenge"
    );
}

/// A failed challenge on the payment page fails the payment and returns with `status=failed`.
pub async fn a_failed_challenge_on_the_payment_page_fails_it(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let payment = vinr
        .payments()
        .create(on_session(&ada.id, true))
        .await
        .expect("create");
    vinr.hosted()
        .submit_payment_card(&payment.id, card(THREE_DS_ALWAYS))
        .await
        .expect("submit 3220");
    let outcome = vinr
        .hosted()
        .authenticate_payment(&payment.id, ChallengeOutcome::Fail)
        .await
        .expect("fail");
    assert_redirect(
        &outcome,
        CHECKOUT_RETURN,
        &[("payment", payment.id.as_str()), ("status", "failed")],
    );
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
    assert_eq!(
        events_about(vinr, "payment.failed", payment.id.as_str())
            .await
            .len(),
        1
    );
    assert!(methods_of(vinr, &ada.id).await.is_empty());
}

/// Cards refused with the buyer present: 0127 (`incorrect_cvc`) and 0341 (declined on any
/// payment) leave the payment open.
pub async fn cards_refused_on_session_leave_the_payment_open(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let payment = vinr
        .payments()
        .create(on_session(&ada.id, true))
        .await
        .expect("create");
    for (number, code, decline) in [
        (INCORRECT_CVC, LastErrorCode::IncorrectCvc, None),
        (
            SETUP_ONLY,
            LastErrorCode::CardDeclined,
            Some(DeclineCode::GenericDecline),
        ),
    ] {
        let outcome = vinr
            .hosted()
            .submit_payment_card(&payment.id, card(number))
            .await
            .expect("submit");
        assert!(
            matches!(outcome, HostedOutcome::Retry { .. }),
            "{number}: {outcome:?}"
        );
        let open = vinr
            .payments()
            .retrieve(&payment.id)
            .await
            .expect("retrieve");
        assert_eq!(
            open.status,
            PaymentStatus::RequiresPaymentMethod,
            "{number}"
        );
        let last = open.last_error.expect("lastError");
        assert_eq!((last.code, last.decline_code), (code, decline), "{number}");
    }
    assert!(methods_of(vinr, &ada.id).await.is_empty());
}

/// A paid payment's page answers 410 Gone; so does a second card on it.
pub async fn a_succeeded_payment_page_is_gone(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let payment = vinr
        .payments()
        .create(on_session(&ada.id, false))
        .await
        .expect("create");
    vinr.hosted()
        .submit_payment_card(&payment.id, card(VISA))
        .await
        .expect("submit");
    let before = approved_charges(vinr);
    let err = vinr
        .hosted()
        .payment_page(&payment.id)
        .await
        .expect_err("a paid page");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    let err = vinr
        .hosted()
        .submit_payment_card(&payment.id, card(VISA))
        .await
        .expect_err("paying twice");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    assert_charged(vinr, before, 0);
}

/// A card saved during a payment follows the same rule as a setup: a card Ada already saved
/// comes back as the same method, not a second one.
pub async fn paying_with_an_already_saved_card_keeps_one_method(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let saved = super::support::save_card(vinr, &ada.id, VISA).await;
    let payment = vinr
        .payments()
        .create(on_session(&ada.id, true))
        .await
        .expect("create");
    vinr.hosted()
        .submit_payment_card(&payment.id, card(VISA))
        .await
        .expect("submit");
    let paid = vinr
        .payments()
        .retrieve(&payment.id)
        .await
        .expect("retrieve");
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    assert_eq!(paid.payment_method_id.as_ref(), Some(&saved));
    assert_eq!(methods_of(vinr, &ada.id).await.len(), 1);
}

/// 3155 typed on the payment page goes through its challenge; saved that way, it is then
/// charged off-session without another one.
pub async fn a_3155_card_saved_on_the_payment_page_succeeds_off_session(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let payment = vinr
        .payments()
        .create(on_session(&ada.id, true))
        .await
        .expect("create");
    let outcome = vinr
        .hosted()
        .submit_payment_card(&payment.id, card(super::support::THREE_DS_ONCE))
        .await
        .expect("submit 3155");
    assert!(
        matches!(outcome, HostedOutcome::Challenge { .. }),
        "{outcome:?}"
    );
    vinr.hosted()
        .authenticate_payment(&payment.id, ChallengeOutcome::Complete)
        .await
        .expect("complete");
    let paid = vinr
        .payments()
        .retrieve(&payment.id)
        .await
        .expect("retrieve");
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    let pm = paid.payment_method_id.expect("saved");
    let again = vinr
        .payments()
        .create(super::support::off_session(&ada.id, Some(&pm), 1000))
        .await
        .expect("off-session");
    assert_eq!(again.status, PaymentStatus::Succeeded);
}

/// 3178 on the payment page: the challenge, then declined; the payment stays open for another
/// card and the buyer is sent back to the card form.
pub async fn a_card_declined_after_its_challenge_leaves_the_payment_open(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let payment = vinr
        .payments()
        .create(on_session(&ada.id, true))
        .await
        .expect("create");
    let before = approved_charges(vinr);
    vinr.hosted()
        .submit_payment_card(&payment.id, card(super::support::THREE_DS_THEN_FUNDS))
        .await
        .expect("submit 3178");
    let outcome = vinr
        .hosted()
        .authenticate_payment(&payment.id, ChallengeOutcome::Complete)
        .await
        .expect("complete");
    let back_to_form = match &outcome {
        HostedOutcome::Redirect { url } => Some(url) == payment.checkout_url.as_ref(),
        HostedOutcome::Retry { .. } => true,
        HostedOutcome::Challenge { .. } | HostedOutcome::Done { .. } => false,
    };
    assert!(back_to_form, "{outcome:?}");
    let open = vinr
        .payments()
        .retrieve(&payment.id)
        .await
        .expect("retrieve");
    assert_eq!(open.status, PaymentStatus::RequiresPaymentMethod);
    let last = open.last_error.expect("lastError");
    assert_eq!(
        (last.code, last.decline_code),
        (
            LastErrorCode::CardDeclined,
            Some(DeclineCode::InsufficientFunds)
        )
    );
    assert!(methods_of(vinr, &ada.id).await.is_empty());
    let outcome = vinr
        .hosted()
        .submit_payment_card(&payment.id, card(VISA))
        .await
        .expect("another card");
    assert_redirect(
        &outcome,
        CHECKOUT_RETURN,
        &[("payment", payment.id.as_str()), ("status", "succeeded")],
    );
    assert_charged(vinr, before, 1);
}

/// A payment whose customer was deleted before the buyer paid does not save the card to the
/// deleted customer.
pub async fn a_payment_of_a_deleted_customer_saves_no_card(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let payment = vinr
        .payments()
        .create(on_session(&ada.id, true))
        .await
        .expect("create");
    vinr.customers().delete(&ada.id).await.expect("delete");
    let _ = vinr
        .hosted()
        .submit_payment_card(&payment.id, card(VISA))
        .await;
    assert!(
        super::support::events(vinr, Some("payment_method.attached"))
            .await
            .is_empty(),
        "payment_method.attached for a deleted customer"
    );
}
