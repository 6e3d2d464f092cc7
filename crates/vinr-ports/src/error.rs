//! [`Error`]: the one error type of the driving API, whichever adapter answers (the in-process
//! engine or the HTTP client), and [`ErrorBody`], its wire form.

use serde::{Deserialize, Serialize};
use vinr_domain::error::{
    CardErrorCode, CardFailure, DeclineCode, InvalidRequestCode, ValidationError,
};
use vinr_domain::ids::PaymentId;

/// Everything that can go wrong in a call, typed so a caller can `match` on what matters.
///
/// ```
/// use vinr_ports::Error;
/// use vinr_domain::error::{CardErrorCode, DeclineCode};
/// fn explain(e: &Error) -> &'static str {
///     match e {
///         Error::Card { decline_code: Some(DeclineCode::InsufficientFunds), .. } => "ask for another card",
///         Error::Card { .. } => "declined",
///         Error::InvalidRequest { .. } => "fix the request",
///         Error::NotFound { .. } => "no such object",
///         _ => "try again later",
///     }
/// }
/// # let _ = explain;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is invalid (HTTP 400).
    #[error("{message}")]
    InvalidRequest {
        /// The stable code.
        code: InvalidRequestCode,
        /// The parameter at fault.
        param: Option<String>,
        /// Why.
        message: String,
    },
    /// An id names nothing visible to this key (HTTP 404, `resource_missing`).
    #[error("{message}")]
    NotFound {
        /// The parameter holding the id, when it came from a body or query.
        param: Option<String>,
        /// Which object is missing.
        message: String,
    },
    /// A card was refused (HTTP 402).
    #[error("{message}")]
    Card {
        /// What went wrong.
        code: CardErrorCode,
        /// Why the issuer declined.
        decline_code: Option<DeclineCode>,
        /// The failed payment, when the card was refused during one.
        payment_id: Option<PaymentId>,
        /// A message that can be shown to the buyer.
        message: String,
    },
    /// The API key is missing or wrong (HTTP 401).
    #[error("{message}")]
    Authentication {
        /// `api_key_missing` or `api_key_invalid`.
        code: AuthenticationCode,
        /// Why.
        message: String,
    },
    /// A request with this idempotency key is still running (HTTP 409).
    #[error("a request with this idempotency key is still in flight; retry later")]
    IdempotencyKeyInUse,
    /// This idempotency key was used for a different request (HTTP 422).
    #[error("this idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    /// Too many requests (HTTP 429).
    #[error("too many requests")]
    RateLimited {
        /// Seconds to wait, if the server said.
        retry_after: Option<u64>,
    },
    /// The hosted page's link was used, canceled or has expired (HTTP 410).
    #[error("{message}")]
    Gone {
        /// Why the link no longer works.
        message: String,
    },
    /// Something failed on the server's side (HTTP 500); the message never reveals internals.
    #[error("{message}")]
    Internal {
        /// A safe message.
        message: String,
    },
    /// The service cannot answer right now (HTTP 503, `service_unavailable`): a dependency it
    /// needs (the database) cannot be reached or is too slow, or the request ran out of time.
    /// Nothing was half-written: retrying the same request later, under the same idempotency
    /// key, either does it or replays what was done. The message never reveals internals.
    #[error("{message}")]
    ServiceUnavailable {
        /// A safe message.
        message: String,
        /// Seconds to wait before retrying, if known (the `Retry-After` header).
        retry_after: Option<u64>,
    },
    /// The request did not reach the server or its answer did not come back (client side).
    #[error("transport error: {message}")]
    Transport {
        /// What failed.
        message: String,
    },
}

/// The codes of an authentication error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthenticationCode {
    /// No `Authorization` header.
    ApiKeyMissing,
    /// A key that is unknown, revoked or malformed.
    ApiKeyInvalid,
}

impl AuthenticationCode {
    /// The code as text.
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthenticationCode::ApiKeyMissing => "api_key_missing",
            AuthenticationCode::ApiKeyInvalid => "api_key_invalid",
        }
    }
}

impl Error {
    /// An invalid-request error about one parameter.
    pub fn invalid(
        code: InvalidRequestCode,
        param: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::InvalidRequest {
            code,
            param: Some(param.into()),
            message: message.into(),
        }
    }

    /// A missing object, named by the parameter that held its id (if any).
    pub fn not_found(kind: &str, id: &str, param: Option<&str>) -> Self {
        Error::NotFound {
            param: param.map(str::to_owned),
            message: format!("No such {kind}: '{id}'"),
        }
    }

    /// An internal error with a safe message.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }

    /// A service-unavailable error with a safe message, to be retried after a second.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Error::ServiceUnavailable {
            message: message.into(),
            retry_after: Some(1),
        }
    }

    /// A card error from a card failure.
    pub fn card(failure: CardFailure, payment_id: Option<PaymentId>) -> Self {
        Error::Card {
            code: failure.code,
            decline_code: failure.decline_code,
            payment_id,
            message: failure.message().to_owned(),
        }
    }

    /// The wire `type` of this error.
    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::InvalidRequest { .. } | Error::NotFound { .. } | Error::Gone { .. } => {
                ErrorType::InvalidRequestError
            }
            Error::Card { .. } => ErrorType::CardError,
            Error::Authentication { .. } => ErrorType::AuthenticationError,
            Error::IdempotencyKeyInUse | Error::IdempotencyKeyReused => ErrorType::IdempotencyError,
            Error::RateLimited { .. } => ErrorType::RateLimitError,
            Error::Internal { .. } | Error::ServiceUnavailable { .. } | Error::Transport { .. } => {
                ErrorType::ApiError
            }
        }
    }

    /// The wire `code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest { code, .. } => code.as_str(),
            Error::NotFound { .. } => "resource_missing",
            Error::Card { code, .. } => code.as_str(),
            Error::Authentication { code, .. } => code.as_str(),
            Error::IdempotencyKeyInUse => "idempotency_key_in_use",
            Error::IdempotencyKeyReused => "idempotency_key_reused",
            Error::RateLimited { .. } => "rate_limited",
            Error::Gone { .. } => "resource_gone",
            Error::Internal { .. } => "internal",
            Error::ServiceUnavailable { .. } => "service_unavailable",
            Error::Transport { .. } => "transport",
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::IdempotencyKeyInUse
            | Error::RateLimited { .. }
            | Error::Internal { .. }
            | Error::ServiceUnavailable { .. }
            | Error::Transport { .. } => true,
            Error::Card { code, .. } => *code == CardErrorCode::ProcessingError,
            Error::InvalidRequest { .. }
            | Error::NotFound { .. }
            | Error::Authentication { .. }
            | Error::IdempotencyKeyReused
            | Error::Gone { .. } => false,
        }
    }

    /// The wire form of this error.
    pub fn to_body(&self) -> ErrorBody {
        let (param, decline_code, payment_id) = match self {
            Error::InvalidRequest { param, .. } | Error::NotFound { param, .. } => {
                (param.clone(), None, None)
            }
            Error::Card {
                decline_code,
                payment_id,
                ..
            } => (None, *decline_code, payment_id.clone()),
            Error::Authentication { .. }
            | Error::IdempotencyKeyInUse
            | Error::IdempotencyKeyReused
            | Error::RateLimited { .. }
            | Error::Gone { .. }
            | Error::Internal { .. }
            | Error::ServiceUnavailable { .. }
            | Error::Transport { .. } => (None, None, None),
        };
        ErrorBody {
            error: ErrorDetail {
                kind: self.error_type(),
                code: self.code().to_owned(),
                message: self.to_string(),
                param,
                decline_code,
                payment_id,
            },
        }
    }

    /// Reads an error back from its wire form; unknown codes become [`Error::Internal`].
    pub fn from_body(body: &ErrorBody) -> Self {
        let d = &body.error;
        let message = d.message.clone();
        match d.kind {
            ErrorType::InvalidRequestError if d.code == "resource_missing" => Error::NotFound {
                param: d.param.clone(),
                message,
            },
            ErrorType::InvalidRequestError if d.code == "resource_gone" => Error::Gone { message },
            ErrorType::InvalidRequestError => match InvalidRequestCode::from_wire(&d.code) {
                Some(code) => Error::InvalidRequest {
                    code,
                    param: d.param.clone(),
                    message,
                },
                None => Error::Internal { message },
            },
            ErrorType::CardError => match CardErrorCode::from_wire(&d.code) {
                Some(code) => Error::Card {
                    code,
                    decline_code: d.decline_code,
                    payment_id: d.payment_id.clone(),
                    message,
                },
                None => Error::Internal { message },
            },
            ErrorType::AuthenticationError => Error::Authentication {
                code: if d.code == "api_key_missing" {
                    AuthenticationCode::ApiKeyMissing
                } else {
                    AuthenticationCode::ApiKeyInvalid
                },
                message,
            },
            ErrorType::IdempotencyError if d.code == "idempotency_key_in_use" => {
                Error::IdempotencyKeyInUse
            }
            ErrorType::IdempotencyError => Error::IdempotencyKeyReused,
            ErrorType::RateLimitError => Error::RateLimited { retry_after: None },
            ErrorType::ApiError if d.code == "service_unavailable" => Error::ServiceUnavailable {
                message,
                retry_after: None,
            },
            ErrorType::ApiError => Error::Internal { message },
        }
    }
}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        Error::InvalidRequest {
            code: e.code,
            param: e.param,
            message: e.message,
        }
    }
}

/// The wire `type` of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// 400 and 404 (and 410 on hosted pages).
    InvalidRequestError,
    /// 401.
    AuthenticationError,
    /// 402.
    CardError,
    /// 409 and 422.
    IdempotencyError,
    /// 429.
    RateLimitError,
    /// 500 (`internal`) and 503 (`service_unavailable`).
    ApiError,
}

/// `{"error": {...}}`, as every error response carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The fields of an error on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// The error type.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// The stable code.
    pub code: String,
    /// A human-readable message.
    pub message: String,
    /// The parameter at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// Why the issuer declined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<DeclineCode>,
    /// The failed payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<PaymentId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_through_the_wire_form() {
        let cases = vec![
            Error::invalid(InvalidRequestCode::InvalidEmail, "email", "bad"),
            Error::not_found("customer", "cust_x", Some("customerId")),
            Error::card(
                CardFailure::declined(DeclineCode::InsufficientFunds),
                Some(PaymentId::from_entropy(&[1; 24])),
            ),
            Error::Authentication {
                code: AuthenticationCode::ApiKeyMissing,
                message: "m".into(),
            },
            Error::IdempotencyKeyInUse,
            Error::IdempotencyKeyReused,
            Error::Gone {
                message: "used".into(),
            },
            Error::internal("boom"),
            Error::ServiceUnavailable {
                message: "later".into(),
                retry_after: None,
            },
        ];
        for e in cases {
            let body = e.to_body();
            let json = serde_json::to_string(&body).unwrap();
            let back: ErrorBody = serde_json::from_str(&json).unwrap();
            assert_eq!(Error::from_body(&back), e, "{json}");
        }
        let v = serde_json::to_value(
            Error::card(CardFailure::declined(DeclineCode::LostCard), None).to_body(),
        )
        .unwrap();
        assert_eq!(v["error"]["type"], "card_error");
        assert_eq!(v["error"]["declineCode"], "lost_card");
        assert!(v["error"].get("param").is_none());
        let v = serde_json::to_value(Error::service_unavailable("later").to_body()).unwrap();
        assert_eq!(v["error"]["type"], "api_error");
        assert_eq!(v["error"]["code"], "service_unavailable");
        assert!(Error::service_unavailable("later").is_retryable());
    }
}
