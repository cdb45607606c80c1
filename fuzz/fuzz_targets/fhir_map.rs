//! cargo-fuzz target `fhir_map`: feeds libFuzzer's bytes to [`harness::fhir_map`], the same body
//! `tests/fuzz_regressions.rs` replays in `cargo test` (see fuzz/README.md).

#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fhir_map(data));
