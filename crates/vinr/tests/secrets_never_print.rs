//! Secrets never print (issue 7): every type that carries a secret is formatted with `{:?}`
//! (and `{}` where it has `Display`), and the text is scanned for the secret in every form it
//! could leak in — card digits beyond the last four, the CVC, key bytes as hex, base64 or a
//! Rust byte list, the body of a `whsec_…` or `sk_test_…` secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use vinr_domain::card::{Cvc, Pan};
use vinr_domain::webhook::WebhookSecret;
use vinr_ports::params::{AttachTestCard, CardEntry};
use vinr_store::vault::keys::KeyFile;
use vinr_store::vault::{AesVault, VaultKey};

/// Card numbers of the test-card table (api.md §4), as typed.
const NUMBERS: [&str; 4] = [
    "4242 4242 4242 4242",
    "3782 822463 10005",
    "4000 0025 0000 3155",
    "5555 5555 5555 4444",
];
/// A CVC; no formatted text may contain it.
const CVC: &str = "7391";
const WHSEC: &str = "whsec_Zq8Lm2Np4Rt6Vx8Bd0Fh2Jk4Mn6Pq8St";
const SK: &str = "sk_test_Yk3Hs9Wd2Gf7Qa1Xc5Vb8Nm4Lp6Jr0Te";

fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// Fails if `text` (the formatting of `what`) shows any of `secrets`.
fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} reveals {secret:?}: {text}"
        );
    }
}

/// The forms a card number could leak in: the whole number, typed or bare, and every six
/// consecutive digits (each such window holds digits beyond the last four).
fn pan_leaks(number: &str) -> Vec<String> {
    let d = digits(number);
    let mut out = vec![number.to_owned(), d.clone()];
    out.extend(
        d.as_bytes()
            .windows(6)
            .map(|w| String::from_utf8_lossy(w).into_owned()),
    );
    out
}

/// The forms 32 key bytes could leak in.
fn key_leaks(bytes: &[u8]) -> Vec<String> {
    let lower: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let upper = lower.to_uppercase();
    let list = format!("{:?}", &bytes[..4]);
    let list = list.trim_end_matches(']').to_owned();
    let pretty = format!("{:#?}", &bytes[..4]);
    let pretty = pretty.trim_end_matches(']').trim_end().to_owned();
    vec![
        lower[..16].to_owned(),
        upper[..16].to_owned(),
        STANDARD.encode(bytes)[..16].to_owned(),
        STANDARD_NO_PAD.encode(bytes)[..16].to_owned(),
        URL_SAFE.encode(bytes)[..16].to_owned(),
        URL_SAFE_NO_PAD.encode(bytes)[..16].to_owned(),
        list,
        pretty,
    ]
}

/// The forms a prefixed secret could leak in: its body, and any 8 consecutive characters of it.
fn body_leaks(secret: &str, prefix: &str) -> Vec<String> {
    let body = secret.strip_prefix(prefix).expect("prefixed");
    let mut out = vec![secret.to_owned(), body.to_owned()];
    out.extend(
        body.as_bytes()
            .windows(8)
            .map(|w| String::from_utf8_lossy(w).into_owned()),
    );
    out
}

/// Distinctive key bytes (no run that could occur by chance in a formatted struct).
fn key_bytes(seed: u8) -> [u8; 32] {
    std::array::from_fn(|i| {
        seed.wrapping_mul(31)
            .wrapping_add((i as u8).wrapping_mul(97))
            | 1
    })
}

#[test]
fn card_numbers_show_only_their_last_four() {
    for number in NUMBERS {
        let pan = Pan::parse(number).expect("a test card");
        let leaks = pan_leaks(number);
        let last4 = &digits(number)[digits(number).len() - 4..];
        let debug = format!("{pan:?}");
        let display = format!("{pan}");
        assert_clean("Pan {:?}", &debug, &leaks);
        assert_clean("Pan {}", &display, &leaks);
        assert!(debug.contains(last4), "{debug}");
        assert!(display.contains(last4), "{display}");
        // Alternate and padded forms go through the same impls.
        assert_clean("Pan {:#?}", &format!("{pan:#?}"), &leaks);
        assert_clean("Pan {:>40}", &format!("{pan:>40}"), &leaks);
    }
}

#[test]
fn a_cvc_never_shows() {
    for code in [CVC, "987", "0123"] {
        let cvc = Cvc::parse(code).expect("a cvc");
        assert_clean("Cvc {:?}", &format!("{cvc:?}"), &[code.to_owned()]);
        assert_clean("Cvc {:#?}", &format!("{cvc:#?}"), &[code.to_owned()]);
    }
}

#[test]
fn a_card_typed_on_a_hosted_page_shows_neither_number_nor_cvc() {
    for number in NUMBERS {
        let entry = CardEntry::new(number, "12/34", CVC);
        let mut leaks = pan_leaks(number);
        leaks.push(CVC.to_owned());
        assert_clean("CardEntry {:?}", &format!("{entry:?}"), &leaks);
        assert_clean("CardEntry {:#?}", &format!("{entry:#?}"), &leaks);
    }
}

#[test]
fn a_test_card_sent_to_the_helper_shows_neither_number_nor_cvc() {
    for number in NUMBERS {
        let params = AttachTestCard {
            number: number.to_owned(),
            exp_month: 12,
            exp_year: 2034,
            cvc: Some(CVC.to_owned()),
        };
        let mut leaks = pan_leaks(number);
        leaks.push(CVC.to_owned());
        assert_clean("AttachTestCard {:?}", &format!("{params:?}"), &leaks);
        assert_clean("AttachTestCard {:#?}", &format!("{params:#?}"), &leaks);
    }
}

#[test]
fn a_webhook_secret_shows_only_its_prefix() {
    let given = WebhookSecret::new(WHSEC);
    assert_clean(
        "WebhookSecret {:?}",
        &format!("{given:?}"),
        &body_leaks(WHSEC, "whsec_"),
    );
    let generated = WebhookSecret::from_entropy(&[7; 24], &[9; 24]);
    let text = generated.expose().to_owned();
    assert_clean(
        "WebhookSecret {:?}",
        &format!("{generated:?}"),
        &body_leaks(&text, "whsec_"),
    );
    assert_clean(
        "WebhookSecret {:#?}",
        &format!("{generated:#?}"),
        &body_leaks(&text, "whsec_"),
    );
}

#[test]
fn vault_keys_and_the_vault_show_no_key_bytes() {
    let active = key_bytes(3);
    let fingerprint = key_bytes(5);
    let key = VaultKey::new("key_active", active);
    assert_clean("VaultKey {:?}", &format!("{key:?}"), &key_leaks(&active));
    assert_clean("VaultKey {:#?}", &format!("{key:#?}"), &key_leaks(&active));

    let older = key_bytes(11);
    let vault = AesVault::new(key, fingerprint)
        .with_key(VaultKey::new("key_older", older))
        .expect("a second key");
    let mut leaks = key_leaks(&active);
    leaks.extend(key_leaks(&fingerprint));
    leaks.extend(key_leaks(&older));
    assert_clean("AesVault {:?}", &format!("{vault:?}"), &leaks);
    assert_clean("AesVault {:#?}", &format!("{vault:#?}"), &leaks);
}

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "vinr-secrets-never-print-{}-{n}",
            std::process::id()
        ));
        // A directory left by a killed run of the same pid is simply reused.
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_key_file_shows_no_key_of_its_file() {
    let dir = TempDir::new();
    let path = dir.0.join("vinr.keys");
    let mut file = KeyFile::load_or_create(&path).expect("a new key file");
    file.rotate().expect("a second key");
    let text = std::fs::read_to_string(&path).expect("the key file");
    // Every base64 token of the file is a key (`fingerprint <b64>`, `key <b64>`).
    let mut leaks = Vec::new();
    let mut keys = 0;
    for line in text.lines() {
        let Some((kind, b64)) = line.split_once(' ') else {
            continue;
        };
        if kind != "fingerprint" && kind != "key" {
            continue;
        }
        let bytes = STANDARD
            .decode(b64.trim())
            .or_else(|_| STANDARD_NO_PAD.decode(b64.trim()))
            .expect("a base64 key");
        assert_eq!(bytes.len(), 32, "{kind}");
        leaks.push(b64.trim().to_owned());
        leaks.extend(key_leaks(&bytes));
        keys += 1;
    }
    assert!(keys >= 3, "fingerprint and two keys in the file");
    assert_clean("KeyFile {:?}", &format!("{file:?}"), &leaks);
    assert_clean("KeyFile {:#?}", &format!("{file:#?}"), &leaks);
    let vault = file.vault().expect("the vault");
    assert_clean(
        "AesVault from a KeyFile {:?}",
        &format!("{vault:?}"),
        &leaks,
    );
}

#[cfg(feature = "client")]
#[test]
fn an_http_client_shows_no_secret_key() {
    let leaks = body_leaks(SK, "sk_test_");
    let client = vinr::HttpClient::new("http://127.0.0.1:4242", SK).expect("a client");
    assert_clean("HttpClient {:?}", &format!("{client:?}"), &leaks);
    assert_clean("HttpClient {:#?}", &format!("{client:#?}"), &leaks);
    let vinr = vinr::Vinr::with_base_url(SK, "http://127.0.0.1:4242").expect("a handle");
    assert_clean("Vinr {:?}", &format!("{vinr:?}"), &leaks);
    // Refusals of the URL never echo the key either.
    let err = vinr::HttpClient::new("not a url", SK).expect_err("a bad base URL");
    assert_clean("client error {:?}", &format!("{err:?}"), &leaks);
    assert_clean("client error {}", &format!("{err}"), &leaks);
}

#[test]
fn the_server_config_shows_no_csrf_key() {
    let csrf = key_bytes(17);
    let config = vinr_http::server::ServerConfig {
        public_url: "https://pay.example.com".into(),
        csrf_key: csrf,
        rate_limit: None,
    };
    assert_clean(
        "ServerConfig {:?}",
        &format!("{config:?}"),
        &key_leaks(&csrf),
    );
    assert_clean(
        "ServerConfig {:#?}",
        &format!("{config:#?}"),
        &key_leaks(&csrf),
    );
}

#[test]
fn a_webhook_verifier_shows_no_secret() {
    let other = "whsec_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv";
    let mut leaks = body_leaks(WHSEC, "whsec_");
    leaks.extend(body_leaks(other, "whsec_"));
    let by_str = vinr::webhooks::Verifier::new([WHSEC, other]);
    assert_clean("Verifier {:?}", &format!("{by_str:?}"), &leaks);
    assert_clean("Verifier {:#?}", &format!("{by_str:#?}"), &leaks);
    let by_secret = vinr::webhooks::Verifier::new([WebhookSecret::new(WHSEC)]);
    assert_clean("Verifier {:?}", &format!("{by_secret:?}"), &leaks);
    // The axum extractor's state wraps a verifier.
    let extractor = vinr::webhooks::axum::WebhookVerifier::new(by_secret);
    assert_clean("WebhookVerifier {:?}", &format!("{extractor:?}"), &leaks);
}
