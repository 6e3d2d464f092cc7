//! Prefixed, random, typed identifiers.
//!
//! Every id is `<prefix>_<24 base62 chars>`.
//! The randomness comes from the caller (the `IdGenerator` port), so this module stays pure:
//! 24 random bytes become 24 base62 characters, which carry at least 136 bits of min-entropy
//! (each byte reduced modulo 62 keeps ≥ 5.68 bits), well above the 128 the contract asks.
//! Each kind of id is its own type, so a `pm_…` can never be passed where a `cust_…` goes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The 62 characters an id body is drawn from.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// How many characters follow the prefix and the underscore.
pub const ID_BODY_LEN: usize = 24;

/// The random bytes an id is made from; supply them from a cryptographic generator.
pub type Entropy = [u8; ID_BODY_LEN];

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string does not start with the expected `<prefix>_`.
    #[error("expected an id starting with `{expected}_`")]
    WrongPrefix {
        /// The prefix that was expected, without the underscore.
        expected: &'static str,
    },
    /// The part after the prefix is not 24 base62 characters.
    #[error("an id has 24 letters or digits after its prefix")]
    MalformedBody,
}

/// Encodes 24 random bytes as a 24-character base62 string.
///
/// ```
/// let body = vinr_domain::ids::base62_body(&[0u8; 24]);
/// assert_eq!(body, "000000000000000000000000");
/// ```
pub fn base62_body(entropy: &Entropy) -> String {
    entropy
        .iter()
        .map(|b| char::from(BASE62[usize::from(*b) % BASE62.len()]))
        .collect()
}

fn parse_body(s: &str, prefix: &'static str) -> Result<(), IdError> {
    let body = s
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .ok_or(IdError::WrongPrefix { expected: prefix })?;
    if body.len() == ID_BODY_LEN && body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(IdError::MalformedBody)
    }
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix of this kind of id, without the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// Makes a new id from 24 random bytes.
            pub fn from_entropy(entropy: &Entropy) -> Self {
                Self(format!("{}_{}", $prefix, base62_body(entropy)))
            }

            /// Parses an id, checking its prefix and body.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                parse_body(s, $prefix)?;
                Ok(Self(s.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                parse_body(&s, $prefix)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

define_id!(
    /// A customer id, `cust_…`.
    ///
    /// ```
    /// use vinr_domain::ids::CustomerId;
    /// let id = CustomerId::from_entropy(&[7u8; 24]);
    /// assert!(id.as_str().starts_with("cust_"));
    /// assert_eq!(id.as_str().parse::<CustomerId>().unwrap(), id);
    /// assert!("pm_777777777777777777777777".parse::<CustomerId>().is_err());
    /// ```
    CustomerId,
    "cust"
);
define_id!(
    /// A payment method id, `pm_…`.
    PaymentMethodId,
    "pm"
);
define_id!(
    /// A payment id, `pay_…`.
    PaymentId,
    "pay"
);
define_id!(
    /// A setup id, `seti_…`.
    SetupId,
    "seti"
);
define_id!(
    /// An event id, `evt_…`.
    EventId,
    "evt"
);
define_id!(
    /// A webhook endpoint id, `we_…`.
    WebhookEndpointId,
    "we"
);

/// The id of one authorization attempt of a payment or a setup at the card network.
///
/// The network keys its answer by this id, so asking twice for the same attempt gives the
/// same answer and never charges twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttemptId(String);

impl AttemptId {
    /// The attempt number `n` of the object with id `owner` (a payment or a setup).
    ///
    /// ```
    /// let a = vinr_domain::ids::AttemptId::new("pay_x", 2);
    /// assert_eq!(a.as_str(), "pay_x.2");
    /// ```
    pub fn new(owner: &str, n: u32) -> Self {
        Self(format!("{owner}.{n}"))
    }

    /// The attempt id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, ok: bool) {
        assert_eq!(CustomerId::parse(input).is_ok(), ok, "{input}");
    }

    #[test]
    fn parse_table() {
        check("cust_0123456789abcdefghijABCD", true);
        check("cust_0123456789abcdefghijABC", false);
        check("cust_0123456789abcdefghijABCDE", false);
        check("cust_0123456789abcdefghij-BCD", false);
        check("pm_0123456789abcdefghijABCD", false);
        check("cust0123456789abcdefghijABCD", false);
        check("", false);
    }

    #[test]
    fn serde_checks_the_prefix() {
        let ok: Result<PaymentId, _> = serde_json::from_str("\"pay_0123456789abcdefghijABCD\"");
        assert!(ok.is_ok());
        let bad: Result<PaymentId, _> = serde_json::from_str("\"seti_0123456789abcdefghijABCD\"");
        assert!(bad.is_err());
    }

    proptest! {
        #[test]
        fn generated_ids_have_the_contract_format(entropy in proptest::array::uniform24(any::<u8>())) {
            let ids = [
                (CustomerId::from_entropy(&entropy).to_string(), "cust_"),
                (PaymentMethodId::from_entropy(&entropy).to_string(), "pm_"),
                (PaymentId::from_entropy(&entropy).to_string(), "pay_"),
                (SetupId::from_entropy(&entropy).to_string(), "seti_"),
                (EventId::from_entropy(&entropy).to_string(), "evt_"),
                (WebhookEndpointId::from_entropy(&entropy).to_string(), "we_"),
            ];
            for (id, prefix) in ids {
                let body = id.strip_prefix(prefix).unwrap();
                prop_assert_eq!(body.len(), 24);
                prop_assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
            }
            let c = CustomerId::from_entropy(&entropy);
            prop_assert_eq!(CustomerId::parse(c.as_str()).unwrap(), c);
        }

        #[test]
        fn different_entropy_gives_different_ids(a in proptest::array::uniform24(any::<u8>()), b in proptest::array::uniform24(any::<u8>())) {
            // Reduction modulo 62 maps 256 byte values onto 62 characters, so equal ids need
            // equal residues; distinct residues must give distinct ids.
            let ra: Vec<u8> = a.iter().map(|x| x % 62).collect();
            let rb: Vec<u8> = b.iter().map(|x| x % 62).collect();
            prop_assert_eq!(ra == rb, CustomerId::from_entropy(&a) == CustomerId::from_entropy(&b));
        }

        #[test]
        fn parse_accepts_only_the_format(s in ".*") {
            let ok = PaymentMethodId::parse(&s).is_ok();
            let shaped = s.strip_prefix("pm_").is_some_and(|b| b.len() == 24 && b.bytes().all(|c| c.is_ascii_alphanumeric()));
            prop_assert_eq!(ok, shaped);
        }
    }
}
