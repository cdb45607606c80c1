//! Mapping of the non-medication clinical resources: AllergyIntolerance, Flag (alerts),
//! Consent (treatment directives, resuscitation policy, advance directives), Condition
//! (problems), RelatedPerson (contacts), DeviceUseStatement/Device (devices) and the
//! `emptyReason` of IPS Composition sections.

use super::context::{Ctx, Negation, Outcome, Section, Skip, push_capped, reference_text};
use super::json::{self, arr, cc_code, cc_text, has_any_code, has_code, notes, obj, str_at};
use super::names;
use super::negation::{NegationCode, negation};
use super::tree::Value;
use crate::record::{
    Alert, AlertKind, Allergy, Contact, Criticality, Decision, Device, Directive, DirectiveKind,
    Moment, NotShownReason, Problem, Reaction,
};
use crate::record::{IntoText, Text};

const SNOMED: &str = "http://snomed.info/sct";
/// Nictiz code system of advance-directive types (NR = niet-reanimerenverklaring).
const NL_ADVANCE_DIRECTIVE_TYPES: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.14.1";

/// A status that is a CodeableConcept (R4) or a plain code (STU3).
fn status_code(v: &Value, key: &str) -> Option<String> {
    if let Some(code) = str_at(v, key) {
        return Some(code.to_owned());
    }
    let cc = obj(v, key)?;
    json::codings(cc)
        .iter()
        .find_map(|c| str_at(c, "code"))
        .or_else(|| str_at(cc, "text"))
        .map(str::to_owned)
}

fn ended(cx: &mut Ctx<'_, '_>, i: usize, period: Option<&Value>) -> Option<Moment> {
    let end = cx.date(i, period?.get("end"), "period.end")?;
    let until = super::dates::end_exclusive(&end)?;
    cx.note_change([until]);
    (until <= cx.opts.now).then_some(end)
}

fn defer_negation(
    cx: &mut Ctx<'_, '_>,
    i: usize,
    p: usize,
    section: Section,
    n: NegationCode,
    asserted: Option<Moment>,
) -> Outcome {
    if let Some(b) = cx.patient(p) {
        b.negations.push(Negation {
            entry: Some(i),
            section,
            statement: n.wording,
            asserted,
            no_info: n.no_info,
            partial: n.partial,
        });
        Outcome::Deferred
    } else {
        Outcome::NotShown(Skip::new(
            NotShownReason::UnresolvedReference,
            "patient gone",
        ))
    }
}

/// The screen on a plain `status` code shared by flags, consents, devices, device use and
/// compositions: entered in error, or one of `inactive`, is not shown.
fn screen_plain_status(res: &Value, inactive: &[&str]) -> Result<(), Skip> {
    match str_at(res, "status") {
        Some("entered-in-error") => Err(Skip::new(
            NotShownReason::EnteredInError,
            "status entered-in-error",
        )),
        Some(s) if inactive.contains(&s) => {
            Err(Skip::new(NotShownReason::Inactive, format!("status {s}")))
        }
        _ => Ok(()),
    }
}

/// The status screen shared by allergies and conditions: entered in error, refuted, or a
/// clinical status in `inactive` is not shown. Gives (clinical, verification) status otherwise.
type Statuses = (Option<String>, Option<String>);
fn screen_status(res: &Value, inactive: &[&str]) -> Result<Statuses, Skip> {
    let verification = status_code(res, "verificationStatus");
    let clinical = status_code(res, "clinicalStatus");
    match verification.as_deref() {
        Some("entered-in-error") => Err(Skip::new(
            NotShownReason::EnteredInError,
            "verificationStatus entered-in-error",
        )),
        Some("refuted") => Err(Skip::new(
            NotShownReason::Inactive,
            "verificationStatus refuted",
        )),
        _ => match clinical {
            Some(c) if inactive.contains(&c.as_str()) => Err(Skip::new(
                NotShownReason::Inactive,
                format!("clinicalStatus {c}"),
            )),
            c => Ok((c, verification)),
        },
    }
}

/// AllergyIntolerance → allergy (or a "no known allergy" statement).
pub(super) fn allergy(cx: &mut Ctx<'_, '_>, i: usize) -> Outcome {
    let Some(res) = cx.entry(i).map(|e| e.res) else {
        return Outcome::Deferred;
    };
    let (clinical, verification) = match screen_status(res, &["inactive", "resolved"]) {
        Ok(s) => s,
        Err(skip) => return Outcome::NotShown(skip),
    };
    let p = match cx.subject(i) {
        Ok(p) => p,
        Err(s) => return Outcome::NotShown(s),
    };
    let recorded = cx.date(i, res.get("recordedDate"), "recordedDate");
    if let Some(code) = obj(res, "code")
        && let Some(n) = negation(Section::Allergies, code)
    {
        return defer_negation(cx, i, p, Section::Allergies, n, recorded);
    }
    let reactions_v = arr(res, "reaction");
    let substance = obj(res, "code").and_then(cc_text).or_else(|| {
        reactions_v
            .iter()
            .find_map(|r| r.get("substance").and_then(cc_text))
    });
    let Some(substance) = substance else {
        return Outcome::NotShown(Skip::new(NotShownReason::Invalid, "no substance (code)"));
    };
    let criticality = match str_at(res, "criticality") {
        Some("high") => Criticality::High,
        Some("low") => Criticality::Low,
        Some("unable-to-assess") => Criticality::UnableToAssess,
        _ => Criticality::NotRecorded,
    };
    let reactions = reactions_v
        .iter()
        .take(20)
        .filter_map(|r| {
            let mut m: Vec<String> = arr(r, "manifestation").iter().filter_map(cc_text).collect();
            if let Some(d) = str_at(r, "description") {
                m.push(d.to_owned());
            }
            (!m.is_empty()).then(|| Reaction {
                manifestation: m.join(", ").text(),
                severity: str_at(r, "severity").map(str::to_owned).text(),
            })
        })
        .collect();
    let substance_code = obj(res, "code").or_else(|| {
        reactions_v
            .iter()
            .find_map(|r| r.get("substance").filter(|v| v.is_object()))
    });
    let item = Allergy {
        substance: substance.text(),
        code: substance_code.and_then(cc_code),
        codes: substance_code.map(json::cc_codes).unwrap_or_default(),
        criticality,
        kind: str_at(res, "type").map(str::to_owned).text(),
        category: arr(res, "category")
            .iter()
            .filter_map(Value::as_str)
            .take(4)
            .map(Text::new)
            .collect(),
        reactions,
        clinical_status: clinical.text(),
        verification: verification.text(),
        recorded,
        note: notes(res).text(),
    };
    match cx.patient(p) {
        Some(b) => push_capped(&mut b.rec.allergies, item).into(),
        None => Outcome::Deferred,
    }
}

fn words_lower(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Classifies an alert by its wording and codes.
pub(super) fn alert_kind(texts: &[String], code: Option<&Value>) -> AlertKind {
    let all = texts.join(" ").to_lowercase();
    let words = words_lower(&all);
    let isolation_words = [
        "mrsa",
        "brmo",
        "vre",
        "esbl",
        "cpe",
        "isolatie",
        "isolation",
    ];
    let isolation_parts = [
        "isolat",
        "meticilline",
        "methicilline",
        "methicillin",
        "multiresist",
        "resistente",
        "resistant",
        "carbapenem",
        "vancomycine",
    ];
    let isolation_codes = ["432415000", "170453007", "40174006"];
    if words.iter().any(|w| isolation_words.contains(&w.as_str()))
        || isolation_parts.iter().any(|p| all.contains(p))
        || code.is_some_and(|c| has_any_code(c, &isolation_codes))
    {
        return AlertKind::Isolation;
    }
    let fall_parts = [
        "valrisico",
        "valgevaar",
        "valneiging",
        "fall risk",
        "risk of fall",
        "risk for fall",
        "falls risk",
        "risk of falling",
    ];
    if fall_parts.iter().any(|p| all.contains(p))
        || code.is_some_and(|c| has_any_code(c, &["129839007", "408589005"]))
    {
        return AlertKind::FallRisk;
    }
    AlertKind::Other
}

/// Flag → alert.
pub(super) fn flag(cx: &mut Ctx<'_, '_>, i: usize) -> Result<(), Skip> {
    let res = cx
        .entry(i)
        .map(|e| e.res)
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no entry"))?;
    screen_plain_status(res, &["inactive"])?;
    if let Some(end) = ended(cx, i, res.get("period")) {
        return Err(Skip::new(
            NotShownReason::Inactive,
            format!("period ended {}", super::dates::iso(&end)),
        ));
    }
    let p = cx.subject(i)?;
    let code = obj(res, "code");
    let absent = code.is_some_and(|c| {
        json::codings(c).iter().any(|x| {
            str_at(x, "system") == Some("http://terminology.hl7.org/CodeSystem/data-absent-reason")
        })
    });
    let detail_text = json::extensions(res, "http://hl7.org/fhir/StructureDefinition/flag-detail")
        .find_map(|e| e.get("valueReference"))
        .and_then(|r| reference_text(cx, i, r));
    let category_text = arr(res, "category").first().and_then(cc_text);
    let text = if absent {
        detail_text.clone().or_else(|| category_text.clone())
    } else {
        code.and_then(cc_text)
            .or_else(|| detail_text.clone())
            .or_else(|| category_text.clone())
    }
    .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no alert text (code)"))?;
    let mut texts = vec![text.clone()];
    texts.extend(category_text);
    texts.extend(detail_text);
    if let Some(c) = code {
        texts.extend(json::codings(c).iter().filter_map(json::coding_text));
    }
    let kind = alert_kind(&texts, code);
    let since = cx.date(
        i,
        res.get("period").and_then(|p| p.get("start")),
        "period.start",
    );
    let note = comment(res);
    let item = Alert {
        kind,
        text: text.text(),
        code: if absent { None } else { code.and_then(cc_code) },
        codes: code
            .filter(|_| !absent)
            .map(json::cc_codes)
            .unwrap_or_default(),
        since,
        note: note.text(),
    };
    let b = cx
        .patient(p)
        .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
    push_capped(&mut b.rec.alerts, item)
}

/// Codes of a "do not resuscitate" living will / advance directive type: zib NR
/// (*niet-reanimerenverklaring*) and the NRB / DNR codes some vendors send in that list.
const DNR_TYPE_CODES: &[&str] = &["NR", "NRB", "DNR"];

fn is_dnr_type(cc: &Value) -> bool {
    DNR_TYPE_CODES
        .iter()
        .any(|c| has_code(cc, Some(NL_ADVANCE_DIRECTIVE_TYPES), c))
        || has_code(
            cc,
            Some("http://terminology.hl7.org/CodeSystem/consentcategorycodes"),
            "dnr",
        )
        || has_code(cc, Some(SNOMED), "304253006")
        || cc_text(cc).is_some_and(|t| {
            let t = t.to_lowercase();
            t.contains("niet reanim")
                || t.contains("niet-reanim")
                || t.contains("do not resuscitate")
                || t.contains("do-not-resuscitate")
        })
}

fn is_resuscitation(res: &Value, provision: Option<&Value>, treatment: Option<&Value>) -> bool {
    let cpr = |cc: &Value| has_code(cc, Some(SNOMED), "89666000") || is_dnr_type(cc);
    treatment.is_some_and(cpr)
        || provision.is_some_and(|p| arr(p, "code").iter().any(cpr))
        || arr(res, "category").iter().any(is_dnr_type)
}

fn is_denial_code(res: &Value, provision: Option<&Value>) -> bool {
    provision.is_some_and(|p| arr(p, "code").iter().any(is_dnr_type))
        || arr(res, "category").iter().any(is_dnr_type)
}

/// The comment extension (R4 `ext-Comment`, zib2017 `Comment`).
fn comment(res: &Value) -> Option<String> {
    ["ext-Comment", "StructureDefinition/Comment"]
        .iter()
        .find_map(|s| json::ext_suffix(res, s))
        .and_then(|e| str_at(e, "valueString"))
        .map(str::to_owned)
}

/// The zib2017 TreatmentPermitted decision (JA / NEE / JA_MAAR and anything else).
fn treatment_permitted(res: &Value) -> Option<Decision> {
    let cc = json::modext_suffix(res, "TreatmentDirective-TreatmentPermitted")
        .and_then(|e| obj(e, "valueCodeableConcept"))?;
    Some(if has_code(cc, None, "JA") {
        Decision::Permit
    } else if has_code(cc, None, "NEE") {
        Decision::Deny
    } else {
        Decision::Other
    })
}

/// Consent → treatment directive / resuscitation policy / advance directive. Read in the
/// R4 (nl-core TreatmentDirective2 / AdvanceDirective, IPS) and the STU3 zib2017
/// (zib-TreatmentDirective with TreatmentPermitted, zib-AdvanceDirective) shapes.
pub(super) fn consent(cx: &mut Ctx<'_, '_>, i: usize) -> Result<(), Skip> {
    let (res, profile_ad) = cx
        .entry(i)
        .map(|e| {
            let ad = arr(e.res.get("meta").unwrap_or(&Value::Null), "profile")
                .iter()
                .filter_map(Value::as_str)
                .any(|p| p.ends_with("AdvanceDirective"));
            (e.res, ad)
        })
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no entry"))?;
    let status = str_at(res, "status");
    screen_plain_status(res, &["inactive", "rejected", "draft", "proposed"])?;
    let provision = obj(res, "provision");
    // R4: provision.period; STU3: Consent.period.
    let period = provision
        .and_then(|p| p.get("period"))
        .or_else(|| res.get("period"));
    if let Some(end) = ended(cx, i, period) {
        return Err(Skip::new(
            NotShownReason::Inactive,
            format!("provision period ended {}", super::dates::iso(&end)),
        ));
    }
    let p = cx.subject(i)?;
    let treatment_ext = [
        "TreatmentDirective2.Treatment",
        "TreatmentDirective-Treatment",
    ]
    .iter()
    .find_map(|s| {
        json::ext_suffix(res, s).or_else(|| provision.and_then(|p| json::ext_suffix(p, s)))
    })
    .and_then(|e| e.get("valueCodeableConcept"));
    let advance = profile_ad
        || obj(res, "scope").is_some_and(|s| has_code(s, None, "adr"))
        || arr(res, "category")
            .iter()
            .any(|c| has_code(c, None, "acd") || has_code(c, Some(SNOMED), "11341000146107"));
    let kind = if is_resuscitation(res, provision, treatment_ext) {
        DirectiveKind::Resuscitation
    } else if advance {
        DirectiveKind::AdvanceDirective
    } else {
        DirectiveKind::Treatment
    };
    let specification_other = json::modext_suffix(res, "TreatmentDirective2.SpecificationOther")
        .and_then(|e| str_at(e, "valueString"))
        .map(str::to_owned);
    let decision = if specification_other.is_some() {
        Decision::Other
    } else if let Some(d) = treatment_permitted(res) {
        d
    } else {
        match provision.and_then(|p| str_at(p, "type")) {
            Some("permit") => Decision::Permit,
            Some("deny") => Decision::Deny,
            _ if is_denial_code(res, provision) => Decision::Deny,
            _ => Decision::Other,
        }
    };
    // The advance directive's type (zib2017 puts it in category).
    let directive_type = arr(res, "category").iter().find(|c| {
        json::codings(c)
            .iter()
            .any(|x| str_at(x, "system") == Some(NL_ADVANCE_DIRECTIVE_TYPES))
    });
    let treatment = treatment_ext
        .and_then(cc_text)
        .or_else(|| provision.and_then(|p| arr(p, "code").iter().find_map(cc_text)))
        .or_else(|| directive_type.and_then(cc_text))
        .or_else(|| arr(res, "category").iter().find_map(cc_text))
        .unwrap_or_else(|| "(behandeling niet vermeld)".to_owned());
    let mut codes = Vec::new();
    codes.extend(treatment_ext.map(json::cc_codes).unwrap_or_default());
    if let Some(p) = provision {
        for c in arr(p, "code").iter().take(10) {
            codes.extend(json::cc_codes(c));
        }
    }
    for c in arr(res, "category").iter().take(10) {
        codes.extend(json::cc_codes(c));
    }
    codes.truncate(json::MAX_CODINGS);
    let mut text_parts: Vec<String> = Vec::new();
    text_parts.extend(specification_other);
    // STU3 carries restrictions on `except`.
    let excepts = arr(res, "except");
    for suffix in ["Restrictions"] {
        for holder in [Some(res), provision]
            .into_iter()
            .flatten()
            .chain(excepts.iter().take(10))
        {
            if let Some(t) = json::ext_suffix(holder, suffix).and_then(|e| str_at(e, "valueString"))
            {
                text_parts.push(t.to_owned());
            }
        }
    }
    for holder in [Some(res), provision].into_iter().flatten() {
        if let Some(t) = comment(holder) {
            text_parts.push(t);
        }
    }
    if let Some(src) = res
        .get("sourceReference")
        .and_then(|r| str_at(r, "display"))
    {
        text_parts.push(format!("bron: {src}"));
    }
    let source = provision
        .map(|p| arr(p, "actor"))
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.get("reference"))
        .filter_map(|r| cx.party_name(i, r))
        .collect::<Vec<_>>();
    let source = (!source.is_empty())
        .then(|| source.join(", "))
        .or_else(|| {
            arr(res, "performer")
                .iter()
                .find_map(|r| cx.party_name(i, r))
        })
        .or_else(|| {
            // STU3: consentingParty.
            arr(res, "consentingParty")
                .iter()
                .find_map(|r| cx.party_name(i, r))
        });
    let date = cx.date(i, res.get("dateTime"), "dateTime");
    let item = Directive {
        kind,
        treatment: treatment.text(),
        decision,
        text: (!text_parts.is_empty())
            .then(|| text_parts.join(" | "))
            .text(),
        source: source.text(),
        date,
        status: status.map(str::to_owned).text(),
        codes,
    };
    let b = cx
        .patient(p)
        .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
    push_capped(&mut b.rec.directives, item)
}

/// Condition → problem (or a "no known problems" statement).
pub(super) fn condition(cx: &mut Ctx<'_, '_>, i: usize) -> Outcome {
    let Some(res) = cx.entry(i).map(|e| e.res) else {
        return Outcome::Deferred;
    };
    let (clinical, _) = match screen_status(res, &["inactive", "remission", "resolved"]) {
        Ok(s) => s,
        Err(skip) => return Outcome::NotShown(skip),
    };
    let abated = if clinical.is_none() {
        cx.date(i, res.get("abatementDateTime"), "abatementDateTime")
    } else {
        None
    };
    if let Some(a) = abated {
        cx.note_change(a.earliest_utc());
    }
    if abated
        .and_then(|a| a.earliest_utc())
        .is_some_and(|t| t <= cx.opts.now)
    {
        return Outcome::NotShown(Skip::new(NotShownReason::Inactive, "abated"));
    }
    let p = match cx.subject(i) {
        Ok(p) => p,
        Err(s) => return Outcome::NotShown(s),
    };
    let recorded = cx.date(i, res.get("recordedDate"), "recordedDate");
    let Some(code) = obj(res, "code") else {
        return Outcome::NotShown(Skip::new(NotShownReason::Invalid, "no code"));
    };
    if let Some(n) = negation(Section::Problems, code) {
        return defer_negation(cx, i, p, Section::Problems, n, recorded);
    }
    let Some(name) = cc_text(code) else {
        return Outcome::NotShown(Skip::new(NotShownReason::Invalid, "code without text"));
    };
    let onset = cx
        .date(i, res.get("onsetDateTime"), "onsetDateTime")
        .or_else(|| {
            let v = res.get("onsetPeriod").and_then(|p| p.get("start"));
            cx.date(i, v, "onsetPeriod.start")
        });
    let item = Problem {
        name: name.text(),
        code: cc_code(code),
        codes: json::cc_codes(code),
        status: clinical.text(),
        onset,
    };
    match cx.patient(p) {
        Some(b) => push_capped(&mut b.rec.problems, item).into(),
        None => Outcome::Deferred,
    }
}

/// RelatedPerson → contact.
pub(super) fn related_person(cx: &mut Ctx<'_, '_>, i: usize) -> Result<(), Skip> {
    let res = cx
        .entry(i)
        .map(|e| e.res)
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no entry"))?;
    if res.get("active").and_then(Value::as_bool) == Some(false) {
        return Err(Skip::new(NotShownReason::Inactive, "active = false"));
    }
    let p = cx.subject(i)?;
    let name = names::pick(arr(res, "name"))
        .map(|n| names::person_name(n).display)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| Text::new("(naam onbekend)"));
    let (relationship, role) = super::patient::contact_roles(arr(res, "relationship"));
    let item = Contact {
        name,
        relationship: relationship.text(),
        role: role.text(),
        telecom: super::patient::telecoms(res).text(),
    };
    let b = cx
        .patient(p)
        .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
    push_capped(&mut b.rec.contacts, item)
}

fn device_name(res: &Value) -> Option<String> {
    arr(res, "deviceName")
        .iter()
        .find_map(|n| str_at(n, "name"))
        .map(str::to_owned)
        .or_else(|| res.get("type").and_then(cc_text))
}

/// DeviceUseStatement (with its Device) → device.
pub(super) fn device_use(cx: &mut Ctx<'_, '_>, i: usize) -> Result<(), Skip> {
    let res = cx
        .entry(i)
        .map(|e| e.res)
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no entry"))?;
    screen_plain_status(res, &["completed", "stopped", "intended"])?;
    if let Some(end) = ended(cx, i, res.get("timingPeriod")) {
        return Err(Skip::new(
            NotShownReason::Inactive,
            format!("use ended {}", super::dates::iso(&end)),
        ));
    }
    let p = cx.subject(i)?;
    let dref = res.get("device");
    let dev = dref
        .and_then(|r| cx.ix.resolve(i, r))
        .and_then(|d| cx.entry(d))
        .map(|e| e.res);
    let name = dev
        .and_then(device_name)
        .or_else(|| dref.and_then(|r| str_at(r, "display")).map(str::to_owned))
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no device name"))?;
    let since = {
        let v = res
            .get("timingPeriod")
            .and_then(|t| t.get("start"))
            .or_else(|| res.get("timingDateTime"))
            .or_else(|| res.get("recordedOn"));
        cx.date(i, v, "timing")
    };
    let mut note_parts: Vec<String> = Vec::new();
    note_parts.extend(notes(res));
    note_parts.extend(dev.and_then(notes));
    let item = Device {
        name: name.text(),
        code: dev.and_then(|d| d.get("type")).and_then(cc_code),
        since,
        body_site: res.get("bodySite").and_then(cc_text).text(),
        note: (!note_parts.is_empty())
            .then(|| note_parts.join(" | "))
            .text(),
    };
    let b = cx
        .patient(p)
        .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
    push_capped(&mut b.rec.devices, item)
}

/// A Device with a patient and no DeviceUseStatement → device.
pub(super) fn device(cx: &mut Ctx<'_, '_>, i: usize) -> Result<(), Skip> {
    let res = cx
        .entry(i)
        .map(|e| e.res)
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no entry"))?;
    screen_plain_status(res, &["inactive"])?;
    if res.get("patient").is_none() {
        return Err(Skip::new(
            NotShownReason::ReferencedOnly,
            "Device without patient or DeviceUseStatement",
        ));
    }
    let p = cx.subject(i)?;
    let name =
        device_name(res).ok_or_else(|| Skip::new(NotShownReason::Invalid, "no device name"))?;
    let item = Device {
        name: name.text(),
        code: res.get("type").and_then(cc_code),
        since: None,
        body_site: None,
        note: notes(res).text(),
    };
    let b = cx
        .patient(p)
        .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
    push_capped(&mut b.rec.devices, item)
}

/// Composition (IPS document header): section `emptyReason` "nilknown" for allergies,
/// medication or problems becomes "none documented"; other empty reasons leave the
/// section not recorded.
pub(super) fn composition(cx: &mut Ctx<'_, '_>, i: usize) -> Result<(), Skip> {
    let res = cx
        .entry(i)
        .map(|e| e.res)
        .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no entry"))?;
    screen_plain_status(res, &[])?;
    let p = cx.subject(i)?;
    let date = cx.date(i, res.get("date"), "date");
    let mut negs = Vec::new();
    for s in arr(res, "section").iter().take(100) {
        let Some(code) = obj(s, "code") else { continue };
        let section = if has_code(code, Some("http://loinc.org"), "48765-2") {
            Section::Allergies
        } else if has_code(code, Some("http://loinc.org"), "10160-0") {
            Section::Medication
        } else if has_code(code, Some("http://loinc.org"), "11450-4") {
            Section::Problems
        } else {
            continue;
        };
        if !arr(s, "entry").is_empty() {
            continue;
        }
        if let Some(er) = obj(s, "emptyReason")
            && has_code(er, None, "nilknown")
        {
            negs.push(Negation {
                entry: None,
                section,
                statement: cc_text(er).unwrap_or_else(|| "geen bekend".to_owned()),
                asserted: date,
                no_info: false,
                partial: None,
            });
        }
    }
    let b = cx
        .patient(p)
        .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "patient gone"))?;
    b.negations.extend(negs);
    Ok(())
}
