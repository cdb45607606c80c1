//! How a dose and an administration read, shared by the patient page and the printed MAR
//! (below both): a dosing instruction in words, whether a dose was given, and the latest
//! administrations of a treatment in ward-local time order.

use super::medgroup::owns;
use super::text::{clean, units_written_out};
use super::{Key, PageCtx};
use crate::record::{Administration, Dosage, Moment, Schedule, Treatment};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};

/// Where an administration stands in time, for "latest" and lists: its ward-local day,
/// then a dose recorded with a date only (or coarser: the first day of its month or year)
/// before every timed dose of that day ("some time on D" never claims to be later than a
/// dose timed on D, nor earlier than one on D − 1), then the instant. No moment: first.
pub(crate) type AdminOrder = Option<(NaiveDate, bool, Option<DateTime<Utc>>)>;

pub(crate) fn admin_order(tz: &Tz, m: &Option<Moment>) -> AdminOrder {
    match *m.as_ref()? {
        Moment::Instant(t) => Some((t.with_timezone(tz).date_naive(), true, Some(t))),
        Moment::Day(d) => Some((d, false, None)),
        Moment::Month(y, mo) => Some((NaiveDate::from_ymd_opt(y, mo, 1)?, false, None)),
        Moment::Year(y) => Some((NaiveDate::from_ymd_opt(y, 1, 1)?, false, None)),
    }
}

/// The schedule in words: the mapper's text, times of day, frequency, day parts, weekdays.
pub(crate) fn schedule_text(s: &Schedule) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(t) = &s.text {
        parts.push(t.to_string());
    }
    if s.text.is_none() && !s.times_of_day.is_empty() {
        let times: Vec<String> = s
            .times_of_day
            .iter()
            .map(|t| t.format("%H:%M").to_string())
            .collect();
        parts.push(times.join(", "));
    }
    if s.text.is_none()
        && let Some(f) = &s.frequency
    {
        let count = match f.count_max {
            Some(m) if m != f.count => format!("{}-{}", f.count, m),
            _ => f.count.to_string(),
        };
        parts.push(format!("{count} x per {} {}", f.period, f.period_unit));
    }
    if s.text.is_none() {
        if !s.when.is_empty() {
            parts.push(s.when.join(", "));
        }
        if !s.days_of_week.is_empty() {
            parts.push(s.days_of_week.join(", "));
        }
    }
    parts.join(" — ")
}

/// True when `needle` (without a leading "bij "/"for ") already appears in `hay`.
fn already_said(hay: Option<&str>, needle: &str) -> bool {
    let Some(hay) = hay else { return false };
    let n = needle.trim().to_lowercase();
    let n = n
        .strip_prefix("bij ")
        .or_else(|| n.strip_prefix("for "))
        .unwrap_or(&n)
        .to_owned();
    !n.is_empty() && hay.to_lowercase().contains(&n)
}

/// One dosing instruction: dose, route, schedule, "Zo nodig" with its condition, maximum,
/// and the source's own text. Shared by the patient page and the MAR.
pub(crate) fn dosage_block(ctx: &PageCtx, d: &Dosage) -> Markup {
    let sched = schedule_text(&d.schedule);
    let said = d.schedule.text.as_deref();
    html! {
        div class="dosage" {
            @if d.as_needed.is_some() { span class="prn" { (ctx.t(Key::AsNeeded)) } " " }
            @if let Some(dose) = &d.dose { strong class="dose" { (clean(&units_written_out(ctx.lang, dose))) } } @else { span class="flag-unknown" { (ctx.t(Key::Dose)) ": " (ctx.t(Key::Unknown)) } }
            @if let Some(r) = &d.route { " · " (clean(r)) }
            @if !sched.is_empty() { " · " span class="sched" { (clean(&sched)) } }
            @if let Some(a) = &d.as_needed {
                @if let Some(c) = &a.condition {
                    @if !already_said(said, c) { " · " (ctx.t(Key::AsNeeded)) ": " (clean(c)) }
                }
            }
            @if let Some(m) = &d.max_dose {
                @if !already_said(said, m) { " · " (max_dose_text(ctx, m)) }
            }
            @if let Some(t) = &d.text {
                div class="srctext" { span class="label" { (ctx.t(Key::SourceText)) ": " } "“" (clean(t)) "”" }
            }
        }
    }
}

/// The maximum dose, prefixed "max." unless the source already says so.
pub(crate) fn max_dose_text(ctx: &PageCtx, m: &str) -> String {
    let m = units_written_out(ctx.lang, m);
    if m.trim_start().to_lowercase().starts_with("max") {
        clean(&m).into_owned()
    } else {
        format!("{} {}", ctx.t(Key::MaxDose), clean(&m))
    }
}

/// Given (`Some(true)`), not given (`Some(false)`) or not known (`None`: MP9 3.0 sends
/// `unknown`, which must read neither as given nor as "NOT GIVEN").
pub(crate) fn given(a: &Administration) -> Option<bool> {
    match a.status.as_deref().map(str::trim) {
        None | Some("completed" | "in-progress") => Some(true),
        Some("not-done" | "stopped" | "on-hold" | "cancelled") => Some(false),
        _ => None,
    }
}

fn is_completed(a: &Administration) -> bool {
    given(a) == Some(true)
}

/// The latest administration of a treatment (by time), and the latest completed one when
/// the latest was not a completed administration.
pub(crate) fn last_administrations<'a>(
    tz: &Tz,
    t: &Treatment,
    admins: &'a [Administration],
) -> (Option<&'a Administration>, Option<&'a Administration>) {
    let mine = || admins.iter().filter(|a| owns(t, a));
    let latest = mine().max_by_key(|a| admin_order(tz, &a.at));
    let latest_done = mine()
        .filter(|a| is_completed(a))
        .max_by_key(|a| admin_order(tz, &a.at));
    match latest {
        Some(l) if !is_completed(l) => (Some(l), latest_done),
        other => (other, None),
    }
}
