//! The reader connections and the queries they run.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use vinr_ports::Mode;
use vinr_ports::store::{Page, PageRequest, StoreError};

use super::kinds::corrupt;
use super::writer::unavailable;

/// A fixed set of reader connections; a read takes one, runs, and puts it back.
///
/// A read never holds a connection across an `.await` (it runs start to finish on the calling
/// thread), so a caller waiting here waits for another thread's short read, never for a
/// suspended task.
#[derive(Debug)]
pub(super) struct Readers {
    idle: Mutex<Idle>,
    returned: Condvar,
}

#[derive(Debug)]
struct Idle {
    conns: Vec<Connection>,
    closed: bool,
}

/// A connection taken from the pool; dropping it puts it back (or closes it, once the store
/// is closed).
pub(super) struct Lease<'a> {
    readers: &'a Readers,
    conn: Option<Connection>,
}

impl Lease<'_> {
    /// The connection.
    pub(super) fn conn(&self) -> Result<&Connection, StoreError> {
        self.conn.as_ref().ok_or_else(closed)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.readers.lock();
            if !idle.closed {
                idle.conns.push(conn);
                drop(idle);
                self.readers.returned.notify_one();
            }
        }
    }
}

/// The error of a read after `close`.
fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".to_owned())
}

impl Readers {
    /// A pool of these connections.
    pub(super) fn new(conns: Vec<Connection>) -> Self {
        Self {
            idle: Mutex::new(Idle {
                conns,
                closed: false,
            }),
            returned: Condvar::new(),
        }
    }

    /// The pool's state, even if a reader panicked while holding the lock (the state is a
    /// list of idle connections, never half-changed).
    fn lock(&self) -> MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection, waiting for one if all are busy.
    pub(super) fn take(&self) -> Result<Lease<'_>, StoreError> {
        let mut idle = self.lock();
        loop {
            if idle.closed {
                return Err(closed());
            }
            if let Some(conn) = idle.conns.pop() {
                return Ok(Lease {
                    readers: self,
                    conn: Some(conn),
                });
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Closes the pool: later reads fail; idle connections are handed back to be closed, and
    /// busy ones are closed when their read returns them.
    pub(super) fn close(&self) -> Vec<Connection> {
        let mut idle = self.lock();
        idle.closed = true;
        let conns = std::mem::take(&mut idle.conns);
        drop(idle);
        self.returned.notify_all();
        conns
    }
}

/// Every list the store serves, with its filters; each one is a range scan of its own index
/// (checked by the module's tests with `EXPLAIN QUERY PLAN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListQuery {
    /// Every customer.
    Customers,
    /// Customers with one email lookup key.
    CustomersByEmail,
    /// The methods attached to one customer.
    CustomerMethods,
    /// The method attached to one customer with one fingerprint (the newest).
    MethodByFingerprint,
    /// Every attached method.
    AttachedMethods,
    /// Every payment.
    Payments,
    /// One customer's payments.
    PaymentsOfCustomer,
    /// Payments in one status.
    PaymentsInStatus,
    /// One customer's payments in one status.
    PaymentsOfCustomerInStatus,
    /// Every endpoint.
    Endpoints,
    /// Every event.
    Events,
    /// Events of one type.
    EventsOfKind,
}

impl ListQuery {
    /// Every list, for the tests of the query plans.
    #[cfg(test)]
    pub(super) const ALL: [ListQuery; 12] = [
        ListQuery::Customers,
        ListQuery::CustomersByEmail,
        ListQuery::CustomerMethods,
        ListQuery::MethodByFingerprint,
        ListQuery::AttachedMethods,
        ListQuery::Payments,
        ListQuery::PaymentsOfCustomer,
        ListQuery::PaymentsInStatus,
        ListQuery::PaymentsOfCustomerInStatus,
        ListQuery::Endpoints,
        ListQuery::Events,
        ListQuery::EventsOfKind,
    ];

    /// The table listed.
    pub(super) fn table(self) -> &'static str {
        match self {
            ListQuery::Customers | ListQuery::CustomersByEmail => "customers",
            ListQuery::CustomerMethods
            | ListQuery::MethodByFingerprint
            | ListQuery::AttachedMethods => "methods",
            ListQuery::Payments
            | ListQuery::PaymentsOfCustomer
            | ListQuery::PaymentsInStatus
            | ListQuery::PaymentsOfCustomerInStatus => "payments",
            ListQuery::Endpoints => "endpoints",
            ListQuery::Events | ListQuery::EventsOfKind => "events",
        }
    }

    /// The filters besides the mode, each with one parameter (or none), in parameter order.
    pub(super) fn filters(self) -> &'static [&'static str] {
        match self {
            ListQuery::Customers
            | ListQuery::Payments
            | ListQuery::Endpoints
            | ListQuery::Events => &[],
            ListQuery::CustomersByEmail => &["email_key = ?"],
            ListQuery::CustomerMethods => &["customer_id = ?", "state = 'attached'"],
            ListQuery::MethodByFingerprint => {
                &["customer_id = ?", "fingerprint = ?", "state = 'attached'"]
            }
            ListQuery::AttachedMethods => &["state = 'attached'"],
            ListQuery::PaymentsOfCustomer => &["customer_id = ?"],
            ListQuery::PaymentsInStatus => &["status = ?"],
            ListQuery::PaymentsOfCustomerInStatus => &["customer_id = ?", "status = ?"],
            ListQuery::EventsOfKind => &["kind = ?"],
        }
    }

    /// The page query. Parameters: the mode, the filters' values, with `cursor` the cursor's
    /// `created` and `seq`, and the limit.
    pub(super) fn sql(self, cursor: bool) -> String {
        let mut sql = format!("SELECT body FROM {} WHERE livemode = ?", self.table());
        for filter in self.filters() {
            sql.push_str(" AND ");
            sql.push_str(filter);
        }
        if cursor {
            sql.push_str(" AND (created, seq) < (?, ?)");
        }
        sql.push_str(" ORDER BY created DESC, seq DESC LIMIT ?");
        sql
    }

    /// Where the object named by a cursor sits in every list of its table. Parameters: the id
    /// and the mode.
    pub(super) fn cursor_sql(self) -> String {
        format!(
            "SELECT created, seq FROM {} WHERE id = ? AND livemode = ?",
            self.table()
        )
    }
}

/// One page of a list: objects of `mode` passing the filters (`filter_values` in the order of
/// [`ListQuery::filters`]) after the cursor, newest first, at most `request.limit`.
pub(super) fn page<T, Id: AsRef<str>>(
    conn: &Connection,
    query: ListQuery,
    mode: Mode,
    filter_values: Vec<Value>,
    request: &PageRequest<Id>,
    parse: impl Fn(&str) -> Result<T, serde_json::Error>,
) -> Result<Page<T>, StoreError> {
    let livemode = Value::Integer(i64::from(mode.livemode()));
    let mut params = vec![livemode.clone()];
    params.extend(filter_values);
    if let Some(cursor) = &request.starting_after {
        let position: Option<(i64, i64)> = conn
            .prepare_cached(&query.cursor_sql())
            .and_then(|mut s| {
                let mut rows = s.query((cursor.as_ref(), livemode))?;
                rows.next()?
                    .map(|row| Ok((row.get(0)?, row.get(1)?)))
                    .transpose()
            })
            .map_err(|e| unavailable(&e))?;
        let (created, seq) = position.ok_or(StoreError::CursorNotFound)?;
        params.push(Value::Integer(created));
        params.push(Value::Integer(seq));
    }
    // One more than asked tells whether more follow.
    let fetch = i64::try_from(request.limit.saturating_add(1)).unwrap_or(i64::MAX);
    params.push(Value::Integer(fetch));
    let mut items = bodies(
        conn,
        &query.sql(request.starting_after.is_some()),
        params,
        query.table(),
        parse,
    )?;
    let has_more = items.len() > request.limit;
    items.truncate(request.limit);
    Ok(Page { items, has_more })
}

/// The `body` of every row a query returns, parsed.
pub(super) fn bodies<T>(
    conn: &Connection,
    sql: &str,
    params: Vec<Value>,
    table: &str,
    parse: impl Fn(&str) -> Result<T, serde_json::Error>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| unavailable(&e))?;
    let mut rows = stmt
        .query(params_from_iter(params))
        .map_err(|e| unavailable(&e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| unavailable(&e))? {
        let value = row.get_ref(0).map_err(|e| unavailable(&e))?;
        let text = value.as_str().map_err(|e| {
            StoreError::Corrupt(format!("a row of `{table}` holds no JSON text: {e}"))
        })?;
        out.push(parse(text).map_err(|e| corrupt(table, &e))?);
    }
    Ok(out)
}

/// The record one query names, if any.
pub(super) fn one<T>(
    conn: &Connection,
    sql: &str,
    params: Vec<Value>,
    table: &str,
    parse: impl Fn(&str) -> Result<T, serde_json::Error>,
) -> Result<Option<T>, StoreError> {
    Ok(bodies(conn, sql, params, table, parse)?.into_iter().next())
}
