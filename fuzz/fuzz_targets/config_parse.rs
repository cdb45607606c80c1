//! cargo-fuzz target `config_parse`: feeds libFuzzer's bytes to [`harness::config_parse`], the same body
//! `tests/fuzz_regressions.rs` replays in `cargo test` (see fuzz/README.md).

#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::config_parse(data));
