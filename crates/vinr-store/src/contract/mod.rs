//! The store contract suite: the checks every [`Store`] adapter runs unchanged (feature
//! `contract`).
//!
//! Like the shared integration tests of arrow-rs's `object_store`, each check is a plain
//! `async fn` taking a `&dyn Store` that starts empty, and panics with a message naming the
//! broken rule.
//! The memory store runs it in `tests/contract_memory.rs`; the SQLite and PostgreSQL adapters
//! run the same checks against a fresh database each.
//! The suite reads and writes through the port only, and builds its objects with the domain's
//! constructors, so it depends on nothing but `vinr-ports` and `vinr-domain`.
//!
//! The easiest way to run it is [`store_contract_tests!`](crate::store_contract_tests), which
//! expands to one `#[tokio::test]` per check (so a failure names its check) and takes a
//! closure returning a future of a fresh, empty store (the caller needs `tokio` with the
//! `macros` and `rt` features):
//!
//! ```no_run
//! // In an adapter's `tests/contract.rs`, with its own store in place of `MemoryStore`
//! // (a SQLite adapter would open a fresh database here).
//! vinr_store::store_contract_tests!(|| async { vinr_store::memory::MemoryStore::new() });
//! # fn main() {}
//! ```
//!
//! [`run_all`] runs every check in one test instead, each on a fresh store:
//!
//! ```
//! use vinr_store::memory::MemoryStore;
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! vinr_store::contract::run_all(|| async { MemoryStore::new() }).await;
//! # });
//! ```
//!
//! What the suite checks is the contract documented on [`Store`] and [`WriteSet`]:
//! - [`insert_and_read_back_every_kind`], [`update_and_delete_apply`]: objects of every kind
//!   come back field for field, change and disappear as written;
//! - [`modes_are_isolated`]: test and live objects never see each other;
//! - [`stale_update_conflicts_and_applies_nothing`], [`insert_of_an_existing_key_conflicts`],
//!   [`stale_delete_conflicts`], [`idempotency_keys_are_unique_per_scope`],
//!   [`commit_is_atomic`]: the guards of a commit, and all-or-nothing write sets;
//! - [`lists_are_newest_first_with_limit_and_has_more`],
//!   [`lists_order_by_created_then_insertion`], [`starting_after_pages_through_every_object_once`],
//!   [`unknown_cursor_is_rejected`]: order and paging;
//! - [`email_filter_is_case_insensitive_and_exact`], [`method_lists_see_attached_methods_only`],
//!   [`payments_filter_by_customer_and_status`],
//!   [`stuck_payments_are_processing_and_old_oldest_first`], [`events_filter_by_type`]: the
//!   filters;
//! - [`check_at_the_version_read_passes_and_writes_nothing`],
//!   [`stale_or_absent_check_conflicts_and_applies_nothing`],
//!   [`check_sees_the_earlier_writes_of_its_write_set`]: `Write::Check`, the guard on an object
//!   a command used without changing it;
//! - [`cards_sealed_with_other_keys_lists_every_card_under_another_key`],
//!   [`replace_sealed_card_replaces_only_the_card_read`],
//!   [`rotation_drains_the_work_list_in_batches`]: vault key rotation;
//! - [`purge_idempotency_forgets_records_created_before`]: the idempotency purge.
//!
//! # The API key store
//! [`keys`] holds the suite of the [`ApiKeyStore`] port, with its own macro,
//! [`api_key_store_contract_tests!`](crate::api_key_store_contract_tests), and its own
//! [`keys::run_all`]: a store adapter that also keeps API keys runs both.
//!
//! # The delivery store
//! [`delivery`] holds the suite of the [`DeliveryStore`] port (the webhook outbox: fan-out,
//! leased claims, guarded attempt records, stats and purge), with its own macro,
//! [`delivery_store_contract_tests!`](crate::delivery_store_contract_tests), and its own
//! [`delivery::run_all`]. Its checks take a store that implements both [`Store`] and
//! [`DeliveryStore`], since events and endpoints arrive through [`Store::commit`].
//!
//! [`Store`]: vinr_ports::store::Store
//! [`Store::commit`]: vinr_ports::store::Store::commit
//! [`DeliveryStore`]: vinr_ports::delivery::DeliveryStore
//! [`WriteSet`]: vinr_ports::store::WriteSet
//! [`ApiKeyStore`]: vinr_ports::keys::ApiKeyStore

// The suite is test-support code: a violated contract must fail the calling test with a
// message, and panicking (`assert!`, `unwrap`, `expect`, `panic!`) is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod check_writes;
pub mod delivery;
mod fixtures;
mod guards;
pub mod keys;
mod lists;
mod objects;
mod purge;
mod rotation;

use std::future::Future;

use vinr_ports::store::Store;

pub use check_writes::{
    check_at_the_version_read_passes_and_writes_nothing,
    check_sees_the_earlier_writes_of_its_write_set,
    stale_or_absent_check_conflicts_and_applies_nothing,
};
pub use guards::{
    commit_is_atomic, idempotency_keys_are_unique_per_scope, insert_of_an_existing_key_conflicts,
    stale_delete_conflicts, stale_update_conflicts_and_applies_nothing,
};
pub use lists::{
    email_filter_is_case_insensitive_and_exact, events_filter_by_type,
    lists_are_newest_first_with_limit_and_has_more, lists_order_by_created_then_insertion,
    method_lists_see_attached_methods_only, payments_filter_by_customer_and_status,
    starting_after_pages_through_every_object_once,
    stuck_payments_are_processing_and_old_oldest_first, unknown_cursor_is_rejected,
};
pub use objects::{insert_and_read_back_every_kind, modes_are_isolated, update_and_delete_apply};
pub use purge::purge_idempotency_forgets_records_created_before;
pub use rotation::{
    cards_sealed_with_other_keys_lists_every_card_under_another_key,
    replace_sealed_card_replaces_only_the_card_read, rotation_drains_the_work_list_in_batches,
};

/// Runs every check of the suite in turn, each on a fresh store from `make`.
///
/// Prefer [`store_contract_tests!`](crate::store_contract_tests), which makes one test per
/// check; this is for callers that want a single test (or their own runtime).
pub async fn run_all<S, F>(make: impl Fn() -> F)
where
    S: Store,
    F: Future<Output = S>,
{
    crate::store_contract_tests!(@run make);
}

/// Expands to one `#[tokio::test]` per check of the store contract suite, each running on a
/// fresh store.
///
/// The argument is an expression callable with no arguments that returns a future of a fresh,
/// empty store (any type implementing `Store`); it is called once per test.
/// The calling crate needs `tokio` with the `macros` and `rt` features (a dev-dependency is
/// enough), and `vinr-store` with the `contract` feature.
///
/// ```no_run
/// mod contract {
///     vinr_store::store_contract_tests!(|| async { vinr_store::memory::MemoryStore::new() });
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_contract_tests {
    // The list of checks lives here only; both expansions below use it.
    (@each $how:ident $make:expr) => {
        $crate::store_contract_tests!(@$how $make;
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
    };
    (@tests $make:expr; $($check:ident,)+) => {
        $(
            #[tokio::test]
            async fn $check() {
                let store = ($make)().await;
                $crate::contract::$check(&store).await;
            }
        )+
    };
    (@sequence $make:expr; $($check:ident,)+) => {
        $(
            {
                let store = ($make)().await;
                $crate::contract::$check(&store).await;
            }
        )+
    };
    (@run $make:expr) => {
        $crate::store_contract_tests!(@each sequence $make)
    };
    ($make:expr) => {
        $crate::store_contract_tests!(@each tests $make);
    };
}
