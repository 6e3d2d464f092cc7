//! [`SequentialIds`]: a deterministic [`IdGenerator`] for tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use vinr_domain::ids::{Entropy, ID_BODY_LEN};
use vinr_ports::ids::IdGenerator;

/// The increment of the splitmix64 stream (2⁶⁴ divided by the golden ratio).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// How many 64-bit words make one [`Entropy`].
const WORDS_PER_ID: u64 = 3;

/// The `k`-th output (from 1) of the splitmix64 stream seeded with `seed`.
fn splitmix64(seed: u64, k: u64) -> u64 {
    let mut z = seed.wrapping_add(k.wrapping_mul(GOLDEN_GAMMA));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic [`IdGenerator`]: the `n`-th call returns words `3n+1..=3n+3` of a splitmix64
/// stream seeded with the seed, so ids look random but the same seed always gives the same
/// sequence.
///
/// **For tests only.** Ids are capabilities (a hosted page's id is its only credential), and
/// these are predictable; production must use a cryptographically secure generator.
///
/// Clones share the counter, so the engine and a test holding a clone never get the same bytes.
///
/// ```
/// use vinr_ports::ids::IdGenerator;
/// use vinr_sandbox::SequentialIds;
///
/// let (a, b) = (SequentialIds::new(7), SequentialIds::new(7));
/// assert_eq!(a.entropy(), b.entropy());
/// assert_ne!(a.entropy(), a.entropy());
/// ```
#[derive(Debug, Clone, Default)]
pub struct SequentialIds {
    seed: u64,
    next: Arc<AtomicU64>,
}

impl SequentialIds {
    /// A generator whose sequence is fixed by `seed` (`Default` uses seed 0).
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            next: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many entropies have been handed out by this generator and its clones.
    pub fn issued(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }
}

impl IdGenerator for SequentialIds {
    fn entropy(&self) -> Entropy {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let first = n.wrapping_mul(WORDS_PER_ID);
        let mut out = [0u8; ID_BODY_LEN];
        for (k, chunk) in (1..).zip(out.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&splitmix64(self.seed, first.wrapping_add(k)).to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use vinr_domain::ids::CustomerId;

    #[test]
    fn same_seed_same_sequence() {
        let a = SequentialIds::new(42);
        let b = SequentialIds::new(42);
        let xs: Vec<Entropy> = (0..100).map(|_| a.entropy()).collect();
        let ys: Vec<Entropy> = (0..100).map(|_| b.entropy()).collect();
        assert_eq!(xs, ys);
        assert_eq!(a.issued(), 100);
    }

    #[test]
    fn consecutive_values_differ() {
        let ids = SequentialIds::default();
        let seen: HashSet<String> = (0..1000)
            .map(|_| CustomerId::from_entropy(&ids.entropy()).to_string())
            .collect();
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn different_seeds_differ() {
        assert_ne!(
            SequentialIds::new(1).entropy(),
            SequentialIds::new(2).entropy()
        );
    }

    #[test]
    fn default_is_seed_zero_and_matches_splitmix64() {
        // The first outputs of splitmix64 seeded with 0 (reference values of the algorithm).
        let first = SequentialIds::default().entropy();
        assert_eq!(first, SequentialIds::new(0).entropy());
        assert_eq!(first[..8], 0xE220_A839_7B1D_CDAF_u64.to_le_bytes());
        assert_eq!(first[8..16], 0x6E78_9E6A_A1B9_65F4_u64.to_le_bytes());
        assert_eq!(first[16..], 0x06C4_5D18_8009_454F_u64.to_le_bytes());
    }

    #[test]
    fn clones_share_the_counter() {
        let ids = SequentialIds::new(9);
        let port: Box<dyn IdGenerator> = Box::new(ids.clone());
        let fresh = SequentialIds::new(9);
        let first = fresh.entropy();
        let second = fresh.entropy();
        assert_eq!(port.entropy(), first);
        assert_eq!(ids.entropy(), second);
        assert_eq!(ids.issued(), 2);
    }
}
