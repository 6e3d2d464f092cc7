//! The store contract suite, the API key store suite and the delivery store suite against
//! [`PostgresStore`]: one test per check, each in a fresh schema, plus each suite's `run_all`, which runs the suite's own
//! list of checks (so a check added to a suite later runs here too, even before it is named
//! below).
//!
//! Needs `VINR_TEST_POSTGRES_URL` (see `postgres_support`).
#![cfg(feature = "postgres")]
// Test code: a broken rule fails the test by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use postgres_support::TestDb;

/// One `#[tokio::test]` per check, each on a store in a fresh schema.
macro_rules! contract_checks {
    ($($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let Some(db) = TestDb::new().await else { return };
                let store = db.store().await;
                vinr_store::contract::$check(&store).await;
            }
        )+
    };
}

contract_checks!(
    insert_and_read_back_every_kind,
    update_and_delete_apply,
    modes_are_isolated,
    stale_update_conflicts_and_applies_nothing,
    insert_of_an_existing_key_conflicts,
    stale_delete_conflicts,
    idempotency_keys_are_unique_per_scope,
    commit_is_atomic,
    lists_are_newest_first_with_limit_and_has_more,
    lists_order_by_created_then_insertion,
    starting_after_pages_through_every_object_once,
    unknown_cursor_is_rejected,
    email_filter_is_case_insensitive_and_exact,
    method_lists_see_attached_methods_only,
    payments_filter_by_customer_and_status,
    stuck_payments_are_processing_and_old_oldest_first,
    events_filter_by_type,
    check_at_the_version_read_passes_and_writes_nothing,
    stale_or_absent_check_conflicts_and_applies_nothing,
    check_sees_the_earlier_writes_of_its_write_set,
    cards_sealed_with_other_keys_lists_every_card_under_another_key,
    replace_sealed_card_replaces_only_the_card_read,
    rotation_drains_the_work_list_in_batches,
    purge_idempotency_forgets_records_created_before,
);

/// Every check of the suite's own list, in turn, each in a fresh schema (the previous check's
/// schema is dropped when the next one is made, so the test holds one at a time).
#[tokio::test]
async fn run_all_runs_every_check_of_the_suite() {
    let Some(url) = postgres_support::url() else {
        return;
    };
    let current: Arc<Mutex<Option<TestDb>>> = Arc::default();
    let made = Arc::new(AtomicUsize::new(0));
    vinr_store::contract::run_all(|| {
        let (url, current, made) = (url.clone(), current.clone(), made.clone());
        async move {
            drop(current.lock().unwrap().take());
            let db = TestDb::create(url).await;
            let store = db.store().await;
            *current.lock().unwrap() = Some(db);
            made.fetch_add(1, Ordering::SeqCst);
            store
        }
    })
    .await;
    assert!(
        made.load(Ordering::SeqCst) >= 24,
        "run_all ran fewer checks than this file names"
    );
}

/// The `ApiKeyStore` checks, in a module of their own (the tests are named after the checks).
mod api_keys {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use crate::postgres_support::{self, TestDb};

    /// One `#[tokio::test]` per check, each on a store in a fresh schema.
    macro_rules! key_checks {
        ($($check:ident),+ $(,)?) => {
            $(
                #[tokio::test]
                async fn $check() {
                    let Some(db) = TestDb::new().await else { return };
                    let store = db.store().await;
                    vinr_store::contract::keys::$check(&store).await;
                }
            )+
        };
    }

    key_checks!(
        inserted_keys_are_found_by_hash,
        a_taken_id_or_hash_conflicts,
        keys_are_listed_oldest_first,
        revoking_marks_a_key_once,
        revoking_an_unknown_key_changes_nothing,
    );

    /// Every check of the API key suite's own list, in turn, each in a fresh schema (one at a
    /// time, as above).
    #[tokio::test]
    async fn run_all_runs_every_check_of_the_suite() {
        let Some(url) = postgres_support::url() else {
            return;
        };
        let current: Arc<Mutex<Option<TestDb>>> = Arc::default();
        let made = Arc::new(AtomicUsize::new(0));
        vinr_store::contract::keys::run_all(|| {
            let (url, current, made) = (url.clone(), current.clone(), made.clone());
            async move {
                drop(current.lock().unwrap().take());
                let db = TestDb::create(url).await;
                let store = db.store().await;
                *current.lock().unwrap() = Some(db);
                made.fetch_add(1, Ordering::SeqCst);
                store
            }
        })
        .await;
        assert!(
            made.load(Ordering::SeqCst) >= 5,
            "run_all ran fewer checks than this module names"
        );
    }
}

/// The `DeliveryStore` checks, in a module of their own (the tests are named after the checks).
/// Multi-threaded, as the suite's own macro makes them, so the pool's connections run in
/// parallel with the checks' concurrent calls.
mod delivery {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use crate::postgres_support::{self, TestDb};

    /// One `#[tokio::test]` per check, each on a store in a fresh schema.
    macro_rules! delivery_checks {
        ($($check:ident),+ $(,)?) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some(db) = TestDb::new().await else { return };
                    let store = db.store().await;
                    vinr_store::contract::delivery::$check(&store).await;
                }
            )+
        };
    }

    delivery_checks!(
        fan_out_follows_filter_mode_and_status,
        fan_out_happens_once_per_event,
        concurrent_fan_outs_fan_out_each_event_once,
        fan_out_takes_the_oldest_events_first_up_to_limit,
        claim_returns_due_deliveries_oldest_first_and_leases_them,
        record_attempt_decides_what_follows,
        a_stale_record_changes_nothing,
        concurrent_records_of_one_attempt_record_it_once,
        a_deleted_endpoints_delivery_fails_on_claim,
        outbox_stats_counts_and_lag,
        purge_events_removes_old_events_and_their_deliveries,
        concurrent_claimers_never_share_a_delivery,
    );

    /// Every check of the delivery suite's own list, in turn, each in a fresh schema (one at a
    /// time, as above).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_all_runs_every_check_of_the_suite() {
        let Some(url) = postgres_support::url() else {
            return;
        };
        let current: Arc<Mutex<Option<TestDb>>> = Arc::default();
        let made = Arc::new(AtomicUsize::new(0));
        vinr_store::contract::delivery::run_all(|| {
            let (url, current, made) = (url.clone(), current.clone(), made.clone());
            async move {
                drop(current.lock().unwrap().take());
                let db = TestDb::create(url).await;
                let store = db.store().await;
                *current.lock().unwrap() = Some(db);
                made.fetch_add(1, Ordering::SeqCst);
                store
            }
        })
        .await;
        assert!(
            made.load(Ordering::SeqCst) >= 12,
            "run_all ran fewer checks than this module names"
        );
    }
}
