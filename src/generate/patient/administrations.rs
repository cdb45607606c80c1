//! Administrations of one treatment over the last ~80 hours at its schedule's local times
//! (as-needed drugs at least once in the last day); one dose per patient in the last day is
//! recorded as not given.

use super::super::drugs::{Drug, Sched};
use super::super::fhirout::{SNOMED, coding, datetime, meta, quantity, reference};
use super::ctx::*;
use super::mp9::*;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use rand::Rng;
use serde_json::json;

/// How far back administrations go: beyond the 72-hour window on purpose, so that the
/// mapper's window is exercised.
const ADMIN_HISTORY_HOURS: i64 = 80;

/// Local clock times at which a scheduled drug is given (ward default times for
/// frequency-only schedules); empty for as-needed.
fn slot_times(s: &Sched) -> Vec<&'static str> {
    match s {
        Sched::Times(t) => t.to_vec(),
        Sched::Freq {
            count,
            unit: "d",
            period: 1,
        } => match count {
            1 => vec!["08:00"],
            2 => vec!["08:00", "20:00"],
            3 => vec!["08:00", "14:00", "20:00"],
            _ => vec!["08:00", "12:00", "17:00", "22:00"],
        },
        _ => Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn administrations(
    cx: &mut Ctx<'_, '_>,
    treatment: &str,
    d: &Drug,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    med_id: &str,
    req_id: &str,
    dispense_id: Option<&str>,
) {
    let now = cx.sh.now;
    let from = (now - Duration::hours(ADMIN_HISTORY_HOURS)).max(start);
    let until = end.map_or(now, |e| e.min(now));
    if from >= until {
        return;
    }
    let mut planned: Vec<DateTime<Utc>> = Vec::new();
    let times = slot_times(&d.sched);
    if times.is_empty() {
        // As needed: on some days once or twice.
        let mut day = local_date(from);
        while day <= local_date(until) {
            if cx.rng.gen_bool(0.45) {
                for _ in 0..cx.rng.gen_range(1..=2) {
                    let t = NaiveTime::from_hms_opt(
                        cx.rng.gen_range(6..23),
                        cx.rng.gen_range(0..60),
                        0,
                    );
                    if let Some(at) = t.and_then(|t| local(day, t)) {
                        planned.push(at);
                    }
                }
            }
            day = match day.succ_opt() {
                Some(n) => n,
                None => break,
            };
        }
        // Every as-needed drug was given at least once in the last day (the MAR's as-needed
        // block shows a recorded dose), without drawing from the generator's sequence.
        let day_ago = now - Duration::hours(24);
        if !planned
            .iter()
            .any(|t| *t >= day_ago && *t <= now - Duration::minutes(45))
        {
            let at = now - Duration::hours(3);
            if at >= from {
                planned.push(at);
            }
        }
        planned.sort();
    } else {
        let mut day = local_date(from);
        while day <= local_date(until) {
            for t in &times {
                if let Some(at) = hm(t).and_then(|t| local(day, t)) {
                    planned.push(at);
                }
            }
            day = match day.succ_opt() {
                Some(n) => n,
                None => break,
            };
        }
    }
    for slot in planned {
        if slot < from || slot > until {
            continue;
        }
        // The most recent dose may not have been signed off yet.
        if now - slot < Duration::minutes(45) && cx.rng.gen_bool(0.5) {
            continue;
        }
        let random_not_done = !d.sched.is_as_needed() && cx.rng.gen_bool(0.04);
        // One dose per patient in the last day is recorded as not given (see Ctx).
        let forced = !random_not_done
            && !cx.not_given_shown
            && !d.sched.is_as_needed()
            && slot >= now - Duration::hours(24)
            && slot <= now - Duration::minutes(45);
        let not_done = random_not_done || forced;
        if not_done && slot >= now - Duration::hours(24) {
            cx.not_given_shown = true;
        }
        let given = if d.sched.is_as_needed() {
            slot
        } else {
            (slot + Duration::minutes(cx.rng.gen_range(-15..35))).min(until)
        };
        let nurse = cx.nurse();
        let id = cx.id();
        let mut res = json!({
            "resourceType": "MedicationAdministration",
            "id": id,
            "meta": meta("nl-core-MedicationAdministration2"),
            "extension": [
                {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-MedicationAdministration2.AgreedDateTime", "valueDateTime": datetime(slot)},
                {"url": "http://nictiz.nl/fhir/StructureDefinition/ext-MedicationAdministration2.DeviatingAdministration", "valueBoolean": not_done},
                treatment_ext(treatment)
            ],
            "status": if not_done { "not-done" } else { "completed" },
            "category": {"coding": [coding(SNOMED, "18629005", "toediening van medicatie")]},
            "medicationReference": reference(med_id, "Medication", d.name),
            "subject": cx.patient_ref(),
            "context": cx.encounter_ref(),
            "effectiveDateTime": datetime(given),
            "request": reference(req_id, "MedicationRequest", "Medicatieafspraak"),
            "dosage": {
                "route": d.route.concept(),
                "dose": quantity(d.dose, d.unit, d.ucum)
            }
        });
        if let Some(o) = res.as_object_mut() {
            if let Some((nid, ndisp)) = nurse {
                o.insert(
                    "performer".into(),
                    json!([{"actor": reference(&nid, "Practitioner", &ndisp)}]),
                );
            }
            if let Some(disp) = dispense_id {
                o.insert(
                    "supportingInformation".into(),
                    json!([reference(disp, "MedicationDispense", "Toedieningsafspraak")]),
                );
            }
            if forced {
                o.insert(
                    "statusReason".into(),
                    json!([{"text": "Patiënt nuchter voor onderzoek"}]),
                );
            } else if not_done {
                let reason = match cx.rng.gen_range(0..3) {
                    0 => {
                        json!({"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ActReason", "PREFUS", "Patient refuse")], "text": "Patiënt weigert"})
                    }
                    1 => json!({"text": "Patiënt nuchter voor onderzoek"}),
                    _ => json!({"text": "Patiënt niet op afdeling (onderzoek)"}),
                };
                o.insert("statusReason".into(), json!([reason]));
            }
        }
        cx.push(id, res);
    }
}
