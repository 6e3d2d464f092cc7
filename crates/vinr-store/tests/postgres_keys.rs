//! What the PostgreSQL `ApiKeyStore` does beyond the API key contract suite: keys seen by
//! every pool on the database, times kept to the second, the table's own constraints, racing
//! inserts and revocations from two pools, a corrupt row reported as such, and the upgrade of a
//! schema made before the `api_keys` table.
//!
//! Needs `VINR_TEST_POSTGRES_URL` (see `postgres_support`).
#![cfg(feature = "postgres")]
// Test code: a broken rule fails the test by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_support;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use postgres_support::TestDb;
use vinr_ports::Mode;
use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};
use vinr_ports::store::{IdempotencyRecord, IdempotencyState, Store, StoreError, Write, WriteSet};

/// Key numbers make ids, hashes and creation times (key `n` is created `n` seconds after T0).
const T0: i64 = 1_900_000_000;

fn at(n: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + i64::from(n), 0).unwrap()
}

/// An API key record (its hash need not be a real SHA-256 here).
fn api_key(n: u32, mode: Mode) -> ApiKeyRecord {
    ApiKeyRecord {
        id: format!("key_Postgres{n:012}"),
        mode,
        hash: format!("{n:064x}"),
        prefix: "sk_test_AbCd".to_owned(),
        created: at(n),
        revoked: None,
    }
}

/// Keys written through one pool are there, as written, for a store connecting later.
#[tokio::test]
async fn api_keys_are_seen_by_a_store_connecting_later() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let keys: Vec<ApiKeyRecord> = (1..=5)
        .map(|n| api_key(n, if n % 2 == 0 { Mode::Live } else { Mode::Test }))
        .collect();
    for k in &keys {
        store.insert_key(k.clone()).await.unwrap();
    }
    assert_eq!(store.revoke_key(&keys[1].id, at(100)).await, Ok(true));
    drop(store);

    let later = db.store().await;
    let mut want = keys.clone();
    want[1].revoked = Some(at(100));
    assert_eq!(later.list_keys().await.unwrap(), want);
    assert_eq!(
        later.key_by_hash(&keys[1].hash).await.unwrap(),
        Some(want[1].clone())
    );
    assert_eq!(later.revoke_key(&keys[1].id, at(101)).await, Ok(false));
    assert_eq!(
        later.insert_key(keys[0].clone()).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(db.count("api_keys").await, 5);
}

#[tokio::test]
async fn api_key_times_are_kept_to_the_second() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let mut key = api_key(1, Mode::Test);
    key.created = at(1) + Duration::milliseconds(750);
    store.insert_key(key.clone()).await.unwrap();
    let revoked_at = at(9) + Duration::milliseconds(250);
    assert_eq!(store.revoke_key(&key.id, revoked_at).await, Ok(true));
    let got = store.key_by_hash(&key.hash).await.unwrap().unwrap();
    assert_eq!(got.created, at(1));
    assert_eq!(got.revoked, Some(at(9)));
}

/// The table itself refuses a row without an id or a hash, an unknown mode, and a taken hash,
/// whoever writes it.
#[tokio::test]
async fn the_api_keys_table_checks_its_columns() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let _store = db.store().await;
    db.raw
        .batch_execute(
            "INSERT INTO api_keys (id, mode, hash, prefix, created) VALUES ('key_0', 'test', 'h0', 'p', 0)",
        )
        .await
        .unwrap();
    for sql in [
        "INSERT INTO api_keys (id, mode, hash, prefix, created) VALUES (NULL, 'test', 'h1', 'p', 0)",
        "INSERT INTO api_keys (id, mode, hash, prefix, created) VALUES ('key_1', 'demo', 'h1', 'p', 0)",
        "INSERT INTO api_keys (id, mode, hash, prefix, created) VALUES ('key_1', 'test', NULL, 'p', 0)",
        "INSERT INTO api_keys (id, mode, hash, prefix, created) VALUES ('key_1', 'test', 'h0', 'p', 0)",
        "INSERT INTO api_keys (id, mode, hash, prefix, created) VALUES ('key_1', 'test', 'h1', NULL, 0)",
        "INSERT INTO api_keys (id, mode, hash, prefix, created) VALUES ('key_1', 'test', 'h1', 'p', NULL)",
    ] {
        assert!(
            db.raw.batch_execute(sql).await.is_err(),
            "{sql} must be refused"
        );
    }
    assert_eq!(db.count("api_keys").await, 1);
}

/// Two stores (two pools) inserting keys with one hash, or one id, from 16 tasks at once: the
/// unique indexes let exactly one in, and every other insert conflicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_inserts_of_a_taken_hash_or_id_let_exactly_one_in() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let stores = Arc::new([db.store_with(8).await, db.store_with(8).await]);
    for same_hash in [true, false] {
        let base = if same_hash { 100 } else { 200 };
        let tasks: Vec<_> = (0..16u32)
            .map(|i| {
                let stores = stores.clone();
                let mut key = api_key(base + i, Mode::Test);
                if same_hash {
                    key.hash = api_key(base, Mode::Test).hash;
                } else {
                    key.id = api_key(base, Mode::Test).id;
                }
                tokio::spawn(async move { stores[(i % 2) as usize].insert_key(key).await })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => won += 1,
                Err(StoreError::Conflict) => {}
                Err(e) => panic!("a racing insert failed otherwise: {e:?}"),
            }
        }
        assert_eq!(won, 1, "same hash: {same_hash}");
    }
    assert_eq!(stores[0].list_keys().await.unwrap().len(), 2);
}

/// Of 16 revocations of one key racing from two pools, exactly one answers `true`, and its
/// time is the one kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_revocations_answer_true_once() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let stores = Arc::new([db.store_with(8).await, db.store_with(8).await]);
    let key = api_key(1, Mode::Live);
    stores[0].insert_key(key.clone()).await.unwrap();
    let tasks: Vec<_> = (0..16u32)
        .map(|i| {
            let (stores, id) = (stores.clone(), key.id.clone());
            tokio::spawn(async move {
                let when = at(100 + i);
                (when, stores[(i % 2) as usize].revoke_key(&id, when).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (when, answer) = t.await.unwrap();
        if answer.unwrap() {
            winners.push(when);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let got = stores[1].key_by_hash(&key.hash).await.unwrap().unwrap();
    assert_eq!(got.revoked, Some(winners[0]));
}

/// A row the store could not have written (its mode check dropped behind the store's back) is
/// reported as corrupt, not read as some key.
#[tokio::test]
async fn a_row_with_an_unknown_mode_is_corrupt() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let key = api_key(1, Mode::Test);
    store.insert_key(key.clone()).await.unwrap();
    db.raw
        .batch_execute(
            "ALTER TABLE api_keys DROP CONSTRAINT api_keys_mode_check; \
             UPDATE api_keys SET mode = 'demo'",
        )
        .await
        .unwrap();
    assert!(matches!(
        store.key_by_hash(&key.hash).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.list_keys().await,
        Err(StoreError::Corrupt(_))
    ));
}

/// A schema migrated by a build before the `api_keys` table gets it on connect, and keeps what
/// it held.
#[tokio::test]
async fn a_schema_made_before_api_keys_is_upgraded_on_connect() {
    let Some(db) = TestDb::new().await else {
        return;
    };
    let store = db.store().await;
    let record = IdempotencyRecord {
        scope: "sk_test_1".to_owned(),
        key: "k".to_owned(),
        request_hash: "sha256:1".to_owned(),
        state: IdempotencyState::InFlight { resource: None },
        created: at(1),
        version: 1,
    };
    store
        .commit(WriteSet {
            idempotency: vec![Write::Insert(record.clone())],
            ..WriteSet::default()
        })
        .await
        .unwrap();
    drop(store);
    // Back to the schema of version 1, as a build before the `api_keys` table left it (the
    // later delivery tables undone too).
    db.raw
        .batch_execute(
            "DROP TABLE delivery_attempts, deliveries; ALTER TABLE events DROP COLUMN fanned_out; \
             DROP TABLE api_keys; DELETE FROM schema_migrations WHERE version > 1",
        )
        .await
        .unwrap();
    assert!(!db.tables().await.contains(&"api_keys".to_owned()));

    let store = db.store().await;
    assert_eq!(store.idempotency("sk_test_1", "k").await, Ok(Some(record)));
    assert_eq!(store.list_keys().await, Ok(vec![]));
    let key = api_key(1, Mode::Live);
    store.insert_key(key.clone()).await.unwrap();
    assert_eq!(store.key_by_hash(&key.hash).await, Ok(Some(key)));
    let versions: Vec<i64> = db
        .raw
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec![1, 2, 3]);
}
