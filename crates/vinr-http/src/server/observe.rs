//! Request ids and request logs (being written: placeholder so the crate builds meanwhile).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// The middleware around every request.
pub async fn middleware(State(_state): State<AppState>, request: Request, next: Next) -> Response {
    next.run(request).await
}
