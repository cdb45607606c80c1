//! What ingest tells the world about a file: the audit entry (through `App::audit_at`, so a
//! failure reaches the status), the accepted counters and status, and for a refused file
//! the quarantine with its reason (bounded, one line) and the quarantine's cap.

use super::outcome::*;
use super::pipeline::*;
use super::quarantine::{self, QuarantineNote, one_line};
use crate::audit::{Action, Event, EventKind, Outcome};
use crate::snapshot::Header;
use crate::status::{Metrics, Rejection, code};
use chrono::{DateTime, SecondsFormat, Utc};
use std::ffi::OsStr;
use std::path::Path;

/// Longest reason text kept in a rejection (status, audit, quarantine note).
pub(super) const MAX_REASON_TEXT: usize = 500;

pub(super) fn bounded(s: &str) -> String {
    let line = one_line(s);
    if line.chars().count() > MAX_REASON_TEXT {
        let mut t: String = line.chars().take(MAX_REASON_TEXT).collect();
        t.push('…');
        t
    } else {
        line
    }
}

impl Ingestor {
    pub(super) fn audit(
        &self,
        kind: EventKind,
        outcome: Outcome,
        detail: String,
        now: DateTime<Utc>,
    ) {
        self.audit_as(kind, Action::E, outcome, detail, now);
    }

    pub(super) fn audit_as(
        &self,
        kind: EventKind,
        action: Action,
        outcome: Outcome,
        detail: String,
        now: DateTime<Utc>,
    ) {
        let mode = self.shared.mode.current(now).mode;
        // A failure reaches the status and the log through `App::audit_at`.
        let _ = self.shared.audit_at(
            Event::new(kind, action, outcome, mode.as_str(), detail),
            now,
        );
    }

    pub(super) fn accepted(&self, acc: &Accepted, now: DateTime<Utc>) {
        // `data_as_of` is what the drill report reads for the data age (audit::drill).
        let mut detail = format!(
            "accepted file={} kind={} sequence={} data_as_of={}",
            acc.file,
            acc.kind,
            acc.sequence,
            acc.data_as_of.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        if let Some(p) = acc.patients {
            detail.push_str(&format!(" patients={p}"));
        }
        if let Some(s) = acc.staff {
            detail.push_str(&format!(" staff={s}"));
        }
        if let Some(m) = acc.mode {
            detail.push_str(&format!(" mode={}", m.as_str()));
        }
        if acc.shrink_allowed {
            detail.push_str(" shrink_allowed=true");
        }
        self.audit(EventKind::SnapshotAccepted, Outcome::Success, detail, now);
        Metrics::inc(&self.shared.metrics.snapshots_accepted);
        self.set_problem(code::INGEST_DEFERRED, None);
        log::info!(
            "accepted snapshot {}: {} sequence {}, data as of {}{}{}, in {} ms",
            acc.file,
            acc.kind,
            acc.sequence,
            acc.data_as_of.to_rfc3339_opts(SecondsFormat::Secs, true),
            acc.patients
                .map(|p| format!(", {p} patients"))
                .unwrap_or_default(),
            acc.staff
                .map(|s| format!(", {s} staff"))
                .unwrap_or_default(),
            acc.took.as_millis()
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn reject(
        &self,
        path: &Path,
        name: &OsStr,
        file: &str,
        header: Option<&Header>,
        code: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> ProcessError {
        let rejection = Rejection {
            file: file.to_owned(),
            code: code.to_owned(),
            reason: bounded(reason),
            time: now,
        };
        let note = QuarantineNote {
            original: name,
            code,
            reason: &rejection.reason,
            time: now,
        };
        let mut moved_to = None;
        let whence = match quarantine::quarantine(path, &self.shared.config.paths.quarantine, &note)
        {
            Ok(dest) => {
                self.set_problem(code::QUARANTINE_FAILED, None);
                let whence = format!("moved to {}", dest.display());
                moved_to = Some(dest);
                whence
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                "already gone from the inbox".into()
            }
            Err(e) => {
                self.set_problem(
                    code::QUARANTINE_FAILED,
                    Some(format!(
                        "cannot move refused files to {}: {e}",
                        self.shared.config.paths.quarantine.display()
                    )),
                );
                "left in the inbox (quarantine failed)".into()
            }
        };
        let (kind, seq) = header
            .map(|h| (h.kind.name().to_owned(), h.sequence.to_string()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        log::warn!(
            "snapshot {file} refused ({code}): {} — {whence}",
            rejection.reason
        );
        self.audit(
            EventKind::SnapshotRejected,
            Outcome::MinorFailure,
            format!("rejected file={file} kind={kind} sequence={seq} code={code}"),
            now,
        );
        if let Some(dest) = &moved_to {
            self.prune_quarantine(Some(dest), now);
        }
        // Counted once everything about the refusal is done (the pruning included), so a
        // reader of /metrics never sees the refusal before its consequences.
        Metrics::inc(&self.shared.metrics.snapshots_rejected);
        self.set_problem(code::INGEST_DEFERRED, None);
        let r = rejection.clone();
        self.shared.status.update(move |s| s.record_rejection(r));
        ProcessError::Rejected(rejection)
    }

    /// Keeps the quarantine within `paths.quarantine_cap` ([`quarantine::prune`]), never
    /// deleting `keep` (the file just quarantined). A pruning is logged (counts and bytes
    /// only), counted in `/metrics` and audited (`quarantine_pruned`).
    pub(super) fn prune_quarantine(&self, keep: Option<&Path>, now: DateTime<Utc>) {
        let paths = &self.shared.config.paths;
        let cap = &paths.quarantine_cap;
        match quarantine::prune(&paths.quarantine, cap, keep) {
            Ok(p) => {
                if p.any() {
                    self.shared
                        .metrics
                        .quarantine_pruned
                        .fetch_add(p.files as u64, std::sync::atomic::Ordering::Relaxed);
                    log::warn!(
                        "quarantine over its cap ({} files / {} bytes): deleted the {} oldest \
                         refused file(s) and {} reason file(s), {} bytes; {} file(s), {} bytes \
                         left in {}",
                        cap.max_files,
                        cap.max_bytes,
                        p.files,
                        p.reasons,
                        p.bytes,
                        p.files_left,
                        p.bytes_left,
                        paths.quarantine.display()
                    );
                    self.audit_as(
                        EventKind::QuarantinePruned,
                        Action::D,
                        Outcome::Success,
                        format!(
                            "quarantine pruned files={} reasons={} bytes={} files_left={} \
                             bytes_left={} max_files={} max_bytes={}",
                            p.files,
                            p.reasons,
                            p.bytes,
                            p.files_left,
                            p.bytes_left,
                            cap.max_files,
                            cap.max_bytes
                        ),
                        now,
                    );
                }
                if p.failed > 0 {
                    log::warn!(
                        "quarantine over its cap: {} file(s) in {} could not be deleted",
                        p.failed,
                        paths.quarantine.display()
                    );
                }
            }
            Err(e) => log::warn!(
                "cannot keep the quarantine {} within its cap: {e}",
                paths.quarantine.display()
            ),
        }
    }
}
