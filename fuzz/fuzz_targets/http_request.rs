//! cargo-fuzz target `http_request`: feeds libFuzzer's bytes to [`harness::http_request`], the same body
//! `tests/fuzz_regressions.rs` replays in `cargo test` (see fuzz/README.md).

#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::http_request(data));
