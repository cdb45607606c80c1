//! Reading the medication building blocks: MedicationRequest (MP9 medicatieafspraak,
//! category 33633005 / 16076005 or none; wisselend doseerschema, category 395067002),
//! MedicationDispense (MP9 toedieningsafspraak, category 422037009; a dispense without
//! category only when it carries a dosage), MedicationStatement (medicatiegebruik) — each
//! into a [`PendingBlock`](super::context::PendingBlock) with the facts the "is this current" rule needs
//! ([`BlockFacts`]) — and MedicationAdministration into [`Administration`]s within the
//! window. Grouping blocks into treatments and deciding their state is
//! [`super::treatments`]'s job; the rule itself lives in [`crate::record::medication`].
//!
//! Read for the rule, from FHIR R4 and STU3 (zib2017) alike:
//! - status → [`BlockStatus`] (per resource type's value set);
//! - MP9 stop type (modifierExtension `ext-StopType`, zib2017 `zib-Medication-StopType`):
//!   MP9 3.0 SNOMED 385655000 / 410546004 / 89925002, MP9 2.x 113381000146106 (temporarily)
//!   / 113371000146109 (definitively), zib2017 `1` / `2`; anything else → unreadable;
//! - every period: period of use (`ext-TimeInterval.Period` with `ext-TimeInterval.Duration`,
//!   zib2017 `zib-Medication-PeriodOfUse`), `effectivePeriod` (with its duration extension),
//!   each dosage's `timing.repeat.boundsPeriod`, and start + `boundsDuration` (sequenced
//!   dosages add up; a cyclic schedule's bounds are per cycle and do not end the therapy).
//!   `dispenseRequest.validityPeriod` is how long a prescription may be dispensed, not how
//!   long the drug is used: it is not read.
//! - registration (`ext-RegistrationDateTime`, `AdministrationAgreementDateTime`, zib2017
//!   `AuthoredOn`, `authoredOn`, `dateAsserted`).

use super::block_facts::{periods, registered, status_of, stop_type};
use super::context::{Ctx, Negation, Outcome, PendingBlock, Section, Skip, reference_text};
use super::dates;
use super::dosage;
use super::drug::drug;
use super::json::{self, arr, cc_text, notes, obj, str_at};
use super::tree::Value;
use crate::record::{
    Administration, BlockFacts, BlockStatus, MedicationKind, MedicationLine, NotShownReason,
    Unreadable,
};
use crate::record::{IntoText, Text};

const SNOMED: &str = "http://snomed.info/sct";
/// MP9 administration agreement (toedieningsafspraak).
pub(super) const CAT_ADMIN_AGREEMENT: &str = "422037009";
/// MP9 dispense (medicatieverstrekking): a pharmacy act, not an instruction.
const CAT_DISPENSE: &str = "373784005";
/// MP9 3.0 variable dosing regimen (wisselend doseerschema).
const CAT_VARIABLE_DOSING: &str = "395067002";
/// MP9 3.0 dispense request (verstrekkingsverzoek): logistics, not a therapy.
const CAT_DISPENSE_REQUEST: &str = "52711000146108";

/// Most medication building blocks read per patient: the treatment rule compares stop
/// orders with the blocks of their treatment, so a hostile input must not grow it unbounded.
pub(super) const MAX_BLOCKS_PER_PATIENT: usize = 2_000;

/// The resource types that are medication building blocks.
pub(super) const BLOCK_TYPES: &[&str] = &[
    "MedicationRequest",
    "MedicationDispense",
    "MedicationStatement",
];

/// An Identifier as "system|value".
fn identifier_key(v: &Value) -> Option<String> {
    let system = str_at(v, "system").unwrap_or("");
    let value = str_at(v, "value")?;
    Some(format!("{system}|{value}").chars().take(300).collect())
}

/// The MP9 pharmaceutical-treatment identifier (3.0 and 2.x `ext-PharmaceuticalTreatment.
/// Identifier`, zib2017 / MP 9.0 `zib-Medication-MedicationTreatment`).
pub(super) fn treatment_identifier(res: &Value) -> Option<String> {
    [
        "PharmaceuticalTreatment.Identifier",
        "Medication-MedicationTreatment",
    ]
    .iter()
    .find_map(|s| json::ext_suffix(res, s))
    .and_then(|e| e.get("valueIdentifier"))
    .and_then(identifier_key)
}

/// Fields that link a block to other blocks, per resource type.
fn link_fields(rtype: &str) -> &'static [&'static str] {
    match rtype {
        "MedicationRequest" => &["priorPrescription", "basedOn", "replaces"],
        "MedicationDispense" => &["authorizingPrescription", "partOf"],
        _ => &["basedOn", "derivedFrom", "partOf"],
    }
}

/// The references of a field (a single Reference or an array of them).
fn refs_of<'v>(res: &'v Value<'v>, field: &str) -> Vec<&'v Value<'v>> {
    match res.get(field) {
        Some(Value::Array(a)) => a.iter().take(20).collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    }
}

/// The MP9 kind of a resource, or why it is not a building block.
fn kind_of(rtype: &str, res: &Value, has_dosage: bool) -> Result<MedicationKind, Skip> {
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
    match rtype {
        "MedicationRequest" if has_cat(CAT_DISPENSE_REQUEST) => Err(Skip::new(
            NotShownReason::UnsupportedType,
            "MP9 dispense request (verstrekkingsverzoek): logistics, shown through its agreement",
        )),
        "MedicationRequest" if has_cat(CAT_VARIABLE_DOSING) => {
            Ok(MedicationKind::VariableDosingRegimen)
        }
        "MedicationRequest" => Ok(MedicationKind::Agreement),
        "MedicationStatement" => Ok(MedicationKind::Use),
        _ if has_cat(CAT_ADMIN_AGREEMENT) => Ok(MedicationKind::AdministrationAgreement),
        _ if has_cat(CAT_DISPENSE) => Err(Skip::new(
            NotShownReason::UnsupportedType,
            "MP9 dispense (verstrekking): a pharmacy act, not an administration agreement",
        )),
        _ if has_dosage => Ok(MedicationKind::AdministrationAgreement),
        _ => Err(Skip::new(
            NotShownReason::UnsupportedType,
            "MedicationDispense without dosage (a plain dispense, not an administration agreement)",
        )),
    }
}

/// Reads a medication building block; it is accounted when its treatment is settled.
pub(super) fn block(cx: &mut Ctx<'_, '_>, i: usize) -> Outcome {
    match block_inner(cx, i) {
        Ok(o) => o,
        Err(s) => Outcome::NotShown(s),
    }
}

fn block_inner(cx: &mut Ctx<'_, '_>, i: usize) -> Result<Outcome, Skip> {
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
    let dosages_v = match rtype {
        "MedicationStatement" => arr(res, "dosage"),
        _ => arr(res, "dosageInstruction"),
    };
    let kind = kind_of(rtype, res, !dosages_v.is_empty())?;
    if rtype == "MedicationRequest"
        && let Some(intent @ ("proposal" | "option")) = str_at(res, "intent")
    {
        return Err(Skip::new(
            NotShownReason::Inactive,
            format!("intent {intent}"),
        ));
    }
    let p = cx.subject(i)?;
    if let Some(cc) = obj(res, "medicationCodeableConcept")
        && let Some(n) = super::negation::negation(Section::Medication, cc)
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
            statement: n.wording,
            asserted,
            no_info: n.no_info,
            partial: n.partial,
        });
        return Ok(Outcome::Deferred);
    }
    let drug = drug(cx, i, res)
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no medication (code or reference)"))?;

    // The facts for the rule.
    let mut status_facts = status_of(rtype, status);
    if rtype == "MedicationStatement" && str_at(res, "taken") == Some("n") {
        // STU3: taken = n means not taken.
        status_facts = BlockStatus::NotTaken;
    }
    let (stop, mut unreadable) = stop_type(res);
    if let BlockStatus::Unrecognised(s) = &status_facts {
        unreadable.push(Unreadable::UnknownStatus(s.clone()));
    }
    for u in arr(res, "modifierExtension")
        .iter()
        .filter_map(|m| str_at(m, "url"))
        .filter(|u| {
            !super::context::KNOWN_MODIFIERS
                .iter()
                .any(|k| u.ends_with(k))
        })
        .take(10)
    {
        unreadable.push(Unreadable::UnknownModifier(u.chars().take(200).collect()));
    }
    let registered = registered(cx, i, res);
    let periods = periods(cx, i, res, dosages_v, registered);
    for p in &periods {
        if let (Some(s), Some(e)) = (&p.start, &p.end)
            && let (Some(st), Some(until)) = (s.earliest_utc(), e.end_exclusive())
            && until <= st
        {
            unreadable.push(Unreadable::PeriodEndsBeforeStart(Text::new(format!(
                "{} – {}",
                dates::iso(s),
                dates::iso(e)
            ))));
            break;
        }
    }
    let facts = BlockFacts {
        status: status_facts,
        stop,
        periods,
        registered,
    };
    // Say in the report and on the patient's page what could not be read (unknown
    // modifier extensions are reported for every resource type in map.rs).
    for u in &unreadable {
        let detail = match u {
            Unreadable::UnknownModifier(_) => continue,
            Unreadable::UnknownStopType(d) => format!("unknown MP9 stop type {d}"),
            Unreadable::StopTypeDisplayConflict(d) => {
                format!("stop type code and display disagree: {d}")
            }
            Unreadable::UnknownStatus(d) => format!("unknown status {d:?}"),
            Unreadable::PeriodEndsBeforeStart(d) => format!("period ends before it starts: {d}"),
        };
        let label = format!("{rtype}/{}", id.as_deref().unwrap_or_default());
        cx.warn(format!(
            "{label}: {detail}; the line says it could not be fully read"
        ));
        cx.unread(i, crate::record::UnreadReason::InvalidValue, detail);
    }
    let mut start = facts.start();
    if start.is_none() && rtype == "MedicationRequest" {
        // No period of use: show when the agreement was made.
        start = registered;
    }
    let end = facts.end();

    let mut dosages: Vec<_> = dosages_v.iter().take(50).map(dosage::dosage).collect();
    dosages.sort_by_key(|d| d.sequence.unwrap_or(u32::MAX));
    let rendered = json::ext_suffix(res, "ext-RenderedDosageInstruction")
        .and_then(|e| str_at(e, "valueString"))
        .map(Text::new);
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
    for suffix in ["ext-Comment", "StructureDefinition/Comment"] {
        if let Some(c) = json::ext_suffix(res, suffix).and_then(|e| str_at(e, "valueString")) {
            note_parts.push(c.to_owned());
        }
    }
    if let Some(d) = json::modext_suffix(res, "RepeatPeriodCyclicalSchedule")
        .and_then(|e| e.get("valueDuration"))
        .and_then(json::quantity)
    {
        note_parts.push(format!("cyclisch schema, herhaal elke {d}"));
    }
    let prescriber = match rtype {
        "MedicationRequest" => res.get("requester").and_then(|r| {
            // STU3: requester.agent.
            let r = obj(r, "agent").unwrap_or(r);
            cx.party_name(i, r)
        }),
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

    // Links to other blocks.
    let mut refers = Vec::new();
    let mut based_on = None;
    for field in link_fields(rtype) {
        for r in refs_of(res, field) {
            let target = cx
                .ix
                .resolve_among(i, r, BLOCK_TYPES)
                .map(|t| cx.canonical_of(t));
            if based_on.is_none() && matches!(*field, "authorizingPrescription" | "basedOn") {
                based_on = target
                    .and_then(|t| cx.entry(t))
                    .map(|t| format!("{}/{}", t.rtype, t.label().unwrap_or_default()))
                    .or_else(|| str_at(r, "reference").map(str::to_owned))
                    .or_else(|| r.get("identifier").and_then(identifier_key));
            }
            if let Some(t) = target
                && t != i
                && !refers.contains(&t)
            {
                refers.push(t);
            }
        }
    }
    let categories: Vec<&Value> = match res.get("category") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    };
    let line_id = format!("{rtype}/{}", id.unwrap_or_else(|| i.to_string()));
    let drug_codes = drug
        .codes
        .iter()
        .filter_map(|c| Some(format!("{}|{}", c.system.as_deref()?, c.code.as_deref()?)))
        .collect();
    let line = MedicationLine {
        kind,
        id: line_id.text(),
        drug,
        dosages,
        start,
        end,
        prescriber: prescriber.text(),
        category: categories.first().and_then(|c| cc_text(c)).text(),
        status: status.map(str::to_owned).text(),
        reason: (!reason.is_empty()).then(|| reason.join(", ")).text(),
        note: (!note_parts.is_empty())
            .then(|| note_parts.join(" | "))
            .text(),
        based_on: based_on.text(),
        facts,
        fate: Default::default(),
        unreadable,
    };
    let pending = PendingBlock {
        entry: i,
        line,
        refers,
        treatment: treatment_identifier(res),
        group: res.get("groupIdentifier").and_then(identifier_key),
        drug_codes,
    };
    let b = cx
        .patient(p)
        .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
    if b.blocks.len() >= MAX_BLOCKS_PER_PATIENT {
        return Err(Skip::new(
            NotShownReason::Invalid,
            format!(
                "the patient has more than {MAX_BLOCKS_PER_PATIENT} medication building blocks"
            ),
        ));
    }
    b.blocks.push(pending);
    Ok(Outcome::Deferred)
}

/// MedicationAdministration → administration (within the window), linked to its treatment.
pub(super) fn administration(cx: &mut Ctx<'_, '_>, i: usize) -> Result<(), Skip> {
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
    let dose_quantity = dosage
        .and_then(|d| d.get("dose"))
        .and_then(json::quantity_of);
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

    // Its treatment: the block it names (request, supportingInformation), else the MP9
    // treatment identifier, else the one treatment of the patient with the same drug code.
    let mut line_id = None;
    let mut treatment_id = None;
    for r in res
        .get("request")
        .into_iter()
        .chain(arr(res, "supportingInformation").iter())
    {
        if let Some(t) = cx
            .ix
            .resolve_among(i, r, BLOCK_TYPES)
            .map(|t| cx.canonical_of(t))
            && let Some((lp, tid, lid)) = cx.treatment_of_entry.get(&t)
            && *lp == p
        {
            line_id = Some(lid.clone());
            treatment_id = Some(tid.clone());
            break;
        }
    }
    if treatment_id.is_none()
        && let Some(key) = treatment_identifier(res)
    {
        treatment_id = cx.treatment_by_identifier.get(&(p, key)).cloned();
    }
    if treatment_id.is_none()
        && let Some(b) = cx.patients.get(p)
    {
        let mine: Vec<&crate::record::Treatment> = b
            .rec
            .medication
            .items()
            .iter()
            .filter(|t| {
                t.blocks.iter().any(|l| {
                    l.drug.codes.iter().any(|c| {
                        c.code.is_some()
                            && drug
                                .codes
                                .iter()
                                .any(|d| d.system == c.system && d.code == c.code)
                    })
                })
            })
            .collect();
        if let [only] = mine.as_slice() {
            treatment_id = Some(only.id.to_string());
        }
    }

    let mut note_parts: Vec<String> = Vec::new();
    note_parts.extend(notes(res));
    let status_reason = arr(res, "statusReason").first().and_then(cc_text);
    if let Some(r) = &status_reason {
        note_parts.push(format!("reden: {r}"));
    }
    let why = json::ext_suffix(res, "ReasonForDeviation")
        .and_then(|e| e.get("valueCodeableConcept"))
        .and_then(cc_text);
    let deviating = json::ext_suffix(res, "DeviatingAdministration")
        .and_then(|e| e.get("valueBoolean"))
        == Some(&Value::Bool(true));
    if deviating || why.is_some() {
        note_parts.push(match why {
            Some(w) => format!("afwijkende toediening: {w}"),
            None => "afwijkende toediening".to_owned(),
        });
    }
    let item = Administration {
        drug: drug.name,
        dose: dose.text(),
        route: route.text(),
        at: Some(at),
        status: status.map(str::to_owned).text(),
        performer: performer.text(),
        line_id: line_id.text(),
        note: (!note_parts.is_empty())
            .then(|| note_parts.join(" | "))
            .text(),
        treatment_id: treatment_id.text(),
        dose_quantity,
        status_reason: status_reason.text(),
    };
    let b = cx
        .patient(p)
        .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
    super::context::push_capped(&mut b.rec.administrations, item)
}
