//! Secret API keys: `Authorization: Bearer sk_test_…`.
//!
//! A key is `sk_test_` or `sk_live_` followed by 32 base62 characters.
//! Only its SHA-256 (lower-case hex) is stored; a request's key is hashed, looked up by that
//! hash, and the stored hash compared with the computed one in constant time.
//! The key's record says its mode and its id, which scopes idempotency keys.
//! No key text ever reaches a log line or an error message.

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use vinr_domain::ids::{Entropy, base62_body};
use vinr_ports::error::AuthenticationCode;
use vinr_ports::keys::{ApiKeyRecord, ApiKeyStore};
use vinr_ports::{Error, Mode};

/// How many random characters follow `sk_test_` / `sk_live_`.
pub const SECRET_LEN: usize = 32;

/// The random bytes a secret key is made from; supply them from a cryptographic generator.
pub type SecretEntropy = [u8; SECRET_LEN];

/// How many characters of the key a record keeps in `prefix` after `sk_test_`/`sk_live_`.
const PREFIX_SHOWN: usize = 4;

/// The prefix of the secret keys of a mode.
pub fn key_prefix(mode: Mode) -> &'static str {
    match mode {
        Mode::Test => "sk_test_",
        Mode::Live => "sk_live_",
    }
}

/// The lower-case hex SHA-256 of a secret key, as stored.
///
/// ```
/// let h = vinr_http::server::auth::hash_key("sk_test_x");
/// assert_eq!(h.len(), 64);
/// assert!(h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
/// // FIPS 180-2's "abc" vector.
/// assert_eq!(
///     vinr_http::server::auth::hash_key("abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn hash_key(secret: &str) -> String {
    // Every request hashes its key: one allocation, no formatting machinery per byte.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for b in digest {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    hex
}

/// A new secret key and the record to store for it (which holds only its hash).
///
/// The key is `sk_test_`/`sk_live_` + 32 base62 characters (≥ 181 bits of entropy), its id
/// `key_` + 24 base62 characters. Show the secret once; store the record.
///
/// ```
/// use vinr_ports::Mode;
/// let (secret, record) = vinr_http::server::auth::new_key(
///     Mode::Test, &[1; 24], &[2; 32], chrono::DateTime::UNIX_EPOCH);
/// assert!(secret.starts_with("sk_test_") && secret.len() == 40);
/// assert!(record.id.starts_with("key_") && record.id.len() == 28);
/// assert_eq!(record.hash, vinr_http::server::auth::hash_key(&secret));
/// assert_eq!(record.prefix, &secret[..12]);
/// assert!(!format!("{record:?}").contains(&secret));
/// ```
pub fn new_key(
    mode: Mode,
    id_entropy: &Entropy,
    secret_entropy: &SecretEntropy,
    created: DateTime<Utc>,
) -> (String, ApiKeyRecord) {
    let prefix = key_prefix(mode);
    let secret = format!("{prefix}{}", base62(secret_entropy));
    let record = ApiKeyRecord {
        id: format!("key_{}", base62_body(id_entropy)),
        mode,
        hash: hash_key(&secret),
        prefix: secret[..prefix.len() + PREFIX_SHOWN].to_owned(),
        created,
        revoked: None,
    };
    (secret, record)
}

/// The 62 characters of a secret key's body (the alphabet of ids).
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Base62 of each byte (the same reduction as ids: each keeps ≥ 5.68 bits).
fn base62(bytes: &SecretEntropy) -> String {
    bytes
        .iter()
        .map(|b| char::from(BASE62[usize::from(*b) % BASE62.len()]))
        .collect()
}

/// The longest secret key accepted.
const SECRET_MAX_LEN: usize = 255;

/// Whether `secret` has the shape of a key of some mode, and which: the mode's prefix and then
/// 16 to 247 letters, digits or `_`. Generated keys have 32 base62 characters after the prefix;
/// an operator may choose their own (`VINR_SECRET_KEY`), as long as it is long enough to be
/// unguessable.
fn shape(secret: &str) -> Option<Mode> {
    [Mode::Test, Mode::Live].into_iter().find(|mode| {
        secret.strip_prefix(key_prefix(*mode)).is_some_and(|rest| {
            secret.len() <= SECRET_MAX_LEN
                && rest.len() >= 16
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    })
}

fn missing() -> Error {
    Error::Authentication {
        code: AuthenticationCode::ApiKeyMissing,
        message: "No API key provided. Send `Authorization: Bearer <secret key>`.".to_owned(),
    }
}

fn invalid() -> Error {
    Error::Authentication {
        code: AuthenticationCode::ApiKeyInvalid,
        message: "Invalid API key provided.".to_owned(),
    }
}

/// The key a request carries, checked against the store: its record, or the 401 to answer.
pub async fn authenticate(
    headers: &HeaderMap,
    keys: &dyn ApiKeyStore,
) -> Result<ApiKeyRecord, Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(missing());
    };
    let value = value.to_str().map_err(|_| invalid())?.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("bearer") {
        return Err(missing());
    }
    let (scheme, secret) = value.split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(invalid());
    }
    let secret = secret.trim();
    let mode = shape(secret).ok_or_else(invalid)?;
    let hash = hash_key(secret);
    let record = keys
        .key_by_hash(&hash)
        .await
        .map_err(|e| match e {
            // A database that cannot be reached: 503, retryable, like any other request.
            vinr_ports::store::StoreError::Unavailable(_) => {
                Error::service_unavailable("the key store does not answer")
            }
            _ => Error::internal("the key store failed"),
        })?
        .ok_or_else(invalid)?;
    let same: bool = record.hash.as_bytes().ct_eq(hash.as_bytes()).into();
    if !same || record.revoked.is_some() || record.mode != mode {
        return Err(invalid());
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use vinr_store::memory::MemoryStore;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    fn code(r: Result<ApiKeyRecord, Error>) -> &'static str {
        r.map(|_| "ok").unwrap_or_else(|e| e.code())
    }

    #[tokio::test]
    async fn an_unreachable_key_store_is_503_and_a_failed_one_500() {
        use vinr_ports::keys::MockApiKeyStore;
        use vinr_ports::store::StoreError;
        let (test, _) = new_key(Mode::Test, &[1; 24], &[9; 32], DateTime::UNIX_EPOCH);
        let h = headers(Some(&format!("Bearer {test}")));
        let mut down = MockApiKeyStore::new();
        down.expect_key_by_hash()
            .returning(|_| Err(StoreError::Unavailable("connection refused".into())));
        assert_eq!(code(authenticate(&h, &down).await), "service_unavailable");
        let mut failed = MockApiKeyStore::new();
        failed
            .expect_key_by_hash()
            .returning(|_| Err(StoreError::Failed("syntax error".into())));
        assert_eq!(code(authenticate(&h, &failed).await), "internal");
    }

    #[tokio::test]
    async fn keys_authenticate_by_hash_and_mode() {
        let store = MemoryStore::new();
        let (test, test_rec) = new_key(Mode::Test, &[1; 24], &[9; 32], DateTime::UNIX_EPOCH);
        let (live, live_rec) = new_key(Mode::Live, &[2; 24], &[8; 32], DateTime::UNIX_EPOCH);
        let (revoked, revoked_rec) = new_key(Mode::Test, &[3; 24], &[7; 32], DateTime::UNIX_EPOCH);
        for r in [&test_rec, &live_rec, &revoked_rec] {
            store.insert_key(r.clone()).await.unwrap();
        }
        store
            .revoke_key(&revoked_rec.id, DateTime::UNIX_EPOCH)
            .await
            .unwrap();
        let ok = authenticate(&headers(Some(&format!("Bearer {test}"))), &store)
            .await
            .unwrap();
        assert_eq!(
            (ok.mode, ok.id.as_str()),
            (Mode::Test, test_rec.id.as_str())
        );
        let ok = authenticate(&headers(Some(&format!("bearer  {live} "))), &store)
            .await
            .unwrap();
        assert_eq!(ok.mode, Mode::Live);

        let unknown = format!("sk_test_{}", "A".repeat(32));
        let cases = [
            (None, "api_key_missing"),
            (Some("Bearer ".to_owned()), "api_key_missing"),
            (Some(format!("Basic {test}")), "api_key_invalid"),
            (Some(test.clone()), "api_key_invalid"),
            (Some(format!("Bearer {unknown}")), "api_key_invalid"),
            (Some(format!("Bearer {revoked}")), "api_key_invalid"),
            (Some("Bearer sk_test_short".to_owned()), "api_key_invalid"),
            (Some(format!("Bearer {}", &test[..39])), "api_key_invalid"),
            (Some(format!("Bearer pk_{}", &test[3..])), "api_key_invalid"),
        ];
        for (auth, expected) in cases {
            let got = code(authenticate(&headers(auth.as_deref()), &store).await);
            assert_eq!(got, expected, "{auth:?}");
        }
    }

    #[tokio::test]
    async fn a_key_whose_text_says_another_mode_than_its_record_is_refused() {
        let store = MemoryStore::new();
        let (secret, mut record) = new_key(Mode::Test, &[1; 24], &[9; 32], DateTime::UNIX_EPOCH);
        record.mode = Mode::Live;
        store.insert_key(record).await.unwrap();
        let got = authenticate(&headers(Some(&format!("Bearer {secret}"))), &store).await;
        assert_eq!(code(got), "api_key_invalid");
    }

    #[test]
    fn secrets_are_32_base62_characters_and_errors_never_contain_them() {
        let (secret, _) = new_key(Mode::Live, &[0; 24], &[255; 32], DateTime::UNIX_EPOCH);
        let body = &secret["sk_live_".len()..];
        assert_eq!(body.len(), SECRET_LEN);
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
        for e in [missing(), invalid()] {
            assert!(!e.to_string().contains("sk_"), "{e}");
        }
    }
}
