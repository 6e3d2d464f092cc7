//! cargo-fuzz target `api_body`: a thin wrapper of [`vinr_fuzz::api_body`], which the
//! stable corpus replay test (`crates/vinr-fuzz/tests/corpus_replay.rs`) calls too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vinr_fuzz::api_body(data));
