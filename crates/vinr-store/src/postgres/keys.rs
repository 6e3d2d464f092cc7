//! The [`ApiKeyStore`] of [`PostgresStore`]: the `api_keys` table (migration 2).
//!
//! A key is kept as plain columns (`id`, `hash`, `mode`, `prefix`, `created`, `revoked`), not
//! as JSON: every one of them is read or matched. Each operation is one statement on a pooled
//! connection, in a transaction of its own (autocommit). The unique indexes on `id` and `hash`
//! settle racing inserts: the loser waits for the winner's commit and fails with a unique
//! violation, which the store answers as [`StoreError::Conflict`]. A revocation only touches a
//! row whose `revoked` is still `NULL`, so of racing revocations exactly one answers `true`.
//! Times are kept to the second, like the record's serde form.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use vinr_ports::Mode;
use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};
use vinr_ports::store::StoreError;

use super::PostgresStore;

/// A new key; a taken id or hash fails with a unique violation (a conflict).
const INSERT: &str = "INSERT INTO api_keys (id, mode, hash, prefix, created, revoked) \
                      VALUES ($1, $2, $3, $4, $5, $6)";

/// Revokes a key not revoked yet. Parameters: the time, the id.
const REVOKE: &str = "UPDATE api_keys SET revoked = $1 WHERE id = $2 AND revoked IS NULL";

/// The key with one hash (a search of the unique index on `hash`). Every read returns the
/// columns [`record`] reads, in its order.
const BY_HASH: &str =
    "SELECT id, mode, hash, prefix, created, revoked FROM api_keys WHERE hash = $1";

/// Every key, oldest first (a scan of `api_keys_by_created`; keys created in one second come
/// in insertion order).
const LIST: &str =
    "SELECT id, mode, hash, prefix, created, revoked FROM api_keys ORDER BY created, seq";

/// A mode as its column holds it (the serde name of [`Mode`]).
fn mode_text(mode: Mode) -> &'static str {
    match mode {
        Mode::Test => "test",
        Mode::Live => "live",
    }
}

/// The time of a `created` or `revoked` column.
fn time(seconds: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp(seconds, 0).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "a row of `api_keys` holds a time out of range ({seconds})"
        ))
    })
}

/// A key from a row of `id, mode, hash, prefix, created, revoked`.
fn record(row: &Row) -> Result<ApiKeyRecord, StoreError> {
    let unreadable = |_| StoreError::Corrupt("a row of `api_keys` is unreadable".to_owned());
    let mode: String = row.try_get(1).map_err(unreadable)?;
    let mode = match mode.as_str() {
        "test" => Mode::Test,
        "live" => Mode::Live,
        _ => {
            return Err(StoreError::Corrupt(
                "a row of `api_keys` holds an unknown mode".to_owned(),
            ));
        }
    };
    let revoked: Option<i64> = row.try_get(5).map_err(unreadable)?;
    Ok(ApiKeyRecord {
        id: row.try_get(0).map_err(unreadable)?,
        mode,
        hash: row.try_get(2).map_err(unreadable)?,
        prefix: row.try_get(3).map_err(unreadable)?,
        created: time(row.try_get(4).map_err(unreadable)?)?,
        revoked: revoked.map(time).transpose()?,
    })
}

#[async_trait]
impl ApiKeyStore for PostgresStore {
    async fn insert_key(&self, key: ApiKeyRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = self.prepare(&client, INSERT).await?;
        let created = key.created.timestamp();
        let revoked = key.revoked.map(|t| t.timestamp());
        client
            .execute(
                &statement,
                &[
                    &key.id,
                    &mode_text(key.mode),
                    &key.hash,
                    &key.prefix,
                    &created,
                    &revoked,
                ],
            )
            .await
            // A unique violation (the id or the hash is taken) is a conflict.
            .map_err(|e| self.error(&e))?;
        Ok(())
    }

    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let rows = self.rows(BY_HASH, &[Box::new(hash.to_owned())]).await?;
        rows.first().map(record).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = self.rows(LIST, &[]).await?;
        rows.iter().map(record).collect()
    }

    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = self.prepare(&client, REVOKE).await?;
        let changed = client
            .execute(&statement, &[&at.timestamp(), &id])
            .await
            .map_err(|e| self.error(&e))?;
        Ok(changed == 1)
    }
}
