//! Request ids, one log line per request, the metrics of each request, and the health and
//! readiness probes.
//!
//! Every response carries `x-request-id`: the caller's own when it sent a sane one (1 to 64
//! letters, digits, `-`, `_`, `.`, `:`), else a new `req_…`.
//! Every request is logged once, when answered, through `tracing` (target
//! `vinr_http::request`): method, path (without its query), matched route, status, latency,
//! request id, and the error code of an error answer. Never a body, a query string or a header:
//! card numbers, secret keys and webhook secrets travel only there.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use vinr_domain::ids::{CustomerId, base62_body};
use vinr_ports::Mode;

use super::AppState;
use super::error::{ErrorCode, InternalDetail, json_response, service_unavailable};
use super::metrics::UNMATCHED;

/// The header carrying the request id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The target of the request log lines.
pub const LOG_TARGET: &str = "vinr_http::request";

/// The id of a request (also a request extension, for handlers that want it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether a caller's request id can be used (and logged) as is.
fn sane(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Hides every run of 12 or more digits (spaces and dashes between them allowed): what a card
/// number looks like, in a path or a field name that a client got wrong.
pub(crate) fn redact_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.bytes().filter(u8::is_ascii_digit).count() >= 12 {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (matches!(c, ' ' | '-') && !run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// A new request id, `req_` + 24 base62 characters.
fn fresh_id() -> String {
    format!("req_{}", base62_body(&rand::random()))
}

/// The middleware around every request: request id, log line, metrics.
pub async fn middleware(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map_or_else(fresh_id, str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let path = redact_digit_runs(request.uri().path());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();

    let mut response = next.run(request).await;

    let latency = started.elapsed();
    let status = response.status().as_u16();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    state.metrics().record(&route, &method, status, latency);
    let error = response.extensions().get::<ErrorCode>().map(|c| c.0);
    let detail = response
        .extensions()
        .get::<InternalDetail>()
        .map(|d| d.0.clone());
    // Microsecond precision is plenty, and keeps the line short.
    let latency_ms = (latency.as_secs_f64() * 1e6).round() / 1e3;
    if status >= 500 {
        tracing::error!(
            target: LOG_TARGET,
            method = %method, path = %path, route = %route, status, latency_ms,
            request_id = %id, error, detail, "request"
        );
    } else {
        tracing::info!(
            target: LOG_TARGET,
            method = %method, path = %path, route = %route, status, latency_ms,
            request_id = %id, error, "request"
        );
    }
    response
}

/// `GET /healthz`: the process answers.
async fn healthz() -> Response {
    json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

/// `GET /readyz`: the database answers a read.
async fn readyz(State(state): State<AppState>) -> Response {
    let probe = CustomerId::from_entropy(&[0; 24]);
    match state
        .engine()
        .ports()
        .store
        .customer(Mode::Test, &probe)
        .await
    {
        Ok(_) => json_response(StatusCode::OK, br#"{"status":"ready"}"#.to_vec()),
        Err(_) => service_unavailable(),
    }
}

/// Answers a request no route matched: 404 `resource_missing`, as Stripe does.
pub(crate) async fn not_found(request: Request) -> Response {
    super::error::ApiError(vinr_ports::Error::NotFound {
        param: None,
        message: format!(
            "Unrecognized request URL ({} {})",
            request.method(),
            redact_digit_runs(request.uri().path())
        ),
    })
    .into_response()
}

/// `/healthz` and `/readyz` (no auth).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_callers_are_kept_only_when_sane() {
        assert!(sane("abc-123_x.y:z"));
        assert!(!sane(""));
        assert!(!sane(&"a".repeat(65)));
        assert!(!sane("a b"));
        assert!(!sane("<script>"));
        let id = fresh_id();
        assert!(id.starts_with("req_") && id.len() == 28, "{id}");
        assert_ne!(fresh_id(), id);
    }

    #[test]
    fn card_numbers_in_paths_are_hidden() {
        assert_eq!(
            redact_digit_runs("/v1/customers/4242424242424242/x"),
            "/v1/customers/[redacted]/x"
        );
        assert_eq!(redact_digit_runs("a 4242 4242 4242 4242"), "a [redacted]");
        assert_eq!(redact_digit_runs("a-1234-5678"), "a-1234-5678");
        assert_eq!(
            redact_digit_runs("/v1/customers/cust_0123456789AB"),
            "/v1/customers/cust_0123456789AB"
        );
    }
}
