//! Tests of `noodepd generate` as a user runs it: files written, output deterministic for
//! a fixed `--now`, and no downtime code ever printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use std::path::Path;
use std::process::Command;

fn run(out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_noodepd"))
        .args([
            "generate",
            "--patients",
            "50",
            "--seed",
            "5",
            "--ward",
            "B2",
        ])
        .args(["--now", "2026-11-22T03:00:00+01:00", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn generate_writes_one_bundle_per_ward_and_is_repeatable() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let out = run(a.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("B2-1.json") && stdout.contains("B2-2.json"),
        "{stdout}"
    );
    assert!(stdout.contains("MedicationAdministration"));
    assert!(run(b.path(), &[]).status.success());
    for ward in ["B2-1.json", "B2-2.json"] {
        let x = std::fs::read(a.path().join(ward)).unwrap();
        let y = std::fs::read(b.path().join(ward)).unwrap();
        assert_eq!(x, y, "{ward} differs between runs");
    }
    assert!(!a.path().join("codes-B2-1.txt").exists());
}

#[test]
fn generate_with_roster_prints_the_codes_path_but_no_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--roster"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stdout.contains("codes-B2-1.txt"));
    let codes = std::fs::read_to_string(dir.path().join("codes-B2-1.txt")).unwrap();
    let mut n = 0;
    for line in codes.lines().filter(|l| !l.starts_with('#')) {
        let code = line.rsplit('\t').next().unwrap();
        assert!(code.len() >= 6);
        assert!(
            !stdout.contains(code) && !stderr.contains(code),
            "code printed"
        );
        n += 1;
    }
    assert_eq!(n, 16);
}

#[test]
fn generate_rejects_a_bad_now_and_a_bad_ward() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_noodepd"))
        .args(["generate", "--now", "gisteren", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
    let out = Command::new(env!("CARGO_BIN_EXE_noodepd"))
        .args(["generate", "--ward", "a/b", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
