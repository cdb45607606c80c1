//! The audit log as a library: tamper evidence (every way of editing the SQLite file is
//! caught by `verify_file`), export formats (JSON lines, CSV, FHIR AuditEvent), retention
//! with checkpoint, drill reports from a scripted session, a full disk, and SIGKILL during
//! appends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use chrono::{DateTime, TimeZone, Utc};
use noodepd::audit::{
    AccessPoint, Action, AuditLog, Event, EventKind, ExportFilter, ExportFormat, Outcome,
    PatientRef, Problem, UserRef, drill, verify_file,
};
use noodepd::mode::{Mode, ModeController, Switcher};
use rusqlite::{Connection, params};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
}

fn user(id: &str, role: &str) -> UserRef {
    UserRef {
        id: id.into(),
        name: format!("Name {id}"),
        role: role.into(),
    }
}

fn patient(n: &str) -> PatientRef {
    PatientRef {
        key: format!("key-{n}"),
        patient_number: Some(format!("PN{n}")),
        bsn: Some(format!("99999{n:0>4}")),
    }
}

fn ev(kind: EventKind, u: Option<&str>, patients: &[&str], detail: &str, mode: &str) -> Event {
    Event {
        kind,
        action: match kind {
            EventKind::Login | EventKind::LoginFailed | EventKind::Logout => Action::E,
            _ => Action::R,
        },
        outcome: match kind {
            EventKind::LoginFailed | EventKind::Lockout | EventKind::SnapshotRejected => {
                Outcome::MinorFailure
            }
            _ => Outcome::Success,
        },
        user: u.map(|u| {
            user(
                u,
                if u.starts_with('d') {
                    "arts"
                } else {
                    "verpleegkundige"
                },
            )
        }),
        responsible: None,
        patients: patients.iter().map(|p| patient(p)).collect(),
        detail: detail.into(),
        access_point: Some(AccessPoint {
            address: "10.1.2.3".into(),
            workstation: Some("A3-balie".into()),
        }),
        mode: mode.into(),
    }
}

/// A log with `n` patient views, closed again.
fn log_with(n: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    for i in 0..n {
        log.append_at(
            ev(
                EventKind::PatientView,
                Some("u1"),
                &[&format!("{}", i % 3)],
                &format!("/patient/key-{}", i % 3),
                "emergency",
            ),
            t(6, i % 60),
        )
        .unwrap();
    }
    let path = log.path().to_owned();
    drop(log);
    (dir, path)
}

fn sql(path: &Path, stmt: &str) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(stmt).unwrap();
}

fn broken(path: &Path) -> (i64, Problem) {
    let r = verify_file(path).unwrap();
    let b = r.broken.expect("tampering must be detected");
    (b.id, b.problem)
}

// ---------------------------------------------------------------- tamper evidence

#[test]
fn untouched_log_verifies_with_anchor_at_head() {
    let (_d, path) = log_with(10);
    let r = verify_file(&path).unwrap();
    assert!(r.is_ok(), "{:?}", r.broken);
    assert_eq!(r.entries, 10);
    assert_eq!(r.head_id, 10);
    assert_eq!(r.anchor_id, Some(10));
    assert!(r.notes.is_empty());
}

#[test]
fn editing_event_json_is_detected_as_edited() {
    let (_d, path) = log_with(10);
    sql(
        &path,
        "UPDATE entry SET event = replace(event, 'key-1', 'key-2') WHERE id = 5",
    );
    assert_eq!(broken(&path), (5, Problem::Edited));
}

#[test]
fn editing_the_time_is_detected() {
    let (_d, path) = log_with(10);
    sql(
        &path,
        "UPDATE entry SET time = '2026-11-22T05:00:00.000000Z' WHERE id = 4",
    );
    assert_eq!(broken(&path), (4, Problem::Edited));
}

#[test]
fn editing_the_kind_column_is_detected() {
    let (_d, path) = log_with(5);
    sql(&path, "UPDATE entry SET kind = 'daemon' WHERE id = 2");
    assert!(matches!(broken(&path), (2, Problem::KindMismatch { .. })));
}

#[test]
fn invalid_event_json_is_reported_as_bad_json() {
    let (_d, path) = log_with(5);
    sql(&path, "UPDATE entry SET event = '{\"kind\":' WHERE id = 3");
    assert!(matches!(broken(&path), (3, Problem::BadJson { .. })));
}

#[test]
fn deleting_a_middle_row_is_detected_as_a_gap() {
    let (_d, path) = log_with(10);
    sql(&path, "DELETE FROM entry WHERE id = 6");
    assert_eq!(
        broken(&path),
        (
            7,
            Problem::Deleted {
                first_missing: 6,
                last_missing: 6
            }
        )
    );
}

#[test]
fn deleting_the_first_rows_without_checkpoint_is_detected() {
    let (_d, path) = log_with(10);
    sql(&path, "DELETE FROM entry WHERE id <= 2");
    assert_eq!(
        broken(&path),
        (
            3,
            Problem::Deleted {
                first_missing: 1,
                last_missing: 2
            }
        )
    );
}

#[test]
fn deleting_the_last_rows_is_detected_as_truncation_via_the_anchor() {
    let (_d, path) = log_with(10);
    sql(&path, "DELETE FROM entry WHERE id >= 8");
    assert_eq!(
        broken(&path),
        (
            8,
            Problem::Truncated {
                last_kept: 7,
                anchor_id: 10
            }
        )
    );
}

#[test]
fn swapping_two_rows_is_detected_as_reordering() {
    let (_d, path) = log_with(10);
    sql(
        &path,
        "CREATE TEMP TABLE a AS SELECT * FROM entry WHERE id = 3;
         CREATE TEMP TABLE b AS SELECT * FROM entry WHERE id = 7;
         UPDATE entry SET (time, appliance, ward, kind, event, prev_hash, hash) =
           (SELECT time, appliance, ward, kind, event, prev_hash, hash FROM b) WHERE id = 3;
         UPDATE entry SET (time, appliance, ward, kind, event, prev_hash, hash) =
           (SELECT time, appliance, ward, kind, event, prev_hash, hash FROM a) WHERE id = 7;",
    );
    assert_eq!(broken(&path), (3, Problem::Reordered { belongs_at: 7 }));
}

#[test]
fn swapping_adjacent_rows_is_detected_as_reordering() {
    let (_d, path) = log_with(6);
    sql(
        &path,
        "CREATE TEMP TABLE a AS SELECT * FROM entry WHERE id = 4;
         CREATE TEMP TABLE b AS SELECT * FROM entry WHERE id = 5;
         UPDATE entry SET (time, appliance, ward, kind, event, prev_hash, hash) =
           (SELECT time, appliance, ward, kind, event, prev_hash, hash FROM b) WHERE id = 4;
         UPDATE entry SET (time, appliance, ward, kind, event, prev_hash, hash) =
           (SELECT time, appliance, ward, kind, event, prev_hash, hash FROM a) WHERE id = 5;",
    );
    assert_eq!(broken(&path), (4, Problem::Reordered { belongs_at: 5 }));
}

#[test]
fn rehashing_an_edited_entry_still_fails_at_the_next_link() {
    let (_d, path) = log_with(10);
    let c = Connection::open(&path).unwrap();
    let (time, appliance, ward, event, prev): (String, String, String, String, String) = c
        .query_row(
            "SELECT time, appliance, ward, event, prev_hash FROM entry WHERE id = 4",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    let forged = event.replace("key-0", "key-2");
    assert_ne!(forged, event);
    let h = noodepd::audit::entry_hash_raw(4, &time, &appliance, &ward, &forged, &prev).unwrap();
    c.execute(
        "UPDATE entry SET event = ?1, hash = ?2 WHERE id = 4",
        params![forged, h],
    )
    .unwrap();
    drop(c);
    assert_eq!(broken(&path), (5, Problem::BrokenLink { previous: 4 }));
}

#[test]
fn rehashing_the_whole_tail_is_caught_by_the_anchor() {
    let (_d, path) = log_with(6);
    // Rewrite entry 6 (the head) with a recomputed hash: no later link to break.
    let c = Connection::open(&path).unwrap();
    let (time, event, prev): (String, String, String) = c
        .query_row(
            "SELECT time, event, prev_hash FROM entry WHERE id = 6",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let forged = event.replace("u1", "u9");
    let h = noodepd::audit::entry_hash_raw(6, &time, "box1", "A3", &forged, &prev).unwrap();
    c.execute(
        "UPDATE entry SET event = ?1, hash = ?2 WHERE id = 6",
        params![forged, h],
    )
    .unwrap();
    drop(c);
    assert!(matches!(broken(&path), (6, Problem::AnchorMismatch { .. })));
}

#[test]
fn replacing_the_file_with_an_older_copy_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    for i in 0..4 {
        log.append_at(
            ev(
                EventKind::Search,
                Some("u1"),
                &[],
                "query=\"jan\" hits=2",
                "emergency",
            ),
            t(6, i),
        )
        .unwrap();
    }
    drop(log);
    let old = dir.path().join("old.sqlite");
    std::fs::copy(dir.path().join("audit.sqlite"), &old).unwrap();
    let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    for i in 0..3 {
        log.append_at(
            ev(
                EventKind::PatientView,
                Some("u1"),
                &["1"],
                "/patient/key-1",
                "emergency",
            ),
            t(7, i),
        )
        .unwrap();
    }
    drop(log);
    std::fs::rename(&old, dir.path().join("audit.sqlite")).unwrap();
    let (id, problem) = broken(&dir.path().join("audit.sqlite"));
    assert_eq!(id, 5);
    assert_eq!(
        problem,
        Problem::Truncated {
            last_kept: 4,
            anchor_id: 7
        }
    );
}

#[test]
fn deleting_the_anchor_file_is_detected() {
    let (d, path) = log_with(3);
    std::fs::remove_file(d.path().join("audit.head")).unwrap();
    assert_eq!(broken(&path), (3, Problem::AnchorMissing));
}

#[test]
fn verify_on_the_open_log_agrees_with_verify_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    for i in 0..3 {
        log.append_at(ev(EventKind::Login, Some("u1"), &[], "", "drill"), t(6, i))
            .unwrap();
    }
    let r = log.verify().unwrap();
    assert!(r.is_ok());
    assert_eq!((r.entries, r.head_id), (3, log.head().0));
    assert_eq!(r.head_hash, log.head().1);
}

#[test]
fn two_handles_on_one_log_interleave_without_breaking_the_chain() {
    // The daemon and `noodepd audit export` each hold an AuditLog on the same file.
    let dir = tempfile::tempdir().unwrap();
    let a = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    let b = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    for i in 0..4 {
        a.append_at(
            ev(EventKind::WardView, Some("u1"), &[], "/", "emergency"),
            t(6, i),
        )
        .unwrap();
        b.append_at(
            ev(EventKind::WardView, Some("u2"), &[], "/", "emergency"),
            t(6, i),
        )
        .unwrap();
    }
    let r = verify_file(a.path()).unwrap();
    assert!(r.is_ok(), "{:?}", r.broken);
    assert_eq!(r.entries, 8);
}

#[test]
fn concurrent_appends_are_group_committed_each_caller_gets_its_own_durable_entry() {
    // 16 threads append at once; appends queue up and are written in shared commits.
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(AuditLog::open(dir.path(), "box1", "A3").unwrap());
    let mut handles = Vec::new();
    for th in 0..16 {
        let log = log.clone();
        handles.push(std::thread::spawn(move || {
            (0..10)
                .map(|i| {
                    let detail = format!("/patient/t{th}-{i}");
                    let e = log
                        .append_at(
                            ev(EventKind::PatientView, Some("u1"), &["p"], &detail, "drill"),
                            t(6, 0),
                        )
                        .unwrap();
                    (e.id, e.event.detail)
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut all: Vec<(i64, String)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    // Every caller got a distinct id and its own event back.
    let ids: Vec<i64> = all.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=160).collect::<Vec<_>>());
    let mut details: Vec<&str> = all.iter().map(|(_, d)| d.as_str()).collect();
    details.sort();
    details.dedup();
    assert_eq!(details.len(), 160);
    // And what was returned is what is stored, in a chain that verifies to the anchor.
    let conn = Connection::open(log.path()).unwrap();
    for (id, detail) in &all {
        let stored: String = conn
            .query_row("SELECT event FROM entry WHERE id = ?1", [id], |r| r.get(0))
            .unwrap();
        assert!(stored.contains(detail.as_str()), "entry {id}");
    }
    let r = verify_file(log.path()).unwrap();
    assert!(r.is_ok(), "{:?}", r.broken);
    assert_eq!(r.entries, 160);
    assert_eq!(log.head().0, 160);
}

// ---------------------------------------------------------------- retention

#[test]
fn retention_removes_old_entries_records_checkpoint_and_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    let old = Utc.with_ymd_and_hms(2020, 1, 1, 12, 0, 0).unwrap();
    for i in 0..5 {
        log.append_at(
            ev(
                EventKind::PatientView,
                Some("u1"),
                &["1"],
                "/p",
                "emergency",
            ),
            old + chrono::Duration::days(i),
        )
        .unwrap();
    }
    for i in 0..3 {
        log.append_at(
            ev(
                EventKind::PatientView,
                Some("u1"),
                &["2"],
                "/p",
                "emergency",
            ),
            t(6, i),
        )
        .unwrap();
    }
    let five_years = Duration::from_secs(5 * 365 * 86_400);
    let x = log.expire(t(8, 0), five_years).unwrap().unwrap();
    assert_eq!((x.removed, x.first_id, x.last_id), (5, 1, 5));
    assert_eq!(x.entry.id, 9);
    assert_eq!(x.entry.event.kind, EventKind::RetentionExpiry);
    assert!(
        x.entry
            .event
            .detail
            .contains("removed 5 entries (ids 1..=5")
    );
    let r = verify_file(log.path()).unwrap();
    assert!(r.is_ok(), "{:?}", r.broken);
    assert_eq!((r.first_id, r.entries), (Some(6), 4));
    assert_eq!(r.checkpoint.as_ref().map(|c| c.0), Some(5));
    // Nothing more to expire now.
    assert!(log.expire(t(8, 1), five_years).unwrap().is_none());
    // Deleting more old rows and moving the checkpoint along is still caught.
    let c = Connection::open(log.path()).unwrap();
    let h: String = c
        .query_row("SELECT hash FROM entry WHERE id = 6", [], |r| r.get(0))
        .unwrap();
    c.execute("DELETE FROM entry WHERE id = 6", []).unwrap();
    c.execute(
        "UPDATE checkpoint SET last_id = 6, last_hash = ?1",
        params![h],
    )
    .unwrap();
    drop(c);
    assert!(matches!(
        verify_file(log.path()).unwrap().broken.unwrap().problem,
        Problem::Checkpoint { .. }
    ));
}

// ---------------------------------------------------------------- export

fn scripted_export_log() -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    let mut login = ev(EventKind::Login, Some("u1"), &[], "/login", "emergency");
    login.responsible = Some(user("c1", "coördinator"));
    log.append_at(login, t(6, 0)).unwrap();
    log.append_at(
        ev(
            EventKind::Search,
            Some("u1"),
            &[],
            "query=\"de, \"\"Vries\" hits=2",
            "emergency",
        ),
        t(6, 1),
    )
    .unwrap();
    log.append_at(
        ev(
            EventKind::PatientView,
            Some("u1"),
            &["1"],
            "/patient/key-1",
            "emergency",
        ),
        t(6, 2),
    )
    .unwrap();
    log.append_at(
        ev(
            EventKind::Print,
            Some("u1"),
            &["1", "2", "3"],
            "print ward-mar",
            "drill",
        ),
        t(6, 3),
    )
    .unwrap();
    log.append_at(
        ev(
            EventKind::LoginFailed,
            Some("u2"),
            &[],
            "=cmd|' /C calc'!A0",
            "standby",
        ),
        t(6, 4),
    )
    .unwrap();
    (dir, log)
}

#[test]
fn jsonl_export_has_every_entry_with_local_time_and_is_itself_logged() {
    let (_d, log) = scripted_export_log();
    let mut out = Vec::new();
    let n = log
        .export(&ExportFilter::default(), ExportFormat::Jsonl, &mut out)
        .unwrap();
    assert_eq!(n, 5);
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    let first = &lines[0];
    for k in [
        "id",
        "time",
        "time_local",
        "appliance",
        "ward",
        "kind",
        "action",
        "outcome",
        "user",
        "responsible",
        "patients",
        "detail",
        "access_point",
        "mode",
        "prev_hash",
        "hash",
    ] {
        assert!(first.get(k).is_some(), "missing {k}");
    }
    assert_eq!(first["time"], "2026-11-22T06:00:00.000000Z");
    assert_eq!(first["time_local"], "2026-11-22T07:00:00+01:00");
    assert_eq!(first["responsible"]["id"], "c1");
    // The export itself is the newest entry.
    let (head, _) = log.head();
    assert_eq!(head, 6);
    let mut again = Vec::new();
    log.export(&ExportFilter::default(), ExportFormat::Jsonl, &mut again)
        .unwrap();
    let last: Value =
        serde_json::from_str(String::from_utf8(again).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(last["kind"], "audit_export");
    assert_eq!(last["detail"], "export format=jsonl count=5");
    assert!(verify_file(log.path()).unwrap().is_ok());
}

/// A small RFC 4180 reader (quoted fields, doubled quotes, CRLF).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => assert_eq!(chars.next(), Some('\n'), "CR without LF"),
            (false, '\n') => panic!("bare LF line end"),
            (false, c) => field.push(c),
        }
        if !quoted && (c == '\r' || chars.peek().is_none()) {
            row.push(std::mem::take(&mut field));
            rows.push(std::mem::take(&mut row));
        }
    }
    rows
}

#[test]
fn csv_export_quotes_per_rfc4180_and_defuses_formulas() {
    let (_d, log) = scripted_export_log();
    let mut out = Vec::new();
    log.export(&ExportFilter::default(), ExportFormat::Csv, &mut out)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let rows = parse_csv(&text);
    assert_eq!(rows.len(), 6, "{text}");
    let header = &rows[0];
    assert_eq!(header.len(), 21);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for r in &rows {
        assert_eq!(r.len(), 21);
    }
    let search = &rows[2];
    assert_eq!(search[col("detail")], "query=\"de, \"\"Vries\" hits=2");
    assert_eq!(search[col("event")], "search");
    assert_eq!(search[col("role")], "verpleegkundige");
    let print = &rows[4];
    assert_eq!(print[col("patient_numbers")], "PN1;PN2;PN3");
    assert_eq!(print[col("emergency_access")], "yes (drill)");
    assert_eq!(rows[1][col("responsible_id")], "c1");
    assert_eq!(rows[1][col("time_local")], "2026-11-22T07:00:00+01:00");
    assert_eq!(rows[1][col("access_address")], "10.1.2.3");
    assert_eq!(rows[1][col("workstation")], "A3-balie");
    assert_eq!(rows[5][col("detail")], "'=cmd|' /C calc'!A0");
    assert_eq!(rows[5][col("emergency_access")], "no");
}

#[test]
fn patient_export_lists_only_that_patient_and_withholds_co_printed_patients() {
    let (_d, log) = scripted_export_log();
    let mut out = Vec::new();
    let n = log
        .export(
            &ExportFilter {
                patient: Some("PN2".into()),
                ..Default::default()
            },
            ExportFormat::Jsonl,
            &mut out,
        )
        .unwrap();
    assert_eq!(n, 1);
    let v: Value = serde_json::from_slice(out.trim_ascii_end()).unwrap();
    assert_eq!(v["kind"], "print");
    assert_eq!(v["patients"].as_array().unwrap().len(), 1);
    assert_eq!(v["patients"][0]["patient_number"], "PN2");
    assert_eq!(v["patients_withheld"], 2);
    // By BSN too, and a period filter.
    let mut out = Vec::new();
    let n = log
        .export(
            &ExportFilter {
                patient: Some("999990001".into()),
                from: Some(t(6, 3)),
                to: Some(t(6, 4)),
            },
            ExportFormat::Csv,
            &mut out,
        )
        .unwrap();
    assert_eq!(n, 1);
}

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";

#[test]
fn fhir_export_is_r4_audit_event_ndjson_with_required_elements() {
    let (_d, log) = scripted_export_log();
    let mut out = Vec::new();
    log.export(&ExportFilter::default(), ExportFormat::Fhir, &mut out)
        .unwrap();
    let events: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 5);
    let type_codes = [
        "110110", "110112", "110106", "110114", "110113", "110107", "110101", "110100",
    ];
    for e in &events {
        assert_eq!(e["resourceType"], "AuditEvent");
        let id = e["id"].as_str().unwrap();
        assert!(
            id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        );
        assert_eq!(e["type"]["system"], DCM);
        assert!(type_codes.contains(&e["type"]["code"].as_str().unwrap()));
        assert!(["C", "R", "U", "D", "E"].contains(&e["action"].as_str().unwrap()));
        assert!(["0", "4", "8", "12"].contains(&e["outcome"].as_str().unwrap()));
        assert!(DateTime::parse_from_rfc3339(e["recorded"].as_str().unwrap()).is_ok());
        let agents = e["agent"].as_array().unwrap();
        assert!(!agents.is_empty());
        for a in agents {
            assert!(a["requestor"].is_boolean(), "agent.requestor is required");
        }
        assert_eq!(e["source"]["observer"]["identifier"]["value"], "box1");
        assert_eq!(e["source"]["site"], "A3");
        for ent in e["entity"].as_array().into_iter().flatten() {
            assert!(
                !(ent.get("name").is_some() && ent.get("query").is_some()),
                "sev-1"
            );
        }
    }
    let login = &events[0];
    assert_eq!(login["type"]["code"], "110114");
    assert_eq!(login["subtype"][0]["code"], "110122");
    assert_eq!(login["agent"][0]["who"]["identifier"]["value"], "u1");
    assert_eq!(login["agent"][0]["who"]["display"], "Name u1");
    assert_eq!(login["agent"][0]["role"][0]["text"], "verpleegkundige");
    assert_eq!(login["agent"][0]["network"]["address"], "10.1.2.3");
    assert_eq!(login["agent"][0]["network"]["type"], "2");
    assert_eq!(login["agent"][1]["who"]["identifier"]["value"], "c1");
    assert_eq!(login["agent"][1]["requestor"], false);
    assert_eq!(
        login["purposeOfUse"][0]["coding"][0]["system"],
        "http://terminology.hl7.org/CodeSystem/v3-ActReason"
    );
    assert_eq!(login["purposeOfUse"][0]["coding"][0]["code"], "ETREAT");
    let search = &events[1];
    let q = search["entity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x.get("query").is_some())
        .unwrap();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(q["query"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, b"query=\"de, \"\"Vries\" hits=2");
    let view = &events[2];
    assert_eq!(view["action"], "R");
    let pat = &view["entity"][0];
    assert_eq!(
        pat["what"]["identifier"]["system"],
        "http://fhir.nl/fhir/NamingSystem/bsn"
    );
    assert_eq!(pat["what"]["identifier"]["value"], "999990001");
    assert_eq!(pat["role"]["code"], "1");
    assert_eq!(pat["detail"][0]["valueString"], "PN1");
    let print = &events[3];
    assert_eq!(print["entity"].as_array().unwrap().len(), 4);
    assert_eq!(print["meta"]["tag"][0]["code"], "drill");
    assert!(
        print["purposeOfUse"][0]["text"]
            .as_str()
            .unwrap()
            .contains("drill")
    );
    let failed = &events[4];
    assert_eq!(failed["outcome"], "4");
    assert!(failed.get("purposeOfUse").is_none());
}

// ---------------------------------------------------------------- drill report

fn console() -> AccessPoint {
    AccessPoint {
        address: "10.0.0.9".into(),
        workstation: None,
    }
}

/// Scripted drill: known times, known counts.
fn scripted_drill(log: &AuditLog, mc: &ModeController, day: i64) -> i64 {
    let d = chrono::Duration::days(day);
    let at = |h, m| t(h, m) + d;
    let as_of = |h, m| (t(h, m) + d).to_rfc3339();
    log.append_at(
        ev(
            EventKind::SnapshotAccepted,
            None,
            &[],
            &format!(
                "accepted c1.snap kind=clinical seq=1 data_as_of={}",
                as_of(5, 50)
            ),
            "standby",
        ),
        at(6, 0),
    )
    .unwrap();
    log.append_at(
        ev(
            EventKind::SnapshotAccepted,
            None,
            &[],
            &format!(
                "accepted r1.snap kind=roster seq=2 data_as_of={}",
                as_of(6, 1)
            ),
            "standby",
        ),
        at(6, 1),
    )
    .unwrap();
    let started = mc
        .set(
            log,
            Mode::Drill,
            Switcher::User {
                user: user("c1", "coördinator"),
                access_point: console(),
            },
            "oefening Q4",
            at(6, 10),
        )
        .unwrap();
    log.append_at(
        ev(EventKind::LoginFailed, Some("u1"), &[], "/login", "drill"),
        at(6, 12),
    )
    .unwrap();
    log.append_at(
        ev(EventKind::Login, Some("u1"), &[], "/login", "drill"),
        at(6, 13),
    )
    .unwrap();
    log.append_at(
        ev(
            EventKind::PatientView,
            Some("u1"),
            &["1"],
            "/patient/key-1",
            "drill",
        ),
        at(6, 15),
    )
    .unwrap();
    log.append_at(
        ev(
            EventKind::PatientView,
            Some("u1"),
            &["2"],
            "/patient/key-2",
            "drill",
        ),
        at(6, 16),
    )
    .unwrap();
    log.append_at(
        ev(
            EventKind::PatientView,
            Some("u1"),
            &["1"],
            "/patient/key-1",
            "drill",
        ),
        at(6, 17),
    )
    .unwrap();
    log.append_at(
        ev(EventKind::Login, Some("d2"), &[], "/login", "drill"),
        at(6, 18),
    )
    .unwrap();
    log.append_at(
        ev(EventKind::Login, Some("u1"), &[], "/login", "drill"),
        at(6, 19),
    )
    .unwrap();
    log.append_at(
        ev(
            EventKind::Print,
            Some("d2"),
            &["1", "2", "3"],
            "print ward-mar",
            "drill",
        ),
        at(6, 20),
    )
    .unwrap();
    log.append_at(
        ev(
            EventKind::Print,
            Some("d2"),
            &["2"],
            "print patient",
            "drill",
        ),
        at(6, 21),
    )
    .unwrap();
    for _ in 0..3 {
        log.append_at(
            ev(EventKind::LoginFailed, Some("u3"), &[], "/login", "drill"),
            at(6, 22),
        )
        .unwrap();
    }
    log.append_at(
        ev(EventKind::Lockout, Some("u3"), &[], "/login", "drill"),
        at(6, 22),
    )
    .unwrap();
    log.append_at(
        ev(
            EventKind::SnapshotRejected,
            None,
            &[],
            "rejected c2.snap code=SIGNATURE: signed by an unknown key",
            "drill",
        ),
        at(6, 25),
    )
    .unwrap();
    log.append_at(
        ev(
            EventKind::SnapshotAccepted,
            None,
            &[],
            &format!(
                "accepted c3.snap kind=clinical seq=3 data_as_of={}",
                as_of(6, 25)
            ),
            "drill",
        ),
        at(6, 30),
    )
    .unwrap();
    mc.set(log, Mode::Standby, Switcher::Console, "klaar", at(6, 45))
        .unwrap();
    // After the drill: not counted.
    log.append_at(
        ev(
            EventKind::PatientView,
            Some("u1"),
            &["9"],
            "/patient/key-9",
            "standby",
        ),
        at(6, 50),
    )
    .unwrap();
    started.drill_id.unwrap()
}

#[test]
fn drill_report_from_scripted_session_has_exact_times_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    let mc = ModeController::load(dir.path(), Duration::from_secs(2 * 3600)).unwrap();
    let id = scripted_drill(&log, &mc, 0);
    let r = drill::report_at(&log, None, t(9, 0)).unwrap();
    assert_eq!(r.drill_id, id);
    assert_eq!(r.started, t(6, 10));
    assert_eq!(r.started_by, "Name c1 (c1)");
    assert_eq!(r.reason, "oefening Q4");
    assert_eq!(r.planned_end, Some(t(8, 10)));
    let end = r.ended.as_ref().unwrap();
    assert_eq!(
        (end.time, end.by.as_str(), end.to_mode.as_str()),
        (t(6, 45), "root (console)", "standby")
    );
    assert_eq!(r.seconds_to_first_login, Some(180));
    assert_eq!(r.seconds_to_first_patient_view, Some(300));
    let ids: Vec<_> = r
        .users
        .iter()
        .map(|u| (u.id.as_str(), u.role.as_str()))
        .collect();
    assert_eq!(ids, [("u1", "verpleegkundige"), ("d2", "arts")]);
    assert_eq!(r.logins, 3);
    assert_eq!((r.patient_views, r.patients_viewed), (3, 2));
    assert_eq!((r.prints, r.patients_printed), (2, 3));
    assert_eq!((r.failed_logins, r.lockouts), (4, 1));
    assert_eq!(r.data_age_at_start_seconds, Some(20 * 60));
    assert_eq!(r.data_age_at_end_seconds, Some(20 * 60));
    assert_eq!(r.max_data_age_seconds, Some(40 * 60));
    assert_eq!(r.snapshots_accepted.len(), 1);
    assert_eq!(r.snapshots_rejected.len(), 1);
    assert!(r.snapshots_rejected[0].detail.contains("code=SIGNATURE"));
    assert!(r.previous.is_none());
    // Stored, and its production is in the log.
    assert_eq!(drill::list(&log).unwrap(), vec![r.clone()]);
    let text = drill::render_text(&r, chrono_tz::Europe::Amsterdam);
    assert!(text.contains("22-11-2026 07:10 by Name c1 (c1)"), "{text}");
    assert!(text.contains("First login after:  3 min"), "{text}");
    let html = drill::render_html(
        &r,
        noodepd::config::Language::Nl,
        chrono_tz::Europe::Amsterdam,
    )
    .into_string();
    assert!(html.contains("class=\"drill-report\""));
    assert!(html.contains("Eerste login na"));
    assert!(!html.contains("style="));
    assert!(verify_file(log.path()).unwrap().is_ok());
}

#[test]
fn second_drill_report_shows_the_previous_drills_figures() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    let mc = ModeController::load(dir.path(), Duration::from_secs(2 * 3600)).unwrap();
    let first = scripted_drill(&log, &mc, 0);
    let r1 = drill::report_at(&log, Some(first), t(9, 0)).unwrap();
    let second = scripted_drill(&log, &mc, 7);
    // A drill still running: started, no end yet.
    let r2 = drill::report_at(&log, None, t(9, 0) + chrono::Duration::days(7)).unwrap();
    assert_eq!(r2.drill_id, second);
    assert_eq!(r2.previous, Some(r1.summary()));
    assert_eq!(r2.previous.as_ref().unwrap().drill_id, first);
    let html = drill::render_html(
        &r2,
        noodepd::config::Language::En,
        chrono_tz::Europe::Amsterdam,
    )
    .into_string();
    assert!(html.contains("drill-compare"));
    // Asking for an id that is no drill start is an error, not a guess.
    assert!(drill::report_at(&log, Some(first + 1), t(9, 0)).is_err());
}

#[test]
fn drill_still_running_reports_no_end_and_data_age_until_now() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    let mc = ModeController::load(dir.path(), Duration::from_secs(2 * 3600)).unwrap();
    log.append_at(
        ev(
            EventKind::SnapshotAccepted,
            None,
            &[],
            "accepted c.snap kind=clinical seq=1 data_as_of=2026-11-22T06:00:00Z",
            "standby",
        ),
        t(6, 0),
    )
    .unwrap();
    mc.set(&log, Mode::Drill, Switcher::Console, "oefening", t(6, 30))
        .unwrap();
    let r = drill::report_at(&log, None, t(7, 0)).unwrap();
    assert!(r.ended.is_none());
    assert_eq!(r.started_by, "root (console)");
    assert_eq!(r.data_age_at_start_seconds, Some(1800));
    assert_eq!(r.data_age_at_end_seconds, Some(3600));
    assert_eq!(r.seconds_to_first_login, None);
    assert!(drill::render_text(&r, chrono_tz::Europe::Amsterdam).contains("still running"));
}

#[test]
fn drill_past_its_end_time_without_a_logged_switch_ends_at_its_planned_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    let mc = ModeController::load(dir.path(), Duration::from_secs(3600)).unwrap();
    mc.set(&log, Mode::Drill, Switcher::Console, "oefening", t(6, 0))
        .unwrap();
    log.append_at(
        ev(
            EventKind::PatientView,
            Some("u1"),
            &["1"],
            "/patient/key-1",
            "drill",
        ),
        t(6, 30),
    )
    .unwrap();
    // The daemon was down at 07:00; this view is after the drill and must not count.
    log.append_at(
        ev(
            EventKind::PatientView,
            Some("u1"),
            &["2"],
            "/patient/key-2",
            "drill",
        ),
        t(7, 30),
    )
    .unwrap();
    let r = drill::report_at(&log, None, t(8, 0)).unwrap();
    let end = r.ended.unwrap();
    assert_eq!((end.entry_id, end.time), (None, t(7, 0)));
    assert_eq!(r.patients_viewed, 1);
}

// ---------------------------------------------------------------- disk full / read-only

fn try_mount_tmpfs(dir: &Path, opts: &str) -> bool {
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn umount(dir: &Path) {
    let _ = std::process::Command::new("umount").arg(dir).status();
}

#[test]
fn append_on_a_full_disk_returns_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    if !try_mount_tmpfs(dir.path(), "size=256k") {
        eprintln!(
            "SKIPPED append_on_a_full_disk_returns_an_error_not_a_panic: cannot mount tmpfs here (not root?); the max_page_count unit test covers SQLITE_FULL"
        );
        return;
    }
    let result = std::panic::catch_unwind(|| {
        let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
        let big = "x".repeat(8 * 1024);
        let mut failed = None;
        for i in 0..200 {
            match log.append_at(
                ev(EventKind::Search, Some("u1"), &[], &big, "emergency"),
                t(6, i % 60),
            ) {
                Ok(_) => {}
                Err(e) => {
                    failed = Some((i, e.to_string()));
                    break;
                }
            }
        }
        let (at, msg) = failed.expect("a 256 KiB filesystem must fill up");
        eprintln!("append failed after {at} entries: {msg}");
        drop(log);
        // What was committed before the disk filled up still verifies (or the anchor is
        // at most one behind).
        verify_file(&dir.path().join("audit.sqlite")).map(|r| r.broken)
    });
    umount(dir.path());
    let broken = result.expect("append must not panic").unwrap();
    assert!(broken.is_none(), "{broken:?}");
}

#[test]
fn append_on_a_read_only_filesystem_returns_an_error() {
    let dir = tempfile::tempdir().unwrap();
    if !try_mount_tmpfs(dir.path(), "size=1m") {
        eprintln!(
            "SKIPPED append_on_a_read_only_filesystem_returns_an_error: cannot mount tmpfs here (not root?)"
        );
        return;
    }
    let result = std::panic::catch_unwind(|| {
        let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
        log.append_at(
            ev(EventKind::Login, Some("u1"), &[], "", "emergency"),
            t(6, 0),
        )
        .unwrap();
        drop(log);
        // Linux refuses to remount read-only while files are open for writing, so the
        // filesystem turns read-only between two runs of the daemon.
        let ro = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(ro.success());
        AuditLog::open(dir.path(), "box1", "A3")
            .and_then(|log| {
                log.append_at(
                    ev(
                        EventKind::PatientView,
                        Some("u1"),
                        &["1"],
                        "/p",
                        "emergency",
                    ),
                    t(6, 1),
                )
            })
            .map(|_| ())
    });
    umount(dir.path());
    let r = result.expect("append must not panic");
    assert!(r.is_err(), "append on a read-only filesystem must fail");
}

// ---------------------------------------------------------------- crash consistency

const CHILD_ENV: &str = "NOODEPD_AUDIT_CRASH_CHILD";

/// Not a test on its own: the child process of
/// `sigkill_during_appends_leaves_a_verifiable_log_that_never_shrinks`, which appends until
/// it is killed.
#[test]
fn crash_child_appends_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let log = AuditLog::open(Path::new(&dir), "box1", "A3").unwrap();
    let mut i: u32 = 0;
    loop {
        log.append(ev(
            EventKind::PatientView,
            Some("u1"),
            &["1"],
            &format!("/patient/key-1?n={i}"),
            "emergency",
        ))
        .unwrap();
        i = i.wrapping_add(1);
    }
}

/// Entries in the log (0 while the child has not created it yet).
fn count(path: &Path) -> i64 {
    Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM entry", [], |r| r.get(0)))
        .unwrap_or(0)
}

#[test]
fn sigkill_during_appends_leaves_a_verifiable_log_that_never_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite");
    let exe = std::env::current_exe().unwrap();
    let mut last = 0i64;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    for round in 0..5u64 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "crash_child_appends_until_killed",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the child is appending, then kill it at a random moment.
        let start = std::time::Instant::now();
        while count(&path) <= last && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let jitter = (seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(round * 1442695040888963407)
            >> 33)
            % 300;
        std::thread::sleep(Duration::from_millis(20 + jitter));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let r = verify_file(&path).unwrap();
        assert!(r.is_ok(), "round {round}: {:?}", r.broken);
        let n = count(&path);
        assert!(
            n > last,
            "round {round}: entry count went from {last} to {n}"
        );
        last = n;
    }
    // The log is still usable: a fresh handle appends after the crash.
    let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    log.append(ev(EventKind::Daemon, None, &[], "start", "standby"))
        .unwrap();
    assert!(log.verify().unwrap().is_ok());
}
