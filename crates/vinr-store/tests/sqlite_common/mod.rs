//! What the SQLite test files share: fresh database paths under the system's temporary
//! directory (std only, no temp-dir crate).
//!
//! Every test directory lives under `vinr-sqlite-tests/` there. Tests that own their store
//! remove their directory through [`TempDir`]; the contract suite's stores are built by a
//! closure that can hand back nothing but the store, so their directories stay, and the first
//! use in a later run sweeps those older than an hour.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The parent of every test directory.
fn root() -> PathBuf {
    std::env::temp_dir().join("vinr-sqlite-tests")
}

/// Removes test directories left by earlier runs (older than an hour, so no running test
/// loses its files).
fn sweep_once() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        let Ok(entries) = std::fs::read_dir(root()) else {
            return;
        };
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if old {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// A fresh, empty directory: unique per process, name and call.
pub(crate) fn fresh_dir(name: &str) -> PathBuf {
    sweep_once();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = root().join(format!("{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path for a database file in a fresh directory (which is left behind; see the module
/// documentation).
pub(crate) fn temp_db(name: &str) -> PathBuf {
    fresh_dir(name).join("vinr.db")
}

/// A fresh directory removed when dropped.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory for one test.
    pub(crate) fn new(name: &str) -> Self {
        Self(fresh_dir(name))
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// The database file's path in it.
    pub(crate) fn db(&self) -> PathBuf {
        self.0.join("vinr.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) mod fixtures;
