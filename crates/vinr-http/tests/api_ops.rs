//! Operability: health, readiness, metrics, request ids, the request log, and `serve` over a
//! real socket.
#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;

use std::sync::Arc;

use api_support::TestApp;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_http::server::{AppState, ServerConfig, router, serve};
use vinr_ports::store::{MockStore, StoreError};
use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::AesVault;

#[tokio::test]
async fn healthz_and_readyz_answer_without_a_key() {
    let app = TestApp::new().await;
    let r = app.send("GET", "/healthz", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"status": "ok"}));
    let r = app.send("GET", "/readyz", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"status": "ready"}));
}

#[tokio::test]
async fn readyz_is_503_when_the_database_does_not_answer() {
    let mut store = MockStore::new();
    store
        .expect_customer()
        .returning(|_, _| Err(StoreError::Unavailable("connection refused".into())));
    let engine = Engine::new(
        Ports {
            store: Arc::new(store),
            vault: Arc::new(AesVault::random()),
            network: Arc::new(SandboxNetwork::new()),
            clock: Arc::new(ManualClock::default()),
            ids: Arc::new(SequentialIds::new(1)),
        },
        EngineConfig::default(),
    );
    let state = AppState::new(
        engine,
        Arc::new(MemoryStore::new()),
        ServerConfig {
            public_url: "http://127.0.0.1:4242".into(),
            csrf_key: [1; 32],
            rate_limit: None,
        },
    );
    let r = api_support::send(
        &router(state),
        api_support::build("GET", "/readyz", None, None, &[]),
    )
    .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.error()["type"], "api_error");
    assert_eq!(r.error()["code"], "service_unavailable");
    assert!(!r.json.to_string().contains("connection refused"));
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = TestApp::new().await;
    let cust = app.customer().await;
    app.get(&format!("/v1/customers/{cust}")).await;
    app.get(&format!("/v1/customers/{cust}")).await;
    app.get("/v1/customers/cust_nope").await;
    app.get("/v1/nowhere").await;
    let r = app.send("GET", "/metrics", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = std::str::from_utf8(&r.bytes).unwrap();
    assert!(text.contains("# TYPE vinr_http_requests_total counter"));
    assert!(text.contains("# TYPE vinr_http_request_duration_seconds histogram"));
    assert!(text.contains(
        "vinr_http_requests_total{route=\"/v1/customers/{id}\",method=\"GET\",status=\"200\"} 2\n"
    ));
    assert!(text.contains(
        "vinr_http_requests_total{route=\"/v1/customers/{id}\",method=\"GET\",status=\"404\"} 1\n"
    ));
    assert!(text.contains(
        "vinr_http_requests_total{route=\"/v1/customers\",method=\"POST\",status=\"200\"} 1\n"
    ));
    assert!(text.contains(
        "vinr_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"
    ));
    assert!(!text.contains(&cust), "raw paths never become labels");
    assert!(text.contains(
        "vinr_http_request_duration_seconds_count{route=\"/v1/customers/{id}\",method=\"GET\"} 3\n"
    ));
    assert!(text.contains(
        "vinr_http_request_duration_seconds_bucket{route=\"/v1/customers/{id}\",method=\"GET\",le=\"+Inf\"} 3\n"
    ));
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = TestApp::new().await;
    let r = app.get("/v1/customers").await;
    let id = r.headers["x-request-id"].to_str().unwrap();
    assert!(id.starts_with("req_") && id.len() == 28, "{id}");
    let r = app
        .send(
            "GET",
            "/healthz",
            None,
            None,
            &[("x-request-id", "lb-7f3a.9")],
        )
        .await;
    assert_eq!(r.headers["x-request-id"], "lb-7f3a.9");
    let r = app
        .send(
            "GET",
            "/healthz",
            None,
            None,
            &[("x-request-id", "<b>hi</b>")],
        )
        .await;
    assert!(
        r.headers["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let r = app.send("GET", "/v1/customers", None, None, &[]).await;
    assert!(r.headers.contains_key("x-request-id"), "errors too");
}

#[tokio::test]
async fn serve_answers_over_a_socket_and_shuts_down_gracefully() {
    let app = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app.router.clone(), async move {
        let _ = stopped.await;
    }));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /v1/customers HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        app.test_key
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("x-request-id: req_"),
        "{answer}"
    );
    assert!(
        answer.ends_with(r#"{"object":"list","data":[],"hasMore":false}"#),
        "{answer}"
    );
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}
