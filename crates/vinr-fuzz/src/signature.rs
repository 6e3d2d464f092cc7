//! The `signature_header` target: the `x-vinr-signature` header and the body of a delivery, as
//! a webhook receiver gets them.

use vinr_webhooks::{
    Event, Verifier, VerifyError, hmac_sha256, parse_header, signature_header as sign_header,
};

/// The secrets the receiver knows (a rotation overlap: two). The seed corpus signs with them.
pub const SECRETS: [&str; 2] = ["whsec_fuzz_current", "whsec_fuzz_previous"];

/// How far from `t` the receiver's clock is tried.
const CLOCK_OFFSETS: [i64; 5] = [0, 300, -300, 301, -301];

/// Splits `data` at its first newline into a header (lossy UTF-8) and a raw body, then parses
/// the header, verifies the delivery against [`SECRETS`] at several clock readings, and parses
/// the body as an event.
///
/// Invariants: nothing panics; verification succeeds exactly when the header parses, one of
/// its `v1` is `HMAC-SHA256(secret, "<t as written>.<body>")` for a known secret, and the
/// clock is within 300 s of `t`; `verify` succeeds exactly when `verify_signature` does and the
/// body is an event; a header this crate signs for the body verifies, and stops verifying when
/// the body changes or the clock is 301 s away.
pub fn signature_header(data: &[u8]) {
    let (header, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    let verifier = Verifier::new(SECRETS);
    let parsed = parse_header(&header);
    let event = Event::parse(payload);
    if let Ok(event) = &event {
        let _ = (event.id(), event.kind().as_str(), event.created());
        let _ = (event.object_id(), event.object_version(), event.extra());
        let _ = event.is_newer_than(0);
        let _ = event.kind().known();
    }

    let signed_by_us = parsed
        .as_ref()
        .ok()
        .map(|_| matches_a_secret(&header, payload));
    let mut nows = vec![0, i64::MIN, i64::MAX];
    if let Ok(parsed) = &parsed {
        nows.extend(
            CLOCK_OFFSETS
                .iter()
                .filter_map(|o| parsed.timestamp.checked_add(*o)),
        );
    }
    for now in nows {
        let checked = verifier.verify_signature(payload, &header, now);
        let expected = match (&parsed, signed_by_us) {
            (Err(e), _) => Err(e.clone()),
            (Ok(_), Some(false) | None) => Err(VerifyError::NoMatchingSignature),
            (Ok(p), Some(true)) if now.abs_diff(p.timestamp) > 300 => {
                Err(VerifyError::TimestampOutsideTolerance {
                    timestamp: p.timestamp,
                    now,
                    tolerance: 300,
                })
            }
            (Ok(_), Some(true)) => Ok(()),
        };
        assert_eq!(
            checked, expected,
            "verify_signature disagrees with the oracle"
        );
        let full = verifier.verify(payload, &header, now);
        match (&checked, &event, &full) {
            (Err(a), _, Err(b)) => assert_eq!(a, b),
            (Ok(()), Ok(_), Ok(_)) | (Ok(()), Err(_), Err(VerifyError::InvalidPayload(_))) => {}
            _ => panic!("verify disagrees with verify_signature and Event::parse"),
        }
    }

    // A header signed now for this body verifies, and only for this body and this time.
    let t = match &parsed {
        Ok(p) => p.timestamp,
        Err(_) => i64::try_from(payload.len()).unwrap_or(0) * 1_000_003,
    };
    let fresh = sign_header(&SECRETS, t, payload);
    let reparsed = parse_header(&fresh);
    assert!(
        reparsed
            .as_ref()
            .is_ok_and(|h| h.timestamp == t && h.signatures.len() == SECRETS.len()),
        "a header we signed does not parse back: {fresh}"
    );
    assert_eq!(verifier.verify_signature(payload, &fresh, t), Ok(()));
    let mut tampered = payload.to_vec();
    tampered.push(b' ');
    assert_eq!(
        verifier.verify_signature(&tampered, &fresh, t),
        Err(VerifyError::NoMatchingSignature)
    );
    if let Some(late) = t.checked_add(301) {
        assert!(matches!(
            verifier.verify_signature(payload, &fresh, late),
            Err(VerifyError::TimestampOutsideTolerance { .. })
        ));
    }
    let only_old = Verifier::new([SECRETS[1]]);
    assert_eq!(only_old.verify_signature(payload, &fresh, t), Ok(()));
}

/// Whether one `v1` of `header` (which parses) is the HMAC of `"<t as written>.<payload>"`
/// under one of [`SECRETS`]: the oracle, computed independently of the verifier.
fn matches_a_secret(header: &str, payload: &[u8]) -> bool {
    let Ok(parsed) = parse_header(header) else {
        return false;
    };
    // The `t` as written: the value of the one `t=` item, trimmed (the header parsed, so
    // there is exactly one).
    let t_text = header
        .split(',')
        .filter_map(|item| item.split_once('='))
        .find(|(k, _)| k.trim() == "t")
        .map_or("", |(_, v)| v.trim());
    let mut message = Vec::with_capacity(t_text.len() + 1 + payload.len());
    message.extend_from_slice(t_text.as_bytes());
    message.push(b'.');
    message.extend_from_slice(payload);
    SECRETS.iter().any(|secret| {
        let expected = hmac_sha256(secret.as_bytes(), &message);
        parsed.signatures.contains(&expected)
    })
}
