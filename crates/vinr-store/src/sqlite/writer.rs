//! The writer thread: the only connection that writes, committing many write sets per
//! transaction (group commit), one savepoint each. Re-seals, purges, API key writes and the
//! webhook outbox's fan-outs, claims, attempt records and event purges are requests like write
//! sets, each in its own savepoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, params_from_iter};
use tokio::sync::oneshot;
use vinr_domain::customer::Customer;
use vinr_domain::method::{SealedCard, StoredMethod};
use vinr_domain::payment::PaymentRecord;
use vinr_domain::setup::SetupRecord;
use vinr_domain::webhook::EndpointRecord;
use vinr_ports::delivery::{AttemptRecord, DeliveryJob, DeliveryKey, DeliveryStatus};
use vinr_ports::event::Event;
use vinr_ports::keys::ApiKeyRecord;
use vinr_ports::store::{CardOwner, IdempotencyRecord, StoreError, Write, WriteSet};

use super::SqliteError;
use super::checkpoint::Checkpointer;
use super::kinds::{Kind, KindSql, corrupt, event_to_json, version_value};
use super::{delivery, keys};

/// What the writer is asked to do; each carries where its answer goes.
pub(super) enum Request {
    /// Commit a write set.
    Commit {
        /// The write set.
        writes: WriteSet,
        /// Its answer.
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Replace a sealed card if it is still the one read (vault rotation).
    Reseal {
        /// Who holds the card.
        owner: CardOwner,
        /// The card as read.
        current: SealedCard,
        /// The card under the active key.
        resealed: SealedCard,
        /// Whether it was replaced.
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Forget idempotency records created before a time (unix seconds, exclusive).
    Purge {
        /// Records with `created` below this go.
        before: i64,
        /// How many went.
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// Store a new API key.
    InsertKey {
        /// The key.
        key: ApiKeyRecord,
        /// Its answer (`Conflict` if the id or hash is taken).
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Revoke an API key.
    RevokeKey {
        /// The key's id.
        id: String,
        /// When (unix seconds).
        at: i64,
        /// Whether a key not revoked yet had that id.
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Turn events not fanned out yet into deliveries.
    FanOut {
        /// When (the new deliveries are due then).
        now: DateTime<Utc>,
        /// How many events at most.
        limit: usize,
        /// How many deliveries were created.
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// Lease due deliveries.
    Claim {
        /// When.
        now: DateTime<Utc>,
        /// The end of the lease (unix microseconds).
        until: i64,
        /// How many deliveries at most.
        limit: usize,
        /// The deliveries leased.
        reply: oneshot::Sender<Result<Vec<DeliveryJob>, StoreError>>,
    },
    /// Record an attempt of a delivery, guarded by its number.
    Record {
        /// The delivery.
        key: DeliveryKey,
        /// The attempt.
        record: AttemptRecord,
        /// What follows it.
        next: DeliveryStatus,
        /// Whether it was recorded.
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Delete events created before a time (unix seconds, exclusive) and their deliveries.
    PurgeEvents {
        /// Events with `created` below this go.
        before: i64,
        /// How many events went.
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
}

/// The counters behind [`GroupCommitStats`](super::GroupCommitStats).
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) transactions: AtomicU64,
    pub(super) write_sets: AtomicU64,
    pub(super) largest_batch: AtomicU64,
}

/// A request handled inside the transaction, with its outcome, waiting for the `COMMIT` before
/// it is answered; by the type of its answer.
enum Pending {
    /// A commit or a key insert.
    Done(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
    /// A re-seal or a key revocation.
    Flag(
        oneshot::Sender<Result<bool, StoreError>>,
        Result<bool, StoreError>,
    ),
    /// A purge or a fan-out.
    Count(
        oneshot::Sender<Result<u64, StoreError>>,
        Result<u64, StoreError>,
    ),
    /// A claim.
    Jobs(
        oneshot::Sender<Result<Vec<DeliveryJob>, StoreError>>,
        Result<Vec<DeliveryJob>, StoreError>,
    ),
}

impl Pending {
    /// Answers the request: its own outcome if the transaction committed, `failed` otherwise.
    /// A caller that stopped waiting is no error.
    fn answer(self, failed: Option<&StoreError>) {
        fn pick<T>(
            own: Result<T, StoreError>,
            failed: Option<&StoreError>,
        ) -> Result<T, StoreError> {
            match failed {
                Some(e) => Err(e.clone()),
                None => own,
            }
        }
        match self {
            Pending::Done(tx, own) => {
                let _ = tx.send(pick(own, failed));
            }
            Pending::Flag(tx, own) => {
                let _ = tx.send(pick(own, failed));
            }
            Pending::Count(tx, own) => {
                let _ = tx.send(pick(own, failed));
            }
            Pending::Jobs(tx, own) => {
                let _ = tx.send(pick(own, failed));
            }
        }
    }

    /// Answers a request that never reached the transaction.
    fn refuse(request: Request, error: &StoreError) {
        match request {
            Request::Commit { reply, .. } | Request::InsertKey { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
            Request::Reseal { reply, .. }
            | Request::RevokeKey { reply, .. }
            | Request::Record { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
            Request::Purge { reply, .. }
            | Request::FanOut { reply, .. }
            | Request::PurgeEvents { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
            Request::Claim { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// The guarded statements of every kind.
struct Statements {
    customers: KindSql,
    methods: KindSql,
    payments: KindSql,
    setups: KindSql,
    endpoints: KindSql,
    idempotency: KindSql,
}

/// The writer: its connection, and what it shares with the store's handles.
pub(super) struct Writer {
    conn: Connection,
    checkpointer: Checkpointer,
    sql: Statements,
    max_batch: usize,
    stats: Arc<Stats>,
    fail_next: Arc<AtomicUsize>,
}

/// A SQLite error as the port's error (SQLite's messages name tables and columns, never bound
/// values): `Unavailable` when retrying later may cure it (see [`is_transient`]), `Failed`
/// otherwise.
pub(super) fn unavailable(e: &rusqlite::Error) -> StoreError {
    if is_transient(e) {
        StoreError::Unavailable(format!("sqlite: {e}"))
    } else {
        StoreError::Failed(format!("sqlite: {e}"))
    }
}

/// Whether a SQLite error is one of the moment: the database busy or locked beyond the busy
/// timeout, a disk I/O error, a full disk, a file that cannot be opened now, memory
/// exhausted. Anything else (a statement SQLite refuses, a type mismatch) is not.
pub(super) fn is_transient(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::OutOfMemory
        )
    )
}

/// The error of a batch whose transaction SQLite rolled back on its own.
fn lost_transaction() -> StoreError {
    StoreError::Unavailable("sqlite rolled the transaction back".to_owned())
}

/// Whether an error is a constraint violation (a unique key taken).
pub(super) fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

/// The transaction cannot go on (a savepoint statement failed, or SQLite rolled everything
/// back on its own after an I/O error); every request of the batch gets this.
struct Broken(StoreError);

impl Writer {
    /// A writer over `conn`.
    pub(super) fn new(
        conn: Connection,
        checkpointer: Checkpointer,
        max_batch: usize,
        stats: Arc<Stats>,
        fail_next: Arc<AtomicUsize>,
    ) -> Self {
        Self {
            conn,
            checkpointer,
            sql: Statements {
                customers: KindSql::of::<Customer>(),
                methods: KindSql::of::<StoredMethod>(),
                payments: KindSql::of::<PaymentRecord>(),
                setups: KindSql::of::<SetupRecord>(),
                endpoints: KindSql::of::<EndpointRecord>(),
                idempotency: KindSql::of::<IdempotencyRecord>(),
            },
            max_batch: max_batch.max(1),
            stats,
            fail_next,
        }
    }

    /// The thread's loop: block for a request, take what else is already waiting (up to
    /// `max_batch` in all), commit them in one transaction, answer them; until every handle of
    /// the store is gone and the queue is empty. Then closes the connection.
    pub(super) fn run(self, requests: Receiver<Request>) -> Result<(), SqliteError> {
        // `recv` hands out everything queued before it reports the channel closed, so nothing
        // sent before the store was closed is lost.
        while let Ok(first) = requests.recv() {
            let mut batch = Vec::with_capacity(self.max_batch.min(64));
            batch.push(first);
            while batch.len() < self.max_batch {
                match requests.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch);
        }
        // The checkpointer's connection closes first, so this one is the last. Closing the
        // last connection checkpoints and deletes the WAL only when SQLite gets an exclusive
        // lock on the database file and its own passive checkpoint succeeds, and now and then
        // it silently does neither (5 closes in 300 of `no_card_number_reaches_the_database_
        // file_or_its_wal`, with no connection or descriptor of the database left open); so
        // copy everything into the database file and empty the WAL here, where it can be
        // asked for (0 closes in 300 left a WAL behind). A failure loses nothing: the frames
        // stay in the WAL, and the next open recovers from them.
        self.checkpointer.stop();
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        self.conn.close().map_err(|(_, e)| SqliteError::Close(e))
    }

    /// One transaction for the whole batch: a savepoint per request, one `COMMIT` (one fsync),
    /// then every answer.
    fn commit_batch(&self, batch: Vec<Request>) {
        let size = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        if !self.conn.is_autocommit() {
            // A transaction left over by a failed `ROLLBACK`: end it before anything else.
            let _ = self.exec("ROLLBACK");
        }
        if let Err(e) = self.exec("BEGIN IMMEDIATE") {
            let error = unavailable(&e);
            for request in batch {
                Pending::refuse(request, &error);
            }
            return;
        }
        let mut done = Vec::with_capacity(batch.len());
        let mut rest = batch.into_iter();
        let mut broken = None;
        for request in rest.by_ref() {
            match self.handle(request) {
                Ok(pending) => done.push(pending),
                Err((pending, Broken(e))) => {
                    done.push(pending);
                    broken = Some(e);
                    break;
                }
            }
        }
        if broken.is_none() && self.conn.is_autocommit() {
            broken = Some(lost_transaction());
        }
        let failed = match broken {
            Some(e) => Some(e),
            None => self.exec("COMMIT").err().map(|e| unavailable(&e)),
        };
        if failed.is_some() && !self.conn.is_autocommit() {
            // Nothing of the batch may stay; if even this fails the connection is unusable
            // and the next `BEGIN` will say so to the next batch.
            let _ = self.exec("ROLLBACK");
        }
        if failed.is_none() {
            self.checkpointer.nudge();
            self.stats.transactions.fetch_add(1, Ordering::Relaxed);
            self.stats.write_sets.fetch_add(size, Ordering::Relaxed);
            self.stats.largest_batch.fetch_max(size, Ordering::Relaxed);
        }
        for pending in done {
            pending.answer(failed.as_ref());
        }
        if let Some(error) = &failed {
            for request in rest {
                Pending::refuse(request, error);
            }
        }
    }

    /// Runs one request in its own savepoint.
    fn handle(&self, request: Request) -> Result<Pending, (Pending, Broken)> {
        match request {
            Request::Commit { writes, reply } => {
                // A test-support failure is taken by the next write set, whatever its guards say.
                let injected = self
                    .fail_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let outcome = self.in_savepoint(|| {
                    self.apply(&writes)?;
                    if injected {
                        // As if the process died after the writes and before `COMMIT`.
                        return Err(StoreError::Unavailable("injected".to_owned()));
                    }
                    Ok(())
                });
                wrap(outcome, |r| Pending::Done(reply, r))
            }
            Request::Reseal {
                owner,
                current,
                resealed,
                reply,
            } => {
                let outcome = self.in_savepoint(|| self.reseal(&owner, &current, &resealed));
                wrap(outcome, |r| Pending::Flag(reply, r))
            }
            Request::Purge { before, reply } => {
                let outcome = self.in_savepoint(|| {
                    let n = self
                        .conn
                        .prepare_cached("DELETE FROM idempotency WHERE created < ?1")
                        .and_then(|mut s| s.execute([before]))
                        .map_err(|e| unavailable(&e))?;
                    Ok(u64::try_from(n).unwrap_or(u64::MAX))
                });
                wrap(outcome, |r| Pending::Count(reply, r))
            }
            Request::InsertKey { key, reply } => {
                let outcome = self.in_savepoint(|| keys::insert(&self.conn, &key));
                wrap(outcome, |r| Pending::Done(reply, r))
            }
            Request::RevokeKey { id, at, reply } => {
                let outcome = self.in_savepoint(|| keys::revoke(&self.conn, &id, at));
                wrap(outcome, |r| Pending::Flag(reply, r))
            }
            Request::FanOut { now, limit, reply } => {
                let outcome = self.in_savepoint(|| delivery::fan_out(&self.conn, now, limit));
                wrap(outcome, |r| Pending::Count(reply, r))
            }
            Request::Claim {
                now,
                until,
                limit,
                reply,
            } => {
                let outcome = self.in_savepoint(|| delivery::claim(&self.conn, now, until, limit));
                wrap(outcome, |r| Pending::Jobs(reply, r))
            }
            Request::Record {
                key,
                record,
                next,
                reply,
            } => {
                let outcome =
                    self.in_savepoint(|| delivery::record(&self.conn, &key, &record, next));
                wrap(outcome, |r| Pending::Flag(reply, r))
            }
            Request::PurgeEvents { before, reply } => {
                let outcome = self.in_savepoint(|| delivery::purge(&self.conn, before));
                wrap(outcome, |r| Pending::Count(reply, r))
            }
        }
    }

    /// Runs `work` between `SAVEPOINT` and `RELEASE`; if it fails, rolls back to the savepoint
    /// first, so the request's failure spoils nothing else of the batch.
    ///
    /// Outside the batch's transaction (SQLite rolls a transaction back on its own after some
    /// I/O errors) a `SAVEPOINT` would open a transaction of its own and its `RELEASE` would
    /// commit it, acknowledging one write set of a failed batch; so the transaction is checked
    /// before and after the work, and its loss breaks the batch instead.
    fn in_savepoint<T>(
        &self,
        work: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<Result<T, StoreError>, Broken> {
        self.still_in_transaction()?;
        self.exec("SAVEPOINT ws")
            .map_err(|e| Broken(unavailable(&e)))?;
        let outcome = work();
        self.still_in_transaction()?;
        if outcome.is_err() {
            self.exec("ROLLBACK TO ws")
                .map_err(|e| Broken(unavailable(&e)))?;
        }
        self.exec("RELEASE ws")
            .map_err(|e| Broken(unavailable(&e)))?;
        Ok(outcome)
    }

    /// Fails if the batch's transaction is gone.
    fn still_in_transaction(&self) -> Result<(), Broken> {
        if self.conn.is_autocommit() {
            Err(Broken(lost_transaction()))
        } else {
            Ok(())
        }
    }

    /// Runs a statement without parameters or rows, through the statement cache.
    fn exec(&self, sql: &str) -> Result<(), rusqlite::Error> {
        self.conn.prepare_cached(sql)?.execute([]).map(|_| ())
    }

    /// Applies every write of the write set, checking every guard; the first failure stops.
    fn apply(&self, writes: &WriteSet) -> Result<(), StoreError> {
        self.apply_kind(&self.sql.customers, &writes.customers)?;
        self.apply_kind(&self.sql.methods, &writes.methods)?;
        self.apply_kind(&self.sql.payments, &writes.payments)?;
        self.apply_kind(&self.sql.setups, &writes.setups)?;
        self.apply_kind(&self.sql.endpoints, &writes.endpoints)?;
        self.apply_kind(&self.sql.idempotency, &writes.idempotency)?;
        for event in &writes.events {
            self.append(event)?;
        }
        Ok(())
    }

    /// Applies the writes of one kind in order, each guarded.
    fn apply_kind<K: Kind>(&self, sql: &KindSql, writes: &[Write<K>]) -> Result<(), StoreError> {
        for write in writes {
            match write {
                Write::Insert(value) => {
                    let mut params = value.key();
                    params.extend(value.columns());
                    params.push(Value::Integer(version_value(value.version())?));
                    params.push(Value::Text(body::<K>(value)?));
                    match self.execute(&sql.insert, params) {
                        Ok(_) => {}
                        Err(e) if is_constraint(&e) => return Err(StoreError::Conflict),
                        Err(e) => return Err(unavailable(&e)),
                    }
                }
                Write::Update { expected, value } => {
                    let mut params = value.columns();
                    params.push(Value::Integer(version_value(value.version())?));
                    params.push(Value::Text(body::<K>(value)?));
                    params.extend(value.key());
                    params.push(Value::Integer(guard(*expected)?));
                    self.one_row(&sql.update, params)?;
                }
                Write::Delete { expected, value } => {
                    let mut params = value.key();
                    params.push(Value::Integer(guard(*expected)?));
                    self.one_row(&sql.delete, params)?;
                }
                Write::Check { expected, value } => {
                    let mut params = value.key();
                    params.push(Value::Integer(guard(*expected)?));
                    let found = self
                        .conn
                        .prepare_cached(&sql.check)
                        .and_then(|mut s| s.exists(params_from_iter(params)))
                        .map_err(|e| unavailable(&e))?;
                    if !found {
                        return Err(StoreError::Conflict);
                    }
                }
            }
        }
        Ok(())
    }

    /// Appends an event; an id already in the log is a conflict.
    fn append(&self, event: &Event) -> Result<(), StoreError> {
        let json = event_to_json(event).map_err(|e| corrupt("events", &e))?;
        let params: Vec<Value> = vec![
            Value::Text(event.id.as_str().to_owned()),
            Value::Integer(i64::from(event.livemode)),
            Value::Integer(event.created.timestamp()),
            Value::Text(event.kind.as_str().to_owned()),
            Value::Text(json),
        ];
        match self.execute(
            "INSERT INTO events (id, livemode, created, kind, body) VALUES (?, ?, ?, ?, ?)",
            params,
        ) {
            Ok(_) => Ok(()),
            Err(e) if is_constraint(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Runs a guarded statement that must change exactly one row; none is a conflict.
    fn one_row(&self, sql: &str, params: Vec<Value>) -> Result<(), StoreError> {
        match self.execute(sql, params) {
            Ok(1) => Ok(()),
            Ok(_) => Err(StoreError::Conflict),
            Err(e) if is_constraint(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Runs a statement through the cache; the number of rows changed.
    fn execute(&self, sql: &str, params: Vec<Value>) -> Result<usize, rusqlite::Error> {
        self.conn
            .prepare_cached(sql)?
            .execute(params_from_iter(params))
    }

    /// Replaces the sealed card of `owner` if it still holds `current`; the version stays.
    fn reseal(
        &self,
        owner: &CardOwner,
        current: &SealedCard,
        resealed: &SealedCard,
    ) -> Result<bool, StoreError> {
        match owner {
            CardOwner::Method(id) => self.reseal_in::<StoredMethod>(
                id.as_str(),
                |m| Some(&mut m.sealed),
                current,
                resealed,
            ),
            CardOwner::Payment(id) => self.reseal_in::<PaymentRecord>(
                id.as_str(),
                |p| p.pending_card.as_mut().map(|c| &mut c.sealed),
                current,
                resealed,
            ),
            CardOwner::Setup(id) => self.reseal_in::<SetupRecord>(
                id.as_str(),
                |s| s.pending_card.as_mut().map(|c| &mut c.sealed),
                current,
                resealed,
            ),
        }
    }

    /// [`Writer::reseal`] for one kind: read the record, compare, write the body and the
    /// `card_key_id` column back (and nothing else: the version and the place stay).
    fn reseal_in<K: Kind>(
        &self,
        id: &str,
        slot: impl FnOnce(&mut K) -> Option<&mut SealedCard>,
        current: &SealedCard,
        resealed: &SealedCard,
    ) -> Result<bool, StoreError> {
        let table = K::TABLE;
        let text: Option<String> = self
            .conn
            .prepare_cached(&format!("SELECT body FROM {table} WHERE id = ?1"))
            .and_then(|mut s| {
                let mut rows = s.query([id])?;
                rows.next()?.map(|row| row.get(0)).transpose()
            })
            .map_err(|e| unavailable(&e))?;
        let Some(text) = text else {
            return Ok(false);
        };
        let mut record = K::from_json(&text).map_err(|e| corrupt(table, &e))?;
        match slot(&mut record) {
            Some(sealed) if sealed == current => *sealed = resealed.clone(),
            Some(_) | None => return Ok(false),
        }
        let json = record.to_json().map_err(|e| corrupt(table, &e))?;
        let params = vec![
            Value::Text(json),
            Value::Text(resealed.key_id.clone()),
            Value::Text(id.to_owned()),
        ];
        let changed = self
            .execute(
                &format!("UPDATE {table} SET body = ?, card_key_id = ? WHERE id = ?"),
                params,
            )
            .map_err(|e| unavailable(&e))?;
        Ok(changed == 1)
    }
}

/// The JSON of a record, for its `body` column.
fn body<K: Kind>(value: &K) -> Result<String, StoreError> {
    value.to_json().map_err(|e| corrupt(K::TABLE, &e))
}

/// An expected version as a guard parameter; one past SQLite's range matches no row.
fn guard(expected: u64) -> Result<i64, StoreError> {
    i64::try_from(expected).map_err(|_| StoreError::Conflict)
}

/// Turns a savepoint's outcome into the pending answer, or the broken transaction with it.
fn wrap<T>(
    outcome: Result<Result<T, StoreError>, Broken>,
    pending: impl FnOnce(Result<T, StoreError>) -> Pending,
) -> Result<Pending, (Pending, Broken)> {
    match outcome {
        Ok(own) => Ok(pending(own)),
        Err(Broken(e)) => Err((pending(Err(e.clone())), Broken(e))),
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    fn sqlite_error(code: ErrorCode, extended: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error {
                code,
                extended_code: extended,
            },
            None,
        )
    }

    #[test]
    fn busy_locked_and_io_errors_are_unavailable_others_failed() {
        for (code, extended) in [
            (ErrorCode::DatabaseBusy, 5),
            (ErrorCode::DatabaseLocked, 6),
            (ErrorCode::SystemIoFailure, 10),
            (ErrorCode::DiskFull, 13),
        ] {
            assert!(
                matches!(
                    unavailable(&sqlite_error(code, extended)),
                    StoreError::Unavailable(_)
                ),
                "{code:?}"
            );
        }
        assert!(matches!(
            unavailable(&sqlite_error(ErrorCode::ConstraintViolation, 19)),
            StoreError::Failed(_)
        ));
        assert!(matches!(
            unavailable(&rusqlite::Error::InvalidColumnIndex(3)),
            StoreError::Failed(_)
        ));
    }
}
