//! Where vault keys come from: `VINR_VAULT_KEY` in production, a key file beside the database
//! in sandbox.
//!
//! `VINR_VAULT_KEY` holds one or more base64-encoded 32-byte keys separated by commas: the
//! first seals new cards, the others still open older ones (rotation puts a new key first and
//! keeps the old ones until `Engine::reencrypt_cards` has moved every card).
//! A key's id is derived from its bytes (`k_` and 12 hex digits of its SHA-256), so the same
//! key always has the same id wherever it is configured.
//! The fingerprint key must outlive every rotation (fingerprints of saved cards must keep
//! matching): it comes from `VINR_FINGERPRINT_KEY` when set, else it is derived from the
//! *last* key of the list, which is therefore the one key a rotation never removes.
//!
//! In sandbox, [`KeyFile`] keeps generated keys in a file created with mode 0600.
//!
//! ```
//! use base64::Engine as _;
//! use vinr_ports::vault::CardVault;
//! let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
//! let vault = vinr_store::vault::keys::vault_from_env(&key, None)?;
//! assert!(vault.active_key_id().starts_with("k_"));
//! # Ok::<(), vinr_store::vault::keys::KeyError>(())
//! ```

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use super::{AesVault, VaultKey};

/// The first line of a key file.
const KEY_FILE_HEADER: &str = "vinr-vault-keys v1";

/// Why keys could not be loaded. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key is not base64 of exactly 32 bytes.
    #[error("a vault key must be the base64 encoding of exactly 32 bytes")]
    Malformed,
    /// No key was given.
    #[error("no vault key is configured")]
    Missing,
    /// The key file is not one this version wrote.
    #[error("the vault key file {0} is not in the expected format")]
    BadFile(PathBuf),
    /// The key file could not be read or written.
    #[error("the vault key file {path} could not be used: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The keys do not form a vault (the same key twice).
    #[error("the vault keys are inconsistent: {0}")]
    Inconsistent(String),
}

/// Decodes one base64 key.
pub fn parse_key(text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = B64.decode(text.trim()).map_err(|_| KeyError::Malformed)?;
    bytes.try_into().map_err(|_| KeyError::Malformed)
}

/// The id of a key: `k_` and the first 12 hex digits of its SHA-256.
pub fn key_id(bytes: &[u8; 32]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("k_{hex}")
}

/// A fingerprint key derived from a root key (SHA-256 over a label and the key), so it equals
/// no encryption key.
fn derive_fingerprint_key(root: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"vinr fingerprint key v1\0");
    h.update(root);
    h.finalize().into()
}

/// Builds a vault from keys: the first seals, all open.
fn vault_from_keys(keys: &[[u8; 32]], fingerprint_key: [u8; 32]) -> Result<AesVault, KeyError> {
    let (active, older) = keys.split_first().ok_or(KeyError::Missing)?;
    let mut vault = AesVault::new(VaultKey::new(key_id(active), *active), fingerprint_key);
    for k in older {
        vault = vault
            .with_key(VaultKey::new(key_id(k), *k))
            .map_err(|e| KeyError::Inconsistent(e.to_string()))?;
    }
    Ok(vault)
}

/// The vault configured by `VINR_VAULT_KEY` (a comma-separated list of base64 keys, active
/// first) and, optionally, `VINR_FINGERPRINT_KEY`.
pub fn vault_from_env(
    vault_key: &str,
    fingerprint_key: Option<&str>,
) -> Result<AesVault, KeyError> {
    let keys: Vec<[u8; 32]> = vault_key
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(parse_key)
        .collect::<Result<_, _>>()?;
    let root = keys.last().ok_or(KeyError::Missing)?;
    let fingerprint = match fingerprint_key {
        Some(f) => parse_key(f)?,
        None => derive_fingerprint_key(root),
    };
    vault_from_keys(&keys, fingerprint)
}

/// A sandbox key file: generated keys kept beside the database, readable by its owner only.
///
/// Format (text): a header line, `fingerprint <base64>`, then `key <base64>` lines, active
/// first.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyFile {
    path: PathBuf,
    fingerprint: [u8; 32],
    keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("key_ids", &self.keys.iter().map(key_id).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl KeyFile {
    /// The key file that goes with a database file: `<database>.vaultkey`.
    pub fn beside(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push(".vaultkey");
        PathBuf::from(name)
    }

    /// Reads the key file, or creates it (mode 0600) with a fresh key and fingerprint key.
    pub fn load_or_create(path: &Path) -> Result<KeyFile, KeyError> {
        match fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = KeyFile {
                    path: path.to_owned(),
                    fingerprint: random_key(),
                    keys: vec![random_key()],
                };
                file.save(true)?;
                Ok(file)
            }
            Err(source) => Err(KeyError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn parse(path: &Path, text: &str) -> Result<KeyFile, KeyError> {
        let bad = || KeyError::BadFile(path.to_owned());
        let mut lines = text.lines();
        if lines.next() != Some(KEY_FILE_HEADER) {
            return Err(bad());
        }
        let mut fingerprint = None;
        let mut keys = Vec::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            match line.split_once(' ') {
                Some(("fingerprint", k)) => fingerprint = Some(parse_key(k)?),
                Some(("key", k)) => keys.push(parse_key(k)?),
                _ => return Err(bad()),
            }
        }
        match (fingerprint, keys.is_empty()) {
            (Some(fingerprint), false) => Ok(KeyFile {
                path: path.to_owned(),
                fingerprint,
                keys,
            }),
            _ => Err(bad()),
        }
    }

    /// Writes the file: to a temporary file with mode 0600, then renamed over the old one, so
    /// a crash never leaves half a key file.
    fn save(&self, create_new: bool) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: self.path.clone(),
            source,
        };
        let mut text = format!(
            "{KEY_FILE_HEADER}\nfingerprint {}\n",
            B64.encode(self.fingerprint)
        );
        for k in &self.keys {
            text.push_str(&format!("key {}\n", B64.encode(k)));
        }
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        if create_new && self.path.exists() {
            // Someone created it meanwhile: keep theirs, never overwrite keys.
            fs::remove_file(&tmp).map_err(io)?;
            return Err(KeyError::Inconsistent(
                "the key file appeared while being created".to_owned(),
            ));
        }
        fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(())
    }

    /// Adds a fresh key as the active one (the old ones stay, for opening), and saves.
    /// Returns the new key's id.
    pub fn rotate(&mut self) -> Result<String, KeyError> {
        let key = random_key();
        self.keys.insert(0, key);
        self.save(false)?;
        Ok(key_id(&key))
    }

    /// Drops every key but the active one (after re-encryption finished), and saves.
    pub fn retire_old_keys(&mut self) -> Result<(), KeyError> {
        self.keys.truncate(1);
        self.save(false)
    }

    /// The vault these keys make.
    pub fn vault(&self) -> Result<AesVault, KeyError> {
        vault_from_keys(&self.keys, self.fingerprint)
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn random_key() -> [u8; 32] {
    use rand::RngCore as _;
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use vinr_domain::card::Pan;
    use vinr_ports::vault::{CardVault, VaultError};

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vinr-keys-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir.join("vinr.db")
    }

    #[test]
    fn env_keys_parse_and_rotate() {
        let a = B64.encode([1u8; 32]);
        let b = B64.encode([2u8; 32]);
        let pan = Pan::parse("4242424242424242").unwrap();
        let old = vault_from_env(&a, None).unwrap();
        let sealed = old.seal(&pan).unwrap();
        // Rotation: the new key first, the old one kept last (it roots the fingerprint key).
        let both = vault_from_env(&format!("{b},{a}"), None).unwrap();
        assert_eq!(both.open(&sealed).unwrap(), pan);
        assert_eq!(both.active_key_id(), key_id(&[2; 32]));
        assert_eq!(both.fingerprint(&pan), old.fingerprint(&pan));
        let only_new = vault_from_env(&b, Some(&a)).unwrap();
        assert_eq!(
            only_new.open(&sealed),
            Err(VaultError::UnknownKey(key_id(&[1; 32])))
        );
        assert!(matches!(vault_from_env("", None), Err(KeyError::Missing)));
        assert!(matches!(
            vault_from_env("bm90IDMyIGJ5dGVz", None),
            Err(KeyError::Malformed)
        ));
        let e = vault_from_env("%%%", None).unwrap_err().to_string();
        assert!(!e.contains("%%%"));
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let db = temp_path("create");
        let path = KeyFile::beside(&db);
        let _ = fs::remove_file(&path);
        let created = KeyFile::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let reloaded = KeyFile::load_or_create(&path).unwrap();
        assert_eq!(created, reloaded);
        let pan = Pan::parse("5555555555554444").unwrap();
        let sealed = created.vault().unwrap().seal(&pan).unwrap();
        assert_eq!(reloaded.vault().unwrap().open(&sealed).unwrap(), pan);
        assert!(!format!("{created:?}").contains(&B64.encode(created.keys[0])));
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn key_file_rotation_keeps_old_cards_readable_and_fingerprints_stable() {
        let path = KeyFile::beside(&temp_path("rotate"));
        let _ = fs::remove_file(&path);
        let mut file = KeyFile::load_or_create(&path).unwrap();
        let pan = Pan::parse("378282246310005").unwrap();
        let before = file.vault().unwrap();
        let sealed = before.seal(&pan).unwrap();
        let new_id = file.rotate().unwrap();
        let after = KeyFile::load_or_create(&path).unwrap().vault().unwrap();
        assert_eq!(after.active_key_id(), new_id);
        assert_eq!(after.open(&sealed).unwrap(), pan);
        assert_eq!(after.fingerprint(&pan), before.fingerprint(&pan));
        let resealed = after.seal(&pan).unwrap();
        file.retire_old_keys().unwrap();
        let retired = KeyFile::load_or_create(&path).unwrap().vault().unwrap();
        assert_eq!(retired.open(&resealed).unwrap(), pan);
        assert!(retired.open(&sealed).is_err());
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let path = KeyFile::beside(&temp_path("foreign"));
        fs::write(&path, "not a key file\n").unwrap();
        assert!(matches!(
            KeyFile::load_or_create(&path),
            Err(KeyError::BadFile(_))
        ));
        fs::remove_file(&path).unwrap();
    }
}
