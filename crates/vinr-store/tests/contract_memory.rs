//! The store contract suite, the API key store suite and the delivery store suite against
//! [`MemoryStore`]: one test per check.

use vinr_store::memory::MemoryStore;

vinr_store::store_contract_tests!(|| async { MemoryStore::new() });

/// `run_all` runs the same checks in one go.
#[tokio::test]
async fn run_all_runs_every_check() {
    vinr_store::contract::run_all(|| async { MemoryStore::new() }).await;
}

/// The `ApiKeyStore` checks, in a module of their own (the tests are named after the checks).
mod api_keys {
    use vinr_store::memory::MemoryStore;

    vinr_store::api_key_store_contract_tests!(|| async { MemoryStore::new() });

    /// `run_all` runs the same checks in one go.
    #[tokio::test]
    async fn run_all_runs_every_check() {
        vinr_store::contract::keys::run_all(|| async { MemoryStore::new() }).await;
    }
}

/// The `DeliveryStore` checks, in a module of their own (the tests are named after the checks).
mod delivery {
    use vinr_store::memory::MemoryStore;

    vinr_store::delivery_store_contract_tests!(|| async { MemoryStore::new() });

    /// `run_all` runs the same checks in one go.
    #[tokio::test]
    async fn run_all_runs_every_check() {
        vinr_store::contract::delivery::run_all(|| async { MemoryStore::new() }).await;
    }
}
