//! Observation → vital signs and laboratory results within the observation window.
//!
//! Vital signs: category `vital-signs` or an nl-core vitals profile; laboratory: category
//! `laboratory` or the nl-core LaboratoryTestResult profile. Other categories (survey,
//! social history, ...) are reported as unsupported. Per test code the newest
//! [`MAX_RESULTS_PER_CODE`] results inside the window are kept; older ones are reported as
//! outside the window.

use super::context::{Ctx, MAX_RESULTS_PER_CODE, Outcome, Skip, push_capped};
use super::json::{self, arr, cc_code, cc_text, obj, str_at};
use super::tree::Value;
use crate::record::IntoText;
use crate::record::{Measurement, NotShownReason};

const VITAL_PROFILES: &[&str] = &[
    "nl-core-BloodPressure",
    "nl-core-BodyTemperature",
    "nl-core-BodyWeight",
    "nl-core-BodyHeight",
    "nl-core-HeartRate",
    "nl-core-O2Saturation",
    "nl-core-RespiratoryRate",
    "nl-core-GlasgowComaScale",
    "nl-core-PainScore",
];

fn profiles<'a>(res: &'a Value<'a>) -> Vec<&'a str> {
    res.get("meta")
        .map(|m| arr(m, "profile").iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// How a UCUM code is printed, for the codes whose print symbol differs. Many exports put
/// the code itself into `Quantity.unit` (the human text), e.g. "Cel" and "mm[Hg]".
fn ucum_print(code: &str) -> Option<&'static str> {
    Some(match code {
        "Cel" => "°C",
        "[degF]" => "°F",
        "mm[Hg]" => "mmHg",
        "cm[H2O]" => "cmH2O",
        "10*3/uL" => "10^3/µL",
        "10*6/uL" => "10^6/µL",
        "10*9/L" => "10^9/L",
        "10*12/L" => "10^12/L",
        "ug" => "µg",
        "ug/L" => "µg/L",
        "ug/mL" => "µg/mL",
        "umol/L" => "µmol/L",
        "uL" => "µL",
        "kg/m2" => "kg/m²",
        "m2" => "m²",
        _ => return None,
    })
}

/// A Quantity's unit as it is shown.
fn shown_unit(q: &Value) -> Option<String> {
    json::quantity_unit(q).map(|u| ucum_print(&u).map_or(u, str::to_owned))
}

/// A measured Quantity as text ("36,8 °C", "< 5 mmol/L") with its shown unit.
fn quantity(q: &Value) -> Option<(String, Option<String>)> {
    let Some(Value::Number(n)) = q.get("value") else {
        return None;
    };
    let comparator = str_at(q, "comparator")
        .map(|c| format!("{c} "))
        .unwrap_or_default();
    let unit = shown_unit(q);
    let text = match &unit {
        Some(u) => format!("{comparator}{} {u}", json::number(n)),
        None => format!("{comparator}{}", json::number(n)),
    };
    Some((text, unit))
}

/// Value of an observation (or a component) as text, with its unit.
fn value(v: &Value) -> Option<(String, Option<String>)> {
    if let Some(q) = obj(v, "valueQuantity") {
        return quantity(q);
    }
    if let Some(cc) = obj(v, "valueCodeableConcept") {
        return cc_text(cc).map(|t| (t, None));
    }
    if let Some(s) = str_at(v, "valueString") {
        return Some((s.to_owned(), None));
    }
    if let Some(b) = v.get("valueBoolean").and_then(Value::as_bool) {
        return Some((if b { "ja" } else { "nee" }.to_owned(), None));
    }
    if let Some(Value::Number(n)) = v.get("valueInteger") {
        return Some((json::number(n), None));
    }
    if let Some(r) = obj(v, "valueRange") {
        return json::range(r).map(|t| (t, None));
    }
    if let Some(r) = obj(v, "valueRatio") {
        return json::ratio(r).map(|t| (t, None));
    }
    if let Some(s) = str_at(v, "valueDateTime").or_else(|| str_at(v, "valueTime")) {
        return Some((s.to_owned(), None));
    }
    None
}

fn measurement_value(res: &Value) -> Option<(String, Option<String>)> {
    if let Some(v) = value(res) {
        return Some(v);
    }
    let comps = arr(res, "component");
    let find = |code: &str| {
        comps
            .iter()
            .find(|c| {
                c.get("code")
                    .is_some_and(|cc| json::has_code(cc, None, code))
            })
            .and_then(|c| obj(c, "valueQuantity"))
    };
    if let (Some(sys), Some(dia)) = (find("8480-6"), find("8462-4"))
        && let (Some(Value::Number(s)), Some(Value::Number(d))) =
            (sys.get("value"), dia.get("value"))
    {
        let unit = shown_unit(sys);
        let text = format!("{}/{}", json::number(s), json::number(d));
        return Some(match &unit {
            Some(u) => (format!("{text} {u}"), unit),
            None => (text, None),
        });
    }
    let parts: Vec<String> = comps
        .iter()
        .take(20)
        .filter_map(|c| {
            let name = c.get("code").and_then(cc_text)?;
            let (v, _) = value(c)?;
            Some(format!("{name}: {v}"))
        })
        .collect();
    if !parts.is_empty() {
        return Some((parts.join("; "), None));
    }
    obj(res, "dataAbsentReason")
        .and_then(cc_text)
        .map(|r| (format!("geen waarde ({r})"), None))
}

fn reference_range(res: &Value) -> Option<String> {
    let r = arr(res, "referenceRange").first()?;
    if let Some(t) = str_at(r, "text") {
        return Some(t.to_owned());
    }
    let text = json::range(r)?;
    let code = r
        .get("high")
        .and_then(json::quantity_unit)
        .or_else(|| r.get("low").and_then(json::quantity_unit));
    Some(
        match code.as_deref().and_then(|c| Some((c, ucum_print(c)?))) {
            Some((c, shown)) => match text.strip_suffix(c) {
                Some(head) => format!("{head}{shown}"),
                None => text,
            },
            None => text,
        },
    )
}

/// Maps one Observation; kept results are settled per code in [`settle`].
pub(super) fn observation(cx: &mut Ctx<'_, '_>, i: usize) -> Outcome {
    match inner(cx, i) {
        Ok(()) => Outcome::Deferred,
        Err(s) => Outcome::NotShown(s),
    }
}

fn inner(cx: &mut Ctx<'_, '_>, i: usize) -> Result<(), Skip> {
    let res = cx
        .entry(i)
        .map(|e| e.res)
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no entry"))?;
    match str_at(res, "status") {
        Some("entered-in-error") => {
            return Err(Skip::new(
                NotShownReason::EnteredInError,
                "status entered-in-error",
            ));
        }
        Some(s @ "cancelled") => {
            return Err(Skip::new(NotShownReason::Inactive, format!("status {s}")));
        }
        _ => {}
    }
    let cat = |code: &str| {
        arr(res, "category")
            .iter()
            .any(|c| json::has_code(c, None, code))
    };
    let profs = profiles(res);
    let vital = cat("vital-signs")
        || profs.iter().any(|p| {
            VITAL_PROFILES
                .iter()
                .any(|v| p.ends_with(v) || p.contains(&format!("{v}.")))
        });
    let lab = cat("laboratory") || profs.iter().any(|p| p.contains("LaboratoryTestResult"));
    if !vital && !lab {
        let c = arr(res, "category")
            .first()
            .and_then(cc_text)
            .unwrap_or_else(|| "none".to_owned());
        return Err(Skip::new(
            NotShownReason::UnsupportedType,
            format!("Observation category {c} is not shown"),
        ));
    }
    let at = {
        let v = res
            .get("effectiveDateTime")
            .or_else(|| res.get("effectiveInstant"))
            .or_else(|| res.get("effectivePeriod").and_then(|p| p.get("start")))
            .or_else(|| res.get("issued"));
        cx.date(i, v, "effective")
    }
    .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no (valid) effective time"))?;
    let since = cx.opts.since(cx.opts.observation_window);
    if super::dates::end_exclusive(&at).is_none_or(|t| t <= since) {
        return Err(Skip::new(
            NotShownReason::OutsideTimeWindow,
            "measured before the observation window",
        ));
    }
    let p = cx.subject(i)?;
    let code = obj(res, "code");
    let name = code
        .and_then(cc_text)
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no code"))?;
    let (value, unit) =
        measurement_value(res).ok_or_else(|| Skip::new(NotShownReason::Invalid, "no value"))?;
    let code_key = code
        .and_then(|c| json::codings(c).first())
        .map(|c| {
            format!(
                "{}|{}",
                str_at(c, "system").unwrap_or(""),
                str_at(c, "code").unwrap_or("")
            )
        })
        .unwrap_or_else(|| name.clone());
    let m = Measurement {
        name: name.text(),
        code: code.and_then(cc_code),
        value: value.text(),
        unit: unit.text(),
        at: Some(at),
        flag: arr(res, "interpretation").first().and_then(|cc| {
            json::codings(cc)
                .iter()
                .find_map(|c| str_at(c, "code"))
                .map(str::to_owned)
                .or_else(|| cc_text(cc))
                .text()
        }),
        reference_range: reference_range(res).text(),
    };
    let b = cx
        .patient(p)
        .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
    b.observations.push((i, vital, code_key, m));
    Ok(())
}

/// Keeps the newest results per code and accounts for every observation held.
pub(super) fn settle(cx: &mut Ctx<'_, '_>) {
    let mut accounts: Vec<(usize, Outcome)> = Vec::new();
    for b in cx.patients.iter_mut() {
        let mut obs = std::mem::take(&mut b.observations);
        obs.sort_by(|x, y| {
            let tx = x.3.at.and_then(|m| m.earliest_utc());
            let ty = y.3.at.and_then(|m| m.earliest_utc());
            ty.cmp(&tx).then(x.0.cmp(&y.0))
        });
        let mut per_code: std::collections::HashMap<(bool, String), usize> =
            std::collections::HashMap::new();
        for (i, vital, key, m) in obs {
            let n = per_code.entry((vital, key)).or_insert(0);
            *n += 1;
            if *n > MAX_RESULTS_PER_CODE {
                accounts.push((
                    i,
                    Outcome::NotShown(Skip::new(
                        NotShownReason::OutsideTimeWindow,
                        format!(
                            "older than the newest {MAX_RESULTS_PER_CODE} results of this test"
                        ),
                    )),
                ));
                continue;
            }
            let list = if vital {
                &mut b.rec.vitals
            } else {
                &mut b.rec.labs
            };
            accounts.push((i, push_capped(list, m).into()));
        }
    }
    for (i, o) in accounts {
        cx.account(i, o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::tree::tree_json as json;

    #[test]
    fn ucum_codes_in_the_unit_are_printed_as_people_write_them() {
        // sekmet (and many exports) copy the UCUM code into Quantity.unit.
        let t = json!({"valueQuantity": {"value": 36.8, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"}});
        assert_eq!(
            value(&t),
            Some(("36,8 °C".to_owned(), Some("°C".to_owned())))
        );
        let wbc = json!({"valueQuantity": {"value": 6.1, "code": "10*3/uL"}});
        assert_eq!(value(&wbc).unwrap().0, "6,1 10^3/µL");
        let plain = json!({"valueQuantity": {"value": 5, "comparator": "<", "unit": "mmol/L"}});
        assert_eq!(value(&plain).unwrap().0, "< 5 mmol/L");
        let bp = json!({"component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 120, "unit": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 80, "unit": "mm[Hg]"}}]});
        assert_eq!(measurement_value(&bp).unwrap().0, "120/80 mmHg");
        let rr = json!({"referenceRange": [{"low": {"value": 36.4, "unit": "Cel"}, "high": {"value": 37.4, "unit": "Cel"}}]});
        assert_eq!(reference_range(&rr).as_deref(), Some("36,4-37,4 °C"));
    }
}
