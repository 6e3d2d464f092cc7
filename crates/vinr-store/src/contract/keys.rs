//! The API key store contract: the checks every [`ApiKeyStore`] adapter runs unchanged.
//!
//! Each check is an `async fn` taking a `&dyn ApiKeyStore` that starts empty, and panics with a
//! message naming the broken rule. [`api_key_store_contract_tests!`] makes one test per check;
//! [`run_all`] runs them all in one test:
//!
//! ```
//! use vinr_store::memory::MemoryStore;
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! vinr_store::contract::keys::run_all(|| async { MemoryStore::new() }).await;
//! # });
//! ```
//!
//! What it checks is the contract documented on [`ApiKeyStore`]:
//! - [`inserted_keys_are_found_by_hash`]: a key reads back field for field by its exact hash;
//! - [`a_taken_id_or_hash_conflicts`]: ids and hashes are unique, revoked keys' too;
//! - [`keys_are_listed_oldest_first`]: every key, revoked or not, by creation time;
//! - [`revoking_marks_a_key_once`], [`revoking_an_unknown_key_changes_nothing`]: revocation.
//!
//! Times in the suite are whole seconds: the record's serde form keeps seconds, and so may a
//! store.
//!
//! [`ApiKeyStore`]: vinr_ports::keys::ApiKeyStore
//! [`api_key_store_contract_tests!`]: crate::api_key_store_contract_tests

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use vinr_ports::Mode;
use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};
use vinr_ports::store::StoreError;

use super::fixtures::at;

/// Hands out key numbers, which make a key's id, secret and creation time.
#[derive(Debug, Default)]
struct Keys {
    next: AtomicU32,
}

impl Keys {
    /// A fresh, unrevoked key of `mode`, created one second after the previous one.
    fn key(&self, mode: Mode) -> ApiKeyRecord {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let prefix = match mode {
            Mode::Test => "sk_test_",
            Mode::Live => "sk_live_",
        };
        // Mixed case, as real ids and secrets are base62.
        let secret = format!("{prefix}AbCd{n:028}");
        ApiKeyRecord {
            id: format!("key_Contract{n:012}"),
            mode,
            hash: hex_sha256(&secret),
            prefix: secret[..prefix.len() + 4].to_owned(),
            created: at(n),
            revoked: None,
        }
    }
}

/// Lower-case hex SHA-256, as the port stores a key's hash.
fn hex_sha256(text: &str) -> String {
    let mut out = String::with_capacity(64);
    for byte in Sha256::digest(text.as_bytes()) {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Inserts, panicking with `what` if the store refuses.
async fn insert_ok(keys: &dyn ApiKeyStore, key: &ApiKeyRecord, what: &str) {
    if let Err(e) = keys.insert_key(key.clone()).await {
        panic!(
            "{what}: inserting key {} should succeed, but the store said {e:?}",
            key.id
        );
    }
}

/// The key with this hash, panicking if the store fails.
async fn by_hash(keys: &dyn ApiKeyStore, hash: &str) -> Option<ApiKeyRecord> {
    keys.key_by_hash(hash)
        .await
        .unwrap_or_else(|e| panic!("key_by_hash failed: {e:?}"))
}

/// Every key, panicking if the store fails.
async fn list(keys: &dyn ApiKeyStore) -> Vec<ApiKeyRecord> {
    keys.list_keys()
        .await
        .unwrap_or_else(|e| panic!("list_keys failed: {e:?}"))
}

/// A whole-second time after every key the checks create.
fn later(n: u32) -> DateTime<Utc> {
    at(1_000 + n)
}

/// A key inserted reads back field for field by its hash, in either mode, revoked or not; a
/// hash nobody holds finds nothing, and the look-up is exact (not by prefix, not ignoring case).
pub async fn inserted_keys_are_found_by_hash(keys: &dyn ApiKeyStore) {
    let fx = Keys::default();
    let test = fx.key(Mode::Test);
    assert_eq!(
        by_hash(keys, &test.hash).await,
        None,
        "an empty store finds no key"
    );
    assert!(list(keys).await.is_empty(), "an empty store lists no key");

    let live = fx.key(Mode::Live);
    let mut revoked = fx.key(Mode::Test);
    revoked.revoked = Some(later(1));
    for key in [&test, &live, &revoked] {
        insert_ok(keys, key, "a new key").await;
    }
    for key in [&test, &live, &revoked] {
        assert_eq!(
            by_hash(keys, &key.hash).await.as_ref(),
            Some(key),
            "key {} must read back as inserted",
            key.id
        );
    }
    let unknown = fx.key(Mode::Test);
    assert_eq!(by_hash(keys, &unknown.hash).await, None, "an unknown hash");
    assert_eq!(
        by_hash(keys, &test.hash[..63]).await,
        None,
        "a hash's prefix is no hash"
    );
    assert_eq!(
        by_hash(keys, &test.hash.to_uppercase()).await,
        None,
        "hashes are lower-case hex; the look-up is exact"
    );
    assert_eq!(by_hash(keys, "").await, None, "the empty hash");
    assert_eq!(by_hash(keys, &test.id).await, None, "a key's id is no hash");
}

/// `insert_key` conflicts if the id or the hash is taken (by a key of either mode, revoked or
/// not), and then stores nothing: the other key is not found by its hash, and the list is as
/// before.
pub async fn a_taken_id_or_hash_conflicts(keys: &dyn ApiKeyStore) {
    let fx = Keys::default();
    let first = fx.key(Mode::Test);
    insert_ok(keys, &first, "the first key").await;

    let mut same_id = fx.key(Mode::Live);
    same_id.id.clone_from(&first.id);
    let mut same_hash = fx.key(Mode::Test);
    same_hash.hash.clone_from(&first.hash);
    let twin = first.clone();
    for (dup, what) in [
        (&same_id, "a key with a taken id (and another mode)"),
        (&same_hash, "a key with a taken hash"),
        (&twin, "the same key twice"),
    ] {
        assert_eq!(
            keys.insert_key(dup.clone()).await,
            Err(StoreError::Conflict),
            "{what} must conflict"
        );
        assert_eq!(
            list(keys).await,
            vec![first.clone()],
            "{what}: nothing may be stored"
        );
        assert_eq!(
            by_hash(keys, &first.hash).await.as_ref(),
            Some(&first),
            "{what}: the first key must stay as it was"
        );
    }
    assert_eq!(
        by_hash(keys, &same_id.hash).await,
        None,
        "a refused key must not be found by its hash"
    );

    // A revoked key's id and hash stay taken.
    assert_eq!(keys.revoke_key(&first.id, later(1)).await, Ok(true));
    let mut reuse = fx.key(Mode::Test);
    reuse.hash.clone_from(&first.hash);
    assert_eq!(
        keys.insert_key(reuse).await,
        Err(StoreError::Conflict),
        "the hash of a revoked key is still taken"
    );
    let mut reuse = fx.key(Mode::Test);
    reuse.id.clone_from(&first.id);
    assert_eq!(
        keys.insert_key(reuse).await,
        Err(StoreError::Conflict),
        "the id of a revoked key is still taken"
    );

    // Fresh ids and hashes are free; ids differing only in case are different ids.
    let other = fx.key(Mode::Live);
    insert_ok(keys, &other, "a key with a fresh id and hash").await;
    let mut cased = fx.key(Mode::Test);
    cased.id = first.id.to_uppercase();
    insert_ok(
        keys,
        &cased,
        "a key whose id differs from a taken one in case only",
    )
    .await;
    assert_eq!(list(keys).await.len(), 3);
}

/// `list_keys` lists every key, revoked or not, of both modes, oldest first by creation time,
/// whatever order they were inserted in.
pub async fn keys_are_listed_oldest_first(keys: &dyn ApiKeyStore) {
    let fx = Keys::default();
    let made: Vec<ApiKeyRecord> = (0..6)
        .map(|i| fx.key(if i % 3 == 0 { Mode::Live } else { Mode::Test }))
        .collect();
    // Inserted out of creation order.
    for i in [3, 0, 5, 1, 4, 2] {
        insert_ok(keys, &made[i], "a key").await;
    }
    assert_eq!(list(keys).await, made, "keys must be listed oldest first");

    assert_eq!(keys.revoke_key(&made[2].id, later(1)).await, Ok(true));
    let mut want = made.clone();
    want[2].revoked = Some(later(1));
    assert_eq!(
        list(keys).await,
        want,
        "a revoked key stays in the list, in its place"
    );

    // A later key goes last.
    let newest = fx.key(Mode::Test);
    insert_ok(keys, &newest, "the newest key").await;
    want.push(newest);
    assert_eq!(list(keys).await, want);
}

/// `revoke_key` marks a key revoked at the time given and answers `true`; revoking it again
/// answers `false` and keeps the first time. The revoked key is still found by its hash (so the
/// caller can tell "revoked" from "unknown") and listed; other keys stay as they were.
pub async fn revoking_marks_a_key_once(keys: &dyn ApiKeyStore) {
    let fx = Keys::default();
    let a = fx.key(Mode::Test);
    let b = fx.key(Mode::Live);
    insert_ok(keys, &a, "key a").await;
    insert_ok(keys, &b, "key b").await;

    let when = later(7);
    assert_eq!(
        keys.revoke_key(&a.id, when).await,
        Ok(true),
        "revoking a live key"
    );
    let mut revoked = a.clone();
    revoked.revoked = Some(when);
    assert_eq!(
        by_hash(keys, &a.hash).await.as_ref(),
        Some(&revoked),
        "a revoked key is still found by its hash, with the time it was revoked"
    );
    assert_eq!(
        by_hash(keys, &b.hash).await.as_ref(),
        Some(&b),
        "revoking one key leaves the others"
    );

    assert_eq!(
        keys.revoke_key(&a.id, later(9)).await,
        Ok(false),
        "revoking a revoked key answers false"
    );
    assert_eq!(
        by_hash(keys, &a.hash).await.as_ref(),
        Some(&revoked),
        "revoking twice keeps the first time"
    );
    assert_eq!(list(keys).await, vec![revoked.clone(), b.clone()]);

    assert_eq!(keys.revoke_key(&b.id, later(8)).await, Ok(true));
    let mut b_revoked = b.clone();
    b_revoked.revoked = Some(later(8));
    assert_eq!(list(keys).await, vec![revoked, b_revoked]);
}

/// Revoking an id that names no key answers `false` and changes nothing: on an empty store, an
/// unknown id, a key's hash or prefix given as its id, or its id in another case.
pub async fn revoking_an_unknown_key_changes_nothing(keys: &dyn ApiKeyStore) {
    let fx = Keys::default();
    let key = fx.key(Mode::Test);
    assert_eq!(
        keys.revoke_key(&key.id, later(1)).await,
        Ok(false),
        "revoking on an empty store"
    );
    assert!(
        list(keys).await.is_empty(),
        "a revoke must not create a key"
    );
    insert_ok(keys, &key, "a key").await;
    let unknown = fx.key(Mode::Test);
    for id in [
        unknown.id.clone(),
        key.hash.clone(),
        key.prefix.clone(),
        key.id.to_uppercase(),
        key.id.to_lowercase(),
        key.id[..key.id.len() - 1].to_owned(),
        String::new(),
    ] {
        assert_eq!(
            keys.revoke_key(&id, later(2)).await,
            Ok(false),
            "revoking {id:?}, which names no key"
        );
    }
    assert_eq!(list(keys).await, vec![key.clone()], "nothing was revoked");
    assert_eq!(by_hash(keys, &key.hash).await, Some(key));
}

/// Runs every check of the API key suite in turn, each on a fresh store from `make`.
///
/// Prefer [`api_key_store_contract_tests!`](crate::api_key_store_contract_tests), which makes
/// one test per check.
pub async fn run_all<S, F>(make: impl Fn() -> F)
where
    S: ApiKeyStore,
    F: Future<Output = S>,
{
    crate::api_key_store_contract_tests!(@run make);
}

/// Expands to one `#[tokio::test]` per check of the API key store contract
/// ([`contract::keys`](crate::contract::keys)), each running on a fresh store.
///
/// The argument is an expression callable with no arguments that returns a future of a fresh,
/// empty store (any type implementing `ApiKeyStore`); it is called once per test. The tests
/// are named after the checks; put the macro in a module of its own if the same file also
/// runs [`store_contract_tests!`](crate::store_contract_tests). The calling crate needs
/// `tokio` with the `macros` and `rt` features, and `vinr-store` with the `contract` feature.
///
/// ```no_run
/// mod api_keys {
///     vinr_store::api_key_store_contract_tests!(|| async { vinr_store::memory::MemoryStore::new() });
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! api_key_store_contract_tests {
    // The list of checks lives here only; both expansions below use it.
    (@each $how:ident $make:expr) => {
        $crate::api_key_store_contract_tests!(@$how $make;
            inserted_keys_are_found_by_hash,
            a_taken_id_or_hash_conflicts,
            keys_are_listed_oldest_first,
            revoking_marks_a_key_once,
            revoking_an_unknown_key_changes_nothing,
        );
    };
    (@tests $make:expr; $($check:ident,)+) => {
        $(
            #[tokio::test]
            async fn $check() {
                let keys = ($make)().await;
                $crate::contract::keys::$check(&keys).await;
            }
        )+
    };
    (@sequence $make:expr; $($check:ident,)+) => {
        $(
            {
                let keys = ($make)().await;
                $crate::contract::keys::$check(&keys).await;
            }
        )+
    };
    (@run $make:expr) => {
        $crate::api_key_store_contract_tests!(@each sequence $make)
    };
    ($make:expr) => {
        $crate::api_key_store_contract_tests!(@each tests $make);
    };
}
