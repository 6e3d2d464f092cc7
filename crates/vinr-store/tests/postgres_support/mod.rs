//! What the PostgreSQL tests share: the `VINR_TEST_POSTGRES_URL` rule, and a fresh schema per
//! test.
//!
//! The rule: with the variable unset, a test prints a one-line notice and passes, unless
//! `CI=true`, where it fails (CI provides PostgreSQL, so a missing one is a broken run).
//! A set variable naming an unreachable server fails the test, in CI or not.
//! Each test works in its own schema `vinr_t_<random>`, so parallel tests and runs never
//! collide; the schema is dropped when the test's [`TestDb`] goes (even if the test failed).
#![allow(dead_code)]
// Test support: a failure fails the calling test by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tokio_postgres::{Client, NoTls};
use vinr_store::postgres::{PostgresOptions, PostgresStore};

/// The variable naming the test database.
pub(crate) const URL_VAR: &str = "VINR_TEST_POSTGRES_URL";

/// The test database's URL, or `None` (after a notice) when PostgreSQL tests skip here.
pub(crate) fn url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        Ok(_) | Err(_) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{URL_VAR} is not set, and CI=true: the PostgreSQL tests must run in CI");
            }
            eprintln!(
                "skipping a PostgreSQL test: set {URL_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
            );
            None
        }
    }
}

/// A raw client on the test database, for what the tests check behind the store's back.
pub(crate) async fn raw_client(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("{URL_VAR} is set but PostgreSQL cannot be reached: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A fresh schema on the test database, dropped when this goes.
pub(crate) struct TestDb {
    /// The database URL.
    pub(crate) url: String,
    /// The schema, `vinr_t_<random>`.
    pub(crate) schema: String,
    /// A raw client whose `search_path` is the schema.
    pub(crate) raw: Client,
}

impl TestDb {
    /// A fresh, empty schema, or `None` if PostgreSQL tests skip here.
    pub(crate) async fn new() -> Option<Self> {
        let url = url()?;
        Some(Self::create(url).await)
    }

    /// A fresh schema on the database at `url`.
    pub(crate) async fn create(url: String) -> Self {
        let schema = format!("vinr_t_{:016x}", rand::random::<u64>());
        let raw = raw_client(&url).await;
        raw.batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path = {schema}"
        ))
        .await
        .unwrap();
        Self { url, schema, raw }
    }

    /// The options of a store in this schema, with `pool_size` connections.
    pub(crate) fn options(&self, pool_size: usize) -> PostgresOptions {
        PostgresOptions {
            pool_size,
            schema: Some(self.schema.clone()),
        }
    }

    /// A store in this schema (a new pool each call).
    pub(crate) async fn store(&self) -> PostgresStore {
        self.store_with(4).await
    }

    /// A store in this schema with a pool of `pool_size` connections.
    pub(crate) async fn store_with(&self, pool_size: usize) -> PostgresStore {
        PostgresStore::connect_with(&self.url, self.options(pool_size))
            .await
            .unwrap_or_else(|e| panic!("connecting the store: {e}"))
    }

    /// `SELECT count(*)` of a table of the schema.
    pub(crate) async fn count(&self, table: &str) -> i64 {
        self.raw
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0)
    }

    /// Every table of the schema.
    pub(crate) async fn tables(&self) -> Vec<String> {
        self.raw
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
                &[&self.schema],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // On a thread of its own with its own runtime: this may run while a test's runtime
        // unwinds, and must not wait on it.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok((client, connection)) = tokio_postgres::connect(&url, NoTls).await else {
                    return;
                };
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                let _ = client
                    .batch_execute(&format!(
                        "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                    ))
                    .await;
            });
        });
        let _ = cleanup.join();
    }
}
