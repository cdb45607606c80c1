//! The shared vocabulary of one mapping run: its options and caps, the per-run state
//! ([`Ctx`]: the index, the report, the patients being built), the outcome of handling one
//! resource ([`Outcome`], [`Skip`]), "none documented" statements ([`Negation`]) and the
//! helpers every resource mapper uses. The resource mappers (`patient`, `clinical`,
//! `medication`, `observation`, `treatments`) import from here and never from the
//! coordinator ([`super::map`]), so the fhir modules form no import circle.

use super::dates;
use super::json::{arr, cc_text, str_at};
use super::names;
use super::refs::{Entry, Index};
use super::tree::Value;
use crate::record::IntoText;
use crate::record::{
    IngestReport, Listed, Moment, NotShownReason, PatientRecord, Unread, UnreadReason,
};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;

/// Most items kept per section per patient.
pub const MAX_ITEMS_PER_SECTION: usize = 500;
/// Most results kept per test code (newest first) within the observation window.
pub const MAX_RESULTS_PER_CODE: usize = 3;
/// Most section notes (partial or contradictory statements) kept per patient.
pub(super) const MAX_NOTES: usize = 100;
/// Most identity conflicts kept per patient.
pub(super) const MAX_IDENTITY_CONFLICTS: usize = 20;
/// Most patients mapped from one payload.
pub(super) const MAX_PATIENTS: usize = 20_000;

/// BSN naming system.
pub(super) const BSN_SYSTEM: &str = "http://fhir.nl/fhir/NamingSystem/bsn";
/// BSN as an OID (seen in IPS examples from the Netherlands).
pub(super) const BSN_OID: &str = "urn:oid:2.16.840.1.113883.2.4.6.3";

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
    pub(crate) fn since(&self, window: Duration) -> DateTime<Utc> {
        chrono::Duration::from_std(window)
            .ok()
            .and_then(|w| self.now.checked_sub_signed(w))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Why a resource is not shown (the reason plus a short technical detail).
#[derive(Debug)]
pub(super) struct Skip {
    pub reason: NotShownReason,
    pub detail: String,
}

impl Skip {
    pub(super) fn new(reason: NotShownReason, detail: impl Into<String>) -> Skip {
        Skip {
            reason,
            detail: detail.into(),
        }
    }
}

/// The outcome of handling one resource.
pub(super) enum Outcome {
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
pub(super) enum Section {
    Allergies,
    Medication,
    Problems,
}

/// A statement that there are none (or that nothing is known) for a section.
#[derive(Debug)]
pub(super) struct Negation {
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

/// A building block read from one resource, waiting to be grouped into its treatment.
#[derive(Debug)]
pub(super) struct PendingBlock {
    /// The entry it was read from (accounted when the treatment is settled).
    pub entry: usize,
    pub line: crate::record::MedicationLine,
    /// Entries of other building blocks this one refers to (priorPrescription, basedOn,
    /// authorizingPrescription, derivedFrom, partOf), resolved by reference or identifier.
    pub refers: Vec<usize>,
    /// The MP9 pharmaceutical-treatment identifier ("system|value").
    pub treatment: Option<String>,
    /// `groupIdentifier` ("system|value"), for sources without MP9.
    pub group: Option<String>,
    /// Every drug coding ("system|code"), for sources without MP9.
    pub drug_codes: Vec<String>,
}

/// A patient being built.
pub(super) struct PatientBuilder {
    pub fhir_id: String,
    pub rec: PatientRecord,
    pub negations: Vec<Negation>,
    /// Observations kept so far: (entry, is vital, code key, measurement).
    pub observations: Vec<(usize, bool, String, crate::record::Measurement)>,
    /// Medication building blocks read so far, grouped into treatments at the end.
    pub blocks: Vec<PendingBlock>,
}

/// Shared state of one mapping run.
pub(super) struct Ctx<'a, 'o> {
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
    /// The earliest moment after `opts.now` at which something decided against `now`
    /// can change (see [`crate::record::change`]).
    pub next_change: Option<DateTime<Utc>>,
}

impl<'a> Ctx<'a, '_> {
    /// Notes instants at which a decision made against `opts.now` changes; those after
    /// `now` may become the run's next change moment.
    pub(super) fn note_change(&mut self, at: impl IntoIterator<Item = DateTime<Utc>>) {
        let now = self.opts.now;
        let found = crate::record::change::earliest_after(now, at);
        self.next_change = match (self.next_change, found) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// The entry at `i` (always present for indices from the index).
    pub(super) fn entry(&self, i: usize) -> Option<&Entry<'a>> {
        self.ix.get(i)
    }

    /// Records the outcome of entry `i`.
    pub(super) fn account(&mut self, i: usize, outcome: Outcome) {
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
    pub(super) fn warn(&mut self, w: impl Into<String>) {
        const MAX_WARNINGS: usize = 10_000;
        if self.report.warnings.len() < MAX_WARNINGS {
            self.report.warnings.push(w.into());
        }
    }

    /// Parses a FHIR date element of entry `i`, warning about an invalid value (in the
    /// report and on the patient's page).
    pub(super) fn date(&mut self, i: usize, v: Option<&Value>, what: &str) -> Option<Moment> {
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
    pub(super) fn patient_of(&self, i: usize) -> Option<usize> {
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
    pub(super) fn unread(&mut self, i: usize, reason: UnreadReason, detail: impl Into<String>) {
        let Some(p) = self.patient_of(i) else { return };
        let Some(e) = self.ix.get(i) else { return };
        let item = Unread {
            resource_type: e.rtype.to_owned().text(),
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
    pub(super) fn account_read(&mut self, i: usize, outcome: Outcome) {
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
    pub(super) fn subject(&self, i: usize) -> Result<usize, Skip> {
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
    pub(super) fn party_name(&self, from: usize, r: &Value) -> Option<String> {
        let resolved = self.ix.resolve(from, r).and_then(|t| self.name_of(t, 0));
        resolved.or_else(|| str_at(r, "display").map(str::to_owned))
    }

    fn name_of(&self, i: usize, depth: usize) -> Option<String> {
        let e = self.ix.get(i)?;
        match e.rtype {
            "Practitioner" | "RelatedPerson" | "Patient" => names::pick(arr(e.res, "name"))
                .map(|n| names::person_name(n).display.into_string())
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
    pub(super) fn canonical_of(&self, i: usize) -> usize {
        self.canonical.get(&i).copied().unwrap_or(i)
    }

    /// The builder of patient `p`.
    pub(super) fn patient(&mut self, p: usize) -> Option<&mut PatientBuilder> {
        self.patients.get_mut(p)
    }
}

/// Adds an item to a section, enforcing the per-section cap.
pub(super) fn push_capped<T>(list: &mut Listed<T>, item: T) -> Result<(), Skip> {
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
pub(super) const REFERENCED_ONLY: &[&str] = &[
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
pub(super) const KNOWN_MODIFIERS: &[&str] = &[
    "ext-StopType",
    "Medication-StopType",
    "RepeatPeriodCyclicalSchedule",
    "TreatmentDirective2.SpecificationOther",
    "TreatmentDirective-TreatmentPermitted",
];

/// The text of a reference to a clinical resource: its code text, else the display.
pub(super) fn reference_text(cx: &Ctx<'_, '_>, from: usize, r: &Value) -> Option<String> {
    cx.ix
        .resolve(from, r)
        .and_then(|t| cx.entry(t))
        .and_then(|t| t.res.get("code"))
        .and_then(cc_text)
        .or_else(|| str_at(r, "display").map(str::to_owned))
}

/// True when entry `i` is a top-level `rtype` not yet accounted for.
pub(super) fn is_todo(cx: &Ctx<'_, '_>, i: usize, rtype: &str) -> bool {
    cx.entry(i)
        .is_some_and(|e| e.rtype == rtype && e.container.is_none())
        && !cx.done.get(i).copied().unwrap_or(true)
}
