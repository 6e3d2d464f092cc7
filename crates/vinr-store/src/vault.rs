//! [`AesVault`]: the [`CardVault`] that seals card numbers with AES-256-GCM and fingerprints
//! them with HMAC-SHA256.
//!
//! Each record is sealed under the vault's active key with a fresh random 96-bit nonce; the
//! key's id is stored beside the ciphertext (so keys can rotate) and bound to it as associated
//! data (so a ciphertext cannot be moved under another key id).
//! A vault holds any number of older keys for opening; [`AesVault::reseal`] moves one record
//! to the active key.
//! The fingerprint key is separate from the encryption keys: rotating an encryption key leaves
//! every fingerprint unchanged.
//!
//! ```
//! use vinr_domain::card::Pan;
//! use vinr_ports::vault::CardVault;
//! use vinr_store::vault::{AesVault, VaultKey};
//!
//! let old = VaultKey::new("k2024", [1; 32]);
//! let vault = AesVault::new(VaultKey::new("k2025", [2; 32]), [9; 32]).with_key(old)?;
//! let pan = Pan::parse("4242 4242 4242 4242").unwrap();
//! let sealed = vault.seal(&pan)?;
//! assert_eq!(sealed.key_id, "k2025");
//! assert_eq!(vault.open(&sealed)?, pan);
//! assert_eq!(vault.fingerprint(&pan), vault.fingerprint(&pan));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod keys;

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, OsRng, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use vinr_domain::card::Pan;
use vinr_domain::method::{Fingerprint, SealedCard};
use vinr_ports::vault::{CardVault, VaultError};

/// The length of an AES-GCM nonce: 96 bits.
const NONCE_LEN: usize = 12;

/// How many hex characters of the HMAC make a fingerprint: 128 bits, so collisions between
/// different cards of one account are negligible, and the text stays short.
const FINGERPRINT_HEX_CHARS: usize = 32;

/// Prefixed to the key id in the associated data, so these ciphertexts mean nothing to any
/// other use of the same key.
const AAD_LABEL: &[u8] = b"vinr-vault/v1/key-id:";

/// HMAC-SHA256's block size; keys shorter than a block are zero-padded to it (RFC 2104).
const HMAC_BLOCK_LEN: usize = 64;

/// An AES-256 key and its id. `Debug` shows the id only, never the bytes.
///
/// ```
/// use vinr_store::vault::VaultKey;
/// let key = VaultKey::new("k1", [0xAB; 32]);
/// assert_eq!(format!("{key:?}"), "VaultKey { id: \"k1\", bytes: <redacted> }");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct VaultKey {
    /// The id stored with every record sealed under this key.
    pub id: String,
    /// The 256-bit key.
    pub bytes: [u8; 32],
}

impl VaultKey {
    /// A key with this id and these bytes.
    pub fn new(id: impl Into<String>, bytes: [u8; 32]) -> Self {
        Self {
            id: id.into(),
            bytes,
        }
    }

    /// A fresh key from the OS generator, under this id.
    pub fn random(id: impl Into<String>) -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self::new(id, bytes)
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultKey")
            .field("id", &self.id)
            .field("bytes", &format_args!("<redacted>"))
            .finish()
    }
}

/// Why a vault cannot be configured as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultConfigError {
    /// A key with this id is already held; two keys under one id would make records
    /// unopenable.
    #[error("the vault already holds a key `{0}`")]
    DuplicateKey(String),
}

/// The AES-256-GCM card vault.
///
/// Cheap to clone (the keys are copied, no I/O); `Debug` shows key ids only.
#[derive(Clone)]
pub struct AesVault {
    /// Every key held, by id.
    keys: BTreeMap<String, Aes256Gcm>,
    /// The id of the key `seal` uses; always a key of `keys`.
    active: String,
    /// The fingerprint HMAC, already keyed.
    fingerprint: Hmac<Sha256>,
}

impl AesVault {
    /// A vault sealing under `active`, fingerprinting under `fingerprint_key`.
    pub fn new(active: VaultKey, fingerprint_key: [u8; 32]) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(active.id.clone(), cipher(&active));
        Self {
            keys,
            active: active.id,
            fingerprint: fingerprint_mac(&fingerprint_key),
        }
    }

    /// A vault with fresh random keys (a random key id, too), for sandboxes and tests.
    ///
    /// Records it seals can be opened by this vault (and its clones) only.
    pub fn random() -> Self {
        let mut tag = [0u8; 8];
        OsRng.fill_bytes(&mut tag);
        let mut fingerprint_key = [0u8; 32];
        OsRng.fill_bytes(&mut fingerprint_key);
        Self::new(
            VaultKey::random(format!("random-{}", hex(&tag))),
            fingerprint_key,
        )
    }

    /// The vault with one more key, for opening records sealed under it.
    ///
    /// # Errors
    /// [`VaultConfigError::DuplicateKey`] if a key with that id is already held.
    pub fn with_key(mut self, key: VaultKey) -> Result<Self, VaultConfigError> {
        if self.keys.contains_key(&key.id) {
            return Err(VaultConfigError::DuplicateKey(key.id));
        }
        self.keys.insert(key.id.clone(), cipher(&key));
        Ok(self)
    }

    /// Makes the held key `key_id` the one `seal` uses.
    ///
    /// # Errors
    /// [`VaultError::UnknownKey`] if the vault holds no such key; nothing changes then.
    pub fn set_active(&mut self, key_id: &str) -> Result<(), VaultError> {
        if !self.keys.contains_key(key_id) {
            return Err(VaultError::UnknownKey(key_id.to_owned()));
        }
        key_id.clone_into(&mut self.active);
        Ok(())
    }

    /// The ids of every key held, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The record sealed again under the active key, or `None` if it already is.
    ///
    /// This is the per-record step of a key rotation: open with the old key, seal with the
    /// active one (with a fresh nonce).
    ///
    /// # Errors
    /// Those of [`CardVault::open`] and [`CardVault::seal`].
    pub fn reseal(&self, sealed: &SealedCard) -> Result<Option<SealedCard>, VaultError> {
        if sealed.key_id == self.active {
            return Ok(None);
        }
        let pan = self.open(sealed)?;
        self.seal(&pan).map(Some)
    }

    /// The cipher of the active key.
    fn active_cipher(&self) -> Result<&Aes256Gcm, VaultError> {
        // `active` always names a held key (the constructor and `set_active` see to it); the
        // error is for the impossible case, not a panic.
        self.keys
            .get(&self.active)
            .ok_or_else(|| VaultError::UnknownKey(self.active.clone()))
    }
}

impl fmt::Debug for AesVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesVault")
            .field("active", &self.active)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("fingerprint_key", &format_args!("<redacted>"))
            .finish()
    }
}

impl CardVault for AesVault {
    fn seal(&self, pan: &Pan) -> Result<SealedCard, VaultError> {
        let cipher = self.active_cipher()?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(&self.active);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: pan.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Encrypt)?;
        Ok(SealedCard {
            key_id: self.active.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    fn open(&self, sealed: &SealedCard) -> Result<Pan, VaultError> {
        let cipher = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| VaultError::UnknownKey(sealed.key_id.clone()))?;
        // `Nonce::from_slice` panics on a wrong length, so the length is checked first.
        if sealed.nonce.len() != NONCE_LEN {
            return Err(VaultError::Decrypt);
        }
        let aad = associated_data(&sealed.key_id);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Decrypt)?;
        // Authenticated but not a card number we would have sealed: refuse it rather than hand
        // the network something that is not a PAN.
        let text = String::from_utf8(plain).map_err(|_| VaultError::Decrypt)?;
        match Pan::parse(&text) {
            Ok(pan) if pan.expose() == text => Ok(pan),
            Ok(_) | Err(_) => Err(VaultError::Decrypt),
        }
    }

    fn fingerprint(&self, pan: &Pan) -> Fingerprint {
        let mut mac = self.fingerprint.clone();
        mac.update(pan.expose().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut text = hex(&digest);
        text.truncate(FINGERPRINT_HEX_CHARS);
        Fingerprint::new(text)
    }

    fn active_key_id(&self) -> String {
        self.active.clone()
    }
}

/// The AEAD of one key.
fn cipher(key: &VaultKey) -> Aes256Gcm {
    Aes256Gcm::new(&key.bytes.into())
}

/// The associated data binding a ciphertext to its key id.
fn associated_data(key_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + key_id.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

/// The fingerprint HMAC keyed with `key`.
///
/// HMAC zero-pads a short key to its block size, so padding here gives exactly the MAC that
/// `Hmac::new_from_slice(key)` gives, without its never-taken error path.
fn fingerprint_mac(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut block = [0u8; HMAC_BLOCK_LEN];
    block[..key.len()].copy_from_slice(key);
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests;
