//! The `ApiKeyStore` port: secret API keys, kept hashed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Mode;
use crate::store::StoreError;

/// A secret API key as stored: never the key itself, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    /// `key_…`, the handle operators use to list and revoke it.
    pub id: String,
    /// Sandbox (`sk_test_…`) or live (`sk_live_…`).
    pub mode: Mode,
    /// Lower-case hex SHA-256 of the whole secret key.
    pub hash: String,
    /// The first characters of the key (`sk_test_AbCd`), to recognise it in a list.
    pub prefix: String,
    /// When it was created.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created: DateTime<Utc>,
    /// When it was revoked; a revoked key authenticates nothing.
    #[serde(default, with = "chrono::serde::ts_seconds_option")]
    pub revoked: Option<DateTime<Utc>>,
}

/// Where API keys are kept.
///
/// Contract: `insert_key` fails with [`StoreError::Conflict`] if the id or the hash exists;
/// `key_by_hash` finds a key (revoked or not) by its hash; `list_keys` lists every key, oldest
/// first; `revoke_key` marks a key revoked and answers whether a key with that id existed and
/// was not revoked yet.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ApiKeyStore: Send + Sync + 'static {
    /// Stores a new key.
    async fn insert_key(&self, key: ApiKeyRecord) -> Result<(), StoreError>;
    /// The key with this hash.
    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Every key, oldest first.
    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revokes a key.
    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
}
