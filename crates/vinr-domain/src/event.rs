//! The event types of the contract: everything that happens to a customer, a method, a setup
//! or a payment is one of these.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! event_types {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)+) => {
        /// The type of an event, as named on the wire (`payment.succeeded`, …).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum EventType {
            $($(#[$doc])* #[serde(rename = $text)] $variant,)+
        }

        impl EventType {
            /// Every event type, in the contract's order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)+];

            /// The type as text.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(EventType::$variant => $text,)+
                }
            }
        }

        impl FromStr for EventType {
            type Err = UnknownEventType;
            fn from_str(s: &str) -> Result<Self, UnknownEventType> {
                match s {
                    $($text => Ok(EventType::$variant),)+
                    _ => Err(UnknownEventType),
                }
            }
        }
    };
}

event_types! {
    /// A customer was created.
    CustomerCreated => "customer.created",
    /// A customer changed; carries `previousAttributes`.
    CustomerUpdated => "customer.updated",
    /// A customer was deleted.
    CustomerDeleted => "customer.deleted",
    /// A method was attached to a customer.
    PaymentMethodAttached => "payment_method.attached",
    /// A method was detached.
    PaymentMethodDetached => "payment_method.detached",
    /// A method's details changed (network updater, re-entered card).
    PaymentMethodUpdated => "payment_method.updated",
    /// A method's card lapses within the notice window.
    PaymentMethodExpiring => "payment_method.expiring",
    /// A setup saved a method.
    SetupSucceeded => "setup.succeeded",
    /// A card attempt on a setup failed.
    SetupFailed => "setup.failed",
    /// A setup was canceled.
    SetupCanceled => "setup.canceled",
    /// A payment was approved.
    PaymentSucceeded => "payment.succeeded",
    /// A payment failed for good.
    PaymentFailed => "payment.failed",
    /// A payment waits for the buyer to authenticate.
    PaymentRequiresAction => "payment.requires_action",
    /// A payment was canceled (or expired unpaid).
    PaymentCanceled => "payment.canceled",
}

/// The text is not an event type of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a known event type")]
pub struct UnknownEventType;

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which events a webhook endpoint wants: a list of types, or `*` for all.
///
/// ```
/// use vinr_domain::event::{EventFilter, EventType};
/// let f = EventFilter::parse(&["payment.succeeded".to_owned()]).unwrap();
/// assert!(f.matches(EventType::PaymentSucceeded));
/// assert!(!f.matches(EventType::PaymentFailed));
/// assert!(EventFilter::parse(&["*".to_owned()]).unwrap().matches(EventType::CustomerCreated));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// Every event.
    All,
    /// Only these types.
    Only(Vec<EventType>),
}

impl EventFilter {
    /// Parses the `events` list of a webhook endpoint; empty lists and unknown types are refused.
    pub fn parse(items: &[String]) -> Result<Self, UnknownEventType> {
        if items.is_empty() {
            return Err(UnknownEventType);
        }
        if items.iter().any(|i| i == "*") {
            return Ok(EventFilter::All);
        }
        let mut types: Vec<EventType> =
            items.iter().map(|i| i.parse()).collect::<Result<_, _>>()?;
        types.sort();
        types.dedup();
        Ok(EventFilter::Only(types))
    }

    /// Whether an event of this type goes to the endpoint.
    pub fn matches(&self, t: EventType) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Only(types) => types.contains(&t),
        }
    }

    /// The list as the wire shows it.
    pub fn to_wire(&self) -> Vec<String> {
        match self {
            EventFilter::All => vec!["*".to_owned()],
            EventFilter::Only(types) => types.iter().map(|t| t.as_str().to_owned()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips() {
        assert_eq!(EventType::ALL.len(), 14);
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(*t));
            assert_eq!(serde_json::to_string(t).unwrap(), format!("\"{t}\""));
        }
        assert!("payment.refunded".parse::<EventType>().is_err());
    }

    #[test]
    fn filters() {
        assert!(EventFilter::parse(&[]).is_err());
        assert!(EventFilter::parse(&["nope".to_owned()]).is_err());
        let f =
            EventFilter::parse(&["setup.failed".to_owned(), "setup.failed".to_owned()]).unwrap();
        assert_eq!(f.to_wire(), vec!["setup.failed".to_owned()]);
    }
}
