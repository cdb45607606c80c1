//! When the served state can next change without new data: every state the medication rule
//! ([`super::medication::resolve`]) decides compares a block's moments with the mapping's
//! `now` (an end has passed, a start has come, a stop or pause order took effect, a
//! replacement started). [`next_change`] is the earliest of those moments after `now`; the
//! daemon maps the kept snapshot again when it passes, so a course that ends overnight
//! during an outage is no longer shown as current the next morning.
//!
//! Over-approximating is harmless (one needless re-mapping); missing a moment is not, so
//! every moment of every period is taken both at its earliest instant and at the end of
//! what it denotes (a date-only end lasts through its day).

use super::Moment;
use super::medication::BlockFacts;
use chrono::{DateTime, Utc};

/// Every instant at which the rule may decide differently about a block with `facts`: the
/// start and the end of each period (each taken as its earliest instant and as the first
/// instant after it) and the stop order's date.
pub fn block_moments(facts: &BlockFacts) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    facts
        .periods
        .iter()
        .flat_map(|s| [s.start, s.end])
        .chain(std::iter::once(facts.stop_date()))
        .flatten()
        .flat_map(moment_edges)
}

/// The earliest instant and the first instant after `m`.
pub fn moment_edges(m: Moment) -> impl Iterator<Item = DateTime<Utc>> {
    [m.earliest_utc(), m.end_exclusive()].into_iter().flatten()
}

/// The earliest of `moments` strictly after `now` (`None`: nothing changes by the clock).
pub fn earliest_after(
    now: DateTime<Utc>,
    moments: impl IntoIterator<Item = DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    moments.into_iter().filter(|t| *t > now).min()
}

/// The next instant after `now` at which the state of any of `blocks` can change.
pub fn next_change<'a>(
    blocks: impl IntoIterator<Item = &'a BlockFacts>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    earliest_after(now, blocks.into_iter().flat_map(block_moments))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::medication::{
        Block, BlockStatus, Drug, MedicationKind, MedicationLine, Span, StopKind, Treatment,
        TreatmentState, resolve,
    };
    use chrono::{Duration, NaiveDate};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().into()
    }

    fn now() -> DateTime<Utc> {
        at("2026-12-08T06:00:00Z")
    }

    fn line(id: &str, start: Option<Moment>, end: Option<Moment>) -> MedicationLine {
        MedicationLine {
            kind: MedicationKind::Agreement,
            id: id.into(),
            drug: Drug {
                name: "amoxicilline".into(),
                ..Default::default()
            },
            facts: BlockFacts {
                periods: vec![Span { start, end }],
                registered: Some(Moment::Instant(at("2026-12-01T08:00:00Z"))),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn treatment(blocks: &[Block], now: DateTime<Utc>) -> Treatment {
        resolve("t".into(), None, blocks.to_vec(), now)
    }

    /// The moment found is the one at which the treatment's state really changes: the
    /// same state just before it as at `now`, another one at it.
    fn changes_exactly_at(blocks: &[Block], want: DateTime<Utc>) {
        let facts: Vec<&BlockFacts> = blocks.iter().map(|b| &b.line.facts).collect();
        let got = next_change(facts, now());
        assert_eq!(got, Some(want));
        let before = treatment(blocks, want - Duration::seconds(1)).state;
        assert_eq!(treatment(blocks, now()).state, before);
        assert_ne!(treatment(blocks, want).state, before);
    }

    fn block(line: MedicationLine, refers: &[usize]) -> Block {
        Block {
            line,
            refers: refers.to_vec(),
        }
    }

    #[test]
    fn an_instant_end_is_the_next_change() {
        let end = at("2026-12-08T10:00:00Z");
        let b = [block(
            line(
                "a",
                Some(Moment::Instant(at("2026-12-01T08:00:00Z"))),
                Some(Moment::Instant(end)),
            ),
            &[],
        )];
        changes_exactly_at(&b, end);
        assert!(matches!(
            treatment(&b, end).state,
            TreatmentState::Ended { .. }
        ));
    }

    #[test]
    fn a_date_end_changes_after_its_day() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 9).unwrap();
        let b = [block(
            line(
                "a",
                Some(Moment::Day(d - Duration::days(7))),
                Some(Moment::Day(d)),
            ),
            &[],
        )];
        let facts = [&b[0].line.facts];
        // The day's start is taken too (harmless), the state changes at its end.
        assert_eq!(next_change(facts, now()), Some(at("2026-12-09T00:00:00Z")));
        assert_eq!(
            next_change(facts, at("2026-12-09T00:00:00Z")),
            Some(at("2026-12-10T00:00:00Z"))
        );
        assert!(treatment(&b, at("2026-12-09T23:59:59Z")).state.listed_now());
        assert!(!treatment(&b, at("2026-12-10T00:00:00Z")).state.listed_now());
    }

    #[test]
    fn a_future_start_is_the_next_change() {
        let start = at("2026-12-08T07:30:00Z");
        let b = [block(line("a", Some(Moment::Instant(start)), None), &[])];
        changes_exactly_at(&b, start);
        assert!(matches!(
            treatment(&b, now()).state,
            TreatmentState::Future { .. }
        ));
        assert!(matches!(
            treatment(&b, start).state,
            TreatmentState::Current { .. }
        ));
    }

    #[test]
    fn a_planned_stop_order_is_the_next_change() {
        let on = at("2026-12-08T12:00:00Z");
        let mut stop = line(
            "s",
            Some(Moment::Instant(at("2026-12-01T08:00:00Z"))),
            Some(Moment::Instant(on)),
        );
        stop.facts.stop = Some(StopKind::Stopped);
        let b = [
            block(
                line("a", Some(Moment::Instant(at("2026-12-01T08:00:00Z"))), None),
                &[],
            ),
            block(stop, &[0]),
        ];
        changes_exactly_at(&b, on);
        assert!(matches!(
            treatment(&b, on).state,
            TreatmentState::Stopped { .. }
        ));
    }

    #[test]
    fn a_planned_pause_is_the_next_change() {
        let on = at("2026-12-08T09:00:00Z");
        let mut pause = line(
            "p",
            Some(Moment::Instant(at("2026-12-01T08:00:00Z"))),
            Some(Moment::Instant(on)),
        );
        pause.facts.stop = Some(StopKind::Paused);
        let b = [
            block(
                line("a", Some(Moment::Instant(at("2026-12-01T08:00:00Z"))), None),
                &[],
            ),
            block(pause, &[0]),
        ];
        changes_exactly_at(&b, on);
        assert!(matches!(
            treatment(&b, on).state,
            TreatmentState::Paused { .. }
        ));
    }

    #[test]
    fn a_replacement_start_is_the_next_change() {
        let from = at("2026-12-08T14:00:00Z");
        let b = [
            block(
                line(
                    "old",
                    Some(Moment::Instant(at("2026-12-01T08:00:00Z"))),
                    None,
                ),
                &[],
            ),
            block(line("new", Some(Moment::Instant(from)), None), &[0]),
        ];
        let facts: Vec<&BlockFacts> = b.iter().map(|x| &x.line.facts).collect();
        assert_eq!(next_change(facts, now()), Some(from));
        let before = treatment(&b, now());
        let after = treatment(&b, from);
        let fate_of = |t: &Treatment, id: &str| {
            t.blocks
                .iter()
                .find(|l| l.id == id)
                .map(|l| l.fate.clone())
                .unwrap()
        };
        assert_ne!(fate_of(&before, "old"), fate_of(&after, "old"));
        assert!(fate_of(&after, "new").is_in_force());
    }

    #[test]
    fn a_status_that_decides_alone_still_yields_moments_but_past_ones_do_not_count() {
        let mut l = line(
            "a",
            Some(Moment::Instant(at("2026-11-01T08:00:00Z"))),
            Some(Moment::Instant(at("2026-11-08T08:00:00Z"))),
        );
        l.facts.status = BlockStatus::Completed;
        assert_eq!(next_change([&l.facts], now()), None);
        let open = line("b", Some(Moment::Instant(at("2026-11-01T08:00:00Z"))), None);
        assert_eq!(next_change([&open.facts], now()), None);
    }

    #[test]
    fn the_earliest_of_many_blocks_is_taken() {
        let a = line("a", None, Some(Moment::Instant(at("2026-12-09T10:00:00Z"))));
        let b = line("b", Some(Moment::Instant(at("2026-12-08T22:00:00Z"))), None);
        let c = line("c", None, Some(Moment::Instant(at("2026-12-07T10:00:00Z"))));
        assert_eq!(
            next_change([&a.facts, &b.facts, &c.facts], now()),
            Some(at("2026-12-08T22:00:00Z"))
        );
        assert_eq!(earliest_after(now(), [now()]), None);
    }
}
