//! Where the vault's keys come from, and the CSRF key derived from them.
//!
//! In order:
//! 1. `VINR_VAULT_KEY` (comma-separated base64 keys, active first) and optionally
//!    `VINR_FINGERPRINT_KEY`, via `vault_from_env`. Fixed for the life of the process: rotating
//!    means restarting with a new list (see `vinr vault rotate`).
//! 2. `--vault-key-file PATH`, else, for SQLite, `<database>.vaultkey` beside the database:
//!    a [`KeyFile`], created with mode 0600 and a fresh key if missing. PostgreSQL has no
//!    database file, so without either it refuses to start (every server on the database must
//!    share the keys; a key made up by one would make cards unreadable to the others).
//!
//! A key file may change under a running server: `vinr vault rotate` puts a new active key
//! in it, re-encrypts every card, then retires the old keys. [`KeyFileVault`] therefore looks
//! at the file (one `stat`) before each use and reloads it when it changed, so a running
//! server seals with the new key as soon as it exists and opens cards re-encrypted under it.
//!
//! # The CSRF key
//! The hosted forms' CSRF tokens are signed with a key that must survive a restart (else every
//! form open in a buyer's browser fails with 403 after a deploy) and a rotation. It is derived,
//! with HMAC-SHA256 under a label of its own, from the vault's *root* key, which no rotation
//! changes: `VINR_FINGERPRINT_KEY` if set, else the last key of `VINR_VAULT_KEY` (the one the
//! fingerprint key is derived from, and which rotations keep); for a key file, its
//! fingerprint key. Knowing the CSRF key reveals nothing of the root key.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use vinr_domain::card::Pan;
use vinr_domain::method::{Fingerprint, SealedCard};
use vinr_ports::vault::{CardVault, VaultError};
use vinr_store::open::StoreUrl;
use vinr_store::vault::AesVault;
use vinr_store::vault::keys::{KeyFile, parse_key, vault_from_env};

use crate::cli::{Environment, Global};

/// The label of the CSRF key's derivation.
const CSRF_LABEL: &[u8] = b"vinr hosted-page csrf key v1";

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// `VINR_VAULT_KEY`.
    Environment,
    /// A key file.
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Environment => f.write_str("VINR_VAULT_KEY"),
            KeySource::File(p) => write!(f, "key file {}", p.display()),
        }
    }
}

/// Which key source the settings name, without touching it (so a server that could not
/// run is refused before it connects to anything).
pub(crate) fn key_source(
    global: &Global,
    env: &Environment,
    database: &StoreUrl,
) -> anyhow::Result<KeySource> {
    match (&env.vault_key, &global.vault_key_file) {
        (Some(_), Some(_)) => bail!(
            "both VINR_VAULT_KEY and --vault-key-file (VINR_VAULT_KEY_FILE) are set; use one of them"
        ),
        (Some(_), None) => Ok(KeySource::Environment),
        (None, Some(path)) => Ok(KeySource::File(path.clone())),
        (None, None) => match database.sqlite_path() {
            Some(db) => Ok(KeySource::File(KeyFile::beside(db))),
            None => bail!(
                "PostgreSQL needs vault keys that every server on the database shares, and has no \
                 database file to keep a key file beside: set VINR_VAULT_KEY (base64 of 32 random \
                 bytes, e.g. from `openssl rand -base64 32`) or pass --vault-key-file PATH"
            ),
        },
    }
}

/// The vault a server runs with, and its CSRF key.
pub(crate) struct Vault {
    /// The vault.
    pub(crate) vault: Arc<dyn CardVault>,
    /// The key of the hosted forms' CSRF tokens.
    pub(crate) csrf_key: [u8; 32],
    /// Where the keys come from.
    pub(crate) source: KeySource,
    /// Whether the key file was created just now.
    pub(crate) created: bool,
}

/// Loads the vault `source` names (creating a missing key file).
pub(crate) fn load(source: &KeySource, env: &Environment) -> anyhow::Result<Vault> {
    match source {
        KeySource::Environment => {
            let keys = env.vault_key.as_deref().unwrap_or_default();
            let vault = vault_from_env(keys, env.fingerprint_key.as_deref())
                .context("VINR_VAULT_KEY is not usable")?;
            Ok(Vault {
                vault: Arc::new(vault),
                csrf_key: csrf_key(&env_root(env)?),
                source: source.clone(),
                created: false,
            })
        }
        KeySource::File(path) => {
            let existed = path.exists();
            let file = KeyFile::load_or_create(path).context("the vault key file is not usable")?;
            let vault = file.vault().context("the vault key file is not usable")?;
            Ok(Vault {
                vault: Arc::new(KeyFileVault::new(path.clone(), vault, stamp(path))),
                csrf_key: csrf_key(&file_root(path)?),
                source: source.clone(),
                created: !existed,
            })
        }
    }
}

/// The root of `VINR_VAULT_KEY`: `VINR_FINGERPRINT_KEY`, else the list's last key.
fn env_root(env: &Environment) -> anyhow::Result<[u8; 32]> {
    if let Some(f) = &env.fingerprint_key {
        return parse_key(f).context("VINR_FINGERPRINT_KEY is not usable");
    }
    let keys = env.vault_key.as_deref().unwrap_or_default();
    let last = keys
        .split(',')
        .map(str::trim)
        .rfind(|k| !k.is_empty())
        .context("VINR_VAULT_KEY holds no key")?;
    parse_key(last).context("VINR_VAULT_KEY is not usable")
}

/// The root of a key file: its fingerprint key (its `fingerprint <base64>` line).
fn file_root(path: &Path) -> anyhow::Result<[u8; 32]> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read the vault key file {}", path.display()))?;
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint "))
        .with_context(|| {
            format!(
                "the vault key file {} has no fingerprint key",
                path.display()
            )
        })?;
    parse_key(line).context("the vault key file is not usable")
}

/// HMAC-SHA256(root, label).
fn csrf_key(root: &[u8; 32]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(root) else {
        return [0; 32];
    };
    mac.update(CSRF_LABEL);
    mac.finalize().into_bytes().into()
}

/// What identifies one version of the key file: every save renames a new file into place,
/// so the inode changes; size and modification time back it up.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&meta),
    })
}

/// A [`CardVault`] over a key file that reloads the file when it changes (see the module
/// documentation). A file that disappeared or became unreadable is not reloaded: the keys
/// already loaded stay in use, and a warning is logged.
pub(crate) struct KeyFileVault {
    path: PathBuf,
    current: RwLock<Loaded>,
}

struct Loaded {
    stamp: Option<Stamp>,
    vault: Arc<AesVault>,
}

impl KeyFileVault {
    fn new(path: PathBuf, vault: AesVault, stamp: Option<Stamp>) -> KeyFileVault {
        KeyFileVault {
            path,
            current: RwLock::new(Loaded {
                stamp,
                vault: Arc::new(vault),
            }),
        }
    }

    /// The vault of the file as it is now.
    fn vault(&self) -> Arc<AesVault> {
        let now = stamp(&self.path);
        {
            let loaded = self.current.read().unwrap_or_else(PoisonError::into_inner);
            if now.is_none() || loaded.stamp == now {
                return loaded.vault.clone();
            }
        }
        let mut loaded = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if loaded.stamp == now {
            return loaded.vault.clone();
        }
        // The file exists (it was just stat'ed), so this reads it rather than creating one.
        match KeyFile::load_or_create(&self.path).and_then(|f| f.vault()) {
            Ok(vault) => {
                tracing::info!(
                    file = %self.path.display(),
                    active_key = %vault.active_key_id(),
                    keys = vault.key_ids().count(),
                    "vault keys reloaded"
                );
                *loaded = Loaded {
                    stamp: now,
                    vault: Arc::new(vault),
                };
            }
            Err(e) => {
                tracing::warn!(
                    file = %self.path.display(),
                    error = %e,
                    "the vault key file changed but cannot be loaded; keeping the keys loaded before"
                );
                // Do not try again until it changes once more.
                loaded.stamp = now;
            }
        }
        loaded.vault.clone()
    }
}

impl CardVault for KeyFileVault {
    fn seal(&self, pan: &Pan) -> Result<SealedCard, VaultError> {
        self.vault().seal(pan)
    }

    fn open(&self, sealed: &SealedCard) -> Result<Pan, VaultError> {
        self.vault().open(sealed)
    }

    fn fingerprint(&self, pan: &Pan) -> Fingerprint {
        self.vault().fingerprint(pan)
    }

    fn active_key_id(&self) -> String {
        self.vault().active_key_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vinr-cli-vault-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn b64(bytes: [u8; 32]) -> String {
        // The standard alphabet, by hand: the tests need no base64 dependency.
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn a_key_file_vault_follows_rotation_of_its_file() {
        let dir = temp_dir("follow");
        let path = dir.join("vinr.db.vaultkey");
        let env = Environment::default();
        let loaded = load(&KeySource::File(path.clone()), &env).unwrap();
        assert!(loaded.created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let pan = Pan::parse("4242424242424242").unwrap();
        let sealed = loaded.vault.seal(&pan).unwrap();
        let first = loaded.vault.active_key_id();

        // Another process rotates the file: the running vault seals with the new key at once.
        let mut file = KeyFile::load_or_create(&path).unwrap();
        let new_id = file.rotate().unwrap();
        assert_eq!(loaded.vault.active_key_id(), new_id);
        assert_ne!(new_id, first);
        let resealed = file.vault().unwrap().seal(&pan).unwrap();
        file.retire_old_keys().unwrap();
        assert_eq!(loaded.vault.open(&resealed).unwrap(), pan);
        assert!(loaded.vault.open(&sealed).is_err());

        // The CSRF key outlives the rotation.
        let again = load(&KeySource::File(path.clone()), &env).unwrap();
        assert!(!again.created);
        assert_eq!(again.csrf_key, loaded.csrf_key);

        // A file that turns bad keeps the keys already loaded.
        fs::write(&path, "garbage\n").unwrap();
        assert_eq!(loaded.vault.open(&resealed).unwrap(), pan);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_csrf_key_of_env_keys_follows_the_root_key() {
        let a = b64([1; 32]);
        let b = b64([2; 32]);
        let f = b64([3; 32]);
        let env = |keys: &str, fp: Option<&str>| Environment {
            vault_key: Some(keys.to_owned()),
            fingerprint_key: fp.map(str::to_owned),
            ..Environment::default()
        };
        let csrf = |e: &Environment| load(&KeySource::Environment, e).unwrap().csrf_key;
        // A rotation puts a new key first and keeps the root last: the key stays.
        assert_eq!(csrf(&env(&a, None)), csrf(&env(&format!("{b},{a}"), None)));
        assert_ne!(csrf(&env(&a, None)), csrf(&env(&b, None)));
        assert_eq!(csrf(&env(&a, Some(&f))), csrf(&env(&b, Some(&f))));
        assert_ne!(csrf(&env(&a, None)), [1; 32]);
        assert!(load(&KeySource::Environment, &env("bm90", None)).is_err());
    }
}
