#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic
//! Medication states follow the clock during an outage, with the real `noodepd serve`
//! binary, a real inbox and real HTTP: a snapshot holds a course (MP9 medication agreement,
//! period of use) ending a few seconds after its ingest and one starting then. Before that
//! moment the patient page lists the first among the current medication and the second as
//! starting later; after it — without any new snapshot — the same page shows the first
//! among the stopped/ended ones and the second as current, with the data's sequence and age
//! unchanged. A restart after the moment maps the kept snapshot anew (the last generation
//! is not reused) and shows the same. When the kept snapshot cannot be mapped again, the
//! old data stays served and `/ready` says `rederive_failed`.

mod e2e_common;

use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use e2e_common::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const ENDING: &str = "ZZEINDCILLINE";
const STARTING: &str = "ZZSTARTOMYCINE";
/// How long after sealing the courses end and start: room for the daemon to start, ingest
/// and serve the page once before it.
const AHEAD: i64 = 20;

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A medication agreement in the MP9 3.0 shape the generator writes.
fn agreement(
    n: u32,
    drug: &str,
    patient: &str,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> Value {
    let id = format!("0b6f1e2a-7c1d-4c55-9a3e-00000000000{n}");
    let mut period = json!({ "start": stamp(start) });
    if let Some(e) = end {
        period["end"] = json!(stamp(e));
    }
    json!({
        "fullUrl": format!("urn:uuid:{id}"),
        "resource": {
            "resourceType": "MedicationRequest",
            "id": id,
            "meta": { "profile": ["http://nictiz.nl/fhir/StructureDefinition/nl-core-MedicationAgreement"] },
            "extension": [
                { "url": "http://nictiz.nl/fhir/StructureDefinition/ext-RegistrationDateTime",
                  "valueDateTime": stamp(start - Span::days(3)) },
                { "url": "http://nictiz.nl/fhir/StructureDefinition/ext-TimeInterval.Period",
                  "valuePeriod": period },
                { "url": "http://nictiz.nl/fhir/StructureDefinition/ext-PharmaceuticalTreatment.Identifier",
                  "valueIdentifier": { "system": "urn:oid:2.16.840.1.113883.2.4.3.11.999.77.1.1",
                                       "value": format!("MBH-clock-{n}") } }
            ],
            "identifier": [{ "system": "urn:oid:2.16.840.1.113883.2.4.3.11.999.77.16076005.1",
                             "value": format!("MBH-clock-{n}-MA") }],
            "status": "active",
            "intent": "order",
            "category": [{ "coding": [{ "system": "http://snomed.info/sct", "code": "16076005",
                                        "display": "voorschrijven" }] }],
            "medicationCodeableConcept": {
                "coding": [{ "system": "urn:oid:2.16.840.1.113883.2.4.4.7", "code": format!("9999{n}"),
                             "display": drug }],
                "text": drug
            },
            "subject": { "reference": patient, "type": "Patient" },
            "authoredOn": stamp(start - Span::days(3)),
            "dosageInstruction": [{
                "sequence": 1,
                "text": "3 maal per dag 1 stuk, oraal",
                "timing": { "repeat": { "frequency": 3, "period": 1, "periodUnit": "d" } },
                "doseAndRate": [{ "doseQuantity": { "value": 1, "unit": "stuk",
                    "system": "http://unitsofmeasure.org", "code": "{stuk}" } }]
            }]
        }
    })
}

struct Clock {
    w: Ward,
    nurse: DemoLogin,
    /// When the first course ends and the second starts.
    moment: DateTime<Utc>,
}

/// One generated patient plus the two courses around `moment`, sealed and delivered with
/// the roster.
fn set_up() -> Clock {
    let w = Ward::new("A3");
    let generated = w.generate_with_roster(1, 41, "A3");
    let bundle_path = generated.join("A3.json");
    let mut bundle: Value = serde_json::from_slice(&std::fs::read(&bundle_path).unwrap()).unwrap();
    let patient = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .and_then(|e| e["fullUrl"].as_str())
        .unwrap()
        .to_owned();
    // Whole seconds: the snapshot carries them so.
    let moment = DateTime::from_timestamp(Utc::now().timestamp() + AHEAD, 0).unwrap();
    let entries = bundle["entry"].as_array_mut().unwrap();
    entries.push(agreement(
        1,
        ENDING,
        &patient,
        moment - Span::days(5),
        Some(moment),
    ));
    entries.push(agreement(2, STARTING, &patient, moment, None));
    let with_courses = w.path().join("A3-clock.json");
    std::fs::write(&with_courses, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let nurse = read_codes(&generated.join("codes-A3.txt"))
        .into_iter()
        .find(|c| c.role == "nurse")
        .unwrap();
    let roster = w.seal(&generated.join("roster-A3.json"), "A3", 1, "roster");
    let clinical = w.seal(&with_courses, "A3", 2, "clinical");
    std::fs::create_dir_all(w.inbox()).unwrap();
    deliver(&roster, &w.inbox(), "a3-000001-roster.snap");
    deliver(&clinical, &w.inbox(), "a3-000002.snap");
    Clock { w, nurse, moment }
}

fn start(c: &Clock) -> (Proc, SocketAddr, Value) {
    let (p, addr) = c.w.serve();
    let ready = poll_ready(addr, "sequence 2 served with the roster", |j| {
        j["sequence"] == 2 && j["roster_staff"].as_u64().is_some_and(|n| n > 0)
    });
    run_ok(&[
        "mode",
        "emergency",
        "--reason",
        "test",
        "--config",
        s(&c.w.config()),
    ]);
    (p, addr, ready)
}

/// What the nurse sees of the two courses on the patient page.
#[derive(Debug, PartialEq)]
struct Seen {
    ending_current: bool,
    ending_past: bool,
    starting_current: bool,
    starting_future: bool,
}

fn row_class(html: &str, at: usize) -> &str {
    let tr = html[..at].rfind("<tr").unwrap();
    let tag = &html[tr..tr + html[tr..].find('>').unwrap()];
    tag.split("class=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
}

fn patient_page(c: &Clock, addr: SocketAddr) -> Seen {
    let cookie = login(addr, &c.nurse.user, &c.nurse.code).unwrap();
    let r = request(addr, "GET", "/", &cookie, "").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let keys = patient_links(&r.text());
    assert_eq!(keys.len(), 1);
    let r = request(addr, "GET", &format!("/patient/{}", keys[0]), &cookie, "").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let html = r.text();
    let past_at = html.find("class=\"medpast\"").unwrap_or(html.len());
    let (current, past) = html.split_at(past_at);
    let starting_at = current.find(STARTING);
    Seen {
        ending_current: current.contains(ENDING),
        ending_past: past.contains(ENDING),
        starting_current: starting_at.is_some(),
        starting_future: starting_at.is_some_and(|i| row_class(current, i).contains("med-future")),
    }
}

const BEFORE: Seen = Seen {
    ending_current: true,
    ending_past: false,
    starting_current: true,
    starting_future: true,
};

const AFTER: Seen = Seen {
    ending_current: false,
    ending_past: true,
    starting_current: true,
    starting_future: false,
};

fn assert_before_the_moment(c: &Clock, addr: SocketAddr) {
    let seen = patient_page(c, addr);
    assert!(
        Utc::now() < c.moment,
        "the machine took more than {AHEAD} s to serve the first page; the state before \
         the moment cannot be checked"
    );
    assert_eq!(seen, BEFORE, "before {}", c.moment);
}

fn inbox_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p).unwrap().next().is_none()
}

#[test]
fn a_course_ends_and_another_starts_by_the_clock_without_a_new_snapshot() {
    let c = set_up();
    let (mut p, addr, first) = start(&c);
    assert_eq!(first["next_change"], stamp(c.moment), "{first}");
    assert_before_the_moment(&c, addr);
    // After the moment (at most a tick and one mapping later) the page follows the clock.
    let seen = poll_for(
        Duration::from_secs(AHEAD as u64) + WAIT,
        "the page after the moment",
        || {
            let s = patient_page(&c, addr);
            if s == AFTER {
                Ok(s)
            } else {
                Err(format!("{s:?}"))
            }
        },
    );
    assert_eq!(seen, AFTER);
    assert!(Utc::now() >= c.moment);
    assert!(
        inbox_is_empty(&c.w.inbox()),
        "no new snapshot was delivered"
    );
    let now = ready(addr);
    assert_eq!(now["sequence"], 2);
    assert_eq!(
        now["data_as_of"], first["data_as_of"],
        "the data's age is unchanged"
    );
    assert_eq!(now["received_at"], first["received_at"]);
    let as_of: DateTime<Utc> = now["states_as_of"].as_str().unwrap().parse().unwrap();
    assert!(as_of >= c.moment, "{now}");
    assert!(now["next_change"].is_null(), "nothing else changes: {now}");
    assert!(now["problems"].as_array().unwrap().is_empty(), "{now}");
    let line = p.wait_for_line("the re-derivation in the journal", |l| {
        l.contains("re-derived").then(|| l.to_owned())
    });
    assert!(line.contains("sequence 2"), "{line}");
    for name in [ENDING, STARTING] {
        assert!(
            !p.transcript().contains(name),
            "no patient data in the journal"
        );
    }
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(WAIT).is_some(), "no exit\n{}", p.transcript());
}

#[test]
fn a_restart_after_the_moment_maps_again_instead_of_reusing_the_old_states() {
    let c = set_up();
    let (p, addr, _) = start(&c);
    assert_before_the_moment(&c, addr);
    p.signal(libc::SIGTERM);
    let mut p = p;
    assert!(p.wait_exit(WAIT).is_some(), "no exit\n{}", p.transcript());
    let record: Value =
        serde_json::from_slice(&std::fs::read(c.w.state().join("generation.json")).unwrap())
            .unwrap();
    assert_eq!(record["next_change"], stamp(c.moment), "{record}");
    // The daemon is down while the moment passes.
    let left = (c.moment - Utc::now()).to_std().unwrap_or_default();
    std::thread::sleep(left + Duration::from_millis(100));
    let (mut p, addr, _) = start(&c);
    let line = p.wait_for_line("the generation not reused", |l| {
        l.contains("is not reused").then(|| l.to_owned())
    });
    assert!(line.contains("states changed"), "{line}");
    assert_eq!(patient_page(&c, addr), AFTER);
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(WAIT).is_some(), "no exit\n{}", p.transcript());
}

#[test]
fn a_failed_re_derivation_keeps_the_old_data_served_and_says_so() {
    let c = set_up();
    let (mut p, addr, first) = start(&c);
    assert_before_the_moment(&c, addr);
    // The kept snapshot the generation was built from goes (a damaged state partition).
    let kept = c.w.state().join("snapshots");
    for e in std::fs::read_dir(&kept).unwrap() {
        let path = e.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("clinical-")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let j = poll_for(
        Duration::from_secs(AHEAD as u64) + WAIT,
        "rederive_failed after the moment",
        || {
            let j = ready(addr);
            if j["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["code"] == "rederive_failed")
            {
                Ok(j)
            } else {
                Err(j.to_string())
            }
        },
    );
    assert_eq!(j["ready"], true, "the old data is still served: {j}");
    assert_eq!(j["sequence"], 2);
    assert_eq!(j["data_as_of"], first["data_as_of"]);
    assert_eq!(j["states_as_of"], first["states_as_of"], "not re-derived");
    assert_eq!(patient_page(&c, addr), BEFORE, "the page is still served");
    p.wait_for_line("the failure in the journal", |l| {
        l.contains("cannot re-derive").then_some(())
    });
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(WAIT).is_some(), "no exit\n{}", p.transcript());
}
