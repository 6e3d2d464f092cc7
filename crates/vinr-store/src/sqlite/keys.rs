//! The [`ApiKeyStore`] of [`SqliteStore`]: the `api_keys` table (migration 2).
//!
//! A key is kept as plain columns (`id`, `hash`, `mode`, `prefix`, `created`, `revoked`), not
//! as JSON: every one of them is read or matched. Inserts and revocations go through the
//! writer thread like every write (each in its own savepoint of a group commit); look-ups and
//! the list run on a reader connection. Times are kept to the second, like the record's serde
//! form.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params_from_iter};
use vinr_ports::Mode;
use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};
use vinr_ports::store::StoreError;

use super::SqliteStore;
use super::writer::{Request, is_constraint, unavailable};

/// A new key.
const INSERT: &str =
    "INSERT INTO api_keys (id, mode, hash, prefix, created, revoked) VALUES (?, ?, ?, ?, ?, ?)";

/// Revokes a key not revoked yet. Parameters: the time, the id.
pub(super) const REVOKE: &str = "UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL";

/// The key with one hash (a search of the `UNIQUE` index on `hash`). Every read returns the
/// columns [`record`] reads, in its order.
pub(super) const BY_HASH: &str =
    "SELECT id, mode, hash, prefix, created, revoked FROM api_keys WHERE hash = ?";

/// Every key, oldest first (a scan of `api_keys_by_created`, which ends in the rowid, so no
/// sort; keys created in one second come in insertion order).
pub(super) const LIST: &str =
    "SELECT id, mode, hash, prefix, created, revoked FROM api_keys ORDER BY created, rowid";

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
fn record(row: &Row<'_>) -> Result<ApiKeyRecord, StoreError> {
    let mode: String = row.get(1).map_err(|e| unavailable(&e))?;
    let mode = match mode.as_str() {
        "test" => Mode::Test,
        "live" => Mode::Live,
        _ => {
            return Err(StoreError::Corrupt(
                "a row of `api_keys` holds an unknown mode".to_owned(),
            ));
        }
    };
    let revoked: Option<i64> = row.get(5).map_err(|e| unavailable(&e))?;
    Ok(ApiKeyRecord {
        id: row.get(0).map_err(|e| unavailable(&e))?,
        mode,
        hash: row.get(2).map_err(|e| unavailable(&e))?,
        prefix: row.get(3).map_err(|e| unavailable(&e))?,
        created: time(row.get(4).map_err(|e| unavailable(&e))?)?,
        revoked: revoked.map(time).transpose()?,
    })
}

/// The keys a query returns.
fn records(
    conn: &Connection,
    sql: &str,
    params: Vec<Value>,
) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| unavailable(&e))?;
    let mut rows = stmt
        .query(params_from_iter(params))
        .map_err(|e| unavailable(&e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| unavailable(&e))? {
        out.push(record(row)?);
    }
    Ok(out)
}

/// Inserts a key, on the writer's connection; a taken id or hash is a conflict.
pub(super) fn insert(conn: &Connection, key: &ApiKeyRecord) -> Result<(), StoreError> {
    let params = vec![
        Value::Text(key.id.clone()),
        Value::Text(mode_text(key.mode).to_owned()),
        Value::Text(key.hash.clone()),
        Value::Text(key.prefix.clone()),
        Value::Integer(key.created.timestamp()),
        key.revoked
            .map_or(Value::Null, |t| Value::Integer(t.timestamp())),
    ];
    match conn
        .prepare_cached(INSERT)
        .and_then(|mut s| s.execute(params_from_iter(params)))
    {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e) => Err(StoreError::Conflict),
        Err(e) => Err(unavailable(&e)),
    }
}

/// Revokes a key at `at` (unix seconds), on the writer's connection; whether a key with that
/// id was there and not revoked yet.
pub(super) fn revoke(conn: &Connection, id: &str, at: i64) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(REVOKE)
        .and_then(|mut s| s.execute((at, id)))
        .map_err(|e| unavailable(&e))?;
    Ok(changed == 1)
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn insert_key(&self, key: ApiKeyRecord) -> Result<(), StoreError> {
        self.ask(|reply| Request::InsertKey { key, reply }).await
    }

    async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let params = vec![Value::Text(hash.to_owned())];
        let found = self.read(|conn| records(conn, BY_HASH, params))?;
        Ok(found.into_iter().next())
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.read(|conn| records(conn, LIST, vec![]))
    }

    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = id.to_owned();
        let at = at.timestamp();
        self.ask(|reply| Request::RevokeKey { id, at, reply }).await
    }
}
