//! [`SqliteStore`]: the [`Store`] in one SQLite file, the embedded default of `vinr serve`.
//!
//! # Layout
//! - `schema`: the PRAGMAs every connection runs with and the embedded migrations, applied on
//!   open and recorded in `schema_migrations`.
//! - `kinds`: per kind of record, its table, the columns its queries use and its JSON.
//! - `writer`: the writer thread and its group commit.
//! - `reads`: the reader connections and the list queries.
//! - `keys`: the [`ApiKeyStore`](vinr_ports::keys::ApiKeyStore), on the `api_keys` table.
//! - `delivery`: the [`DeliveryStore`](vinr_ports::delivery::DeliveryStore), the webhook
//!   outbox, on the `deliveries` table and the events' `fanned_out` flag.
//!
//! # Storage
//! One table per kind (`customers`, `methods`, `payments`, `setups`, `endpoints`, `events`,
//! `idempotency`). Each row holds the record as JSON (`body`, the serde form of the domain
//! record) beside the columns that queries filter and order on, all derived from the record
//! on every write: `id` (unique across modes), `livemode`, `created` (unix seconds), `version`
//! and `seq` (the rowid: insertion order, which breaks ties of `created`, and which an update
//! keeps), plus per kind `email_key` (customers), `customer_id`, `state`, `fingerprint`,
//! `card_key_id` (methods), `customer_id`, `status`, `card_key_id` of the pending card
//! (payments), `card_key_id` (setups), `kind` (events); idempotency records are keyed by
//! `(scope, key)`, the primary key that makes two racing requests create one payment.
//! API keys (`api_keys`, migration 2) are plain columns, no JSON: `id` (the primary key),
//! `hash` (unique), `mode`, `prefix`, `created` and `revoked` (unix seconds, `revoked` NULL
//! until then).
//! Webhook deliveries (`deliveries`, migration 3) are plain columns too: one row per
//! `(event_id, endpoint_id)` with `livemode`, `status`, `next_at` and `leased_until` (unix
//! microseconds) and `attempts` (the JSON array of the attempts recorded); `events` gained
//! `fanned_out`, 0 until the event's deliveries are created. Two partial indexes hold the
//! outbox's work: `events_unfanned` on `seq` and `deliveries_pending` on `next_at`.
//! Every list is a backwards range scan of an index ending in `(created, seq)`: a cursor is
//! turned into its object's `(created, seq)` and the page is `(created, seq) < (?, ?)` with
//! `LIMIT n + 1`, never an `OFFSET`.
//!
//! # Writes: one writer thread, group commit
//! Every connection runs in WAL mode with `synchronous=FULL`: a commit is acknowledged only
//! once it is on disk, so it survives power loss. That costs an fsync per transaction, so one
//! dedicated thread owns the only writing connection and commits many write sets per
//! transaction: it blocks for a request, takes whatever else is already queued (up to
//! [`SqliteOptions::max_batch`]), and runs `BEGIN IMMEDIATE`, then for each write set
//! `SAVEPOINT`, its guarded statements (`INSERT`; `UPDATE`/`DELETE … WHERE id = ? AND
//! version = ?` changing one row; `SELECT 1 … WHERE version = ?` for `Write::Check`), and
//! `RELEASE`, or `ROLLBACK TO` if a guard failed, so that write set alone gets its
//! `Conflict`; then one `COMMIT` (one fsync) and only then every answer. If the `COMMIT`
//! fails, every write set of the batch is answered `Unavailable`.
//! [`SqliteStore::group_commit_stats`] counts transactions and write sets.
//! Vault re-encryption ([`Store::replace_sealed_card`]), idempotency purges, API key
//! inserts and revocations, and the outbox's fan-outs, claims (a claim writes its leases),
//! attempt records and event purges go through the same thread, so they are ordered with the
//! commits. The one writer running one request at a time is what makes a claim atomic: its
//! select of due, unleased deliveries and its leases happen with no other write between them.
//!
//! # Reads: a small pool, run on the calling thread
//! Reads take one of a few reader connections ([`SqliteOptions::readers`], 4 by default) from
//! a `Mutex<Vec<Connection>>` with a `Condvar`, run their statement (cached, prepared once per
//! connection), and put it back. They run on the calling thread rather than through
//! `tokio::task::spawn_blocking`: every read is a point look-up or one short index range scan
//! (at most `limit + 1` rows) that takes microseconds from SQLite's page cache, less than the
//! two thread hand-offs of `spawn_blocking`, and WAL readers never wait for the writer. A
//! connection is never held across an `.await`, so a read waiting for a connection waits for
//! another thread's short read only, and no runtime is needed at all (the store works from
//! any executor, or none).
//!
//! # Checkpoints: a thread of their own
//! The writer's connection never checkpoints (`wal_autocheckpoint = 0`); the `checkpoint`
//! module's thread, on a connection of its own, runs a `PASSIVE` checkpoint after commits (at
//! most every 50 ms), so no batch waits for the database file to be written and fsynced.
//! Savepoint journals are kept in memory (`temp_store = MEMORY`) and the writer's page cache
//! is 16 MiB.
//!
//! # Closing
//! [`SqliteStore::close`] (or dropping the last clone) stops taking requests, lets the writer
//! commit everything already queued, stops the checkpointer, joins the writer and closes every
//! connection; the writer's is the last one to close and checkpoints the WAL into the database
//! file.
//!
//! ```
//! use vinr_ports::Mode;
//! use vinr_ports::store::{PageRequest, Store, WriteSet};
//! use vinr_store::sqlite::SqliteStore;
//!
//! # let dir = std::env::temp_dir().join(format!("vinr-sqlite-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! let store = SqliteStore::open(dir.join("vinr.db"))?;
//! store.commit(WriteSet::default()).await?;
//! let page = store.customers(Mode::Test, None, PageRequest::first(10)).await?;
//! assert!(page.items.is_empty() && !page.has_more);
//! assert_eq!(store.group_commit_stats().transactions, 1);
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod checkpoint;
mod delivery;
mod keys;
mod kinds;
mod reads;
mod schema;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rusqlite::types::Value;
use tokio::sync::oneshot;
use vinr_domain::customer::{Customer, email_lookup_key};
use vinr_domain::event::EventType;
use vinr_domain::ids::{
    CustomerId, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_domain::method::{Fingerprint, SealedCard, StoredMethod};
use vinr_domain::payment::{PaymentRecord, PaymentStatus};
use vinr_domain::setup::SetupRecord;
use vinr_domain::webhook::EndpointRecord;
use vinr_ports::Mode;
use vinr_ports::event::Event;
use vinr_ports::store::{
    CardOwner, IdempotencyRecord, Page, PageRequest, SealedCardRef, Store, StoreError, WriteSet,
};

use self::checkpoint::Checkpointer;
use self::kinds::{Kind, event_from_json};
use self::reads::{ListQuery, Readers, bodies, one, page};
use self::schema::{Role, connect, migrate};
use self::writer::{Request, Stats, Writer};

/// Why a SQLite store could not be opened or closed.
///
/// It never carries card data: SQLite's messages name tables, columns and files only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The options make no store (no reader connection).
    #[error("invalid options: {0}")]
    InvalidOptions(&'static str),
    /// The database file could not be opened or configured.
    #[error("cannot open the database: {0}")]
    Open(#[source] rusqlite::Error),
    /// The database would not run in WAL mode (an in-memory database, for one), which the
    /// reader connections need to see the writer's commits.
    #[error("the database runs in journal mode `{0}`, not WAL (is it a file?)")]
    NotWal(String),
    /// A migration failed; the schema stays at the version before it.
    #[error("migration {version} failed: {source}")]
    Migration {
        /// The migration's version (0: the `schema_migrations` table itself).
        version: i64,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was migrated by a newer build than this one.
    #[error("the database schema is at version {found}, newer than this build's {known}")]
    SchemaTooNew {
        /// The database's version.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The writer thread could not be started.
    #[error("cannot start the writer thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The writer thread panicked.
    #[error("the writer thread panicked")]
    WriterPanicked,
    /// A connection did not close cleanly.
    #[error("cannot close the database: {0}")]
    Close(#[source] rusqlite::Error),
}

/// How a [`SqliteStore`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How many reader connections serve reads concurrently (at least 1; 4 by default).
    pub readers: usize,
    /// How many requests one transaction of the writer carries at most (256 by default; 0
    /// counts as 1).
    pub max_batch: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            readers: 4,
            max_batch: 256,
        }
    }
}

/// What the writer thread has committed so far: how well group commit batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupCommitStats {
    /// Transactions committed (one fsync each).
    pub transactions: u64,
    /// Requests those transactions carried: write sets (committed or refused alone by their
    /// guards), re-seals, purges, API key writes, and the delivery outbox's fan-outs, claims
    /// and attempt records.
    pub write_sets: u64,
    /// The most requests one transaction carried.
    pub largest_batch: u64,
}

/// The SQLite store. See the [module documentation](self) for how it stores, writes and reads.
///
/// Cheap to clone: clones share the connections and the writer thread (an `Arc` inside).
/// `Debug` shows the path and the group-commit counters, never a record.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// What the clones share.
struct Inner {
    path: PathBuf,
    /// Where requests go to the writer; `None` once closed.
    requests: RwLock<Option<mpsc::Sender<Request>>>,
    /// The writer thread, until it is joined.
    writer: Mutex<Option<JoinHandle<Result<(), SqliteError>>>>,
    readers: Readers,
    stats: Arc<Stats>,
    fail_next: Arc<AtomicUsize>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("group_commit", &self.group_commit_stats())
            .finish()
    }
}

impl SqliteStore {
    /// Opens the database at `path` with the default options, creating the file if it is
    /// missing and applying every migration it lacks.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, SqliteError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens the database at `path` with these options (see [`SqliteStore::open`]).
    ///
    /// ```
    /// use vinr_store::sqlite::{SqliteOptions, SqliteStore};
    ///
    /// # let dir = std::env::temp_dir().join(format!("vinr-sqlite-doc-open-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let options = SqliteOptions { readers: 2, max_batch: 64 };
    /// let store = SqliteStore::open_with(dir.join("vinr.db"), options)?;
    /// store.close()?;
    /// assert!(SqliteStore::open_with(dir.join("vinr.db"), SqliteOptions { readers: 0, ..options }).is_err());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), vinr_store::sqlite::SqliteError>(())
    /// ```
    pub fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<SqliteStore, SqliteError> {
        if options.readers == 0 {
            return Err(SqliteError::InvalidOptions(
                "at least one reader connection is needed",
            ));
        }
        let path = path.as_ref().to_path_buf();
        let mut write_conn = connect(&path, Role::Writer)?;
        migrate(&mut write_conn)?;
        let checkpointer = Checkpointer::start(connect(&path, Role::Checkpointer)?)?;
        let reader_conns = (0..options.readers)
            .map(|_| connect(&path, Role::Reader))
            .collect::<Result<Vec<Connection>, SqliteError>>()?;
        let stats = Arc::new(Stats::default());
        let fail_next = Arc::new(AtomicUsize::new(0));
        let writer = Writer::new(
            write_conn,
            checkpointer,
            options.max_batch,
            stats.clone(),
            fail_next.clone(),
        );
        let (sender, receiver) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("vinr-sqlite-writer".to_owned())
            .spawn(move || writer.run(receiver))
            .map_err(SqliteError::Spawn)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                requests: RwLock::new(Some(sender)),
                writer: Mutex::new(Some(handle)),
                readers: Readers::new(reader_conns),
                stats,
                fail_next,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// What the writer has committed so far.
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        let s = &self.inner.stats;
        GroupCommitStats {
            transactions: s.transactions.load(Ordering::Relaxed),
            write_sets: s.write_sets.load(Ordering::Relaxed),
            largest_batch: s.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// Test support: the next `n` write sets the writer takes are applied (every statement,
    /// inside their savepoint) and then rolled back and answered
    /// `StoreError::Unavailable("injected")`, as if the process died before the `COMMIT`;
    /// the other write sets of their batch are unaffected. Calling it again replaces the count.
    ///
    /// ```
    /// use vinr_ports::store::{Store, StoreError, WriteSet};
    /// use vinr_store::sqlite::SqliteStore;
    ///
    /// # let dir = std::env::temp_dir().join(format!("vinr-sqlite-doc-fail-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let store = SqliteStore::open(dir.join("vinr.db"))?;
    /// store.fail_next_before_commit(1);
    /// let injected = StoreError::Unavailable("injected".to_owned());
    /// assert_eq!(store.commit(WriteSet::default()).await, Err(injected));
    /// assert_eq!(store.commit(WriteSet::default()).await, Ok(()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn fail_next_before_commit(&self, n: usize) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    /// Closes the store for every clone: waits until the writer has committed every request
    /// already sent, stops it, and closes every connection (the last one checkpoints the WAL
    /// into the database file). Later calls on any clone fail with `Unavailable`.
    ///
    /// Dropping the last clone does the same, but cannot report an error.
    pub fn close(self) -> Result<(), SqliteError> {
        self.inner.shutdown()
    }

    /// Sends a request to the writer and waits for its answer.
    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Request,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        {
            let requests = self
                .inner
                .requests
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(requests) = requests.as_ref() else {
                return Err(closed());
            };
            requests.send(request(reply)).map_err(|_| writer_gone())?;
        }
        answer.await.map_err(|_| writer_gone())?
    }

    /// Runs `f` on a reader connection.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lease = self.inner.readers.take()?;
        f(lease.conn()?)
    }

    /// One record of kind `K` by id, in `mode`.
    fn get<K: Kind>(&self, mode: Mode, id: &str) -> Result<Option<K>, StoreError> {
        let sql = format!(
            "SELECT body FROM {} WHERE id = ? AND livemode = ?",
            K::TABLE
        );
        let params = vec![Value::Text(id.to_owned()), livemode(mode)];
        self.read(|conn| one(conn, &sql, params, K::TABLE, K::from_json))
    }

    /// One page of a list of kind `K`.
    fn list<K: Kind, Id: AsRef<str>>(
        &self,
        query: ListQuery,
        mode: Mode,
        filter_values: Vec<Value>,
        request: &PageRequest<Id>,
    ) -> Result<Page<K>, StoreError> {
        self.read(|conn| page(conn, query, mode, filter_values, request, K::from_json))
    }

    /// Up to `limit` sealed cards of kind `K` under another key than `key_id`, with their
    /// owners. Two range scans of the `card_key_id` index (below and above the key), since
    /// `<>` would scan all of it.
    fn sealed_in<K: Kind>(
        &self,
        key_id: &str,
        limit: usize,
        card: impl Fn(K) -> Option<SealedCardRef>,
    ) -> Result<Vec<SealedCardRef>, StoreError> {
        let mut out = Vec::new();
        for op in ["<", ">"] {
            let left = limit.saturating_sub(out.len());
            if left == 0 {
                break;
            }
            let sql = format!(
                "SELECT body FROM {} WHERE card_key_id {op} ? ORDER BY card_key_id LIMIT ?",
                K::TABLE
            );
            let params = vec![Value::Text(key_id.to_owned()), sql_limit(left)];
            let found = self.read(|conn| bodies(conn, &sql, params, K::TABLE, K::from_json))?;
            out.extend(found.into_iter().filter_map(&card));
        }
        Ok(out)
    }
}

impl Inner {
    /// Stops the writer after it drained its queue, then closes every connection; the readers
    /// first, so the writer's connection is the last and checkpoints the WAL.
    fn shutdown(&self) -> Result<(), SqliteError> {
        drop(
            self.requests
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let mut result = Ok(());
        for conn in self.readers.close() {
            if let Err((_, e)) = conn.close() {
                result = Err(SqliteError::Close(e));
            }
        }
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let joined = handle.join().unwrap_or(Err(SqliteError::WriterPanicked));
            result = result.and(joined);
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Nothing to report to; a failed close loses nothing committed.
        let _ = self.shutdown();
    }
}

/// The error of a request after `close`.
fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".to_owned())
}

/// The error of a request the writer thread never answered (it stopped).
fn writer_gone() -> StoreError {
    StoreError::Unavailable("the writer thread stopped".to_owned())
}

/// The `livemode` column's value for `mode`.
fn livemode(mode: Mode) -> Value {
    Value::Integer(i64::from(mode.livemode()))
}

/// A `LIMIT` parameter.
fn sql_limit(n: usize) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A text parameter.
fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// The first whole second not before `t`: stored times are whole seconds, so `created < t`
/// holds exactly when `created < ceil(t)`.
fn seconds_ceil(t: DateTime<Utc>) -> i64 {
    t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0)
}

#[async_trait]
impl Store for SqliteStore {
    async fn customer(&self, mode: Mode, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        self.get(mode, id.as_str())
    }

    async fn customers(
        &self,
        mode: Mode,
        email: Option<String>,
        page: PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        match email {
            None => self.list(ListQuery::Customers, mode, vec![], &page),
            Some(email) => self.list(
                ListQuery::CustomersByEmail,
                mode,
                vec![Value::Text(email_lookup_key(&email))],
                &page,
            ),
        }
    }

    async fn method(
        &self,
        mode: Mode,
        id: &PaymentMethodId,
    ) -> Result<Option<StoredMethod>, StoreError> {
        self.get(mode, id.as_str())
    }

    async fn customer_methods(
        &self,
        mode: Mode,
        customer: &CustomerId,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError> {
        self.list(
            ListQuery::CustomerMethods,
            mode,
            vec![text(customer.as_str())],
            &page,
        )
    }

    async fn method_by_fingerprint(
        &self,
        mode: Mode,
        customer: &CustomerId,
        fingerprint: &Fingerprint,
    ) -> Result<Option<StoredMethod>, StoreError> {
        let found: Page<StoredMethod> = self.list(
            ListQuery::MethodByFingerprint,
            mode,
            vec![text(customer.as_str()), text(fingerprint.as_str())],
            &PageRequest::<PaymentMethodId>::first(1),
        )?;
        Ok(found.items.into_iter().next())
    }

    async fn attached_methods(
        &self,
        mode: Mode,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError> {
        self.list(ListQuery::AttachedMethods, mode, vec![], &page)
    }

    async fn payment(
        &self,
        mode: Mode,
        id: &PaymentId,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.get(mode, id.as_str())
    }

    async fn payments(
        &self,
        mode: Mode,
        customer: Option<CustomerId>,
        status: Option<PaymentStatus>,
        page: PageRequest<PaymentId>,
    ) -> Result<Page<PaymentRecord>, StoreError> {
        let (query, values) = match (customer, status) {
            (None, None) => (ListQuery::Payments, vec![]),
            (Some(c), None) => (ListQuery::PaymentsOfCustomer, vec![text(c.as_str())]),
            (None, Some(s)) => (ListQuery::PaymentsInStatus, vec![text(s.as_str())]),
            (Some(c), Some(s)) => (
                ListQuery::PaymentsOfCustomerInStatus,
                vec![text(c.as_str()), text(s.as_str())],
            ),
        };
        self.list(query, mode, values, &page)
    }

    async fn stuck_payments(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let params = vec![Value::Integer(seconds_ceil(before)), sql_limit(limit)];
        self.read(|conn| {
            bodies(
                conn,
                STUCK_PAYMENTS,
                params,
                "payments",
                PaymentRecord::from_json,
            )
        })
    }

    async fn setup(&self, mode: Mode, id: &SetupId) -> Result<Option<SetupRecord>, StoreError> {
        self.get(mode, id.as_str())
    }

    async fn endpoint(
        &self,
        mode: Mode,
        id: &WebhookEndpointId,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        self.get(mode, id.as_str())
    }

    async fn endpoints(
        &self,
        mode: Mode,
        page: PageRequest<WebhookEndpointId>,
    ) -> Result<Page<EndpointRecord>, StoreError> {
        self.list(ListQuery::Endpoints, mode, vec![], &page)
    }

    async fn event(&self, mode: Mode, id: &EventId) -> Result<Option<Event>, StoreError> {
        let params = vec![text(id.as_str()), livemode(mode)];
        self.read(|conn| {
            one(
                conn,
                "SELECT body FROM events WHERE id = ? AND livemode = ?",
                params,
                "events",
                event_from_json,
            )
        })
    }

    async fn events(
        &self,
        mode: Mode,
        kind: Option<EventType>,
        page: PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        let (query, values) = match kind {
            None => (ListQuery::Events, vec![]),
            Some(k) => (ListQuery::EventsOfKind, vec![text(k.as_str())]),
        };
        self.read(|conn| self::reads::page(conn, query, mode, values, &page, event_from_json))
    }

    async fn idempotency(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let params = vec![text(scope), text(key)];
        self.read(|conn| {
            one(
                conn,
                "SELECT body FROM idempotency WHERE scope = ? AND key = ?",
                params,
                "idempotency",
                IdempotencyRecord::from_json,
            )
        })
    }

    async fn commit(&self, writes: WriteSet) -> Result<(), StoreError> {
        self.ask(|reply| Request::Commit { writes, reply }).await
    }

    async fn cards_sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: usize,
    ) -> Result<Vec<SealedCardRef>, StoreError> {
        let mut out = self.sealed_in::<StoredMethod>(key_id, limit, |m| {
            Some(SealedCardRef {
                owner: CardOwner::Method(m.method.id),
                sealed: m.sealed,
            })
        })?;
        let left = limit.saturating_sub(out.len());
        out.extend(self.sealed_in::<PaymentRecord>(key_id, left, |p| {
            p.pending_card.map(|card| SealedCardRef {
                owner: CardOwner::Payment(p.payment.id),
                sealed: card.sealed,
            })
        })?);
        let left = limit.saturating_sub(out.len());
        out.extend(self.sealed_in::<SetupRecord>(key_id, left, |s| {
            s.pending_card.map(|card| SealedCardRef {
                owner: CardOwner::Setup(s.setup.id),
                sealed: card.sealed,
            })
        })?);
        Ok(out)
    }

    async fn replace_sealed_card(
        &self,
        owner: &CardOwner,
        current: &SealedCard,
        resealed: SealedCard,
    ) -> Result<bool, StoreError> {
        let (owner, current) = (owner.clone(), current.clone());
        self.ask(|reply| Request::Reseal {
            owner,
            current,
            resealed,
            reply,
        })
        .await
    }

    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = seconds_ceil(before);
        self.ask(|reply| Request::Purge { before, reply }).await
    }
}

/// The recovery sweep's query: payments of any mode in `processing` created before a time,
/// oldest first (a range scan of the partial index `payments_processing`).
const STUCK_PAYMENTS: &str = "SELECT body FROM payments WHERE status = 'processing' AND created < ? ORDER BY created, seq LIMIT ?";

#[cfg(test)]
mod tests;
