//! Load during ingest (issue 8, item 5), short: the `noodepd bench load-ingest` harness
//! against the real daemon binary — nurses logged in through the real login form browse
//! ward list → patient page → MAR while a new sealed snapshot arrives in the inbox every
//! second. Asserts no error and that every page came from exactly one generation (its
//! data-age header and its per-sequence markers agree); never latency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use noodepd::bench::load_ingest::{LoadIngestOptions, run};
use std::time::Duration;

#[test]
fn pages_stay_complete_and_from_one_generation_while_snapshots_swap_in() {
    let work = tempfile::tempdir().unwrap();
    let mut opts = LoadIngestOptions::new(env!("CARGO_BIN_EXE_noodepd").into());
    opts.clients = 16;
    opts.duration = Duration::from_secs(8);
    opts.interval = Duration::from_secs(1);
    // A small ward: the daemon under test is a debug build.
    opts.patients = 12;
    opts.work_parent = work.path().to_owned();
    let r = run(&opts, &mut |line| eprintln!("load-ingest: {line}")).unwrap();
    let text = r.to_text();
    eprintln!("{text}");
    assert_eq!(r.errors, 0, "{text}");
    assert_eq!(r.inconsistent, 0, "{text}");
    assert_eq!(r.rejected, 0, "{text}");
    assert!(r.is_clean(), "{text}");
    // The run must really have swapped generations under the browsing nurses, and the
    // pages must show several of them — otherwise it proved nothing about the swap.
    assert!(r.delivered >= 4, "{text}");
    assert_eq!(r.accepted, r.delivered, "{text}");
    assert!(r.swaps() >= 4, "{text}");
    assert!(r.generations_seen >= 3, "{text}");
    assert!(r.ward_list.requests > 0 && r.patient.requests > 0 && r.mar.requests > 0);
}
