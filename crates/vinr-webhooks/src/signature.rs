//! Signing deliveries and reading the signature header (api.md §6).
//!
//! A delivery carries `x-vinr-signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`, where each
//! `v1` is the lower-case hex of `HMAC-SHA256(secret, "<t>.<raw body>")` under one of the
//! endpoint's secrets (two during a rotation overlap). The key is the secret's full text,
//! `whsec_…` included, as the endpoint's creation response shows it.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use vinr_domain::webhook::WebhookSecret;

use crate::verify::VerifyError;

/// The request header that carries the signatures.
pub const SIGNATURE_HEADER: &str = "x-vinr-signature";

/// The request header that carries the event id, so a receiver can drop a duplicate before
/// reading the body.
pub const EVENT_ID_HEADER: &str = "x-vinr-event-id";

/// The signature scheme this crate signs and verifies; other schemes in a header are ignored.
pub const SCHEME: &str = "v1";

/// Anything whose bytes key the HMAC: a [`WebhookSecret`], its text, or raw bytes.
///
/// A [`WebhookSecret`] signs with its full text (`whsec_…`), exactly as shown to the merchant.
///
/// ```
/// use vinr_domain::webhook::WebhookSecret;
/// use vinr_webhooks::{SecretBytes, sign};
///
/// let secret = WebhookSecret::new("whsec_test_secret");
/// assert_eq!(secret.secret_bytes(), b"whsec_test_secret");
/// // The typed secret, its text and its bytes sign alike.
/// assert_eq!(sign(&secret, 1, b"{}"), sign("whsec_test_secret", 1, b"{}"));
/// assert_eq!(sign(&secret, 1, b"{}"), sign(&b"whsec_test_secret"[..], 1, b"{}"));
/// ```
pub trait SecretBytes {
    /// The bytes that key the HMAC.
    fn secret_bytes(&self) -> &[u8];
}

impl SecretBytes for WebhookSecret {
    fn secret_bytes(&self) -> &[u8] {
        self.expose().as_bytes()
    }
}

impl SecretBytes for str {
    fn secret_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl SecretBytes for String {
    fn secret_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl SecretBytes for [u8] {
    fn secret_bytes(&self) -> &[u8] {
        self
    }
}

impl SecretBytes for Vec<u8> {
    fn secret_bytes(&self) -> &[u8] {
        self
    }
}

impl<const N: usize> SecretBytes for [u8; N] {
    fn secret_bytes(&self) -> &[u8] {
        self
    }
}

impl<T: SecretBytes + ?Sized> SecretBytes for &T {
    fn secret_bytes(&self) -> &[u8] {
        (**self).secret_bytes()
    }
}

/// An HMAC-SHA256 key with its inner and outer pads already absorbed, so each MAC under it
/// costs only the message's blocks. `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct Key(Hmac<Sha256>);

/// SHA-256's block size: HMAC keys are hashed down to, or zero-padded up to, this length.
const BLOCK: usize = 64;

impl Key {
    /// Keys the HMAC with `secret`, of any length (RFC 2104: a key longer than a block is
    /// hashed first; a shorter one is zero-padded).
    pub(crate) fn new(secret: &[u8]) -> Self {
        let mut block = [0u8; BLOCK];
        if secret.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(secret));
        } else {
            block[..secret.len()].copy_from_slice(secret);
        }
        Self(<Hmac<Sha256> as KeyInit>::new(&block.into()))
    }

    /// The MAC of the concatenation of `parts`.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The MAC of `"<t>.<payload>"`, `t` as the header writes it.
    pub(crate) fn signature(&self, t: &[u8], payload: &[u8]) -> [u8; 32] {
        self.mac(&[t, b".", payload])
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

/// Plain HMAC-SHA256 of `message` under `key`, through the same code that signs deliveries.
///
/// ```
/// // RFC 4231, test case 2.
/// let mac = vinr_webhooks::hmac_sha256(b"Jefe", b"what do ya want for nothing?");
/// assert_eq!(
///     vinr_webhooks::to_hex(&mac),
///     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
/// );
/// ```
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    Key::new(key).mac(&[message])
}

/// The `v1` signature of a delivery: lower-case hex of `HMAC-SHA256(secret, "<t>.<payload>")`.
///
/// ```
/// let hex = vinr_webhooks::sign("whsec_test_secret", 1_700_000_000, br#"{"id":"evt_1"}"#);
/// assert_eq!(hex, "248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a");
/// ```
pub fn sign<S: SecretBytes + ?Sized>(secret: &S, timestamp: i64, payload: &[u8]) -> String {
    let t = Timestamp::new(timestamp);
    to_hex(&Key::new(secret.secret_bytes()).signature(t.as_bytes(), payload))
}

/// The whole `x-vinr-signature` value: `t=<t>`, then one `v1=<hex>` per secret, in order.
///
/// During a rotation overlap a delivery is signed by both secrets, so a receiver that knows
/// either one accepts it.
///
/// ```
/// use vinr_domain::webhook::WebhookSecret;
/// let new = WebhookSecret::new("whsec_new");
/// let old = WebhookSecret::new("whsec_old");
/// let header = vinr_webhooks::signature_header(&[&new, &old], 1_700_000_000, b"{}");
/// assert!(header.starts_with("t=1700000000,v1="));
/// assert_eq!(header.matches(",v1=").count(), 2);
/// ```
pub fn signature_header<S: SecretBytes>(secrets: &[S], timestamp: i64, payload: &[u8]) -> String {
    let t = Timestamp::new(timestamp);
    let mut header = String::with_capacity(2 + t.as_bytes().len() + secrets.len() * 68);
    header.push_str("t=");
    header.push_str(t.as_str());
    for secret in secrets {
        let mac = Key::new(secret.secret_bytes()).signature(t.as_bytes(), payload);
        header.push_str(",v1=");
        push_hex(&mut header, &mac);
    }
    header
}

/// Lower-case hex of `bytes`.
///
/// ```
/// assert_eq!(vinr_webhooks::to_hex(&[0x00, 0xab, 0xff]), "00abff");
/// ```
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// A parsed `x-vinr-signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureHeader {
    /// `t`: when the delivery was signed, in Unix seconds.
    pub timestamp: i64,
    /// Every `v1` signature, in header order (other schemes are skipped).
    pub signatures: Vec<[u8; 32]>,
}

/// Parses an `x-vinr-signature` value.
///
/// Tolerant where a newer sender may differ: white space around items, empty items, and
/// items of other schemes (`v0=…`) are ignored. Strict where a mistake would hide: `t` must
/// appear exactly once as a decimal integer, and every `v1` must be exactly 64 lower-case hex digits.
/// A header without any `v1` parses (with no signatures); verifying it fails with
/// [`VerifyError::NoMatchingSignature`].
///
/// ```
/// use vinr_webhooks::{VerifyError, parse_header};
/// let sig = "ab".repeat(32);
/// let h = parse_header(&format!(" t=1700000000 , v0=whatever, v1={sig}")).unwrap();
/// assert_eq!(h.timestamp, 1_700_000_000);
/// assert_eq!(h.signatures, vec![[0xab; 32]]);
/// assert!(matches!(parse_header("t=17x,v1=00"), Err(VerifyError::MalformedHeader(_))));
/// assert!(matches!(parse_header(&format!("v1={sig}")), Err(VerifyError::MalformedHeader(_))));
/// ```
pub fn parse_header(header: &str) -> Result<SignatureHeader, VerifyError> {
    let parsed = ParsedHeader::parse(header)?;
    Ok(SignatureHeader {
        timestamp: parsed.timestamp,
        signatures: parsed.signatures().collect(),
    })
}

/// A header checked by [`ParsedHeader::parse`], read again without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParsedHeader<'a> {
    header: &'a str,
    /// `t` as written, which is what was signed.
    pub(crate) timestamp_text: &'a str,
    pub(crate) timestamp: i64,
}

impl<'a> ParsedHeader<'a> {
    /// Checks every item of the header; see [`parse_header`] for the rules.
    pub(crate) fn parse(header: &'a str) -> Result<Self, VerifyError> {
        let mut timestamp: Option<(&str, i64)> = None;
        for item in items(header) {
            let (key, value) = item?;
            match key {
                "t" => {
                    if timestamp.is_some() {
                        return Err(VerifyError::MalformedHeader("`t` appears more than once"));
                    }
                    let t = parse_timestamp(value)
                        .ok_or(VerifyError::MalformedHeader("`t` is not a decimal integer"))?;
                    timestamp = Some((value, t));
                }
                SCHEME if decode_hex32(value).is_none() => {
                    return Err(VerifyError::MalformedHeader(
                        "a `v1` is not 64 lower-case hex digits",
                    ));
                }
                _ => {}
            }
        }
        let (timestamp_text, timestamp) =
            timestamp.ok_or(VerifyError::MalformedHeader("no `t`"))?;
        Ok(Self {
            header,
            timestamp_text,
            timestamp,
        })
    }

    /// The `v1` signatures, decoded (all were checked by `parse`).
    pub(crate) fn signatures(&self) -> impl Iterator<Item = [u8; 32]> + 'a {
        items(self.header).filter_map(|item| match item {
            Ok((SCHEME, value)) => decode_hex32(value),
            _ => None,
        })
    }
}

/// The `key=value` items of a header, trimmed; empty items are skipped.
fn items(header: &str) -> impl Iterator<Item = Result<(&str, &str), VerifyError>> {
    header
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok((key.trim(), value.trim())),
            _ => Err(VerifyError::MalformedHeader("an item is not `key=value`")),
        })
}

/// An optional `-` and 1 to 19 ASCII digits that fit an `i64` (`str::parse` alone would
/// accept a leading `+`).
fn parse_timestamp(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        // Upper case is refused: one signature has one spelling, so any change of a byte of
        // the header is a different (and failing) header.
        _ => None,
    }
}

/// Exactly 64 lower-case hex digits into 32 bytes.
pub(crate) fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = (pair.first().copied()?, pair.get(1).copied()?);
        *byte = (hex_value(hi)? << 4) | hex_value(lo)?;
    }
    Some(out)
}

/// A Unix time written in decimal on the stack, as `t=` shows it.
pub(crate) struct Timestamp {
    buf: [u8; 20],
    start: usize,
}

impl Timestamp {
    pub(crate) fn new(t: i64) -> Self {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        let mut n = t.unsigned_abs();
        loop {
            start -= 1;
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if t < 0 {
            start -= 1;
            buf[start] = b'-';
        }
        Self { buf, start }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and '-' are ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_like_display() {
        for t in [0, 1, 9, 10, -1, -10, 1_700_000_000, i64::MAX, i64::MIN] {
            assert_eq!(Timestamp::new(t).as_str(), t.to_string());
        }
    }

    #[test]
    fn timestamps_parse_strictly() {
        let check =
            |text: &str, want: Option<i64>| assert_eq!(parse_timestamp(text), want, "{text}");
        check("0", Some(0));
        check("1700000000", Some(1_700_000_000));
        check("-5", Some(-5));
        check("9223372036854775807", Some(i64::MAX));
        check("-9223372036854775808", Some(i64::MIN));
        check("9223372036854775808", None);
        check("", None);
        check("-", None);
        check("+5", None);
        check("1e3", None);
        check("17 00", None);
        check("١٢", None);
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_digits() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(decode_hex32(&to_hex(&bytes)), Some(bytes));
        assert_eq!(decode_hex32(&to_hex(&bytes).to_uppercase()), None);
        assert_eq!(decode_hex32(&"0".repeat(63)), None);
        assert_eq!(decode_hex32(&"0".repeat(65)), None);
        assert_eq!(decode_hex32(&format!("{}g", "0".repeat(63))), None);
        assert_eq!(decode_hex32(&format!("{}é", "0".repeat(62))), None);
    }

    #[test]
    fn headers() {
        let sig = "0f".repeat(32);
        let ok = |h: &str| parse_header(h).unwrap();
        let bad = |h: &str| match parse_header(h) {
            Err(VerifyError::MalformedHeader(_)) => {}
            other => panic!("{h:?}: {other:?}"),
        };
        assert_eq!(ok(&format!("t=5,v1={sig}")).signatures, vec![[0x0f; 32]]);
        assert_eq!(ok(&format!("v1={sig},t=5")).timestamp, 5);
        assert_eq!(ok(&format!("t=5,v1={sig},v1={sig}")).signatures.len(), 2);
        assert_eq!(ok(&format!("t=5,,v1={sig},")).signatures.len(), 1);
        assert_eq!(ok("t=5,v0=nothex,v2=").signatures, Vec::<[u8; 32]>::new());
        assert_eq!(ok(&format!("\tt = 5 ,  v1 = {sig} ")).signatures.len(), 1);
        bad("");
        bad(&format!("v1={sig}"));
        bad(&format!("t=5,t=5,v1={sig}"));
        bad(&format!("t=,v1={sig}"));
        bad(&format!("t=+5,v1={sig}"));
        bad(&format!("t=5,v1={}", &sig[1..]));
        bad("t=5,v1=zz");
        bad(&format!("t=5,v1={sig},garbage"));
        bad(&format!("t=5,=x,v1={sig}"));
    }

    #[test]
    fn keys_longer_than_a_block_are_hashed() {
        let long = [0x61u8; 100];
        let hashed: [u8; 32] = Sha256::digest(long).into();
        assert_eq!(hmac_sha256(&long, b"m"), hmac_sha256(&hashed, b"m"));
        assert_ne!(hmac_sha256(&long[..64], b"m"), hmac_sha256(&long, b"m"));
    }
}
