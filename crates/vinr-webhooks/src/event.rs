//! The event as a receiver reads it: typed where this version knows the type and the object,
//! and raw JSON everywhere else, so a newer server never breaks an older receiver.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use vinr_domain::customer::Customer;
use vinr_domain::event::EventType;
use vinr_domain::method::PaymentMethod;
use vinr_domain::payment::Payment;
use vinr_domain::setup::Setup;

/// The top-level fields of the envelope this version reads; any other is kept in
/// [`Event::extra`].
const ENVELOPE_FIELDS: &[&str] = &["id", "object", "type", "created", "livemode", "data"];

/// The body is not an event: not JSON, or missing one of the envelope's fields.
///
/// Its message names the problem (a JSON syntax position, or the field), never the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event payload: {reason}")]
pub struct ParseEventError {
    reason: String,
}

impl ParseEventError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// What is wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The `type` of an event: one this version knows, or a newer one kept as text.
///
/// ```
/// use vinr_domain::event::EventType;
/// use vinr_webhooks::EventKind;
/// assert_eq!(EventKind::parse("payment.succeeded"), EventKind::Known(EventType::PaymentSucceeded));
/// assert_eq!(EventKind::parse("payment.refunded"), EventKind::Unknown("payment.refunded".into()));
/// assert_eq!(EventKind::parse("payment.refunded").as_str(), "payment.refunded");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A type of the contract.
    Known(EventType),
    /// A type this version does not know (a newer server), as sent.
    Unknown(String),
}

impl EventKind {
    /// Reads a type; never fails.
    pub fn parse(text: &str) -> Self {
        match text.parse() {
            Ok(t) => EventKind::Known(t),
            Err(_) => EventKind::Unknown(text.to_owned()),
        }
    }

    /// The type as sent.
    pub fn as_str(&self) -> &str {
        match self {
            EventKind::Known(t) => t.as_str(),
            EventKind::Unknown(text) => text,
        }
    }

    /// The known type, if it is one.
    pub fn known(&self) -> Option<EventType> {
        match self {
            EventKind::Known(t) => Some(*t),
            EventKind::Unknown(_) => None,
        }
    }
}

impl From<EventType> for EventKind {
    fn from(t: EventType) -> Self {
        EventKind::Known(t)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(EventKind::parse(&text))
    }
}

/// The object an event is about: typed when this version knows its `object` name and it
/// parses, raw JSON otherwise (a new object, or a known one whose fields changed shape).
///
/// Known objects ignore fields they do not know (a customer's `address` included); read those
/// through [`Event::raw_object`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Object {
    /// `"object": "customer"`.
    Customer(Box<Customer>),
    /// `"object": "payment_method"`.
    PaymentMethod(Box<PaymentMethod>),
    /// `"object": "setup"`.
    Setup(Box<Setup>),
    /// `"object": "payment"`.
    Payment(Box<Payment>),
    /// Anything else, as sent.
    Other(Value),
}

impl Object {
    /// Reads an object; never fails (the fallback is [`Object::Other`]).
    pub fn from_json(value: &Value) -> Self {
        fn typed<T: for<'a> Deserialize<'a>>(value: &Value, wrap: fn(Box<T>) -> Object) -> Object {
            // The domain objects ignore fields they do not know, so a newer server's added
            // fields (an address line included) keep them typed.
            match T::deserialize(value) {
                Ok(t) => wrap(Box::new(t)),
                Err(_) => Object::Other(value.clone()),
            }
        }
        match value.get("object").and_then(Value::as_str) {
            Some("customer") => typed(value, Object::Customer),
            Some("payment_method") => typed(value, Object::PaymentMethod),
            Some("setup") => typed(value, Object::Setup),
            Some("payment") => typed(value, Object::Payment),
            _ => Object::Other(value.clone()),
        }
    }

    /// Its id (`cust_…`, `pm_…`, …); for a raw object, its `id` field if it is text.
    pub fn id(&self) -> Option<&str> {
        match self {
            Object::Customer(c) => Some(c.id.as_str()),
            Object::PaymentMethod(m) => Some(m.id.as_str()),
            Object::Setup(s) => Some(s.id.as_str()),
            Object::Payment(p) => Some(p.id.as_str()),
            Object::Other(v) => v.get("id").and_then(Value::as_str),
        }
    }

    /// Its `version` (+1 on each change), which orders snapshots of one object; for a raw
    /// object, its `version` field if it is an unsigned integer.
    pub fn version(&self) -> Option<u64> {
        match self {
            Object::Customer(c) => Some(c.version),
            Object::PaymentMethod(m) => Some(m.version),
            Object::Setup(s) => Some(s.version),
            Object::Payment(p) => Some(p.version),
            Object::Other(v) => v.get("version").and_then(Value::as_u64),
        }
    }
}

/// An event's `data`: the object after the change and, for updates, what it was before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventData {
    object: Object,
    previous_attributes: Option<Map<String, Value>>,
}

impl EventData {
    /// The object as it is after the change.
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// For `*.updated`: the fields that changed, with their values before.
    pub fn previous_attributes(&self) -> Option<&Map<String, Value>> {
        self.previous_attributes.as_ref()
    }
}

/// An event as delivered to a webhook endpoint (api.md §6), for receivers.
///
/// Reading is tolerant: an unknown `type` is [`EventKind::Unknown`], an unknown or
/// unparsable object is [`Object::Other`], and every field this version does not know stays
/// readable, at the top in [`extra`](Self::extra) and anywhere in [`raw`](Self::raw).
/// Serializing writes the event exactly as received (as a JSON value).
///
/// ```
/// use vinr_domain::event::EventType;
/// use vinr_webhooks::{Event, EventKind, Object};
///
/// let event = Event::parse(br#"{
///     "id": "evt_1", "object": "event", "type": "customer.created", "created": 1700000000,
///     "livemode": false, "region": "eu",
///     "data": {"object": {"object": "customer", "id": "cust_4kQ8zV1nW2xY3bC5dF6gH7jK",
///         "email": "a@b.example", "name": null, "phone": null, "address": null, "metadata": {},
///         "defaultMethodId": null, "created": 1700000000, "livemode": false, "version": 3,
///         "loyaltyTier": "gold"}}
/// }"#).unwrap();
///
/// assert_eq!(event.kind(), &EventKind::Known(EventType::CustomerCreated));
/// assert!(matches!(event.object(), Object::Customer(c) if c.email.as_deref() == Some("a@b.example")));
/// assert_eq!(event.object_id(), Some("cust_4kQ8zV1nW2xY3bC5dF6gH7jK"));
/// assert_eq!(event.object_version(), Some(3));
/// // Fields this version does not know are still there:
/// assert_eq!(event.extra()["region"], "eu");
/// assert_eq!(event.raw_object()["loyaltyTier"], "gold");
/// // Drop what is older than what you hold:
/// assert!(event.is_newer_than(2));
/// assert!(!event.is_newer_than(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    id: String,
    kind: EventKind,
    created: i64,
    livemode: bool,
    data: EventData,
    extra: Map<String, Value>,
    raw: Value,
}

impl Event {
    /// Parses a body. Refused only when it is not JSON or lacks an envelope field (`id`,
    /// `type`, `created`, `livemode`, `data.object`) of the right JSON type.
    pub fn parse(payload: &[u8]) -> Result<Self, ParseEventError> {
        let raw: Value =
            serde_json::from_slice(payload).map_err(|e| ParseEventError::new(e.to_string()))?;
        Self::from_value(raw)
    }

    /// Reads an event already parsed as JSON; the same rules as [`parse`](Self::parse).
    pub fn from_value(raw: Value) -> Result<Self, ParseEventError> {
        let top = raw
            .as_object()
            .ok_or_else(|| ParseEventError::new("the body is not a JSON object"))?;
        let id = top
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| ParseEventError::new("`id` is missing or not a string"))?
            .to_owned();
        let kind = top
            .get("type")
            .and_then(Value::as_str)
            .map(EventKind::parse)
            .ok_or_else(|| ParseEventError::new("`type` is missing or not a string"))?;
        let created = top
            .get("created")
            .and_then(Value::as_i64)
            .ok_or_else(|| ParseEventError::new("`created` is missing or not an integer"))?;
        let livemode = top
            .get("livemode")
            .and_then(Value::as_bool)
            .ok_or_else(|| ParseEventError::new("`livemode` is missing or not a boolean"))?;
        let data = top
            .get("data")
            .and_then(Value::as_object)
            .ok_or_else(|| ParseEventError::new("`data` is missing or not an object"))?;
        let object = data
            .get("object")
            .filter(|o| o.is_object())
            .map(Object::from_json)
            .ok_or_else(|| ParseEventError::new("`data.object` is missing or not an object"))?;
        let previous_attributes = match data.get("previousAttributes") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map.clone()),
            Some(_) => {
                return Err(ParseEventError::new(
                    "`data.previousAttributes` is not an object",
                ));
            }
        };
        let extra = top
            .iter()
            .filter(|(k, _)| !ENVELOPE_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Self {
            id,
            kind,
            created,
            livemode,
            data: EventData {
                object,
                previous_attributes,
            },
            extra,
            raw,
        })
    }

    /// Reads an event of the engine's envelope type (what `GET /v1/events` lists), as a
    /// receiver would after it went over the wire.
    ///
    /// ```
    /// # use chrono::DateTime;
    /// # use vinr_domain::customer::{Customer, CustomerFields};
    /// # use vinr_domain::event::EventType;
    /// # use vinr_domain::ids::{CustomerId, EventId};
    /// use vinr_ports::event::{Event as Envelope, EventData, EventObject};
    /// use vinr_webhooks::{Event, EventKind};
    ///
    /// let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    /// let customer = Customer::new(CustomerId::from_entropy(&[7; 24]), CustomerFields::default(), false, now);
    /// let envelope = Envelope {
    ///     id: EventId::from_entropy(&[1; 24]),
    ///     kind: EventType::CustomerCreated,
    ///     created: now,
    ///     livemode: false,
    ///     data: EventData { object: EventObject::Customer(customer), previous_attributes: None },
    /// };
    /// let event = Event::from_envelope(&envelope).unwrap();
    /// assert_eq!(event.kind(), &EventKind::Known(EventType::CustomerCreated));
    /// assert_eq!(event.created(), 1_700_000_000);
    /// ```
    pub fn from_envelope(envelope: &vinr_ports::event::Event) -> Result<Self, ParseEventError> {
        let raw =
            serde_json::to_value(envelope).map_err(|e| ParseEventError::new(e.to_string()))?;
        Self::from_value(raw)
    }

    /// `evt_…`, as sent (not checked, so a newer id format still reads).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What happened.
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// When it happened, in Unix seconds.
    pub fn created(&self) -> i64 {
        self.created
    }

    /// Whether it happened in live mode.
    pub fn livemode(&self) -> bool {
        self.livemode
    }

    /// The object and, for updates, its previous attributes.
    pub fn data(&self) -> &EventData {
        &self.data
    }

    /// The object the event is about (shorthand for `data().object()`).
    pub fn object(&self) -> &Object {
        &self.data.object
    }

    /// The object's id.
    pub fn object_id(&self) -> Option<&str> {
        self.data.object.id()
    }

    /// The object's `version`: a receiver that already holds this object at a version as high
    /// can drop the event as stale (deliveries are at least once and in no guaranteed order).
    pub fn object_version(&self) -> Option<u64> {
        self.data.object.version()
    }

    /// Whether the object here is newer than the version `held`. An object without a
    /// version cannot be ordered and counts as newer, so it is never dropped as stale.
    pub fn is_newer_than(&self, held: u64) -> bool {
        self.object_version().is_none_or(|v| v > held)
    }

    /// Top-level fields this version does not know, as sent.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// The event exactly as received, as a JSON value.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The object exactly as received, with every field, known or not.
    pub fn raw_object(&self) -> &Value {
        &self.raw["data"]["object"]
    }

    /// The raw JSON value, consuming the event.
    pub fn into_raw(self) -> Value {
        self.raw
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        Event::from_value(raw).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<Value> for Event {
    type Error = ParseEventError;
    fn try_from(raw: Value) -> Result<Self, ParseEventError> {
        Event::from_value(raw)
    }
}

impl TryFrom<&vinr_ports::event::Event> for Event {
    type Error = ParseEventError;
    fn try_from(envelope: &vinr_ports::event::Event) -> Result<Self, ParseEventError> {
        Event::from_envelope(envelope)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(object: Value) -> Value {
        json!({"id": "evt_1", "object": "event", "type": "customer.updated", "created": 10,
               "livemode": true, "data": {"object": object}})
    }

    #[test]
    fn refused_bodies_name_the_problem() {
        let check = |body: &[u8], want: &str| {
            let e = Event::parse(body).unwrap_err();
            assert!(e.reason().contains(want), "{e}");
        };
        check(b"not json", "expected");
        check(b"[]", "not a JSON object");
        check(
            br#"{"type":"x","created":1,"livemode":false,"data":{"object":{}}}"#,
            "`id`",
        );
        check(
            br#"{"id":"e","created":1,"livemode":false,"data":{"object":{}}}"#,
            "`type`",
        );
        check(
            br#"{"id":"e","type":"x","created":"1","livemode":false,"data":{"object":{}}}"#,
            "`created`",
        );
        check(
            br#"{"id":"e","type":"x","created":1,"data":{"object":{}}}"#,
            "`livemode`",
        );
        check(
            br#"{"id":"e","type":"x","created":1,"livemode":false}"#,
            "`data`",
        );
        check(
            br#"{"id":"e","type":"x","created":1,"livemode":false,"data":{"object":3}}"#,
            "`data.object`",
        );
        check(
            br#"{"id":"e","type":"x","created":1,"livemode":false,"data":{"object":{},"previousAttributes":[]}}"#,
            "previousAttributes",
        );
    }

    #[test]
    fn a_known_object_that_does_not_parse_falls_back_to_raw() {
        let obj = json!({"object": "customer", "id": "cust_1", "version": "seven"});
        let e = Event::from_value(envelope(obj.clone())).unwrap();
        assert_eq!(e.object(), &Object::Other(obj));
        assert_eq!(e.object_id(), Some("cust_1"));
        assert_eq!(e.object_version(), None);
        assert!(e.is_newer_than(u64::MAX));
    }

    #[test]
    fn an_unknown_object_keeps_id_and_version() {
        let e = Event::from_value(envelope(
            json!({"object": "refund", "id": "re_1", "version": 4}),
        ))
        .unwrap();
        assert!(matches!(e.object(), Object::Other(_)));
        assert_eq!((e.object_id(), e.object_version()), (Some("re_1"), Some(4)));
        assert!(e.is_newer_than(3) && !e.is_newer_than(4));
    }

    #[test]
    fn previous_attributes_and_serde_round_trip() {
        let mut raw = envelope(json!({"object": "thing"}));
        raw["data"]["previousAttributes"] = json!({"email": "old@x.example"});
        let e = Event::from_value(raw.clone()).unwrap();
        assert_eq!(
            e.data().previous_attributes().unwrap()["email"],
            "old@x.example"
        );
        assert_eq!(serde_json::to_value(&e).unwrap(), raw);
        let back: Event = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(back, e);
        assert_eq!(Event::try_from(raw.clone()).unwrap().into_raw(), raw);
        assert!(serde_json::from_value::<Event>(json!({})).is_err());
    }

    #[test]
    fn event_kinds_serialize_as_text() {
        for t in EventType::ALL {
            let k = EventKind::from(*t);
            assert_eq!(k.known(), Some(*t));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(serde_json::from_str::<EventKind>(&json).unwrap(), k);
        }
        let k: EventKind = serde_json::from_str("\"payment.refunded\"").unwrap();
        assert_eq!(k.known(), None);
        assert_eq!(k.to_string(), "payment.refunded");
    }
}
