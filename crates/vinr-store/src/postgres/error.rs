//! What can go wrong opening the store, and how driver errors become [`StoreError`]s without
//! carrying what they must not (a password, row data).

use deadpool_postgres::PoolError;
use vinr_ports::store::StoreError;

/// Why [`PostgresStore::connect`](super::PostgresStore::connect) failed.
///
/// Messages never hold the connection string's password: every text that came from the driver
/// is scrubbed of it first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The connection string is not one the driver understands.
    #[error("not a usable PostgreSQL connection string: {0}")]
    InvalidUrl(String),
    /// The options are unusable (a pool of no connections, a schema name that is not a plain
    /// lower-case identifier).
    #[error("invalid PostgreSQL store options: {0}")]
    InvalidOptions(String),
    /// The server could not be reached, or refused the connection.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(String),
    /// Applying the embedded migrations failed; nothing of the failed migration was applied.
    #[error("migrating the PostgreSQL schema failed: {0}")]
    Migrate(String),
    /// The database was migrated by a newer VINR than this one.
    #[error("the database schema is at version {found}, newer than this build knows ({known})")]
    SchemaTooNew {
        /// The newest migration applied to the database.
        found: i64,
        /// The newest migration this build has.
        known: i64,
    },
}

/// Removes the connection string's password from texts that may echo it.
#[derive(Clone, Default)]
pub(super) struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Learns the password of a connection string in both its forms: URL
    /// (`postgres://user:secret@host`, `?password=secret`) and key-value (`password=secret`).
    /// Raw and percent-decoded spellings are both kept, since either may be echoed.
    pub(super) fn from_url(url: &str) -> Self {
        let mut r = Self::default();
        if let Some((_, rest)) = url.split_once("://") {
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@')
                && let Some((_, password)) = userinfo.split_once(':')
            {
                r.learn(password);
            }
        }
        for (i, _) in url.match_indices("password=") {
            let value = &url[i + "password=".len()..];
            let value = value.strip_prefix('\'').unwrap_or(value);
            let end = value.find(['&', ' ', '\'']).unwrap_or(value.len());
            r.learn(&value[..end]);
        }
        r
    }

    /// Learns one more secret (the password as the driver parsed it).
    pub(super) fn learn(&mut self, secret: &str) {
        for s in [secret.to_owned(), percent_decode(secret)] {
            if !s.is_empty() && !self.secrets.contains(&s) {
                self.secrets.push(s);
            }
        }
        // Longest first, so a secret containing another is removed whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` with every secret replaced by `***`.
    pub(super) fn clean(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "***");
        }
        out
    }
}

/// `%XX` escapes decoded (as bytes, read back as lossy UTF-8); anything else kept.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SQLSTATE of a failed version guard (raised by `vinr_guard`, see the first migration).
const GUARD_FAILED: &str = "VR409";

/// Whether a server error means "a concurrent change won": a failed version guard, a unique
/// key already taken, or the server breaking a deadlock or a serialization conflict between
/// two write sets. Each of these aborted the whole transaction, so nothing was applied.
pub(super) fn is_conflict(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|code| matches!(code.code(), GUARD_FAILED | "23505" | "40001" | "40P01"))
}

/// A short description of a driver error: the server's message and SQLSTATE (never its
/// `DETAIL`, which can quote row values), or the client-side failure.
pub(super) fn describe(e: &tokio_postgres::Error, redactor: &Redactor) -> String {
    let text = match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    redactor.clean(&text)
}

/// Whether a driver error means "the database cannot be reached right now", which a later
/// retry may cure: the connection was closed, reset or refused, a socket timed out, or the
/// server is shutting down, starting, out of connections or resources, or cancelled a
/// statement that ran too long (SQLSTATE classes 08, 53, 57 and 58, and `55P03`
/// `lock_not_available`). Anything else the server refused (a statement, a type) is not.
pub(super) fn is_transient(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            ["08", "53", "57", "58"]
                .iter()
                .any(|class| code.starts_with(class))
                || code == "55P03"
        }
        // Client side: a closed connection, or any failure of the socket under it.
        None => e.is_closed() || io_source(e).is_some(),
    }
}

/// The I/O error under a driver error, if any.
fn io_source(e: &tokio_postgres::Error) -> Option<&std::io::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}

/// A driver error met while reading or committing: a lost race is
/// [`StoreError::Conflict`], a database that cannot be reached [`StoreError::Unavailable`]
/// (HTTP 503 at the edge), anything else [`StoreError::Failed`] (HTTP 500).
pub(super) fn store_error(e: &tokio_postgres::Error, redactor: &Redactor) -> StoreError {
    if is_conflict(e) {
        StoreError::Conflict
    } else if is_transient(e) {
        StoreError::Unavailable(format!("PostgreSQL: {}", describe(e, redactor)))
    } else {
        StoreError::Failed(format!("PostgreSQL: {}", describe(e, redactor)))
    }
}

/// A connection that could not be had from the pool, as a [`StoreError`]: a wait or a
/// connection attempt that timed out, or a refused connection, is
/// [`StoreError::Unavailable`].
pub(super) fn pool_store_error(e: &PoolError, redactor: &Redactor) -> StoreError {
    let text = format!("PostgreSQL: {}", pool_error(e, redactor));
    match e {
        PoolError::Backend(b) if !is_transient(b) => StoreError::Failed(text),
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => StoreError::Failed(text),
        PoolError::Backend(_) | PoolError::Timeout(_) | PoolError::Closed => {
            StoreError::Unavailable(text)
        }
    }
}

/// A connection could not be had from the pool.
pub(super) fn pool_error(e: &PoolError, redactor: &Redactor) -> String {
    match e {
        PoolError::Backend(e) => describe(e, redactor),
        PoolError::Timeout(_) => "timed out waiting for a connection".to_owned(),
        PoolError::Closed => "the connection pool is closed".to_owned(),
        PoolError::NoRuntimeSpecified => "the connection pool has no runtime".to_owned(),
        PoolError::PostCreateHook(_) => "a new connection could not be set up".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_scrubbed_in_every_spelling() {
        let cases = [
            (
                "postgres://ada:s3cr%40t@db.example:5432/vinr",
                vec!["s3cr%40t", "s3cr@t"],
            ),
            (
                "postgresql://ada:pa:ss@host/db?sslmode=disable",
                vec!["pa:ss"],
            ),
            (
                "postgres://host/db?user=ada&password=hunter2&x=1",
                vec!["hunter2"],
            ),
            (
                "host=localhost user=ada password='long secret' dbname=v",
                vec!["long secret"],
            ),
            ("host=localhost password=plain dbname=v", vec!["plain"]),
        ];
        for (url, secrets) in cases {
            let r = Redactor::from_url(url);
            for s in secrets {
                let cleaned = r.clean(&format!("failed for {s} and {url}"));
                assert!(!cleaned.contains(s), "{url}: {cleaned}");
                assert!(cleaned.contains("***"), "{url}: {cleaned}");
            }
        }
        let none = Redactor::from_url("postgres://ada@host/db");
        assert_eq!(
            none.clean("postgres://ada@host/db"),
            "postgres://ada@host/db"
        );
    }
}
