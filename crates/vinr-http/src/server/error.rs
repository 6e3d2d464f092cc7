//! The one place where a [`vinr_ports::Error`] becomes an HTTP status and a JSON body.
//!
//! Every error response is `{"error":{"type","code","message","param"?,"declineCode"?,
//! "paymentId"?}}` (api.md §1).
//! Internal errors (500) and service-unavailable errors (503, with `Retry-After`) answer a
//! fixed, generic message: what the engine said stays on the server, in the request's log
//! line (see `observe`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vinr_domain::error::InvalidRequestCode;
use vinr_ports::error::{ErrorDetail, ErrorType};
use vinr_ports::{Error, ErrorBody};

/// The message of every 500: nothing about what failed inside.
pub const INTERNAL_MESSAGE: &str = "An internal error occurred. Retry the request later.";

/// The message of every 503: the service cannot answer now, nothing about why.
pub const UNAVAILABLE_MESSAGE: &str = "The service is temporarily unavailable. Retry the request later with the same idempotency key.";

/// The `Retry-After` of a 503 that does not say otherwise, in seconds.
const DEFAULT_RETRY_AFTER: u64 = 1;

/// The JSON content type of every API answer.
pub(crate) const JSON: &str = "application/json";

/// An API error on its way out: [`IntoResponse`] for [`vinr_ports::Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// What the request log line says about an error response (set as a response extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ErrorCode(pub(crate) &'static str);

/// For the log line of a 500: the error's own message, which the answer does not carry
/// (errors of the driving API never hold card data, keys or a store's own words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InternalDetail(pub(crate) String);

/// The HTTP status of an error (api.md §1).
///
/// ```
/// use axum::http::StatusCode;
/// use vinr_ports::Error;
/// assert_eq!(vinr_http::server::error::status_of(&Error::IdempotencyKeyReused), StatusCode::UNPROCESSABLE_ENTITY);
/// ```
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::InvalidRequest {
            code: InvalidRequestCode::BodyTooLarge,
            ..
        } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Card { .. } => StatusCode::PAYMENT_REQUIRED,
        Error::Authentication { .. } => StatusCode::UNAUTHORIZED,
        Error::IdempotencyKeyInUse => StatusCode::CONFLICT,
        Error::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Gone { .. } => StatusCode::GONE,
        Error::ServiceUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        // `Internal`, `Transport` (a client-side error that never reaches here) and any error
        // added later: the server's fault.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The wire form of an error as the server sends it: internal and service-unavailable errors
/// lose their message.
pub fn body_of(error: &Error) -> ErrorBody {
    match status_of(error) {
        StatusCode::SERVICE_UNAVAILABLE => unavailable_body(UNAVAILABLE_MESSAGE),
        StatusCode::INTERNAL_SERVER_ERROR => ErrorBody {
            error: ErrorDetail {
                kind: ErrorType::ApiError,
                code: "internal".to_owned(),
                message: INTERNAL_MESSAGE.to_owned(),
                param: None,
                decline_code: None,
                payment_id: None,
            },
        },
        _ => error.to_body(),
    }
}

/// A JSON response with this status and body (bytes from `serde_json`, deterministic for a
/// given value, so a replayed answer is byte-for-byte the first one).
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// `{"error":{"type":"api_error","code":"service_unavailable","message":…}}`.
fn unavailable_body(message: &str) -> ErrorBody {
    ErrorBody {
        error: ErrorDetail {
            kind: ErrorType::ApiError,
            code: "service_unavailable".to_owned(),
            message: message.to_owned(),
            param: None,
            decline_code: None,
            payment_id: None,
        },
    }
}

/// A `503 service_unavailable` with this message and `Retry-After: 1`.
fn unavailable_response(message: &str) -> Response {
    let bytes = serde_json::to_vec(&unavailable_body(message)).unwrap_or_default();
    let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, bytes);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(DEFAULT_RETRY_AFTER));
    response
        .extensions_mut()
        .insert(ErrorCode("service_unavailable"));
    response
}

/// The `503` of `/readyz` when the database does not answer.
pub(crate) fn service_unavailable() -> Response {
    unavailable_response("The database does not answer.")
}

/// The `503` of a request that ran out of time (the server-wide request timeout): whatever it
/// had committed stays committed, whatever it had not is not, and a retry under the same
/// idempotency key finishes or replays it.
pub fn request_timed_out() -> Response {
    unavailable_response(UNAVAILABLE_MESSAGE)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let body = body_of(&self.0);
        // An `ErrorBody` is strings and enums only: serializing it cannot fail.
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = json_response(status, bytes);
        let retry_after = match &self.0 {
            Error::RateLimited { retry_after } => *retry_after,
            Error::ServiceUnavailable { retry_after, .. } => {
                Some(retry_after.unwrap_or(DEFAULT_RETRY_AFTER))
            }
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if matches!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR | StatusCode::SERVICE_UNAVAILABLE
        ) {
            response
                .extensions_mut()
                .insert(InternalDetail(self.0.to_string()));
        }
        response.extensions_mut().insert(ErrorCode(self.0.code()));
        response
    }
}

/// `Result` of a handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use vinr_domain::error::{CardErrorCode, CardFailure, DeclineCode};
    use vinr_ports::error::AuthenticationCode;

    async fn parts(e: Error) -> (StatusCode, serde_json::Value, Option<String>) {
        let r = ApiError(e).into_response();
        let status = r.status();
        let retry = r
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(r.headers()[header::CONTENT_TYPE], JSON);
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), retry)
    }

    #[tokio::test]
    async fn every_error_maps_to_its_status_type_and_code() {
        let cases: Vec<(Error, u16, &str, &str)> = vec![
            (
                Error::invalid(InvalidRequestCode::InvalidEmail, "email", "bad"),
                400,
                "invalid_request_error",
                "invalid_email",
            ),
            (
                Error::invalid(InvalidRequestCode::BodyTooLarge, "body", "big"),
                413,
                "invalid_request_error",
                "body_too_large",
            ),
            (
                Error::not_found("customer", "cust_x", None),
                404,
                "invalid_request_error",
                "resource_missing",
            ),
            (
                Error::card(CardFailure::declined(DeclineCode::LostCard), None),
                402,
                "card_error",
                "card_declined",
            ),
            (
                Error::card(CardFailure::of(CardErrorCode::ExpiredCard), None),
                402,
                "card_error",
                "expired_card",
            ),
            (
                Error::Authentication {
                    code: AuthenticationCode::ApiKeyInvalid,
                    message: "no".into(),
                },
                401,
                "authentication_error",
                "api_key_invalid",
            ),
            (
                Error::IdempotencyKeyInUse,
                409,
                "idempotency_error",
                "idempotency_key_in_use",
            ),
            (
                Error::IdempotencyKeyReused,
                422,
                "idempotency_error",
                "idempotency_key_reused",
            ),
            (
                Error::RateLimited { retry_after: None },
                429,
                "rate_limit_error",
                "rate_limited",
            ),
            (
                Error::Gone {
                    message: "used".into(),
                },
                410,
                "invalid_request_error",
                "resource_gone",
            ),
            (
                Error::internal("the store said: table customers is locked"),
                500,
                "api_error",
                "internal",
            ),
            (
                Error::service_unavailable("the database is unavailable"),
                503,
                "api_error",
                "service_unavailable",
            ),
            (
                Error::Transport {
                    message: "x".into(),
                },
                500,
                "api_error",
                "internal",
            ),
        ];
        for (error, status, kind, code) in cases {
            let (s, body, _) = parts(error.clone()).await;
            assert_eq!(s.as_u16(), status, "{error:?}");
            assert_eq!(body["error"]["type"], kind, "{error:?}");
            assert_eq!(body["error"]["code"], code, "{error:?}");
        }
    }

    #[tokio::test]
    async fn internal_messages_are_generic() {
        let (_, body, _) = parts(Error::internal("postgres at 10.0.0.7 refused")).await;
        assert_eq!(body["error"]["message"], INTERNAL_MESSAGE);
        // The log line keeps what the engine said.
        let r = ApiError(Error::internal("too many concurrent changes")).into_response();
        assert_eq!(
            r.extensions().get::<InternalDetail>(),
            Some(&InternalDetail("too many concurrent changes".into()))
        );
        let r = ApiError(Error::IdempotencyKeyReused).into_response();
        assert_eq!(r.extensions().get::<InternalDetail>(), None);
    }

    #[tokio::test]
    async fn rate_limited_says_when_to_retry() {
        let (_, _, retry) = parts(Error::RateLimited {
            retry_after: Some(7),
        })
        .await;
        assert_eq!(retry.as_deref(), Some("7"));
        let (_, _, retry) = parts(Error::RateLimited { retry_after: None }).await;
        assert_eq!(retry, None);
    }

    #[tokio::test]
    async fn service_unavailable_is_503_generic_and_says_when_to_retry() {
        let e = Error::ServiceUnavailable {
            message: "postgres at 10.0.0.7:5432 refused".into(),
            retry_after: None,
        };
        let (status, body, retry) = parts(e.clone()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["type"], "api_error");
        assert_eq!(body["error"]["code"], "service_unavailable");
        assert_eq!(body["error"]["message"], UNAVAILABLE_MESSAGE);
        assert!(!body.to_string().contains("10.0.0.7"));
        assert_eq!(retry.as_deref(), Some("1"));
        let r = ApiError(e).into_response();
        assert!(r.extensions().get::<InternalDetail>().is_some());
        let (_, _, retry) = parts(Error::ServiceUnavailable {
            message: "m".into(),
            retry_after: Some(5),
        })
        .await;
        assert_eq!(retry.as_deref(), Some("5"));

        let r = request_timed_out();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "service_unavailable");
    }
}
