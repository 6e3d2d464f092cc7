//! The [`DeliveryStore`] of [`PostgresStore`]: the `deliveries` and `delivery_attempts` tables
//! and the `fanned_out` flag of `events` (migration 3).
//!
//! Every step is safe with many workers on many servers sharing the database:
//! - **fan-out** reads the endpoints and whether any event waits, in one flight; when one
//!   does, the filters are matched here, in Rust (each enabled endpoint's
//!   [`EventFilter`] gives the event types it takes, per mode), and one statement, in a
//!   transaction of its own, locks the oldest events not fanned out yet (`FOR UPDATE SKIP
//!   LOCKED`: an event another server is fanning out is skipped, and one it fanned out
//!   meanwhile no longer matches when re-checked), sets their `fanned_out`, and inserts their
//!   deliveries (`ON CONFLICT DO NOTHING`). No transaction is held open across round trips.
//! - **claim** is one statement: it locks the oldest due deliveries that nobody leases
//!   (`FOR UPDATE SKIP LOCKED`, so concurrent claims take disjoint rows and a row leased by a
//!   claim that committed meanwhile no longer matches when re-checked), leases them, and
//!   returns each with its event and endpoint; a delivery whose endpoint is gone is marked failed
//!   by the same statement instead.
//! - **record** is one statement: the update of the delivery, guarded by its status and attempt
//!   count, and the insert of the attempt behind it, which inserts nothing when the guard
//!   matched no row. Two workers recording one attempt are ordered by the row lock; the second
//!   finds the count moved and changes nothing.
//!
//! Each of claim, record, the listing, the stats and the purge is one statement, one round trip
//! on a warm connection; fan-out is two round trips (one when nothing waits). A connection
//! meeting the statements for the first time prepares them in one more. Times are kept as Unix
//! microseconds; a lease ends no earlier than asked (its end is rounded up).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};
use vinr_domain::event::{EventFilter, EventType};
use vinr_domain::ids::{EventId, WebhookEndpointId};
use vinr_domain::webhook::{EndpointRecord, EndpointStatus};
use vinr_ports::delivery::{
    AttemptRecord, DeliveryJob, DeliveryKey, DeliveryState, DeliveryStatus, DeliveryStore,
    OutboxStats,
};
use vinr_ports::event::Event;
use vinr_ports::store::StoreError;

use super::PostgresStore;
use super::codec::{ENDPOINTS, EVENTS, decode, seconds_before};
use super::pipeline::{self, Flight};

/// Every endpoint, oldest first (filters and statuses are in the bodies).
const ENDPOINTS_ALL: &str = "SELECT body FROM webhook_endpoints ORDER BY seq";

/// Whether any event waits to be fanned out (a probe of `events_to_fan_out`).
const ANY_UNFANNED: &str = "SELECT EXISTS (SELECT 1 FROM events WHERE NOT fanned_out)";

/// The fan-out of a batch, in one statement (one transaction): locks the oldest events not
/// fanned out yet, skipping those another transaction holds, marks them, and inserts one
/// delivery per route of the event's mode and type, in event order then route order; counts the
/// events and the deliveries inserted. The routes are what the Rust side matched: arrays of
/// one length of livemode, event type (`NULL`: every type) and endpoint id.
/// Parameters: how many events, `next_at`, then the three route arrays.
const FAN_OUT: &str = "WITH e AS MATERIALIZED (\
     SELECT id, livemode, kind, seq FROM events WHERE NOT fanned_out \
     ORDER BY seq LIMIT $1::bigint FOR UPDATE SKIP LOCKED), \
     m AS (UPDATE events SET fanned_out = true FROM e WHERE events.id = e.id), \
     i AS (INSERT INTO deliveries (event_id, endpoint_id, livemode, status, next_at) \
     SELECT e.id, r.w, e.livemode, 'pending', $2::bigint \
     FROM e JOIN unnest($3::bool[], $4::text[], $5::text[]) WITH ORDINALITY AS r(m, k, w, o) \
     ON r.m = e.livemode AND (r.k IS NULL OR r.k = e.kind) \
     ORDER BY e.seq, r.o \
     ON CONFLICT DO NOTHING RETURNING 1) \
     SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM i)";

/// Leases the oldest due deliveries nobody leases, and returns them with their event's and
/// endpoint's bodies; one whose endpoint is gone is marked failed instead (its endpoint body
/// comes back `NULL`). The locked batch is a materialized CTE, so it is picked (and locked)
/// once whatever the plan. Parameters: now, the lease's end, how many.
const CLAIM: &str = "WITH due AS MATERIALIZED (\
     SELECT event_id, endpoint_id FROM deliveries \
     WHERE status = 'pending' AND next_at <= $1::bigint \
     AND (leased_until IS NULL OR leased_until <= $1::bigint) \
     ORDER BY next_at, seq LIMIT $3::bigint FOR UPDATE SKIP LOCKED) \
     UPDATE deliveries d SET \
     status = CASE WHEN w.id IS NULL THEN 'failed' ELSE 'pending' END, \
     leased_until = CASE WHEN w.id IS NULL THEN NULL ELSE $2::bigint END \
     FROM due JOIN events e ON e.id = due.event_id \
     LEFT JOIN webhook_endpoints w ON w.id = due.endpoint_id \
     WHERE d.event_id = due.event_id AND d.endpoint_id = due.endpoint_id \
     RETURNING d.event_id, d.endpoint_id, d.attempt_count, d.next_at, d.seq, e.body, w.body";

/// Records an attempt if the delivery is still pending with one attempt fewer: the guarded
/// update, then the attempt's insert (of no row when the guard failed). Parameters: event id,
/// endpoint id, the attempt's number, the new status, the new `next_at` (`NULL`: unchanged),
/// when, HTTP status, latency, error.
const RECORD: &str = "WITH d AS (\
     UPDATE deliveries SET status = $4::text, next_at = COALESCE($5::bigint, next_at), \
     leased_until = NULL, attempt_count = attempt_count + 1 \
     WHERE event_id = $1::text AND endpoint_id = $2::text AND status = 'pending' \
     AND attempt_count = $3::bigint - 1 \
     RETURNING event_id, endpoint_id) \
     INSERT INTO delivery_attempts \
     (event_id, endpoint_id, attempt, at, http_status, latency_ms, error) \
     SELECT event_id, endpoint_id, $3::bigint, $6::bigint, $7::integer, $8::bigint, $9::text \
     FROM d";

/// An event's deliveries in fan-out order, each with its attempts oldest first (one row per
/// attempt, or one with `NULL` attempt columns). Parameter: the event id.
const LIST: &str = "SELECT d.endpoint_id, d.status, d.next_at, \
     a.attempt, a.at, a.http_status, a.latency_ms, a.error \
     FROM deliveries d LEFT JOIN delivery_attempts a \
     ON a.event_id = d.event_id AND a.endpoint_id = d.endpoint_id \
     WHERE d.event_id = $1::text ORDER BY d.seq, a.attempt";

/// Events not fanned out, pending deliveries, and the `next_at` of the oldest due one (each a
/// scan of a partial index). Parameter: now.
const STATS: &str = "SELECT \
     (SELECT count(*) FROM events WHERE NOT fanned_out), \
     (SELECT count(*) FROM deliveries WHERE status = 'pending'), \
     (SELECT min(next_at) FROM deliveries WHERE status = 'pending' AND next_at <= $1::bigint)";

/// Deletes the events created before a time, and (by cascade) their deliveries and attempts.
/// Naming both modes lets `events_by_created` serve the scan. Parameter: the bound, in seconds.
const PURGE: &str = "DELETE FROM events WHERE livemode IN (false, true) AND created < $1::bigint";

/// A time as the delivery tables hold it: Unix microseconds (rounded down).
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The end of a lease taken at `now` for `lease`, in Unix microseconds, rounded up so a lease
/// never ends before it was asked to.
fn lease_end(now: DateTime<Utc>, lease: Duration) -> i64 {
    match now.checked_add_signed(lease) {
        Some(end) => {
            let partial = end.timestamp_subsec_nanos() % 1_000 != 0;
            micros(end).saturating_add(i64::from(partial))
        }
        None if lease > Duration::zero() => i64::MAX,
        None => i64::MIN,
    }
}

/// A time read back from the delivery tables.
fn time(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "a row of `deliveries` holds a time out of range ({us})"
        ))
    })
}

/// The error of a row that cannot be read.
fn unreadable(table: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
    move |_| StoreError::Corrupt(format!("a row of `{table}` is unreadable"))
}

/// A status as the `status` column holds it, and the `next_at` to store (`None`: unchanged).
fn status_columns(status: DeliveryStatus) -> (&'static str, Option<i64>) {
    match status {
        DeliveryStatus::Pending { next_at } => ("pending", Some(micros(next_at))),
        DeliveryStatus::Delivered => ("delivered", None),
        DeliveryStatus::Failed => ("failed", None),
    }
}

/// The status of a row of `deliveries`.
fn status(text: &str, next_at: i64) -> Result<DeliveryStatus, StoreError> {
    match text {
        "pending" => Ok(DeliveryStatus::Pending {
            next_at: time(next_at)?,
        }),
        "delivered" => Ok(DeliveryStatus::Delivered),
        "failed" => Ok(DeliveryStatus::Failed),
        _ => Err(StoreError::Corrupt(
            "a row of `deliveries` holds an unknown status".to_owned(),
        )),
    }
}

/// An id read back from a row.
fn id<T: std::str::FromStr>(table: &str, text: &str) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("a row of `{table}` holds a malformed id")))
}

/// Which event types an endpoint takes. Its `events` are the wire form the API checked; should
/// some of them be types this build does not know (written by a newer one), the endpoint takes
/// the types it does know, and none if it knows none.
fn filter(events: &[String]) -> Option<EventFilter> {
    EventFilter::parse(events).ok().or_else(|| {
        let known: Vec<String> = events
            .iter()
            .filter(|e| *e == "*" || e.parse::<EventType>().is_ok())
            .cloned()
            .collect();
        EventFilter::parse(&known).ok()
    })
}

/// Which endpoints take which events, as the fan-out statement binds them: for every enabled
/// endpoint (oldest first), one route per event type its filter takes (a single route of any
/// type, `None`, for `*`).
#[derive(Debug, Default, PartialEq, Eq)]
struct Routes {
    livemode: Vec<bool>,
    kind: Vec<Option<&'static str>>,
    endpoint: Vec<String>,
}

impl Routes {
    /// The routes of the endpoints in rows of `body`.
    fn of(rows: &[Row]) -> Result<Self, StoreError> {
        let mut routes = Self::default();
        for row in rows {
            let body: String = row.try_get(0).map_err(unreadable(ENDPOINTS.name))?;
            let record: EndpointRecord = decode(ENDPOINTS.name, &body)?;
            routes.add(&record);
        }
        Ok(routes)
    }

    /// The routes of one endpoint, if it is enabled.
    fn add(&mut self, record: &EndpointRecord) {
        let e = &record.endpoint;
        if e.status != EndpointStatus::Enabled {
            return;
        }
        let kinds: Vec<Option<&'static str>> = match filter(&e.events) {
            None => return,
            Some(EventFilter::All) => vec![None],
            Some(only) => EventType::ALL
                .iter()
                .filter(|t| only.matches(**t))
                .map(|t| Some(t.as_str()))
                .collect(),
        };
        for kind in kinds {
            self.livemode.push(e.livemode);
            self.kind.push(kind);
            self.endpoint.push(e.id.to_string());
        }
    }
}

/// A count read back as a `u64`.
fn count(row: &Row, i: usize) -> Result<u64, StoreError> {
    let n: i64 = row
        .try_get(i)
        .map_err(|_| StoreError::Corrupt("a count is unreadable".to_owned()))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

impl PostgresStore {
    /// These statements, prepared on `client` (those it has not prepared yet in one flight).
    async fn prepare_all<const N: usize>(
        &self,
        client: &deadpool_postgres::Object,
        texts: [&'static str; N],
    ) -> Result<Vec<Statement>, StoreError> {
        let flights: Vec<Flight<'_, Statement>> = texts
            .iter()
            .map(|sql| Box::pin(client.prepare_cached(sql)) as Flight<'_, Statement>)
            .collect();
        pipeline::run(flights)
            .await
            .into_iter()
            .map(|prepared| prepared.map_err(|e| self.error(&e)))
            .collect()
    }
}

#[async_trait]
impl DeliveryStore for PostgresStore {
    async fn fan_out(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        if limit == 0 {
            return Ok(0);
        }
        let client = self.client().await?;
        let statements = self
            .prepare_all(&client, [ENDPOINTS_ALL, ANY_UNFANNED, FAN_OUT])
            .await?;
        let [endpoints, any, fan_out] = statements.as_slice() else {
            return Err(StoreError::Unavailable(
                "a statement was not prepared".to_owned(),
            ));
        };

        // Flight 1: the endpoints, and whether there is work at all.
        let mut answers = pipeline::run(vec![
            pipeline::query(&client, endpoints, &[]),
            pipeline::query(&client, any, &[]),
        ])
        .await
        .into_iter();
        let mut next = || {
            answers
                .next()
                .unwrap_or_else(|| Ok(Vec::new()))
                .map_err(|e| self.error(&e))
        };
        let (endpoints, any) = (next()?, next()?);
        let waiting: bool = match any.first() {
            Some(row) => row
                .try_get(0)
                .map_err(|_| StoreError::Corrupt("an answer is unreadable".to_owned()))?,
            None => false,
        };
        if !waiting {
            return Ok(0);
        }

        // Matched here; flight 2 is the fan-out statement itself.
        let routes = Routes::of(&endpoints)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let params: [&(dyn ToSql + Sync); 5] = [
            &limit,
            &micros(now),
            &routes.livemode,
            &routes.kind,
            &routes.endpoint,
        ];
        let row = client
            .query_one(fan_out, &params)
            .await
            .map_err(|e| self.error(&e))?;
        count(&row, 1)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let statement = self.prepare(&client, CLAIM).await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(&statement, &[&micros(now), &lease_end(now, lease), &limit])
            .await
            .map_err(|e| self.error(&e))?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in &rows {
            let bad = unreadable("deliveries");
            let endpoint: Option<String> = row.try_get(6).map_err(&bad)?;
            let Some(endpoint) = endpoint else {
                // Its endpoint is gone: the statement marked it failed.
                continue;
            };
            let event_id: String = row.try_get(0).map_err(&bad)?;
            let endpoint_id: String = row.try_get(1).map_err(&bad)?;
            let recorded: i64 = row.try_get(2).map_err(&bad)?;
            let due: i64 = row.try_get(3).map_err(&bad)?;
            let seq: i64 = row.try_get(4).map_err(&bad)?;
            let event: String = row.try_get(5).map_err(&bad)?;
            let attempt = recorded
                .checked_add(1)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    StoreError::Corrupt(
                        "a row of `deliveries` holds an attempt count out of range".to_owned(),
                    )
                })?;
            let job = DeliveryJob {
                key: DeliveryKey {
                    event: id::<EventId>("deliveries", &event_id)?,
                    endpoint: id::<WebhookEndpointId>("deliveries", &endpoint_id)?,
                },
                attempt,
                event: decode::<Event>(EVENTS.name, &event)?,
                endpoint: decode::<EndpointRecord>(ENDPOINTS.name, &endpoint)?,
            };
            jobs.push(((due, seq), job));
        }
        // Oldest due first (the statement returns rows in no particular order).
        jobs.sort_by_key(|(order, _)| *order);
        Ok(jobs.into_iter().map(|(_, job)| job).collect())
    }

    async fn record_attempt(
        &self,
        key: &DeliveryKey,
        record: AttemptRecord,
        next: DeliveryStatus,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = self.prepare(&client, RECORD).await?;
        let (status, next_at) = status_columns(next);
        let attempt = i64::from(record.attempt);
        let http_status = record.status.map(i32::from);
        let latency = i64::try_from(record.latency_ms).unwrap_or(i64::MAX);
        let params: [&(dyn ToSql + Sync); 9] = [
            &key.event.as_str(),
            &key.endpoint.as_str(),
            &attempt,
            &status,
            &next_at,
            &micros(record.at),
            &http_status,
            &latency,
            &record.error,
        ];
        let recorded = client
            .execute(&statement, &params)
            .await
            .map_err(|e| self.error(&e))?;
        Ok(recorded == 1)
    }

    async fn deliveries(&self, event: &EventId) -> Result<Vec<DeliveryState>, StoreError> {
        let client = self.client().await?;
        let statement = self.prepare(&client, LIST).await?;
        let rows = client
            .query(&statement, &[&event.as_str()])
            .await
            .map_err(|e| self.error(&e))?;
        let mut out: Vec<(String, DeliveryState)> = Vec::new();
        for row in &rows {
            let bad = unreadable("deliveries");
            let endpoint_id: String = row.try_get(0).map_err(&bad)?;
            if out.last().is_none_or(|(last, _)| *last != endpoint_id) {
                let text: String = row.try_get(1).map_err(&bad)?;
                let next_at: i64 = row.try_get(2).map_err(&bad)?;
                let state = DeliveryState {
                    key: DeliveryKey {
                        event: event.clone(),
                        endpoint: id::<WebhookEndpointId>("deliveries", &endpoint_id)?,
                    },
                    status: status(&text, next_at)?,
                    attempts: Vec::new(),
                };
                out.push((endpoint_id, state));
            }
            let attempt: Option<i64> = row.try_get(3).map_err(&bad)?;
            let (Some(attempt), Some((_, state))) = (attempt, out.last_mut()) else {
                continue;
            };
            let bad = unreadable("delivery_attempts");
            let at: i64 = row.try_get(4).map_err(&bad)?;
            let http_status: Option<i32> = row.try_get(5).map_err(&bad)?;
            let latency: i64 = row.try_get(6).map_err(&bad)?;
            let out_of_range =
                || StoreError::Corrupt("a row of `delivery_attempts` is out of range".to_owned());
            state.attempts.push(AttemptRecord {
                attempt: u32::try_from(attempt).map_err(|_| out_of_range())?,
                at: time(at)?,
                status: http_status
                    .map(u16::try_from)
                    .transpose()
                    .map_err(|_| out_of_range())?,
                latency_ms: u64::try_from(latency).map_err(|_| out_of_range())?,
                error: row.try_get(7).map_err(&bad)?,
            });
        }
        Ok(out.into_iter().map(|(_, state)| state).collect())
    }

    async fn outbox_stats(&self, now: DateTime<Utc>) -> Result<OutboxStats, StoreError> {
        let client = self.client().await?;
        let statement = self.prepare(&client, STATS).await?;
        let now_us = micros(now);
        let row = client
            .query_one(&statement, &[&now_us])
            .await
            .map_err(|e| self.error(&e))?;
        let oldest: Option<i64> = row.try_get(2).map_err(unreadable("deliveries"))?;
        let oldest_due_seconds = oldest.map_or(0, |due| {
            u64::try_from(now_us.saturating_sub(due) / 1_000_000).unwrap_or(0)
        });
        Ok(OutboxStats {
            unfanned_events: count(&row, 0)?,
            pending_deliveries: count(&row, 1)?,
            oldest_due_seconds,
        })
    }

    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let statement = self.prepare(&client, PURGE).await?;
        client
            .execute(&statement, &[&seconds_before(before)])
            .await
            .map_err(|e| self.error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64, n: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(s, n).unwrap_or_default()
    }

    #[test]
    fn a_lease_never_ends_before_it_was_asked_to() {
        assert_eq!(lease_end(t(100, 0), Duration::seconds(30)), 130_000_000);
        assert_eq!(lease_end(t(100, 1), Duration::seconds(30)), 130_000_001);
        assert_eq!(lease_end(t(100, 1_000), Duration::zero()), 100_000_001);
        assert_eq!(lease_end(t(100, 0), Duration::MAX), i64::MAX);
        assert_eq!(micros(t(100, 1_999)), 100_000_001);
        assert_eq!(time(100_000_001), Ok(t(100, 1_000)));
    }

    #[test]
    fn filters_keep_the_types_this_build_knows() {
        let wire = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let only = filter(&wire(&["payment.succeeded", "payment.teleported"])).unwrap();
        assert!(only.matches(EventType::PaymentSucceeded));
        assert!(!only.matches(EventType::PaymentFailed));
        assert_eq!(filter(&wire(&["payment.teleported"])), None);
        assert_eq!(filter(&wire(&["*", "x"])), Some(EventFilter::All));
        assert_eq!(filter(&[]), None);
    }

    #[test]
    fn routes_list_each_type_an_enabled_endpoint_takes() {
        let endpoint = |n: u8, events: &[&str], livemode: bool| {
            let items: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
            EndpointRecord::new(
                WebhookEndpointId::from_entropy(&[n; 24]),
                "https://m.example/h".to_owned(),
                &EventFilter::parse(&items).unwrap_or(EventFilter::All),
                vinr_domain::webhook::WebhookSecret::new("whsec_x"),
                livemode,
                t(0, 0),
            )
        };
        let all = endpoint(1, &["*"], true);
        let two = endpoint(2, &["setup.failed", "payment.failed"], false);
        let mut off = endpoint(3, &["*"], false);
        off.endpoint.status = EndpointStatus::Disabled;
        let mut routes = Routes::default();
        for e in [&all, &off, &two] {
            routes.add(e);
        }
        let (a, b) = (all.endpoint.id.to_string(), two.endpoint.id.to_string());
        assert_eq!(
            routes,
            Routes {
                livemode: vec![true, false, false],
                // In the order of `EventType::ALL`.
                kind: vec![None, Some("setup.failed"), Some("payment.failed")],
                endpoint: vec![a, b.clone(), b],
            }
        );
    }

    #[test]
    fn statuses_round_trip_through_their_columns() {
        let pending = DeliveryStatus::Pending {
            next_at: t(1_900_000_000, 0),
        };
        for s in [pending, DeliveryStatus::Delivered, DeliveryStatus::Failed] {
            let (text, next_at) = status_columns(s);
            assert_eq!(status(text, next_at.unwrap_or(0)), Ok(s));
        }
        assert!(status("lost", 0).is_err());
    }
}
