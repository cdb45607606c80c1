//! The vocabulary every part of one patient shares: the ward-level inputs (`Shared`,
//! `Slot`), the forced allergy state and medication course, the running context that
//! hands out ids and collects the resources (`Ctx`), and the time and number helpers.

use super::super::clinical::Specialty;
use super::super::fhirout::{Entry, reference, uuid};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Amsterdam;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// Hospital patient numbers: a documented FAKE system. The arc below the BSN OID is not
/// assigned to any hospital; real exports use the hospital's own OID.
pub const PATIENT_NUMBER_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.6.3.99999";
/// The BSN naming system the generated patients' BSNs are given in.
pub const BSN_SYSTEM: &str = "http://fhir.nl/fhir/NamingSystem/bsn";

/// Ward-level resources a patient refers to.
#[derive(Debug, Clone)]
pub(in crate::generate) struct Shared<'a> {
    pub now: DateTime<Utc>,
    pub specialty: &'a Specialty,
    pub hospital: (String, String),
    pub pharmacy: (String, String),
    /// (PractitionerRole id, display) of the physicians.
    pub physicians: Vec<(String, String)>,
    /// (Practitioner id, display) of the nurses.
    pub nurses: Vec<(String, String)>,
}

/// Where the patient lies and their identifiers, decided at ward level.
#[derive(Debug, Clone)]
pub(in crate::generate) struct Slot {
    pub bed_id: String,
    pub bed_name: String,
    pub single_room: bool,
    pub bsn: Option<String>,
    pub patient_number: String,
    /// Forces the allergy state for the first patients of a ward (0 items, 1 none, 2 not
    /// recorded) so every ward shows all three; `None` = random.
    pub allergy_state: Option<AllergyState>,
    /// Forces what becomes of the first fitting drug of this patient (patients 3–6 of a
    /// ward: paused, stopped, cancelled, dose changed) so every ward shows each; `None` =
    /// random.
    pub course: Option<Course>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::generate) enum AllergyState {
    Items,
    NoneKnown,
    NotRecorded,
}

/// A standard normal draw (Box–Muller).
pub(super) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Rounds to `decimals` places.
pub(super) fn round(v: f64, decimals: u32) -> f64 {
    let f = 10f64.powi(decimals as i32);
    (v * f).round() / f
}

/// The instant of a local (Europe/Amsterdam) wall-clock time on a date.
pub(super) fn local(d: NaiveDate, t: NaiveTime) -> Option<DateTime<Utc>> {
    Amsterdam
        .from_local_datetime(&d.and_time(t))
        .earliest()
        .map(|x| x.with_timezone(&Utc))
}

pub(super) fn hm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

pub(super) fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Amsterdam).date_naive()
}

pub(super) fn nl_date(t: DateTime<Utc>) -> String {
    t.with_timezone(&Amsterdam).format("%d-%m-%Y").to_string()
}

/// Truncates to whole minutes.
pub(super) fn minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp();
    DateTime::from_timestamp(s - s.rem_euclid(60), 0).unwrap_or(t)
}

pub(super) struct Ctx<'a, 'b> {
    pub(super) rng: &'a mut ChaCha8Rng,
    pub(super) sh: &'a Shared<'b>,
    pub(super) out: &'a mut Vec<Entry>,
    pub(super) patient_id: String,
    pub(super) patient_display: String,
    pub(super) encounter_id: String,
    /// Whether this patient already has a dose recorded as not given in the last day (the
    /// demo shows one per patient, so the MAR's "NIET GEGEVEN" is always on display).
    pub(super) not_given_shown: bool,
}

impl Ctx<'_, '_> {
    pub(super) fn id(&mut self) -> String {
        uuid(self.rng)
    }

    pub(super) fn push(&mut self, id: String, resource: Value) {
        self.out.push(Entry { id, resource });
    }

    pub(super) fn patient_ref(&self) -> Value {
        reference(&self.patient_id, "Patient", &self.patient_display)
    }

    pub(super) fn encounter_ref(&self) -> Value {
        reference(&self.encounter_id, "Encounter", "Opname")
    }

    pub(super) fn nurse(&mut self) -> Option<(String, String)> {
        self.sh.nurses.choose(self.rng).cloned()
    }
}

/// What becomes of a drug therapy in the generated record, written as MP9 3.0 building
/// blocks that share one pharmaceutical-treatment identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::generate) enum Course {
    /// Runs as agreed.
    Runs,
    /// Stopped early (e.g. a side effect): a stop agreement (410546004).
    Stopped,
    /// Paused since some hours (e.g. before a procedure): a pause agreement (385655000).
    Paused,
    /// Agreed for later and cancelled before it started (89925002).
    Cancelled,
    /// Stopped and replaced by a new agreement with twice the dose.
    DoseChanged,
}
