//! Per-key rate limiting of `/v1`: a token bucket per API key, 429 `rate_limited` with
//! `Retry-After`, other keys and non-`/v1` routes untouched, refills by (injected) time.
#![cfg(feature = "server")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;

use std::sync::Arc;
use std::time::Duration;

use api_support::{Resp, assert_error, build, send};
use axum::Router;
use chrono::DateTime;
use vinr_engine::{Engine, EngineConfig, Ports};
use vinr_http::server::auth::new_key;
use vinr_http::server::ratelimit::{ManualClock, RateLimit, RateLimiter};
use vinr_http::server::{AppState, ServerConfig, router};
use vinr_ports::Mode;
use vinr_ports::keys::ApiKeyStore;
use vinr_sandbox::{SandboxNetwork, SequentialIds};
use vinr_store::memory::MemoryStore;
use vinr_store::vault::AesVault;

struct App {
    router: Router,
    key: String,
    other_key: String,
}

impl App {
    async fn get(&self, path: &str, key: Option<&str>) -> Resp {
        send(&self.router, build("GET", path, key, None, &[])).await
    }
}

fn config(rate_limit: Option<RateLimit>) -> ServerConfig {
    ServerConfig {
        public_url: "http://127.0.0.1:4242".into(),
        csrf_key: [5; 32],
        rate_limit,
    }
}

/// A server with two test keys, whose state `state` builds from the engine, the key store.
async fn app(state: impl FnOnce(Engine, Arc<MemoryStore>) -> AppState) -> App {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::new(
        Ports {
            store: store.clone(),
            vault: Arc::new(AesVault::random()),
            network: Arc::new(SandboxNetwork::new()),
            clock: Arc::new(vinr_sandbox::ManualClock::default()),
            ids: Arc::new(SequentialIds::new(7)),
        },
        EngineConfig::default(),
    );
    let mut keys = Vec::new();
    for n in 0..2u8 {
        let (secret, record) = new_key(
            Mode::Test,
            &[n + 1; 24],
            &[n + 50; 32],
            DateTime::UNIX_EPOCH,
        );
        store.insert_key(record).await.unwrap();
        keys.push(secret);
    }
    App {
        router: router(state(engine, store)),
        other_key: keys.pop().unwrap(),
        key: keys.pop().unwrap(),
    }
}

/// A server limiting each key to `limit`, on a clock the test moves.
async fn limited(limit: RateLimit) -> (App, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let limiter = RateLimiter::with_clock(limit, clock.clone());
    let app = app(|engine, store| {
        AppState::with_rate_limiter(engine, store, config(Some(limit)), Some(limiter))
    })
    .await;
    (app, clock)
}

const THREE: RateLimit = RateLimit {
    per_second: 3,
    burst: 3,
};

#[track_caller]
fn assert_limited(r: &Resp) {
    assert_error(r, 429, "rate_limit_error", "rate_limited", None);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
}

#[tokio::test]
async fn a_key_gets_its_burst_then_429_with_retry_after() {
    let (app, _) = limited(THREE).await;
    for _ in 0..3 {
        let r = app.get("/v1/customers", Some(&app.key)).await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
    let r = app.get("/v1/customers", Some(&app.key)).await;
    assert_limited(&r);
    assert_eq!(r.headers["retry-after"], "1");
    // Every `/v1` route and method counts against the same bucket.
    let r = send(
        &app.router,
        build("POST", "/v1/customers", Some(&app.key), Some("{}"), &[]),
    )
    .await;
    assert_limited(&r);
}

#[tokio::test]
async fn another_key_is_not_affected() {
    let (app, _) = limited(THREE).await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/customers", Some(&app.key)).await.status, 200);
    }
    assert_limited(&app.get("/v1/customers", Some(&app.key)).await);
    for _ in 0..3 {
        let r = app.get("/v1/customers", Some(&app.other_key)).await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
    assert_limited(&app.get("/v1/customers", Some(&app.other_key)).await);
}

#[tokio::test]
async fn requests_pass_again_once_tokens_refill() {
    let (app, clock) = limited(THREE).await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/customers", Some(&app.key)).await.status, 200);
    }
    assert_limited(&app.get("/v1/customers", Some(&app.key)).await);
    // One token back after a third of a second, not before.
    clock.advance(Duration::from_millis(300));
    assert_limited(&app.get("/v1/customers", Some(&app.key)).await);
    clock.advance(Duration::from_millis(40));
    assert_eq!(app.get("/v1/customers", Some(&app.key)).await.status, 200);
    assert_limited(&app.get("/v1/customers", Some(&app.key)).await);
    // A full second refills the whole burst.
    clock.advance(Duration::from_secs(1));
    for _ in 0..3 {
        assert_eq!(app.get("/v1/customers", Some(&app.key)).await.status, 200);
    }
    assert_limited(&app.get("/v1/customers", Some(&app.key)).await);
}

#[tokio::test]
async fn retry_after_rounds_the_wait_up() {
    let limit = RateLimit {
        per_second: 1,
        burst: 1,
    };
    let (app, clock) = limited(limit).await;
    assert_eq!(app.get("/v1/customers", Some(&app.key)).await.status, 200);
    let r = app.get("/v1/customers", Some(&app.key)).await;
    assert_limited(&r);
    assert_eq!(r.headers["retry-after"], "1");
    clock.advance(Duration::from_millis(999));
    assert_limited(&app.get("/v1/customers", Some(&app.key)).await);
    clock.advance(Duration::from_millis(1));
    assert_eq!(app.get("/v1/customers", Some(&app.key)).await.status, 200);
}

#[tokio::test]
async fn without_a_valid_key_the_answer_is_401_not_429() {
    let (app, _) = limited(RateLimit {
        per_second: 1,
        burst: 1,
    })
    .await;
    for _ in 0..5 {
        let r = app.get("/v1/customers", None).await;
        assert_error(&r, 401, "authentication_error", "api_key_missing", None);
        let bogus = format!("sk_test_{}", "Z".repeat(32));
        let r = app.get("/v1/customers", Some(&bogus)).await;
        assert_error(&r, 401, "authentication_error", "api_key_invalid", None);
    }
    // Those did not spend the real key's token.
    assert_eq!(app.get("/v1/customers", Some(&app.key)).await.status, 200);
}

#[tokio::test]
async fn health_metrics_openapi_and_hosted_pages_are_not_limited() {
    let (app, _) = limited(RateLimit {
        per_second: 1,
        burst: 1,
    })
    .await;
    assert_eq!(app.get("/v1/customers", Some(&app.key)).await.status, 200);
    assert_limited(&app.get("/v1/customers", Some(&app.key)).await);
    for _ in 0..5 {
        for path in ["/healthz", "/readyz", "/metrics", "/v1/openapi.json"] {
            let r = app.get(path, None).await;
            assert_eq!(r.status, 200, "{path}");
            let r = app.get(path, Some(&app.key)).await;
            assert_ne!(r.status, 429, "{path}");
        }
        // A hosted page that does not exist is the page's own 404, never a 429.
        let r = app.get("/hosted/setup/seti_nothing", Some(&app.key)).await;
        assert_ne!(r.status, 429);
    }
}

#[tokio::test]
async fn without_a_limit_nothing_is_ever_429() {
    let app = app(|engine, store| AppState::new(engine, store, config(None))).await;
    for _ in 0..200 {
        let r = app.get("/v1/customers", Some(&app.key)).await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
}

#[tokio::test]
async fn the_configured_limit_applies_on_the_real_clock() {
    let limit = RateLimit {
        per_second: 1,
        burst: 2,
    };
    let app = app(|engine, store| {
        let state = AppState::new(engine, store, config(Some(limit)));
        assert_eq!(state.rate_limiter().map(RateLimiter::limit), Some(limit));
        state
    })
    .await;
    for _ in 0..2 {
        assert_eq!(app.get("/v1/customers", Some(&app.key)).await.status, 200);
    }
    assert_limited(&app.get("/v1/customers", Some(&app.key)).await);
}
