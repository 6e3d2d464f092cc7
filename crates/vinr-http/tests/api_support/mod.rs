//! What the `api_*` tests share: a router over a real engine (memory store, AES vault, sandbox
//! network, manual clock, sequential ids), keys of both modes, and small request helpers.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::DateTime;
use serde_json::Value;
use tokio::sync::Notify;
use tower::ServiceExt;
use vinr_domain::ids::AttemptId;
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_http::server::auth::new_key;
use vinr_http::server::{AppState, ServerConfig, router};
use vinr_ports::Mode;
use vinr_ports::keys::ApiKeyStore;
use vinr_ports::network::{AuthorizationRequest, CardNetwork, NetworkAnswer, NetworkError};
use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::AesVault;

/// A server over a fresh engine, with a test key, a second test key and a live key.
#[derive(Clone)]
pub struct TestApp {
    pub router: Router,
    pub engine: Engine,
    pub store: Arc<MemoryStore>,
    pub clock: ManualClock,
    pub test_key: String,
    pub other_test_key: String,
    pub live_key: String,
}

/// An answer: status, headers, raw body and the body as JSON (`Null` if it is not JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Bytes,
    pub json: Value,
}

impl Resp {
    /// The `error` object of an error answer.
    pub fn error(&self) -> &Value {
        &self.json["error"]
    }

    /// Whether the answer says it replayed.
    pub fn replayed(&self) -> bool {
        self.headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
    }

    /// The `id` of the object answered.
    pub fn id(&self) -> String {
        self.json["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.json))
            .to_owned()
    }
}

/// Asserts an error answer's status, type, code and param.
#[track_caller]
pub fn assert_error(resp: &Resp, status: u16, kind: &str, code: &str, param: Option<&str>) {
    assert_eq!(resp.status.as_u16(), status, "{}", resp.json);
    assert_eq!(resp.error()["type"], kind, "{}", resp.json);
    assert_eq!(resp.error()["code"], code, "{}", resp.json);
    assert_eq!(resp.error()["param"].as_str(), param, "{}", resp.json);
    assert!(
        resp.error()["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(resp.headers["content-type"], "application/json");
}

impl TestApp {
    /// A server over the sandbox network.
    pub async fn new() -> Self {
        Self::with_network(Arc::new(SandboxNetwork::new())).await
    }

    /// A server over this card network.
    pub async fn with_network(network: Arc<dyn CardNetwork>) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::default();
        let engine = Engine::new(
            Ports {
                store: store.clone(),
                vault: Arc::new(AesVault::random()),
                network,
                clock: Arc::new(clock.clone()),
                ids: Arc::new(SequentialIds::new(42)),
            },
            EngineConfig::default(),
        );
        let mut keys = Vec::new();
        for (i, mode) in [Mode::Test, Mode::Test, Mode::Live].into_iter().enumerate() {
            let n = u8::try_from(i).unwrap();
            let (secret, record) =
                new_key(mode, &[n + 1; 24], &[n + 100; 32], DateTime::UNIX_EPOCH);
            store.insert_key(record).await.unwrap();
            keys.push(secret);
        }
        let state = AppState::new(
            engine.clone(),
            store.clone(),
            ServerConfig {
                public_url: "http://127.0.0.1:4242".into(),
                csrf_key: [9; 32],
                rate_limit: None,
            },
        );
        TestApp {
            router: router(state),
            engine,
            store,
            clock,
            live_key: keys.pop().unwrap(),
            other_test_key: keys.pop().unwrap(),
            test_key: keys.pop().unwrap(),
        }
    }

    /// Sends a request as built.
    pub async fn request(&self, request: Request<Body>) -> Resp {
        send(&self.router, request).await
    }

    /// Sends `method path` with `key` (if any), a raw `body` (if any) and extra headers.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Resp {
        self.request(build(method, path, key, body, headers)).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, Some(&self.test_key), None, &[])
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(
            "POST",
            path,
            Some(&self.test_key),
            Some(&body.to_string()),
            &[],
        )
        .await
    }

    pub async fn post_idem(&self, path: &str, body: Value, idempotency_key: &str) -> Resp {
        self.send(
            "POST",
            path,
            Some(&self.test_key),
            Some(&body.to_string()),
            &[("idempotency-key", idempotency_key)],
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(
            "PATCH",
            path,
            Some(&self.test_key),
            Some(&body.to_string()),
            &[],
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, Some(&self.test_key), None, &[])
            .await
    }

    /// A new customer's id.
    pub async fn customer(&self) -> String {
        let r = self.post("/v1/customers", serde_json::json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.id()
    }

    /// Attaches a test card (expiry 12/2030) to a customer; the method's id.
    pub async fn attach(&self, customer: &str, number: &str) -> String {
        let r = self
            .post(
                &format!("/v1/test_helpers/customers/{customer}/methods"),
                serde_json::json!({"number": number, "expMonth": 12, "expYear": 2030}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.id()
    }
}

/// Builds a request.
pub fn build(
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        b = b.header("authorization", format!("Bearer {k}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    b.body(body.map_or_else(Body::empty, |s| Body::from(s.to_owned())))
        .unwrap()
}

/// Sends a request through a router.
pub async fn send(router: &Router, request: Request<Body>) -> Resp {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        bytes,
        json,
    }
}

/// A sandbox network whose authorizations wait until the test lets them through, so a charge
/// can be held in flight.
pub struct GatedNetwork {
    pub inner: SandboxNetwork,
    /// Notified when an authorization arrives.
    pub entered: Notify,
    /// Notify to let one authorization through.
    pub release: Notify,
}

impl GatedNetwork {
    pub fn new() -> Self {
        Self {
            inner: SandboxNetwork::new(),
            entered: Notify::new(),
            release: Notify::new(),
        }
    }
}

#[async_trait]
impl CardNetwork for GatedNetwork {
    async fn authorize(
        &self,
        request: AuthorizationRequest,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.entered.notify_one();
        self.release.notified().await;
        self.inner.authorize(request).await
    }

    async fn complete_challenge(
        &self,
        attempt: &AttemptId,
        passed: bool,
    ) -> Result<NetworkAnswer, NetworkError> {
        self.inner.complete_challenge(attempt, passed).await
    }

    async fn attempt_result(
        &self,
        attempt: &AttemptId,
    ) -> Result<Option<NetworkAnswer>, NetworkError> {
        self.inner.attempt_result(attempt).await
    }
}
