//! The SQLite store beyond the contract suites (`tests/sqlite_contract.rs`): durability across
//! close and reopen (records and API keys), atomicity under an injected failure before
//! `COMMIT` (checked by reading the tables with a separate connection), closing, options and
//! files, and the upgrade of a database made before the `api_keys` table.
#![cfg(feature = "sqlite")]
// Test code: a failed step fails the test, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sqlite_common;

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use vinr_domain::event::EventType;
use vinr_ports::Mode;
use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};
use vinr_ports::store::{PageRequest, Store, StoreError, Write, WriteSet};
use vinr_store::sqlite::{SqliteOptions, SqliteStore};

use sqlite_common::TempDir;
use sqlite_common::fixtures::{Fx, MODE, at};

/// Every table of the schema that holds records.
const TABLES: [&str; 7] = [
    "customers",
    "methods",
    "payments",
    "setups",
    "endpoints",
    "events",
    "idempotency",
];

/// How many rows each table holds, read through a connection of its own (not the store's).
fn row_counts(db: &Path) -> Vec<(&'static str, i64)> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    TABLES
        .iter()
        .map(|t| {
            (
                *t,
                conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                    .unwrap(),
            )
        })
        .collect()
}

/// Every event of the test mode, newest first.
async fn all_events(store: &dyn Store) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .events(
                MODE,
                None,
                PageRequest {
                    limit: 7,
                    starting_after: after.clone(),
                },
            )
            .await
            .unwrap();
        out.extend(page.items.iter().map(|e| e.id.to_string()));
        after = page.items.last().map(|e| e.id.clone());
        if !page.has_more {
            return out;
        }
    }
}

/// What the durability tests commit: customers, methods, payments (one holding a pending
/// card), a setup, idempotency records and an event per customer, over many commits.
struct Committed {
    writes: Vec<WriteSet>,
}

impl Committed {
    fn new(fx: &Fx) -> Self {
        let mut writes = Vec::new();
        for _ in 0..20 {
            let c = fx.customer();
            let m = fx.method(&c.id, "k1");
            let p = fx.payment(&c.id);
            let hosted = fx.payment_with_card(&c.id, "k1");
            let s = fx.setup_with_card(&c.id, "k1");
            let e = fx.event(&c);
            writes.push(WriteSet {
                customers: vec![Write::Insert(c)],
                methods: vec![Write::Insert(m)],
                payments: vec![Write::Insert(p), Write::Insert(hosted)],
                setups: vec![Write::Insert(s)],
                idempotency: vec![Write::Insert(
                    fx.idempotency("sk", &format!("key-{}", fx.n())),
                )],
                events: vec![e],
                ..WriteSet::default()
            });
        }
        Self { writes }
    }

    async fn commit(&self, store: &dyn Store) {
        for ws in &self.writes {
            store.commit(ws.clone()).await.unwrap();
        }
    }

    /// Every record committed reads back equal, and every event is listed.
    async fn assert_present(&self, store: &dyn Store) {
        let mut events = Vec::new();
        for ws in &self.writes {
            for w in &ws.customers {
                assert_eq!(
                    store.customer(MODE, &w.value().id).await.unwrap().as_ref(),
                    Some(w.value())
                );
            }
            for w in &ws.methods {
                let m = w.value();
                assert_eq!(
                    store.method(MODE, &m.method.id).await.unwrap().as_ref(),
                    Some(m)
                );
            }
            for w in &ws.payments {
                let p = w.value();
                assert_eq!(
                    store.payment(MODE, &p.payment.id).await.unwrap().as_ref(),
                    Some(p)
                );
            }
            for w in &ws.setups {
                let s = w.value();
                assert_eq!(
                    store.setup(MODE, &s.setup.id).await.unwrap().as_ref(),
                    Some(s)
                );
            }
            for w in &ws.idempotency {
                let r = w.value();
                assert_eq!(
                    store.idempotency(&r.scope, &r.key).await.unwrap().as_ref(),
                    Some(r)
                );
            }
            for e in &ws.events {
                assert_eq!(store.event(MODE, &e.id).await.unwrap().as_ref(), Some(e));
                events.push(e.id.to_string());
            }
        }
        events.reverse();
        assert_eq!(
            all_events(store).await,
            events,
            "every event, pending delivery, is listed"
        );
        let stuck = store.stuck_payments(at(1_000_000), 100).await.unwrap();
        assert_eq!(
            stuck.len(),
            self.writes.len(),
            "the processing payments wait for the sweep"
        );
    }
}

#[tokio::test]
async fn everything_committed_is_there_after_close_and_reopen() {
    let dir = TempDir::new("durable");
    let fx = Fx::default();
    let committed = Committed::new(&fx);
    let store = SqliteStore::open(dir.db()).unwrap();
    committed.commit(&store).await;
    store.close().unwrap();
    assert!(
        !dir.path().join("vinr.db-wal").exists(),
        "closing checkpoints and removes the WAL"
    );

    let reopened = SqliteStore::open(dir.db()).unwrap();
    committed.assert_present(&reopened).await;
    // The reopened store goes on writing after what it found.
    let more = Committed::new(&fx);
    more.commit(&reopened).await;
    more.assert_present_after(&reopened, &committed).await;
    reopened.close().unwrap();
}

#[tokio::test]
async fn dropping_the_last_handle_also_commits_and_closes() {
    let dir = TempDir::new("drop");
    let fx = Fx::default();
    let committed = Committed::new(&fx);
    {
        let store = SqliteStore::open(dir.db()).unwrap();
        let clone = store.clone();
        committed.commit(&clone).await;
        drop(store);
        // One clone left: still open.
        clone
            .customers(MODE, None, PageRequest::first(1))
            .await
            .unwrap();
    }
    let reopened = SqliteStore::open(dir.db()).unwrap();
    committed.assert_present(&reopened).await;
}

impl Committed {
    /// Both batches are present; the events list holds the later batch first.
    async fn assert_present_after(&self, store: &dyn Store, earlier: &Committed) {
        let mut want: Vec<String> = earlier
            .writes
            .iter()
            .chain(&self.writes)
            .flat_map(|ws| ws.events.iter().map(|e| e.id.to_string()))
            .collect();
        want.reverse();
        assert_eq!(all_events(store).await, want);
        for ws in &self.writes {
            for w in &ws.customers {
                assert_eq!(
                    store.customer(MODE, &w.value().id).await.unwrap().as_ref(),
                    Some(w.value())
                );
            }
        }
    }
}

#[tokio::test]
async fn a_failure_before_commit_leaves_no_row_and_no_event() {
    let dir = TempDir::new("atomic");
    let store = SqliteStore::open(dir.db()).unwrap();
    let fx = Fx::default();
    let c = fx.customer();
    let writes = WriteSet {
        customers: vec![Write::Insert(c.clone())],
        methods: vec![Write::Insert(fx.method(&c.id, "k1"))],
        payments: vec![Write::Insert(fx.payment(&c.id))],
        idempotency: vec![Write::Insert(fx.idempotency("sk", "order-1"))],
        events: vec![fx.event(&c)],
        ..WriteSet::default()
    };

    store.fail_next_before_commit(1);
    assert_eq!(
        store.commit(writes.clone()).await,
        Err(StoreError::Unavailable("injected".to_owned()))
    );
    assert!(
        row_counts(&dir.db()).iter().all(|(_, n)| *n == 0),
        "no row may stay: {:?}",
        row_counts(&dir.db())
    );
    assert_eq!(store.customer(MODE, &c.id).await, Ok(None));
    assert!(all_events(&store).await.is_empty());

    // The injection is spent: the same write set now commits whole.
    store.commit(writes).await.unwrap();
    assert_eq!(
        row_counts(&dir.db()),
        vec![
            ("customers", 1),
            ("methods", 1),
            ("payments", 1),
            ("setups", 0),
            ("endpoints", 0),
            ("events", 1),
            ("idempotency", 1)
        ]
    );
    store.close().unwrap();
}

#[tokio::test]
async fn a_closed_store_refuses_every_call_from_every_clone() {
    let dir = TempDir::new("closed");
    let store = SqliteStore::open(dir.db()).unwrap();
    let clone = store.clone();
    store.close().unwrap();
    let closed = Err(StoreError::Unavailable("the store is closed".to_owned()));
    assert_eq!(clone.commit(WriteSet::default()).await, closed);
    assert_eq!(
        clone
            .customers(MODE, None, PageRequest::first(1))
            .await
            .map(|p| p.items.len()),
        closed.clone().map(|()| 0)
    );
    assert_eq!(
        clone.purge_idempotency(at(0)).await,
        closed.clone().map(|()| 0)
    );
    let key = api_key(1, Mode::Test);
    assert_eq!(clone.insert_key(key.clone()).await, closed);
    assert_eq!(
        clone.key_by_hash(&key.hash).await,
        closed.clone().map(|()| None)
    );
    assert_eq!(clone.list_keys().await, closed.clone().map(|()| vec![]));
    assert_eq!(
        clone.revoke_key(&key.id, at(1)).await,
        closed.clone().map(|()| false)
    );
}

#[tokio::test]
async fn options_and_files() {
    let dir = TempDir::new("options");
    assert!(
        SqliteStore::open_with(
            dir.db(),
            SqliteOptions {
                readers: 0,
                max_batch: 1
            }
        )
        .is_err()
    );
    assert!(
        SqliteStore::open(":memory:").is_err(),
        "an in-memory database is no WAL file"
    );
    assert!(SqliteStore::open(dir.path().join("missing-dir").join("x.db")).is_err());
    let store = SqliteStore::open_with(
        dir.db(),
        SqliteOptions {
            readers: 1,
            max_batch: 1,
        },
    )
    .unwrap();
    assert_eq!(store.path(), dir.db());
    let fx = Fx::default();
    let c = fx.customer();
    store
        .commit(WriteSet {
            customers: vec![Write::Insert(c.clone())],
            events: vec![fx.event(&c)],
            ..WriteSet::default()
        })
        .await
        .unwrap();
    // The email look-up is case-insensitive.
    let email = c.email.clone().unwrap().to_uppercase();
    let found = store
        .customers(MODE, Some(email), PageRequest::first(5))
        .await
        .unwrap();
    assert_eq!(found.items, vec![c]);
    let events = store
        .events(
            MODE,
            Some(EventType::CustomerCreated),
            PageRequest::first(5),
        )
        .await
        .unwrap();
    assert_eq!(events.items.len(), 1);
    store.close().unwrap();
    // Reopening applies no migration twice.
    let again = SqliteStore::open(dir.db()).unwrap();
    again.close().unwrap();
    let conn = Connection::open(dir.db()).unwrap();
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(versions, vec![1, 2, 3]);
}

/// An API key record (its hash need not be a real SHA-256 here).
fn api_key(n: u32, mode: Mode) -> ApiKeyRecord {
    ApiKeyRecord {
        id: format!("key_Sqlite{n:014}"),
        mode,
        hash: format!("{n:064x}"),
        prefix: "sk_test_AbCd".to_owned(),
        created: at(n),
        revoked: None,
    }
}

#[tokio::test]
async fn api_keys_are_there_after_close_and_reopen() {
    let dir = TempDir::new("keys-durable");
    let store = SqliteStore::open(dir.db()).unwrap();
    let keys: Vec<ApiKeyRecord> = (1..=5)
        .map(|n| api_key(n, if n % 2 == 0 { Mode::Live } else { Mode::Test }))
        .collect();
    for k in &keys {
        store.insert_key(k.clone()).await.unwrap();
    }
    assert_eq!(store.revoke_key(&keys[1].id, at(100)).await, Ok(true));
    let before = store.group_commit_stats();
    assert_eq!(
        before.write_sets, 6,
        "every key write went through the writer"
    );
    store.close().unwrap();

    let reopened = SqliteStore::open(dir.db()).unwrap();
    let mut want = keys.clone();
    want[1].revoked = Some(at(100));
    assert_eq!(reopened.list_keys().await.unwrap(), want);
    assert_eq!(
        reopened.key_by_hash(&keys[1].hash).await.unwrap(),
        Some(want[1].clone())
    );
    assert_eq!(reopened.revoke_key(&keys[1].id, at(101)).await, Ok(false));
    assert_eq!(
        reopened.insert_key(keys[0].clone()).await,
        Err(StoreError::Conflict)
    );
    reopened.close().unwrap();
}

#[tokio::test]
async fn api_key_times_are_kept_to_the_second() {
    let dir = TempDir::new("keys-seconds");
    let store = SqliteStore::open(dir.db()).unwrap();
    let mut key = api_key(1, Mode::Test);
    key.created = at(1) + chrono::Duration::milliseconds(750);
    store.insert_key(key.clone()).await.unwrap();
    let revoked_at = at(9) + chrono::Duration::milliseconds(250);
    assert_eq!(store.revoke_key(&key.id, revoked_at).await, Ok(true));
    let got = store.key_by_hash(&key.hash).await.unwrap().unwrap();
    assert_eq!(got.created, at(1));
    assert_eq!(got.revoked, Some(at(9)));
    store.close().unwrap();
}

#[test]
fn the_api_keys_table_checks_its_columns() {
    let dir = TempDir::new("keys-constraints");
    SqliteStore::open(dir.db()).unwrap().close().unwrap();
    let conn = Connection::open(dir.db()).unwrap();
    for sql in [
        "INSERT INTO api_keys (id, mode, hash, prefix, created) VALUES (NULL, 'test', 'h1', 'p', 0)",
        "INSERT INTO api_keys (id, mode, hash, prefix, created) VALUES ('key_1', 'demo', 'h1', 'p', 0)",
        "INSERT INTO api_keys (id, mode, hash, prefix, created) VALUES ('key_1', 'test', NULL, 'p', 0)",
    ] {
        assert!(conn.execute(sql, []).is_err(), "{sql} must be refused");
    }
}

#[tokio::test]
async fn a_database_made_before_api_keys_is_upgraded_on_open() {
    let dir = TempDir::new("keys-upgrade");
    let fx = Fx::default();
    let c = fx.customer();
    let store = SqliteStore::open(dir.db()).unwrap();
    store
        .commit(WriteSet {
            customers: vec![Write::Insert(c.clone())],
            ..WriteSet::default()
        })
        .await
        .unwrap();
    store.close().unwrap();
    // Back to the schema of version 1, as a build before the `api_keys` table left it (so
    // also before the webhook outbox of version 3).
    let conn = Connection::open(dir.db()).unwrap();
    conn.execute_batch(
        "DROP TABLE api_keys;
         DROP TABLE deliveries;
         DROP INDEX events_unfanned;
         ALTER TABLE events DROP COLUMN fanned_out;
         DELETE FROM schema_migrations WHERE version > 1;",
    )
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(store.customer(MODE, &c.id).await.unwrap(), Some(c));
    assert_eq!(store.list_keys().await, Ok(vec![]));
    let key = api_key(1, Mode::Live);
    store.insert_key(key.clone()).await.unwrap();
    assert_eq!(store.key_by_hash(&key.hash).await, Ok(Some(key)));
    store.close().unwrap();
}
