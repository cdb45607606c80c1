//! Start-up and retries: put the newest usable kept roster and snapshot back in force
//! (newest first, each verified again with the current keys), then process what waits in
//! the inbox; [`Ingestor::rebuild_from_kept`] and the recovery retry for a generation lost
//! at run time.

use super::inflight;
use super::keep::{self, KeptKind, ROSTER_FILE};
use super::keycache::*;
use super::outcome::*;
use super::pipeline::*;
use super::quarantine::safe_name;
use crate::snapshot::{self, Opened, PayloadKind};
use crate::status::code;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::time::{Instant, SystemTime};

/// What [`Ingestor::recover`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovered {
    /// Sequence of the kept snapshot the served generation was rebuilt from.
    pub generation: Option<u64>,
    /// Kept snapshots that could not be used, with the reason (newest first).
    pub unusable: Vec<(String, String)>,
    /// Whether a kept roster was put in force.
    pub roster: bool,
    /// Outcome of every inbox file found at start-up, in processing order.
    pub inbox: Vec<Result<Accepted, ProcessError>>,
}

pub(super) fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Ingestor {
    /// Start-up: puts the kept roster in force, serves the last generation again when it
    /// may be (`reuse`: it verifies and was built from the newest kept snapshot), else
    /// rebuilds the served generation from the newest kept clinical snapshot that still opens (trying older ones when it fails, e.g.
    /// after a key rotation; serving nothing and setting `problem` when none does), raises
    /// the persisted sequence to the recovered one if it was behind (a crash between the
    /// swap and the sequence write), then ingests what arrived in the inbox while the daemon
    /// was down, oldest modification time first (see [`super::watcher::scan`]).
    ///
    /// Kept snapshots are *not* checked against the persisted sequence: they were accepted.
    /// Blocking: call it before [`Ingestor::run`], from a blocking context.
    pub fn recover(&self) -> Recovered {
        let mut out = Recovered::default();
        let now = Utc::now();
        self.handle_left_over(now);
        let keys = match self.keys() {
            Ok(k) => Some(k),
            Err(e) => {
                log::error!("recovery without keys: {e}");
                None
            }
        };
        if let Some(keys) = &keys {
            out.roster = self.recover_roster(keys, now);
            let kept = keep::list(&self.snapshots, KeptKind::Clinical).unwrap_or_default();
            if !self.reuse_last(keys, &kept, &mut out) {
                self.recover_generation(keys, now, &mut out);
            }
        }
        // What the start did not serve (a generation kept for reuse that was not, a
        // crash's temp files) goes now.
        self.shared.store.remove_leftovers();
        match super::watcher::scan(&self.shared.config.paths.inbox) {
            Ok(found) => {
                self.set_problem(code::INBOX_UNREADABLE, None);
                if !found.is_empty() {
                    log::info!("{} file(s) waiting in the inbox", found.len());
                }
                for f in found {
                    out.inbox.push(self.process(&f.path));
                }
            }
            Err(e) => self.set_problem(
                code::INBOX_UNREADABLE,
                Some(format!(
                    "cannot read the inbox {}: {e}",
                    self.shared.config.paths.inbox.display()
                )),
            ),
        }
        out
    }

    /// Rebuilds the served generation from the newest usable kept snapshot (after the
    /// served one was found corrupt). Waits for a file being processed to finish first.
    /// Returns the sequence now served from a fresh build, or None when no kept snapshot
    /// could be used (a standing problem says why).
    pub(crate) fn rebuild_from_kept(&self) -> Option<u64> {
        let _busy = lock(&self.busy);
        let keys = self.keys().ok()?;
        let mut out = Recovered::default();
        self.recover_generation(&keys, Utc::now(), &mut out);
        out.generation
    }

    /// Runs the start-up recovery again when it could not run then (keys unusable): puts
    /// the kept roster in force and rebuilds the served generation if there is none.
    /// Cheap when there is nothing to do.
    pub(crate) fn retry_recovery(&self) {
        let no_roster = self.shared.roster().is_none();
        let no_data = self.shared.store.current().is_none();
        if !no_roster && !no_data {
            return;
        }
        let _busy = lock(&self.busy);
        let Ok(keys) = self.keys() else {
            return;
        };
        let now = Utc::now();
        if no_roster && self.shared.roster().is_none() {
            self.recover_roster(&keys, now);
        }
        if no_data && self.shared.store.current().is_none() {
            let mut out = Recovered::default();
            self.recover_generation(&keys, now, &mut out);
        }
    }

    pub(super) fn open_kept(
        &self,
        keys: &Keys,
        path: &Path,
        kind: PayloadKind,
    ) -> Result<(Opened, Vec<u8>), String> {
        let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
        if meta.len() > self.limits.max_file {
            return Err(format!("{} bytes exceeds the limit", meta.len()));
        }
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let opened = snapshot::open(&bytes, &keys.appliance, &keys.publisher, &self.limits)
            .map_err(|e| format!("{} ({})", e, e.code()))?;
        if opened.header.kind != kind {
            return Err(format!(
                "holds a {} payload, not {}",
                opened.header.kind, kind
            ));
        }
        if opened.header.ward != self.shared.config.ward {
            return Err(format!(
                "is for ward {:?}, this appliance serves {:?}",
                opened.header.ward, self.shared.config.ward
            ));
        }
        Ok((opened, bytes))
    }

    pub(super) fn recover_roster(&self, keys: &Keys, now: DateTime<Utc>) -> bool {
        let path = self.shared.config.paths.state.join(ROSTER_FILE);
        if !path.exists() {
            return false;
        }
        let result = self
            .open_kept(keys, &path, PayloadKind::Roster)
            .and_then(|(o, _)| {
                self.parse_roster(&o).map_err(|f| match f {
                    Failure::Refuse { reason, .. }
                    | Failure::Defer(reason)
                    | Failure::Ignore(reason) => reason,
                })
            });
        match result {
            Ok(roster) => {
                let received = mtime(&path).map(DateTime::<Utc>::from).unwrap_or(now);
                let staff = self.put_roster_in_force(roster, received);
                log::info!("kept roster in force again: {staff} staff");
                self.set_problem(code::ROSTER_UNUSABLE, None);
                true
            }
            Err(e) => {
                self.set_problem(
                    code::ROSTER_UNUSABLE,
                    Some(format!(
                        "the kept roster {} cannot be used ({e}); no one can log in until a new \
                         roster snapshot arrives",
                        path.display()
                    )),
                );
                false
            }
        }
    }

    pub(super) fn recover_generation(&self, keys: &Keys, now: DateTime<Utc>, out: &mut Recovered) {
        let kept = match keep::list(&self.snapshots, KeptKind::Clinical) {
            Ok(k) => k,
            Err(e) => {
                self.set_problem(
                    code::NO_USABLE_KEPT_SNAPSHOT,
                    Some(format!(
                        "cannot list kept snapshots in {}: {e}",
                        self.snapshots.display()
                    )),
                );
                return;
            }
        };
        if kept.is_empty() {
            log::info!("no kept snapshot to rebuild from; waiting for the first one");
            return;
        }
        for (seq, path) in &kept {
            let name = path
                .file_name()
                .map(safe_name)
                .unwrap_or_else(|| "?".into());
            let t = Instant::now();
            let received = mtime(path).map(DateTime::<Utc>::from).unwrap_or(now);
            self.mark_inflight(path);
            let result =
                self.open_kept(keys, path, PayloadKind::Clinical)
                    .and_then(|(opened, bytes)| {
                        self.build_generation(&opened, &name, now, received, false)
                            .map_err(|f| match f {
                                Failure::Refuse { reason, .. }
                                | Failure::Defer(reason)
                                | Failure::Ignore(reason) => reason,
                            })
                            .map(|g| (g, opened.header.sequence, bytes))
                    });
            inflight::clear(&self.shared.config.paths.state);
            match result {
                Ok(((generation, patients, _), header_seq, bytes)) => {
                    self.shared.store.swap(generation.clone());
                    self.record_served(&generation, *seq, &bytes);
                    drop(generation);
                    let seq = header_seq.max(*seq);
                    if self.last_sequence().is_none_or(|last| last < seq) {
                        log::warn!(
                            "persisted sequence was behind the kept snapshot {name}; raised to {seq}"
                        );
                    }
                    self.commit_sequence(seq);
                    log::info!(
                        "served generation rebuilt from kept snapshot {name} (sequence {header_seq}, \
                         {patients} patients) in {} ms",
                        t.elapsed().as_millis()
                    );
                    out.generation = Some(header_seq);
                    self.set_problem(code::NO_USABLE_KEPT_SNAPSHOT, None);
                    self.set_problem(code::REDERIVE_FAILED, None);
                    if out.unusable.is_empty() {
                        // Served from the newest kept snapshot: the older ones beyond the
                        // kept count can go (a kill between an ingest's swap and its prune
                        // left them). Never when an older one is served.
                        self.prune_kept_clinical();
                    }
                    if let Some((newest, why)) = out.unusable.first() {
                        self.set_problem(
                            code::KEPT_SNAPSHOT_UNUSABLE,
                            Some(format!(
                                "the kept snapshot {newest} cannot be used ({why}); serving the \
                                 older sequence {header_seq} until a new snapshot arrives"
                            )),
                        );
                    }
                    return;
                }
                Err(e) => {
                    log::warn!("kept snapshot {name} cannot be used: {e}");
                    out.unusable.push((name, e));
                }
            }
        }
        self.set_problem(
            code::NO_USABLE_KEPT_SNAPSHOT,
            Some(format!(
                "none of the {} kept snapshot(s) could be used (newest: {}); serving no data \
                 until a new snapshot arrives",
                kept.len(),
                out.unusable.first().map(|(_, e)| e.as_str()).unwrap_or("?")
            )),
        );
    }
}
