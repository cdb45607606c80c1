//! The clinical model: what a nurse needs during an outage, as plain Rust types.
//!
//! This is the contract between the FHIR mapper (which produces it), the store (which
//! persists and queries it) and the web (which renders it). No FHIR type crosses into here,
//! and nothing in here does I/O.
//!
//! The central rule lives in [`Listed`]: *not recorded* (the source said nothing, so we do
//! not know) is a different value from *none documented* (the source explicitly states there
//! are none, e.g. "no known allergies"). Unknown must never look like none.

pub mod change;
pub mod highrisk;
pub mod medication;
pub mod report;
pub mod summary;

use chrono::{DateTime, Months, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

pub use medication::{
    AsNeeded, Attention, Block, BlockFacts, BlockStatus, Dosage, Drug, Fate, Frequency, MaxDose,
    MedicationKind, MedicationLine, Quantity, Schedule, Span, StopKind, Treatment, TreatmentState,
    Unreadable,
};
pub use report::{IngestReport, NotShown, NotShownReason, TypeCounts};
pub use summary::PatientSummary;

/// A list section of the record with its epistemic status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Listed<T> {
    /// The source holds no information at all: unknown. Shown as "niet vastgelegd".
    #[default]
    NotRecorded,
    /// The source explicitly documents that there are none (e.g. SNOMED 716186003
    /// "no known allergy"). Shown as a fact, with its wording.
    NoneDocumented {
        /// The wording of the statement as the source gives it.
        statement: String,
        /// When it was asserted, if known.
        asserted: Option<Moment>,
    },
    /// One or more items.
    Items { items: Vec<T> },
}

impl<T> Listed<T> {
    /// The items, or an empty slice when not recorded / none documented.
    pub fn items(&self) -> &[T] {
        match self {
            Listed::Items { items } => items,
            _ => &[],
        }
    }

    /// Adds an item, turning `NotRecorded`/`NoneDocumented` into `Items`.
    /// (A "none" statement next to actual items is a conflict the mapper reports.)
    pub fn push(&mut self, item: T) {
        match self {
            Listed::Items { items } => items.push(item),
            _ => *self = Listed::Items { items: vec![item] },
        }
    }

    /// True when the source said nothing about this section.
    pub fn is_not_recorded(&self) -> bool {
        matches!(self, Listed::NotRecorded)
    }
}

/// A point in time as precise as the source gives it. FHIR and clinical practice both have
/// partial dates ("1958", "1958-03"); the model keeps the precision rather than inventing
/// a day or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "precision", content = "value", rename_all = "snake_case")]
pub enum Moment {
    /// Year only.
    Year(i32),
    /// Year and month (1-12).
    Month(i32, u32),
    /// A calendar date without time.
    Day(NaiveDate),
    /// An instant (a FHIR dateTime with time and zone).
    Instant(DateTime<Utc>),
}

impl Moment {
    /// The earliest instant this moment can denote, for ordering and window checks
    /// (dates are taken at 00:00 UTC).
    pub fn earliest_utc(&self) -> Option<DateTime<Utc>> {
        let day = match *self {
            Moment::Instant(t) => return Some(t),
            Moment::Day(d) => d,
            Moment::Month(y, m) => NaiveDate::from_ymd_opt(y, m, 1)?,
            Moment::Year(y) => NaiveDate::from_ymd_opt(y, 1, 1)?,
        };
        Some(day.and_time(NaiveTime::MIN).and_utc())
    }

    /// The first instant after the moment (the end of its day, month or year; an instant
    /// itself), for "has this ended?" checks: an end date of 2016-09-18 lasts through that
    /// day.
    pub fn end_exclusive(&self) -> Option<DateTime<Utc>> {
        let start = self.earliest_utc()?;
        match self {
            Moment::Instant(t) => Some(*t),
            Moment::Day(_) => start.checked_add_signed(chrono::Duration::days(1)),
            Moment::Month(..) => start.checked_add_months(Months::new(1)),
            Moment::Year(_) => start.checked_add_months(Months::new(12)),
        }
    }
}

/// A coded concept as the source gives it (system URI, code, display text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

impl Code {
    /// The code system's name as people know it, for the systems a ward meets.
    pub fn system_name(&self) -> Option<&'static str> {
        system_name(self.system.as_deref()?)
    }

    /// The code with its system's name ("NDC 0069-0105-68"), for a concept without a
    /// display text.
    pub fn labelled(&self) -> Option<String> {
        let code = self.code.as_deref()?;
        Some(match self.system_name() {
            Some(n) => format!("{n} {code}"),
            None => code.to_owned(),
        })
    }
}

/// Names of the code systems carried for drugs, substances and findings.
pub fn system_name(system: &str) -> Option<&'static str> {
    Some(match system.trim() {
        "urn:oid:2.16.840.1.113883.2.4.4.1" => "G-Standaard GPK",
        "urn:oid:2.16.840.1.113883.2.4.4.7" => "G-Standaard HPK",
        "urn:oid:2.16.840.1.113883.2.4.4.8" => "G-Standaard ZI",
        "urn:oid:2.16.840.1.113883.2.4.4.10" => "G-Standaard PRK",
        "urn:oid:2.16.840.1.113883.2.4.4.9" => "G-Standaard",
        "http://www.whocc.no/atc" | "urn:oid:2.16.840.1.113883.6.73" => "ATC",
        "http://snomed.info/sct" | "urn:oid:2.16.840.1.113883.6.96" => "SNOMED CT",
        "http://www.nlm.nih.gov/research/umls/rxnorm" | "urn:oid:2.16.840.1.113883.6.88" => {
            "RxNorm"
        }
        "http://hl7.org/fhir/sid/ndc" | "urn:oid:2.16.840.1.113883.6.69" => "NDC",
        "http://loinc.org" => "LOINC",
        "http://hl7.org/fhir/sid/icd-10" => "ICD-10",
        _ => return None,
    })
}

/// The ward's data as served by one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WardRecord {
    /// Ward id from the snapshot header (or the preview input).
    pub ward: String,
    pub patients: Vec<PatientRecord>,
    pub report: IngestReport,
    /// The next moment after the mapping's `now` at which a state decided against that
    /// `now` can change (a course ends or starts, a planned stop or pause takes effect);
    /// `None` when none can. The daemon maps the snapshot again when it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_change: Option<DateTime<Utc>>,
}

/// Everything shown about one patient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientRecord {
    /// Key of this patient inside a generation: URL-safe, stable across snapshots when the
    /// source is (derived from the hospital patient number, else the FHIR id).
    pub key: String,
    pub identity: Identity,
    pub location: BedLocation,
    pub admission: Option<Admission>,
    pub alerts: Listed<Alert>,
    pub allergies: Listed<Allergy>,
    pub directives: Listed<Directive>,
    pub problems: Listed<Problem>,
    /// One entry per drug therapy (MP9 treatment), current or not: the state of each says
    /// whether it runs, is paused, starts later, or was stopped, ended or cancelled.
    pub medication: Listed<Treatment>,
    /// Administrations within the configured window (72 hours by default), newest first.
    pub administrations: Listed<Administration>,
    /// Recent vital signs, newest first.
    pub vitals: Listed<Measurement>,
    /// Recent laboratory results, newest first.
    pub labs: Listed<Measurement>,
    pub contacts: Listed<Contact>,
    pub devices: Listed<Device>,
    /// Statements about a section that were not taken as its status: partial negations
    /// ("no known food allergy") and contradictions, shown next to the section.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<SectionNote>,
    /// Source data about this patient that could not be (fully) read: counted and listed
    /// on the patient's page and MAR.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<Unread>,
    /// How many more could not be read than `unread` lists (it holds at most
    /// [`MAX_UNREAD_PER_PATIENT`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unread_more: u32,
    /// Identity facts that disagree between copies of this patient in the source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_conflicts: Vec<IdentityConflict>,
}

/// A section a [`SectionNote`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteSection {
    Allergies,
    Medication,
    Problems,
}

/// What kind of statement a [`SectionNote`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// "None known" for part of the section only (e.g. food allergies): it never makes the
    /// whole section "none".
    PartialNegation,
    /// A statement the rest of the section contradicts ("no known allergy" next to a listed
    /// allergy, or "none known" next to "no information").
    Contradiction,
    /// A "none known" statement next to a section that lists only past items (medication
    /// that all ended): consistent, shown next to the history.
    Statement,
}

/// A statement about a section that is shown next to it rather than as its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionNote {
    pub section: NoteSection,
    pub kind: NoteKind,
    /// The source's wording.
    pub statement: String,
    pub asserted: Option<Moment>,
}

/// Why a piece of source data about a patient could not be (fully) read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnreadReason {
    /// Malformed, a required element missing, or a section cap reached.
    Invalid,
    /// A modifierExtension whose meaning is unknown.
    UnknownModifier,
    /// A reference that does not resolve (other than the subject itself).
    UnresolvedReference,
    /// A FHIR version or profile generation whose shape is not read here.
    UnsupportedVersion,
    /// A value that could not be read (an impossible date, an unknown code).
    InvalidValue,
}

/// One piece of source data about a patient that could not be (fully) read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unread {
    pub resource_type: String,
    /// The resource id (or fullUrl), for finding it in the source.
    pub id: Option<String>,
    pub reason: UnreadReason,
    /// A short technical detail (English, as in the ingest report).
    pub detail: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl PatientRecord {
    /// How many pieces of this patient's source data could not be (fully) read.
    pub fn unread_count(&self) -> usize {
        self.unread.len().saturating_add(self.unread_more as usize)
    }
}

/// Most [`Unread`] items kept per patient (the count is kept exactly).
pub const MAX_UNREAD_PER_PATIENT: usize = 200;

/// Copies of one patient that disagree on an identity fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityConflict {
    /// "name", "birth_date", "bsn" or "patient_number".
    pub field: String,
    /// The differing values, as given.
    pub values: Vec<String>,
}

/// Who the patient is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub name: PersonName,
    pub birth_date: Option<Moment>,
    pub sex: Sex,
    /// Burgerservicenummer (9 digits), when the source has one.
    pub bsn: Option<String>,
    /// The hospital's patient number.
    pub patient_number: Option<String>,
    pub deceased: bool,
}

/// A name as the Dutch write it: given names or initials, voorvoegsels ("van der") kept
/// apart from the surname so that sorting and searching work, partner name per naamgebruik.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PersonName {
    /// The full name as it should be shown, e.g. "Johanna de Vries-van Dijk".
    pub display: String,
    /// Sort and search key, e.g. "Vries, Johanna de".
    pub sort_key: String,
    pub given: Vec<String>,
    pub initials: Option<String>,
    pub prefix: Option<String>,
    pub surname: Option<String>,
    pub partner_prefix: Option<String>,
    pub partner_surname: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Other,
    #[default]
    Unknown,
}

/// Where the patient lies (from Encounter.location → Location bed/room/ward, see
/// docs/FHIR-MAPPING.md "Ward and bed convention").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BedLocation {
    pub ward: Option<String>,
    pub room: Option<String>,
    pub bed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Admission {
    pub start: Option<Moment>,
    /// Attending practitioner (hoofdbehandelaar) as a display name.
    pub attending: Option<String>,
    pub reason: Option<String>,
    pub specialty: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Isolation measures (MRSA, BRMO, contact/droplet/aerogenic ...).
    Isolation,
    FallRisk,
    Other,
}

/// An alert (zib Alert / FHIR Flag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub text: String,
    pub code: Option<Code>,
    /// Every coding of the alert's code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
    pub since: Option<Moment>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    High,
    Low,
    UnableToAssess,
    NotRecorded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub manifestation: String,
    pub severity: Option<String>,
}

/// An allergy or intolerance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allergy {
    pub substance: String,
    pub code: Option<Code>,
    /// Every coding of the substance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
    pub criticality: Criticality,
    /// "allergy" / "intolerance" when given.
    pub kind: Option<String>,
    /// food / medication / environment / biologic.
    pub category: Vec<String>,
    pub reactions: Vec<Reaction>,
    /// Clinical status (active, inactive, resolved) as given.
    pub clinical_status: Option<String>,
    /// Verification status (confirmed, unconfirmed, ...) as given.
    pub verification: Option<String>,
    pub recorded: Option<Moment>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectiveKind {
    /// Reanimatiebeleid.
    Resuscitation,
    /// Other treatment limits (ventilation, ICU admission, ...).
    Treatment,
    /// Wilsverklaring / advance directive document.
    AdvanceDirective,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The treatment is to be given (e.g. "wel reanimeren").
    Permit,
    /// The treatment is not to be given (e.g. "niet reanimeren").
    Deny,
    /// Anything else: conditional, to be discussed; see the text.
    Other,
}

/// A treatment directive (zib BehandelAanwijzing / FHIR Consent) or advance directive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Directive {
    pub kind: DirectiveKind,
    /// What the directive is about ("Reanimatie", "Beademing", ...).
    pub treatment: String,
    pub decision: Decision,
    /// Restrictions or explanation in words.
    pub text: Option<String>,
    /// Who decided / the source (practitioner, patient, representative).
    pub source: Option<String>,
    pub date: Option<Moment>,
    pub status: Option<String>,
    /// Every coding of what the directive is about (treatment, category, type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
}

/// A problem / diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub name: String,
    pub code: Option<Code>,
    /// Every coding of the problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
    pub status: Option<String>,
    pub onset: Option<Moment>,
}

/// One administration (FHIR MedicationAdministration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Administration {
    pub drug: String,
    pub dose: Option<String>,
    pub route: Option<String>,
    pub at: Option<Moment>,
    /// completed, not-done, ...
    pub status: Option<String>,
    pub performer: Option<String>,
    /// The medication line id it belongs to, when resolvable.
    pub line_id: Option<String>,
    pub note: Option<String>,
    /// The treatment it belongs to ([`Treatment::id`]), when attributable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treatment_id: Option<String>,
    /// The dose as a quantity, with unit text and code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_quantity: Option<Quantity>,
    /// Why it was not given (statusReason), as text; also in `note` as "reden: …".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
}

/// A vital sign or lab result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub name: String,
    pub code: Option<Code>,
    /// The value as displayed, with unit ("120/80 mmHg", "7.2 mmol/l", "positief").
    pub value: String,
    pub unit: Option<String>,
    pub at: Option<Moment>,
    /// Interpretation flag (H, L, A ...), when given.
    pub flag: Option<String>,
    pub reference_range: Option<String>,
}

/// A contact person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub relationship: Option<String>,
    pub role: Option<String>,
    pub telecom: Vec<String>,
}

/// A medical device (lines, catheters, pacemaker, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub name: String,
    pub code: Option<Code>,
    pub since: Option<Moment>,
    pub body_site: Option<String>,
    pub note: Option<String>,
}
