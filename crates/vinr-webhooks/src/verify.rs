//! Verifying a delivery: the signature against every configured secret, then the time.

use std::time::Duration;

use subtle::{Choice, ConstantTimeEq};

use crate::event::{Event, ParseEventError};
use crate::signature::{Key, ParsedHeader, SecretBytes};

/// How far a delivery's `t` may be from the receiver's clock, either way, by default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a delivery was refused. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The `x-vinr-signature` header is missing its `t`, has it twice, or has an item that is
    /// not `key=value`, a `t` that is not an integer, or a `v1` that is not 64 lower-case hex digits.
    #[error("malformed signature header: {0}")]
    MalformedHeader(&'static str),
    /// No `v1` of the header matches the body under any configured secret.
    #[error("no signature matches the payload under any configured secret")]
    NoMatchingSignature,
    /// The signature matches, but `t` is too far from now: a replay, or a skewed clock.
    #[error(
        "signature timestamp {timestamp} is {} s from now ({now}), beyond the tolerance of {tolerance} s",
        now.abs_diff(*timestamp)
    )]
    TimestampOutsideTolerance {
        /// The header's `t`.
        timestamp: i64,
        /// The receiver's time.
        now: i64,
        /// The tolerance, in seconds.
        tolerance: u64,
    },
    /// The signature holds but the body is not an event (only [`Verifier::verify`] parses).
    #[error(transparent)]
    InvalidPayload(#[from] ParseEventError),
}

/// Checks deliveries against one or more secrets (several during a rotation overlap).
///
/// Build it once and share it: each secret's HMAC key schedule is computed here, so a check
/// costs the body's HMAC and no allocation. `Debug` shows how many secrets, never them.
///
/// ```
/// use std::time::Duration;
/// use vinr_domain::webhook::WebhookSecret;
/// use vinr_webhooks::{Verifier, VerifyError, signature_header};
///
/// let secret = WebhookSecret::new("whsec_test_secret");
/// let verifier = Verifier::new([secret.clone()]).with_tolerance(Duration::from_secs(60));
///
/// let body = br#"{"id":"evt_1","object":"event","type":"customer.created","created":1700000000,
///     "livemode":false,"data":{"object":{"object":"customer","id":"cust_1","version":1}}}"#;
/// let header = signature_header(&[&secret], 1_700_000_000, body);
///
/// // Verify only, without parsing the body:
/// verifier.verify_signature(body, &header, 1_700_000_030).unwrap();
/// // Verify and parse:
/// let event = verifier.verify(body, &header, 1_700_000_030).unwrap();
/// assert_eq!(event.id(), "evt_1");
/// // A replay an hour later:
/// assert!(matches!(
///     verifier.verify_signature(body, &header, 1_700_003_600),
///     Err(VerifyError::TimestampOutsideTolerance { .. })
/// ));
/// ```
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<Key>,
    tolerance: Duration,
}

impl Verifier {
    /// A verifier that accepts a signature by any of `secrets`, with the default tolerance of
    /// 300 s ([`DEFAULT_TOLERANCE`]).
    pub fn new<S: SecretBytes>(secrets: impl IntoIterator<Item = S>) -> Self {
        Self {
            keys: secrets
                .into_iter()
                .map(|s| Key::new(s.secret_bytes()))
                .collect(),
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// The same verifier with another tolerance (whole seconds count; fractions are dropped).
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// How far `t` may be from now, either way.
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Checks a delivery without parsing its body: accepted when any `v1` of `header`
    /// matches `HMAC-SHA256(secret, "<t>.<payload>")` for any configured secret (compared in
    /// constant time), and `|now_unix − t| ≤ tolerance`.
    ///
    /// `payload` must be the raw body bytes as received; re-serialized JSON does not verify.
    /// The signature is checked before the time, so a forged header is reported as
    /// [`VerifyError::NoMatchingSignature`] whatever its `t`.
    ///
    /// ```
    /// use vinr_webhooks::{Verifier, VerifyError, signature_header};
    /// let verifier = Verifier::new(["whsec_new", "whsec_old"]);
    /// // Signed by the old secret only: still accepted (rotation overlap).
    /// let header = signature_header(&["whsec_old"], 100, b"body");
    /// assert_eq!(verifier.verify_signature(b"body", &header, 100), Ok(()));
    /// assert_eq!(
    ///     verifier.verify_signature(b"b0dy", &header, 100),
    ///     Err(VerifyError::NoMatchingSignature)
    /// );
    /// ```
    pub fn verify_signature(
        &self,
        payload: &[u8],
        header: &str,
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        let header = ParsedHeader::parse(header)?;
        let mut matched = Choice::from(0);
        for key in &self.keys {
            let expected = key.signature(header.timestamp_text.as_bytes(), payload);
            for candidate in header.signatures() {
                matched |= expected.ct_eq(&candidate);
            }
        }
        if !bool::from(matched) {
            return Err(VerifyError::NoMatchingSignature);
        }
        let tolerance = self.tolerance.as_secs();
        if now_unix.abs_diff(header.timestamp) > tolerance {
            return Err(VerifyError::TimestampOutsideTolerance {
                timestamp: header.timestamp,
                now: now_unix,
                tolerance,
            });
        }
        Ok(())
    }

    /// [`verify_signature`](Self::verify_signature), then parses the body into an [`Event`]
    /// (unknown types and fields are kept; see [`Event`]).
    ///
    /// ```
    /// use vinr_webhooks::{EventKind, Verifier, signature_header};
    /// let body = br#"{"id":"evt_9","type":"payment.refunded","created":5,"livemode":false,
    ///     "data":{"object":{"object":"refund","id":"re_1","version":2}}}"#;
    /// let header = signature_header(&["whsec_x"], 5, body);
    /// let event = Verifier::new(["whsec_x"]).verify(body, &header, 5).unwrap();
    /// assert_eq!(event.kind(), &EventKind::Unknown("payment.refunded".into()));
    /// assert_eq!(event.object_id(), Some("re_1"));
    /// ```
    pub fn verify(
        &self,
        payload: &[u8],
        header: &str,
        now_unix: i64,
    ) -> Result<Event, VerifyError> {
        self.verify_signature(payload, header, now_unix)?;
        Ok(Event::parse(payload)?)
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.keys.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::signature::{sign, signature_header};

    #[test]
    fn debug_and_errors_never_show_a_secret() {
        let v = Verifier::new(["whsec_supersecret"]);
        assert_eq!(format!("{v:?}"), "Verifier { secrets: 1, tolerance: 300s }");
        let header = format!("t=1,v1={}", sign("whsec_other", 1, b"x"));
        for (h, now) in [(header.as_str(), 1), ("t=1", 1), ("garbage", 1)] {
            let e = v.verify(b"x", h, now).unwrap_err();
            assert!(!format!("{e} {e:?}").contains("supersecret"));
        }
        let ok = signature_header(&["whsec_supersecret"], 1, b"x");
        let e = v.verify_signature(b"x", &ok, 1_000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "signature timestamp 1 is 999 s from now (1000), beyond the tolerance of 300 s"
        );
    }

    #[test]
    fn the_tolerance_is_inclusive_and_symmetric() {
        let v = Verifier::new(["k"]).with_tolerance(Duration::from_millis(10_900));
        let h = signature_header(&["k"], 1_000, b"p");
        for now in [990, 1_000, 1_010] {
            assert_eq!(v.verify_signature(b"p", &h, now), Ok(()), "{now}");
        }
        for now in [989, 1_011, i64::MIN, i64::MAX] {
            assert!(
                matches!(
                    v.verify_signature(b"p", &h, now),
                    Err(VerifyError::TimestampOutsideTolerance {
                        timestamp: 1_000,
                        ..
                    })
                ),
                "{now}"
            );
        }
    }

    #[test]
    fn no_secret_or_no_v1_matches_nothing() {
        let h = signature_header(&["k"], 1, b"p");
        assert_eq!(
            Verifier::new(Vec::<String>::new()).verify_signature(b"p", &h, 1),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            Verifier::new(["k"]).verify_signature(b"p", "t=1,v0=abc", 1),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn the_signed_t_is_the_text_of_the_header() {
        // `t=01` is the integer 1, but "01.p" was not what was signed.
        let v = Verifier::new(["k"]);
        let hex = sign("k", 1, b"p");
        assert_eq!(
            v.verify_signature(b"p", &format!("t=1,v1={hex}"), 1),
            Ok(())
        );
        assert_eq!(
            v.verify_signature(b"p", &format!("t=01,v1={hex}"), 1),
            Err(VerifyError::NoMatchingSignature)
        );
    }
}
