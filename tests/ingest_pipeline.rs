//! The ingest pipeline on real files: real keys, snapshots sealed from generator data,
//! a real inbox, quarantine and state directory, and restarts as a new `Ingestor` on the
//! same directories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod ingest_common;

use chrono::{Duration as TimeDelta, Utc};
use ingest_common::{Env, WARD, audit_kinds, served, ward_payload};
use noodepd::ingest::ProcessError;
use noodepd::keys::{KeyKind, write_key_pair};
use noodepd::mode::{Mode, Switcher};
use noodepd::snapshot::PayloadKind;
use std::sync::atomic::Ordering;

fn rejected_code(r: Result<noodepd::ingest::Accepted, ProcessError>) -> String {
    match r {
        Err(ProcessError::Rejected(rej)) => rej.code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn quarantined(env: &Env, name: &str) -> String {
    let q = env.path("quarantine");
    assert!(q.join(name).exists(), "{name} not in quarantine");
    std::fs::read_to_string(q.join(format!("{name}.reason"))).unwrap()
}

#[test]
fn accepted_snapshot_becomes_current_with_its_sequence_and_data_as_of() {
    let env = Env::new(3);
    let ing = env.start();
    let bytes = env.clinical(7, 5);
    let f = env.drop_in("a3-0007.snap", &bytes);
    let acc = ing.process(&f).unwrap();
    assert_eq!(acc.kind, PayloadKind::Clinical);
    assert_eq!((acc.sequence, acc.patients), (7, Some(5)));
    let (seq, patients, as_of) = served(&ing).unwrap();
    assert_eq!((seq, patients), (7, 5));
    assert_eq!(as_of, acc.data_as_of);
    assert!(!f.exists(), "accepted file leaves the inbox");
    // Kept sealed (byte for byte the encrypted file), never as plaintext.
    let kept = env.path("state/snapshots/clinical-00000000000000000007.snap");
    assert_eq!(std::fs::read(kept).unwrap(), bytes);
    let status = ing.shared().status.get();
    assert_eq!(status.last_sequence, Some(7));
    assert_eq!(status.problem, None);
    assert_eq!(
        ing.shared()
            .metrics
            .snapshots_accepted
            .load(Ordering::Relaxed),
        1
    );
    let audit = audit_kinds(&env);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "snapshot_accepted");
    // The data time is in the entry: the drill report reads the data age from it.
    assert_eq!(
        audit[0].1,
        format!(
            "accepted file=a3-0007.snap kind=clinical sequence=7 data_as_of={} patients=5",
            acc.data_as_of
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("state/sequence.json")).unwrap()).unwrap();
    assert_eq!(state["wards"][WARD], 7);
}

#[test]
fn tampered_snapshot_is_quarantined_and_previous_generation_stays_served() {
    let env = Env::new(3);
    let ing = env.start();
    ing.process(&env.drop_in("a3-1.snap", &env.clinical(1, 3)))
        .unwrap();
    let mut bad = env.clinical(2, 4);
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    let f = env.drop_in("a3-2.snap", &bad);
    let code = rejected_code(ing.process(&f));
    assert_eq!(code, "bad_signature");
    assert!(!f.exists());
    let reason = quarantined(&env, "a3-2.snap");
    assert!(reason.contains("code: bad_signature"), "{reason}");
    assert_eq!(served(&ing).map(|s| (s.0, s.1)), Some((1, 3)));
    let status = ing.shared().status.get();
    let rej = status.last_rejection.unwrap();
    assert_eq!(
        (rej.file.as_str(), rej.code.as_str()),
        ("a3-2.snap", "bad_signature")
    );
    assert_eq!(status.last_sequence, Some(1));
    assert_eq!(
        ing.shared()
            .metrics
            .snapshots_rejected
            .load(Ordering::Relaxed),
        1
    );
    let audit = audit_kinds(&env);
    assert_eq!(audit.last().unwrap().0, "snapshot_rejected");
    assert!(audit.last().unwrap().1.contains("code=bad_signature"));
}

#[test]
fn replayed_or_older_sequence_is_refused_also_after_restart() {
    let env = Env::new(3);
    let ing = env.start();
    let five = env.clinical(5, 2);
    ing.process(&env.drop_in("a3-5.snap", &five)).unwrap();
    assert_eq!(
        rejected_code(ing.process(&env.drop_in("again-5.snap", &env.clinical(5, 3)))),
        "replayed_sequence"
    );
    assert_eq!(
        rejected_code(ing.process(&env.drop_in("a3-3.snap", &env.clinical(3, 3)))),
        "old_sequence"
    );
    let reason = quarantined(&env, "a3-3.snap");
    assert!(
        reason.contains("sequence 3 is not newer than the last accepted 5"),
        "{reason}"
    );
    drop(ing);

    let ing = env.start();
    assert_eq!(ing.last_sequence(), Some(5));
    assert_eq!(
        rejected_code(ing.process(&env.drop_in("a3-4.snap", &env.clinical(4, 3)))),
        "old_sequence"
    );
    // Even the very same sealed file (a captured copy) is refused once it was accepted.
    assert_eq!(
        rejected_code(ing.process(&env.drop_in("copy.snap", &five))),
        "replayed_sequence"
    );
    assert_eq!(served(&ing), None, "nothing served before recover()");
}

#[test]
fn snapshot_for_another_ward_is_refused() {
    let env = Env::new(3);
    let ing = env.start();
    let now = Utc::now();
    let bytes = env.seal("B1", PayloadKind::Clinical, 1, now, &ward_payload(2, 1));
    assert_eq!(
        rejected_code(ing.process(&env.drop_in("b1.snap", &bytes))),
        "wrong_ward"
    );
    assert_eq!(served(&ing), None);
    assert_eq!(ing.last_sequence(), None);
}

#[test]
fn snapshot_dated_in_the_future_is_refused_with_a_clock_hint() {
    let env = Env::new(3);
    let ing = env.start();
    let later = Utc::now() + TimeDelta::hours(2);
    let bytes = env.seal(WARD, PayloadKind::Clinical, 1, later, &ward_payload(2, 1));
    assert_eq!(
        rejected_code(ing.process(&env.drop_in("f.snap", &bytes))),
        "from_the_future"
    );
    let reason = quarantined(&env, "f.snap");
    assert!(reason.contains("clock is wrong"), "{reason}");
}

#[test]
fn file_present_before_start_is_ingested_by_recover() {
    let env = Env::new(3);
    env.drop_in("a3-2.snap", &env.clinical(2, 3));
    let ing = env.start();
    let rec = ing.recover();
    assert_eq!(rec.inbox.len(), 1);
    assert!(rec.inbox[0].is_ok(), "{:?}", rec.inbox[0]);
    assert_eq!(served(&ing).map(|s| s.0), Some(2));
}

#[test]
fn restart_rebuilds_the_generation_from_the_newest_kept_snapshot() {
    let env = Env::new(3);
    let ing = env.start();
    ing.process(&env.drop_in("a3-1.snap", &env.clinical(1, 3)))
        .unwrap();
    ing.process(&env.drop_in("a3-2.snap", &env.clinical(2, 6)))
        .unwrap();
    let before = served(&ing).unwrap();
    drop(ing);

    let ing = env.start();
    assert_eq!(served(&ing), None);
    let rec = ing.recover();
    assert_eq!(rec.generation, Some(2));
    assert_eq!(served(&ing), Some(before));
    assert_eq!(ing.shared().status.get().problem, None);
}

#[test]
fn restart_falls_back_to_an_older_kept_snapshot_then_to_nothing_with_a_problem() {
    let env = Env::new(3);
    let ing = env.start();
    ing.process(&env.drop_in("a3-1.snap", &env.clinical(1, 3)))
        .unwrap();
    ing.process(&env.drop_in("a3-2.snap", &env.clinical(2, 4)))
        .unwrap();
    drop(ing);
    // The newest kept file is damaged: the older one is served.
    let newest = env.path("state/snapshots/clinical-00000000000000000002.snap");
    let mut b = std::fs::read(&newest).unwrap();
    let n = b.len() - 10;
    b[n] ^= 0xff;
    std::fs::write(&newest, b).unwrap();
    let ing = env.start();
    let rec = ing.recover();
    assert_eq!(rec.generation, Some(1));
    assert_eq!(rec.unusable.len(), 1);
    assert_eq!(served(&ing).map(|s| s.0), Some(1));
    // The sequence stays at 2: the damaged file was accepted once.
    assert_eq!(ing.last_sequence(), Some(2));
    drop(ing);

    // The appliance key was rotated: nothing can be opened any more.
    write_key_pair(KeyKind::Appliance, &env.path("keys"), true).unwrap();
    let ing = env.start();
    let rec = ing.recover();
    assert_eq!(rec.generation, None);
    assert_eq!(rec.unusable.len(), 2);
    assert_eq!(served(&ing), None);
    let problem = ing.shared().status.get().problem.unwrap();
    assert!(
        problem.contains("none of the 2 kept snapshot(s) could be used"),
        "{problem}"
    );
}

#[test]
fn crash_after_keeping_but_before_the_sequence_write_is_recovered_and_replay_stays_refused() {
    let env = Env::new(3);
    let ing = env.start();
    ing.process(&env.drop_in("a3-1.snap", &env.clinical(1, 2)))
        .unwrap();
    drop(ing);
    // As if the daemon died right after keeping sequence 2, before swapping it in and
    // persisting the sequence: the kept copy is there, sequence.json still says 1.
    let two = env.clinical(2, 3);
    std::fs::write(
        env.path("state/snapshots/clinical-00000000000000000002.snap"),
        &two,
    )
    .unwrap();
    let ing = env.start();
    assert_eq!(ing.last_sequence(), Some(1));
    assert_eq!(ing.recover().generation, Some(2));
    assert_eq!(served(&ing).map(|s| (s.0, s.1)), Some((2, 3)));
    assert_eq!(
        ing.last_sequence(),
        Some(2),
        "sequence raised to the served one"
    );
    assert_eq!(
        rejected_code(ing.process(&env.drop_in("again.snap", &two))),
        "replayed_sequence"
    );
}

#[test]
fn only_the_configured_number_of_snapshots_is_kept() {
    let env = Env::new(2);
    let ing = env.start();
    for seq in 1..=4 {
        ing.process(&env.drop_in(&format!("a3-{seq}.snap"), &env.clinical(seq, 1)))
            .unwrap();
    }
    let mut kept: Vec<String> = std::fs::read_dir(env.path("state/snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        vec![
            "clinical-00000000000000000003.snap",
            "clinical-00000000000000000004.snap"
        ]
    );
}

fn roster_payload(ward: &str) -> Vec<u8> {
    let h = noodepd::roster::hash_code("482913").unwrap();
    format!(
        r#"{{"ward":"{ward}","staff":[{{"user":"jbakker","name":"Jan Bakker","role":"nurse","code_hash":"{h}"}},{{"user":"coord","name":"Co Ordinator","role":"coordinator","code_hash":"{h}"}}]}}"#
    )
    .into_bytes()
}

#[test]
fn roster_snapshot_takes_effect_survives_restart_and_is_audited() {
    let env = Env::new(3);
    let ing = env.start();
    let bytes = env.seal(
        WARD,
        PayloadKind::Roster,
        3,
        Utc::now(),
        &roster_payload(WARD),
    );
    let acc = ing.process(&env.drop_in("roster-3.snap", &bytes)).unwrap();
    assert_eq!(acc.staff, Some(2));
    let roster = ing.shared().roster().unwrap();
    assert!(roster.verify("jbakker", "482913").is_some());
    assert_eq!(ing.shared().status.get().roster_staff, 2);
    assert_eq!(std::fs::read(env.path("state/roster.snap")).unwrap(), bytes);
    let kinds: Vec<String> = audit_kinds(&env).into_iter().map(|a| a.0).collect();
    assert_eq!(kinds, vec!["roster_updated", "snapshot_accepted"]);
    drop(ing);

    let ing = env.start();
    assert!(ing.shared().roster().is_none());
    assert!(ing.recover().roster);
    assert_eq!(ing.shared().roster().unwrap().staff.len(), 2);
}

#[test]
fn roster_for_another_ward_inside_is_refused() {
    let env = Env::new(3);
    let ing = env.start();
    let bytes = env.seal(
        WARD,
        PayloadKind::Roster,
        1,
        Utc::now(),
        &roster_payload("B1"),
    );
    assert_eq!(
        rejected_code(ing.process(&env.drop_in("r.snap", &bytes))),
        "roster_wrong_ward"
    );
    assert!(ing.shared().roster().is_none());
}

#[test]
fn mode_command_snapshot_switches_the_mode_and_is_audited() {
    let env = Env::new(3);
    let ing = env.start();
    let cmd = br#"{"mode": "emergency", "reason": "HiX storing ziekenhuisbreed"}"#;
    let bytes = env.seal(WARD, PayloadKind::ModeCommand, 9, Utc::now(), cmd);
    let acc = ing.process(&env.drop_in("mode-9.snap", &bytes)).unwrap();
    assert_eq!(acc.mode, Some(Mode::Emergency));
    let state = ing.shared().mode.current(Utc::now());
    assert_eq!(state.mode, Mode::Emergency);
    assert_eq!(
        state.by,
        Switcher::Publisher {
            snapshot: "mode-9.snap".into(),
            sequence: 9
        }
    );
    let audit = audit_kinds(&env);
    assert_eq!(audit[0].0, "mode_switch");
    assert!(audit[0].1.contains("HiX storing ziekenhuisbreed"));
    assert_eq!(audit[1].0, "snapshot_accepted");
    assert_eq!(ing.last_sequence(), Some(9));

    let extra = br#"{"mode": "standby", "reason": "x", "force": true}"#;
    let bytes = env.seal(WARD, PayloadKind::ModeCommand, 10, Utc::now(), extra);
    assert_eq!(
        rejected_code(ing.process(&env.drop_in("mode-10.snap", &bytes))),
        "mode_command_invalid"
    );
    assert_eq!(ing.shared().mode.current(Utc::now()).mode, Mode::Emergency);
}

#[test]
fn unreadable_key_defers_without_quarantine_and_recovers_when_fixed() {
    let env = Env::new(3);
    let ing = env.start();
    let key = env.path("keys/appliance.key");
    let hidden = env.path("keys/appliance.key.away");
    std::fs::rename(&key, &hidden).unwrap();
    let f = env.drop_in("a3-1.snap", &env.clinical(1, 2));
    match ing.process(&f) {
        Err(ProcessError::Deferred { reason, .. }) => {
            assert!(reason.contains("appliance key"), "{reason}")
        }
        other => panic!("expected deferral, got {other:?}"),
    }
    assert!(f.exists(), "left in the inbox for a retry");
    let problem = ing.shared().status.get().problem.unwrap();
    assert!(problem.contains("appliance key"), "{problem}");
    std::fs::rename(&hidden, &key).unwrap();
    ing.process(&f).unwrap();
    assert_eq!(ing.shared().status.get().problem, None);
}

#[test]
fn hostile_file_name_is_made_safe_in_quarantine_status_and_audit() {
    let env = Env::new(3);
    let ing = env.start();
    let f = env.drop_in("evil\n<b>name.snap", b"not a snapshot");
    assert_eq!(rejected_code(ing.process(&f)), "not_a_snapshot");
    let reason = quarantined(&env, "evil__b_name.snap");
    assert!(reason.contains("code: not_a_snapshot"), "{reason}");
    let rej = ing.shared().status.get().last_rejection.unwrap();
    assert_eq!(rej.file, "evil__b_name.snap");
    assert!(audit_kinds(&env)[0].1.contains("file=evil__b_name.snap "));
}

#[test]
fn garbage_and_truncated_files_are_refused() {
    let env = Env::new(3);
    let ing = env.start();
    let g = env.drop_in("junk.snap", b"hello, not a snapshot");
    assert_eq!(rejected_code(ing.process(&g)), "not_a_snapshot");
    let full = env.clinical(1, 2);
    let half = env.drop_in("half.snap", &full[..full.len() / 2]);
    // An old file that stopped growing long ago is truncated, not "still being written".
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&half)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(rejected_code(ing.process(&half)), "truncated");
    assert_eq!(served(&ing), None);
}

/// One measurement for the report, not a benchmark: how long a 40-patient snapshot takes
/// from file to served generation, and its parts (debug build unless run with --release).
#[test]
fn measure_forty_patient_ingest() {
    use noodepd::fhir::{MapOptions, map_payload};
    use noodepd::keys::ApplianceSecret;
    use std::time::Instant;
    let env = Env::new(3);
    let ing = env.start();
    let bytes = env.clinical(1, 40);
    // The parts, measured on the side.
    let app = ApplianceSecret::read(&env.path("keys/appliance.key")).unwrap();
    let pubk = noodepd::keys::PublisherPublic::read(&env.path("keys/publisher.pub")).unwrap();
    let t = Instant::now();
    let opened = noodepd::snapshot::open(&bytes, &app, &pubk, &Default::default()).unwrap();
    let open_ms = t.elapsed().as_millis();
    let t = Instant::now();
    let cfg = &ing.shared().config;
    let record = map_payload(
        &opened.payload,
        &MapOptions {
            now: Utc::now(),
            administration_window: cfg.data.administration_window,
            observation_window: cfg.data.observation_window,
            ward: WARD.into(),
        },
    )
    .unwrap();
    let map_ms = t.elapsed().as_millis();
    assert_eq!(record.patients.len(), 40);
    // The whole pipeline.
    let f = env.drop_in("a3-40.snap", &bytes);
    let acc = ing.process(&f).unwrap();
    assert_eq!(acc.patients, Some(40));
    eprintln!(
        "40-patient snapshot: {} bytes sealed, {} bytes payload; whole ingest {} ms \
         (open {open_ms} ms, map {map_ms} ms, rest: build + keep + swap + audit)",
        bytes.len(),
        opened.payload.len(),
        acc.took.as_millis()
    );
}

#[test]
fn empty_or_shrunken_snapshot_is_quarantined_and_the_ward_stays_served_unless_allowed() {
    let env = Env::new(3);
    let ing = env.start();
    ing.process(&env.drop_in("a3-1.snap", &env.clinical(1, 24)))
        .unwrap();
    let standing = |ing: &noodepd::ingest::Ingestor| {
        ing.shared()
            .status
            .get()
            .problems
            .iter()
            .find(|p| p.code == "snapshot_shrink_refused")
            .map(|p| p.message.clone())
    };

    // A valid, signed snapshot with no patients: refused, the 24 patients stay.
    let f = env.drop_in("a3-2.snap", &env.clinical_flagged(2, 0, false));
    assert_eq!(rejected_code(ing.process(&f)), "snapshot_empty");
    let reason = quarantined(&env, "a3-2.snap");
    assert!(reason.contains("holds no patients"), "{reason}");
    assert!(reason.contains("--allow-shrink"), "{reason}");
    assert_eq!(served(&ing).map(|s| (s.0, s.1)), Some((1, 24)));
    let msg = standing(&ing).expect("a standing problem while the ward shrank");
    assert!(
        msg.contains("sequence 2") && msg.contains("24 patients"),
        "{msg}"
    );

    // 11 of 24 is under the default 50%: refused too.
    let f = env.drop_in("a3-3.snap", &env.clinical_flagged(3, 11, false));
    assert_eq!(rejected_code(ing.process(&f)), "snapshot_shrunk");
    let reason = quarantined(&env, "a3-3.snap");
    assert!(
        reason.contains("11 patients") && reason.contains("50%"),
        "{reason}"
    );
    assert_eq!(served(&ing).map(|s| (s.0, s.1)), Some((1, 24)));
    // The sequence did not move: a later good snapshot still needs only to be newer.
    assert_eq!(ing.last_sequence(), Some(1));

    // 12 of 24 is exactly half: accepted, and the problem clears.
    ing.process(&env.drop_in("a3-4.snap", &env.clinical_flagged(4, 12, false)))
        .unwrap();
    assert_eq!(served(&ing).map(|s| (s.0, s.1)), Some((4, 12)));
    assert_eq!(standing(&ing), None);

    // Sealed with --allow-shrink, an empty ward is what the publisher means: served, and
    // the access log says it was let through by the flag.
    let acc = ing
        .process(&env.drop_in("a3-5.snap", &env.clinical_flagged(5, 0, true)))
        .unwrap();
    assert!(acc.shrink_allowed);
    assert_eq!(served(&ing).map(|s| (s.0, s.1)), Some((5, 0)));
    let audit = audit_kinds(&env);
    let last = &audit.last().unwrap().1;
    assert!(
        last.contains("sequence=5") && last.contains("shrink_allowed=true"),
        "{last}"
    );
    let rejected: Vec<_> = audit
        .iter()
        .filter(|(k, _)| k == "snapshot_rejected")
        .map(|(_, d)| d.clone())
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected[0].contains("code=snapshot_empty"));
    assert!(rejected[1].contains("code=snapshot_shrunk"));
    // Both refusals are in the kept history, newest first.
    let history: Vec<_> = ing
        .shared()
        .status
        .get()
        .rejections
        .iter()
        .map(|r| r.code.clone())
        .collect();
    assert_eq!(history, ["snapshot_shrunk", "snapshot_empty"]);
}

#[test]
fn first_snapshot_with_no_patients_is_refused_too() {
    let env = Env::new(3);
    let ing = env.start();
    let f = env.drop_in("a3-1.snap", &env.clinical_flagged(1, 0, false));
    assert_eq!(rejected_code(ing.process(&f)), "snapshot_empty");
    assert!(served(&ing).is_none());
    // Any non-empty first ward is fine: there is nothing to shrink from.
    ing.process(&env.drop_in("a3-2.snap", &env.clinical_flagged(2, 1, false)))
        .unwrap();
    assert_eq!(served(&ing).map(|s| (s.0, s.1)), Some((2, 1)));
}

/// Regression: the drill report's data-age figures were always "-" because the access-log
/// entry of an accepted snapshot did not carry the data time the report reads.
#[test]
fn drill_report_reads_the_data_age_from_the_accepted_snapshot_entries() {
    let env = Env::new(3);
    let ing = env.start();
    let acc = ing
        .process(&env.drop_in("a3-1.snap", &env.clinical(1, 3)))
        .unwrap();
    let shared = ing.shared();
    let start = Utc::now();
    shared
        .switch_mode(Mode::Drill, Switcher::Console, "oefening", start)
        .unwrap();
    let second = ing
        .process(&env.drop_in("a3-2.snap", &env.clinical(2, 3)))
        .unwrap();
    let end = Utc::now() + TimeDelta::minutes(10);
    let r = noodepd::audit::drill::report_at(shared.audit_log(), None, end).unwrap();
    // The entry carries the data time to the second; the ages may differ by that rounding.
    let near = |got: Option<i64>, want: i64| got.is_some_and(|g| (g - want).abs() <= 1);
    let at_start = (start - acc.data_as_of).num_seconds();
    assert!(near(r.data_age_at_start_seconds, at_start), "{r:?}");
    assert!(
        near(
            r.data_age_at_end_seconds,
            (end - second.data_as_of).num_seconds()
        ),
        "{r:?}"
    );
    assert!(r.max_data_age_seconds.is_some_and(|m| m >= at_start - 1));
    let text = noodepd::audit::drill::render_text(&r, chrono_tz::Europe::Amsterdam);
    let line = text
        .lines()
        .find(|l| l.starts_with("Data age at start:"))
        .unwrap();
    assert!(!line.ends_with('-'), "{line}");
}
