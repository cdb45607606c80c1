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
pub(crate) mod highrisk;
pub mod medication;
pub(crate) mod report;
pub mod summary;
mod text;

use chrono::{DateTime, Months, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

pub use medication::{
    AsNeeded, Attention, Block, BlockFacts, BlockStatus, Dosage, Drug, Fate, Frequency, MaxDose,
    MedicationKind, MedicationLine, Quantity, Schedule, Span, StopKind, Treatment, TreatmentState,
    Unreadable,
};
pub use report::{IngestReport, NotShown, NotShownReason, TypeCounts};
pub use summary::PatientSummary;
pub(crate) use text::IntoText;
pub use text::{Text, cut_texts};

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
        statement: Text,
        /// When it was asserted, if known.
        asserted: Option<Moment>,
    },
    /// One or more items.
    Items {
        /// The items, in the order the section shows them.
        items: Vec<T>,
    },
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
    pub(crate) fn end_exclusive(&self) -> Option<DateTime<Utc>> {
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
    /// The code system's URI as the source gives it (e.g. `http://snomed.info/sct`); see
    /// [`system_name`] for the names people know.
    pub system: Option<Text>,
    /// The code within its system, as given.
    pub code: Option<Text>,
    /// The source's display text for the code; pages prefer it to the bare code.
    pub display: Option<Text>,
}

impl Code {
    /// The code system's name as people know it, for the systems a ward meets.
    pub(crate) fn system_name(&self) -> Option<&'static str> {
        system_name(self.system.as_deref()?)
    }

    /// The code with its system's name ("NDC 0069-0105-68"), for a concept without a
    /// display text.
    pub(crate) fn labelled(&self) -> Option<String> {
        let code = self.code.as_deref()?;
        Some(match self.system_name() {
            Some(n) => format!("{n} {code}"),
            None => code.to_owned(),
        })
    }
}

/// Names of the code systems carried for drugs, substances and findings.
pub(crate) fn system_name(system: &str) -> Option<&'static str> {
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
    pub ward: Text,
    /// Every patient of the ward, in bed order (beds compared naturally, patients without a bed
    /// last).
    pub patients: Vec<PatientRecord>,
    /// How every input resource was handled: mapped or not shown with a reason, and the
    /// warnings.
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
    pub key: Text,
    /// Who the patient is: name, birth date, sex, BSN, patient number.
    pub identity: Identity,
    /// Ward, room and bed from the current Encounter's location.
    pub location: BedLocation,
    /// The current stay, when the source has an Encounter for it.
    pub admission: Option<Admission>,
    /// Alerts (isolation, fall risk, other flags).
    pub alerts: Listed<Alert>,
    /// Allergies and intolerances; `NotRecorded` means unknown, never "no allergies".
    pub allergies: Listed<Allergy>,
    /// Treatment directives (resuscitation policy, other limits) and advance directives.
    pub directives: Listed<Directive>,
    /// Problems and diagnoses.
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
    /// Contact persons (family, representatives).
    pub contacts: Listed<Contact>,
    /// Medical devices, lines and catheters.
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
    /// The allergy section.
    Allergies,
    /// The medication section.
    Medication,
    /// The problem section.
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
    /// The section the statement is about.
    pub section: NoteSection,
    /// Why it is shown next to the section rather than as its status.
    pub kind: NoteKind,
    /// The source's wording.
    pub statement: Text,
    /// When the source says the statement was made, if it does.
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
    /// The FHIR resource type of what could not be read ("MedicationRequest").
    pub resource_type: Text,
    /// The resource id (or fullUrl), for finding it in the source.
    pub id: Option<Text>,
    /// Why it could not be (fully) read.
    pub reason: UnreadReason,
    /// A short technical detail (English, as in the ingest report).
    pub detail: Text,
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
    pub field: Text,
    /// The differing values, as given.
    pub values: Vec<Text>,
}

/// Who the patient is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The name as shown, sorted and searched.
    pub name: PersonName,
    /// Birth date as precise as the source gives it (a year alone stays a year).
    pub birth_date: Option<Moment>,
    /// Administrative sex; `Unknown` when the source gives none.
    pub sex: Sex,
    /// Burgerservicenummer (9 digits), when the source has one.
    pub bsn: Option<Text>,
    /// The hospital's patient number.
    pub patient_number: Option<Text>,
    /// True when the source marks the patient as deceased (deceasedBoolean or a
    /// deceasedDateTime); the identity block says so.
    pub deceased: bool,
}

/// A name as the Dutch write it: given names or initials, voorvoegsels ("van der") kept
/// apart from the surname so that sorting and searching work, partner name per naamgebruik.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PersonName {
    /// The full name as it should be shown, e.g. "Johanna de Vries-van Dijk".
    pub display: Text,
    /// Sort and search key, e.g. "Vries, Johanna de".
    pub sort_key: Text,
    /// Given names (voornamen) in order.
    pub given: Vec<Text>,
    /// Initials as given or derived from the given names ("J.M.").
    pub initials: Option<Text>,
    /// The own surname's voorvoegsels ("van der").
    pub prefix: Option<Text>,
    /// The own surname without voorvoegsels ("Vries").
    pub surname: Option<Text>,
    /// The partner's surname's voorvoegsels, used per naamgebruik.
    pub partner_prefix: Option<Text>,
    /// The partner's surname without voorvoegsels, used per naamgebruik.
    pub partner_surname: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
/// Administrative sex as the source records it.
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Neither female nor male (FHIR `other`).
    Other,
    #[default]
    /// Not recorded or unknown.
    Unknown,
}

/// Where the patient lies (from Encounter.location → Location bed/room/ward, see
/// docs/FHIR-MAPPING.md "Ward and bed convention").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BedLocation {
    /// The ward (Location `physicalType` wa), as the source names it.
    pub ward: Option<Text>,
    /// The room (Location `physicalType` ro), as the source names it.
    pub room: Option<Text>,
    /// The bed (Location `physicalType` bd), as the source names it; sorts the ward overview.
    pub bed: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// The current stay (FHIR Encounter).
pub struct Admission {
    /// When the stay began (Encounter.period.start).
    pub start: Option<Moment>,
    /// Attending practitioner (hoofdbehandelaar) as a display name.
    pub attending: Option<Text>,
    /// Reason for admission in words (the first reasonCode or reasonReference).
    pub reason: Option<Text>,
    /// The specialty in charge (Encounter.serviceType, else the service provider's or the
    /// encounter's type), as given.
    pub specialty: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// What an alert is about; picks the colour and icon on every surface.
pub enum AlertKind {
    /// Isolation measures (MRSA, BRMO, contact/droplet/aerogenic ...).
    Isolation,
    /// Valrisico: risk of falling.
    FallRisk,
    /// Any other alert.
    Other,
}

/// An alert (zib Alert / FHIR Flag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// What the alert is about (picks colour and icon).
    pub kind: AlertKind,
    /// The alert in words, as shown.
    pub text: Text,
    /// The preferred coding of the alert.
    pub code: Option<Code>,
    /// Every coding of the alert's code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
    /// Since when the alert holds (Flag.period.start), if given.
    pub since: Option<Moment>,
    /// Free-text note from the source.
    pub note: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// How dangerous a reaction to an allergen may be (AllergyIntolerance.criticality).
pub enum Criticality {
    /// High: a reaction may be life-threatening.
    High,
    /// Low: unlikely to be life-threatening.
    Low,
    /// The source could not assess it.
    UnableToAssess,
    /// The source gives no criticality.
    NotRecorded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// One reaction to an allergen.
pub struct Reaction {
    /// What happens (the reaction's manifestations, joined).
    pub manifestation: Text,
    /// The reaction's severity (mild, moderate, severe), as given.
    pub severity: Option<Text>,
}

/// An allergy or intolerance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allergy {
    /// The allergen in words (code text, else the first coding's display or code).
    pub substance: Text,
    /// The preferred coding of the substance.
    pub code: Option<Code>,
    /// Every coding of the substance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
    /// How dangerous a reaction may be.
    pub criticality: Criticality,
    /// "allergy" / "intolerance" when given.
    pub kind: Option<Text>,
    /// food / medication / environment / biologic.
    pub category: Vec<Text>,
    /// Reactions seen, as the source lists them.
    pub reactions: Vec<Reaction>,
    /// Clinical status (active, inactive, resolved) as given.
    pub clinical_status: Option<Text>,
    /// Verification status (confirmed, unconfirmed, ...) as given.
    pub verification: Option<Text>,
    /// When the allergy was recorded (recordedDate), if given.
    pub recorded: Option<Moment>,
    /// Free-text note from the source.
    pub note: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// What a directive is about.
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
/// What a directive decides about its treatment.
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
    /// Resuscitation policy, other treatment limit or advance directive.
    pub kind: DirectiveKind,
    /// What the directive is about ("Reanimatie", "Beademing", ...).
    pub treatment: Text,
    /// Whether the treatment is to be given, not to be given, or otherwise (see `text`).
    pub decision: Decision,
    /// Restrictions or explanation in words.
    pub text: Option<Text>,
    /// Who decided / the source (practitioner, patient, representative).
    pub source: Option<Text>,
    /// When the directive was made or took effect, if given.
    pub date: Option<Moment>,
    /// The source's status code (active, inactive ...), as given.
    pub status: Option<Text>,
    /// Every coding of what the directive is about (treatment, category, type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
}

/// A problem / diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The problem in words.
    pub name: Text,
    /// The preferred coding of the problem.
    pub code: Option<Code>,
    /// Every coding of the problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
    /// Clinical status (active, recurrence ...), as given.
    pub status: Option<Text>,
    /// When the problem began (onset), if given.
    pub onset: Option<Moment>,
}

/// One administration (FHIR MedicationAdministration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Administration {
    /// The drug as the source names it.
    pub drug: Text,
    /// Dose given, with unit, as text ("50 mg").
    pub dose: Option<Text>,
    /// Route of administration in words.
    pub route: Option<Text>,
    /// When it was given (or not given); sorts the list, newest first.
    pub at: Option<Moment>,
    /// completed, not-done, ...
    pub status: Option<Text>,
    /// Who gave it, as a display name.
    pub performer: Option<Text>,
    /// The medication line id it belongs to, when resolvable.
    pub line_id: Option<Text>,
    /// Notes from the source, and the reason when not given ("reden: …").
    pub note: Option<Text>,
    /// The treatment it belongs to ([`Treatment::id`]), when attributable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treatment_id: Option<Text>,
    /// The dose as a quantity, with unit text and code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_quantity: Option<Quantity>,
    /// Why it was not given (statusReason), as text; also in `note` as "reden: …".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<Text>,
}

/// A vital sign or lab result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// What was measured, in words.
    pub name: Text,
    /// The preferred coding of what was measured (LOINC, SNOMED ...).
    pub code: Option<Code>,
    /// The value as displayed, with unit ("120/80 mmHg", "7.2 mmol/l", "positief").
    pub value: Text,
    /// The unit alone, when the source gives one.
    pub unit: Option<Text>,
    /// When it was measured (effective time); sorts the list, newest first.
    pub at: Option<Moment>,
    /// Interpretation flag (H, L, A ...), when given.
    pub flag: Option<Text>,
    /// The reference range in words, when the source gives one.
    pub reference_range: Option<Text>,
}

/// A contact person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The contact's name as shown ("(naam onbekend)" when the source has none).
    pub name: Text,
    /// How the contact relates to the patient (partner, daughter ...), as given.
    pub relationship: Option<Text>,
    /// The contact's role (first contact, legal representative ...), as given.
    pub role: Option<Text>,
    /// Phone numbers and e-mail addresses (telecom values) as given, at most 10.
    pub telecom: Vec<Text>,
}

/// A medical device (lines, catheters, pacemaker, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// The device in words.
    pub name: Text,
    /// The preferred coding of the device.
    pub code: Option<Code>,
    /// Since when the device is in place, if given.
    pub since: Option<Moment>,
    /// Where on the body, in words.
    pub body_site: Option<Text>,
    /// Free-text notes from the source.
    pub note: Option<Text>,
}
