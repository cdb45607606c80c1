//! Mapper rules on small hand-written inputs: "none documented" vs "not recorded", every
//! reference style, the ward/bed convention and bed order, patient keys, malformed files
//! and resources, hostile sizes and dates, administration → agreement links.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use chrono::{DateTime, Utc};
use noodepd::fhir::input::{self, Document};
use noodepd::fhir::{self, MapOptions};
use noodepd::record::{Listed, NotShownReason, TreatmentState, WardRecord};
use serde_json::{Value, json};
use std::path::PathBuf;

fn opts() -> MapOptions {
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-22T06:00:00Z")
        .unwrap()
        .into();
    MapOptions::new(now, "C4O")
}

fn map(values: Vec<Value>) -> WardRecord {
    let docs: Vec<Document> = values
        .into_iter()
        .map(|value| Document {
            path: PathBuf::from("test.json"),
            line: None,
            value,
        })
        .collect();
    let r = fhir::map_documents(&docs, &opts());
    assert!(r.report.is_balanced(), "{:#?}", r.report);
    r
}

fn bundle<S: AsRef<str>>(entries: Vec<(S, Value)>) -> Value {
    let entry: Vec<Value> = entries
        .into_iter()
        .map(|(u, r)| json!({"fullUrl": u.as_ref(), "resource": r}))
        .collect();
    json!({"resourceType": "Bundle", "type": "collection", "entry": entry})
}

fn patient(id: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "name": [{"family": "Jansen", "given": ["Piet"]}]})
}

fn reason(r: &WardRecord, id: &str) -> NotShownReason {
    r.report
        .not_shown
        .iter()
        .find(|n| n.id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("{id} not reported"))
        .reason
}

fn allergy(id: &str, subject: Value, system: &str, code: &str, display: &str) -> Value {
    json!({"resourceType": "AllergyIntolerance", "id": id,
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "patient": subject})
}

#[test]
fn no_known_allergy_is_none_documented_and_absent_is_not_recorded() {
    let r = map(vec![
        patient("p1"),
        patient("p2"),
        patient("p3"),
        allergy(
            "nka",
            json!({"reference": "Patient/p1"}),
            "http://snomed.info/sct",
            "716186003",
            "No known allergy",
        ),
        allergy(
            "noinfo",
            json!({"reference": "Patient/p3"}),
            "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips",
            "no-allergy-info",
            "No information about allergies",
        ),
    ]);
    let by_id = |id: &str| r.patients.iter().find(|p| p.key == id).unwrap();
    match &by_id("p1").allergies {
        Listed::NoneDocumented { statement, .. } => assert_eq!(statement, "No known allergy"),
        other => panic!("expected none documented, got {other:?}"),
    }
    assert!(matches!(by_id("p2").allergies, Listed::NotRecorded));
    // "No information" stays unknown and never becomes an item.
    assert!(matches!(by_id("p3").allergies, Listed::NotRecorded));
    assert_eq!(r.report.by_type["AllergyIntolerance"].mapped, 2);
}

#[test]
fn no_known_medication_and_problems_statements_are_not_items() {
    let r = map(vec![
        patient("p1"),
        json!({"resourceType": "MedicationStatement", "id": "nomed", "status": "active",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips",
                "code": "no-known-medications", "display": "No known medications"}]}}),
        json!({"resourceType": "Condition", "id": "noprob", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips",
                "code": "no-known-problems", "display": "No known problems"}]}}),
    ]);
    let p = &r.patients[0];
    assert!(
        matches!(&p.medication, Listed::NoneDocumented { statement, .. } if statement == "No known medications")
    );
    assert!(
        matches!(&p.problems, Listed::NoneDocumented { statement, .. } if statement == "No known problems")
    );
}

#[test]
fn composition_nilknown_section_documents_none() {
    let r = map(vec![bundle(vec![
        ("urn:uuid:p", patient("p1")),
        (
            "urn:uuid:c",
            json!({"resourceType": "Composition", "id": "c", "status": "final",
                "subject": {"reference": "urn:uuid:p"}, "date": "2026-11-01",
                "section": [{"code": {"coding": [{"system": "http://loinc.org", "code": "48765-2"}]},
                    "emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                        "code": "nilknown"}], "text": "Geen allergieën bekend"}}]}),
        ),
    ])]);
    assert!(matches!(&r.patients[0].allergies,
        Listed::NoneDocumented { statement, .. } if statement == "Geen allergieën bekend"));
}

#[test]
fn resolves_urn_relative_absolute_contained_identifier_and_reports_display_only() {
    let flag = |id: &str, subject: Value| {
        json!({"resourceType": "Flag", "id": id, "status": "active",
            "code": {"text": format!("alert {id}")}, "subject": subject})
    };
    let r = map(vec![
        bundle(vec![
            (
                "https://ehr.example.nl/fhir/Patient/p1",
                json!({"resourceType": "Patient", "id": "p1",
                    "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.99", "value": "7001"}],
                    "name": [{"family": "Jansen", "given": ["Piet"]}]}),
            ),
            (
                "urn:uuid:f1",
                flag(
                    "urn",
                    json!({"reference": "https://ehr.example.nl/fhir/Patient/p1"}),
                ),
            ),
            (
                "https://ehr.example.nl/fhir/Flag/rel",
                flag("rel", json!({"reference": "Patient/p1"})),
            ),
            (
                "urn:uuid:f3",
                flag(
                    "abs",
                    json!({"reference": "http://elsewhere.example/Patient/p1"}),
                ),
            ),
            (
                "urn:uuid:f4",
                flag(
                    "ident",
                    json!({"identifier": {"system": "urn:oid:2.16.840.1.113883.2.4.6.99", "value": "7001"}}),
                ),
            ),
            (
                "urn:uuid:f5",
                flag("display", json!({"display": "Piet Jansen"})),
            ),
            (
                "urn:uuid:f6",
                flag("missing", json!({"reference": "Patient/nobody"})),
            ),
            (
                "urn:uuid:m1",
                json!({"resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
                    "contained": [{"resourceType": "Medication", "id": "med",
                        "code": {"text": "Metoprolol 50 mg tablet"},
                        "ingredient": [{"strength": {"numerator": {"value": 50, "unit": "mg"},
                            "denominator": {"value": 1, "unit": "tablet"}}}]}],
                    "medicationReference": {"reference": "#med"},
                    "subject": {"reference": "Patient/p1"}}),
            ),
        ]),
        // A second document: urn:uuid reference across the input.
        flag(
            "crossdoc",
            json!({"reference": "https://ehr.example.nl/fhir/Patient/p1"}),
        ),
    ]);
    let p = &r.patients[0];
    let mut texts: Vec<_> = p.alerts.items().iter().map(|a| a.text.as_str()).collect();
    texts.sort();
    assert_eq!(
        texts,
        vec![
            "alert abs",
            "alert crossdoc",
            "alert ident",
            "alert rel",
            "alert urn"
        ]
    );
    assert_eq!(reason(&r, "display"), NotShownReason::UnresolvedReference);
    assert_eq!(reason(&r, "missing"), NotShownReason::UnresolvedReference);
    let m = &p.medication.items()[0];
    assert_eq!(m.drug().name, "Metoprolol 50 mg tablet");
    assert_eq!(m.drug().strength.as_deref(), Some("50 mg/tablet"));
    assert_eq!(reason(&r, "med"), NotShownReason::ReferencedOnly);
}

fn loc(id: &str, name: &str, code: &str, part_of: Option<&str>) -> Value {
    let mut v = json!({"resourceType": "Location", "id": id, "name": name,
        "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": code}]}});
    if let Some(p) = part_of {
        v["partOf"] = json!({"reference": format!("Location/{p}")});
    }
    v
}

fn admitted(pid: &str, family: &str, bed: &str) -> Vec<Value> {
    vec![
        json!({"resourceType": "Patient", "id": pid, "name": [{"family": family, "given": ["A"]}]}),
        json!({"resourceType": "Encounter", "id": format!("enc-{pid}"), "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": format!("Patient/{pid}")},
            "period": {"start": "2026-11-20T10:15:00+01:00"},
            "participant": [{"type": [{"coding": [{"code": "ATND"}]}], "individual": {"display": "Dr. B. de Boer"}}],
            "location": [{"location": {"reference": format!("Location/{bed}")}, "status": "active"}]}),
    ]
}

#[test]
fn ward_room_and_bed_follow_the_documented_convention_in_natural_bed_order() {
    let mut docs = vec![
        loc("wa", "Cardiologie 4 Oost", "wa", None),
        loc("ro12", "Kamer 12", "ro", Some("wa")),
        loc("b10", "10", "bd", Some("wa")),
        loc("b2", "2", "bd", Some("ro12")),
        loc("b12-2", "12-2", "bd", Some("ro12")),
    ];
    docs.extend(admitted("p-a", "Zwart", "b10"));
    docs.extend(admitted("p-b", "Aalders", "b12-2"));
    docs.extend(admitted("p-c", "Mulder", "b2"));
    docs.push(json!({"resourceType": "Patient", "id": "p-d", "name": [{"family": "Bakker"}]}));
    let r = map(docs);
    let beds: Vec<_> = r
        .patients
        .iter()
        .map(|p| p.location.bed.as_deref())
        .collect();
    assert_eq!(beds, vec![Some("2"), Some("10"), Some("12-2"), None]);
    let c = &r.patients[0];
    assert_eq!(c.location.room.as_deref(), Some("Kamer 12"));
    assert_eq!(c.location.ward.as_deref(), Some("Cardiologie 4 Oost"));
    assert_eq!(r.patients[1].location.room, None);
    assert_eq!(
        r.patients[1].location.ward.as_deref(),
        Some("Cardiologie 4 Oost")
    );
    assert_eq!(
        c.admission.as_ref().and_then(|a| a.attending.as_deref()),
        Some("Dr. B. de Boer")
    );
    assert_eq!(r.report.by_type["Location"].not_shown, 5);
}

#[test]
fn patient_keys_come_from_the_mr_number_and_collisions_are_disambiguated() {
    // Two different people (different BSNs) whose patient numbers sanitise to one key.
    let mr = |id: &str, bsn: &str, value: &str| {
        json!({"resourceType": "Patient", "id": id, "name": [{"family": id}],
            "identifier": [
                {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": bsn},
                {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                 "system": "urn:hospital", "value": value}]})
    };
    let r = map(vec![
        mr("a", "123456782", "Z/123 45"),
        mr("b", "999911120", "Z-123 45"),
        patient("x.y"),
    ]);
    let mut keys: Vec<_> = r.patients.iter().map(|p| p.key.clone()).collect();
    keys.sort();
    assert_eq!(keys, vec!["Z-123-45", "Z-123-45-2", "x-y"]);
    assert_eq!(
        r.patients
            .iter()
            .find(|p| p.key == "Z-123-45")
            .unwrap()
            .identity
            .patient_number
            .as_deref(),
        Some("Z/123 45")
    );
}

#[test]
fn malformed_file_rejects_the_whole_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.json"), patient("p1").to_string()).unwrap();
    std::fs::write(
        dir.path().join("b.json"),
        "{\"resourceType\": \"Patient\", ",
    )
    .unwrap();
    assert!(input::read_documents(&[dir.path().to_owned()]).is_err());
    // Same for a snapshot payload: one bad line rejects it.
    let payload = format!("{}\n{{\"no\": \"resourceType\"}}\n", patient("p1"));
    assert!(fhir::map_payload(payload.as_bytes(), &opts()).is_err());
    let ok = format!("{}\n", patient("p1"));
    assert_eq!(
        fhir::map_payload(ok.as_bytes(), &opts())
            .unwrap()
            .patients
            .len(),
        1
    );
}

#[test]
fn malformed_resources_are_reported_and_skipped() {
    let r = map(vec![
        json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": "urn:uuid:p", "resource": patient("p1")},
            {"fullUrl": "urn:uuid:bad1", "resource": "not an object"},
            {"fullUrl": "urn:uuid:bad2", "resource": {"resourceType": "Flag", "id": "has spaces!", "status": "active"}},
            {"fullUrl": "urn:uuid:bad3", "resource": {"resourceType": "AllergyIntolerance", "id": "nocode",
                "patient": {"reference": "urn:uuid:p"}}},
            {"fullUrl": "urn:uuid:bad4", "resource": {"resourceType": "Patient", "id": 42}},
            {"fullUrl": "urn:uuid:p", "resource": patient("p1")}
        ]}),
    ]);
    assert_eq!(r.patients.len(), 1);
    assert_eq!(reason(&r, "urn:uuid:bad1"), NotShownReason::Invalid);
    assert_eq!(reason(&r, "urn:uuid:bad2"), NotShownReason::Invalid);
    assert_eq!(reason(&r, "nocode"), NotShownReason::Invalid);
    assert_eq!(reason(&r, "urn:uuid:bad4"), NotShownReason::Invalid);
    let dups: Vec<_> = r
        .report
        .not_shown
        .iter()
        .filter(|n| n.reason == NotShownReason::Duplicate)
        .collect();
    assert_eq!(dups.len(), 1);
    assert_eq!(r.report.total_input(), 6);
}

#[test]
fn hostile_strings_are_cut_and_impossible_dates_warned_not_panicked() {
    let long = "x".repeat(50_000);
    let r = map(vec![
        json!({"resourceType": "Patient", "id": "p1", "birthDate": "2021-02-30",
            "name": [{"family": long, "given": ["A"]}]}),
        json!({"resourceType": "Flag", "id": "f1", "status": "active", "code": {"text": "Valrisico"},
            "period": {"start": "9999-99-99"}, "subject": {"reference": "Patient/p1"}}),
    ]);
    let p = &r.patients[0];
    assert_eq!(p.identity.birth_date, None);
    assert!(p.identity.name.display.chars().count() <= 10_100);
    assert!(p.identity.name.display.ends_with("[…afgekapt]"));
    assert_eq!(p.alerts.items()[0].since, None);
    assert!(r.report.warnings.iter().any(|w| w.contains("birthDate")));
    assert!(r.report.warnings.iter().any(|w| w.contains("cut")));
    assert_eq!(
        p.alerts.items()[0].kind,
        noodepd::record::AlertKind::FallRisk
    );
}

#[test]
fn administration_links_to_its_agreement_and_old_ones_are_out_of_window() {
    let r = map(vec![
        patient("p1"),
        json!({"resourceType": "MedicationRequest", "id": "ma1", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": "Paracetamol 500 mg tablet"},
            "subject": {"reference": "Patient/p1"},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d",
                "timeOfDay": ["08:00:00", "14:00:00", "20:00:00"]}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "stuk"}}]}]}),
        json!({"resourceType": "MedicationAdministration", "id": "adm-new", "status": "completed",
            "medicationCodeableConcept": {"text": "Paracetamol 500 mg tablet"},
            "subject": {"reference": "Patient/p1"}, "request": {"reference": "MedicationRequest/ma1"},
            "effectiveDateTime": "2026-11-22T08:02:00+01:00", "dosage": {"dose": {"value": 1, "unit": "stuk"}}}),
        json!({"resourceType": "MedicationAdministration", "id": "adm-old", "status": "completed",
            "medicationCodeableConcept": {"text": "Paracetamol 500 mg tablet"},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-11-18T08:00:00+01:00"}),
        json!({"resourceType": "MedicationAdministration", "id": "adm-eie", "status": "entered-in-error",
            "medicationCodeableConcept": {"text": "Paracetamol 500 mg tablet"},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-11-22T06:00:00+01:00"}),
    ]);
    let p = &r.patients[0];
    let t = &p.medication.items()[0];
    let line = t.lead_lines()[0];
    assert_eq!(
        line.dosages[0].schedule.text.as_deref(),
        Some("3 x per dag, om 08:00, 14:00, 20:00")
    );
    let a = p.administrations.items();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].line_id.as_deref(), Some(line.id.as_str()));
    assert_eq!(a[0].treatment_id.as_deref(), Some(t.id.as_str()));
    assert_eq!(reason(&r, "adm-old"), NotShownReason::OutsideTimeWindow);
    assert_eq!(reason(&r, "adm-eie"), NotShownReason::EnteredInError);
}

#[test]
fn a_patient_repeated_in_every_export_file_is_shown_once_with_all_data() {
    // Two files, each with its own copy of Patient/p1 and one allergy.
    let file = |aid: &str, substance: &str| {
        bundle(vec![
            ("https://a.nl/fhir/Patient/p1".to_owned(), patient("p1")),
            (
                format!("urn:uuid:{aid}"),
                json!({"resourceType": "AllergyIntolerance", "id": aid,
                    "code": {"text": substance}, "criticality": "high",
                    "patient": {"reference": "Patient/p1"}}),
            ),
        ])
    };
    let r = map(vec![file("a1", "Jodium"), file("a2", "Latex")]);
    assert_eq!(r.patients.len(), 1);
    let subs: Vec<_> = r.patients[0]
        .allergies
        .items()
        .iter()
        .map(|a| a.substance.as_str())
        .collect();
    // The second file's allergy points at that file's copy of the patient: still shown.
    assert_eq!(subs, vec!["Jodium", "Latex"]);
    assert_eq!(reason(&r, "p1"), NotShownReason::Duplicate);
    assert_eq!(r.report.by_type["Patient"].not_shown, 1);
}

/// MP9 2.x stop types as SNOMED defines them (and the MP9 3.0 value set lists them):
/// 113381000146106 "drug therapy temporarily stopped", 113371000146109 "drug therapy
/// definitely stopped". The paused drug is listed as paused, never as current; the stopped
/// one is history.
#[test]
fn mp9_2x_stop_types_pause_and_stop_as_snomed_defines_them() {
    let stop = |id: &str, code: &str| {
        json!({"resourceType": "MedicationRequest", "id": id, "status": "active", "intent": "order",
            "modifierExtension": [{"url": "http://nictiz.nl/fhir/StructureDefinition/ext-StopType",
                "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": code}]}}],
            "medicationCodeableConcept": {"text": format!("drug {id}")},
            "subject": {"reference": "Patient/p_1"}})
    };
    let r = map(vec![
        json!({"resourceType": "Patient", "id": "p_1", "name": [{"family": "Visser"}]}),
        stop("temporary", "113381000146106"),
        stop("definitive", "113371000146109"),
    ]);
    // A non-conformant id (underscore) does not hide the patient.
    assert_eq!(r.patients[0].key, "p_1");
    let meds = r.patients[0].medication.items();
    assert_eq!(meds.len(), 2);
    let state = |name: &str| {
        meds.iter()
            .find(|t| t.drug().name == name)
            .map(|t| t.state.clone())
            .unwrap()
    };
    assert_eq!(
        state("drug temporary"),
        TreatmentState::Paused {
            since: None,
            resumes: None
        }
    );
    assert_eq!(
        state("drug definitive"),
        TreatmentState::Stopped { on: None }
    );
    let now: Vec<_> = meds.iter().filter(|t| t.listed_now()).collect();
    assert_eq!(now.len(), 1, "only the paused one is listed, as paused");
    assert!(!matches!(now[0].state, TreatmentState::Current { .. }));
}
