//! The [`DeliveryStore`] of [`SqliteStore`]: the `deliveries` table and the events' `fanned_out`
//! flag (migration 3).
//!
//! # Storage
//! An event not fanned out yet has `fanned_out = 0` (the partial index `events_unfanned` on
//! `seq` holds exactly those, so the outbox is found without scanning the log). A delivery is
//! a row of `deliveries`, one per `(event_id, endpoint_id)` (a `UNIQUE` key; `seq`, the rowid,
//! is the fan-out order that breaks ties of `next_at`), with `livemode`, `status` (`pending`,
//! `delivered`, `failed`), `next_at` (set exactly when pending), `leased_until` (NULL when not
//! leased) and `attempts`, the JSON array of its [`AttemptRecord`]s in the port's serde form,
//! oldest first; its length is the number of attempts recorded. `next_at` and `leased_until`
//! are unix microseconds (the precision PostgreSQL keeps), taken down from the caller's times.
//! The claim scans the partial index `deliveries_pending` on `next_at` (pending rows only, so
//! delivered and failed rows kept for 30 days never slow it down).
//!
//! # Writes through the writer thread
//! Fan-out, claims (a claim writes its leases), attempt records and the purge are requests to
//! the writer thread, each in its own savepoint of a group commit, answered after the `COMMIT`:
//! - fan-out reads up to `limit` unfanned events oldest first, and for each the endpoints of its
//!   mode (read once per mode and call), keeps those enabled whose filter
//!   ([`EventFilter::parse`] of the endpoint's `events`) matches the event's type, inserts a
//!   pending delivery due `now` for each, and sets `fanned_out = 1`, all in the savepoint;
//! - a claim selects the due, unleased pending rows oldest due first and sets their
//!   `leased_until` in the same savepoint. The writer is the only connection that writes and it
//!   runs one request at a time, so no other claim can run between the select and the update:
//!   two claims never lease one row, whether they share a batch (the second sees the first's
//!   leases) or not. A row whose endpoint is gone is marked failed and the scan goes on past
//!   it, so the caller still gets up to `limit` jobs;
//! - an attempt record is one guarded `UPDATE` (pending, with exactly `attempt - 1` attempts),
//!   which appends the attempt, sets what follows and clears the lease; no row changed means
//!   another worker recorded that attempt first;
//! - the purge deletes the deliveries of the events it deletes, then the events.
//!
//! A fan-out or a claim with nothing to do is answered from a reader connection (one indexed
//! `SELECT … LIMIT 1`), so an idle worker's polls never wait for the writer. The reads
//! (`deliveries`, `outbox_stats`) run on the reader pool like every read.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use vinr_domain::event::{EventFilter, EventType};
use vinr_domain::ids::{EventId, WebhookEndpointId};
use vinr_domain::webhook::{EndpointRecord, EndpointStatus};
use vinr_ports::delivery::{
    AttemptRecord, DeliveryJob, DeliveryKey, DeliveryState, DeliveryStatus, DeliveryStore,
    OutboxStats,
};
use vinr_ports::store::StoreError;

use super::kinds::{Kind, corrupt, event_from_json};
use super::writer::{Request, unavailable};
use super::{SqliteStore, seconds_ceil, sql_limit};

/// Up to `?1` events not fanned out yet, oldest first (a scan of the partial index
/// `events_unfanned`).
pub(super) const UNFANNED: &str =
    "SELECT seq, id, livemode, kind FROM events WHERE fanned_out = 0 ORDER BY seq LIMIT ?1";

/// Whether any event waits for its fan-out.
pub(super) const ANY_UNFANNED: &str = "SELECT 1 FROM events WHERE fanned_out = 0 LIMIT 1";

/// The endpoints of one mode (a range scan of `endpoints_by_created`).
pub(super) const ENDPOINTS_OF_MODE: &str =
    "SELECT body FROM endpoints WHERE livemode = ?1 ORDER BY created, seq";

/// A new pending delivery. Parameters: event, endpoint, livemode, next_at.
const INSERT_DELIVERY: &str = "INSERT OR IGNORE INTO deliveries \
     (event_id, endpoint_id, livemode, status, next_at) VALUES (?1, ?2, ?3, 'pending', ?4)";

/// Marks an event fanned out.
const MARK_FANNED: &str = "UPDATE events SET fanned_out = 1 WHERE seq = ?1";

/// Up to `?4` due, unleased, pending deliveries after `(next_at, seq) = (?2, ?3)`, oldest due
/// first (a range scan of the partial index `deliveries_pending`, in its order). `?1`: now.
pub(super) const DUE: &str = "SELECT seq, event_id, endpoint_id, livemode, next_at, \
     json_array_length(attempts) FROM deliveries \
     WHERE status = 'pending' AND next_at <= ?1 \
     AND (leased_until IS NULL OR leased_until <= ?1) \
     AND (next_at, seq) > (?2, ?3) \
     ORDER BY next_at, seq LIMIT ?4";

/// Whether any delivery is due and unleased at `?1`.
pub(super) const ANY_DUE: &str = "SELECT 1 FROM deliveries \
     WHERE status = 'pending' AND next_at <= ?1 \
     AND (leased_until IS NULL OR leased_until <= ?1) LIMIT 1";

/// Leases a delivery. Parameters: until, seq.
const LEASE: &str = "UPDATE deliveries SET leased_until = ?1 WHERE seq = ?2";

/// Marks a delivery failed for good (its endpoint or its event is gone).
const FAIL: &str = "UPDATE deliveries SET status = 'failed', next_at = NULL, leased_until = NULL \
     WHERE seq = ?1";

/// An event's body by id (a search of its `UNIQUE` index).
pub(super) const EVENT_BODY: &str = "SELECT body FROM events WHERE id = ?1";

/// An endpoint's body by id and mode (a search of its `UNIQUE` index).
pub(super) const ENDPOINT_BODY: &str = "SELECT body FROM endpoints WHERE id = ?1 AND livemode = ?2";

/// Appends an attempt and sets what follows, if the delivery is pending with exactly `?6`
/// attempts; clears the lease. Parameters: the attempt's JSON, status, next_at, event,
/// endpoint, attempts expected.
pub(super) const RECORD: &str = "UPDATE deliveries \
     SET attempts = json_insert(attempts, '$[#]', json(?1)), status = ?2, next_at = ?3, \
     leased_until = NULL \
     WHERE event_id = ?4 AND endpoint_id = ?5 AND status = 'pending' \
     AND json_array_length(attempts) = ?6";

/// An event's deliveries, by endpoint id (a search of the `(event_id, endpoint_id)` index, in
/// its order).
pub(super) const OF_EVENT: &str = "SELECT endpoint_id, status, next_at, attempts \
     FROM deliveries WHERE event_id = ?1 ORDER BY endpoint_id";

/// How many events wait for their fan-out (a count of the partial index `events_unfanned`).
pub(super) const COUNT_UNFANNED: &str = "SELECT COUNT(*) FROM events WHERE fanned_out = 0";

/// How many deliveries are pending (a count of the partial index `deliveries_pending`).
pub(super) const COUNT_PENDING: &str = "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'";

/// The `next_at` of the oldest due delivery, leased or not (the first entry of
/// `deliveries_pending`).
pub(super) const OLDEST_DUE: &str =
    "SELECT MIN(next_at) FROM deliveries WHERE status = 'pending' AND next_at <= ?1";

/// Deletes the deliveries of events created before `?1` (unix seconds). The events are found
/// through `events_by_created`, both modes, and each one's deliveries through the
/// `(event_id, endpoint_id)` index.
pub(super) const PURGE_DELIVERIES: &str = "DELETE FROM deliveries WHERE event_id IN \
     (SELECT id FROM events WHERE livemode IN (0, 1) AND created < ?1)";

/// Deletes the events created before `?1` (unix seconds), through `events_by_created`.
pub(super) const PURGE_EVENTS: &str =
    "DELETE FROM events WHERE livemode IN (0, 1) AND created < ?1";

/// A time as `next_at` and `leased_until` keep it: unix microseconds.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// `now + lease` in microseconds, saturating at the ends of the range.
fn lease_end(now: DateTime<Utc>, lease: Duration) -> i64 {
    match now.checked_add_signed(lease) {
        Some(t) => micros(t),
        None if lease > Duration::zero() => i64::MAX,
        None => i64::MIN,
    }
}

/// The time of a `next_at` column.
fn time(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "a row of `deliveries` holds a time out of range ({us})"
        ))
    })
}

/// A row's column, or `Unavailable`.
fn col<T: rusqlite::types::FromSql>(row: &rusqlite::Row<'_>, i: usize) -> Result<T, StoreError> {
    row.get(i).map_err(|e| unavailable(&e))
}

/// Runs a statement through the cache; the number of rows changed.
fn execute(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<usize, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params_from_iter(params)))
        .map_err(|e| unavailable(&e))
}

/// Whether a query returns a row.
fn exists(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<bool, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.exists(params_from_iter(params)))
        .map_err(|e| unavailable(&e))
}

/// The one integer a query returns (NULL as `None`).
fn integer(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row(params_from_iter(params), |row| row.get(0)))
        .map_err(|e| unavailable(&e))
}

/// The `body` text of the row a query names, if any.
fn body(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<Option<String>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| unavailable(&e))?;
    let mut rows = stmt
        .query(params_from_iter(params))
        .map_err(|e| unavailable(&e))?;
    match rows.next().map_err(|e| unavailable(&e))? {
        Some(row) => Ok(Some(col(row, 0)?)),
        None => Ok(None),
    }
}

/// The enabled endpoints of one mode with their filters, as fan-out matches them.
fn enabled_endpoints(
    conn: &Connection,
    livemode: bool,
) -> Result<Vec<(WebhookEndpointId, EventFilter)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(ENDPOINTS_OF_MODE)
        .map_err(|e| unavailable(&e))?;
    let mut rows = stmt
        .query([i64::from(livemode)])
        .map_err(|e| unavailable(&e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| unavailable(&e))? {
        let text: String = col(row, 0)?;
        let record = EndpointRecord::from_json(&text).map_err(|e| corrupt("endpoints", &e))?;
        if record.endpoint.status != EndpointStatus::Enabled || record.endpoint.livemode != livemode
        {
            continue;
        }
        let filter = EventFilter::parse(&record.endpoint.events).map_err(|_| {
            StoreError::Corrupt(
                "a row of `endpoints` holds an event filter that does not parse".to_owned(),
            )
        })?;
        out.push((record.endpoint.id, filter));
    }
    Ok(out)
}

/// Fan-out, on the writer's connection inside a savepoint: up to `limit` unfanned events,
/// oldest first, each turned into one pending delivery due `now` per enabled, matching
/// endpoint of its mode and marked fanned out. The number of deliveries created.
pub(super) fn fan_out(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<u64, StoreError> {
    let events: Vec<(i64, String, bool, String)> = {
        let mut stmt = conn.prepare_cached(UNFANNED).map_err(|e| unavailable(&e))?;
        let mut rows = stmt
            .query([sql_limit(limit)])
            .map_err(|e| unavailable(&e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| unavailable(&e))? {
            out.push((col(row, 0)?, col(row, 1)?, col(row, 2)?, col(row, 3)?));
        }
        out
    };
    let mut endpoints: HashMap<bool, Vec<(WebhookEndpointId, EventFilter)>> = HashMap::new();
    let next_at = micros(now);
    let mut created = 0u64;
    for (seq, event_id, livemode, kind) in events {
        let kind: EventType = kind.parse().map_err(|_| {
            StoreError::Corrupt("a row of `events` holds an unknown event type".to_owned())
        })?;
        let targets = match endpoints.entry(livemode) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(enabled_endpoints(conn, livemode)?)
            }
        };
        for (endpoint, filter) in targets.iter() {
            if !filter.matches(kind) {
                continue;
            }
            let params = vec![
                Value::Text(event_id.clone()),
                Value::Text(endpoint.as_str().to_owned()),
                Value::Integer(i64::from(livemode)),
                Value::Integer(next_at),
            ];
            created += u64::try_from(execute(conn, INSERT_DELIVERY, params)?).unwrap_or(0);
        }
        execute(conn, MARK_FANNED, vec![Value::Integer(seq)])?;
    }
    Ok(created)
}

/// One due row, as the claim reads it.
struct DueRow {
    seq: i64,
    event_id: String,
    endpoint_id: String,
    livemode: bool,
    next_at: i64,
    attempts: i64,
}

/// Up to `limit` due, unleased rows after `(next_at, seq)`.
fn due_rows(
    conn: &Connection,
    now: i64,
    after: (i64, i64),
    limit: usize,
) -> Result<Vec<DueRow>, StoreError> {
    let mut stmt = conn.prepare_cached(DUE).map_err(|e| unavailable(&e))?;
    let params = vec![
        Value::Integer(now),
        Value::Integer(after.0),
        Value::Integer(after.1),
        sql_limit(limit),
    ];
    let mut rows = stmt
        .query(params_from_iter(params))
        .map_err(|e| unavailable(&e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| unavailable(&e))? {
        out.push(DueRow {
            seq: col(row, 0)?,
            event_id: col(row, 1)?,
            endpoint_id: col(row, 2)?,
            livemode: col(row, 3)?,
            next_at: col(row, 4)?,
            attempts: col(row, 5)?,
        });
    }
    Ok(out)
}

/// A claim, on the writer's connection inside a savepoint: up to `limit` due, unleased,
/// pending deliveries, oldest due first, leased until `until` (microseconds) in the same
/// savepoint. A delivery whose endpoint (or event) is gone is marked failed and skipped.
pub(super) fn claim(
    conn: &Connection,
    now: DateTime<Utc>,
    until: i64,
    limit: usize,
) -> Result<Vec<DeliveryJob>, StoreError> {
    let now = micros(now);
    let mut jobs = Vec::new();
    // Keyset continuation: each round starts after the last row seen, so a row is looked at
    // once per claim even when the lease does not take it out of the due set (a lease of 0).
    let mut after = (i64::MIN, i64::MIN);
    while jobs.len() < limit {
        let rows = due_rows(conn, now, after, limit - jobs.len())?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            after = (row.next_at, row.seq);
            let event = body(conn, EVENT_BODY, vec![Value::Text(row.event_id.clone())])?;
            let endpoint = body(
                conn,
                ENDPOINT_BODY,
                vec![
                    Value::Text(row.endpoint_id.clone()),
                    Value::Integer(i64::from(row.livemode)),
                ],
            )?;
            let (Some(event), Some(endpoint)) = (event, endpoint) else {
                execute(conn, FAIL, vec![Value::Integer(row.seq)])?;
                continue;
            };
            let event = event_from_json(&event).map_err(|e| corrupt("events", &e))?;
            let endpoint =
                EndpointRecord::from_json(&endpoint).map_err(|e| corrupt("endpoints", &e))?;
            let attempt = u32::try_from(row.attempts)
                .ok()
                .and_then(|n| n.checked_add(1))
                .ok_or_else(|| {
                    StoreError::Corrupt("a row of `deliveries` holds too many attempts".to_owned())
                })?;
            execute(
                conn,
                LEASE,
                vec![Value::Integer(until), Value::Integer(row.seq)],
            )?;
            jobs.push(DeliveryJob {
                key: DeliveryKey {
                    event: event.id.clone(),
                    endpoint: endpoint.endpoint.id.clone(),
                },
                attempt,
                event,
                endpoint,
            });
        }
    }
    Ok(jobs)
}

/// An attempt record, on the writer's connection inside a savepoint: whether the guard held
/// and the attempt was stored.
pub(super) fn record(
    conn: &Connection,
    key: &DeliveryKey,
    attempt: &AttemptRecord,
    next: DeliveryStatus,
) -> Result<bool, StoreError> {
    let Some(expected) = attempt.attempt.checked_sub(1) else {
        // Attempts count from 1: no delivery has -1 attempts.
        return Ok(false);
    };
    let json = serde_json::to_string(attempt).map_err(|e| corrupt("deliveries", &e))?;
    let (status, next_at) = match next {
        DeliveryStatus::Pending { next_at } => ("pending", Value::Integer(micros(next_at))),
        DeliveryStatus::Delivered => ("delivered", Value::Null),
        DeliveryStatus::Failed => ("failed", Value::Null),
    };
    let params = vec![
        Value::Text(json),
        Value::Text(status.to_owned()),
        next_at,
        Value::Text(key.event.as_str().to_owned()),
        Value::Text(key.endpoint.as_str().to_owned()),
        Value::Integer(i64::from(expected)),
    ];
    Ok(execute(conn, RECORD, params)? == 1)
}

/// The purge, on the writer's connection inside a savepoint: the events created before
/// `before` (unix seconds) and their deliveries; how many events.
pub(super) fn purge(conn: &Connection, before: i64) -> Result<u64, StoreError> {
    execute(conn, PURGE_DELIVERIES, vec![Value::Integer(before)])?;
    let n = execute(conn, PURGE_EVENTS, vec![Value::Integer(before)])?;
    Ok(u64::try_from(n).unwrap_or(u64::MAX))
}

/// A delivery's state from a row of `endpoint_id, status, next_at, attempts`.
fn state(event: &EventId, row: &rusqlite::Row<'_>) -> Result<DeliveryState, StoreError> {
    let endpoint: String = col(row, 0)?;
    let status: String = col(row, 1)?;
    let next_at: Option<i64> = col(row, 2)?;
    let attempts: String = col(row, 3)?;
    let status = match (status.as_str(), next_at) {
        ("pending", Some(t)) => DeliveryStatus::Pending { next_at: time(t)? },
        ("delivered", _) => DeliveryStatus::Delivered,
        ("failed", _) => DeliveryStatus::Failed,
        _ => {
            return Err(StoreError::Corrupt(
                "a row of `deliveries` holds an unknown status".to_owned(),
            ));
        }
    };
    let attempts: Vec<AttemptRecord> =
        serde_json::from_str(&attempts).map_err(|e| corrupt("deliveries", &e))?;
    Ok(DeliveryState {
        key: DeliveryKey {
            event: event.clone(),
            endpoint: WebhookEndpointId::parse(&endpoint).map_err(|_| {
                StoreError::Corrupt(
                    "a row of `deliveries` holds a malformed endpoint id".to_owned(),
                )
            })?,
        },
        status,
        attempts,
    })
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn fan_out(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        if limit == 0 || !self.read(|conn| exists(conn, ANY_UNFANNED, vec![]))? {
            return Ok(0);
        }
        self.ask(|reply| Request::FanOut { now, limit, reply })
            .await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        let due = vec![Value::Integer(micros(now))];
        if limit == 0 || !self.read(|conn| exists(conn, ANY_DUE, due))? {
            return Ok(Vec::new());
        }
        let until = lease_end(now, lease);
        self.ask(|reply| Request::Claim {
            now,
            until,
            limit,
            reply,
        })
        .await
    }

    async fn record_attempt(
        &self,
        key: &DeliveryKey,
        record: AttemptRecord,
        next: DeliveryStatus,
    ) -> Result<bool, StoreError> {
        let key = key.clone();
        self.ask(|reply| Request::Record {
            key,
            record,
            next,
            reply,
        })
        .await
    }

    async fn deliveries(&self, event: &EventId) -> Result<Vec<DeliveryState>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(OF_EVENT).map_err(|e| unavailable(&e))?;
            let mut rows = stmt.query([event.as_str()]).map_err(|e| unavailable(&e))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(|e| unavailable(&e))? {
                out.push(state(event, row)?);
            }
            Ok(out)
        })
    }

    async fn outbox_stats(&self, now: DateTime<Utc>) -> Result<OutboxStats, StoreError> {
        let now_us = micros(now);
        self.read(|conn| {
            let count = |sql| -> Result<u64, StoreError> {
                let n = integer(conn, sql, vec![])?.unwrap_or(0);
                Ok(u64::try_from(n).unwrap_or(0))
            };
            let unfanned_events = count(COUNT_UNFANNED)?;
            let pending_deliveries = count(COUNT_PENDING)?;
            let oldest = integer(conn, OLDEST_DUE, vec![Value::Integer(now_us)])?;
            let oldest_due_seconds = oldest.map_or(0, |t| {
                u64::try_from(now_us.saturating_sub(t) / 1_000_000).unwrap_or(0)
            });
            Ok(OutboxStats {
                unfanned_events,
                pending_deliveries,
                oldest_due_seconds,
            })
        })
    }

    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = seconds_ceil(before);
        self.ask(|reply| Request::PurgeEvents { before, reply })
            .await
    }
}
