//! [`MemoryStore`]: the [`Store`] (and [`DeliveryStore`], [`ApiKeyStore`]) kept in maps under
//! one lock.
//!
//! It backs `Vinr::sandbox()` and the engine's tests.
//! Every kind of object has its own map keyed by id; each object also gets an insertion
//! sequence number when it is inserted, so lists can be ordered newest first (by `created`,
//! ties broken by insertion order, as the port says) and an update keeps its place.
//! `commit` checks every guard and then applies every write under a single acquisition of the
//! lock, so a write set is all or nothing and no reader sees half of one.
//!
//! The events map is the outbox: every committed event also enters a queue of events not
//! fanned out yet (ordered by insertion), and leaving that queue is what marks it fanned out.
//! Deliveries are kept by [`DeliveryKey`] with their status, attempts and lease. Every
//! `DeliveryStore` call runs under the same lock as `commit`, so fan-out is atomic per event
//! (in fact per call), a delivery is leased to one claimer at a time, and an attempt is
//! recorded once.
//!
//! ```
//! use vinr_ports::Mode;
//! use vinr_ports::store::{PageRequest, Store, WriteSet};
//! use vinr_store::memory::MemoryStore;
//!
//! # tokio_test(async {
//! let store = MemoryStore::new();
//! store.commit(WriteSet::default()).await?;
//! let page = store.customers(Mode::Test, None, PageRequest::first(10)).await?;
//! assert!(page.items.is_empty() && !page.has_more);
//! assert_eq!(store.commit_count(), 1);
//! # Ok::<(), vinr_ports::store::StoreError>(())
//! # });
//! # fn tokio_test<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use vinr_domain::customer::{Customer, email_lookup_key};
use vinr_domain::event::{EventFilter, EventType};
use vinr_domain::ids::{
    CustomerId, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_domain::method::{Fingerprint, MethodState, SealedCard, StoredMethod};
use vinr_domain::payment::{PaymentRecord, PaymentStatus};
use vinr_domain::setup::SetupRecord;
use vinr_domain::webhook::{EndpointRecord, EndpointStatus};
use vinr_ports::Mode;
use vinr_ports::delivery::{
    AttemptRecord, DeliveryJob, DeliveryKey, DeliveryState, DeliveryStatus, DeliveryStore,
    OutboxStats,
};
use vinr_ports::event::Event;
use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};
use vinr_ports::store::{
    CardOwner, IdempotencyRecord, Page, PageRequest, SealedCardRef, Store, StoreError, Write,
    WriteSet,
};

/// The in-memory store.
///
/// Cheap to clone: clones share one state (an `Arc` inside), so a clone handed to the engine
/// and one kept by a test see the same objects.
/// Nothing is persisted; dropping the last clone forgets everything.
/// `Debug` shows how many objects of each kind are held, never the objects (they hold
/// personal data).
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("customers", &state.customers.rows.len())
            .field("methods", &state.methods.rows.len())
            .field("payments", &state.payments.rows.len())
            .field("setups", &state.setups.rows.len())
            .field("endpoints", &state.endpoints.rows.len())
            .field("idempotency_records", &state.idempotency.rows.len())
            .field("events", &state.events.len())
            .field("unfanned_events", &state.unfanned.len())
            .field("deliveries", &state.deliveries.len())
            .field("commits", &state.commits)
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Test support: the next `n` commits fail with `StoreError::Unavailable("injected")` and
    /// apply nothing, as a store outage would; later commits behave normally again.
    ///
    /// Lets engine tests inject a store failure between the phases of a command.
    /// Calling it again replaces the count.
    pub fn fail_next_commits(&self, n: usize) {
        self.lock().fail_next = n;
    }

    /// Test support: how many commits succeeded so far (failed and refused ones not counted).
    pub fn commit_count(&self) -> u64 {
        self.lock().commits
    }

    /// The state, even if a thread panicked while holding the lock: the state is only changed
    /// after every guard passed, by code that does not panic, so it is never half-written.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything the store holds.
#[derive(Default)]
struct State {
    /// The last insertion sequence number handed out (shared by every kind).
    seq: u64,
    customers: Table<Customer>,
    methods: Table<StoredMethod>,
    payments: Table<PaymentRecord>,
    setups: Table<SetupRecord>,
    endpoints: Table<EndpointRecord>,
    idempotency: Table<IdempotencyRecord>,
    events: HashMap<EventId, Row<Event>>,
    /// The events not fanned out yet, by insertion sequence number: the outbox's queue. An
    /// event is fanned out once it has left it.
    unfanned: BTreeMap<u64, EventId>,
    /// Deliveries: one per event and endpoint.
    deliveries: HashMap<DeliveryKey, DeliveryRow>,
    /// API keys, in insertion order.
    keys: Vec<ApiKeyRecord>,
    /// How many of the next commits to fail (test support).
    fail_next: usize,
    /// How many commits succeeded.
    commits: u64,
}

impl State {
    /// Checks every guard of the write set against the state, without changing anything.
    fn check(&self, writes: &WriteSet) -> Result<(), StoreError> {
        self.customers.check(&writes.customers)?;
        self.methods.check(&writes.methods)?;
        self.payments.check(&writes.payments)?;
        self.setups.check(&writes.setups)?;
        self.endpoints.check(&writes.endpoints)?;
        self.idempotency.check(&writes.idempotency)?;
        let mut new_events = HashSet::new();
        for event in &writes.events {
            if self.events.contains_key(&event.id) || !new_events.insert(&event.id) {
                return Err(StoreError::Conflict);
            }
        }
        Ok(())
    }

    /// Applies a write set whose guards [`State::check`] passed.
    fn apply(&mut self, writes: WriteSet) {
        let seq = &mut self.seq;
        self.customers.apply(writes.customers, seq);
        self.methods.apply(writes.methods, seq);
        self.payments.apply(writes.payments, seq);
        self.setups.apply(writes.setups, seq);
        self.endpoints.apply(writes.endpoints, seq);
        self.idempotency.apply(writes.idempotency, seq);
        for event in writes.events {
            *seq += 1;
            self.unfanned.insert(*seq, event.id.clone());
            self.events.insert(
                event.id.clone(),
                Row {
                    seq: *seq,
                    value: event,
                },
            );
        }
    }
}

/// A delivery as the store keeps it.
struct DeliveryRow {
    /// Insertion sequence number: breaks ties between deliveries due at one time.
    seq: u64,
    status: DeliveryStatus,
    /// Oldest first.
    attempts: Vec<AttemptRecord>,
    /// Leased to a claimer until then (a lease that has ended is no lease).
    leased_until: Option<DateTime<Utc>>,
}

impl DeliveryRow {
    /// Whether it is pending, due at `now` and not leased.
    fn claimable(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.status {
            DeliveryStatus::Pending { next_at }
                if next_at <= now && self.leased_until.is_none_or(|until| until <= now) =>
            {
                Some(next_at)
            }
            _ => None,
        }
    }

    /// The number of the next attempt.
    fn next_attempt(&self) -> u32 {
        u32::try_from(self.attempts.len()).map_or(u32::MAX, |n| n.saturating_add(1))
    }
}

/// An endpoint that receives events, as fan-out needs it.
struct Receiver {
    id: WebhookEndpointId,
    livemode: bool,
    filter: EventFilter,
}

impl State {
    /// The enabled endpoints, oldest first, with their filters parsed.
    fn receivers(&self) -> Result<Vec<Receiver>, StoreError> {
        let mut rows: Vec<&Row<EndpointRecord>> = self
            .endpoints
            .rows
            .values()
            .filter(|row| row.value.endpoint.status == EndpointStatus::Enabled)
            .collect();
        rows.sort_unstable_by_key(|row| row.seq);
        rows.into_iter()
            .map(|row| {
                let endpoint = &row.value.endpoint;
                let filter = EventFilter::parse(&endpoint.events).map_err(|_| {
                    StoreError::Corrupt(format!(
                        "webhook endpoint {} has an unreadable events filter",
                        endpoint.id
                    ))
                })?;
                Ok(Receiver {
                    id: endpoint.id.clone(),
                    livemode: endpoint.livemode,
                    filter,
                })
            })
            .collect()
    }

    /// Fans out up to `limit` events, oldest first (see [`DeliveryStore::fan_out`]).
    fn fan_out(&mut self, now: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        if limit == 0 || self.unfanned.is_empty() {
            return Ok(0);
        }
        // Parsed before anything changes: an unreadable filter fails the call, not half of it.
        let receivers = self.receivers()?;
        let mut created = 0;
        for _ in 0..limit {
            let Some((_, event_id)) = self.unfanned.pop_first() else {
                break;
            };
            // A queued event is always held (purging removes it from the queue too).
            let Some((kind, livemode)) = self
                .events
                .get(&event_id)
                .map(|row| (row.value.kind, row.value.livemode))
            else {
                continue;
            };
            for receiver in receivers
                .iter()
                .filter(|r| r.livemode == livemode && r.filter.matches(kind))
            {
                let key = DeliveryKey {
                    event: event_id.clone(),
                    endpoint: receiver.id.clone(),
                };
                // An event leaves the queue once, so the slot is always free; never replace.
                if let Entry::Vacant(slot) = self.deliveries.entry(key) {
                    self.seq += 1;
                    slot.insert(DeliveryRow {
                        seq: self.seq,
                        status: DeliveryStatus::Pending { next_at: now },
                        attempts: Vec::new(),
                        leased_until: None,
                    });
                    created += 1;
                }
            }
        }
        Ok(created)
    }

    /// Leases up to `limit` due deliveries (see [`DeliveryStore::claim_due`]).
    fn claim_due(&mut self, now: DateTime<Utc>, lease: Duration, limit: usize) -> Vec<DeliveryJob> {
        let mut due: Vec<(DateTime<Utc>, u64, DeliveryKey)> = self
            .deliveries
            .iter()
            .filter_map(|(key, row)| Some((row.claimable(now)?, row.seq, key.clone())))
            .collect();
        due.sort_unstable_by_key(|(next_at, seq, _)| (*next_at, *seq));
        // A lease too long for chrono's range lasts for ever.
        let until = now
            .checked_add_signed(lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut jobs = Vec::new();
        for (_, _, key) in due {
            if jobs.len() >= limit {
                break;
            }
            let event = self.events.get(&key.event).map(|row| row.value.clone());
            let endpoint = self.endpoints.get(&key.endpoint).cloned();
            let Some(row) = self.deliveries.get_mut(&key) else {
                continue;
            };
            match (event, endpoint) {
                (Some(event), Some(endpoint)) => {
                    row.leased_until = Some(until);
                    jobs.push(DeliveryJob {
                        attempt: row.next_attempt(),
                        key,
                        event,
                        endpoint,
                    });
                }
                // The endpoint was deleted: there is nowhere to send it. (The event is always
                // held, as purging deletes an event's deliveries with it; were it not, there
                // would be nothing to send either.)
                _ => {
                    row.status = DeliveryStatus::Failed;
                    row.leased_until = None;
                }
            }
        }
        jobs
    }

    /// Records an attempt if it is the next one of a pending delivery (see
    /// [`DeliveryStore::record_attempt`]).
    fn record_attempt(
        &mut self,
        key: &DeliveryKey,
        record: AttemptRecord,
        next: DeliveryStatus,
    ) -> bool {
        let Some(row) = self.deliveries.get_mut(key) else {
            return false;
        };
        let expected = record
            .attempt
            .checked_sub(1)
            .and_then(|n| usize::try_from(n).ok());
        if !matches!(row.status, DeliveryStatus::Pending { .. })
            || expected != Some(row.attempts.len())
        {
            return false;
        }
        row.attempts.push(record);
        row.status = next;
        row.leased_until = None;
        true
    }
}

/// An object and its insertion sequence number.
struct Row<T> {
    seq: u64,
    value: T,
}

/// What the store needs to know of an object it guards by version.
trait Versioned: Clone {
    /// The unique key.
    type Key: Clone + Eq + Hash;
    /// The object's unique key.
    fn key(&self) -> Self::Key;
    /// The object's version.
    fn version(&self) -> u64;
}

/// What the store needs to know of an object it lists.
trait Listed: Clone {
    /// The id that cursors name.
    type Id: Eq;
    /// The object's id.
    fn id(&self) -> &Self::Id;
    /// Whether it lives in live mode.
    fn livemode(&self) -> bool;
    /// When it was created; lists are ordered by it.
    fn created(&self) -> DateTime<Utc>;
}

/// One kind of versioned object, by key.
struct Table<T: Versioned> {
    rows: HashMap<T::Key, Row<T>>,
}

impl<T: Versioned> Default for Table<T> {
    fn default() -> Self {
        Self {
            rows: HashMap::new(),
        }
    }
}

impl<T: Versioned> Table<T> {
    /// Checks the guards of `writes` in order, each against the state the earlier ones would
    /// leave (as sequential `UPDATE … WHERE version = n` statements in one transaction would).
    fn check(&self, writes: &[Write<T>]) -> Result<(), StoreError> {
        // The version each key would have after the writes seen so far; `None`: absent.
        let mut pending: HashMap<T::Key, Option<u64>> = HashMap::new();
        for write in writes {
            let key = write.value().key();
            let current = match pending.get(&key) {
                Some(version) => *version,
                None => self.rows.get(&key).map(|row| row.value.version()),
            };
            let next = match write {
                Write::Insert(value) => match current {
                    None => Some(value.version()),
                    Some(_) => return Err(StoreError::Conflict),
                },
                Write::Update { expected, value } => {
                    if current != Some(*expected) {
                        return Err(StoreError::Conflict);
                    }
                    Some(value.version())
                }
                Write::Delete { expected, .. } => {
                    if current != Some(*expected) {
                        return Err(StoreError::Conflict);
                    }
                    None
                }
                Write::Check { expected, .. } => {
                    if current != Some(*expected) {
                        return Err(StoreError::Conflict);
                    }
                    current
                }
            };
            pending.insert(key, next);
        }
        Ok(())
    }

    /// Applies writes whose guards passed; an update keeps the object's sequence number.
    fn apply(&mut self, writes: Vec<Write<T>>, seq: &mut u64) {
        for write in writes {
            match write {
                Write::Insert(value) => {
                    *seq += 1;
                    self.rows.insert(value.key(), Row { seq: *seq, value });
                }
                Write::Update { value, .. } => match self.rows.entry(value.key()) {
                    Entry::Occupied(mut row) => row.get_mut().value = value,
                    // The guard saw the object, so this arm is never taken; inserting keeps the
                    // write rather than dropping it.
                    Entry::Vacant(slot) => {
                        *seq += 1;
                        slot.insert(Row { seq: *seq, value });
                    }
                },
                Write::Delete { value, .. } => {
                    self.rows.remove(&value.key());
                }
                Write::Check { .. } => {}
            }
        }
    }

    /// The object under `key`.
    fn get(&self, key: &T::Key) -> Option<&T> {
        self.rows.get(key).map(|row| &row.value)
    }
}

impl<T: Versioned + Listed> Table<T> {
    /// The object with this id in this mode.
    fn get_in(&self, mode: Mode, key: &T::Key) -> Option<T> {
        self.get(key)
            .filter(|v| v.livemode() == mode.livemode())
            .cloned()
    }

    /// A page of the objects of `mode` that pass `keep`, newest first.
    fn page(
        &self,
        mode: Mode,
        keep: impl Fn(&T) -> bool,
        request: &PageRequest<<T as Listed>::Id>,
    ) -> Result<Page<T>, StoreError> {
        page(self.rows.values(), mode, keep, request)
    }
}

/// A page of the `rows` of `mode` that pass `keep`, newest first: by `created`, ties broken by
/// insertion order, both descending.
fn page<'a, T: Listed + 'a>(
    rows: impl Iterator<Item = &'a Row<T>>,
    mode: Mode,
    keep: impl Fn(&T) -> bool,
    request: &PageRequest<T::Id>,
) -> Result<Page<T>, StoreError> {
    let in_mode: Vec<&Row<T>> = rows
        .filter(|row| row.value.livemode() == mode.livemode())
        .collect();
    // The cursor is a position in the list's order; the object it names need not pass `keep`
    // any more (a method detached between two pages still works as a cursor).
    let after = match &request.starting_after {
        None => None,
        Some(cursor) => Some(
            in_mode
                .iter()
                .find(|row| row.value.id() == cursor)
                .map(|row| (row.value.created(), row.seq))
                .ok_or(StoreError::CursorNotFound)?,
        ),
    };
    let mut rest: Vec<&Row<T>> = in_mode
        .into_iter()
        .filter(|row| keep(&row.value) && after.is_none_or(|a| (row.value.created(), row.seq) < a))
        .collect();
    rest.sort_unstable_by_key(|row| std::cmp::Reverse((row.value.created(), row.seq)));
    Ok(Page {
        items: rest
            .iter()
            .take(request.limit)
            .map(|row| row.value.clone())
            .collect(),
        has_more: rest.len() > request.limit,
    })
}

impl Versioned for Customer {
    type Key = CustomerId;
    fn key(&self) -> CustomerId {
        self.id.clone()
    }
    fn version(&self) -> u64 {
        self.version
    }
}

impl Listed for Customer {
    type Id = CustomerId;
    fn id(&self) -> &CustomerId {
        &self.id
    }
    fn livemode(&self) -> bool {
        self.livemode
    }
    fn created(&self) -> DateTime<Utc> {
        self.created
    }
}

impl Versioned for StoredMethod {
    type Key = PaymentMethodId;
    fn key(&self) -> PaymentMethodId {
        self.method.id.clone()
    }
    fn version(&self) -> u64 {
        self.method.version
    }
}

impl Listed for StoredMethod {
    type Id = PaymentMethodId;
    fn id(&self) -> &PaymentMethodId {
        &self.method.id
    }
    fn livemode(&self) -> bool {
        self.method.livemode
    }
    fn created(&self) -> DateTime<Utc> {
        self.method.created
    }
}

impl Versioned for PaymentRecord {
    type Key = PaymentId;
    fn key(&self) -> PaymentId {
        self.payment.id.clone()
    }
    fn version(&self) -> u64 {
        self.payment.version
    }
}

impl Listed for PaymentRecord {
    type Id = PaymentId;
    fn id(&self) -> &PaymentId {
        &self.payment.id
    }
    fn livemode(&self) -> bool {
        self.payment.livemode
    }
    fn created(&self) -> DateTime<Utc> {
        self.payment.created
    }
}

impl Versioned for SetupRecord {
    type Key = SetupId;
    fn key(&self) -> SetupId {
        self.setup.id.clone()
    }
    fn version(&self) -> u64 {
        self.setup.version
    }
}

impl Listed for SetupRecord {
    type Id = SetupId;
    fn id(&self) -> &SetupId {
        &self.setup.id
    }
    fn livemode(&self) -> bool {
        self.setup.livemode
    }
    fn created(&self) -> DateTime<Utc> {
        self.setup.created
    }
}

impl Versioned for EndpointRecord {
    type Key = WebhookEndpointId;
    fn key(&self) -> WebhookEndpointId {
        self.endpoint.id.clone()
    }
    fn version(&self) -> u64 {
        self.version
    }
}

impl Listed for EndpointRecord {
    type Id = WebhookEndpointId;
    fn id(&self) -> &WebhookEndpointId {
        &self.endpoint.id
    }
    fn livemode(&self) -> bool {
        self.endpoint.livemode
    }
    fn created(&self) -> DateTime<Utc> {
        self.endpoint.created
    }
}

impl Versioned for IdempotencyRecord {
    type Key = (String, String);
    fn key(&self) -> (String, String) {
        (self.scope.clone(), self.key.clone())
    }
    fn version(&self) -> u64 {
        self.version
    }
}

impl Listed for Event {
    type Id = EventId;
    fn id(&self) -> &EventId {
        &self.id
    }
    fn livemode(&self) -> bool {
        self.livemode
    }
    fn created(&self) -> DateTime<Utc> {
        self.created
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn customer(&self, mode: Mode, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        Ok(self.lock().customers.get_in(mode, id))
    }

    async fn customers(
        &self,
        mode: Mode,
        email: Option<String>,
        page: PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        let wanted = email.as_deref().map(email_lookup_key);
        self.lock().customers.page(
            mode,
            |c| match &wanted {
                None => true,
                Some(key) => c.email.as_deref().map(email_lookup_key).as_ref() == Some(key),
            },
            &page,
        )
    }

    async fn method(
        &self,
        mode: Mode,
        id: &PaymentMethodId,
    ) -> Result<Option<StoredMethod>, StoreError> {
        Ok(self.lock().methods.get_in(mode, id))
    }

    async fn customer_methods(
        &self,
        mode: Mode,
        customer: &CustomerId,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError> {
        self.lock()
            .methods
            .page(mode, |m| m.is_attached_to(customer), &page)
    }

    async fn method_by_fingerprint(
        &self,
        mode: Mode,
        customer: &CustomerId,
        fingerprint: &Fingerprint,
    ) -> Result<Option<StoredMethod>, StoreError> {
        // The newest one, should a customer ever hold two methods of one card.
        let found = self.lock().methods.page(
            mode,
            |m| m.is_attached_to(customer) && &m.method.fingerprint == fingerprint,
            &PageRequest::first(1),
        )?;
        Ok(found.items.into_iter().next())
    }

    async fn attached_methods(
        &self,
        mode: Mode,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError> {
        self.lock()
            .methods
            .page(mode, |m| m.state == MethodState::Attached, &page)
    }

    async fn payment(
        &self,
        mode: Mode,
        id: &PaymentId,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        Ok(self.lock().payments.get_in(mode, id))
    }

    async fn payments(
        &self,
        mode: Mode,
        customer: Option<CustomerId>,
        status: Option<PaymentStatus>,
        page: PageRequest<PaymentId>,
    ) -> Result<Page<PaymentRecord>, StoreError> {
        self.lock().payments.page(
            mode,
            |p| {
                customer
                    .as_ref()
                    .is_none_or(|c| p.payment.customer_id.as_ref() == Some(c))
                    && status.is_none_or(|s| p.payment.status == s)
            },
            &page,
        )
    }

    async fn stuck_payments(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let state = self.lock();
        let mut stuck: Vec<&Row<PaymentRecord>> = state
            .payments
            .rows
            .values()
            .filter(|row| {
                row.value.payment.status == PaymentStatus::Processing
                    && row.value.payment.created < before
            })
            .collect();
        stuck.sort_unstable_by_key(|row| (row.value.payment.created, row.seq));
        Ok(stuck
            .into_iter()
            .take(limit)
            .map(|row| row.value.clone())
            .collect())
    }

    async fn setup(&self, mode: Mode, id: &SetupId) -> Result<Option<SetupRecord>, StoreError> {
        Ok(self.lock().setups.get_in(mode, id))
    }

    async fn endpoint(
        &self,
        mode: Mode,
        id: &WebhookEndpointId,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        Ok(self.lock().endpoints.get_in(mode, id))
    }

    async fn endpoints(
        &self,
        mode: Mode,
        page: PageRequest<WebhookEndpointId>,
    ) -> Result<Page<EndpointRecord>, StoreError> {
        self.lock().endpoints.page(mode, |_| true, &page)
    }

    async fn event(&self, mode: Mode, id: &EventId) -> Result<Option<Event>, StoreError> {
        Ok(self
            .lock()
            .events
            .get(id)
            .map(|row| &row.value)
            .filter(|e| e.livemode == mode.livemode())
            .cloned())
    }

    async fn events(
        &self,
        mode: Mode,
        kind: Option<EventType>,
        page: PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        let state = self.lock();
        self::page(
            state.events.values(),
            mode,
            |e| kind.is_none_or(|k| e.kind == k),
            &page,
        )
    }

    async fn idempotency(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self
            .lock()
            .idempotency
            .get(&(scope.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn commit(&self, writes: WriteSet) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.fail_next > 0 {
            state.fail_next -= 1;
            return Err(StoreError::Unavailable("injected".to_owned()));
        }
        state.check(&writes)?;
        state.apply(writes);
        state.commits += 1;
        Ok(())
    }

    async fn cards_sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: usize,
    ) -> Result<Vec<SealedCardRef>, StoreError> {
        let state = self.lock();
        let methods = state
            .methods
            .rows
            .values()
            .map(|r| &r.value)
            .filter(|m| m.sealed.key_id != key_id)
            .map(|m| SealedCardRef {
                owner: CardOwner::Method(m.method.id.clone()),
                sealed: m.sealed.clone(),
            });
        let payments = state.payments.rows.values().filter_map(|r| {
            let card = r.value.pending_card.as_ref()?;
            (card.sealed.key_id != key_id).then(|| SealedCardRef {
                owner: CardOwner::Payment(r.value.payment.id.clone()),
                sealed: card.sealed.clone(),
            })
        });
        let setups = state.setups.rows.values().filter_map(|r| {
            let card = r.value.pending_card.as_ref()?;
            (card.sealed.key_id != key_id).then(|| SealedCardRef {
                owner: CardOwner::Setup(r.value.setup.id.clone()),
                sealed: card.sealed.clone(),
            })
        });
        Ok(methods.chain(payments).chain(setups).take(limit).collect())
    }

    async fn replace_sealed_card(
        &self,
        owner: &CardOwner,
        current: &SealedCard,
        resealed: SealedCard,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let slot = match owner {
            CardOwner::Method(id) => state.methods.rows.get_mut(id).map(|r| &mut r.value.sealed),
            CardOwner::Payment(id) => state
                .payments
                .rows
                .get_mut(id)
                .and_then(|r| r.value.pending_card.as_mut())
                .map(|c| &mut c.sealed),
            CardOwner::Setup(id) => state
                .setups
                .rows
                .get_mut(id)
                .and_then(|r| r.value.pending_card.as_mut())
                .map(|c| &mut c.sealed),
        };
        match slot {
            Some(sealed) if sealed == current => {
                *sealed = resealed;
                Ok(true)
            }
            Some(_) | None => Ok(false),
        }
    }

    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let n = state.idempotency.rows.len();
        state
            .idempotency
            .rows
            .retain(|_, r| r.value.created >= before);
        Ok((n - state.idempotency.rows.len()) as u64)
    }
}

#[async_trait]
impl DeliveryStore for MemoryStore {
    async fn fan_out(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        self.lock().fan_out(now, limit)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        Ok(self.lock().claim_due(now, lease, limit))
    }

    async fn record_attempt(
        &self,
        key: &DeliveryKey,
        record: AttemptRecord,
        next: DeliveryStatus,
    ) -> Result<bool, StoreError> {
        Ok(self.lock().record_attempt(key, record, next))
    }

    async fn deliveries(&self, event: &EventId) -> Result<Vec<DeliveryState>, StoreError> {
        let state = self.lock();
        let mut rows: Vec<(&DeliveryKey, &DeliveryRow)> = state
            .deliveries
            .iter()
            .filter(|(key, _)| &key.event == event)
            .collect();
        // In the order fan-out made them.
        rows.sort_unstable_by_key(|(_, row)| row.seq);
        Ok(rows
            .into_iter()
            .map(|(key, row)| DeliveryState {
                key: key.clone(),
                status: row.status,
                attempts: row.attempts.clone(),
            })
            .collect())
    }

    async fn outbox_stats(&self, now: DateTime<Utc>) -> Result<OutboxStats, StoreError> {
        let state = self.lock();
        let mut pending = 0;
        let mut oldest_due: Option<DateTime<Utc>> = None;
        for row in state.deliveries.values() {
            if let DeliveryStatus::Pending { next_at } = row.status {
                pending += 1;
                // Due whether or not it is leased: the lag is how long it has waited.
                if next_at <= now && oldest_due.is_none_or(|t| next_at < t) {
                    oldest_due = Some(next_at);
                }
            }
        }
        Ok(OutboxStats {
            unfanned_events: state.unfanned.len() as u64,
            pending_deliveries: pending,
            oldest_due_seconds: oldest_due
                .map_or(0, |t| u64::try_from((now - t).num_seconds()).unwrap_or(0)),
        })
    }

    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let gone: HashSet<EventId> = state
            .events
            .values()
            .filter(|row| row.value.created < before)
            .map(|row| row.value.id.clone())
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        state.events.retain(|id, _| !gone.contains(id));
        state.unfanned.retain(|_, id| !gone.contains(id));
        state.deliveries.retain(|key, _| !gone.contains(&key.event));
        Ok(gone.len() as u64)
    }
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn insert_key(&self, key: ApiKeyRecord) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state
            .keys
            .iter()
            .any(|k| k.id == key.id || k.hash == key.hash)
        {
            return Err(StoreError::Conflict);
        }
        state.keys.push(key);
        Ok(())
    }

    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.lock().keys.iter().find(|k| k.hash == hash).cloned())
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut keys = self.lock().keys.clone();
        // Oldest first; a stable sort keeps keys created at one time in insertion order.
        keys.sort_by_key(|k| k.created);
        Ok(keys)
    }

    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut state = self.lock();
        match state
            .keys
            .iter_mut()
            .find(|k| k.id == id && k.revoked.is_none())
        {
            Some(k) => {
                k.revoked = Some(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests;
