//! VINR's fuzz targets, as plain functions of bytes.
//!
//! Each target feeds arbitrary bytes to one place where VINR reads untrusted input and checks
//! the invariants that must hold whatever arrives: no panic, no 5xx, errors in the contract's
//! shape, no card number echoed back. They are called from two places:
//!
//! - `fuzz/fuzz_targets/*.rs`, thin `libfuzzer-sys` wrappers run by `cargo +nightly fuzz run`
//!   (`cargo xtask fuzz --seconds N` runs them all, then minimizes the corpus);
//! - `tests/corpus_replay.rs`, an ordinary stable test (so part of
//!   `cargo test --workspace --all-features`, and of CI) that runs every input of the committed
//!   corpus `fuzz/corpus/<target>/` and every regression under `fuzz/artifacts/<target>/`.
//!
//! | target | function | what it reads |
//! | --- | --- | --- |
//! | `card_number` | [`card_number`] | `Pan::parse`, `Cvc::parse`, `Expiry::parse_mm_yy`, the test-card table |
//! | `signature_header` | [`signature_header`] | `x-vinr-signature` parsing, verification, `Event::parse` |
//! | `api_body` | [`api_body`] | every `/v1` route of the OpenAPI document, with the bytes as JSON body or query |
//! | `hosted_form` | [`hosted_form`] | form posts to `/hosted/setup`, `/hosted/pay`, `/hosted/authenticate` |
//!
//! The HTTP targets drive the real router in-process (`tower::ServiceExt::oneshot`) over a
//! fresh memory store per input, with reproducible ids and keys, so every input replays the
//! same way alone or in any order.
//!
//! A target reports a broken invariant by panicking: that is how libFuzzer and the test
//! runner learn of it. This crate is test support and is never linked into the server.
#![allow(clippy::panic)]

mod api;
mod app;
mod card;
mod hosted;
mod signature;

pub use api::{api_body, api_request, route_count};
pub use card::card_number;
pub use hosted::{HostedPage, hosted_form, hosted_post};
pub use signature::{SECRETS, signature_header};

/// A fuzz target: its name (the directory of its corpus) and its function.
#[derive(Clone, Copy)]
pub struct Target {
    /// The cargo-fuzz target name, also `fuzz/corpus/<name>/`.
    pub name: &'static str,
    /// Runs one input; panics when an invariant breaks.
    pub run: fn(&[u8]),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("name", &self.name).finish()
    }
}

/// Every fuzz target, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "card_number",
        run: card_number,
    },
    Target {
        name: "signature_header",
        run: signature_header,
    },
    Target {
        name: "api_body",
        run: api_body,
    },
    Target {
        name: "hosted_form",
        run: hosted_form,
    },
];

/// The digits of every run of at least 12 digits (spaces and dashes inside a run allowed, as a
/// buyer types them) that is a valid card number: what must never come back in a response.
pub(crate) fn card_numbers_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut digits = String::new();
    let flush = |digits: &mut String, found: &mut Vec<String>| {
        if digits.len() >= 12 && vinr_domain::card::Pan::parse(digits).is_ok() {
            found.push(std::mem::take(digits));
        }
        digits.clear();
    };
    for c in text.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' if !digits.is_empty() => {}
            _ => flush(&mut digits, &mut found),
        }
    }
    flush(&mut digits, &mut found);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typed_card_numbers_only() {
        assert_eq!(
            card_numbers_in("n=4242 4242-4242 4242&x=1234567890123"),
            ["4242424242424242"]
        );
        assert!(card_numbers_in("4242424242424241 12/30 123").is_empty());
    }

    #[test]
    fn target_names_are_unique() {
        let mut names: Vec<_> = TARGETS.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TARGETS.len());
    }
}
