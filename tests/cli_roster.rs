//! `noodepd roster hash` and `noodepd roster check` as IT runs them, with the real binary:
//! the hash printed verifies the code typed and no other, refusals print no code, the
//! check refuses what the daemon refuses with the daemon's words, and the whole chain —
//! codes hashed by the CLI → roster.json → `roster check` → `seal --kind roster` → inbox →
//! `/ready.roster_staff` → drill → `POST /login` — lets exactly those codes in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod e2e_common;

use e2e_common::*;
use noodepd::roster::verify_code;
use std::path::{Path, PathBuf};
use std::process::Output;

/// `noodepd roster hash` with `input` on stdin (from a file, as a pipe would give it).
fn roster_hash(dir: &Path, input: &[u8]) -> Output {
    let f = dir.join("stdin");
    std::fs::write(&f, input).unwrap();
    let mut c = noodepd();
    c.args(["roster", "hash"]);
    c.stdin(std::fs::File::open(&f).unwrap());
    let out = run_cmd(c);
    std::fs::remove_file(&f).unwrap();
    out
}

/// The PHC string `roster hash` prints for `code` (typed, then Enter).
fn hash_ok(dir: &Path, code: &str) -> String {
    let out = roster_hash(dir, format!("{code}\n").as_bytes());
    assert!(
        out.status.success(),
        "roster hash failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stdout: {stdout:?}");
    lines[0].to_owned()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A roster JSON file with one entry per (user, name, role, code_hash).
fn write_roster(path: &Path, ward: &str, staff: &[(&str, &str, &str, &str)]) {
    let staff: Vec<serde_json::Value> = staff
        .iter()
        .map(|(u, n, r, h)| serde_json::json!({"user": u, "name": n, "role": r, "code_hash": h}))
        .collect();
    let doc = serde_json::json!({"ward": ward, "staff": staff});
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

/// `noodepd roster check FILE --ward WARD`.
fn roster_check(file: &Path, ward: &str) -> Output {
    run(&["roster", "check", s(file), "--ward", ward])
}

/// The daemon's own refusal of `file`'s bytes for `ward` (the function the ingest uses).
fn daemon_refusal(file: &Path, ward: &str) -> noodepd::ingest::RosterRefusal {
    noodepd::ingest::check_roster(&std::fs::read(file).unwrap(), ward)
        .expect_err("the daemon refuses this roster")
}

#[test]
fn roster_hash_prints_one_argon2id_string_that_verifies_that_code_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let code = "Kamer 12 & koffie+%";
    let phc = hash_ok(dir.path(), code);
    assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
    assert!(verify_code(&phc, code));
    assert!(!verify_code(&phc, "Kamer 12 & koffie+"));
    assert!(!verify_code(&phc, "kamer 12 & koffie+%"));
    assert!(
        !verify_code(&phc, &format!("{code}\n")),
        "the newline is not part of it"
    );

    // Windows line ending: one "\r\n" is stripped too; a new salt every time.
    let out = roster_hash(dir.path(), format!("{code}\r\n").as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        out.stderr.is_empty(),
        "nothing on stderr: {}",
        text(&out.stderr)
    );
    let phc2 = text(&out.stdout).trim_end().to_owned();
    assert_ne!(phc, phc2, "a fresh random salt per hash");
    assert!(verify_code(&phc2, code));
    assert!(!verify_code(&phc2, "84736251"));
}

#[test]
fn roster_hash_refuses_empty_short_long_and_two_line_input_and_prints_no_code() {
    let dir = tempfile::tempdir().unwrap();
    let long = "q7".repeat(33);
    let cases: [(&[u8], &str, &str); 7] = [
        (b"", "no code", ""),
        (b"\n", "no code", ""),
        (b"Zk3#vq7\n", "too short", "Zk3#vq7"),
        (long.as_bytes(), "too long", "q7q7q7q7"),
        (b"Zk3#vq7!m\nZk3#vq7!m\n", "more than one line", "Zk3#vq7!m"),
        (b" Zk3#vq7!m\n", "starts or ends with a space", "Zk3#vq7!m"),
        (b"87654321\n", "too easy to guess", "87654321"),
    ];
    for (input, why, secret) in cases {
        let out = roster_hash(dir.path(), input);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "{input:?} must be refused: {stdout}");
        assert!(
            stdout.is_empty(),
            "nothing on stdout for {input:?}: {stdout}"
        );
        assert!(stderr.contains(why), "{input:?}: {stderr}");
        if !secret.is_empty() {
            assert!(
                !stderr.contains(secret),
                "the code is never echoed: {stderr}"
            );
        }
    }
}

#[test]
fn roster_check_prints_counts_per_role_and_user_ids_but_no_hash() {
    let dir = tempfile::tempdir().unwrap();
    let h = hash_ok(dir.path(), "Zk3#vq7!m");
    let file = dir.path().join("roster.json");
    write_roster(
        &file,
        "A3",
        &[
            ("jbakker", "Jan Bakker", "nurse", &h),
            ("mdevries", "Mila de Vries", "nurse", &h),
            ("pjansen", "Piet Jansen", "physician", &h),
            ("kvisser", "Kim Visser", "coordinator", &h),
            ("it.beheer", "IT Beheer", "it", &h),
        ],
    );
    let out = roster_check(&file, "A3");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "roster for ward A3: 5 staff (nurse 2, physician 1, coordinator 1, it 1)",
            "jbakker",
            "mdevries",
            "pjansen",
            "kvisser",
            "it.beheer",
        ]
    );
    assert!(!stdout.contains("argon2") && !stdout.contains(&h));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    // Without a coordinator it is still valid, with a warning on stderr.
    write_roster(&file, "A3", &[("jbakker", "Jan Bakker", "nurse", &h)]);
    let out = roster_check(&file, "A3");
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("no coordinator"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn roster_check_refuses_wrong_ward_unknown_field_and_non_argon2id_hash_with_the_daemons_message() {
    let dir = tempfile::tempdir().unwrap();
    let h = hash_ok(dir.path(), "Zk3#vq7!m");
    let argon2i = "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Zr5cTNSRmE1JZ8bpsvb1A3ZCnWhI0cnDx8jGv3yoBFQ";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong-ward",
            serde_json::json!({"ward": "B1", "staff": [
                {"user": "jbakker", "name": "Jan Bakker", "role": "nurse", "code_hash": h}]})
            .to_string(),
            "roster_wrong_ward",
        ),
        (
            "unknown-field",
            serde_json::json!({"ward": "A3", "staff": [
                {"user": "jbakker", "name": "Jan Bakker", "role": "nurse", "code_hash": h,
                 "code": "Zk3#vq7!m"}]})
            .to_string(),
            "roster_invalid",
        ),
        (
            "plain-code",
            serde_json::json!({"ward": "A3", "staff": [
                {"user": "jbakker", "name": "Jan Bakker", "role": "nurse", "code_hash": "84736251"}]})
            .to_string(),
            "roster_invalid",
        ),
        (
            "argon2i",
            serde_json::json!({"ward": "A3", "staff": [
                {"user": "jbakker", "name": "Jan Bakker", "role": "nurse", "code_hash": argon2i}]})
            .to_string(),
            "roster_invalid",
        ),
        (
            "unknown-role",
            serde_json::json!({"ward": "A3", "staff": [
                {"user": "jbakker", "name": "Jan Bakker", "role": "admin", "code_hash": h}]})
            .to_string(),
            "roster_invalid",
        ),
    ];
    for (name, json, code) in cases {
        let file = dir.path().join(format!("{name}.json"));
        std::fs::write(&file, json).unwrap();
        let refusal = daemon_refusal(&file, "A3");
        assert_eq!(refusal.code, code, "{name}");
        let out = roster_check(&file, "A3");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: {}", text(&out.stdout));
        assert!(
            stderr.contains(&format!("({code}): {}", refusal.reason)),
            "{name}: the daemon's message {:?} in {stderr}",
            refusal.reason
        );
        assert!(!stderr.contains(&h), "{name}: no hash in {stderr}");
    }
    let argon2i_reason = daemon_refusal(&dir.path().join("argon2i.json"), "A3").reason;
    assert!(
        argon2i_reason.contains("not an argon2id hash"),
        "{argon2i_reason}"
    );
}

/// `noodepd seal --kind roster` of `roster` for ward A3.
fn seal_roster(w: &Ward, roster: &Path, sequence: u64) -> PathBuf {
    w.seal(roster, "A3", sequence, "roster")
}

#[test]
fn codes_hashed_by_the_cli_log_in_over_http_once_the_sealed_roster_is_in_force() {
    let w = Ward::new("A3");
    let staff = [
        ("jbakker", "Jan Bakker", "nurse", "Kamer 12 & koffie+%"),
        ("kvisser", "Kim Visser", "coordinator", "Zk3#vq7!m=ok"),
        ("it.beheer", "IT Beheer", "it", "84736251"),
    ];
    let hashes: Vec<String> = staff
        .iter()
        .map(|(_, _, _, code)| hash_ok(w.path(), code))
        .collect();
    let entries: Vec<(&str, &str, &str, &str)> = staff
        .iter()
        .zip(&hashes)
        .map(|((u, n, r, _), h)| (*u, *n, *r, h.as_str()))
        .collect();
    let roster = w.path().join("roster.json");
    write_roster(&roster, "A3", &entries);
    let json = std::fs::read_to_string(&roster).unwrap();
    for (_, _, _, code) in staff {
        assert!(!json.contains(code), "no plain code in roster.json");
    }
    run_ok(&["roster", "check", s(&roster), "--ward", "A3"]);

    // The same roster labelled for another ward: `roster check` and the daemon agree.
    let other = w.path().join("roster-b1.json");
    write_roster(&other, "B1", &entries);
    let check = roster_check(&other, "A3");
    assert!(!check.status.success());
    let wrong_ward = seal_roster(&w, &other, 1);
    let good = seal_roster(&w, &roster, 2);

    let (_daemon, addr) = w.serve();
    deliver(&wrong_ward, &w.inbox(), "a3-000001-roster.snap");
    let r = poll_ready(addr, "the wrong-ward roster is refused", |j| {
        j["last_rejection"]["file"] == "a3-000001-roster.snap"
    });
    assert_eq!(r["last_rejection"]["code"], "roster_wrong_ward", "{r}");
    let reason = r["last_rejection"]["reason"].as_str().unwrap();
    assert!(
        text(&check.stderr).contains(&format!("(roster_wrong_ward): {reason}")),
        "roster check says what the daemon says: {reason:?} vs {}",
        text(&check.stderr)
    );
    assert_eq!(r["roster_staff"], 0, "{r}");

    deliver(&good, &w.inbox(), "a3-000002-roster.snap");
    poll_ready(addr, "roster_staff 3", |j| j["roster_staff"] == 3);

    run_ok(&[
        "mode",
        "drill",
        "--reason",
        "E2E rooster-oefening",
        "--config",
        s(&w.config()),
    ]);
    poll_ready(addr, "/ready.mode drill", |j| j["mode"] == "drill");

    for (user, _, _, code) in staff {
        let session = login(addr, user, code)
            .unwrap_or_else(|e| panic!("{user} logs in with the code IT hashed: {e}"));
        assert!(session.starts_with("noodepd_session="));
    }
    assert!(
        login(addr, "jbakker", "Zk3#vq7!m=ok").is_err(),
        "another person's code does not let jbakker in"
    );
    assert!(
        login(addr, "kvisser", "Zk3#vq7!m=o").is_err(),
        "a wrong code does not log in"
    );
}
