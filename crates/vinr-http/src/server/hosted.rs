//! The `/hosted` pages (being written: placeholder router so the crate builds meanwhile).

use axum::Router;

use super::AppState;

/// The `/hosted` routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}
