//! The three appliers, one per payload kind, after the checks: clinical (map, build the
//! generation aside, keep the sealed file, swap — the commit point — then the sequence),
//! roster (kept, then in force), mode command (through `App::switch_mode`, audited).

use super::checks::*;
use super::keep::{self, KeptKind, ROSTER_FILE};
use super::outcome::*;
use super::pipeline::*;
use crate::audit::{EventKind, Outcome};
use crate::fhir::{self, MapOptions};
use crate::mode::{Mode, ModeError, Switcher};
use crate::roster::Roster;
use crate::snapshot::Opened;
use crate::status::code;
use crate::store::GenerationMeta;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

/// Largest mode-command payload.
pub const MAX_MODE_COMMAND: usize = 4096;

/// A mode command payload (JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModeCommand {
    mode: Mode,
    reason: String,
}

impl Ingestor {
    /// Persists `seq` as the last accepted sequence. A failure does not undo the accept
    /// (the data is already served) but is a standing problem; on restart the kept
    /// snapshot's sequence restores protection.
    pub(super) fn commit_sequence(&self, seq: u64) {
        let ward = &self.shared.config.ward;
        let result = lock(&self.sequence).advance(ward, seq);
        match result {
            Ok(_) => self.set_problem(code::STATE_NOT_WRITABLE, None),
            Err(e) => self.set_problem(
                code::STATE_NOT_WRITABLE,
                Some(format!("cannot persist the accepted sequence {seq}: {e}")),
            ),
        }
        let last = self.last_sequence();
        self.shared
            .status
            .update(|s| s.last_sequence = last.max(Some(seq)));
    }

    pub(super) fn map_options(&self, now: DateTime<Utc>) -> MapOptions {
        let c = &self.shared.config;
        MapOptions {
            now,
            administration_window: c.data.administration_window,
            observation_window: c.data.observation_window,
            ward: c.ward.clone(),
        }
    }

    /// Maps and builds a generation; with `shrink_check` (new snapshots, not the kept ones
    /// at recovery) first refuses an empty or shrunken ward ([`Self::check_shrink`]).
    pub(super) fn build_generation(
        &self,
        opened: &Opened,
        file: &str,
        now: DateTime<Utc>,
        received_at: DateTime<Utc>,
        shrink_check: bool,
    ) -> Result<(Arc<crate::store::Generation>, usize, bool), Failure> {
        let max = max_resources(self.shared.config.data.memory_max);
        let found = resource_count_bound(&opened.payload, max);
        if found > max {
            return Err(refuse(
                "too_many_resources",
                format!(
                    "the clinical payload holds more than {max} resources (the limit for \
                     data.memory_max_mib = {}); a ward has a few thousand — split the export \
                     or raise the memory limit with the unit's MemoryMax",
                    self.shared.config.data.memory_max / (1024 * 1024)
                ),
            ));
        }
        let t = Instant::now();
        let record = fhir::map_payload(&opened.payload, &self.map_options(now))
            .map_err(|e| refuse("fhir_invalid", e.to_string()))?;
        let mapped = t.elapsed();
        let shrink_allowed = if shrink_check {
            self.check_shrink(&opened.header, record.patients.len())?
        } else {
            false
        };
        let h = &opened.header;
        let meta = GenerationMeta {
            ward: h.ward.clone(),
            sequence: h.sequence,
            data_as_of: h.data_as_of,
            created_at: h.created_at,
            received_at,
            snapshot_file: file.to_owned(),
            report: record.report.clone(),
            derived_at: Some(now),
            next_change: record.next_change,
        };
        let t = Instant::now();
        let generation = self
            .shared
            .store
            .build(meta, &record)
            .map_err(|e| Failure::Defer(format!("cannot build the generation: {e}")))?;
        log::info!(
            "snapshot {file}: sequence {} mapped in {} ms ({} patients, {} resources in, {} \
             not shown), generation built in {} ms",
            h.sequence,
            mapped.as_millis(),
            record.patients.len(),
            record.report.total_input(),
            record.report.not_shown.len(),
            t.elapsed().as_millis()
        );
        Ok((generation, record.patients.len(), shrink_allowed))
    }

    pub(super) fn apply_clinical(
        &self,
        opened: &Opened,
        bytes: &[u8],
        file: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied, Failure> {
        let (generation, patients, shrink_allowed) =
            self.build_generation(opened, file, now, now, true)?;
        let seq = opened.header.sequence;
        // Keep the sealed file before the swap: whatever is served can be rebuilt on restart.
        keep::keep(&self.snapshots, KeptKind::Clinical, seq, bytes).map_err(|e| {
            Failure::Defer(format!(
                "cannot keep the accepted snapshot in {}: {e}",
                self.snapshots.display()
            ))
        })?;
        // The commit point.
        self.shared.store.swap(generation.clone());
        self.record_served(&generation, seq, bytes);
        drop(generation);
        self.set_problem(code::KEPT_SNAPSHOT_UNUSABLE, None);
        self.set_problem(code::SNAPSHOT_SHRINK_REFUSED, None);
        self.set_problem(code::REDERIVE_FAILED, None);
        self.prune_kept_clinical();
        Ok(Applied {
            patients: Some(patients),
            shrink_allowed,
            ..Applied::default()
        })
    }

    /// Removes all but the newest `data.keep_snapshots` kept clinical snapshots. Called only
    /// when the newest kept snapshot is the one served (after an ingest, a reuse, or a rebuild
    /// from the newest), so the served one is never removed; a daemon killed between its swap
    /// and this prune catches up at the next start.
    pub(super) fn prune_kept_clinical(&self) {
        match keep::prune(
            &self.snapshots,
            KeptKind::Clinical,
            self.shared.config.data.keep_snapshots,
        ) {
            Ok(n) if n > 0 => log::info!("removed {n} older kept snapshot(s)"),
            Ok(_) => {}
            Err(e) => log::warn!("cannot remove older kept snapshots: {e}"),
        }
    }

    pub(super) fn parse_roster(&self, opened: &Opened) -> Result<Roster, Failure> {
        check_roster(&opened.payload, &self.shared.config.ward)
            .map_err(|r| refuse(r.code, r.reason))
    }

    pub(super) fn put_roster_in_force(&self, roster: Roster, received_at: DateTime<Utc>) -> usize {
        let staff = roster.staff.len();
        self.shared.set_roster(Arc::new(roster));
        self.shared.status.update(|s| {
            s.roster_received_at = Some(received_at);
            s.roster_staff = staff;
        });
        staff
    }

    pub(super) fn apply_roster(
        &self,
        opened: &Opened,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Applied, Failure> {
        let roster = self.parse_roster(opened)?;
        let path = self.shared.config.paths.state.join(ROSTER_FILE);
        crate::fsutil::write_atomic(&path, bytes).map_err(|e| {
            Failure::Defer(format!("cannot keep the roster in {}: {e}", path.display()))
        })?;
        let staff = self.put_roster_in_force(roster, now);
        self.audit(
            EventKind::RosterUpdated,
            Outcome::Success,
            format!(
                "roster sequence {} in force: {staff} staff",
                opened.header.sequence
            ),
            now,
        );
        Ok(Applied {
            staff: Some(staff),
            ..Applied::default()
        })
    }

    pub(super) fn apply_mode(
        &self,
        opened: &Opened,
        bytes: &[u8],
        file: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied, Failure> {
        if opened.payload.len() > MAX_MODE_COMMAND {
            return Err(refuse(
                "mode_command_invalid",
                format!(
                    "mode command is {} bytes; at most {MAX_MODE_COMMAND}",
                    opened.payload.len()
                ),
            ));
        }
        let cmd: ModeCommand = serde_json::from_slice(&opened.payload).map_err(|e| {
            refuse(
                "mode_command_invalid",
                format!(
                    "mode command is not {{\"mode\": \"emergency|drill|standby\", \"reason\": \
                     \"...\"}}: {}",
                    crate::jsonerr::describe(&e)
                ),
            )
        })?;
        if cmd.reason.chars().any(char::is_control) {
            return Err(refuse(
                "mode_command_invalid",
                "the reason contains control characters",
            ));
        }
        let seq = opened.header.sequence;
        let by = Switcher::Publisher {
            snapshot: file.to_owned(),
            sequence: seq,
        };
        let state = match self.shared.switch_mode(cmd.mode, by, &cmd.reason, now) {
            Ok(s) => s,
            Err(ModeError::Reason) => {
                return Err(refuse(
                    "mode_command_invalid",
                    ModeError::Reason.to_string(),
                ));
            }
            Err(e) => return Err(Failure::Defer(format!("cannot switch the mode: {e}"))),
        };
        log::info!(
            "mode switched to {} by publisher mode command {file} (sequence {seq})",
            state.mode.as_str()
        );
        if let Err(e) = keep::keep(&self.snapshots, KeptKind::ModeCommand, seq, bytes) {
            log::warn!("cannot keep mode command {file}: {e}");
        }
        let _ = keep::prune(
            &self.snapshots,
            KeptKind::ModeCommand,
            self.shared.config.data.keep_snapshots,
        );
        Ok(Applied {
            mode: Some(state.mode),
            ..Applied::default()
        })
    }
}
