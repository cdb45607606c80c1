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
use super::treatments;
use crate::record::{
    Admission, BedLocation, Contact, Identity, IdentityConflict, IngestReport, Listed, Moment,
    NotShownReason, PatientRecord, PersonName, Sex, Unread, UnreadReason, WardRecord,
};
use chrono::{DateTime, Utc};
use super::tree::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Most items kept per section per patient.
pub const MAX_ITEMS_PER_SECTION: usize = 500;
/// Most results kept per test code (newest first) within the observation window.
pub const MAX_RESULTS_PER_CODE: usize = 3;
/// Most section notes (partial or contradictory statements) kept per patient.
pub const MAX_NOTES: usize = 100;
/// Most identity conflicts kept per patient.
pub const MAX_IDENTITY_CONFLICTS: usize = 20;
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
    /// For a statement about part of the section only ("no known food allergy"): the
    /// category it covers (`food`, `medication`, `environment`). Never makes the whole
    /// section "none".
    pub partial: Option<&'static str>,
}

/// A patient being built.
pub struct PatientBuilder {
    pub fhir_id: String,
    pub rec: PatientRecord,
    pub negations: Vec<Negation>,
    /// Observations kept so far: (entry, is vital, code key, measurement).
    pub observations: Vec<(usize, bool, String, crate::record::Measurement)>,
    /// Medication building blocks read so far, grouped into treatments at the end.
    pub blocks: Vec<super::medication::PendingBlock>,
}

/// Shared state of one mapping run.
pub struct Ctx<'a, 'o> {
    pub ix: Index<'a>,
    pub opts: &'o MapOptions,
    pub report: IngestReport,
    pub patients: Vec<PatientBuilder>,
    /// Patient entry index → builder index.
    pub patient_of_entry: HashMap<usize, usize>,
    /// Medication building block entries → (builder index, treatment id, line id).
    pub treatment_of_entry: HashMap<usize, (usize, String, String)>,
    /// (builder index, MP9 treatment identifier) → treatment id.
    pub treatment_by_identifier: HashMap<(usize, String), String>,
    /// Patient identity keys ("id:…", "bsn:…", "mr:system|value") → builder index.
    pub patient_by_key: HashMap<String, usize>,
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

    /// Parses a FHIR date element of entry `i`, warning about an invalid value (in the
    /// report and on the patient's page).
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
                self.unread(
                    i,
                    UnreadReason::InvalidValue,
                    format!("invalid {what} {shown:?} ignored"),
                );
                None
            }
        }
    }

    /// The patient (builder index) a resource is about, if any: itself for a Patient,
    /// its container's patient for a contained resource, else its subject.
    pub fn patient_of(&self, i: usize) -> Option<usize> {
        let e = self.ix.get(i)?;
        if let Some(c) = e.container {
            return self.patient_of(c);
        }
        if e.rtype == "Patient" {
            return self.patient_of_entry.get(&self.canonical_of(i)).copied();
        }
        self.subject(i).ok()
    }

    /// Records on the patient's page that entry `i` could not be (fully) read.
    pub fn unread(&mut self, i: usize, reason: UnreadReason, detail: impl Into<String>) {
        let Some(p) = self.patient_of(i) else { return };
        let Some(e) = self.ix.get(i) else { return };
        let item = Unread {
            resource_type: e.rtype.to_owned(),
            id: e.label().map(|l| l.chars().take(120).collect()),
            reason,
            detail: detail.into().chars().take(300).collect(),
        };
        if let Some(b) = self.patients.get_mut(p)
            && !b.rec.unread.contains(&item)
        {
            if b.rec.unread.len() < crate::record::MAX_UNREAD_PER_PATIENT {
                b.rec.unread.push(item);
            } else {
                b.rec.unread_more = b.rec.unread_more.saturating_add(1);
            }
        }
    }

    /// Accounts entry `i` and, when it is not shown because it could not be read, puts it
    /// on its patient's page.
    pub fn account_read(&mut self, i: usize, outcome: Outcome) {
        if let Outcome::NotShown(s) = &outcome {
            let reason = match s.reason {
                NotShownReason::Invalid => Some(UnreadReason::Invalid),
                NotShownReason::UnresolvedReference => Some(UnreadReason::UnresolvedReference),
                NotShownReason::UnsupportedVersion => Some(UnreadReason::UnsupportedVersion),
                _ => None,
            };
            if let Some(r) = reason
                && !self.done.get(i).copied().unwrap_or(true)
            {
                let detail = s.detail.clone();
                self.unread(i, r, detail);
            }
        }
        self.account(i, outcome);
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
    "Medication-StopType",
    "RepeatPeriodCyclicalSchedule",
    "TreatmentDirective2.SpecificationOther",
    "TreatmentDirective-TreatmentPermitted",
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
        treatment_of_entry: HashMap::new(),
        treatment_by_identifier: HashMap::new(),
        patient_by_key: HashMap::new(),
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
                cx.unread(
                    i,
                    UnreadReason::UnknownModifier,
                    format!("unknown modifierExtension {u}"),
                );
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
                medication::block(&mut cx, i)
            }
            // Medication in a FHIR version whose shape is not read (DSTU2, R5).
            "MedicationOrder" | "MedicationUsage" => Outcome::NotShown(Skip::new(
                NotShownReason::UnsupportedVersion,
                format!(
                    "{rtype} is a {} resource; its medication is not read — check it in the source",
                    if rtype == "MedicationOrder" {
                        "DSTU2"
                    } else {
                        "FHIR R5"
                    }
                ),
            )),
            t if REFERENCED_ONLY.contains(&t) => Outcome::NotShown(Skip::new(
                NotShownReason::ReferencedOnly,
                "used to resolve references",
            )),
            t => Outcome::NotShown(Skip::new(
                NotShownReason::UnsupportedType,
                format!("{t} is not shown"),
            )),
        };
        cx.account_read(i, o);
    }
    // One line per drug therapy: group the building blocks and decide what is current.
    treatments::settle(&mut cx);
    for i in 0..n {
        if is_todo(&cx, i, "MedicationAdministration") {
            let o = medication::administration(&mut cx, i).into();
            cx.account_read(i, o);
        }
    }
    for i in 0..n {
        if is_todo(&cx, i, "Observation") {
            let o = observation::observation(&mut cx, i);
            cx.account_read(i, o);
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
    let keys = identity_keys(e.id, res);
    let identity = identity(cx, i, res);
    if let Some(p) = same_patient(cx, &keys, &identity) {
        return merge_patient(cx, i, p, keys, identity, &fhir_id);
    }
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
        notes: Vec::new(),
        unread: Vec::new(),
        unread_more: 0,
        identity_conflicts: Vec::new(),
    };
    let p = cx.patients.len();
    cx.patient_of_entry.insert(i, p);
    for k in &keys {
        cx.patient_by_key.entry(k.clone()).or_insert(p);
    }
    cx.patients.push(PatientBuilder {
        fhir_id,
        rec,
        negations: Vec::new(),
        observations: Vec::new(),
        blocks: Vec::new(),
    });
    Outcome::Mapped
}

/// The keys that make two Patient resources one patient: the same logical id, the same
/// BSN, or the same hospital patient number (identifier system and value).
fn identity_keys(id: Option<&str>, res: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(id) = id {
        keys.push(format!("id:{id}"));
    }
    for ident in arr(res, "identifier").iter().take(32) {
        let (Some(sys), Some(val)) = (str_at(ident, "system"), str_at(ident, "value")) else {
            continue;
        };
        if matches!(sys, BSN_SYSTEM | BSN_OID) {
            keys.push(format!("bsn:{val}"));
        } else {
            keys.push(format!("mr:{sys}|{val}"));
        }
    }
    keys
}

/// An already mapped patient this Patient resource is a copy of: one key in common and no
/// contradicting BSN (two different BSNs are two people, whatever else they share).
fn same_patient(cx: &Ctx<'_, '_>, keys: &[String], identity: &Identity) -> Option<usize> {
    let p = keys
        .iter()
        .find_map(|k| cx.patient_by_key.get(k).copied())?;
    let other = cx.patients.get(p)?;
    match (&other.rec.identity.bsn, &identity.bsn) {
        (Some(a), Some(b)) if a != b => None,
        _ => Some(p),
    }
}

/// Merges a second copy of a patient into the first: missing identity facts are filled
/// in, disagreeing ones are recorded as a conflict shown on the page.
fn merge_patient(
    cx: &mut Ctx<'_, '_>,
    i: usize,
    p: usize,
    keys: Vec<String>,
    identity: Identity,
    fhir_id: &str,
) -> Outcome {
    let Some(b) = cx.patients.get_mut(p) else {
        return Outcome::Deferred;
    };
    let first_id = b.fhir_id.clone();
    let have = &mut b.rec.identity;
    let mut conflicts: Vec<IdentityConflict> = Vec::new();
    let fold = crate::record::summary::fold;
    if fold(have.name.display.trim()) != fold(identity.name.display.trim()) {
        conflicts.push(IdentityConflict {
            field: "name".into(),
            values: vec![have.name.display.clone(), identity.name.display.clone()],
        });
    }
    match (&have.birth_date, &identity.birth_date) {
        (Some(a), Some(b)) if a != b => conflicts.push(IdentityConflict {
            field: "birth_date".into(),
            values: vec![dates::iso(a), dates::iso(b)],
        }),
        (None, Some(d)) => have.birth_date = Some(*d),
        _ => {}
    }
    match (&have.patient_number, &identity.patient_number) {
        (Some(a), Some(b)) if a != b => conflicts.push(IdentityConflict {
            field: "patient_number".into(),
            values: vec![a.clone(), b.clone()],
        }),
        (None, Some(n)) => have.patient_number = Some(n.clone()),
        _ => {}
    }
    if have.bsn.is_none() {
        have.bsn = identity.bsn.clone();
    }
    if have.sex == Sex::Unknown {
        have.sex = identity.sex;
    }
    have.deceased |= identity.deceased;
    for c in conflicts {
        if b.rec.identity_conflicts.len() < MAX_IDENTITY_CONFLICTS
            && !b.rec.identity_conflicts.contains(&c)
        {
            b.rec.identity_conflicts.push(c);
        }
    }
    for k in keys {
        cx.patient_by_key.entry(k).or_insert(p);
    }
    cx.patient_of_entry.insert(i, p);
    cx.warn(format!(
        "Patient/{fhir_id}: the same patient as Patient/{first_id} (same id, BSN or patient number); merged into one record"
    ));
    Outcome::NotShown(Skip::new(
        NotShownReason::Duplicate,
        format!("the same patient as Patient/{first_id}; its data is shown with that record"),
    ))
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

/// Settles "none known" / "no information" statements against the listed items: a full
/// "none known" with nothing listed documents none; a partial one ("no known food allergy")
/// is a note and never makes the whole section "none"; one that the items or another
/// statement contradict is a note marked as a contradiction (and the section is not
/// "none"); "no information" leaves the section not recorded.
fn settle_negations(cx: &mut Ctx<'_, '_>) {
    use crate::record::{NoteKind, NoteSection, SectionNote};
    let mut accounts: Vec<(usize, Outcome)> = Vec::new();
    let mut warnings = Vec::new();
    for b in cx.patients.iter_mut() {
        let negs = std::mem::take(&mut b.negations);
        for section in [Section::Allergies, Section::Medication, Section::Problems] {
            let mine: Vec<&Negation> = negs.iter().filter(|n| n.section == section).collect();
            if mine.is_empty() {
                continue;
            }
            let note_section = match section {
                Section::Allergies => NoteSection::Allergies,
                Section::Medication => NoteSection::Medication,
                Section::Problems => NoteSection::Problems,
            };
            let has_items = match section {
                Section::Allergies => !b.rec.allergies.items().is_empty(),
                Section::Medication => b.rec.medication.items().iter().any(|t| t.listed_now()),
                Section::Problems => !b.rec.problems.items().is_empty(),
            };
            let history_only =
                section == Section::Medication && !b.rec.medication.items().is_empty();
            let listed_categories: Vec<String> = b
                .rec
                .allergies
                .items()
                .iter()
                .flat_map(|a| a.category.iter().cloned())
                .collect();
            let category_listed = |c: &str| listed_categories.iter().any(|x| x == c);
            let full: Vec<&&Negation> = mine
                .iter()
                .filter(|n| !n.no_info && n.partial.is_none())
                .collect();
            let no_info = mine.iter().any(|n| n.no_info);
            let contradicted_by_no_info = !has_items && !full.is_empty() && no_info;
            let mut notes: Vec<SectionNote> = Vec::new();
            for n in &mine {
                let note = |kind| SectionNote {
                    section: note_section,
                    kind,
                    statement: n.statement.clone(),
                    asserted: n.asserted,
                };
                let outcome = if n.no_info {
                    if has_items {
                        Outcome::NotShown(Skip::new(
                            NotShownReason::Invalid,
                            format!(
                                "statement {:?} not shown: the section lists items",
                                n.statement
                            ),
                        ))
                    } else {
                        if contradicted_by_no_info {
                            notes.push(note(NoteKind::Contradiction));
                        }
                        Outcome::Mapped
                    }
                } else if let Some(category) = n.partial {
                    if category_listed(category) {
                        warnings.push(format!(
                            "Patient/{}: statement {:?} contradicts a listed item; both are shown",
                            b.fhir_id, n.statement
                        ));
                        notes.push(note(NoteKind::Contradiction));
                    } else {
                        notes.push(note(NoteKind::PartialNegation));
                    }
                    Outcome::Mapped
                } else if has_items || contradicted_by_no_info {
                    warnings.push(format!(
                        "Patient/{}: statement {:?} contradicts the section; shown as a contradiction",
                        b.fhir_id, n.statement
                    ));
                    notes.push(note(NoteKind::Contradiction));
                    Outcome::Mapped
                } else if history_only {
                    notes.push(note(NoteKind::Statement));
                    Outcome::Mapped
                } else {
                    let (st, asserted) = (n.statement.clone(), n.asserted);
                    match section {
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
            for n in notes {
                if b.rec.notes.len() < MAX_NOTES && !b.rec.notes.contains(&n) {
                    b.rec.notes.push(n);
                }
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
    macro_rules! codes {
        ($e:expr) => {
            for c in $e.iter_mut() {
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
    for n in &mut rec.notes {
        b(&mut n.statement);
    }
    for u in &mut rec.unread {
        b(&mut u.resource_type);
        o!(u.id);
        b(&mut u.detail);
    }
    for c in &mut rec.identity_conflicts {
        c.values.iter_mut().for_each(&mut b);
    }
    if let Listed::Items { items } = &mut rec.alerts {
        for a in items {
            b(&mut a.text);
            code!(a.code);
            codes!(a.codes);
            o!(a.note);
        }
    }
    if let Listed::Items { items } = &mut rec.allergies {
        for a in items {
            b(&mut a.substance);
            code!(a.code);
            codes!(a.codes);
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
            codes!(d.codes);
            o!(d.text);
            o!(d.source);
            o!(d.status);
        }
    }
    if let Listed::Items { items } = &mut rec.problems {
        for p in items {
            b(&mut p.name);
            code!(p.code);
            codes!(p.codes);
            o!(p.status);
        }
    }
    if let Listed::Items { items } = &mut rec.medication {
        for t in items {
            b(&mut t.id);
            o!(t.identifier);
            for m in &mut t.blocks {
                b(&mut m.id);
                bound_drug(&mut m.drug, &mut b);
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
                    let range = d
                        .dose_range
                        .iter_mut()
                        .flat_map(|(l, h)| l.iter_mut().chain(h.iter_mut()));
                    let max = d
                        .max_per_period
                        .iter_mut()
                        .flat_map(|m| [&mut m.quantity, &mut m.per]);
                    for q in d.dose_quantity.iter_mut().chain(range).chain(max) {
                        o!(q.unit);
                        o!(q.system);
                        o!(q.code);
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
    }
    if let Listed::Items { items } = &mut rec.administrations {
        for a in items {
            b(&mut a.drug);
            o!(a.dose);
            o!(a.treatment_id);
            if let Some(q) = a.dose_quantity.as_mut() {
                o!(q.unit);
                o!(q.system);
                o!(q.code);
            }
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

/// Cuts every string of a drug.
fn bound_drug(d: &mut crate::record::Drug, b: &mut impl FnMut(&mut String)) {
    b(&mut d.name);
    for c in d.code.iter_mut().chain(d.codes.iter_mut()) {
        for s in [&mut c.system, &mut c.code, &mut c.display]
            .into_iter()
            .flatten()
        {
            b(s);
        }
    }
    for s in [&mut d.strength, &mut d.form].into_iter().flatten() {
        b(s);
    }
    d.ingredients.iter_mut().for_each(b);
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
        let prov = crate::fhir::tree::tree_json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov", "display": "Healthcare Provider"}]});
        let cardio = crate::fhir::tree::tree_json!({"coding": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.7", "code": "0320", "display": "Cardiologie"}]});
        assert!(is_organization_kind(&prov));
        assert!(!is_organization_kind(&cardio));
    }

    #[test]
    fn keys_are_url_safe_and_bounded() {
        assert_eq!(sanitize_key("nl-core/Patient 01"), "nl-core-Patient-01");
        assert_eq!(sanitize_key(&"a".repeat(100)).len(), 64);
    }
}
