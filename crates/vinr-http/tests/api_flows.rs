//! The API's shapes and flows over the router: objects, lists, modes, replays.
#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;

use api_support::TestApp;
use serde_json::{Value, json};

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn an_empty_list_has_the_contract_shape() {
    let app = TestApp::new().await;
    for path in [
        "/v1/customers",
        "/v1/payments",
        "/v1/events",
        "/v1/webhook_endpoints",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            std::str::from_utf8(&r.bytes).unwrap(),
            r#"{"object":"list","data":[],"hasMore":false}"#,
            "{path}"
        );
    }
}

#[tokio::test]
async fn objects_are_camel_case_with_integer_timestamps() {
    let app = TestApp::new().await;
    let c = app
        .post(
            "/v1/customers",
            json!({"email": "Ada@Example.com", "name": "Ada", "address": {"country": "fr", "postalCode": "75001"}}),
        )
        .await;
    assert_eq!(c.status, 200);
    assert_eq!(
        keys(&c.json),
        [
            "address",
            "created",
            "defaultMethodId",
            "email",
            "id",
            "livemode",
            "metadata",
            "name",
            "object",
            "phone",
            "version"
        ]
    );
    assert_eq!(c.json["object"], "customer");
    assert!(c.json["created"].is_i64());
    assert_eq!(c.json["livemode"], false);
    assert_eq!(c.json["version"], 1);
    assert_eq!(c.json["address"]["postalCode"], "75001");
    assert_eq!(c.json["address"]["country"], "FR");
    let cust = c.id();
    let pm = app.attach(&cust, "5555555555554444").await;
    let m = app.get(&format!("/v1/customers/{cust}/methods/{pm}")).await;
    assert_eq!(m.json["object"], "payment_method");
    assert_eq!(m.json["brand"], "mastercard");
    assert_eq!(m.json["last4"], "4444");
    assert_eq!(
        (m.json["expMonth"].as_i64(), m.json["expYear"].as_i64()),
        (Some(12), Some(2030))
    );
    assert!(m.json["created"].is_i64());
    assert!(!m.bytes.windows(16).any(|w| w == b"5555555555554444"));
    let s = app
        .post(
            &format!("/v1/customers/{cust}/setup"),
            json!({"returnUrl": "https://shop.example/done?x=1"}),
        )
        .await;
    assert_eq!(s.json["status"], "requires_payment_method");
    assert_eq!(
        s.json["checkoutUrl"],
        format!("http://127.0.0.1:4242/hosted/setup/{}", s.id())
    );
    assert!(s.json["expiresAt"].is_i64());
    let same = app.get(&format!("/v1/setups/{}", s.id())).await;
    assert_eq!(same.json, s.json);
}

#[tokio::test]
async fn customers_update_list_by_email_and_delete() {
    let app = TestApp::new().await;
    let ada = app
        .post(
            "/v1/customers",
            json!({"email": "ada@example.com", "metadata": {"a": "1", "b": "2"}}),
        )
        .await
        .id();
    app.post("/v1/customers", json!({"email": "bob@example.com"}))
        .await;
    let r = app.get("/v1/customers?email=ADA%40example.com").await;
    assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["data"][0]["id"], ada);
    let pm = app.attach(&ada, "4242424242424242").await;
    let r = app
        .patch(
            &format!("/v1/customers/{ada}"),
            json!({"name": "Ada L.", "metadata": {"a": "", "c": "3"}, "defaultMethodId": pm}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["metadata"], json!({"b": "2", "c": "3"}));
    assert_eq!(r.json["defaultMethodId"], pm);
    assert_eq!(r.json["version"], 2);
    let r = app
        .patch(
            &format!("/v1/customers/{ada}"),
            json!({"defaultMethodId": null, "name": null}),
        )
        .await;
    assert_eq!(r.json["defaultMethodId"], Value::Null);
    assert_eq!(r.json["name"], Value::Null);
    let r = app.delete(&format!("/v1/customers/{ada}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        std::str::from_utf8(&r.bytes).unwrap(),
        format!(r#"{{"id":"{ada}","object":"customer","deleted":true}}"#)
    );
    let events = app.get("/v1/events?limit=3").await;
    let types: Vec<&str> = events.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "customer.deleted",
            "payment_method.detached",
            "customer.updated"
        ]
    );
}

#[tokio::test]
async fn lists_page_newest_first() {
    let app = TestApp::new().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.customer().await);
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let page = app.get("/v1/customers?limit=2").await;
    assert_eq!(page.json["hasMore"], true);
    let got: Vec<&str> = page.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
    let rest = app
        .get(&format!("/v1/customers?limit=2&startingAfter={}", ids[1]))
        .await;
    assert_eq!(rest.json["hasMore"], false);
    assert_eq!(rest.json["data"][0]["id"], ids[0]);
}

#[tokio::test]
async fn payment_outcomes_and_their_statuses() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let sca = app.attach(&cust, "4000000000003220").await;
    // 3-D Secure needed off-session: 200 with requires_action.
    let r = app
        .post(
            "/v1/payments",
            json!({"amount": 1000, "currency": "usd", "customerId": cust, "paymentMethodId": sca, "offSession": true}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "requires_action");
    assert_eq!(r.json["lastError"]["code"], "authentication_required");
    assert_eq!(r.json["nextAction"]["type"], "redirect");
    assert_eq!(
        r.json["nextAction"]["url"],
        format!("http://127.0.0.1:4242/hosted/authenticate/{}", r.id())
    );
    let cancel = app
        .post(&format!("/v1/payments/{}/cancel", r.id()), json!({}))
        .await;
    assert_eq!(cancel.json["status"], "canceled");
    // No method, on-session: waits for a card on the hosted page.
    let r = app
        .post(
            "/v1/payments",
            json!({"amount": 1000, "currency": "jpy", "customerId": cust, "savePaymentMethod": true}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "requires_payment_method");
    assert_eq!(r.json["currency"], "JPY");
    assert_eq!(
        r.json["checkoutUrl"],
        format!("http://127.0.0.1:4242/hosted/pay/{}", r.id())
    );
    let history = app.get(&format!("/v1/payments?customerId={cust}")).await;
    assert_eq!(history.json["data"].as_array().unwrap().len(), 2);
    let waiting = app
        .get(&format!(
            "/v1/payments?customerId={cust}&status=requires_payment_method"
        ))
        .await;
    assert_eq!(waiting.json["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn webhook_endpoints_show_their_secret_only_when_created_or_rotated() {
    let app = TestApp::new().await;
    let we = app
        .post(
            "/v1/webhook_endpoints",
            json!({"url": "http://127.0.0.1:9/hooks", "events": ["payment.succeeded"]}),
        )
        .await;
    assert_eq!(we.status, 200, "{}", we.json);
    assert_eq!(we.json["object"], "webhook_endpoint");
    assert_eq!(we.json["status"], "enabled");
    let secret = we.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let list = app.get("/v1/webhook_endpoints").await;
    assert!(list.json["data"][0].get("secret").is_none());
    assert!(
        !list
            .bytes
            .windows(secret.len())
            .any(|w| w == secret.as_bytes())
    );
    let rotated = app
        .post(
            &format!("/v1/webhook_endpoints/{}/rotate_secret", we.id()),
            json!({}),
        )
        .await;
    let new = rotated.json["secret"].as_str().unwrap();
    assert_ne!(new, secret);
    let deleted = app
        .delete(&format!("/v1/webhook_endpoints/{}", we.id()))
        .await;
    assert_eq!(
        deleted.json,
        json!({"id": we.id(), "object": "webhook_endpoint", "deleted": true})
    );
}

#[tokio::test]
async fn sandbox_helpers_update_and_scan() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let pm = app.attach(&cust, "4242424242424242").await;
    let r = app
        .post(
            &format!("/v1/test_helpers/payment_methods/{pm}/network_update"),
            json!({"expMonth": 2, "expYear": 2026, "last4": "1881"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        (r.json["id"].as_str(), r.json["last4"].as_str()),
        (Some(pm.as_str()), Some("1881"))
    );
    let r = app
        .post(
            "/v1/test_helpers/expiring_scan",
            json!({"asOf": "2026-02-10"}),
        )
        .await;
    assert_eq!(r.json, json!({"emitted": 1}));
    let r = app
        .post(
            "/v1/test_helpers/expiring_scan",
            json!({"asOf": "2026-02-11"}),
        )
        .await;
    assert_eq!(r.json, json!({"emitted": 0}), "never twice for one expiry");
    let event = app.get("/v1/events?type=payment_method.expiring").await;
    let id = event.json["data"][0]["id"].as_str().unwrap();
    let one = app.get(&format!("/v1/events/{id}")).await;
    assert_eq!(one.json["data"]["object"]["id"], pm);
}

#[tokio::test]
async fn a_declined_charge_is_replayed_without_charging_again() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let pm = app.attach(&cust, "4000000000000002").await;
    let body = json!({"amount": 700, "currency": "eur", "customerId": cust, "paymentMethodId": pm, "offSession": true});
    let first = app
        .post_idem("/v1/payments", body.clone(), "charge-9")
        .await;
    assert_eq!(first.status, 402);
    assert!(!first.replayed());
    let again = app.post_idem("/v1/payments", body, "charge-9").await;
    assert_eq!(again.status, 402);
    assert!(again.replayed());
    assert_eq!(again.bytes, first.bytes);
    let payments = app.get("/v1/payments").await;
    assert_eq!(payments.json["data"].as_array().unwrap().len(), 1);
    let failed = app.get("/v1/events?type=payment.failed").await;
    assert_eq!(
        failed.json["data"].as_array().unwrap().len(),
        1,
        "nothing emitted twice"
    );
}

#[tokio::test]
async fn a_succeeded_charge_is_replayed_byte_for_byte() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    let pm = app.attach(&cust, "4242424242424242").await;
    let body = json!({"amount": 700, "currency": "eur", "customerId": cust, "paymentMethodId": pm, "offSession": true, "metadata": {"z": "1", "a": "2"}});
    let first = app
        .post_idem("/v1/payments", body.clone(), "charge-1")
        .await;
    assert_eq!(first.status, 200);
    let again = app.post_idem("/v1/payments", body, "charge-1").await;
    assert!(again.replayed());
    assert_eq!((again.status, &again.bytes), (first.status, &first.bytes));
    let cancel_1 = app
        .post_idem(
            &format!("/v1/payments/{}/cancel", first.id()),
            json!({}),
            "cancel-1",
        )
        .await;
    assert_eq!(cancel_1.status, 400);
    let cancel_2 = app
        .post_idem(
            &format!("/v1/payments/{}/cancel", first.id()),
            json!({}),
            "cancel-1",
        )
        .await;
    assert!(!cancel_2.replayed(), "a refused request is not stored");
}

#[tokio::test]
async fn a_refused_request_is_not_stored_so_a_corrected_retry_goes_through() {
    let app = TestApp::new().await;
    let r = app
        .post_idem("/v1/customers", json!({"email": "nope"}), "signup-2")
        .await;
    assert_eq!(r.error()["code"], "invalid_email");
    let r = app
        .post_idem(
            "/v1/customers",
            json!({"email": "ada@example.com"}),
            "signup-2",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(!r.replayed());
    let r = app
        .post_idem("/v1/customers", json!({"emial": "x"}), "signup-2")
        .await;
    assert_eq!(r.error()["code"], "unknown_parameter");
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_api_key() {
    let app = TestApp::new().await;
    let a = app
        .post_idem("/v1/customers", json!({"name": "A"}), "shared")
        .await;
    let b = app
        .send(
            "POST",
            "/v1/customers",
            Some(&app.other_test_key),
            Some(r#"{"name":"B"}"#),
            &[("idempotency-key", "shared")],
        )
        .await;
    assert_eq!(b.status, 200);
    assert!(!b.replayed());
    assert_ne!(a.id(), b.id());
}

#[tokio::test]
async fn unknown_urls_and_methods_answer_json() {
    let app = TestApp::new().await;
    let r = app.get("/v1/nothing-here").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["code"], "resource_missing");
    let r = app
        .send("PUT", "/v1/customers", Some(&app.test_key), Some("{}"), &[])
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.error()["code"], "method_not_allowed");
}
