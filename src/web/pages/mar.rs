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
use super::marfill::{DayFill, Fill, fill_treatment, unmatched_on_days};
use super::marpage::{self, Item, Sheet};
use super::medgroup::{
    MarRow, attention_label, high_risk_mark, mar_rows, state_label, unreadable_label,
};
use super::patient::{
    dosage_block, given, identity_conflict_notice, last_administrations, unread_notice,
};
use super::text::{birth_with_age, clean, fold, units_written_out};
use super::ward::{allergy_cell, policy};
use super::{Key, MAX_MAR_DAYS, PageCtx};
use crate::config::Language;
use crate::record::Text;
use crate::record::highrisk::{high_risk, is_insulin};
use crate::record::summary::PatientSummary;
use crate::record::{
    Administration, Dosage, Listed, MedicationLine, Moment, PatientRecord, Treatment,
    TreatmentState,
};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use maud::{Markup, html};

/// Most initials slots per line per day (more are summarised as "see text").
pub(crate) const MAX_SLOTS: usize = 12;
/// Rows of an as-needed block when the source gives no maximum per day.
pub(crate) const PRN_FALLBACK_ROWS: usize = 4;
/// Most rows of an as-needed block (a higher maximum is written in its heading).
pub(crate) const MAX_PRN_ROWS: usize = 12;
/// Most handwritten extra lines under each patient's grid: one always, more while the last
/// sheet has room.
pub(crate) const EXTRA_LINES: usize = 3;
/// Rows on the blank form.
pub(crate) const BLANK_LINES: usize = 12;
/// Slots per day on the blank form.
pub(crate) const BLANK_SLOTS: usize = 4;

/// One initials box: at a scheduled time, or with a blank time to fill in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Slot {
    At(NaiveTime),
    Blank,
}

/// The slots of one line per day, and whether the schedule needs the text to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineSlots {
    pub slots: Vec<Slot>,
    pub see_text: bool,
    pub as_needed: bool,
}

fn dosage_slots(d: &Dosage, out: &mut Vec<Slot>) -> bool {
    // As needed: no boxes in the grid; the drug gets an as-needed block.
    if d.as_needed.is_some() {
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

/// The initials slots one line gets each day (none for its as-needed dosages, which get
/// their own block).
pub(crate) fn line_slots(line: &MedicationLine) -> LineSlots {
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
pub(crate) enum DayOff {
    NotThisWeekday,
    Ended,
    NotStarted,
}

/// Is the line off on `day` (weekday restriction, before start, after its end or a planned
/// stop or pause)?
pub(crate) fn day_off(ctx: &PageCtx, line: &MedicationLine, day: NaiveDate) -> Option<DayOff> {
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
    let restricted: Vec<&Text> = line
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

/// Longest reason or name printed inside a box (the full text is on the patient page).
const BOX_TEXT: usize = 40;

fn short(s: &str, n: usize) -> String {
    let c = clean(s);
    if c.chars().count() > n {
        let mut t: String = c.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        c.into_owned()
    }
}

/// The local clock time of an administration, with its date when not on `day`.
fn admin_time(ctx: &PageCtx, a: &Administration, day: Option<NaiveDate>) -> String {
    match a.at {
        Some(Moment::Instant(t)) => {
            let l = t.with_timezone(&ctx.tz);
            if day.is_some_and(|d| d != l.date_naive()) {
                l.format("%d-%m %H:%M").to_string()
            } else {
                l.format("%H:%M").to_string()
            }
        }
        Some(ref m) => super::text::moment(ctx, m),
        None => ctx.t(Key::Unknown).to_owned(),
    }
}

fn not_given_reason(a: &Administration) -> Option<&str> {
    a.status_reason.as_deref().or(a.note.as_deref())
}

/// What the EPD recorded, in a box: "G 08:02" with who, "NIET GEGEVEN — reden", or the
/// status unknown.
fn recorded_box(ctx: &PageCtx, a: &Administration, day: Option<NaiveDate>) -> Markup {
    let time = admin_time(ctx, a, day);
    html! {
        @match given(a) {
            Some(true) => {
                span class="rec-what" { strong { (ctx.t(Key::MarGivenCode)) } " " (time) }
                @if let Some(p) = &a.performer { span class="rec-who" { (initials(p)) } }
            },
            Some(false) => {
                span class="rec-what" { strong { (ctx.t(Key::MarNotGiven)) } " " (time) }
                @if let Some(r) = not_given_reason(a) { span class="rec-why" { "— " (short(r, BOX_TEXT)) } }
                @if let Some(p) = &a.performer { span class="rec-who" { (initials(p)) } }
            },
            None => {
                span class="rec-what" { strong { "?" } " " (time) }
                span class="rec-why" { (ctx.t(Key::AdminStatusUnknown)) }
            },
        }
    }
}

/// Who gave a dose, in a given-dose box: the initials of their name as a paraaf reads
/// ("Anneke de Boer" → "AdB", a lower-case infix keeps its lower case), or a one-word name
/// cut to six characters. The full name is under "laatst gegeven" and in the EPD (legend).
fn initials(name: &str) -> String {
    let c = clean(name);
    let words: Vec<&str> = c.split_whitespace().collect();
    if words.len() < 2 {
        return short(c.trim(), 6);
    }
    let i: String = words
        .iter()
        .filter_map(|w| w.chars().next())
        .take(6)
        .collect();
    i
}

fn slot_markup(
    ctx: &PageCtx,
    s: Slot,
    fill: Option<Fill<'_>>,
    day: Option<NaiveDate>,
    glucose: bool,
) -> Markup {
    let (class, box_class) = match fill {
        Some(Fill::Recorded(a)) => match given(a) {
            Some(true) => ("slot rec rec-given", "initials rec-box"),
            Some(false) => ("slot rec rec-notgiven wide", "initials rec-box"),
            None => ("slot rec rec-unknown", "initials rec-box"),
        },
        Some(Fill::BeforeDataTime) => ("slot before", "initials before-box"),
        _ => ("slot", "initials"),
    };
    html! {
        span class=(class) {
            @match s {
                Slot::At(t) => span class="slot-time" { (t.format("%H:%M").to_string()) },
                Slot::Blank => span class="slot-time blank" { span class="visually-hidden" { (ctx.t(Key::MarTimeToFill)) } },
            }
            span class=(box_class) {
                @match fill {
                    Some(Fill::Recorded(a)) => (recorded_box(ctx, a, day)),
                    Some(Fill::BeforeDataTime) => span class="before-text" { (ctx.t(Key::MarBeforeDataTime)) },
                    _ => {},
                }
            }
            @if glucose && !matches!(fill, Some(Fill::Recorded(_))) {
                span class="gluc" { "gluc" }
            }
        }
    }
}

fn day_cell(
    ctx: &PageCtx,
    line: &MedicationLine,
    slots: &LineSlots,
    day: NaiveDate,
    fill: Option<&DayFill<'_>>,
    glucose: bool,
) -> Markup {
    html! {
        @match day_off(ctx, line, day) {
            Some(off) => td class="mar-day off" {
                (ctx.t(match off {
                    DayOff::NotThisWeekday => Key::MarNotThisDay,
                    DayOff::Ended => Key::MarEnded,
                    DayOff::NotStarted => Key::MarNotStarted,
                }))
                (extras(ctx, fill, day))
            },
            None => td class="mar-day" {
                @for (i, s) in slots.slots.iter().enumerate() {
                    @let f = fill.and_then(|f| f.slots.get(i)).and_then(|x| x.1);
                    (slot_markup(ctx, *s, f, Some(day), glucose))
                }
                (extras(ctx, fill, day))
            },
        }
    }
}

/// Administrations of the day that fit no box: printed under the boxes, never dropped.
fn extras(ctx: &PageCtx, fill: Option<&DayFill<'_>>, day: NaiveDate) -> Markup {
    html! {
        @if let Some(f) = fill.filter(|f| !f.extra.is_empty()) {
            div class="mar-extra" {
                (ctx.t(Key::MarAlsoRecorded)) ":"
                @for a in &f.extra { " " span class="rec-inline" { (recorded_box(ctx, a, Some(day))) } }
            }
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

fn drug_cell(
    ctx: &PageCtx,
    t: &Treatment,
    line: &MedicationLine,
    rowspan: Option<usize>,
) -> Markup {
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
        th scope="row" class="mar-drug" rowspan=[rowspan] {
            (high_risk_mark(ctx, &line.drug))
            strong { (clean(&line.drug.name)) }
            @if let Some(s) = &line.drug.strength { " " (clean(&units_written_out(ctx.lang, s))) }
            @if let Some(f) = &line.drug.form { br; span class="sub" { (clean(f)) } }
            @if !plain_current && t.unreadable.is_empty() {
                br; strong class="mar-state" { (state_label(ctx, &t.state)) }
            }
        }
    }
}

fn line_cells(
    ctx: &PageCtx,
    p: &PatientRecord,
    t: &Treatment,
    line: &MedicationLine,
    slots: &LineSlots,
    rowspan: Option<usize>,
) -> Markup {
    html! {
        (drug_cell(ctx, t, line, rowspan))
        td class="mar-dosage" rowspan=[rowspan] {
            @for d in &line.dosages { (dosage_block(ctx, d)) }
            @if slots.see_text { div class="sub" { (icon(Icon::Warning)) " " (ctx.t(Key::MarScheduleSeeText)) } }
        }
        td class="mar-last" rowspan=[rowspan] { (last_given(ctx, p, t)) }
    }
}

/// The "laatst gegeven" cell: the latest administration (time, dose, by whom) and, when
/// that one was not given, the latest that was.
fn last_given(ctx: &PageCtx, p: &PatientRecord, t: &Treatment) -> Markup {
    if p.administrations.is_not_recorded() {
        return html! { span class="flag-unknown" { (ctx.t(Key::AdminNotRecorded)) } };
    }
    let (latest, done) = last_administrations(t, p.administrations.items());
    let one = |a: &Administration| {
        html! {
            div class="last-one" {
                @match given(a) {
                    Some(true) => strong { (admin_time(ctx, a, Some(ctx.today()))) },
                    Some(false) => { strong { (ctx.t(Key::MarNotGiven)) } " " (admin_time(ctx, a, Some(ctx.today()))) },
                    None => { strong { "?" } " " (admin_time(ctx, a, Some(ctx.today()))) " " (ctx.t(Key::AdminStatusUnknown)) },
                }
                @if let Some(d) = &a.dose { " · " (short(&units_written_out(ctx.lang, d), 30)) }
                @if let Some(w) = &a.performer { br; span class="sub" { (short(w, 24)) } }
            }
        }
    };
    html! {
        @match latest {
            None => span class="muted" { (ctx.t(Key::NeverGivenInWindow)) },
            Some(a) => {
                (one(a))
                @if let Some(d) = done { (one(d)) }
            }
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

/// "blad 2 van 3".
fn sheet_text(ctx: &PageCtx, sheet: usize, of: usize) -> String {
    format!(
        "{} {sheet} {} {of}",
        ctx.t(Key::MarSheet),
        ctx.t(Key::MarSheetOf)
    )
}

/// The header block at the top of every sheet of a patient's MAR (repeated by the
/// browser if a sheet overflows): name, birth date, patient number, bed, ward, sheet
/// number; allergy, alert and policy chips; the data time and the print time.
fn patient_header(ctx: &PageCtx, p: &PatientRecord, title: &str, sheet: (usize, usize)) -> Markup {
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
                span { strong { (ctx.t(Key::MarDataTime)) ": " } span class=(data_age_class(ctx)) { (data_age_text(ctx)) } }
                span { (ctx.t(Key::Printed)) " " (crate::timefmt::datetime(ctx.now, ctx.tz)) }
                span class="ph-sheet" { strong { (sheet_text(ctx, sheet.0, sheet.1)) } }
            }
            div class="ph-row ph-alerts" { (identity::chips(ctx, &s)) }
        }
    }
}

/// The sheet's foot: its marker, the codes (and, on a filled-in MAR, how the EPD's records
/// and the high-risk marker read), the signature lines.
fn legend_foot(ctx: &PageCtx, cols: usize, marker: Markup, filled: bool) -> Markup {
    html! {
        tfoot {
            tr {
                td colspan=(cols) class="mar-foot" {
                    div class="mar-sheet-marker" { (marker) }
                    div {
                        (ctx.t(Key::MarCodes))
                        @if filled { " " (ctx.t(Key::MarRecordedLegend)) " " (ctx.t(Key::MarHighRiskLegend)) }
                    }
                    div class="sig-lines" {
                        @for _ in 0..4 { span class="sig" { (ctx.t(Key::MarSignatures)) } }
                    }
                }
            }
        }
    }
}

/// How many times a day an as-needed dosage may be given: its maximum dose per period
/// divided by the dose (same unit), else its timing's maximum frequency per day or hours;
/// `None` when neither is given.
pub(crate) fn prn_per_day(d: &Dosage) -> Option<usize> {
    let from_max = d.max_per_period.as_ref().and_then(|m| {
        let dose = d
            .dose_quantity
            .as_ref()
            .or_else(|| d.dose_range.as_ref().and_then(|r| r.0.as_ref()))?;
        let same_unit = match (m.quantity.code.as_deref(), dose.code.as_deref()) {
            (Some(a), Some(b)) => a.trim() == b.trim(),
            _ => match (m.quantity.unit.as_deref(), dose.unit.as_deref()) {
                (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
                (None, None) => true,
                _ => false,
            },
        };
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !same_unit || !positive(dose.value) || !positive(m.quantity.value) {
            return None;
        }
        let times = (m.quantity.value / dose.value + 1e-9).floor();
        let unit = m
            .per
            .code
            .as_deref()
            .or(m.per.unit.as_deref())?
            .trim()
            .to_lowercase();
        let per = if m.per.value > 0.0 {
            m.per.value
        } else {
            return None;
        };
        let per_day = match unit.as_str() {
            "d" | "dag" | "day" | "24.h" => times / per,
            "h" | "uur" | "hour" => times * 24.0 / per,
            _ => return None,
        };
        (per_day.is_finite() && per_day >= 1.0).then(|| per_day.floor().min(1000.0) as usize)
    });
    from_max.or_else(|| {
        let f = d.schedule.frequency.as_ref()?;
        let n = usize::try_from(f.count_max.unwrap_or(f.count)).ok()?;
        let period: f64 = f.period.trim().parse().ok()?;
        if !(period.is_finite() && period > 0.0) || n == 0 {
            return None;
        }
        let per_day = match f.period_unit.as_str() {
            "d" => n as f64 / period,
            "h" => n as f64 * 24.0 / period,
            _ => return None,
        };
        (per_day.is_finite() && per_day >= 1.0).then(|| per_day.floor().min(1000.0) as usize)
    })
}

/// The rows of a line's as-needed block: the maximum per day over its as-needed dosages
/// (bounded by [`MAX_PRN_ROWS`]), or [`PRN_FALLBACK_ROWS`] and `false` when none says.
pub(crate) fn prn_rows(line: &MedicationLine) -> (usize, bool) {
    match line
        .dosages
        .iter()
        .filter(|d| d.as_needed.is_some())
        .filter_map(prn_per_day)
        .max()
    {
        Some(n) => (n.clamp(1, MAX_PRN_ROWS), true),
        None => (PRN_FALLBACK_ROWS, false),
    }
}

/// One entry of an as-needed day cell: a dose the EPD recorded, or an empty row to write
/// in. The entry's day is its column, so the time goes without a date.
fn prn_cells(ctx: &PageCtx, a: Option<&Administration>, glucose: bool) -> Markup {
    html! {
        @match a {
            Some(a) => {
                td class="prn-rec" {
                    @match given(a) {
                        Some(true) => strong { (ctx.t(Key::MarGivenCode)) },
                        Some(false) => strong { (ctx.t(Key::MarNotGivenCode)) },
                        None => strong { "?" },
                    }
                    " " span class="prn-t" { (admin_time(ctx, a, None)) }
                }
                td class="prn-rec" { @if let Some(d) = &a.dose { (short(&units_written_out(ctx.lang, d), 24)) } }
                @if glucose { td class="prn-rec" {} }
                td class="prn-rec" {
                    @match given(a) {
                        Some(false) => { @if let Some(r) = not_given_reason(a) { (short(r, BOX_TEXT)) } },
                        _ => (ctx.t(Key::MarPrnRecorded)),
                    }
                }
                td class="prn-rec" {}
                td class="prn-rec" { @if let Some(p) = &a.performer { (initials(p)) } }
            },
            None => {
                td {} td {}
                @if glucose { td {} }
                td {} td {} td {}
            },
        }
    }
}

/// The heading of an as-needed row, once per drug above its day cells: the maximum per
/// day, or a warning that none is recorded.
fn prn_title(ctx: &PageCtx, line: &MedicationLine) -> Markup {
    let (rows, known) = prn_rows(line);
    html! {
        strong { (ctx.t(Key::AsNeeded)) }
        " — "
        @if known { (ctx.t(Key::MaxDose)) " " (rows) " × " (ctx.t(Key::MarPrnRows)) } @else { strong class="prn-nomax" { (icon(Icon::Warning)) " " (ctx.t(Key::MarPrnNoMax)) } }
    }
}

/// What one day's as-needed cell holds.
struct PrnDay<'a> {
    /// Doses the EPD recorded on this day (local date), in time order.
    recorded: Vec<&'a Administration>,
    /// Empty entries to write in.
    empty: usize,
    /// The day lies before the data time and nothing was recorded on it.
    before: bool,
    off: Option<DayOff>,
}

/// Splits an as-needed line's recorded doses over the printed days and counts each day's
/// empty entries: the maximum per day minus the doses recorded that day, at least one, on
/// the data time's day and later; none on a day before the data time (nothing can be
/// written there any more) or a day the line does not run.
fn prn_days<'a>(
    ctx: &PageCtx,
    line: &MedicationLine,
    recorded: &[&'a Administration],
    days: &[NaiveDate],
    data_day: Option<NaiveDate>,
) -> Vec<PrnDay<'a>> {
    let (max, _) = prn_rows(line);
    days.iter()
        .map(|day| {
            let mine: Vec<&Administration> = recorded
                .iter()
                .copied()
                .filter(|a| a.at.as_ref().and_then(|m| local_date(ctx, m)) == Some(*day))
                .collect();
            let off = day_off(ctx, line, *day);
            let past = data_day.is_some_and(|d| *day < d);
            let empty = if past || off.is_some() {
                0
            } else {
                max.saturating_sub(mine.len()).max(1)
            };
            PrnDay {
                before: past && mine.is_empty() && off.is_none(),
                recorded: mine,
                empty,
                off,
            }
        })
        .collect()
}

/// One day's cell of an as-needed row: that day's recorded doses, one entry per line,
/// then its empty entries (time, dose, reason, effect, initials; insulin also glucose).
fn prn_day_cell(ctx: &PageCtx, d: &PrnDay<'_>, glucose: bool) -> Markup {
    let entries: Vec<Option<&Administration>> = d
        .recorded
        .iter()
        .map(|a| Some(*a))
        .chain(std::iter::repeat_n(None, d.empty))
        .collect();
    html! {
        @if d.before {
            td class="mar-day mar-prncell prn-before" { span class="before-text" { (ctx.t(Key::MarBeforeDataTime)) } }
        } @else {
            td class=(if d.off.is_some() { "mar-day mar-prncell off" } else { "mar-day mar-prncell" }) {
                @if let Some(off) = d.off {
                    div { (ctx.t(match off {
                        DayOff::NotThisWeekday => Key::MarNotThisDay,
                        DayOff::Ended => Key::MarEnded,
                        DayOff::NotStarted => Key::MarNotStarted,
                    })) }
                }
                @if !entries.is_empty() {
                    table class=(if glucose { "prntab prn-g" } else { "prntab" }) {
                        thead { tr {
                            th scope="col" class="prn-time" { (ctx.t(Key::MarPrnTime)) }
                            th scope="col" class="prn-dose" { (ctx.t(Key::MarPrnDose)) }
                            @if glucose { th scope="col" class="prn-gluc" { (ctx.t(Key::MarGlucose)) } }
                            th scope="col" class="prn-reason" { (ctx.t(Key::MarPrnReason)) }
                            th scope="col" class="prn-effect" { (ctx.t(Key::MarPrnEffect)) }
                            th scope="col" class="prn-init" { (ctx.t(Key::MarInitials)) }
                        } }
                        tbody {
                            @for e in &entries {
                                tr class="prn-row" { (prn_cells(ctx, *e, glucose)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn blank_row(ctx: &PageCtx, days: &[NaiveDate], slots: usize, last_col: bool) -> Markup {
    html! {
        tr class="mar-blank" {
            td class="mar-drug write" {}
            td class="mar-dosage write" {}
            @if last_col { td class="mar-last write" {} }
            @for _ in days {
                td class="mar-day" { @for _ in 0..slots { (slot_markup(ctx, Slot::Blank, None, None, false)) } }
            }
        }
    }
}

/// Column widths on paper, as shares of the sheet (style.css, print): drug, dosage, last
/// given; the days share the rest.
const DRUG_COL: f64 = 0.17;
const DOSE_COL: f64 = 0.235;
const LAST_COL: f64 = 0.10;
/// Printed slot box sizes (style.css, print `.slot`), mm: width with margins, height of a
/// plain slot, width of a "NIET GEGEVEN" slot, the glucose line.
const SLOT_W: f64 = 11.0;
const SLOT_H: f64 = 10.6;
const WIDE_W: f64 = 25.9;
const GLUC_H: f64 = 3.4;
/// Average character widths taken wide (mm): body text (8.5 pt) and small print (7 pt).
const CHAR_MM: f64 = 2.1;
const SMALL_CHAR_MM: f64 = 1.55;
/// The dosage text (8 pt, line-height 1.15) and the source's text under it (6.5 pt, 1.15):
/// character width taken wide and line height, mm.
const DOSE_CHAR_MM: f64 = 1.7;
const DOSE_LINE_MM: f64 = 3.3;
const SRC_CHAR_MM: f64 = 1.4;
const SRC_LINE_MM: f64 = 2.75;
/// Cell padding and borders per row, mm.
const ROW_PAD: f64 = 2.0;
/// One handwriting row of an as-needed day cell, its column heads (insulin's with the
/// glucose heading in three lines), and the drug's "Zo nodig — max." title line, mm.
const PRN_ROW: f64 = 5.2;
const PRN_HEAD: f64 = 4.5;
const PRN_HEAD_GLUC: f64 = 9.0;
const PRN_TITLE: f64 = marpage::LINE_MM;
/// A handwritten line, the checked-by row, a section heading, mm.
const WRITE_ROW: f64 = 9.5;
/// A handwritten drug line: its blank boxes (wrapping when the days are narrow).
fn blank_h(days: usize) -> f64 {
    let day_w =
        (1.0 - DRUG_COL - DOSE_COL - LAST_COL) * marpage::SHEET_WIDTH_MM / days.max(1) as f64;
    let slots = LineSlots {
        slots: vec![Slot::Blank; BLANK_SLOTS],
        see_text: false,
        as_needed: false,
    };
    day_h(None, &slots, day_w, false).max(WRITE_ROW) + ROW_PAD
}
const HEADING_ROW: f64 = 5.5;

fn text_h(chars: usize, col: f64, char_mm: f64, line: f64) -> f64 {
    marpage::lines(
        chars,
        marpage::per_line(col * marpage::SHEET_WIDTH_MM - ROW_PAD, char_mm),
    ) as f64
        * line
}

/// A text's width in "average characters": capitals (drug names are often in capitals)
/// count 1.1 (with `CHAR_MM` 2.3 mm a bold capital at 8.5 pt, measured about 2.0 mm).
fn weighted_chars(s: &str) -> usize {
    let n: f64 = s
        .chars()
        .map(|c| if c.is_uppercase() { 1.1 } else { 1.0 })
        .sum();
    n.ceil() as usize
}

fn drug_h(t: &Treatment, line: &MedicationLine) -> f64 {
    let d = &line.drug;
    let name = weighted_chars(&d.name) + d.strength.as_ref().map_or(0, |s| weighted_chars(s) + 1);
    let mut h = text_h(name, DRUG_COL, CHAR_MM, marpage::LINE_MM);
    if high_risk(d).is_some() {
        // "HOOG RISICO · geconcentreerd elektrolyt" at 7 pt may take two lines.
        h += text_h(44, DRUG_COL, SMALL_CHAR_MM, marpage::LINE_MM);
    }
    if let Some(f) = &d.form {
        h += text_h(
            f.chars().count(),
            DRUG_COL,
            SMALL_CHAR_MM,
            marpage::SMALL_LINE_MM,
        );
    }
    if !matches!(
        t.state,
        TreatmentState::Current {
            stop_planned: None,
            pause_planned: None,
            resumed_after_pause: None,
            ..
        }
    ) {
        h += 2.0 * marpage::LINE_MM;
    }
    h
}

/// The visible text of rendered markup (tags dropped, an entity as one character `&`).
fn visible_text(m: &Markup) -> String {
    let mut out = String::new();
    let (mut tag, mut entity) = (false, false);
    for c in m.0.chars() {
        match c {
            '<' => tag = true,
            '>' if tag => tag = false,
            _ if tag => {}
            '&' => {
                entity = true;
                out.push('&');
            }
            ';' if entity => entity = false,
            _ if entity => {}
            _ => out.push(c),
        }
    }
    out
}

fn visible_chars(m: &Markup) -> usize {
    visible_text(m).chars().count()
}

fn dose_h(ctx: &PageCtx, line: &MedicationLine, see_text: bool) -> f64 {
    let mut h = 0.0;
    for d in &line.dosages {
        let all = visible_chars(&dosage_block(ctx, d));
        let src = d
            .text
            .as_ref()
            .map_or(0, |t| visible_chars(&html! { (clean(t)) }) + 14);
        h += text_h(
            all.saturating_sub(src) + 4,
            DOSE_COL,
            DOSE_CHAR_MM,
            DOSE_LINE_MM,
        );
        if src > 0 {
            h += text_h(src, DOSE_COL, SRC_CHAR_MM, SRC_LINE_MM);
        }
    }
    if see_text || line.dosages.is_empty() {
        h += marpage::LINE_MM;
    }
    h
}

/// The "laatst gegeven" cell: one or two administrations, each its time and dose, then
/// who (small print).
fn last_h(ctx: &PageCtx, p: &PatientRecord, t: &Treatment) -> f64 {
    let (latest, done) = last_administrations(t, p.administrations.items());
    let one = |a: &Administration| {
        let what = 20 + a.dose.as_ref().map_or(0, |d| d.chars().count().min(30));
        (marpage::lines(
            what,
            marpage::per_line(LAST_COL * marpage::SHEET_WIDTH_MM - ROW_PAD, SMALL_CHAR_MM),
        ) + usize::from(a.performer.is_some())) as f64
            * marpage::SMALL_LINE_MM
    };
    let _ = ctx;
    latest.map_or(2.0 * marpage::SMALL_LINE_MM, one) + done.map_or(0.0, one)
}

/// A recorded entry's row in an as-needed day cell (7 pt text, line 2.8 mm): the time
/// takes two lines ("G" or "N" over it); the reason (or "uit EPD")
/// wraps in its column, style.css's `.prn-reason` share (25 %, insulin 19 %) of the day
/// column `day_w` mm.
fn prn_rec_h(a: &Administration, glucose: bool, day_w: f64) -> f64 {
    let share = if glucose { 0.19 } else { 0.25 };
    let (why, time_lines) = match given(a) {
        Some(false) => (
            not_given_reason(a).map_or(0, |r| r.chars().count().min(BOX_TEXT)),
            2,
        ),
        _ => (8, 2),
    };
    let lines =
        marpage::lines(why, marpage::per_line(day_w * share - 1.5, SMALL_CHAR_MM)).max(time_lines);
    lines as f64 * 2.8 + 1.0
}

/// One day's as-needed cell: the entries' header (insulin's glucose heading wraps to three
/// lines), the recorded entries, the empty ones, and the reason a day is off.
fn prn_day_h(d: &PrnDay<'_>, glucose: bool, day_w: f64) -> f64 {
    if d.before {
        return 2.0 * marpage::SMALL_LINE_MM;
    }
    let off = if d.off.is_some() {
        marpage::LINE_MM
    } else {
        0.0
    };
    if d.recorded.is_empty() && d.empty == 0 {
        return off;
    }
    let head = if glucose { PRN_HEAD_GLUC } else { PRN_HEAD };
    let rec: f64 = d
        .recorded
        .iter()
        .map(|a| prn_rec_h(a, glucose, day_w).max(PRN_ROW))
        .sum();
    off + head + rec + d.empty as f64 * PRN_ROW + 1.0
}

fn box_h(fill: Option<Fill<'_>>, glucose: bool) -> (f64, f64) {
    let g = if glucose { GLUC_H } else { 0.0 };
    match fill {
        Some(Fill::Recorded(a)) if given(a) == Some(false) => {
            let why = not_given_reason(a).map_or(0, |r| r.chars().count().min(BOX_TEXT) + 2);
            // "NIET GEGEVEN" and its time (two lines when they wrap), the reason, who.
            let lines = 2.0
                + marpage::lines(why, marpage::per_line(WIDE_W - 2.0, 1.35)) as f64
                + f64::from(u8::from(a.performer.is_some()));
            (WIDE_W, (SLOT_H - 7.0 + lines * 2.6).max(SLOT_H))
        }
        // "G 08:15" over the initials: two lines in the 7 mm box.
        Some(Fill::Recorded(_)) => (SLOT_W, SLOT_H),
        _ => (SLOT_W, SLOT_H + g),
    }
}

fn day_h(fill: Option<&DayFill<'_>>, slots: &LineSlots, width: f64, glucose: bool) -> f64 {
    let avail = width - ROW_PAD;
    let (mut x, mut line_h, mut total) = (0.0_f64, 0.0_f64, 0.0_f64);
    for (i, _) in slots.slots.iter().enumerate() {
        let f = fill.and_then(|f| f.slots.get(i)).and_then(|x| x.1);
        let (w, h) = box_h(f, glucose);
        if x > 0.0 && x + w > avail {
            total += line_h;
            x = 0.0;
            line_h = 0.0;
        }
        x += w;
        line_h = line_h.max(h);
    }
    total += line_h;
    if let Some(f) = fill.filter(|f| !f.extra.is_empty()) {
        let chars: usize = f
            .extra
            .iter()
            .map(|a| {
                30 + not_given_reason(a).map_or(0, |r| r.chars().count().min(BOX_TEXT))
                    + a.performer
                        .as_ref()
                        .map_or(0, |p| p.chars().count().min(16))
            })
            .sum::<usize>()
            + 16;
        total += marpage::lines(chars, marpage::per_line(avail, SMALL_CHAR_MM)) as f64
            * marpage::SMALL_LINE_MM;
    }
    total.max(marpage::LINE_MM)
}

/// Whether a row is a drug to give by the clock (0), given only as needed (1), to be
/// checked first (2) or paused (3): the order of the list.
fn row_group(row: &MarRow<'_>) -> u8 {
    match row {
        MarRow::Give(_, l) => {
            let s = line_slots(l);
            if s.slots.is_empty() && s.as_needed {
                1
            } else {
                0
            }
        }
        MarRow::Check(..) => 2,
        MarRow::Paused(..) => 3,
    }
}

fn row_line<'a>(row: &MarRow<'a>) -> (&'a Treatment, &'a MedicationLine) {
    match *row {
        MarRow::Give(t, l) | MarRow::Paused(t, l) | MarRow::Check(t, l) => (t, l),
    }
}

/// The MAR rows in the order a nurse reads them on a round: drugs given by the clock,
/// then drugs given only as needed, then those to check in the source first, then paused
/// ones ("do not give"); within each group by drug name (case and accents ignored), as the
/// pharmacy's list and the patient page read them. A treatment's rows stay together in
/// their own order (a paused drug's resume agreement right under it), in the group of its
/// first row. (docs/ARCHITECTURE.md, "MAR".)
pub(crate) fn ordered_rows(items: &[Treatment]) -> Vec<MarRow<'_>> {
    let rows = mar_rows(items);
    let first_of = |t: &Treatment| {
        rows.iter()
            .find(|r| std::ptr::eq(row_line(r).0, t))
            .map(|r| (row_group(r), fold(&row_line(r).1.drug.name)))
    };
    let mut keyed: Vec<((u8, String, String, usize), MarRow<'_>)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let t = row_line(r).0;
            let (g, name) = first_of(t).unwrap_or((row_group(r), String::new()));
            ((g, name, t.id.to_string(), i), *r)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// One patient's MAR as parts with their printed heights (see [`marpage`]), and the
/// number of drugs it lists.
fn patient_items(
    ctx: &PageCtx,
    p: &PatientRecord,
    days: &[NaiveDate],
    cols: usize,
) -> (Vec<Item>, usize) {
    let mut items = Vec::new();
    let day_w =
        (1.0 - DRUG_COL - DOSE_COL - LAST_COL) * marpage::SHEET_WIDTH_MM / days.len().max(1) as f64;
    let data_time: Option<DateTime<Utc>> = ctx.data.map(|m| m.data_as_of);
    let data_day = data_time.map(|t| t.with_timezone(&ctx.tz).date_naive());
    let admins = p.administrations.items();
    if p.unread_count() > 0 || !p.identity_conflicts.is_empty() {
        let chars = p
            .unread
            .iter()
            .take(8)
            .map(|u| u.detail.chars().count().min(200) + 40)
            .sum::<usize>()
            + 200;
        items.push(Item {
            keep_with_next: false,
            height_mm: text_h(chars, 1.0, CHAR_MM, marpage::LINE_MM) + ROW_PAD,
            markup: html! {
                tr { td colspan=(cols) class="mar-note mar-unread" {
                    (identity_conflict_notice(ctx, p))
                    (unread_notice(ctx, p, true))
                } }
            },
        });
    }
    let mut drugs = 0;
    match &p.medication {
        Listed::NotRecorded => items.push(Item {
            keep_with_next: false,
            height_mm: WRITE_ROW,
            markup: html! { tr { td colspan=(cols) class="mar-note" { (icon(Icon::Unknown)) " " (ctx.t(Key::MarMedicationNotRecorded)) } } },
        }),
        Listed::NoneDocumented { statement, .. } => items.push(Item {
            keep_with_next: false,
            height_mm: WRITE_ROW + text_h(statement.chars().count().min(2000), 1.0, CHAR_MM, marpage::LINE_MM),
            markup: html! { tr { td colspan=(cols) class="mar-note" { (ctx.t(Key::MarNoMedication)) " (" (clean(statement)) ")" } } },
        }),
        Listed::Items { items: treatments } => {
            let rows = ordered_rows(treatments);
            if rows.is_empty() {
                items.push(Item {
                    keep_with_next: false,
                    height_mm: WRITE_ROW,
                    markup: html! { tr { td colspan=(cols) class="mar-note" { (ctx.t(Key::MedNoCurrent)) } } },
                });
            }
            let mut seen: Vec<&str> = Vec::new();
            for r in &rows {
                let (t, _) = row_line(r);
                if !seen.contains(&t.id.as_str()) {
                    seen.push(t.id.as_str());
                }
            }
            drugs = seen.len();
            // The boxes of every treatment, matched over all its rows at once.
            let mut prn_heading = false;
            for (ri, row) in rows.iter().enumerate() {
                let (t, line) = row_line(row);
                let slots = line_slots(line);
                match row {
                    MarRow::Give(..) => {
                        let siblings: Vec<(usize, LineSlots)> = rows
                            .iter()
                            .enumerate()
                            .filter(|(_, r)| matches!(r, MarRow::Give(..)) && std::ptr::eq(row_line(r).0, t))
                            .map(|(i, r)| (i, line_slots(row_line(r).1)))
                            .collect();
                        let me = siblings.iter().position(|(i, _)| *i == ri).unwrap_or(0);
                        let refs: Vec<&LineSlots> = siblings.iter().map(|(_, s)| s).collect();
                        let any_prn = siblings.iter().any(|(_, s)| s.as_needed);
                        let fills = fill_treatment(&ctx.tz, t, admins, &refs, days, data_time, any_prn);
                        let glucose = is_insulin(&line.drug);
                        let base_h = drug_h(t, line).max(dose_h(ctx, line, slots.see_text)).max(last_h(ctx, p, t));
                        if !slots.slots.is_empty() || !slots.as_needed {
                            let my = fills.get(me);
                            let h = days
                                .iter()
                                .enumerate()
                                .map(|(d, _)| day_h(my.and_then(|f| f.get(d)), &slots, day_w, glucose))
                                .fold(base_h, f64::max)
                                + ROW_PAD;
                            items.push(Item {
                                keep_with_next: false,
                                height_mm: h,
                                markup: html! {
                                    tr class="mar-line" {
                                        (line_cells(ctx, p, t, line, &slots, None))
                                        @for (d, day) in days.iter().enumerate() {
                                            (day_cell(ctx, line, &slots, *day, my.and_then(|f| f.get(d)), glucose))
                                        }
                                    }
                                },
                            });
                        }
                        if slots.as_needed {
                            if !prn_heading && row_group(row) == 1 {
                                prn_heading = true;
                                items.push(Item::heading(
                                    HEADING_ROW,
                                    html! { tr class="mar-section-head" { td colspan=(cols) { (ctx.t(Key::MarPrnHead)) } } },
                                ));
                            }
                            let recorded = if me == 0 { unmatched_on_days(&ctx.tz, t, admins, &fills, days) } else { Vec::new() };
                            let per_day = prn_days(ctx, line, &recorded, days, data_day);
                            let cells_h = per_day.iter().map(|d| prn_day_h(d, glucose, day_w)).fold(0.0, f64::max);
                            let h = (PRN_TITLE + ROW_PAD + cells_h).max(base_h) + ROW_PAD;
                            items.push(Item {
                                keep_with_next: false,
                                height_mm: h,
                                markup: html! {
                                    tr class="mar-line mar-prn" {
                                        (line_cells(ctx, p, t, line, &slots, Some(2)))
                                        td colspan=(days.len()) class="prn-title" { (prn_title(ctx, line)) }
                                    }
                                    tr class="mar-prn-days" {
                                        @for d in &per_day { (prn_day_cell(ctx, d, glucose)) }
                                    }
                                },
                            });
                        }
                    }
                    MarRow::Paused(..) => {
                        let h = drug_h(t, line).max(dose_h(ctx, line, slots.see_text)).max(last_h(ctx, p, t)).max(2.0 * marpage::LINE_MM) + ROW_PAD;
                        items.push(Item {
                            keep_with_next: false,
                            height_mm: h,
                            markup: html! {
                                tr class="mar-line mar-paused" {
                                    (line_cells(ctx, p, t, line, &slots, None))
                                    td colspan=(days.len()) class="mar-day off mar-stop" {
                                        (icon(Icon::Deny)) " " strong { (state_label(ctx, &t.state)) } " — " (ctx.t(Key::MedDoNotGive))
                                    }
                                }
                            },
                        });
                    }
                    MarRow::Check(..) => {
                        let reasons: usize = t.unreadable.len() + t.attention.len() + 2;
                        let h = drug_h(t, line)
                            .max(dose_h(ctx, line, slots.see_text))
                            .max(last_h(ctx, p, t))
                            .max(reasons as f64 * 2.0 * marpage::LINE_MM)
                            + ROW_PAD;
                        items.push(Item {
                            keep_with_next: false,
                            height_mm: h,
                            markup: html! {
                                tr class="mar-line mar-unreadable" {
                                    (line_cells(ctx, p, t, line, &slots, None))
                                    td colspan=(days.len()) class="mar-day off mar-stop" {
                                        (icon(Icon::Warning)) " " strong { (ctx.t(if t.unreadable.is_empty() { Key::MarCheckRow } else { Key::MarUnreadableRow })) }
                                        @for u in &t.unreadable { br; span class="sub" { (clean(&unreadable_label(ctx, u))) } }
                                        @for a in &t.attention { br; span class="sub" { (clean(&attention_label(ctx, a))) } }
                                        @if t.unreadable.is_empty() { br; span class="sub" { (ctx.t(Key::MedReadAs)) ": " (state_label(ctx, &t.state)) } }
                                    }
                                }
                            },
                        });
                    }
                }
            }
        }
    }
    items.push(Item {
        keep_with_next: false,
        height_mm: WRITE_ROW,
        markup: html! { tr class="mar-checked" { td colspan=(cols) { strong { (ctx.t(Key::MarCheckedBy)) ":" } } } },
    });
    items.push(Item::heading(
        HEADING_ROW,
        html! { tr class="mar-extra-head" { td colspan=(cols) { (ctx.t(Key::MarExtraLines)) } } },
    ));
    items.push(Item::new(
        blank_h(days.len()),
        blank_row(ctx, days, BLANK_SLOTS, true),
    ));
    (items, drugs)
}

/// Height of a sheet's header (patient, chips, data time) and footer (sheet marker,
/// legend, signature lines), mm.
fn frame_h(ctx: &PageCtx, p: &PatientRecord) -> f64 {
    let s = PatientSummary::from(p);
    let head_chars = p.identity.name.display.chars().count().min(2000)
        + location_text(ctx, p).chars().count().min(2000)
        + ctx.ward_name.chars().count()
        + ctx.t(Key::MarDataTime).chars().count()
        + data_age_text(ctx).chars().count().min(200)
        + ctx.t(Key::Printed).chars().count()
        + 190;
    let chip_chars = s
        .allergy_texts
        .iter()
        .map(|a| a.chars().count().min(2000) + 4)
        .sum::<usize>()
        + s.alert_items
            .iter()
            .map(|a| a.text.chars().count().min(2000) + 6)
            .sum::<usize>()
        + s.limits
            .iter()
            .map(|l| l.treatment.chars().count().min(2000) + 8)
            .sum::<usize>()
        + 60;
    let head = text_h(head_chars, 1.0, 2.1, 4.6) + text_h(chip_chars, 1.0, 2.3, 5.2) + 3.0;
    let legend = [
        Key::MarCodes,
        Key::MarRecordedLegend,
        Key::MarHighRiskLegend,
    ]
    .iter()
    .map(|k| ctx.t(*k).chars().count() + 1)
    .sum::<usize>();
    let foot = 4.6 + text_h(legend, 1.0, SMALL_CHAR_MM, marpage::SMALL_LINE_MM) + 8.0;
    let colhead = 6.0;
    head + colhead + foot
}

fn patient_mar(ctx: &PageCtx, p: &PatientRecord, days: &[NaiveDate]) -> Markup {
    let title = ctx.t(Key::MarTitle);
    let cols = 3 + days.len();
    let (items, drugs) = patient_items(ctx, p, days, cols);
    let capacity = marpage::SHEET_HEIGHT_MM - frame_h(ctx, p) - marpage::SLACK_MM;
    let mut sheets: Vec<Sheet> = marpage::paginate(items, capacity);
    // More handwritten lines while the last sheet has room.
    if let Some(last) = sheets.last_mut() {
        let mut used: f64 = last.iter().map(|i| i.height_mm).sum();
        let h = blank_h(days.len());
        for _ in 1..EXTRA_LINES {
            if used + h > capacity {
                break;
            }
            used += h;
            last.push(Item::new(h, blank_row(ctx, days, BLANK_SLOTS, true)));
        }
    }
    let n = sheets.len();
    html! {
        section class="mar-patient" aria-label=(format!("{title}: {}", clean(&p.identity.name.display))) {
            @for (i, sheet) in sheets.into_iter().enumerate() {
                table class="mar mar-sheet" {
                    (colgroup(days.len(), true))
                    thead {
                        tr { td colspan=(cols) class="mar-headcell" { (patient_header(ctx, p, title, (i + 1, n))) } }
                        tr {
                            th scope="col" class="mar-drughead" { (ctx.t(Key::Drug)) }
                            th scope="col" class="mar-dosehead" { (ctx.t(Key::Dose)) " / " (ctx.t(Key::Schedule)) }
                            th scope="col" class="mar-lasthead" { (ctx.t(Key::MarLastGiven)) }
                            (day_headers(ctx, days))
                        }
                    }
                    (legend_foot(ctx, cols, html! {
                        strong { (sheet_text(ctx, i + 1, n)) }
                        " — "
                        @if i + 1 == n {
                            strong class="mar-end" { (ctx.t(Key::MarEnd)) " — " (drugs) " " (ctx.t(if drugs == 1 { Key::MarDrugsOne } else { Key::MarDrugsMany })) }
                        } @else {
                            (ctx.t(Key::MarContinues)) " " (i + 2)
                        }
                    }, true))
                    tbody {
                        @for it in sheet { (it.markup) }
                    }
                }
            }
        }
    }
}

/// The column widths (style.css): the days share what drug, dosage and last given leave.
fn colgroup(days: usize, last: bool) -> Markup {
    html! {
        colgroup {
            col class="c-drug";
            col class="c-dose";
            @if last { col class="c-last"; }
            @for _ in 0..days { col class="c-day"; }
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
    let previous = days.first().is_some_and(|d| *d < ctx.today());
    let base = ctx.path.split(['?', '#']).next().unwrap_or("/");
    let ahead = days.iter().filter(|d| **d >= ctx.today()).count();
    let other = if previous {
        format!("{base}?days={ahead}")
    } else {
        format!("{base}?previous=1&days={ahead}")
    };
    let content = html! {
        h1 class="screen-only" { (title) }
        (print_hint(ctx))
        p class="screen-only mar-option" {
            a href=(other) { (ctx.t(if previous { Key::MarWithoutPrevious } else { Key::MarWithPrevious })) }
        }
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
                (colgroup(days.len(), false))
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
                (legend_foot(ctx, cols, html! { strong { (ctx.t(Key::MarCheckedBy)) ": " } }, false))
                tbody {
                    @for _ in 0..BLANK_LINES { (blank_row(ctx, &days, BLANK_SLOTS, false)) }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AsNeeded, Frequency, MaxDose, Quantity, Schedule};

    #[test]
    fn a_given_dose_box_names_the_giver_by_initials() {
        assert_eq!(initials("Anneke de Boer"), "AdB");
        assert_eq!(initials("Teun van de Ven"), "TvdV");
        assert_eq!(initials("M. Jansen"), "MJ");
        assert_eq!(initials("  Verpleegkundige  "), "Verpl…");
        assert_eq!(initials("Rob"), "Rob");
        assert_eq!(initials("a b c d e f g h"), "abcdef");
        assert_eq!(initials(""), "");
    }

    fn q(value: f64, code: &str) -> Quantity {
        Quantity {
            value,
            unit: None,
            system: Some(crate::record::medication::UCUM.into()),
            code: Some(code.into()),
        }
    }

    fn prn(dose: Option<Quantity>, max: Option<MaxDose>, freq: Option<Frequency>) -> Dosage {
        Dosage {
            dose_quantity: dose,
            max_per_period: max,
            as_needed: Some(AsNeeded { condition: None }),
            schedule: Schedule {
                frequency: freq,
                ..Schedule::default()
            },
            ..Dosage::default()
        }
    }

    #[test]
    fn as_needed_rows_come_from_the_maximum_per_day() {
        let max = |n: f64, unit: &str, per: f64, pu: &str| MaxDose {
            quantity: q(n, unit),
            per: q(per, pu),
        };
        // 30 mg per day of 5 mg: 6; 3 g per day of 1000 mg: units differ, not converted (the
        // fallback applies); 2 pieces per 4 h: 12.
        assert_eq!(
            prn_per_day(&prn(
                Some(q(5.0, "mg")),
                Some(max(30.0, "mg", 1.0, "d")),
                None
            )),
            Some(6)
        );
        assert_eq!(
            prn_per_day(&prn(
                Some(q(1000.0, "mg")),
                Some(max(3.0, "g", 1.0, "d")),
                None
            )),
            None
        );
        assert_eq!(
            prn_per_day(&prn(
                Some(q(1.0, "{stuk}")),
                Some(max(2.0, "{stuk}", 4.0, "h")),
                None
            )),
            Some(12)
        );
        // Without a usable maximum: the timing's maximum frequency per day.
        let f = Frequency {
            count: 1,
            count_max: Some(4),
            period: "1".into(),
            period_unit: "d".into(),
        };
        assert_eq!(prn_per_day(&prn(None, None, Some(f))), Some(4));
        assert_eq!(prn_per_day(&prn(None, None, None)), None);
        // Zero or negative doses never divide.
        assert_eq!(
            prn_per_day(&prn(
                Some(q(0.0, "mg")),
                Some(max(30.0, "mg", 1.0, "d")),
                None
            )),
            None
        );
        // A line's rows: the maximum, capped; the fallback when unknown.
        let line = |d: Dosage| MedicationLine {
            dosages: vec![d],
            ..MedicationLine::default()
        };
        assert_eq!(
            prn_rows(&line(prn(
                Some(q(5.0, "mg")),
                Some(max(30.0, "mg", 1.0, "d")),
                None
            ))),
            (6, true)
        );
        assert_eq!(
            prn_rows(&line(prn(
                Some(q(1.0, "mg")),
                Some(max(100.0, "mg", 1.0, "d")),
                None
            ))),
            (MAX_PRN_ROWS, true)
        );
        assert_eq!(
            prn_rows(&line(prn(None, None, None))),
            (PRN_FALLBACK_ROWS, false)
        );
    }
}
