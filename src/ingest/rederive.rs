//! Re-derivation when the clock moves on: a generation's treatment states are decided at
//! its mapping's `now`, and during an outage no new snapshot comes to decide them again. So
//! when the served generation's next change moment has passed
//! ([`crate::store::GenerationMeta::next_change`]: a course ends or starts, a planned stop
//! or pause takes effect), the kept snapshot it was built from is opened and mapped again
//! with the current clock, and the new generation is swapped in like an ingest: same
//! sequence, same `data_as_of` and `received_at` (the data's age does not change), states
//! as of now. A failure keeps the old generation served and raises the standing problem
//! `rederive_failed`.
//!
//! Bounded by [`Rederiver`]: at most one re-derivation per moment and at most one attempt
//! per [`MIN_GAP`], so a shown state lags its change by at most that; nothing runs while
//! no moment has passed.

use super::inflight;
use super::keep::{self, KeptKind};
use super::outcome::Failure;
use super::pipeline::*;
use crate::snapshot::PayloadKind;
use crate::status::code;
use chrono::{DateTime, SecondsFormat, Utc};
use std::time::{Duration, Instant};

/// Least time between two attempts, however dense the moments.
pub(super) const MIN_GAP: Duration = Duration::from_secs(60);

/// When the runner last re-derived, and for which moment.
#[derive(Debug, Default)]
pub(super) struct Rederiver {
    /// The moment last re-derived for successfully.
    done_for: Option<DateTime<Utc>>,
    /// The last attempt.
    last_try: Option<Instant>,
}

impl Rederiver {
    /// True when the served generation's `next_change` has passed at `now`, was not yet
    /// re-derived for, and the last attempt is at least [`MIN_GAP`] ago.
    pub(super) fn due(
        &self,
        next_change: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        at: Instant,
    ) -> bool {
        next_change.is_some_and(|m| m <= now && self.done_for != Some(m))
            && self
                .last_try
                .is_none_or(|t| at.saturating_duration_since(t) >= MIN_GAP)
    }

    /// Notes an attempt at `at`; `done` is the moment handled when it succeeded.
    pub(super) fn tried(&mut self, at: Instant, done: Option<DateTime<Utc>>) {
        self.last_try = Some(at);
        if done.is_some() {
            self.done_for = done;
        }
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Ingestor {
    /// The served generation's next change moment (`None`: nothing served, or nothing
    /// changes by the clock).
    pub(super) fn served_next_change(&self) -> Option<DateTime<Utc>> {
        self.shared.store.current()?.meta().next_change
    }

    /// Maps the served generation's kept snapshot again with the current clock when its
    /// next change moment has passed, and swaps the result in. Returns the moment handled
    /// when it was re-derived; `None` after a failure (a standing problem says why) or when
    /// an ingest replaced the generation meanwhile. Blocking; waits for a file being
    /// processed.
    pub(crate) fn rederive(&self) -> Option<DateTime<Utc>> {
        let _busy = lock(&self.busy);
        let now = Utc::now();
        let current = self.shared.store.current()?;
        let meta = current.meta().clone();
        drop(current);
        let Some(moment) = meta.next_change.filter(|m| *m <= now) else {
            // Replaced meanwhile by an ingest with its own, later moment: nothing to do now
            // (not "done": that moment is still to come).
            return None;
        };
        let t = Instant::now();
        let result = self.remap_served(&meta, now);
        match result {
            Ok((seq, next)) => {
                self.set_problem(code::REDERIVE_FAILED, None);
                log::info!(
                    "served generation re-derived from kept snapshot {} (sequence {seq}, data \
                     as of {}) in {} ms: states as of {}, the moment {} has passed; next \
                     change {}",
                    keep::kept_name(KeptKind::Clinical, seq),
                    stamp(meta.data_as_of),
                    t.elapsed().as_millis(),
                    stamp(now),
                    stamp(moment),
                    next.map_or_else(|| "none".to_owned(), stamp)
                );
                Some(moment)
            }
            Err(e) => {
                log::error!("cannot re-derive the served generation: {e}");
                self.set_problem(
                    code::REDERIVE_FAILED,
                    Some(format!(
                        "the served data could not be mapped again at {} ({e}); the medication \
                         states shown are as of {}: a course may have ended or started since — \
                         check the end and start dates on the page",
                        stamp(moment),
                        meta.derived_at
                            .map_or_else(|| "its ingest".to_owned(), stamp)
                    )),
                );
                None
            }
        }
    }

    /// Opens the kept snapshot of the served sequence, maps it at `now` and swaps it in.
    /// Returns the sequence and the new generation's next change moment.
    fn remap_served(
        &self,
        meta: &crate::store::GenerationMeta,
        now: DateTime<Utc>,
    ) -> Result<(u64, Option<DateTime<Utc>>), String> {
        let keys = self.keys().map_err(|e| e.to_string())?;
        let kept = keep::list(&self.snapshots, KeptKind::Clinical)
            .map_err(|e| format!("cannot list kept snapshots: {e}"))?;
        let Some((seq, path)) = kept.into_iter().find(|(s, _)| *s == meta.sequence) else {
            return Err(format!(
                "the kept snapshot of sequence {} is gone",
                meta.sequence
            ));
        };
        self.mark_inflight(&path);
        let built = self
            .open_kept(&keys, &path, PayloadKind::Clinical)
            .and_then(|(opened, bytes)| {
                if opened.header.sequence != meta.sequence {
                    return Err(format!(
                        "the kept snapshot holds sequence {}, {} is served",
                        opened.header.sequence, meta.sequence
                    ));
                }
                self.build_generation(&opened, &meta.snapshot_file, now, meta.received_at, false)
                    .map_err(|f| match f {
                        Failure::Refuse { reason, .. }
                        | Failure::Defer(reason)
                        | Failure::Ignore(reason) => reason,
                    })
                    .map(|(g, _, _)| (g, bytes))
            });
        inflight::clear(&self.shared.config.paths.state);
        let (generation, bytes) = built?;
        let next = generation.meta().next_change;
        self.shared.store.swap(generation.clone());
        self.record_served(&generation, seq, &bytes);
        Ok((seq, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().into()
    }

    #[test]
    fn due_once_per_moment_and_not_more_often_than_the_gap() {
        let m = at("2026-12-08T10:00:00Z");
        let t0 = Instant::now();
        let mut r = Rederiver::default();
        assert!(!r.due(None, m, t0), "nothing changes by the clock");
        assert!(
            !r.due(Some(m), m - chrono::Duration::seconds(1), t0),
            "not yet"
        );
        assert!(r.due(Some(m), m, t0));
        r.tried(t0, Some(m));
        assert!(!r.due(Some(m), m, t0 + MIN_GAP * 2), "once per moment");
        let m2 = m + chrono::Duration::seconds(5);
        assert!(!r.due(Some(m2), m2, t0 + MIN_GAP / 2), "the gap holds");
        assert!(r.due(Some(m2), m2, t0 + MIN_GAP));
        // A failure is tried again after the gap.
        r.tried(t0 + MIN_GAP, None);
        assert!(!r.due(Some(m2), m2, t0 + MIN_GAP + MIN_GAP / 2));
        assert!(r.due(Some(m2), m2, t0 + MIN_GAP * 2));
    }
}
