//! The one layout every page shares: `<html lang>`, title, stylesheet, skip link, the top
//! bar (ward, mode, data age, user and logout, language switch), the drill marker, the
//! stale-data banner, the navigation, and the small building blocks that show a section's
//! "not recorded" / "none" status the same way everywhere.

use super::icons::{Icon, icon};
use super::text::clean;
use super::{DataAge, Key, PageCtx, urls};
use crate::config::Language;
use crate::mode::Mode;
use crate::record::Listed;
use crate::roster::Role;
use maud::{DOCTYPE, Markup, html};

/// Screen page or print view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A normal page.
    Screen,
    /// A page made for paper (A4 landscape).
    PrintLandscape,
    /// A sheet of labels (A4 portrait, edge to edge).
    PrintLabels,
}

/// The role in words.
pub(crate) fn role_name(ctx: &PageCtx, role: Role) -> &'static str {
    ctx.t(match role {
        Role::Nurse => Key::RoleNurse,
        Role::Physician => Key::RolePhysician,
        Role::Coordinator => Key::RoleCoordinator,
        Role::It => Key::RoleIt,
    })
}

/// The mode in words.
pub(crate) fn mode_name(ctx: &PageCtx, mode: Mode) -> &'static str {
    ctx.t(match mode {
        Mode::Standby => Key::ModeStandby,
        Mode::Emergency => Key::ModeEmergency,
        Mode::Drill => Key::ModeDrill,
    })
}

/// "gegevens van 22-11-2026 14:05 (12 min oud)", prefixed "VEROUDERD" when stale.
pub(crate) fn data_age_text(ctx: &PageCtx) -> String {
    match ctx.data_age() {
        DataAge::None => ctx.t(Key::NoDataYet).to_owned(),
        DataAge::Fresh { as_of, seconds } => format!(
            "{} {} ({} {})",
            ctx.t(Key::DataAsOf),
            crate::timefmt::datetime(as_of, ctx.tz),
            crate::timefmt::age(seconds, ctx.lang),
            ctx.t(Key::Old)
        ),
        DataAge::Stale { as_of, seconds } => format!(
            "{}: {} {} ({} {})",
            ctx.t(Key::Stale),
            ctx.t(Key::DataAsOf),
            crate::timefmt::datetime(as_of, ctx.tz),
            crate::timefmt::age(seconds, ctx.lang),
            ctx.t(Key::Old)
        ),
        DataAge::Future { as_of, ahead } => format!(
            "{}: {} {} ({} {})",
            ctx.t(Key::ClockBehind),
            ctx.t(Key::DataAsOf),
            crate::timefmt::datetime(as_of, ctx.tz),
            crate::timefmt::age(ahead, ctx.lang),
            ctx.t(Key::AheadOfClock)
        ),
    }
}

/// The CSS class for the data age state.
pub(crate) fn data_age_class(ctx: &PageCtx) -> &'static str {
    match ctx.data_age() {
        DataAge::None => "age age-none",
        DataAge::Fresh { .. } => "age age-fresh",
        DataAge::Stale { .. } | DataAge::Future { .. } => "age age-stale",
    }
}

/// The data age as an inline element with its icon when not fresh. Fresh and stale ages
/// carry what `age.js` needs to count on while the page stays open (the data time, the
/// box's clock when the page was made, the stale limit); the age itself is `.age-n`, and
/// the warning parts are there but `hidden` until it turns stale.
pub(crate) fn data_age(ctx: &PageCtx) -> Markup {
    let limit = ctx.stale_after.as_secs();
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let live = |as_of, seconds, stale: bool| {
        // The warning sits before, not inside, the age element: that element holds the
        // date and time as its first text (what readers of the page, e.g. the load bench,
        // take as the page's data time).
        html! {
            span class="age-warn" hidden[!stale] data-show-when-stale {
                (icon(Icon::Warning)) " " (ctx.t(Key::Stale)) ": "
            }
            span class=(data_age_class(ctx)) data-as-of=(rfc(as_of)) data-now=(rfc(ctx.now))
                data-stale-after=(limit) {
                (ctx.t(Key::DataAsOf)) " " (crate::timefmt::datetime(as_of, ctx.tz))
                " (" span class="age-n" { (crate::timefmt::age(seconds, ctx.lang)) } " " (ctx.t(Key::Old)) ")"
            }
        }
    };
    match ctx.data_age() {
        DataAge::Fresh { as_of, seconds } => live(as_of, seconds, false),
        DataAge::Stale { as_of, seconds } => live(as_of, seconds, true),
        DataAge::None | DataAge::Future { .. } => html! {
            span class=(data_age_class(ctx)) {
                (icon(Icon::Warning)) " " (data_age_text(ctx))
            }
        },
    }
}

/// The big drill marker (screen and print).
pub(crate) fn drill_marker(ctx: &PageCtx) -> Markup {
    html! {
        @if ctx.is_drill() {
            div class="drill-banner" {
                strong class="drill-word" { (ctx.t(Key::DrillMarker)) }
                " "
                span class="drill-note" {
                    (ctx.t(Key::DrillNotReal))
                    @if let Some(end) = ctx.mode.drill_ends_at {
                        " (" (ctx.t(Key::DrillEndsAt)) " " (crate::timefmt::datetime(end, ctx.tz)) ")"
                    }
                }
            }
        }
    }
}

fn stale_banner(ctx: &PageCtx) -> Markup {
    html! {
        @match ctx.data_age() {
            DataAge::Stale { .. } => {
                div class="stale-banner" role="alert" {
                    (icon(Icon::Warning)) " "
                    strong { (data_age_text(ctx)) }
                    br;
                    (ctx.t(Key::StaleExplain))
                }
            }
            DataAge::Future { .. } => {
                div class="stale-banner" role="alert" {
                    (icon(Icon::Warning)) " "
                    strong { (data_age_text(ctx)) }
                    br;
                    (ctx.t(Key::ClockBehindExplain))
                }
            }
            DataAge::None => {
                div class="nodata-banner" role="status" {
                    (icon(Icon::Unknown)) " " strong { (ctx.t(Key::NoDataYet)) }
                }
            }
            DataAge::Fresh { .. } => {
                // Shown by age.js when the data turns stale while the page is open.
                div class="stale-banner" role="alert" hidden data-show-when-stale {
                    (icon(Icon::Warning)) " "
                    strong { (ctx.t(Key::Stale)) }
                    br;
                    (ctx.t(Key::StaleExplain))
                }
            }
        }
    }
}

/// May the current user, in the current mode, see patient data?
pub(crate) fn may_see_patients(ctx: &PageCtx) -> bool {
    ctx.mode.mode.shows_patient_data() && ctx.user.is_some_and(|u| u.role.sees_patient_data())
}

fn nav(ctx: &PageCtx) -> Markup {
    let Some(user) = ctx.user else {
        return html! {};
    };
    let patients = may_see_patients(ctx);
    let coordinator = user.role == Role::Coordinator;
    html! {
        nav class="mainnav" aria-label=(ctx.t(Key::MainNav)) {
            ul {
                @if patients {
                    li { a href=(urls::HOME) { (ctx.t(Key::NavOverview)) } }
                    li { a href=(urls::PRINT_WARD) { (icon(Icon::Print)) " " (ctx.t(Key::NavPrintWard)) } }
                    li { a href=(urls::PRINT_MAR_ALL) { (icon(Icon::Print)) " " (ctx.t(Key::NavPrintMarAll)) } }
                    li { a href=(urls::PRINT_BLANK_MAR) { (icon(Icon::Print)) " " (ctx.t(Key::NavPrintBlankMar)) } }
                }
                @if coordinator {
                    li { a href=(urls::COORDINATOR) { (ctx.t(Key::NavCoordinator)) } }
                }
                li { a href=(urls::STATUS) { (ctx.t(Key::NavStatus)) } }
            }
        }
    }
}

fn userbox(ctx: &PageCtx) -> Markup {
    let (other, other_code) = match ctx.lang {
        Language::Nl => (Language::En, "en"),
        Language::En => (Language::Nl, "nl"),
    };
    let other_lang_attr = match other {
        Language::Nl => "nl",
        Language::En => "en",
    };
    html! {
        div class="userbox" {
            @if let Some(u) = ctx.user {
                span class="who" {
                    span class="visually-hidden" { (ctx.t(Key::LoggedInAs)) " " }
                    strong { (clean(&u.name)) }
                    " (" (role_name(ctx, u.role))
                    @if let Some((_, by_name)) = &u.issued_by {
                        ", " (ctx.t(Key::EventCodeBy)) " " (clean(by_name))
                    }
                    ")"
                }
                form class="logout" method="post" action=(urls::LOGOUT) {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    button type="submit" class="btn btn-small" { (ctx.t(Key::Logout)) }
                }
            }
            a class="lang" href=(urls::with_lang(ctx.path, other_code)) lang=(other_lang_attr)
                hreflang=(other_lang_attr) title=(ctx.t(Key::SwitchLanguageLabel)) {
                (ctx.t(Key::SwitchLanguage))
            }
        }
    }
}

/// A whole page around `content`.
pub(crate) fn page(ctx: &PageCtx, title: &str, kind: Kind, content: Markup) -> Markup {
    let mut body_class = String::from(match kind {
        Kind::Screen => "screen",
        Kind::PrintLandscape => "print-view landscape",
        Kind::PrintLabels => "print-view labels-view",
    });
    body_class.push_str(match ctx.mode.mode {
        Mode::Standby => " mode-standby",
        Mode::Emergency => " mode-emergency",
        Mode::Drill => " mode-drill",
    });
    if matches!(
        ctx.data_age(),
        DataAge::Stale { .. } | DataAge::Future { .. }
    ) {
        body_class.push_str(" data-stale");
    }
    let mode_class = match ctx.mode.mode {
        Mode::Standby => "mode mode-standby",
        Mode::Emergency => "mode mode-emergency",
        Mode::Drill => "mode mode-drill",
    };
    html! {
        (DOCTYPE)
        html lang=(ctx.lang_code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (clean(title)) " — " (clean(ctx.ward_name)) " — " (ctx.t(Key::AppName)) }
                link rel="stylesheet" href=(urls::STYLESHEET);
                script src=(urls::AGE_SCRIPT) defer {}
            }
            body class=(body_class) {
                a class="skip" href="#main" { (ctx.t(Key::SkipToContent)) }
                @if ctx.is_drill() {
                    div class="drill-watermark" aria-hidden="true" { (ctx.t(Key::DrillMarker)) }
                }
                header class="topbar" {
                    (drill_marker(ctx))
                    div class="bar" {
                        div class="brand" {
                            span class="app" { (ctx.t(Key::AppName)) }
                            " "
                            span class="wardname" { (clean(ctx.ward_name)) }
                        }
                        div class=(mode_class) {
                            span class="label" { (ctx.t(Key::ModeLabel)) ": " }
                            strong { (mode_name(ctx, ctx.mode.mode)) }
                        }
                        div class="agebox" { (data_age(ctx)) }
                        (userbox(ctx))
                    }
                    (nav(ctx))
                    (stale_banner(ctx))
                }
                main id="main" tabindex="-1" {
                    (content)
                }
                footer class="pagefoot" {
                    (ctx.t(Key::AppName)) " — " (ctx.t(Key::ReadOnly)) " — "
                    (ctx.t(Key::Appliance)) " " (clean(ctx.appliance_id))
                }
            }
        }
    }
}

/// The status of a section when it has no items: "Niet vastgelegd" (unknown, grey italic
/// with a question mark) or "Geen (vastgelegd: ...)" (a documented fact). `None` for items.
pub(crate) fn listed_status<T>(ctx: &PageCtx, l: &Listed<T>) -> Option<Markup> {
    match l {
        Listed::NotRecorded => Some(not_recorded(ctx)),
        Listed::NoneDocumented {
            statement,
            asserted,
        } => Some(html! {
            p class="none-documented" {
                (icon(Icon::NoneDocumented)) " "
                strong { (ctx.t(Key::NoneRecorded)) }
                " (" (ctx.t(Key::Recorded)) ": " (clean(statement))
                @if let Some(a) = asserted { ", " (super::text::moment(ctx, a)) }
                ")"
            }
        }),
        Listed::Items { items } if items.is_empty() => Some(not_recorded(ctx)),
        Listed::Items { .. } => None,
    }
}

/// "Niet vastgelegd" as a block.
pub(crate) fn not_recorded(ctx: &PageCtx) -> Markup {
    html! {
        p class="not-recorded" {
            (icon(Icon::Unknown)) " " (ctx.t(Key::NotRecorded))
        }
    }
}

/// An optional value, or an unobtrusive dash.
pub(crate) fn opt(v: Option<&str>) -> Markup {
    html! {
        @match v {
            Some(s) if !s.trim().is_empty() => (clean(s)),
            _ => span class="dash" aria-hidden="true" { "–" },
        }
    }
}

/// The drill marker inside a printed header: one line, so the repeated header stays
/// short enough for the browser to repeat it on every page.
pub(crate) fn print_drill(ctx: &PageCtx) -> Markup {
    html! {
        @if ctx.is_drill() {
            span class="drill-banner print-drill" { strong class="drill-word" { (ctx.t(Key::DrillMarker)) } }
        }
    }
}

/// Print hint shown on screen only.
pub(crate) fn print_hint(ctx: &PageCtx) -> Markup {
    html! { p class="print-hint" { (icon(Icon::Print)) " " (ctx.t(Key::PrintHint)) } }
}
