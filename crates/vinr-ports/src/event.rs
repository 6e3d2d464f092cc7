//! The event envelope, as listed by `GET /v1/events` and delivered to webhook endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vinr_domain::customer::Customer;
use vinr_domain::event::EventType;
use vinr_domain::ids::EventId;
use vinr_domain::method::PaymentMethod;
use vinr_domain::payment::Payment;
use vinr_domain::setup::Setup;

/// Something that happened, with a snapshot of the object it happened to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "event", rename_all = "camelCase")]
pub struct Event {
    /// `evt_…`.
    pub id: EventId,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created: DateTime<Utc>,
    /// Whether it happened in live mode.
    pub livemode: bool,
    /// The object, and what changed.
    pub data: EventData,
}

/// The object of an event, and for updates the previous values of the fields that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    /// The object as it is after the change (its `version` orders snapshots).
    pub object: EventObject,
    /// For `*.updated`: the fields that changed, with their values before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum EventObject {
    /// A customer.
    Customer(Customer),
    /// A payment method.
    PaymentMethod(PaymentMethod),
    /// A setup.
    Setup(Setup),
    /// A payment.
    Payment(Payment),
}

impl EventObject {
    /// The id of the object, as text.
    pub fn id(&self) -> &str {
        match self {
            EventObject::Customer(c) => c.id.as_str(),
            EventObject::PaymentMethod(m) => m.id.as_str(),
            EventObject::Setup(s) => s.id.as_str(),
            EventObject::Payment(p) => p.id.as_str(),
        }
    }

    /// The version of the object.
    pub fn version(&self) -> u64 {
        match self {
            EventObject::Customer(c) => c.version,
            EventObject::PaymentMethod(m) => m.version,
            EventObject::Setup(s) => s.version,
            EventObject::Payment(p) => p.version,
        }
    }
}
