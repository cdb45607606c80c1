//! The next change moment on real shapes: for the Nictiz MP9 3.0 examples, the hand-written
//! MP9 scenarios (pause, resume, stop, replacement, ended periods from period of use,
//! boundsPeriod and boundsDuration), the zib2017 export, the zib2020 and IPS examples and the
//! date-only fixture, the moment the mapper reports is exact enough to re-map at: walking the
//! whole timeline from moment to moment, no shown state (treatments, their blocks, problems,
//! alerts, directives, devices) differs just before a moment from what it was when mapped —
//! so nothing is missed in between — and walking ends with no moment left.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use chrono::{DateTime, Duration, Utc};
use noodepd::fhir::{self, MapOptions};
use noodepd::record::WardRecord;
use std::path::PathBuf;

fn map_at(dir: &str, now: DateTime<Utc>) -> WardRecord {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let docs = fhir::input::read_documents(&[path]).unwrap();
    fhir::map_documents(&docs, &MapOptions::new(now, "test"))
}

/// Everything the clock can change on a page (not the windows of administrations and
/// observations, which slide with any `now`).
fn states(r: &WardRecord) -> String {
    let v: Vec<_> = r
        .patients
        .iter()
        .map(|p| {
            (
                &p.key,
                serde_json::to_string(&p.medication).unwrap(),
                serde_json::to_string(&p.problems).unwrap(),
                serde_json::to_string(&p.alerts).unwrap(),
                serde_json::to_string(&p.devices).unwrap(),
                serde_json::to_string(&p.directives).unwrap(),
            )
        })
        .collect();
    format!("{v:?}")
}

fn walk(dir: &str, from: &str) -> usize {
    let mut now: DateTime<Utc> = DateTime::parse_from_rfc3339(from).unwrap().into();
    let mut changes = 0;
    for _ in 0..1000 {
        let r = map_at(dir, now);
        let Some(next) = r.next_change else {
            return changes;
        };
        assert!(next > now, "{dir}: {next} is not after {now}");
        let just_before = map_at(dir, next - Duration::milliseconds(1));
        assert!(
            states(&r) == states(&just_before),
            "{dir}: a state changed between {now} and the next change moment {next}"
        );
        if states(&map_at(dir, next)) != states(&r) {
            changes += 1;
        }
        now = next;
    }
    panic!("{dir}: more than 1000 moments");
}

#[test]
fn no_state_changes_between_next_change_moments_on_every_fixture() {
    for (dir, from) in [
        ("nictiz-mp9-300", "2015-01-01T00:00:00Z"),
        ("noodepd-mp9-scenarios", "2015-01-01T00:00:00Z"),
        ("noodepd-zib2017", "2010-01-01T00:00:00Z"),
        ("noodepd-date-only", "2010-01-01T00:00:00Z"),
        ("nictiz-zib2020", "2010-01-01T00:00:00Z"),
        ("ips-2.0.0", "2010-01-01T00:00:00Z"),
    ] {
        let changes = walk(dir, from);
        assert!(changes > 0, "{dir}: the walk saw states change");
    }
}

#[test]
fn the_scenarios_change_at_their_written_moments() {
    // At the scenarios' clock the next thing to happen is the paused apixaban resuming on
    // 2026-11-25 08:00 +01:00 (the resume agreement's start).
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-22T06:00:00Z")
        .unwrap()
        .into();
    let r = map_at("noodepd-mp9-scenarios", now);
    let next = r.next_change.unwrap();
    assert!(next > now);
    assert!(
        next <= DateTime::parse_from_rfc3339("2026-11-25T07:00:00Z").unwrap(),
        "{next}"
    );
}
