//! Flows that move time, through the sandbox clock (`vinr.clock()`): they run only in-process,
//! since over HTTP time cannot be moved.

use chrono::{Datelike, Duration, NaiveDate};
use vinr::{
    CardErrorCode, CreatePayment, Error, LastErrorCode, ManualClock, PaymentStatus, SetupStatus,
    Vinr,
};

use super::support::{
    RETURN_URL, VISA, card, create_ada, event_kinds_about, events_about, off_session,
};

fn clock(vinr: &Vinr) -> &ManualClock {
    vinr.clock().expect("clock flows need the sandbox clock")
}

/// The first day of the month after (`year`, `month`): when a card of that expiry lapses.
fn lapse_of(year: i32, month: u32) -> NaiveDate {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("a valid date")
}

/// A setup left alone for 24 hours reads `expired`, its page is gone, and no event says so.
pub async fn an_abandoned_setup_expires_after_24_hours_silently(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");

    clock(vinr).advance(Duration::hours(24) - Duration::seconds(1));
    let open = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
    assert_eq!(
        open.status,
        SetupStatus::RequiresPaymentMethod,
        "still open one second before"
    );
    vinr.hosted()
        .setup_page(&setup.id)
        .await
        .expect("the page still works");

    clock(vinr).advance(Duration::seconds(1));
    let expired = vinr.setups().retrieve(&setup.id).await.expect("retrieve");
    assert_eq!(expired.status, SetupStatus::Expired);
    let err = vinr
        .hosted()
        .setup_page(&setup.id)
        .await
        .expect_err("an expired page");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    let err = vinr
        .hosted()
        .submit_setup_card(&setup.id, card(VISA))
        .await
        .expect_err("a card on an expired page");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    assert!(
        event_kinds_about(vinr, setup.id.as_str()).await.is_empty(),
        "expiry emits no event"
    );
    let err = vinr
        .setups()
        .cancel(&setup.id)
        .await
        .expect_err("cancel an expired setup");
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err:?}");
    assert!(super::support::methods_of(vinr, &ada.id).await.is_empty());
}

/// A setup waiting for its challenge expires as well.
pub async fn a_setup_waiting_for_its_challenge_expires_after_24_hours(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, RETURN_URL)
        .await
        .expect("setup");
    vinr.hosted()
        .submit_setup_card(&setup.id, card("4000 0000 0000 3220"))
        .await
        .expect("submit");
    clock(vinr).advance(Duration::hours(25));
    assert_eq!(
        vinr.setups()
            .retrieve(&setup.id)
            .await
            .expect("retrieve")
            .status,
        SetupStatus::Expired
    );
    let err = vinr
        .hosted()
        .authenticate_setup(&setup.id, vinr::ChallengeOutcome::Complete)
        .await
        .expect_err("a challenge after expiry");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    assert!(super::support::methods_of(vinr, &ada.id).await.is_empty());
}

/// A payment still waiting for a card after 24 hours reads `canceled`; its page is gone.
pub async fn an_unpaid_payment_is_canceled_after_24_hours(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let payment = vinr
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
    assert_eq!(payment.status, PaymentStatus::RequiresPaymentMethod);

    clock(vinr).advance(Duration::hours(24));
    let later = vinr
        .payments()
        .retrieve(&payment.id)
        .await
        .expect("retrieve");
    assert_eq!(later.status, PaymentStatus::Canceled);
    let err = vinr
        .hosted()
        .payment_page(&payment.id)
        .await
        .expect_err("an expired page");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
    let err = vinr
        .hosted()
        .submit_payment_card(&payment.id, card(VISA))
        .await
        .expect_err("a card after expiry");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
}

/// The expiry notice as days pass: a card lapsing in about two months gets no notice 40 days
/// before, exactly one 10 days before (scanning "today" as the clock reads it), still charges on
/// its last day, and is refused off-session as `expired_card` once lapsed.
pub async fn a_card_is_noticed_before_it_lapses_and_refused_after(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let today = clock(vinr).now().date_naive();
    let in_two_months = today + Duration::days(62);
    let (year, month) = (in_two_months.year(), in_two_months.month());
    let lapse = lapse_of(year, month);
    let pm = vinr
        .test_helpers()
        .attach_card(&ada.id, VISA, month, year)
        .await
        .expect("attach");
    // Forty days before the lapse: too early.
    let forty_before = lapse - Duration::days(40);
    clock(vinr).advance(forty_before - today);
    let as_of = clock(vinr).now().date_naive();
    assert_eq!(as_of, forty_before);
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(as_of)
            .await
            .expect("scan"),
        0
    );

    // Ten days before: one notice, and only one.
    clock(vinr).advance(Duration::days(30));
    let as_of = clock(vinr).now().date_naive();
    assert_eq!(lapse - as_of, Duration::days(10));
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(as_of)
            .await
            .expect("scan"),
        1
    );
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(as_of)
            .await
            .expect("scan"),
        0
    );
    assert_eq!(
        events_about(vinr, "payment_method.expiring", pm.id.as_str())
            .await
            .len(),
        1
    );

    // Still valid on its last day.
    clock(vinr).advance(Duration::days(9));
    let paid = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm.id), 2500))
        .await
        .expect("the last valid day");
    assert_eq!(paid.status, PaymentStatus::Succeeded);

    // After the lapse: `expired_card`, recorded on a failed payment.
    clock(vinr).advance(Duration::days(1));
    assert_eq!(clock(vinr).now().date_naive(), lapse);
    let err = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm.id), 2500))
        .await
        .expect_err("a lapsed card");
    let Error::Card {
        code: CardErrorCode::ExpiredCard,
        payment_id: Some(failed),
        ..
    } = &err
    else {
        panic!("expected expired_card naming the payment, got {err:?}");
    };
    let failed = vinr.payments().retrieve(failed).await.expect("retrieve");
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert_eq!(
        failed.last_error.map(|e| e.code),
        Some(LastErrorCode::ExpiredCard)
    );
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(lapse)
            .await
            .expect("scan"),
        0,
        "a lapsed card gets none"
    );
}

/// An off-session payment left in `requires_action` for 24 hours reads `canceled`, and its
/// challenge page is gone.
pub async fn a_payment_waiting_for_its_challenge_is_canceled_after_24_hours(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = vinr
        .test_helpers()
        .attach_card(&ada.id, "4000 0000 0000 3220", 12, 2034)
        .await
        .expect("attach");
    let payment = vinr
        .payments()
        .create(off_session(&ada.id, Some(&pm.id), 2500))
        .await
        .expect("requires_action");
    assert_eq!(payment.status, PaymentStatus::RequiresAction);
    clock(vinr).advance(Duration::hours(24));
    let later = vinr
        .payments()
        .retrieve(&payment.id)
        .await
        .expect("retrieve");
    assert_eq!(later.status, PaymentStatus::Canceled);
    assert_eq!(later.next_action, None);
    let err = vinr
        .hosted()
        .authenticate_payment(&payment.id, vinr::ChallengeOutcome::Complete)
        .await
        .expect_err("a challenge after expiry");
    assert!(matches!(err, Error::Gone { .. }), "{err:?}");
}
