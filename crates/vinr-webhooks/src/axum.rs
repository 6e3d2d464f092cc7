//! For receivers built on axum (feature `axum`): the [`VerifiedEvent`] extractor.
//!
//! Put a [`WebhookVerifier`] in the router's state (or make it reachable with `FromRef`);
//! the extractor reads the raw body and the `x-vinr-signature` header, verifies them, and
//! yields the parsed [`Event`], or answers 400 with a short JSON error.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::clock::system_now;
use crate::event::Event;
use crate::signature::SIGNATURE_HEADER;
use crate::verify::{Verifier, VerifyError};

/// A [`Verifier`] and the receiver's clock, as router state. Cheap to clone.
///
/// ```
/// use vinr_webhooks::Verifier;
/// use vinr_webhooks::axum::WebhookVerifier;
///
/// let state = WebhookVerifier::new(Verifier::new(["whsec_test"]));
/// // Tests pin the clock:
/// let pinned = state.clone().with_clock(|| 1_700_000_000);
/// assert_eq!(pinned.now(), 1_700_000_000);
/// ```
#[derive(Clone)]
pub struct WebhookVerifier {
    verifier: Arc<Verifier>,
    now: fn() -> i64,
}

impl WebhookVerifier {
    /// Verifies with `verifier` against the system clock.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier: Arc::new(verifier),
            now: system_now,
        }
    }

    /// The same, reading "now" (Unix seconds) from `now` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, now: fn() -> i64) -> Self {
        self.now = now;
        self
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The receiver's time, in Unix seconds.
    pub fn now(&self) -> i64 {
        (self.now)()
    }
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

/// An extractor for webhook handlers: a delivery whose signature verified, parsed.
///
/// It consumes the body, so it goes last among a handler's extractors.
///
/// ```
/// use axum::Router;
/// use axum::routing::post;
/// use vinr_webhooks::Verifier;
/// use vinr_webhooks::axum::{VerifiedEvent, WebhookVerifier};
///
/// async fn webhook(VerifiedEvent(event): VerifiedEvent) -> &'static str {
///     // Acknowledge fast; handle idempotently (by event id, or by object version).
///     let _ = (event.id(), event.kind(), event.object_version());
///     "ok"
/// }
///
/// let app: Router = Router::new()
///     .route("/webhooks/vinr", post(webhook))
///     .with_state(WebhookVerifier::new(Verifier::new(["whsec_test"])));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEvent(pub Event);

impl<S> FromRequest<S> for VerifiedEvent
where
    S: Send + Sync,
    WebhookVerifier: FromRef<S>,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = WebhookVerifier::from_ref(state);
        let header = req
            .headers()
            .get(SIGNATURE_HEADER)
            .ok_or(WebhookRejection::MissingSignature)?
            .to_str()
            .map_err(|_| {
                WebhookRejection::Invalid(VerifyError::MalformedHeader("the header is not ASCII"))
            })?
            .to_owned();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| WebhookRejection::UnreadableBody)?;
        verifier
            .verifier()
            .verify(&body, &header, verifier.now())
            .map(VerifiedEvent)
            .map_err(WebhookRejection::Invalid)
    }
}

/// Why [`VerifiedEvent`] refused a request; answered as 400
/// `{"error":{"type":"invalid_request_error","code":…,"message":…}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// No `x-vinr-signature` header.
    #[error("the x-vinr-signature header is missing")]
    MissingSignature,
    /// The body could not be read (too large, or the connection failed).
    #[error("the request body could not be read")]
    UnreadableBody,
    /// Verification failed.
    #[error(transparent)]
    Invalid(VerifyError),
}

impl WebhookRejection {
    /// The machine-readable `code` of the answer.
    ///
    /// ```
    /// use vinr_webhooks::VerifyError;
    /// use vinr_webhooks::axum::WebhookRejection;
    /// assert_eq!(
    ///     WebhookRejection::Invalid(VerifyError::NoMatchingSignature).code(),
    ///     "signature_mismatch"
    /// );
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            WebhookRejection::MissingSignature => "signature_missing",
            WebhookRejection::UnreadableBody => "body_invalid",
            WebhookRejection::Invalid(VerifyError::MalformedHeader(_)) => "signature_malformed",
            WebhookRejection::Invalid(VerifyError::NoMatchingSignature) => "signature_mismatch",
            WebhookRejection::Invalid(VerifyError::TimestampOutsideTolerance { .. }) => {
                "signature_expired"
            }
            WebhookRejection::Invalid(VerifyError::InvalidPayload(_)) => "body_invalid",
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "type": "invalid_request_error",
                "code": self.code(),
                "message": self.to_string(),
            }
        });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}
