//! Saving a card through a setup and the hosted page (api.md §3), with every test card.

use vinr::{
    Brand, CardEntry, ChallengeOutcome, DeclineCode, Error, HostedOutcome, HostedStage,
    InvalidRequestCode, LastErrorCode, SetupStatus, Vinr,
};

use super::support::{
    AMEX, DECLINED, EXPIRED, INCORRECT_CVC, INSUFFICIENT_FUNDS, LOST, MASTERCARD, PROCESSING_ERROR,
    RETURN_URL, SETUP_ONLY, STOLEN, THREE_DS_ALWAYS, THREE_DS_ALWAYS_2, THREE_DS_ONCE,
    THREE_DS_OPTIONAL, THREE_DS_THEN_DECLINE, THREE_DS_THEN_FUNDS, VISA, assert_invalid,
    assert_redirect, card, create_ada, events, events_about, methods_of,
};

/// The seed's `setupMethod`: a setup waiting for a card on `checkoutUrl`, open for 24 hours.
pub async fn a_setup_waits_for_a_card_on_its_checkout_page(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    let id = setup.id.as_str();
    assert!(
        id.starts_with("seti_") && id.len() == "seti_".len() + 24,
        "{id}"
    );
    assert_eq!(setup.customer_id, ada.id);
    assert_eq!(setup.status, SetupStatus::RequiresPaymentMethod);
    assert!(
        setup.checkout_url.ends_with(&format!("/hosted/setup/{id}")),
        "{}",
        setup.checkout_url
    );
    assert!(
        setup.checkout_url.starts_with("http"),
        "{}",
        setup.checkout_url
    );
    assert_eq!(setup.return_url, RETURN_URL);
    assert_eq!(setup.payment_method_id, None);
    assert_eq!(setup.last_error, None);
    assert_eq!(
        setup.expires_at - setup.created,
        chrono::Duration::hours(24)
    );
    assert_eq!(setup.version, 1);
    assert!(!setup.livemode);
    assert_eq!(
        vinr.setups().retrieve(&setup.id).await.expect("retrieve"),
        setup
    );

    let page = vinr
        .hosted()
        .setup_page(&setup.id)
        .await
        .expect("the setup page");
    assert_eq!(page.stage, HostedStage::CollectCard);
    assert_eq!(page.amount, None);
    assert!(!page.livemode);
}

/// `returnUrl` must be an absolute http(s) URL.
pub async fn a_setup_refuses_a_return_url_that_is_not_absolute_http(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    for bad in [
        "/relative",
        "ftp://x",
        "yoursite.com/wallet",
        "javascript:alert(1)",
        "",
    ] {
        let err = vinr
            .customers()
            .setup_method(&ada.id, bad)
            .await
            .expect_err(bad);
        assert_invalid(&err, InvalidRequestCode::InvalidUrl, Some("returnUrl"));
    }
    let err = vinr
        .customers()
        .setup_method(&super::support::unknown_customer(), RETURN_URL)
        .await
        .expect_err("an unknown customer");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// 4242 on the setup page: back to the return URL (its own query kept) with
/// `setup=<id>&status=succeeded`; the card is saved to Ada as the seed lists it.
pub async fn saving_4242_redirects_to_the_return_url_and_attaches_the_card(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let return_url = "https://yoursite.com/wallet/saved?from=wallet";
    let setup = vinr
        .customers()
        .setup_method(&ada.id, return_url)
        .await
        .expect("setup");
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, card(VISA))
        .await
        .expect("submit");
    assert_redirect(
        &outcome,
        return_url,
        &[("setup", setup.id.as_str()), ("status", "succeeded")],
    );

    let done = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
    assert_eq!(done.status, SetupStatus::Succeeded);
    assert_eq!(done.last_error, None);
    assert!(done.version > setup.version);
    let pm = done.payment_method_id.clone().expect("the saved method");
    assert!(pm.as_str().starts_with("pm_"), "{pm}");

    let methods = methods_of(vinr, &ada.id).await;
    assert_eq!(methods.len(), 1);
    let m = &methods[0];
    assert_eq!(m.id, pm);
    assert_eq!(m.brand, Brand::Visa);
    assert_eq!(m.brand.to_string(), "visa");
    assert_eq!(m.last4, "4242");
    assert_eq!((m.exp_month, m.exp_year), (12, 2034));
    assert_eq!(m.customer_id.as_ref(), Some(&ada.id));
    assert!(!m.livemode);
    assert_eq!(
        vinr.customers()
            .retrieve_method(&ada.id, &pm)
            .await
            .expect("one method"),
        *m
    );

    assert_eq!(
        events_about(vinr, "payment_method.attached", pm.as_str())
            .await
            .len(),
        1
    );
    let succeeded = events_about(vinr, "setup.succeeded", setup.id.as_str()).await;
    assert_eq!(succeeded.len(), 1);
    match &succeeded[0].data.object {
        vinr::EventObject::Setup(s) => assert_eq!(s.payment_method_id.as_ref(), Some(&pm)),
        other => panic!("setup.succeeded about {other:?}"),
    }
    assert!(
        events_about(vinr, "setup.failed", setup.id.as_str())
            .await
            .is_empty()
    );
}

/// A declined card: the form again, the setup still open with `lastError`, `setup.failed`,
/// nothing saved; then 4242 on the same setup saves.
pub async fn a_declined_card_keeps_the_setup_open_and_a_good_card_then_saves(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, card(DECLINED))
        .await
        .expect("submit");
    assert!(
        matches!(outcome, HostedOutcome::Retry { .. }),
        "{outcome:?}"
    );

    let open = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
    assert_eq!(open.status, SetupStatus::RequiresPaymentMethod);
    assert_eq!(open.payment_method_id, None);
    let last = open.last_error.clone().expect("lastError after a decline");
    assert_eq!(last.code, LastErrorCode::CardDeclined);
    assert_eq!(last.decline_code, Some(DeclineCode::GenericDecline));
    assert_eq!(
        events_about(vinr, "setup.failed", setup.id.as_str())
            .await
            .len(),
        1
    );
    assert!(
        methods_of(vinr, &ada.id).await.is_empty(),
        "nothing attached"
    );
    assert!(
        events(vinr, Some("payment_method.attached"))
            .await
            .is_empty(),
        "no payment_method.attached"
    );
    let page = vinr
        .hosted()
        .setup_page(&setup.id)
        .await
        .expect("the page again");
    assert_eq!(page.stage, HostedStage::CollectCard);
    assert!(page.last_error.is_some(), "the reason is shown");

    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, card(VISA))
        .await
        .expect("submit");
    assert_redirect(
        &outcome,
        RETURN_URL,
        &[("setup", setup.id.as_str()), ("status", "succeeded")],
    );
    let done = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
    assert_eq!(done.status, SetupStatus::Succeeded);
    assert_eq!(done.last_error, None, "a success clears lastError");
    assert_eq!(methods_of(vinr, &ada.id).await.len(), 1);
}

/// A number failing Luhn is a failed attempt: `incorrect_number`, `setup.failed`.
pub async fn a_number_failing_luhn_is_an_incorrect_number_attempt(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, card("4242 4242 4242 4241"))
        .await
        .expect("submit");
    assert!(
        matches!(outcome, HostedOutcome::Retry { .. }),
        "{outcome:?}"
    );
    let open = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
    assert_eq!(open.status, SetupStatus::RequiresPaymentMethod);
    assert_eq!(
        open.last_error.map(|e| e.code),
        Some(LastErrorCode::IncorrectNumber)
    );
    assert_eq!(
        events_about(vinr, "setup.failed", setup.id.as_str())
            .await
            .len(),
        1
    );
    assert!(methods_of(vinr, &ada.id).await.is_empty());
}

/// A Luhn-valid number outside the test table (4111…) is a declined attempt in sandbox, as a
/// network would decline it: the form again with a hint, `lastError` set, one `setup.failed`,
/// nothing attached.
pub async fn a_luhn_valid_card_outside_the_test_table_is_a_declined_attempt(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, card("4111 1111 1111 1111"))
        .await
        .expect("submit");
    match &outcome {
        HostedOutcome::Retry { message } => assert!(message.contains("test card"), "{message}"),
        other => panic!("expected the form again, got {other:?}"),
    }
    let open = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
    assert_eq!(open.status, SetupStatus::RequiresPaymentMethod);
    let last = open.last_error.expect("lastError set");
    assert_eq!(last.code, vinr::LastErrorCode::CardDeclined);
    assert_eq!(
        events_about(vinr, "setup.failed", setup.id.as_str())
            .await
            .len(),
        1
    );
    assert!(methods_of(vinr, &ada.id).await.is_empty());
}

/// An expiry that is not a date is form input to correct, not a card attempt: nothing changes.
pub async fn a_malformed_expiry_changes_nothing(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, CardEntry::new(VISA, "13/99", "987"))
        .await
        .expect("submit");
    assert!(
        matches!(outcome, HostedOutcome::Retry { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        vinr.setups().retrieve(&setup.id).await.expect("retrieve"),
        setup
    );
    assert!(
        events_about(vinr, "setup.failed", setup.id.as_str())
            .await
            .is_empty()
    );
}

/// A past expiry typed on the page is `expired_card`.
pub async fn a_past_expiry_is_an_expired_card_attempt(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, CardEntry::new(VISA, "01/20", "987"))
        .await
        .expect("submit");
    assert!(
        matches!(outcome, HostedOutcome::Retry { .. }),
        "{outcome:?}"
    );
    let open = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
    assert_eq!(open.status, SetupStatus::RequiresPaymentMethod);
    assert_eq!(
        open.last_error.map(|e| e.code),
        Some(LastErrorCode::ExpiredCard)
    );
    assert_eq!(
        events_about(vinr, "setup.failed", setup.id.as_str())
            .await
            .len(),
        1
    );
    assert!(methods_of(vinr, &ada.id).await.is_empty());
}

/// Every refusing test card on the setup page, with its reason (api.md §4, column "on setup").
pub async fn every_refusing_test_card_is_refused_on_the_setup_page_with_its_reason(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let table = [
        (
            DECLINED,
            LastErrorCode::CardDeclined,
            Some(DeclineCode::GenericDecline),
        ),
        (
            INSUFFICIENT_FUNDS,
            LastErrorCode::CardDeclined,
            Some(DeclineCode::InsufficientFunds),
        ),
        (
            LOST,
            LastErrorCode::CardDeclined,
            Some(DeclineCode::LostCard),
        ),
        (
            STOLEN,
            LastErrorCode::CardDeclined,
            Some(DeclineCode::StolenCard),
        ),
        (EXPIRED, LastErrorCode::ExpiredCard, None),
        (INCORRECT_CVC, LastErrorCode::IncorrectCvc, None),
        (PROCESSING_ERROR, LastErrorCode::ProcessingError, None),
    ];
    for (number, code, decline) in table {
        let setup = vinr
            .customers()
            .setup_method(&ada.id, RETURN_URL)
            .await
            .expect("setup");
        let outcome = vinr
            .hosted()
            .submit_setup_card(&setup.id, card(number))
            .await
            .expect("submit");
        assert!(
            matches!(outcome, HostedOutcome::Retry { .. }),
            "{number}: {outcome:?}"
        );
        let open = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
        assert_eq!(open.status, SetupStatus::RequiresPaymentMethod, "{number}");
        let last = open.last_error.expect("lastError");
        assert_eq!((last.code, last.decline_code), (code, decline), "{number}");
        assert_eq!(
            events_about(vinr, "setup.failed", setup.id.as_str())
                .await
                .len(),
            1,
            "{number}"
        );
    }
    assert!(
        methods_of(vinr, &ada.id).await.is_empty(),
        "no refused card was saved"
    );
}

/// Every test card a setup accepts without a challenge is saved with its brand and last four.
pub async fn every_succeeding_test_card_is_saved_with_its_brand(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let table = [
        (VISA, Brand::Visa, "4242"),
        (MASTERCARD, Brand::Mastercard, "4444"),
        (AMEX, Brand::Amex, "0005"),
        (SETUP_ONLY, Brand::Visa, "0341"),
        (THREE_DS_OPTIONAL, Brand::Visa, "3055"),
    ];
    for (number, brand, last4) in table {
        let setup = vinr
            .customers()
            .setup_method(&ada.id, RETURN_URL)
            .await
            .expect("setup");
        let outcome = vinr
            .hosted()
            .submit_setup_card(&setup.id, card(number))
            .await
            .expect("submit");
        assert_redirect(
            &outcome,
            RETURN_URL,
            &[("setup", setup.id.as_str()), ("status", "succeeded")],
        );
        let pm = vinr
            .setups()
            .retrieve(&setup.id)
            .await
            .expect("retrieve")
            .payment_method_id
            .expect("saved");
        let m = vinr
            .customers()
            .retrieve_method(&ada.id, &pm)
            .await
            .expect("the method");
        assert_eq!((m.brand, m.last4.as_str()), (brand, last4), "{number}");
    }
    assert_eq!(methods_of(vinr, &ada.id).await.len(), table.len());
}

/// The seed's 3DS card: the page asks for a challenge, the setup waits in `requires_action`,
/// and completing it saves the card and returns the buyer with `status=succeeded`.
pub async fn a_3ds_card_is_saved_through_a_completed_challenge(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, card(THREE_DS_ALWAYS))
        .await
        .expect("submit");
    let HostedOutcome::Challenge { url } = &outcome else {
        panic!("expected a challenge, got {outcome:?}");
    };
    assert!(
        url.ends_with(&format!("/hosted/authenticate/{}", setup.id)),
        "{url}"
    );
    let waiting = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
    assert_eq!(waiting.status, SetupStatus::RequiresAction);
    assert!(
        methods_of(vinr, &ada.id).await.is_empty(),
        "nothing saved before the challenge"
    );
    let page = vinr
        .hosted()
        .setup_page(&setup.id)
        .await
        .expect("the challenge page");
    assert_eq!(page.stage, HostedStage::Authenticate);

    let outcome = vinr
        .hosted()
        .authenticate_setup(&setup.id, ChallengeOutcome::Complete)
        .await
        .expect("complete");
    assert_redirect(
        &outcome,
        RETURN_URL,
        &[("setup", setup.id.as_str()), ("status", "succeeded")],
    );
    let done = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
    assert_eq!(done.status, SetupStatus::Succeeded);
    let pm = done.payment_method_id.expect("saved");
    let methods = methods_of(vinr, &ada.id).await;
    assert_eq!(methods.len(), 1);
    assert_eq!(
        (methods[0].id.clone(), methods[0].last4.as_str()),
        (pm.clone(), "3220")
    );
    assert_eq!(
        events_about(vinr, "payment_method.attached", pm.as_str())
            .await
            .len(),
        1
    );
    assert_eq!(
        events_about(vinr, "setup.succeeded", setup.id.as_str())
            .await
            .len(),
        1
    );
}

/// A failed challenge: back to the checkout page, the setup open again with
/// `authentication_failed`, `setup.failed`, nothing saved.
pub async fn a_failed_challenge_sends_the_buyer_back_to_the_card_form(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, card(THREE_DS_ALWAYS))
        .await
        .expect("submit");
    assert!(
        matches!(outcome, HostedOutcome::Challenge { .. }),
        "{outcome:?}"
    );
    let outcome = vinr
        .hosted()
        .authenticate_setup(&setup.id, ChallengeOutcome::Fail)
        .await
        .expect("fail");
    assert_eq!(
        outcome,
        HostedOutcome::Redirect {
            url: setup.checkout_url.clone()
        }
    );
    let open = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
    assert_eq!(open.status, SetupStatus::RequiresPaymentMethod);
    assert_eq!(
        open.last_error.map(|e| e.code),
        Some(LastErrorCode::AuthenticationFailed)
    );
    assert_eq!(
        events_about(vinr, "setup.failed", setup.id.as_str())
            .await
            .len(),
        1
    );
    assert!(methods_of(vinr, &ada.id).await.is_empty());
    let page = vinr
        .hosted()
        .setup_page(&setup.id)
        .await
        .expect("the card form again");
    assert_eq!(page.stage, HostedStage::CollectCard);

    // The buyer may try again on the same setup.
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, card(VISA))
        .await
        .expect("submit");
    assert_redirect(
        &outcome,
        RETURN_URL,
        &[("setup", setup.id.as_str()), ("status", "succeeded")],
    );
}

/// 4000 0082 6000 3178: the challenge, then declined `insufficient_funds`; the setup is open
/// again and nothing is saved.
pub async fn a_card_declined_after_its_challenge_leaves_the_setup_open(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    for (number, decline) in [
        (THREE_DS_THEN_FUNDS, DeclineCode::InsufficientFunds),
        (THREE_DS_THEN_DECLINE, DeclineCode::GenericDecline),
    ] {
        let setup = vinr
            .customers()
            .setup_method(&ada.id, RETURN_URL)
            .await
            .expect("setup");
        let outcome = vinr
            .hosted()
            .submit_setup_card(&setup.id, card(number))
            .await
            .expect("submit");
        assert!(
            matches!(outcome, HostedOutcome::Challenge { .. }),
            "{number}: {outcome:?}"
        );
        let outcome = vinr
            .hosted()
            .authenticate_setup(&setup.id, ChallengeOutcome::Complete)
            .await
            .expect("complete");
        let back_to_form = match &outcome {
            HostedOutcome::Redirect { url } => *url == setup.checkout_url,
            HostedOutcome::Retry { .. } => true,
            HostedOutcome::Challenge { .. } | HostedOutcome::Done { .. } => false,
        };
        assert!(back_to_form, "{number}: {outcome:?}");
        let open = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
        assert_eq!(open.status, SetupStatus::RequiresPaymentMethod, "{number}");
        let last = open.last_error.expect("lastError");
        assert_eq!(
            (last.code, last.decline_code),
            (LastErrorCode::CardDeclined, Some(decline)),
            "{number}"
        );
        assert_eq!(
            events_about(vinr, "setup.failed", setup.id.as_str())
                .await
                .len(),
            1,
            "{number}"
        );
    }
    assert!(methods_of(vinr, &ada.id).await.is_empty());
}

/// Every 3DS test card asks for a challenge on the setup page; the ones approved after it
/// are saved.
pub async fn every_3ds_test_card_asks_for_a_challenge_on_the_setup_page(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    for (number, saved) in [
        (THREE_DS_ALWAYS, true),
        (THREE_DS_ONCE, true),
        (THREE_DS_ALWAYS_2, true),
        (THREE_DS_THEN_FUNDS, false),
        (THREE_DS_THEN_DECLINE, false),
    ] {
        let setup = vinr
            .customers()
            .setup_method(&ada.id, RETURN_URL)
            .await
            .expect("setup");
        let outcome = vinr
            .hosted()
            .submit_setup_card(&setup.id, card(number))
            .await
            .expect("submit");
        assert!(
            matches!(outcome, HostedOutcome::Challenge { .. }),
            "{number}: {outcome:?}"
        );
        vinr.hosted()
            .authenticate_setup(&setup.id, ChallengeOutcome::Complete)
            .await
            .expect("complete");
        let status = vinr
            .setups()
            .retrieve(&setup.id)
            .await
            .expect("retrieve")
            .status;
        let want = if saved {
            SetupStatus::Succeeded
        } else {
            SetupStatus::RequiresPaymentMethod
        };
        assert_eq!(status, want, "{number}");
    }
    assert_eq!(methods_of(vinr, &ada.id).await.len(), 3);
}

/// A used setup's page answers 410 Gone, to views, cards and challenges alike.
pub async fn a_used_setup_page_is_gone(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    vinr.hosted()
        .submit_setup_card(&setup.id, card(VISA))
        .await
        .expect("submit");

    let err = vinr
        .hosted()
        .setup_page(&setup.id)
        .await
        .expect_err("a used page");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    let err = vinr
        .hosted()
        .submit_setup_card(&setup.id, card(MASTERCARD))
        .await
        .expect_err("a second card on a used page");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    let err = vinr
        .hosted()
        .authenticate_setup(&setup.id, ChallengeOutcome::Complete)
        .await
        .expect_err("a challenge on a used page");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    assert_eq!(
        methods_of(vinr, &ada.id).await.len(),
        1,
        "the second card was not saved"
    );
}

/// `cancel`: `canceled`, `setup.canceled`, the page is gone, and a second cancel is refused.
pub async fn a_canceled_setup_is_gone_and_cannot_be_canceled_twice(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    let canceled = vinr.setups().cancel(&setup.id).await.expect("cancel");
    assert_eq!(canceled.status, SetupStatus::Canceled);
    assert_eq!(
        vinr.setups().retrieve(&setup.id).await.expect("retrieve"),
        canceled
    );
    assert_eq!(
        events_about(vinr, "setup.canceled", setup.id.as_str())
            .await
            .len(),
        1
    );

    let err = vinr
        .hosted()
        .setup_page(&setup.id)
        .await
        .expect_err("a canceled page");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    let err = vinr
        .hosted()
        .submit_setup_card(&setup.id, card(VISA))
        .await
        .expect_err("a card on a canceled page");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");

    let err = vinr
        .setups()
        .cancel(&setup.id)
        .await
        .expect_err("cancel twice");
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err:?}");
    assert_eq!(
        events_about(vinr, "setup.canceled", setup.id.as_str())
            .await
            .len(),
        1
    );

    // A setup waiting for its challenge can be canceled too.
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    vinr.hosted()
        .submit_setup_card(&setup.id, card(THREE_DS_ALWAYS))
        .await
        .expect("submit");
    let canceled = vinr
        .setups()
        .cancel(&setup.id)
        .await
        .expect("cancel in requires_action");
    assert_eq!(canceled.status, SetupStatus::Canceled);
    let err = vinr
        .hosted()
        .authenticate_setup(&setup.id, ChallengeOutcome::Complete)
        .await
        .expect_err("a challenge after cancel");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    assert!(methods_of(vinr, &ada.id).await.is_empty());
}

/// A setup opened before its customer was deleted cannot attach a card to the deleted
/// customer afterwards.
pub async fn a_setup_of_a_deleted_customer_saves_nothing(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    vinr.customers().delete(&ada.id).await.expect("delete");
    let outcome = vinr.hosted().submit_setup_card(&setup.id, card(VISA)).await;
    let succeeded = matches!(outcome, Ok(HostedOutcome::Redirect { ref url }) if url.contains("status=succeeded"));
    assert!(
        !succeeded,
        "a card was saved for a deleted customer: {outcome:?}"
    );
    assert!(
        events(vinr, Some("payment_method.attached"))
            .await
            .is_empty(),
        "payment_method.attached for a deleted customer"
    );
}
