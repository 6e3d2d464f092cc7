//! [`PostgresStore`]: the [`Store`] on PostgreSQL, for many `vinr serve` processes sharing one
//! database (feature `postgres`).
//!
//! ```no_run
//! use vinr_ports::Mode;
//! use vinr_ports::store::{PageRequest, Store};
//! use vinr_store::postgres::{PostgresOptions, PostgresStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::connect_with(
//!     "postgres://vinr@127.0.0.1:5432/vinr",
//!     PostgresOptions { schema: Some("vinr".into()), ..PostgresOptions::default() },
//! )
//! .await?;
//! let page = store.customers(Mode::Test, None, PageRequest::first(10)).await?;
//! # let _ = page;
//! # Ok(())
//! # }
//! ```
//!
//! # Driver
//! `tokio-postgres` with a `deadpool-postgres` pool, chosen over `sqlx` by measuring both on
//! the payment write set (payment, event and idempotency record in one transaction, this
//! schema): with 16 concurrent writers it committed about 2,600 write sets/s against sqlx's
//! 1,800 (p50 5.0 ms against 7.4 ms); one writer at a time, the two were within the noise
//! of the shared machine measured on (tokio-postgres had the best runs).
//! What makes the difference is pipelining: `tokio-postgres` sends a whole write set, `BEGIN`
//! to `COMMIT`, in one round trip, where a `sqlx` transaction waits for each of its five
//! statements; across a network each saved round trip is a fraction of a millisecond per
//! write set. It is also the leaner build.
//! Connections are made without TLS (`NoTls`), which suits a database on the same host or a
//! private network; TLS to a remote PostgreSQL is a later addition.
//!
//! # Schema
//! Embedded migrations (`migrations/*.sql`) are applied on connect, recorded in
//! `schema_migrations`, under a transaction-level advisory lock so that servers starting
//! together migrate once.
//! [`PostgresOptions::schema`] keeps every table in a schema of its own (the connections'
//! `search_path`), which is how several stores (or test runs) share one database.
//! One table per kind of object (`customers`, `payment_methods`, `payments`, `setups`,
//! `webhook_endpoints`, `events`, `idempotency_keys`) holds the record as JSON text in `body`
//! beside the columns that lists, filters and guards read: `id`, `seq` (an identity column:
//! insertion order), `livemode`, `created` (Unix seconds), `version`, and per kind the email
//! look-up key, customer, method state, fingerprint, payment status, event type and the
//! sealing key id of a vaulted card.
//! Lists are newest first by `(created, seq)`; a `starting_after` cursor is the
//! `(created, seq)` of the object it names (in one query with the page), so every page is an
//! index range scan and never an `OFFSET`.
//! Idempotency records are keyed by `(scope, idempotency_key)`: the primary key is the unique
//! index on which two racing processes settle which one reserved a key.
//! Secret API keys (the [`ApiKeyStore`](vinr_ports::keys::ApiKeyStore) port, migration 2) are
//! kept hashed in `api_keys`, as plain columns: `id`, the unique `hash`, `mode`, `prefix`,
//! `created` and `revoked` (Unix seconds), listed oldest first by `(created, seq)`.
//! Webhook deliveries (the [`DeliveryStore`](vinr_ports::delivery::DeliveryStore) port,
//! migration 3) use the events table as their outbox: `events.fanned_out` (with the partial
//! index `events_to_fan_out` on `seq` of the events not fanned out yet), `deliveries` (one row
//! per event and endpoint, keyed by both: status, `next_at`, the lease's `leased_until` and the
//! attempt count, times in Unix microseconds; the partial index `deliveries_due` on
//! `(next_at, seq)` of the pending ones is the claims' work list) and `delivery_attempts` (one
//! row per attempt). Purging an event deletes its deliveries and attempts by cascade.
//! Fan-out and claims lock with `FOR UPDATE SKIP LOCKED`, so servers sharing the database take
//! disjoint work and never send one delivery twice within a lease; see `delivery.rs`.
//!
//! # The write path
//! A write set is one `READ COMMITTED` transaction sent in a single flight: `BEGIN`, one
//! guarded statement per write and per event, and `COMMIT`, pipelined on one connection.
//! Every statement fails the transaction unless it touched exactly one row: an insert whose
//! key is taken (`ON CONFLICT DO NOTHING` wrote nothing), an update or delete whose
//! `WHERE version = expected` matched nothing, a check (`SELECT … FOR SHARE`) that found
//! another version.
//! The failure aborts the transaction, so the `COMMIT` behind it rolls back, and the store
//! answers [`StoreError::Conflict`]; so does a deadlock or serialization failure the server
//! broke between two write sets.
//! A check's share lock orders the write set against a concurrent change of the object it
//! used (a charge against a detach of its method) until commit.
//! Statements are prepared once per connection (`prepare_cached`); a write set on a warm
//! connection is one round trip, plus one the first time the connection meets a statement.
//! A database that cannot be reached (a connection refused, reset or timed out, a server
//! shutting down or out of connections) is [`StoreError::Unavailable`]; any other error the
//! server answers is [`StoreError::Failed`]; both with the connection string's password
//! scrubbed from the message.
//!
//! # Time bounds
//! A database that refuses connections is noticed at once; one that does not answer is
//! noticed within [`CONNECT_TIMEOUT`] (TCP, 2 s) and [`CREATE_TIMEOUT`] (a whole new
//! connection, 3 s); a request waits at most [`POOL_WAIT_TIMEOUT`] (3 s) for a connection of a
//! full pool. A statement on a connection that stops answering is bounded by the caller:
//! `vinr_store::open` wraps the store in [`Bounded`](crate::bounded::Bounded), which gives
//! every store call [`OPERATION_TIMEOUT`](crate::bounded::OPERATION_TIMEOUT).
//!
//! # Test support
//! [`PostgresStore::fail_next_before_commit`] sends the next write sets' statements and then
//! rolls them back instead of committing, as a crash before `COMMIT` would.

mod codec;
mod delivery;
mod error;
mod keys;
mod migrations;
mod pipeline;

use std::fmt;
use std::future::Future as _;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use serde::de::DeserializeOwned;
use tokio_postgres::config::Host;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row, Statement};
use vinr_domain::customer::{Customer, email_lookup_key};
use vinr_domain::event::EventType;
use vinr_domain::ids::{
    CustomerId, EventId, PaymentId, PaymentMethodId, SetupId, WebhookEndpointId,
};
use vinr_domain::method::{Fingerprint, MethodState, SealedCard, StoredMethod};
use vinr_domain::payment::{PaymentRecord, PaymentStatus};
use vinr_domain::setup::SetupRecord;
use vinr_domain::webhook::EndpointRecord;
use vinr_ports::Mode;
use vinr_ports::event::Event;
use vinr_ports::store::{
    CardOwner, IdempotencyRecord, Page, PageRequest, SealedCardRef, Store, StoreError, WriteSet,
};

use self::codec::{
    CUSTOMERS, ENDPOINTS, EVENTS, IDEMPOTENCY, METHODS, PAYMENTS, Param, SETUPS, Table, decode,
    seconds_before, state_text,
};
pub use self::error::PostgresError;
use self::error::{Redactor, pool_error, pool_store_error, store_error};
use self::pipeline::{Flight, Sent};

/// How long opening a TCP connection to the server may take (unless the connection string
/// sets `connect_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long making a new connection may take in all (TCP, start-up and authentication).
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a request may wait for a free connection of a full pool.
pub const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long checking a pooled connection before reuse may take.
const RECYCLE_TIMEOUT: Duration = Duration::from_secs(2);

/// How to open a [`PostgresStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// At most this many connections (at least 1).
    pub pool_size: usize,
    /// The schema that holds the store's tables, created if missing; `None` uses the
    /// connection's default (`public`, usually). A plain lower-case identifier
    /// (`[a-z_][a-z0-9_]*`, at most 63 bytes).
    pub schema: Option<String>,
}

impl Default for PostgresOptions {
    /// 16 connections, the default schema.
    fn default() -> Self {
        Self {
            pool_size: 16,
            schema: None,
        }
    }
}

/// The PostgreSQL store: a pool of connections to one database (and schema).
///
/// Cheap to clone: clones share the pool. Any number of stores, in any number of processes,
/// may work on one database: every guard is checked by the database inside the write set's
/// transaction.
/// `Debug` shows the schema and the pool's state, never the connection string.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    schema: Option<String>,
    redactor: Redactor,
    /// How many of the next commits to roll back instead (test support).
    fail_next: AtomicUsize,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.inner.pool.status();
        f.debug_struct("PostgresStore")
            .field("schema", &self.inner.schema)
            .field("connections", &status.size)
            .field("idle", &status.available)
            .field("max_connections", &status.max_size)
            .finish()
    }
}

impl PostgresStore {
    /// Connects with [`PostgresOptions::default`] and applies the embedded migrations.
    ///
    /// `url` is a `postgres://` URL or a key-value connection string, as `tokio-postgres`
    /// reads them.
    pub async fn connect(url: &str) -> Result<Self, PostgresError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects with these options, creates the schema if it is missing, and applies the
    /// embedded migrations that it lacks.
    ///
    /// Errors never hold the password of `url`.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, PostgresError> {
        let mut redactor = Redactor::from_url(url);
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e: tokio_postgres::Error| {
                PostgresError::InvalidUrl(redactor.clean(&e.to_string()))
            })?;
        if let Some(password) = config.get_password() {
            redactor.learn(&String::from_utf8_lossy(password));
        }
        if options.pool_size == 0 {
            return Err(PostgresError::InvalidOptions(
                "the pool needs at least one connection".to_owned(),
            ));
        }
        if let Some(schema) = &options.schema {
            check_schema_name(schema)?;
            let set = format!("-c search_path={schema}");
            let all = match config.get_options() {
                Some(given) if !given.trim().is_empty() => format!("{given} {set}"),
                Some(_) | None => set,
            };
            config.options(all);
        }
        if config.get_application_name().is_none() {
            config.application_name("vinr");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let at = server_names(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .create_timeout(Some(CREATE_TIMEOUT))
            .recycle_timeout(Some(RECYCLE_TIMEOUT))
            .build()
            .map_err(|e| PostgresError::InvalidOptions(redactor.clean(&e.to_string())))?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| PostgresError::Connect(format!("{at}: {}", pool_error(&e, &redactor))))?;
        migrations::apply(&mut client, options.schema.as_deref(), &redactor).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                schema: options.schema,
                redactor,
                fail_next: AtomicUsize::new(0),
            }),
        })
    }

    /// The schema holding the tables, if one was given.
    pub fn schema(&self) -> Option<&str> {
        self.inner.schema.as_deref()
    }

    /// Test support: the next `n` write sets are sent as usual (every statement runs in its
    /// transaction), then rolled back instead of committed, and the commit answers
    /// `StoreError::Unavailable("injected")`, as a crash or lost connection just before
    /// `COMMIT` would. Later commits behave normally. Calling it again replaces the count.
    pub fn fail_next_before_commit(&self, n: usize) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    /// Whether this commit is one of the injected failures (and counts it).
    fn take_injected_failure(&self) -> bool {
        self.inner
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn error(&self, e: &tokio_postgres::Error) -> StoreError {
        store_error(e, &self.inner.redactor)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| pool_store_error(&e, &self.inner.redactor))
    }

    async fn prepare(&self, client: &Object, sql: &str) -> Result<Statement, StoreError> {
        client.prepare_cached(sql).await.map_err(|e| self.error(&e))
    }

    /// The rows of one statement.
    async fn rows(&self, sql: &str, params: &[Param]) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let statement = self.prepare(&client, sql).await?;
        client
            .query(&statement, &refs(params))
            .await
            .map_err(|e| self.error(&e))
    }

    /// The object with this id in this mode.
    async fn by_id<T: DeserializeOwned>(
        &self,
        table: &Table,
        mode: Mode,
        id: String,
    ) -> Result<Option<T>, StoreError> {
        let sql = format!(
            "SELECT body FROM {} WHERE id = $1 AND livemode = $2",
            table.name
        );
        let rows = self
            .rows(&sql, &[Box::new(id), Box::new(mode.livemode())])
            .await?;
        Ok(bodies(table.name, &rows)?.into_iter().next())
    }

    /// A page of the objects of `mode` whose columns equal `filters`, newest first.
    ///
    /// With a cursor, one query finds the cursor's `(created, seq)` and the page after it: no
    /// row at all means the cursor names no object of this kind and mode; one row without a
    /// body means an empty page.
    async fn page<T: DeserializeOwned>(
        &self,
        table: &Table,
        mode: Mode,
        filters: Vec<(&'static str, Param)>,
        limit: usize,
        after: Option<String>,
    ) -> Result<Page<T>, StoreError> {
        let t = table.name;
        let mut params: Vec<Param> = vec![Box::new(mode.livemode())];
        let mut conditions = String::new();
        for (column, value) in filters {
            params.push(value);
            conditions.push_str(&format!(" AND {column} = ${}", params.len()));
        }
        params.push(Box::new(
            i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX),
        ));
        let n = params.len();
        let with_cursor = after.is_some();
        let sql = match after {
            None => format!(
                "SELECT body FROM {t} WHERE livemode = $1{conditions} ORDER BY created DESC, seq DESC LIMIT ${n}"
            ),
            Some(cursor) => {
                params.push(Box::new(cursor));
                let c = params.len();
                format!(
                    "SELECT p.body FROM (SELECT created, seq FROM {t} WHERE id = ${c} AND livemode = $1) c \
                     LEFT JOIN LATERAL (SELECT body, created, seq FROM {t} \
                     WHERE livemode = $1{conditions} AND (created, seq) < (c.created, c.seq) \
                     ORDER BY created DESC, seq DESC LIMIT ${n}) p ON true \
                     ORDER BY p.created DESC, p.seq DESC"
                )
            }
        };
        let rows = self.rows(&sql, &params).await?;
        if with_cursor && rows.is_empty() {
            return Err(StoreError::CursorNotFound);
        }
        let mut items = bodies(t, &rows)?;
        let has_more = items.len() > limit;
        items.truncate(limit);
        Ok(Page { items, has_more })
    }
}

/// Parameters as the driver takes them.
fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect()
}

/// The records in the first column of `rows` (`NULL`s skipped).
fn bodies<T: DeserializeOwned>(table: &str, rows: &[Row]) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let body: Option<String> = row
            .try_get(0)
            .map_err(|_| StoreError::Corrupt(format!("a row of {table} has no readable body")))?;
        if let Some(body) = body {
            out.push(decode(table, &body)?);
        }
    }
    Ok(out)
}

/// Accepts a plain lower-case identifier, which needs no quoting in SQL nor in `search_path`.
fn check_schema_name(schema: &str) -> Result<(), PostgresError> {
    let mut chars = schema.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    if plain {
        Ok(())
    } else {
        Err(PostgresError::InvalidOptions(format!(
            "the schema name {schema:?} is not a plain lower-case identifier ([a-z_][a-z0-9_]*, at most 63 bytes)"
        )))
    }
}

/// `host:port` of every server the configuration names, for error messages.
fn server_names(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let names: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    if names.is_empty() {
        "the default server".to_owned()
    } else {
        names.join(", ")
    }
}

/// An explicit transaction spanning several flights. Dropped before it ended (the caller's
/// future was dropped between flights, or an error returned early), it queues a `ROLLBACK` on
/// the connection, as `tokio-postgres`'s own transactions do, so the connection goes back to
/// the pool outside any transaction.
struct Open<'a> {
    client: &'a Object,
    ended: bool,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if !self.ended {
            // The first poll queues the request; its answer is not awaited.
            let mut rollback = pin!(self.client.batch_execute("ROLLBACK"));
            let _ = rollback
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn customer(&self, mode: Mode, id: &CustomerId) -> Result<Option<Customer>, StoreError> {
        self.by_id(&CUSTOMERS, mode, id.to_string()).await
    }

    async fn customers(
        &self,
        mode: Mode,
        email: Option<String>,
        page: PageRequest<CustomerId>,
    ) -> Result<Page<Customer>, StoreError> {
        let filters: Vec<(&'static str, Param)> = match email {
            Some(email) => vec![("email_key", Box::new(email_lookup_key(&email)))],
            None => vec![],
        };
        let after = page.starting_after.map(|c| c.to_string());
        self.page(&CUSTOMERS, mode, filters, page.limit, after)
            .await
    }

    async fn method(
        &self,
        mode: Mode,
        id: &PaymentMethodId,
    ) -> Result<Option<StoredMethod>, StoreError> {
        self.by_id(&METHODS, mode, id.to_string()).await
    }

    async fn customer_methods(
        &self,
        mode: Mode,
        customer: &CustomerId,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError> {
        let filters: Vec<(&'static str, Param)> = vec![
            ("customer_id", Box::new(customer.to_string())),
            ("state", Box::new(state_text(MethodState::Attached))),
        ];
        let after = page.starting_after.map(|c| c.to_string());
        self.page(&METHODS, mode, filters, page.limit, after).await
    }

    async fn method_by_fingerprint(
        &self,
        mode: Mode,
        customer: &CustomerId,
        fingerprint: &Fingerprint,
    ) -> Result<Option<StoredMethod>, StoreError> {
        let filters: Vec<(&'static str, Param)> = vec![
            ("customer_id", Box::new(customer.to_string())),
            ("state", Box::new(state_text(MethodState::Attached))),
            ("fingerprint", Box::new(fingerprint.as_str().to_owned())),
        ];
        let found = self.page(&METHODS, mode, filters, 1, None).await?;
        Ok(found.items.into_iter().next())
    }

    async fn attached_methods(
        &self,
        mode: Mode,
        page: PageRequest<PaymentMethodId>,
    ) -> Result<Page<StoredMethod>, StoreError> {
        let filters: Vec<(&'static str, Param)> =
            vec![("state", Box::new(state_text(MethodState::Attached)))];
        let after = page.starting_after.map(|c| c.to_string());
        self.page(&METHODS, mode, filters, page.limit, after).await
    }

    async fn payment(
        &self,
        mode: Mode,
        id: &PaymentId,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.by_id(&PAYMENTS, mode, id.to_string()).await
    }

    async fn payments(
        &self,
        mode: Mode,
        customer: Option<CustomerId>,
        status: Option<PaymentStatus>,
        page: PageRequest<PaymentId>,
    ) -> Result<Page<PaymentRecord>, StoreError> {
        let mut filters: Vec<(&'static str, Param)> = Vec::new();
        if let Some(customer) = customer {
            filters.push(("customer_id", Box::new(customer.to_string())));
        }
        if let Some(status) = status {
            filters.push(("status", Box::new(status.as_str())));
        }
        let after = page.starting_after.map(|c| c.to_string());
        self.page(&PAYMENTS, mode, filters, page.limit, after).await
    }

    async fn stuck_payments(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let rows = self
            .rows(
                "SELECT body FROM payments WHERE status = 'processing' AND created < $1 \
                 ORDER BY created, seq LIMIT $2",
                &[
                    Box::new(seconds_before(before)),
                    Box::new(i64::try_from(limit).unwrap_or(i64::MAX)),
                ],
            )
            .await?;
        bodies(PAYMENTS.name, &rows)
    }

    async fn setup(&self, mode: Mode, id: &SetupId) -> Result<Option<SetupRecord>, StoreError> {
        self.by_id(&SETUPS, mode, id.to_string()).await
    }

    async fn endpoint(
        &self,
        mode: Mode,
        id: &WebhookEndpointId,
    ) -> Result<Option<EndpointRecord>, StoreError> {
        self.by_id(&ENDPOINTS, mode, id.to_string()).await
    }

    async fn endpoints(
        &self,
        mode: Mode,
        page: PageRequest<WebhookEndpointId>,
    ) -> Result<Page<EndpointRecord>, StoreError> {
        let after = page.starting_after.map(|c| c.to_string());
        self.page(&ENDPOINTS, mode, Vec::new(), page.limit, after)
            .await
    }

    async fn event(&self, mode: Mode, id: &EventId) -> Result<Option<Event>, StoreError> {
        self.by_id(&EVENTS, mode, id.to_string()).await
    }

    async fn events(
        &self,
        mode: Mode,
        kind: Option<EventType>,
        page: PageRequest<EventId>,
    ) -> Result<Page<Event>, StoreError> {
        let filters: Vec<(&'static str, Param)> = match kind {
            Some(kind) => vec![("kind", Box::new(kind.as_str()))],
            None => vec![],
        };
        let after = page.starting_after.map(|c| c.to_string());
        self.page(&EVENTS, mode, filters, page.limit, after).await
    }

    async fn idempotency(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let rows = self
            .rows(
                "SELECT body FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2",
                &[Box::new(scope.to_owned()), Box::new(key.to_owned())],
            )
            .await?;
        Ok(bodies(IDEMPOTENCY.name, &rows)?.into_iter().next())
    }

    async fn commit(&self, writes: WriteSet) -> Result<(), StoreError> {
        let injected = self.take_injected_failure();
        // In the order the memory store checks them, so write sets lock rows in one order.
        let mut ops = Vec::new();
        codec::ops(&writes.customers, &mut ops)?;
        codec::ops(&writes.methods, &mut ops)?;
        codec::ops(&writes.payments, &mut ops)?;
        codec::ops(&writes.setups, &mut ops)?;
        codec::ops(&writes.endpoints, &mut ops)?;
        codec::ops(&writes.idempotency, &mut ops)?;
        for event in &writes.events {
            ops.push(codec::event_op(event)?);
        }
        let injected_failure = || StoreError::Unavailable("injected".to_owned());
        if ops.is_empty() {
            return if injected {
                Err(injected_failure())
            } else {
                Ok(())
            };
        }

        let client = self.client().await?;
        // Statements this connection has not prepared yet are prepared together, in one flight.
        let mut texts: Vec<&'static str> = ops.iter().map(|op| op.sql).collect();
        texts.sort_unstable();
        texts.dedup();
        let flights: Vec<Flight<'_, Statement>> = texts
            .iter()
            .map(|sql| Box::pin(client.prepare_cached(sql)) as Flight<'_, Statement>)
            .collect();
        let mut statements = Vec::with_capacity(texts.len());
        for (sql, prepared) in texts.iter().zip(pipeline::run(flights).await) {
            statements.push((*sql, prepared.map_err(|e| self.error(&e))?));
        }
        let mut bound = Vec::with_capacity(ops.len());
        for op in &ops {
            let statement = statements
                .iter()
                .find(|(sql, _)| *sql == op.sql)
                .map(|(_, s)| s)
                .ok_or_else(|| {
                    StoreError::Unavailable("a statement was not prepared".to_owned())
                })?;
            bound.push((statement, refs(&op.params)));
        }

        // One flight: BEGIN, every statement, and COMMIT (ROLLBACK if a statement could not
        // even be sent, or a failure is injected). A failed guard aborts the transaction, and
        // the COMMIT behind it then rolls back.
        let mut flights = vec![pipeline::command(
            &client,
            "BEGIN ISOLATION LEVEL READ COMMITTED",
        )];
        flights.extend(
            bound
                .iter()
                .map(|(statement, params)| pipeline::query(&client, statement, params)),
        );
        let end = |sent: bool| {
            let end = if sent && !injected {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            Some(pipeline::command(&client, end))
        };
        let answers = Sent::send(flights, end).await.answers().await;
        if injected {
            return Err(injected_failure());
        }
        // The first failure says what happened; the ones after it only say the transaction
        // was already aborted.
        match answers.iter().find_map(|a| a.as_ref().err()) {
            Some(e) => Err(self.error(e)),
            None => Ok(()),
        }
    }

    async fn cards_sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: usize,
    ) -> Result<Vec<SealedCardRef>, StoreError> {
        // `<` or `>` rather than `<>`, so each table's key-id index serves the scan.
        let rows = self
            .rows(
                "SELECT 0, body FROM payment_methods WHERE card_key_id < $1 OR card_key_id > $1 \
                 UNION ALL SELECT 1, body FROM payments WHERE card_key_id < $1 OR card_key_id > $1 \
                 UNION ALL SELECT 2, body FROM setups WHERE card_key_id < $1 OR card_key_id > $1 \
                 LIMIT $2",
                &[
                    Box::new(key_id.to_owned()),
                    Box::new(i64::try_from(limit).unwrap_or(i64::MAX)),
                ],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let (kind, body): (i32, String) = row
                .try_get(0)
                .and_then(|k| Ok((k, row.try_get(1)?)))
                .map_err(|_| StoreError::Corrupt("a sealed card row is unreadable".to_owned()))?;
            let card = match kind {
                0 => {
                    let m: StoredMethod = decode(METHODS.name, &body)?;
                    Some(SealedCardRef {
                        owner: CardOwner::Method(m.method.id),
                        sealed: m.sealed,
                    })
                }
                1 => {
                    let p: PaymentRecord = decode(PAYMENTS.name, &body)?;
                    p.pending_card.map(|c| SealedCardRef {
                        owner: CardOwner::Payment(p.payment.id),
                        sealed: c.sealed,
                    })
                }
                _ => {
                    let s: SetupRecord = decode(SETUPS.name, &body)?;
                    s.pending_card.map(|c| SealedCardRef {
                        owner: CardOwner::Setup(s.setup.id),
                        sealed: c.sealed,
                    })
                }
            };
            out.extend(card);
        }
        Ok(out)
    }

    async fn replace_sealed_card(
        &self,
        owner: &CardOwner,
        current: &SealedCard,
        resealed: SealedCard,
    ) -> Result<bool, StoreError> {
        let (table, id) = match owner {
            CardOwner::Method(id) => (&METHODS, id.to_string()),
            CardOwner::Payment(id) => (&PAYMENTS, id.to_string()),
            CardOwner::Setup(id) => (&SETUPS, id.to_string()),
        };
        let client = self.client().await?;
        let select = self
            .prepare(
                &client,
                &format!("SELECT body FROM {} WHERE id = $1 FOR UPDATE", table.name),
            )
            .await?;
        let update = self
            .prepare(
                &client,
                &format!(
                    "UPDATE {} SET body = $2, card_key_id = $3 WHERE id = $1",
                    table.name
                ),
            )
            .await?;

        // Flight 1: lock the row and read it.
        let mut open = Open {
            client: &client,
            ended: false,
        };
        let id_param: [&(dyn ToSql + Sync); 1] = [&id];
        let answers = pipeline::run(vec![
            pipeline::command(&client, "BEGIN ISOLATION LEVEL READ COMMITTED"),
            pipeline::query(&client, &select, &id_param),
        ])
        .await;
        let mut rows = Vec::new();
        for answer in answers {
            rows = answer.map_err(|e| self.error(&e))?;
        }
        let stored: Option<String> = match rows.first() {
            Some(row) => row.try_get(0).map_err(|_| {
                StoreError::Corrupt(format!("a row of {} has no readable body", table.name))
            })?,
            None => None,
        };

        // Swap the card in the record if it is still the one read; the version stays.
        let swapped = match (owner, stored) {
            (_, None) => None,
            (CardOwner::Method(_), Some(body)) => {
                let mut m: StoredMethod = decode(table.name, &body)?;
                (m.sealed == *current).then(|| {
                    m.sealed = resealed.clone();
                    codec::body(&m)
                })
            }
            (CardOwner::Payment(_), Some(body)) => {
                let mut p: PaymentRecord = decode(table.name, &body)?;
                match p.pending_card.as_mut() {
                    Some(card) if card.sealed == *current => {
                        card.sealed = resealed.clone();
                        Some(codec::body(&p))
                    }
                    Some(_) | None => None,
                }
            }
            (CardOwner::Setup(_), Some(body)) => {
                let mut s: SetupRecord = decode(table.name, &body)?;
                match s.pending_card.as_mut() {
                    Some(card) if card.sealed == *current => {
                        card.sealed = resealed.clone();
                        Some(codec::body(&s))
                    }
                    Some(_) | None => None,
                }
            }
        };

        // Flight 2: write it back and commit, or let go of the lock.
        let Some(new_body) = swapped.transpose()? else {
            let answers = pipeline::run(vec![pipeline::command(&client, "ROLLBACK")]).await;
            open.ended = true;
            for answer in answers {
                answer.map_err(|e| self.error(&e))?;
            }
            return Ok(false);
        };
        let key_id = resealed.key_id;
        let params: [&(dyn ToSql + Sync); 3] = [&id, &new_body, &key_id];
        let sent = Sent::send(vec![pipeline::query(&client, &update, &params)], |sent| {
            Some(pipeline::command(
                &client,
                if sent { "COMMIT" } else { "ROLLBACK" },
            ))
        })
        .await;
        open.ended = true;
        for answer in sent.answers().await {
            answer.map_err(|e| self.error(&e))?;
        }
        Ok(true)
    }

    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let statement = self
            .prepare(&client, "DELETE FROM idempotency_keys WHERE created < $1")
            .await?;
        client
            .execute(&statement, &[&seconds_before(before)])
            .await
            .map_err(|e| self.error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_must_be_plain_identifiers() {
        for ok in ["vinr", "vinr_t_0a9", "_x", &"a".repeat(63)] {
            assert_eq!(check_schema_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Vinr",
            "9a",
            "a-b",
            "a b",
            "a;drop",
            "\"a\"",
            &"a".repeat(64),
            "é",
        ] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_default_to_sixteen_connections_in_the_default_schema() {
        assert_eq!(
            PostgresOptions::default(),
            PostgresOptions {
                pool_size: 16,
                schema: None
            }
        );
    }

    #[tokio::test]
    async fn bad_urls_are_refused_without_echoing_the_password() {
        let got = PostgresStore::connect("postgres://ada:hunter2@host:notaport/db").await;
        let Err(e) = got else {
            panic!("a bad port was accepted")
        };
        assert!(matches!(e, PostgresError::InvalidUrl(_)), "{e:?}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let zero = PostgresOptions {
            pool_size: 0,
            schema: None,
        };
        let got = PostgresStore::connect_with("postgres://ada@localhost/db", zero).await;
        assert!(matches!(got, Err(PostgresError::InvalidOptions(_))));
        let bad_schema = PostgresOptions {
            pool_size: 1,
            schema: Some("Robert'); DROP TABLE".to_owned()),
        };
        let got = PostgresStore::connect_with("postgres://ada@localhost/db", bad_schema).await;
        assert!(matches!(got, Err(PostgresError::InvalidOptions(_))));
    }
}
