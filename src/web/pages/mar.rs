//! The printable medication administration record (toedienlijst): per patient a grid of
//! the lines its current treatments are given by × days × scheduled times, each slot a box
//! for initials (a paused or not fully readable treatment: a row without boxes saying so;
//! how much could not be read above the rows), with a header
//! that repeats on every printed page (thead) carrying name, birth date, patient number,
//! bed, ward, data age, allergies, resuscitation policy and the drill marker. Also the blank
//! form for a new admission. A4 landscape via the stylesheet's named page.

use super::icons::{Icon, icon};
use super::identity::{self, location_text};
use super::layout::{self, Kind, data_age_class, data_age_text};
use super::medgroup::{MarRow, attention_label, mar_rows, state_label, unreadable_label};
use super::patient::{dosage_block, identity_conflict_notice, unread_notice};
use super::text::{birth_with_age, clean};
use super::ward::{allergy_cell, policy};
use super::{Key, MAX_MAR_DAYS, PageCtx};
use crate::config::Language;
use crate::record::summary::PatientSummary;
use crate::record::{
    Dosage, Listed, MedicationLine, Moment, PatientRecord, Treatment, TreatmentState,
};
use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use maud::{Markup, html};

/// Most initials slots per line per day (more are summarised as "see text").
pub const MAX_SLOTS: usize = 12;
/// Blank slots for an "as needed" dosage, per day.
pub const PRN_SLOTS: usize = 3;
/// Handwritten extra lines under each patient's grid.
pub const EXTRA_LINES: usize = 3;
/// Rows on the blank form.
pub const BLANK_LINES: usize = 12;
/// Slots per day on the blank form.
pub const BLANK_SLOTS: usize = 4;

/// One initials box: at a scheduled time, or with a blank time to fill in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    At(NaiveTime),
    Blank,
}

/// The slots of one line per day, and whether the schedule needs the text to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSlots {
    pub slots: Vec<Slot>,
    pub see_text: bool,
    pub as_needed: bool,
}

fn dosage_slots(d: &Dosage, out: &mut Vec<Slot>) -> bool {
    if d.as_needed.is_some() {
        out.extend(std::iter::repeat_n(Slot::Blank, PRN_SLOTS));
        return false;
    }
    if !d.schedule.times_of_day.is_empty() {
        out.extend(d.schedule.times_of_day.iter().map(|t| Slot::At(*t)));
        return false;
    }
    if let Some(f) = &d.schedule.frequency {
        let count = usize::try_from(f.count_max.unwrap_or(f.count).max(f.count)).unwrap_or(1);
        let period: Option<u32> =
            f.period.trim().parse::<f64>().ok().and_then(|p| {
                (p.fract() == 0.0 && (1.0..=1000.0).contains(&p)).then_some(p as u32)
            });
        let per_day = match (f.period_unit.as_str(), period) {
            ("d", Some(1)) => Some(count),
            ("h", Some(h)) if 24 % h == 0 => Some(count.saturating_mul((24 / h) as usize)),
            ("d" | "wk" | "mo", Some(_)) => Some(1),
            _ => None,
        };
        if let Some(n) = per_day {
            out.extend(std::iter::repeat_n(Slot::Blank, n.clamp(1, MAX_SLOTS)));
            return false;
        }
    }
    out.extend(std::iter::repeat_n(Slot::Blank, 2));
    true
}

/// The initials slots one line gets each day.
pub fn line_slots(line: &MedicationLine) -> LineSlots {
    let mut slots = Vec::new();
    let mut see_text = line.dosages.is_empty();
    for d in &line.dosages {
        see_text |= dosage_slots(d, &mut slots);
    }
    if line.dosages.is_empty() {
        slots.extend(std::iter::repeat_n(Slot::Blank, 2));
    }
    // Timed slots in clock order without duplicates, then the blank ones.
    let mut timed: Vec<Slot> = slots
        .iter()
        .copied()
        .filter(|s| *s != Slot::Blank)
        .collect();
    timed.sort();
    timed.dedup();
    let blanks = slots.iter().filter(|s| **s == Slot::Blank).count();
    let mut all = timed;
    all.extend(std::iter::repeat_n(Slot::Blank, blanks));
    if all.len() > MAX_SLOTS {
        all.truncate(MAX_SLOTS);
        see_text = true;
    }
    LineSlots {
        slots: all,
        see_text,
        as_needed: line.dosages.iter().any(|d| d.as_needed.is_some()),
    }
}

fn weekday_code(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

fn weekday_short(lang: Language, w: Weekday) -> &'static str {
    match (lang, w) {
        (Language::Nl, Weekday::Mon) => "ma",
        (Language::Nl, Weekday::Tue) => "di",
        (Language::Nl, Weekday::Wed) => "wo",
        (Language::Nl, Weekday::Thu) => "do",
        (Language::Nl, Weekday::Fri) => "vr",
        (Language::Nl, Weekday::Sat) => "za",
        (Language::Nl, Weekday::Sun) => "zo",
        (Language::En, Weekday::Mon) => "Mon",
        (Language::En, Weekday::Tue) => "Tue",
        (Language::En, Weekday::Wed) => "Wed",
        (Language::En, Weekday::Thu) => "Thu",
        (Language::En, Weekday::Fri) => "Fri",
        (Language::En, Weekday::Sat) => "Sat",
        (Language::En, Weekday::Sun) => "Sun",
    }
}

fn local_date(ctx: &PageCtx, m: &Moment) -> Option<NaiveDate> {
    match *m {
        Moment::Day(d) => Some(d),
        Moment::Instant(t) => Some(t.with_timezone(&ctx.tz).date_naive()),
        _ => None,
    }
}

/// Why a line has no boxes on a day, if it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayOff {
    NotThisWeekday,
    Ended,
    NotStarted,
}

/// Is the line off on `day` (weekday restriction, before start, after its end or a planned
/// stop or pause)?
pub fn day_off(ctx: &PageCtx, line: &MedicationLine, day: NaiveDate) -> Option<DayOff> {
    if let Some(end) = line.runs_until().as_ref().and_then(|m| local_date(ctx, m))
        && day > end
    {
        return Some(DayOff::Ended);
    }
    if let Some(start) = line.start.as_ref().and_then(|m| local_date(ctx, m))
        && day < start
    {
        return Some(DayOff::NotStarted);
    }
    let restricted: Vec<&String> = line
        .dosages
        .iter()
        .filter(|d| d.as_needed.is_none())
        .flat_map(|d| d.schedule.days_of_week.iter())
        .collect();
    let all_restricted = !line.dosages.is_empty()
        && line
            .dosages
            .iter()
            .all(|d| !d.schedule.days_of_week.is_empty());
    if all_restricted
        && !restricted
            .iter()
            .any(|w| w.trim().eq_ignore_ascii_case(weekday_code(day.weekday())))
    {
        return Some(DayOff::NotThisWeekday);
    }
    None
}

fn days_list(start: NaiveDate, days: u32) -> Vec<NaiveDate> {
    start
        .iter_days()
        .take(days.clamp(1, MAX_MAR_DAYS) as usize)
        .collect()
}

fn slot_markup(ctx: &PageCtx, s: Slot) -> Markup {
    html! {
        span class="slot" {
            @match s {
                Slot::At(t) => span class="slot-time" { (t.format("%H:%M").to_string()) },
                Slot::Blank => span class="slot-time blank" { span class="visually-hidden" { (ctx.t(Key::MarTimeToFill)) } },
            }
            span class="initials" {}
        }
    }
}

fn day_cell(ctx: &PageCtx, line: &MedicationLine, slots: &LineSlots, day: NaiveDate) -> Markup {
    html! {
        @match day_off(ctx, line, day) {
            Some(off) => td class="mar-day off" {
                (ctx.t(match off {
                    DayOff::NotThisWeekday => Key::MarNotThisDay,
                    DayOff::Ended => Key::MarEnded,
                    DayOff::NotStarted => Key::MarNotStarted,
                }))
            },
            None => td class="mar-day" {
                @for s in &slots.slots { (slot_markup(ctx, *s)) }
            },
        }
    }
}

fn day_headers(ctx: &PageCtx, days: &[NaiveDate]) -> Markup {
    html! {
        @for d in days {
            th scope="col" class="mar-dayhead" {
                (weekday_short(ctx.lang, d.weekday())) " " (d.format("%d-%m").to_string())
            }
        }
    }
}

fn line_cells(ctx: &PageCtx, t: &Treatment, line: &MedicationLine, slots: &LineSlots) -> Markup {
    let plain_current = matches!(
        t.state,
        TreatmentState::Current {
            stop_planned: None,
            pause_planned: None,
            resumed_after_pause: None,
            ..
        }
    );
    html! {
        th scope="row" class="mar-drug" {
            strong { (clean(&line.drug.name)) }
            @if let Some(s) = &line.drug.strength { " " (clean(s)) }
            @if let Some(f) = &line.drug.form { br; span class="sub" { (clean(f)) } }
            @if !plain_current && t.unreadable.is_empty() {
                br; strong class="mar-state" { (state_label(ctx, &t.state)) }
            }
        }
        td class="mar-dosage" {
            @for d in &line.dosages { (dosage_block(ctx, d)) }
            @if slots.see_text { div class="sub" { (icon(Icon::Warning)) " " (ctx.t(Key::MarScheduleSeeText)) } }
        }
    }
}

/// The drill marker inside a printed header: one line, so the repeated header stays
/// short enough for the browser to repeat it on every page.
fn print_drill(ctx: &PageCtx) -> Markup {
    html! {
        @if ctx.is_drill() {
            span class="drill-banner print-drill" { strong class="drill-word" { (ctx.t(Key::DrillMarker)) } }
        }
    }
}

/// The header block repeated at the top of every printed page of a patient's MAR.
fn patient_header(ctx: &PageCtx, p: &PatientRecord, title: &str) -> Markup {
    let s = PatientSummary::from(p);
    html! {
        div class="print-head" {
            div class="ph-row" {
                (print_drill(ctx))
                span class="ph-title" { (title) }
                span class="ph-name" { (clean(&p.identity.name.display)) }
                span { (ctx.t(Key::BirthDate)) ": " strong { @match &p.identity.birth_date { Some(b) => (birth_with_age(ctx, b)), None => (ctx.t(Key::Unknown)) } } }
                span { (ctx.t(Key::PatientNumber)) ": " strong { (layout::opt(p.identity.patient_number.as_deref())) } }
                span { strong { (clean(&location_text(ctx, p))) } }
                span { (ctx.t(Key::Ward)) ": " (clean(ctx.ward_name)) }
            }
            div class="ph-row ph-alerts" { (identity::chips(ctx, &s)) }
            div class="ph-row" {
                span class=(data_age_class(ctx)) { (data_age_text(ctx)) }
                span { (ctx.t(Key::Printed)) " " (crate::timefmt::datetime(ctx.now, ctx.tz)) }
            }
        }
    }
}

fn legend_foot(ctx: &PageCtx, cols: usize) -> Markup {
    html! {
        tfoot {
            tr {
                td colspan=(cols) class="mar-foot" {
                    div { (ctx.t(Key::MarCodes)) }
                    div class="sig-lines" {
                        @for _ in 0..4 { span class="sig" { (ctx.t(Key::MarSignatures)) } }
                    }
                }
            }
        }
    }
}

fn patient_mar(ctx: &PageCtx, p: &PatientRecord, days: &[NaiveDate]) -> Markup {
    let title = ctx.t(Key::MarTitle);
    let cols = 2 + days.len();
    html! {
        section class="mar-patient" aria-label=(format!("{title}: {}", clean(&p.identity.name.display))) {
            table class="mar" {
                thead {
                    tr { td colspan=(cols) class="mar-headcell" { (patient_header(ctx, p, title)) } }
                    tr {
                        th scope="col" class="mar-drughead" { (ctx.t(Key::Drug)) }
                        th scope="col" class="mar-dosehead" { (ctx.t(Key::Dose)) " / " (ctx.t(Key::Schedule)) }
                        (day_headers(ctx, days))
                    }
                }
                (legend_foot(ctx, cols))
                tbody {
                    @if p.unread_count() > 0 || !p.identity_conflicts.is_empty() {
                        tr { td colspan=(cols) class="mar-note mar-unread" {
                            (identity_conflict_notice(ctx, p))
                            (unread_notice(ctx, p, true))
                        } }
                    }
                    @match &p.medication {
                        Listed::NotRecorded => tr { td colspan=(cols) class="mar-note" { (icon(Icon::Unknown)) " " (ctx.t(Key::MarMedicationNotRecorded)) } },
                        Listed::NoneDocumented { statement, .. } => tr { td colspan=(cols) class="mar-note" { (ctx.t(Key::MarNoMedication)) " (" (clean(statement)) ")" } },
                        Listed::Items { items } => {
                            @let rows = mar_rows(items);
                            @if rows.is_empty() {
                                tr { td colspan=(cols) class="mar-note" { (ctx.t(Key::MedNoCurrent)) } }
                            }
                            @for row in rows {
                                @match row {
                                    MarRow::Give(t, line) => {
                                        @let slots = line_slots(line);
                                        tr class="mar-line" {
                                            (line_cells(ctx, t, line, &slots))
                                            @for d in days { (day_cell(ctx, line, &slots, *d)) }
                                        }
                                    },
                                    MarRow::Paused(t, line) => {
                                        @let slots = line_slots(line);
                                        tr class="mar-line mar-paused" {
                                            (line_cells(ctx, t, line, &slots))
                                            td colspan=(days.len()) class="mar-day off mar-stop" {
                                                (icon(Icon::Deny)) " " strong { (state_label(ctx, &t.state)) } " — " (ctx.t(Key::MedDoNotGive))
                                            }
                                        }
                                    },
                                    MarRow::Check(t, line) => {
                                        @let slots = line_slots(line);
                                        tr class="mar-line mar-unreadable" {
                                            (line_cells(ctx, t, line, &slots))
                                            td colspan=(days.len()) class="mar-day off mar-stop" {
                                                (icon(Icon::Warning)) " " strong { (ctx.t(if t.unreadable.is_empty() { Key::MarCheckRow } else { Key::MarUnreadableRow })) }
                                                @for u in &t.unreadable { br; span class="sub" { (clean(&unreadable_label(ctx, u))) } }
                                                @for a in &t.attention { br; span class="sub" { (clean(&attention_label(ctx, a))) } }
                                                @if t.unreadable.is_empty() { br; span class="sub" { (ctx.t(Key::MedReadAs)) ": " (state_label(ctx, &t.state)) } }
                                            }
                                        }
                                    },
                                }
                            }
                        }
                    }
                    tr class="mar-extra-head" { td colspan=(cols) { (ctx.t(Key::MarExtraLines)) } }
                    @for _ in 0..EXTRA_LINES { (blank_row(ctx, days, BLANK_SLOTS)) }
                }
            }
        }
    }
}

fn blank_row(ctx: &PageCtx, days: &[NaiveDate], slots: usize) -> Markup {
    html! {
        tr class="mar-blank" {
            td class="mar-drug write" {}
            td class="mar-dosage write" {}
            @for _ in days {
                td class="mar-day" { @for _ in 0..slots { (slot_markup(ctx, Slot::Blank)) } }
            }
        }
    }
}

/// Print hint shown on screen only.
fn print_hint(ctx: &PageCtx) -> Markup {
    html! { p class="print-hint" { (icon(Icon::Print)) " " (ctx.t(Key::PrintHint)) } }
}

fn range_title(ctx: &PageCtx, days: &[NaiveDate]) -> String {
    match (days.first(), days.last()) {
        (Some(a), Some(b)) => format!(
            "{} {} – {}",
            ctx.t(Key::MarTitle),
            crate::timefmt::date(*a),
            crate::timefmt::date(*b)
        ),
        _ => ctx.t(Key::MarTitle).to_owned(),
    }
}

/// The MAR for one or more patients, page break between patients.
/// `_seen` is the proof that this look is durable in the access log ([`crate::audit::Receipt`]):
/// without one the page cannot be rendered.
pub fn print_mar(
    ctx: &PageCtx,
    patients: &[PatientRecord],
    start: NaiveDate,
    days: u32,
    _seen: &crate::audit::Receipt,
) -> Markup {
    let days = days_list(start, days);
    let title = range_title(ctx, &days);
    let content = html! {
        h1 class="screen-only" { (title) }
        (print_hint(ctx))
        @if patients.is_empty() { p class="empty" { (ctx.t(Key::NoPatients)) } }
        @for p in patients { (patient_mar(ctx, p, &days)) }
    };
    layout::page(ctx, &title, Kind::PrintLandscape, content)
}

/// The empty MAR for a new admission.
pub fn print_blank_mar(ctx: &PageCtx, start: NaiveDate, days: u32) -> Markup {
    let days = days_list(start, days);
    let cols = 2 + days.len();
    let title = ctx.t(Key::MarBlankTitle);
    let field = |k: Key| {
        html! { span class="fill" { span class="fill-label" { (ctx.t(k)) ": " } span class="fill-line" {} } }
    };
    let content = html! {
        h1 class="screen-only" { (title) }
        (print_hint(ctx))
        section class="mar-patient" aria-label=(title) {
            table class="mar" {
                thead {
                    tr { td colspan=(cols) class="mar-headcell" {
                        div class="print-head" {
                            div class="ph-row" {
                                (print_drill(ctx))
                                span class="ph-title" { (title) }
                                span { (ctx.t(Key::Ward)) ": " (clean(ctx.ward_name)) }
                                span class=(data_age_class(ctx)) { (data_age_text(ctx)) }
                                span { (ctx.t(Key::Printed)) " " (crate::timefmt::datetime(ctx.now, ctx.tz)) }
                            }
                            div class="ph-row fill-row" {
                                (field(Key::Name)) (field(Key::BirthDate)) (field(Key::PatientNumber)) (field(Key::Bed))
                            }
                            div class="ph-row fill-row" {
                                (field(Key::Allergies))
                                span class="fill" {
                                    span class="fill-label" { (ctx.t(Key::Resuscitation)) ": " }
                                    span class="tick" {} " " (ctx.t(Key::ResusPermit)) " "
                                    span class="tick" {} " " (ctx.t(Key::ResusDeny)) " "
                                    span class="tick" {} " " (ctx.t(Key::Unknown))
                                }
                            }
                        }
                    } }
                    tr {
                        th scope="col" class="mar-drughead" { (ctx.t(Key::Drug)) }
                        th scope="col" class="mar-dosehead" { (ctx.t(Key::Dose)) " / " (ctx.t(Key::Schedule)) }
                        (day_headers(ctx, &days))
                    }
                }
                (legend_foot(ctx, cols))
                tbody {
                    @for _ in 0..BLANK_LINES { (blank_row(ctx, &days, BLANK_SLOTS)) }
                }
            }
        }
    };
    layout::page(ctx, title, Kind::PrintLandscape, content)
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
                        td class="col-bed" { strong { (clean(&super::ward::bed_text(s))) } }
                        th scope="row" { (clean(&s.name)) }
                        td class="nowrap" { @match &s.birth_date { Some(b) => (birth_with_age(ctx, b)), None => (ctx.t(Key::Unknown)) } }
                        td class="nowrap" { (layout::opt(s.patient_number.as_deref())) }
                        td { (super::ward::alert_cell(ctx, s.alerts, &s.alert_items)) }
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
