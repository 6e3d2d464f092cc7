//! Unit tests of what the contract suites cannot see: the query plans (every list is an index
//! range scan, every API key query uses its index), the migrations and the options.

use super::*;

/// A fresh, unique database path under the system's temporary directory.
fn temp_db(name: &str) -> PathBuf {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir()
        .join("vinr-sqlite-tests")
        .join(format!("{}-unit-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("vinr.db")
}

/// Removes the directory of a database made by [`temp_db`].
fn remove(db: &Path) {
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

/// The plan SQLite picks for `sql` (parameters bound to NULL), one detail line per step.
fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let n = stmt.parameter_count();
    stmt.query_map(rusqlite::params_from_iter(vec![Value::Null; n]), |row| {
        row.get::<_, String>(3)
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Asserts `sql` is one search of `index` in `table`: no table scan, no sort.
fn assert_search(conn: &Connection, sql: &str, table: &str, index: &str) {
    let steps = plan(conn, sql);
    let want = format!("SEARCH {table} USING INDEX {index} (");
    assert!(
        steps.len() == 1 && steps[0].starts_with(&want),
        "{sql}\n  should be a range scan of {index}, but the plan is {steps:?}"
    );
}

/// The index each list's page query scans.
fn index_of(q: ListQuery) -> &'static str {
    match q {
        ListQuery::Customers => "customers_by_created",
        ListQuery::CustomersByEmail => "customers_by_email",
        ListQuery::CustomerMethods => "methods_by_customer",
        ListQuery::MethodByFingerprint => "methods_by_fingerprint",
        ListQuery::AttachedMethods => "methods_by_state",
        ListQuery::Payments => "payments_by_created",
        ListQuery::PaymentsOfCustomer => "payments_by_customer",
        ListQuery::PaymentsInStatus => "payments_by_status",
        ListQuery::PaymentsOfCustomerInStatus => "payments_by_customer_status",
        ListQuery::Endpoints => "endpoints_by_created",
        ListQuery::Events => "events_by_created",
        ListQuery::EventsOfKind => "events_by_kind",
    }
}

#[test]
fn every_list_is_an_index_range_scan() {
    let path = temp_db("plans");
    let store = SqliteStore::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    for q in ListQuery::ALL {
        let table = q.table();
        assert_search(&conn, &q.sql(false), table, index_of(q));
        // `method_by_fingerprint` takes no cursor; every other list pages on one.
        if q != ListQuery::MethodByFingerprint {
            assert_search(&conn, &q.sql(true), table, index_of(q));
        }
        assert_search(
            &conn,
            &q.cursor_sql(),
            table,
            &format!("sqlite_autoindex_{table}_1"),
        );
    }
    assert_search(&conn, STUCK_PAYMENTS, "payments", "payments_processing");
    for (table, index) in [
        ("methods", "methods_by_card_key"),
        ("payments", "payments_by_card_key"),
        ("setups", "setups_by_card_key"),
    ] {
        for op in ["<", ">"] {
            let sql = format!(
                "SELECT body FROM {table} WHERE card_key_id {op} ? ORDER BY card_key_id LIMIT ?"
            );
            assert_search(&conn, &sql, table, index);
        }
    }
    assert_search(
        &conn,
        "DELETE FROM idempotency WHERE created < ?1",
        "idempotency",
        "idempotency_by_created",
    );
    drop(conn);
    store.close().unwrap();
    remove(&path);
}

#[test]
fn api_key_queries_use_their_indexes() {
    let path = temp_db("key-plans");
    let store = SqliteStore::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    // `id` is the primary key (autoindex 1), `hash` the UNIQUE column (autoindex 2).
    assert_search(
        &conn,
        keys::BY_HASH,
        "api_keys",
        "sqlite_autoindex_api_keys_2",
    );
    assert_search(
        &conn,
        keys::REVOKE,
        "api_keys",
        "sqlite_autoindex_api_keys_1",
    );
    assert_eq!(
        plan(&conn, keys::LIST),
        vec!["SCAN api_keys USING INDEX api_keys_by_created".to_owned()],
        "the list is one scan of its index, with no sort"
    );
    drop(conn);
    store.close().unwrap();
    remove(&path);
}

#[test]
fn migrations_are_applied_once_and_a_newer_schema_is_refused() {
    let path = temp_db("migrations");
    SqliteStore::open(&path).unwrap().close().unwrap();
    SqliteStore::open(&path).unwrap().close().unwrap();
    let conn = Connection::open(&path).unwrap();
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let known: Vec<i64> = schema::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, known);
    // Versions only grow.
    assert!(known.windows(2).all(|w| w[0] < w[1]));

    conn.execute(
        "INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')",
        [],
    )
    .unwrap();
    drop(conn);
    let refused = SqliteStore::open(&path);
    assert!(
        matches!(refused, Err(SqliteError::SchemaTooNew { found: 999, .. })),
        "{refused:?}"
    );
    remove(&path);
}

#[test]
fn options_are_checked_and_a_memory_database_is_refused() {
    let path = temp_db("options");
    let none = SqliteOptions {
        readers: 0,
        ..SqliteOptions::default()
    };
    assert!(matches!(
        SqliteStore::open_with(&path, none),
        Err(SqliteError::InvalidOptions(_))
    ));
    assert!(matches!(
        SqliteStore::open(":memory:"),
        Err(SqliteError::NotWal(_))
    ));
    assert_eq!(
        SqliteOptions::default(),
        SqliteOptions {
            readers: 4,
            max_batch: 256
        }
    );
    remove(&path);
}

#[test]
fn reader_connections_refuse_to_write() {
    let path = temp_db("readers");
    let store = SqliteStore::open(&path).unwrap();
    let written = store.read(|conn| {
        conn.execute("DELETE FROM customers", [])
            .map_err(|e| writer::unavailable(&e))
    });
    assert!(written.is_err(), "{written:?}");
    store.close().unwrap();
    remove(&path);
}

#[test]
fn the_guarded_statements_of_a_kind() {
    let sql = kinds::KindSql::of::<IdempotencyRecord>();
    assert_eq!(
        sql.insert,
        "INSERT INTO idempotency (scope, key, created, version, body) VALUES (?, ?, ?, ?, ?)"
    );
    assert_eq!(
        sql.update,
        "UPDATE idempotency SET created = ?, version = ?, body = ? \
         WHERE scope = ? AND key = ? AND version = ?"
    );
    assert_eq!(
        sql.delete,
        "DELETE FROM idempotency WHERE scope = ? AND key = ? AND version = ?"
    );
    assert_eq!(
        sql.check,
        "SELECT 1 FROM idempotency WHERE scope = ? AND key = ? AND version = ?"
    );
}

#[test]
fn times_round_up_to_whole_seconds() {
    let t = DateTime::from_timestamp(100, 0).unwrap();
    assert_eq!(seconds_ceil(t), 100);
    assert_eq!(seconds_ceil(t + chrono::Duration::nanoseconds(1)), 101);
    assert_eq!(seconds_ceil(t - chrono::Duration::milliseconds(500)), 100);
}

#[test]
fn delivery_queries_use_their_indexes() {
    let path = temp_db("delivery-plans");
    let store = SqliteStore::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    // The outbox: scans of the partial indexes, which hold only the work still to do.
    for (sql, covering) in [
        (delivery::UNFANNED, ""),
        (delivery::ANY_UNFANNED, "COVERING "),
        (delivery::COUNT_UNFANNED, "COVERING "),
    ] {
        assert_eq!(
            plan(&conn, sql),
            vec![format!("SCAN events USING {covering}INDEX events_unfanned")],
            "{sql}"
        );
    }
    assert_eq!(
        plan(&conn, delivery::COUNT_PENDING),
        vec!["SCAN deliveries USING COVERING INDEX deliveries_pending".to_owned()]
    );
    // Claims: a range scan of `deliveries_pending` in its order (no sort).
    assert_search(&conn, delivery::DUE, "deliveries", "deliveries_pending");
    assert_search(&conn, delivery::ANY_DUE, "deliveries", "deliveries_pending");
    let oldest = plan(&conn, delivery::OLDEST_DUE);
    assert!(
        oldest.len() == 1
            && oldest[0].starts_with("SEARCH deliveries USING COVERING INDEX deliveries_pending ("),
        "{oldest:?}"
    );
    assert_search(
        &conn,
        delivery::ENDPOINTS_OF_MODE,
        "endpoints",
        "endpoints_by_created",
    );
    assert_search(
        &conn,
        delivery::EVENT_BODY,
        "events",
        "sqlite_autoindex_events_1",
    );
    assert_search(
        &conn,
        delivery::ENDPOINT_BODY,
        "endpoints",
        "sqlite_autoindex_endpoints_1",
    );
    // A delivery is found by `(event_id, endpoint_id)`, the UNIQUE key (autoindex 1).
    assert_search(
        &conn,
        delivery::RECORD,
        "deliveries",
        "sqlite_autoindex_deliveries_1",
    );
    assert_search(
        &conn,
        delivery::OF_EVENT,
        "deliveries",
        "sqlite_autoindex_deliveries_1",
    );
    assert_search(&conn, delivery::PURGE_EVENTS, "events", "events_by_created");
    let purge = plan(&conn, delivery::PURGE_DELIVERIES);
    assert!(
        purge[0].starts_with(
            "SEARCH deliveries USING COVERING INDEX sqlite_autoindex_deliveries_1 (event_id=?)"
        ) && purge
            .iter()
            .any(|s| s.starts_with("SEARCH events USING INDEX events_by_created"))
            && !purge.iter().any(|s| s.starts_with("SCAN")),
        "{purge:?}"
    );
    drop(conn);
    store.close().unwrap();
    remove(&path);
}

#[test]
fn the_delivery_migration_leaves_older_events_to_fan_out() {
    let path = temp_db("delivery-migration");
    // A database at version 2 with one event in it, as an older build left it.
    {
        let mut conn = schema::connect(&path, schema::Role::Writer).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        for m in schema::MIGRATIONS.iter().filter(|m| m.version <= 2) {
            tx.execute_batch(m.sql).unwrap();
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                (m.version, m.name),
            )
            .unwrap();
        }
        tx.execute(
            "INSERT INTO events (id, livemode, created, kind, body) \
             VALUES ('evt_old', 0, 100, 'customer.created', '{}')",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
        conn.close().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    let fanned: i64 = conn
        .query_row(
            "SELECT fanned_out FROM events WHERE id = 'evt_old'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        fanned, 0,
        "an event from before the upgrade was never delivered"
    );
    let unfanned: i64 = conn
        .query_row(delivery::COUNT_UNFANNED, [], |r| r.get(0))
        .unwrap();
    assert_eq!(unfanned, 1);
    drop(conn);
    store.close().unwrap();
    remove(&path);
}

/// The `i`-th of a run of distinct API key records: small commits for the checkpoint tests.
fn numbered_key(i: usize) -> vinr_ports::keys::ApiKeyRecord {
    vinr_ports::keys::ApiKeyRecord {
        id: format!("key_{i:024}"),
        mode: Mode::Test,
        hash: format!("{i:064}"),
        prefix: "sk_test_abcd".to_owned(),
        created: DateTime::UNIX_EPOCH,
        revoked: None,
    }
}

#[tokio::test]
async fn the_checkpointer_copies_commits_into_the_file_while_the_store_is_open() {
    use vinr_ports::keys::ApiKeyStore;
    let db = temp_db("checkpointer");
    let store = SqliteStore::open(&db).unwrap();
    let before = std::fs::metadata(&db).unwrap().len();
    for i in 0..300 {
        store.insert_key(numbered_key(i)).await.unwrap();
    }
    // The writer never checkpoints (and 300 small commits are far below SQLite's automatic
    // threshold anyway): only the checkpointer thread can make the file grow while it is open.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::metadata(&db).unwrap().len() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint within 10 s of the commits"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(store.list_keys().await.unwrap().len(), 300);
    store.close().unwrap();
    remove(&db);
}

#[tokio::test]
async fn the_checkpointer_truncates_a_wal_that_a_long_reader_let_grow() {
    use vinr_ports::keys::ApiKeyStore;
    let db = temp_db("truncate");
    let store = SqliteStore::open(&db).unwrap();
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    // A reader that keeps its snapshot stops the WAL from restarting, as a steady read load
    // does, so every commit below lands further into the file.
    let reader = Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM api_keys", [], |row| row.get(0))
        .unwrap();
    let mut i = 0;
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) < 17 * 1024 * 1024 {
        store.insert_key(numbered_key(i)).await.unwrap();
        i += 1;
        assert!(i < 20_000, "the WAL did not grow past 16 MiB");
    }
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    // Without the truncating checkpoint the file would keep its size for good (SQLite reuses
    // a WAL from its start but never shrinks it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) > 1024 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was not truncated within 15 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(store.list_keys().await.unwrap().len(), i);
    store.close().unwrap();
    remove(&db);
}
