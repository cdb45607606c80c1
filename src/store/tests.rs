//! Store tests: build, swap, read, search, and the "complete or not at all" rule.

use super::*;
use crate::record::*;
use chrono::{NaiveDate, TimeZone};

pub(crate) fn patient(key: &str, name: &str, bed: &str, born: (i32, u32, u32)) -> PatientRecord {
    PatientRecord {
        key: key.into(),
        identity: Identity {
            name: PersonName {
                display: name.into(),
                sort_key: name.into(),
                ..Default::default()
            },
            birth_date: NaiveDate::from_ymd_opt(born.0, born.1, born.2).map(Moment::Day),
            sex: Sex::Female,
            bsn: Some("999911120".into()),
            patient_number: Some(format!("P{key}").into()),
            deceased: false,
        },
        location: BedLocation {
            ward: Some("A3".into()),
            room: Some("Kamer 1".into()),
            bed: Some(bed.into()),
        },
        admission: None,
        alerts: Listed::NotRecorded,
        allergies: Listed::NoneDocumented {
            statement: "Geen allergie bekend".into(),
            asserted: None,
        },
        directives: Listed::NotRecorded,
        problems: Listed::NotRecorded,
        medication: Listed::NotRecorded,
        administrations: Listed::NotRecorded,
        vitals: Listed::NotRecorded,
        labs: Listed::NotRecorded,
        contacts: Listed::NotRecorded,
        devices: Listed::NotRecorded,
        notes: Vec::new(),
        unread: Vec::new(),
        unread_more: 0,
        identity_conflicts: Vec::new(),
    }
}

fn meta(seq: u64) -> GenerationMeta {
    let t = Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap();
    GenerationMeta {
        ward: "A3".into(),
        sequence: seq,
        data_as_of: t,
        created_at: t,
        received_at: t,
        snapshot_file: format!("a3-{seq}.snap"),
        report: IngestReport::default(),
        derived_at: None,
        next_change: None,
    }
}

fn ward(patients: Vec<PatientRecord>) -> WardRecord {
    WardRecord {
        ward: "A3".into(),
        patients,
        report: IngestReport::default(),
        next_change: None,
    }
}

#[test]
fn built_generation_is_not_served_until_swapped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let g = store
        .build(
            meta(1),
            &ward(vec![patient("1", "Anna de Vries", "1", (1950, 3, 4))]),
        )
        .unwrap();
    assert!(store.current().is_none());
    store.swap(g);
    let cur = store.current().unwrap();
    assert_eq!(cur.meta().sequence, 1);
    assert_eq!(cur.summaries().len(), 1);
    let p = cur.patient("1").unwrap().unwrap();
    assert_eq!(p.identity.name.display, "Anna de Vries");
    assert!(cur.patient("nope").unwrap().is_none());
}

#[test]
fn reader_keeps_its_generation_across_a_swap_and_old_file_goes_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.swap(
        store
            .build(
                meta(1),
                &ward(vec![patient("1", "Anna", "1", (1950, 1, 1))]),
            )
            .unwrap(),
    );
    let held = store.current().unwrap();
    store.swap(
        store
            .build(
                meta(2),
                &ward(vec![
                    patient("1", "Anna", "1", (1950, 1, 1)),
                    patient("2", "Bert", "2", (1960, 1, 1)),
                ]),
            )
            .unwrap(),
    );
    // The held (old) generation still answers completely from its own data.
    assert_eq!(held.meta().sequence, 1);
    assert_eq!(held.all_patients().unwrap().len(), 1);
    assert_eq!(store.current().unwrap().all_patients().unwrap().len(), 2);
    let old_path = held.path.clone();
    drop(held);
    assert!(
        !old_path.exists(),
        "old generation's plaintext must be removed"
    );
}

#[test]
fn opening_store_removes_leftover_plaintext_generations() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gen-5-1-1.tmp"), b"half").unwrap();
    std::fs::write(dir.path().join("gen-4-1-1.sqlite"), b"old").unwrap();
    Store::open(dir.path()).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn truncated_generation_file_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let g = store
        .build(
            meta(1),
            &ward(vec![patient("1", "Anna", "1", (1950, 1, 1))]),
        )
        .unwrap();
    let copy = dir.path().join("copy.sqlite");
    std::fs::copy(&g.path, &copy).unwrap();
    let len = std::fs::metadata(&copy).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
    f.set_len(len / 2).unwrap();
    assert!(Generation::open(&copy).is_err());
}

#[test]
fn search_matches_name_birth_date_number_and_bed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let g = store
        .build(
            meta(1),
            &ward(vec![
                patient("1", "Anna de Vries", "1", (1950, 3, 4)),
                patient("2", "Ümit Yılmaz", "12", (1988, 11, 30)),
            ]),
        )
        .unwrap();
    let keys = |q: &str| {
        g.search(q)
            .iter()
            .map(|s| s.key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys("vries"), vec!["1"]);
    assert_eq!(keys("umit"), vec!["2"]);
    assert_eq!(keys("04-03-1950"), vec!["1"]);
    assert_eq!(keys("4-3-1950"), vec!["1"]);
    assert_eq!(keys("P2"), vec!["2"]);
    assert_eq!(keys("12"), vec!["2"]);
    assert_eq!(keys("anna vries"), vec!["1"]);
    assert!(keys("").is_empty());
    assert!(keys("nobody").is_empty());
}

#[test]
fn a_record_changed_in_the_file_is_refused_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let g = store
        .build(
            meta(1),
            &ward(vec![
                patient("1", "Anna", "1", (1950, 1, 1)),
                patient("2", "Bram", "2", (1960, 2, 2)),
            ]),
        )
        .unwrap();
    assert!(g.patient("1").unwrap().is_some());
    g.verify_file().unwrap();
    // Valid JSON, valid SQLite, wrong content: the dangerous kind of corruption.
    let w = rusqlite::Connection::open(&g.path).unwrap();
    w.execute(
        "UPDATE patient SET record = replace(record, 'Anna', 'Bert') WHERE key = '1'",
        [],
    )
    .unwrap();
    drop(w);
    assert!(matches!(g.patient("1"), Err(StoreError::Corrupt { .. })));
    assert!(g.is_corrupt());
    assert!(g.verify_file().is_err());
    // Once corrupt, nothing more is read from it.
    assert!(g.patient("2").is_err());
    assert!(g.all_patients().is_err());
}
