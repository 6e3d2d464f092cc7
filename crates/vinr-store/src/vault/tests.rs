use super::*;
use vinr_domain::testcards::TEST_CARDS;

const K1: [u8; 32] = [0x5A; 32];
const K2: [u8; 32] = [0xC3; 32];
const FP: [u8; 32] = [0x77; 32];

fn pan(digits: &str) -> Pan {
    Pan::parse(digits).unwrap()
}

fn vault() -> AesVault {
    AesVault::new(VaultKey::new("k1", K1), FP)
}

#[test]
fn every_test_card_round_trips() {
    let v = vault();
    for card in TEST_CARDS {
        let p = pan(card.number);
        let sealed = v.seal(&p).unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert_eq!(v.open(&sealed).unwrap(), p, "{}", card.number);
    }
}

#[test]
fn every_seal_uses_a_fresh_nonce() {
    let v = vault();
    let p = pan("4242424242424242");
    let a = v.seal(&p).unwrap();
    let b = v.seal(&p).unwrap();
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.ciphertext, b.ciphertext);
    assert_eq!(v.open(&a).unwrap(), v.open(&b).unwrap());
}

#[test]
fn a_vault_without_the_key_says_which_key_it_lacks() {
    let sealed = vault().seal(&pan("4242424242424242")).unwrap();
    let other = AesVault::new(VaultKey::new("k2", K2), FP);
    assert_eq!(
        other.open(&sealed),
        Err(VaultError::UnknownKey("k1".to_owned()))
    );
    let a = AesVault::random();
    let b = AesVault::random();
    let sealed = a.seal(&pan("5555555555554444")).unwrap();
    assert!(matches!(b.open(&sealed), Err(VaultError::UnknownKey(_))));
}

#[test]
fn other_key_material_under_the_same_id_fails_to_decrypt() {
    let sealed = vault().seal(&pan("4242424242424242")).unwrap();
    let impostor = AesVault::new(VaultKey::new("k1", K2), FP);
    assert_eq!(impostor.open(&sealed), Err(VaultError::Decrypt));
}

#[test]
fn any_altered_byte_fails_to_decrypt() {
    let v = vault();
    let sealed = v.seal(&pan("378282246310005")).unwrap();
    for i in 0..sealed.ciphertext.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= flip;
            assert_eq!(
                v.open(&bad),
                Err(VaultError::Decrypt),
                "ciphertext byte {i} ^ {flip:#x}"
            );
        }
    }
    for i in 0..sealed.nonce.len() {
        let mut bad = sealed.clone();
        bad.nonce[i] ^= 0x01;
        assert_eq!(v.open(&bad), Err(VaultError::Decrypt), "nonce byte {i}");
    }
    let mut short = sealed.clone();
    short.ciphertext.pop();
    assert_eq!(v.open(&short), Err(VaultError::Decrypt));
    let mut long = sealed.clone();
    long.ciphertext.push(0);
    assert_eq!(v.open(&long), Err(VaultError::Decrypt));
    for nonce in [vec![], vec![0; 11], vec![0; 13], sealed.nonce[..8].to_vec()] {
        let bad = SealedCard {
            nonce,
            ..sealed.clone()
        };
        assert_eq!(v.open(&bad), Err(VaultError::Decrypt));
    }
    assert_eq!(
        v.open(&SealedCard {
            ciphertext: vec![],
            ..sealed.clone()
        }),
        Err(VaultError::Decrypt)
    );
}

#[test]
fn the_key_id_is_bound_to_the_ciphertext() {
    // Same key bytes under two ids: only the associated data tells them apart.
    let v = AesVault::new(VaultKey::new("k1", K1), FP)
        .with_key(VaultKey::new("k1-copy", K1))
        .unwrap();
    let sealed = v.seal(&pan("4242424242424242")).unwrap();
    let moved = SealedCard {
        key_id: "k1-copy".to_owned(),
        ..sealed.clone()
    };
    assert_eq!(v.open(&moved), Err(VaultError::Decrypt));
    assert!(v.open(&sealed).is_ok());
}

/// Seals arbitrary bytes exactly as `seal` would, to see what `open` makes of plaintext that
/// authenticates but is no PAN.
fn seal_raw(v: &AesVault, plain: &[u8]) -> SealedCard {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = v
        .active_cipher()
        .unwrap()
        .encrypt(
            &nonce,
            Payload {
                msg: plain,
                aad: &associated_data("k1"),
            },
        )
        .unwrap();
    SealedCard {
        key_id: "k1".to_owned(),
        nonce: nonce.to_vec(),
        ciphertext,
    }
}

#[test]
fn authentic_plaintext_that_is_no_pan_is_refused() {
    let v = vault();
    assert_eq!(
        v.open(&seal_raw(&v, b"4242424242424242")).unwrap(),
        pan("4242424242424242")
    );
    for bad in [
        &b"4242424242424241"[..],
        b"4242 4242 4242 4242",
        b"not a card",
        b"",
        &[0xFF, 0xFE, 0x34],
    ] {
        assert_eq!(
            v.open(&seal_raw(&v, bad)),
            Err(VaultError::Decrypt),
            "{bad:?}"
        );
    }
}

#[test]
fn debug_output_holds_no_key_bytes_and_no_digits() {
    let key = VaultKey::new("k1", K1);
    let v = AesVault::new(key.clone(), FP)
        .with_key(VaultKey::new("k2", K2))
        .unwrap();
    let p = pan("4000002500003155");
    let sealed = v.seal(&p).unwrap();
    let texts = [
        format!("{key:?}"),
        format!("{v:?}"),
        format!("{sealed:?}"),
        format!("{:?}", AesVault::random()),
    ];
    let forbidden = [
        format!("{:?}", K1),
        format!("{:?}", K2),
        format!("{:?}", FP),
        hex(&K1),
        hex(&K2),
        hex(&FP),
        "90, 90".to_owned(),
        "195, 195".to_owned(),
        "119, 119".to_owned(),
        p.expose().to_owned(),
        format!("{:?}", sealed.ciphertext),
        format!("{:?}", sealed.nonce),
    ];
    for text in &texts {
        for f in &forbidden {
            assert!(!text.contains(f.as_str()), "{text} contains {f}");
        }
        assert!(
            text.contains("k1") || text.contains("random-"),
            "{text} names its key"
        );
    }
    assert!(texts[1].contains("k2"));
}

#[test]
fn errors_name_the_key_only() {
    assert_eq!(
        VaultError::UnknownKey("k9".into()).to_string(),
        "the vault has no key `k9`"
    );
    let e = vault().with_key(VaultKey::new("k1", K2)).unwrap_err();
    assert_eq!(e, VaultConfigError::DuplicateKey("k1".to_owned()));
    assert!(!e.to_string().contains("195"));
}

#[test]
fn fingerprints_are_keyed_and_stable() {
    let v = vault();
    let a = pan("4242424242424242");
    let fa = v.fingerprint(&a);
    assert_eq!(fa.as_str().len(), FINGERPRINT_HEX_CHARS);
    assert!(fa.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(fa, v.fingerprint(&pan("4242 4242 4242 4242")));
    assert_ne!(fa, v.fingerprint(&pan("5555555555554444")));
    assert!(!fa.as_str().contains("4242"));
    // The encryption keys do not enter the fingerprint: rotating them keeps every fingerprint.
    let rotated = AesVault::new(VaultKey::new("k2", K2), FP);
    assert_eq!(rotated.fingerprint(&a), fa);
    // Another account key gives another fingerprint.
    let other = AesVault::new(VaultKey::new("k1", K1), [0x78; 32]);
    assert_ne!(other.fingerprint(&a), fa);
    // All test cards have distinct fingerprints.
    let all: std::collections::HashSet<_> = TEST_CARDS
        .iter()
        .map(|c| v.fingerprint(&pan(c.number)))
        .collect();
    assert_eq!(all.len(), TEST_CARDS.len());
}

#[test]
fn the_fingerprint_is_plain_hmac_sha256() {
    let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(&FP).unwrap();
    reference.update(b"4242424242424242");
    let expected = hex(&reference.finalize().into_bytes());
    assert_eq!(
        vault().fingerprint(&pan("4242424242424242")).as_str(),
        &expected[..FINGERPRINT_HEX_CHARS]
    );
    // RFC 4231 test case 2, to pin the padding of short keys.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
    mac.update(b"what do ya want for nothing?");
    assert_eq!(
        hex(&mac.finalize().into_bytes()),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn reseal_moves_a_record_to_the_active_key() {
    let old = vault();
    let p = pan("4000000000003220");
    let sealed = old.seal(&p).unwrap();

    let mut v = AesVault::new(VaultKey::new("k2", K2), FP)
        .with_key(VaultKey::new("k1", K1))
        .unwrap();
    assert_eq!(v.active_key_id(), "k2");
    assert_eq!(v.key_ids().collect::<Vec<_>>(), ["k1", "k2"]);
    let moved = v.reseal(&sealed).unwrap().unwrap();
    assert_eq!(moved.key_id, "k2");
    assert_eq!(v.open(&moved).unwrap(), p);
    assert_eq!(v.reseal(&moved).unwrap(), None);
    // Only k1 can read the original; only k2 the moved one.
    assert_eq!(
        old.open(&moved),
        Err(VaultError::UnknownKey("k2".to_owned()))
    );

    assert_eq!(
        v.set_active("k9"),
        Err(VaultError::UnknownKey("k9".to_owned()))
    );
    assert_eq!(v.active_key_id(), "k2");
    v.set_active("k1").unwrap();
    assert_eq!(v.seal(&p).unwrap().key_id, "k1");
    assert_eq!(v.reseal(&sealed).unwrap(), None);
    let back = v.reseal(&moved).unwrap().unwrap();
    assert_eq!(back.key_id, "k1");
    assert_eq!(old.open(&back).unwrap(), p);

    let stranger = AesVault::random().seal(&p).unwrap();
    assert!(matches!(
        v.reseal(&stranger),
        Err(VaultError::UnknownKey(_))
    ));
    let mut tampered = sealed.clone();
    tampered.ciphertext[0] ^= 1;
    assert_eq!(
        AesVault::new(VaultKey::new("k2", K2), FP)
            .with_key(VaultKey::new("k1", K1))
            .unwrap()
            .reseal(&tampered),
        Err(VaultError::Decrypt)
    );
}
