//! Opening the store a database URL names: `sqlite://PATH` or `postgres://…`.
//!
//! This is how `vinr` (`--database-url`) turns one string into a running [`Store`] and the
//! [`ApiKeyStore`] on the same database, with the schema migrated.
//!
//! Accepted forms:
//! - `sqlite://vinr.db`, `sqlite://relative/path.db` (relative to the working directory) and
//!   `sqlite:///abs/path.db` (three slashes: an absolute path). The file is created if it is
//!   missing; its directory must exist. No query parameters.
//! - `postgres://user:password@host:5432/database` or `postgresql://…`, with whatever
//!   parameters `tokio-postgres` reads (`?sslmode=…` aside: connections are made without TLS).
//!
//! Nothing here ever shows a password: [`StoreUrl`]'s `Display` and `Debug`, and every error,
//! print the URL with its password replaced by `***` ([`redact_url`]); an unsupported URL is
//! named by its scheme only.
//!
//! ```
//! use vinr_store::open::StoreUrl;
//!
//! let url = StoreUrl::parse("postgres://vinr:s3cret@db.internal/vinr")?;
//! assert_eq!(url.to_string(), "postgres://vinr:***@db.internal/vinr");
//! assert!(StoreUrl::parse("mysql://root:s3cret@db").unwrap_err().to_string().contains("mysql"));
//! assert!(!StoreUrl::parse("mysql://root:s3cret@db").unwrap_err().to_string().contains("s3cret"));
//! # Ok::<(), vinr_store::open::StoreUrlError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use std::sync::Arc;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
use vinr_ports::delivery::DeliveryStore;
use vinr_ports::keys::ApiKeyStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use vinr_ports::store::Store;

/// The forms of database URL accepted, for error messages.
const ACCEPTED: &str = "expected `sqlite://PATH` (e.g. `sqlite://vinr.db`, \
    `sqlite:///var/lib/vinr/vinr.db`) or `postgres://USER:PASSWORD@HOST:PORT/DATABASE` \
    (`postgresql://` is accepted too)";

/// A parsed database URL. `Display` and `Debug` never show a password.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A SQLite database file.
    Sqlite {
        /// The file (relative paths are relative to the working directory).
        path: PathBuf,
    },
    /// A PostgreSQL database.
    Postgres {
        /// The whole URL as given, password included: pass it to the driver only.
        url: String,
    },
}

/// Why a database URL is not usable. Never holds a password (nor the URL itself, except its
/// scheme).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreUrlError {
    /// No `scheme://` at all.
    #[error("the database URL is not a URL; {ACCEPTED}")]
    NotAUrl,
    /// A scheme that is neither SQLite nor PostgreSQL.
    #[error("`{scheme}://` databases are not supported; {ACCEPTED}")]
    UnsupportedScheme {
        /// The scheme, as given (only if it looks like one; else `?`).
        scheme: String,
    },
    /// `sqlite://` with no path.
    #[error("the SQLite URL names no file; {ACCEPTED}")]
    EmptySqlitePath,
    /// `sqlite://…?…`: query parameters are not read, so they are refused rather than taken as
    /// part of the file name.
    #[error("SQLite URLs take no query parameters or fragments (`?`, `#`); {ACCEPTED}")]
    SqliteQuery,
    /// `sqlite://:memory:`: every connection would see its own empty database, and everything
    /// would be lost at exit.
    #[error(
        "an in-memory SQLite database cannot be served (it would lose everything at exit); name a file, e.g. `sqlite://vinr.db`"
    )]
    SqliteInMemory,
}

impl StoreUrl {
    /// Parses a database URL (see the [module documentation](self) for the forms).
    ///
    /// ```
    /// use std::path::Path;
    /// use vinr_store::open::StoreUrl;
    ///
    /// let StoreUrl::Sqlite { path } = StoreUrl::parse("sqlite:///var/lib/vinr.db")? else { panic!() };
    /// assert_eq!(path, Path::new("/var/lib/vinr.db"));
    /// let StoreUrl::Sqlite { path } = StoreUrl::parse("sqlite://data/vinr.db")? else { panic!() };
    /// assert_eq!(path, Path::new("data/vinr.db"));
    /// assert!(matches!(StoreUrl::parse("postgresql://h/db")?, StoreUrl::Postgres { .. }));
    /// assert!(StoreUrl::parse("vinr.db").is_err());
    /// # Ok::<(), vinr_store::open::StoreUrlError>(())
    /// ```
    pub fn parse(text: &str) -> Result<StoreUrl, StoreUrlError> {
        let text = text.trim();
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(StoreUrlError::NotAUrl);
        };
        let readable = !scheme.is_empty()
            && scheme.len() <= 32
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !readable {
            return Err(StoreUrlError::NotAUrl);
        }
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                if rest.is_empty() {
                    return Err(StoreUrlError::EmptySqlitePath);
                }
                if rest.contains(['?', '#']) {
                    return Err(StoreUrlError::SqliteQuery);
                }
                if rest == ":memory:" {
                    return Err(StoreUrlError::SqliteInMemory);
                }
                Ok(StoreUrl::Sqlite {
                    path: PathBuf::from(rest),
                })
            }
            "postgres" | "postgresql" => Ok(StoreUrl::Postgres {
                url: text.to_owned(),
            }),
            _ => Err(StoreUrlError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            }),
        }
    }

    /// The URL with its password replaced by `***`, for messages and logs.
    pub fn redacted(&self) -> String {
        match self {
            StoreUrl::Sqlite { path } => format!("sqlite://{}", path.display()),
            StoreUrl::Postgres { url } => redact_url(url),
        }
    }

    /// The SQLite file, if this is a SQLite URL.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            StoreUrl::Sqlite { path } => Some(path),
            StoreUrl::Postgres { .. } => None,
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreUrl").field(&self.redacted()).finish()
    }
}

/// `url` with the password of its user info (`user:password@`) and any `password=` parameter
/// replaced by `***`.
///
/// ```
/// use vinr_store::open::redact_url;
/// assert_eq!(redact_url("postgres://u:p%40ss@h:5432/db"), "postgres://u:***@h:5432/db");
/// assert_eq!(redact_url("postgres://h/db?user=u&password=x&sslmode=disable"),
///            "postgres://h/db?user=u&password=***&sslmode=disable");
/// assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
/// ```
pub fn redact_url(url: &str) -> String {
    let (head, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let mut out = head;
    // The last `@` ends the user info, even when the password holds `/`, `?` or `@`: hiding
    // too much in an odd URL is better than showing a password.
    let tail = match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            &rest[at..]
        }
        None => rest,
    };
    let mut remaining = tail;
    while let Some(i) = remaining.find("password=") {
        let value_start = i + "password=".len();
        out.push_str(&remaining[..value_start]);
        out.push_str("***");
        let after = &remaining[value_start..];
        let end = after.find(['&', '#']).unwrap_or(after.len());
        remaining = &after[end..];
    }
    out.push_str(remaining);
    out
}

/// Which database an [`OpenedStore`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// A SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Why the store could not be opened, inspected or closed. Never holds a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The SQLite file's directory does not exist (the file is created, its directory is not).
    #[error("cannot create the SQLite database {path}: its directory {dir} does not exist")]
    MissingDirectory {
        /// The database file.
        path: PathBuf,
        /// Its missing directory.
        dir: PathBuf,
    },
    /// SQLite refused.
    #[cfg(feature = "sqlite")]
    #[error("cannot open the SQLite database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: crate::sqlite::SqliteError,
    },
    /// PostgreSQL refused (the message is scrubbed of the password by the adapter).
    #[cfg(feature = "postgres")]
    #[error("cannot open the PostgreSQL database {url}: {source}")]
    Postgres {
        /// The URL, password redacted.
        url: String,
        /// What went wrong.
        #[source]
        source: crate::postgres::PostgresError,
    },
    /// The URL names a database this build was compiled without.
    #[error("this build has no {0} support")]
    NotBuilt(&'static str),
    /// Reading the schema's migrations failed.
    #[error("cannot read the schema version: {0}")]
    Schema(String),
}

/// One applied migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// Its version (they are applied in increasing order).
    pub version: i64,
    /// What it does.
    pub name: String,
}

/// The migrations a database has had.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaState {
    /// Every applied migration, oldest first.
    pub applied: Vec<AppliedMigration>,
}

impl SchemaState {
    /// The schema's version: the newest migration applied (0 for none).
    pub fn version(&self) -> i64 {
        self.applied.last().map_or(0, |m| m.version)
    }
}

impl fmt::Display for SchemaState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "schema version {}", self.version())?;
        for m in &self.applied {
            write!(f, "\n  {:>3}  {}", m.version, m.name)?;
        }
        Ok(())
    }
}

/// An open store: the [`Store`] and the [`ApiKeyStore`] (one object behind both), migrated.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub struct OpenedStore {
    /// Where everything is kept.
    pub store: Arc<dyn Store>,
    /// The API keys, on the same database.
    pub keys: Arc<dyn ApiKeyStore>,
    /// The webhook outbox's deliveries, on the same database.
    pub deliveries: Arc<dyn DeliveryStore>,
    backend: Backend,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
enum Backend {
    #[cfg(feature = "sqlite")]
    Sqlite(crate::sqlite::SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres {
        store: crate::postgres::PostgresStore,
        url: String,
    },
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl fmt::Debug for OpenedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(s) => f.debug_tuple("OpenedStore").field(s).finish(),
            #[cfg(feature = "postgres")]
            Backend::Postgres { store, .. } => f.debug_tuple("OpenedStore").field(store).finish(),
        }
    }
}

/// Opens (creating a SQLite file if missing) and migrates the database `url` names.
///
/// ```
/// use vinr_store::open::{StoreUrl, open};
///
/// # let dir = std::env::temp_dir().join(format!("vinr-open-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # rt.block_on(async {
/// let url = StoreUrl::parse(&format!("sqlite://{}", dir.join("vinr.db").display()))?;
/// let opened = open(&url).await?;
/// assert!(opened.sqlite_path().is_some());
/// assert!(opened.schema_state().await?.version() >= 1);
/// assert!(opened.keys.list_keys().await?.is_empty());
/// opened.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub async fn open(url: &StoreUrl) -> Result<OpenedStore, OpenError> {
    match url {
        StoreUrl::Sqlite { path } => open_sqlite(path),
        StoreUrl::Postgres { url } => open_postgres(url).await,
    }
}

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &Path) -> Result<OpenedStore, OpenError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        return Err(OpenError::MissingDirectory {
            path: path.to_owned(),
            dir: dir.to_owned(),
        });
    }
    let store = crate::sqlite::SqliteStore::open(path).map_err(|source| OpenError::Sqlite {
        path: path.to_owned(),
        source,
    })?;
    Ok(OpenedStore {
        store: Arc::new(store.clone()),
        keys: Arc::new(store.clone()),
        deliveries: Arc::new(store.clone()),
        backend: Backend::Sqlite(store),
    })
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(_path: &Path) -> Result<OpenedStore, OpenError> {
    Err(OpenError::NotBuilt("SQLite"))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> Result<OpenedStore, OpenError> {
    let store = crate::postgres::PostgresStore::connect(url)
        .await
        .map_err(|source| OpenError::Postgres {
            url: redact_url(url),
            source,
        })?;
    // Every call answers within a time limit, so a database that stops answering turns into
    // `StoreError::Unavailable` (503) instead of a request that hangs.
    let bounded = crate::bounded::Bounded::new(store.clone());
    Ok(OpenedStore {
        store: Arc::new(bounded.clone()),
        keys: Arc::new(bounded.clone()),
        deliveries: Arc::new(bounded),
        backend: Backend::Postgres {
            store,
            url: url.to_owned(),
        },
    })
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_url: &str) -> Result<OpenedStore, OpenError> {
    Err(OpenError::NotBuilt("PostgreSQL"))
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl OpenedStore {
    /// Which database this is.
    pub fn kind(&self) -> StoreKind {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => StoreKind::Sqlite,
            #[cfg(feature = "postgres")]
            Backend::Postgres { .. } => StoreKind::Postgres,
        }
    }

    /// The SQLite database file (for what lives beside it, such as a vault key file); `None`
    /// for PostgreSQL.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(s) => Some(s.path()),
            #[cfg(feature = "postgres")]
            Backend::Postgres { .. } => None,
        }
    }

    /// The migrations the database has had (read from its `schema_migrations` table).
    pub async fn schema_state(&self) -> Result<SchemaState, OpenError> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(s) => sqlite_schema(s.path()),
            #[cfg(feature = "postgres")]
            Backend::Postgres { url, .. } => postgres_schema(url).await,
        }
    }

    /// Closes the store. SQLite: waits until every write already queued is committed, then
    /// closes every connection (checkpointing the WAL), for every clone of the store.
    /// PostgreSQL: drops this handle's pool (other clones keep theirs).
    pub fn close(self) -> Result<(), OpenError> {
        match self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(s) => {
                let path = s.path().to_owned();
                s.close()
                    .map_err(|source| OpenError::Sqlite { path, source })
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres { .. } => Ok(()),
        }
    }
}

#[cfg(feature = "sqlite")]
fn sqlite_schema(path: &Path) -> Result<SchemaState, OpenError> {
    use rusqlite::{Connection, OpenFlags};
    let failed = |e: rusqlite::Error| OpenError::Schema(e.to_string());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    let mut stmt = conn
        .prepare("SELECT version, name FROM schema_migrations ORDER BY version")
        .map_err(failed)?;
    let applied = stmt
        .query_map([], |row| {
            Ok(AppliedMigration {
                version: row.get(0)?,
                name: row.get(1)?,
            })
        })
        .map_err(failed)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed)?;
    Ok(SchemaState { applied })
}

/// Reads `schema_migrations` over a connection of its own (the store's pool is private),
/// driving the connection and the query together so no runtime task is spawned.
#[cfg(feature = "postgres")]
async fn postgres_schema(url: &str) -> Result<SchemaState, OpenError> {
    use std::future::Future as _;
    use std::pin::pin;
    use std::task::Poll;

    let password = postgres_password(url);
    let scrub = |e: tokio_postgres::Error| {
        let mut text = e.to_string();
        if let Some(p) = &password {
            text = text.replace(p.as_str(), "***");
        }
        OpenError::Schema(text)
    };
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(scrub)?;
    let mut connection = pin!(connection);
    let mut query = pin!(client.query(
        "SELECT version, name FROM schema_migrations ORDER BY version",
        &[],
    ));
    let rows = std::future::poll_fn(|cx| {
        if let Poll::Ready(rows) = query.as_mut().poll(cx) {
            return Poll::Ready(rows.map_err(scrub));
        }
        match connection.as_mut().poll(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(scrub(e))),
            Poll::Ready(Ok(())) => Poll::Ready(Err(OpenError::Schema(
                "the connection closed before the answer".to_owned(),
            ))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await?;
    let applied = rows
        .iter()
        .map(|row| {
            Ok(AppliedMigration {
                version: row.try_get(0)?,
                name: row.try_get(1)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(scrub)?;
    Ok(SchemaState { applied })
}

/// The password of a `postgres://` URL (as written and as the driver reads it), to scrub
/// from messages.
#[cfg(feature = "postgres")]
fn postgres_password(url: &str) -> Option<String> {
    let config: tokio_postgres::Config = url.parse().ok()?;
    config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_files() {
        let cases = [
            ("sqlite://vinr.db", "vinr.db"),
            ("sqlite://relative/path.db", "relative/path.db"),
            ("sqlite:///abs/path.db", "/abs/path.db"),
            ("SQLite://x.db", "x.db"),
            (" sqlite://spaced.db ", "spaced.db"),
        ];
        for (text, path) in cases {
            let url = StoreUrl::parse(text).unwrap();
            assert_eq!(url.sqlite_path(), Some(Path::new(path)), "{text}");
        }
        assert_eq!(
            StoreUrl::parse("sqlite://").unwrap_err(),
            StoreUrlError::EmptySqlitePath
        );
        assert_eq!(
            StoreUrl::parse("sqlite://x.db?mode=rwc").unwrap_err(),
            StoreUrlError::SqliteQuery
        );
        assert_eq!(
            StoreUrl::parse("sqlite://:memory:").unwrap_err(),
            StoreUrlError::SqliteInMemory
        );
    }

    #[test]
    fn postgres_urls_are_kept_whole_and_shown_without_password() {
        for text in [
            "postgres://vinr:hunter2@db:5432/vinr",
            "postgresql://vinr:hunter2@db/vinr?sslmode=disable",
        ] {
            let url = StoreUrl::parse(text).unwrap();
            assert_eq!(
                url,
                StoreUrl::Postgres {
                    url: text.to_owned()
                }
            );
            assert!(url.sqlite_path().is_none());
            for shown in [url.to_string(), format!("{url:?}"), url.redacted()] {
                assert!(!shown.contains("hunter2"), "{shown}");
                assert!(shown.contains("vinr:***@db"), "{shown}");
            }
        }
    }

    #[test]
    fn other_urls_are_refused_naming_the_accepted_forms_and_never_the_password() {
        for text in [
            "mysql://root:hunter2@db/x",
            "vinr.db",
            "root:hunter2@db",
            "http://x",
            "://hunter2",
            "",
        ] {
            let e = StoreUrl::parse(text).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(e.contains("sqlite://") && e.contains("postgres://"), "{e}");
        }
        assert_eq!(
            StoreUrl::parse("mysql://x").unwrap_err(),
            StoreUrlError::UnsupportedScheme {
                scheme: "mysql".to_owned()
            }
        );
    }

    #[test]
    fn redaction_covers_user_info_and_parameters() {
        assert_eq!(
            redact_url("postgres://a:b@h/d?password=c&x=1"),
            "postgres://a:***@h/d?password=***&x=1"
        );
        assert_eq!(redact_url("postgres://h/d"), "postgres://h/d");
        assert_eq!(redact_url("postgres://a:b:c@h"), "postgres://a:***@h");
        assert_eq!(redact_url("postgres://a:p@ss@h/d"), "postgres://a:***@h/d");
        assert_eq!(redact_url("postgres://a:p/s?s@h/d"), "postgres://a:***@h/d");
    }

    #[test]
    fn schema_state_displays_each_migration() {
        let s = SchemaState {
            applied: vec![
                AppliedMigration {
                    version: 1,
                    name: "tables".to_owned(),
                },
                AppliedMigration {
                    version: 2,
                    name: "api keys".to_owned(),
                },
            ],
        };
        assert_eq!(s.version(), 2);
        assert_eq!(
            s.to_string(),
            "schema version 2\n    1  tables\n    2  api keys"
        );
        assert_eq!(SchemaState::default().version(), 0);
    }
}
