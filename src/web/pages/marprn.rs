//! The as-needed (PRN) rows of the printed MAR. A drug given only as needed gets no boxes
//! but one row with a cell per printed day (so an entry always sits under its own day's
//! header), each holding the doses the EPD recorded on that local date (grey, one entry per
//! line) and then empty entries to write in: time, dose, reason, effect, paraaf (insulin
//! also glucose), at least ~6 mm high. How many: the maximum per day minus that day's
//! recorded doses. The column names are printed once above a sheet's as-needed rows
//! ([`head_row`]), not in every cell; an insulin row, whose entries have a glucose column
//! more, names its own. Also each part's printed height for the sheet splitter (`marpage`).

use super::dosetext::given;
use super::icons::{Icon, icon};
use super::marpage;
use super::marparts::{
    BOX_TEXT, MAX_PRN_ROWS, PRN_FALLBACK_ROWS, admin_time, initials, not_given_reason, short,
};
use super::marslots::{DayOff, day_off, local_date};
use super::text::units_written_out;
use super::{Key, PageCtx};
use crate::record::{Administration, Dosage, MedicationLine, Moment};
use chrono::NaiveDate;
use maud::{Markup, html};

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

/// The maximum per day (where the number of entries comes from), under an as-needed
/// drug's name, or a warning that none is recorded.
pub(crate) fn title(ctx: &PageCtx, line: &MedicationLine) -> Markup {
    let (rows, known) = prn_rows(line);
    html! {
        div class="prn-title" {
            strong { (ctx.t(Key::AsNeeded)) }
            " — "
            @if known { (ctx.t(Key::MaxDose)) " " (rows) " × " (ctx.t(Key::MarPrnRows)) } @else { strong class="prn-nomax" { (icon(Icon::Warning)) " " (ctx.t(Key::MarPrnNoMax)) } }
        }
    }
}

/// The height of [`title`] in the drug column, mm.
pub(crate) fn title_h(ctx: &PageCtx, line: &MedicationLine) -> f64 {
    let (_, known) = prn_rows(line);
    let text = if known {
        format!(
            "{} — {} 12 × {}",
            ctx.t(Key::AsNeeded),
            ctx.t(Key::MaxDose),
            ctx.t(Key::MarPrnRows)
        )
    } else {
        format!("{} — WW {}", ctx.t(Key::AsNeeded), ctx.t(Key::MarPrnNoMax))
    };
    super::marheight::wrap_h(
        &[super::marheight::Run {
            text: &text,
            cap_mm: super::marheight::CAP_MM,
            char_mm: super::marheight::CHAR_MM,
            line_mm: marpage::LINE_MM,
        }],
        super::marheight::DRUG_COL * marpage::SHEET_WIDTH_MM - super::marheight::ROW_PAD,
    ) + 0.5
}

/// What one day's as-needed cell holds.
pub(crate) struct PrnDay<'a> {
    /// Doses the EPD recorded on this day (local date), in time order (a dose with a
    /// date only after the timed ones).
    pub recorded: Vec<&'a Administration>,
    /// Empty entries to write in.
    pub empty: usize,
    /// The day lies before the data time and nothing was recorded on it.
    pub before: bool,
    pub off: Option<DayOff>,
}

/// Splits an as-needed line's recorded doses over the printed days and counts each day's
/// empty entries: the maximum per day minus the doses recorded that day, at least one, on
/// the data time's day and later; none on a day before the data time (nothing can be
/// written there any more) or a day the line does not run.
pub(crate) fn days<'a>(
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

/// One entry of an as-needed day cell: a dose the EPD recorded, or an empty row to write
/// in. The entry's day is its column, so the time goes without a date.
fn cells(ctx: &PageCtx, a: Option<&Administration>, glucose: bool) -> Markup {
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

/// The names of an entry's columns.
fn col_heads(ctx: &PageCtx, glucose: bool) -> Markup {
    html! {
        tr {
            th scope="col" class="prn-time" { (ctx.t(Key::MarPrnTime)) }
            th scope="col" class="prn-dose" { (ctx.t(Key::MarPrnDose)) }
            @if glucose { th scope="col" class="prn-gluc" { (ctx.t(Key::MarGlucose)) } }
            th scope="col" class="prn-reason" { (ctx.t(Key::MarPrnReason)) }
            th scope="col" class="prn-effect" { (ctx.t(Key::MarPrnEffect)) }
            th scope="col" class="prn-init" { (ctx.t(Key::MarInitials)) }
        }
    }
}

/// The row above a sheet's as-needed rows: the section's name over drug, dosage and last
/// given (`lead` columns), and over every day the names of the entries' columns, aligned
/// with the entries below (same fixed column shares).
pub(crate) fn head_row(ctx: &PageCtx, lead: usize, days: usize) -> Markup {
    html! {
        tr class="mar-section-head mar-prn-head" {
            td colspan=(lead) { (ctx.t(Key::MarPrnHead)) }
            @for _ in 0..days {
                td class="mar-prnhead" { table class="prntab" { thead { (col_heads(ctx, false)) } } }
            }
        }
    }
}

/// One day's cell of an as-needed row: that day's recorded doses, one entry per line,
/// then its empty entries.
pub(crate) fn day_cell(ctx: &PageCtx, d: &PrnDay<'_>, glucose: bool) -> Markup {
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
                        @if glucose { thead { (col_heads(ctx, true)) } }
                        tbody {
                            @for e in &entries {
                                tr class="prn-row" { (cells(ctx, *e, glucose)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Printed heights (style.css, print: `table.prntab td` 5.2 mm, 6 mm with its borders and
/// padding; 7 pt text on 2.8 mm lines),
/// mm: an entry row, the column names (the shared head row; insulin's own, whose glucose
/// heading wraps to three lines).
pub(crate) const ROW_MM: f64 = 6.0;
const HEAD_ROW_MM: f64 = 5.0;
const HEAD_GLUC_MM: f64 = 8.8;
const LINE_MM: f64 = 2.8;
const CHAR_MM: f64 = 1.45;

/// The shared head row (its column names in 5.5 pt, one line also in a four-day column).
pub(crate) fn head_h(_day_w: f64) -> f64 {
    HEAD_ROW_MM
}

/// A recorded entry's row: its time, dose and reason wrap in their columns (style.css's
/// `.prn-*` shares of the day column `day_w` mm; insulin's narrower).
fn rec_h(a: &Administration, glucose: bool, day_w: f64) -> f64 {
    let (time_share, dose_share, why_share) = if glucose {
        (0.18, 0.13, 0.19)
    } else {
        (0.17, 0.18, 0.25)
    };
    let time = if matches!(a.at, Some(Moment::Day(_))) {
        16
    } else {
        7
    };
    let why = match given(a) {
        Some(false) => not_given_reason(a).map_or(0, |r| r.chars().count().min(BOX_TEXT)),
        _ => 7,
    };
    let dose = a.dose.as_ref().map_or(0, |d| d.chars().count().min(24));
    let col = |chars: usize, share: f64| {
        marpage::lines(chars, marpage::per_line(day_w * share - 0.6, CHAR_MM))
    };
    let lines = col(time, time_share)
        .max(col(why, why_share))
        .max(col(dose, dose_share));
    (lines as f64 * LINE_MM + 0.8).max(ROW_MM)
}

/// One day's as-needed cell: insulin's own column names, the recorded entries, the empty
/// ones, and the reason a day is off.
pub(crate) fn day_h(d: &PrnDay<'_>, glucose: bool, day_w: f64) -> f64 {
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
    let head = if glucose { HEAD_GLUC_MM } else { 0.0 };
    let rec: f64 = d.recorded.iter().map(|a| rec_h(a, glucose, day_w)).sum();
    off + head + rec + d.empty as f64 * ROW_MM
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AsNeeded, Frequency, MaxDose, Quantity, Schedule};

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
