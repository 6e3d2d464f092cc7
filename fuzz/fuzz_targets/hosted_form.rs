//! cargo-fuzz target `hosted_form`: a thin wrapper of [`vinr_fuzz::hosted_form`], which the
//! stable corpus replay test (`crates/vinr-fuzz/tests/corpus_replay.rs`) calls too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vinr_fuzz::hosted_form(data));
