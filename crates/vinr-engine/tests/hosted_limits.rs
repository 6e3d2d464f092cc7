//! Card-testing defence in the engine: a hosted link locks after its failed card attempts
//! reach the limit (or when the server locks it), with the contract's status, `lastError` and
//! event, one version at a time; and the bounds of the card form and other inputs.
// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Sandbox, ctx, customer};
use vinr_domain::error::{InvalidRequestCode, LastErrorCode};
use vinr_domain::event::EventType;
use vinr_domain::ids::{PaymentId, SetupId};
use vinr_domain::limits::AttemptLimit;
use vinr_domain::payment::PaymentStatus;
use vinr_domain::setup::SetupStatus;
use vinr_engine::{EngineConfig, HostedLink, HostedStep};
use vinr_ports::Error;
use vinr_ports::api::{
    CustomersApi, HostedApi, PaymentsApi, SandboxApi, SetupsApi, WebhookEndpointsApi,
};
use vinr_ports::params::{
    AttachTestCard, CardEntry, ChallengeOutcome, CreatePayment, CreateSetup, CreateWebhookEndpoint,
    HostedOutcome, ListCustomers,
};

const DECLINE: &str = "4000000000000002";
const VISA: &str = "4242424242424242";
const THREE_DS: &str = "4000000000003220";

fn card(number: &str) -> CardEntry {
    CardEntry::new(number, "12/34", "123")
}

fn sandbox_with_limit(limit: u32) -> Sandbox {
    Sandbox::with_config(
        EngineConfig {
            hosted_max_attempts: AttemptLimit::new(limit).unwrap(),
            ..EngineConfig::default()
        },
        |_, _| {},
    )
}

async fn new_setup(sb: &Sandbox) -> SetupId {
    let cust = customer(&sb.engine).await;
    sb.engine
        .create_setup(
            &ctx(),
            &cust,
            CreateSetup {
                return_url: "https://shop.example/saved".into(),
            },
        )
        .await
        .unwrap()
        .id
}

async fn new_hosted_payment(sb: &Sandbox) -> PaymentId {
    sb.engine
        .create_payment(
            &ctx(),
            CreatePayment {
                amount: 2500,
                currency: "eur".into(),
                return_url: Some("https://shop.example/done".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id
}

fn is_gone(step: &HostedStep) -> bool {
    matches!(step.outcome, Err(Error::Gone { .. }))
}

#[tokio::test]
async fn five_declines_lock_a_setup_with_setup_canceled() {
    let sb = Sandbox::new();
    let id = new_setup(&sb).await;
    let link = HostedLink::Setup(id.clone());
    for n in 1..=4 {
        let step = sb.engine.submit_hosted_card(&link, card(DECLINE)).await;
        assert!(step.failed_attempt, "decline {n} is a failed attempt");
        assert!(
            matches!(step.outcome, Ok(HostedOutcome::Retry { .. })),
            "decline {n} shows the form again: {:?}",
            step.outcome
        );
    }
    let fifth = sb.engine.submit_hosted_card(&link, card(DECLINE)).await;
    assert!(fifth.failed_attempt);
    let Err(Error::Gone { message }) = &fifth.outcome else {
        panic!("the fifth decline locks: {:?}", fifth.outcome);
    };
    assert!(
        message.contains("Too many failed card attempts"),
        "{message}"
    );
    assert!(!message.contains(DECLINE));

    let setup = sb.engine.retrieve_setup(&ctx(), &id).await.unwrap();
    assert_eq!(setup.status, SetupStatus::Canceled);
    assert_eq!(
        setup.last_error.map(|e| e.code),
        Some(LastErrorCode::TooManyAttempts)
    );
    assert_eq!(setup.version, 6, "created, then one version per attempt");
    assert_eq!(sb.count(EventType::SetupFailed).await, 5);
    assert_eq!(sb.count(EventType::SetupCanceled).await, 1);
    let canceled = &sb.events(Some(EventType::SetupCanceled)).await[0];
    assert_eq!(canceled.data.object.version(), 6);

    // The link is dead: its page, a good card and a lock now all find it gone.
    assert!(matches!(
        sb.engine.setup_page(&id).await,
        Err(Error::Gone { .. })
    ));
    let after = sb.engine.submit_hosted_card(&link, card(VISA)).await;
    assert!(is_gone(&after) && !after.failed_attempt);
    assert!(!sb.engine.lock_hosted_link(&link).await.unwrap());
    assert_eq!(sb.count(EventType::SetupCanceled).await, 1);
}

#[tokio::test]
async fn a_configured_limit_locks_a_hosted_payment_with_payment_canceled() {
    let sb = sandbox_with_limit(3);
    let id = new_hosted_payment(&sb).await;
    let link = HostedLink::Payment(id.clone());
    for _ in 0..2 {
        let step = sb.engine.submit_hosted_card(&link, card(DECLINE)).await;
        assert!(step.failed_attempt);
        assert!(matches!(step.outcome, Ok(HostedOutcome::Retry { .. })));
    }
    // A number failing its checksum is a failed attempt too (refused before the network).
    let third = sb
        .engine
        .submit_hosted_card(&link, card("4242424242424241"))
        .await;
    assert!(third.failed_attempt && is_gone(&third), "{third:?}");

    let payment = sb.engine.retrieve_payment(&ctx(), &id).await.unwrap();
    assert_eq!(payment.status, PaymentStatus::Canceled);
    assert_eq!(
        payment.last_error.map(|e| e.code),
        Some(LastErrorCode::TooManyAttempts)
    );
    assert_eq!(sb.count(EventType::PaymentCanceled).await, 1);
    assert_eq!(sb.count(EventType::PaymentFailed).await, 0);
    assert_eq!(sb.network.approved_charges(), 0);
    assert!(matches!(
        sb.engine.payment_page(&id).await,
        Err(Error::Gone { .. })
    ));
    // Through the trait (the in-process buyer), a locked link answers 410's error too.
    assert!(matches!(
        sb.engine.submit_payment_card(&id, card(VISA)).await,
        Err(Error::Gone { .. })
    ));
    assert_eq!(sb.network.approved_charges(), 0);
}

#[tokio::test]
async fn a_success_before_the_limit_goes_through_and_emits_no_cancel() {
    let sb = Sandbox::new();
    let setup = new_setup(&sb).await;
    let pay = new_hosted_payment(&sb).await;
    for link in [
        HostedLink::Setup(setup.clone()),
        HostedLink::Payment(pay.clone()),
    ] {
        for _ in 0..4 {
            let step = sb.engine.submit_hosted_card(&link, card(DECLINE)).await;
            assert!(step.failed_attempt);
        }
        let ok = sb.engine.submit_hosted_card(&link, card(VISA)).await;
        assert!(!ok.failed_attempt);
        assert!(
            matches!(&ok.outcome, Ok(HostedOutcome::Redirect { url }) if url.contains("status=succeeded")),
            "{:?}",
            ok.outcome
        );
    }
    let s = sb.engine.retrieve_setup(&ctx(), &setup).await.unwrap();
    assert_eq!(s.status, SetupStatus::Succeeded);
    assert_eq!(s.last_error, None);
    let p = sb.engine.retrieve_payment(&ctx(), &pay).await.unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded);
    assert_eq!(sb.count(EventType::SetupCanceled).await, 0);
    assert_eq!(sb.count(EventType::PaymentCanceled).await, 0);
    assert_eq!(sb.network.approved_charges(), 1, "the payment charged once");
}

#[tokio::test]
async fn a_failed_challenge_counts_toward_a_setups_limit() {
    let sb = sandbox_with_limit(2);
    let id = new_setup(&sb).await;
    let link = HostedLink::Setup(id.clone());
    let first = sb.engine.submit_hosted_card(&link, card(DECLINE)).await;
    assert!(first.failed_attempt && first.outcome.is_ok());
    let challenge = sb.engine.submit_hosted_card(&link, card(THREE_DS)).await;
    assert!(!challenge.failed_attempt);
    assert!(matches!(
        challenge.outcome,
        Ok(HostedOutcome::Challenge { .. })
    ));
    let failed = sb
        .engine
        .answer_hosted_challenge(&link, ChallengeOutcome::Fail)
        .await;
    assert!(failed.failed_attempt && is_gone(&failed), "{failed:?}");
    let setup = sb.engine.retrieve_setup(&ctx(), &id).await.unwrap();
    assert_eq!(setup.status, SetupStatus::Canceled);
    assert_eq!(sb.count(EventType::SetupCanceled).await, 1);
}

#[tokio::test]
async fn lock_hosted_link_locks_open_links_once_and_leaves_others() {
    let sb = Sandbox::new();
    let setup = new_setup(&sb).await;
    let pay = new_hosted_payment(&sb).await;
    for link in [
        HostedLink::Setup(setup.clone()),
        HostedLink::Payment(pay.clone()),
    ] {
        assert!(sb.engine.lock_hosted_link(&link).await.unwrap());
        assert!(!sb.engine.lock_hosted_link(&link).await.unwrap());
    }
    let s = sb.engine.retrieve_setup(&ctx(), &setup).await.unwrap();
    assert_eq!(s.status, SetupStatus::Canceled);
    assert_eq!(s.version, 2);
    assert_eq!(
        s.last_error.map(|e| e.code),
        Some(LastErrorCode::TooManyAttempts)
    );
    let p = sb.engine.retrieve_payment(&ctx(), &pay).await.unwrap();
    assert_eq!(p.status, PaymentStatus::Canceled);
    assert_eq!(sb.count(EventType::SetupCanceled).await, 1);
    assert_eq!(sb.count(EventType::PaymentCanceled).await, 1);

    // A paid payment is no longer the buyer's to lock.
    let paid = new_hosted_payment(&sb).await;
    let link = HostedLink::Payment(paid.clone());
    assert!(
        sb.engine
            .submit_hosted_card(&link, card(VISA))
            .await
            .outcome
            .is_ok()
    );
    assert!(!sb.engine.lock_hosted_link(&link).await.unwrap());
    let p = sb.engine.retrieve_payment(&ctx(), &paid).await.unwrap();
    assert_eq!(p.status, PaymentStatus::Succeeded);

    let unknown = HostedLink::Setup(SetupId::from_entropy(&[9; 24]));
    assert!(matches!(
        sb.engine.lock_hosted_link(&unknown).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn form_mistakes_and_oversized_fields_are_not_failed_attempts() {
    let sb = sandbox_with_limit(1);
    let id = new_setup(&sb).await;
    let link = HostedLink::Setup(id.clone());
    let entries = [
        CardEntry::new(VISA, "not a date", "123"),
        CardEntry::new("4".repeat(33), "12/34", "123"),
        CardEntry::new(VISA, "1".repeat(17), "123"),
        CardEntry::new(VISA, "12/34", "1".repeat(9)),
        CardEntry {
            name: Some("n".repeat(257)),
            ..card(VISA)
        },
    ];
    for entry in entries {
        let step = sb.engine.submit_hosted_card(&link, entry).await;
        assert!(!step.failed_attempt);
        let Ok(HostedOutcome::Retry { message }) = &step.outcome else {
            panic!("the form again: {:?}", step.outcome);
        };
        assert!(!message.contains("4444"), "{message}");
    }
    let setup = sb.engine.retrieve_setup(&ctx(), &id).await.unwrap();
    assert_eq!(setup.status, SetupStatus::RequiresPaymentMethod);
    assert_eq!(setup.version, 1, "nothing was recorded");
    // At the bounds, the card goes through.
    let ok = sb
        .engine
        .submit_hosted_card(
            &link,
            CardEntry {
                name: Some("n".repeat(256)),
                ..CardEntry::new(
                    format!("{VISA}{}", " ".repeat(32 - VISA.len())),
                    "12/34",
                    "123",
                )
            },
        )
        .await;
    assert!(
        matches!(ok.outcome, Ok(HostedOutcome::Redirect { .. })),
        "{:?}",
        ok.outcome
    );
}

fn param_of(e: &Error) -> Option<(&str, InvalidRequestCode)> {
    match e {
        Error::InvalidRequest { code, param, .. } => Some((param.as_deref()?, *code)),
        _ => None,
    }
}

#[tokio::test]
async fn other_request_bounds_name_their_parameter() {
    let sb = Sandbox::new();
    let engine = &sb.engine;
    let cust = customer(engine).await;

    // The helper's card number: 32 characters at most.
    let long = AttachTestCard {
        number: format!("{VISA}{}", " ".repeat(33 - VISA.len())),
        exp_month: 12,
        exp_year: 2034,
        cvc: None,
    };
    let e = engine
        .attach_test_card(&ctx(), &cust, long.clone())
        .await
        .unwrap_err();
    assert_eq!(
        param_of(&e),
        Some(("number", InvalidRequestCode::ParameterInvalid))
    );
    let at_bound = AttachTestCard {
        number: format!("{VISA}{}", " ".repeat(32 - VISA.len())),
        ..long
    };
    engine
        .attach_test_card(&ctx(), &cust, at_bound)
        .await
        .unwrap();

    // The email filter of a list: 254 characters at most.
    let email = |n: usize| format!("{}@example.com", "a".repeat(n - "@example.com".len()));
    let listed = engine
        .list_customers(
            &ctx(),
            ListCustomers {
                email: Some(email(254)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(listed.data.is_empty());
    let e = engine
        .list_customers(
            &ctx(),
            ListCustomers {
                email: Some(email(255)),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        param_of(&e),
        Some(("email", InvalidRequestCode::ParameterInvalid))
    );

    // A webhook endpoint's events: every type once, or `*`, at most.
    let endpoint = |events: Vec<String>| CreateWebhookEndpoint {
        url: "https://shop.example/hooks".into(),
        events,
    };
    let all: Vec<String> = EventType::ALL.iter().map(|t| t.to_string()).collect();
    let mut with_star = all.clone();
    with_star.push("*".into());
    engine
        .create_webhook_endpoint(&ctx(), endpoint(with_star.clone()))
        .await
        .unwrap();
    let mut too_many = with_star;
    too_many.push("setup.failed".into());
    for events in [too_many, vec!["setup.failed".into(), "setup.failed".into()]] {
        let e = engine
            .create_webhook_endpoint(&ctx(), endpoint(events))
            .await
            .unwrap_err();
        assert_eq!(
            param_of(&e),
            Some(("events", InvalidRequestCode::ParameterInvalid))
        );
    }
}
