//! IPS 2.0.0 example documents and Synthea transaction bundles: allergies, active
//! medication, alerts and directives per patient as read by eye from the fixture JSON,
//! and the report naming the right reasons.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use chrono::{DateTime, Utc};
use noodepd::fhir::{self, MapOptions};
use noodepd::record::{
    AlertKind, Criticality, Decision, DirectiveKind, Listed, MedicationKind, NotShownReason,
    NoteKind, NoteSection, TreatmentState, WardRecord,
};
use std::path::PathBuf;

fn map(p: &str) -> WardRecord {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(p);
    let docs = fhir::input::read_documents(&[path]).unwrap();
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-22T06:00:00Z")
        .unwrap()
        .into();
    let r = fhir::map_documents(&docs, &MapOptions::new(now, "test"));
    assert!(r.report.is_balanced(), "{:#?}", r.report);
    r
}

fn reasons(r: &WardRecord, t: &str) -> Vec<NotShownReason> {
    r.report
        .not_shown
        .iter()
        .filter(|n| n.resource_type == t)
        .map(|n| n.reason)
        .collect()
}

/// The drugs of the current treatments (running, paused or about to start).
fn drug_names(r: &WardRecord) -> Vec<&str> {
    r.patients[0]
        .medication
        .items()
        .iter()
        .filter(|t| t.listed_now())
        .map(|m| m.drug().name.as_str())
        .collect()
}

/// The drugs and states of the treatments that are not current.
fn past(r: &WardRecord) -> Vec<(&str, TreatmentState)> {
    r.patients[0]
        .medication
        .items()
        .iter()
        .filter(|t| !t.listed_now())
        .map(|m| (m.drug().name.as_str(), m.state.clone()))
        .collect()
}

#[test]
fn ips_bundle_01_shows_penicillin_and_reports_partial_no_known_food_allergy() {
    let r = map("ips-2.0.0/Bundle-IPS-examples-Bundle-01.json");
    assert_eq!(r.patients.len(), 1);
    let p = &r.patients[0];
    assert_eq!(p.identity.name.display, "Martha DeLarosa");
    // urn:oid:2.16.840.1.113883.2.4.6.3 is the BSN OID.
    assert_eq!(p.identity.bsn.as_deref(), Some("574687583"));
    let a = p.allergies.items();
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].substance,
        "Substance with penicillin structure (substance)"
    );
    assert_eq!(a[0].criticality, Criticality::High);
    assert_eq!(a[0].kind.as_deref(), Some("allergy"));
    // "No known food allergy" next to a (medication) allergy: a partial statement shown
    // next to the list, never an item and never "none".
    assert!(
        !r.report
            .not_shown
            .iter()
            .any(|n| n.id.as_deref() == Some("c7781f44-6df8-4a8b-9e06-0b34263a47c5"))
    );
    let nkfa = p
        .notes
        .iter()
        .find(|n| n.statement.contains("No known food allergy"))
        .unwrap();
    assert_eq!(
        (nkfa.section, nkfa.kind),
        (NoteSection::Allergies, NoteKind::PartialNegation)
    );

    assert_eq!(
        drug_names(&r),
        vec![
            "ANASTROZOL 1MG TABLET",
            "Black Cohosh Extract herbal supplement"
        ]
    );
    let ana = p.medication.items()[0].lead_lines()[0];
    assert_eq!(ana.kind, MedicationKind::Use);
    assert_eq!(ana.dosages[0].dose.as_deref(), Some("1 tablet"));
    assert_eq!(ana.dosages[0].route.as_deref(), Some("Oral use"));
    assert!(p.alerts.is_not_recorded());
    assert!(p.directives.is_not_recorded());
    assert_eq!(reasons(&r, "Condition"), vec![NotShownReason::Inactive]);
}

#[test]
fn ips_with_immunization_reports_the_immunization_as_unsupported() {
    let r = map("ips-2.0.0/Bundle-IPS-examples-Bundle-with-immunization.json");
    assert_eq!(
        reasons(&r, "Immunization"),
        vec![NotShownReason::UnsupportedType]
    );
    assert_eq!(r.report.by_type["Immunization"].input, 1);
    assert_eq!(r.patients[0].allergies.items().len(), 1);
}

#[test]
fn ips_all_sections_dnr_shellfish_alert_and_relative_references() {
    let r = map("ips-2.0.0/Bundle-bundle-ips-all-sections.json");
    let p = &r.patients[0];
    assert_eq!(p.identity.name.display, "Patricia JORDANA");
    assert_eq!(p.identity.patient_number.as_deref(), Some("ABC1234"));
    assert_eq!(p.key, "ABC1234");
    // Relative references against absolute fullUrls resolved:
    let a = p.allergies.items();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].substance, "Penicillin");
    assert_eq!(a[0].criticality, Criticality::NotRecorded);

    let d = p.directives.items();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].kind, DirectiveKind::Resuscitation);
    assert_eq!(d[0].decision, Decision::Deny);
    assert_eq!(d[0].treatment, "Not for resuscitation");

    let al = p.alerts.items();
    assert_eq!(al.len(), 1);
    assert_eq!(al[0].text, "Shellfish free diet");
    assert_eq!(al[0].kind, AlertKind::Other);

    assert_eq!(
        drug_names(&r),
        vec![
            "lisinopril 5 mg tablet",
            "Ultraproct - cinchocaine 0.5% (5 mg/g) + fluocortolone hexanoate 0.095% (945 microgram/g) + fluocortolone pivalate 0.092% (918 microgram/g) ointment"
        ]
    );
    let lis = p
        .medication
        .items()
        .iter()
        .find(|t| t.listed_now())
        .unwrap()
        .lead_lines()[0];
    assert_eq!(
        lis.dosages[0].text.as_deref(),
        Some("Take One tablet once daily")
    );
    assert_eq!(lis.dosages[0].schedule.text.as_deref(), Some("1 x per dag"));
    // cilazapril is stopped: history, never current.
    assert!(reasons(&r, "MedicationStatement").is_empty());
    assert!(matches!(
        past(&r).as_slice(),
        [(name, TreatmentState::Stopped { .. })] if name.starts_with("cilazapril")
    ));
    assert_eq!(
        p.devices.items()[0].name,
        "Hip prosthesis, device (physical object)"
    );
    assert_eq!(reasons(&r, "Immunization").len(), 8);
    assert!(
        reasons(&r, "Immunization")
            .iter()
            .all(|x| *x == NotShownReason::UnsupportedType)
    );
}

#[test]
fn ips_no_info_sections_stay_not_recorded_not_none() {
    let r = map("ips-2.0.0/Bundle-bundle-no-info-required-sections.json");
    let p = &r.patients[0];
    assert_eq!(p.identity.name.display, "James Judge");
    // emptyReason "unavailable" means unknown, never "none".
    assert!(matches!(p.allergies, Listed::NotRecorded));
    assert!(matches!(p.medication, Listed::NotRecorded));
    assert!(matches!(p.problems, Listed::NotRecorded));
    assert_eq!(p.contacts.items().len(), 2);
}

#[test]
fn ips_minimal_has_one_allergy_and_one_medication() {
    let r = map("ips-2.0.0/Bundle-bundle-minimal.json");
    let p = &r.patients[0];
    assert_eq!(
        p.allergies.items()[0].substance,
        "Substance with penicillin structure (substance)"
    );
    assert_eq!(drug_names(&r), vec!["ANASTROZOL 1MG TABLET"]);
    assert_eq!(r.report.total_input(), 8);
}

#[test]
fn synthea_kermit_three_food_allergies_and_three_active_requests() {
    let r = map("synthea-smart-r4/Kermit_Trantow_f1a650a5-737e-4fd7-828e-03c3348b9524.json");
    let p = &r.patients[0];
    assert_eq!(p.identity.name.display, "Kermit Trantow");
    assert_eq!(
        p.identity.patient_number.as_deref(),
        Some("f1a650a5-737e-4fd7-828e-03c3348b9524")
    );
    let subs: Vec<_> = p
        .allergies
        .items()
        .iter()
        .map(|a| a.substance.as_str())
        .collect();
    assert_eq!(
        subs,
        vec![
            "Allergy to bee venom",
            "Shellfish allergy",
            "Allergy to peanuts"
        ]
    );
    assert!(
        p.allergies
            .items()
            .iter()
            .all(|a| a.criticality == Criticality::Low)
    );
    assert_eq!(
        drug_names(&r),
        vec![
            "Loratadine 5 MG Chewable Tablet",
            "NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector",
            "Hydrochlorothiazide 25 MG"
        ]
    );
    let meds: Vec<_> = p
        .medication
        .items()
        .iter()
        .filter(|t| t.listed_now())
        .collect();
    let lorat = meds[0].lead_lines()[0];
    assert!(lorat.dosages[0].as_needed.is_some());
    assert_eq!(lorat.prescriber.as_deref(), Some("Levi Reichert"));
    assert!(
        meds.iter()
            .all(|m| m.lead_kind() == MedicationKind::Agreement)
    );
    // The three stopped requests are history, never current.
    assert!(reasons(&r, "MedicationRequest").is_empty());
    let stopped: usize = p
        .medication
        .items()
        .iter()
        .flat_map(|t| &t.blocks)
        .filter(|b| matches!(b.fate, noodepd::record::Fate::Stopped { .. }))
        .count();
    assert_eq!(stopped, 3);
    // Claims and EOBs are not shown; their contained resources are accounted for.
    assert!(
        reasons(&r, "Claim")
            .iter()
            .all(|x| *x == NotShownReason::UnsupportedType)
    );
    assert!(
        reasons(&r, "Coverage")
            .iter()
            .all(|x| *x == NotShownReason::ReferencedOnly)
    );
    assert!(
        reasons(&r, "Encounter")
            .iter()
            .all(|x| *x == NotShownReason::Inactive)
    );
}

#[test]
fn synthea_liz_finished_inpatient_stay_is_not_a_current_admission() {
    let r = map("synthea-smart-r4/Liz_Conn_27c911c6-f045-4ffa-af5d-6eba57ac94b2.json");
    let p = &r.patients[0];
    assert!(p.admission.is_none());
    assert_eq!(p.location.bed, None);
    assert_eq!(drug_names(&r), vec!["Hydrochlorothiazide 25 MG"]);
    assert!(p.allergies.is_not_recorded());
    let imp = r
        .report
        .not_shown
        .iter()
        .find(|n| n.id.as_deref() == Some("b262dced-d5e7-40e1-995b-57149e439e0d"))
        .unwrap();
    assert_eq!(imp.reason, NotShownReason::Inactive);
}
