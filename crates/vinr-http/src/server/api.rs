//! The `/v1` JSON handlers (being written: placeholder router so the crate builds meanwhile).

use axum::Router;

use super::AppState;

/// The `/v1` routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}
