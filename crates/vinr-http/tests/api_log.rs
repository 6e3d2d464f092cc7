//! The request log of a full run: one line per request, and no card number, CVC, secret key
//! or webhook secret anywhere in it.
//!
//! Alone in its test binary: `tracing`'s per-callsite interest is process-wide, so a scoped
//! subscriber shares its callsites with no concurrently running test.
#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use api_support::TestApp;
use serde_json::json;

/// A `MakeWriter` that keeps everything written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn the_log_has_one_line_per_request_and_no_card_number_or_secret() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = TestApp::new().await;
    let number = "4000000000009995";
    let cust = app.customer().await;
    let pm = app.attach(&cust, number).await;
    let declined = app
        .post_idem(
            "/v1/payments",
            json!({"amount": 100, "currency": "eur", "customerId": cust, "paymentMethodId": pm, "offSession": true}),
            "log-order-1",
        )
        .await;
    assert_eq!(declined.status, 402);
    let visa = "4242424242424242";
    app.attach(&cust, visa).await;
    // Card numbers where they do not belong: a field name, a path, a query.
    app.post("/v1/customers", json!({ visa: "x" })).await;
    app.get(&format!("/v1/customers/{visa}")).await;
    app.get(&format!("/v1/customers?email={visa}")).await;
    let we = app
        .post(
            "/v1/webhook_endpoints",
            json!({"url": "https://shop.example/h", "events": ["*"]}),
        )
        .await;
    let webhook_secret = we.json["secret"].as_str().unwrap().to_owned();
    app.send(
        "GET",
        "/v1/customers",
        Some("sk_test_wrongwrongwrongwrongwrongwrong12"),
        None,
        &[],
    )
    .await;
    app.send("GET", "/healthz", None, None, &[]).await;
    let requests = 10;

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("vinr_http::request"))
        .collect();
    assert_eq!(lines.len(), requests, "LOG:\n{log}");
    for line in &lines {
        for field in [
            "method=",
            "path=",
            "route=",
            "status=",
            "latency_ms=",
            "request_id=",
        ] {
            assert!(line.contains(field), "{field} in {line}");
        }
    }
    assert!(lines.iter().any(|l| l.contains("status=402")
        && l.contains("error=\"card_declined\"")
        || l.contains("status=402") && l.contains("error=card_declined")));
    for secret in [
        number,
        visa,
        "4242 4242",
        &app.test_key,
        &app.live_key,
        "sk_test_",
        "sk_live_",
        "wrongwrong",
        &webhook_secret,
        "whsec_",
        "log-order-1",
        "Bearer",
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
}
