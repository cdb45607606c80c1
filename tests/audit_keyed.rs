//! The local attack suite (issue 15: M2, L2–L5): someone with the audit database but not
//! its key, a spreadsheet or a terminal that meets hostile text, a local user racing the
//! daemon's file creation, a symlink planted where an export goes. Against the real
//! binaries: `noodepd serve` writes the log (and keys it), `noodepd audit` reads it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod e2e_common;

use e2e_common::*;
use noodepd::audit::{AccessPoint, Action, AuditLog, Event, EventKind, Outcome, UserRef};
use rusqlite::{Connection, params};
use std::path::Path;
use std::time::Duration;

/// A ward whose daemon has written (and keyed) an access log: started, switched to drill
/// and back, stopped. Returns the ward.
fn ward_with_a_daemon_log() -> Ward {
    let w = Ward::new("A3");
    let (mut d, addr) = w.serve();
    // "listening on" is logged before start-up recovery; the control socket is bound just
    // before READY, so wait for the log line that follows it.
    d.wait_for_line("the ready log line", |l| {
        (l.contains("ready: serving") || l.contains("ready without data")).then_some(())
    });
    for (mode, reason) in [("drill", "oefening"), ("standby", "klaar")] {
        run_ok(&["mode", mode, "--reason", reason, "--config", s(&w.config())]);
        poll_ready(addr, mode, |j| j["mode"] == mode);
    }
    d.signal(libc::SIGTERM);
    d.wait_exit(WAIT).expect("the daemon stops");
    w
}

fn verify(w: &Ward) -> (bool, String) {
    let out = run(&["audit", "verify", "--config", s(&w.config())]);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn db(w: &Ward) -> Connection {
    Connection::open(w.state().join("audit.sqlite")).unwrap()
}

/// The last row's id and hash.
fn head(c: &Connection) -> (i64, String) {
    c.query_row(
        "SELECT id, hash FROM entry ORDER BY id DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// Appends a forged entry the way someone with the database but not the key can: the
/// documented (unkeyed) hash over the forged content, linked to the real head. The
/// anchor file is left alone (not writable to this attacker).
fn forge_append(c: &Connection, kind: EventKind, detail: &str) -> i64 {
    let (id, prev) = head(c);
    let id = id + 1;
    let (time, appliance, ward): (String, String, String) = c
        .query_row(
            "SELECT time, appliance, ward FROM entry ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let event = Event {
        kind,
        action: Action::R,
        outcome: Outcome::Success,
        user: Some(UserRef {
            id: "jbakker".into(),
            name: "Jan Bakker".into(),
            role: "nurse".into(),
        }),
        responsible: None,
        patients: vec![],
        detail: detail.into(),
        access_point: Some(AccessPoint {
            address: "10.0.0.9".into(),
            workstation: None,
        }),
        mode: "emergency".into(),
    };
    let json = serde_json::to_string(&event).unwrap();
    let hash = noodepd::audit::entry_hash_raw(id, &time, &appliance, &ward, &json, &prev).unwrap();
    c.execute(
        "INSERT INTO entry (id, time, appliance, ward, kind, event, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id,
            time,
            appliance,
            ward,
            noodepd::audit::kind_str(kind),
            json,
            prev,
            hash
        ],
    )
    .unwrap();
    id
}

/// M2: with the database alone one could append forged views and verify exited 0 (it
/// accepted any lag of the head anchor). Keyed entries cannot be forged without the key.
#[test]
fn forged_appends_with_the_database_alone_are_detected() {
    let w = ward_with_a_daemon_log();
    let (ok, out) = verify(&w);
    assert!(ok, "{out}");
    assert!(out.contains("keyed from entry 1"), "{out}");
    let c = db(&w);
    let forged = forge_append(&c, EventKind::PatientView, "/patient/pn-1");
    forge_append(&c, EventKind::PatientView, "/patient/pn-2");
    drop(c);
    let (ok, out) = verify(&w);
    assert!(!ok, "forged appends pass verify: {out}");
    assert!(
        out.contains(&format!("FAILED: entry {forged}: edited")),
        "{out}"
    );
}

/// M2: deleting the oldest in-retention entries and covering it with a forged retention
/// entry (and checkpoint) passed verify.
#[test]
fn deleting_in_retention_entries_behind_a_forged_retention_entry_is_detected() {
    let w = ward_with_a_daemon_log();
    let c = db(&w);
    let (gone_to, gone_hash): (i64, String) = c
        .query_row("SELECT id, hash FROM entry WHERE id = 2", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    c.execute("DELETE FROM entry WHERE id <= 2", []).unwrap();
    c.execute(
        "INSERT INTO checkpoint (one, last_id, last_hash, time) VALUES (1, ?1, ?2, '2026-01-01T00:00:00.000000Z')",
        params![gone_to, gone_hash],
    )
    .unwrap();
    let fake = forge_append(
        &c,
        EventKind::RetentionExpiry,
        &format!(
            "removed 2 entries (ids 1..=2) older than 2021-01-01; checkpoint id={gone_to} hash={gone_hash}"
        ),
    );
    drop(c);
    let (ok, out) = verify(&w);
    assert!(
        !ok,
        "a deletion behind a forged retention entry passes: {out}"
    );
    assert!(out.contains(&format!("entry {fake}")), "{out}");
}

/// M2: moving where keying starts (or removing it) would let every entry be re-hashed
/// without the key; the anchor names it, so verify refuses.
#[test]
fn moving_where_keying_starts_is_detected() {
    for tamper in ["UPDATE chain SET keyed_from = 1000", "DELETE FROM chain"] {
        let w = ward_with_a_daemon_log();
        db(&w).execute_batch(tamper).unwrap();
        let (ok, out) = verify(&w);
        assert!(!ok, "{tamper}: {out}");
        assert!(out.contains("chain key"), "{tamper}: {out}");
    }
}

/// M2 migration: a log written before keying (plain SHA-256) is keyed from its next entry
/// when the daemon opens it; the old entries keep verifying (and stay tamper-evident).
#[test]
fn an_unkeyed_log_is_keyed_from_its_next_entry_and_still_verifies() {
    let w = Ward::new("A3");
    std::fs::create_dir_all(w.state()).unwrap();
    {
        let old = AuditLog::open(&w.state(), "e2e-box", "A3").unwrap();
        for i in 0..3 {
            old.append(Event {
                kind: EventKind::Daemon,
                action: Action::E,
                outcome: Outcome::Success,
                user: None,
                responsible: None,
                patients: vec![],
                detail: format!("an older version's entry {i}"),
                access_point: None,
                mode: "standby".into(),
            })
            .unwrap();
        }
    }
    let (ok, out) = verify(&w);
    assert!(ok && out.contains("not keyed yet"), "{out}");
    let (mut d, addr) = w.serve();
    poll_ready(addr, "up", |j| j["mode"] == "standby");
    d.signal(libc::SIGTERM);
    d.wait_exit(WAIT).unwrap();
    let (ok, out) = verify(&w);
    assert!(ok, "{out}");
    assert!(out.contains("keyed from entry 4"), "{out}");
    let anchor = std::fs::read_to_string(w.state().join("audit.head")).unwrap();
    assert!(anchor.starts_with("noodepd-audit-head v2\n"), "{anchor}");
    assert!(anchor.contains("keyed_from=4"), "{anchor}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(w.state().join("audit.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The unkeyed part is still tamper-evident.
    db(&w)
        .execute_batch("UPDATE entry SET event = replace(event, 'entry 1', 'entry X') WHERE id = 2")
        .unwrap();
    let (ok, out) = verify(&w);
    assert!(!ok && out.contains("entry 2: edited"), "{out}");
}

/// L2 and L3: control and bidi characters reached the terminal through the CSV export and
/// the drill report; the CSV formula guard failed with `;` separators (Dutch Excel).
#[test]
fn csv_export_is_safe_for_terminals_and_semicolon_spreadsheets() {
    let w = Ward::new("A3");
    std::fs::create_dir_all(w.state()).unwrap();
    let hostile = [
        "=HYPERLINK(\"http://evil\",\"klik\")",
        "bed 4;=cmd|' /C calc'!A0",
        " +1+1",
        "a\u{1b}[2J\u{1b}]0;pwned\u{7}b",
        "regel 1\nregel 2\r\n@SUM(1)",
        "\u{202e}eman\u{202c} tab\there",
    ];
    {
        let log =
            AuditLog::open_with_key_file(&w.state(), "e2e-box", "A3", &w.state().join("audit.key"))
                .unwrap();
        let mode =
            noodepd::mode::ModeController::load(&w.state(), Duration::from_secs(3600)).unwrap();
        mode.set(
            &log,
            noodepd::mode::Mode::Drill,
            noodepd::mode::Switcher::Console,
            "oefening",
            chrono::Utc::now(),
        )
        .unwrap();
        for h in hostile {
            log.append(Event {
                kind: EventKind::Search,
                action: Action::R,
                outcome: Outcome::Success,
                user: Some(UserRef {
                    id: "gast-1234".into(),
                    name: h.into(),
                    role: "nurse".into(),
                }),
                responsible: None,
                patients: vec![],
                detail: format!("search {h:?}: 0 hits"),
                access_point: None,
                mode: "drill".into(),
            })
            .unwrap();
        }
    }
    let csv = run_ok(&[
        "audit",
        "export",
        "--format",
        "csv",
        "--config",
        s(&w.config()),
    ]);
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{202c}'] {
        assert!(!csv.contains(bad), "{bad:?} in the CSV");
    }
    // (The harness hands stdout over line by line, line ends dropped.)
    let lines: Vec<&str> = csv.lines().filter(|l| !l.is_empty()).collect();
    // A header, the mode switch, the hostile searches: no field broke a line.
    assert_eq!(lines.len(), 2 + hostile.len(), "{csv}");
    // Split the way a Dutch spreadsheet does (on `;`, honouring quotes): no cell starts a
    // formula; and the same with `,`.
    for sep in [';', ','] {
        for line in &lines {
            for cell in split_csv(line, sep) {
                let first = cell.trim_start().chars().next();
                assert!(
                    !first.is_some_and(|c| "=+-@".contains(c)),
                    "a cell starts a formula with {sep:?} as separator: {cell:?} in {line}"
                );
            }
        }
    }
    let report = run_ok(&["audit", "drill-report", "--config", s(&w.config())]);
    for bad in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!report.contains(bad), "{bad:?} in the drill report");
    }
}

/// A CSV line split on `sep`, quotes honoured (as spreadsheets read it).
fn split_csv(line: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// L5: `audit export --out` followed a symlink or wrote into an existing file.
#[test]
fn export_out_never_follows_a_symlink_nor_overwrites_a_file() {
    let w = ward_with_a_daemon_log();
    let victim = w.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let link = w.path().join("export-link.jsonl");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    for target in [&link, &victim] {
        let out = run(&[
            "audit",
            "export",
            "--config",
            s(&w.config()),
            "--out",
            s(target),
        ]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("exists already"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }
    let fresh = w.path().join("export.jsonl");
    run_ok(&[
        "audit",
        "export",
        "--config",
        s(&w.config()),
        "--out",
        s(&fresh),
    ]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&fresh)
            .unwrap()
            .contains("mode_switch")
    );
}

/// L4: the state and inbox directories were created 0755 and `audit.sqlite` 0644 before
/// a chmod narrowed them (a local user won the race and read BSNs). Traced with strace,
/// under umask 000: every directory and file the daemon creates asks for no group or
/// other permission in the creating call itself, and no chmod ever widens one.
#[test]
fn state_files_are_private_from_their_first_system_call() {
    let strace = ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("strace is needed (image/install-test-deps.sh installs it)");
    let w = Ward::new("A3");
    let generated = w.generate_with_roster(3, 5, "A3");
    let roster = w.seal(&generated.join("roster-A3.json"), "A3", 1, "roster");
    let clinical = w.seal(&generated.join("A3.json"), "A3", 2, "clinical");
    let trace = w.path().join("trace.txt");
    let c = noodepd();
    let cmd = format!(
        "umask 000; exec {strace} -f -qq -o {} -e trace=mkdir,mkdirat,open,openat,creat,chmod,fchmod,fchmodat {} serve --config {}",
        s(&trace),
        bin(),
        s(&w.config())
    );
    let mut sh = std::process::Command::new("sh");
    for (k, _) in c.get_envs() {
        sh.env_remove(k);
    }
    sh.arg("-c").arg(cmd).stdin(std::process::Stdio::null());
    let mut p = Proc::spawn(sh);
    let addr = p.wait_listening();
    deliver(&roster, &w.inbox(), "a3-000001-roster.snap");
    deliver(&clinical, &w.inbox(), "a3-000002.snap");
    deliver_bytes(b"garbage", &w.inbox(), "a3-000003.snap");
    poll_ready(addr, "served, garbage refused", |j| {
        j["sequence"] == 2 && j["last_rejection"]["code"].is_string()
    });
    run_ok(&[
        "mode",
        "drill",
        "--reason",
        "oefening",
        "--config",
        s(&w.config()),
    ]);
    poll_ready(addr, "drill", |j| j["mode"] == "drill");
    // Stop the daemon first (killing strace alone would leave it running, detached).
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", p.pid()))
        .unwrap_or_default();
    for child in children.split_whitespace() {
        send_signal(child.parse().unwrap(), libc::SIGKILL);
    }
    p.kill9();
    let text = std::fs::read_to_string(&trace).unwrap();
    let root = s(w.path());
    let mut created = std::collections::HashSet::new();
    let mut checked = 0;
    for line in text.lines() {
        // "PID name(args) = result", or "PID name(args <unfinished ...>" when another
        // thread's call came in between (its result follows on a "resumed" line).
        let Some(call) = line.split_once(' ').map(|(_, c)| c.trim_start()) else {
            continue;
        };
        let Some((name, rest)) = call.split_once('(') else {
            continue;
        };
        let args = rest
            .split_once(" <unfinished")
            .map(|(a, _)| a)
            .or_else(|| rest.rsplit_once(") = ").map(|(a, _)| a))
            .unwrap_or("");
        let path = args.split('"').nth(1).unwrap_or("");
        // The mode argument (the last one, in octal), when the call has one.
        let mode = args
            .rsplit(", ")
            .next()
            .filter(|m| !m.is_empty() && m.bytes().all(|b| (b'0'..=b'7').contains(&b)))
            .and_then(|m| u32::from_str_radix(m, 8).ok());
        let ours = path.starts_with(root) && !path.starts_with(s(&w.keys()));
        match name {
            "mkdir" | "mkdirat" if ours => {
                let m = mode.unwrap_or(0o777);
                assert_eq!(m & 0o077, 0, "{line}");
                checked += 1;
            }
            // The first O_CREAT open of a path is its creation (later ones open it).
            "open" | "openat" | "creat"
                if ours && args.contains("O_CREAT") && created.insert(path.to_owned()) =>
            {
                let m = mode.unwrap_or(0o777);
                assert_eq!(m & 0o077, 0, "created with group/other access: {line}");
                checked += 1;
            }
            "chmod" | "fchmod" | "fchmodat" => {
                let m = mode.unwrap_or(0o777);
                assert_eq!(m & 0o077, 0, "a chmod widens: {line}");
            }
            _ => {}
        }
    }
    for must in ["state/audit.sqlite", "state/audit.key", "state/mode.tmp"] {
        assert!(
            created.iter().any(|p| p.ends_with(must)),
            "{must} not seen created: {created:?}"
        );
    }
    assert!(checked > 10, "only {checked} creations traced:\n{text}");
    eprintln!("L4: {checked} directory and file creations traced, all private from the first call");
}
