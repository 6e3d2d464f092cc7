//! The embedded migrations, applied when a store connects.
//!
//! One transaction holds a transaction-level advisory lock named after the schema, so servers
//! starting together on one database migrate it once: the others wait for the lock, then find
//! every migration recorded in `schema_migrations` and apply nothing.

use deadpool_postgres::Object;

use super::error::{PostgresError, Redactor, describe};

/// One migration: applied in `version` order, each at most once.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every migration of this build, oldest first.
/// A released migration is never edited: a change of the schema is a new entry.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tables",
        sql: include_str!("migrations/0001_tables.sql"),
    },
    Migration {
        version: 2,
        name: "api_keys",
        sql: include_str!("migrations/0002_api_keys.sql"),
    },
    Migration {
        version: 3,
        name: "deliveries",
        sql: include_str!("migrations/0003_deliveries.sql"),
    },
];

/// The newest migration this build knows.
pub(super) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Creates `schema` if it is missing and applies every migration not yet recorded there (in
/// the connection's current schema when `schema` is `None`). Returns how many were applied.
pub(super) async fn apply(
    client: &mut Object,
    schema: Option<&str>,
    redactor: &Redactor,
) -> Result<usize, PostgresError> {
    let failed = |e: tokio_postgres::Error| PostgresError::Migrate(describe(&e, redactor));
    let tx = client.transaction().await.map_err(failed)?;
    let lock = format!("vinr.migrations:{}", schema.unwrap_or(""));
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock])
        .await
        .map_err(failed)?;
    if let Some(schema) = schema {
        // The name was checked to be a plain lower-case identifier.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .map_err(failed)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    BIGINT PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(failed)?;
    let applied: Vec<i64> = tx
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(failed)?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(failed)?;
    if let Some(&found) = applied.last()
        && found > latest()
    {
        return Err(PostgresError::SchemaTooNew {
            found,
            known: latest(),
        });
    }
    let mut count = 0;
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        tx.batch_execute(m.sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await
        .map_err(failed)?;
        count += 1;
    }
    tx.commit().await.map_err(failed)?;
    Ok(count)
}
