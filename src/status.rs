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
    pub file: String,
    /// Short stable code ("bad_signature", "replayed_sequence" ...).
    pub code: String,
    /// One clear line for a person.
    pub reason: String,
    pub time: DateTime<Utc>,
}

/// What ingest reports about itself.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestStatus {
    pub last_rejection: Option<Rejection>,
    /// A standing problem (inbox missing, key unreadable, disk full ...), cleared when fixed.
    pub problem: Option<String>,
    /// The highest sequence accepted for this ward (persisted; rollback protection).
    pub last_sequence: Option<u64>,
    /// When the roster in use was accepted, if any.
    pub roster_received_at: Option<DateTime<Utc>>,
    pub roster_staff: usize,
}

/// Counters for /metrics (monotonic since start).
#[derive(Debug, Default)]
pub struct Metrics {
    pub snapshots_accepted: AtomicU64,
    pub snapshots_rejected: AtomicU64,
    pub logins: AtomicU64,
    pub logins_failed: AtomicU64,
    pub lockouts: AtomicU64,
    pub patient_page_views: AtomicU64,
    pub page_views: AtomicU64,
    pub prints: AtomicU64,
    pub audit_failures: AtomicU64,
    pub http_requests: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(c: &AtomicU64) {
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
    pub fn update(&self, f: impl FnOnce(&mut IngestStatus)) {
        match self.0.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// The `/ready` document.
#[derive(Debug, Clone, Serialize)]
pub struct Ready {
    /// True when a generation is being served.
    pub ready: bool,
    pub mode: &'static str,
    pub mode_since: DateTime<Utc>,
    pub drill_ends_at: Option<DateTime<Utc>>,
    pub ward: String,
    pub appliance: String,
    pub sequence: Option<u64>,
    pub data_as_of: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
    /// Seconds since `data_as_of` (the age every screen shows).
    pub age_seconds: Option<i64>,
    /// True when the data is older than the configured threshold.
    pub stale: bool,
    pub patients: Option<usize>,
    pub last_rejection: Option<Rejection>,
    pub problem: Option<String>,
    pub roster_staff: usize,
}

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
    Ready {
        ready: generation.is_some(),
        mode: mode.mode.as_str(),
        mode_since: mode.since,
        drill_ends_at: mode.drill_ends_at,
        ward: ward.to_owned(),
        appliance: appliance.to_owned(),
        sequence: generation.map(|(m, _)| m.sequence),
        data_as_of: generation.map(|(m, _)| m.data_as_of),
        received_at: generation.map(|(m, _)| m.received_at),
        age_seconds: age,
        stale: age.is_none_or(|a| a > stale_s),
        patients: generation.map(|(_, n)| n),
        last_rejection: status.last_rejection.clone(),
        problem: status.problem.clone(),
        roster_staff: status.roster_staff,
    }
}
