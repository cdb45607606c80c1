//! The coordinator page: switch the mode (with a required reason; after a day of
//! emergency mode it asks whether that is still needed), issue a guest code for a colleague
//! not on the roster (the plain code is shown exactly once, on issue), the guest codes in
//! force with their expiry (each revocable), and the login lockouts in force (each can be
//! lifted). Every action is a POST with the session's CSRF token, recorded in the audit log.

use super::icons::{Icon, icon};
use super::layout::{self, Kind, mode_name, role_name};
use super::text::clean;
use super::{Key, PageCtx, urls};
use crate::config::Language;
use crate::mode::Mode;
use crate::roster::Role;
use crate::web::IssuedCode;
use crate::web::session::{LockedWhat, Lockout};
use maud::{Markup, html};

/// How long emergency mode runs before the page asks whether it is still needed.
pub(crate) const EMERGENCY_CONFIRM_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// A lockout in words for the coordinator.
pub(crate) fn lockout_label(what: &LockedWhat, lang: Language) -> String {
    let id = |u: &str| crate::web::session::printable_id(u);
    match (what, lang) {
        (LockedWhat::User(u), Language::Nl) => format!("gebruikersnaam {}", id(u)),
        (LockedWhat::User(u), Language::En) => format!("user name {}", id(u)),
        (LockedWhat::Address(std::net::IpAddr::V6(a)), Language::Nl) => {
            format!("werkplekken in netwerk {a}/64")
        }
        (LockedWhat::Address(std::net::IpAddr::V6(a)), Language::En) => {
            format!("workstations in network {a}/64")
        }
        (LockedWhat::Address(a), Language::Nl) => format!("werkplek {a}"),
        (LockedWhat::Address(a), Language::En) => format!("workstation {a}"),
    }
}

/// The coordinator page.
pub fn coordinator_page(
    ctx: &PageCtx,
    codes: &[IssuedCode],
    lockouts: &[Lockout],
    new_code: Option<(&IssuedCode, &str)>,
    message: Option<&str>,
) -> Markup {
    let lang = if ctx.lang_code() == "nl" {
        Language::Nl
    } else {
        Language::En
    };
    let ask_confirm =
        ctx.mode.mode == Mode::Emergency && ctx.now - ctx.mode.since >= EMERGENCY_CONFIRM_AFTER;
    let dt = |t| crate::timefmt::datetime(t, ctx.tz);
    let modes = [
        (Mode::Emergency, Key::ModeOptEmergency),
        (Mode::Drill, Key::ModeOptDrill),
        (Mode::Standby, Key::ModeOptStandby),
    ];
    let content = html! {
        h1 { (ctx.t(Key::CoordinatorTitle)) " " span class="h1-sub" { (clean(ctx.ward_name)) } }
        @if let Some(m) = message {
            div class="message-box" role="status" { strong { (ctx.t(Key::Message)) ": " } (clean(m)) }
        }
        @if let Some((c, code)) = new_code {
            section class="card newcode" aria-labelledby="nc-h" {
                h2 id="nc-h" { (ctx.t(Key::NewCodeTitle)) ": " (clean(&c.name)) }
                p { (ctx.t(Key::NewCodeOnce)) }
                p class="code-line" {
                    (ctx.t(Key::LoginWith)) " " strong class="code" { (clean(&c.user)) }
                    " " (ctx.t(Key::AndCode)) " " strong class="code" { (clean(code)) }
                }
                p { (ctx.t(Key::RoleField)) ": " (role_name(ctx, c.role)) " — " (ctx.t(Key::ValidUntil)) " " strong { (dt(c.expires_at)) } }
            }
        }
        @if ask_confirm {
            section class="card warn" role="alert" aria-labelledby="confirm-h" {
                h2 id="confirm-h" { (icon(Icon::Warning)) " " (ctx.t(Key::EmergencyConfirmTitle)) }
                p { (ctx.t(Key::EmergencyConfirmLead)) }
            }
        }
        div class="cards" {
            section class="card" aria-labelledby="mode-h" {
                h2 id="mode-h" { (ctx.t(Key::ModeSwitchTitle)) }
                p { (ctx.t(Key::ModeCurrent)) ": " strong class=(format!("mode-{}", ctx.mode.mode.as_str())) { (mode_name(ctx, ctx.mode.mode)) }
                    " (" (ctx.t(Key::ModeSince)) " " (dt(ctx.mode.since)) ")" }
                p class="sub" { (ctx.t(Key::ModeSwitchLead)) }
                form class="stack" method="post" action=(urls::MODE) {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    fieldset {
                        legend { (ctx.t(Key::NewMode)) }
                        @for (m, k) in modes {
                            label class="radio" {
                                input type="radio" name="mode" value=(m.as_str()) required checked[m != ctx.mode.mode && m == Mode::Emergency && ctx.mode.mode == Mode::Standby];
                                " " (ctx.t(k))
                            }
                        }
                    }
                    label for="reason" { (ctx.t(Key::ReasonField)) }
                    textarea id="reason" name="reason" required maxlength="500" rows="3" {}
                    button type="submit" class="btn btn-primary" { (ctx.t(Key::SwitchButton)) }
                }
            }
            section class="card" aria-labelledby="ec-h" {
                h2 id="ec-h" { (ctx.t(Key::EventCodeTitle)) }
                p class="sub" { (ctx.t(Key::EventCodeLead)) }
                form class="stack" method="post" action=(urls::GUEST_CODE) {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    label for="ec-name" { (ctx.t(Key::ColleagueName)) }
                    input type="text" id="ec-name" name="name" required maxlength="100" autocomplete="off";
                    label for="ec-role" { (ctx.t(Key::RoleField)) }
                    select id="ec-role" name="role" {
                        option value=(Role::Nurse.as_str()) selected { (role_name(ctx, Role::Nurse)) }
                        option value=(Role::Physician.as_str()) { (role_name(ctx, Role::Physician)) }
                    }
                    button type="submit" class="btn btn-primary" { (ctx.t(Key::IssueButton)) }
                }
            }
        }
        section class="card" aria-labelledby="drill-h" {
            h2 id="drill-h" { (if ctx.lang_code() == "nl" { "Oefenverslag" } else { "Drill report" }) }
            p {
                a href="/drill-report" {
                    (if ctx.lang_code() == "nl" {
                        "Verslag van de laatste oefening (tijden, wie ingelogd, geprinte lijsten, fouten)"
                    } else {
                        "Report of the latest drill (times, who logged in, printouts, failures)"
                    })
                }
            }
        }
        section class="card" aria-labelledby="codes-h" {
            h2 id="codes-h" { (ctx.t(Key::IssuedCodes)) }
            @if codes.is_empty() {
                p class="sub" { (ctx.t(Key::NoIssuedCodes)) }
            } @else {
                table class="data" {
                    thead { tr {
                        th scope="col" { (ctx.t(Key::UserField)) }
                        th scope="col" { (ctx.t(Key::Name)) }
                        th scope="col" { (ctx.t(Key::RoleField)) }
                        th scope="col" { (ctx.t(Key::IssuedBy)) }
                        th scope="col" { (ctx.t(Key::ValidUntil)) }
                        th scope="col" { span class="visually-hidden" { (ctx.t(Key::RevokeButton)) } }
                    } }
                    tbody {
                        @for c in codes {
                            tr {
                                th scope="row" { code { (clean(&c.user)) } }
                                td { (clean(&c.name)) }
                                td { (role_name(ctx, c.role)) }
                                td { (clean(&c.issued_by)) }
                                td class="nowrap" {
                                    (dt(c.expires_at))
                                    @if c.expires_at <= ctx.now { " " span class="muted" { "(" (ctx.t(Key::Expired)) ")" } }
                                }
                                td {
                                    form method="post" action=(urls::GUEST_CODE_REVOKE) {
                                        input type="hidden" name="csrf" value=(ctx.csrf);
                                        input type="hidden" name="user" value=(clean(&c.user));
                                        button type="submit" class="btn btn-small" aria-label=(format!("{} {}", ctx.t(Key::RevokeButton), clean(&c.user))) { (ctx.t(Key::RevokeButton)) }
                                    }
                                }
                            }
                        }
                    }
                }
                p class="sub" { (ctx.t(Key::RevokeHint)) }
            }
        }
        section class="card" aria-labelledby="locks-h" {
            h2 id="locks-h" { (ctx.t(Key::LockoutsTitle)) }
            p class="sub" { (ctx.t(Key::LockoutsLead)) }
            @if lockouts.is_empty() {
                p class="sub" { (ctx.t(Key::NoLockouts)) }
            } @else {
                table class="data" {
                    thead { tr {
                        th scope="col" { (ctx.t(Key::Blocked)) }
                        th scope="col" { (ctx.t(Key::BlockedUntil)) }
                        th scope="col" { span class="visually-hidden" { (ctx.t(Key::LiftButton)) } }
                    } }
                    tbody {
                        @for l in lockouts {
                            @let label = lockout_label(&l.what, lang);
                            tr {
                                th scope="row" { (clean(&label)) }
                                td class="nowrap" { (dt(l.until)) }
                                td {
                                    form method="post" action=(urls::LOCKOUT_LIFT) {
                                        input type="hidden" name="csrf" value=(ctx.csrf);
                                        input type="hidden" name="target" value=(l.what.form_value());
                                        button type="submit" class="btn btn-small" aria-label=(format!("{} {}", ctx.t(Key::LiftButton), clean(&label))) { (ctx.t(Key::LiftButton)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        p { a class="btn btn-secondary" href=(urls::STATUS) { (icon(Icon::Warning)) " " (ctx.t(Key::NavStatus)) } }
    };
    layout::page(ctx, ctx.t(Key::CoordinatorTitle), Kind::Screen, content)
}
