//! The fate of one building block at `now`: its own state from status, stop type and
//! periods, and what a stop order dated on a moment makes of it.

use super::block::{BlockFacts, BlockStatus, Fate, StopKind, earlier, until};
use crate::record::Moment;
use chrono::{DateTime, Utc};

/// The state of one block on its own (status, stop type, periods) at `now`.
pub(super) fn block_state(f: &BlockFacts, now: DateTime<Utc>) -> Fate {
    let end = f.end();
    let ended = |m: &Option<Moment>| m.as_ref().and_then(until).is_some_and(|t| t <= now);
    match &f.status {
        BlockStatus::Cancelled => return Fate::Cancelled,
        BlockStatus::Stopped | BlockStatus::NotTaken => {
            return Fate::Stopped {
                on: end.filter(|_| ended(&end)),
            };
        }
        BlockStatus::Completed => {
            return Fate::Ended {
                on: end.filter(|_| ended(&end)),
            };
        }
        BlockStatus::OnHold => return Fate::Paused { since: None },
        BlockStatus::Draft => return Fate::Draft,
        BlockStatus::PeriodsDecide | BlockStatus::Unrecognised(_) => {}
    }
    if let Some(stop) = f.stop {
        return Fate::StopOrder {
            stop,
            on: f.stop_date(),
        };
    }
    periods_state(f, now)
}

fn periods_state(f: &BlockFacts, now: DateTime<Utc>) -> Fate {
    let end = f.end();
    if let Some(e) = end
        && until(&e).is_some_and(|t| t <= now)
    {
        return Fate::Ended { on: Some(e) };
    }
    if let Some(s) = f.start()
        && s.earliest_utc().is_some_and(|t| t > now)
    {
        return Fate::NotYetStarted { starts: s };
    }
    Fate::InForce {
        ends: end,
        stop_planned: None,
        pause_planned: None,
    }
}

pub(super) fn min_moment(a: Option<Moment>, b: Option<Moment>) -> Option<Moment> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if earlier(&y, &x) { y } else { x }),
        (x, y) => x.or(y),
    }
}

pub(super) fn max_moment(a: Option<Moment>, b: Option<Moment>) -> Option<Moment> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if earlier(&x, &y) { y } else { x }),
        (x, y) => x.or(y),
    }
}

/// Applies a stop order of `kind` dated `on` to a block's fate.
pub(super) fn apply_stop(
    fate: &Fate,
    kind: StopKind,
    on: Option<Moment>,
    now: DateTime<Utc>,
) -> Fate {
    let effective = on.as_ref().and_then(until).is_none_or(|t| t <= now);
    match (kind, fate) {
        (_, Fate::Cancelled | Fate::Draft | Fate::StopOrder { .. }) => fate.clone(),
        (StopKind::Cancelled, _) => Fate::Cancelled,
        // A therapy that ended before the stop date simply ended.
        (_, Fate::Ended { on: Some(e) }) if on.as_ref().is_some_and(|s| until(e) <= until(s)) => {
            fate.clone()
        }
        (StopKind::Stopped, _) if effective => Fate::Stopped { on },
        (StopKind::Paused, _) if effective => Fate::Paused { since: on },
        (
            StopKind::Stopped,
            Fate::InForce {
                ends,
                stop_planned,
                pause_planned,
            },
        ) => Fate::InForce {
            ends: *ends,
            stop_planned: min_moment(*stop_planned, on),
            pause_planned: *pause_planned,
        },
        (
            StopKind::Paused,
            Fate::InForce {
                ends,
                stop_planned,
                pause_planned,
            },
        ) => Fate::InForce {
            ends: *ends,
            stop_planned: *stop_planned,
            pause_planned: min_moment(*pause_planned, on),
        },
        _ => fate.clone(),
    }
}

/// Severity order when several orders hit one block: cancelled, stopped, paused, rest.
pub(super) fn severity(f: &Fate) -> u8 {
    match f {
        Fate::Cancelled => 4,
        Fate::Stopped { .. } => 3,
        Fate::Superseded { .. } => 2,
        Fate::Paused { .. } => 1,
        _ => 0,
    }
}
