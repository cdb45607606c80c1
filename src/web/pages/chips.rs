//! The cell renderers every surface shares (ward overview, ward list, MAR header, patient
//! banner), so the resuscitation policy, treatment limits, allergies and alerts look the
//! same everywhere: icon + word, never colour alone.

use super::icons::{Icon, icon};
use super::text::clean;
use super::{Key, PageCtx};
use crate::record::summary::{AlertItem, ResuscitationSummary, SectionFlag, TreatmentLimit};
use crate::record::{AlertKind, Decision, Text};
use maud::{Markup, html};

/// The resuscitation policy as icon + words + colour class.
pub(crate) fn resus_badge(ctx: &PageCtx, r: ResuscitationSummary) -> Markup {
    let (class, ic, key) = match r {
        ResuscitationSummary::Deny => ("resus resus-deny", Icon::Deny, Key::ResusDeny),
        ResuscitationSummary::Permit => ("resus resus-permit", Icon::Permit, Key::ResusPermit),
        ResuscitationSummary::NotRecorded => {
            ("resus resus-unknown", Icon::Unknown, Key::ResusUnknown)
        }
        ResuscitationSummary::Other => ("resus resus-other", Icon::Warning, Key::ResusOther),
        ResuscitationSummary::Conflicting => {
            ("resus resus-conflict", Icon::Conflict, Key::ResusConflict)
        }
    };
    html! { span class=(class) { (icon(ic)) " " (ctx.t(key)) } }
}

/// The resuscitation policy together with every other active treatment limit, in a
/// warning colour when there are any: "Wel reanimeren — geen beademing, geen IC".
pub(crate) fn policy(ctx: &PageCtx, r: ResuscitationSummary, limits: &[TreatmentLimit]) -> Markup {
    html! {
        span class="policy" {
            (resus_badge(ctx, r))
            @if !limits.is_empty() {
                " "
                span class="limits" {
                    (icon(Icon::Warning)) " "
                    @for (i, l) in limits.iter().enumerate() {
                        @if i > 0 { ", " }
                        (limit_text(ctx, l))
                    }
                }
            }
        }
    }
}

/// One limit in words: "geen beademing" / "beademing: zie dossier".
pub(crate) fn limit_text(ctx: &PageCtx, l: &TreatmentLimit) -> String {
    let what = lower_first(&clean(&l.treatment));
    match l.decision {
        Decision::Deny => format!("{} {what}", ctx.t(Key::LimitNo)),
        Decision::Permit | Decision::Other => format!("{what}: {}", ctx.t(Key::SeeRecord)),
    }
}

/// "Beademing" → "beademing", but "IC-opname" stays (an abbreviation).
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && !b.is_uppercase() => {
            a.to_lowercase().chain(s.chars().skip(1)).collect()
        }
        _ => s.to_owned(),
    }
}

/// Allergies in a cell: names in bold with an icon, or the section status. Unknown is as
/// loud as a known allergy (a nurse must ask before giving anything).
pub(crate) fn allergy_cell(ctx: &PageCtx, flag: SectionFlag, texts: &[Text]) -> Markup {
    html! {
        @match flag {
            SectionFlag::NotRecorded => span class="allergy-unknown" { (icon(Icon::Unknown)) " " (ctx.t(Key::AllergiesUnknown)) },
            SectionFlag::NoneDocumented => span class="flag-none" { (icon(Icon::NoneDocumented)) " " (ctx.t(Key::NoneKnown)) },
            SectionFlag::Present => {
                span class="flag-allergy" {
                    (icon(Icon::Allergy)) " "
                    @for (i, a) in texts.iter().enumerate() {
                        @if i > 0 { ", " }
                        strong { (clean(a)) }
                    }
                }
            }
        }
    }
}

/// One alert as a chip in its kind's colour and icon: isolation never looks like fall risk.
pub(crate) fn alert_chip(kind: AlertKind, text: &str) -> Markup {
    let (class, ic) = match kind {
        AlertKind::Isolation => ("chip chip-isolation", Icon::Isolation),
        AlertKind::FallRisk => ("chip chip-fall", Icon::Fall),
        AlertKind::Other => ("chip chip-alert", Icon::Warning),
    };
    html! { span class=(class) { (icon(ic)) " " (clean(text)) } }
}

/// Alerts in a cell: one chip per alert, or the section status.
pub(crate) fn alert_cell(ctx: &PageCtx, flag: SectionFlag, items: &[AlertItem]) -> Markup {
    html! {
        @match flag {
            SectionFlag::NotRecorded => span class="flag-unknown" { (icon(Icon::Unknown)) " " (ctx.t(Key::NotRecorded)) },
            SectionFlag::NoneDocumented => span class="flag-none" { (icon(Icon::NoneDocumented)) " " (ctx.t(Key::NoneRecorded)) },
            SectionFlag::Present => {
                ul class="alert-list" {
                    @for a in items {
                        li { (alert_chip(a.kind, &a.text)) }
                    }
                }
            }
        }
    }
}
