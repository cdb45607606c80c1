//! The clinical model: what a nurse needs during an outage, as plain Rust types.
//!
//! This is the contract between the FHIR mapper (which produces it), the store (which
//! persists and queries it) and the web (which renders it). No FHIR type crosses into here,
//! and nothing in here does I/O.
//!
//! The central rule lives in [`Listed`]: *not recorded* (the source said nothing, so we do
//! not know) is a different value from *none documented* (the source explicitly states there
//! are none, e.g. "no known allergies"). Unknown must never look like none.

pub mod report;
pub mod summary;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

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
}

/// A coded concept as the source gives it (system URI, code, display text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

/// The ward's data as served by one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WardRecord {
    /// Ward id from the snapshot header (or the preview input).
    pub ward: String,
    pub patients: Vec<PatientRecord>,
    pub report: IngestReport,
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
    /// Medication agreements, administration agreements and medication use, active now.
    pub medication: Listed<MedicationLine>,
    /// Administrations within the configured window (72 hours by default), newest first.
    pub administrations: Listed<Administration>,
    /// Recent vital signs, newest first.
    pub vitals: Listed<Measurement>,
    /// Recent laboratory results, newest first.
    pub labs: Listed<Measurement>,
    pub contacts: Listed<Contact>,
    pub devices: Listed<Device>,
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
}

/// A problem / diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub name: String,
    pub code: Option<Code>,
    pub status: Option<String>,
    pub onset: Option<Moment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MedicationKind {
    /// MedicatieAfspraak (FHIR MedicationRequest).
    Agreement,
    /// ToedieningsAfspraak (FHIR MedicationDispense with the MP9 category).
    AdministrationAgreement,
    /// Medicatiegebruik (FHIR MedicationStatement).
    Use,
}

/// The drug as the source names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drug {
    pub name: String,
    pub code: Option<Code>,
    /// Strength, e.g. "500 mg" or "5 mg/ml".
    pub strength: Option<String>,
    pub form: Option<String>,
    pub ingredients: Vec<String>,
}

/// When to give: the structured schedule as far as the source structures it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Schedule {
    /// Fixed clock times (Timing.repeat.timeOfDay), in ward-local time.
    pub times_of_day: Vec<NaiveTime>,
    /// "3 x per 1 d" as (frequency, period, period unit as UCUM: h, d, wk ...).
    pub frequency: Option<Frequency>,
    /// Day parts / events (morning, before meals ...), as given.
    pub when: Vec<String>,
    /// Days of week (mon, tue ...) when restricted.
    pub days_of_week: Vec<String>,
    /// A readable rendering of the above (built by the mapper, Dutch).
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frequency {
    pub count: u32,
    pub count_max: Option<u32>,
    pub period: String,
    pub period_unit: String,
}

/// One dosing instruction (MP9 allows several per agreement, e.g. tapering).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Dosage {
    /// Dose with unit, e.g. "1 stuk", "500 mg", "1-2 stuks".
    pub dose: Option<String>,
    pub route: Option<String>,
    pub schedule: Schedule,
    /// `Some` when "zo nodig" (as needed); the condition text when given.
    pub as_needed: Option<AsNeeded>,
    /// Maximum dose per period, when given.
    pub max_dose: Option<String>,
    /// The source's own rendered text of this instruction (Dosage.text).
    pub text: Option<String>,
    /// Order for sequenced instructions.
    pub sequence: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsNeeded {
    pub condition: Option<String>,
}

/// One line of the active medication list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MedicationLine {
    pub kind: MedicationKind,
    /// Stable id within the patient (used to link administrations).
    pub id: String,
    pub drug: Drug,
    pub dosages: Vec<Dosage>,
    pub start: Option<Moment>,
    pub end: Option<Moment>,
    pub prescriber: Option<String>,
    /// MP9 category of an administration agreement, or the category given.
    pub category: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub note: Option<String>,
    /// The agreement this line is based on (administration agreement → medication agreement).
    pub based_on: Option<String>,
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
