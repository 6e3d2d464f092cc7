//! Input bounds and card-testing defence, the same in-process and over HTTP: every bounded
//! field takes a value at its bound and refuses one a character (or an item) longer with
//! `invalid_request_error` naming the field; a hosted link locks after five failed attempts.

use std::collections::BTreeMap;

use vinr::{
    Address, CreateCustomer, CreatePayment, CreateWebhookEndpoint, Error, EventType, HostedOutcome,
    InvalidRequestCode, LastErrorCode, ListCustomers, NetworkUpdate, SetupStatus, UpdateCustomer,
    Vinr,
};

use super::support::{VISA, assert_invalid, attach, card, create_ada, events_about};

const DECLINED: &str = "4000 0000 0000 0002";

/// `n` characters of `c`.
fn chars(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

/// A valid email address of exactly `n` characters (`n` from 80 to 254).
fn email_of(n: usize) -> String {
    let local = chars('a', 64);
    let fixed = 64 + 1 + 63 + 1 + 63 + 1 + 4;
    format!(
        "{local}@{}.{}.{}.com",
        chars('b', 63),
        chars('c', 63),
        chars('d', n - fixed)
    )
}

/// An https URL of exactly `n` characters.
fn url_of(n: usize) -> String {
    let base = "https://shop.example/";
    format!("{base}{}", chars('p', n - base.len()))
}

fn address(field: &str, value: String) -> Address {
    let mut a = Address::default();
    match field {
        "line1" => a.line1 = Some(value),
        "line2" => a.line2 = Some(value),
        "city" => a.city = Some(value),
        "state" => a.state = Some(value),
        "postalCode" => a.postal_code = Some(value),
        "country" => a.country = Some(value),
        other => panic!("no address field {other}"),
    }
    a
}

/// One bounded field of a customer: its wire name, the code of a refusal, and the request at
/// the bound and one past it.
struct CustomerCase {
    param: String,
    code: InvalidRequestCode,
    at_bound: CreateCustomer,
    over: CreateCustomer,
}

fn customer_cases() -> Vec<CustomerCase> {
    let text = |param: &str, max: usize, set: fn(String) -> CreateCustomer| CustomerCase {
        param: param.to_owned(),
        code: InvalidRequestCode::ParameterInvalid,
        at_bound: set(chars('x', max)),
        over: set(chars('x', max + 1)),
    };
    let mut cases = vec![
        CustomerCase {
            param: "email".into(),
            code: InvalidRequestCode::InvalidEmail,
            at_bound: CreateCustomer {
                email: Some(email_of(254)),
                ..Default::default()
            },
            over: CreateCustomer {
                email: Some(email_of(255)),
                ..Default::default()
            },
        },
        text("name", 256, |v| CreateCustomer {
            name: Some(v),
            ..Default::default()
        }),
        text("phone", 40, |v| CreateCustomer {
            phone: Some(v),
            ..Default::default()
        }),
    ];
    for (field, max) in [
        ("line1", 200),
        ("line2", 200),
        ("city", 200),
        ("state", 200),
        ("postalCode", 64),
    ] {
        cases.push(CustomerCase {
            param: format!("address.{field}"),
            code: InvalidRequestCode::ParameterInvalid,
            at_bound: CreateCustomer {
                address: Some(address(field, chars('x', max))),
                ..Default::default()
            },
            over: CreateCustomer {
                address: Some(address(field, chars('x', max + 1))),
                ..Default::default()
            },
        });
    }
    cases.push(CustomerCase {
        param: "address.country".into(),
        code: InvalidRequestCode::ParameterInvalid,
        at_bound: CreateCustomer {
            address: Some(address("country", "fr".into())),
            ..Default::default()
        },
        over: CreateCustomer {
            address: Some(address("country", "fra".into())),
            ..Default::default()
        },
    });
    let metadata = |pairs: Vec<(String, String)>| CreateCustomer {
        metadata: Some(pairs.into_iter().collect::<BTreeMap<_, _>>()),
        ..Default::default()
    };
    let keys = |n: usize| (0..n).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    cases.push(CustomerCase {
        param: "metadata".into(),
        code: InvalidRequestCode::InvalidMetadata,
        at_bound: metadata(keys(50)),
        over: metadata(keys(51)),
    });
    cases.push(CustomerCase {
        param: "metadata".into(),
        code: InvalidRequestCode::InvalidMetadata,
        at_bound: metadata(vec![(chars('k', 40), "v".into())]),
        over: metadata(vec![(chars('k', 41), "v".into())]),
    });
    cases.push(CustomerCase {
        param: "metadata[note]".into(),
        code: InvalidRequestCode::InvalidMetadata,
        at_bound: metadata(vec![("note".into(), chars('v', 500))]),
        over: metadata(vec![("note".into(), chars('v', 501))]),
    });
    cases
}

/// Every bounded field of every request: at the bound accepted, one past refused with the
/// field named.
pub async fn every_bounded_field_takes_its_bound_and_refuses_one_more(vinr: &Vinr) {
    // Customers, on create and on update.
    let ada = create_ada(vinr).await;
    for case in customer_cases() {
        let created = vinr.customers().create(case.at_bound.clone()).await;
        assert!(created.is_ok(), "{} at its bound: {created:?}", case.param);
        let err = vinr
            .customers()
            .create(case.over.clone())
            .await
            .expect_err(&case.param);
        assert_invalid(&err, case.code, Some(&case.param));
        let over = case.over;
        let err = vinr
            .customers()
            .update(
                &ada.id,
                UpdateCustomer {
                    email: over.email.map(Some),
                    name: over.name.map(Some),
                    phone: over.phone.map(Some),
                    address: over.address.map(Some),
                    metadata: over.metadata,
                    ..Default::default()
                },
            )
            .await
            .expect_err(&case.param);
        assert_invalid(&err, case.code, Some(&case.param));
    }

    // The email filter of the customer list.
    let listed = vinr
        .customers()
        .list(ListCustomers {
            email: Some(email_of(254)),
            ..Default::default()
        })
        .await
        .expect("a list at the bound");
    assert_eq!(listed.data.len(), 1, "the customer created at the bound");
    let err = vinr
        .customers()
        .list(ListCustomers {
            email: Some(email_of(255)),
            ..Default::default()
        })
        .await
        .expect_err("email over its bound");
    assert_invalid(&err, InvalidRequestCode::ParameterInvalid, Some("email"));

    // A setup's returnUrl.
    vinr.customers()
        .setup_method(&ada.id, url_of(2048))
        .await
        .expect("returnUrl at the bound");
    let err = vinr
        .customers()
        .setup_method(&ada.id, url_of(2049))
        .await
        .expect_err("returnUrl over its bound");
    assert_invalid(&err, InvalidRequestCode::InvalidUrl, Some("returnUrl"));

    // A payment's description and returnUrl.
    let payment = |description: usize, return_url: usize| CreatePayment {
        amount: 2500,
        currency: "eur".into(),
        description: Some(chars('d', description)),
        return_url: Some(url_of(return_url)),
        ..Default::default()
    };
    vinr.payments()
        .create(payment(1000, 2048))
        .await
        .expect("a payment at the bounds");
    let err = vinr
        .payments()
        .create(payment(1001, 2048))
        .await
        .unwrap_err();
    assert_invalid(
        &err,
        InvalidRequestCode::ParameterInvalid,
        Some("description"),
    );
    let err = vinr
        .payments()
        .create(payment(1000, 2049))
        .await
        .unwrap_err();
    assert_invalid(&err, InvalidRequestCode::InvalidUrl, Some("returnUrl"));

    // A webhook endpoint's url and events.
    let all: Vec<String> = EventType::ALL.iter().map(ToString::to_string).collect();
    let endpoint = |url: usize, events: Vec<String>| CreateWebhookEndpoint {
        url: url_of(url),
        events,
    };
    let mut every = all.clone();
    every.push("*".into());
    vinr.webhook_endpoints()
        .create(endpoint(2048, every.clone()))
        .await
        .expect("an endpoint at the bounds");
    let err = vinr
        .webhook_endpoints()
        .create(endpoint(2049, vec!["*".into()]))
        .await
        .unwrap_err();
    assert_invalid(&err, InvalidRequestCode::InvalidUrl, Some("url"));
    let mut sixteen = every;
    sixteen.push("setup.failed".into());
    let twice = vec!["setup.failed".to_owned(), "setup.failed".to_owned()];
    for events in [sixteen, twice] {
        let err = vinr
            .webhook_endpoints()
            .create(endpoint(100, events))
            .await
            .unwrap_err();
        assert_invalid(&err, InvalidRequestCode::ParameterInvalid, Some("events"));
    }

    // The test helper's card number (19 digits and their spaces: 32 characters) and last4.
    let spaced = |n: usize| format!("{}{}", super::support::digits(VISA), chars(' ', n - 16));
    vinr.test_helpers()
        .attach_card(&ada.id, spaced(32), 12, 2034)
        .await
        .expect("a number at the bound");
    let err = vinr
        .test_helpers()
        .attach_card(&ada.id, spaced(33), 12, 2034)
        .await
        .unwrap_err();
    assert_invalid(&err, InvalidRequestCode::ParameterInvalid, Some("number"));
    let pm = attach(vinr, &ada.id, VISA).await;
    let update = |last4: &str| NetworkUpdate {
        exp_month: 1,
        exp_year: 2036,
        last4: Some(last4.into()),
    };
    vinr.test_helpers()
        .network_update(&pm.id, update("1881"))
        .await
        .expect("last4 of 4 digits");
    let err = vinr
        .test_helpers()
        .network_update(&pm.id, update("18810"))
        .await
        .unwrap_err();
    assert_invalid(&err, InvalidRequestCode::ParameterInvalid, Some("last4"));

    // The hosted card form: an oversized field shows the form again and records nothing.
    let setup = vinr
        .customers()
        .setup_method(&ada.id, "https://shop.example/saved")
        .await
        .expect("a setup");
    let mut long_name = card(VISA);
    long_name.name = Some(chars('n', 257));
    let long_number = card(&spaced(33));
    for entry in [long_name, long_number] {
        let outcome = vinr
            .hosted()
            .submit_setup_card(&setup.id, entry)
            .await
            .expect("the form again");
        assert!(
            matches!(outcome, HostedOutcome::Retry { .. }),
            "{outcome:?}"
        );
    }
    let still = vinr.setups().retrieve(&setup.id).await.expect("the setup");
    assert_eq!(still.status, SetupStatus::RequiresPaymentMethod);
    assert_eq!(still.version, setup.version, "nothing recorded");
    let mut at_bound = card(VISA);
    at_bound.name = Some(chars('n', 256));
    let outcome = vinr
        .hosted()
        .submit_setup_card(&setup.id, at_bound)
        .await
        .expect("a name at the bound");
    assert!(
        matches!(outcome, HostedOutcome::Redirect { .. }),
        "{outcome:?}"
    );
}

/// Five failed card attempts on one setup lock it: the fifth answers gone (410), the setup is
/// `canceled` with `too_many_attempts`, and `setup.canceled` records it once.
pub async fn a_hosted_link_locks_after_five_failed_attempts(vinr: &Vinr) {
    let ada = create_ada(vinr).await;
    let setup = vinr
        .customers()
        .setup_method(&ada.id, "https://shop.example/saved")
        .await
        .expect("a setup");
    for n in 1..=4 {
        let outcome = vinr
            .hosted()
            .submit_setup_card(&setup.id, card(DECLINED))
            .await
            .expect("the form again");
        assert!(
            matches!(outcome, HostedOutcome::Retry { .. }),
            "attempt {n}: {outcome:?}"
        );
    }
    let fifth = vinr
        .hosted()
        .submit_setup_card(&setup.id, card(DECLINED))
        .await;
    let Err(Error::Gone { message }) = &fifth else {
        panic!("the fifth failure locks the link: {fifth:?}");
    };
    assert!(!message.contains("0002"), "{message}");
    let locked = vinr.setups().retrieve(&setup.id).await.expect("the setup");
    assert_eq!(locked.status, SetupStatus::Canceled);
    assert_eq!(
        locked.last_error.map(|e| e.code),
        Some(LastErrorCode::TooManyAttempts)
    );
    assert_eq!(locked.version, setup.version + 5);
    let id = setup.id.as_str();
    assert_eq!(events_about(vinr, "setup.failed", id).await.len(), 5);
    assert_eq!(events_about(vinr, "setup.canceled", id).await.len(), 1);
    assert!(matches!(
        vinr.hosted().setup_page(&setup.id).await,
        Err(Error::Gone { .. })
    ));
    assert!(matches!(
        vinr.hosted().submit_setup_card(&setup.id, card(VISA)).await,
        Err(Error::Gone { .. })
    ));
}
