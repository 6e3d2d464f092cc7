//! The `card_number` target: card numbers, CVCs and expiry dates as a buyer types them.

use chrono::NaiveDate;
use vinr_domain::card::{Brand, Cvc, Expiry, Pan, luhn_valid};
use vinr_domain::testcards::{Context, decide, lookup};

/// Reads `data` (lossy UTF-8) as a card number, as a CVC and as an expiry, and splits it at
/// `|` into `number|expiry|cvc` as a form would send them.
///
/// Invariants: nothing panics; an accepted number is 12 to 19 digits passing Luhn, shows only
/// its last four in `Debug`, `Display` and `masked`, and parses again to itself; an accepted
/// CVC is 3 or 4 digits and is never shown by `Debug`; an accepted expiry is a real month of
/// 2000..=2099 whose lapse date follows it.
pub fn card_number(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_number(&text);
    check_cvc(&text);
    check_expiry(&text);
    let mut parts = text.splitn(3, '|');
    if let (Some(number), Some(expiry), Some(cvc)) = (parts.next(), parts.next(), parts.next()) {
        check_number(number);
        check_expiry(expiry);
        check_cvc(cvc);
    }
}

fn check_number(input: &str) {
    let Ok(pan) = Pan::parse(input) else {
        return;
    };
    let digits = pan.expose();
    assert!(
        (12..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        "accepted a number that is not 12 to 19 digits"
    );
    assert!(luhn_valid(digits), "accepted a number failing Luhn");
    assert_eq!(pan.len(), digits.len());
    assert!(!pan.is_empty());
    assert_eq!(pan.last4(), &digits[digits.len() - 4..]);
    assert_eq!(pan.bin(), &digits[..6]);
    for shown in [format!("{pan:?}"), pan.to_string(), pan.masked()] {
        assert!(!shown.contains(digits), "a card number was shown in full");
        assert!(
            crate::card_numbers_in(&shown).is_empty(),
            "a shown card number still holds a valid card number"
        );
    }
    assert_eq!(pan.brand(), Brand::detect(digits));
    assert_eq!(Pan::parse(digits).as_ref(), Ok(&pan), "no round trip");
    if let Some(card) = lookup(digits) {
        assert_eq!(card.number, digits);
        for context in [
            Context::Setup,
            Context::OnSession,
            Context::OffSession {
                authenticated: false,
            },
            Context::OffSession {
                authenticated: true,
            },
        ] {
            let _ = decide(card, context);
        }
    }
}

fn check_cvc(input: &str) {
    let Ok(cvc) = Cvc::parse(input) else {
        return;
    };
    let code = cvc.expose();
    assert!(matches!(code.len(), 3 | 4) && code.bytes().all(|b| b.is_ascii_digit()));
    assert!(!format!("{cvc:?}").contains(code), "a CVC was shown");
}

fn check_expiry(input: &str) {
    let Ok(expiry) = Expiry::parse_mm_yy(input) else {
        return;
    };
    assert!((1..=12).contains(&expiry.month()));
    assert!((2000..=2099).contains(&expiry.year()));
    assert_eq!(
        Expiry::new(expiry.month(), expiry.year()).as_ref(),
        Ok(&expiry)
    );
    let lapses = expiry.lapses_on();
    let last_valid = lapses.pred_opt().unwrap_or(NaiveDate::MIN);
    assert!(!expiry.is_expired(last_valid), "expired on its last day");
    assert!(expiry.is_expired(lapses), "still valid on its lapse date");
    assert_eq!(expiry.days_until_lapse(lapses), 0);
    for today in [NaiveDate::MIN, NaiveDate::MAX, last_valid] {
        let _ = expiry.days_until_lapse(today);
        let _ = expiry.is_expired(today);
    }
}
