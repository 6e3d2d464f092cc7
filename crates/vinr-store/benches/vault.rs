//! The vault: sealing a card number (AES-256-GCM with a fresh nonce, the key id bound as
//! associated data) and opening it again, as every saved card and every charge does.
//!
//! `cargo bench -p vinr-store --bench vault`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use vinr_domain::card::Pan;
use vinr_ports::vault::CardVault;
use vinr_store::vault::AesVault;

fn vault(c: &mut Criterion) {
    let vault = AesVault::random();
    let pan = Pan::parse("4000 0025 0000 3155").unwrap();
    let sealed = vault.seal(&pan).unwrap();
    c.bench_function("vault: seal a card number", |b| {
        b.iter(|| black_box(vault.seal(black_box(&pan)).unwrap()))
    });
    c.bench_function("vault: open a sealed card", |b| {
        b.iter(|| black_box(vault.open(black_box(&sealed)).unwrap()))
    });
}

criterion_group!(benches, vault);
criterion_main!(benches);
