//! The server-wide request timeout: a request that has not been answered after
//! [`AppState::request_timeout`] is answered `503 service_unavailable` (with `Retry-After`),
//! and its handler is dropped.
//!
//! Dropping a handler half-way is safe: every command commits one write set, atomically, so
//! what it had committed stays and what it had not is not; a charge caught between its two
//! phases is finished by the recovery sweep, and a retry under the same idempotency key then
//! replays its outcome.
//! The timeout sits inside the request log and metrics middleware, so a timed-out request is
//! logged and counted as the 503 it answered.

use std::future::Future;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::error::{InternalDetail, request_timed_out};

/// Runs the request under the state's timeout, if one is set.
pub(crate) async fn middleware(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    within(state.request_timeout(), next.run(request)).await
}

/// `answer`, or the 503 of a timed-out request once `limit` has passed.
async fn within(limit: Option<Duration>, answer: impl Future<Output = Response>) -> Response {
    let Some(limit) = limit else {
        return answer.await;
    };
    match tokio::time::timeout(limit, answer).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = request_timed_out();
            response.extensions_mut().insert(InternalDetail(format!(
                "no answer within the request timeout ({} ms)",
                limit.as_millis()
            )));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;

    #[tokio::test]
    async fn a_slow_answer_becomes_503_at_the_limit_and_a_quick_one_passes() {
        let limit = Duration::from_millis(50);
        let started = std::time::Instant::now();
        let r = within(Some(limit), async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        })
        .await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(started.elapsed() >= limit && started.elapsed() < Duration::from_secs(5));
        assert_eq!(r.headers()["retry-after"], "1");
        assert!(r.extensions().get::<InternalDetail>().is_some());

        let r = within(Some(limit), async { StatusCode::CREATED.into_response() }).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = within(None, async { StatusCode::ACCEPTED.into_response() }).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
}
