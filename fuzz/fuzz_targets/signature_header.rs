//! cargo-fuzz target `signature_header`: a thin wrapper of [`vinr_fuzz::signature_header`], which the
//! stable corpus replay test (`crates/vinr-fuzz/tests/corpus_replay.rs`) calls too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vinr_fuzz::signature_header(data));
