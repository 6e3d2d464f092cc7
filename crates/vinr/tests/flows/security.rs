//! Card data never leaves the vault (api.md §3, §4): after every test card went through every
//! path (setup page, challenge, helper attach, off-session charge, payment page), nothing the
//! facade returned, no event and no error message holds a card number or the typed CVC.

use std::fmt::Debug;

use serde::Serialize;
use serde_json::Value;
use vinr::{
    ChallengeOutcome, CreatePayment, Error, HostedOutcome, ListCustomers, ListPayments,
    PaymentStatus, Vinr,
};

use super::support::{
    ALL_TEST_CARDS, CVC, DECLINED, INCORRECT_CVC, RETURN_URL, THREE_DS_ALWAYS, VISA, card,
    create_ada, digits, events, off_session,
};

/// Numbers typed that are not in the test table: Luhn-valid, and failing Luhn.
const OTHER_NUMBERS: [&str; 2] = ["4111 1111 1111 1111", "4242 4242 4242 4241"];

/// What the facade gave back, split into objects (and events) and messages (errors, hosted
/// outcomes and views), each as JSON and as `Debug`/`Display` text.
#[derive(Default)]
struct Seen {
    objects: Vec<(Value, String)>,
    messages: Vec<(Value, String)>,
}

impl Seen {
    fn object<T: Serialize + Debug>(&mut self, value: &T) {
        let json = serde_json::to_value(value).expect("objects serialize");
        self.objects.push((json, format!("{value:?}")));
    }

    fn message<T: Serialize + Debug>(&mut self, value: &T) {
        let json = serde_json::to_value(value).expect("messages serialize");
        self.messages.push((json, format!("{value:?}")));
    }

    fn error(&mut self, err: &Error) {
        let json = serde_json::to_value(err.to_body()).expect("errors serialize");
        self.messages.push((json, format!("{err:?} / {err}")));
    }

    fn result<T: Serialize + Debug>(&mut self, result: &Result<T, Error>, is_object: bool) {
        match result {
            Ok(v) if is_object => self.object(v),
            Ok(v) => self.message(v),
            Err(e) => self.error(e),
        }
    }
}

/// Every test card (and two other numbers) through every path, keeping all that came back.
async fn run_every_card_through_every_path(vinr: &Vinr) -> Seen {
    let mut seen = Seen::default();
    let ada = create_ada(vinr).await;
    seen.object(&ada);

    for number in ALL_TEST_CARDS.iter().chain(OTHER_NUMBERS.iter()) {
        // The setup page, typed with spaces.
        let setup = vinr
            .customers()
            .setup_method(&ada.id, RETURN_URL)
            .await
            .expect("setup");
        seen.object(&setup);
        seen.result(&vinr.hosted().setup_page(&setup.id).await, false);
        let outcome = vinr
            .hosted()
            .submit_setup_card(&setup.id, card(number))
            .await;
        seen.result(&outcome, false);
        if let Ok(HostedOutcome::Challenge { .. }) = outcome {
            seen.result(&vinr.hosted().setup_page(&setup.id).await, false);
            let done = vinr
                .hosted()
                .authenticate_setup(&setup.id, ChallengeOutcome::Complete)
                .await;
            seen.result(&done, false);
        }
        seen.result(&vinr.setups().retrieve(&setup.id).await, true);

        // The helper, typed as digits, then an off-session charge.
        let attached = vinr
            .test_helpers()
            .attach_card(&ada.id, digits(number), 12, 2034)
            .await;
        seen.result(&attached, true);
        if let Ok(pm) = attached {
            let charged = vinr
                .payments()
                .create(off_session(&ada.id, Some(&pm.id), 2500))
                .await;
            seen.result(&charged, true);
            let id = match &charged {
                Ok(p) => Some(p.id.clone()),
                Err(Error::Card { payment_id, .. }) => payment_id.clone(),
                Err(_) => None,
            };
            if let Ok(p) = &charged
                && p.status == PaymentStatus::RequiresAction
            {
                let done = vinr
                    .hosted()
                    .authenticate_payment(&p.id, ChallengeOutcome::Complete)
                    .await;
                seen.result(&done, false);
            }
            if let Some(id) = id {
                seen.result(&vinr.payments().retrieve(&id).await, true);
            }
        }
    }

    // The payment page, with a few cards, saving them.
    for number in [
        VISA,
        DECLINED,
        INCORRECT_CVC,
        THREE_DS_ALWAYS,
        OTHER_NUMBERS[0],
        OTHER_NUMBERS[1],
    ] {
        let payment = vinr
            .payments()
            .create(CreatePayment {
                amount: 2500,
                currency: "EUR".into(),
                customer_id: Some(ada.id.clone()),
                save_payment_method: true,
                return_url: Some("https://yoursite.com/checkout/done".into()),
                ..Default::default()
            })
            .await
            .expect("an on-session payment");
        seen.object(&payment);
        seen.result(&vinr.hosted().payment_page(&payment.id).await, false);
        let outcome = vinr
            .hosted()
            .submit_payment_card(&payment.id, card(number))
            .await;
        seen.result(&outcome, false);
        if let Ok(HostedOutcome::Challenge { .. }) = outcome {
            let done = vinr
                .hosted()
                .authenticate_payment(&payment.id, ChallengeOutcome::Complete)
                .await;
            seen.result(&done, false);
        }
        seen.result(&vinr.hosted().payment_page(&payment.id).await, false);
        seen.result(&vinr.payments().retrieve(&payment.id).await, true);
    }

    // The helper's refusals.
    seen.result(
        &vinr
            .test_helpers()
            .attach_card(&ada.id, VISA, 1, 2020)
            .await,
        true,
    );

    seen.result(&vinr.customers().list_methods(&ada.id).await, true);
    let payments = vinr
        .payments()
        .list(ListPayments {
            limit: Some(100),
            ..Default::default()
        })
        .await;
    seen.result(&payments, true);
    seen.result(&vinr.customers().list(ListCustomers::default()).await, true);
    for event in events(vinr, None).await {
        seen.object(&event);
    }
    seen
}

/// The forms in which a typed number could show up: as typed, digits only, and 4-4-4-4.
fn number_forms() -> Vec<String> {
    let mut forms = Vec::new();
    for number in ALL_TEST_CARDS.iter().chain(OTHER_NUMBERS.iter()) {
        let d = digits(number);
        let grouped = d
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        forms.push((*number).to_owned());
        forms.push(d);
        forms.push(grouped);
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Where the text shows one of the numbers.
fn numbers_in(what: &str, text: &str, found: &mut Vec<String>) {
    for form in number_forms() {
        if text.contains(&form) {
            found.push(format!("{what} reveals the card number {form}: {text}"));
        }
    }
}

/// Where the JSON has a key named like a card number or a CVC.
fn card_keys_in(json: &Value, found: &mut Vec<String>) {
    match json {
        Value::Object(map) => {
            for (k, v) in map {
                let key = k.to_ascii_lowercase();
                if matches!(key.as_str(), "number" | "cvc" | "pan" | "cardnumber") {
                    found.push(format!("a key `{k}` in {json}"));
                }
                card_keys_in(v, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| card_keys_in(v, found)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Where a value holds the typed CVC. Ids (and URLs holding ids), fingerprints and the last
/// four digits (4000 0000 0000 9987 ends in …987) may hold the three digits by chance, so
/// id-shaped tokens and those two fields are skipped.
fn cvc_in(json: &Value, found: &mut Vec<String>) {
    let is_id = |token: &str| {
        token.split_once('_').is_some_and(|(prefix, body)| {
            !prefix.is_empty()
                && body.len() >= 24
                && body.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    };
    match json {
        Value::Object(map) => {
            for (k, v) in map {
                if k != "fingerprint" && k != "last4" {
                    cvc_in(v, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| cvc_in(v, found)),
        Value::String(s) => {
            for token in s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !is_id(token) && token.contains(CVC) {
                    found.push(format!("the CVC in {s:?}"));
                }
            }
        }
        Value::Number(n) => {
            if n.as_u64() == Some(987) {
                found.push("the CVC as a number".to_owned());
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// Every leak in `items`, each reported once.
fn leaks(kind: &str, items: &[(Value, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (json, debug) in items {
        numbers_in(&format!("{kind} (JSON)"), &json.to_string(), &mut found);
        numbers_in(&format!("{kind} (Debug)"), debug, &mut found);
        card_keys_in(json, &mut found);
        cvc_in(json, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

/// Objects (customers, setups, methods, payments, lists) and every event: no card number in
/// their JSON or `Debug`, no `number`/`cvc` field, no CVC.
pub async fn no_object_or_event_reveals_a_card_number_or_the_cvc(vinr: &Vinr) {
    let seen = run_every_card_through_every_path(vinr).await;
    assert!(
        seen.objects.len() > 100,
        "the flow set ran ({} objects)",
        seen.objects.len()
    );
    let found = leaks("an object", &seen.objects);
    assert!(
        found.is_empty(),
        "{} leaks:\n{}",
        found.len(),
        found.join("\n")
    );
}

/// Errors, hosted outcomes and hosted views: no card number in their JSON, `Debug` or
/// `Display`, no `number`/`cvc` field, no CVC.
pub async fn no_error_or_hosted_page_message_reveals_a_card_number_or_the_cvc(vinr: &Vinr) {
    let seen = run_every_card_through_every_path(vinr).await;
    assert!(
        seen.messages.len() > 40,
        "the flow set ran ({} messages)",
        seen.messages.len()
    );
    let found = leaks("a message", &seen.messages);
    assert!(
        found.is_empty(),
        "{} leaks:\n{}",
        found.len(),
        found.join("\n")
    );
}
