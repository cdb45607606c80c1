//! Replays, in `cargo test` on stable Rust, every input the fuzzers made us keep: each crash
//! input under `tests/fuzz-regressions/<target>/` and each hand-picked seed under
//! `fuzz/seeds/<target>/`, through the very harness the cargo-fuzz targets run
//! (`fuzz/harness.rs`, included here by `#[path]`). A failure here is a fuzzer finding that
//! came back. How a crash becomes a file here: fuzz/README.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        root.join("tests/fuzz-regressions").join(target),
        root.join("fuzz/seeds").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with('.') || n.ends_with(".md"));
            if path.is_file() && !hidden {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Runs every kept input of `target`; a panic names the file that caused it.
fn replay(target: &str) {
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "no seeds or regression inputs for {target}"
    );
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let r = std::panic::catch_unwind(|| harness::run(target, &data));
        match r {
            Ok(known) => assert!(known, "no harness for {target}"),
            Err(_) => panic!("{target}: {} fails again", f.display()),
        }
    }
}

#[test]
fn every_fuzz_target_has_kept_inputs() {
    for t in harness::TARGETS {
        assert!(!inputs(t).is_empty(), "{t} has no seeds or regressions");
    }
}

#[test]
fn snapshot_open_survives_kept_fuzz_inputs() {
    replay("snapshot_open");
}

#[test]
fn fhir_map_survives_kept_fuzz_inputs_with_balanced_report() {
    replay("fhir_map");
}

#[test]
fn config_parse_survives_kept_fuzz_inputs() {
    replay("config_parse");
}

#[test]
fn http_request_survives_kept_fuzz_inputs_without_leaking_patient_data() {
    replay("http_request");
}

/// The seeds really reach past the front doors: a kept sealed file opens with the harness's
/// keys, and a kept request with a nurse session gets a patient page.
#[test]
fn kept_seeds_reach_deep_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let raw = std::fs::read(dir.join("snapshot_open/raw-mode")).unwrap();
    let trusted = noodepd::keys::PublisherSecret::from_bytes(&harness::PUBLISHER_SEED).public();
    let me = noodepd::keys::ApplianceSecret::from_bytes(&harness::APPLIANCE_SEED);
    let opened = noodepd::snapshot::open(
        raw.get(1..).unwrap(),
        &me,
        &trusted,
        &noodepd::snapshot::Limits::default(),
    )
    .expect("the kept sealed seed opens with the harness keys");
    assert_eq!(
        opened.header.kind,
        noodepd::snapshot::PayloadKind::ModeCommand
    );
    let req = std::fs::read(dir.join("http_request/get-nurse_patient__P1_")).unwrap();
    let out = String::from_utf8_lossy(&harness::http_exchange(&req)).into_owned();
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    // The leak check has something to find: the nurse's page shows an identifier.
    let ids = harness::patient_identifiers();
    assert!(ids.iter().any(|id| out.contains(id.as_str())), "{out}");
    // The same request without the session is sent to the login page.
    let anon = String::from_utf8_lossy(&harness::http_exchange(
        b"GET /patient/@P1@ HTTP/1.1\r\nHost: box\r\n\r\n",
    ))
    .into_owned();
    assert!(anon.starts_with("HTTP/1.1 303 "), "{anon}");
    assert!(!ids.iter().any(|id| anon.contains(id.as_str())));
}
