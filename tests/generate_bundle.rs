//! Tests of the synthetic ward generator's output: determinism, ward/bed layout, closed
//! references, the three allergy states, the administration window, BSNs and the roster.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use chrono::{DateTime, Duration, Utc};
use noodepd::generate::{GenerateOptions, Generated, generate, roster_json, write_output};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T14:00:00+01:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn gen_ward(patients: usize, seed: u64) -> Generated {
    generate(&GenerateOptions::new(patients, seed, "A3", now()))
}

fn resources<'a>(bundle: &'a Value, rtype: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(move |r| r["resourceType"] == rtype)
}

fn by_full_url(bundle: &Value) -> BTreeMap<String, &Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["fullUrl"].as_str().unwrap().to_string(), &e["resource"]))
        .collect()
}

/// Every `reference` string anywhere in the value.
fn collect_references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "reference"
                    && let Some(s) = x.as_str()
                {
                    out.push(s.to_string());
                }
                collect_references(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_references(x, out)),
        _ => {}
    }
}

fn physical_type(loc: &Value) -> &str {
    loc["physicalType"]["coding"][0]["code"].as_str().unwrap()
}

fn subject_of(r: &Value) -> Option<&str> {
    r.get("subject")
        .or_else(|| r.get("patient"))
        .and_then(|s| s["reference"].as_str())
}

#[test]
fn same_seed_gives_byte_identical_bundles() {
    let a = gen_ward(40, 7);
    let b = gen_ward(40, 7);
    assert_eq!(a.bundles.len(), b.bundles.len());
    for ((wa, ba), (wb, bb)) in a.bundles.iter().zip(&b.bundles) {
        assert_eq!(wa, wb);
        assert_eq!(
            serde_json::to_vec(ba).unwrap(),
            serde_json::to_vec(bb).unwrap()
        );
    }
    assert_eq!(a.staff, b.staff);
}

#[test]
fn different_seed_gives_different_data() {
    let a = gen_ward(20, 1);
    let b = gen_ward(20, 2);
    let ja = serde_json::to_string(&a.bundles[0].1).unwrap();
    let jb = serde_json::to_string(&b.bundles[0].1).unwrap();
    assert_ne!(ja, jb);
    let names = |g: &Generated| -> Vec<String> {
        resources(&g.bundles[0].1, "Patient")
            .map(|p| p["name"][0]["text"].as_str().unwrap().to_string())
            .collect()
    };
    assert_ne!(names(&a), names(&b));
    assert_ne!(a.staff, b.staff);
}

#[test]
fn forty_patients_make_one_ward_with_every_bed_used_once() {
    let g = gen_ward(40, 3);
    assert_eq!(g.bundles.len(), 1);
    let (ward, bundle) = &g.bundles[0];
    assert_eq!(ward, "A3");
    let urls = by_full_url(bundle);
    let locations: Vec<&Value> = resources(bundle, "Location").collect();
    let beds: Vec<&Value> = locations
        .iter()
        .copied()
        .filter(|l| physical_type(l) == "bd")
        .collect();
    assert_eq!(beds.len(), 40);
    let wards: Vec<&Value> = locations
        .iter()
        .copied()
        .filter(|l| physical_type(l) == "wa")
        .collect();
    assert_eq!(wards.len(), 1);
    assert_eq!(wards[0]["name"], "A3");

    let mut used = BTreeSet::new();
    for enc in resources(bundle, "Encounter") {
        assert_eq!(enc["status"], "in-progress");
        assert_eq!(enc["class"]["code"], "IMP");
        let bed_ref = enc["location"][0]["location"]["reference"]
            .as_str()
            .unwrap();
        let bed = urls[bed_ref];
        assert_eq!(physical_type(bed), "bd", "encounter points at a bed");
        let room = urls[bed["partOf"]["reference"].as_str().unwrap()];
        assert_eq!(physical_type(room), "ro");
        assert!(room["name"].as_str().unwrap().starts_with("Kamer "));
        let ward_loc = urls[room["partOf"]["reference"].as_str().unwrap()];
        assert_eq!(physical_type(ward_loc), "wa");
        assert_eq!(ward_loc["name"], "A3");
        assert!(used.insert(bed_ref.to_string()), "bed {bed_ref} used twice");
    }
    assert_eq!(used.len(), 40);
    assert_eq!(resources(bundle, "Patient").count(), 40);
}

#[test]
fn fewer_patients_leave_beds_empty_but_never_share_one() {
    let g = gen_ward(17, 5);
    let bundle = &g.bundles[0].1;
    let beds = resources(bundle, "Location")
        .filter(|l| physical_type(l) == "bd")
        .count();
    assert_eq!(beds, 40);
    let refs: BTreeSet<&str> = resources(bundle, "Encounter")
        .map(|e| e["location"][0]["location"]["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs.len(), 17);
}

#[test]
fn hundred_patients_make_three_wards() {
    let g = gen_ward(100, 11);
    let names: Vec<&str> = g.bundles.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(names, ["A3-1", "A3-2", "A3-3"]);
    let mut total = 0;
    for (ward, bundle) in &g.bundles {
        let n = resources(bundle, "Patient").count();
        assert!(n <= 40, "{ward} has {n} patients");
        total += n;
        let ward_loc: Vec<&Value> = resources(bundle, "Location")
            .filter(|l| physical_type(l) == "wa")
            .collect();
        assert_eq!(ward_loc[0]["name"], ward.as_str());
    }
    assert_eq!(total, 100);
}

#[test]
fn every_reference_resolves_within_its_bundle() {
    let g = gen_ward(100, 13);
    for (ward, bundle) in &g.bundles {
        let urls = by_full_url(bundle);
        assert!(urls.keys().all(|u| u.starts_with("urn:uuid:")));
        assert_eq!(
            urls.len(),
            bundle["entry"].as_array().unwrap().len(),
            "fullUrls unique in {ward}"
        );
        let mut refs = Vec::new();
        collect_references(bundle, &mut refs);
        assert!(refs.len() > 1000);
        for r in &refs {
            assert!(urls.contains_key(r), "{ward}: unresolved reference {r}");
        }
        // Typed references point at a resource of that type.
        for res in urls.values() {
            for key in ["medicationReference", "request", "subject", "patient"] {
                if let Some(obj) = res.get(key).filter(|v| v.is_object()) {
                    let target = urls[obj["reference"].as_str().unwrap()];
                    assert_eq!(obj["type"], target["resourceType"]);
                }
            }
        }
    }
}

#[test]
fn a_forty_patient_ward_has_allergies_none_known_and_not_recorded() {
    let g = gen_ward(40, 21);
    let bundle = &g.bundles[0].1;
    let mut by_patient: BTreeMap<&str, Vec<&Value>> = resources(bundle, "Patient")
        .map(|p| (p["id"].as_str().unwrap(), Vec::new()))
        .collect();
    for a in resources(bundle, "AllergyIntolerance") {
        let pid = a["patient"]["reference"]
            .as_str()
            .unwrap()
            .trim_start_matches("urn:uuid:");
        by_patient.get_mut(pid).unwrap().push(a);
    }
    let (mut items, mut none_known, mut not_recorded) = (0, 0, 0);
    for list in by_patient.values() {
        let nka = list
            .iter()
            .any(|a| a["code"]["coding"][0]["code"] == "716186003");
        if list.is_empty() {
            not_recorded += 1;
        } else if nka {
            assert_eq!(
                list.len(),
                1,
                "'no known allergy' never sits next to an allergy"
            );
            none_known += 1;
        } else {
            items += 1;
        }
    }
    assert!(
        items > 0 && none_known > 0 && not_recorded > 0,
        "{items} {none_known} {not_recorded}"
    );
}

#[test]
fn administrations_fall_inside_and_outside_the_72_hour_window_never_in_the_future() {
    let g = gen_ward(40, 8);
    let bundle = &g.bundles[0].1;
    let urls = by_full_url(bundle);
    let window_start = now() - Duration::hours(72);
    let (mut inside, mut outside, mut not_done) = (0, 0, 0);
    for a in resources(bundle, "MedicationAdministration") {
        let t = DateTime::parse_from_rfc3339(a["effectiveDateTime"].as_str().unwrap()).unwrap();
        assert!(t <= now(), "administration in the future");
        if t >= window_start {
            inside += 1;
        } else {
            outside += 1;
        }
        if a["status"] == "not-done" {
            not_done += 1;
            assert!(a["statusReason"].is_array());
        }
        let req = urls[a["request"]["reference"].as_str().unwrap()];
        assert_eq!(req["resourceType"], "MedicationRequest");
        assert_eq!(
            req["medicationReference"]["reference"],
            a["medicationReference"]["reference"]
        );
    }
    assert!(inside > 100, "{inside} inside");
    assert!(outside > 0, "{outside} outside");
    assert!(not_done > 0);
}

/// The MP9 pharmaceutical-treatment identifier of a building block.
fn treatment_of(r: &Value) -> &str {
    r["extension"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["url"] == "http://nictiz.nl/fhir/StructureDefinition/ext-PharmaceuticalTreatment.Identifier"
        })
        .and_then(|e| e["valueIdentifier"]["value"].as_str())
        .unwrap()
}

#[test]
fn every_patient_has_three_to_twelve_mp9_treatments() {
    let g = gen_ward(40, 4);
    let bundle = &g.bundles[0].1;
    // Drug therapies per patient: a stop or a dose change adds agreements to a therapy,
    // not therapies.
    let mut per_patient: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in resources(bundle, "MedicationRequest") {
        assert_eq!(r["category"][0]["coding"][0]["code"], "16076005");
        assert!(r["dosageInstruction"][0]["text"].is_string());
        per_patient
            .entry(subject_of(r).unwrap())
            .or_default()
            .insert(treatment_of(r));
    }
    assert_eq!(per_patient.len(), 40);
    assert!(
        per_patient.values().all(|t| (3..=12).contains(&t.len())),
        "{per_patient:?}"
    );
    // Every administration agreement and administration belongs to one of them.
    for t in ["MedicationDispense", "MedicationAdministration"] {
        for r in resources(bundle, t) {
            let subject = subject_of(r).unwrap();
            assert!(per_patient[subject].contains(treatment_of(r)), "{t}");
        }
    }
    let dispenses: Vec<&Value> = resources(bundle, "MedicationDispense").collect();
    assert!(!dispenses.is_empty());
    assert!(
        dispenses
            .iter()
            .all(|d| d["category"]["coding"][0]["code"] == "422037009")
    );
    let timed = resources(bundle, "MedicationRequest")
        .filter(|r| r["dosageInstruction"][0]["timing"]["repeat"]["timeOfDay"].is_array())
        .count();
    let as_needed = resources(bundle, "MedicationRequest")
        .filter(|r| r["dosageInstruction"][0]["asNeededCodeableConcept"].is_object())
        .count();
    assert!(timed > 0 && as_needed > 0);
}

fn eleven_proof(bsn: &str) -> bool {
    let d: Vec<i64> = bsn.bytes().map(|b| i64::from(b - b'0')).collect();
    d.len() == 9
        && bsn.bytes().all(|b| b.is_ascii_digit())
        && (d[0] * 9 + d[1] * 8 + d[2] * 7 + d[3] * 6 + d[4] * 5 + d[5] * 4 + d[6] * 3 + d[7] * 2
            - d[8])
            % 11
            == 0
}

#[test]
fn bsns_pass_the_eleven_proof_and_are_unique() {
    let g = gen_ward(100, 17);
    let mut seen = BTreeSet::new();
    for (_, bundle) in &g.bundles {
        for p in resources(bundle, "Patient") {
            let ids = p["identifier"].as_array().unwrap();
            let bsn = ids
                .iter()
                .find(|i| i["system"] == "http://fhir.nl/fhir/NamingSystem/bsn")
                .unwrap()["value"]
                .as_str()
                .unwrap();
            assert!(eleven_proof(bsn), "{bsn}");
            assert!(bsn.starts_with("9999"), "test range");
            assert!(seen.insert(bsn.to_string()), "duplicate BSN {bsn}");
            let mr = ids
                .iter()
                .find(|i| i["type"]["coding"][0]["code"] == "MR")
                .unwrap();
            assert!(
                mr["value"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .all(|c| c.is_ascii_digit())
            );
        }
    }
    assert_eq!(seen.len(), 100);
}

#[test]
fn roster_hashes_verify_against_the_codes_and_hold_no_code() {
    let g = gen_ward(5, 9);
    let roles: Vec<&str> = g.staff.iter().map(|s| s.role.as_str()).collect();
    assert_eq!(roles.iter().filter(|r| **r == "nurse").count(), 10);
    assert_eq!(roles.iter().filter(|r| **r == "physician").count(), 3);
    assert_eq!(roles.iter().filter(|r| **r == "coordinator").count(), 2);
    assert_eq!(roles.iter().filter(|r| **r == "it").count(), 1);
    let roster = roster_json("A3", &g.staff);
    assert_eq!(roster["ward"], "A3");
    let text = serde_json::to_string(&roster).unwrap();
    let members = roster["staff"].as_array().unwrap();
    assert_eq!(members.len(), g.staff.len());
    for (m, s) in members.iter().zip(&g.staff) {
        assert!((8..=10).contains(&s.code.len()) && s.code.chars().all(|c| c.is_ascii_digit()));
        assert!(
            !text.contains(&s.code),
            "code of {} appears in the roster",
            s.user
        );
        assert_eq!(m["user"], s.user.as_str());
        let phc = m["code_hash"].as_str().unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"));
        let parsed = PasswordHash::new(phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(s.code.as_bytes(), &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"000000", &parsed)
                .is_err()
        );
    }
}

#[test]
fn write_output_writes_bundles_and_a_private_codes_file() {
    let dir = tempfile::tempdir().unwrap();
    let g = gen_ward(3, 2);
    let paths = write_output(&g, dir.path(), true).unwrap();
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["A3.json", "roster-A3.json", "codes-A3.txt"]);
    let bundle: Value = serde_json::from_slice(&std::fs::read(&paths[0]).unwrap()).unwrap();
    assert_eq!(bundle, g.bundles[0].1);
    let roster = std::fs::read_to_string(&paths[1]).unwrap();
    let codes = std::fs::read_to_string(&paths[2]).unwrap();
    for s in &g.staff {
        assert!(!roster.contains(&s.code));
        assert!(codes.contains(&format!("{}\t", s.user)) && codes.contains(&s.code));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&paths[2]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let without = tempfile::tempdir().unwrap();
    let paths = write_output(&g, without.path(), false).unwrap();
    assert_eq!(paths.len(), 1);
}

#[test]
fn write_output_refuses_a_ward_id_that_is_not_a_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let g = generate(&GenerateOptions::new(2, 1, "../etc", now()));
    assert!(write_output(&g, dir.path(), false).is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn every_ward_shows_a_paused_a_stopped_a_cancelled_and_a_dose_changed_treatment() {
    use noodepd::record::{Fate, TreatmentState};
    let g = generate(&GenerateOptions::new(100, 11, "A3", now()));
    assert_eq!(g.bundles.len(), 3);
    for (ward, bundle) in &g.bundles {
        let doc = noodepd::fhir::input::Document {
            path: "generated.json".into(),
            line: None,
            value: bundle.clone(),
        };
        let r = noodepd::fhir::map_documents(&[doc], &noodepd::fhir::MapOptions::new(now(), ward));
        let treatments: Vec<_> = r
            .patients
            .iter()
            .flat_map(|p| p.medication.items())
            .collect();
        let count = |f: &dyn Fn(&noodepd::record::Treatment) -> bool| {
            treatments.iter().filter(|t| f(t)).count()
        };
        let paused = count(&|t| matches!(t.state, TreatmentState::Paused { .. }));
        let stopped = count(&|t| matches!(t.state, TreatmentState::Stopped { .. }));
        let cancelled = count(&|t| t.state == TreatmentState::Cancelled);
        // A dose change: runs on a new agreement, the old one stopped, the dose differs.
        let changed = count(&|t| {
            let new = t.lead_lines();
            matches!(t.state, TreatmentState::Current { .. })
                && t.blocks.iter().any(|b| {
                    matches!(b.fate, Fate::Stopped { .. })
                        && new.iter().all(|n| n.dosages != b.dosages)
                })
        });
        assert!(
            paused > 0 && stopped > 0 && cancelled > 0 && changed > 0,
            "{ward}: paused {paused}, stopped {stopped}, cancelled {cancelled}, changed {changed}"
        );
        // Every drug carries its (real) ATC code next to the fake product code, for
        // anything that flags drugs by what they are.
        assert!(treatments.iter().all(|t| {
            t.drug()
                .codes
                .iter()
                .any(|c| c.system.as_deref() == Some("http://www.whocc.no/atc"))
        }));
        // None of them is shown as running.
        for t in &treatments {
            if matches!(
                t.state,
                TreatmentState::Paused { .. }
                    | TreatmentState::Stopped { .. }
                    | TreatmentState::Cancelled
            ) {
                assert!(
                    t.blocks.iter().all(|b| !b.fate.is_in_force()),
                    "{ward}: {t:#?}"
                );
            }
        }
        // No administration after a pause or stop.
        for p in &r.patients {
            for t in p.medication.items() {
                let since = match &t.state {
                    TreatmentState::Paused { since: Some(s), .. } => *s,
                    TreatmentState::Stopped { on: Some(s) } => *s,
                    _ => continue,
                };
                for a in p.administrations.items() {
                    if a.treatment_id.as_deref() == Some(t.id.as_str()) {
                        assert!(
                            a.at.unwrap().earliest_utc() <= since.earliest_utc(),
                            "{ward}: {} given after its stop",
                            t.drug().name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn demo_codes_meet_the_roster_policy_that_roster_hash_enforces() {
    for seed in 0..20 {
        for s in gen_ward(4, seed).staff {
            assert_eq!(
                noodepd::commands::roster::check_code(&s.code),
                Ok(()),
                "seed {seed}: {} has a code `roster hash` would refuse",
                s.user
            );
        }
    }
}
