//! One drug therapy as a nurse reads it: its blocks, its state, and what it shows (the
//! drug, the dose in force, the lines that need a second look).

use super::block::{Attention, Fate, MedicationKind, MedicationLine, Unreadable};
use super::dose::Drug;
use crate::record::{Moment, Text};
use serde::{Deserialize, Serialize};

/// The state of a whole treatment at the time of mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TreatmentState {
    /// Running now.
    Current {
        /// Its planned end, if any.
        ends: Option<Moment>,
        /// The start of a planned stop, if any.
        stop_planned: Option<Moment>,
        /// The start of a planned pause, if any.
        pause_planned: Option<Moment>,
        /// Resumed after a pause that began on this date.
        resumed_after_pause: Option<Moment>,
    },
    /// *ONDERBROKEN sinds …* (and *hervat op …* when a resume is planned).
    Paused {
        /// Since when it is paused, if known.
        since: Option<Moment>,
        /// When it resumes, if a resume is planned.
        resumes: Option<Moment>,
    },
    /// *start op …*
    Future {
        /// The first day.
        starts: Moment,
    },
    /// *gestopt op …*
    Stopped {
        /// When it was stopped, if known.
        on: Option<Moment>,
    },
    /// *beëindigd op …*
    Ended {
        /// When it ended, if known.
        on: Option<Moment>,
    },
    /// *geannuleerd*: never current.
    Cancelled,
    /// A draft, not in force.
    Draft,
}

impl TreatmentState {
    /// True for the states a nurse must see among the current medication: running,
    /// paused (so it is not given) and about to start.
    pub(crate) fn listed_now(&self) -> bool {
        matches!(
            self,
            TreatmentState::Current { .. }
                | TreatmentState::Paused { .. }
                | TreatmentState::Future { .. }
        )
    }
}

/// One drug therapy: every building block that shares an MP9 pharmaceutical-treatment
/// identifier (or, without one, a reference chain or the same drug code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Treatment {
    /// Stable id within the patient (administrations point here).
    pub id: Text,
    /// The MP9 treatment identifier as "system|value", when the source gives one.
    pub identifier: Option<Text>,
    /// Whether the treatment runs now, and since or until when; decided by
    /// [`resolve`](super::resolve::resolve).
    pub state: TreatmentState,
    /// Every building block with its fate, leading kind first, newest first within a kind.
    pub blocks: Vec<MedicationLine>,
    /// History blocks dropped by the size bound (oldest first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: u32,
    /// Worth a second look although everything was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attention: Vec<Attention>,
    /// Why the treatment could not be fully read (then never shown as a plain current line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Most building blocks kept per treatment (the lines the state is about are always kept).
pub const MAX_BLOCKS_PER_TREATMENT: usize = 50;

/// The drug of a treatment without blocks (never produced by
/// [`resolve`](super::resolve::resolve)).
static NO_DRUG: Drug = Drug {
    name: Text::empty(),
    code: None,
    codes: Vec::new(),
    strength: None,
    form: None,
    ingredients: Vec::new(),
};

impl Treatment {
    /// The drug as the leading block names it (the latest therapy block of the leading kind).
    pub fn drug(&self) -> &Drug {
        let k = self.lead_kind();
        self.blocks
            .iter()
            .find(|l| l.kind == k && !matches!(l.fate, Fate::StopOrder { .. }))
            .or_else(|| self.blocks.first())
            .map_or(&NO_DRUG, |l| &l.drug)
    }

    /// True when the treatment belongs among the current medication: running, paused,
    /// about to start — or not fully readable, or with an administration agreement or
    /// regimen still in force although the agreement is not (a nurse must check those in
    /// the source).
    pub fn listed_now(&self) -> bool {
        self.state.listed_now() || !self.unreadable.is_empty() || !self.attention.is_empty()
    }

    /// The kind that leads the state: agreement, else administration agreement, else
    /// variable dosing regimen, else use.
    pub fn lead_kind(&self) -> MedicationKind {
        lead_kind(self.blocks.iter().map(|b| b.kind))
    }

    /// The lines the state is about: the blocks of the leading kind in force (current),
    /// paused (paused), about to start (future), else the latest one.
    pub fn lead_lines(&self) -> Vec<&MedicationLine> {
        let k = self.lead_kind();
        let of = |f: fn(&Fate) -> bool| -> Vec<&MedicationLine> {
            self.blocks
                .iter()
                .filter(|b| b.kind == k && f(&b.fate))
                .collect()
        };
        let v = match self.state {
            TreatmentState::Current { .. } => of(Fate::is_in_force),
            TreatmentState::Paused { .. } => of(|f| matches!(f, Fate::Paused { .. })),
            TreatmentState::Future { .. } => of(|f| matches!(f, Fate::NotYetStarted { .. })),
            _ => Vec::new(),
        };
        if !v.is_empty() {
            return v;
        }
        // The latest therapy block of the leading kind (blocks are newest first).
        self.blocks
            .iter()
            .find(|b| b.kind == k && !matches!(b.fate, Fate::StopOrder { .. }))
            .or_else(|| self.blocks.iter().find(|b| b.kind == k))
            .into_iter()
            .collect()
    }

    /// Administration agreements (and variable dosing regimens) in force: the doses the
    /// ward actually gives, when there are any.
    pub(crate) fn in_force_of(&self, kind: MedicationKind) -> Vec<&MedicationLine> {
        self.blocks
            .iter()
            .filter(|b| b.kind == kind && b.fate.is_in_force())
            .collect()
    }

    /// The lines whose dosage is given on the ward, for the MAR: administration agreements
    /// in force, else variable dosing regimens in force, else the lead lines.
    pub fn given_by(&self) -> Vec<&MedicationLine> {
        if matches!(self.state, TreatmentState::Current { .. }) {
            for k in [
                MedicationKind::AdministrationAgreement,
                MedicationKind::VariableDosingRegimen,
            ] {
                let v = self.in_force_of(k);
                if !v.is_empty() {
                    return v;
                }
            }
        }
        self.lead_lines()
    }

    /// The newest use statement, when the treatment has one and it does not lead.
    pub(crate) fn last_use(&self) -> Option<&MedicationLine> {
        if self.lead_kind() == MedicationKind::Use {
            return None;
        }
        self.blocks.iter().find(|b| b.kind == MedicationKind::Use)
    }

    /// Every block not shown as a lead line, an in-force administration agreement or
    /// regimen, or the last use statement: the readable history.
    pub(crate) fn history(&self) -> Vec<&MedicationLine> {
        let lead = self.lead_lines();
        let shown = |b: &MedicationLine| {
            lead.iter().any(|l| std::ptr::eq(*l, b))
                || (b.kind != self.lead_kind()
                    && b.fate.is_in_force()
                    && b.kind != MedicationKind::Use)
                || self.last_use().is_some_and(|u| std::ptr::eq(u, b))
        };
        self.blocks.iter().filter(|b| !shown(b)).collect()
    }
}

pub(super) fn lead_kind(kinds: impl Iterator<Item = MedicationKind>) -> MedicationKind {
    kinds.min().unwrap_or(MedicationKind::Agreement)
}
