//! Vitals and lab results over the stay, as Observations.

use super::super::clinical::LABS;
use super::super::fhirout::{LOINC, coding, datetime, meta, num, quantity};
use super::super::names::Gender;
use super::ctx::*;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde_json::{Value, json};

fn observation(
    cx: &mut Ctx<'_, '_>,
    profile: &str,
    category: (&str, &str),
    code: Value,
    at: DateTime<Utc>,
    value: Option<Value>,
    extra: Option<(&str, Value)>,
) {
    let id = cx.id();
    let mut res = json!({
        "resourceType": "Observation",
        "id": id,
        "meta": meta(profile),
        "status": "final",
        "category": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/observation-category", category.0, category.1)]}],
        "code": code,
        "subject": cx.patient_ref(),
        "encounter": cx.encounter_ref(),
        "effectiveDateTime": datetime(at),
    });
    if let Some(o) = res.as_object_mut() {
        if let Some(v) = value {
            o.insert("valueQuantity".into(), v);
        }
        if let Some((k, v)) = extra {
            o.insert(k.into(), v);
        }
    }
    cx.push(id, res);
}

pub(super) fn vitals(cx: &mut Ctx<'_, '_>, admitted: DateTime<Utc>, age: i64) {
    let now = cx.sh.now;
    let sys0 = 115.0 + (age as f64 - 40.0).max(0.0) * 0.5 + normal(cx.rng) * 12.0;
    let hr0 = 78.0 + normal(cx.rng) * 10.0;
    let t0 = 37.0 + normal(cx.rng).abs() * 0.5;
    let spo0 = 96.0 - normal(cx.rng).abs() * 2.0;
    let weight = round(72.0 + normal(cx.rng) * 14.0, 1).clamp(40.0, 160.0);
    let from = (now - Duration::hours(72)).max(admitted);
    let mut rounds = vec![admitted + Duration::minutes(20)];
    let mut day = local_date(from);
    while day <= local_date(now) {
        for t in ["07:00", "15:00", "22:00"] {
            if let Some(at) = hm(t).and_then(|t| local(day, t)) {
                let at = at + Duration::minutes(cx.rng.gen_range(0..45));
                if at > from && at <= now && at > admitted + Duration::hours(1) {
                    rounds.push(at);
                }
            }
        }
        day = match day.succ_opt() {
            Some(n) => n,
            None => break,
        };
    }
    for at in rounds {
        let sys = (sys0 + normal(cx.rng) * 8.0).round();
        let dia = (sys * 0.6 + normal(cx.rng) * 5.0).round();
        let bp = |code: &str, disp: &str, v: f64| {
            json!({
                "code": {"coding": [coding(LOINC, code, disp)]},
                "valueQuantity": quantity(v, "mmHg", "mm[Hg]")
            })
        };
        observation(
            cx,
            "nl-core-BloodPressure",
            ("vital-signs", "Vital Signs"),
            json!({"coding": [coding(LOINC, "85354-9", "Blood pressure panel with all children optional")], "text": "Bloeddruk"}),
            at,
            None,
            Some((
                "component",
                json!([
                    bp("8480-6", "Systolic blood pressure", sys),
                    bp("8462-4", "Diastolic blood pressure", dia)
                ]),
            )),
        );
        let hr = (hr0 + normal(cx.rng) * 6.0).round();
        observation(
            cx,
            "nl-core-HeartRate",
            ("vital-signs", "Vital Signs"),
            json!({"coding": [coding(LOINC, "8867-4", "Heart rate")], "text": "Hartfrequentie"}),
            at,
            Some(quantity(hr, "/min", "/min")),
            None,
        );
        if cx.rng.gen_bool(0.8) {
            let t = round(t0 + normal(cx.rng) * 0.3, 1);
            observation(
                cx,
                "nl-core-BodyTemperature",
                ("vital-signs", "Vital Signs"),
                json!({"coding": [coding(LOINC, "8310-5", "Body temperature")], "text": "Temperatuur"}),
                at,
                Some(quantity(t, "°C", "Cel")),
                None,
            );
        }
        let spo = (spo0 + normal(cx.rng)).round().min(100.0);
        observation(
            cx,
            "nl-core-O2Saturation",
            ("vital-signs", "Vital Signs"),
            json!({"coding": [coding(LOINC, "2708-6", "Oxygen saturation in Arterial blood"), coding(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")], "text": "Saturatie"}),
            at,
            Some(quantity(spo, "%", "%")),
            None,
        );
    }
    let mut w_at = admitted + Duration::minutes(25);
    while w_at <= now {
        let w = round(weight + normal(cx.rng) * 0.4, 1);
        observation(
            cx,
            "nl-core-BodyWeight",
            ("vital-signs", "Vital Signs"),
            json!({"coding": [coding(LOINC, "29463-7", "Body weight")], "text": "Gewicht"}),
            w_at,
            Some(quantity(w, "kg", "kg")),
            None,
        );
        w_at += Duration::days(3);
    }
}

pub(super) fn labs(cx: &mut Ctx<'_, '_>, admitted: DateTime<Utc>, gender: Gender) {
    let now = cx.sh.now;
    let mut draws = vec![admitted + Duration::minutes(40)];
    let mut day = local_date(admitted)
        .succ_opt()
        .unwrap_or(local_date(admitted));
    let mut k = 0;
    while day <= local_date(now) {
        if k % 2 == 1
            && let Some(at) = hm("06:30").and_then(|t| local(day, t))
            && at <= now
            && now - at < Duration::days(6)
        {
            draws.push(at + Duration::minutes(cx.rng.gen_range(0..30)));
        }
        k += 1;
        day = match day.succ_opt() {
            Some(n) => n,
            None => break,
        };
    }
    let means: Vec<f64> = LABS
        .iter()
        .map(|l| l.mean + normal(cx.rng) * l.sd)
        .collect();
    for at in draws {
        for (l, m) in LABS.iter().zip(&means) {
            let v = round(
                (m + normal(cx.rng) * l.sd * 0.2).max(if l.upper_only {
                    0.5
                } else {
                    l.mean * 0.3
                }),
                l.decimals,
            );
            let (lo, hi) = match gender {
                Gender::Female => l.range_f,
                Gender::Male => l.range_m,
            };
            let interp = if v > hi {
                Some(("H", "High"))
            } else if v < lo && !l.upper_only {
                Some(("L", "Low"))
            } else {
                None
            };
            let mut range = serde_json::Map::new();
            if !l.upper_only {
                range.insert("low".into(), quantity(lo, l.unit, l.ucum));
            }
            range.insert("high".into(), quantity(hi, l.unit, l.ucum));
            let id = cx.id();
            let mut res = json!({
                "resourceType": "Observation",
                "id": id,
                "meta": meta("nl-core-LaboratoryTestResult"),
                "status": "final",
                "category": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory")]}],
                "code": {"coding": [coding(LOINC, l.loinc, l.display)], "text": l.display},
                "subject": cx.patient_ref(),
                "encounter": cx.encounter_ref(),
                "effectiveDateTime": datetime(at),
                "valueQuantity": {"value": num(v), "unit": l.unit, "system": super::super::fhirout::UCUM, "code": l.ucum},
                "referenceRange": [Value::Object(range)],
            });
            if let (Some((c, disp)), Some(o)) = (interp, res.as_object_mut()) {
                o.insert(
                    "interpretation".into(),
                    json!([{"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", c, disp)]}]),
                );
            }
            cx.push(id, res);
        }
    }
}
