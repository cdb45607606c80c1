//! The Nictiz zib2020 / nl-core examples (tests/fixtures/nictiz-zib2020): what the mapper
//! shows per patient must match a reading of the FHIR files by eye (values below are copied
//! from the JSON, not computed), and the report must account for every resource.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use noodepd::fhir::{self, MapOptions};
use noodepd::record::{
    AlertKind, Criticality, Decision, DirectiveKind, Listed, MedicationKind, Moment,
    NotShownReason, PatientRecord, Treatment, TreatmentState, Unreadable, WardRecord,
};
use std::path::PathBuf;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(p)
}

fn map_at(paths: &[&str], now: &str) -> WardRecord {
    let inputs: Vec<PathBuf> = paths.iter().map(|p| fixture(p)).collect();
    let docs = fhir::input::read_documents(&inputs).unwrap();
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(now).unwrap().into();
    fhir::map_documents(&docs, &MapOptions::new(now, "test"))
}

fn nictiz(now: &str) -> WardRecord {
    map_at(
        &["nictiz-zib2020/examples", "nictiz-zib2020/examples-mp"],
        now,
    )
}

fn patient<'a>(r: &'a WardRecord, bsn: &str) -> &'a PatientRecord {
    r.patients
        .iter()
        .find(|p| p.identity.bsn.as_deref() == Some(bsn))
        .unwrap()
}

fn reason_of(r: &WardRecord, id: &str) -> NotShownReason {
    r.report
        .not_shown
        .iter()
        .find(|n| n.id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("{id} not in the report"))
        .reason
}

const NOW: &str = "2026-11-22T06:00:00Z";

#[test]
fn jo_van_putten_identity_uses_dutch_name_parts() {
    let r = nictiz(NOW);
    assert_eq!(r.patients.len(), 2);
    let p = patient(&r, "111222333");
    assert_eq!(
        p.identity.name.display,
        "Johanna Petronella Maria van Putten-van der Giessen"
    );
    assert_eq!(
        p.identity.name.sort_key,
        "Putten-van der Giessen, Johanna Petronella Maria van"
    );
    assert_eq!(p.identity.name.prefix.as_deref(), Some("van"));
    assert_eq!(p.identity.name.surname.as_deref(), Some("Putten"));
    assert_eq!(p.identity.name.partner_prefix.as_deref(), Some("van der"));
    assert_eq!(p.identity.name.partner_surname.as_deref(), Some("Giessen"));
    assert_eq!(
        p.identity.birth_date,
        Some(Moment::Day(NaiveDate::from_ymd_opt(1934, 4, 28).unwrap()))
    );
    // Only a BSN identifier: no patient number, key from the FHIR id.
    assert_eq!(p.identity.patient_number, None);
    assert_eq!(p.key, "nl-core-Patient-01");

    let piet = patient(&r, "999911120");
    // naamgebruik NL1: own name only, although a partner name is given.
    assert_eq!(piet.identity.name.display, "Jan Pieter Mark Pietersen");
}

#[test]
fn allergies_skip_entered_in_error_bee_venom_and_show_penicillin() {
    let r = nictiz(NOW);
    let p = patient(&r, "111222333");
    let a = p.allergies.items();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].substance, "Penicilline");
    assert_eq!(a[0].criticality, Criticality::High);
    assert_eq!(a[0].category, vec!["medication".to_owned()]);
    assert_eq!(
        a[0].reactions[0].manifestation,
        "Exantheem, rode huiduitslag op armen"
    );
    assert_eq!(a[0].reactions[0].severity.as_deref(), Some("moderate"));
    assert_eq!(
        reason_of(&r, "nl-core-AllergyIntolerance-01"),
        NotShownReason::EnteredInError
    );
    // The other patient has no allergy resource: unknown, not "none".
    assert!(patient(&r, "999911120").allergies.is_not_recorded());
}

#[test]
fn alerts_show_active_mrsa_as_isolation_and_drop_inactive_flags() {
    let r = nictiz(NOW);
    let p = patient(&r, "111222333");
    let a = p.alerts.items();
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].text,
        "Drager van meticillineresistente Staphylococcus aureus"
    );
    assert_eq!(a[0].kind, AlertKind::Isolation);
    assert_eq!(reason_of(&r, "nl-core-Alert-01"), NotShownReason::Inactive);
    assert_eq!(
        reason_of(&r, "nl-core-MedicationContraIndication-01"),
        NotShownReason::Inactive
    );
}

#[test]
fn directives_match_consents_including_cpr_other_and_nr_declaration() {
    let r = nictiz(NOW);
    let piet = patient(&r, "999911120");
    let d = piet.directives.items();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].kind, DirectiveKind::Resuscitation);
    assert_eq!(d[0].treatment, "Cardiopulmonale resuscitatie");
    assert_eq!(d[0].decision, Decision::Other);
    assert_eq!(d[0].text.as_deref(), Some("eerst overleg met echtgenote"));
    assert_eq!(
        d[0].date,
        Some(Moment::Day(NaiveDate::from_ymd_opt(2012, 9, 11).unwrap()))
    );

    let jo = patient(&r, "111222333");
    let d = jo.directives.items();
    assert_eq!(d.len(), 2);
    let nr = d
        .iter()
        .find(|x| x.treatment == "Niet reanimeren verklaring")
        .unwrap();
    assert_eq!(nr.kind, DirectiveKind::Resuscitation);
    assert_eq!(nr.decision, Decision::Deny);
    assert_eq!(nr.text.as_deref(), Some("Niet-reanimerenpenning"));
    assert_eq!(nr.source.as_deref(), Some("J.P.M. Pietersen"));
    let vol = d.iter().find(|x| x.treatment == "Volmacht").unwrap();
    assert_eq!(vol.kind, DirectiveKind::AdvanceDirective);
    assert_eq!(vol.decision, Decision::Other);
    assert_eq!(vol.text.as_deref(), Some("volmacht aan echtgenote"));
    // The ICU directive (permit) is inactive.
    assert_eq!(
        reason_of(&r, "nl-core-TreatmentDirective2-01"),
        NotShownReason::Inactive
    );
}

fn current(p: &PatientRecord) -> Vec<&Treatment> {
    p.medication
        .items()
        .iter()
        .filter(|t| t.listed_now())
        .collect()
}

fn treatment<'a>(p: &'a PatientRecord, drug: &str) -> &'a Treatment {
    p.medication
        .items()
        .iter()
        .find(|t| t.drug().name == drug)
        .unwrap_or_else(|| panic!("no treatment of {drug}"))
}

#[test]
fn active_medication_is_methotrexate_agreement_and_pantoprazole_use() {
    let r = nictiz(NOW);
    let jo = patient(&r, "111222333");
    let running: Vec<&str> = current(jo)
        .iter()
        .filter(|t| matches!(t.state, TreatmentState::Current { .. }))
        .map(|t| t.drug().name.as_str())
        .collect();
    assert_eq!(
        running,
        [
            "METHOTREXAAT INJVLST 15MG/0,6ML(25MG/ML) WWSP PA",
            "PANTOPRAZOL 40MG INJPDR"
        ]
    );
    let mtx = treatment(jo, "METHOTREXAAT INJVLST 15MG/0,6ML(25MG/ML) WWSP PA").lead_lines()[0];
    assert_eq!(mtx.kind, MedicationKind::Agreement);
    assert_eq!(
        mtx.drug.code.as_ref().unwrap().code.as_deref(),
        Some("2033666")
    );
    assert_eq!(mtx.prescriber.as_deref(), Some("R. Jansen"));
    assert_eq!(
        mtx.start,
        Some(Moment::Day(NaiveDate::from_ymd_opt(2016, 3, 6).unwrap()))
    );
    assert_eq!(mtx.end, None);
    let d = &mtx.dosages[0];
    assert_eq!(d.dose.as_deref(), Some("15 mg"));
    assert_eq!(d.schedule.days_of_week, vec!["mon".to_owned()]);
    assert_eq!(d.schedule.when, vec!["AFT".to_owned()]);
    assert_eq!(
        d.schedule.text.as_deref(),
        Some("1 x per week, op maandag, 's middags")
    );
    assert_eq!(
        d.text.as_deref(),
        Some("Vanaf 6 maart 2016 1x per week op maandag om 14uur 15 mg (=0,6 ml)")
    );
    assert_eq!(
        mtx.reason.as_deref(),
        Some("Medicatie gestart, Reumatoïde Artritis")
    );

    let panto = treatment(jo, "PANTOPRAZOL 40MG INJPDR").lead_lines()[0];
    assert_eq!(panto.kind, MedicationKind::Use);
    assert_eq!(panto.dosages[0].dose.as_deref(), Some("40 mg"));
    assert_eq!(
        panto.dosages[0].schedule.times_of_day,
        vec![NaiveTime::from_hms_opt(8, 0, 0).unwrap()]
    );

    // Lisinopril carries MP9 2.x stop type 113381000146106, which is SNOMED "drug therapy
    // temporarily stopped", with the display "Drug therapy definitively stopped": read as
    // paused since its stop date, and never shown as a plain line — it says it could not
    // be fully read.
    let lis = treatment(jo, "LISINOPRIL 10MG TABLET");
    assert_eq!(
        lis.state,
        TreatmentState::Paused {
            since: Some(Moment::Day(NaiveDate::from_ymd_opt(2016, 9, 18).unwrap())),
            resumes: None
        }
    );
    assert!(matches!(
        lis.unreadable.as_slice(),
        [Unreadable::StopTypeDisplayConflict(_)]
    ));
    // Paracetamol administration agreement: 4 weeks from 2012-05-02, long over; the
    // paracetamol use of May 2014 too. Both are history, never current.
    let ended = |id: &str| {
        jo.medication
            .items()
            .iter()
            .find(|t| t.blocks.iter().any(|b| b.id.ends_with(id)))
            .map(|t| t.state.clone())
    };
    assert_eq!(
        ended("nl-core-AdministrationAgreement-01"),
        Some(TreatmentState::Ended {
            on: Some(Moment::Day(NaiveDate::from_ymd_opt(2012, 5, 29).unwrap()))
        })
    );
    assert_eq!(
        ended("nl-core-MedicationUse2-01"),
        Some(TreatmentState::Ended {
            on: Some(Moment::Day(NaiveDate::from_ymd_opt(2014, 5, 31).unwrap()))
        })
    );
    assert_eq!(current(jo).len(), 3);
    // A plain dispense without dosage is not an administration agreement.
    assert_eq!(
        reason_of(&r, "nl-core-MedicationDispense-01"),
        NotShownReason::UnsupportedType
    );
    // An administration agreement without any medication is invalid.
    assert_eq!(
        reason_of(
            &r,
            "nl-core-MedicationAdministration2-02-MedicationDispense-01"
        ),
        NotShownReason::Invalid
    );
}

#[test]
fn administration_agreement_while_running_shows_as_needed_paracetamol() {
    let r = nictiz("2012-05-10T10:00:00Z");
    let jo = patient(&r, "111222333");
    let t = jo
        .medication
        .items()
        .iter()
        .find(|m| m.lead_kind() == MedicationKind::AdministrationAgreement)
        .unwrap();
    assert!(matches!(t.state, TreatmentState::Current { .. }));
    let ta = t.lead_lines()[0];
    assert_eq!(ta.drug.name, "PARACETAMOL 500MG TABLET");
    assert_eq!(ta.prescriber.as_deref(), Some("Apotheek De Gulle Gaper"));
    assert_eq!(ta.category.as_deref(), Some("toedieningsafspraak"));
    assert_eq!(
        ta.start,
        Some(Moment::Day(NaiveDate::from_ymd_opt(2012, 5, 2).unwrap()))
    );
    assert_eq!(
        ta.end,
        Some(Moment::Day(NaiveDate::from_ymd_opt(2012, 5, 29).unwrap()))
    );
    assert_eq!(
        ta.based_on.as_deref(),
        Some("MedicationRequest/nl-core-AdministrationAgreement-01-MedicationRequest-01")
    );
    let d = &ta.dosages[0];
    assert_eq!(d.dose.as_deref(), Some("1 stuk"));
    assert_eq!(d.route.as_deref(), Some("oraal"));
    assert_eq!(
        d.as_needed.as_ref().and_then(|a| a.condition.as_deref()),
        Some("Bij pijn")
    );
    assert_eq!(
        d.schedule.text.as_deref(),
        Some("max. 4 x per dag, gedurende 4 weken, zo nodig bij pijn")
    );
    assert_eq!(
        d.text.as_deref(),
        Some("Vanaf 2 mei gedurende 4 weken zo nodig bij pijn 500 mg (=1 st), max. 4x per dag")
    );
}

#[test]
fn administrations_inside_72_hours_are_shown_older_ones_reported() {
    let r = nictiz("2014-06-04T12:00:00Z");
    let jo = patient(&r, "111222333");
    let a = jo.administrations.items();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].drug, "PANTOPRAZOL MYLAN TABLET MSR 20MG");
    assert_eq!(a[0].dose.as_deref(), Some("1 stuk"));
    assert_eq!(a[0].route.as_deref(), Some("Oraal"));
    assert_eq!(a[0].status.as_deref(), Some("completed"));
    assert_eq!(
        reason_of(&r, "nl-core-MedicationAdministration2-02"),
        NotShownReason::OutsideTimeWindow
    );
}

#[test]
fn report_accounts_for_all_67_resources() {
    let r = nictiz(NOW);
    assert!(r.report.is_balanced());
    assert_eq!(r.report.total_input(), 67);
    // The encounter has no subject: it cannot be placed with a patient.
    assert_eq!(
        reason_of(&r, "nl-core-Encounter-01"),
        NotShownReason::UnresolvedReference
    );
    assert_eq!(
        reason_of(&r, "nl-core-Encounter-01-Location-01"),
        NotShownReason::ReferencedOnly
    );
    // Vitals and labs from 2012-2021 are outside the observation window.
    assert_eq!(
        reason_of(&r, "nl-core-BloodPressure-01"),
        NotShownReason::OutsideTimeWindow
    );
    let c = &r.report.by_type["Observation"];
    assert_eq!((c.input, c.mapped), (9, 0));
    assert!(matches!(
        patient(&r, "111222333").vitals,
        Listed::NotRecorded
    ));
}

#[test]
fn vitals_inside_the_window_show_blood_pressure_as_systolic_over_diastolic() {
    let r = nictiz("2013-02-09T06:00:00Z");
    let jo = patient(&r, "111222333");
    let bp = jo
        .vitals
        .items()
        .iter()
        .find(|m| m.name == "Blood pressure panel with all children optional")
        .unwrap();
    assert_eq!(bp.value, "125/75 mmHg");
}
