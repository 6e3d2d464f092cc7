#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The HTTP client against a fake server: paths, auth, query encoding, error mapping,
//! idempotency keys, retries and replays.

mod client_support;

use std::time::{Duration, Instant};

use client_support::{FakeServer, Reply, Seen, customer_json, id};
use serde_json::json;
use vinr_domain::error::{CardErrorCode, DeclineCode, InvalidRequestCode};
use vinr_domain::ids::{
    CustomerId, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_domain::payment::PaymentStatus;
use vinr_http::client::{ClientOptions, HttpClient};
use vinr_ports::api::{
    CustomersApi, EventsApi, MethodsApi, PaymentsApi, SandboxApi, SetupsApi, WebhookEndpointsApi,
};
use vinr_ports::error::AuthenticationCode;
use vinr_ports::params::{
    AttachTestCard, CreateCustomer, CreatePayment, CreateSetup, CreateWebhookEndpoint,
    ExpiringScan, ListCustomers, ListEvents, ListParams, ListPayments, NetworkUpdate, RotateSecret,
    UpdateCustomer,
};
use vinr_ports::{Error, ReplayProbe, RequestContext};

const KEY: &str = "sk_test_Zq9DoNotLeakMe0123456789";

fn client(server: &FakeServer) -> HttpClient {
    HttpClient::with_options(
        &server.url(),
        KEY,
        ClientOptions {
            timeout: Duration::from_secs(5),
            max_retries: 3,
            backoff_base: Duration::from_millis(1),
        },
    )
    .unwrap()
}

fn ctx() -> RequestContext {
    RequestContext::sandbox()
}

fn cust() -> CustomerId {
    CustomerId::parse(&id("cust", 'a')).unwrap()
}

fn create_customer_params() -> CreateCustomer {
    CreateCustomer {
        email: Some("ada@example.com".into()),
        ..Default::default()
    }
}

fn keys_of(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .map(|s| s.header("idempotency-key").unwrap_or("").to_owned())
        .collect()
}

fn internal_error() -> Reply {
    Reply::error(
        500,
        json!({"type": "api_error", "code": "internal", "message": "Something went wrong."}),
    )
}

// ---------------------------------------------------------------- errors

#[tokio::test]
async fn a_card_error_keeps_its_decline_code_and_payment_id_and_is_not_retried() {
    let pay = id("pay", 'p');
    let server = FakeServer::always(Reply::error(
        402,
        json!({"type": "card_error", "code": "card_declined", "message": "Your card has insufficient funds.",
               "declineCode": "insufficient_funds", "paymentId": pay}),
    ));
    let err = client(&server)
        .create_payment(
            &ctx(),
            CreatePayment {
                amount: 2500,
                currency: "EUR".into(),
                customer_id: Some(cust()),
                off_session: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Card {
            code: CardErrorCode::CardDeclined,
            decline_code: Some(DeclineCode::InsufficientFunds),
            payment_id: Some(PaymentId::parse(&pay).unwrap()),
            message: "Your card has insufficient funds.".into(),
        }
    );
    assert_eq!(server.seen().len(), 1, "402 is an answer, never retried");
}

#[tokio::test]
async fn an_invalid_request_names_its_param_and_is_not_retried() {
    let server = FakeServer::always(Reply::error(
        400,
        json!({"type": "invalid_request_error", "code": "invalid_email", "message": "Invalid email address: 'nope'", "param": "email"}),
    ));
    let err = client(&server)
        .create_customer(
            &ctx(),
            CreateCustomer {
                email: Some("nope".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::InvalidRequest {
            code: InvalidRequestCode::InvalidEmail,
            param: Some("email".into()),
            message: "Invalid email address: 'nope'".into(),
        }
    );
    assert_eq!(server.seen().len(), 1, "400 is an answer, never retried");
}

#[tokio::test]
async fn not_found_and_authentication_errors_are_typed() {
    let server = FakeServer::always(Reply::error(
        404,
        json!({"type": "invalid_request_error", "code": "resource_missing", "message": "No such customer: 'cust_x'", "param": "customerId"}),
    ));
    let err = client(&server)
        .retrieve_customer(&ctx(), &cust())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::NotFound {
            param: Some("customerId".into()),
            message: "No such customer: 'cust_x'".into()
        }
    );
    assert_eq!(server.seen().len(), 1);

    let server = FakeServer::always(Reply::error(
        401,
        json!({"type": "authentication_error", "code": "api_key_invalid", "message": "Invalid API key provided."}),
    ));
    let err = client(&server)
        .list_customers(&ctx(), ListCustomers::default())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Authentication {
            code: AuthenticationCode::ApiKeyInvalid,
            ..
        }
    ));
    assert!(!err.to_string().contains(KEY));
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn gone_reused_keys_and_unknown_answers_are_typed() {
    let server = FakeServer::always(Reply::Answer {
        status: 410,
        headers: vec![],
        body: "This link has expired.".into(),
    });
    let err = client(&server)
        .retrieve_setup(&ctx(), &SetupId::parse(&id("seti", 's')).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Gone {
            message: "This link has expired.".into()
        }
    );

    let server = FakeServer::always(Reply::error(
        422,
        json!({"type": "idempotency_error", "code": "idempotency_key_reused", "message": "Keys are for one request."}),
    ));
    let err = client(&server)
        .create_customer(&ctx(), create_customer_params())
        .await
        .unwrap_err();
    assert_eq!(err, Error::IdempotencyKeyReused);
    assert_eq!(server.seen().len(), 1, "422 is never retried");

    let server = FakeServer::always(Reply::html(418, "<h1>teapot</h1>"));
    let err = client(&server)
        .retrieve_customer(&ctx(), &cust())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Internal { message } if message.contains("418")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_without_the_key() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = HttpClient::with_options(
        &format!("http://127.0.0.1:{port}"),
        KEY,
        ClientOptions {
            backoff_base: Duration::from_millis(1),
            ..Default::default()
        },
    )
    .unwrap();
    let err = client
        .create_customer(&ctx(), create_customer_params())
        .await
        .unwrap_err();
    match &err {
        Error::Transport { message } => {
            assert!(message.contains("could not connect"), "{message}");
            assert!(message.contains("/v1/customers"), "{message}");
            assert!(!message.contains(KEY));
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert!(!format!("{err:?}").contains(KEY));
}

#[tokio::test]
async fn a_timeout_is_a_transport_error_after_the_retries() {
    let server = FakeServer::always(Reply::Hang(Duration::from_secs(3)));
    let client = HttpClient::with_options(
        &server.url(),
        KEY,
        ClientOptions {
            timeout: Duration::from_millis(200),
            max_retries: 1,
            backoff_base: Duration::from_millis(1),
        },
    )
    .unwrap();
    let started = Instant::now();
    let err = client.retrieve_customer(&ctx(), &cust()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Transport { message } if message.contains("timed out")),
        "{err:?}"
    );
    assert_eq!(server.seen().len(), 2, "one try and one retry");
    assert!(started.elapsed() < Duration::from_secs(3));
}

// ---------------------------------------------------------------- retries and keys

#[tokio::test]
async fn a_500_then_200_succeeds_with_the_same_key_sent_twice() {
    let cust_id = id("cust", 'b');
    let server = FakeServer::sequence(vec![
        internal_error(),
        Reply::json(200, customer_json(&cust_id)),
    ]);
    let customer = client(&server)
        .create_customer(&ctx(), create_customer_params())
        .await
        .unwrap();
    assert_eq!(customer.id.as_str(), cust_id);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let keys = keys_of(&seen);
    assert_eq!(keys[0], keys[1], "a retry reuses the key of its call");
    assert_eq!(keys[0].len(), 32);
    assert!(keys[0].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(seen[0].body, seen[1].body, "and the same body");
}

#[tokio::test]
async fn the_callers_key_is_sent_verbatim_on_every_try() {
    let server = FakeServer::sequence(vec![
        Reply::Close,
        internal_error(),
        Reply::json(200, customer_json(&id("cust", 'c'))),
    ]);
    client(&server)
        .create_customer(
            &ctx().with_idempotency_key("signup-8821"),
            create_customer_params(),
        )
        .await
        .unwrap();
    assert_eq!(
        keys_of(&server.seen()),
        vec!["signup-8821", "signup-8821", "signup-8821"]
    );
}

#[tokio::test]
async fn a_409_in_flight_is_retried_under_the_same_key() {
    let server = FakeServer::sequence(vec![
        Reply::error(
            409,
            json!({"type": "idempotency_error", "code": "idempotency_key_in_use", "message": "in flight"}),
        ),
        Reply::json(200, customer_json(&id("cust", 'd'))),
    ]);
    client(&server)
        .create_customer(&ctx(), create_customer_params())
        .await
        .unwrap();
    let keys = keys_of(&server.seen());
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
}

#[tokio::test]
async fn gets_are_retried_on_5xx_but_not_on_409_or_404() {
    let server = FakeServer::sequence(vec![
        Reply::html(503, "busy"),
        Reply::json(200, customer_json(&id("cust", 'a'))),
    ]);
    client(&server)
        .retrieve_customer(&ctx(), &cust())
        .await
        .unwrap();
    assert_eq!(server.seen().len(), 2);
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.header("idempotency-key").is_none())
    );

    let server = FakeServer::always(Reply::error(
        409,
        json!({"type": "idempotency_error", "code": "idempotency_key_in_use", "message": "?"}),
    ));
    let err = client(&server)
        .retrieve_customer(&ctx(), &cust())
        .await
        .unwrap_err();
    assert_eq!(err, Error::IdempotencyKeyInUse);
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn retries_stop_after_max_retries_with_the_last_error() {
    let server = FakeServer::always(internal_error());
    let err = client(&server)
        .create_customer(&ctx(), create_customer_params())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Internal {
            message: "Something went wrong.".into()
        }
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 4, "1 try + max_retries (3)");
    let keys = keys_of(&seen);
    assert!(keys.iter().all(|k| *k == keys[0]));

    let none = HttpClient::with_options(
        &server.url(),
        KEY,
        ClientOptions {
            max_retries: 0,
            ..Default::default()
        },
    )
    .unwrap();
    let before = server.seen().len();
    none.create_customer(&ctx(), create_customer_params())
        .await
        .unwrap_err();
    assert_eq!(server.seen().len(), before + 1, "max_retries 0: one try");
}

#[tokio::test]
async fn a_replayed_5xx_is_the_stored_outcome_and_not_retried() {
    let server = FakeServer::always(internal_error().with_header("Idempotent-Replayed", "true"));
    let probe = ReplayProbe::default();
    let ctx = RequestContext {
        replay: Some(probe.clone()),
        ..ctx()
    };
    let err = client(&server)
        .create_customer(&ctx, create_customer_params())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal { .. }));
    assert_eq!(server.seen().len(), 1);
    assert!(probe.replayed());
}

#[tokio::test]
async fn a_429_waits_what_retry_after_asks() {
    let limited = Reply::error(
        429,
        json!({"type": "rate_limit_error", "code": "rate_limited", "message": "Too many requests."}),
    );
    let server = FakeServer::sequence(vec![
        limited.clone().with_header("Retry-After", "1"),
        Reply::json(200, customer_json(&id("cust", 'e'))),
    ]);
    let started = Instant::now();
    client(&server)
        .create_customer(&ctx(), create_customer_params())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 honoured"
    );
    let keys = keys_of(&server.seen());
    assert_eq!(keys[0], keys[1]);

    // A wait longer than a call should block is left to the caller, with the server's hint.
    let server = FakeServer::always(limited.with_header("Retry-After", "3600"));
    let started = Instant::now();
    let err = client(&server)
        .list_payments(&ctx(), ListPayments::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::RateLimited {
            retry_after: Some(3600)
        }
    );
    assert_eq!(server.seen().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn idempotent_replayed_marks_the_probe() {
    let server = FakeServer::sequence(vec![
        Reply::json(200, customer_json(&id("cust", 'f'))),
        Reply::json(200, customer_json(&id("cust", 'f')))
            .with_header("Idempotent-Replayed", "true"),
    ]);
    let client = client(&server);
    let first = ReplayProbe::default();
    let second = ReplayProbe::default();
    let with = |probe: &ReplayProbe| RequestContext {
        replay: Some(probe.clone()),
        ..ctx().with_idempotency_key("k-1")
    };
    let a = client
        .create_customer(&with(&first), create_customer_params())
        .await
        .unwrap();
    let b = client
        .create_customer(&with(&second), create_customer_params())
        .await
        .unwrap();
    assert_eq!(a, b);
    assert!(!first.replayed());
    assert!(second.replayed());
    // And a replayed decline too.
    let server = FakeServer::always(
        Reply::error(
            402,
            json!({"type": "card_error", "code": "card_declined", "message": "declined", "declineCode": "generic_decline"}),
        )
        .with_header("Idempotent-Replayed", "true"),
    );
    let probe = ReplayProbe::default();
    let err = self::client(&server)
        .create_payment(
            &RequestContext {
                replay: Some(probe.clone()),
                ..ctx()
            },
            CreatePayment {
                amount: 100,
                currency: "EUR".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Card { .. }));
    assert!(probe.replayed());
}

/// Calls every method of the JSON API once against a server that answers 404 to everything.
async fn call_everything(client: &HttpClient, ctx: &RequestContext) {
    let c = cust();
    let pm = PaymentMethodId::parse(&id("pm", 'm')).unwrap();
    let seti = SetupId::parse(&id("seti", 's')).unwrap();
    let pay = PaymentId::parse(&id("pay", 'p')).unwrap();
    let we = WebhookEndpointId::parse(&id("we", 'w')).unwrap();
    let evt = EventId::parse(&id("evt", 'e')).unwrap();
    let _ = client.create_customer(ctx, create_customer_params()).await;
    let _ = client
        .list_customers(
            ctx,
            ListCustomers {
                email: Some("a+b@x.com".into()),
                limit: Some(5),
                starting_after: Some(c.clone()),
            },
        )
        .await;
    let _ = client.retrieve_customer(ctx, &c).await;
    let _ = client
        .update_customer(
            ctx,
            &c,
            UpdateCustomer {
                default_method_id: Some(None),
                ..Default::default()
            },
        )
        .await;
    let _ = client.delete_customer(ctx, &c).await;
    let _ = client
        .create_setup(
            ctx,
            &c,
            CreateSetup {
                return_url: "https://shop.example/done".into(),
            },
        )
        .await;
    let _ = client.retrieve_setup(ctx, &seti).await;
    let _ = client.cancel_setup(ctx, &seti).await;
    let _ = client
        .list_methods(
            ctx,
            &c,
            ListParams {
                limit: Some(100),
                starting_after: Some(pm.clone()),
            },
        )
        .await;
    let _ = client.retrieve_method(ctx, &c, &pm).await;
    let _ = client.detach_method(ctx, &c, &pm).await;
    let _ = client
        .create_payment(
            ctx,
            CreatePayment {
                amount: 2500,
                currency: "EUR".into(),
                customer_id: Some(c.clone()),
                off_session: true,
                ..Default::default()
            },
        )
        .await;
    let _ = client.retrieve_payment(ctx, &pay).await;
    let _ = client
        .list_payments(
            ctx,
            ListPayments {
                customer_id: Some(c.clone()),
                status: Some(PaymentStatus::RequiresAction),
                limit: Some(3),
                starting_after: Some(pay.clone()),
            },
        )
        .await;
    let _ = client.cancel_payment(ctx, &pay).await;
    let _ = client
        .create_webhook_endpoint(
            ctx,
            CreateWebhookEndpoint {
                url: "https://shop.example/hooks".into(),
                events: vec!["*".into()],
            },
        )
        .await;
    let _ = client
        .list_webhook_endpoints(ctx, ListParams::default())
        .await;
    let _ = client.delete_webhook_endpoint(ctx, &we).await;
    let _ = client
        .rotate_webhook_secret(
            ctx,
            &we,
            RotateSecret {
                overlap_seconds: Some(60),
            },
        )
        .await;
    let _ = client
        .list_events(
            ctx,
            ListEvents {
                kind: Some("payment.succeeded".into()),
                limit: None,
                starting_after: Some(evt.clone()),
            },
        )
        .await;
    let _ = client.retrieve_event(ctx, &evt).await;
    let _ = client
        .attach_test_card(
            ctx,
            &c,
            AttachTestCard {
                number: "4242424242424242".into(),
                exp_month: 12,
                exp_year: 2034,
                cvc: None,
            },
        )
        .await;
    let _ = client
        .network_update(
            ctx,
            &pm,
            NetworkUpdate {
                exp_month: 1,
                exp_year: 2031,
                last4: None,
            },
        )
        .await;
    let _ = client
        .expiring_scan(
            ctx,
            ExpiringScan {
                as_of: chrono::NaiveDate::from_ymd_opt(2034, 11, 15).unwrap(),
            },
        )
        .await;
}

#[tokio::test]
async fn every_endpoint_has_the_contracts_method_path_query_and_body() {
    let server = FakeServer::always(Reply::error(
        404,
        json!({"type": "invalid_request_error", "code": "resource_missing", "message": "nothing here"}),
    ));
    call_everything(&client(&server), &ctx()).await;
    let (c, pm, seti, pay, we, evt) = (
        id("cust", 'a'),
        id("pm", 'm'),
        id("seti", 's'),
        id("pay", 'p'),
        id("we", 'w'),
        id("evt", 'e'),
    );
    let expected: Vec<(&str, String, Option<serde_json::Value>)> = vec![
        (
            "POST",
            "/v1/customers".into(),
            Some(json!({"email": "ada@example.com"})),
        ),
        (
            "GET",
            format!("/v1/customers?email=a%2Bb%40x.com&limit=5&startingAfter={c}"),
            None,
        ),
        ("GET", format!("/v1/customers/{c}"), None),
        (
            "PATCH",
            format!("/v1/customers/{c}"),
            Some(json!({"defaultMethodId": null})),
        ),
        ("DELETE", format!("/v1/customers/{c}"), None),
        (
            "POST",
            format!("/v1/customers/{c}/setup"),
            Some(json!({"returnUrl": "https://shop.example/done"})),
        ),
        ("GET", format!("/v1/setups/{seti}"), None),
        ("POST", format!("/v1/setups/{seti}/cancel"), Some(json!({}))),
        (
            "GET",
            format!("/v1/customers/{c}/methods?limit=100&startingAfter={pm}"),
            None,
        ),
        ("GET", format!("/v1/customers/{c}/methods/{pm}"), None),
        ("DELETE", format!("/v1/customers/{c}/methods/{pm}"), None),
        (
            "POST",
            "/v1/payments".into(),
            Some(json!({"amount": 2500, "currency": "EUR", "customerId": c, "offSession": true})),
        ),
        ("GET", format!("/v1/payments/{pay}"), None),
        (
            "GET",
            format!(
                "/v1/payments?customerId={c}&status=requires_action&limit=3&startingAfter={pay}"
            ),
            None,
        ),
        (
            "POST",
            format!("/v1/payments/{pay}/cancel"),
            Some(json!({})),
        ),
        (
            "POST",
            "/v1/webhook_endpoints".into(),
            Some(json!({"url": "https://shop.example/hooks", "events": ["*"]})),
        ),
        ("GET", "/v1/webhook_endpoints".into(), None),
        ("DELETE", format!("/v1/webhook_endpoints/{we}"), None),
        (
            "POST",
            format!("/v1/webhook_endpoints/{we}/rotate_secret"),
            Some(json!({"overlapSeconds": 60})),
        ),
        (
            "GET",
            format!("/v1/events?type=payment.succeeded&startingAfter={evt}"),
            None,
        ),
        ("GET", format!("/v1/events/{evt}"), None),
        (
            "POST",
            format!("/v1/test_helpers/customers/{c}/methods"),
            Some(json!({"number": "4242424242424242", "expMonth": 12, "expYear": 2034})),
        ),
        (
            "POST",
            format!("/v1/test_helpers/payment_methods/{pm}/network_update"),
            Some(json!({"expMonth": 1, "expYear": 2031})),
        ),
        (
            "POST",
            "/v1/test_helpers/expiring_scan".into(),
            Some(json!({"asOf": "2034-11-15"})),
        ),
    ];
    let seen = server.seen();
    assert_eq!(seen.len(), expected.len(), "404 is never retried");
    for (s, (method, target, body)) in seen.iter().zip(&expected) {
        assert_eq!(
            (s.method.as_str(), s.target.as_str()),
            (*method, target.as_str())
        );
        assert_eq!(
            s.header("authorization"),
            Some(format!("Bearer {KEY}").as_str()),
            "{target}"
        );
        match body {
            Some(body) => {
                let sent: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
                assert_eq!(&sent, body, "{method} {target}");
                assert_eq!(s.header("content-type"), Some("application/json"));
            }
            None => assert!(s.body.is_empty(), "{method} {target}"),
        }
    }
}

#[tokio::test]
async fn every_post_and_only_posts_carry_a_fresh_idempotency_key() {
    let server = FakeServer::always(Reply::error(
        404,
        json!({"type": "invalid_request_error", "code": "resource_missing", "message": "nothing here"}),
    ));
    call_everything(&client(&server), &ctx()).await;
    let seen = server.seen();
    let mut keys = Vec::new();
    for s in &seen {
        match (s.method.as_str(), s.header("idempotency-key")) {
            ("POST", Some(k)) => {
                assert_eq!(k.len(), 32, "{}", s.target);
                assert!(k.chars().all(|c| c.is_ascii_alphanumeric()));
                keys.push(k.to_owned());
            }
            ("POST", None) => panic!("POST {} without an Idempotency-Key", s.target),
            (m, Some(_)) => panic!("{m} {} carries an Idempotency-Key", s.target),
            (_, None) => {}
        }
    }
    assert_eq!(keys.len(), 10, "the ten POST endpoints");
    let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "one fresh key per logical call");

    // With a caller's key, every POST carries it.
    let server = FakeServer::always(Reply::error(
        404,
        json!({"type": "invalid_request_error", "code": "resource_missing", "message": "nothing here"}),
    ));
    call_everything(&client(&server), &ctx().with_idempotency_key("order-4471")).await;
    for s in server.seen().iter().filter(|s| s.method == "POST") {
        assert_eq!(
            s.header("idempotency-key"),
            Some("order-4471"),
            "{}",
            s.target
        );
    }
}

#[tokio::test]
async fn an_empty_list_query_sends_no_question_mark_and_lists_decode() {
    let c = id("cust", 'g');
    let server = FakeServer::always(Reply::json(
        200,
        json!({"object": "list", "data": [customer_json(&c)], "hasMore": true}),
    ));
    let page = client(&server)
        .list_customers(&ctx(), ListCustomers::default())
        .await
        .unwrap();
    assert!(page.has_more);
    assert_eq!(page.data[0].id.as_str(), c);
    assert_eq!(server.seen()[0].target, "/v1/customers");
}

#[tokio::test]
async fn a_2xx_that_is_not_the_expected_object_is_an_internal_error() {
    let server = FakeServer::always(Reply::json(200, json!({"unexpected": true})));
    let err = client(&server)
        .retrieve_customer(&ctx(), &cust())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal { .. }), "{err:?}");
    assert_eq!(server.seen().len(), 1);
}

// ---------------------------------------------------------------- construction and secrecy

#[test]
fn the_key_never_shows_in_debug_output() {
    let client = HttpClient::new("http://127.0.0.1:4242/", KEY).unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(!debug.contains("Zq9DoNotLeakMe"), "{debug}");
    assert!(debug.contains("127.0.0.1:4242"), "{debug}");
    assert!(!format!("{client:#?}").contains(KEY));
    assert_eq!(client.base_url(), "http://127.0.0.1:4242");
    assert_eq!(client.mode(), vinr_ports::Mode::Test);
    let live = HttpClient::new("https://api.example.com/vinr", "sk_live_abc").unwrap();
    assert_eq!(live.mode(), vinr_ports::Mode::Live);
    assert_eq!(live.base_url(), "https://api.example.com/vinr");
}

#[test]
fn bad_base_urls_and_keys_are_refused_without_echoing_the_key() {
    for url in [
        "",
        "127.0.0.1:4242",
        "ftp://x",
        "http://x/?q=1",
        "http://u:p@x",
    ] {
        let err = HttpClient::new(url, KEY).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidRequest { code: InvalidRequestCode::InvalidUrl, param: Some(p), .. } if p == "base_url"),
            "{url}: {err:?}"
        );
    }
    for key in ["", "sk_test_ spaced", "sk_test_\u{e9}", "sk_test_\nx"] {
        let err = HttpClient::new("http://127.0.0.1:4242", key).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidRequest { param: Some(p), .. } if p == "secret_key"),
            "{err:?}"
        );
        if !key.is_empty() {
            assert!(!err.to_string().contains(key));
        }
    }
}

#[tokio::test]
async fn works_behind_a_path_prefix() {
    let server = FakeServer::always(Reply::json(200, customer_json(&id("cust", 'a'))));
    let client = HttpClient::new(&format!("{}/vinr/", server.url()), KEY).unwrap();
    client.retrieve_customer(&ctx(), &cust()).await.unwrap();
    assert_eq!(
        server.seen()[0].target,
        format!("/vinr/v1/customers/{}", id("cust", 'a'))
    );
}
