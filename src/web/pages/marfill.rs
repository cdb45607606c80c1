//! What the EPD recorded in each box of the printed MAR: administrations matched to the
//! scheduled slots of their treatment, so a dose already given (or recorded as not given)
//! before the data time (*peilmoment*) is never printed as an empty box.
//!
//! The rule (docs/ARCHITECTURE.md, "MAR: given doses"):
//! 1. An administration belongs to a treatment as on the patient page
//!    ([`super::medgroup::owns`]: its treatment id, else one of the treatment's blocks).
//! 2. **Timed slots** (fixed clock times): each administration goes to the nearest slot of
//!    its treatment within [`MATCH_WINDOW_MINUTES`] (and never past half the gap to the
//!    neighbouring slot, so 08:00 and 09:00 cannot both claim 08:35); nearest pairs first,
//!    one administration per slot and one slot per administration.
//! 3. **Untimed slots** ("3 × per dag" without times): the administrations of that day
//!    still unmatched fill them in clock order.
//! 4. Whatever is left on a printed day is an **extra**: printed in that day's cell ("ook:
//!    G 10:40"), never dropped. An as-needed drug's doses go to its PRN block instead.
//!    A dose the EPD recorded with a **date only** (no time of day) never takes a box (a box
//!    would claim a time): it is an extra of its day, "G — tijd onbekend", after the
//!    timed ones.
//! 5. A slot without a match is *vóór peilmoment* when it lies before the data time (an
//!    untimed slot: when its whole day does), else an open box for initials.

use super::marslots::{LineSlots, Slot};
use super::medgroup::owns;
use crate::record::{Administration, Moment, Treatment};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

/// How far from its scheduled time an administration is still taken as that slot's dose.
pub(crate) const MATCH_WINDOW_MINUTES: i64 = 120;

/// What one box shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fill<'a> {
    /// The EPD recorded this administration for the slot.
    Recorded(&'a Administration),
    /// Before the data time and nothing recorded: greyed.
    BeforeDataTime,
    /// After the data time: an empty box for initials.
    Open,
}

/// One row's boxes on one day, and the administrations of that day that fit no box.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DayFill<'a> {
    pub slots: Vec<(Slot, Option<Fill<'a>>)>,
    pub extra: Vec<&'a Administration>,
}

/// The instant of an administration, when it has one.
pub(crate) fn instant(a: &Administration) -> Option<DateTime<Utc>> {
    match a.at {
        Some(Moment::Instant(t)) => Some(t),
        _ => None,
    }
}

/// The day of an administration recorded with a date but no time of day.
pub(crate) fn date_only(a: &Administration) -> Option<NaiveDate> {
    match a.at {
        Some(Moment::Day(d)) => Some(d),
        _ => None,
    }
}

/// A ward-local date and time as an instant (the earlier one in a DST fold; none in a gap).
fn local_instant<Tz: TimeZone>(
    tz: &Tz,
    day: NaiveDate,
    t: chrono::NaiveTime,
) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&day.and_time(t))
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

/// The boxes of the rows of one treatment over the printed days.
///
/// `rows` are the slots of each row of the treatment that gets boxes (as-needed slots
/// excluded by the caller), `days` the printed days, `data_time` the peilmoment (none: no
/// data, every box open). The result is indexed `[row][day]`; extras go to the first row.
pub(crate) fn fill_treatment<'a, Tz: TimeZone>(
    tz: &Tz,
    t: &Treatment,
    admins: &'a [Administration],
    rows: &[&LineSlots],
    days: &[NaiveDate],
    data_time: Option<DateTime<Utc>>,
    prn_takes_rest: bool,
) -> Vec<Vec<DayFill<'a>>> {
    // Every timed slot instance: (row, day, slot index, instant).
    let mut timed: Vec<(usize, usize, usize, DateTime<Utc>)> = Vec::new();
    for (r, slots) in rows.iter().enumerate() {
        for (d, day) in days.iter().enumerate() {
            for (i, s) in slots.slots.iter().enumerate() {
                if let Slot::At(time) = s
                    && let Some(at) = local_instant(tz, *day, *time)
                {
                    timed.push((r, d, i, at));
                }
            }
        }
    }
    let mut mine: Vec<(&'a Administration, DateTime<Utc>)> = admins
        .iter()
        .filter(|a| owns(t, a))
        .filter_map(|a| instant(a).map(|at| (a, at)))
        .collect();
    mine.sort_by_key(|x| x.1);
    // The window of each slot: the general bound, and half the gap to its neighbours.
    let mut instants: Vec<DateTime<Utc>> = timed.iter().map(|x| x.3).collect();
    instants.sort();
    instants.dedup();
    let window = |at: DateTime<Utc>| -> Duration {
        let mut w = Duration::minutes(MATCH_WINDOW_MINUTES);
        let pos = instants.partition_point(|x| *x < at);
        let before = pos.checked_sub(1).and_then(|p| instants.get(p));
        let after = instants.get(pos + 1);
        for n in [before, after].into_iter().flatten() {
            let half = (*n - at).abs() / 2;
            if half < w {
                w = half;
            }
        }
        w
    };
    let mut pairs: Vec<(Duration, usize, usize)> = Vec::new();
    for (ai, (_, at)) in mine.iter().enumerate() {
        for (si, slot) in timed.iter().enumerate() {
            let diff = (*at - slot.3).abs();
            if diff <= window(slot.3) {
                pairs.push((diff, ai, si));
            }
        }
    }
    pairs.sort_by_key(|p| (p.0, p.1, p.2));
    let mut admin_used = vec![false; mine.len()];
    let mut slot_of: Vec<Option<usize>> = vec![None; timed.len()];
    for (_, ai, si) in pairs {
        if admin_used.get(ai).copied().unwrap_or(true) {
            continue;
        }
        if let Some(slot) = slot_of.get_mut(si)
            && slot.is_none()
        {
            *slot = Some(ai);
            if let Some(u) = admin_used.get_mut(ai) {
                *u = true;
            }
        }
    }
    // Build the result, filling untimed slots from the day's unmatched administrations.
    let mut out: Vec<Vec<DayFill<'a>>> = rows
        .iter()
        .map(|_| days.iter().map(|_| DayFill::default()).collect())
        .collect();
    let day_of = |at: DateTime<Utc>| at.with_timezone(tz).date_naive();
    for (r, slots) in rows.iter().enumerate() {
        for (d, day) in days.iter().enumerate() {
            let mut cells = Vec::with_capacity(slots.slots.len());
            for (i, s) in slots.slots.iter().enumerate() {
                let fill = match s {
                    Slot::At(_) => {
                        let k = timed.iter().position(|x| x.0 == r && x.1 == d && x.2 == i);
                        match k.and_then(|k| slot_of.get(k).copied().flatten()) {
                            Some(ai) => mine.get(ai).map(|(a, _)| Fill::Recorded(a)),
                            None => {
                                let at = k.and_then(|k| timed.get(k)).map(|x| x.3);
                                Some(match (at, data_time) {
                                    (Some(at), Some(dt)) if at < dt => Fill::BeforeDataTime,
                                    _ => Fill::Open,
                                })
                            }
                        }
                    }
                    Slot::Blank => {
                        let next = mine.iter().enumerate().find(|(ai, (_, at))| {
                            !admin_used.get(*ai).copied().unwrap_or(true) && day_of(*at) == *day
                        });
                        match next.map(|(ai, (a, at))| (ai, *a, *at)) {
                            Some((ai, a, _)) => {
                                if let Some(u) = admin_used.get_mut(ai) {
                                    *u = true;
                                }
                                Some(Fill::Recorded(a))
                            }
                            None => Some(match data_time {
                                Some(dt) if *day < day_of(dt) => Fill::BeforeDataTime,
                                _ => Fill::Open,
                            }),
                        }
                    }
                };
                cells.push((*s, fill));
            }
            if let Some(cell) = out.get_mut(r).and_then(|row| row.get_mut(d)) {
                cell.slots = cells;
            }
        }
    }
    if !prn_takes_rest {
        for (ai, (a, at)) in mine.iter().enumerate() {
            if admin_used.get(ai).copied().unwrap_or(true) {
                continue;
            }
            if let Some(d) = days.iter().position(|day| *day == day_of(*at))
                && let Some(cell) = out.get_mut(0).and_then(|row| row.get_mut(d))
            {
                cell.extra.push(a);
            }
        }
        // Doses with a date only: extras of their day, after the timed ones.
        for a in admins.iter().filter(|a| owns(t, a)) {
            if let Some(day) = date_only(a)
                && let Some(d) = days.iter().position(|x| *x == day)
                && let Some(cell) = out.get_mut(0).and_then(|row| row.get_mut(d))
            {
                cell.extra.push(a);
            }
        }
    }
    out
}

/// Where a dose stands in its day: (day, date only, instant); a dose with a date only
/// after the timed ones.
type DayOrder = (NaiveDate, bool, Option<DateTime<Utc>>);

/// The administrations of a treatment that no box took on the printed days (for an
/// as-needed drug's block): its doses on those days, in clock order; a dose with a date
/// only comes after the timed doses of its day.
pub(crate) fn unmatched_on_days<'a, Tz: TimeZone>(
    tz: &Tz,
    t: &Treatment,
    admins: &'a [Administration],
    fills: &[Vec<DayFill<'a>>],
    days: &[NaiveDate],
) -> Vec<&'a Administration> {
    let taken: Vec<*const Administration> = fills
        .iter()
        .flatten()
        .flat_map(|d| d.slots.iter())
        .filter_map(|(_, f)| match f {
            Some(Fill::Recorded(a)) => Some(*a as *const Administration),
            _ => None,
        })
        .collect();
    // (day, timed, instant): a date-only dose is "some time on its day", after no timed one.
    let mut v: Vec<(&'a Administration, DayOrder)> = admins
        .iter()
        .filter(|a| owns(t, a))
        .filter(|a| !taken.contains(&(*a as *const Administration)))
        .filter_map(|a| match (instant(a), date_only(a)) {
            (Some(at), _) => Some((a, (at.with_timezone(tz).date_naive(), false, Some(at)))),
            (None, Some(d)) => Some((a, (d, true, None))),
            (None, None) => None,
        })
        .filter(|(_, k)| days.contains(&k.0))
        .collect();
    v.sort_by_key(|x| x.1);
    v.into_iter().map(|x| x.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Treatment, TreatmentState};
    use chrono::NaiveTime;

    fn t() -> Treatment {
        Treatment {
            id: "T1".into(),
            state: TreatmentState::Current {
                ends: None,
                stop_planned: None,
                pause_planned: None,
                resumed_after_pause: None,
            },
            identifier: None,
            blocks: vec![],
            omitted: 0,
            attention: vec![],
            unreadable: vec![],
        }
    }

    fn adm(at: &str, status: &str) -> Administration {
        Administration {
            drug: "x".into(),
            dose: None,
            route: None,
            at: Some(Moment::Instant(at.parse().unwrap())),
            status: Some(status.into()),
            performer: None,
            line_id: None,
            note: None,
            treatment_id: Some("T1".into()),
            dose_quantity: None,
            status_reason: None,
        }
    }

    fn hm(h: u32, m: u32) -> Slot {
        Slot::At(NaiveTime::from_hms_opt(h, m, 0).unwrap())
    }

    #[test]
    fn doses_fill_their_nearest_slot_and_the_rest_is_before_or_after_the_data_time() {
        let slots = LineSlots {
            slots: vec![hm(8, 0), hm(12, 0), hm(18, 0)],
            see_text: false,
            as_needed: false,
        };
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let admins = vec![
            adm("2026-12-07T08:02:00Z", "completed"),
            adm("2026-12-07T12:30:00Z", "not-done"),
            // An extra dose far from any slot, and one from another treatment.
            adm("2026-12-07T15:00:00Z", "completed"),
            Administration {
                treatment_id: Some("T2".into()),
                ..adm("2026-12-07T18:00:00Z", "completed")
            },
        ];
        let dt: DateTime<Utc> = "2026-12-07T17:39:00Z".parse().unwrap();
        let f = fill_treatment(&Utc, &t(), &admins, &[&slots], &[day], Some(dt), false);
        let cell = &f[0][0];
        assert_eq!(cell.slots[0].1, Some(Fill::Recorded(&admins[0])));
        assert_eq!(cell.slots[1].1, Some(Fill::Recorded(&admins[1])));
        // 18:00 is after the data time: an open box, not the other treatment's dose.
        assert_eq!(cell.slots[2].1, Some(Fill::Open));
        assert_eq!(cell.extra, vec![&admins[2]]);
        // Without the 12:30 record, 12:00 lies before the data time.
        let f = fill_treatment(&Utc, &t(), &admins[..1], &[&slots], &[day], Some(dt), false);
        assert_eq!(f[0][0].slots[1].1, Some(Fill::BeforeDataTime));
    }

    #[test]
    fn close_slots_split_the_gap_and_one_dose_fills_one_slot() {
        let slots = LineSlots {
            slots: vec![hm(8, 0), hm(9, 0)],
            see_text: false,
            as_needed: false,
        };
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let admins = vec![adm("2026-12-07T08:35:00Z", "completed")];
        let f = fill_treatment(&Utc, &t(), &admins, &[&slots], &[day], None, false);
        assert_eq!(f[0][0].slots[0].1, Some(Fill::Open));
        assert_eq!(f[0][0].slots[1].1, Some(Fill::Recorded(&admins[0])));
        // A dose just after midnight belongs to the previous evening's slot when nearer.
        let late = LineSlots {
            slots: vec![hm(23, 0)],
            see_text: false,
            as_needed: false,
        };
        let next = day.succ_opt().unwrap();
        let admins = vec![adm("2026-12-08T00:20:00Z", "completed")];
        let f = fill_treatment(&Utc, &t(), &admins, &[&late], &[day, next], None, false);
        assert_eq!(f[0][0].slots[0].1, Some(Fill::Recorded(&admins[0])));
        assert!(f[0][1].extra.is_empty());
    }

    #[test]
    fn untimed_slots_take_the_days_doses_in_order_and_prn_doses_stay_for_the_block() {
        let slots = LineSlots {
            slots: vec![Slot::Blank, Slot::Blank],
            see_text: false,
            as_needed: false,
        };
        let d1 = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let admins = vec![
            adm("2026-12-07T14:00:00Z", "completed"),
            adm("2026-12-07T07:00:00Z", "completed"),
        ];
        let dt: DateTime<Utc> = "2026-12-07T15:00:00Z".parse().unwrap();
        let f = fill_treatment(&Utc, &t(), &admins, &[&slots], &[d1, d2], Some(dt), false);
        assert_eq!(f[0][0].slots[0].1, Some(Fill::BeforeDataTime));
        assert_eq!(f[0][1].slots[0].1, Some(Fill::Recorded(&admins[1])));
        assert_eq!(f[0][1].slots[1].1, Some(Fill::Recorded(&admins[0])));
        // As needed: no boxes, every dose of the printed days for the block.
        let none = LineSlots {
            slots: vec![],
            see_text: false,
            as_needed: true,
        };
        let f = fill_treatment(&Utc, &t(), &admins, &[&none], &[d1, d2], Some(dt), true);
        assert!(f[0][1].extra.is_empty());
        let rest = unmatched_on_days(&Utc, &t(), &admins, &f, &[d1, d2]);
        assert_eq!(rest, vec![&admins[1], &admins[0]]);
    }
}
