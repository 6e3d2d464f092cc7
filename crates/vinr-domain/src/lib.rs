//! The pure model of VINR's customers & stored payment methods.
//!
//! Everything here is a value or a pure function: no async, no I/O, and no clock reads
//! (time is always passed in).
//! The engine (`vinr-engine`) reads state through ports, asks this crate what the next state
//! is, and commits what it is told.
//!
//! # Layout
//! - [`ids`]: prefixed, random, typed identifiers (`cust_…`, `pm_…`, …).
//! - [`customer`]: the customer object and the validation of its fields.
//! - [`card`]: card numbers (Luhn, brand, masking), CVCs and expiry dates.
//! - [`money`]: currencies with their ISO 4217 exponents and amounts in minor units.
//! - [`method`]: the stored payment method (a card summary, never the number).
//! - [`payment`]: the payment object and its state machine.
//! - [`setup`]: the setup object (saving a card) and its state machine.
//! - [`event`]: the event types of the contract.
//! - [`url`]: merchant-given URLs.
//! - [`webhook`]: webhook endpoint records and their secrets.
//! - [`testcards`]: the sandbox test-card table.
//! - [`error`]: the stable error codes shared by every layer.
//! - [`limits`]: the failed-attempt limit of hosted links and the bounds of card-form fields.

pub mod card;
pub mod customer;
pub mod error;
pub mod event;
pub mod ids;
pub mod limits;
pub mod method;
pub mod money;
pub mod payment;
pub mod setup;
pub mod testcards;
pub mod url;
pub mod webhook;

pub use error::{
    CardErrorCode, CardFailure, DeclineCode, InvalidRequestCode, LastError, LastErrorCode,
    ValidationError,
};
