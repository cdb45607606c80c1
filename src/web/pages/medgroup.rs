//! How the pages read treatments: which belong among the current medication (running,
//! paused, about to start, or not fully readable) and which are history; which lines the
//! MAR gives by; which administrations belong to a treatment; and the words for a
//! treatment's state and a building block's fate ("ONDERBROKEN sinds …", "gestopt op …",
//! "start op …"), and the high-risk marker ([`crate::record::highrisk`]). One drug therapy is one entry, so the MAR never shows one drug twice and
//! a stopped, paused or cancelled drug is never shown as current.

use super::icons::{Icon, icon};
use super::text::moment;
use super::{Key, PageCtx};
use crate::record::highrisk::{HighRisk, high_risk};
use crate::record::{
    Administration, Attention, Drug, Fate, MedicationKind, MedicationLine, Moment, StopKind,
    Treatment, TreatmentState, Unreadable,
};

/// Splits treatments into those a nurse must see now and the history, in source order.
pub(crate) fn split(items: &[Treatment]) -> (Vec<&Treatment>, Vec<&Treatment>) {
    items.iter().partition(|t| t.listed_now())
}

/// True when the administration belongs to the treatment.
pub(crate) fn owns(t: &Treatment, a: &Administration) -> bool {
    if a.treatment_id.as_deref() == Some(t.id.as_str()) {
        return true;
    }
    a.line_id
        .as_deref()
        .is_some_and(|id| t.blocks.iter().any(|l| l.id == id))
}

fn date(ctx: &PageCtx, m: &Option<Moment>) -> String {
    match m {
        Some(m) => moment(ctx, m),
        None => ctx.t(Key::Unknown).to_owned(),
    }
}

/// The high-risk group in words.
pub(crate) fn high_risk_word(ctx: &PageCtx, g: HighRisk) -> &'static str {
    ctx.t(match g {
        HighRisk::Anticoagulant => Key::HrAnticoagulant,
        HighRisk::Insulin => Key::HrInsulin,
        HighRisk::Opioid => Key::HrOpioid,
        HighRisk::ConcentratedElectrolyte => Key::HrElectrolyte,
        HighRisk::Methotrexate => Key::HrMethotrexate,
        HighRisk::Cytostatic => Key::HrCytostatic,
        HighRisk::Digoxin => Key::HrDigoxin,
        HighRisk::NeuromuscularBlocker => Key::HrNeuromuscular,
    })
}

/// The marker in front of a high-risk drug's name ("HOOG RISICO · insuline"), on the
/// patient page and the MAR; nothing for other drugs.
pub(crate) fn high_risk_mark(ctx: &PageCtx, d: &Drug) -> maud::Markup {
    maud::html! {
        @if let Some(g) = high_risk(d) {
            span class="hr-mark" {
                (icon(Icon::Warning)) " " strong { (ctx.t(Key::HighRisk)) } " · " (high_risk_word(ctx, g))
            }
            " "
        }
    }
}

/// The state of a treatment in words: "actueel", "ONDERBROKEN sinds 21-11-2026, hervat op
/// 25-11-2026", "start op …", "gestopt op …", "beëindigd op …", "geannuleerd".
pub(crate) fn state_label(ctx: &PageCtx, s: &TreatmentState) -> String {
    match s {
        TreatmentState::Current {
            ends,
            stop_planned,
            pause_planned,
            resumed_after_pause,
        } => {
            let mut parts = vec![ctx.t(Key::MedStateCurrent).to_owned()];
            if let Some(r) = resumed_after_pause {
                parts.push(format!(
                    "{} {}",
                    ctx.t(Key::MedResumedAfterPause),
                    moment(ctx, r)
                ));
            }
            if let Some(p) = pause_planned {
                parts.push(format!("{} {}", ctx.t(Key::MedPausesOn), moment(ctx, p)));
            }
            if let Some(st) = stop_planned {
                parts.push(format!("{} {}", ctx.t(Key::MedStopsOn), moment(ctx, st)));
            } else if let Some(e) = ends {
                parts.push(format!("{} {}", ctx.t(Key::MedUntil), moment(ctx, e)));
            }
            parts.join(", ")
        }
        TreatmentState::Paused { since, resumes } => {
            let mut t = match since {
                Some(s) => format!("{} {}", ctx.t(Key::MedStatePausedSince), moment(ctx, s)),
                None => ctx.t(Key::MedStatePaused).to_owned(),
            };
            if let Some(r) = resumes {
                t.push_str(&format!(
                    ", {} {}",
                    ctx.t(Key::MedResumesOn),
                    moment(ctx, r)
                ));
            }
            t
        }
        TreatmentState::Future { starts } => {
            format!("{} {}", ctx.t(Key::MedStartsOn), moment(ctx, starts))
        }
        TreatmentState::Stopped { on: Some(on) } => {
            format!("{} {}", ctx.t(Key::MedStoppedOn), moment(ctx, on))
        }
        TreatmentState::Stopped { on: None } => ctx.t(Key::MedStopped).to_owned(),
        TreatmentState::Ended { on: Some(on) } => {
            format!("{} {}", ctx.t(Key::MedEndedOn), moment(ctx, on))
        }
        TreatmentState::Ended { on: None } => ctx.t(Key::MedEnded).to_owned(),
        TreatmentState::Cancelled => ctx.t(Key::MedCancelled).to_owned(),
        TreatmentState::Draft => ctx.t(Key::MedDraft).to_owned(),
    }
}

/// The CSS class of a treatment state.
pub(crate) fn state_class(t: &Treatment) -> &'static str {
    if !t.unreadable.is_empty() {
        return "medstate medstate-unreadable";
    }
    match t.state {
        TreatmentState::Current { .. } => "medstate medstate-current",
        TreatmentState::Paused { .. } => "medstate medstate-paused",
        TreatmentState::Future { .. } => "medstate medstate-future",
        _ => "medstate medstate-past",
    }
}

/// What became of one building block, in words.
pub(crate) fn fate_label(ctx: &PageCtx, f: &Fate) -> String {
    match f {
        Fate::InForce { ends: Some(e), .. } => {
            format!(
                "{} {} {}",
                ctx.t(Key::MedInForce),
                ctx.t(Key::MedUntil),
                moment(ctx, e)
            )
        }
        Fate::InForce { .. } => ctx.t(Key::MedInForce).to_owned(),
        Fate::NotYetStarted { starts } => {
            format!("{} {}", ctx.t(Key::MedStartsOn), moment(ctx, starts))
        }
        Fate::Ended { on: Some(on) } => format!("{} {}", ctx.t(Key::MedEndedOn), moment(ctx, on)),
        Fate::Ended { on: None } => ctx.t(Key::MedEnded).to_owned(),
        Fate::Stopped { on: Some(on) } => {
            format!("{} {}", ctx.t(Key::MedStoppedOn), moment(ctx, on))
        }
        Fate::Stopped { on: None } => ctx.t(Key::MedStopped).to_owned(),
        Fate::Paused { since } => {
            format!("{} {}", ctx.t(Key::MedPausedSinceLower), date(ctx, since))
        }
        Fate::Cancelled => ctx.t(Key::MedCancelled).to_owned(),
        Fate::Draft => ctx.t(Key::MedDraft).to_owned(),
        Fate::Superseded { from, .. } => {
            format!("{} {}", ctx.t(Key::MedReplacedFrom), date(ctx, from))
        }
        Fate::StopOrder { stop, on } => match stop {
            StopKind::Stopped => format!("{} {}", ctx.t(Key::MedStopOrder), date(ctx, on)),
            StopKind::Paused => format!("{} {}", ctx.t(Key::MedPauseOrder), date(ctx, on)),
            StopKind::Cancelled => ctx.t(Key::MedCancelOrder).to_owned(),
        },
    }
}

/// Why a treatment could not be fully read, in words (with the technical detail).
pub(crate) fn unreadable_label(ctx: &PageCtx, u: &Unreadable) -> String {
    let (k, d) = match u {
        Unreadable::UnknownModifier(d) => (Key::MedUnknownModifier, d),
        Unreadable::UnknownStopType(d) => (Key::MedUnknownStopType, d),
        Unreadable::StopTypeDisplayConflict(d) => (Key::MedStopTypeConflict, d),
        Unreadable::UnknownStatus(d) => (Key::MedUnknownStatus, d),
        Unreadable::PeriodEndsBeforeStart(d) => (Key::MedPeriodBackwards, d),
    };
    format!("{} ({d})", ctx.t(k))
}

/// A treatment's attention point in words.
pub(crate) fn attention_label(ctx: &PageCtx, a: &Attention) -> String {
    match a {
        Attention::ConcurrentAgreements { count } => {
            format!("{count} × {}", ctx.t(Key::MedConcurrent))
        }
        Attention::AdministrationAgreementNotInForce { fate } => {
            format!("{}: {}", ctx.t(Key::MedTaNotInForce), fate_label(ctx, fate))
        }
        Attention::AdministrationAgreementStillInForce => ctx.t(Key::MedTaStillInForce).to_owned(),
    }
}

/// The building-block kind in words.
pub(crate) fn kind_word(ctx: &PageCtx, k: MedicationKind) -> &'static str {
    ctx.t(match k {
        MedicationKind::Agreement => Key::KindAgreement,
        MedicationKind::VariableDosingRegimen => Key::KindVariableDosing,
        MedicationKind::AdministrationAgreement => Key::KindAdminAgreement,
        MedicationKind::Use => Key::KindUse,
    })
}

/// One row of the MAR: a line to give by, or a treatment that must not be given.
#[derive(Debug, Clone, Copy)]
pub enum MarRow<'a> {
    /// Give by this line (slots on the days it runs).
    Give(&'a Treatment, &'a MedicationLine),
    /// Paused: no slots, the reason across the days.
    Paused(&'a Treatment, &'a MedicationLine),
    /// Not fully readable, or listed only because an instruction still runs while its
    /// treatment does not: no slots, "check the source" across the days with the reasons.
    Check(&'a Treatment, &'a MedicationLine),
}

/// The MAR rows of a patient's treatments: every current treatment by the lines it is
/// given by (administration agreement, else variable dosing regimen, else agreement), a
/// paused one as one row without boxes (plus its resume agreement, if planned), a future
/// one by its lines from its start; one that could not be fully read, or that is listed
/// only for a note (its agreement stopped while an administration agreement runs), without
/// boxes.
pub fn mar_rows(items: &[Treatment]) -> Vec<MarRow<'_>> {
    let mut rows = Vec::new();
    for t in items.iter().filter(|t| t.listed_now()) {
        if !t.unreadable.is_empty() || !t.state.listed_now() {
            if let Some(l) = t.lead_lines().first() {
                rows.push(MarRow::Check(t, l));
            }
            continue;
        }
        match t.state {
            TreatmentState::Paused { .. } => {
                if let Some(l) = t.lead_lines().first() {
                    rows.push(MarRow::Paused(t, l));
                }
                for l in t.blocks.iter().filter(|b| {
                    b.kind == t.lead_kind() && matches!(b.fate, Fate::NotYetStarted { .. })
                }) {
                    rows.push(MarRow::Give(t, l));
                }
            }
            _ => {
                for l in t.given_by() {
                    rows.push(MarRow::Give(t, l));
                }
            }
        }
    }
    rows
}
