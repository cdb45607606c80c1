//! The mapper: parsed FHIR documents → [`WardRecord`] plus the [`IngestReport`] that
//! accounts for every input resource (mapped, or not shown with a reason).
//!
//! Order of work: flatten and index ([`super::refs`]); report malformed entries and
//! duplicates (same fullUrl, or same `Type/id` without fullUrl: the first is kept); map
//! Patients; pick each patient's current admission ([`super::location`]); map the clinical
//! resources ([`super::clinical`], [`super::medication`]); then administrations (they link
//! to medication lines) and observations (they are windowed and trimmed per code); finally
//! settle "none documented" statements against listed items, bound all strings and sort.

use super::clinical;
use super::dates;
use super::json::{self, arr, cc_text, str_at};
use super::location;
use super::medication;
use super::names;
use super::observation;
use super::refs::{Entry, Index};
use crate::record::{
    Admission, BedLocation, Contact, Identity, IngestReport, Listed, Moment, NotShownReason,
    PatientRecord, PersonName, Sex, WardRecord,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Most items kept per section per patient.
pub const MAX_ITEMS_PER_SECTION: usize = 500;
/// Most results kept per test code (newest first) within the observation window.
pub const MAX_RESULTS_PER_CODE: usize = 3;
/// Most patients mapped from one payload.
pub const MAX_PATIENTS: usize = 20_000;

/// BSN naming system.
pub const BSN_SYSTEM: &str = "http://fhir.nl/fhir/NamingSystem/bsn";
/// BSN as an OID (seen in IPS examples from the Netherlands).
pub const BSN_OID: &str = "urn:oid:2.16.840.1.113883.2.4.6.3";

/// Options for one mapping run.
#[derive(Debug, Clone)]
pub struct MapOptions {
    /// Reference time for windows and "has this ended?" checks.
    pub now: DateTime<Utc>,
    /// How far back administrations are shown (72 h by default).
    pub administration_window: Duration,
    /// How far back vital signs and lab results are shown.
    pub observation_window: Duration,
    /// Ward id for the record.
    pub ward: String,
}

impl MapOptions {
    /// Default windows (administrations 72 h, observations 7 days) at `now`.
    pub fn new(now: DateTime<Utc>, ward: impl Into<String>) -> MapOptions {
        MapOptions {
            now,
            administration_window: Duration::from_secs(72 * 3600),
            observation_window: Duration::from_secs(7 * 24 * 3600),
            ward: ward.into(),
        }
    }

    /// `now` minus a window (saturating at the earliest representable time).
    pub fn since(&self, window: Duration) -> DateTime<Utc> {
        chrono::Duration::from_std(window)
            .ok()
            .and_then(|w| self.now.checked_sub_signed(w))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Why a resource is not shown (the reason plus a short technical detail).
#[derive(Debug)]
pub struct Skip {
    pub reason: NotShownReason,
    pub detail: String,
}

impl Skip {
    pub fn new(reason: NotShownReason, detail: impl Into<String>) -> Skip {
        Skip {
            reason,
            detail: detail.into(),
        }
    }
}

/// The outcome of handling one resource.
pub enum Outcome {
    Mapped,
    NotShown(Skip),
    /// Accounted for later (negation statements settled at the end).
    Deferred,
}

impl From<Result<(), Skip>> for Outcome {
    fn from(r: Result<(), Skip>) -> Outcome {
        match r {
            Ok(()) => Outcome::Mapped,
            Err(s) => Outcome::NotShown(s),
        }
    }
}

/// Which list a "none documented" statement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Allergies,
    Medication,
    Problems,
}

/// A statement that there are none (or that nothing is known) for a section.
#[derive(Debug)]
pub struct Negation {
    /// The entry to account for at the end (None: from a Composition already counted).
    pub entry: Option<usize>,
    pub section: Section,
    pub statement: String,
    pub asserted: Option<Moment>,
    /// True for "no information" (stays not recorded); false for "none known".
    pub no_info: bool,
}

/// A patient being built.
pub struct PatientBuilder {
    pub fhir_id: String,
    pub rec: PatientRecord,
    pub negations: Vec<Negation>,
    /// Observations kept so far: (entry, is vital, code key, measurement).
    pub observations: Vec<(usize, bool, String, crate::record::Measurement)>,
}

/// Shared state of one mapping run.
pub struct Ctx<'a, 'o> {
    pub ix: Index<'a>,
    pub opts: &'o MapOptions,
    pub report: IngestReport,
    pub patients: Vec<PatientBuilder>,
    /// Patient entry index → builder index.
    pub patient_of_entry: HashMap<usize, usize>,
    /// Medication line entries → (builder index, line id).
    pub line_of_entry: HashMap<usize, (usize, String)>,
    /// Entries already accounted for.
    pub done: Vec<bool>,
    /// Duplicate entry → the first copy (which is the one mapped).
    pub canonical: HashMap<usize, usize>,
}

impl<'a> Ctx<'a, '_> {
    /// The entry at `i` (always present for indices from the index).
    pub fn entry(&self, i: usize) -> Option<&Entry<'a>> {
        self.ix.get(i)
    }

    /// Records the outcome of entry `i`.
    pub fn account(&mut self, i: usize, outcome: Outcome) {
        let Some(e) = self.ix.get(i) else { return };
        if self.done.get(i).copied().unwrap_or(true) {
            return;
        }
        let rtype = e.rtype;
        let label = e.label();
        match outcome {
            Outcome::Mapped => self.report.mapped(rtype),
            Outcome::NotShown(s) => {
                self.report
                    .not_shown(rtype, label.as_deref(), s.reason, s.detail)
            }
            Outcome::Deferred => return,
        }
        if let Some(d) = self.done.get_mut(i) {
            *d = true;
        }
    }

    /// Adds a warning (bounded in number).
    pub fn warn(&mut self, w: impl Into<String>) {
        const MAX_WARNINGS: usize = 10_000;
        if self.report.warnings.len() < MAX_WARNINGS {
            self.report.warnings.push(w.into());
        }
    }

    /// Parses a FHIR date element of entry `i`, warning about an invalid value.
    pub fn date(&mut self, i: usize, v: Option<&Value>, what: &str) -> Option<Moment> {
        let s = v?.as_str()?;
        match dates::parse(s) {
            Some(m) => Some(m),
            None => {
                let label = self
                    .ix
                    .get(i)
                    .map(|e| format!("{}/{}", e.rtype, e.label().unwrap_or_default()))
                    .unwrap_or_default();
                let shown: String = s.chars().take(40).collect();
                self.warn(format!("{label}: invalid {what} {shown:?} ignored"));
                None
            }
        }
    }

    /// The patient (builder index) a resource is about, from `subject` or `patient`.
    pub fn subject(&self, i: usize) -> Result<usize, Skip> {
        let e = self
            .ix
            .get(i)
            .ok_or_else(|| Skip::new(NotShownReason::Invalid, "no such entry"))?;
        let r = e
            .res
            .get("subject")
            .or_else(|| e.res.get("patient"))
            .or_else(|| e.res.get("beneficiary"))
            .filter(|r| r.is_object())
            .ok_or_else(|| Skip::new(NotShownReason::UnresolvedReference, "no subject/patient"))?;
        let describe = || {
            str_at(r, "reference")
                .map(|s| s.chars().take(120).collect::<String>())
                .unwrap_or_else(|| {
                    if r.get("identifier").is_some() {
                        "an identifier".to_owned()
                    } else {
                        "a display only".to_owned()
                    }
                })
        };
        let target = self.ix.resolve(i, r).ok_or_else(|| {
            Skip::new(
                NotShownReason::UnresolvedReference,
                format!("subject {} not in the snapshot", describe()),
            )
        })?;
        let target = self.canonical_of(target);
        self.patient_of_entry.get(&target).copied().ok_or_else(|| {
            Skip::new(
                NotShownReason::UnresolvedReference,
                format!("subject {} is not a shown Patient", describe()),
            )
        })
    }

    /// A display name for a reference to a person or organisation: the referenced
    /// Practitioner/PractitionerRole/RelatedPerson/Patient/Organization name, else the
    /// reference's display.
    pub fn party_name(&self, from: usize, r: &Value) -> Option<String> {
        let resolved = self.ix.resolve(from, r).and_then(|t| self.name_of(t, 0));
        resolved.or_else(|| str_at(r, "display").map(str::to_owned))
    }

    fn name_of(&self, i: usize, depth: usize) -> Option<String> {
        let e = self.ix.get(i)?;
        match e.rtype {
            "Practitioner" | "RelatedPerson" | "Patient" => names::pick(arr(e.res, "name"))
                .map(|n| names::person_name(n).display)
                .filter(|s| !s.is_empty()),
            "PractitionerRole" if depth < 2 => {
                let p = e.res.get("practitioner").and_then(|p| {
                    self.ix
                        .resolve(i, p)
                        .and_then(|t| self.name_of(t, depth + 1))
                        .or_else(|| str_at(p, "display").map(str::to_owned))
                });
                let role = arr(e.res, "specialty")
                    .first()
                    .and_then(cc_text)
                    .or_else(|| arr(e.res, "code").first().and_then(cc_text));
                match (p, role) {
                    (Some(p), Some(r)) => Some(format!("{p} ({r})")),
                    (p, _) => p,
                }
            }
            "Organization" | "Location" | "Device" | "CareTeam" | "HealthcareService" => {
                str_at(e.res, "name").map(str::to_owned)
            }
            _ => None,
        }
    }

    /// The entry that stands for `i` (the first copy when `i` is a duplicate).
    pub fn canonical_of(&self, i: usize) -> usize {
        self.canonical.get(&i).copied().unwrap_or(i)
    }

    /// The builder of patient `p`.
    pub fn patient(&mut self, p: usize) -> Option<&mut PatientBuilder> {
        self.patients.get_mut(p)
    }
}

/// Adds an item to a section, enforcing the per-section cap.
pub fn push_capped<T>(list: &mut Listed<T>, item: T) -> Result<(), Skip> {
    if list.items().len() >= MAX_ITEMS_PER_SECTION {
        return Err(Skip::new(
            NotShownReason::Invalid,
            format!("section holds the maximum of {MAX_ITEMS_PER_SECTION} items"),
        ));
    }
    list.push(item);
    Ok(())
}

/// Types used only to resolve references of other resources.
const REFERENCED_ONLY: &[&str] = &[
    "Medication",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Specimen",
    "Substance",
    "HealthcareService",
    "Endpoint",
    "Group",
];

/// Modifier extensions the mapper understands (URL suffixes).
pub const KNOWN_MODIFIERS: &[&str] = &[
    "ext-StopType",
    "RepeatPeriodCyclicalSchedule",
    "TreatmentDirective2.SpecificationOther",
];

/// Maps documents into the model.
pub fn map(docs: &[&Value], opts: &MapOptions) -> WardRecord {
    let ix = Index::build(docs.iter().copied());
    let n = ix.entries.len();
    let mut cx = Ctx {
        ix,
        opts,
        report: IngestReport::default(),
        patients: Vec::new(),
        patient_of_entry: HashMap::new(),
        line_of_entry: HashMap::new(),
        done: vec![false; n],
        canonical: HashMap::new(),
    };
    let malformed: Vec<_> = cx.ix.malformed.drain(..).collect();
    for m in malformed {
        cx.report
            .not_shown(&m.rtype, m.id.as_deref(), NotShownReason::Invalid, m.detail);
    }
    if n >= super::refs::MAX_RESOURCES {
        cx.warn(format!(
            "input holds more than {} resources; the rest was not read",
            super::refs::MAX_RESOURCES
        ));
    }

    // Duplicates: same fullUrl, or same Type/id when no fullUrl (top-level only).
    let mut seen: HashMap<String, usize> = HashMap::new();
    for i in 0..n {
        let Some(e) = cx.entry(i) else { continue };
        if e.container.is_some() {
            continue;
        }
        let key = match (e.full_url, e.id) {
            (Some(u), _) => u.to_owned(),
            (None, Some(id)) => format!("{}/{}", e.rtype, id),
            (None, None) => continue,
        };
        if let Some(&first) = seen.get(&key) {
            cx.canonical.insert(i, first);
            cx.account(
                i,
                Outcome::NotShown(Skip::new(
                    NotShownReason::Duplicate,
                    "a resource with the same identity was read earlier",
                )),
            );
        } else {
            seen.insert(key, i);
        }
    }

    // Patients.
    for i in 0..n {
        if is_todo(&cx, i, "Patient") {
            let o = map_patient(&mut cx, i);
            cx.account(i, o);
        }
    }
    // Encounters (current admission).
    map_encounters(&mut cx);

    // Devices referenced by a DeviceUseStatement are shown through it.
    let mut used_devices = HashSet::new();
    for i in 0..n {
        if let Some(e) = cx.entry(i)
            && e.rtype == "DeviceUseStatement"
            && let Some(d) = e.res.get("device")
            && let Some(t) = cx.ix.resolve(i, d)
        {
            used_devices.insert(t);
        }
    }

    // Modifier extensions change the meaning of a resource; say so when we do not know one.
    for i in 0..n {
        let Some(e) = cx.entry(i) else { continue };
        let unknown: Vec<String> = arr(e.res, "modifierExtension")
            .iter()
            .filter_map(|m| str_at(m, "url"))
            .filter(|u| !KNOWN_MODIFIERS.iter().any(|k| u.ends_with(k)))
            .map(|u| u.chars().take(200).collect())
            .collect();
        if !unknown.is_empty() {
            let label = format!("{}/{}", e.rtype, e.label().unwrap_or_default());
            for u in unknown {
                cx.warn(format!(
                    "{label}: unknown modifierExtension {u}; its meaning may differ from what is shown"
                ));
            }
        }
    }

    // Everything else but administrations and observations.
    for i in 0..n {
        let Some(e) = cx.entry(i) else { continue };
        if cx.done.get(i).copied().unwrap_or(true) || e.container.is_some() {
            continue;
        }
        let rtype = e.rtype;
        let o: Outcome = match rtype {
            "MedicationAdministration" | "Observation" => continue,
            "AllergyIntolerance" => clinical::allergy(&mut cx, i),
            "Flag" => clinical::flag(&mut cx, i).into(),
            "Consent" => clinical::consent(&mut cx, i).into(),
            "Condition" => clinical::condition(&mut cx, i),
            "RelatedPerson" => clinical::related_person(&mut cx, i).into(),
            "DeviceUseStatement" => clinical::device_use(&mut cx, i).into(),
            "Device" if used_devices.contains(&i) => Outcome::NotShown(Skip::new(
                NotShownReason::ReferencedOnly,
                "shown through its DeviceUseStatement",
            )),
            "Device" => clinical::device(&mut cx, i).into(),
            "Composition" => clinical::composition(&mut cx, i).into(),
            "MedicationRequest" | "MedicationDispense" | "MedicationStatement" => {
                medication::line(&mut cx, i)
            }
            t if REFERENCED_ONLY.contains(&t) => Outcome::NotShown(Skip::new(
                NotShownReason::ReferencedOnly,
                "used to resolve references",
            )),
            t => Outcome::NotShown(Skip::new(
                NotShownReason::UnsupportedType,
                format!("{t} is not shown"),
            )),
        };
        cx.account(i, o);
    }
    for i in 0..n {
        if is_todo(&cx, i, "MedicationAdministration") {
            let o = medication::administration(&mut cx, i).into();
            cx.account(i, o);
        }
    }
    for i in 0..n {
        if is_todo(&cx, i, "Observation") {
            let o = observation::observation(&mut cx, i);
            cx.account(i, o);
        }
    }
    observation::settle(&mut cx);

    // Contained resources: part of their container.
    for i in 0..n {
        let Some(e) = cx.entry(i) else { continue };
        if let Some(c) = e.container {
            let label = cx
                .entry(c)
                .map(|c| format!("{}/{}", c.rtype, c.label().unwrap_or_default()))
                .unwrap_or_default();
            cx.account(
                i,
                Outcome::NotShown(Skip::new(
                    NotShownReason::ReferencedOnly,
                    format!("contained in {label}"),
                )),
            );
        }
    }

    settle_negations(&mut cx);
    finish(cx)
}

fn is_todo(cx: &Ctx<'_, '_>, i: usize, rtype: &str) -> bool {
    cx.entry(i)
        .is_some_and(|e| e.rtype == rtype && e.container.is_none())
        && !cx.done.get(i).copied().unwrap_or(true)
}

fn identity(cx: &mut Ctx<'_, '_>, i: usize, res: &Value) -> Identity {
    let name = names::pick(arr(res, "name"))
        .map(names::person_name)
        .unwrap_or_else(|| PersonName {
            display: "(naam onbekend)".to_owned(),
            sort_key: "(naam onbekend)".to_owned(),
            ..PersonName::default()
        });
    let sex = match str_at(res, "gender") {
        Some("female") => Sex::Female,
        Some("male") => Sex::Male,
        Some("other") => Sex::Other,
        _ => Sex::Unknown,
    };
    let birth_date = cx.date(i, res.get("birthDate"), "birthDate");
    let idents = arr(res, "identifier");
    let bsn = idents
        .iter()
        .find(|id| matches!(str_at(id, "system"), Some(BSN_SYSTEM | BSN_OID)))
        .and_then(|id| str_at(id, "value"))
        .map(str::to_owned);
    let is_mr = |id: &Value| {
        id.get("type").is_some_and(|t| {
            json::has_code(
                t,
                Some("http://terminology.hl7.org/CodeSystem/v2-0203"),
                "MR",
            )
        })
    };
    let patient_number = idents
        .iter()
        .find(|id| is_mr(id))
        .or_else(|| {
            idents
                .iter()
                .find(|id| !matches!(str_at(id, "system"), Some(BSN_SYSTEM | BSN_OID)))
        })
        .and_then(|id| str_at(id, "value"))
        .map(str::to_owned);
    let deceased = res.get("deceasedBoolean").and_then(Value::as_bool) == Some(true)
        || res.get("deceasedDateTime").is_some_and(|v| v.is_string());
    Identity {
        name,
        birth_date,
        sex,
        bsn,
        patient_number,
        deceased,
    }
}

fn map_patient(cx: &mut Ctx<'_, '_>, i: usize) -> Outcome {
    let Some(e) = cx.entry(i) else {
        return Outcome::Deferred;
    };
    let res = e.res;
    let fhir_id = e.id.or(e.full_url).unwrap_or("patient").to_owned();
    if res.get("active").and_then(Value::as_bool) == Some(false) {
        return Outcome::NotShown(Skip::new(
            NotShownReason::Inactive,
            "Patient.active = false",
        ));
    }
    if arr(res, "link")
        .iter()
        .any(|l| str_at(l, "type") == Some("replaced-by"))
    {
        return Outcome::NotShown(Skip::new(
            NotShownReason::Inactive,
            "Patient replaced by another record",
        ));
    }
    if cx.patients.len() >= MAX_PATIENTS {
        return Outcome::NotShown(Skip::new(
            NotShownReason::Invalid,
            format!("more than {MAX_PATIENTS} patients"),
        ));
    }
    let identity = identity(cx, i, res);
    let mut contacts = Listed::NotRecorded;
    for c in arr(res, "contact") {
        let contact = patient_contact(c);
        if push_capped(&mut contacts, contact).is_err() {
            cx.warn(format!(
                "Patient/{fhir_id}: too many contacts; rest not shown"
            ));
            break;
        }
    }
    let rec = PatientRecord {
        key: String::new(),
        identity,
        location: BedLocation::default(),
        admission: None,
        alerts: Listed::NotRecorded,
        allergies: Listed::NotRecorded,
        directives: Listed::NotRecorded,
        problems: Listed::NotRecorded,
        medication: Listed::NotRecorded,
        administrations: Listed::NotRecorded,
        vitals: Listed::NotRecorded,
        labs: Listed::NotRecorded,
        contacts,
        devices: Listed::NotRecorded,
    };
    cx.patient_of_entry.insert(i, cx.patients.len());
    cx.patients.push(PatientBuilder {
        fhir_id,
        rec,
        negations: Vec::new(),
        observations: Vec::new(),
    });
    Outcome::Mapped
}

/// Splits relationship codings into role (contact-person role tables) and relationship.
pub fn contact_roles(rels: &[Value]) -> (Option<String>, Option<String>) {
    let role_systems = [
        "urn:oid:2.16.840.1.113883.2.4.3.11.22.472",
        "http://terminology.hl7.org/CodeSystem/v2-0131",
    ];
    let mut roles = Vec::new();
    let mut relations = Vec::new();
    for cc in rels {
        let codings = json::codings(cc);
        if codings.is_empty() {
            if let Some(t) = str_at(cc, "text") {
                relations.push(t.to_owned());
            }
            continue;
        }
        for c in codings {
            let Some(t) = json::coding_text(c) else {
                continue;
            };
            if role_systems.contains(&str_at(c, "system").unwrap_or_default()) {
                roles.push(t);
            } else {
                relations.push(t);
            }
        }
    }
    let j = |v: Vec<String>| (!v.is_empty()).then(|| v.join(", "));
    (j(relations), j(roles))
}

/// Telecom values as shown ("+31611234567", "jan@example.nl").
pub fn telecoms(v: &Value) -> Vec<String> {
    arr(v, "telecom")
        .iter()
        .filter_map(|t| str_at(t, "value"))
        .take(10)
        .map(str::to_owned)
        .collect()
}

fn patient_contact(c: &Value) -> Contact {
    let name = c
        .get("name")
        .filter(|n| n.is_object())
        .map(|n| names::person_name(n).display)
        .filter(|n| !n.is_empty())
        .or_else(|| {
            c.get("organization")
                .and_then(|o| str_at(o, "display"))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "(naam onbekend)".to_owned());
    let (relationship, role) = contact_roles(arr(c, "relationship"));
    Contact {
        name,
        relationship,
        role,
        telecom: telecoms(c),
    }
}

fn map_encounters(cx: &mut Ctx<'_, '_>) {
    let n = cx.ix.entries.len();
    // Candidates per patient: (entry, start).
    let mut current: HashMap<usize, Vec<(usize, Option<Moment>)>> = HashMap::new();
    for i in 0..n {
        if !is_todo(cx, i, "Encounter") {
            continue;
        }
        let Some(e) = cx.entry(i) else { continue };
        let res = e.res;
        let status = str_at(res, "status");
        if status == Some("entered-in-error") {
            cx.account(
                i,
                Outcome::NotShown(Skip::new(
                    NotShownReason::EnteredInError,
                    "status entered-in-error",
                )),
            );
            continue;
        }
        let p = match cx.subject(i) {
            Ok(p) => p,
            Err(s) => {
                cx.account(i, Outcome::NotShown(s));
                continue;
            }
        };
        let class = res.get("class");
        if !location::is_current_status(status) || !location::is_inpatient_class(class) {
            let class_code = class.and_then(|c| str_at(c, "code")).unwrap_or("-");
            let detail = format!(
                "not a current inpatient stay (status {}, class {})",
                status.unwrap_or("-"),
                class_code
            );
            cx.account(
                i,
                Outcome::NotShown(Skip::new(NotShownReason::Inactive, detail)),
            );
            continue;
        }
        let start = cx.date(
            i,
            res.get("period").and_then(|p| p.get("start")),
            "period.start",
        );
        current.entry(p).or_default().push((i, start));
    }
    let mut by_patient: Vec<_> = current.into_iter().collect();
    by_patient.sort_by_key(|(p, _)| *p);
    for (p, mut encs) in by_patient {
        // Latest start first; ties by input order.
        encs.sort_by(|a, b| {
            let ka = a.1.and_then(|m| m.earliest_utc());
            let kb = b.1.and_then(|m| m.earliest_utc());
            kb.cmp(&ka).then(a.0.cmp(&b.0))
        });
        let mut it = encs.into_iter();
        let Some((chosen, start)) = it.next() else {
            continue;
        };
        for (other, _) in it {
            cx.account(
                other,
                Outcome::NotShown(Skip::new(
                    NotShownReason::Duplicate,
                    "another current admission of this patient is shown",
                )),
            );
        }
        let loc = location::bed_location(&cx.ix, chosen);
        let admission = admission(cx, chosen, start);
        if let Some(b) = cx.patient(p) {
            b.rec.location = loc;
            b.rec.admission = Some(admission);
        }
        cx.account(chosen, Outcome::Mapped);
    }
}

fn admission(cx: &mut Ctx<'_, '_>, i: usize, start: Option<Moment>) -> Admission {
    let Some(e) = cx.entry(i) else {
        return Admission {
            start,
            attending: None,
            reason: None,
            specialty: None,
        };
    };
    let res = e.res;
    let parts = arr(res, "participant");
    let attending_part = parts
        .iter()
        .find(|p| {
            arr(p, "type")
                .iter()
                .any(|t| json::has_any_code(t, &["ATND", "PPRF"]))
        })
        .or_else(|| parts.first());
    let attending = attending_part
        .and_then(|p| p.get("individual"))
        .and_then(|r| cx.party_name(i, r));
    let reason = arr(res, "reasonCode")
        .iter()
        .filter_map(cc_text)
        .chain(
            arr(res, "reasonReference")
                .iter()
                .filter_map(|r| reference_text(cx, i, r)),
        )
        .next();
    let specialty = res
        .get("serviceType")
        .and_then(cc_text)
        .or_else(|| {
            res.get("serviceProvider")
                .and_then(|r| cx.ix.resolve(i, r))
                .and_then(|o| cx.entry(o))
                .and_then(|o| arr(o.res, "type").iter().find(|t| !is_organization_kind(t)))
                .and_then(cc_text)
        })
        .or_else(|| arr(res, "type").first().and_then(cc_text));
    Admission {
        start,
        attending,
        reason,
        specialty,
    }
}

/// HL7 organization-type codes ("prov" Healthcare Provider, "dept" Hospital Department, ...)
/// say what kind of organisation it is, not its specialty.
fn is_organization_kind(cc: &Value) -> bool {
    json::codings(cc).iter().any(|c| {
        str_at(c, "system") == Some("http://terminology.hl7.org/CodeSystem/organization-type")
    })
}

/// The text of a reference to a clinical resource: its code text, else the display.
pub fn reference_text(cx: &Ctx<'_, '_>, from: usize, r: &Value) -> Option<String> {
    cx.ix
        .resolve(from, r)
        .and_then(|t| cx.entry(t))
        .and_then(|t| t.res.get("code"))
        .and_then(cc_text)
        .or_else(|| str_at(r, "display").map(str::to_owned))
}

fn settle_negations(cx: &mut Ctx<'_, '_>) {
    let mut accounts: Vec<(usize, Outcome)> = Vec::new();
    let mut warnings = Vec::new();
    for b in cx.patients.iter_mut() {
        let negs = std::mem::take(&mut b.negations);
        for n in negs {
            let has_items = match n.section {
                Section::Allergies => !b.rec.allergies.items().is_empty(),
                Section::Medication => !b.rec.medication.items().is_empty(),
                Section::Problems => !b.rec.problems.items().is_empty(),
            };
            let outcome = if has_items {
                if !n.no_info {
                    warnings.push(format!(
                        "Patient/{}: statement {:?} next to listed items; the items are shown",
                        b.fhir_id, n.statement
                    ));
                }
                Outcome::NotShown(Skip::new(
                    NotShownReason::Invalid,
                    format!(
                        "statement {:?} not shown: the section lists items (conflict or partial statement)",
                        n.statement
                    ),
                ))
            } else if n.no_info {
                // "No information": the section stays not recorded, which is what it says.
                Outcome::Mapped
            } else {
                let (st, asserted) = (n.statement.clone(), n.asserted);
                match n.section {
                    Section::Allergies => set_none(&mut b.rec.allergies, st, asserted),
                    Section::Medication => set_none(&mut b.rec.medication, st, asserted),
                    Section::Problems => set_none(&mut b.rec.problems, st, asserted),
                }
                Outcome::Mapped
            };
            if let Some(e) = n.entry {
                accounts.push((e, outcome));
            }
        }
    }
    for w in warnings {
        cx.warn(w);
    }
    for (e, o) in accounts {
        cx.account(e, o);
    }
}

fn set_none<T>(l: &mut Listed<T>, statement: String, asserted: Option<Moment>) {
    match l {
        Listed::NoneDocumented {
            statement: s,
            asserted: a,
        } => {
            if !s.split("; ").any(|x| x == statement) {
                s.push_str("; ");
                s.push_str(&statement);
            }
            if a.is_none() {
                *a = asserted;
            }
        }
        _ => {
            *l = Listed::NoneDocumented {
                statement,
                asserted,
            }
        }
    }
}

fn finish(mut cx: Ctx<'_, '_>) -> WardRecord {
    // Anything not accounted for (should not happen): report rather than lose it.
    let n = cx.ix.entries.len();
    for i in 0..n {
        if !cx.done.get(i).copied().unwrap_or(true) {
            cx.account(
                i,
                Outcome::NotShown(Skip::new(NotShownReason::Invalid, "not handled")),
            );
        }
    }
    let mut patients = Vec::with_capacity(cx.patients.len());
    let mut used_keys: HashSet<String> = HashSet::new();
    let mut warnings = Vec::new();
    for b in std::mem::take(&mut cx.patients) {
        let mut rec = b.rec;
        let base = rec
            .identity
            .patient_number
            .as_deref()
            .map(sanitize_key)
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| sanitize_key(&b.fhir_id));
        let base = if base.is_empty() {
            "patient".to_owned()
        } else {
            base
        };
        let mut key = base.clone();
        let mut n = 2u32;
        while used_keys.contains(&key) {
            let suffix = format!("-{n}");
            let keep = 64usize.saturating_sub(suffix.len());
            key = format!("{}{suffix}", base.chars().take(keep).collect::<String>());
            n = n.saturating_add(1);
        }
        used_keys.insert(key.clone());
        rec.key = key;
        sort_sections(&mut rec);
        let cut = bound_record(&mut rec);
        if cut > 0 {
            warnings.push(format!(
                "Patient/{}: {cut} text(s) longer than {} characters cut",
                b.fhir_id,
                json::MAX_STRING
            ));
        }
        patients.push(rec);
    }
    for w in warnings {
        cx.warn(w);
    }
    patients.sort_by(|a, b| {
        natural_cmp_opt(a.location.bed.as_deref(), b.location.bed.as_deref())
            .then_with(|| a.identity.name.sort_key.cmp(&b.identity.name.sort_key))
            .then_with(|| a.key.cmp(&b.key))
    });
    WardRecord {
        ward: cx.opts.ward.clone(),
        patients,
        report: cx.report,
    }
}

/// Sanitises to a URL-safe key: [A-Za-z0-9_-], at most 64 characters.
pub fn sanitize_key(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// Natural order of bed labels ("2" < "10" < "12-2"); absent beds last.
pub fn natural_cmp_opt(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Some(a), Some(b)) => natural_cmp(a, b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Natural string order: digit runs compare by value.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let mut ai = a.chars().peekable();
    let mut bi = b.chars().peekable();
    loop {
        match (ai.peek().copied(), bi.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let mut na = String::new();
                while let Some(c) = ai.peek().copied().filter(char::is_ascii_digit) {
                    na.push(c);
                    ai.next();
                }
                let mut nb = String::new();
                while let Some(c) = bi.peek().copied().filter(char::is_ascii_digit) {
                    nb.push(c);
                    bi.next();
                }
                let ta = na.trim_start_matches('0');
                let tb = nb.trim_start_matches('0');
                let o = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some(x), Some(y)) => {
                let o = x.to_lowercase().cmp(y.to_lowercase());
                if o != Ordering::Equal {
                    return o;
                }
                ai.next();
                bi.next();
            }
        }
    }
}

fn moment_key(m: Option<&Moment>) -> Option<DateTime<Utc>> {
    m.and_then(Moment::earliest_utc)
}

fn sort_sections(rec: &mut PatientRecord) {
    if let Listed::Items { items } = &mut rec.administrations {
        items.sort_by_key(|x| std::cmp::Reverse(moment_key(x.at.as_ref())));
    }
    for l in [&mut rec.vitals, &mut rec.labs] {
        if let Listed::Items { items } = l {
            items.sort_by_key(|x| std::cmp::Reverse(moment_key(x.at.as_ref())));
        }
    }
}

/// Cuts every string of a record to [`json::MAX_STRING`]; returns how many were cut.
fn bound_record(rec: &mut PatientRecord) -> usize {
    let mut cut = 0usize;
    let mut b = |s: &mut String| {
        let (t, c) = json::bound(s);
        if c {
            *s = t;
            cut += 1;
        }
    };
    macro_rules! o {
        ($e:expr) => {
            if let Some(s) = $e.as_mut() {
                b(s);
            }
        };
    }
    macro_rules! code {
        ($e:expr) => {
            if let Some(c) = $e.as_mut() {
                o!(c.system);
                o!(c.code);
                o!(c.display);
            }
        };
    }
    macro_rules! none_stmt {
        ($l:expr) => {
            if let Listed::NoneDocumented { statement, .. } = &mut $l {
                b(statement);
            }
        };
    }
    let id = &mut rec.identity;
    b(&mut id.name.display);
    b(&mut id.name.sort_key);
    id.name.given.iter_mut().for_each(&mut b);
    o!(id.name.initials);
    o!(id.name.prefix);
    o!(id.name.surname);
    o!(id.name.partner_prefix);
    o!(id.name.partner_surname);
    o!(id.bsn);
    o!(id.patient_number);
    o!(rec.location.ward);
    o!(rec.location.room);
    o!(rec.location.bed);
    if let Some(a) = rec.admission.as_mut() {
        o!(a.attending);
        o!(a.reason);
        o!(a.specialty);
    }
    none_stmt!(rec.alerts);
    none_stmt!(rec.allergies);
    none_stmt!(rec.directives);
    none_stmt!(rec.problems);
    none_stmt!(rec.medication);
    if let Listed::Items { items } = &mut rec.alerts {
        for a in items {
            b(&mut a.text);
            code!(a.code);
            o!(a.note);
        }
    }
    if let Listed::Items { items } = &mut rec.allergies {
        for a in items {
            b(&mut a.substance);
            code!(a.code);
            o!(a.kind);
            a.category.iter_mut().for_each(&mut b);
            for r in &mut a.reactions {
                b(&mut r.manifestation);
                o!(r.severity);
            }
            o!(a.clinical_status);
            o!(a.verification);
            o!(a.note);
        }
    }
    if let Listed::Items { items } = &mut rec.directives {
        for d in items {
            b(&mut d.treatment);
            o!(d.text);
            o!(d.source);
            o!(d.status);
        }
    }
    if let Listed::Items { items } = &mut rec.problems {
        for p in items {
            b(&mut p.name);
            code!(p.code);
            o!(p.status);
        }
    }
    if let Listed::Items { items } = &mut rec.medication {
        for m in items {
            b(&mut m.id);
            b(&mut m.drug.name);
            code!(m.drug.code);
            o!(m.drug.strength);
            o!(m.drug.form);
            m.drug.ingredients.iter_mut().for_each(&mut b);
            for d in &mut m.dosages {
                o!(d.dose);
                o!(d.route);
                o!(d.max_dose);
                o!(d.text);
                o!(d.schedule.text);
                d.schedule.when.iter_mut().for_each(&mut b);
                d.schedule.days_of_week.iter_mut().for_each(&mut b);
                if let Some(f) = d.schedule.frequency.as_mut() {
                    b(&mut f.period);
                    b(&mut f.period_unit);
                }
                if let Some(a) = d.as_needed.as_mut() {
                    o!(a.condition);
                }
            }
            o!(m.prescriber);
            o!(m.category);
            o!(m.status);
            o!(m.reason);
            o!(m.note);
            o!(m.based_on);
        }
    }
    if let Listed::Items { items } = &mut rec.administrations {
        for a in items {
            b(&mut a.drug);
            o!(a.dose);
            o!(a.route);
            o!(a.status);
            o!(a.performer);
            o!(a.line_id);
            o!(a.note);
        }
    }
    for l in [&mut rec.vitals, &mut rec.labs] {
        if let Listed::Items { items } = l {
            for m in items {
                b(&mut m.name);
                code!(m.code);
                b(&mut m.value);
                o!(m.unit);
                o!(m.flag);
                o!(m.reference_range);
            }
        }
    }
    if let Listed::Items { items } = &mut rec.contacts {
        for c in items {
            b(&mut c.name);
            o!(c.relationship);
            o!(c.role);
            c.telecom.iter_mut().for_each(&mut b);
        }
    }
    if let Listed::Items { items } = &mut rec.devices {
        for d in items {
            b(&mut d.name);
            code!(d.code);
            o!(d.body_site);
            o!(d.note);
        }
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beds_sort_naturally() {
        use std::cmp::Ordering::*;
        assert_eq!(natural_cmp("2", "10"), Less);
        assert_eq!(natural_cmp("12-2", "12-10"), Less);
        assert_eq!(natural_cmp("10", "9"), Greater);
        assert_eq!(natural_cmp_opt(Some("1"), None), Less);
    }

    #[test]
    fn an_organization_kind_is_not_a_specialty() {
        let prov = serde_json::json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov", "display": "Healthcare Provider"}]});
        let cardio = serde_json::json!({"coding": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.7", "code": "0320", "display": "Cardiologie"}]});
        assert!(is_organization_kind(&prov));
        assert!(!is_organization_kind(&cardio));
    }

    #[test]
    fn keys_are_url_safe_and_bounded() {
        assert_eq!(sanitize_key("nl-core/Patient 01"), "nl-core-Patient-01");
        assert_eq!(sanitize_key(&"a".repeat(100)).len(), 64);
    }
}
