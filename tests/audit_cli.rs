//! `noodepd audit verify | export | drill-report` as an operator runs them: the real binary,
//! a config file in a temp dir, a log written by the library, then tampered with by plain
//! SQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use chrono::{DateTime, TimeZone, Utc};
use noodepd::audit::{
    AccessPoint, Action, AuditLog, Event, EventKind, Outcome, PatientRef, UserRef,
};
use noodepd::mode::{Mode, ModeController, Switcher};
use rusqlite::Connection;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
}

struct Box1 {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Box1 {
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    fn db(&self) -> PathBuf {
        self.state().join("audit.sqlite")
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_noodepd"))
            .arg("audit")
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap()
    }
}

fn setup() -> Box1 {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    let config = dir.path().join("noodepd.toml");
    std::fs::write(
        &config,
        r#"
[appliance]
id = "box1"
ward = "A3"

[paths]
state = "state"
runtime = "run"
control_socket = "run/control.sock"

[web]
listen = "127.0.0.1:0"
plain_http = true
"#,
    )
    .unwrap();
    Box1 { dir, config }
}

fn nurse() -> UserRef {
    UserRef {
        id: "u1".into(),
        name: "Anna de Vries".into(),
        role: "verpleegkundige".into(),
    }
}

fn event(kind: EventKind, patients: &[&str], detail: &str, mode: &str) -> Event {
    Event {
        kind,
        action: if kind == EventKind::Login {
            Action::E
        } else {
            Action::R
        },
        outcome: Outcome::Success,
        user: Some(nurse()),
        responsible: None,
        patients: patients
            .iter()
            .map(|p| PatientRef {
                key: format!("k{p}"),
                patient_number: Some(format!("PN{p}")),
                bsn: Some(format!("1234567{p:0>2}")),
            })
            .collect(),
        detail: detail.into(),
        access_point: Some(AccessPoint {
            address: "192.168.1.20".into(),
            workstation: None,
        }),
        mode: mode.into(),
    }
}

/// The scripted session: switch to emergency, login, search, view, print, back to standby.
fn scripted_session(b: &Box1) {
    let log = AuditLog::open(&b.state(), "box1", "A3").unwrap();
    let mc = ModeController::load(&b.state(), Duration::from_secs(3600)).unwrap();
    mc.set(
        &log,
        Mode::Emergency,
        Switcher::Console,
        "EPD storing",
        t(6, 0),
    )
    .unwrap();
    log.append_at(event(EventKind::Login, &[], "/login", "emergency"), t(6, 1))
        .unwrap();
    log.append_at(
        event(
            EventKind::Search,
            &[],
            "query=\"vries\" hits=1",
            "emergency",
        ),
        t(6, 2),
    )
    .unwrap();
    log.append_at(
        event(EventKind::PatientView, &["1"], "/patient/k1", "emergency"),
        t(6, 3),
    )
    .unwrap();
    log.append_at(
        event(EventKind::Print, &["1", "2"], "print mar", "emergency"),
        t(6, 4),
    )
    .unwrap();
    mc.set(&log, Mode::Standby, Switcher::Console, "EPD terug", t(7, 0))
        .unwrap();
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sql(path: &Path, s: &str) {
    Connection::open(path).unwrap().execute_batch(s).unwrap();
}

#[test]
fn verify_exits_zero_on_an_intact_log_and_nonzero_naming_an_edited_entry() {
    let b = setup();
    scripted_session(&b);
    let ok = b.run(&["verify"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(
        stdout(&ok).starts_with("OK: 6 entries, head id=6 hash="),
        "{}",
        stdout(&ok)
    );
    sql(
        &b.db(),
        "UPDATE entry SET event = replace(event, 'PN1', 'PN7') WHERE id = 4",
    );
    let bad = b.run(&["verify"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("entry 4: edited"), "{}", stderr(&bad));
}

#[test]
fn verify_fails_naming_the_gap_when_a_row_is_deleted() {
    let b = setup();
    scripted_session(&b);
    sql(&b.db(), "DELETE FROM entry WHERE id = 3");
    let bad = b.run(&["verify"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("entry 4: entries 3..=3 before it were deleted"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn verify_fails_when_the_last_rows_are_deleted() {
    let b = setup();
    scripted_session(&b);
    sql(&b.db(), "DELETE FROM entry WHERE id >= 5");
    let bad = b.run(&["verify"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("entry 5: truncated"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn export_writes_each_action_with_all_fields_in_three_formats() {
    let b = setup();
    scripted_session(&b);
    // JSON lines to stdout.
    let o = b.run(&["export"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "mode_switch",
            "login",
            "search",
            "patient_view",
            "print",
            "mode_switch"
        ]
    );
    for l in &lines[1..5] {
        assert_eq!(l["user"]["id"], "u1");
        assert_eq!(l["user"]["name"], "Anna de Vries");
        assert_eq!(l["user"]["role"], "verpleegkundige");
        assert_eq!(l["mode"], "emergency");
        assert_eq!(l["access_point"]["address"], "192.168.1.20");
        assert_eq!(l["appliance"], "box1");
        assert_eq!(l["ward"], "A3");
        assert!(l["time_local"].as_str().unwrap().ends_with("+01:00"));
        assert!(l["action"].is_string() && l["outcome"].is_string());
    }
    assert_eq!(lines[3]["patients"][0]["bsn"], "123456701");
    assert_eq!(lines[2]["detail"], "query=\"vries\" hits=1");

    // CSV to a file, one patient's entries (a patient's access request).
    let csv = b.dir.path().join("p2.csv");
    let o = b.run(&[
        "export",
        "--format",
        "csv",
        "--patient",
        "PN2",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].starts_with("id,time_utc,time_local,user_id,user_name,role,"));
    assert!(rows[1].starts_with(
        "5,2026-11-22T06:04:00.000000Z,2026-11-22T07:04:00+01:00,u1,Anna de Vries,verpleegkundige,"
    ));
    assert!(
        rows[1].contains(",print,R,success,PN2,123456702,print mar,emergency,yes,192.168.1.20,")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&csv).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // FHIR AuditEvent NDJSON for a period.
    let o = b.run(&[
        "export",
        "--format",
        "fhir",
        "--from",
        "2026-11-22T06:02:00Z",
        "--to",
        "2026-11-22T06:04:00Z",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let res: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(res.len(), 2);
    for r in &res {
        assert_eq!(r["resourceType"], "AuditEvent");
        assert!(r["type"]["code"].is_string() && r["recorded"].is_string());
        assert!(r["agent"][0]["requestor"].is_boolean());
        assert_eq!(r["source"]["observer"]["identifier"]["value"], "box1");
        assert_eq!(r["purposeOfUse"][0]["coding"][0]["code"], "ETREAT");
    }
    assert_eq!(res[0]["type"]["code"], "110112");
    assert_eq!(
        res[1]["entity"][0]["what"]["identifier"]["value"],
        "123456701"
    );

    // Each export is itself in the log, and the log still verifies.
    let o = b.run(&["verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("OK: 9 entries"), "{}", stdout(&o));
}

#[test]
fn drill_report_prints_text_and_json() {
    let b = setup();
    {
        let log = AuditLog::open(&b.state(), "box1", "A3").unwrap();
        let mc = ModeController::load(&b.state(), Duration::from_secs(3600)).unwrap();
        mc.set(&log, Mode::Drill, Switcher::Console, "oefening", t(6, 0))
            .unwrap();
        log.append_at(event(EventKind::Login, &[], "/login", "drill"), t(6, 2))
            .unwrap();
        log.append_at(
            event(EventKind::PatientView, &["1"], "/patient/k1", "drill"),
            t(6, 5),
        )
        .unwrap();
        mc.set(&log, Mode::Standby, Switcher::Console, "klaar", t(6, 30))
            .unwrap();
    }
    let o = b.run(&["drill-report"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("Started:            22-11-2026 07:00 by root (console)"),
        "{text}"
    );
    assert!(text.contains("First login after:  2 min"), "{text}");
    assert!(text.contains("First patient view: 5 min"), "{text}");
    let o = b.run(&["drill-report", "--json", "--drill", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["drill_id"], 1);
    assert_eq!(v["seconds_to_first_login"], 120);
    assert_eq!(v["patients_viewed"], 1);
    assert_eq!(v["users"][0]["id"], "u1");
    let o = b.run(&["drill-report", "--drill", "2"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no drill found"), "{}", stderr(&o));
}
