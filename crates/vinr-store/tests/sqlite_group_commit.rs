//! Group commit: concurrent write sets share transactions (one fsync for many), and a write
//! set whose guard fails is rolled back alone, its batch siblings committing.
#![cfg(feature = "sqlite")]
// Test code: a failed step fails the test, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sqlite_common;

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Barrier;
use vinr_domain::customer::{Customer, CustomerChanges};
use vinr_ports::store::{PageRequest, Store, StoreError, Write, WriteSet};
use vinr_store::sqlite::SqliteStore;

use sqlite_common::TempDir;
use sqlite_common::fixtures::{Fx, MODE};

const WRITERS: usize = 64;

/// A write set inserting a fresh customer and its `customer.created` event.
fn new_customer(fx: &Fx) -> (Customer, WriteSet) {
    let c = fx.customer();
    let ws = WriteSet {
        customers: vec![Write::Insert(c.clone())],
        events: vec![fx.event(&c)],
        ..WriteSet::default()
    };
    (c, ws)
}

/// Every customer id of the test mode.
async fn customer_ids(store: &dyn Store) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    loop {
        let page = store
            .customers(
                MODE,
                None,
                PageRequest {
                    limit: 50,
                    starting_after: out.last().map(|s| s.parse().unwrap()),
                },
            )
            .await
            .unwrap();
        out.extend(page.items.iter().map(|c| c.id.to_string()));
        if !page.has_more {
            return out;
        }
    }
}

/// How many events of the test mode are stored.
async fn event_count(store: &dyn Store) -> usize {
    store
        .events(MODE, None, PageRequest::first(1000))
        .await
        .unwrap()
        .items
        .len()
}

/// Blocks the calling task's thread off the runtime for a while.
async fn pause(ms: u64) {
    tokio::task::spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_writers_share_transactions() {
    let dir = TempDir::new("group");
    let store = SqliteStore::open(dir.db()).unwrap();
    let fx = Fx::default();
    let barrier = Arc::new(Barrier::new(WRITERS));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            let (c, ws) = new_customer(&fx);
            tokio::spawn(async move {
                barrier.wait().await;
                store.commit(ws).await.map(|()| c.id)
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap().to_string());
    }

    let stats = store.group_commit_stats();
    println!("group commit, {WRITERS} concurrent writers: {stats:?}");
    assert_eq!(stats.write_sets, WRITERS as u64);
    assert!(
        stats.transactions < stats.write_sets,
        "many write sets must share a transaction: {stats:?}"
    );
    assert!(stats.largest_batch > 1, "{stats:?}");
    let mut listed = customer_ids(&store).await;
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids, "every write set landed");
    assert_eq!(event_count(&store).await, WRITERS);
    store.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_guard_in_a_batch_fails_alone() {
    let dir = TempDir::new("stale");
    let store = SqliteStore::open(dir.db()).unwrap();
    let fx = Fx::default();
    // A customer at version 2: an update expecting version 1 is stale.
    let (target, ws) = new_customer(&fx);
    store.commit(ws).await.unwrap();
    let v2 = target.updated(CustomerChanges::default()).unwrap();
    store
        .commit(WriteSet {
            customers: vec![Write::Update {
                expected: 1,
                value: v2.clone(),
            }],
            ..WriteSet::default()
        })
        .await
        .unwrap();
    let before = store.group_commit_stats();

    // Another connection holds the write lock, so the writer's first `BEGIN` waits and every
    // later request queues up behind it: they are taken as one batch once the lock is free.
    let blocker = Connection::open(dir.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let spawn_good = |n: usize| -> Vec<_> {
        (0..n)
            .map(|_| {
                let store = store.clone();
                let (c, ws) = new_customer(&fx);
                tokio::spawn(async move { store.commit(ws).await.map(|()| c.id.to_string()) })
            })
            .collect()
    };
    let mut good = spawn_good(WRITERS / 2);
    pause(100).await;
    let (bystander, mut stale_ws) = new_customer(&fx);
    let v3_from_v1 = target
        .updated(CustomerChanges {
            name: Some(Some("Stale".to_owned())),
            ..CustomerChanges::default()
        })
        .unwrap();
    stale_ws.customers.push(Write::Update {
        expected: 1,
        value: v3_from_v1,
    });
    let stale = {
        let store = store.clone();
        tokio::spawn(async move { store.commit(stale_ws).await })
    };
    pause(100).await;
    good.extend(spawn_good(WRITERS / 2 - 1));
    pause(200).await;
    blocker.execute_batch("COMMIT").unwrap();

    let mut ids = Vec::new();
    for t in good {
        ids.push(
            t.await
                .unwrap()
                .expect("a write set with valid guards commits"),
        );
    }
    assert_eq!(stale.await.unwrap(), Err(StoreError::Conflict));

    let after = store.group_commit_stats();
    println!("stale guard in a batch: before {before:?}, after {after:?}");
    assert_eq!(after.write_sets - before.write_sets, WRITERS as u64);
    assert_eq!(
        after.transactions - before.transactions,
        2,
        "the request that found the lock taken, then everything queued behind it"
    );
    assert!(after.largest_batch >= (WRITERS / 2) as u64, "{after:?}");

    // The stale write set left nothing: not its insert, not its event, not its update.
    assert_eq!(store.customer(MODE, &bystander.id).await, Ok(None));
    assert_eq!(store.customer(MODE, &target.id).await.unwrap(), Some(v2));
    let mut listed = customer_ids(&store).await;
    listed.sort();
    ids.push(target.id.to_string());
    ids.sort();
    assert_eq!(listed, ids, "every sibling landed");
    assert_eq!(event_count(&store).await, WRITERS);
    store.close().unwrap();
}
