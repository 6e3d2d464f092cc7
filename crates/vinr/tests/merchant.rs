//! The merchant example (`examples/merchant.rs`) run against `Vinr::sandbox()`: its app served
//! on `127.0.0.1:0`, driven over HTTP as a shop's front end would, the buyer played through
//! `vinr.hosted()`, and VINR's webhooks delivered to it by `test_helpers().deliver_webhooks()`:
//! signed by the endpoint's secret and verified by the example's `VerifiedEvent` extractor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The example's `main` is not used here; its app is.
#[path = "../examples/merchant.rs"]
#[allow(dead_code)]
mod merchant;

use std::collections::BTreeMap;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use vinr::webhooks::harness::{Harness, signed_request};
use vinr::webhooks::{EVENT_ID_HEADER, SIGNATURE_HEADER};
use vinr::{
    CardEntry, ChallengeOutcome, CreateWebhookEndpoint, DeliveryStatus, EventId, HostedOutcome,
    ListEvents, PaymentId, SetupId, Vinr,
};

use merchant::{AppState, Books, OrderStatus};

const VISA: &str = "4242 4242 4242 4242";
const THREE_DS: &str = "4000 0000 0000 3220";
/// Saves fine; every payment is declined `generic_decline`.
const SETUP_ONLY: &str = "4000 0000 0000 0341";

/// The example's app served on `127.0.0.1:0`, receiving the sandbox's webhooks.
struct Running {
    vinr: Vinr,
    state: AppState,
    base: String,
    secret: String,
    http: reqwest::Client,
}

impl Running {
    /// Serves the app over `vinr` and registers its `/webhooks` for every event.
    async fn start(vinr: Vinr) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let endpoint = vinr
            .webhook_endpoints()
            .create(CreateWebhookEndpoint {
                url: format!("{base}/webhooks"),
                events: vec!["*".into()],
            })
            .await
            .unwrap();
        let secret = endpoint.secret.unwrap().expose().to_owned();
        let state = AppState::new(vinr.clone(), &secret, base.clone());
        let app = merchant::app(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Running {
            vinr,
            state,
            base,
            secret,
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    /// Follows a URL the buyer is sent to (a redirect back to the shop).
    async fn get(&self, url: &str) -> (StatusCode, Value) {
        assert!(url.starts_with(&self.base), "{url} is not the shop's");
        read(self.http.get(url).send().await.unwrap()).await
    }

    /// `POST /signup`.
    async fn signup(&self, email: &str) -> String {
        let (status, body) = self.post("/signup", json!({"email": email})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["customerId"].as_str().unwrap().to_owned()
    }

    /// `POST /cards`, then the buyer types `number` on VINR's page (and passes a challenge if
    /// one comes), then returns to the shop's `/cards/saved`. Returns the saved method's id.
    async fn save_card(&self, customer: &str, number: &str) -> String {
        let (status, body) = self.post("/cards", json!({"customerId": customer})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let setup = SetupId::parse(body["setupId"].as_str().unwrap()).unwrap();
        let checkout = body["checkoutUrl"].as_str().unwrap();
        assert!(
            checkout.ends_with(&format!("/hosted/setup/{setup}")),
            "{checkout}"
        );

        let hosted = self.vinr.hosted();
        let mut outcome = hosted
            .submit_setup_card(&setup, CardEntry::new(number, "12/34", "123"))
            .await
            .unwrap();
        if let HostedOutcome::Challenge { .. } = outcome {
            outcome = hosted
                .authenticate_setup(&setup, ChallengeOutcome::Complete)
                .await
                .unwrap();
        }
        let HostedOutcome::Redirect { url } = outcome else {
            panic!("{number} was not saved: {outcome:?}");
        };
        assert!(
            url.contains(&format!("/cards/saved?setup={setup}")),
            "{url}"
        );
        let (status, body) = self.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["paymentMethodId"].as_str().unwrap().to_owned()
    }

    /// `POST /orders/{customer}`.
    async fn order(&self, customer: &str, amount: i64) -> (StatusCode, Value) {
        self.post(
            &format!("/orders/{customer}"),
            json!({"amount": amount, "currency": "eur", "description": "Order"}),
        )
        .await
    }

    fn books(&self) -> Books {
        self.state.shop.books().clone()
    }

    /// The id of the newest event of `kind`.
    async fn newest_event(&self, kind: &str) -> EventId {
        let events = self
            .vinr
            .events()
            .list(ListEvents {
                kind: Some(kind.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        events.data.first().expect(kind).id.clone()
    }

    /// Every event so far, in the order they happened, as a receiver reads them.
    async fn all_events(&self) -> Vec<vinr::webhooks::Event> {
        let page = self
            .vinr
            .events()
            .list(ListEvents {
                limit: Some(100),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(!page.has_more);
        page.data
            .iter()
            .rev()
            .map(|e| vinr::webhooks::Event::try_from(e).unwrap())
            .collect()
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Delivers everything due and checks that every attempt got a 2xx from the shop.
async fn deliver_all(vinr: &Vinr) -> vinr::DeliveryReport {
    let report = vinr.test_helpers().deliver_webhooks().await.unwrap();
    assert!(report.drained, "{report:?}");
    assert_eq!(report.attempted, report.delivered, "{report:?}");
    assert_eq!(report.fanned_out as usize, report.delivered, "{report:?}");
    report
}

#[tokio::test]
async fn a_card_saved_on_the_hosted_page_is_charged_and_the_signed_paid_webhook_is_verified() {
    let shop = Running::start(Vinr::sandbox()).await;
    let ada = shop.signup("ada@example.com").await;
    // Signing up again finds the same customer.
    let (status, again) = shop
        .post("/signup", json!({"email": "ADA@example.com"}))
        .await;
    assert_eq!(
        (status, again["customerId"].as_str()),
        (StatusCode::OK, Some(ada.as_str()))
    );
    let method = shop.save_card(&ada, VISA).await;
    let customer = shop
        .vinr
        .customers()
        .retrieve(&ada.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        customer.default_method_id.map(|m| m.to_string()),
        Some(method),
        "the return page made the saved card the default"
    );

    let (status, order) = shop.order(&ada, 2500).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "paid");
    assert_eq!(order["amount"], 2500);
    assert_eq!(order["currency"], "EUR");
    let order_id = order["id"].as_str().unwrap().to_owned();
    let payment = order["paymentId"].as_str().unwrap().to_owned();
    assert!(shop.books().events.is_empty(), "nothing delivered yet");

    let report = deliver_all(&shop.vinr).await;
    // customer.created, setup.succeeded, payment_method.attached, customer.updated,
    // payment.succeeded.
    assert_eq!(report.delivered, 5, "{report:?}");

    let paid = shop.newest_event("payment.succeeded").await;
    let books = shop.books();
    assert!(
        books.events.contains(paid.as_str()),
        "the shop handled {paid}"
    );
    assert_eq!(books.versions.get(&payment).copied(), Some(2));
    assert_eq!(books.orders[&order_id].status, OrderStatus::Paid);
    assert_eq!(books.receipts, vec![order_id], "one receipt");
    // VINR recorded the attempt: the shop answered 200, i.e. the extractor verified it.
    let deliveries = shop
        .vinr
        .test_helpers()
        .webhook_deliveries(&paid)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
    assert_eq!(deliveries[0].attempts.len(), 1);
    assert_eq!(deliveries[0].attempts[0].status, Some(200));

    // Nothing is left to send.
    let again = shop.vinr.test_helpers().deliver_webhooks().await.unwrap();
    assert_eq!((again.attempted, again.rounds, again.drained), (0, 1, true));
}

#[tokio::test]
async fn a_3220_card_falls_back_on_session_and_the_webhook_marks_the_order_paid() {
    let shop = Running::start(Vinr::sandbox()).await;
    let ada = shop.signup("ada@example.com").await;
    shop.save_card(&ada, THREE_DS).await;

    let (status, order) = shop.order(&ada, 1000).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{order}");
    assert_eq!(order["status"], "requires_action");
    let payment = PaymentId::parse(order["paymentId"].as_str().unwrap()).unwrap();
    let order_id = order["id"].as_str().unwrap().to_owned();
    let url = order["nextActionUrl"].as_str().unwrap();
    assert!(
        url.ends_with(&format!("/hosted/authenticate/{payment}")),
        "the buyer is sent to VINR's challenge page: {url}"
    );
    deliver_all(&shop.vinr).await;
    assert_eq!(
        shop.books().orders[&order_id].status,
        OrderStatus::RequiresAction
    );

    // The buyer comes back on-session and passes the challenge.
    let outcome = shop
        .vinr
        .hosted()
        .authenticate_payment(&payment, ChallengeOutcome::Complete)
        .await
        .unwrap();
    let HostedOutcome::Redirect { url: back } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        back.starts_with(&format!("{}/orders/{ada}?", shop.base)),
        "{back}"
    );
    assert_eq!(
        shop.books().orders[&order_id].status,
        OrderStatus::RequiresAction,
        "the shop has not heard yet"
    );

    // The webhook tells the shop, before the buyer's browser gets back.
    let report = deliver_all(&shop.vinr).await;
    assert_eq!(report.delivered, 1, "payment.succeeded: {report:?}");
    let paid = shop.newest_event("payment.succeeded").await;
    let books = shop.books();
    assert!(books.events.contains(paid.as_str()));
    let order = &books.orders[&order_id];
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(order.next_action_url, None);
    assert_eq!(books.receipts, vec![order_id.clone()]);

    // The buyer's return page agrees (and reading the payment again changes nothing).
    let (status, list) = shop.get(&back).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["orders"][0]["status"], "paid", "{list}");
    assert_eq!(shop.books().receipts, vec![order_id]);
}

#[tokio::test]
async fn a_declined_card_answers_402_with_the_reason_and_no_card_answers_409() {
    let shop = Running::start(Vinr::sandbox()).await;
    let bob = shop.signup("bob@example.com").await;
    let (status, body) = shop.order(&bob, 700).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "no_saved_card");
    assert!(shop.books().orders.is_empty(), "nothing charged, no order");

    shop.save_card(&bob, SETUP_ONLY).await;
    let (status, body) = shop.order(&bob, 700).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["error"]["code"], "card_declined");
    assert_eq!(body["error"]["declineCode"], "generic_decline");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    let order_id = body["orderId"].as_str().unwrap().to_owned();
    let payment = body["paymentId"].as_str().unwrap().to_owned();
    assert!(payment.starts_with("pay_"));

    // Off-session declines of another reason come through too.
    let cust = bob.parse().unwrap();
    let poor = shop
        .vinr
        .test_helpers()
        .attach_card(&cust, "4000 0000 0000 9995", 12, 2034)
        .await
        .unwrap();
    shop.vinr
        .customers()
        .update(
            &cust,
            vinr::UpdateCustomer {
                default_method_id: Some(Some(poor.id)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (status, body) = shop.order(&bob, 800).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["error"]["declineCode"], "insufficient_funds");

    deliver_all(&shop.vinr).await;
    let books = shop.books();
    let order = &books.orders[&order_id];
    assert_eq!(order.status, OrderStatus::Failed);
    assert_eq!(order.payment_id.as_deref(), Some(payment.as_str()));
    assert!(order.failure.is_some());
    assert!(books.receipts.is_empty());
    let failed = shop.newest_event("payment.failed").await;
    assert!(books.events.contains(failed.as_str()));
}

#[tokio::test]
async fn a_tampered_or_unsigned_delivery_is_refused_400_and_changes_nothing() {
    let shop = Running::start(Vinr::sandbox()).await;
    let ada = shop.signup("ada@example.com").await;
    shop.save_card(&ada, VISA).await;
    let (status, _) = shop.order(&ada, 2500).await;
    assert_eq!(status, StatusCode::CREATED);
    let events = shop.all_events().await;
    let paid = events
        .iter()
        .find(|e| e.kind().as_str() == "payment.succeeded")
        .unwrap()
        .clone();
    let now = paid.created();
    let (body, header) = signed_request(&paid, &[shop.secret.as_str()], now);
    let url = format!("{}/webhooks", shop.base);
    let send = |body: Vec<u8>, header: Option<String>| {
        let mut request = shop
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header(EVENT_ID_HEADER, paid.id())
            .body(body);
        if let Some(h) = header {
            request = request.header(SIGNATURE_HEADER, h);
        }
        async move { read(request.send().await.unwrap()).await }
    };

    // One byte of the body changed.
    let mut tampered = body.clone();
    let at = tampered.iter().position(|&b| b == b'2').unwrap();
    tampered[at] = b'9';
    let (status, answer) = send(tampered, Some(header.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "signature_mismatch");
    // Signed by another secret.
    let (_, forged) = signed_request(&paid, &["whsec_not_the_shops"], now);
    let (status, answer) = send(body.clone(), Some(forged)).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("signature_mismatch"))
    );
    // A replay an hour later.
    let (old_body, old) = signed_request(&paid, &[shop.secret.as_str()], now - 3_600);
    let (status, answer) = send(old_body, Some(old)).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("signature_expired"))
    );
    // No signature at all.
    let (status, answer) = send(body.clone(), None).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("signature_missing"))
    );

    assert!(
        shop.books().events.is_empty(),
        "no refused delivery was handled"
    );

    // The genuine one is accepted, once; the same delivery again is a duplicate.
    let (status, answer) = send(body.clone(), Some(header.clone())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["outcome"], "stale",
        "the order route already applied this version"
    );
    let (status, answer) = send(body, Some(header)).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    assert_eq!(shop.books().events.len(), 1);
    assert_eq!(shop.books().receipts.len(), 1);
}

/// What the harness compares: the books, with the receipts as a set of orders (the order in
/// which two orders' receipts went out may differ; that each went out once is checked apart).
fn snapshot(books: &Books) -> (Books, bool) {
    let mut sorted = books.clone();
    sorted.receipts.sort();
    let once = {
        let mut r = sorted.receipts.clone();
        r.dedup();
        r.len() == sorted.receipts.len()
    };
    (sorted, once)
}

/// Delivers `event` to a fresh copy of the app through its router, signed like VINR does.
async fn deliver_to(state: &AppState, secret: &str, event: &vinr::webhooks::Event) -> Value {
    let (body, header) = signed_request(event, &[secret], event.created());
    let request = Request::post("/webhooks")
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, header)
        .body(Body::from(body))
        .unwrap();
    let response = merchant::app(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    serde_json::from_slice(&to_bytes(response.into_body(), 1 << 20).await.unwrap()).unwrap()
}

#[tokio::test]
async fn duplicated_and_reordered_deliveries_end_like_one_clean_delivery() {
    // A day of the shop: a paid order, a 3-D Secure fallback paid after the challenge, a
    // declined order.
    let shop = Running::start(Vinr::sandbox()).await;
    let ada = shop.signup("ada@example.com").await;
    shop.save_card(&ada, VISA).await;
    assert_eq!(shop.order(&ada, 2500).await.0, StatusCode::CREATED);
    let grace = shop.signup("grace@example.com").await;
    shop.save_card(&grace, THREE_DS).await;
    let (status, order) = shop.order(&grace, 1000).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let payment = PaymentId::parse(order["paymentId"].as_str().unwrap()).unwrap();
    shop.vinr
        .hosted()
        .authenticate_payment(&payment, ChallengeOutcome::Complete)
        .await
        .unwrap();
    let bob = shop.signup("bob@example.com").await;
    shop.save_card(&bob, SETUP_ONLY).await;
    assert_eq!(shop.order(&bob, 700).await.0, StatusCode::PAYMENT_REQUIRED);
    let events = shop.all_events().await;
    assert!(events.len() >= 15, "{}", events.len());

    // Each receiver is the app with fresh books: the webhooks alone must rebuild the orders.
    let vinr = shop.vinr.clone();
    let secret = shop.secret.clone();
    let fresh = || AppState::new(vinr.clone(), &secret, "http://shop.invalid");
    let checked = Harness::new(20_240_611)
        .check_async(
            &events,
            fresh,
            |state, event| {
                let secret = secret.clone();
                async move {
                    let answer = deliver_to(&state, &secret, &event).await;
                    assert_eq!(answer["received"], event.id());
                }
            },
            |state| async move { snapshot(&state.shop.books()) },
        )
        .await
        .unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(checked.rounds, 16);
    assert!(
        checked.duplicates > 0 && checked.reordered > 0,
        "{checked:?}"
    );

    // And where they end is right: one clean delivery of each event, in order.
    let clean = fresh();
    let mut outcomes = BTreeMap::<String, usize>::new();
    for event in &events {
        let answer = deliver_to(&clean, &secret, event).await;
        *outcomes
            .entry(answer["outcome"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let (books, once) = snapshot(&clean.shop.books());
    assert!(once, "every receipt once");
    let statuses: Vec<(String, OrderStatus)> = books
        .orders
        .values()
        .map(|o| (o.customer_id.clone(), o.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (ada.clone(), OrderStatus::Paid),
            (grace.clone(), OrderStatus::Paid),
            (bob.clone(), OrderStatus::Failed),
        ]
    );
    assert_eq!(books.receipts.len(), 2);
    assert_eq!(outcomes.get("applied"), Some(&events.len()), "{outcomes:?}");

    // Delivered twice in a row: handled once.
    let paid = events
        .iter()
        .rfind(|e| e.kind().as_str() == "payment.succeeded")
        .unwrap();
    let answer = deliver_to(&clean, &secret, paid).await;
    assert_eq!(answer["outcome"], "duplicate");
    assert_eq!(clean.shop.books().receipts.len(), 2);
    // An older snapshot of the same payment, arriving late: dropped.
    let late = events
        .iter()
        .find(|e| e.kind().as_str() == "payment.requires_action")
        .unwrap();
    let mut older = late.raw().clone();
    older["id"] = json!("evt_late_copy");
    let older = vinr::webhooks::Event::from_value(older).unwrap();
    assert_eq!(
        deliver_to(&clean, &secret, &older).await["outcome"],
        "stale"
    );
    assert_eq!(snapshot(&clean.shop.books()).0.orders, books.orders);
}
