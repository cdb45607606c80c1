//! The vocabulary the printed MAR's parts share, below all of them: the row caps (as-needed
//! rows, blank-form slots), the longest text in a box, and the words written in a box (the
//! local time of an administration, the reason a dose was not given, a giver's initials).
//! [`super::mar`] composes the sheets; `marfill`, `marheight` and `marprn` use this.

use super::text::{clean, moment};
use super::{Key, PageCtx};
use crate::record::{Administration, Moment};
use chrono::NaiveDate;

/// Rows of an as-needed block when the source gives no maximum per day.
pub(crate) const PRN_FALLBACK_ROWS: usize = 4;
/// Most rows of an as-needed block (a higher maximum is written in its heading).
pub(crate) const MAX_PRN_ROWS: usize = 12;
/// Slots per day on the blank form.
pub(crate) const BLANK_SLOTS: usize = 4;

/// Longest reason or name printed inside a box (the full text is on the patient page).
pub(crate) const BOX_TEXT: usize = 40;

pub(crate) fn short(s: &str, n: usize) -> String {
    let c = clean(s);
    if c.chars().count() > n {
        let mut t: String = c.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        c.into_owned()
    }
}

/// The local clock time of an administration, with its date when not on `day`; a dose
/// recorded with a date only reads "— tijd onbekend" (never a made-up time).
pub(crate) fn admin_time(ctx: &PageCtx, a: &Administration, day: Option<NaiveDate>) -> String {
    match a.at {
        Some(Moment::Instant(t)) => {
            let l = t.with_timezone(&ctx.tz);
            if day.is_some_and(|d| d != l.date_naive()) {
                l.format("%d-%m %H:%M").to_string()
            } else {
                l.format("%H:%M").to_string()
            }
        }
        Some(Moment::Day(d)) => {
            if day.is_some_and(|x| x != d) {
                format!("{} — {}", d.format("%d-%m"), ctx.t(Key::TimeUnknown))
            } else {
                format!("— {}", ctx.t(Key::TimeUnknown))
            }
        }
        Some(ref m) => moment(ctx, m),
        None => ctx.t(Key::Unknown).to_owned(),
    }
}

pub(crate) fn not_given_reason(a: &Administration) -> Option<&str> {
    a.status_reason.as_deref().or(a.note.as_deref())
}

/// Who gave a dose, in a given-dose box: the initials of their name as a paraaf reads
/// ("Anneke de Boer" → "AdB", a lower-case infix keeps its lower case), or a one-word name
/// cut to six characters. The full name is under "laatst gegeven" and in the EPD (legend).
pub(crate) fn initials(name: &str) -> String {
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
