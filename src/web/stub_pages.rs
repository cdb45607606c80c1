//! Temporary stand-in for `pages` (same API) until the real pages land on main.

use super::{IssuedCode, SessionUser};
use crate::config::Language;
use crate::mode::ModeState;
use crate::record::{PatientRecord, PatientSummary};
use crate::status::Ready;
use crate::store::GenerationMeta;
use chrono::{DateTime, NaiveDate, Utc};
use maud::{DOCTYPE, Markup, html};
use std::time::Duration;

pub const STYLESHEET: &str = "body{font-family:sans-serif}";

#[allow(dead_code)]
pub struct PageCtx<'a> {
    pub lang: Language,
    pub tz: chrono_tz::Tz,
    pub now: DateTime<Utc>,
    pub ward_name: &'a str,
    pub appliance_id: &'a str,
    pub mode: &'a ModeState,
    pub data: Option<&'a GenerationMeta>,
    pub stale_after: Duration,
    pub user: Option<&'a SessionUser>,
    pub csrf: &'a str,
    pub path: &'a str,
}

fn shell(ctx: &PageCtx, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(if ctx.lang == Language::En { "en" } else { "nl" }) {
            head { meta charset="utf-8"; title { (title) } link rel="stylesheet" href="/static/style.css"; }
            body {
                header { p { (ctx.ward_name) " — " (ctx.mode.mode.as_str()) }
                    @if let Some(u) = ctx.user { p { (u.name) }
                        form method="post" action="/logout" { input type="hidden" name="csrf" value=(ctx.csrf); button { "Uitloggen" } } } }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub fn status_page(ctx: &PageCtx, ready: &Ready) -> Markup {
    shell(
        ctx,
        "Status",
        html! { p { "mode " (ready.mode) } p { a href="/login" { "Inloggen" } } },
    )
}

pub fn login_page(ctx: &PageCtx, error: Option<&str>) -> Markup {
    shell(
        ctx,
        "Inloggen",
        html! {
            @if let Some(e) = error { p role="alert" { (e) } }
            form method="post" action="/login" {
                label for="user" { "Gebruiker" } input id="user" name="user";
                label for="code" { "Code" } input id="code" name="code" type="password";
                input type="hidden" name="csrf" value=(ctx.csrf);
                button type="submit" { "Inloggen" }
            }
        },
    )
}

pub fn ward_overview(ctx: &PageCtx, rows: &[&PatientSummary], query: Option<&str>) -> Markup {
    shell(
        ctx,
        "Afdeling",
        html! {
            form method="get" action="/" { label for="q" { "Zoeken" } input id="q" name="q" value=(query.unwrap_or("")); button { "Zoek" } }
            table { @for r in rows { tr { td { (r.bed.as_deref().unwrap_or("")) } td { a href={"/patient/" (r.key)} { (r.name) } } td { (r.patient_number.as_deref().unwrap_or("")) } td { @for a in &r.allergy_texts { (a) " " } } td { @for a in &r.alert_texts { (a) " " } } } } }
        },
    )
}

pub fn patient_page(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    shell(
        ctx,
        &p.identity.name.display,
        html! { pre { (format!("{p:?}")) } a href={"/print/mar/" (p.key)} { "MAR" } },
    )
}

pub fn print_mar(ctx: &PageCtx, ps: &[PatientRecord], start: NaiveDate, days: u32) -> Markup {
    shell(
        ctx,
        "MAR",
        html! { p { (start) " " (days) } @for p in ps { pre { (format!("{p:?}")) } } },
    )
}

pub fn print_blank_mar(ctx: &PageCtx, start: NaiveDate, days: u32) -> Markup {
    shell(ctx, "Blanco MAR", html! { p { (start) " " (days) } })
}

pub fn print_ward_list(ctx: &PageCtx, rows: &[&PatientSummary]) -> Markup {
    shell(
        ctx,
        "Afdelingslijst",
        html! { @for r in rows { pre { (format!("{r:?}")) } } },
    )
}

pub fn coordinator_page(
    ctx: &PageCtx,
    codes: &[IssuedCode],
    new_code: Option<(&IssuedCode, &str)>,
    message: Option<&str>,
) -> Markup {
    shell(
        ctx,
        "Coördinator",
        html! {
            @if let Some(m) = message { p { (m) } }
            @if let Some((c, code)) = new_code { p { (c.user) " " (code) } }
            @for c in codes { p { (c.user) " " (c.name) } }
            form method="post" action="/mode" { input name="mode"; input name="reason"; input type="hidden" name="csrf" value=(ctx.csrf); button { "Wissel" } }
            form method="post" action="/event-code" { input name="name"; input name="role"; input type="hidden" name="csrf" value=(ctx.csrf); button { "Code" } }
        },
    )
}

pub fn error_page(ctx: &PageCtx, status: u16, message: &str) -> Markup {
    shell(ctx, &format!("Fout {status}"), html! { p { (message) } })
}
