//! The store contract suite and the API key store suite against [`MemoryStore`]: one test
//! per check.

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
