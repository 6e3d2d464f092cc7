//! The `Store` port: reads, and one [`WriteSet`] committed as a unit.
//!
//! Every command of the engine reads what it needs (each object carries its `version`),
//! decides with the pure domain, and commits one write set guarded by the versions it read.
//! A guard that fails means a concurrent change: the store answers [`StoreError::Conflict`],
//! nothing of the write set is applied, and the engine retries the command from its reads.
//! The write set is plain data, so each store commits it its own way (a lock, a transaction,
//! a savepoint in a group commit).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vinr_domain::customer::Customer;
use vinr_domain::event::EventType;
use vinr_domain::ids::{
    CustomerId, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_domain::method::{Fingerprint, SealedCard, StoredMethod};
use vinr_domain::payment::{PaymentRecord, PaymentStatus};
use vinr_domain::setup::SetupRecord;
use vinr_domain::webhook::EndpointRecord;

use crate::Mode;
use crate::event::Event;

/// Why a store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A version guard failed, or an insert met an existing key (id or idempotency key): a
    /// concurrent change won. Nothing was applied.
    #[error("a concurrent change won; retry from the reads")]
    Conflict,
    /// The `startingAfter` cursor names no object of this list.
    #[error("the cursor names no object of this list")]
    CursorNotFound,
    /// The store cannot be reached right now: the connection was refused, lost or timed out,
    /// the database is busy, locked or shutting down. Retrying later may succeed.
    /// Nothing of the write set was applied, except when the connection was lost while the
    /// commit itself was on its way: then it was applied whole or not at all, and the caller
    /// cannot tell which (idempotency records make the retry safe).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store answered with an error that retrying will not cure (a statement it refuses,
    /// a schema this build does not match). Nothing of the write set was applied.
    #[error("the store failed: {0}")]
    Failed(String),
    /// The store holds something it cannot read back.
    #[error("the store holds unreadable data: {0}")]
    Corrupt(String),
}

/// A page request: at most `limit` objects after `starting_after`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<Id> {
    /// How many objects at most (1 to 100 from the API; the store accepts any positive value).
    pub limit: usize,
    /// Objects strictly older than this one.
    pub starting_after: Option<Id>,
}

impl<Id> PageRequest<Id> {
    /// The first page of `limit` objects.
    pub fn first(limit: usize) -> Self {
        Self {
            limit,
            starting_after: None,
        }
    }
}

/// A page of objects, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The objects.
    pub items: Vec<T>,
    /// Whether older objects follow.
    pub has_more: bool,
}

/// One change to a stored object, guarded by the version the command read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write<T> {
    /// A new object; fails with [`StoreError::Conflict`] if its id (or unique key) exists.
    Insert(T),
    /// Replaces the object whose stored version is `expected`.
    Update {
        /// The version read.
        expected: u64,
        /// The new object (its version is `expected + 1`).
        value: T,
    },
    /// Removes the object whose stored version is `expected`.
    Delete {
        /// The version read.
        expected: u64,
        /// The object as read.
        value: T,
    },
    /// Writes nothing, but fails the commit unless the object's stored version is still
    /// `expected`: a command that *used* an object it does not change (a charge using a
    /// method) is ordered after any concurrent change of it (a detach).
    Check {
        /// The version read.
        expected: u64,
        /// The object as read.
        value: T,
    },
}

impl<T> Write<T> {
    /// The object written (or deleted).
    pub fn value(&self) -> &T {
        match self {
            Write::Insert(v)
            | Write::Update { value: v, .. }
            | Write::Delete { value: v, .. }
            | Write::Check { value: v, .. } => v,
        }
    }
}

/// Where an idempotent request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum IdempotencyState {
    /// The request is running (a charge between its two phases); `resource` names the object
    /// it created, so recovery can finish it.
    InFlight {
        /// The id of the object being created.
        resource: Option<String>,
    },
    /// The request finished; its outcome is replayed to any retry.
    Done {
        /// The stored outcome.
        outcome: StoredOutcome,
    },
}

/// The outcome of a finished request, as it is replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredOutcome {
    /// Whether the request succeeded.
    pub ok: bool,
    /// The JSON of the response object (`ok`) or of the `ErrorBody` (not `ok`).
    pub body: String,
}

/// An idempotency key's record, unique per `(scope, key)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    /// The API key's scope.
    pub scope: String,
    /// The `Idempotency-Key`.
    pub key: String,
    /// A hash of the operation and its canonical parameters.
    pub request_hash: String,
    /// Running or done.
    pub state: IdempotencyState,
    /// When the key was first used; records older than 24 h are forgotten.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created: DateTime<Utc>,
    /// +1 on every change.
    pub version: u64,
}

/// Everything one command changes, committed together or not at all.
///
/// A store MUST apply every write and append every event, or none, and MUST check every guard
/// (`Insert`: the key is free; `Update`/`Delete`/`Check`: the stored version equals `expected`;
/// an event: its id is new) inside the same atomic step. Any failed guard is
/// [`StoreError::Conflict`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSet {
    /// Customer changes.
    pub customers: Vec<Write<Customer>>,
    /// Method changes.
    pub methods: Vec<Write<StoredMethod>>,
    /// Payment changes.
    pub payments: Vec<Write<PaymentRecord>>,
    /// Setup changes.
    pub setups: Vec<Write<SetupRecord>>,
    /// Webhook endpoint changes.
    pub endpoints: Vec<Write<EndpointRecord>>,
    /// Idempotency records (the key is unique per scope: an `Insert` of a used key conflicts).
    pub idempotency: Vec<Write<IdempotencyRecord>>,
    /// Events to append to the log (the outbox).
    pub events: Vec<Event>,
}

impl WriteSet {
    /// Whether the write set changes nothing.
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
            && self.methods.is_empty()
            && self.payments.is_empty()
            && self.setups.is_empty()
            && self.endpoints.is_empty()
            && self.idempotency.is_empty()
            && self.events.is_empty()
    }

    /// Appends everything of `other`.
    pub fn extend(&mut self, other: WriteSet) {
        self.customers.extend(other.customers);
        self.methods.extend(other.methods);
        self.payments.extend(other.payments);
        self.setups.extend(other.setups);
        self.endpoints.extend(other.endpoints);
        self.idempotency.extend(other.idempotency);
        self.events.extend(other.events);
    }
}

/// The engine's storage.
///
/// Contract (checked by the store contract suite of `vinr-store`):
/// - reads see only objects of the given [`Mode`]; objects of the other mode are absent;
/// - lists are newest first (by `created`, ties broken by insertion order); `starting_after`
///   names an object of the list's kind and mode, and the page holds the objects after its
///   position in that order, whether or not the cursor object still matches the list's filter
///   (a method detached between two pages still works as a cursor); a cursor that names no
///   object of that kind and mode gives [`StoreError::CursorNotFound`];
/// - the email filter matches case-insensitively and exactly;
/// - method lists and `method_by_fingerprint` see attached methods only (if a customer had two
///   attached methods with one fingerprint, the newest wins);
/// - `commit` is atomic and guarded as [`WriteSet`] says; on [`StoreError::Conflict`] nothing
///   changed;
/// - a committed write set is visible to every later read.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// One customer.
    async fn customer(&self, mode: Mode, id: &CustomerId) -> Result<Option<Customer>, StoreError>;
    /// Customers, optionally only those with this email (any case).
    async fn customers(
        &self,
        mode: Mode,
        email: Option<String>,
        page: PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError>;
    /// One method, in any state.
    async fn method(
        &self,
        mode: Mode,
        id: &PaymentMethodId,
    ) -> Result<Option<StoredMethod>, StoreError>;
    /// The methods attached to a customer.
    async fn customer_methods(
        &self,
        mode: Mode,
        customer: &CustomerId,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError>;
    /// The method attached to `customer` with this fingerprint, if any.
    async fn method_by_fingerprint(
        &self,
        mode: Mode,
        customer: &CustomerId,
        fingerprint: &Fingerprint,
    ) -> Result<Option<StoredMethod>, StoreError>;
    /// Every attached method of the mode (for the expiry scan).
    async fn attached_methods(
        &self,
        mode: Mode,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError>;
    /// One payment.
    async fn payment(
        &self,
        mode: Mode,
        id: &PaymentId,
    ) -> Result<Option<PaymentRecord>, StoreError>;
    /// Payments, optionally of one customer and in one status.
    async fn payments(
        &self,
        mode: Mode,
        customer: Option<CustomerId>,
        status: Option<PaymentStatus>,
        page: PageRequest<PaymentId>,
    ) -> Result<Page<PaymentRecord>, StoreError>;
    /// Payments of any mode in `processing` and created before `before` (for the recovery
    /// sweep), oldest first.
    async fn stuck_payments(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentRecord>, StoreError>;
    /// One setup.
    async fn setup(&self, mode: Mode, id: &SetupId) -> Result<Option<SetupRecord>, StoreError>;
    /// One webhook endpoint.
    async fn endpoint(
        &self,
        mode: Mode,
        id: &WebhookEndpointId,
    ) -> Result<Option<EndpointRecord>, StoreError>;
    /// Webhook endpoints.
    async fn endpoints(
        &self,
        mode: Mode,
        page: PageRequest<WebhookEndpointId>,
    ) -> Result<Page<EndpointRecord>, StoreError>;
    /// One event.
    async fn event(&self, mode: Mode, id: &EventId) -> Result<Option<Event>, StoreError>;
    /// Events, optionally of one type.
    async fn events(
        &self,
        mode: Mode,
        kind: Option<EventType>,
        page: PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError>;
    /// The record of an idempotency key.
    async fn idempotency(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Commits a write set atomically, checking every guard.
    async fn commit(&self, writes: WriteSet) -> Result<(), StoreError>;
    /// Up to `limit` sealed cards of any mode (in methods of any state, and pending cards of
    /// payments and setups) sealed under a key other than `key_id`: the work list of a vault
    /// key rotation.
    async fn cards_sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: usize,
    ) -> Result<Vec<SealedCardRef>, StoreError>;
    /// Replaces the sealed card of `owner` by `resealed` if the owner still holds exactly
    /// `current`; returns whether it did. Re-encryption is not a change of the object: its
    /// `version` stays, and no event is written.
    async fn replace_sealed_card(
        &self,
        owner: &CardOwner,
        current: &SealedCard,
        resealed: SealedCard,
    ) -> Result<bool, StoreError>;
    /// Forgets idempotency records created before `before`; returns how many.
    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The object holding a sealed card.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CardOwner {
    /// A stored method (its `sealed` card).
    Method(PaymentMethodId),
    /// A payment's pending card.
    Payment(PaymentId),
    /// A setup's pending card.
    Setup(SetupId),
}

/// A sealed card and where it is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCardRef {
    /// Who holds it.
    pub owner: CardOwner,
    /// The sealed card.
    pub sealed: SealedCard,
}
