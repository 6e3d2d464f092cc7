//! Replays the committed fuzz corpus on stable: every file of `fuzz/corpus/<target>/` and of
//! `fuzz/artifacts/<target>/` (regressions: crashes found and fixed) goes through its target
//! once, so `cargo test --workspace` (and CI) keeps every input the fuzzer ever found
//! interesting passing without nightly or cargo-fuzz.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use vinr_fuzz::{TARGETS, Target};

/// The `fuzz/` directory at the workspace root.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `dir`, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every input of `target`; returns how many ran, and the failures.
fn replay(target: &Target) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut count = 0;
    for dir in ["corpus", "artifacts"] {
        for file in files(&fuzz_dir().join(dir).join(target.name)) {
            let data = fs::read(&file).unwrap();
            count += 1;
            if catch_unwind(AssertUnwindSafe(|| (target.run)(&data))).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    (count, failures)
}

fn replay_one(name: &str, at_least: usize) {
    let target = TARGETS.iter().find(|t| t.name == name).unwrap();
    let (count, failures) = replay(target);
    assert!(
        failures.is_empty(),
        "{name}: {} input(s) failed (run one with `cargo +nightly fuzz run {name} <file>` in \
         fuzz/): {failures:#?}",
        failures.len()
    );
    assert!(
        count >= at_least,
        "{name}: only {count} input(s) under fuzz/corpus/{name}; the committed corpus is missing"
    );
}

#[test]
fn card_number_corpus() {
    replay_one("card_number", 10);
}

#[test]
fn signature_header_corpus() {
    replay_one("signature_header", 5);
}

#[test]
fn api_body_corpus() {
    replay_one("api_body", 20);
}

#[test]
fn hosted_form_corpus() {
    replay_one("hosted_form", 8);
}

#[test]
fn every_target_has_a_replay_test_and_a_fuzz_target() {
    let source = include_str!("corpus_replay.rs");
    for target in TARGETS {
        assert!(source.contains(&format!("fn {}_corpus()", target.name)));
        let wrapper = fuzz_dir()
            .join("fuzz_targets")
            .join(format!("{}.rs", target.name));
        assert!(wrapper.is_file(), "no fuzz target {}", wrapper.display());
    }
}
