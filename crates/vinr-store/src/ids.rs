//! [`OsRandomIds`]: the [`IdGenerator`] that draws from the operating system's generator.

use rand::RngCore;
use rand::rngs::OsRng;
use vinr_domain::ids::{Entropy, ID_BODY_LEN};
use vinr_ports::ids::IdGenerator;

/// Ids and secrets from the OS's cryptographically secure generator (`getrandom`).
///
/// Ids are capabilities (a hosted page's id is its only credential), so production uses this
/// and nothing weaker.
/// The OS generator does not fail on supported platforms once the system has booted; if it
/// ever did, `entropy` would panic rather than hand out predictable bytes.
///
/// ```
/// use vinr_domain::ids::CustomerId;
/// use vinr_ports::ids::IdGenerator;
/// use vinr_store::ids::OsRandomIds;
///
/// let ids = OsRandomIds;
/// assert_ne!(CustomerId::from_entropy(&ids.entropy()), CustomerId::from_entropy(&ids.entropy()));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OsRandomIds;

impl OsRandomIds {
    /// The OS generator.
    pub fn new() -> Self {
        Self
    }
}

impl IdGenerator for OsRandomIds {
    fn entropy(&self) -> Entropy {
        let mut bytes = [0u8; ID_BODY_LEN];
        OsRng.fill_bytes(&mut bytes);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn draws_differ() {
        let ids = OsRandomIds::new();
        let drawn: HashSet<Entropy> = (0..100).map(|_| ids.entropy()).collect();
        assert_eq!(drawn.len(), 100);
    }
}
