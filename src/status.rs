//! Operational status shared by the daemon's parts: what ingest last did (accepted
//! sequence, last rejection), counters for /metrics, and the `/ready` JSON. None of it
//! contains patient data: file names, sequence numbers, times, reasons and counts only.

use crate::mode::ModeState;
use crate::store::GenerationMeta;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A refused snapshot, as shown to IT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The refused file's name (as it arrived in the inbox).
    pub file: String,
    /// Short stable code ("bad_signature", "replayed_sequence" ...).
    pub code: String,
    /// One clear line for a person.
    pub reason: String,
    /// When it was refused (this box's clock).
    pub time: DateTime<Utc>,
}

/// A standing problem: something wrong now (not a one-off rejection), shown in `/ready`
/// until it is fixed. `code` is stable (IT's monitoring matches on it); `message` is one
/// line for a person, naming the file or directory and the fix; never patient data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable code IT's monitoring matches on (`code::*`).
    pub code: &'static str,
    /// One line for a person: what is wrong, naming the file or directory, and the fix.
    pub message: String,
    /// When it was first seen (UTC, this box's clock).
    pub since: DateTime<Utc>,
}

/// The stable problem codes (see docs/OPERATIONS.md, "Faults and what they look like").
pub mod code {
    /// An appliance or publisher key file is missing, unreadable or has unsafe permissions.
    pub(crate) const KEY_UNUSABLE: &str = "key_unusable";
    /// The inbox cannot be listed (deleted, moved, unreadable).
    pub(crate) const INBOX_UNREADABLE: &str = "inbox_unreadable";
    /// inotify cannot watch the inbox; a rescan every 30 s is the fallback.
    pub(crate) const INBOX_NOT_WATCHED: &str = "inbox_not_watched";
    /// A snapshot waits in the inbox for a cause outside it (disk full, keys ...).
    pub(crate) const INGEST_DEFERRED: &str = "ingest_deferred";
    /// The accepted sequence cannot be persisted in the state directory.
    pub(crate) const STATE_NOT_WRITABLE: &str = "state_not_writable";
    /// A refused file cannot be moved to the quarantine.
    pub(crate) const QUARANTINE_FAILED: &str = "quarantine_failed";
    /// The kept roster cannot be used at start-up.
    pub(crate) const ROSTER_UNUSABLE: &str = "roster_unusable";
    /// No kept snapshot could be used to rebuild the served data.
    pub(crate) const NO_USABLE_KEPT_SNAPSHOT: &str = "no_usable_kept_snapshot";
    /// The newest kept snapshot could not be used at start-up; an older one is served.
    pub(crate) const KEPT_SNAPSHOT_UNUSABLE: &str = "kept_snapshot_unusable";
    /// The access (audit) log cannot be written: patient pages are refused.
    pub const AUDIT_WRITE_FAILED: &str = "audit_write_failed";
    /// The served generation file changed under the daemon; it is rebuilt.
    pub(crate) const GENERATION_CORRUPT: &str = "generation_corrupt";
    /// The TLS certificate has expired (still served: see OPERATIONS.md).
    pub(crate) const TLS_CERTIFICATE_EXPIRED: &str = "tls_certificate_expired";
    /// The TLS certificate expires within 30 days.
    pub(crate) const TLS_CERTIFICATE_EXPIRING: &str = "tls_certificate_expiring";
    /// The served data claims to be from the future: this box's clock is behind.
    pub(crate) const CLOCK_BEHIND_DATA: &str = "clock_behind_data";
    /// The TLS private key file is readable by other users (still served).
    pub(crate) const TLS_KEY_EXPOSED: &str = "tls_key_exposed";
    /// Emergency mode has run for more than a day without being confirmed.
    pub(crate) const EMERGENCY_UNCONFIRMED: &str = "emergency_unconfirmed";
    /// The newest clinical snapshot was refused because it held no patients or far fewer
    /// than are served (a likely broken export); the last good data is still served.
    /// Cleared when a clinical snapshot is accepted.
    pub const SNAPSHOT_SHRINK_REFUSED: &str = "snapshot_shrink_refused";
    /// The served data could not be mapped again when a treatment's state changed by the
    /// clock (a course ended or started); the states shown are as of its last mapping.
    /// Cleared by the next successful re-derivation or ingest.
    pub const REDERIVE_FAILED: &str = "rederive_failed";

    /// Every standing problem code, in the order `/metrics` lists them (one gauge each).
    pub const ALL: &[&str] = &[
        KEY_UNUSABLE,
        INBOX_UNREADABLE,
        INBOX_NOT_WATCHED,
        INGEST_DEFERRED,
        STATE_NOT_WRITABLE,
        QUARANTINE_FAILED,
        ROSTER_UNUSABLE,
        NO_USABLE_KEPT_SNAPSHOT,
        KEPT_SNAPSHOT_UNUSABLE,
        AUDIT_WRITE_FAILED,
        GENERATION_CORRUPT,
        TLS_CERTIFICATE_EXPIRED,
        TLS_CERTIFICATE_EXPIRING,
        CLOCK_BEHIND_DATA,
        SNAPSHOT_SHRINK_REFUSED,
        REDERIVE_FAILED,
        TLS_KEY_EXPOSED,
        EMERGENCY_UNCONFIRMED,
    ];
}

/// How many refused snapshots the status keeps (newest first), so that one incident is not
/// overwritten by the next.
pub(crate) const REJECTIONS_KEPT: usize = 20;

/// What ingest reports about itself.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestStatus {
    /// The most recently refused snapshot since start.
    pub last_rejection: Option<Rejection>,
    /// The last [`REJECTIONS_KEPT`] refused snapshots, newest first (since start).
    pub rejections: std::collections::VecDeque<Rejection>,
    /// The standing problems' messages joined with "; " (None when there are none).
    pub problem: Option<String>,
    /// The standing problems, by code (inbox missing, key unreadable, disk full ...),
    /// each removed when fixed.
    pub problems: Vec<Problem>,
    /// The highest sequence accepted for this ward (persisted; rollback protection).
    pub last_sequence: Option<u64>,
    /// When the roster in use was accepted, if any.
    pub roster_received_at: Option<DateTime<Utc>>,
    /// Staff members in the roster in use (0 without a roster).
    pub roster_staff: usize,
}

impl IngestStatus {
    /// Notes a refused snapshot: the last one, and the history of the last
    /// [`REJECTIONS_KEPT`].
    pub(crate) fn record_rejection(&mut self, r: Rejection) {
        self.rejections.push_front(r.clone());
        self.rejections.truncate(REJECTIONS_KEPT);
        self.last_rejection = Some(r);
    }
}

/// Counters for /metrics (monotonic since start).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Snapshots verified, mapped and served.
    pub snapshots_accepted: AtomicU64,
    /// Snapshots refused and quarantined.
    pub snapshots_rejected: AtomicU64,
    /// Quarantined files deleted to keep the quarantine within its cap.
    pub quarantine_pruned: AtomicU64,
    /// Successful logins.
    pub logins: AtomicU64,
    /// Failed logins.
    pub logins_failed: AtomicU64,
    /// Lockouts (a user name or an address).
    pub lockouts: AtomicU64,
    /// Pages with one patient's data shown.
    pub patient_page_views: AtomicU64,
    /// Pages shown, all kinds.
    pub page_views: AtomicU64,
    /// Print views produced.
    pub prints: AtomicU64,
    /// Audit writes that failed (each also refused its page).
    pub audit_failures: AtomicU64,
    /// HTTP requests answered.
    pub http_requests: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The shared, lock-protected ingest status.
#[derive(Debug, Default)]
pub struct StatusCell(Mutex<IngestStatus>);

impl StatusCell {
    /// A copy of the status now.
    pub fn get(&self) -> IngestStatus {
        match self.0.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
    /// Changes the status.
    pub(crate) fn update(&self, f: impl FnOnce(&mut IngestStatus)) {
        match self.0.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Raises (`Some`) or clears (`None`) the standing problem `code`. Logs one line to
    /// the operator log when that changes anything: `problem [code]: message` at error
    /// level, `resolved [code]` at info level. Returns whether it changed.
    pub fn set_problem(&self, code: &'static str, message: Option<String>) -> bool {
        let mut changed = false;
        self.update(|s| {
            let at = s.problems.iter().position(|p| p.code == code);
            match (&message, at) {
                (Some(m), Some(i)) => {
                    if let Some(p) = s.problems.get_mut(i)
                        && &p.message != m
                    {
                        p.message.clone_from(m);
                        changed = true;
                    }
                }
                (Some(m), None) => {
                    s.problems.push(Problem {
                        code,
                        message: m.clone(),
                        since: Utc::now(),
                    });
                    changed = true;
                }
                (None, Some(i)) => {
                    s.problems.remove(i);
                    changed = true;
                }
                (None, None) => {}
            }
            s.problem = (!s.problems.is_empty()).then(|| {
                s.problems
                    .iter()
                    .map(|p| p.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            });
        });
        if changed {
            match &message {
                Some(m) => log::error!("problem [{code}]: {m}"),
                None => log::info!("resolved [{code}]"),
            }
        }
        changed
    }

    /// Whether the problem `code` is standing now.
    pub fn has_problem(&self, code: &str) -> bool {
        self.get().problems.iter().any(|p| p.code == code)
    }
}

/// The `/ready` document.
#[derive(Debug, Clone, Serialize)]
pub struct Ready {
    /// True when a generation is served and its pages can be shown: false without data,
    /// and while every patient page is refused (the access log cannot be written, or the
    /// served data is corrupt and being rebuilt; `problems` says which).
    pub ready: bool,
    /// The mode (`standby`, `emergency`, `drill`).
    pub mode: &'static str,
    /// Since when the mode holds.
    pub mode_since: DateTime<Utc>,
    /// For a drill: when it ends by itself.
    pub drill_ends_at: Option<DateTime<Utc>>,
    /// The ward this box serves (from the config).
    pub ward: String,
    /// This box's appliance id.
    pub appliance: String,
    /// The served generation's snapshot sequence; `None` without data.
    pub sequence: Option<u64>,
    /// The time the served data describes (the EPD read).
    pub data_as_of: Option<DateTime<Utc>>,
    /// When this box accepted the served snapshot.
    pub received_at: Option<DateTime<Utc>>,
    /// When the served treatment states were decided (the ingest, or the last
    /// re-derivation when a course ended or started by the clock since).
    pub states_as_of: Option<DateTime<Utc>>,
    /// The next moment at which a served state changes by the clock (then re-derived).
    pub next_change: Option<DateTime<Utc>>,
    /// Seconds since `data_as_of` (the age every screen shows).
    pub age_seconds: Option<i64>,
    /// True when the data is older than the configured threshold.
    pub stale: bool,
    /// Patients in the served generation.
    pub patients: Option<usize>,
    /// The most recently refused snapshot since start.
    pub last_rejection: Option<Rejection>,
    /// The last refused snapshots (at most 20), newest first.
    pub recent_rejections: Vec<Rejection>,
    /// All problems' messages joined (kept for older monitoring); None when all is well.
    pub problem: Option<String>,
    /// The standing problems with stable codes, plus `clock_behind_data` when the served
    /// data claims to be from the future.
    pub problems: Vec<Problem>,
    /// True when `data_as_of` is more than 5 minutes ahead of this box's clock.
    pub data_from_future: bool,
    /// Staff members in the roster in use (0 without a roster).
    pub roster_staff: usize,
}

/// The standing problems under which every patient page is refused.
pub(crate) const REFUSES_PAGES: &[&str] = &[code::AUDIT_WRITE_FAILED, code::GENERATION_CORRUPT];

/// Builds the `/ready` document.
pub fn ready(
    ward: &str,
    appliance: &str,
    stale_after: std::time::Duration,
    generation: Option<(&GenerationMeta, usize)>,
    mode: &ModeState,
    status: &IngestStatus,
    now: DateTime<Utc>,
) -> Ready {
    let age = generation.map(|(m, _)| (now - m.data_as_of).num_seconds());
    let stale_s = i64::try_from(stale_after.as_secs()).unwrap_or(i64::MAX);
    let ahead_s = crate::snapshot::MAX_CLOCK_AHEAD.num_seconds();
    let data_from_future = age.is_some_and(|a| a < -ahead_s);
    let mut problems = status.problems.clone();
    if let (true, Some(a), Some((m, _))) = (data_from_future, age, generation) {
        problems.push(Problem {
            code: code::CLOCK_BEHIND_DATA,
            message: format!(
                "the served data is dated {} s ahead of this box's clock; the clock is \
                 behind (or was set back): check `date` and the RTC/NTP (OPERATIONS.md \
                 section 11). The data is still served; its age cannot be trusted",
                a.unsigned_abs()
            ),
            since: m.received_at.min(now),
        });
    }
    let problem = (!problems.is_empty()).then(|| {
        problems
            .iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    });
    let refusing = problems.iter().any(|p| REFUSES_PAGES.contains(&p.code));
    Ready {
        ready: generation.is_some() && !refusing,
        mode: mode.mode.as_str(),
        mode_since: mode.since,
        drill_ends_at: mode.drill_ends_at,
        ward: ward.to_owned(),
        appliance: appliance.to_owned(),
        sequence: generation.map(|(m, _)| m.sequence),
        data_as_of: generation.map(|(m, _)| m.data_as_of),
        received_at: generation.map(|(m, _)| m.received_at),
        states_as_of: generation.and_then(|(m, _)| m.derived_at),
        next_change: generation.and_then(|(m, _)| m.next_change),
        age_seconds: age,
        // Data from the future has no trustworthy age: treat it as stale, never as fresh.
        stale: data_from_future || age.is_none_or(|a| a > stale_s),
        patients: generation.map(|(_, n)| n),
        last_rejection: status.last_rejection.clone(),
        recent_rejections: status.rejections.iter().cloned().collect(),
        problem,
        problems,
        data_from_future,
        roster_staff: status.roster_staff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_listed_by_code_updated_in_place_and_cleared() {
        let cell = StatusCell::default();
        assert!(cell.set_problem(code::INBOX_UNREADABLE, Some("inbox gone".into())));
        assert!(cell.set_problem(code::KEY_UNUSABLE, Some("key 0644".into())));
        assert!(!cell.set_problem(code::KEY_UNUSABLE, Some("key 0644".into())));
        assert!(cell.set_problem(code::KEY_UNUSABLE, Some("key missing".into())));
        let s = cell.get();
        let codes: Vec<_> = s.problems.iter().map(|p| p.code).collect();
        assert_eq!(codes, vec!["inbox_unreadable", "key_unusable"]);
        assert_eq!(s.problem.as_deref(), Some("inbox gone; key missing"));
        assert!(cell.set_problem(code::INBOX_UNREADABLE, None));
        assert!(!cell.set_problem(code::INBOX_UNREADABLE, None));
        assert!(cell.set_problem(code::KEY_UNUSABLE, None));
        assert_eq!(cell.get().problem, None);
        assert!(!cell.has_problem(code::KEY_UNUSABLE));
    }

    #[test]
    fn keeps_the_last_twenty_rejections_newest_first() {
        let mut s = IngestStatus::default();
        let t = Utc::now();
        for i in 0..25 {
            s.record_rejection(Rejection {
                file: format!("a3-{i}.snap"),
                code: "bad_signature".into(),
                reason: "x".into(),
                time: t,
            });
        }
        assert_eq!(s.rejections.len(), REJECTIONS_KEPT);
        assert_eq!(
            s.rejections.front().map(|r| r.file.as_str()),
            Some("a3-24.snap")
        );
        assert_eq!(
            s.rejections.back().map(|r| r.file.as_str()),
            Some("a3-5.snap")
        );
        assert_eq!(s.last_rejection.map(|r| r.file), Some("a3-24.snap".into()));
    }

    #[test]
    fn every_problem_code_is_listed_once() {
        let mut all = code::ALL.to_vec();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), code::ALL.len());
    }
}
