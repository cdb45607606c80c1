//! The patient's identity and stay: the Patient resource (names, BSN, patient number,
//! contact details), the Conditions, and the Encounter that puts them in their bed.

use super::super::clinical::{self, SPECIALTY_SYSTEM};
use super::super::fhirout::{
    SNOMED, code_spec, coding, concept, date, datetime, meta, reference, text_concept,
};
use super::super::names::{DutchName, Gender};
use super::ctx::*;
use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::json;

pub(super) fn patient_resource(
    cx: &mut Ctx<'_, '_>,
    name: &DutchName,
    gender: Gender,
    birth: NaiveDate,
    slot: &Slot,
) {
    let mut identifier = Vec::new();
    if let Some(bsn) = &slot.bsn {
        identifier.push(json!({"system": BSN_SYSTEM, "value": bsn}));
    }
    identifier.push(json!({
        "type": {"coding": [coding("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number")]},
        "system": PATIENT_NUMBER_SYSTEM,
        "value": slot.patient_number
    }));
    let (gcode, gdisp) = match gender {
        Gender::Female => ("F", "Female"),
        Gender::Male => ("M", "Male"),
    };
    const CITIES: &[(&str, &str)] = &[
        ("Utrecht", "3511"),
        ("Amersfoort", "3811"),
        ("Zeist", "3701"),
        ("Nieuwegein", "3431"),
        ("Houten", "3991"),
        ("De Bilt", "3731"),
        ("IJsselstein", "3401"),
    ];
    const STREETS: &[&str] = &[
        "Dorpsstraat",
        "Kerkstraat",
        "Molenweg",
        "Stationsweg",
        "Julianalaan",
        "Beatrixstraat",
        "Eikenlaan",
    ];
    let (city, pc) = CITIES
        .choose(cx.rng)
        .copied()
        .unwrap_or(("Utrecht", "3511"));
    let street = STREETS.choose(cx.rng).copied().unwrap_or("Dorpsstraat");
    let house = cx.rng.gen_range(1..200).to_string();
    let letters: String = (0..2)
        .map(|_| char::from(b'A' + cx.rng.gen_range(0..26u8)))
        .collect();
    let phone = format!("+316{:08}", cx.rng.gen_range(10_000_000..99_999_999u32));
    let res = json!({
        "resourceType": "Patient",
        "id": cx.patient_id,
        "meta": meta("nl-core-Patient"),
        "identifier": identifier,
        "active": true,
        "name": name.fhir(),
        "telecom": [{
            "_system": code_spec("http://terminology.hl7.org/CodeSystem/v3-AddressUse", "MC", "Mobile Phone"),
            "system": "phone",
            "value": phone
        }],
        "gender": gender.fhir(),
        "_gender": code_spec("http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender", gcode, gdisp),
        "birthDate": date(birth),
        "deceasedBoolean": false,
        "address": [{
            "extension": [{
                "url": "http://nictiz.nl/fhir/StructureDefinition/ext-AddressInformation.AddressType",
                "valueCodeableConcept": {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-AddressUse", "HP", "Primary Home")]}
            }],
            "use": "home",
            "type": "both",
            "line": [format!("{street} {house}")],
            "_line": [{"extension": [
                {"url": "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-streetName", "valueString": street},
                {"url": "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-houseNumber", "valueString": house}
            ]}],
            "city": city,
            "postalCode": format!("{pc} {letters}"),
            "country": "Nederland",
            "_country": code_spec("urn:iso:std:iso:3166", "NL", "Nederland")
        }]
    });
    let id = cx.patient_id.clone();
    cx.push(id, res);
}

pub(super) fn condition_resource(
    cx: &mut Ctx<'_, '_>,
    def: &clinical::ConditionDef,
    onset: DateTime<Utc>,
    admission_reason: bool,
) -> String {
    let id = cx.id();
    let code = match def.snomed {
        Some(c) => concept(SNOMED, c, def.name),
        None => text_concept(def.name),
    };
    let res = json!({
        "resourceType": "Condition",
        "id": id,
        "meta": meta("nl-core-Problem"),
        "clinicalStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active")]},
        "verificationStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed")]},
        "category": [{"coding": [coding(SNOMED, "282291009", "Diagnose")]}],
        "code": code,
        "subject": cx.patient_ref(),
        "onsetDateTime": if admission_reason { datetime(onset) } else { date(local_date(onset)) },
    });
    cx.push(id.clone(), res);
    id
}

pub(super) fn encounter_resource(
    cx: &mut Ctx<'_, '_>,
    slot: &Slot,
    admitted: DateTime<Utc>,
    physician: Option<&(String, String)>,
    reason: Option<(String, &clinical::ConditionDef)>,
) {
    let sh = cx.sh;
    let mut res = json!({
        "resourceType": "Encounter",
        "id": cx.encounter_id,
        "meta": meta("nl-core-Encounter"),
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP", "display": "Inpatient"},
        "serviceType": concept(SPECIALTY_SYSTEM, sh.specialty.code, sh.specialty.name),
        "subject": cx.patient_ref(),
        "period": {"start": datetime(admitted)},
        "hospitalization": {"admitSource": concept(SNOMED, "264362003", "Thuis")},
        "location": [{
            "location": reference(&slot.bed_id, "Location", &slot.bed_name),
            "status": "active",
            "physicalType": concept("http://terminology.hl7.org/CodeSystem/location-physical-type", "bd", "Bed"),
            "period": {"start": datetime(admitted)}
        }],
        "serviceProvider": reference(&sh.hospital.0, "Organization", &sh.hospital.1),
    });
    if let Some(o) = res.as_object_mut() {
        if let Some((role, disp)) = physician {
            o.insert(
                "participant".into(),
                json!([{
                    "type": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "ATND", "attender")], "text": "Hoofdbehandelaar"}],
                    "individual": reference(role, "PractitionerRole", disp)
                }]),
            );
        }
        if let Some((cid, def)) = reason {
            let code = match def.snomed {
                Some(c) => concept(SNOMED, c, def.name),
                None => text_concept(def.name),
            };
            o.insert("reasonCode".into(), json!([code]));
            o.insert(
                "reasonReference".into(),
                json!([reference(&cid, "Condition", def.name)]),
            );
        }
    }
    let id = cx.encounter_id.clone();
    cx.push(id, res);
}
