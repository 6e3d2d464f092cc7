//! What every command shares: the engine's error, the retry loop, time and ids, events, list
//! limits and idempotency.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use vinr_domain::InvalidRequestCode;
use vinr_domain::event::EventType;
use vinr_domain::ids::{Entropy, EventId};
use vinr_domain::payment::{PaymentRecord, PaymentStatus, TransitionError};
use vinr_ports::event::{Event, EventData, EventObject};
use vinr_ports::store::{
    IdempotencyRecord, IdempotencyState, StoreError, StoredOutcome, Write, WriteSet,
};
use vinr_ports::{Error, ErrorBody, Mode, RequestContext};

use crate::Engine;

/// Idempotency records are forgotten after this long.
const IDEMPOTENCY_TTL_HOURS: i64 = 24;
/// The longest `Idempotency-Key` accepted.
const IDEMPOTENCY_KEY_MAX: usize = 255;

/// The engine's own error: an API error, or a lost race that the retry loop absorbs.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A version guard failed: another command changed what this one read.
    #[error("a concurrent change won")]
    Conflict,
    /// An error for the caller.
    #[error(transparent)]
    Api(#[from] Error),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => EngineError::Conflict,
            StoreError::CursorNotFound => EngineError::Api(Error::NotFound {
                param: Some("startingAfter".to_owned()),
                message: "startingAfter names no object of this list".to_owned(),
            }),
            // The store's own message may name tables or hosts: keep it out of the answer.
            StoreError::Unavailable(_) => EngineError::Api(Error::service_unavailable(
                "the database is unavailable; retry later",
            )),
            StoreError::Failed(_) | StoreError::Corrupt(_) => {
                EngineError::Api(Error::internal("the database failed; retry later"))
            }
        }
    }
}

impl From<vinr_domain::ValidationError> for EngineError {
    fn from(e: vinr_domain::ValidationError) -> Self {
        EngineError::Api(e.into())
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Api(e) => e,
            EngineError::Conflict => {
                Error::internal("too many concurrent changes to one object; retry")
            }
        }
    }
}

/// Maps a refused transition to the error the caller sees.
pub(crate) fn transition_error(e: TransitionError) -> EngineError {
    let code = match e {
        TransitionError::MethodRequired => InvalidRequestCode::PaymentMethodRequired,
        TransitionError::NotAllowed { .. }
        | TransitionError::NotExpired
        | TransitionError::Expired
        | TransitionError::CheckoutUrlRequired => InvalidRequestCode::PaymentUnexpectedState,
    };
    EngineError::Api(Error::InvalidRequest {
        code,
        param: None,
        message: e.to_string(),
    })
}

/// Runs a command until it commits without losing a race (at most `max_attempts` times).
macro_rules! retry {
    ($engine:expr, $attempt:expr) => {{
        let mut tries = 0usize;
        loop {
            tries += 1;
            match $attempt.await {
                Ok(v) => break Ok(v),
                Err($crate::core::EngineError::Api(e)) => break Err(e),
                Err($crate::core::EngineError::Conflict)
                    if tries < $engine.config().max_attempts =>
                {
                    continue;
                }
                Err($crate::core::EngineError::Conflict) => {
                    break Err(vinr_ports::Error::internal(
                        "too many concurrent changes to one object; retry",
                    ));
                }
            }
        }
    }};
}
pub(crate) use retry;

/// An idempotency key to record the outcome under.
#[derive(Debug, Clone)]
pub(crate) struct IdemKey {
    scope: String,
    key: String,
    hash: String,
    /// The record this key replaces (one older than 24 h), or the one reserved in phase 1.
    existing: Option<IdempotencyRecord>,
    /// Whether `existing` is this request's own phase-1 reservation (whose creation time the
    /// outcome keeps), rather than an expired record of an earlier request.
    own_reservation: bool,
}

/// Where an idempotent command starts.
pub(crate) enum Begin<T> {
    /// The key was used before for this very request: here is its outcome.
    Replay(Result<T, Error>),
    /// Run the command (recording under the key, if any).
    Fresh(Option<IdemKey>),
}

impl Engine {
    /// The time, to the second (the wire has seconds; storing more would make a round trip
    /// through a store change the object).
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let now = self.ports().clock.now();
        DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
    }

    /// Fresh randomness for an id.
    pub(crate) fn entropy(&self) -> Entropy {
        self.ports().ids.entropy()
    }

    /// A URL on the hosted surface.
    pub(crate) fn hosted_url(&self, path: &str) -> String {
        format!("{}/hosted/{path}", self.config().public_url)
    }

    /// A new event about `object`.
    pub(crate) fn event(
        &self,
        kind: EventType,
        object: EventObject,
        previous: Option<serde_json::Map<String, serde_json::Value>>,
        livemode: bool,
        now: DateTime<Utc>,
    ) -> Event {
        Event {
            id: EventId::from_entropy(&self.entropy()),
            kind,
            created: now,
            livemode,
            data: EventData {
                object,
                previous_attributes: previous,
            },
        }
    }

    /// The page size of a list call: 1 to 100, 10 when absent.
    pub(crate) fn limit(limit: Option<u32>) -> Result<usize, EngineError> {
        match limit {
            None => Ok(10),
            Some(n @ 1..=100) => Ok(n as usize),
            Some(_) => Err(EngineError::Api(Error::invalid(
                InvalidRequestCode::ParameterInvalid,
                "limit",
                "limit must be between 1 and 100",
            ))),
        }
    }

    /// Starts an idempotent command: checks the key and replays a finished request.
    pub(crate) async fn begin<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        operation: &str,
        request: &impl Serialize,
    ) -> Result<Begin<T>, EngineError> {
        let Some(key) = ctx.idempotency_key.as_deref() else {
            return Ok(Begin::Fresh(None));
        };
        if key.is_empty()
            || key.len() > IDEMPOTENCY_KEY_MAX
            || !key.bytes().all(|b| (0x20..0x7f).contains(&b))
        {
            return Err(EngineError::Api(Error::invalid(
                InvalidRequestCode::ParameterInvalid,
                "Idempotency-Key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters",
            )));
        }
        let hash = request_hash(operation, request)?;
        let now = self.now();
        let record = self.ports().store.idempotency(&ctx.scope, key).await?;
        let fresh = |existing| {
            Ok(Begin::Fresh(Some(IdemKey {
                scope: ctx.scope.clone(),
                key: key.to_owned(),
                hash: hash.clone(),
                existing,
                own_reservation: false,
            })))
        };
        let Some(record) = record else {
            return fresh(None);
        };
        if record.created + Duration::hours(IDEMPOTENCY_TTL_HOURS) <= now {
            return fresh(Some(record));
        }
        match &record.state {
            IdempotencyState::InFlight { resource } => {
                // A charge whose phase 2 was finished by recovery (or whose first response was
                // lost in a crash) is resolved here from the payment itself.
                if let Some(outcome) = self
                    .resolve_in_flight(ctx.mode, resource.as_deref())
                    .await?
                {
                    let mut done = record.clone();
                    done.state = IdempotencyState::Done {
                        outcome: outcome.clone(),
                    };
                    done.version += 1;
                    let ws = WriteSet {
                        idempotency: vec![Write::Update {
                            expected: record.version,
                            value: done,
                        }],
                        ..WriteSet::default()
                    };
                    self.ports().store.commit(ws).await?;
                    if record.request_hash != hash {
                        return Err(EngineError::Api(Error::IdempotencyKeyReused));
                    }
                    if let Some(probe) = &ctx.replay {
                        probe.mark();
                    }
                    return Ok(Begin::Replay(decode_outcome(&outcome)));
                }
                Err(EngineError::Api(Error::IdempotencyKeyInUse))
            }
            IdempotencyState::Done { .. } if record.request_hash != hash => {
                Err(EngineError::Api(Error::IdempotencyKeyReused))
            }
            IdempotencyState::Done { outcome } => {
                if let Some(probe) = &ctx.replay {
                    probe.mark();
                }
                Ok(Begin::Replay(decode_outcome(outcome)))
            }
        }
    }

    /// The outcome of an in-flight charge whose payment has left `processing`, if it has.
    async fn resolve_in_flight(
        &self,
        mode: Mode,
        resource: Option<&str>,
    ) -> Result<Option<StoredOutcome>, EngineError> {
        let Some(id) = resource.and_then(|r| r.parse().ok()) else {
            return Ok(None);
        };
        let Some(record) = self.ports().store.payment(mode, &id).await? else {
            return Ok(None);
        };
        if record.payment.status == PaymentStatus::Processing {
            return Ok(None);
        }
        Ok(Some(encode_outcome(&payment_result(&record))))
    }
}

/// Adds the `Done` record of a successful idempotent command to its write set.
pub(crate) fn record_done<T: Serialize>(
    ws: &mut WriteSet,
    idem: Option<&IdemKey>,
    value: &T,
    now: DateTime<Utc>,
) {
    if let Some(k) = idem {
        let outcome = encode_outcome::<&T>(&Ok(value));
        ws.idempotency
            .push(idem_write(k, IdempotencyState::Done { outcome }, now));
    }
}

/// What `create_payment` answers for a payment in this state.
pub(crate) fn payment_result(
    record: &PaymentRecord,
) -> Result<vinr_domain::payment::Payment, Error> {
    let p = &record.payment;
    match (p.status, &p.last_error) {
        (PaymentStatus::Failed, Some(last)) => {
            match vinr_domain::CardErrorCode::from_wire(last.code.as_str()) {
                Some(code) => Err(Error::Card {
                    code,
                    decline_code: last.decline_code,
                    payment_id: Some(p.id.clone()),
                    message: last.message.clone(),
                }),
                None => Ok(p.clone()),
            }
        }
        _ => Ok(p.clone()),
    }
}

/// The write that records `outcome` under `key`.
pub(crate) fn idem_write(
    key: &IdemKey,
    state: IdempotencyState,
    now: DateTime<Utc>,
) -> Write<IdempotencyRecord> {
    let record = IdempotencyRecord {
        scope: key.scope.clone(),
        key: key.key.clone(),
        request_hash: key.hash.clone(),
        state,
        created: now,
        version: 1,
    };
    match &key.existing {
        None => Write::Insert(record),
        Some(old) => Write::Update {
            expected: old.version,
            value: IdempotencyRecord {
                version: old.version + 1,
                // The outcome of this request's own reservation keeps its creation time; a
                // record of an earlier, expired request is replaced by a new one.
                created: if key.own_reservation {
                    old.created
                } else {
                    now
                },
                ..record
            },
        },
    }
}

impl IdemKey {
    /// The key after its in-flight reservation was committed, ready for phase 2's update.
    pub(crate) fn reserved(mut self, reservation: &Write<IdempotencyRecord>) -> Self {
        self.existing = Some(reservation.value().clone());
        self.own_reservation = true;
        self
    }
}

/// The stored form of an outcome.
pub(crate) fn encode_outcome<T: Serialize>(result: &Result<T, Error>) -> StoredOutcome {
    match result {
        Ok(v) => StoredOutcome {
            ok: true,
            body: serde_json::to_string(v).unwrap_or_default(),
        },
        Err(e) => StoredOutcome {
            ok: false,
            body: serde_json::to_string(&e.to_body()).unwrap_or_default(),
        },
    }
}

/// Reads a stored outcome back.
pub(crate) fn decode_outcome<T: DeserializeOwned>(outcome: &StoredOutcome) -> Result<T, Error> {
    if outcome.ok {
        serde_json::from_str(&outcome.body)
            .map_err(|_| Error::internal("a stored response could not be read"))
    } else {
        match serde_json::from_str::<ErrorBody>(&outcome.body) {
            Ok(body) => Err(Error::from_body(&body)),
            Err(_) => Err(Error::internal("a stored response could not be read")),
        }
    }
}

/// A hash of the operation and its parameters as JSON values (key order and spacing do not
/// matter: `serde_json`'s maps are sorted).
fn request_hash(operation: &str, request: &impl Serialize) -> Result<String, EngineError> {
    let value = serde_json::to_value(request)
        .map_err(|_| EngineError::Api(Error::internal("unhashable request")))?;
    let mut h = Sha256::new();
    h.update(operation.as_bytes());
    h.update([0]);
    h.update(value.to_string().as_bytes());
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The fields whose values changed between two snapshots, with their old values (`version`
/// left out): the `previousAttributes` of an `*.updated` event.
pub(crate) fn previous_attributes<T: Serialize>(
    before: &T,
    after: &T,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let (Ok(serde_json::Value::Object(b)), Ok(serde_json::Value::Object(a))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return None;
    };
    let changed: serde_json::Map<String, serde_json::Value> = b
        .into_iter()
        .filter(|(k, v)| k != "version" && a.get(k) != Some(v))
        .collect();
    (!changed.is_empty()).then_some(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_key_order() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":{"c":2,"d":3}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{ "b": {"d":3, "c":2}, "a": 1 }"#).unwrap();
        assert_eq!(
            request_hash("op", &a).unwrap(),
            request_hash("op", &b).unwrap()
        );
        assert_ne!(
            request_hash("op", &a).unwrap(),
            request_hash("other", &a).unwrap()
        );
    }

    #[test]
    fn previous_attributes_lists_changed_fields_only() {
        let before = serde_json::json!({"a": 1, "b": 2, "version": 1});
        let after = serde_json::json!({"a": 1, "b": 3, "version": 2});
        let prev = previous_attributes(&before, &after).unwrap();
        assert_eq!(serde_json::Value::Object(prev), serde_json::json!({"b": 2}));
        assert!(previous_attributes(&before, &before).is_none());
    }
}
