//! The people and things around the patient: contact persons (RelatedPerson) and
//! devices (Device with its use statement).

use super::super::clinical::DEVICES;
use super::super::fhirout::{
    SNOMED, code_spec, coding, concept, date, datetime, meta, reference, text_concept,
};
use super::super::names::{DutchName, Gender};
use super::ctx::*;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde_json::{Value, json};

pub(super) fn contacts(cx: &mut Ctx<'_, '_>, age: i64) {
    if cx.rng.gen_bool(0.1) {
        return;
    }
    let n = if cx.rng.gen_bool(0.6) { 1 } else { 2 };
    for i in 0..n {
        let (rel_code, rel_disp, gender) = match (age, cx.rng.gen_range(0..4)) {
            (0..=40, 0) => ("MTH", "moeder", Gender::Female),
            (_, 0 | 1) => (
                "SPS",
                "echtgeno(o)t(e)",
                if cx.rng.gen_bool(0.5) {
                    Gender::Female
                } else {
                    Gender::Male
                },
            ),
            (_, 2) => ("DAU", "dochter", Gender::Female),
            _ => ("SON", "zoon", Gender::Male),
        };
        let name = DutchName::random(cx.rng, gender, false);
        let (order_code, order_disp) = if i == 0 {
            ("01", "Eerste relatie/contactpersoon")
        } else {
            ("02", "Tweede relatie/contactpersoon")
        };
        let phone = format!("+316{:08}", cx.rng.gen_range(10_000_000..99_999_999u32));
        let id = cx.id();
        let res = json!({
            "resourceType": "RelatedPerson",
            "id": id,
            "meta": meta("nl-core-ContactPerson"),
            "patient": cx.patient_ref(),
            "relationship": [
                {"coding": [coding("urn:oid:2.16.840.1.113883.2.4.3.11.22.472", order_code, order_disp)]},
                {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", rel_code, rel_disp)], "text": rel_disp}
            ],
            "name": [name.fhir().into_iter().next().unwrap_or(Value::Null)],
            "telecom": [{
                "_system": code_spec("http://terminology.hl7.org/CodeSystem/v3-AddressUse", "MC", "Mobile Phone"),
                "system": "phone",
                "value": phone
            }]
        });
        cx.push(id, res);
    }
}

pub(super) fn devices(cx: &mut Ctx<'_, '_>, admitted: DateTime<Utc>, has_iv: bool, age: i64) {
    for def in DEVICES {
        let p = match def.name {
            "Perifeer infuus" if has_iv => 0.95,
            "Perifeer infuus" => 0.3,
            "Pacemaker" if age >= 70 => 0.1,
            "Pacemaker" => 0.02,
            "Urinekatheter (verblijfskatheter)" => 0.15,
            _ => 0.03,
        };
        if !cx.rng.gen_bool(p) {
            continue;
        }
        let since = if def.during_admission {
            admitted + Duration::minutes(cx.rng.gen_range(30..240))
        } else {
            admitted - Duration::days(cx.rng.gen_range(200..3000))
        };
        let since = since.min(cx.sh.now);
        let dev_id = cx.id();
        let dev_type = match def.snomed {
            Some(c) => concept(SNOMED, c, def.name),
            None => text_concept(def.name),
        };
        let dev = json!({
            "resourceType": "Device",
            "id": dev_id,
            "meta": meta("nl-core-MedicalDevice.Product"),
            "type": dev_type,
            "patient": cx.patient_ref(),
            "note": [{"text": def.name}]
        });
        cx.push(dev_id.clone(), dev);
        let id = cx.id();
        let mut res = json!({
            "resourceType": "DeviceUseStatement",
            "id": id,
            "meta": meta("nl-core-MedicalDevice"),
            "status": "active",
            "subject": cx.patient_ref(),
            "timingPeriod": {"start": if def.during_admission { datetime(since) } else { date(local_date(since)) }},
            "device": reference(&dev_id, "Device", def.name),
        });
        if let (Some(site), Some(o)) = (def.body_site, res.as_object_mut()) {
            o.insert("bodySite".into(), json!({"text": site}));
        }
        cx.push(id, res);
    }
}
