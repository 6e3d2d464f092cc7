//! Limits against abuse: how many failed card attempts a hosted link takes, and the bounds of
//! the inputs that have no home of their own (the card form's fields, the webhook `events`
//! list).
//!
//! The other bounds live beside their checks: [`crate::customer`] (email, name, phone,
//! address, metadata), [`crate::url`] (URLs), [`crate::card`] (number, CVC, expiry).

use std::fmt;

use crate::error::{InvalidRequestCode, ValidationError};
use crate::event::EventType;

/// The failed card attempts a hosted link (a setup's or a payment's card page) takes before it
/// locks: the attempt that reaches the limit cancels the setup or payment with
/// `lastError.code = "too_many_attempts"`.
///
/// A failed attempt is a card refused before the network (invalid number, wrong CVC, past
/// expiry, a card the mode does not take), a decline, or a failed 3-D Secure challenge.
///
/// ```
/// use vinr_domain::limits::AttemptLimit;
/// let limit = AttemptLimit::new(3).unwrap();
/// assert!(!limit.reached_by(2));
/// assert!(limit.reached_by(3));
/// assert_eq!(AttemptLimit::default().get(), 5);
/// assert!(AttemptLimit::new(0).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttemptLimit(u32);

impl AttemptLimit {
    /// Five failed attempts, the default.
    pub const DEFAULT: AttemptLimit = AttemptLimit(5);

    /// A limit of `n` failed attempts; `None` for 0 (a link must take at least one).
    pub fn new(n: u32) -> Option<AttemptLimit> {
        (n >= 1).then_some(AttemptLimit(n))
    }

    /// The number of failed attempts that locks a link.
    pub fn get(self) -> u32 {
        self.0
    }

    /// Whether `failed` attempts lock the link.
    pub fn reached_by(self, failed: u32) -> bool {
        failed >= self.0
    }
}

impl Default for AttemptLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for AttemptLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A card number as sent (digits and separators) has at most this many characters: 19 digits
/// and room for the spaces of their groups.
pub const CARD_NUMBER_MAX_CHARS: usize = 32;

/// A typed expiry (`MM/YY`, white space allowed around the parts) has at most this many
/// characters.
pub const EXPIRY_MAX_CHARS: usize = 16;

/// A typed CVC (3 or 4 digits, white space allowed around them) has at most this many
/// characters.
pub const CVC_MAX_CHARS: usize = 8;

/// A webhook endpoint's `events` list has at most this many items: every event type, or `*`.
pub fn webhook_events_max() -> usize {
    EventType::ALL.len() + 1
}

/// Checks the size of a webhook endpoint's `events` list: at most [`webhook_events_max`]
/// items, none twice. (Which items are event types is [`EventFilter::parse`]'s check.)
///
/// [`EventFilter::parse`]: crate::event::EventFilter::parse
///
/// ```
/// use vinr_domain::limits::check_webhook_events;
/// assert!(check_webhook_events(&["setup.failed".into(), "payment.failed".into()]).is_ok());
/// let twice = check_webhook_events(&["setup.failed".into(), "setup.failed".into()]).unwrap_err();
/// assert_eq!(twice.param.as_deref(), Some("events"));
/// ```
pub fn check_webhook_events(items: &[String]) -> Result<(), ValidationError> {
    let max = webhook_events_max();
    if items.len() > max {
        return Err(ValidationError::new(
            InvalidRequestCode::ParameterInvalid,
            "events",
            format!("events has at most {max} items"),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    if !items.iter().all(|i| seen.insert(i.as_str())) {
        return Err(ValidationError::new(
            InvalidRequestCode::ParameterInvalid,
            "events",
            "events lists each event type at most once",
        ));
    }
    Ok(())
}

/// Checks the `email` filter of a customer list: at most
/// [`EMAIL_MAX_CHARS`](crate::customer::EMAIL_MAX_CHARS) characters (no longer email can
/// be stored, so none can match).
pub fn check_email_filter(email: &str) -> Result<(), ValidationError> {
    let max = crate::customer::EMAIL_MAX_CHARS;
    if email.chars().count() > max {
        return Err(ValidationError::new(
            InvalidRequestCode::ParameterInvalid,
            "email",
            format!("email has at most {max} characters"),
        ));
    }
    Ok(())
}
