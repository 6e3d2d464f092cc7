//! Opening connections (the PRAGMAs every connection runs with) and the embedded migrations.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::SqliteError;

/// How long a connection waits for a lock held by another connection before it gives up.
/// Only the start-up (migrations) and WAL checkpoints ever wait: the one writer thread is the
/// only connection that writes, and WAL readers never block it.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection: the writer uses about 45, a reader about 50.
const STATEMENT_CACHE: usize = 96;

/// One migration: a version, a name, and the SQL that takes the schema from the version before.
pub(super) struct Migration {
    /// Applied in increasing order; recorded in `schema_migrations`.
    pub(super) version: i64,
    /// What it does, recorded beside the version.
    pub(super) name: &'static str,
    /// The statements, run as one batch in the migration's transaction.
    pub(super) sql: &'static str,
}

/// Every migration, oldest first. A released migration is never edited: a change of the
/// schema is a new entry.
///
/// Every table keeps the record as JSON (`body`) beside the columns its queries filter and
/// order on; `seq` (the rowid) is the insertion order that breaks ties of `created` in lists,
/// and an update keeps it. Each list has an index whose leading columns are its equality
/// filters followed by `(created, seq)`, so a page is one backwards range scan of that index.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tables for every kind, with their list indexes",
        sql: r"
CREATE TABLE customers (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    version INTEGER NOT NULL,
    email_key TEXT,
    body TEXT NOT NULL
);
CREATE INDEX customers_by_created ON customers (livemode, created, seq);
CREATE INDEX customers_by_email ON customers (livemode, email_key, created, seq);

CREATE TABLE methods (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    version INTEGER NOT NULL,
    customer_id TEXT,
    state TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    card_key_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX methods_by_customer ON methods (livemode, customer_id, state, created, seq);
CREATE INDEX methods_by_state ON methods (livemode, state, created, seq);
CREATE INDEX methods_by_fingerprint
    ON methods (livemode, customer_id, fingerprint, state, created, seq);
CREATE INDEX methods_by_card_key ON methods (card_key_id);

CREATE TABLE payments (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    version INTEGER NOT NULL,
    customer_id TEXT,
    status TEXT NOT NULL,
    card_key_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX payments_by_created ON payments (livemode, created, seq);
CREATE INDEX payments_by_customer ON payments (livemode, customer_id, created, seq);
CREATE INDEX payments_by_status ON payments (livemode, status, created, seq);
CREATE INDEX payments_by_customer_status
    ON payments (livemode, customer_id, status, created, seq);
CREATE INDEX payments_processing ON payments (created, seq) WHERE status = 'processing';
CREATE INDEX payments_by_card_key ON payments (card_key_id);

CREATE TABLE setups (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    version INTEGER NOT NULL,
    card_key_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX setups_by_card_key ON setups (card_key_id);

CREATE TABLE endpoints (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX endpoints_by_created ON endpoints (livemode, created, seq);

CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX events_by_created ON events (livemode, created, seq);
CREATE INDEX events_by_kind ON events (livemode, kind, created, seq);

CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    created INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_by_created ON idempotency (created);
",
    },
    Migration {
        version: 2,
        name: "api keys, kept hashed",
        // No JSON body: the record is these columns. `id` is NOT NULL because SQLite lets a
        // non-integer PRIMARY KEY hold NULL otherwise. Times are unix seconds, as the record's
        // serde form keeps them. The list is `ORDER BY created, rowid`: the index on `created`
        // ends in the rowid, so it is a scan of that index with no sort.
        sql: r"
CREATE TABLE api_keys (
    id TEXT NOT NULL PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    prefix TEXT NOT NULL,
    created INTEGER NOT NULL,
    revoked INTEGER
);
CREATE INDEX api_keys_by_created ON api_keys (created);
",
    },
    Migration {
        version: 3,
        name: "webhook deliveries, and the events' fan-out flag",
        // Events already in the log keep `fanned_out = 0`: they were never delivered, so the
        // first fan-out after the upgrade turns them into deliveries. `next_at` is set exactly
        // when a delivery is pending; it and `leased_until` are unix microseconds. `attempts`
        // is the JSON array of the attempts recorded, oldest first. The pair
        // `(event_id, endpoint_id)` names a delivery (NOT NULL and UNIQUE: a primary key in
        // all but name); `seq`, the rowid, is the fan-out order that breaks ties of `next_at`.
        // Both outbox indexes are partial, so they hold only the work still to do.
        sql: r"
ALTER TABLE events ADD COLUMN fanned_out INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_unfanned ON events (seq) WHERE fanned_out = 0;

CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    next_at INTEGER,
    leased_until INTEGER,
    attempts TEXT NOT NULL DEFAULT '[]',
    UNIQUE (event_id, endpoint_id),
    CHECK ((status = 'pending') = (next_at IS NOT NULL))
);
CREATE INDEX deliveries_pending ON deliveries (next_at) WHERE status = 'pending';
",
    },
];

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The writer thread's connection.
    Writer,
    /// A reader of the pool: it refuses to write (`query_only`).
    Reader,
    /// The checkpointer thread's connection: it copies the WAL into the database file.
    Checkpointer,
}

/// The writer's page cache, in KiB (`PRAGMA cache_size` takes a negative number as KiB): the
/// pages of a batch's B-tree paths and indexes stay in memory instead of being read back from
/// the file. Readers keep SQLite's default (2 MiB each).
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// Opens a connection to the database at `path` (creating the file if it is missing) and sets
/// the PRAGMAs of its role: WAL, `synchronous=FULL` (a commit is on disk before it is
/// acknowledged, so it survives power loss), a busy timeout, no foreign keys (the store checks
/// nothing across tables; the engine does), and a statement cache sized for our statements.
pub(super) fn connect(path: &Path, role: Role) -> Result<Connection, SqliteError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(SqliteError::Open)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(SqliteError::Open)?;
    let journal: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(SqliteError::Open)?;
    if !journal.eq_ignore_ascii_case("wal") {
        // An in-memory or otherwise special database: each connection would see its own.
        return Err(SqliteError::NotWal(journal));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = OFF;",
    )
    .map_err(SqliteError::Open)?;
    match role {
        // The statement journal of each write set's savepoint lives in memory (it is never
        // needed after a crash: the WAL is the durable journal), and the writer never
        // checkpoints: the checkpointer thread does, so a batch's commit never waits for the
        // database file to be written and fsynced.
        Role::Writer => conn
            .execute_batch(&format!(
                "PRAGMA temp_store = MEMORY;
                 PRAGMA wal_autocheckpoint = 0;
                 PRAGMA cache_size = -{WRITER_CACHE_KIB};"
            ))
            .map_err(SqliteError::Open)?,
        Role::Reader => conn
            .execute_batch("PRAGMA query_only = ON;")
            .map_err(SqliteError::Open)?,
        Role::Checkpointer => conn
            .execute_batch("PRAGMA wal_autocheckpoint = 0;")
            .map_err(SqliteError::Open)?,
    }
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Applies every migration newer than the database's version, each in its own transaction
/// with its `schema_migrations` row, so a crash mid-way leaves a schema of some known version.
///
/// A database written by a newer build (a version we do not know) is refused rather than
/// guessed at.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), SqliteError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             name TEXT NOT NULL
         );",
    )
    .map_err(|source| SqliteError::Migration { version: 0, source })?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    for migration in MIGRATIONS {
        let failed = |source| SqliteError::Migration {
            version: migration.version,
            source,
        };
        // IMMEDIATE: a second process opening the same file waits here instead of racing.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        let current: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |row| row.get(0),
            )
            .map_err(failed)?;
        if current > known {
            return Err(SqliteError::SchemaTooNew {
                found: current,
                known,
            });
        }
        if current >= migration.version {
            continue;
        }
        tx.execute_batch(migration.sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
            (migration.version, migration.name),
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
    Ok(())
}
