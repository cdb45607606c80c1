//! One building block of a treatment and what the rule reads and says about it: its kind,
//! the facts read once from the source (status, stop type, periods, registration), its fate
//! at the mapping's `now`, why it could not be fully read, and the line built from it.

use super::dose::{Dosage, Drug};
use crate::record::{Moment, Text};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The MP9 building block a line comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MedicationKind {
    /// MedicatieAfspraak (FHIR MedicationRequest).
    #[default]
    Agreement,
    /// WisselendDoseerschema (MedicationRequest, category 395067002): the current doses of
    /// a variable regimen, e.g. from the thrombosis service.
    VariableDosingRegimen,
    /// ToedieningsAfspraak (FHIR MedicationDispense with the MP9 category).
    AdministrationAgreement,
    /// Medicatiegebruik (FHIR MedicationStatement).
    Use,
}

/// The FHIR status of a building block, read into a closed set (the raw code stays in
/// [`MedicationLine::status`] for exports; pages never show it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "status", content = "code")]
pub enum BlockStatus {
    /// active, unknown, absent, in-progress, preparation, intended: the periods decide
    /// (MP9 3.0 always sends `unknown`).
    #[default]
    PeriodsDecide,
    /// FHIR `on-hold`: paused.
    OnHold,
    /// FHIR `stopped`.
    Stopped,
    /// FHIR `completed`: ended as planned.
    Completed,
    /// FHIR `cancelled`: never in force.
    Cancelled,
    /// MedicationStatement `not-taken`.
    NotTaken,
    /// FHIR `draft`: not in force.
    Draft,
    /// A status outside FHIR's value set: the block cannot be fully read.
    Unrecognised(Text),
}

/// What an MP9 stop order does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    /// 385655000 *onderbroken*, 113381000146106 *tijdelijk gestopt*, zib2017 `1`.
    Paused,
    /// 410546004 *stopgezet*, 113371000146109 *definitief gestopt*, zib2017 `2`.
    Stopped,
    /// 89925002 *geannuleerd*.
    Cancelled,
}

/// A period the block carries (a missing end with a start is an open period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Span {
    /// First moment of the period, if given.
    pub start: Option<Moment>,
    /// Last moment of the period (inclusive), `None` when open-ended.
    pub end: Option<Moment>,
}

/// Everything the "is this current" rule looks at, read once from the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BlockFacts {
    /// The block's FHIR status, read into a closed set.
    pub status: BlockStatus,
    /// The MP9 stop type, when the block is a stop order.
    pub stop: Option<StopKind>,
    /// Every period of the block: period of use, effectivePeriod, each dosage's boundsPeriod
    /// and start + boundsDuration.
    pub periods: Vec<Span>,
    /// When the block was made (registration / authoredOn / dateAsserted).
    pub registered: Option<Moment>,
}

pub(super) fn until(m: &Moment) -> Option<DateTime<Utc>> {
    m.end_exclusive()
}

pub(super) fn earlier(a: &Moment, b: &Moment) -> bool {
    match (a.earliest_utc(), b.earliest_utc()) {
        (Some(x), Some(y)) => x < y,
        _ => false,
    }
}

impl BlockFacts {
    /// The earliest start of every period.
    pub(crate) fn start(&self) -> Option<Moment> {
        self.periods
            .iter()
            .filter_map(|s| s.start)
            .min_by_key(|m| m.earliest_utc())
    }

    /// The latest end of every period; `None` when a period is open (start without end)
    /// or no period ends.
    pub(crate) fn end(&self) -> Option<Moment> {
        if self
            .periods
            .iter()
            .any(|s| s.start.is_some() && s.end.is_none())
        {
            return None;
        }
        self.periods
            .iter()
            .filter_map(|s| s.end)
            .max_by_key(|m| m.end_exclusive())
    }

    /// The date a stop order takes effect: its end, else its start, else its registration.
    pub(crate) fn stop_date(&self) -> Option<Moment> {
        self.end()
            .or_else(|| {
                self.periods
                    .iter()
                    .filter_map(|s| s.end)
                    .max_by_key(|m| m.end_exclusive())
            })
            .or_else(|| self.start())
            .or(self.registered)
    }
}

/// What became of one building block, at `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fate", rename_all = "snake_case")]
pub enum Fate {
    /// Running now. `stop_planned`/`pause_planned`: a later stop or pause order, or the
    /// start of a replacement.
    InForce {
        /// Its planned end, if any.
        ends: Option<Moment>,
        /// The start of a later stop order or replacement, if any.
        stop_planned: Option<Moment>,
        /// The start of a later pause order, if any.
        pause_planned: Option<Moment>,
    },
    /// Its period starts after `now`.
    NotYetStarted {
        /// When it starts.
        starts: Moment,
    },
    /// Its period ended before `now`.
    Ended {
        /// When it ended (inclusive), if known.
        on: Option<Moment>,
    },
    /// Stopped early by a status or an MP9 stop order.
    Stopped {
        /// When it was stopped, if known.
        on: Option<Moment>,
    },
    /// Paused (on hold, or an MP9 pause order).
    Paused {
        /// Since when it is paused, if known.
        since: Option<Moment>,
    },
    /// Cancelled: never in force.
    Cancelled,
    /// A draft: not in force.
    Draft,
    /// Replaced by a later block of the same kind (e.g. a dose change).
    Superseded {
        /// The id ([`MedicationLine::id`]) of the block that replaces it.
        by: Text,
        /// When the replacement starts, if known.
        from: Option<Moment>,
    },
    /// An MP9 stop agreement: not a therapy, an order that ends other blocks.
    StopOrder {
        /// What the stop order does to its treatment.
        stop: StopKind,
        /// When it takes effect, if known.
        on: Option<Moment>,
    },
}

impl Default for Fate {
    fn default() -> Self {
        Fate::InForce {
            ends: None,
            stop_planned: None,
            pause_planned: None,
        }
    }
}

impl Fate {
    /// True while the block runs now (`InForce`, planned stops and pauses included).
    pub fn is_in_force(&self) -> bool {
        matches!(self, Fate::InForce { .. })
    }
}

/// Why a block (and so its treatment) could not be fully read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum Unreadable {
    /// A modifierExtension the mapper does not know: it may change the meaning.
    UnknownModifier(Text),
    /// A stop type code outside the MP9 3.0, 2.x and zib2017 code lists.
    UnknownStopType(Text),
    /// The stop type's code and its display say different things.
    StopTypeDisplayConflict(Text),
    /// A status outside FHIR's value set.
    UnknownStatus(Text),
    /// A period that ends before it starts.
    PeriodEndsBeforeStart(Text),
}

/// Something about a treatment worth a second look, with everything current read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "attention", rename_all = "snake_case")]
pub enum Attention {
    /// More than one agreement of one MP9 treatment is in force at once.
    ConcurrentAgreements {
        /// How many agreements are in force.
        count: u32,
    },
    /// The treatment runs but its latest administration agreement does not.
    AdministrationAgreementNotInForce {
        /// What became of that administration agreement.
        fate: Fate,
    },
    /// The treatment does not run but an administration agreement or a variable dosing
    /// regimen still does.
    AdministrationAgreementStillInForce,
}

/// One building block of a treatment: an agreement, regimen, administration agreement or
/// use statement, with its fate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MedicationLine {
    /// Which MP9 building block this is.
    pub kind: MedicationKind,
    /// Stable id within the patient ("MedicationRequest/abc"), used to link administrations.
    pub id: Text,
    /// The drug of this block.
    pub drug: Drug,
    /// Dosing instructions, in sequence order.
    pub dosages: Vec<Dosage>,
    /// The earliest start of the block's periods (agreements without a period: authoredOn).
    pub start: Option<Moment>,
    /// The latest end of the block's periods (`None`: open-ended).
    pub end: Option<Moment>,
    /// Who prescribed or recorded it, as a display name.
    pub prescriber: Option<Text>,
    /// MP9 category of the block, or the category given.
    pub category: Option<Text>,
    /// The raw FHIR status code, for exports only; pages show the fate.
    pub status: Option<Text>,
    /// Reason for use in words (reasonCode and reasonReference, joined).
    pub reason: Option<Text>,
    /// Notes from the source, joined with " | ".
    pub note: Option<Text>,
    /// The block this one is based on (administration agreement → medication agreement).
    pub based_on: Option<Text>,
    /// The facts the rule decided on (read by the mapper; not kept in a generation, which
    /// needs only the outcome).
    #[serde(skip)]
    pub facts: BlockFacts,
    /// What became of the block at the time of mapping.
    #[serde(default)]
    pub fate: Fate,
    /// Why the block could not be fully read, if so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
}

impl MedicationLine {
    /// The last day this block runs as far as it is planned now: its end, or an earlier
    /// planned stop or pause.
    pub(crate) fn runs_until(&self) -> Option<Moment> {
        match &self.fate {
            Fate::InForce {
                ends,
                stop_planned,
                pause_planned,
            } => [*ends, *stop_planned, *pause_planned]
                .into_iter()
                .flatten()
                .min_by_key(|m| m.end_exclusive()),
            _ => self.end,
        }
    }
}
