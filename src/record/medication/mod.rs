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
//!
//! Files: `dose` (what to give and when), `block` (one building block: its facts, fate and
//! line), `fate` (one block's fate at `now`), `treatment` (a whole therapy and what it
//! shows), `resolve` (the rule across a treatment's blocks, on top of the others).

mod block;
mod dose;
mod fate;
mod resolve;
mod treatment;

pub use block::{
    Attention, BlockFacts, BlockStatus, Fate, MedicationKind, MedicationLine, Span, StopKind,
    Unreadable,
};
#[cfg(test)]
pub(crate) use dose::UCUM;
pub use dose::{AsNeeded, Dosage, Drug, Frequency, MaxDose, Quantity, Schedule};
pub use resolve::{Block, resolve};
pub use treatment::{MAX_BLOCKS_PER_TREATMENT, Treatment, TreatmentState};
