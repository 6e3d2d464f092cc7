//! PostgreSQL for the tests that need it: the server of `VINR_TEST_POSTGRES_URL` (unset, a
//! test says so and passes, unless `CI=true`, where it fails), a schema or a database made per
//! test and dropped after it, and queries straight on the database.

use std::hash::{BuildHasher as _, Hasher as _};

/// The variable naming the test server's database.
pub const URL_VAR: &str = "VINR_TEST_POSTGRES_URL";

/// The URL of `VINR_TEST_POSTGRES_URL`, or `None` (with a notice) when it is unset outside CI.
pub fn postgres_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{URL_VAR} is not set, and CI=true: the PostgreSQL tests must run in CI"
            );
            eprintln!(
                "skipping a PostgreSQL test: set {URL_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
            );
            None
        }
    }
}

/// A random name suffix without a clock or a random crate: std's hasher keys are random.
pub fn random_suffix() -> String {
    format!(
        "{:x}{:016x}",
        std::process::id(),
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    )
}

/// Runs `f` on a fresh current-thread runtime.
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The text columns of every row of `sql` (one or more statements), run on `url`.
pub fn rows(url: &str, sql: &str) -> Vec<Vec<String>> {
    block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR} is set but PostgreSQL cannot be reached: {e}"));
        let driver = tokio::spawn(connection);
        let messages = client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = driver.await;
        messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or_default().to_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    })
}

/// Runs `sql` on `url`.
pub fn execute(url: &str, sql: &str) {
    rows(url, sql);
}

/// A schema made for the test (`<prefix>_<random>`), dropped when this goes.
pub struct Schema {
    base: String,
    name: String,
}

impl Schema {
    /// A new schema in the database of `base`.
    pub fn new(base: &str, prefix: &str) -> Schema {
        let name = format!("{prefix}_{}", random_suffix());
        execute(base, &format!("CREATE SCHEMA {name}"));
        Schema {
            base: base.to_owned(),
            name,
        }
    }

    /// The database URL whose connections work in this schema.
    pub fn url(&self) -> String {
        self.url_via(&self.base)
    }

    /// `url` (the same database, reached another way), its connections working in this schema.
    pub fn url_via(&self, url: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-c%20search_path%3D{}", self.name)
    }

    /// The text columns of every row of `sql`, run in this schema.
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        rows(
            &self.base,
            &format!("SET search_path = {}; {sql}", self.name),
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        execute(
            &self.base,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}
