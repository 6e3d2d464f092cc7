//! Prometheus metrics (being written: placeholder so the crate builds meanwhile).

use axum::Router;

use super::AppState;

/// The metrics registry.
#[derive(Debug, Default)]
pub struct Metrics;

/// The `/metrics` route.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}
