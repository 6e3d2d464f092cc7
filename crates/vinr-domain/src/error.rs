//! The stable, machine-readable error codes of the contract, shared by every layer.
//!
//! Codes are enums so a caller can `match` on them; each has the exact snake_case string of
//! `api.md` on the wire.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every code, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The code as it appears on the wire.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Reads a code from its wire text.
            pub fn from_wire(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

code_enum!(
    /// The codes of a refused request (`invalid_request_error`, HTTP 400).
    InvalidRequestCode {
        /// A required parameter is absent.
        ParameterMissing => "parameter_missing",
        /// A parameter has the wrong type or value.
        ParameterInvalid => "parameter_invalid",
        /// A parameter the endpoint does not know.
        UnknownParameter => "unknown_parameter",
        /// An email address that is not one.
        InvalidEmail => "invalid_email",
        /// Metadata over its limits.
        InvalidMetadata => "invalid_metadata",
        /// A URL that is not an absolute http(s) URL.
        InvalidUrl => "invalid_url",
        /// An amount outside `1..=99_999_999` minor units.
        AmountInvalid => "amount_invalid",
        /// A currency that is not a known ISO 4217 code.
        CurrencyInvalid => "currency_invalid",
        /// An off-session payment with no method to charge.
        PaymentMethodRequired => "payment_method_required",
        /// The method was detached and can no longer be used.
        PaymentMethodDetached => "payment_method_detached",
        /// The method belongs to another customer.
        PaymentMethodCustomerMismatch => "payment_method_customer_mismatch",
        /// The object is not in a state that allows the call.
        PaymentUnexpectedState => "payment_unexpected_state",
        /// A card number that is not in the sandbox test-card table.
        NotATestCard => "not_a_test_card",
        /// A sandbox-only call made in live mode, or the reverse.
        LivemodeMismatch => "livemode_mismatch",
        /// A body that is not valid JSON.
        BodyInvalid => "body_invalid",
        /// A body over the size limit.
        BodyTooLarge => "body_too_large",
    }
);

code_enum!(
    /// The codes of a card error (`card_error`, HTTP 402).
    CardErrorCode {
        /// The issuer declined; see the decline code.
        CardDeclined => "card_declined",
        /// The card has expired.
        ExpiredCard => "expired_card",
        /// The CVC is wrong.
        IncorrectCvc => "incorrect_cvc",
        /// The number is not a valid card number.
        IncorrectNumber => "incorrect_number",
        /// The network failed to process the card; retrying may succeed.
        ProcessingError => "processing_error",
    }
);

code_enum!(
    /// Why the issuer declined (`declineCode`).
    DeclineCode {
        /// No reason given.
        GenericDecline => "generic_decline",
        /// Not enough money on the account.
        InsufficientFunds => "insufficient_funds",
        /// The card was reported lost.
        LostCard => "lost_card",
        /// The card was reported stolen.
        StolenCard => "stolen_card",
    }
);

code_enum!(
    /// The code of a payment's or setup's `lastError`.
    LastErrorCode {
        /// The issuer declined.
        CardDeclined => "card_declined",
        /// The card has expired.
        ExpiredCard => "expired_card",
        /// The CVC is wrong.
        IncorrectCvc => "incorrect_cvc",
        /// The number is not a valid card number.
        IncorrectNumber => "incorrect_number",
        /// The network failed to process the card.
        ProcessingError => "processing_error",
        /// The card needs the buyer to authenticate (3-D Secure) and the buyer is not present.
        AuthenticationRequired => "authentication_required",
        /// The buyer failed or abandoned the 3-D Secure challenge.
        AuthenticationFailed => "authentication_failed",
        /// Too many failed card attempts on the hosted page: the link was locked (canceled).
        TooManyAttempts => "too_many_attempts",
    }
);

impl From<CardErrorCode> for LastErrorCode {
    fn from(code: CardErrorCode) -> Self {
        match code {
            CardErrorCode::CardDeclined => LastErrorCode::CardDeclined,
            CardErrorCode::ExpiredCard => LastErrorCode::ExpiredCard,
            CardErrorCode::IncorrectCvc => LastErrorCode::IncorrectCvc,
            CardErrorCode::IncorrectNumber => LastErrorCode::IncorrectNumber,
            CardErrorCode::ProcessingError => LastErrorCode::ProcessingError,
        }
    }
}

/// A card failure: the code and, for declines, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CardFailure {
    /// What went wrong.
    pub code: CardErrorCode,
    /// Why the issuer declined, for `card_declined`.
    pub decline_code: Option<DeclineCode>,
}

impl CardFailure {
    /// A decline with its reason.
    pub fn declined(reason: DeclineCode) -> Self {
        Self {
            code: CardErrorCode::CardDeclined,
            decline_code: Some(reason),
        }
    }

    /// A failure that is not a decline.
    pub fn of(code: CardErrorCode) -> Self {
        Self {
            code,
            decline_code: None,
        }
    }

    /// The message shown to merchants and buyers; never mentions card data.
    pub fn message(&self) -> &'static str {
        match (self.code, self.decline_code) {
            (CardErrorCode::CardDeclined, Some(DeclineCode::InsufficientFunds)) => {
                "Your card has insufficient funds."
            }
            (
                CardErrorCode::CardDeclined,
                Some(DeclineCode::LostCard | DeclineCode::StolenCard),
            ) => "Your card was declined.",
            (CardErrorCode::CardDeclined, Some(DeclineCode::GenericDecline) | None) => {
                "Your card was declined."
            }
            (CardErrorCode::ExpiredCard, _) => "Your card has expired.",
            (CardErrorCode::IncorrectCvc, _) => "Your card's security code is incorrect.",
            (CardErrorCode::IncorrectNumber, _) => "Your card number is incorrect.",
            (CardErrorCode::ProcessingError, _) => {
                "An error occurred while processing your card. Try again in a little bit."
            }
        }
    }
}

/// The `lastError` of a payment or a setup: why the last attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    /// What went wrong.
    pub code: LastErrorCode,
    /// Why the issuer declined, for `card_declined`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<DeclineCode>,
    /// A human-readable explanation.
    pub message: String,
}

impl LastError {
    /// The last error recording a card failure.
    pub fn from_card(failure: CardFailure) -> Self {
        Self {
            code: failure.code.into(),
            decline_code: failure.decline_code,
            message: failure.message().to_owned(),
        }
    }

    /// The card needs authentication and the buyer is not there to give it.
    pub fn authentication_required() -> Self {
        Self {
            code: LastErrorCode::AuthenticationRequired,
            decline_code: None,
            message: "This payment requires the buyer to authenticate (3-D Secure).".to_owned(),
        }
    }

    /// The buyer failed the authentication challenge.
    pub fn authentication_failed() -> Self {
        Self {
            code: LastErrorCode::AuthenticationFailed,
            decline_code: None,
            message: "The buyer failed to authenticate the card.".to_owned(),
        }
    }

    /// Too many failed card attempts: the hosted link was locked.
    pub fn too_many_attempts() -> Self {
        Self {
            code: LastErrorCode::TooManyAttempts,
            decline_code: None,
            message: "Too many failed card attempts; this link is locked.".to_owned(),
        }
    }
}

/// A request refused by validation: the code, the parameter at fault, and why.
///
/// ```
/// use vinr_domain::{InvalidRequestCode, ValidationError};
/// let e = ValidationError::new(InvalidRequestCode::InvalidEmail, "email", "not an email address");
/// assert_eq!(e.param.as_deref(), Some("email"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    /// The stable code.
    pub code: InvalidRequestCode,
    /// The parameter at fault, as named on the wire (`metadata`, `address.country`, …).
    pub param: Option<String>,
    /// Why, in words; never echoes card data.
    pub message: String,
}

impl ValidationError {
    /// A validation error about one parameter.
    pub fn new(
        code: InvalidRequestCode,
        param: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            param: Some(param.into()),
            message: message.into(),
        }
    }

    /// A validation error about no parameter in particular.
    pub fn general(code: InvalidRequestCode, message: impl Into<String>) -> Self {
        Self {
            code,
            param: None,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_wire_text() {
        for c in InvalidRequestCode::ALL {
            assert_eq!(InvalidRequestCode::from_wire(c.as_str()), Some(*c));
            assert_eq!(
                serde_json::to_string(c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        for c in CardErrorCode::ALL {
            assert_eq!(CardErrorCode::from_wire(c.as_str()), Some(*c));
            assert_eq!(LastErrorCode::from(*c).as_str(), c.as_str());
        }
        for c in DeclineCode::ALL {
            assert_eq!(DeclineCode::from_wire(c.as_str()), Some(*c));
        }
    }

    #[test]
    fn last_error_serializes_camel_case() {
        let e = LastError::from_card(CardFailure::declined(DeclineCode::InsufficientFunds));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "card_declined");
        assert_eq!(v["declineCode"], "insufficient_funds");
    }
}
