//! The store contract suite, the API key store suite and the delivery store suite against
//! [`SqliteStore`]: one test per check, each on a fresh database file.
#![cfg(feature = "sqlite")]
// Test code: a failed step fails the test, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sqlite_common;

use vinr_store::sqlite::SqliteStore;

vinr_store::store_contract_tests!(|| async {
    SqliteStore::open(sqlite_common::temp_db("contract")).unwrap()
});

/// `run_all` runs the same checks in one go, each on a fresh file.
#[tokio::test]
async fn run_all_runs_every_check() {
    vinr_store::contract::run_all(|| async {
        SqliteStore::open(sqlite_common::temp_db("run-all")).unwrap()
    })
    .await;
}

/// The `ApiKeyStore` checks, in a module of their own (the tests are named after the checks).
mod api_keys {
    use vinr_store::sqlite::SqliteStore;

    use crate::sqlite_common::temp_db;

    vinr_store::api_key_store_contract_tests!(|| async {
        SqliteStore::open(temp_db("keys")).unwrap()
    });

    /// `run_all` runs the same checks in one go, each on a fresh file.
    #[tokio::test]
    async fn run_all_runs_every_check() {
        vinr_store::contract::keys::run_all(|| async {
            SqliteStore::open(temp_db("keys-run-all")).unwrap()
        })
        .await;
    }
}

/// The `DeliveryStore` checks, in a module of their own (the tests are named after the checks).
mod delivery {
    use vinr_store::sqlite::SqliteStore;

    use crate::sqlite_common::temp_db;

    vinr_store::delivery_store_contract_tests!(|| async {
        SqliteStore::open(temp_db("delivery")).unwrap()
    });

    /// `run_all` runs the same checks in one go, each on a fresh file.
    #[tokio::test]
    async fn run_all_runs_every_check() {
        vinr_store::contract::delivery::run_all(|| async {
            SqliteStore::open(temp_db("delivery-run-all")).unwrap()
        })
        .await;
    }
}
