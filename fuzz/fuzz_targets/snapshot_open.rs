//! cargo-fuzz target `snapshot_open`: feeds libFuzzer's bytes to [`harness::snapshot_open`], the same body
//! `tests/fuzz_regressions.rs` replays in `cargo test` (see fuzz/README.md).

#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::snapshot_open(data));
