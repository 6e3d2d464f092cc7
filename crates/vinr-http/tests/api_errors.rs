//! One test per error code of api.md §1, through the router (`Router::oneshot`) over a real
//! engine. (`rate_limited` comes with rate limiting; it is not served yet.)
#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;

use std::sync::Arc;

use api_support::{GatedNetwork, TestApp, assert_error, build, send};
use serde_json::json;

const INVALID: &str = "invalid_request_error";
const CARD: &str = "card_error";

#[tokio::test]
async fn parameter_missing_names_the_field() {
    let app = TestApp::new().await;
    let r = app.post("/v1/payments", json!({"currency": "eur"})).await;
    assert_error(&r, 400, INVALID, "parameter_missing", Some("amount"));
    let r = app
        .post("/v1/webhook_endpoints", json!({"url": "https://x.example"}))
        .await;
    assert_error(&r, 400, INVALID, "parameter_missing", Some("events"));
    // A payment method without the customer it belongs to (the engine's rule).
    let cust = app.customer().await;
    let pm = app.attach(&cust, "4242424242424242").await;
    let r = app
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "eur", "paymentMethodId": pm}),
        )
        .await;
    assert_error(&r, 400, INVALID, "parameter_missing", Some("customerId"));
}

#[tokio::test]
async fn parameter_invalid_names_the_field() {
    let app = TestApp::new().await;
    let r = app.post("/v1/customers", json!({"email": 5})).await;
    assert_error(&r, 400, INVALID, "parameter_invalid", Some("email"));
    let r = app
        .post("/v1/customers", json!({"address": {"country": ["FR"]}}))
        .await;
    assert_error(
        &r,
        400,
        INVALID,
        "parameter_invalid",
        Some("address.country"),
    );
    let r = app
        .post("/v1/payments", json!({"amount": "100", "currency": "eur"}))
        .await;
    assert_error(&r, 400, INVALID, "parameter_invalid", Some("amount"));
    let r = app.get("/v1/customers?limit=abc").await;
    assert_error(&r, 400, INVALID, "parameter_invalid", Some("limit"));
    let r = app.get("/v1/customers?limit=0").await;
    assert_error(&r, 400, INVALID, "parameter_invalid", Some("limit"));
    let r = app.get("/v1/payments?status=paid").await;
    assert_error(&r, 400, INVALID, "parameter_invalid", Some("status"));
    let r = app.get("/v1/events?type=customer.exploded").await;
    assert_error(&r, 400, INVALID, "parameter_invalid", Some("type"));
}

#[tokio::test]
async fn unknown_parameter_in_a_body_names_the_field() {
    let app = TestApp::new().await;
    let r = app.post("/v1/customers", json!({"emial": "a@b.co"})).await;
    assert_error(&r, 400, INVALID, "unknown_parameter", Some("emial"));
    let r = app
        .post(
            "/v1/customers",
            json!({"address": {"country": "FR", "planet": "Earth"}}),
        )
        .await;
    assert_error(
        &r,
        400,
        INVALID,
        "unknown_parameter",
        Some("address.planet"),
    );
    let cust = app.customer().await;
    let r = app
        .patch(&format!("/v1/customers/{cust}"), json!({"colour": "red"}))
        .await;
    assert_error(&r, 400, INVALID, "unknown_parameter", Some("colour"));
    // A POST that takes no parameters refuses any.
    let pay = app
        .post("/v1/payments", json!({"amount": 100, "currency": "eur"}))
        .await;
    let r = app
        .post(
            &format!("/v1/payments/{}/cancel", pay.id()),
            json!({"reason": "x"}),
        )
        .await;
    assert_error(&r, 400, INVALID, "unknown_parameter", Some("reason"));
}

#[tokio::test]
async fn unknown_parameter_in_a_query_names_it() {
    let app = TestApp::new().await;
    let r = app.get("/v1/customers?colour=red").await;
    assert_error(&r, 400, INVALID, "unknown_parameter", Some("colour"));
    let r = app.get("/v1/events?limit=2&typ=customer.created").await;
    assert_error(&r, 400, INVALID, "unknown_parameter", Some("typ"));
}

#[tokio::test]
async fn invalid_email() {
    let app = TestApp::new().await;
    let r = app
        .post("/v1/customers", json!({"email": "not-an-email"}))
        .await;
    assert_error(&r, 400, INVALID, "invalid_email", Some("email"));
}

#[tokio::test]
async fn invalid_metadata() {
    let app = TestApp::new().await;
    let many: serde_json::Map<String, serde_json::Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let r = app.post("/v1/customers", json!({"metadata": many})).await;
    assert_eq!(r.error()["code"], "invalid_metadata", "{}", r.json);
    assert_eq!(r.status, 400);
    let r = app
        .post("/v1/customers", json!({"metadata": {"k".repeat(41): "v"}}))
        .await;
    assert_eq!(r.error()["code"], "invalid_metadata", "{}", r.json);
}

#[tokio::test]
async fn invalid_url() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let r = app
        .post(
            &format!("/v1/customers/{cust}/setup"),
            json!({"returnUrl": "ftp://x.example/"}),
        )
        .await;
    assert_error(&r, 400, INVALID, "invalid_url", Some("returnUrl"));
    let r = app
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "eur", "returnUrl": "/relative"}),
        )
        .await;
    assert_error(&r, 400, INVALID, "invalid_url", Some("returnUrl"));
}

#[tokio::test]
async fn amount_invalid() {
    let app = TestApp::new().await;
    for amount in [0, -5, 100_000_000] {
        let r = app
            .post("/v1/payments", json!({"amount": amount, "currency": "eur"}))
            .await;
        assert_error(&r, 400, INVALID, "amount_invalid", Some("amount"));
    }
}

#[tokio::test]
async fn currency_invalid() {
    let app = TestApp::new().await;
    let r = app
        .post("/v1/payments", json!({"amount": 100, "currency": "xyz"}))
        .await;
    assert_error(&r, 400, INVALID, "currency_invalid", Some("currency"));
}

#[tokio::test]
async fn payment_method_required() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let r = app
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "eur", "customerId": cust, "offSession": true}),
        )
        .await;
    assert_error(&r, 400, INVALID, "payment_method_required", None);
    let list = app.get("/v1/payments").await;
    assert_eq!(list.json["data"], json!([]), "nothing was created");
}

#[tokio::test]
async fn payment_method_detached() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let pm = app.attach(&cust, "4242424242424242").await;
    let r = app
        .delete(&format!("/v1/customers/{cust}/methods/{pm}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["customerId"], json!(null));
    let r = app
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "eur", "customerId": cust, "paymentMethodId": pm}),
        )
        .await;
    assert_error(
        &r,
        400,
        INVALID,
        "payment_method_detached",
        Some("paymentMethodId"),
    );
    let r = app
        .patch(
            &format!("/v1/customers/{cust}"),
            json!({"defaultMethodId": pm}),
        )
        .await;
    assert_error(
        &r,
        400,
        INVALID,
        "payment_method_detached",
        Some("defaultMethodId"),
    );
    // Detached is checked before whose it was.
    let bob = app.customer().await;
    let r = app
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "eur", "customerId": bob, "paymentMethodId": pm}),
        )
        .await;
    assert_error(
        &r,
        400,
        INVALID,
        "payment_method_detached",
        Some("paymentMethodId"),
    );
}

#[tokio::test]
async fn payment_method_customer_mismatch() {
    let app = TestApp::new().await;
    let ada = app.customer().await;
    let bob = app.customer().await;
    let pm = app.attach(&ada, "4242424242424242").await;
    let r = app
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "eur", "customerId": bob, "paymentMethodId": pm}),
        )
        .await;
    assert_error(
        &r,
        400,
        INVALID,
        "payment_method_customer_mismatch",
        Some("paymentMethodId"),
    );
    let r = app
        .patch(
            &format!("/v1/customers/{bob}"),
            json!({"defaultMethodId": pm}),
        )
        .await;
    assert_error(
        &r,
        400,
        INVALID,
        "payment_method_customer_mismatch",
        Some("defaultMethodId"),
    );
}

#[tokio::test]
async fn payment_unexpected_state() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let pm = app.attach(&cust, "4242424242424242").await;
    let paid = app
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "eur", "customerId": cust, "paymentMethodId": pm, "offSession": true}),
        )
        .await;
    assert_eq!(paid.json["status"], "succeeded");
    let r = app
        .post(&format!("/v1/payments/{}/cancel", paid.id()), json!({}))
        .await;
    assert_error(&r, 400, INVALID, "payment_unexpected_state", None);
}

#[tokio::test]
async fn not_a_test_card() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let r = app
        .post(
            &format!("/v1/test_helpers/customers/{cust}/methods"),
            json!({"number": "4111111111111111", "expMonth": 12, "expYear": 2030}),
        )
        .await;
    assert_error(&r, 400, INVALID, "not_a_test_card", Some("number"));
}

#[tokio::test]
async fn livemode_mismatch_for_a_live_key_calling_a_test_helper() {
    let app = TestApp::new().await;
    let r = app
        .send(
            "POST",
            "/v1/customers",
            Some(&app.live_key),
            Some("{}"),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["livemode"], true);
    let cust = r.id();
    let r = app
        .send(
            "POST",
            &format!("/v1/test_helpers/customers/{cust}/methods"),
            Some(&app.live_key),
            Some(r#"{"number":"4242424242424242","expMonth":12,"expYear":2030}"#),
            &[],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(r.error()["code"], "livemode_mismatch");
    let r = app
        .send(
            "POST",
            "/v1/test_helpers/expiring_scan",
            Some(&app.live_key),
            Some(r#"{"asOf":"2026-01-01"}"#),
            &[],
        )
        .await;
    assert_eq!(r.error()["code"], "livemode_mismatch");
}

#[tokio::test]
async fn body_invalid_for_malformed_json() {
    let app = TestApp::new().await;
    for body in ["{", "{\"email\": }", "[]", "\"x\"", "{} {}", "email=a@b.co"] {
        let r = app
            .send(
                "POST",
                "/v1/customers",
                Some(&app.test_key),
                Some(body),
                &[],
            )
            .await;
        assert_error(&r, 400, INVALID, "body_invalid", None);
    }
}

#[tokio::test]
async fn an_empty_body_is_an_empty_object() {
    let app = TestApp::new().await;
    let r = app
        .send("POST", "/v1/customers", Some(&app.test_key), None, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let pay = app
        .post("/v1/payments", json!({"amount": 100, "currency": "eur"}))
        .await;
    let r = app
        .send(
            "POST",
            &format!("/v1/payments/{}/cancel", pay.id()),
            Some(&app.test_key),
            None,
            &[],
        )
        .await;
    assert_eq!(r.json["status"], "canceled", "{}", r.json);
}

#[tokio::test]
async fn body_too_large_over_64_kib() {
    let app = TestApp::new().await;
    let big = format!(r#"{{"name":"{}"}}"#, "a".repeat(64 * 1024));
    // Announced by Content-Length, and streamed without one.
    let len = big.len().to_string();
    let r = app
        .send(
            "POST",
            "/v1/customers",
            Some(&app.test_key),
            Some(&big),
            &[("content-length", &len)],
        )
        .await;
    assert_error(&r, 413, INVALID, "body_too_large", None);
    let r = app
        .send(
            "POST",
            "/v1/customers",
            Some(&app.test_key),
            Some(&big),
            &[],
        )
        .await;
    assert_error(&r, 413, INVALID, "body_too_large", None);
    // Just under the limit is read (and refused for what it says, not for its size).
    let fits = format!(r#"{{"name":"{}"}}"#, "a".repeat(64 * 1024 - 20));
    let r = app
        .send(
            "POST",
            "/v1/customers",
            Some(&app.test_key),
            Some(&fits),
            &[],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_ne!(r.error()["code"], "body_too_large");
}

#[tokio::test]
async fn api_key_missing() {
    let app = TestApp::new().await;
    let r = app.send("GET", "/v1/customers", None, None, &[]).await;
    assert_error(&r, 401, "authentication_error", "api_key_missing", None);
    // Authentication comes before the body is looked at.
    let r = app
        .send("POST", "/v1/customers", None, Some("{"), &[])
        .await;
    assert_error(&r, 401, "authentication_error", "api_key_missing", None);
}

#[tokio::test]
async fn api_key_invalid_for_unknown_revoked_or_malformed_keys() {
    let app = TestApp::new().await;
    let unknown = format!("sk_test_{}", "Z".repeat(32));
    for key in [unknown.as_str(), "sk_test_123", "pk_test_abc", "garbage"] {
        let r = app.send("GET", "/v1/customers", Some(key), None, &[]).await;
        assert_error(&r, 401, "authentication_error", "api_key_invalid", None);
        assert!(!r.json.to_string().contains(key), "the key is not echoed");
    }
    let r = app
        .send(
            "GET",
            "/v1/customers",
            None,
            None,
            &[("authorization", "Basic abc")],
        )
        .await;
    assert_error(&r, 401, "authentication_error", "api_key_invalid", None);
    // A revoked key stops working.
    let keys = vinr_ports::keys::ApiKeyStore::list_keys(app.store.as_ref())
        .await
        .unwrap();
    let hash = vinr_http::server::auth::hash_key(&app.other_test_key);
    let record = keys.iter().find(|k| k.hash == hash).unwrap();
    vinr_ports::keys::ApiKeyStore::revoke_key(app.store.as_ref(), &record.id, app.clock.now())
        .await
        .unwrap();
    let r = app
        .send("GET", "/v1/customers", Some(&app.other_test_key), None, &[])
        .await;
    assert_error(&r, 401, "authentication_error", "api_key_invalid", None);
}

/// Charges `number` off-session for a new customer.
async fn charge(app: &TestApp, number: &str, off_session: bool) -> api_support::Resp {
    let cust = app.customer().await;
    let pm = app.attach(&cust, number).await;
    app.post(
        "/v1/payments",
        json!({"amount": 2500, "currency": "eur", "customerId": cust, "paymentMethodId": pm, "offSession": off_session}),
    )
    .await
}

#[tokio::test]
async fn card_declined_with_decline_code_and_payment_id() {
    let app = TestApp::new().await;
    for (number, decline) in [
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000009987", "lost_card"),
        ("4000000000009979", "stolen_card"),
    ] {
        let r = charge(&app, number, true).await;
        assert_error(&r, 402, CARD, "card_declined", None);
        assert_eq!(r.error()["declineCode"], decline);
        let pay = r.error()["paymentId"].as_str().unwrap();
        let p = app.get(&format!("/v1/payments/{pay}")).await;
        assert_eq!(p.json["status"], "failed");
        assert_eq!(p.json["lastError"]["declineCode"], decline);
    }
}

#[tokio::test]
async fn expired_card() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let r = app
        .post(
            &format!("/v1/test_helpers/customers/{cust}/methods"),
            json!({"number": "4242424242424242", "expMonth": 12, "expYear": 2020}),
        )
        .await;
    assert_error(&r, 402, CARD, "expired_card", None);
    // The network's answer for the expired test card, during a payment.
    let r = charge(&app, "4000000000000069", true).await;
    assert_error(&r, 402, CARD, "expired_card", None);
    assert!(r.error()["paymentId"].is_string());
}

/// `incorrect_cvc` is reachable through the API too: a 0127 card attached by the helper (no
/// authorization) and charged on-session.
#[tokio::test]
async fn incorrect_cvc_on_an_on_session_charge() {
    let app = TestApp::new().await;
    let r = charge(&app, "4000000000000127", false).await;
    assert_error(&r, 402, CARD, "incorrect_cvc", None);
    assert!(r.error()["paymentId"].is_string());
    let r = charge(&app, "4000000000000127", true).await;
    assert_eq!(r.json["status"], "succeeded", "off-session checks no CVC");
}

#[tokio::test]
async fn incorrect_number() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let r = app
        .post(
            &format!("/v1/test_helpers/customers/{cust}/methods"),
            json!({"number": "4242424242424241", "expMonth": 12, "expYear": 2030}),
        )
        .await;
    assert_error(&r, 402, CARD, "incorrect_number", None);
    assert!(!r.json.to_string().contains("4242424242424241"));
}

#[tokio::test]
async fn processing_error_is_a_retryable_card_error() {
    let app = TestApp::new().await;
    let r = charge(&app, "4000000000000119", true).await;
    assert_error(&r, 402, CARD, "processing_error", None);
}

#[tokio::test]
async fn resource_missing_in_a_path() {
    let app = TestApp::new().await;
    let unknown = format!("cust_{}", "0".repeat(24));
    for path in [
        format!("/v1/customers/{unknown}"),
        "/v1/customers/cust_malformed".to_owned(),
        "/v1/customers/4242424242424242".to_owned(),
        format!("/v1/customers/pm_{}", "0".repeat(24)),
        format!("/v1/payments/pay_{}", "0".repeat(24)),
        format!("/v1/setups/seti_{}", "0".repeat(24)),
        format!("/v1/events/evt_{}", "0".repeat(24)),
        format!("/v1/customers/{unknown}/methods"),
    ] {
        let r = app.get(&path).await;
        assert_error(&r, 404, INVALID, "resource_missing", None);
        assert!(!r.json.to_string().contains("4242424242424242"));
    }
    let r = app
        .delete(&format!("/v1/webhook_endpoints/we_{}", "0".repeat(24)))
        .await;
    assert_error(&r, 404, INVALID, "resource_missing", None);
    // A second detach.
    let cust = app.customer().await;
    let pm = app.attach(&cust, "4242424242424242").await;
    assert_eq!(
        app.delete(&format!("/v1/customers/{cust}/methods/{pm}"))
            .await
            .status,
        200
    );
    let r = app
        .delete(&format!("/v1/customers/{cust}/methods/{pm}"))
        .await;
    assert_error(&r, 404, INVALID, "resource_missing", None);
    // A deleted customer.
    assert_eq!(
        app.delete(&format!("/v1/customers/{cust}")).await.status,
        200
    );
    let r = app.get(&format!("/v1/customers/{cust}")).await;
    assert_error(&r, 404, INVALID, "resource_missing", None);
}

#[tokio::test]
async fn resource_missing_for_an_id_in_a_body_or_query_names_the_param() {
    let app = TestApp::new().await;
    let unknown = format!("cust_{}", "0".repeat(24));
    for customer in [
        unknown.as_str(),
        "cust_nope",
        "pay_000000000000000000000000",
    ] {
        let r = app
            .post(
                "/v1/payments",
                json!({"amount": 100, "currency": "eur", "customerId": customer}),
            )
            .await;
        assert_error(&r, 404, INVALID, "resource_missing", Some("customerId"));
    }
    let cust = app.customer().await;
    let r = app
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "eur", "customerId": cust, "paymentMethodId": format!("pm_{}", "0".repeat(24))}),
        )
        .await;
    assert_error(
        &r,
        404,
        INVALID,
        "resource_missing",
        Some("paymentMethodId"),
    );
    let r = app
        .patch(
            &format!("/v1/customers/{cust}"),
            json!({"defaultMethodId": format!("pm_{}", "0".repeat(24))}),
        )
        .await;
    assert_error(
        &r,
        404,
        INVALID,
        "resource_missing",
        Some("defaultMethodId"),
    );
    let r = app
        .get(&format!("/v1/customers?startingAfter={unknown}"))
        .await;
    assert_error(&r, 404, INVALID, "resource_missing", Some("startingAfter"));
    let r = app.get("/v1/payments?customerId=cust_x").await;
    assert_error(&r, 404, INVALID, "resource_missing", Some("customerId"));
}

#[tokio::test]
async fn resource_missing_for_the_other_modes_objects() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let pay = app
        .post("/v1/payments", json!({"amount": 100, "currency": "eur"}))
        .await
        .id();
    let live = |path: String| {
        let app = app.clone();
        async move { app.send("GET", &path, Some(&app.live_key), None, &[]).await }
    };
    let r = live(format!("/v1/customers/{cust}")).await;
    assert_error(&r, 404, INVALID, "resource_missing", None);
    let r = live(format!("/v1/payments/{pay}")).await;
    assert_error(&r, 404, INVALID, "resource_missing", None);
    let r = app
        .send(
            "POST",
            "/v1/payments",
            Some(&app.live_key),
            Some(&json!({"amount": 100, "currency": "eur", "customerId": cust}).to_string()),
            &[],
        )
        .await;
    assert_error(&r, 404, INVALID, "resource_missing", Some("customerId"));
    let r = live("/v1/customers".to_owned()).await;
    assert_eq!(r.json["data"], json!([]));
}

#[tokio::test]
async fn idempotency_key_in_use_while_a_charge_is_in_flight() {
    let gate = Arc::new(GatedNetwork::new());
    let app = TestApp::with_network(gate.clone()).await;
    let cust = app.customer().await;
    let pm = app.attach(&cust, "4242424242424242").await;
    let body = json!({"amount": 2500, "currency": "eur", "customerId": cust, "paymentMethodId": pm, "offSession": true});
    let first = {
        let request = build(
            "POST",
            "/v1/payments",
            Some(&app.test_key),
            Some(&body.to_string()),
            &[("idempotency-key", "order-1")],
        );
        let router = app.router.clone();
        tokio::spawn(async move { send(&router, request).await })
    };
    gate.entered.notified().await;
    let r = app.post_idem("/v1/payments", body.clone(), "order-1").await;
    assert_error(&r, 409, "idempotency_error", "idempotency_key_in_use", None);
    // In flight wins over a different request.
    let mut other = body.clone();
    other["amount"] = json!(1);
    let r = app.post_idem("/v1/payments", other, "order-1").await;
    assert_error(&r, 409, "idempotency_error", "idempotency_key_in_use", None);
    gate.release.notify_one();
    let first = first.await.unwrap();
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(first.json["status"], "succeeded");
    assert!(!first.replayed());
    let again = app.post_idem("/v1/payments", body, "order-1").await;
    assert!(again.replayed());
    assert_eq!(again.bytes, first.bytes);
    assert_eq!(gate.inner.approved_charges(), 1);
}

#[tokio::test]
async fn idempotency_key_reused_for_a_different_request() {
    let app = TestApp::new().await;
    let r = app
        .post_idem("/v1/customers", json!({"name": "Ada"}), "k-1")
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .post_idem("/v1/customers", json!({"name": "Bob"}), "k-1")
        .await;
    assert_error(&r, 422, "idempotency_error", "idempotency_key_reused", None);
    // Another operation under the same key is a different request too.
    let r = app
        .post_idem(
            "/v1/payments",
            json!({"amount": 100, "currency": "eur"}),
            "k-1",
        )
        .await;
    assert_error(&r, 422, "idempotency_error", "idempotency_key_reused", None);
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_a_parameter_error() {
    let app = TestApp::new().await;
    let long = "k".repeat(256);
    let r = app.post_idem("/v1/customers", json!({}), &long).await;
    assert_error(
        &r,
        400,
        INVALID,
        "parameter_invalid",
        Some("Idempotency-Key"),
    );
    let r = app.post_idem("/v1/customers", json!({}), "").await;
    assert_error(
        &r,
        400,
        INVALID,
        "parameter_invalid",
        Some("Idempotency-Key"),
    );
    let r = app
        .post_idem("/v1/customers", json!({}), &"k".repeat(255))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_replay_is_byte_for_byte_the_first_answer_and_says_so() {
    let app = TestApp::new().await;
    let body = json!({"email": "ada@example.com", "metadata": {"b": "2", "a": "1"}, "address": {"country": "fr", "city": "Paris"}});
    let first = app.post_idem("/v1/customers", body, "signup-1").await;
    assert_eq!(first.status, 200);
    assert!(!first.replayed());
    // The same request with its keys in another order and other white space.
    let reordered = r#"{ "address": {"city":"Paris","country":"fr"},
        "metadata": {"a":"1","b":"2"}, "email": "ada@example.com" }"#;
    let again = app
        .send(
            "POST",
            "/v1/customers",
            Some(&app.test_key),
            Some(reordered),
            &[("idempotency-key", "signup-1")],
        )
        .await;
    assert_eq!(again.status, first.status);
    assert_eq!(again.bytes, first.bytes);
    assert!(again.replayed());
    assert_eq!(
        app.get("/v1/customers").await.json["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
