//! Medication as a nurse must read it: one line per drug therapy (MP9 *medicamenteuze
//! behandeling*), built from the building blocks that share it — medication agreements,
//! variable dosing regimens, administration agreements, use statements — and the one rule
//! that decides what is current.
//!
//! The rule works on facts the mapper has already read from the source ([`BlockFacts`]:
//! status, stop type, every period, registration time), never on FHIR JSON, so any reader
//! that extracts the same facts gets the same answer. In order:
//!
//! 1. **Explicit status** ([`BlockStatus`]): cancelled, stopped, completed, on hold, draft
//!    decide on their own.
//! 2. **MP9 stop type**: a block with a stop type is a *stop order* ([`Fate::StopOrder`]),
//!    not a therapy. It ends the blocks it refers to (or, referring to none, the blocks of
//!    its kind in the same treatment that started before it) from its date: the end of its
//!    period, else its start, else its registration. Pause → *onderbroken sinds*, stop →
//!    *gestopt op*, cancel → *geannuleerd* (never current). A stop order dated in the future
//!    leaves its target current with a planned stop/pause.
//! 3. **Periods**: the latest end of every period the block carries (period of use,
//!    effectivePeriod, boundsPeriod, start + boundsDuration; an open period has no end).
//!    Ended → *beëindigd op*; not yet started → *start op*.
//! 4. **Replacement**: a block that refers to an earlier block of its kind supersedes it
//!    from its own start.
//!
//! The treatment's state follows its leading kind (agreement, else administration agreement,
//! else variable dosing regimen, else use): in force > paused > future > stopped > ended >
//! cancelled. Anything the mapper could not interpret (an unknown modifier extension, an
//! unrecognised stop type or status) is carried as [`Unreadable`] and makes the line say
//! "could not be fully read — check the source" instead of a plain current line.

use super::{Code, Moment, Text};
use chrono::{DateTime, NaiveTime, Utc};
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

/// The drug as the source names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Drug {
    /// The drug's name as the source gives it (code text, else the preferred display); never
    /// empty for a mapped block.
    pub name: Text,
    /// The preferred coding (user-selected, else G-Standaard, else the first).
    pub code: Option<Code>,
    /// Every coding the source gives (G-Standaard, ATC, SNOMED, RxNorm, NDC, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Code>,
    /// Strength, e.g. "500 mg" or "5 mg/ml".
    pub strength: Option<Text>,
    /// Pharmaceutical form (tablet, solution ...), as given.
    pub form: Option<Text>,
    /// Names of the active ingredients, at most 20.
    pub ingredients: Vec<Text>,
}

/// A quantity with its unit as text and as code (UCUM or the G-Standaard unit table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    /// The amount, in `unit`.
    pub value: f64,
    /// The unit as people write it ("stuk", "mg").
    pub unit: Option<Text>,
    /// The unit's code system (`http://unitsofmeasure.org` for UCUM).
    pub system: Option<Text>,
    /// The unit's code ("mg", "{stuk}", "245").
    pub code: Option<Text>,
}

/// UCUM's system URI.
pub(crate) const UCUM: &str = "http://unitsofmeasure.org";

impl Quantity {
    /// The UCUM code of the unit, when the source gives one.
    pub fn ucum(&self) -> Option<&str> {
        (self.system.as_deref() == Some(UCUM))
            .then_some(self.code.as_deref())
            .flatten()
    }
}

/// A maximum dose per period ("max. 6 stuk per dag"): derivable for PRN blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaxDose {
    /// The maximum amount.
    pub quantity: Quantity,
    /// The period, e.g. 1 d (value with a UCUM time unit).
    pub per: Quantity,
}

/// When to give: the structured schedule as far as the source structures it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Schedule {
    /// Fixed clock times (Timing.repeat.timeOfDay), in ward-local time.
    pub times_of_day: Vec<NaiveTime>,
    /// "3 x per 1 d" as (frequency, period, period unit as UCUM: h, d, wk ...).
    pub frequency: Option<Frequency>,
    /// Day parts / events (morning, before meals ...), as given.
    pub when: Vec<Text>,
    /// Days of week (mon, tue ...) when restricted.
    pub days_of_week: Vec<Text>,
    /// A readable rendering of the above (built by the mapper, Dutch).
    pub text: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// How often per period (Timing.repeat frequency, period and periodUnit).
pub struct Frequency {
    /// Times per period (frequency).
    pub count: u32,
    /// The upper bound when a range is given ("2-3 x per dag"); always above `count`.
    pub count_max: Option<u32>,
    /// The period's length as a number in text ("1", "0,5").
    pub period: Text,
    /// The period's UCUM unit (h, d, wk, mo, a ...).
    pub period_unit: Text,
}

/// One dosing instruction (MP9 allows several per agreement, e.g. tapering).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Dosage {
    /// Dose with unit, e.g. "1 stuk", "500 mg", "1-2 stuks".
    pub dose: Option<Text>,
    /// The dose as a quantity (doseQuantity), with unit text and code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_quantity: Option<Quantity>,
    /// A dose range (doseRange): low and high.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_range: Option<(Option<Quantity>, Option<Quantity>)>,
    /// Route of administration in words.
    pub route: Option<Text>,
    /// When to give.
    pub schedule: Schedule,
    /// `Some` when "zo nodig" (as needed); the condition text when given.
    pub as_needed: Option<AsNeeded>,
    /// Maximum dose per period, when given, as text.
    pub max_dose: Option<Text>,
    /// The same maximum as quantities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_period: Option<MaxDose>,
    /// The source's own rendered text of this instruction (Dosage.text).
    pub text: Option<Text>,
    /// Order for sequenced instructions.
    pub sequence: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// "Zo nodig": give only when the condition occurs.
pub struct AsNeeded {
    /// The condition in words ("bij pijn"), when the source gives one.
    pub condition: Option<Text>,
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

fn until(m: &Moment) -> Option<DateTime<Utc>> {
    m.end_exclusive()
}

fn earlier(a: &Moment, b: &Moment) -> bool {
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
    /// Whether the treatment runs now, and since or until when; decided by [`resolve`].
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

/// The drug of a treatment without blocks (never produced by [`resolve`]).
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

    /// A treatment of one line (tests, simple sources): the line's fate decides.
    pub fn single(line: MedicationLine, now: DateTime<Utc>) -> Treatment {
        let id = line.id.clone();
        resolve(
            id,
            None,
            vec![Block {
                line,
                refers: Vec::new(),
            }],
            now,
        )
    }
}

fn lead_kind(kinds: impl Iterator<Item = MedicationKind>) -> MedicationKind {
    kinds.min().unwrap_or(MedicationKind::Agreement)
}

/// The state of one block on its own (status, stop type, periods) at `now`.
pub(crate) fn block_state(f: &BlockFacts, now: DateTime<Utc>) -> Fate {
    let end = f.end();
    let ended = |m: &Option<Moment>| m.as_ref().and_then(until).is_some_and(|t| t <= now);
    match &f.status {
        BlockStatus::Cancelled => return Fate::Cancelled,
        BlockStatus::Stopped | BlockStatus::NotTaken => {
            return Fate::Stopped {
                on: end.filter(|_| ended(&end)),
            };
        }
        BlockStatus::Completed => {
            return Fate::Ended {
                on: end.filter(|_| ended(&end)),
            };
        }
        BlockStatus::OnHold => return Fate::Paused { since: None },
        BlockStatus::Draft => return Fate::Draft,
        BlockStatus::PeriodsDecide | BlockStatus::Unrecognised(_) => {}
    }
    if let Some(stop) = f.stop {
        return Fate::StopOrder {
            stop,
            on: f.stop_date(),
        };
    }
    periods_state(f, now)
}

fn periods_state(f: &BlockFacts, now: DateTime<Utc>) -> Fate {
    let end = f.end();
    if let Some(e) = end
        && until(&e).is_some_and(|t| t <= now)
    {
        return Fate::Ended { on: Some(e) };
    }
    if let Some(s) = f.start()
        && s.earliest_utc().is_some_and(|t| t > now)
    {
        return Fate::NotYetStarted { starts: s };
    }
    Fate::InForce {
        ends: end,
        stop_planned: None,
        pause_planned: None,
    }
}

/// One building block as input to [`resolve`]: the line and the blocks of the same
/// treatment it refers to (priorPrescription, basedOn, authorizingPrescription...).
#[derive(Debug, Clone)]
pub struct Block {
    /// The building block.
    pub line: MedicationLine,
    /// Indices (into the same `Vec<Block>`) of the blocks this one refers to.
    pub refers: Vec<usize>,
}

fn min_moment(a: Option<Moment>, b: Option<Moment>) -> Option<Moment> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if earlier(&y, &x) { y } else { x }),
        (x, y) => x.or(y),
    }
}

fn max_moment(a: Option<Moment>, b: Option<Moment>) -> Option<Moment> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if earlier(&x, &y) { y } else { x }),
        (x, y) => x.or(y),
    }
}

/// Applies a stop order of `kind` dated `on` to a block's fate.
fn apply_stop(fate: &Fate, kind: StopKind, on: Option<Moment>, now: DateTime<Utc>) -> Fate {
    let effective = on.as_ref().and_then(until).is_none_or(|t| t <= now);
    match (kind, fate) {
        (_, Fate::Cancelled | Fate::Draft | Fate::StopOrder { .. }) => fate.clone(),
        (StopKind::Cancelled, _) => Fate::Cancelled,
        // A therapy that ended before the stop date simply ended.
        (_, Fate::Ended { on: Some(e) }) if on.as_ref().is_some_and(|s| until(e) <= until(s)) => {
            fate.clone()
        }
        (StopKind::Stopped, _) if effective => Fate::Stopped { on },
        (StopKind::Paused, _) if effective => Fate::Paused { since: on },
        (
            StopKind::Stopped,
            Fate::InForce {
                ends,
                stop_planned,
                pause_planned,
            },
        ) => Fate::InForce {
            ends: *ends,
            stop_planned: min_moment(*stop_planned, on),
            pause_planned: *pause_planned,
        },
        (
            StopKind::Paused,
            Fate::InForce {
                ends,
                stop_planned,
                pause_planned,
            },
        ) => Fate::InForce {
            ends: *ends,
            stop_planned: *stop_planned,
            pause_planned: min_moment(*pause_planned, on),
        },
        _ => fate.clone(),
    }
}

/// Severity order when several orders hit one block: cancelled, stopped, paused, rest.
fn severity(f: &Fate) -> u8 {
    match f {
        Fate::Cancelled => 4,
        Fate::Stopped { .. } => 3,
        Fate::Superseded { .. } => 2,
        Fate::Paused { .. } => 1,
        _ => 0,
    }
}

fn sort_key(l: &MedicationLine) -> (MedicationKind, std::cmp::Reverse<Option<DateTime<Utc>>>) {
    let when = l
        .start
        .or(l.facts.registered)
        .and_then(|m| m.earliest_utc());
    (l.kind, std::cmp::Reverse(when))
}

/// Decides the fate of every block and the state of the treatment at `now`.
pub fn resolve(
    id: Text,
    identifier: Option<Text>,
    blocks: Vec<Block>,
    now: DateTime<Utc>,
) -> Treatment {
    let n = blocks.len();
    let own: Vec<Fate> = blocks
        .iter()
        .map(|b| block_state(&b.line.facts, now))
        .collect();
    let mut fate = own.clone();

    // Stop orders end their targets.
    for s in 0..n {
        let Some(Fate::StopOrder { stop, on }) = own.get(s).cloned() else {
            continue;
        };
        let Some(sb) = blocks.get(s) else { continue };
        let kind = sb.line.kind;
        let is_target = |t: usize| {
            t != s
                && blocks.get(t).is_some_and(|b| b.line.kind == kind)
                && !matches!(own.get(t), Some(Fate::StopOrder { .. }))
        };
        let mut targets: Vec<usize> = sb
            .refers
            .iter()
            .copied()
            .filter(|&t| is_target(t))
            .collect();
        if targets.is_empty() {
            targets = (0..n)
                .filter(|&t| is_target(t))
                .filter(|&t| {
                    let Some(b) = blocks.get(t) else { return false };
                    // A block starting at or after the stop date is what comes next (a
                    // replacement, a resume), not what the order stops.
                    let starts_before = match (b.line.facts.start().or(b.line.facts.registered), on)
                    {
                        (Some(st), Some(o)) => earlier(&st, &o),
                        _ => true,
                    };
                    let registered_after = match (b.line.facts.registered, sb.line.facts.registered)
                    {
                        (Some(bt), Some(st)) => earlier(&st, &bt),
                        _ => false,
                    };
                    starts_before && !registered_after
                })
                .collect();
        }
        if targets.is_empty() {
            // A stop order on its own stands for the therapy it stops: that therapy ran
            // from the order's start until the stop date (its period ends there because
            // of the stop, not before it).
            let base = match sb.line.facts.start() {
                Some(st) if st.earliest_utc().is_some_and(|t| t > now) => {
                    Fate::NotYetStarted { starts: st }
                }
                _ => Fate::default(),
            };
            if let Some(f) = fate.get_mut(s) {
                *f = apply_stop(&base, stop, on, now);
            }
            continue;
        }
        for t in targets {
            if let Some(f) = fate.get_mut(t) {
                let next = apply_stop(f, stop, on, now);
                if severity(&next) >= severity(f) {
                    *f = next;
                }
            }
        }
    }

    // Replacements supersede what they refer to.
    for b2 in 0..n {
        let Some(b) = blocks.get(b2) else { continue };
        if matches!(
            fate.get(b2),
            Some(Fate::Cancelled | Fate::Draft | Fate::StopOrder { .. }) | None
        ) || matches!(own.get(b2), Some(Fate::StopOrder { .. }))
        {
            continue;
        }
        let started = b
            .line
            .facts
            .start()
            .and_then(|m| m.earliest_utc())
            .is_none_or(|t| t <= now);
        for &t in &b.refers {
            if t == b2 || blocks.get(t).is_none_or(|x| x.line.kind != b.line.kind) {
                continue;
            }
            let Some(f) = fate.get_mut(t) else { continue };
            match f {
                Fate::InForce { stop_planned, .. } if !started => {
                    *stop_planned = min_moment(*stop_planned, b.line.facts.start());
                }
                Fate::InForce { .. } | Fate::NotYetStarted { .. } if started => {
                    *f = Fate::Superseded {
                        by: b.line.id.clone(),
                        from: b.line.facts.start(),
                    };
                }
                _ => {}
            }
        }
    }

    // An administration agreement or regimen follows the agreement it is based on: when
    // that agreement was stopped, paused, cancelled, replaced or ended, the instruction
    // based on it does not run either (the pharmacy's own stop may not have arrived yet).
    for t in 0..n {
        let Some(b) = blocks.get(t) else { continue };
        if !matches!(
            b.line.kind,
            MedicationKind::AdministrationAgreement | MedicationKind::VariableDosingRegimen
        ) || !fate.get(t).is_some_and(Fate::is_in_force)
        {
            continue;
        }
        let base_fates: Vec<Fate> = b
            .refers
            .iter()
            .filter(|&&r| {
                blocks
                    .get(r)
                    .is_some_and(|x| x.line.kind == MedicationKind::Agreement)
                    && !matches!(own.get(r), Some(Fate::StopOrder { .. }))
            })
            .filter_map(|&r| fate.get(r).cloned())
            .collect();
        if base_fates.is_empty() || base_fates.iter().any(Fate::is_in_force) {
            continue;
        }
        let follow = base_fates
            .into_iter()
            .filter(|f| {
                matches!(
                    f,
                    Fate::Stopped { .. }
                        | Fate::Paused { .. }
                        | Fate::Cancelled
                        | Fate::Superseded { .. }
                        | Fate::Ended { .. }
                )
            })
            .max_by_key(severity);
        if let (Some(f), Some(slot)) = (follow, fate.get_mut(t)) {
            *slot = f;
        }
    }

    let mut lines: Vec<MedicationLine> = blocks
        .into_iter()
        .zip(fate)
        .map(|(b, f)| {
            let mut l = b.line;
            l.fate = f;
            l
        })
        .collect();
    lines.sort_by_key(sort_key);

    let lead = lead_kind(lines.iter().map(|l| l.kind));
    let of_lead = || lines.iter().filter(|l| l.kind == lead);
    let mut in_force = 0u32;
    let (mut ends, mut open, mut stop_planned, mut pause_planned) = (None, false, None, None);
    let (mut paused, mut paused_since, mut starts) = (false, None, None);
    let (mut stopped, mut stopped_on, mut ended, mut ended_on) = (false, None, false, None);
    let (mut cancelled, mut draft) = (false, false);
    for l in of_lead() {
        match &l.fate {
            Fate::InForce {
                ends: e,
                stop_planned: s,
                pause_planned: p,
            } => {
                in_force += 1;
                match e {
                    Some(e) => ends = max_moment(ends, Some(*e)),
                    None => open = true,
                }
                stop_planned = min_moment(stop_planned, *s);
                pause_planned = min_moment(pause_planned, *p);
            }
            Fate::Paused { since } => {
                paused = true;
                paused_since = max_moment(paused_since, *since);
            }
            Fate::NotYetStarted { starts: s } => starts = min_moment(starts, Some(*s)),
            Fate::Stopped { on } => {
                stopped = true;
                stopped_on = max_moment(stopped_on, *on);
            }
            Fate::Ended { on } => {
                ended = true;
                ended_on = max_moment(ended_on, *on);
            }
            Fate::Superseded { from, .. } => {
                ended = true;
                ended_on = max_moment(ended_on, *from);
            }
            Fate::Cancelled => cancelled = true,
            Fate::Draft => draft = true,
            Fate::StopOrder { .. } => {}
        }
    }
    let state = if in_force > 0 {
        TreatmentState::Current {
            ends: if open { None } else { ends },
            stop_planned,
            pause_planned,
            resumed_after_pause: paused_since.filter(|_| paused),
        }
    } else if paused {
        TreatmentState::Paused {
            since: paused_since,
            resumes: starts,
        }
    } else if let Some(s) = starts {
        TreatmentState::Future { starts: s }
    } else if stopped {
        TreatmentState::Stopped { on: stopped_on }
    } else if ended {
        TreatmentState::Ended { on: ended_on }
    } else if cancelled {
        TreatmentState::Cancelled
    } else if draft {
        TreatmentState::Draft
    } else {
        // Only stop orders whose targets are elsewhere: nothing runs.
        TreatmentState::Stopped { on: None }
    };

    let mut attention = Vec::new();
    if in_force > 1 && identifier.is_some() && lead == MedicationKind::Agreement {
        attention.push(Attention::ConcurrentAgreements { count: in_force });
    }
    if lead == MedicationKind::Agreement {
        let tas: Vec<&MedicationLine> = lines
            .iter()
            .filter(|l| {
                l.kind == MedicationKind::AdministrationAgreement
                    && !matches!(l.fate, Fate::StopOrder { .. } | Fate::Superseded { .. })
            })
            .collect();
        let ta_in_force = lines.iter().any(|l| {
            matches!(
                l.kind,
                MedicationKind::AdministrationAgreement | MedicationKind::VariableDosingRegimen
            ) && l.fate.is_in_force()
        });
        let running = matches!(state, TreatmentState::Current { .. });
        if running && !ta_in_force {
            if let Some(latest) = tas.first()
                && matches!(
                    latest.fate,
                    Fate::Stopped { .. } | Fate::Paused { .. } | Fate::Cancelled
                )
            {
                attention.push(Attention::AdministrationAgreementNotInForce {
                    fate: latest.fate.clone(),
                });
            }
        } else if !running && ta_in_force && !matches!(state, TreatmentState::Future { .. }) {
            attention.push(Attention::AdministrationAgreementStillInForce);
        }
    }

    let mut unreadable: Vec<Unreadable> = Vec::new();
    for l in &lines {
        for u in &l.unreadable {
            if !unreadable.contains(u) {
                unreadable.push(u.clone());
            }
        }
    }

    // Bound the history: keep everything the state is about, drop the oldest of the rest.
    let mut omitted = 0u32;
    if lines.len() > MAX_BLOCKS_PER_TREATMENT {
        let keep_always = |l: &MedicationLine| {
            matches!(
                l.fate,
                Fate::InForce { .. } | Fate::Paused { .. } | Fate::NotYetStarted { .. }
            )
        };
        let mut kept = 0usize;
        let mut out = Vec::with_capacity(MAX_BLOCKS_PER_TREATMENT);
        for l in lines {
            if keep_always(&l) || kept < MAX_BLOCKS_PER_TREATMENT {
                kept += 1;
                out.push(l);
            } else {
                omitted = omitted.saturating_add(1);
            }
        }
        lines = out;
    }

    Treatment {
        id,
        identifier,
        state,
        blocks: lines,
        omitted,
        attention,
        unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(y: i32, m: u32, d: u32) -> Moment {
        Moment::Day(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T06:00:00Z")
            .unwrap()
            .into()
    }

    fn block(id: &str, kind: MedicationKind, start: Moment, end: Option<Moment>) -> MedicationLine {
        MedicationLine {
            kind,
            id: id.into(),
            drug: Drug {
                name: id.into(),
                ..Default::default()
            },
            facts: BlockFacts {
                periods: vec![Span {
                    start: Some(start),
                    end,
                }],
                registered: Some(start),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn stop(id: &str, kind: StopKind, start: Moment, on: Moment) -> MedicationLine {
        let mut l = block(id, MedicationKind::Agreement, start, Some(on));
        l.facts.stop = Some(kind);
        l.facts.registered = Some(on);
        l
    }

    fn b(line: MedicationLine, refers: &[usize]) -> Block {
        Block {
            line,
            refers: refers.to_vec(),
        }
    }

    #[test]
    fn explicit_status_decides_before_periods() {
        let mut f = BlockFacts {
            periods: vec![Span {
                start: Some(day(2026, 1, 1)),
                end: None,
            }],
            ..Default::default()
        };
        for (status, want) in [
            (BlockStatus::Cancelled, Fate::Cancelled),
            (BlockStatus::OnHold, Fate::Paused { since: None }),
            (BlockStatus::Stopped, Fate::Stopped { on: None }),
            (BlockStatus::Completed, Fate::Ended { on: None }),
            (BlockStatus::Draft, Fate::Draft),
        ] {
            f.status = status;
            assert_eq!(block_state(&f, now()), want);
        }
        f.status = BlockStatus::PeriodsDecide;
        assert!(block_state(&f, now()).is_in_force());
    }

    #[test]
    fn latest_end_of_every_period_decides_and_an_open_period_never_ends() {
        let f = BlockFacts {
            periods: vec![
                Span {
                    start: Some(day(2021, 1, 1)),
                    end: Some(day(2021, 3, 1)),
                },
                Span {
                    start: None,
                    end: Some(day(2021, 6, 30)),
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            block_state(&f, now()),
            Fate::Ended {
                on: Some(day(2021, 6, 30))
            }
        );
        let open = BlockFacts {
            periods: vec![
                Span {
                    start: Some(day(2021, 1, 1)),
                    end: None,
                },
                Span {
                    start: Some(day(2021, 1, 1)),
                    end: Some(day(2021, 1, 10)),
                },
            ],
            ..Default::default()
        };
        assert!(block_state(&open, now()).is_in_force());
        // An end date lasts through that day.
        let today = BlockFacts {
            periods: vec![Span {
                start: Some(day(2026, 11, 1)),
                end: Some(day(2026, 11, 22)),
            }],
            ..Default::default()
        };
        assert!(block_state(&today, now()).is_in_force());
    }

    #[test]
    fn future_start_is_not_yet_started() {
        let f = BlockFacts {
            periods: vec![Span {
                start: Some(day(2026, 12, 1)),
                end: None,
            }],
            ..Default::default()
        };
        assert_eq!(
            block_state(&f, now()),
            Fate::NotYetStarted {
                starts: day(2026, 12, 1)
            }
        );
    }

    #[test]
    fn pause_order_pauses_the_agreement_it_refers_to() {
        let t = resolve(
            "t".into(),
            Some("x|1".into()),
            vec![
                b(
                    block(
                        "ma",
                        MedicationKind::Agreement,
                        day(2026, 1, 1),
                        Some(day(2027, 1, 1)),
                    ),
                    &[],
                ),
                b(
                    stop(
                        "pause",
                        StopKind::Paused,
                        day(2026, 1, 1),
                        day(2026, 11, 21),
                    ),
                    &[0],
                ),
            ],
            now(),
        );
        assert_eq!(
            t.state,
            TreatmentState::Paused {
                since: Some(day(2026, 11, 21)),
                resumes: None
            }
        );
        assert!(!matches!(t.state, TreatmentState::Current { .. }));
        assert_eq!(t.lead_lines()[0].id, "ma");
    }

    #[test]
    fn pause_with_resume_agreement_says_when_it_resumes() {
        let t = resolve(
            "t".into(),
            None,
            vec![
                b(
                    block("ma", MedicationKind::Agreement, day(2026, 1, 1), None),
                    &[],
                ),
                b(
                    stop(
                        "pause",
                        StopKind::Paused,
                        day(2026, 1, 1),
                        day(2026, 11, 20),
                    ),
                    &[],
                ),
                b(
                    block("resume", MedicationKind::Agreement, day(2026, 11, 25), None),
                    &[],
                ),
            ],
            now(),
        );
        assert_eq!(
            t.state,
            TreatmentState::Paused {
                since: Some(day(2026, 11, 20)),
                resumes: Some(day(2026, 11, 25))
            }
        );
    }

    #[test]
    fn stop_and_replacement_show_only_the_new_dose() {
        let t = resolve(
            "t".into(),
            Some("x|1".into()),
            vec![
                b(
                    block("old", MedicationKind::Agreement, day(2026, 10, 1), None),
                    &[],
                ),
                b(
                    stop(
                        "stop",
                        StopKind::Stopped,
                        day(2026, 10, 1),
                        day(2026, 11, 10),
                    ),
                    &[0],
                ),
                b(
                    block("new", MedicationKind::Agreement, day(2026, 11, 11), None),
                    &[0],
                ),
            ],
            now(),
        );
        assert!(matches!(t.state, TreatmentState::Current { .. }));
        let lead: Vec<&str> = t.lead_lines().iter().map(|l| l.id.as_str()).collect();
        assert_eq!(lead, ["new"]);
        let old = t.blocks.iter().find(|l| l.id == "old").unwrap();
        assert_eq!(
            old.fate,
            Fate::Stopped {
                on: Some(day(2026, 11, 10))
            }
        );
        assert!(t.attention.is_empty());
    }

    #[test]
    fn cancelled_agreement_is_never_current() {
        let t = resolve(
            "t".into(),
            None,
            vec![
                b(
                    block("ma", MedicationKind::Agreement, day(2026, 11, 1), None),
                    &[],
                ),
                b(
                    stop(
                        "cancel",
                        StopKind::Cancelled,
                        day(2026, 11, 1),
                        day(2026, 11, 30),
                    ),
                    &[0],
                ),
            ],
            now(),
        );
        assert_eq!(t.state, TreatmentState::Cancelled);
        assert!(!t.listed_now());
    }

    #[test]
    fn stop_order_in_the_future_plans_the_stop() {
        let t = resolve(
            "t".into(),
            None,
            vec![
                b(
                    block("ma", MedicationKind::Agreement, day(2026, 11, 1), None),
                    &[],
                ),
                b(
                    stop(
                        "stop",
                        StopKind::Stopped,
                        day(2026, 11, 1),
                        day(2026, 11, 25),
                    ),
                    &[0],
                ),
            ],
            now(),
        );
        assert_eq!(
            t.state,
            TreatmentState::Current {
                ends: None,
                stop_planned: Some(day(2026, 11, 25)),
                pause_planned: None,
                resumed_after_pause: None
            }
        );
    }

    #[test]
    fn lone_stop_order_stands_for_its_therapy() {
        let t = resolve(
            "t".into(),
            None,
            vec![b(
                stop("stop", StopKind::Stopped, day(2016, 9, 8), day(2016, 9, 18)),
                &[],
            )],
            now(),
        );
        assert_eq!(
            t.state,
            TreatmentState::Stopped {
                on: Some(day(2016, 9, 18))
            }
        );
    }

    #[test]
    fn stopped_administration_agreement_under_a_running_agreement_asks_attention() {
        let mut ta = block(
            "ta",
            MedicationKind::AdministrationAgreement,
            day(2026, 11, 1),
            None,
        );
        ta.facts.status = BlockStatus::Stopped;
        let t = resolve(
            "t".into(),
            None,
            vec![
                b(
                    block("ma", MedicationKind::Agreement, day(2026, 11, 1), None),
                    &[],
                ),
                b(ta, &[0]),
            ],
            now(),
        );
        assert!(matches!(t.state, TreatmentState::Current { .. }));
        assert!(matches!(
            t.attention.first(),
            Some(Attention::AdministrationAgreementNotInForce { .. })
        ));
        // The MAR gives by the agreement then, never by a stopped administration agreement.
        assert_eq!(t.given_by()[0].id, "ma");
    }

    #[test]
    fn in_force_administration_agreement_gives_the_dose() {
        let t = resolve(
            "t".into(),
            None,
            vec![
                b(
                    block("ma", MedicationKind::Agreement, day(2026, 11, 1), None),
                    &[],
                ),
                b(
                    block(
                        "ta",
                        MedicationKind::AdministrationAgreement,
                        day(2026, 11, 1),
                        None,
                    ),
                    &[0],
                ),
                b(
                    block("use", MedicationKind::Use, day(2026, 11, 1), None),
                    &[],
                ),
            ],
            now(),
        );
        assert_eq!(t.given_by()[0].id, "ta");
        assert_eq!(t.last_use().map(|u| u.id.as_str()), Some("use"));
        assert!(t.history().is_empty());
    }

    #[test]
    fn history_is_bounded_but_keeps_what_runs() {
        let mut blocks: Vec<Block> = (0..80)
            .map(|i| {
                b(
                    block(
                        &format!("old{i}"),
                        MedicationKind::Agreement,
                        day(2000 + i / 12, 1 + (i % 12) as u32, 1),
                        Some(day(2000 + i / 12, 1 + (i % 12) as u32, 2)),
                    ),
                    &[],
                )
            })
            .collect();
        blocks.push(b(
            block("now", MedicationKind::Agreement, day(2026, 1, 1), None),
            &[],
        ));
        let t = resolve("t".into(), None, blocks, now());
        assert_eq!(t.blocks.len(), MAX_BLOCKS_PER_TREATMENT);
        assert_eq!(t.omitted, 31);
        assert!(t.blocks.iter().any(|l| l.id == "now"));
        assert!(matches!(t.state, TreatmentState::Current { .. }));
    }
}
