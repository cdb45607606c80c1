//! The ward overview: a search form (focused) and one row per patient with bed, name, birth
//! date and age, patient number, and alerts, allergies and the resuscitation policy with
//! every other active treatment limit, as icon + word (never colour alone). Also the cell
//! renderers every surface shares (overview, ward list, MAR header, patient banner), so the
//! policy and the alerts look the same everywhere. Below 980 px the table becomes one card
//! per patient, so allergies and policy are never off-screen. And the printed ward list.

use super::icons::{Icon, icon};
use super::layout::{self, Kind, data_age_class, data_age_text};
use super::mar::{print_drill, print_hint};
use super::text::{birth_with_age, clean};
use super::{Key, PageCtx, urls};
use crate::record::summary::{
    AlertItem, PatientSummary, ResuscitationSummary, SectionFlag, TreatmentLimit,
};
use crate::record::{AlertKind, Decision};
use maud::{Markup, html};

/// Longest search query considered, in characters.
pub const MAX_QUERY: usize = crate::record::summary::SEARCH_MAX_CHARS;

/// The resuscitation policy as icon + words + colour class.
pub fn resus_badge(ctx: &PageCtx, r: ResuscitationSummary) -> Markup {
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
pub fn policy(ctx: &PageCtx, r: ResuscitationSummary, limits: &[TreatmentLimit]) -> Markup {
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
pub fn limit_text(ctx: &PageCtx, l: &TreatmentLimit) -> String {
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
pub fn allergy_cell(ctx: &PageCtx, flag: SectionFlag, texts: &[String]) -> Markup {
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
pub fn alert_chip(kind: AlertKind, text: &str) -> Markup {
    let (class, ic) = match kind {
        AlertKind::Isolation => ("chip chip-isolation", Icon::Isolation),
        AlertKind::FallRisk => ("chip chip-fall", Icon::Fall),
        AlertKind::Other => ("chip chip-alert", Icon::Warning),
    };
    html! { span class=(class) { (icon(ic)) " " (clean(text)) } }
}

/// Alerts in a cell: one chip per alert, or the section status.
pub fn alert_cell(ctx: &PageCtx, flag: SectionFlag, items: &[AlertItem]) -> Markup {
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

/// Bed (and room when known) as text.
pub fn bed_text(s: &PatientSummary) -> String {
    match (&s.bed, &s.room) {
        (Some(b), _) => b.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) => String::new(),
    }
}

/// The table of patients, shared by the overview: one compact row per patient (name with
/// birth date and patient number under it), so a 24-bed ward fits most of one screen.
fn table(ctx: &PageCtx, rows: &[&PatientSummary]) -> Markup {
    html! {
        table class="wardtable" {
            caption class="visually-hidden" { (ctx.t(Key::OverviewTitle)) }
            thead {
                tr {
                    th scope="col" class="col-bed" { (ctx.t(Key::Bed)) }
                    th scope="col" class="col-name" { (ctx.t(Key::PatientTitle)) }
                    th scope="col" class="col-alerts" { (ctx.t(Key::Alerts)) }
                    th scope="col" class="col-allergies" { (ctx.t(Key::Allergies)) }
                    th scope="col" class="col-policy" { (ctx.t(Key::Resuscitation)) }
                }
            }
            tbody {
                @for s in rows {
                    tr {
                        td class="col-bed" {
                            a class="bedlink" href=(urls::patient(&s.key)) { (clean(&bed_text(s))) }
                        }
                        th scope="row" class="col-name" {
                            a href=(urls::patient(&s.key)) { (clean(&s.name)) }
                            span class="who-facts" {
                                span class="nowrap" {
                                    span class="visually-hidden" { (ctx.t(Key::BirthDate)) " " }
                                    @match &s.birth_date {
                                        Some(b) => (birth_with_age(ctx, b)),
                                        None => span class="flag-unknown" { (ctx.t(Key::BirthDate)) " " (ctx.t(Key::Unknown)) },
                                    }
                                }
                                " · "
                                span class="nowrap" {
                                    span class="visually-hidden" { (ctx.t(Key::PatientNumber)) " " }
                                    (layout::opt(s.patient_number.as_deref()))
                                }
                            }
                        }
                        td class="col-alerts" data-label=(ctx.t(Key::Alerts)) { (alert_cell(ctx, s.alerts, &s.alert_items)) }
                        td class="col-allergies" data-label=(ctx.t(Key::Allergies)) { (allergy_cell(ctx, s.allergies, &s.allergy_texts)) }
                        td class="col-policy" data-label=(ctx.t(Key::Resuscitation)) { (policy(ctx, s.resuscitation, &s.limits)) }
                    }
                }
            }
        }
    }
}

/// The ward overview with search.
/// `_seen` is the proof that this look is durable in the access log ([`crate::audit::Receipt`]):
/// without one the page cannot be rendered.
pub fn ward_overview(
    ctx: &PageCtx,
    rows: &[&PatientSummary],
    query: Option<&str>,
    _seen: &crate::audit::Receipt,
) -> Markup {
    let query = query.map(|q| q.chars().take(MAX_QUERY).collect::<String>());
    let query = query.as_deref().filter(|q| !q.trim().is_empty());
    let count =
        |n: usize, one: Key, many: Key| format!("{n} {}", ctx.t(if n == 1 { one } else { many }));
    let content = html! {
        div class="overview-head" {
            h1 { (ctx.t(Key::OverviewTitle)) }
            form class="search" method="get" action=(urls::HOME) role="search" {
                div class="search-row" {
                    label for="q" { (ctx.t(Key::SearchShort)) }
                    input type="search" id="q" name="q" value=[query.map(clean)] maxlength="100"
                        autocomplete="off" autofocus title=(ctx.t(Key::SearchLabel))
                        placeholder=(ctx.t(Key::SearchPlaceholder));
                    button type="submit" class="btn" { (ctx.t(Key::SearchButton)) }
                }
            }
            @if let Some(q) = query {
                p class="result-count" role="status" {
                    strong { (count(rows.len(), Key::Result, Key::Results)) } " " (ctx.t(Key::ResultsFor)) " “" (clean(q)) "” — "
                    a href=(urls::HOME) { (ctx.t(Key::ShowAll)) }
                }
            } @else {
                p class="result-count" { strong { (count(rows.len(), Key::PatientOnWard, Key::PatientsOnWard)) } }
            }
        }
        @if rows.is_empty() {
            p class="empty" {
                @if query.is_some() { (ctx.t(Key::NoResults)) } @else { (ctx.t(Key::NoPatients)) }
            }
        } @else {
            (table(ctx, rows))
        }
    };
    layout::page(ctx, ctx.t(Key::OverviewTitle), Kind::Screen, content)
}

/// The ward list on A4 landscape: bed, name, birth date, patient number, alerts,
/// allergies, resuscitation policy.
/// `_seen` is the proof that this look is durable in the access log ([`crate::audit::Receipt`]):
/// without one the page cannot be rendered.
pub fn print_ward_list(
    ctx: &PageCtx,
    rows: &[&PatientSummary],
    _seen: &crate::audit::Receipt,
) -> Markup {
    let title = ctx.t(Key::WardListTitle);
    let content = html! {
        h1 class="screen-only" { (title) " " (clean(ctx.ward_name)) }
        (print_hint(ctx))
        table class="wardlist" {
            thead {
                tr { td colspan="8" class="mar-headcell" {
                    div class="print-head" {
                        div class="ph-row" {
                            (print_drill(ctx))
                            span class="ph-title" { (title) }
                            span class="ph-name" { (clean(ctx.ward_name)) }
                            span class=(data_age_class(ctx)) { (data_age_text(ctx)) }
                            span { (ctx.t(Key::Printed)) " " (crate::timefmt::datetime(ctx.now, ctx.tz)) }
                            span { (rows.len()) " " (ctx.t(if rows.len() == 1 { Key::PatientOnWard } else { Key::PatientsOnWard })) }
                        }
                    }
                } }
                tr {
                    th scope="col" { (ctx.t(Key::Bed)) }
                    th scope="col" { (ctx.t(Key::Name)) }
                    th scope="col" { (ctx.t(Key::BirthDate)) }
                    th scope="col" { (ctx.t(Key::PatientNumber)) }
                    th scope="col" { (ctx.t(Key::Alerts)) }
                    th scope="col" { (ctx.t(Key::Allergies)) }
                    th scope="col" { (ctx.t(Key::Resuscitation)) }
                    th scope="col" class="notes" { (ctx.t(Key::Notes)) }
                }
            }
            tbody {
                @for s in rows {
                    tr {
                        td class="col-bed" { strong { (clean(&bed_text(s))) } }
                        th scope="row" { (clean(&s.name)) }
                        td class="nowrap" { @match &s.birth_date { Some(b) => (birth_with_age(ctx, b)), None => (ctx.t(Key::Unknown)) } }
                        td class="nowrap" { (layout::opt(s.patient_number.as_deref())) }
                        td { (alert_cell(ctx, s.alerts, &s.alert_items)) }
                        td { (allergy_cell(ctx, s.allergies, &s.allergy_texts)) }
                        td { (policy(ctx, s.resuscitation, &s.limits)) }
                        td class="notes" {}
                    }
                }
            }
        }
    };
    layout::page(ctx, title, Kind::PrintLandscape, content)
}
