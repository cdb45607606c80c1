#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic
//! Start-up from the last generation, with the real `noodepd serve` binary and real files:
//! a daemon stopped with SIGTERM keeps the generation file it served, and the next start
//! serves that same file again when it verifies (its whole-file SHA-256 against the record
//! in the state directory, the newest kept snapshot opened with the current keys). A file
//! changed on the runtime directory, a record that does not match, or a kept snapshot the
//! current keys no longer open is never served from the old file: the kept snapshot is
//! mapped again (or, without usable keys, nothing is served), as before.

mod e2e_common;

use e2e_common::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

struct Box3 {
    w: Ward,
    names: Vec<String>,
    nurse: DemoLogin,
}

fn set_up() -> Box3 {
    let w = Ward::new("A3");
    let generated = w.generate_with_roster(4, 77, "A3");
    let bundle = generated.join("A3.json");
    let names = patient_names(&bundle);
    let nurse = read_codes(&generated.join("codes-A3.txt"))
        .into_iter()
        .find(|c| c.role == "nurse")
        .unwrap();
    let roster = w.seal(&generated.join("roster-A3.json"), "A3", 1, "roster");
    let clinical = w.seal(&bundle, "A3", 2, "clinical");
    std::fs::create_dir_all(w.inbox()).unwrap();
    deliver(&roster, &w.inbox(), "a3-000001-roster.snap");
    deliver(&clinical, &w.inbox(), "a3-000002.snap");
    Box3 { w, names, nurse }
}

fn generation_files(run: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gen-"))
        })
        .collect();
    v.sort();
    v
}

fn record(b: &Box3) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(b.w.state().join("generation.json")).unwrap()).unwrap()
}

fn start(b: &Box3) -> (Proc, SocketAddr) {
    let (p, addr) = b.w.serve();
    poll_ready(addr, "sequence 2 served with the roster", |j| {
        j["sequence"] == 2 && j["roster_staff"].as_u64().is_some_and(|n| n > 0)
    });
    (p, addr)
}

fn stop(mut p: Proc) {
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(WAIT).is_some(), "no exit\n{}", p.transcript());
}

/// The overview as the nurse sees it: every patient's name there, and a patient page.
fn assert_pages_show_the_ward(b: &Box3, addr: SocketAddr) {
    let cookie = login(addr, &b.nurse.user, &b.nurse.code).unwrap();
    let r = request(addr, "GET", "/", &cookie, "").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let html = r.text();
    for n in &b.names {
        assert!(html.contains(n.as_str()), "{n} on the overview");
    }
    let keys = patient_links(&html);
    assert_eq!(keys.len(), b.names.len());
    let r = request(addr, "GET", &format!("/patient/{}", keys[0]), &cookie, "").unwrap();
    assert_eq!(r.status, 200);
    assert!(b.names.iter().any(|n| r.text().contains(n.as_str())));
}

fn first_start(b: &Box3) -> PathBuf {
    let (p, addr) = start(b);
    run_ok(&[
        "mode",
        "emergency",
        "--reason",
        "test",
        "--config",
        s(&b.w.config()),
    ]);
    assert_pages_show_the_ward(b, addr);
    stop(p);
    let files = generation_files(&b.w.runtime());
    assert_eq!(
        files.len(),
        1,
        "the served file stays after a stop: {files:?}"
    );
    let served = files[0].clone();
    let r = record(b);
    assert_eq!(r["file"], served.file_name().unwrap().to_str().unwrap());
    assert_eq!(r["sequence"], 2);
    served
}

#[test]
fn a_restart_serves_the_last_generation_file_again_when_it_verifies() {
    let b = set_up();
    let served = first_start(&b);
    for _ in 0..2 {
        let (mut p, addr) = start(&b);
        p.wait_for_line("the generation reused", |l| {
            l.contains("reused after its checks").then_some(())
        });
        assert_eq!(
            generation_files(&b.w.runtime()),
            vec![served.clone()],
            "the same file, nothing built beside it"
        );
        assert_pages_show_the_ward(&b, addr);
        stop(p);
    }
}

/// Starts, expects the kept snapshot mapped again with `why` in the log, the ward shown
/// right, and a new generation file in place of `old`.
fn assert_rebuilt(b: &Box3, old: &Path, why: &str) -> PathBuf {
    let (mut p, addr) = start(b);
    let line = p.wait_for_line("the generation not reused", |l| {
        l.contains("is not reused").then(|| l.to_owned())
    });
    assert!(line.contains(why), "{line}");
    p.wait_for_line("the kept snapshot mapped", |l| {
        l.contains("rebuilt from kept snapshot").then_some(())
    });
    assert!(
        !p.transcript().contains("reused after its checks"),
        "{}",
        p.transcript()
    );
    assert_pages_show_the_ward(b, addr);
    let files = generation_files(&b.w.runtime());
    assert_eq!(files.len(), 1, "{files:?}");
    assert_ne!(files[0], old, "the refused file is gone");
    stop(p);
    files[0].clone()
}

#[test]
fn a_changed_or_mismatched_generation_file_is_refused_and_the_snapshot_mapped_again() {
    let b = set_up();
    let served = first_start(&b);

    // Valid SQLite, valid JSON, the wrong patient: every family name overwritten.
    let mut bytes = std::fs::read(&served).unwrap();
    let mut changed = 0;
    for n in &b.names {
        let needle = n.as_bytes();
        while let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
            bytes[at..at + needle.len()].fill(b'Q');
            changed += 1;
        }
    }
    assert!(changed > 0);
    std::fs::write(&served, &bytes).unwrap();
    let served = assert_rebuilt(&b, &served, "the file changed since it was built");

    // Garbage with the recorded name.
    std::fs::write(&served, b"SQLite format 3\0garbage").unwrap();
    let served = assert_rebuilt(&b, &served, "the file changed since it was built");

    // A record that names another sequence than the newest kept snapshot holds.
    let mut r = record(&b);
    r["sequence"] = serde_json::json!(1);
    std::fs::write(
        b.w.state().join("generation.json"),
        serde_json::to_vec(&r).unwrap(),
    )
    .unwrap();
    let served = assert_rebuilt(&b, &served, "holds sequence 2, recorded 1");

    // A record of another build of the binary or other mapping settings.
    let mut r = record(&b);
    r["built_by"] = serde_json::json!("noodepd 0.0.1 exe elsewhere");
    std::fs::write(
        b.w.state().join("generation.json"),
        serde_json::to_vec(&r).unwrap(),
    )
    .unwrap();
    assert_rebuilt(&b, &served, "another binary or other mapping settings");
}

#[test]
fn a_kept_snapshot_the_current_keys_do_not_open_is_not_served_from_the_old_file() {
    let b = set_up();
    first_start(&b);
    // The publisher key rotated: the kept snapshot's signature no longer verifies.
    let other = b.w.path().join("other-keys");
    run_ok(&["keygen", "publisher", "--out", s(&other)]);
    std::fs::copy(
        other.join("publisher.pub"),
        b.w.keys().join("publisher.pub"),
    )
    .unwrap();
    let (mut p, addr) = b.w.serve();
    let line = p.wait_for_line("the generation not reused", |l| {
        l.contains("is not reused").then(|| l.to_owned())
    });
    assert!(line.contains("wrong_publisher"), "{line}");
    let j = poll_ready(addr, "no usable kept snapshot", |j| {
        j["problems"]
            .to_string()
            .contains("no_usable_kept_snapshot")
    });
    assert_eq!(j["ready"], false, "{j}");
    assert!(j["sequence"].is_null(), "nothing served: {j}");
    assert!(
        generation_files(&b.w.runtime()).is_empty(),
        "the old file is removed"
    );
    stop(p);
}

fn kept_clinical(b: &Box3) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(b.w.state().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("clinical-"))
        .collect();
    v.sort();
    v
}

/// A daemon killed between an ingest's swap and its prune leaves one kept snapshot too many
/// (tests/crash_consistency.rs found it); the next start, by reuse or by rebuilding from the
/// newest, removes the older ones beyond `data.keep_snapshots` (3), never the served one.
#[test]
fn a_start_removes_kept_snapshots_beyond_the_kept_count() {
    let b = set_up();
    first_start(&b);
    let dir = b.w.state().join("snapshots");
    let served = kept_clinical(&b);
    assert_eq!(served, vec!["clinical-00000000000000000002.snap"]);
    let bytes = std::fs::read(dir.join(&served[0])).unwrap();
    let leftovers = |b: &Box3| {
        // Older kept copies, as a kill before the prune leaves them (any content: prune goes
        // by sequence in the name).
        for seq in [0u64, 1] {
            std::fs::write(dir.join(format!("clinical-{seq:020}.snap")), &bytes).unwrap();
        }
        std::fs::write(
            dir.join("clinical-00000000000000000001x.snap"),
            b"not a kept name",
        )
        .unwrap();
        assert_eq!(kept_clinical(b).len(), 4);
    };
    // 0, 1 and 2 are within the count of 3: nothing goes.
    leftovers(&b);
    let (mut p, _) = start(&b);
    p.wait_for_line("the generation reused", |l| {
        l.contains("reused after its checks").then_some(())
    });
    stop(p);
    assert_eq!(kept_clinical(&b).len(), 4, "{:?}", kept_clinical(&b));

    // With keep_snapshots = 1, the reuse path keeps only the served one.
    let config = std::fs::read_to_string(b.w.config()).unwrap();
    assert!(config.contains("keep_snapshots = 3"), "{config}");
    std::fs::write(
        b.w.config(),
        config.replace("keep_snapshots = 3", "keep_snapshots = 1"),
    )
    .unwrap();
    let (p, addr) = start(&b);
    assert_pages_show_the_ward(&b, addr);
    stop(p);
    assert_eq!(
        kept_clinical(&b),
        vec![
            "clinical-00000000000000000001x.snap".to_string(),
            "clinical-00000000000000000002.snap".to_string()
        ],
        "only the served one (and a file that is not a kept name) stays after a reuse"
    );

    // The rebuild path (no record of the last generation) prunes the same way.
    leftovers(&b);
    std::fs::remove_file(b.w.state().join("generation.json")).unwrap();
    let (p, addr) = start(&b);
    assert_pages_show_the_ward(&b, addr);
    stop(p);
    assert_eq!(
        kept_clinical(&b),
        vec![
            "clinical-00000000000000000001x.snap".to_string(),
            "clinical-00000000000000000002.snap".to_string()
        ],
        "only the served one stays after a rebuild"
    );
}
