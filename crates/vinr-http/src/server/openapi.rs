//! The OpenAPI document (being written: placeholder router so the crate builds meanwhile).

use axum::Router;

use super::AppState;

/// The OpenAPI route.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}
