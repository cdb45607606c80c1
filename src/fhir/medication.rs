//! Medication: MedicationRequest (MP9 medicatieafspraak), MedicationDispense (MP9
//! toedieningsafspraak, category SNOMED 422037009; a plain dispense only when it carries a
//! dosage), MedicationStatement (medicatiegebruik) → active [`MedicationLine`]s, and
//! MedicationAdministration → [`Administration`]s within the window. Every
//! MedicationRequest is a medication agreement (MP9 category SNOMED 16076005 or none).
//!
//! A line is shown when its status is active, on-hold, unknown or absent (MP9 leaves the
//! status to the period of use), it has no definitive MP9 stop type, and its period of use
//! has not ended before `now`. Period of use, first found: the MP9 extension
//! `ext-TimeInterval.Period` (with `ext-TimeInterval.Duration` when there is no end),
//! `effectivePeriod` / `effectiveDateTime`, `dispenseRequest.validityPeriod`, and the
//! first dosage's `timing.repeat.boundsPeriod`; a MedicationRequest without any of these
//! shows `authoredOn` as its start.

use super::dates;
use super::dosage;
use super::json::{self, arr, cc_text, notes, obj, ratio, str_at};
use super::map::{Ctx, Negation, Outcome, Section, Skip, push_capped, reference_text};
use crate::record::{Administration, Drug, MedicationKind, MedicationLine, Moment, NotShownReason};
use serde_json::Value;

const SNOMED: &str = "http://snomed.info/sct";
/// MP9 administration agreement (toedieningsafspraak).
pub const CAT_ADMIN_AGREEMENT: &str = "422037009";
/// MP9 stop types.
const STOP_DEFINITIVE: &str = "113381000146106";
const STOP_TEMPORARY: &str = "113371000146109";

/// The drug of a resource: medicationCodeableConcept or the referenced Medication.
fn drug(cx: &Ctx<'_, '_>, i: usize, res: &Value) -> Option<Drug> {
    if let Some(cc) = obj(res, "medicationCodeableConcept") {
        return Some(Drug {
            name: drug_name(cc)?,
            code: preferred_code(cc),
            strength: None,
            form: None,
            ingredients: Vec::new(),
        });
    }
    let r = res.get("medicationReference")?;
    match cx.ix.resolve(i, r).and_then(|m| cx.entry(m)) {
        Some(m) if m.rtype == "Medication" => {
            let code = obj(m.res, "code");
            let name = code
                .and_then(drug_name)
                .or_else(|| str_at(r, "display").map(str::to_owned))?;
            let ingredients = arr(m.res, "ingredient");
            let strength = ingredients
                .iter()
                .filter_map(|g| g.get("strength").and_then(ratio))
                .collect::<Vec<_>>();
            let names = ingredients
                .iter()
                .filter_map(|g| {
                    g.get("itemCodeableConcept").and_then(cc_text).or_else(|| {
                        g.get("itemReference")
                            .and_then(|r| str_at(r, "display"))
                            .map(str::to_owned)
                    })
                })
                .take(20)
                .collect();
            Some(Drug {
                name,
                code: code.and_then(preferred_code),
                strength: (!strength.is_empty()).then(|| strength.join(" + ")),
                form: m.res.get("form").and_then(cc_text),
                ingredients: names,
            })
        }
        _ => Some(Drug {
            name: str_at(r, "display")?.to_owned(),
            code: None,
            strength: None,
            form: None,
            ingredients: Vec::new(),
        }),
    }
}

fn is_g_standaard(c: &Value) -> bool {
    str_at(c, "system").is_some_and(|s| s.starts_with("urn:oid:2.16.840.1.113883.2.4.4."))
}

/// Name of a drug: the text, else the user-selected coding, else a G-Standaard coding,
/// else the first display.
fn drug_name(cc: &Value) -> Option<String> {
    if let Some(t) = str_at(cc, "text") {
        return Some(t.to_owned());
    }
    let cs = json::codings(cc);
    cs.iter()
        .find(|c| c.get("userSelected").and_then(Value::as_bool) == Some(true))
        .or_else(|| {
            cs.iter()
                .find(|c| is_g_standaard(c) && str_at(c, "display").is_some())
        })
        .and_then(|c| str_at(c, "display"))
        .map(str::to_owned)
        .or_else(|| cc_text(cc))
}

fn preferred_code(cc: &Value) -> Option<crate::record::Code> {
    let cs = json::codings(cc);
    let c = cs
        .iter()
        .find(|c| c.get("userSelected").and_then(Value::as_bool) == Some(true))
        .or_else(|| cs.iter().find(|c| is_g_standaard(c)))
        .or_else(|| cs.first())?;
    Some(crate::record::Code {
        system: str_at(c, "system").map(str::to_owned),
        code: str_at(c, "code").map(str::to_owned),
        display: str_at(c, "display").map(str::to_owned),
    })
}

fn duration_of(v: &Value) -> Option<(f64, String)> {
    let value = v.get("value")?.as_f64()?;
    let unit = str_at(v, "code").or_else(|| str_at(v, "unit"))?;
    Some((value, unit.to_owned()))
}

/// Start and end from a Period with an optional nested MP9 duration extension.
fn period(cx: &mut Ctx<'_, '_>, i: usize, p: &Value) -> (Option<Moment>, Option<Moment>) {
    let start = cx.date(i, p.get("start"), "period.start");
    let mut end = cx.date(i, p.get("end"), "period.end");
    if end.is_none()
        && let Some(s) = &start
        && let Some((v, u)) = json::ext_suffix(p, "ext-TimeInterval.Duration")
            .and_then(|e| e.get("valueDuration"))
            .and_then(duration_of)
    {
        end = dates::add_duration(s, v, &u);
    }
    (start, end)
}

/// Period of use of a medication resource.
fn period_of_use(cx: &mut Ctx<'_, '_>, i: usize, res: &Value) -> (Option<Moment>, Option<Moment>) {
    if let Some(p) =
        json::ext_suffix(res, "ext-TimeInterval.Period").and_then(|e| e.get("valuePeriod"))
    {
        return period(cx, i, p);
    }
    if let Some(p) = obj(res, "effectivePeriod") {
        return period(cx, i, p);
    }
    if res.get("effectiveDateTime").is_some() {
        return (
            cx.date(i, res.get("effectiveDateTime"), "effectiveDateTime"),
            None,
        );
    }
    if let Some(p) = res
        .get("dispenseRequest")
        .and_then(|d| obj(d, "validityPeriod"))
    {
        return period(cx, i, p);
    }
    let dosages = match res.get("dosageInstruction") {
        Some(_) => arr(res, "dosageInstruction"),
        None => arr(res, "dosage"),
    };
    if let Some(p) = dosages
        .first()
        .and_then(|d| d.get("timing"))
        .and_then(|t| obj(t, "repeat"))
        .and_then(|rep| obj(rep, "boundsPeriod"))
    {
        return period(cx, i, p);
    }
    (None, None)
}

/// Medication line (agreement, administration agreement, use).
pub fn line(cx: &mut Ctx<'_, '_>, i: usize) -> Outcome {
    match line_inner(cx, i) {
        Ok(o) => o,
        Err(s) => Outcome::NotShown(s),
    }
}

fn line_inner(cx: &mut Ctx<'_, '_>, i: usize) -> Result<Outcome, Skip> {
    let (rtype, id, res) = cx
        .entry(i)
        .map(|e| (e.rtype, e.label(), e.res))
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no entry"))?;
    let status = str_at(res, "status");
    if status == Some("entered-in-error") {
        return Err(Skip::new(
            NotShownReason::EnteredInError,
            "status entered-in-error",
        ));
    }
    let categories: Vec<&Value> = match res.get("category") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    };
    let has_cat = |code: &str| {
        categories
            .iter()
            .any(|c| json::has_code(c, Some(SNOMED), code))
    };
    let dosages_v = match rtype {
        "MedicationStatement" => arr(res, "dosage"),
        _ => arr(res, "dosageInstruction"),
    };
    let kind = match rtype {
        "MedicationRequest" => MedicationKind::Agreement,
        "MedicationStatement" => MedicationKind::Use,
        _ if has_cat(CAT_ADMIN_AGREEMENT) => MedicationKind::AdministrationAgreement,
        _ if !dosages_v.is_empty() => MedicationKind::AdministrationAgreement,
        _ => {
            return Err(Skip::new(
                NotShownReason::UnsupportedType,
                "MedicationDispense without dosage (a plain dispense, not an administration agreement)",
            ));
        }
    };
    let inactive: &[&str] = match rtype {
        "MedicationDispense" => &["cancelled", "stopped", "declined"],
        "MedicationStatement" => &["completed", "stopped", "not-taken"],
        _ => &["stopped", "completed", "cancelled", "draft", "revoked"],
    };
    if let Some(s) = status.filter(|s| inactive.contains(s)) {
        return Err(Skip::new(NotShownReason::Inactive, format!("status {s}")));
    }
    if rtype == "MedicationRequest"
        && let Some(intent @ ("proposal" | "option")) = str_at(res, "intent")
    {
        return Err(Skip::new(
            NotShownReason::Inactive,
            format!("intent {intent}"),
        ));
    }
    let stop = json::modext_suffix(res, "ext-StopType").and_then(|e| e.get("valueCodeableConcept"));
    if stop.is_some_and(|s| json::has_code(s, None, STOP_DEFINITIVE)) {
        return Err(Skip::new(
            NotShownReason::Inactive,
            "MP9 stop type: definitively stopped",
        ));
    }
    let temporarily_stopped = stop.is_some_and(|s| json::has_code(s, None, STOP_TEMPORARY));
    let (mut start, end) = period_of_use(cx, i, res);
    if start.is_none() && rtype == "MedicationRequest" {
        // No period of use: show when the agreement was made.
        start = cx.date(i, res.get("authoredOn"), "authoredOn");
    }
    if let Some(e) = &end
        && dates::end_exclusive(e).is_some_and(|t| t <= cx.opts.now)
    {
        return Err(Skip::new(
            NotShownReason::Inactive,
            format!("period of use ended {}", dates::iso(e)),
        ));
    }
    let p = cx.subject(i)?;
    let negation_code = obj(res, "medicationCodeableConcept");
    if let Some(cc) = negation_code
        && let Some((no_info, statement)) = super::clinical::negation(Section::Medication, cc)
    {
        let asserted = cx.date(
            i,
            res.get("dateAsserted").or_else(|| res.get("authoredOn")),
            "date",
        );
        let b = cx
            .patient(p)
            .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
        b.negations.push(Negation {
            entry: Some(i),
            section: Section::Medication,
            statement,
            asserted,
            no_info,
        });
        return Ok(Outcome::Deferred);
    }
    let drug = drug(cx, i, res)
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no medication (code or reference)"))?;
    let mut dosages: Vec<_> = dosages_v.iter().take(50).map(dosage::dosage).collect();
    dosages.sort_by_key(|d| d.sequence.unwrap_or(u32::MAX));
    let rendered = json::ext_suffix(res, "ext-RenderedDosageInstruction")
        .and_then(|e| str_at(e, "valueString"))
        .map(str::to_owned);
    if let Some(r) = rendered
        && dosages.iter().all(|d| d.text.is_none())
    {
        match dosages.first_mut() {
            Some(d) => d.text = Some(r),
            None => dosages.push(crate::record::Dosage {
                text: Some(r),
                ..Default::default()
            }),
        }
    }
    let mut note_parts: Vec<String> = Vec::new();
    note_parts.extend(notes(res));
    if let Some(c) = json::ext_suffix(res, "ext-Comment").and_then(|e| str_at(e, "valueString")) {
        note_parts.push(c.to_owned());
    }
    if let Some(d) = json::modext_suffix(res, "RepeatPeriodCyclicalSchedule")
        .and_then(|e| e.get("valueDuration"))
        .and_then(json::quantity)
    {
        note_parts.push(format!("cyclisch schema, herhaal elke {d}"));
    }
    let unknown_mods = arr(res, "modifierExtension")
        .iter()
        .filter_map(|m| str_at(m, "url"))
        .any(|u| !super::map::KNOWN_MODIFIERS.iter().any(|k| u.ends_with(k)));
    if unknown_mods {
        // The report warning is added for every resource type in map.rs.
        note_parts.push("let op: onbekende modifier-extensie in de bron".to_owned());
    }
    let prescriber = match rtype {
        "MedicationRequest" => res.get("requester").and_then(|r| cx.party_name(i, r)),
        "MedicationDispense" => arr(res, "performer")
            .iter()
            .filter_map(|p| p.get("actor"))
            .find_map(|r| cx.party_name(i, r)),
        _ => res
            .get("informationSource")
            .and_then(|r| cx.party_name(i, r)),
    };
    let reason = arr(res, "reasonCode")
        .iter()
        .filter_map(cc_text)
        .chain(
            arr(res, "reasonReference")
                .iter()
                .filter_map(|r| reference_text(cx, i, r)),
        )
        .collect::<Vec<_>>();
    let based_on_ref = match rtype {
        "MedicationDispense" => arr(res, "authorizingPrescription").first(),
        _ => arr(res, "basedOn").first(),
    };
    let line_id = format!("{rtype}/{}", id.unwrap_or_else(|| i.to_string()));
    let based_on = based_on_ref.and_then(|r| {
        cx.ix
            .resolve(i, r)
            .and_then(|t| cx.entry(t))
            .map(|t| format!("{}/{}", t.rtype, t.label().unwrap_or_default()))
            .or_else(|| str_at(r, "reference").map(str::to_owned))
    });
    let status_shown = if temporarily_stopped {
        Some("tijdelijk gestopt".to_owned())
    } else {
        status.map(str::to_owned)
    };
    let item = MedicationLine {
        kind,
        id: line_id.clone(),
        drug,
        dosages,
        start,
        end,
        prescriber,
        category: categories.first().and_then(|c| cc_text(c)),
        status: status_shown,
        reason: (!reason.is_empty()).then(|| reason.join(", ")),
        note: (!note_parts.is_empty()).then(|| note_parts.join(" | ")),
        based_on,
    };
    let b = cx
        .patient(p)
        .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
    push_capped(&mut b.rec.medication, item)?;
    cx.line_of_entry.insert(i, (p, line_id));
    Ok(Outcome::Mapped)
}

/// MedicationAdministration → administration (within the window).
pub fn administration(cx: &mut Ctx<'_, '_>, i: usize) -> Result<(), Skip> {
    let res = cx
        .entry(i)
        .map(|e| e.res)
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no entry"))?;
    let status = str_at(res, "status");
    if status == Some("entered-in-error") {
        return Err(Skip::new(
            NotShownReason::EnteredInError,
            "status entered-in-error",
        ));
    }
    let at = {
        let v = res
            .get("effectiveDateTime")
            .or_else(|| res.get("effectivePeriod").and_then(|p| p.get("start")));
        cx.date(i, v, "effective")
    };
    let Some(at) = at else {
        return Err(Skip::new(
            NotShownReason::Invalid,
            "no (valid) effective time",
        ));
    };
    let since = cx.opts.since(cx.opts.administration_window);
    let t = dates::end_exclusive(&at).unwrap_or(since);
    if t <= since {
        return Err(Skip::new(
            NotShownReason::OutsideTimeWindow,
            "administered before the administration window",
        ));
    }
    let p = cx.subject(i)?;
    let drug = drug(cx, i, res)
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no medication (code or reference)"))?;
    let dosage = obj(res, "dosage");
    let dose = dosage.and_then(|d| {
        d.get("dose")
            .and_then(json::quantity)
            .or_else(|| str_at(d, "text").map(str::to_owned))
    });
    let route = dosage.and_then(|d| d.get("route")).and_then(cc_text);
    let performer = arr(res, "performer")
        .iter()
        .filter_map(|p| p.get("actor"))
        .find_map(|r| cx.party_name(i, r));
    let mut line_id = None;
    for r in res
        .get("request")
        .into_iter()
        .chain(arr(res, "supportingInformation").iter())
    {
        if let Some(t) = cx.ix.resolve(i, r).map(|t| cx.canonical_of(t))
            && let Some((lp, lid)) = cx.line_of_entry.get(&t)
            && *lp == p
        {
            line_id = Some(lid.clone());
            break;
        }
    }
    let mut note_parts: Vec<String> = Vec::new();
    note_parts.extend(notes(res));
    if let Some(r) = arr(res, "statusReason").first().and_then(cc_text) {
        note_parts.push(format!("reden: {r}"));
    }
    if json::ext_suffix(res, "DeviatingAdministration").and_then(|e| e.get("valueBoolean"))
        == Some(&Value::Bool(true))
    {
        let why = json::ext_suffix(res, "ReasonForDeviation")
            .and_then(|e| e.get("valueCodeableConcept"))
            .and_then(cc_text);
        note_parts.push(match why {
            Some(w) => format!("afwijkende toediening: {w}"),
            None => "afwijkende toediening".to_owned(),
        });
    }
    let item = Administration {
        drug: drug.name,
        dose,
        route,
        at: Some(at),
        status: status.map(str::to_owned),
        performer,
        line_id,
        note: (!note_parts.is_empty()).then(|| note_parts.join(" | ")),
    };
    let b = cx
        .patient(p)
        .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
    push_capped(&mut b.rec.administrations, item)
}
