//! The HTTP server: the JSON API, the hosted card pages, and the operational endpoints, as one
//! axum [`Router`] over an [`Engine`].
//!
//! ```no_run
//! # async fn run(state: vinr_http::server::AppState) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let app = vinr_http::server::router(state);
//! vinr_http::server::serve(listener, app, std::future::pending()).await
//! # }
//! ```
//!
//! # Layout
//! - `api`: the `/v1` JSON handlers, one module per resource.
//! - `hosted`: the `/hosted` HTML pages (card forms, 3-D Secure challenge), with CSRF.
//! - `auth`: bearer API keys, hashed, compared in constant time.
//! - `error`: the one place where `vinr_ports::Error` becomes a status and a body.
//! - `extract`: JSON bodies and queries that refuse unknown fields, malformed JSON and bodies
//!   over 64 KiB with the contract's codes.
//! - `idempotency`: the `Idempotency-Key` header in, `Idempotent-Replayed` out.
//! - `observe`: request ids and one log line per request; `metrics`: Prometheus text.
//! - `openapi`: the OpenAPI 3.1 document of every `/v1` route.
//! - `ratelimit`: a token bucket per API key over every authenticated `/v1` request (429).
//! - `timeout`: the server-wide request timeout (503 `service_unavailable`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use vinr_engine::Engine;
use vinr_ports::keys::ApiKeyStore;

pub mod api;
pub mod auth;
pub mod error;
pub mod extract;
pub mod hosted;
pub mod idempotency;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod ratelimit;
mod timeout;

/// The largest request body accepted: 64 KiB (`body_too_large` beyond).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Settings of the server.
#[derive(Clone)]
pub struct ServerConfig {
    /// The public base URL (`https://pay.example.com`); hosted pages and their cookies follow
    /// it (cookies are `Secure` only when it is https).
    pub public_url: String,
    /// The key that signs the hosted pages' CSRF tokens.
    pub csrf_key: [u8; 32],
    /// The limit of requests of each API key on `/v1`, or `None` for no limit
    /// (see [`ratelimit`]).
    pub rate_limit: Option<ratelimit::RateLimit>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("public_url", &self.public_url)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    engine: Engine,
    keys: Arc<dyn ApiKeyStore>,
    config: ServerConfig,
    metrics: metrics::Metrics,
    metric_sources: std::sync::RwLock<Vec<Arc<dyn metrics::MetricsSource>>>,
    rate_limiter: Option<ratelimit::RateLimiter>,
    hosted_guard: hosted::guard::HostedGuard,
    /// The request timeout in milliseconds (0: none).
    request_timeout_ms: AtomicU64,
}

impl AppState {
    /// The state of a server over `engine`, authenticating with `keys`.
    /// Requests are limited per key as `config.rate_limit` says, on the monotonic clock.
    pub fn new(engine: Engine, keys: Arc<dyn ApiKeyStore>, config: ServerConfig) -> Self {
        let limiter = config.rate_limit.map(ratelimit::RateLimiter::new);
        Self::with_rate_limiter(engine, keys, config, limiter)
    }

    /// [`AppState::new`] with this limiter (one on a clock of its own, for tests) in place of
    /// the one `config.rate_limit` describes.
    pub fn with_rate_limiter(
        engine: Engine,
        keys: Arc<dyn ApiKeyStore>,
        config: ServerConfig,
        rate_limiter: Option<ratelimit::RateLimiter>,
    ) -> Self {
        Self {
            inner: Arc::new(StateInner {
                engine,
                keys,
                config,
                metrics: metrics::Metrics::default(),
                metric_sources: std::sync::RwLock::new(Vec::new()),
                rate_limiter,
                hosted_guard: hosted::guard::HostedGuard::default(),
                request_timeout_ms: AtomicU64::new(0),
            }),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The API keys.
    pub fn keys(&self) -> &Arc<dyn ApiKeyStore> {
        &self.inner.keys
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The per-key rate limiter, if requests are limited.
    pub fn rate_limiter(&self) -> Option<&ratelimit::RateLimiter> {
        self.inner.rate_limiter.as_ref()
    }

    /// Answers every request that takes longer than `timeout` with `503 service_unavailable`
    /// (`None`, the default: no limit). See the `timeout` module.
    pub fn set_request_timeout(&self, timeout: Option<Duration>) {
        let ms = timeout.map_or(0, |t| {
            u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
        });
        self.inner.request_timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// The request timeout, if one is set.
    pub fn request_timeout(&self) -> Option<Duration> {
        match self.inner.request_timeout_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// The per-client-address limit of failed card attempts on the hosted pages (on by
    /// default, [`AddressLimit::DEFAULT`](hosted::guard::AddressLimit::DEFAULT); set it with
    /// [`HostedGuard::configure`](hosted::guard::HostedGuard::configure)).
    pub fn hosted_guard(&self) -> &hosted::guard::HostedGuard {
        &self.inner.hosted_guard
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// Adds metrics that `/metrics` renders after its own (the webhook outbox, for one).
    pub fn add_metrics_source(&self, source: Arc<dyn metrics::MetricsSource>) {
        self.inner
            .metric_sources
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(source);
    }

    /// The added metrics sources.
    pub(crate) fn metric_sources(&self) -> Vec<Arc<dyn metrics::MetricsSource>> {
        self.inner
            .metric_sources
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The whole application: `/v1` API, `/hosted` pages, `/healthz`, `/readyz`, `/metrics` and
/// `/v1/openapi.json`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(
            api::routes().route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                ratelimit::middleware,
            )),
        )
        .merge(hosted::routes())
        .merge(metrics::routes())
        .merge(observe::routes())
        .fallback(observe::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            timeout::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::middleware,
        ))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves; requests in flight then finish.
/// Each request knows its peer's address (the hosted pages' per-address limit reads it).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
