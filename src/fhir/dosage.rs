//! FHIR Dosage (MP9 InstructionsForUse / Gebruiksinstructie) → [`Dosage`], with a Dutch
//! rendering of the schedule in `Schedule.text` ("1 x per week, op maandag, 's middags",
//! "3 x per dag, om 08:00, 14:00, 20:00", "zo nodig bij pijn", "max. 4 x per dag").
//!
//! Read: text, sequence, doseAndRate[0].doseQuantity / doseRange, route, timing.repeat
//! (frequency, frequencyMax, period, periodUnit, timeOfDay, when, dayOfWeek,
//! boundsDuration, count), timing.code, asNeededBoolean / asNeededCodeableConcept,
//! maxDosePerPeriod. Rates (rateQuantity/rateRatio) are shown as "snelheid …" in the dose.

use super::json::{arr, cc_text, number, obj, quantity, quantity_of, range, ratio, str_at};
use super::tree::Value;
use crate::record::{AsNeeded, Dosage, Frequency, Schedule};
use crate::record::{IntoText, Text};
use chrono::NaiveTime;

/// Longest list of times/days kept per schedule.
const MAX_SCHEDULE_ITEMS: usize = 48;

/// Dutch name of a UCUM time unit, singular/plural.
fn unit_nl(unit: &str, plural: bool) -> String {
    let (s, p) = match unit {
        "s" => ("seconde", "seconden"),
        "min" => ("minuut", "minuten"),
        "h" => ("uur", "uur"),
        "d" => ("dag", "dagen"),
        "wk" => ("week", "weken"),
        "mo" => ("maand", "maanden"),
        "a" => ("jaar", "jaar"),
        other => (other, other),
    };
    if plural { p } else { s }.to_owned()
}

fn when_nl(code: &str) -> String {
    match code {
        "MORN" | "MORN.early" | "MORN.late" => "'s ochtends",
        "NOON" => "'s middags om 12 uur",
        "AFT" | "AFT.early" | "AFT.late" => "'s middags",
        "EVE" | "EVE.early" | "EVE.late" => "'s avonds",
        "NIGHT" => "'s nachts",
        "PHS" | "HS" => "voor het slapengaan",
        "WAKE" => "bij het opstaan",
        "C" => "bij de maaltijd",
        "CM" => "bij het ontbijt",
        "CD" => "bij de lunch",
        "CV" => "bij het avondeten",
        "AC" => "voor de maaltijd",
        "ACM" => "voor het ontbijt",
        "ACD" => "voor de lunch",
        "ACV" => "voor het avondeten",
        "PC" => "na de maaltijd",
        "PCM" => "na het ontbijt",
        "PCD" => "na de lunch",
        "PCV" => "na het avondeten",
        other => other,
    }
    .to_owned()
}

fn day_nl(code: &str) -> String {
    match code {
        "mon" => "maandag",
        "tue" => "dinsdag",
        "wed" => "woensdag",
        "thu" => "donderdag",
        "fri" => "vrijdag",
        "sat" => "zaterdag",
        "sun" => "zondag",
        other => other,
    }
    .to_owned()
}

fn small_uint(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n <= 100_000)
}

fn period_phrase(period: Option<&Value>, unit: &str) -> String {
    match period.and_then(Value::as_number) {
        Some(n) if n.as_f64() == Some(1.0) => unit_nl(unit, false),
        Some(n) => format!("{} {}", number(n), unit_nl(unit, true)),
        None => unit_nl(unit, false),
    }
}

/// The "zo nodig" phrase for a condition ("Bij pijn" → "zo nodig bij pijn").
pub(super) fn as_needed_text(condition: Option<&str>) -> String {
    match condition {
        None => "zo nodig".to_owned(),
        Some(c) => {
            let rest = match c.get(..4) {
                Some(head) if head.eq_ignore_ascii_case("bij ") => c.get(4..).unwrap_or(""),
                _ => c,
            };
            let mut chars = rest.chars();
            let first: String = chars
                .next()
                .map(|f| f.to_lowercase().collect())
                .unwrap_or_default();
            format!("zo nodig bij {first}{}", chars.as_str())
        }
    }
}

/// Maps one Dosage element.
pub(super) fn dosage(d: &Value) -> Dosage {
    let mut out = Dosage {
        text: str_at(d, "text").map(str::to_owned).text(),
        sequence: small_uint(d.get("sequence")),
        route: d.get("route").and_then(cc_text).text(),
        ..Dosage::default()
    };
    // R4 puts dose and rate in doseAndRate; STU3 (zib2017) on the Dosage itself.
    let dose_holder = arr(d, "doseAndRate").first().or_else(|| {
        [
            "doseQuantity",
            "doseRange",
            "rateQuantity",
            "rateRatio",
            "rateRange",
        ]
        .iter()
        .any(|k| d.get(k).is_some())
        .then_some(d)
    });
    if let Some(dr) = dose_holder {
        out.dose_quantity = dr.get("doseQuantity").and_then(quantity_of);
        out.dose_range = dr.get("doseRange").map(|r| {
            (
                r.get("low").and_then(quantity_of),
                r.get("high").and_then(quantity_of),
            )
        });
        let dose = dr
            .get("doseQuantity")
            .and_then(quantity)
            .or_else(|| dr.get("doseRange").and_then(range));
        let rate = dr
            .get("rateQuantity")
            .and_then(quantity)
            .or_else(|| dr.get("rateRatio").and_then(ratio))
            .or_else(|| dr.get("rateRange").and_then(range))
            .map(|r| format!("snelheid {r}"));
        out.dose = match (dose, rate) {
            (Some(d), Some(r)) => Some(format!("{d}, {r}")),
            (d, r) => d.or(r),
        }
        .text();
    }
    let max = arr(d, "maxDosePerPeriod")
        .first()
        .or_else(|| d.get("maxDosePerPeriod").filter(|v| v.is_object()));
    out.max_per_period = max.and_then(|r| {
        Some(crate::record::MaxDose {
            quantity: quantity_of(r.get("numerator")?)?,
            per: quantity_of(r.get("denominator")?)?,
        })
    });
    out.max_dose = max.and_then(|r| {
        let n = quantity(r.get("numerator")?)?;
        let den = r.get("denominator")?;
        let unit = str_at(den, "code").or_else(|| str_at(den, "unit"))?;
        Some(Text::new(format!(
            "max. {n} per {}",
            period_phrase(den.get("value"), unit)
        )))
    });
    if d.get("asNeededBoolean").and_then(Value::as_bool) == Some(true) {
        out.as_needed = Some(AsNeeded { condition: None });
    } else if let Some(cc) = obj(d, "asNeededCodeableConcept") {
        out.as_needed = Some(AsNeeded {
            condition: cc_text(cc).text(),
        });
    }

    let mut sched = Schedule::default();
    let mut phrases: Vec<String> = Vec::new();
    if let Some(timing) = obj(d, "timing") {
        if let Some(code) = timing.get("code").and_then(cc_text) {
            phrases.push(code);
        }
        if let Some(rep) = obj(timing, "repeat") {
            let unit = str_at(rep, "periodUnit");
            let freq = small_uint(rep.get("frequency"));
            let fmax = small_uint(rep.get("frequencyMax"));
            if let Some(unit) = unit {
                let per = period_phrase(rep.get("period"), unit);
                match (freq, fmax) {
                    (Some(f), Some(m)) if m > f => {
                        phrases.push(format!("{f}-{m} x per {per}"));
                    }
                    (Some(f), _) => phrases.push(format!("{f} x per {per}")),
                    (None, Some(m)) => phrases.push(format!("max. {m} x per {per}")),
                    (None, None) => {}
                }
                if let Some(f) = freq {
                    sched.frequency = Some(Frequency {
                        count: f,
                        count_max: fmax.filter(|m| *m > f),
                        period: rep
                            .get("period")
                            .and_then(Value::as_number)
                            .map(number)
                            .unwrap_or_else(|| "1".to_owned())
                            .text(),
                        period_unit: unit.to_owned().text(),
                    });
                }
            }
            for day in arr(rep, "dayOfWeek").iter().take(MAX_SCHEDULE_ITEMS) {
                if let Some(s) = day.as_str() {
                    sched.days_of_week.push(Text::new(s));
                }
            }
            if !sched.days_of_week.is_empty() {
                let days: Vec<String> = sched.days_of_week.iter().map(|d| day_nl(d)).collect();
                phrases.push(format!("op {}", days.join(", ")));
            }
            for t in arr(rep, "timeOfDay").iter().take(MAX_SCHEDULE_ITEMS) {
                if let Some(t) = t
                    .as_str()
                    .and_then(|s| NaiveTime::parse_from_str(s, "%H:%M:%S").ok())
                {
                    sched.times_of_day.push(t);
                }
            }
            sched.times_of_day.sort();
            if !sched.times_of_day.is_empty() {
                let times: Vec<String> = sched
                    .times_of_day
                    .iter()
                    .map(|t| t.format("%H:%M").to_string())
                    .collect();
                phrases.push(format!("om {}", times.join(", ")));
            }
            for w in arr(rep, "when").iter().take(MAX_SCHEDULE_ITEMS) {
                if let Some(s) = w.as_str() {
                    sched.when.push(Text::new(s));
                }
            }
            for w in &sched.when {
                phrases.push(when_nl(w));
            }
            if let Some(b) = obj(rep, "boundsDuration")
                && let (Some(v), Some(u)) = (
                    b.get("value").and_then(Value::as_number),
                    str_at(b, "code").or_else(|| str_at(b, "unit")),
                )
            {
                let plural = v.as_f64() != Some(1.0);
                phrases.push(format!("gedurende {} {}", number(v), unit_nl(u, plural)));
            }
            if let Some(c) = small_uint(rep.get("count")) {
                phrases.push(if c == 1 {
                    "eenmalig".to_owned()
                } else {
                    format!("{c} keer")
                });
            }
        }
    }
    if let Some(a) = &out.as_needed {
        phrases.push(as_needed_text(a.condition.as_deref()));
    }
    if let Some(m) = &out.max_dose {
        phrases.push(m.to_string());
    }
    sched.text = (!phrases.is_empty()).then(|| Text::new(phrases.join(", ")));
    out.schedule = sched;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::tree::tree_json as json;

    #[test]
    fn renders_weekly_schedule_in_dutch() {
        let d = dosage(&json!({
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk",
                "dayOfWeek": ["mon"], "when": ["AFT"]}},
            "doseAndRate": [{"doseQuantity": {"value": 15, "unit": "mg"}}]
        }));
        assert_eq!(d.dose.as_deref(), Some("15 mg"));
        assert_eq!(
            d.schedule.text.as_deref(),
            Some("1 x per week, op maandag, 's middags")
        );
        assert_eq!(d.schedule.frequency.as_ref().map(|f| f.count), Some(1));
    }

    #[test]
    fn renders_times_of_day_and_as_needed_condition() {
        let d = dosage(&json!({
            "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d",
                "timeOfDay": ["20:00:00", "08:00:00", "14:00:00"]}},
            "asNeededCodeableConcept": {"coding": [{"display": "Bij pijn"}]}
        }));
        assert_eq!(
            d.schedule.text.as_deref(),
            Some("3 x per dag, om 08:00, 14:00, 20:00, zo nodig bij pijn")
        );
        assert_eq!(
            d.as_needed.and_then(|a| a.condition).as_deref(),
            Some("Bij pijn")
        );
    }

    #[test]
    fn as_needed_keeps_the_condition_wording() {
        assert_eq!(as_needed_text(Some("Bij pijn")), "zo nodig bij pijn");
        assert_eq!(
            as_needed_text(Some("koorts > 38,5 °C")),
            "zo nodig bij koorts > 38,5 °C"
        );
        assert_eq!(as_needed_text(None), "zo nodig");
    }

    #[test]
    fn frequency_max_alone_is_a_maximum() {
        let d = dosage(&json!({
            "timing": {"repeat": {"frequencyMax": 4, "period": 1, "periodUnit": "d",
                "boundsDuration": {"value": 4, "code": "wk"}}}
        }));
        assert_eq!(
            d.schedule.text.as_deref(),
            Some("max. 4 x per dag, gedurende 4 weken")
        );
        assert!(d.schedule.frequency.is_none());
    }
}
