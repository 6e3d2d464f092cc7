//! What the store keeps of each kind of record: its table, the columns queries use (derived
//! from the record, so they can never disagree with its JSON), its version and its JSON.

use rusqlite::types::Value;
use vinr_domain::customer::{Customer, email_lookup_key};
use vinr_domain::method::{MethodState, StoredMethod};
use vinr_domain::payment::PaymentRecord;
use vinr_domain::setup::SetupRecord;
use vinr_domain::webhook::EndpointRecord;
use vinr_ports::event::Event;
use vinr_ports::store::{IdempotencyRecord, StoreError};

/// A kind of versioned record kept in its own table.
pub(super) trait Kind: Sized {
    /// The table.
    const TABLE: &'static str;
    /// The columns that name one record (`id`, or `scope, key`).
    const KEY: &'static [&'static str];
    /// The other columns written from the record, besides `version` and `body`, in the order
    /// [`Kind::columns`] gives their values.
    const COLUMNS: &'static [&'static str];
    /// The values of [`Kind::KEY`].
    fn key(&self) -> Vec<Value>;
    /// The values of [`Kind::COLUMNS`].
    fn columns(&self) -> Vec<Value>;
    /// The record's version.
    fn version(&self) -> u64;
    /// The record as JSON.
    fn to_json(&self) -> Result<String, serde_json::Error>;
    /// A record from its JSON.
    fn from_json(text: &str) -> Result<Self, serde_json::Error>;
}

/// A text value.
fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// A text value or NULL.
fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

/// A boolean as SQLite keeps it.
fn flag(b: bool) -> Value {
    Value::Integer(i64::from(b))
}

/// A method's state as its column holds it (the record's own wire name).
pub(super) fn state_text(state: MethodState) -> &'static str {
    match state {
        MethodState::Unattached => "unattached",
        MethodState::Attached => "attached",
        MethodState::Detached => "detached",
    }
}

/// A version as SQLite keeps it (an `INTEGER` is signed); a version past `i64::MAX` cannot
/// come from a `+1` per change.
pub(super) fn version_value(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version)
        .map_err(|_| StoreError::Unavailable("a version beyond the range of SQLite".to_owned()))
}

/// Why a stored JSON text does not read back, without quoting any of it (it holds personal
/// data).
pub(super) fn corrupt(table: &str, e: &serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!(
        "a row of `{table}` does not read back ({:?} error at line {}, column {})",
        e.classify(),
        e.line(),
        e.column()
    ))
}

/// Implements [`Kind::to_json`] and [`Kind::from_json`] for a concrete type (the trait cannot
/// name serde's bounds: serde is no direct dependency of this crate).
macro_rules! json {
    () => {
        fn to_json(&self) -> Result<String, serde_json::Error> {
            serde_json::to_string(self)
        }
        fn from_json(text: &str) -> Result<Self, serde_json::Error> {
            serde_json::from_str(text)
        }
    };
}

impl Kind for Customer {
    const TABLE: &'static str = "customers";
    const KEY: &'static [&'static str] = &["id"];
    const COLUMNS: &'static [&'static str] = &["livemode", "created", "email_key"];
    fn key(&self) -> Vec<Value> {
        vec![text(self.id.as_str())]
    }
    fn columns(&self) -> Vec<Value> {
        vec![
            flag(self.livemode),
            Value::Integer(self.created.timestamp()),
            self.email
                .as_deref()
                .map_or(Value::Null, |e| Value::Text(email_lookup_key(e))),
        ]
    }
    fn version(&self) -> u64 {
        self.version
    }
    json!();
}

impl Kind for StoredMethod {
    const TABLE: &'static str = "methods";
    const KEY: &'static [&'static str] = &["id"];
    const COLUMNS: &'static [&'static str] = &[
        "livemode",
        "created",
        "customer_id",
        "state",
        "fingerprint",
        "card_key_id",
    ];
    fn key(&self) -> Vec<Value> {
        vec![text(self.method.id.as_str())]
    }
    fn columns(&self) -> Vec<Value> {
        vec![
            flag(self.method.livemode),
            Value::Integer(self.method.created.timestamp()),
            opt_text(self.method.customer_id.as_ref().map(|c| c.as_str())),
            text(state_text(self.state)),
            text(self.method.fingerprint.as_str()),
            text(&self.sealed.key_id),
        ]
    }
    fn version(&self) -> u64 {
        self.method.version
    }
    json!();
}

impl Kind for PaymentRecord {
    const TABLE: &'static str = "payments";
    const KEY: &'static [&'static str] = &["id"];
    const COLUMNS: &'static [&'static str] = &[
        "livemode",
        "created",
        "customer_id",
        "status",
        "card_key_id",
    ];
    fn key(&self) -> Vec<Value> {
        vec![text(self.payment.id.as_str())]
    }
    fn columns(&self) -> Vec<Value> {
        vec![
            flag(self.payment.livemode),
            Value::Integer(self.payment.created.timestamp()),
            opt_text(self.payment.customer_id.as_ref().map(|c| c.as_str())),
            text(self.payment.status.as_str()),
            opt_text(self.pending_card.as_ref().map(|c| c.sealed.key_id.as_str())),
        ]
    }
    fn version(&self) -> u64 {
        self.payment.version
    }
    json!();
}

impl Kind for SetupRecord {
    const TABLE: &'static str = "setups";
    const KEY: &'static [&'static str] = &["id"];
    const COLUMNS: &'static [&'static str] = &["livemode", "created", "card_key_id"];
    fn key(&self) -> Vec<Value> {
        vec![text(self.setup.id.as_str())]
    }
    fn columns(&self) -> Vec<Value> {
        vec![
            flag(self.setup.livemode),
            Value::Integer(self.setup.created.timestamp()),
            opt_text(self.pending_card.as_ref().map(|c| c.sealed.key_id.as_str())),
        ]
    }
    fn version(&self) -> u64 {
        self.setup.version
    }
    json!();
}

impl Kind for EndpointRecord {
    const TABLE: &'static str = "endpoints";
    const KEY: &'static [&'static str] = &["id"];
    const COLUMNS: &'static [&'static str] = &["livemode", "created"];
    fn key(&self) -> Vec<Value> {
        vec![text(self.endpoint.id.as_str())]
    }
    fn columns(&self) -> Vec<Value> {
        vec![
            flag(self.endpoint.livemode),
            Value::Integer(self.endpoint.created.timestamp()),
        ]
    }
    fn version(&self) -> u64 {
        self.version
    }
    json!();
}

impl Kind for IdempotencyRecord {
    const TABLE: &'static str = "idempotency";
    const KEY: &'static [&'static str] = &["scope", "key"];
    const COLUMNS: &'static [&'static str] = &["created"];
    fn key(&self) -> Vec<Value> {
        vec![text(&self.scope), text(&self.key)]
    }
    fn columns(&self) -> Vec<Value> {
        vec![Value::Integer(self.created.timestamp())]
    }
    fn version(&self) -> u64 {
        self.version
    }
    json!();
}

/// Events are appended, never versioned; only their JSON is shared with [`Kind`].
pub(super) fn event_to_json(event: &Event) -> Result<String, serde_json::Error> {
    serde_json::to_string(event)
}

/// An event from its JSON.
pub(super) fn event_from_json(text: &str) -> Result<Event, serde_json::Error> {
    serde_json::from_str(text)
}

/// The four guarded statements of a kind, built once from its table and columns.
#[derive(Debug)]
pub(super) struct KindSql {
    /// `INSERT` of key, columns, version and body.
    pub(super) insert: String,
    /// `UPDATE` of columns, version and body where key and version match.
    pub(super) update: String,
    /// `DELETE` where key and version match.
    pub(super) delete: String,
    /// `SELECT 1` where key and version match.
    pub(super) check: String,
}

impl KindSql {
    /// The statements of `K`. Parameters: the key, then (insert, update) the columns, the new
    /// version and the body, then (update, delete, check) the expected version.
    pub(super) fn of<K: Kind>() -> Self {
        let table = K::TABLE;
        let key_match = K::KEY
            .iter()
            .map(|c| format!("{c} = ?"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut all: Vec<&str> = K::KEY.to_vec();
        all.extend(K::COLUMNS);
        all.extend(["version", "body"]);
        let marks = vec!["?"; all.len()].join(", ");
        let sets = K::COLUMNS
            .iter()
            .chain(&["version", "body"])
            .map(|c| format!("{c} = ?"))
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            insert: format!("INSERT INTO {table} ({}) VALUES ({marks})", all.join(", ")),
            // The key's parameters come last here: SET is written before WHERE.
            update: format!("UPDATE {table} SET {sets} WHERE {key_match} AND version = ?"),
            delete: format!("DELETE FROM {table} WHERE {key_match} AND version = ?"),
            check: format!("SELECT 1 FROM {table} WHERE {key_match} AND version = ?"),
        }
    }
}
