//! Storage adapters for VINR, and what comes with them: the in-memory [`Store`], the
//! AES-256-GCM card vault, the OS clock and id source, and the store contract suite.
//!
//! Every adapter here implements a driven port of `vinr-ports`; the engine never names them,
//! the facade (`vinr`) wires them in.
//! `Vinr::sandbox()` runs on `memory::MemoryStore` and [`vault::AesVault::random`].
//!
//! # Layout
//! - `memory` (feature `memory`, on by default): `memory::MemoryStore`, the [`Store`] (and
//!   `DeliveryStore`, `ApiKeyStore`) kept in maps under one lock, with test-support fault
//!   injection.
//! - [`vault`]: [`vault::AesVault`], the [`CardVault`] with AES-256-GCM, several keys for
//!   rotation and an HMAC-SHA256 fingerprint key.
//! - [`clock`]: [`clock::SystemClock`], the [`Clock`] that reads the OS clock.
//! - [`ids`]: [`ids::OsRandomIds`], the [`IdGenerator`] that draws from the OS generator.
//! - `open` (features `sqlite`, `postgres`): `open::StoreUrl` parses a database URL
//!   (`sqlite://PATH`, `postgres://…`) and `open::open` opens and migrates the store it names.
//! - `contract` (feature `contract`): the store contract suite that every store adapter
//!   (memory, SQLite, PostgreSQL) runs unchanged, and the `store_contract_tests!` macro that
//!   makes one test per check of it; `contract::keys` and `api_key_store_contract_tests!` do
//!   the same for the `ApiKeyStore` port, `contract::delivery` and
//!   `delivery_store_contract_tests!` for the `DeliveryStore` port (the webhook outbox).
//!
//! # Architecture invariant
//! Nothing here decides anything: a store keeps what the engine commits and answers the reads
//! the port names, and the vault only seals, opens and fingerprints.
//! No adapter logs, and no error carries a card number or a key.
//!
//! [`Store`]: vinr_ports::store::Store
//! [`CardVault`]: vinr_ports::vault::CardVault
//! [`Clock`]: vinr_ports::clock::Clock
//! [`IdGenerator`]: vinr_ports::ids::IdGenerator

#[cfg(feature = "postgres")]
pub mod bounded;
pub mod clock;
#[cfg(feature = "contract")]
pub mod contract;
pub mod ids;
#[cfg(feature = "memory")]
pub mod memory;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod open;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod vault;
