//! `verify_signature` against a bare HMAC-SHA256 of the same bytes, on 1 KiB and 16 KiB
//! event bodies: the verify path should cost little more than the HMAC it must compute.
//!
//! `cargo bench -p vinr-webhooks --bench verify`; add `-- --quick` for a short run.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use vinr_domain::webhook::WebhookSecret;
use vinr_webhooks::{Verifier, signature_header};

const NOW: i64 = 1_700_000_000;

/// A payment event padded (in its metadata) to exactly `size` bytes.
fn event_body(size: usize) -> Vec<u8> {
    let head = r#"{"id":"evt_4kQ8zV1nW2xY3bC5dF6gH7jK","object":"event","type":"payment.succeeded","created":1700000000,"livemode":false,"data":{"object":{"object":"payment","id":"pay_9mN8bV7cX6zL5kJ4hG3fD2sA","amount":2500,"currency":"EUR","status":"succeeded","customerId":"cust_1aB2cD3eF4gH5iJ6kL7mN8oP","paymentMethodId":"pm_Qr9St8Uv7Wx6Yz5Ab4Cd3Ef2","offSession":true,"description":null,"metadata":{"pad":""#;
    let tail = r#""},"savePaymentMethod":false,"returnUrl":null,"checkoutUrl":null,"nextAction":null,"lastError":null,"created":1700000000,"livemode":false,"version":3}}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head.as_bytes());
    body.extend(std::iter::repeat_n(b'x', pad));
    body.extend_from_slice(tail.as_bytes());
    body
}

fn verify(c: &mut Criterion) {
    let secret = WebhookSecret::new("whsec_Tz3vXq8LmN2pR5sW9yB4cD7fG1hJ6kM0nQ3tU8wZaE5rY2iO");
    let verifier = Verifier::new([secret.clone()]);
    for size in [1024, 16 * 1024] {
        let body = event_body(size);
        let header = signature_header(&[&secret], NOW, &body);
        if verifier.verify(&body, &header, NOW).is_err() {
            eprintln!("the bench body does not verify");
            return;
        }
        let mut group = c.benchmark_group(format!("{} KiB", size / 1024));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("verify_signature", |b| {
            b.iter(|| verifier.verify_signature(black_box(&body), black_box(&header), NOW))
        });
        group.bench_function("bare HMAC-SHA256", |b| {
            b.iter(|| {
                let key = black_box(secret.expose().as_bytes());
                let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
                    Ok(mac) => mac,
                    Err(_) => return None,
                };
                mac.update(black_box(&body));
                Some(mac.finalize().into_bytes())
            })
        });
        group.bench_function("verify (and parse the event)", |b| {
            b.iter(|| {
                verifier
                    .verify(black_box(&body), black_box(&header), NOW)
                    .is_ok()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, verify);
criterion_main!(benches);
