//! The `DeliveryStore` port: the outbox side of webhooks.
//!
//! Events are written in the same write set as the change they describe (the events table is
//! the outbox). Delivery then runs in three steps, each safe with many workers on many
//! machines: **fan-out** turns each new event into one delivery per enabled endpoint of its
//! mode whose filter matches; **claim** leases due deliveries to one worker; **record** stores
//! the attempt and what comes next (delivered, retry at a time, or failed for good).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use vinr_domain::ids::{EventId, WebhookEndpointId};
use vinr_domain::webhook::EndpointRecord;

use crate::event::Event;
use crate::store::StoreError;

/// A delivery is one event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeliveryKey {
    /// The event.
    pub event: EventId,
    /// The endpoint.
    pub endpoint: WebhookEndpointId,
}

/// A delivery leased to a worker: send it, then [`DeliveryStore::record_attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryJob {
    /// Which delivery.
    pub key: DeliveryKey,
    /// The number of this attempt, from 1.
    pub attempt: u32,
    /// The event to send.
    pub event: Event,
    /// The endpoint to send it to, with its signing secrets.
    pub endpoint: EndpointRecord,
}

/// One attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// When it was made.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// How long it took, in milliseconds.
    pub latency_ms: u64,
    /// Why it failed, if it did (a transport error or a non-2xx status); never a secret.
    pub error: Option<String>,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt at `next_at`.
    Pending {
        /// When the next attempt is due.
        #[serde(with = "chrono::serde::ts_seconds")]
        next_at: DateTime<Utc>,
    },
    /// A 2xx answer arrived.
    Delivered,
    /// The retry schedule is spent.
    Failed,
}

/// A delivery and its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    /// Which delivery.
    pub key: DeliveryKey,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptRecord>,
}

/// How much work waits in the outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Events not fanned out yet.
    pub unfanned_events: u64,
    /// Deliveries pending (due or not).
    pub pending_deliveries: u64,
    /// The age of the oldest due delivery, in seconds (the delivery lag); 0 when none is due.
    pub oldest_due_seconds: u64,
}

/// Where deliveries are kept.
///
/// Contract (checked by the store contract suite):
/// - `fan_out` creates, for each event not yet fanned out (oldest first, at most `limit`
///   events), one `Pending { next_at: now }` delivery per endpoint of the event's mode whose
///   status is enabled and whose filter matches the event's type, and marks the event fanned
///   out, atomically per event; concurrent callers never fan out one event twice; returns the
///   number of deliveries created;
/// - `claim_due` returns up to `limit` deliveries that are pending with `next_at <= now` and
///   not leased, oldest due first, and leases them until `now + lease`: until then no other
///   `claim_due` returns them (PostgreSQL: `FOR UPDATE SKIP LOCKED`); a delivery whose endpoint
///   was deleted is marked failed instead of returned; `attempt` is one more than the attempts
///   recorded;
/// - `record_attempt` appends the attempt and sets the status, only if the delivery is still
///   pending with exactly `record.attempt - 1` attempts (else it changes nothing and returns
///   false: another worker already recorded this attempt); it releases the lease;
/// - `deliveries` lists an event's deliveries with their attempts;
/// - `purge_events` deletes events created before `before` and their deliveries.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait DeliveryStore: Send + Sync + 'static {
    /// Turns new events into deliveries.
    async fn fan_out(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, StoreError>;
    /// Leases due deliveries to the caller.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError>;
    /// Records an attempt and what follows it.
    async fn record_attempt(
        &self,
        key: &DeliveryKey,
        record: AttemptRecord,
        next: DeliveryStatus,
    ) -> Result<bool, StoreError>;
    /// An event's deliveries.
    async fn deliveries(&self, event: &EventId) -> Result<Vec<DeliveryState>, StoreError>;
    /// The outbox's size and lag at `now`.
    async fn outbox_stats(&self, now: DateTime<Utc>) -> Result<OutboxStats, StoreError>;
    /// Deletes events created before `before`, with their deliveries; returns how many events.
    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
