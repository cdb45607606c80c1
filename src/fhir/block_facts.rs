//! The facts of one medication building block that the "is this current" rule needs:
//! its status per resource type, the MP9 stop type (3.0, 2.x, zib2017), every period of use
//! (with durations and cyclic schedules), and when it was registered. The rule that
//! weighs them lives in [`crate::record::medication`].

use super::context::Ctx;
use super::dates;
use super::json::{self, cc_text, obj, str_at};
use super::tree::Value;
use crate::record::{BlockStatus, Moment, Span, StopKind, Unreadable};

/// The zib2017 stop type code system (1 = temporarily, 2 = definitively).
const ZIB2017_STOP_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.2.1";

fn duration_of(v: &Value) -> Option<(f64, String)> {
    let value = v.get("value")?.as_f64()?;
    let unit = str_at(v, "code").or_else(|| str_at(v, "unit"))?;
    Some((value, unit.to_owned()))
}

/// Suffixes of the duration extensions nested in a period (MP9, zib2017 use).
const DURATION_EXTENSIONS: &[&str] = &["ext-TimeInterval.Duration", "MedicationUse-Duration"];

/// A Period with an optional nested duration extension (start + duration when no end).
fn span(cx: &mut Ctx<'_, '_>, i: usize, p: &Value) -> Span {
    let start = cx.date(i, p.get("start"), "period.start");
    let mut end = cx.date(i, p.get("end"), "period.end");
    if end.is_none()
        && let Some(s) = &start
        && let Some((v, u)) = DURATION_EXTENSIONS
            .iter()
            .find_map(|suffix| json::ext_suffix(p, suffix))
            .and_then(|e| e.get("valueDuration"))
            .and_then(duration_of)
    {
        end = dates::add_duration(s, v, &u);
    }
    Span { start, end }
}

/// The period of use: MP9 `ext-TimeInterval.Period` or zib2017 `zib-Medication-PeriodOfUse`.
fn period_of_use<'a>(res: &'a Value<'a>) -> Option<&'a Value<'a>> {
    ["ext-TimeInterval.Period", "Medication-PeriodOfUse"]
        .iter()
        .find_map(|s| json::ext_suffix(res, s))
        .and_then(|e| obj(e, "valuePeriod"))
}

/// When the block was made.
pub(super) fn registered(cx: &mut Ctx<'_, '_>, i: usize, res: &Value) -> Option<Moment> {
    let ext = [
        "ext-RegistrationDateTime",
        "AdministrationAgreementDateTime",
        "AdministrationAgreement-AuthoredOn",
    ]
    .iter()
    .find_map(|s| json::ext_suffix(res, s))
    .and_then(|e| e.get("valueDateTime"));
    let v = ext
        .or_else(|| res.get("authoredOn"))
        .or_else(|| res.get("dateAsserted"))
        .or_else(|| res.get("whenPrepared"));
    cx.date(i, v, "registration date")
}

/// Every period the resource carries (see the module documentation).
pub(super) fn periods(
    cx: &mut Ctx<'_, '_>,
    i: usize,
    res: &Value,
    dosages: &[Value],
    registered: Option<Moment>,
) -> Vec<Span> {
    let mut out = Vec::new();
    if let Some(p) = period_of_use(res) {
        out.push(span(cx, i, p));
    }
    if let Some(p) = obj(res, "effectivePeriod") {
        out.push(span(cx, i, p));
    }
    if res.get("effectiveDateTime").is_some() {
        let start = cx.date(i, res.get("effectiveDateTime"), "effectiveDateTime");
        out.push(Span { start, end: None });
    }
    let cyclic = json::modext_suffix(res, "RepeatPeriodCyclicalSchedule").is_some();
    let mut sequenced: std::collections::BTreeMap<u32, (f64, String)> = Default::default();
    let mut bounds_base = None;
    for d in dosages.iter().take(50) {
        let Some(rep) = d.get("timing").and_then(|t| obj(t, "repeat")) else {
            continue;
        };
        if let Some(p) = obj(rep, "boundsPeriod") {
            let s = span(cx, i, p);
            bounds_base = bounds_base.or(s.start);
            out.push(s);
        }
        if cyclic {
            continue;
        }
        if let Some((v, u)) = obj(rep, "boundsDuration").and_then(duration_of) {
            let seq = d
                .get("sequence")
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok())
                .unwrap_or(0);
            // Dosages with the same sequence run together: the longest counts.
            let e = sequenced.entry(seq).or_insert((0.0, u.clone()));
            if e.1 == u && v > e.0 {
                e.0 = v;
            } else if e.0 == 0.0 {
                *e = (v, u);
            }
        }
    }
    if !sequenced.is_empty() {
        let base = out
            .iter()
            .filter_map(|s| s.start)
            .min_by_key(|m| m.earliest_utc())
            .or(bounds_base)
            .or(registered);
        if let Some(mut at) = base {
            // Consecutive steps: each starts the day after the previous one ends.
            let mut ok = true;
            for (n, (v, u)) in sequenced.values().enumerate() {
                let step_start = if n == 0 { Some(at) } else { next_start(&at) };
                match step_start.and_then(|s| dates::add_duration(&s, *v, u)) {
                    Some(end) => at = end,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                out.push(Span {
                    start: base,
                    end: Some(at),
                });
            }
        }
    }
    out
}

/// The moment right after an end, as the start of the next step.
pub(super) fn next_start(end: &Moment) -> Option<Moment> {
    match end {
        Moment::Day(d) => d.succ_opt().map(Moment::Day),
        Moment::Instant(t) => Some(Moment::Instant(*t)),
        _ => None,
    }
}

/// A FHIR status → [`BlockStatus`], per resource type.
pub(super) fn status_of(rtype: &str, status: Option<&str>) -> BlockStatus {
    let Some(s) = status else {
        return BlockStatus::PeriodsDecide;
    };
    match (rtype, s) {
        (_, "active" | "unknown" | "in-progress" | "preparation" | "intended") => {
            BlockStatus::PeriodsDecide
        }
        (_, "on-hold") => BlockStatus::OnHold,
        (_, "stopped") => BlockStatus::Stopped,
        (_, "completed") => BlockStatus::Completed,
        (_, "cancelled" | "declined" | "revoked") => BlockStatus::Cancelled,
        ("MedicationStatement", "not-taken") => BlockStatus::NotTaken,
        (_, "draft") => BlockStatus::Draft,
        (_, other) => BlockStatus::Unrecognised(other.chars().take(64).collect()),
    }
}

/// The MP9 / zib2017 stop type of a block, and why it could not be read if so.
pub(super) fn stop_type(res: &Value) -> (Option<StopKind>, Vec<Unreadable>) {
    let ext = ["ext-StopType", "Medication-StopType"]
        .iter()
        .find_map(|s| json::modext_suffix(res, s).or_else(|| json::ext_suffix(res, s)));
    let Some(cc) = ext.and_then(|e| obj(e, "valueCodeableConcept")) else {
        return (None, Vec::new());
    };
    let mut kind = None;
    let mut unknown = Vec::new();
    for c in json::codings(cc) {
        let code = str_at(c, "code").unwrap_or_default();
        let system = str_at(c, "system");
        let k = match code {
            "385655000" | "113381000146106" => Some(StopKind::Paused),
            "410546004" | "113371000146109" => Some(StopKind::Stopped),
            "89925002" => Some(StopKind::Cancelled),
            "1" if system == Some(ZIB2017_STOP_SYSTEM) => Some(StopKind::Paused),
            "2" if system == Some(ZIB2017_STOP_SYSTEM) => Some(StopKind::Stopped),
            _ => None,
        };
        match k {
            Some(k) if kind.is_none() => kind = Some(k),
            Some(_) => {}
            None => unknown.push(Unreadable::UnknownStopType(
                format!("{}|{code}", system.unwrap_or("-"))
                    .chars()
                    .take(200)
                    .collect(),
            )),
        }
    }
    let Some(kind) = kind else {
        if unknown.is_empty() {
            unknown.push(Unreadable::UnknownStopType(
                cc_text(cc)
                    .unwrap_or_else(|| "(no code)".to_owned())
                    .chars()
                    .take(200)
                    .collect(),
            ));
        }
        return (None, unknown);
    };
    // Older exports pair the 2.x codes with the other one's display; the code is read, the
    // line says it could not be fully read.
    let words = json::codings(cc)
        .iter()
        .filter_map(|c| str_at(c, "display"))
        .chain(str_at(cc, "text"))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let says_definitive = [
        "definitie",
        "definitiv",
        "definitely",
        "stopgezet",
        "discontinued",
    ]
    .iter()
    .any(|w| words.contains(w));
    let says_temporary = ["tijdelijk", "temporar", "onderbr", "suspend", "pause"]
        .iter()
        .any(|w| words.contains(w));
    let conflict = match kind {
        StopKind::Paused => says_definitive && !says_temporary,
        StopKind::Stopped => says_temporary && !says_definitive,
        StopKind::Cancelled => says_temporary || says_definitive,
    };
    if conflict {
        let code = json::codings(cc)
            .iter()
            .find_map(|c| str_at(c, "code"))
            .unwrap_or_default();
        unknown.push(Unreadable::StopTypeDisplayConflict(
            format!("{code} {words:?}").chars().take(200).collect(),
        ));
    }
    (Some(kind), unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::tree::tree_json as json;
    const SNOMED: &str = "http://snomed.info/sct";

    #[test]
    fn stop_types_of_every_mp9_generation_are_read() {
        let st = |system: &str, code: &str, display: &str| {
            stop_type(&json!({"modifierExtension": [{
                "url": "http://nictiz.nl/fhir/StructureDefinition/ext-StopType",
                "valueCodeableConcept": {"coding": [{"system": system, "code": code, "display": display}]}}]}))
        };
        assert_eq!(
            st(SNOMED, "385655000", "onderbroken").0,
            Some(StopKind::Paused)
        );
        assert_eq!(
            st(SNOMED, "410546004", "stopgezet").0,
            Some(StopKind::Stopped)
        );
        assert_eq!(
            st(SNOMED, "89925002", "geannuleerd").0,
            Some(StopKind::Cancelled)
        );
        assert_eq!(
            st(SNOMED, "113381000146106", "tijdelijk gestopt").0,
            Some(StopKind::Paused)
        );
        assert_eq!(
            st(SNOMED, "113371000146109", "definitief gestopt").0,
            Some(StopKind::Stopped)
        );
        assert_eq!(
            st(ZIB2017_STOP_SYSTEM, "2", "Definitief").0,
            Some(StopKind::Stopped)
        );
        assert_eq!(
            st(ZIB2017_STOP_SYSTEM, "1", "Tijdelijk").0,
            Some(StopKind::Paused)
        );
        let (k, u) = st(SNOMED, "123", "iets");
        assert_eq!(k, None);
        assert!(matches!(u.as_slice(), [Unreadable::UnknownStopType(_)]));
        // The code is read; a display that says otherwise makes the line unreadable.
        let (k, u) = st(
            SNOMED,
            "113381000146106",
            "Drug therapy definitively stopped (finding)",
        );
        assert_eq!(k, Some(StopKind::Paused));
        assert!(matches!(
            u.as_slice(),
            [Unreadable::StopTypeDisplayConflict(_)]
        ));
    }

    #[test]
    fn statuses_are_read_per_resource_type() {
        assert_eq!(
            status_of("MedicationRequest", Some("unknown")),
            BlockStatus::PeriodsDecide
        );
        assert_eq!(
            status_of("MedicationDispense", Some("declined")),
            BlockStatus::Cancelled
        );
        assert_eq!(
            status_of("MedicationStatement", Some("not-taken")),
            BlockStatus::NotTaken
        );
        assert_eq!(
            status_of("MedicationRequest", Some("bogus")),
            BlockStatus::Unrecognised("bogus".into())
        );
    }
}
