//! The status page (standby, and everything the `it` role sees): ward, mode, data age and
//! delivery facts, the last refused delivery, the last 20 refused deliveries (their own
//! section), and how to activate the emergency view.
//! It never shows patient data, not even a patient count. It is public: who switched the
//! mode is shown by role only and the switch's reason (free text, which staff may fill
//! with a patient's name) not at all, unless a coordinator or IT is logged in.

use super::icons::{Icon, icon};
use super::layout::{self, Kind, data_age, mode_name};
use super::text::clean;
use super::{Key, PageCtx, urls};
use crate::mode::Mode;
use crate::roster::Role;
use maud::{Markup, html};

/// The status page.
pub fn status_page(ctx: &PageCtx, ready: &crate::status::Ready) -> Markup {
    let tz = ctx.tz;
    let dt = |t| crate::timefmt::datetime(t, tz);
    let is_it = ctx.user.is_some_and(|u| u.role == Role::It);
    let staff = ctx
        .user
        .is_some_and(|u| matches!(u.role, Role::It | Role::Coordinator));
    let by = match (&ctx.mode.by, staff) {
        (_, true) => ctx.mode.by.who(),
        (crate::mode::Switcher::User { .. }, false) => {
            super::layout::role_name(ctx, Role::Coordinator).to_owned()
        }
        (other, false) => other.who(),
    };
    let howto = html! {
        section class="card howto" aria-labelledby="st-howto" {
            h2 id="st-howto" { (ctx.t(Key::HowToActivate)) }
            ol {
                li { (ctx.t(Key::Activate1)) }
                li { (ctx.t(Key::Activate2)) }
                li { (ctx.t(Key::Activate3)) br; code class="cmd" { "noodepd mode emergency --reason \"EPD storing\"" } }
                li { (ctx.t(Key::Activate4)) }
            }
            @if ctx.user.is_none() {
                p { a class="btn" href=(urls::LOGIN) { (icon(Icon::Lock)) " " (ctx.t(Key::LoginCoordinator)) } }
            }
        }
    };
    let content = html! {
        h1 { (ctx.t(Key::StatusTitle)) " " span class="h1-sub" { (clean(ctx.ward_name)) } }
        @if is_it {
            p class="lead" { (ctx.t(Key::StatusItLead)) }
        } @else if ctx.mode.mode == Mode::Standby {
            p class="lead" { (ctx.t(Key::StatusStandbyLead)) }
        } @else {
            p class="lead" { (ctx.t(Key::StatusActiveLead)) }
        }
        @if !is_it { (howto) }
        div class="cards" {
            section class="card" aria-labelledby="st-mode" {
                h2 id="st-mode" { (ctx.t(Key::ModeLabel)) }
                p class=(format!("mode-big mode-{}", ctx.mode.mode.as_str())) { (mode_name(ctx, ctx.mode.mode)) }
                dl class="facts" {
                    div { dt { (ctx.t(Key::ModeSince)) } dd { (dt(ctx.mode.since)) } }
                    div { dt { (ctx.t(Key::ModeBy)) } dd { (clean(&by)) } }
                    @if staff {
                        div { dt { (ctx.t(Key::ModeReason)) } dd { (clean(&ctx.mode.reason)) } }
                    }
                    @if let Some(end) = ctx.mode.drill_ends_at {
                        div { dt { (ctx.t(Key::DrillEndsAt)) } dd { (dt(end)) } }
                    }
                }
            }
            section class="card" aria-labelledby="st-data" {
                h2 id="st-data" { (ctx.t(Key::DataSection)) }
                p { (data_age(ctx)) }
                dl class="facts" {
                    div { dt { (ctx.t(Key::Ward)) } dd { (clean(&ready.ward)) } }
                    div { dt { (ctx.t(Key::Appliance)) } dd { (clean(&ready.appliance)) } }
                    div { dt { (ctx.t(Key::Sequence)) } dd { (layout::opt(ready.sequence.map(|s| s.to_string()).as_deref())) } }
                    div { dt { (ctx.t(Key::DataReceived)) } dd { (layout::opt(ready.received_at.map(dt).as_deref())) } }
                    @if let Some(meta) = ctx.data {
                        div { dt { (ctx.t(Key::SnapshotFile)) } dd { (clean(&meta.snapshot_file)) } }
                    }
                    div { dt { (ctx.t(Key::RosterStaff)) } dd { (ready.roster_staff) } }
                    div {
                        dt { (ctx.t(Key::LastRejection)) }
                        dd {
                            @match &ready.last_rejection {
                                None => (ctx.t(Key::NoRejection)),
                                Some(r) => {
                                    span class="reject" { (icon(Icon::Warning)) " " code { (clean(&r.code)) } }
                                    " — " (dt(r.time)) br;
                                    (clean(&r.reason)) br;
                                    span class="sub" { (clean(&r.file)) }
                                }
                            }
                        }
                    }
                    div {
                        dt { (ctx.t(Key::Problem)) }
                        dd {
                            @match &ready.problem {
                                None => (ctx.t(Key::NoProblem)),
                                Some(p) => span class="reject" { (icon(Icon::Warning)) " " (clean(p)) },
                            }
                        }
                    }
                }
            }
        }
        (rejections(ctx, ready))
        @if is_it { (howto) }
    };
    layout::page(ctx, ctx.t(Key::StatusTitle), Kind::Screen, content)
}

/// The refused deliveries kept in memory (newest first, at most
/// [`crate::status::REJECTIONS_KEPT`]): time, code, file and the daemon's own reason.
fn rejections(ctx: &PageCtx, ready: &crate::status::Ready) -> Markup {
    let dt = |t| crate::timefmt::datetime(t, ctx.tz);
    html! {
        section class="card rejections" aria-labelledby="st-rejections" {
            h2 id="st-rejections" {
                (ctx.t(Key::RecentRejections)) " (" (ready.recent_rejections.len()) ")"
            }
            @if ready.recent_rejections.is_empty() {
                p { (ctx.t(Key::NoRejection)) }
            } @else {
                div class="table-scroll" {
                    table class="data" {
                        thead { tr {
                            th scope="col" { (ctx.t(Key::Time)) }
                            th scope="col" { (ctx.t(Key::ErrorCode)) }
                            th scope="col" { (ctx.t(Key::SnapshotFile)) }
                            th scope="col" { (ctx.t(Key::Reason)) }
                        } }
                        tbody {
                            @for r in &ready.recent_rejections {
                                tr {
                                    td class="nowrap" { (dt(r.time)) }
                                    td { code { (clean(&r.code)) } }
                                    td { (clean(&r.file)) }
                                    td { (clean(&r.reason)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
