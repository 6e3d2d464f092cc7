#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Signatures: known answers, properties of sign/verify, rotation and replay.

use std::time::Duration;

use proptest::prelude::*;
use vinr_domain::webhook::WebhookSecret;
use vinr_webhooks::{
    Verifier, VerifyError, hmac_sha256, parse_header, sign, signature_header, to_hex,
};

/// RFC 4231 §4: HMAC-SHA256 test cases 1–4, 6 and 7 (case 5 tests truncation, which the
/// scheme does not use), through the same keyed-HMAC code that signs deliveries.
#[test]
fn rfc_4231_vectors() {
    let cases: [(u32, Vec<u8>, Vec<u8>, &str); 6] = [
        (
            1,
            vec![0x0b; 20],
            b"Hi There".to_vec(),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            2,
            b"Jefe".to_vec(),
            b"what do ya want for nothing?".to_vec(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            3,
            vec![0xaa; 20],
            vec![0xdd; 50],
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        ),
        (
            4,
            (0x01..=0x19).collect(),
            vec![0xcd; 50],
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        ),
        (
            6,
            vec![0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        (
            7,
            vec![0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size \
              data. The key needs to be hashed before being used by the HMAC algorithm."
                .to_vec(),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ];
    for (case, key, data, want) in cases {
        assert_eq!(
            to_hex(&hmac_sha256(&key, &data)),
            want,
            "RFC 4231 case {case}"
        );
    }
}

/// A fixed secret, time and body, with the hex computed independently (Python's `hmac`).
#[test]
fn known_answer() {
    const HEX: &str = "248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a";
    let secret = WebhookSecret::new("whsec_test_secret");
    let body = br#"{"id":"evt_1"}"#;
    assert_eq!(sign(&secret, 1_700_000_000, body), HEX);
    assert_eq!(
        signature_header(&[&secret], 1_700_000_000, body),
        format!("t=1700000000,v1={HEX}")
    );
    // The same signature, checked through the verifier.
    let v = Verifier::new([secret]);
    assert_eq!(
        v.verify_signature(body, &format!("t=1700000000,v1={HEX}"), 1_700_000_000),
        Ok(())
    );
}

#[test]
fn a_header_carries_one_v1_per_secret_in_order() {
    let header = signature_header(&["s1", "s2", "s3"], 42, b"p");
    let parsed = parse_header(&header).unwrap();
    assert_eq!(parsed.timestamp, 42);
    let want: Vec<String> = ["s1", "s2", "s3"]
        .iter()
        .map(|s| sign(*s, 42, b"p"))
        .collect();
    let got: Vec<String> = parsed.signatures.iter().map(|s| to_hex(s)).collect();
    assert_eq!(got, want);
    assert_eq!(signature_header::<&str>(&[], 42, b"p"), "t=42");
}

#[test]
fn rotation_any_secret_is_accepted() {
    let (old, new, other) = ("whsec_old", "whsec_new", "whsec_other");
    let verifier = Verifier::new([new, old]);
    // During the overlap the sender signs with both; after it, with the new one only.
    for signers in [vec![new, old], vec![old, new], vec![new], vec![old]] {
        let header = signature_header(&signers, 10, b"body");
        assert_eq!(
            verifier.verify_signature(b"body", &header, 10),
            Ok(()),
            "{signers:?}"
        );
    }
    // A receiver that only knows the old secret still accepts overlap deliveries.
    let header = signature_header(&[new, old], 10, b"body");
    assert_eq!(
        Verifier::new([old]).verify_signature(b"body", &header, 10),
        Ok(())
    );
    // Nobody else's secret.
    let header = signature_header(&[other], 10, b"body");
    assert_eq!(
        verifier.verify_signature(b"body", &header, 10),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn two_v1_where_only_the_second_matches() {
    let good = sign("whsec_k", 77, b"payload");
    let bad = sign("whsec_wrong", 77, b"payload");
    let header = format!("t=77,v1={bad},v1={good}");
    assert_eq!(
        Verifier::new(["whsec_k"]).verify_signature(b"payload", &header, 77),
        Ok(())
    );
    // Other schemes and white space around it change nothing.
    let header = format!(" t=77 , v0=legacy , v1={bad} ,v1={good} ");
    assert_eq!(
        Verifier::new(["whsec_k"]).verify_signature(b"payload", &header, 77),
        Ok(())
    );
}

#[test]
fn replay_outside_the_default_tolerance_fails() {
    let v = Verifier::new(["whsec_k"]);
    assert_eq!(v.tolerance(), Duration::from_secs(300));
    let header = signature_header(&["whsec_k"], 1_000, b"p");
    assert_eq!(v.verify_signature(b"p", &header, 1_300), Ok(()));
    assert_eq!(v.verify_signature(b"p", &header, 700), Ok(()));
    assert_eq!(
        v.verify_signature(b"p", &header, 1_301),
        Err(VerifyError::TimestampOutsideTolerance {
            timestamp: 1_000,
            now: 1_301,
            tolerance: 300
        })
    );
    assert!(matches!(
        v.verify_signature(b"p", &header, 699),
        Err(VerifyError::TimestampOutsideTolerance { .. })
    ));
    // A longer tolerance accepts it.
    let lenient = v.clone().with_tolerance(Duration::from_secs(3_600));
    assert_eq!(lenient.verify_signature(b"p", &header, 1_301), Ok(()));
}

#[test]
fn verify_parses_only_after_the_signature_holds() {
    let v = Verifier::new(["whsec_k"]);
    let header = signature_header(&["whsec_k"], 5, b"not json");
    assert_eq!(v.verify_signature(b"not json", &header, 5), Ok(()));
    assert!(matches!(
        v.verify(b"not json", &header, 5),
        Err(VerifyError::InvalidPayload(_))
    ));
    // An unsigned body is not parsed at all: the signature error wins.
    assert_eq!(
        v.verify(b"not json", "t=5,v1=", 5),
        Err(VerifyError::MalformedHeader(
            "a `v1` is not 64 lower-case hex digits"
        ))
    );
}

fn secret() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..100)
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..2048)
}

proptest! {
    #[test]
    fn verify_accepts_what_sign_signs(
        secret in secret(),
        payload in payload(),
        t in any::<i64>(),
        skew in -300i64..=300,
    ) {
        let header = signature_header(&[secret.as_slice()], t, &payload);
        let now = t.saturating_add(skew);
        prop_assert_eq!(Verifier::new([secret.as_slice()]).verify_signature(&payload, &header, now), Ok(()));
        prop_assert_eq!(format!("t={t},v1={}", sign(secret.as_slice(), t, &payload)), header);
    }

    #[test]
    fn any_one_byte_change_of_the_payload_fails(
        secret in secret(),
        payload in prop::collection::vec(any::<u8>(), 1..2048),
        t in any::<i64>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let header = signature_header(&[secret.as_slice()], t, &payload);
        let mut changed = payload.clone();
        let i = at.index(changed.len());
        changed[i] ^= flip;
        prop_assert_eq!(
            Verifier::new([secret.as_slice()]).verify_signature(&changed, &header, t),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    /// Every byte of the header, the `t` and each `v1` included, changed to any other
    /// printable ASCII character: the delivery no longer verifies.
    #[test]
    fn any_one_byte_change_of_the_header_fails(
        secret in secret(),
        payload in payload(),
        t in 0i64..=i64::MAX,
        at in any::<prop::sample::Index>(),
        replacement in 0x20u8..0x7f,
    ) {
        let header = signature_header(&[secret.as_slice()], t, &payload);
        let mut changed = header.clone().into_bytes();
        let i = at.index(changed.len());
        prop_assume!(changed[i] != replacement);
        changed[i] = replacement;
        let changed = String::from_utf8(changed).unwrap();
        let now: i64 = parse_header(&changed).map(|h| h.timestamp).unwrap_or(t);
        let result = Verifier::new([secret.as_slice()])
            .with_tolerance(Duration::from_secs(u64::MAX))
            .verify_signature(&payload, &changed, now);
        prop_assert!(
            matches!(result, Err(VerifyError::NoMatchingSignature | VerifyError::MalformedHeader(_))),
            "{changed}: {result:?}"
        );
    }

    #[test]
    fn any_change_of_the_timestamp_fails(
        secret in secret(),
        payload in payload(),
        t in any::<i64>(),
        other in any::<i64>(),
    ) {
        prop_assume!(t != other);
        let hex = sign(secret.as_slice(), t, &payload);
        let header = format!("t={other},v1={hex}");
        prop_assert_eq!(
            Verifier::new([secret.as_slice()]).verify_signature(&payload, &header, other),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn any_one_byte_change_of_the_signature_fails(
        secret in secret(),
        payload in payload(),
        t in any::<i64>(),
        at in 0usize..32,
        flip in 1u8..=255,
    ) {
        let mut mac = parse_header(&signature_header(&[secret.as_slice()], t, &payload))
            .unwrap()
            .signatures[0];
        mac[at] ^= flip;
        let header = format!("t={t},v1={}", to_hex(&mac));
        prop_assert_eq!(
            Verifier::new([secret.as_slice()]).verify_signature(&payload, &header, t),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn replays_outside_the_tolerance_fail(
        secret in secret(),
        payload in payload(),
        t in -1_000_000_000_000i64..1_000_000_000_000,
        tolerance in 0u64..100_000,
        beyond in 1i64..1_000_000,
        later in any::<bool>(),
    ) {
        let header = signature_header(&[secret.as_slice()], t, &payload);
        let gap = tolerance as i64 + beyond;
        let now = if later { t + gap } else { t - gap };
        let v = Verifier::new([secret.as_slice()]).with_tolerance(Duration::from_secs(tolerance));
        prop_assert_eq!(
            v.verify_signature(&payload, &header, now),
            Err(VerifyError::TimestampOutsideTolerance { timestamp: t, now, tolerance })
        );
    }

    #[test]
    fn any_of_several_secrets_is_accepted(
        secrets in prop::collection::vec(secret(), 1..5),
        signer in any::<prop::sample::Index>(),
        payload in payload(),
        t in any::<i64>(),
    ) {
        let signer = &secrets[signer.index(secrets.len())];
        let header = signature_header(&[signer.as_slice()], t, &payload);
        let v = Verifier::new(secrets.iter().map(Vec::as_slice));
        prop_assert_eq!(v.verify_signature(&payload, &header, t), Ok(()));
    }

    #[test]
    fn parse_header_never_panics(header in "\\PC{0,200}") {
        let _ = parse_header(&header);
    }
}
