//! What must be known before acting: alerts (Flag, isolation and others), allergies (or an
//! explicit "no known allergy", or nothing recorded) and treatment directives (Consent).

use super::super::clinical::{ALLERGENS, AlertDef, ISOLATION_ALERTS, OTHER_ALERTS, REACTIONS};
use super::super::fhirout::{
    LOINC, SNOMED, code_spec, coding, concept, date, datetime, meta, reference, text_concept,
};
use super::ctx::*;
use chrono::{DateTime, Datelike, Duration, Utc};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::json;

fn flag(cx: &mut Ctx<'_, '_>, def: &AlertDef, since: DateTime<Utc>, ended: Option<DateTime<Utc>>) {
    let id = cx.id();
    let code = match def.snomed {
        Some(c) => concept(SNOMED, c, def.text),
        None => text_concept(def.text),
    };
    let mut period = json!({"start": date(local_date(since))});
    if let (Some(e), Some(o)) = (ended, period.as_object_mut()) {
        o.insert("end".into(), json!(date(local_date(e))));
    }
    let res = json!({
        "resourceType": "Flag",
        "id": id,
        "meta": meta("nl-core-Alert"),
        "status": if ended.is_some() { "inactive" } else { "active" },
        "category": [{"coding": [coding(LOINC, "74018-3", "Alert")]}],
        "code": code,
        "subject": cx.patient_ref(),
        "period": period,
    });
    cx.push(id, res);
}

pub(super) fn alerts(cx: &mut Ctx<'_, '_>, age: i64, single_room: bool, admitted: DateTime<Utc>) {
    let p_iso = if single_room { 0.6 } else { 0.03 };
    if cx.rng.gen_bool(p_iso)
        && let Some(def) = ISOLATION_ALERTS.choose(cx.rng)
    {
        let since = admitted - Duration::days(cx.rng.gen_range(0..900));
        flag(cx, def, since, None);
    }
    for def in OTHER_ALERTS {
        let p = if def.snomed == Some("129839007") && age >= 75 {
            0.45
        } else {
            0.07
        };
        if cx.rng.gen_bool(p) {
            let since = admitted - Duration::days(cx.rng.gen_range(0..400));
            // Now and then an alert that has ended: must not show as current.
            let ended = cx
                .rng
                .gen_bool(0.08)
                .then(|| admitted - Duration::days(cx.rng.gen_range(1..30)));
            flag(cx, def, since.min(admitted - Duration::days(31)), ended);
        }
    }
}

pub(super) fn allergies(cx: &mut Ctx<'_, '_>, state: AllergyState, admitted: DateTime<Utc>) {
    let recorded = datetime(admitted + Duration::minutes(cx.rng.gen_range(20..180)));
    match state {
        AllergyState::NotRecorded => {}
        AllergyState::NoneKnown => {
            let id = cx.id();
            let res = json!({
                "resourceType": "AllergyIntolerance",
                "id": id,
                "meta": meta("nl-core-AllergyIntolerance"),
                "clinicalStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active")]},
                "verificationStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed")]},
                "code": {"coding": [coding(SNOMED, "716186003", "No known allergy")], "text": "Geen allergie bekend"},
                "patient": cx.patient_ref(),
                "recordedDate": recorded,
            });
            cx.push(id, res);
        }
        AllergyState::Items => {
            let n = if cx.rng.gen_bool(0.8) { 1 } else { 2 };
            let chosen: Vec<_> = ALLERGENS.choose_multiple(cx.rng, n).copied().collect();
            for a in chosen {
                let id = cx.id();
                let (crit, crit_code, crit_disp) = if cx.rng.gen_bool(0.4) {
                    ("high", "24484000", "Ernstig")
                } else {
                    ("low", "255604002", "Licht")
                };
                let reaction = REACTIONS
                    .choose(cx.rng)
                    .copied()
                    .unwrap_or(("271807003", "Exantheem"));
                let severity = if crit == "high" { "severe" } else { "mild" };
                let intolerance = a.category == "medication" && cx.rng.gen_bool(0.2);
                let code = match a.snomed {
                    Some(c) => concept(SNOMED, c, a.name),
                    None => text_concept(a.name),
                };
                let onset_year = local_date(admitted).year() - cx.rng.gen_range(1..40);
                let mut res = json!({
                    "resourceType": "AllergyIntolerance",
                    "id": id,
                    "meta": meta("nl-core-AllergyIntolerance"),
                    "clinicalStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active")]},
                    "verificationStatus": {"coding": [if cx.rng.gen_bool(0.85) {
                        coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed")
                    } else {
                        coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "unconfirmed", "Unconfirmed")
                    }]},
                    "type": if intolerance { "intolerance" } else { "allergy" },
                    "category": [a.category],
                    "criticality": crit,
                    "_criticality": code_spec(SNOMED, crit_code, crit_disp),
                    "code": code,
                    "patient": cx.patient_ref(),
                    "onsetDateTime": format!("{onset_year}"),
                    "recordedDate": recorded,
                    "reaction": [{
                        "manifestation": [concept(SNOMED, reaction.0, reaction.1)],
                        "severity": severity
                    }]
                });
                if a.name == "Pleisters"
                    && let Some(o) = res.as_object_mut()
                {
                    o.insert(
                        "note".into(),
                        json!([{"text": "Gebruik hypoallergene pleisters"}]),
                    );
                }
                cx.push(id, res);
            }
        }
    }
}

fn consent(
    cx: &mut Ctx<'_, '_>,
    treatment: (&str, &str),
    decision: &str,
    other_text: Option<&str>,
    when: DateTime<Utc>,
    physician: Option<&(String, String)>,
) {
    let id = cx.id();
    let mut actors = vec![json!({
        "role": {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "CONSENTER", "consenter")]},
        "reference": cx.patient_ref()
    })];
    if let Some((role, disp)) = physician {
        actors.push(json!({
            "role": {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "CONSENTER", "consenter")]},
            "reference": reference(role, "PractitionerRole", disp)
        }));
    }
    let mut provision = json!({
        "actor": actors,
        "code": [concept(SNOMED, treatment.0, treatment.1)],
    });
    if decision != "other"
        && let Some(o) = provision.as_object_mut()
    {
        o.insert("type".into(), json!(decision));
    }
    let mut res = json!({
        "resourceType": "Consent",
        "id": id,
        "meta": meta("nl-core-TreatmentDirective2"),
        "status": "active",
        "scope": {"coding": [coding("http://terminology.hl7.org/CodeSystem/consentscope", "treatment", "Treatment")]},
        "category": [{"coding": [coding(SNOMED, "129125009", "verrichting met expliciete context")]}],
        "patient": cx.patient_ref(),
        "dateTime": datetime(when),
        "policy": [{"uri": "https://wetten.overheid.nl/"}],
        "provision": provision,
    });
    if let (Some(text), Some(o)) = (other_text, res.as_object_mut()) {
        o.insert(
            "modifierExtension".into(),
            json!([{
                "url": "http://nictiz.nl/fhir/StructureDefinition/ext-TreatmentDirective2.SpecificationOther",
                "valueString": text
            }]),
        );
    }
    cx.push(id, res);
}

pub(super) fn directives(
    cx: &mut Ctx<'_, '_>,
    age: i64,
    admitted: DateTime<Utc>,
    physician: Option<&(String, String)>,
) {
    let when = admitted + Duration::minutes(cx.rng.gen_range(30..600));
    let when = when.min(cx.sh.now - Duration::minutes(5));
    let p_deny = match age {
        0..=64 => 0.1,
        65..=79 => 0.35,
        _ => 0.65,
    };
    let roll: f64 = cx.rng.r#gen();
    let resus = if roll < 0.05 {
        "other"
    } else if roll < 0.05 + p_deny {
        "deny"
    } else {
        "permit"
    };
    let other_text = (resus == "other").then_some("Eerst overleg met familie en dienstdoende arts");
    consent(
        cx,
        ("89666000", "Cardiopulmonale resuscitatie"),
        resus,
        other_text,
        when,
        physician,
    );
    if resus != "permit" || cx.rng.gen_bool(0.15) {
        let d = if resus == "deny" || cx.rng.gen_bool(0.5) {
            "deny"
        } else {
            "permit"
        };
        consent(cx, ("40617009", "Beademing"), d, None, when, physician);
        let icu = if d == "deny" && cx.rng.gen_bool(0.8) {
            "deny"
        } else {
            "other"
        };
        let t = (icu == "other").then_some("IC-opname alleen na overleg met intensivist");
        consent(
            cx,
            ("305351004", "Opname op intensive care"),
            icu,
            t,
            when,
            physician,
        );
    }
}
