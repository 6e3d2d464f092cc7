//! The `IdGenerator` port: where the randomness of ids and secrets comes from.

use vinr_domain::ids::Entropy;

/// Supplies random bytes for ids and secrets.
///
/// Contract: in production the bytes MUST come from a cryptographically secure generator
/// (ids are capabilities: a hosted page's id is its only credential). A deterministic
/// generator is fine in tests.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait IdGenerator: Send + Sync + 'static {
    /// 24 fresh random bytes.
    fn entropy(&self) -> Entropy;
}
