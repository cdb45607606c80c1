//! Medication truth on real shapes: the Nictiz MP9 3.0 example transactions
//! (tests/fixtures/nictiz-mp9-300), hand-written MP9 3.0 scenarios in exactly those shapes
//! (tests/fixtures/noodepd-mp9-scenarios: pause, resume, stop and dose change, cancel,
//! ended periods, what cannot be read, one patient twice) and a zib2017 / STU3 BgZ export
//! (tests/fixtures/noodepd-zib2017). Expected values are read by eye from the JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use chrono::{DateTime, NaiveDate, Utc};
use noodepd::fhir::{self, MapOptions};
use noodepd::record::{
    Attention, Decision, DirectiveKind, Fate, Listed, MedicationKind, Moment, NotShownReason,
    NoteKind, PatientRecord, StopKind, Treatment, TreatmentState, UnreadReason, Unreadable,
    WardRecord,
};
use serde_json::json;
use std::path::PathBuf;

fn map_at(dir: &str, now: &str) -> WardRecord {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let docs = fhir::input::read_documents(&[path]).unwrap();
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(now).unwrap().into();
    let r = fhir::map_documents(&docs, &MapOptions::new(now, "test"));
    assert!(r.report.is_balanced(), "{:#?}", r.report);
    r
}

fn map_values(values: Vec<serde_json::Value>, now: &str) -> WardRecord {
    let docs: Vec<fhir::input::Document> = values
        .into_iter()
        .map(|value| fhir::input::Document {
            path: PathBuf::from("test.json"),
            line: None,
            value,
        })
        .collect();
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(now).unwrap().into();
    let r = fhir::map_documents(&docs, &MapOptions::new(now, "test"));
    assert!(r.report.is_balanced(), "{:#?}", r.report);
    r
}

fn by_bsn<'a>(r: &'a WardRecord, bsn: &str) -> &'a PatientRecord {
    r.patients
        .iter()
        .find(|p| p.identity.bsn.as_deref() == Some(bsn))
        .unwrap_or_else(|| panic!("no patient with BSN {bsn}"))
}

fn only_treatment(p: &PatientRecord) -> &Treatment {
    let t = p.medication.items();
    assert_eq!(t.len(), 1, "{t:#?}");
    &t[0]
}

fn instant(s: &str) -> Moment {
    Moment::Instant(DateTime::parse_from_rfc3339(s).unwrap().into())
}

fn day(y: i32, m: u32, d: u32) -> Moment {
    Moment::Day(NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

fn dose(l: &noodepd::record::MedicationLine) -> Option<&str> {
    l.dosages.first().and_then(|d| d.dose.as_deref())
}

const NICTIZ: &str = "nictiz-mp9-300";
const SCENARIOS: &str = "noodepd-mp9-scenarios";
const SCENARIO_NOW: &str = "2026-11-22T06:00:00Z";

// --- Nictiz MP9 3.0 examples -------------------------------------------------------------

#[test]
fn nictiz_script1_stop_and_dose_change_shows_only_the_new_dose() {
    let r = map_at(NICTIZ, "2024-11-10T09:00:00Z");
    let t = only_treatment(by_bsn(&r, "999900663"));
    assert_eq!(
        t.identifier.as_deref(),
        Some("urn:oid:2.16.840.1.113883.2.4.3.11.999.77.1.1|MBH_300_SCRIPT1")
    );
    assert!(matches!(t.state, TreatmentState::Current { .. }));
    // The new agreement (5 pieces) leads; the administration agreement for it gives.
    let lead = t.lead_lines();
    assert_eq!(lead.len(), 1);
    assert_eq!(dose(lead[0]), Some("5 stuk"));
    let given = t.given_by();
    assert_eq!(given.len(), 1);
    assert_eq!(given[0].kind, MedicationKind::AdministrationAgreement);
    assert_eq!(dose(given[0]), Some("5 stuk"));
    // The first agreement (4 pieces) was stopped by the stop agreement (410546004) on its
    // period's end, 2024-11-06T23:59:59+02:00; so was its administration agreement.
    let stopped: Vec<_> = t
        .blocks
        .iter()
        .filter(|b| matches!(b.fate, Fate::Stopped { .. }))
        .collect();
    assert_eq!(stopped.len(), 2);
    for b in stopped {
        assert_eq!(dose(b), Some("4 stuk"));
        assert_eq!(
            b.fate,
            Fate::Stopped {
                on: Some(instant("2024-11-06T23:59:59+02:00"))
            }
        );
    }
    let orders = t
        .blocks
        .iter()
        .filter(|b| {
            matches!(
                b.fate,
                Fate::StopOrder {
                    stop: StopKind::Stopped,
                    ..
                }
            )
        })
        .count();
    assert_eq!(orders, 2);
    // Nothing of the old dose is current.
    assert!(
        t.blocks
            .iter()
            .filter(|b| b.fate.is_in_force())
            .all(|b| dose(b) == Some("5 stuk") || b.kind == MedicationKind::Use)
    );
}

#[test]
fn nictiz_script1_before_the_change_plans_the_stop_and_attributes_administrations() {
    let r = map_at(NICTIZ, "2024-10-18T12:00:00Z");
    let p = by_bsn(&r, "999900663");
    let t = only_treatment(p);
    assert_eq!(
        t.state,
        TreatmentState::Current {
            ends: Some(instant("2025-03-12T23:00:00+01:00")),
            stop_planned: Some(instant("2024-11-06T23:59:59+02:00")),
            pause_planned: None,
            resumed_after_pause: None,
        }
    );
    assert_eq!(dose(t.lead_lines()[0]), Some("4 stuk"));
    // The new agreement starts later: not current yet, in the history.
    assert!(t.blocks.iter().any(|b| b.kind == MedicationKind::Agreement
        && b.fate
            == Fate::NotYetStarted {
                starts: instant("2024-11-07T00:00:00+02:00")
            }));
    // MP9 3.0 administrations name their administration agreement by identifier only; all
    // three belong to this treatment, including the vomited (negative) correction.
    let a = p.administrations.items();
    assert_eq!(a.len(), 3);
    assert!(
        a.iter()
            .all(|a| a.treatment_id.as_deref() == Some(t.id.as_str()))
    );
    let vomited = a
        .iter()
        .find(|a| a.dose.as_deref() == Some("-2 stuk"))
        .unwrap();
    assert!(
        vomited
            .note
            .as_deref()
            .is_some_and(|n| n.contains("uitgespuugd"))
    );
    assert_eq!(
        vomited.dose_quantity.as_ref().map(|q| (q.value, q.ucum())),
        Some((-2.0, Some("1")))
    );
}

#[test]
fn nictiz_script5_stopped_temazepam_is_history_not_current() {
    let r = map_at(NICTIZ, "2024-11-10T09:00:00Z");
    let t = only_treatment(by_bsn(&r, "999900699"));
    assert_eq!(
        t.state,
        TreatmentState::Stopped {
            on: Some(instant("2024-10-19T23:59:59+02:00"))
        }
    );
    assert!(!t.listed_now());
}

#[test]
fn nictiz_script3_ended_period_is_ended() {
    let r = map_at(NICTIZ, "2024-11-10T09:00:00Z");
    let t = only_treatment(by_bsn(&r, "999900675"));
    assert_eq!(
        t.state,
        TreatmentState::Ended {
            on: Some(instant("2024-11-01T23:59:00+02:00"))
        }
    );
    assert!(!t.listed_now());
}

#[test]
fn nictiz_script2_future_agreement_starts_later_and_a_backwards_period_is_flagged() {
    let r = map_at(NICTIZ, "2024-11-10T09:00:00Z");
    let t = only_treatment(by_bsn(&r, "999900869"));
    assert_eq!(
        t.state,
        TreatmentState::Future {
            starts: instant("2024-11-26T00:00:00+02:00")
        }
    );
    // The use statement's period ends before it starts (2024-11-26 → 2024-11-23): the
    // line says it could not be fully read rather than guessing.
    assert!(
        t.unreadable
            .iter()
            .any(|u| matches!(u, Unreadable::PeriodEndsBeforeStart(_)))
    );
    assert!(t.listed_now());
}

#[test]
fn nictiz_dispense_request_and_dispense_are_not_therapies() {
    let r = map_at(NICTIZ, "2024-11-10T09:00:00Z");
    // Script 1's VV (verstrekkingsverzoek, MedicationRequest category 52711000146108) and
    // MVE (verstrekking, MedicationDispense category 373784005).
    assert!(
        r.report
            .not_shown
            .iter()
            .any(|n| n.resource_type == "MedicationRequest"
                && n.reason == NotShownReason::UnsupportedType
                && n.detail.contains("verstrekkingsverzoek"))
    );
    assert!(
        r.report
            .not_shown
            .iter()
            .any(|n| n.resource_type == "MedicationDispense"
                && n.reason == NotShownReason::UnsupportedType
                && n.detail.contains("verstrekking"))
    );
    // Neither became a line of any treatment.
    for p in &r.patients {
        for t in p.medication.items() {
            assert!(t.blocks.iter().all(|b| {
                !b.category
                    .as_deref()
                    .is_some_and(|c| c.contains("verstrekk"))
            }));
        }
    }
}

#[test]
fn nictiz_mg_example_regimen_with_the_2x_definitive_code_is_stopped() {
    let r = map_at(NICTIZ, "2024-11-10T09:00:00Z");
    let p = r
        .patients
        .iter()
        .find(|p| p.identity.name.display.contains("Kester"))
        .unwrap();
    let t = p
        .medication
        .items()
        .iter()
        .find(|t| {
            t.identifier
                .as_deref()
                .is_some_and(|i| i.ends_with("MBH_920_mg_example-1-KST"))
        })
        .unwrap();
    let wds = t
        .blocks
        .iter()
        .find(|b| b.kind == MedicationKind::VariableDosingRegimen)
        .unwrap();
    assert!(matches!(wds.fate, Fate::Stopped { .. }), "{:?}", wds.fate);
    // The entered-in-error dispense request is not shown.
    assert!(
        r.report
            .not_shown
            .iter()
            .any(|n| n.reason == NotShownReason::EnteredInError)
    );
}

#[test]
fn nictiz_mp9_examples_are_all_accounted_for() {
    let r = map_at(NICTIZ, "2024-11-10T09:00:00Z");
    assert_eq!(r.patients.len(), 9);
    for t in [
        "MedicationRequest",
        "MedicationDispense",
        "MedicationStatement",
    ] {
        let c = &r.report.by_type[t];
        assert_eq!(c.input, c.mapped + c.not_shown);
    }
    // Every patient's medication is one entry per treatment identifier.
    for p in &r.patients {
        let ids: Vec<_> = p
            .medication
            .items()
            .iter()
            .filter_map(|t| t.identifier.clone())
            .collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(ids.len(), unique.len(), "{}", p.identity.name.display);
    }
}

// --- MP9 3.0 scenarios in the same shapes --------------------------------------------------

#[test]
fn paused_apixaban_is_shown_as_paused_not_current() {
    let r = map_at(SCENARIOS, SCENARIO_NOW);
    let p = by_bsn(&r, "999911132");
    let t = only_treatment(p);
    assert_eq!(t.drug().name, "APIXABAN TABLET 5MG");
    assert_eq!(
        t.state,
        TreatmentState::Paused {
            since: Some(instant("2026-11-21T08:00:00+01:00")),
            resumes: None
        }
    );
    assert!(t.listed_now(), "a paused drug is listed, as paused");
    // Neither the agreement nor the administration agreement runs.
    assert!(t.blocks.iter().all(|b| !b.fate.is_in_force()));
    // The last administration (the evening before) still belongs to it.
    let a = p.administrations.items();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].treatment_id.as_deref(), Some(t.id.as_str()));
    // The ATC code is carried, for a high-risk marker by code.
    assert!(
        t.drug()
            .codes
            .iter()
            .any(|c| c.system.as_deref() == Some("http://www.whocc.no/atc")
                && c.code.as_deref() == Some("B01AF02"))
    );
}

#[test]
fn paused_apixaban_with_a_resume_agreement_says_when_it_resumes() {
    let r = map_at(SCENARIOS, SCENARIO_NOW);
    let t = only_treatment(by_bsn(&r, "999911144"));
    assert_eq!(
        t.state,
        TreatmentState::Paused {
            since: Some(instant("2026-11-20T12:00:00+01:00")),
            resumes: Some(instant("2026-11-25T08:00:00+01:00"))
        }
    );
    // After the resume date it runs again, and says it was paused.
    let later = map_at(SCENARIOS, "2026-11-26T06:00:00Z");
    let t = only_treatment(by_bsn(&later, "999911144"));
    assert!(matches!(
        t.state,
        TreatmentState::Current {
            resumed_after_pause: Some(_),
            ..
        }
    ));
}

#[test]
fn stopped_furosemide_is_replaced_by_the_double_dose_never_side_by_side() {
    let r = map_at(SCENARIOS, SCENARIO_NOW);
    let t = only_treatment(by_bsn(&r, "999911156"));
    assert!(matches!(t.state, TreatmentState::Current { .. }));
    let running: Vec<_> = t.blocks.iter().filter(|b| b.fate.is_in_force()).collect();
    assert_eq!(running.len(), 1, "{running:#?}");
    assert_eq!(dose(running[0]), Some("2 stuk"));
    // The old administration agreement had no stop of its own; it follows its stopped
    // agreement, and the treatment asks for a look (no administration agreement yet).
    let old_ta = t
        .blocks
        .iter()
        .find(|b| b.kind == MedicationKind::AdministrationAgreement)
        .unwrap();
    assert!(matches!(old_ta.fate, Fate::Stopped { .. }));
    assert!(matches!(
        t.attention.as_slice(),
        [Attention::AdministrationAgreementNotInForce { .. }]
    ));
    assert_eq!(t.given_by().len(), 1);
    assert_eq!(dose(t.given_by()[0]), Some("2 stuk"));
}

#[test]
fn cancelled_agreement_is_never_current() {
    let r = map_at(SCENARIOS, SCENARIO_NOW);
    let t = only_treatment(by_bsn(&r, "999911168"));
    assert_eq!(t.state, TreatmentState::Cancelled);
    assert!(!t.listed_now());
    // Also not after its planned start.
    let later = map_at(SCENARIOS, "2026-11-24T06:00:00Z");
    assert_eq!(
        only_treatment(by_bsn(&later, "999911168")).state,
        TreatmentState::Cancelled
    );
}

#[test]
fn ended_periods_from_every_source_end_the_therapy() {
    let r = map_at(SCENARIOS, SCENARIO_NOW);
    let p = by_bsn(&r, "999911181");
    let state = |name: &str| {
        p.medication
            .items()
            .iter()
            .find(|t| t.blocks.iter().any(|b| b.drug.name == name))
            .map(|t| t.state.clone())
            .unwrap_or_else(|| panic!("{name}"))
    };
    // Marcoumar (period of use ended 2021-03-01) and fenprocoumon (boundsPeriod to
    // 2021-05-01) share ATC B01AA04: one treatment, ended.
    assert_eq!(
        state("Marcoumar 3 mg tablet"),
        TreatmentState::Ended {
            on: Some(day(2021, 5, 1))
        }
    );
    // Acenocoumarol: authoredOn + boundsDuration 30 days.
    assert_eq!(
        state("Acenocoumarol 1 mg tablet"),
        TreatmentState::Ended {
            on: Some(instant("2021-06-01T09:00:00+02:00"))
        }
    );
    // Digoxin "for 10 days" from 2023-03-01.
    assert_eq!(
        state("Digoxine 0,125 mg tablet"),
        TreatmentState::Ended {
            on: Some(instant("2023-03-11T10:00:00+01:00"))
        }
    );
    // An ended dispense validity is not an ended therapy.
    assert!(matches!(
        state("Metoprolol 50 mg tablet"),
        TreatmentState::Current { ends: None, .. }
    ));
    let current: Vec<_> = p
        .medication
        .items()
        .iter()
        .filter(|t| t.listed_now())
        .map(|t| t.drug().name.as_str())
        .collect();
    assert_eq!(current, ["Metoprolol 50 mg tablet"]);
}

#[test]
fn unknown_modifier_and_unknown_stop_type_are_not_fully_read_and_counted() {
    let r = map_at(SCENARIOS, SCENARIO_NOW);
    let p = by_bsn(&r, "999911193");
    let t = |name: &str| {
        p.medication
            .items()
            .iter()
            .find(|t| t.drug().name == name)
            .unwrap()
    };
    let para = t("Paracetamol 500 mg tablet");
    assert!(matches!(
        para.unreadable.as_slice(),
        [Unreadable::UnknownModifier(u)] if u.ends_with("not-for-this-patient")
    ));
    assert!(para.listed_now());
    let ator = t("Atorvastatine 40 mg tablet");
    assert!(matches!(
        ator.unreadable.as_slice(),
        [Unreadable::UnknownStopType(_)]
    ));
    // Counted on the patient: the modifier, the stop type and the DSTU2 order.
    let reasons: Vec<_> = p.unread.iter().map(|u| u.reason).collect();
    assert!(reasons.contains(&UnreadReason::UnknownModifier));
    assert!(reasons.contains(&UnreadReason::InvalidValue));
    assert!(reasons.contains(&UnreadReason::UnsupportedVersion));
    assert_eq!(p.unread.len(), 3, "{:#?}", p.unread);
    assert_eq!(
        r.report
            .not_shown
            .iter()
            .find(|n| n.resource_type == "MedicationOrder")
            .map(|n| n.reason),
        Some(NotShownReason::UnsupportedVersion)
    );
}

#[test]
fn the_same_patient_twice_is_one_record_with_its_identity_conflict() {
    let r = map_at(SCENARIOS, SCENARIO_NOW);
    let copies: Vec<_> = r
        .patients
        .iter()
        .filter(|p| p.identity.bsn.as_deref() == Some("999911193"))
        .collect();
    assert_eq!(copies.len(), 1);
    let p = copies[0];
    // The MRSA alert points at one copy, the resuscitation policy at the other.
    assert_eq!(p.alerts.items().len(), 1);
    assert_eq!(p.directives.items()[0].decision, Decision::Deny);
    assert_eq!(p.identity_conflicts.len(), 1);
    assert_eq!(p.identity_conflicts[0].field, "birth_date");
    assert_eq!(
        p.identity_conflicts[0].values,
        ["1960-02-29".to_owned(), "1960-03-01".to_owned()]
    );
}

#[test]
fn drug_with_only_an_ndc_code_shows_the_code_with_its_system() {
    let r = map_at(SCENARIOS, SCENARIO_NOW);
    let p = by_bsn(&r, "999911193");
    assert!(
        p.medication
            .items()
            .iter()
            .any(|t| t.drug().name == "NDC 0069-0105-68")
    );
}

#[test]
fn codes_of_drugs_allergies_directives_alerts_and_problems_are_carried() {
    let r = map_at("noodepd-zib2017", SCENARIO_NOW);
    let v = serde_json::to_value(&r).unwrap();
    let p = &v["patients"][0];
    let systems = |x: &serde_json::Value| -> Vec<String> {
        x["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}|{}",
                    c["system"].as_str().unwrap(),
                    c["code"].as_str().unwrap()
                )
            })
            .collect()
    };
    let allergy = systems(&p["allergies"]["items"][0]);
    assert!(allergy.contains(&"http://snomed.info/sct|38000004".to_owned()));
    assert!(allergy.contains(&"urn:oid:2.16.840.1.113883.2.4.4.1|99902001".to_owned()));
    let alert = systems(&p["alerts"]["items"][0]);
    assert_eq!(alert, ["http://snomed.info/sct|432415000"]);
    let directive = systems(&p["directives"]["items"][0]);
    assert!(directive.contains(&"http://snomed.info/sct|40617009".to_owned()));
    let drug = systems(&p["medication"]["items"][0]["blocks"][0]["drug"]);
    assert!(drug.contains(&"http://www.whocc.no/atc|C10AA01".to_owned()));
    assert!(drug.contains(&"urn:oid:2.16.840.1.113883.2.4.4.10|99902002".to_owned()));
    // Problems too (inline).
    let r = map_values(
        vec![
            json!({"resourceType": "Patient", "id": "p1"}),
            json!({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes mellitus type 2"},
                                    {"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11"}]}}),
        ],
        SCENARIO_NOW,
    );
    assert_eq!(r.patients[0].problems.items()[0].codes.len(), 2);
}

// --- zib2017 / STU3 ------------------------------------------------------------------------

#[test]
fn zib2017_directives_alerts_allergies_and_medication_are_read() {
    let r = map_at("noodepd-zib2017", SCENARIO_NOW);
    let p = &r.patients[0];
    let d = p.directives.items();
    let ventilation = d.iter().find(|d| d.treatment == "Beademing").unwrap();
    // TreatmentPermitted NEE: "geen beademing" is a denied treatment, not "other".
    assert_eq!(
        (ventilation.kind, ventilation.decision),
        (DirectiveKind::Treatment, Decision::Deny)
    );
    let icu = d
        .iter()
        .find(|d| d.treatment == "Opname op intensive care")
        .unwrap();
    assert_eq!(icu.decision, Decision::Other);
    assert_eq!(icu.text.as_deref(), Some("Geen invasieve beademing"));
    // A living will of type NR is a do-not-resuscitate directive, not a plain
    // "Wilsverklaring".
    let nr = d
        .iter()
        .find(|d| d.treatment == "Niet reanimeren verklaring")
        .unwrap();
    assert_eq!(
        (nr.kind, nr.decision),
        (DirectiveKind::Resuscitation, Decision::Deny)
    );
    assert_eq!(
        p.alerts.items()[0].kind,
        noodepd::record::AlertKind::Isolation
    );
    // STU3 statuses are plain codes: the entered-in-error allergy is not shown.
    assert_eq!(p.allergies.items().len(), 1);
    assert_eq!(p.allergies.items()[0].substance, "Lactose");
    // zib2017 stop type 2 "definitief": stopped, not current.
    let meds = p.medication.items();
    let simva = meds
        .iter()
        .find(|t| t.drug().name == "SIMVASTATINE TABLET 40MG")
        .unwrap();
    assert_eq!(
        simva.state,
        TreatmentState::Stopped {
            on: Some(day(2026, 11, 15))
        }
    );
    let metf = meds
        .iter()
        .find(|t| t.drug().name == "METFORMINE TABLET 500MG")
        .unwrap();
    assert!(matches!(metf.state, TreatmentState::Current { .. }));
    // The administration agreement (authorizingPrescription by identifier) gives the dose.
    assert_eq!(
        metf.given_by()[0].kind,
        MedicationKind::AdministrationAgreement
    );
    // taken = n: not taken, not current.
    let ibu = meds
        .iter()
        .find(|t| t.drug().name == "Ibuprofen 400 mg")
        .unwrap();
    assert!(!ibu.listed_now());
}

// --- statements about a section --------------------------------------------------------------

#[test]
fn partial_and_contradictory_allergy_statements_are_shown_as_such() {
    let allergy = |id: &str, subject: &str, code: &str, display: &str, category: Option<&str>| {
        let mut v = json!({"resourceType": "AllergyIntolerance", "id": id,
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]},
            "patient": {"reference": format!("Patient/{subject}")}});
        if let Some(c) = category {
            v["category"] = json!([c]);
        }
        v
    };
    let ips = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips";
    let r = map_values(
        vec![
            json!({"resourceType": "Patient", "id": "partial"}),
            json!({"resourceType": "Patient", "id": "food"}),
            json!({"resourceType": "Patient", "id": "only-partial"}),
            json!({"resourceType": "Patient", "id": "none-and-noinfo"}),
            // A penicillin allergy and "no known food allergy": partial, both shown.
            allergy(
                "a1",
                "partial",
                "91936005",
                "Penicilline",
                Some("medication"),
            ),
            allergy(
                "n1",
                "partial",
                "429625007",
                "Geen voedselallergie bekend",
                None,
            ),
            // A peanut allergy and "no known food allergy": a contradiction.
            allergy("a2", "food", "91935009", "Pinda", Some("food")),
            allergy(
                "n2",
                "food",
                "429625007",
                "Geen voedselallergie bekend",
                None,
            ),
            // Only "no known food allergy": never "none" for the whole section.
            allergy(
                "n3",
                "only-partial",
                "429625007",
                "Geen voedselallergie bekend",
                None,
            ),
            // "No known allergies" and "no information": contradictory, so not "none".
            allergy(
                "n4",
                "none-and-noinfo",
                "716186003",
                "Geen allergie bekend",
                None,
            ),
            json!({"resourceType": "AllergyIntolerance", "id": "n5",
                "code": {"coding": [{"system": ips, "code": "no-allergy-info", "display": "Geen informatie"}]},
                "patient": {"reference": "Patient/none-and-noinfo"}}),
        ],
        SCENARIO_NOW,
    );
    let p = |k: &str| r.patients.iter().find(|p| p.key == k).unwrap();
    let kinds = |k: &str| p(k).notes.iter().map(|n| n.kind).collect::<Vec<_>>();
    assert_eq!(p("partial").allergies.items().len(), 1);
    assert_eq!(kinds("partial"), [NoteKind::PartialNegation]);
    assert_eq!(kinds("food"), [NoteKind::Contradiction]);
    assert!(p("only-partial").allergies.is_not_recorded());
    assert_eq!(kinds("only-partial"), [NoteKind::PartialNegation]);
    assert!(matches!(
        p("none-and-noinfo").allergies,
        Listed::NotRecorded
    ));
    assert_eq!(
        kinds("none-and-noinfo"),
        [NoteKind::Contradiction, NoteKind::Contradiction]
    );
}

#[test]
fn a_flood_of_building_blocks_for_one_patient_is_bounded_and_reported() {
    // 3000 agreements of one MP9 treatment, every other one a stop order: at most 2000 are
    // read for the patient, the rest reported; the treatment keeps a bounded history.
    let mut values = vec![json!({"resourceType": "Patient", "id": "p1"})];
    for n in 0..3000 {
        let mut r = json!({"resourceType": "MedicationRequest", "id": format!("ma{n}"),
            "status": "unknown", "intent": "order",
            "extension": [
                {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-PharmaceuticalTreatment.Identifier",
                 "valueIdentifier": {"system": "urn:oid:2.16.840.1.113883.2.4.3.11.999.77.1.1", "value": "FLOOD"}},
                {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-TimeInterval.Period",
                 "valuePeriod": {"start": "2026-01-01", "end": format!("2026-{:02}-01", 1 + n % 12)}}],
            "medicationCodeableConcept": {"text": "Paracetamol 500 mg"},
            "subject": {"reference": "Patient/p1"}});
        if n % 2 == 1 {
            r["modifierExtension"] = json!([{"url": "http://nictiz.nl/fhir/StructureDefinition/ext-StopType",
                "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "410546004"}]}}]);
        }
        values.push(r);
    }
    let r = map_values(values, SCENARIO_NOW);
    let t = only_treatment(&r.patients[0]);
    assert!(t.blocks.len() <= noodepd::record::medication::MAX_BLOCKS_PER_TREATMENT);
    assert_eq!(t.blocks.len() + t.omitted as usize, 2000);
    let invalid = r
        .report
        .not_shown
        .iter()
        .filter(|n| n.reason == NotShownReason::Invalid)
        .count();
    assert_eq!(invalid, 1000);
    // The patient's page counts them all, listing a bounded number.
    let p = &r.patients[0];
    assert_eq!(p.unread_count(), 1000);
    assert_eq!(p.unread.len(), noodepd::record::MAX_UNREAD_PER_PATIENT);
    assert!(!t.listed_now());
}
