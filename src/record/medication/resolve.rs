//! The rule across one treatment's blocks: stop orders end the blocks they refer to,
//! replacements supersede, and the treatment's state follows its leading kind.

use super::block::{Attention, Fate, MedicationKind, MedicationLine, Unreadable, earlier};
use super::fate::{apply_stop, block_state, max_moment, min_moment, severity};
use super::treatment::{MAX_BLOCKS_PER_TREATMENT, Treatment, TreatmentState, lead_kind};
use crate::record::Text;
use chrono::{DateTime, Utc};

/// One building block as input to [`resolve`]: the line and the blocks of the same
/// treatment it refers to (priorPrescription, basedOn, authorizingPrescription...).
#[derive(Debug, Clone)]
pub struct Block {
    /// The building block.
    pub line: MedicationLine,
    /// Indices (into the same `Vec<Block>`) of the blocks this one refers to.
    pub refers: Vec<usize>,
}

fn sort_key(l: &MedicationLine) -> (MedicationKind, std::cmp::Reverse<Option<DateTime<Utc>>>) {
    let when = l
        .start
        .or(l.facts.registered)
        .and_then(|m| m.earliest_utc());
    (l.kind, std::cmp::Reverse(when))
}

/// Decides the fate of every block and the state of the treatment at `now`.
pub fn resolve(
    id: Text,
    identifier: Option<Text>,
    blocks: Vec<Block>,
    now: DateTime<Utc>,
) -> Treatment {
    let n = blocks.len();
    let own: Vec<Fate> = blocks
        .iter()
        .map(|b| block_state(&b.line.facts, now))
        .collect();
    let mut fate = own.clone();

    // Stop orders end their targets.
    for s in 0..n {
        let Some(Fate::StopOrder { stop, on }) = own.get(s).cloned() else {
            continue;
        };
        let Some(sb) = blocks.get(s) else { continue };
        let kind = sb.line.kind;
        let is_target = |t: usize| {
            t != s
                && blocks.get(t).is_some_and(|b| b.line.kind == kind)
                && !matches!(own.get(t), Some(Fate::StopOrder { .. }))
        };
        let mut targets: Vec<usize> = sb
            .refers
            .iter()
            .copied()
            .filter(|&t| is_target(t))
            .collect();
        if targets.is_empty() {
            targets = (0..n)
                .filter(|&t| is_target(t))
                .filter(|&t| {
                    let Some(b) = blocks.get(t) else { return false };
                    // A block starting at or after the stop date is what comes next (a
                    // replacement, a resume), not what the order stops.
                    let starts_before = match (b.line.facts.start().or(b.line.facts.registered), on)
                    {
                        (Some(st), Some(o)) => earlier(&st, &o),
                        _ => true,
                    };
                    let registered_after = match (b.line.facts.registered, sb.line.facts.registered)
                    {
                        (Some(bt), Some(st)) => earlier(&st, &bt),
                        _ => false,
                    };
                    starts_before && !registered_after
                })
                .collect();
        }
        if targets.is_empty() {
            // A stop order on its own stands for the therapy it stops: that therapy ran
            // from the order's start until the stop date (its period ends there because
            // of the stop, not before it).
            let base = match sb.line.facts.start() {
                Some(st) if st.earliest_utc().is_some_and(|t| t > now) => {
                    Fate::NotYetStarted { starts: st }
                }
                _ => Fate::default(),
            };
            if let Some(f) = fate.get_mut(s) {
                *f = apply_stop(&base, stop, on, now);
            }
            continue;
        }
        for t in targets {
            if let Some(f) = fate.get_mut(t) {
                let next = apply_stop(f, stop, on, now);
                if severity(&next) >= severity(f) {
                    *f = next;
                }
            }
        }
    }

    // Replacements supersede what they refer to.
    for b2 in 0..n {
        let Some(b) = blocks.get(b2) else { continue };
        if matches!(
            fate.get(b2),
            Some(Fate::Cancelled | Fate::Draft | Fate::StopOrder { .. }) | None
        ) || matches!(own.get(b2), Some(Fate::StopOrder { .. }))
        {
            continue;
        }
        let started = b
            .line
            .facts
            .start()
            .and_then(|m| m.earliest_utc())
            .is_none_or(|t| t <= now);
        for &t in &b.refers {
            if t == b2 || blocks.get(t).is_none_or(|x| x.line.kind != b.line.kind) {
                continue;
            }
            let Some(f) = fate.get_mut(t) else { continue };
            match f {
                Fate::InForce { stop_planned, .. } if !started => {
                    *stop_planned = min_moment(*stop_planned, b.line.facts.start());
                }
                Fate::InForce { .. } | Fate::NotYetStarted { .. } if started => {
                    *f = Fate::Superseded {
                        by: b.line.id.clone(),
                        from: b.line.facts.start(),
                    };
                }
                _ => {}
            }
        }
    }

    // An administration agreement or regimen follows the agreement it is based on: when
    // that agreement was stopped, paused, cancelled, replaced or ended, the instruction
    // based on it does not run either (the pharmacy's own stop may not have arrived yet).
    for t in 0..n {
        let Some(b) = blocks.get(t) else { continue };
        if !matches!(
            b.line.kind,
            MedicationKind::AdministrationAgreement | MedicationKind::VariableDosingRegimen
        ) || !fate.get(t).is_some_and(Fate::is_in_force)
        {
            continue;
        }
        let base_fates: Vec<Fate> = b
            .refers
            .iter()
            .filter(|&&r| {
                blocks
                    .get(r)
                    .is_some_and(|x| x.line.kind == MedicationKind::Agreement)
                    && !matches!(own.get(r), Some(Fate::StopOrder { .. }))
            })
            .filter_map(|&r| fate.get(r).cloned())
            .collect();
        if base_fates.is_empty() || base_fates.iter().any(Fate::is_in_force) {
            continue;
        }
        let follow = base_fates
            .into_iter()
            .filter(|f| {
                matches!(
                    f,
                    Fate::Stopped { .. }
                        | Fate::Paused { .. }
                        | Fate::Cancelled
                        | Fate::Superseded { .. }
                        | Fate::Ended { .. }
                )
            })
            .max_by_key(severity);
        if let (Some(f), Some(slot)) = (follow, fate.get_mut(t)) {
            *slot = f;
        }
    }

    let mut lines: Vec<MedicationLine> = blocks
        .into_iter()
        .zip(fate)
        .map(|(b, f)| {
            let mut l = b.line;
            l.fate = f;
            l
        })
        .collect();
    lines.sort_by_key(sort_key);

    let lead = lead_kind(lines.iter().map(|l| l.kind));
    let of_lead = || lines.iter().filter(|l| l.kind == lead);
    let mut in_force = 0u32;
    let (mut ends, mut open, mut stop_planned, mut pause_planned) = (None, false, None, None);
    let (mut paused, mut paused_since, mut starts) = (false, None, None);
    let (mut stopped, mut stopped_on, mut ended, mut ended_on) = (false, None, false, None);
    let (mut cancelled, mut draft) = (false, false);
    for l in of_lead() {
        match &l.fate {
            Fate::InForce {
                ends: e,
                stop_planned: s,
                pause_planned: p,
            } => {
                in_force += 1;
                match e {
                    Some(e) => ends = max_moment(ends, Some(*e)),
                    None => open = true,
                }
                stop_planned = min_moment(stop_planned, *s);
                pause_planned = min_moment(pause_planned, *p);
            }
            Fate::Paused { since } => {
                paused = true;
                paused_since = max_moment(paused_since, *since);
            }
            Fate::NotYetStarted { starts: s } => starts = min_moment(starts, Some(*s)),
            Fate::Stopped { on } => {
                stopped = true;
                stopped_on = max_moment(stopped_on, *on);
            }
            Fate::Ended { on } => {
                ended = true;
                ended_on = max_moment(ended_on, *on);
            }
            Fate::Superseded { from, .. } => {
                ended = true;
                ended_on = max_moment(ended_on, *from);
            }
            Fate::Cancelled => cancelled = true,
            Fate::Draft => draft = true,
            Fate::StopOrder { .. } => {}
        }
    }
    let state = if in_force > 0 {
        TreatmentState::Current {
            ends: if open { None } else { ends },
            stop_planned,
            pause_planned,
            resumed_after_pause: paused_since.filter(|_| paused),
        }
    } else if paused {
        TreatmentState::Paused {
            since: paused_since,
            resumes: starts,
        }
    } else if let Some(s) = starts {
        TreatmentState::Future { starts: s }
    } else if stopped {
        TreatmentState::Stopped { on: stopped_on }
    } else if ended {
        TreatmentState::Ended { on: ended_on }
    } else if cancelled {
        TreatmentState::Cancelled
    } else if draft {
        TreatmentState::Draft
    } else {
        // Only stop orders whose targets are elsewhere: nothing runs.
        TreatmentState::Stopped { on: None }
    };

    let mut attention = Vec::new();
    if in_force > 1 && identifier.is_some() && lead == MedicationKind::Agreement {
        attention.push(Attention::ConcurrentAgreements { count: in_force });
    }
    if lead == MedicationKind::Agreement {
        let tas: Vec<&MedicationLine> = lines
            .iter()
            .filter(|l| {
                l.kind == MedicationKind::AdministrationAgreement
                    && !matches!(l.fate, Fate::StopOrder { .. } | Fate::Superseded { .. })
            })
            .collect();
        let ta_in_force = lines.iter().any(|l| {
            matches!(
                l.kind,
                MedicationKind::AdministrationAgreement | MedicationKind::VariableDosingRegimen
            ) && l.fate.is_in_force()
        });
        let running = matches!(state, TreatmentState::Current { .. });
        if running && !ta_in_force {
            if let Some(latest) = tas.first()
                && matches!(
                    latest.fate,
                    Fate::Stopped { .. } | Fate::Paused { .. } | Fate::Cancelled
                )
            {
                attention.push(Attention::AdministrationAgreementNotInForce {
                    fate: latest.fate.clone(),
                });
            }
        } else if !running && ta_in_force && !matches!(state, TreatmentState::Future { .. }) {
            attention.push(Attention::AdministrationAgreementStillInForce);
        }
    }

    let mut unreadable: Vec<Unreadable> = Vec::new();
    for l in &lines {
        for u in &l.unreadable {
            if !unreadable.contains(u) {
                unreadable.push(u.clone());
            }
        }
    }

    // Bound the history: keep everything the state is about, drop the oldest of the rest.
    let mut omitted = 0u32;
    if lines.len() > MAX_BLOCKS_PER_TREATMENT {
        let keep_always = |l: &MedicationLine| {
            matches!(
                l.fate,
                Fate::InForce { .. } | Fate::Paused { .. } | Fate::NotYetStarted { .. }
            )
        };
        let mut kept = 0usize;
        let mut out = Vec::with_capacity(MAX_BLOCKS_PER_TREATMENT);
        for l in lines {
            if keep_always(&l) || kept < MAX_BLOCKS_PER_TREATMENT {
                kept += 1;
                out.push(l);
            } else {
                omitted = omitted.saturating_add(1);
            }
        }
        lines = out;
    }

    Treatment {
        id,
        identifier,
        state,
        blocks: lines,
        omitted,
        attention,
        unreadable,
    }
}

impl Treatment {
    /// A treatment of one line (tests, simple sources): the line's fate decides.
    pub fn single(line: MedicationLine, now: DateTime<Utc>) -> Treatment {
        let id = line.id.clone();
        resolve(
            id,
            None,
            vec![Block {
                line,
                refers: Vec::new(),
            }],
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::block::{BlockFacts, BlockStatus, Span, StopKind};
    use super::super::dose::Drug;
    use super::*;
    use crate::record::Moment;
    use chrono::NaiveDate;

    fn day(y: i32, m: u32, d: u32) -> Moment {
        Moment::Day(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T06:00:00Z")
            .unwrap()
            .into()
    }

    fn block(id: &str, kind: MedicationKind, start: Moment, end: Option<Moment>) -> MedicationLine {
        MedicationLine {
            kind,
            id: id.into(),
            drug: Drug {
                name: id.into(),
                ..Default::default()
            },
            facts: BlockFacts {
                periods: vec![Span {
                    start: Some(start),
                    end,
                }],
                registered: Some(start),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn stop(id: &str, kind: StopKind, start: Moment, on: Moment) -> MedicationLine {
        let mut l = block(id, MedicationKind::Agreement, start, Some(on));
        l.facts.stop = Some(kind);
        l.facts.registered = Some(on);
        l
    }

    fn b(line: MedicationLine, refers: &[usize]) -> Block {
        Block {
            line,
            refers: refers.to_vec(),
        }
    }

    #[test]
    fn explicit_status_decides_before_periods() {
        let mut f = BlockFacts {
            periods: vec![Span {
                start: Some(day(2026, 1, 1)),
                end: None,
            }],
            ..Default::default()
        };
        for (status, want) in [
            (BlockStatus::Cancelled, Fate::Cancelled),
            (BlockStatus::OnHold, Fate::Paused { since: None }),
            (BlockStatus::Stopped, Fate::Stopped { on: None }),
            (BlockStatus::Completed, Fate::Ended { on: None }),
            (BlockStatus::Draft, Fate::Draft),
        ] {
            f.status = status;
            assert_eq!(block_state(&f, now()), want);
        }
        f.status = BlockStatus::PeriodsDecide;
        assert!(block_state(&f, now()).is_in_force());
    }

    #[test]
    fn latest_end_of_every_period_decides_and_an_open_period_never_ends() {
        let f = BlockFacts {
            periods: vec![
                Span {
                    start: Some(day(2021, 1, 1)),
                    end: Some(day(2021, 3, 1)),
                },
                Span {
                    start: None,
                    end: Some(day(2021, 6, 30)),
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            block_state(&f, now()),
            Fate::Ended {
                on: Some(day(2021, 6, 30))
            }
        );
        let open = BlockFacts {
            periods: vec![
                Span {
                    start: Some(day(2021, 1, 1)),
                    end: None,
                },
                Span {
                    start: Some(day(2021, 1, 1)),
                    end: Some(day(2021, 1, 10)),
                },
            ],
            ..Default::default()
        };
        assert!(block_state(&open, now()).is_in_force());
        // An end date lasts through that day.
        let today = BlockFacts {
            periods: vec![Span {
                start: Some(day(2026, 11, 1)),
                end: Some(day(2026, 11, 22)),
            }],
            ..Default::default()
        };
        assert!(block_state(&today, now()).is_in_force());
    }

    #[test]
    fn future_start_is_not_yet_started() {
        let f = BlockFacts {
            periods: vec![Span {
                start: Some(day(2026, 12, 1)),
                end: None,
            }],
            ..Default::default()
        };
        assert_eq!(
            block_state(&f, now()),
            Fate::NotYetStarted {
                starts: day(2026, 12, 1)
            }
        );
    }

    #[test]
    fn pause_order_pauses_the_agreement_it_refers_to() {
        let t = resolve(
            "t".into(),
            Some("x|1".into()),
            vec![
                b(
                    block(
                        "ma",
                        MedicationKind::Agreement,
                        day(2026, 1, 1),
                        Some(day(2027, 1, 1)),
                    ),
                    &[],
                ),
                b(
                    stop(
                        "pause",
                        StopKind::Paused,
                        day(2026, 1, 1),
                        day(2026, 11, 21),
                    ),
                    &[0],
                ),
            ],
            now(),
        );
        assert_eq!(
            t.state,
            TreatmentState::Paused {
                since: Some(day(2026, 11, 21)),
                resumes: None
            }
        );
        assert!(!matches!(t.state, TreatmentState::Current { .. }));
        assert_eq!(t.lead_lines()[0].id, "ma");
    }

    #[test]
    fn pause_with_resume_agreement_says_when_it_resumes() {
        let t = resolve(
            "t".into(),
            None,
            vec![
                b(
                    block("ma", MedicationKind::Agreement, day(2026, 1, 1), None),
                    &[],
                ),
                b(
                    stop(
                        "pause",
                        StopKind::Paused,
                        day(2026, 1, 1),
                        day(2026, 11, 20),
                    ),
                    &[],
                ),
                b(
                    block("resume", MedicationKind::Agreement, day(2026, 11, 25), None),
                    &[],
                ),
            ],
            now(),
        );
        assert_eq!(
            t.state,
            TreatmentState::Paused {
                since: Some(day(2026, 11, 20)),
                resumes: Some(day(2026, 11, 25))
            }
        );
    }

    #[test]
    fn stop_and_replacement_show_only_the_new_dose() {
        let t = resolve(
            "t".into(),
            Some("x|1".into()),
            vec![
                b(
                    block("old", MedicationKind::Agreement, day(2026, 10, 1), None),
                    &[],
                ),
                b(
                    stop(
                        "stop",
                        StopKind::Stopped,
                        day(2026, 10, 1),
                        day(2026, 11, 10),
                    ),
                    &[0],
                ),
                b(
                    block("new", MedicationKind::Agreement, day(2026, 11, 11), None),
                    &[0],
                ),
            ],
            now(),
        );
        assert!(matches!(t.state, TreatmentState::Current { .. }));
        let lead: Vec<&str> = t.lead_lines().iter().map(|l| l.id.as_str()).collect();
        assert_eq!(lead, ["new"]);
        let old = t.blocks.iter().find(|l| l.id == "old").unwrap();
        assert_eq!(
            old.fate,
            Fate::Stopped {
                on: Some(day(2026, 11, 10))
            }
        );
        assert!(t.attention.is_empty());
    }

    #[test]
    fn cancelled_agreement_is_never_current() {
        let t = resolve(
            "t".into(),
            None,
            vec![
                b(
                    block("ma", MedicationKind::Agreement, day(2026, 11, 1), None),
                    &[],
                ),
                b(
                    stop(
                        "cancel",
                        StopKind::Cancelled,
                        day(2026, 11, 1),
                        day(2026, 11, 30),
                    ),
                    &[0],
                ),
            ],
            now(),
        );
        assert_eq!(t.state, TreatmentState::Cancelled);
        assert!(!t.listed_now());
    }

    #[test]
    fn stop_order_in_the_future_plans_the_stop() {
        let t = resolve(
            "t".into(),
            None,
            vec![
                b(
                    block("ma", MedicationKind::Agreement, day(2026, 11, 1), None),
                    &[],
                ),
                b(
                    stop(
                        "stop",
                        StopKind::Stopped,
                        day(2026, 11, 1),
                        day(2026, 11, 25),
                    ),
                    &[0],
                ),
            ],
            now(),
        );
        assert_eq!(
            t.state,
            TreatmentState::Current {
                ends: None,
                stop_planned: Some(day(2026, 11, 25)),
                pause_planned: None,
                resumed_after_pause: None
            }
        );
    }

    #[test]
    fn lone_stop_order_stands_for_its_therapy() {
        let t = resolve(
            "t".into(),
            None,
            vec![b(
                stop("stop", StopKind::Stopped, day(2016, 9, 8), day(2016, 9, 18)),
                &[],
            )],
            now(),
        );
        assert_eq!(
            t.state,
            TreatmentState::Stopped {
                on: Some(day(2016, 9, 18))
            }
        );
    }

    #[test]
    fn stopped_administration_agreement_under_a_running_agreement_asks_attention() {
        let mut ta = block(
            "ta",
            MedicationKind::AdministrationAgreement,
            day(2026, 11, 1),
            None,
        );
        ta.facts.status = BlockStatus::Stopped;
        let t = resolve(
            "t".into(),
            None,
            vec![
                b(
                    block("ma", MedicationKind::Agreement, day(2026, 11, 1), None),
                    &[],
                ),
                b(ta, &[0]),
            ],
            now(),
        );
        assert!(matches!(t.state, TreatmentState::Current { .. }));
        assert!(matches!(
            t.attention.first(),
            Some(Attention::AdministrationAgreementNotInForce { .. })
        ));
        // The MAR gives by the agreement then, never by a stopped administration agreement.
        assert_eq!(t.given_by()[0].id, "ma");
    }

    #[test]
    fn in_force_administration_agreement_gives_the_dose() {
        let t = resolve(
            "t".into(),
            None,
            vec![
                b(
                    block("ma", MedicationKind::Agreement, day(2026, 11, 1), None),
                    &[],
                ),
                b(
                    block(
                        "ta",
                        MedicationKind::AdministrationAgreement,
                        day(2026, 11, 1),
                        None,
                    ),
                    &[0],
                ),
                b(
                    block("use", MedicationKind::Use, day(2026, 11, 1), None),
                    &[],
                ),
            ],
            now(),
        );
        assert_eq!(t.given_by()[0].id, "ta");
        assert_eq!(t.last_use().map(|u| u.id.as_str()), Some("use"));
        assert!(t.history().is_empty());
    }

    #[test]
    fn history_is_bounded_but_keeps_what_runs() {
        let mut blocks: Vec<Block> = (0..80)
            .map(|i| {
                b(
                    block(
                        &format!("old{i}"),
                        MedicationKind::Agreement,
                        day(2000 + i / 12, 1 + (i % 12) as u32, 1),
                        Some(day(2000 + i / 12, 1 + (i % 12) as u32, 2)),
                    ),
                    &[],
                )
            })
            .collect();
        blocks.push(b(
            block("now", MedicationKind::Agreement, day(2026, 1, 1), None),
            &[],
        ));
        let t = resolve("t".into(), None, blocks, now());
        assert_eq!(t.blocks.len(), MAX_BLOCKS_PER_TREATMENT);
        assert_eq!(t.omitted, 31);
        assert!(t.blocks.iter().any(|l| l.id == "now"));
        assert!(matches!(t.state, TreatmentState::Current { .. }));
    }
}
