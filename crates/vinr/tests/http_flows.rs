//! Every flow of `flows/` that needs no clock, once more, through the HTTP client against a
//! real server on `127.0.0.1:0`: the same assertions as `sandbox_flows.rs`, so the in-process
//! sandbox and the server are interchangeable in fact, not only in type.
//! (The clock flows move time in-process and cannot run here.)
#![cfg(feature = "client")]

mod flows;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use vinr::Vinr;
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_http::server::{AppState, ServerConfig, router, serve};
use vinr_ports::Mode;
use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};
use vinr_sandbox::{ManualClock, SandboxNetwork};
use vinr_store::ids::OsRandomIds;
use vinr_store::memory::MemoryStore;
use vinr_store::vault::AesVault;

const SECRET: &str = "sk_test_HttpFlows0123456789abcdefghij";

/// Starts a fresh server (memory store, sandbox network) on a free port, in the current test's
/// runtime, and returns a handle talking to it over HTTP. The server lives as long as the test.
#[allow(clippy::expect_used)] // test support: a failure to start is a failed test
fn over_http() -> Vinr {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let base = format!("http://{}", std_listener.local_addr().expect("address"));
    let listener = tokio::net::TcpListener::from_std(std_listener).expect("tokio listener");
    let store = MemoryStore::new();
    let engine = Engine::new(
        Ports {
            store: Arc::new(store.clone()),
            vault: Arc::new(AesVault::random()),
            network: Arc::new(SandboxNetwork::new()),
            clock: Arc::new(ManualClock::new(vinr_ports::clock::Clock::now(
                &vinr_store::clock::SystemClock::new(),
            ))),
            ids: Arc::new(OsRandomIds::new()),
        },
        EngineConfig {
            public_url: base.clone(),
            ..EngineConfig::default()
        },
    );
    let keys = store.clone();
    let state = AppState::new(
        engine,
        Arc::new(store),
        ServerConfig {
            public_url: base.clone(),
            csrf_key: [3u8; 32],
            rate_limit: None,
        },
    );
    tokio::spawn(async move {
        let hash: String = Sha256::digest(SECRET.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        keys.insert_key(ApiKeyRecord {
            id: "key_http_flows".into(),
            mode: Mode::Test,
            hash,
            prefix: SECRET[..12].into(),
            created: chrono::DateTime::UNIX_EPOCH,
            revoked: None,
        })
        .await
        .expect("key");
        serve(listener, router(state), std::future::pending()).await
    });
    Vinr::with_base_url(SECRET, &base).expect("client")
}

/// `group { flow, … }` → one `#[tokio::test]` per flow on a fresh server.
macro_rules! flows {
    ($make:path => $($group:ident { $($flow:ident),* $(,)? })*) => {
        $(mod $group {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $flow() {
                    crate::flows::$group::$flow(&$make()).await;
                }
            )*
        })*
    };
}

every_adapter_flow!(flows, crate::over_http);
