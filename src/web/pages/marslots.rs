//! Which initials boxes a medication line gets on the printed MAR each day: its scheduled
//! clock times in order (no duplicates), blank-time boxes for "3 × per dag" without times,
//! none for as-needed dosages (they get an as-needed row, `marprn`), and whether the
//! schedule must be read in the source text; and the days a line has no boxes (a weekday
//! it does not run, before its start, after its end or a planned stop or pause).

use super::PageCtx;
use crate::record::{Dosage, MedicationLine, Moment, Text};
use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};

/// Most initials slots per line per day (more are summarised as "see text").
pub(crate) const MAX_SLOTS: usize = 12;

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

pub(super) fn local_date(ctx: &PageCtx, m: &Moment) -> Option<NaiveDate> {
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
