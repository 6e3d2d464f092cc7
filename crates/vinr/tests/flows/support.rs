//! What the flows share: the buyers and cards of the seed page, playing the buyer on the hosted
//! pages, reading the event log, checking URLs and errors.
//!
//! Everything here goes through the public facade only, so it works the same over HTTP.
//! The one exception is [`approved_charges`], which reads the sandbox network when the handle
//! has one and answers `None` otherwise (the charge checks are then skipped).

use std::collections::BTreeMap;

use vinr::{
    CardEntry, ChallengeOutcome, CreateCustomer, CreatePayment, Customer, CustomerId, Error, Event,
    HostedOutcome, InvalidRequestCode, ListEvents, ListPayments, Payment, PaymentMethod,
    PaymentMethodId, SetupStatus, Vinr,
};

/// The seed page's return URL.
pub const RETURN_URL: &str = "https://yoursite.com/wallet/saved";
/// The expiry typed on the hosted pages (December 2034).
pub const EXPIRY: &str = "12/34";
/// The CVC typed on the hosted pages; it must never show up anywhere.
pub const CVC: &str = "987";

/// The succeeding visa.
pub const VISA: &str = "4242 4242 4242 4242";
/// The succeeding mastercard.
pub const MASTERCARD: &str = "5555 5555 5555 4444";
/// The succeeding amex.
pub const AMEX: &str = "3782 822463 10005";
/// Declined `generic_decline`.
pub const DECLINED: &str = "4000 0000 0000 0002";
/// Declined `insufficient_funds`.
pub const INSUFFICIENT_FUNDS: &str = "4000 0000 0000 9995";
/// `expired_card`.
pub const EXPIRED: &str = "4000 0000 0000 0069";
/// `incorrect_cvc` with the buyer present; succeeds off-session.
pub const INCORRECT_CVC: &str = "4000 0000 0000 0127";
/// 3-D Secure challenge every time; `requires_action` off-session.
pub const THREE_DS_ALWAYS: &str = "4000 0000 0000 3220";
/// 3-D Secure challenge; off-session succeeds once saved through a completed challenge.
pub const THREE_DS_ONCE: &str = "4000 0025 0000 3155";
/// A setup succeeds; every payment is declined `generic_decline`.
pub const SETUP_ONLY: &str = "4000 0000 0000 0341";
/// Declined `lost_card`.
pub const LOST: &str = "4000 0000 0000 9987";
/// Declined `stolen_card`.
pub const STOLEN: &str = "4000 0000 0000 9979";
/// `processing_error`.
pub const PROCESSING_ERROR: &str = "4000 0000 0000 0119";
/// 3-D Secure challenge every time (the second such card).
pub const THREE_DS_ALWAYS_2: &str = "4000 0027 6000 3184";
/// 3-D Secure challenge, then declined `insufficient_funds`.
pub const THREE_DS_THEN_FUNDS: &str = "4000 0082 6000 3178";
/// 3-D Secure challenge, then declined `generic_decline`.
pub const THREE_DS_THEN_DECLINE: &str = "4000 0084 0000 1629";
/// 3-D Secure supported, not required: succeeds.
pub const THREE_DS_OPTIONAL: &str = "4000 0000 0000 3055";

/// Every number of the test-card table of api.md §4, as a buyer types it.
pub const ALL_TEST_CARDS: [&str; 17] = [
    VISA,
    MASTERCARD,
    AMEX,
    DECLINED,
    INSUFFICIENT_FUNDS,
    EXPIRED,
    INCORRECT_CVC,
    THREE_DS_ALWAYS,
    THREE_DS_ONCE,
    SETUP_ONLY,
    LOST,
    STOLEN,
    PROCESSING_ERROR,
    THREE_DS_ALWAYS_2,
    THREE_DS_THEN_FUNDS,
    THREE_DS_THEN_DECLINE,
    THREE_DS_OPTIONAL,
];

/// A card as a buyer types it on a hosted page: December 2034, CVC 987.
pub fn card(number: &str) -> CardEntry {
    CardEntry::new(number, EXPIRY, CVC)
}

/// The number without its spaces.
pub fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// The seed page's Ada: `ada@example.com`, "Ada Lovelace", `internalId: user_8821`.
pub async fn create_ada(vinr: &Vinr) -> Customer {
    vinr.customers()
        .create(CreateCustomer {
            email: Some("ada@example.com".into()),
            name: Some("Ada Lovelace".into()),
            metadata: Some(BTreeMap::from([("internalId".into(), "user_8821".into())])),
            ..Default::default()
        })
        .await
        .expect("creating Ada")
}

/// A customer with only an email.
pub async fn create_customer(vinr: &Vinr, email: &str) -> Customer {
    vinr.customers()
        .create(CreateCustomer {
            email: Some(email.into()),
            ..Default::default()
        })
        .await
        .expect("creating a customer")
}

/// Saves `number` to `customer` the way a buyer does: a setup, the card typed on its page, and
/// the challenge completed if one is asked. Returns the saved method's id.
pub async fn save_card(vinr: &Vinr, customer: &CustomerId, number: &str) -> PaymentMethodId {
    save_card_with_expiry(vinr, customer, number, EXPIRY).await
}

/// [`save_card`] with another expiry (`MM/YY`).
pub async fn save_card_with_expiry(
    vinr: &Vinr,
    customer: &CustomerId,
    number: &str,
    expiry: &str,
) -> PaymentMethodId {
    let setup = vinr
        .customers()
        .setup_method(customer, RETURN_URL)
        .await
        .expect("creating a setup");
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, CardEntry::new(number, expiry, CVC))
        .await
        .expect("submitting the card");
    if let HostedOutcome::Challenge { .. } = outcome {
        vinr.hosted()
            .authenticate_setup(&setup.id, ChallengeOutcome::Complete)
            .await
            .expect("completing the challenge");
    }
    let setup = vinr
        .setups()
        .retrieve(&setup.id)
        .await
        .expect("reading the setup back");
    assert_eq!(
        setup.status,
        SetupStatus::Succeeded,
        "saving {number}: {setup:?}"
    );
    setup
        .payment_method_id
        .expect("a succeeded setup names its method")
}

/// Attaches `number` (December 2034) through the test helper: no authorization, no challenge.
pub async fn attach(vinr: &Vinr, customer: &CustomerId, number: &str) -> PaymentMethod {
    vinr.test_helpers()
        .attach_card(customer, number, 12, 2034)
        .await
        .expect("attaching a test card")
}

/// An off-session charge of `amount` euro cents.
pub fn off_session(
    customer: &CustomerId,
    method: Option<&PaymentMethodId>,
    amount: i64,
) -> CreatePayment {
    CreatePayment {
        amount,
        currency: "EUR".into(),
        customer_id: Some(customer.clone()),
        payment_method_id: method.cloned(),
        off_session: true,
        description: Some("Order #4471".into()),
        ..Default::default()
    }
}

/// The customer's saved methods.
pub async fn methods_of(vinr: &Vinr, customer: &CustomerId) -> Vec<PaymentMethod> {
    vinr.customers()
        .list_methods(customer)
        .await
        .expect("listing methods")
        .data
}

/// Every payment of the customer, newest first.
pub async fn payments_of(vinr: &Vinr, customer: &CustomerId) -> Vec<Payment> {
    let mut out: Vec<Payment> = Vec::new();
    loop {
        let page = vinr
            .payments()
            .list(ListPayments {
                customer_id: Some(customer.clone()),
                limit: Some(100),
                starting_after: out.last().map(|p| p.id.clone()),
                ..Default::default()
            })
            .await
            .expect("listing payments");
        out.extend(page.data);
        if !page.has_more {
            return out;
        }
    }
}

/// Every event of the given type (all types when `None`), newest first, across all pages.
pub async fn events(vinr: &Vinr, kind: Option<&str>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    loop {
        let page = vinr
            .events()
            .list(ListEvents {
                kind: kind.map(str::to_owned),
                limit: Some(100),
                starting_after: out.last().map(|e| e.id.clone()),
            })
            .await
            .expect("listing events");
        out.extend(page.data);
        if !page.has_more {
            return out;
        }
    }
}

/// The events of type `kind` about the object `id`, newest first.
pub async fn events_about(vinr: &Vinr, kind: &str, id: &str) -> Vec<Event> {
    events(vinr, Some(kind))
        .await
        .into_iter()
        .filter(|e| e.data.object.id() == id)
        .collect()
}

/// Every event about the object `id`, oldest first, as `type` strings.
pub async fn event_kinds_about(vinr: &Vinr, id: &str) -> Vec<String> {
    let mut kinds: Vec<String> = events(vinr, None)
        .await
        .into_iter()
        .filter(|e| e.data.object.id() == id)
        .map(|e| e.kind.as_str().to_owned())
        .collect();
    kinds.reverse();
    kinds
}

/// How many charges the sandbox network approved, when the handle runs on one.
pub fn approved_charges(vinr: &Vinr) -> Option<u64> {
    vinr.sandbox_network().map(|n| n.approved_charges())
}

/// The network approved exactly `n` charges since `before` was read (skipped without a
/// sandbox network).
pub fn assert_charged(vinr: &Vinr, before: Option<u64>, n: u64) {
    if let (Some(before), Some(now)) = (before, approved_charges(vinr)) {
        assert_eq!(now - before, n, "charges approved by the network");
    }
}

/// A customer id that names no one.
pub fn unknown_customer() -> CustomerId {
    "cust_000000000000000000000000"
        .parse()
        .expect("a well-formed id")
}

/// A URL split into its part before `?` and its query pairs.
pub fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (base.to_owned(), pairs)
}

/// `outcome` sends the buyer to `return_url` with exactly the query `pairs` (in order) after
/// the return URL's own query.
pub fn assert_redirect(outcome: &HostedOutcome, return_url: &str, pairs: &[(&str, &str)]) {
    let HostedOutcome::Redirect { url } = outcome else {
        panic!("expected a redirect to {return_url}, got {outcome:?}");
    };
    let (want_base, mut want_pairs) = split_url(return_url);
    want_pairs.extend(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let (base, got_pairs) = split_url(url);
    assert_eq!(base, want_base, "redirect {url}");
    assert_eq!(got_pairs, want_pairs, "redirect {url}");
}

/// `err` is an invalid-request error with this code and parameter.
pub fn assert_invalid(err: &Error, code: InvalidRequestCode, param: Option<&str>) {
    match err {
        Error::InvalidRequest {
            code: c, param: p, ..
        } => {
            assert_eq!(*c, code, "{err:?}");
            assert_eq!(p.as_deref(), param, "{err:?}");
        }
        other => panic!("expected invalid_request_error {code}, got {other:?}"),
    }
}

/// `err` is a 404 naming this parameter (or none).
pub fn assert_not_found(err: &Error, param: Option<&str>) {
    match err {
        Error::NotFound { param: p, .. } => assert_eq!(p.as_deref(), param, "{err:?}"),
        other => panic!("expected resource_missing, got {other:?}"),
    }
}
