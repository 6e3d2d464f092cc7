//! VINR webhooks, for the sender and the receiver (api.md §6).
//!
//! A delivery is a `POST` of the event with
//! `x-vinr-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, one
//! `v1` per signing secret (two during a rotation overlap). This crate signs
//! ([`sign`], [`signature_header`]), verifies ([`Verifier`]: any `v1` against any secret, in
//! constant time, within a tolerance), and reads the body into a typed [`Event`] that keeps
//! whatever a newer server adds (unknown types, objects and fields stay readable).
//!
//! It is pure: no I/O, and no clock reads: the caller passes "now". The exceptions are
//! optional adapters: the axum extractor, which reads the system clock unless given another,
//! and the delivery worker (feature `dispatch`), which sends over HTTP and reads the `Clock`
//! port.
//!
//! ```
//! use vinr_domain::webhook::WebhookSecret;
//! use vinr_webhooks::{EventKind, Verifier, signature_header};
//!
//! let secret = WebhookSecret::new("whsec_test_secret");
//! let body = br#"{"id":"evt_1","object":"event","type":"payment.succeeded","created":1700000000,
//!     "livemode":false,"data":{"object":{"object":"payment","id":"pay_1","version":3}}}"#;
//!
//! // The sender:
//! let header = signature_header(&[&secret], 1_700_000_000, body);
//!
//! // The receiver, with the raw body bytes and its own clock:
//! let verifier = Verifier::new([secret]);
//! let event = verifier.verify(body, &header, 1_700_000_010).unwrap();
//! assert_eq!(event.kind().as_str(), "payment.succeeded");
//! assert!(matches!(event.kind(), EventKind::Known(_)));
//! assert_eq!(event.object_version(), Some(3));
//! ```
//!
//! # Layout
//!
//! - [`signature`]: signing, the header format and its parser.
//! - [`verify`]: [`Verifier`] and [`VerifyError`].
//! - [`event`]: the receiver's [`Event`], [`EventKind`] and [`Object`].
//! - [`harness`]: delivers events to a receiver with duplicates, reordering and delays, to
//!   prove it idempotent and order-proof; [`harness::signed_request`] builds a delivery.
//! - `axum` (feature `axum`): the `VerifiedEvent` extractor.
//! - `dispatch` (feature `dispatch`): the delivery worker, `Dispatcher`: outbox → signed HTTP
//!   `POST`s, retries with backoff and jitter, every attempt recorded.

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "axum")]
mod clock;
#[cfg(feature = "dispatch")]
pub mod dispatch;
pub mod event;
pub mod harness;
pub mod signature;
pub mod verify;

pub use event::{Event, EventData, EventKind, Object, ParseEventError};
pub use signature::{
    EVENT_ID_HEADER, SIGNATURE_HEADER, SecretBytes, SignatureHeader, hmac_sha256, parse_header,
    sign, signature_header, to_hex,
};
pub use verify::{DEFAULT_TOLERANCE, Verifier, VerifyError};
