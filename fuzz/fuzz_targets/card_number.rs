//! cargo-fuzz target `card_number`: a thin wrapper of [`vinr_fuzz::card_number`], which the
//! stable corpus replay test (`crates/vinr-fuzz/tests/corpus_replay.rs`) calls too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vinr_fuzz::card_number(data));
