//! The ward overview: a search form and one row per patient with bed, name, birth date and
//! age, patient number, and alerts, allergies and resuscitation policy as icon + word
//! (never colour alone). Also the cell renderers the print views share, and the search
//! matcher the server may use to filter rows.

use super::icons::{Icon, icon};
use super::layout::{self, Kind};
use super::text::{birth_with_age, clean, fold};
use super::{Key, PageCtx, urls};
use crate::record::summary::{PatientSummary, ResuscitationSummary, SectionFlag};
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

/// Allergies in a cell: names in bold with an icon, or the section status.
pub fn allergy_cell(ctx: &PageCtx, flag: SectionFlag, texts: &[String]) -> Markup {
    html! {
        @match flag {
            SectionFlag::NotRecorded => span class="flag-unknown" { (icon(Icon::Unknown)) " " (ctx.t(Key::NotRecorded)) },
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

/// Alerts in a cell: each text with an icon, or the section status.
pub fn alert_cell(ctx: &PageCtx, flag: SectionFlag, texts: &[String]) -> Markup {
    html! {
        @match flag {
            SectionFlag::NotRecorded => span class="flag-unknown" { (icon(Icon::Unknown)) " " (ctx.t(Key::NotRecorded)) },
            SectionFlag::NoneDocumented => span class="flag-none" { (icon(Icon::NoneDocumented)) " " (ctx.t(Key::NoneRecorded)) },
            SectionFlag::Present => {
                ul class="alert-list" {
                    @for a in texts {
                        li class="flag-alert" { (icon(alert_icon(a))) " " (clean(a)) }
                    }
                }
            }
        }
    }
}

/// An icon guessed from an alert's short text (decoration only; the text says it).
fn alert_icon(text: &str) -> Icon {
    let f = fold(text);
    if f.contains("val") || f.contains("fall") {
        Icon::Fall
    } else if f.contains("isol")
        || f.contains("mrsa")
        || f.contains("brmo")
        || f.contains("contact")
        || f.contains("druppel")
        || f.contains("aerogen")
    {
        Icon::Isolation
    } else {
        Icon::Warning
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

/// The table of patients, shared by the overview.
fn table(ctx: &PageCtx, rows: &[&PatientSummary]) -> Markup {
    html! {
        table class="wardtable" {
            caption class="visually-hidden" { (ctx.t(Key::OverviewTitle)) }
            thead {
                tr {
                    th scope="col" class="col-bed" { (ctx.t(Key::Bed)) }
                    th scope="col" { (ctx.t(Key::Name)) }
                    th scope="col" { (ctx.t(Key::BirthDate)) }
                    th scope="col" { (ctx.t(Key::PatientNumber)) }
                    th scope="col" { (ctx.t(Key::Alerts)) }
                    th scope="col" { (ctx.t(Key::Allergies)) }
                    th scope="col" { (ctx.t(Key::Resuscitation)) }
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
                        }
                        td class="nowrap" {
                            @match &s.birth_date {
                                Some(b) => (birth_with_age(ctx, b)),
                                None => span class="flag-unknown" { (ctx.t(Key::Unknown)) },
                            }
                        }
                        td class="nowrap" { (layout::opt(s.patient_number.as_deref())) }
                        td { (alert_cell(ctx, s.alerts, &s.alert_texts)) }
                        td { (allergy_cell(ctx, s.allergies, &s.allergy_texts)) }
                        td { (resus_badge(ctx, s.resuscitation)) }
                    }
                }
            }
        }
    }
}

/// The ward overview with search.
pub fn ward_overview(ctx: &PageCtx, rows: &[&PatientSummary], query: Option<&str>) -> Markup {
    let query = query.map(|q| q.chars().take(MAX_QUERY).collect::<String>());
    let query = query.as_deref().filter(|q| !q.trim().is_empty());
    let content = html! {
        div class="pagehead" {
            h1 { (ctx.t(Key::OverviewTitle)) " " span class="h1-sub" { (clean(ctx.ward_name)) } }
            p class="print-links" {
                a class="btn btn-secondary" href=(urls::PRINT_WARD) { (icon(Icon::Print)) " " (ctx.t(Key::NavPrintWard)) }
                " "
                a class="btn btn-secondary" href=(urls::PRINT_MAR_ALL) { (icon(Icon::Print)) " " (ctx.t(Key::NavPrintMarAll)) }
                " "
                a class="btn btn-secondary" href=(urls::PRINT_BLANK_MAR) { (icon(Icon::Print)) " " (ctx.t(Key::NavPrintBlankMar)) }
            }
        }
        form class="search" method="get" action=(urls::HOME) role="search" {
            label for="q" { (ctx.t(Key::SearchLabel)) }
            div class="search-row" {
                input type="search" id="q" name="q" value=[query.map(clean)] maxlength="100" autocomplete="off";
                button type="submit" class="btn" { (ctx.t(Key::SearchButton)) }
            }
        }
        @if let Some(q) = query {
            p class="result-count" role="status" {
                strong { (rows.len()) } " " (ctx.t(Key::Results)) " “" (clean(q)) "” — "
                a href=(urls::HOME) { (ctx.t(Key::ShowAll)) }
            }
        } @else {
            p class="result-count" { strong { (rows.len()) } " " (ctx.t(Key::PatientsOnWard)) }
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
