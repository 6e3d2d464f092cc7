//! How each kind of object maps to its table: the columns it fills, its JSON body, and the
//! guarded statements a write set runs.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::types::ToSql;
use vinr_domain::customer::{Customer, email_lookup_key};
use vinr_domain::method::{MethodState, StoredMethod};
use vinr_domain::payment::PaymentRecord;
use vinr_domain::setup::SetupRecord;
use vinr_domain::webhook::EndpointRecord;
use vinr_ports::event::Event;
use vinr_ports::store::{IdempotencyRecord, StoreError, Write};

/// A statement parameter, owned so a write set's statements can be built before they run.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// One table: its name, the key columns, and the other columns before `body`, in the order
/// the statements bind them.
pub(super) struct Table {
    /// The table name.
    pub(super) name: &'static str,
    /// The primary key's columns.
    key: &'static [&'static str],
    /// The indexed columns (every table but events has `version` among them).
    columns: &'static [&'static str],
}

pub(super) const CUSTOMERS: Table = Table {
    name: "customers",
    key: &["id"],
    columns: &["livemode", "created", "version", "email_key"],
};
pub(super) const METHODS: Table = Table {
    name: "payment_methods",
    key: &["id"],
    columns: &[
        "livemode",
        "created",
        "version",
        "customer_id",
        "state",
        "fingerprint",
        "card_key_id",
    ],
};
pub(super) const PAYMENTS: Table = Table {
    name: "payments",
    key: &["id"],
    columns: &[
        "livemode",
        "created",
        "version",
        "customer_id",
        "status",
        "card_key_id",
    ],
};
pub(super) const SETUPS: Table = Table {
    name: "setups",
    key: &["id"],
    columns: &["livemode", "created", "version", "card_key_id"],
};
pub(super) const ENDPOINTS: Table = Table {
    name: "webhook_endpoints",
    key: &["id"],
    columns: &["livemode", "created", "version"],
};
pub(super) const EVENTS: Table = Table {
    name: "events",
    key: &["id"],
    columns: &["livemode", "created", "kind"],
};
pub(super) const IDEMPOTENCY: Table = Table {
    name: "idempotency_keys",
    key: &["scope", "idempotency_key"],
    columns: &["created", "version"],
};

/// The four guarded statements of a table. Each fails the transaction (SQLSTATE VR409, from
/// `vinr_guard`) unless it wrote or found exactly one row, so a write set whose guard fails
/// rolls back even though its `COMMIT` was sent in the same flight.
pub(super) struct Statements {
    /// `Insert`: the key must be free (`ON CONFLICT DO NOTHING` writes no row otherwise; a
    /// concurrent insert of the key is waited for, and conflicts if it commits).
    pub(super) insert: String,
    /// `Update`: the stored version must be `expected`.
    pub(super) update: String,
    /// `Delete`: the stored version must be `expected`.
    pub(super) delete: String,
    /// `Check`: the stored version must be `expected`; the row is share-locked until commit,
    /// so a concurrent change of it (a detach) waits for this write set, or this write set
    /// re-reads the row once that change committed and fails its guard.
    pub(super) check: String,
}

impl Statements {
    fn of(t: &Table) -> Self {
        let name = t.name;
        let k = t.key.len();
        let c = t.columns.len();
        let key_match = |from: usize| {
            t.key
                .iter()
                .enumerate()
                .map(|(i, col)| format!("{col} = ${}", from + i))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let all: Vec<&str> = t
            .key
            .iter()
            .chain(t.columns)
            .copied()
            .chain(["body"])
            .collect();
        let values: Vec<String> = (1..=all.len()).map(|i| format!("${i}")).collect();
        let set: Vec<String> = t
            .columns
            .iter()
            .chain(&["body"])
            .enumerate()
            .map(|(i, col)| format!("{col} = ${}", k + 1 + i))
            .collect();
        let guarded = |inner: String| {
            format!("WITH w AS ({inner} RETURNING 1) SELECT vinr_guard(count(*)) FROM w")
        };
        Self {
            insert: guarded(format!(
                "INSERT INTO {name} ({}) VALUES ({}) ON CONFLICT DO NOTHING",
                all.join(", "),
                values.join(", ")
            )),
            update: guarded(format!(
                "UPDATE {name} SET {} WHERE {} AND version = ${}",
                set.join(", "),
                key_match(1),
                k + c + 2
            )),
            delete: guarded(format!(
                "DELETE FROM {name} WHERE {} AND version = ${}",
                key_match(1),
                k + 1
            )),
            check: format!(
                "SELECT vinr_guard(count(*)) FROM (SELECT 1 FROM {name} WHERE {} AND version = ${} FOR SHARE) w",
                key_match(1),
                k + 1
            ),
        }
    }
}

/// Every table's statements, built once.
pub(super) struct Sql {
    pub(super) customers: Statements,
    pub(super) methods: Statements,
    pub(super) payments: Statements,
    pub(super) setups: Statements,
    pub(super) endpoints: Statements,
    pub(super) idempotency: Statements,
    pub(super) events: Statements,
}

pub(super) static SQL: LazyLock<Sql> = LazyLock::new(|| Sql {
    customers: Statements::of(&CUSTOMERS),
    methods: Statements::of(&METHODS),
    payments: Statements::of(&PAYMENTS),
    setups: Statements::of(&SETUPS),
    endpoints: Statements::of(&ENDPOINTS),
    idempotency: Statements::of(&IDEMPOTENCY),
    events: Statements::of(&EVENTS),
});

/// A version as the `BIGINT` column holds it.
pub(super) fn version(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("version {v} does not fit a BIGINT")))
}

/// A creation time as the `created` column holds it: Unix seconds, as the JSON body does.
pub(super) fn seconds(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// The bound `b` such that a stored time `c` (whole seconds) is strictly before `t` exactly
/// when `c < b`.
pub(super) fn seconds_before(t: DateTime<Utc>) -> i64 {
    if t.timestamp_subsec_nanos() > 0 {
        t.timestamp().saturating_add(1)
    } else {
        t.timestamp()
    }
}

/// The JSON body of a record.
pub(super) fn body<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("a record does not serialize: {}", category(&e))))
}

/// A record read back from its JSON body. The error names the table and where the JSON broke,
/// never the JSON itself (it holds personal data).
pub(super) fn decode<T: DeserializeOwned>(table: &str, body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| {
        StoreError::Corrupt(format!(
            "a row of {table} holds unreadable JSON ({} at line {} column {})",
            category(&e),
            e.line(),
            e.column()
        ))
    })
}

/// What kind of JSON error it was, in words.
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "an I/O error",
        serde_json::error::Category::Syntax => "a syntax error",
        serde_json::error::Category::Data => "a field of the wrong shape",
        serde_json::error::Category::Eof => "an early end",
    }
}

/// The text a method's state is stored as (its serde name).
pub(super) fn state_text(state: MethodState) -> &'static str {
    match state {
        MethodState::Unattached => "unattached",
        MethodState::Attached => "attached",
        MethodState::Detached => "detached",
    }
}

/// What the store needs of a record kept in a versioned table.
pub(super) trait Stored: Serialize {
    /// Its statements.
    fn statements(sql: &Sql) -> &Statements;
    /// The values of the table's key columns.
    fn key(&self) -> Vec<Param>;
    /// The values of the table's other columns, in [`Table`] order.
    fn columns(&self) -> Result<Vec<Param>, StoreError>;
}

impl Stored for Customer {
    fn statements(sql: &Sql) -> &Statements {
        &sql.customers
    }
    fn key(&self) -> Vec<Param> {
        vec![Box::new(self.id.to_string())]
    }
    fn columns(&self) -> Result<Vec<Param>, StoreError> {
        Ok(vec![
            Box::new(self.livemode),
            Box::new(seconds(self.created)),
            Box::new(version(self.version)?),
            Box::new(self.email.as_deref().map(email_lookup_key)),
        ])
    }
}

impl Stored for StoredMethod {
    fn statements(sql: &Sql) -> &Statements {
        &sql.methods
    }
    fn key(&self) -> Vec<Param> {
        vec![Box::new(self.method.id.to_string())]
    }
    fn columns(&self) -> Result<Vec<Param>, StoreError> {
        let m = &self.method;
        Ok(vec![
            Box::new(m.livemode),
            Box::new(seconds(m.created)),
            Box::new(version(m.version)?),
            Box::new(m.customer_id.as_ref().map(ToString::to_string)),
            Box::new(state_text(self.state)),
            Box::new(m.fingerprint.as_str().to_owned()),
            Box::new(self.sealed.key_id.clone()),
        ])
    }
}

impl Stored for PaymentRecord {
    fn statements(sql: &Sql) -> &Statements {
        &sql.payments
    }
    fn key(&self) -> Vec<Param> {
        vec![Box::new(self.payment.id.to_string())]
    }
    fn columns(&self) -> Result<Vec<Param>, StoreError> {
        let p = &self.payment;
        Ok(vec![
            Box::new(p.livemode),
            Box::new(seconds(p.created)),
            Box::new(version(p.version)?),
            Box::new(p.customer_id.as_ref().map(ToString::to_string)),
            Box::new(p.status.as_str()),
            Box::new(self.pending_card.as_ref().map(|c| c.sealed.key_id.clone())),
        ])
    }
}

impl Stored for SetupRecord {
    fn statements(sql: &Sql) -> &Statements {
        &sql.setups
    }
    fn key(&self) -> Vec<Param> {
        vec![Box::new(self.setup.id.to_string())]
    }
    fn columns(&self) -> Result<Vec<Param>, StoreError> {
        let s = &self.setup;
        Ok(vec![
            Box::new(s.livemode),
            Box::new(seconds(s.created)),
            Box::new(version(s.version)?),
            Box::new(self.pending_card.as_ref().map(|c| c.sealed.key_id.clone())),
        ])
    }
}

impl Stored for EndpointRecord {
    fn statements(sql: &Sql) -> &Statements {
        &sql.endpoints
    }
    fn key(&self) -> Vec<Param> {
        vec![Box::new(self.endpoint.id.to_string())]
    }
    fn columns(&self) -> Result<Vec<Param>, StoreError> {
        let e = &self.endpoint;
        Ok(vec![
            Box::new(e.livemode),
            Box::new(seconds(e.created)),
            Box::new(version(self.version)?),
        ])
    }
}

impl Stored for IdempotencyRecord {
    fn statements(sql: &Sql) -> &Statements {
        &sql.idempotency
    }
    fn key(&self) -> Vec<Param> {
        vec![Box::new(self.scope.clone()), Box::new(self.key.clone())]
    }
    fn columns(&self) -> Result<Vec<Param>, StoreError> {
        Ok(vec![
            Box::new(seconds(self.created)),
            Box::new(version(self.version)?),
        ])
    }
}

/// One statement of a write set, with its parameters.
pub(super) struct Op {
    /// The statement text (a key of the connection's statement cache).
    pub(super) sql: &'static str,
    /// Its parameters.
    pub(super) params: Vec<Param>,
}

/// The statements of one kind's writes, in the order given.
pub(super) fn ops<T: Stored>(writes: &[Write<T>], out: &mut Vec<Op>) -> Result<(), StoreError> {
    let sql = T::statements(&SQL);
    for write in writes {
        let op = match write {
            Write::Insert(value) => {
                let mut params = value.key();
                params.extend(value.columns()?);
                params.push(Box::new(body(value)?));
                Op {
                    sql: &sql.insert,
                    params,
                }
            }
            Write::Update { expected, value } => {
                let mut params = value.key();
                params.extend(value.columns()?);
                params.push(Box::new(body(value)?));
                params.push(Box::new(version(*expected)?));
                Op {
                    sql: &sql.update,
                    params,
                }
            }
            Write::Delete { expected, value } => {
                let mut params = value.key();
                params.push(Box::new(version(*expected)?));
                Op {
                    sql: &sql.delete,
                    params,
                }
            }
            Write::Check { expected, value } => {
                let mut params = value.key();
                params.push(Box::new(version(*expected)?));
                Op {
                    sql: &sql.check,
                    params,
                }
            }
        };
        out.push(op);
    }
    Ok(())
}

/// The statement appending an event (its id must be new).
pub(super) fn event_op(event: &Event) -> Result<Op, StoreError> {
    Ok(Op {
        sql: &SQL.events.insert,
        params: vec![
            Box::new(event.id.to_string()),
            Box::new(event.livemode),
            Box::new(seconds(event.created)),
            Box::new(event.kind.as_str()),
            Box::new(body(event)?),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_bind_every_column_once_and_in_order() {
        let s = Statements::of(&PAYMENTS);
        assert_eq!(
            s.insert,
            "WITH w AS (INSERT INTO payments (id, livemode, created, version, customer_id, status, card_key_id, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING 1) SELECT vinr_guard(count(*)) FROM w"
        );
        assert_eq!(
            s.update,
            "WITH w AS (UPDATE payments SET livemode = $2, created = $3, version = $4, customer_id = $5, status = $6, \
             card_key_id = $7, body = $8 WHERE id = $1 AND version = $9 RETURNING 1) SELECT vinr_guard(count(*)) FROM w"
        );
        let i = Statements::of(&IDEMPOTENCY);
        assert_eq!(
            i.delete,
            "WITH w AS (DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND version = $3 \
             RETURNING 1) SELECT vinr_guard(count(*)) FROM w"
        );
        assert_eq!(
            i.check,
            "SELECT vinr_guard(count(*)) FROM (SELECT 1 FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 \
             AND version = $3 FOR SHARE) w"
        );
    }

    #[test]
    fn times_before_a_bound_compare_in_whole_seconds() {
        let t = |s: i64, n: u32| DateTime::from_timestamp(s, n).unwrap();
        assert_eq!(seconds_before(t(100, 0)), 100);
        assert_eq!(seconds_before(t(100, 1)), 101);
        assert_eq!(seconds(t(100, 999_999_999)), 100);
    }
}
