//! The sandbox helpers (api.md §4): attach a test card, the network updater, the expiry scan.
//!
//! The expiry scan flow takes `asOf` dates around far-future expiries, so it needs no clock
//! and runs over HTTP as well.

use chrono::NaiveDate;
use serde_json::json;
use vinr::{CardErrorCode, Error, InvalidRequestCode, NetworkUpdate, Vinr};

use super::support::{MASTERCARD, VISA, attach, create_ada, events_about, methods_of};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// The network updater: same `pm`, new expiry, `payment_method.updated` whose
/// `previousAttributes` hold the old `expMonth`/`expYear`.
pub async fn a_network_update_keeps_the_id_and_reports_the_old_expiry(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let pm = attach(vinr, &ada.id, VISA).await;
    let updated = vinr
        .test_helpers()
        .network_update(
            &pm.id,
            NetworkUpdate {
                exp_month: 6,
                exp_year: 2037,
                last4: None,
            },
        )
        .await
        .expect("network update");
    assert_eq!(updated.id, pm.id);
    assert_eq!((updated.exp_month, updated.exp_year), (6, 2037));
    assert_eq!(updated.last4, "4242");
    assert_eq!(updated.fingerprint, pm.fingerprint);
    assert_eq!(updated.version, pm.version + 1);
    assert_eq!(
        vinr.customers()
            .retrieve_method(&ada.id, &pm.id)
            .await
            .expect("retrieve"),
        updated
    );

    let events = events_about(vinr, "payment_method.updated", pm.id.as_str()).await;
    assert_eq!(events.len(), 1);
    let previous = events[0]
        .data
        .previous_attributes
        .clone()
        .expect("previousAttributes");
    assert_eq!(previous.get("expMonth"), Some(&json!(12)));
    assert_eq!(previous.get("expYear"), Some(&json!(2034)));
    assert!(!previous.contains_key("last4"), "{previous:?}");
    assert_eq!(events[0].data.object.version(), updated.version);

    // A reissued card with new last four digits.
    let reissued = vinr
        .test_helpers()
        .network_update(
            &pm.id,
            NetworkUpdate {
                exp_month: 6,
                exp_year: 2037,
                last4: Some("1881".into()),
            },
        )
        .await
        .expect("a new last4");
    assert_eq!(reissued.last4, "1881");
    let events = events_about(vinr, "payment_method.updated", pm.id.as_str()).await;
    assert_eq!(events.len(), 2);
    let previous = events[0]
        .data
        .previous_attributes
        .clone()
        .expect("previousAttributes");
    assert_eq!(previous.get("last4"), Some(&json!("4242")));
}

/// A Luhn-valid number outside the test table is `not_a_test_card`, and nothing is attached.
pub async fn the_attach_helper_refuses_cards_outside_the_test_table(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let err = vinr
        .test_helpers()
        .attach_card(&ada.id, "4111 1111 1111 1111", 12, 2034)
        .await
        .expect_err("not a test card");
    assert!(
        matches!(
            err,
            Error::InvalidRequest {
                code: InvalidRequestCode::NotATestCard,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(methods_of(vinr, &ada.id).await.is_empty());
}

/// A number failing Luhn is `incorrect_number`; a past expiry is `expired_card` (both 402).
pub async fn the_attach_helper_refuses_invalid_and_expired_cards(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let err = vinr
        .test_helpers()
        .attach_card(&ada.id, "4242 4242 4242 4241", 12, 2034)
        .await
        .expect_err("Luhn fails");
    assert!(
        matches!(
            err,
            Error::Card {
                code: CardErrorCode::IncorrectNumber,
                payment_id: None,
                ..
            }
        ),
        "{err:?}"
    );
    let err = vinr
        .test_helpers()
        .attach_card(&ada.id, VISA, 1, 2020)
        .await
        .expect_err("expired");
    assert!(
        matches!(
            err,
            Error::Card {
                code: CardErrorCode::ExpiredCard,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(methods_of(vinr, &ada.id).await.is_empty());

    // Helper-attached decline cards do attach: the helper authorizes nothing.
    let declined = attach(vinr, &ada.id, "4000 0000 0000 0002").await;
    assert_eq!(declined.customer_id.as_ref(), Some(&ada.id));
    assert_eq!(
        events_about(vinr, "payment_method.attached", declined.id.as_str())
            .await
            .len(),
        1
    );
}

/// The expiry scan: one `payment_method.expiring` when a card lapses within 30 days, never two
/// for the same expiry, none for a card already lapsed; a new expiry (network update) gets its
/// own notice.
pub async fn the_expiry_scan_notifies_once_per_expiry(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    // Lapses at the end of March 2031 (on 2031-04-01).
    let march = vinr
        .test_helpers()
        .attach_card(&ada.id, VISA, 3, 2031)
        .await
        .expect("attach");
    // Lapses on 2031-03-01.
    let february = vinr
        .test_helpers()
        .attach_card(&ada.id, MASTERCARD, 2, 2031)
        .await
        .expect("attach");
    let notices = |id: vinr::PaymentMethodId| async move {
        events_about(vinr, "payment_method.expiring", id.as_str())
            .await
            .len()
    };

    // 2031-03-01: February has just lapsed (0 days: no notice); March lapses in 31 days.
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(date(2031, 3, 1))
            .await
            .expect("scan"),
        0
    );
    // 2031-03-02: March lapses in 30 days.
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(date(2031, 3, 2))
            .await
            .expect("scan"),
        1
    );
    assert_eq!(notices(march.id.clone()).await, 1);
    assert_eq!(
        notices(february.id.clone()).await,
        0,
        "a lapsed card gets none"
    );
    // Again, and later in the window: nothing new.
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(date(2031, 3, 2))
            .await
            .expect("scan"),
        0
    );
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(date(2031, 3, 31))
            .await
            .expect("scan"),
        0
    );
    assert_eq!(notices(march.id.clone()).await, 1);

    let expiring = events_about(vinr, "payment_method.expiring", march.id.as_str()).await;
    match &expiring[0].data.object {
        vinr::EventObject::PaymentMethod(m) => {
            assert_eq!((m.exp_month, m.exp_year), (3, 2031));
            assert_eq!(m.customer_id.as_ref(), Some(&ada.id));
        }
        other => panic!("payment_method.expiring about {other:?}"),
    }

    // The network updater extends March to March 2033: a new expiry, a new notice when due.
    vinr.test_helpers()
        .network_update(
            &march.id,
            NetworkUpdate {
                exp_month: 3,
                exp_year: 2033,
                last4: None,
            },
        )
        .await
        .expect("network update");
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(date(2031, 3, 31))
            .await
            .expect("scan"),
        0
    );
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(date(2033, 3, 20))
            .await
            .expect("scan"),
        1
    );
    assert_eq!(notices(march.id.clone()).await, 2);
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(date(2033, 3, 21))
            .await
            .expect("scan"),
        0
    );

    // A detached card is not scanned.
    let detached = vinr
        .test_helpers()
        .attach_card(&ada.id, "3782 822463 10005", 8, 2032)
        .await
        .expect("attach");
    vinr.customers()
        .detach_method(&ada.id, &detached.id)
        .await
        .expect("detach");
    assert_eq!(
        vinr.test_helpers()
            .expiring_scan(date(2032, 8, 20))
            .await
            .expect("scan"),
        0
    );
    assert_eq!(notices(detached.id.clone()).await, 0);
}
