//! The ward overview: a search form (focused) and one row per patient with bed, name, birth
//! date and age, patient number, and alerts, allergies and the resuscitation policy with
//! every other active treatment limit, as icon + word (never colour alone; the cells are
//! drawn by [`super::chips`]). Below 980 px the table becomes one card per patient, so allergies
//! and policy are never off-screen. And the printed ward list.

use super::chips::{alert_cell, allergy_cell, policy};
use super::layout::{self, Kind, data_age_class, data_age_text, print_drill, print_hint};
use super::text::{birth_with_age, clean};
use super::{Key, PageCtx, urls};
use crate::record::summary::PatientSummary;
use maud::{Markup, html};

/// Longest search query considered, in characters.
pub(crate) const MAX_QUERY: usize = crate::record::summary::SEARCH_MAX_CHARS;

/// Bed (and room when known) as text.
pub(crate) fn bed_text(s: &PatientSummary) -> String {
    match (&s.bed, &s.room) {
        (Some(b), _) => b.to_string(),
        (None, Some(r)) => r.to_string(),
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

/// The table of the ward overview for `rows`: it depends only on the generation, the
/// language and the day (the ages), so `web::cache` keeps the unsearched one per generation.
/// `_seen`: rendered only for a look that is durable in the access log.
pub fn ward_table(
    ctx: &PageCtx,
    rows: &[&PatientSummary],
    _seen: &crate::audit::Receipt,
) -> Markup {
    table(ctx, rows)
}

/// The ward overview with search.
/// `_seen` is the proof that this look is durable in the access log ([`crate::audit::Receipt`]):
/// without one the page cannot be rendered.
pub fn ward_overview(
    ctx: &PageCtx,
    rows: &[&PatientSummary],
    query: Option<&str>,
    seen: &crate::audit::Receipt,
) -> Markup {
    let table = ward_table(ctx, rows, seen);
    ward_overview_around(ctx, rows.len(), query, &table, seen)
}

/// The ward overview around `table`, made by [`ward_table`] for the `count` rows found, in
/// `ctx`'s language and day (the same page as [`ward_overview`], byte for byte).
pub fn ward_overview_around(
    ctx: &PageCtx,
    count: usize,
    query: Option<&str>,
    table: &Markup,
    _seen: &crate::audit::Receipt,
) -> Markup {
    let query = query.map(|q| q.chars().take(MAX_QUERY).collect::<String>());
    let query = query.as_deref().filter(|q| !q.trim().is_empty());
    let count_text =
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
                    strong { (count_text(count, Key::Result, Key::Results)) } " " (ctx.t(Key::ResultsFor)) " “" (clean(q)) "” — "
                    a href=(urls::HOME) { (ctx.t(Key::ShowAll)) }
                }
            } @else {
                p class="result-count" { strong { (count_text(count, Key::PatientOnWard, Key::PatientsOnWard)) } }
            }
        }
        @if count == 0 {
            p class="empty" {
                @if query.is_some() { (ctx.t(Key::NoResults)) } @else { (ctx.t(Key::NoPatients)) }
            }
        } @else {
            (table)
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
