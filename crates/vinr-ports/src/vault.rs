//! The `CardVault` port: sealing card numbers, and fingerprinting them.

use vinr_domain::card::Pan;
use vinr_domain::method::{Fingerprint, SealedCard};

/// Why the vault could not do its work. Never carries card data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The record was sealed with a key this vault does not hold.
    #[error("the vault has no key `{0}`")]
    UnknownKey(String),
    /// The record does not decrypt under its key (tampered, or the wrong key).
    #[error("a sealed card failed to decrypt")]
    Decrypt,
    /// Encryption failed.
    #[error("sealing a card failed")]
    Encrypt,
}

/// Encrypts card numbers for storage and opens them for the network.
///
/// Contract:
/// - `seal` MUST use a fresh random nonce for every call and record the id of the key used;
/// - `open(seal(p)) == p` for every `p`, also after the active key changed, as long as the old
///   key is still held;
/// - `open` MUST fail with [`VaultError::Decrypt`] (not garbage) for a record sealed under a
///   different key material or altered in any byte;
/// - `fingerprint` MUST be a keyed hash: equal for equal numbers, unrelated for different ones,
///   and not computable without the account key;
/// - nothing here may log or return the number in an error.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait CardVault: Send + Sync + 'static {
    /// Encrypts a number under the active key.
    fn seal(&self, pan: &Pan) -> Result<SealedCard, VaultError>;
    /// Decrypts a sealed number.
    fn open(&self, sealed: &SealedCard) -> Result<Pan, VaultError>;
    /// The account-keyed fingerprint of a number.
    fn fingerprint(&self, pan: &Pan) -> Fingerprint;
    /// The id of the key `seal` uses now.
    fn active_key_id(&self) -> String;
}
