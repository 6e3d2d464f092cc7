//! A fresh, reproducible server for each input: memory store, fixed vault and CSRF keys,
//! sandbox network, manual clock, sequential ids, and the objects a request can name.

use std::cell::RefCell;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::DateTime;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use vinr_domain::ids::SetupId;
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_http::server::auth::new_key;
use vinr_http::server::{AppState, ServerConfig, router};
use vinr_ports::Mode;
use vinr_ports::api::HostedApi as _;
use vinr_ports::keys::ApiKeyStore as _;
use vinr_ports::params::CardEntry;
use vinr_sandbox::{ManualClock, SandboxNetwork, SequentialIds};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::{AesVault, VaultKey};

/// The public URL the server believes it has.
pub(crate) const PUBLIC_URL: &str = "http://127.0.0.1:4242";

/// A return URL of the merchant.
const RETURN_URL: &str = "https://shop.example/return?order=7";

/// Whether `VINR_FUZZ_TRACE` is set: the HTTP targets then print each request they fuzz and
/// its answer to stderr (to see what a corpus file does).
pub(crate) fn tracing() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("VINR_FUZZ_TRACE").is_some())
}

/// Prints `what` and the answer when [`tracing`].
pub(crate) fn trace(what: &str, answer: &Answer) {
    if tracing() {
        let body = String::from_utf8_lossy(&answer.body);
        let end = body.char_indices().nth(300).map_or(body.len(), |(i, _)| i);
        eprintln!("{what} -> {} {}", answer.status, &body[..end]);
    }
}

/// Runs `future` to completion on this thread's runtime.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
    }
    RUNTIME.with(|cell| {
        let mut slot = cell.borrow_mut();
        let runtime = match slot.as_ref() {
            Some(runtime) => runtime,
            None => match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => slot.insert(runtime),
                Err(e) => panic!("cannot start the fuzz runtime: {e}"),
            },
        };
        runtime.block_on(future)
    })
}

/// An answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `id` of the object answered; panics (a broken fixture) when there is none.
    fn id(&self, what: &str) -> String {
        match self.json()["id"].as_str() {
            Some(id) if self.status == StatusCode::OK => id.to_owned(),
            _ => panic!(
                "fixture {what} failed: {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            ),
        }
    }
}

/// The ids of the objects every fresh server holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    /// A customer with two methods, `method` (4242, its default) and `method_3ds` (3220).
    pub(crate) customer: String,
    /// A 4242 method.
    pub(crate) method: String,
    /// A 3220 method (a challenge every time).
    pub(crate) method_3ds: String,
    /// A setup waiting for a card.
    pub(crate) setup: String,
    /// A setup waiting for its challenge.
    pub(crate) setup_action: String,
    /// A succeeded payment.
    pub(crate) payment: String,
    /// An on-session payment waiting for a card (`/hosted/pay`).
    pub(crate) payment_open: String,
    /// A payment waiting for its challenge.
    pub(crate) payment_action: String,
    /// A webhook endpoint.
    pub(crate) webhook_endpoint: String,
    /// The newest event.
    pub(crate) event: String,
}

/// A server with its keys and objects.
pub(crate) struct App {
    router: Router,
    /// A `sk_test_` key.
    pub(crate) test_key: String,
    /// A `sk_live_` key.
    pub(crate) live_key: String,
    /// The objects.
    pub(crate) ids: Ids,
}

impl App {
    /// A fresh server: same keys, same ids, same objects every time.
    pub(crate) async fn new() -> App {
        let store = Arc::new(MemoryStore::new());
        let engine = Engine::new(
            Ports {
                store: store.clone(),
                vault: Arc::new(AesVault::new(VaultKey::new("fuzz", [7; 32]), [8; 32])),
                network: Arc::new(SandboxNetwork::new()),
                clock: Arc::new(ManualClock::default()),
                ids: Arc::new(SequentialIds::new(7)),
            },
            EngineConfig::default(),
        );
        let mut keys = Vec::new();
        for (n, mode) in [(1u8, Mode::Test), (2, Mode::Live)] {
            let (secret, record) = new_key(mode, &[n; 24], &[n + 100; 32], DateTime::UNIX_EPOCH);
            if let Err(e) = store.insert_key(record).await {
                panic!("cannot store the fuzz API key: {e}");
            }
            keys.push(secret);
        }
        let state = AppState::new(
            engine.clone(),
            store,
            ServerConfig {
                public_url: PUBLIC_URL.to_owned(),
                csrf_key: [9; 32],
                rate_limit: None,
            },
        );
        let mut app = App {
            router: router(state),
            test_key: keys[0].clone(),
            live_key: keys[1].clone(),
            ids: Ids::default(),
        };
        app.ids = app.fixtures(&engine).await;
        app
    }

    async fn fixtures(&self, engine: &Engine) -> Ids {
        let customer = self
            .post(
                "/v1/customers",
                json!({"email": "fuzz@example.com", "name": "Fuzz", "metadata": {"k": "v"}}),
            )
            .await
            .id("customer");
        let attach = |number: &'static str| {
            let path = format!("/v1/test_helpers/customers/{customer}/methods");
            async move {
                self.post(
                    &path,
                    json!({"number": number, "expMonth": 12, "expYear": 2030}),
                )
                .await
                .id("method")
            }
        };
        let method = attach("4242424242424242").await;
        let method_3ds = attach("4000000000003220").await;
        let setup_path = format!("/v1/customers/{customer}/setup");
        let setup = self
            .post(&setup_path, json!({"returnUrl": RETURN_URL}))
            .await
            .id("setup");
        let setup_action = self
            .post(&setup_path, json!({"returnUrl": RETURN_URL}))
            .await
            .id("setup");
        let Ok(setup_id) = SetupId::parse(&setup_action) else {
            panic!("fixture setup id {setup_action} does not parse");
        };
        let challenge = engine
            .submit_setup_card(
                &setup_id,
                CardEntry {
                    number: "4000000000003220".to_owned(),
                    expiry: "12/30".to_owned(),
                    cvc: "123".to_owned(),
                    name: None,
                },
            )
            .await;
        assert!(challenge.is_ok(), "fixture challenge: {challenge:?}");
        let pay = |body: Value| async move { self.post("/v1/payments", body).await.id("payment") };
        let payment = pay(
            json!({"amount": 2500, "currency": "eur", "customerId": customer,
            "paymentMethodId": method, "description": "fuzz"}),
        )
        .await;
        let payment_open = pay(
            json!({"amount": 1000, "currency": "usd", "customerId": customer,
            "savePaymentMethod": true, "returnUrl": RETURN_URL}),
        )
        .await;
        let payment_action = pay(
            json!({"amount": 700, "currency": "gbp", "customerId": customer,
            "paymentMethodId": method_3ds, "returnUrl": RETURN_URL}),
        )
        .await;
        let webhook_endpoint = self
            .post(
                "/v1/webhook_endpoints",
                json!({"url": "https://hooks.example/vinr", "events": ["*"]}),
            )
            .await
            .id("webhook endpoint");
        let events = self.send("GET", "/v1/events?limit=1", None, &[]).await;
        let event = match events.json()["data"][0]["id"].as_str() {
            Some(id) => id.to_owned(),
            None => panic!("fixture: no event listed"),
        };
        Ids {
            customer,
            method,
            method_3ds,
            setup,
            setup_action,
            payment,
            payment_open,
            payment_action,
            webhook_endpoint,
            event,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        let body = body.to_string();
        self.send(
            "POST",
            path,
            Some(body.as_bytes()),
            &[("content-type", "application/json")],
        )
        .await
    }

    /// Sends `method path` with the test key, `body` and `headers`.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let auth = format!("Bearer {}", self.test_key);
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        let request = Request::builder().method(method).uri(path);
        let request = all
            .iter()
            .fold(request, |r, (name, value)| r.header(*name, *value));
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_vec()));
        match request.body(body) {
            Ok(request) => self.request(request).await,
            Err(e) => panic!("fixture request {method} {path}: {e}"),
        }
    }

    /// Sends a request as built.
    pub(crate) async fn request(&self, request: Request<Body>) -> Answer {
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let headers = response.headers().clone();
        match axum::body::to_bytes(response.into_body(), usize::MAX).await {
            Ok(body) => Answer {
                status,
                headers,
                body,
            },
            Err(e) => panic!("the response body of a {status} failed: {e}"),
        }
    }
}
