//! The fleet in one place: per ward the last publish result, census and sequence; per box
//! what was sent, what its status file says it serves, its data age, its problems, and
//! whether it answered. The service loop writes it after every cycle; the status page and
//! `/metrics` read it. No patient data: ids, counts, times, codes and operator messages.

use super::config::PublisherConfig;
use crate::statusfile::BoxStatus;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A box's clock may differ this much from the publisher's before it is a problem (the
/// status file is rewritten every 30 s, so smaller offsets are noise).
pub(crate) const CLOCK_TOLERANCE: Duration = Duration::from_secs(120);

/// The last publish attempt of a ward.
#[derive(Debug, Clone, Default)]
pub(crate) struct WardState {
    pub id: String,
    pub name: String,
    /// The interval of the ward's source.
    pub interval: Duration,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// `None` after a success; the reason (one line, no patient data) after a failure.
    pub last_error: Option<String>,
    /// A stable code for the last failure (`timeout`, `http_error`, `shrink_refused`, ...).
    pub last_error_code: Option<&'static str>,
    pub failures: u64,
    pub census: Option<usize>,
    pub sequence: Option<u64>,
    pub data_as_of: Option<DateTime<Utc>>,
    /// Seconds the last read (census + data + references) took, and its requests.
    pub read_seconds: Option<f64>,
    pub requests: Option<u64>,
    pub boxes: Vec<BoxState>,
}

/// What the publisher knows about one box.
#[derive(Debug, Clone, Default)]
pub(crate) struct BoxState {
    pub id: String,
    /// SFTP boxes answer with a status; directory boxes cannot.
    pub sftp: bool,
    pub reachable: Option<bool>,
    pub last_contact: Option<DateTime<Utc>>,
    /// The newest sequence delivered to it.
    pub sent_sequence: Option<u64>,
    pub sent_at: Option<DateTime<Utc>>,
    /// A sealed snapshot still to deliver (an upload failed): its sequence.
    pub pending_sequence: Option<u64>,
    pub last_delivery_error: Option<String>,
    pub delivery_failures: u64,
    /// The last status file read from it, and when.
    pub status: Option<BoxStatus>,
    pub status_read_at: Option<DateTime<Utc>>,
    pub status_error: Option<String>,
}

/// A problem shown for a box: a stable code and one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BoxProblem {
    pub code: String,
    pub message: String,
}

impl BoxState {
    /// Seconds between the box's clock and the publisher's when the status was read.
    pub(crate) fn clock_offset(&self) -> Option<i64> {
        let s = self.status.as_ref()?;
        let read = self.status_read_at?;
        Some((s.clock - read).num_seconds())
    }

    /// Age of the data the box serves (by the publisher's clock).
    pub(crate) fn data_age(&self, now: DateTime<Utc>) -> Option<i64> {
        let d = self.status.as_ref()?.data_as_of?;
        Some((now - d).num_seconds())
    }

    /// The box's problems: its own standing problems, a refusal newer than the data it
    /// serves, and what the publisher sees (unreachable, no status, wrong ward, clock).
    pub(crate) fn problems(&self, ward: &str) -> Vec<BoxProblem> {
        let mut out = Vec::new();
        if self.sftp
            && let Some(e) = &self.status_error
        {
            out.push(BoxProblem {
                code: "status_unreadable".into(),
                message: e.clone(),
            });
        }
        if let Some(e) = &self.last_delivery_error {
            out.push(BoxProblem {
                code: "delivery_failed".into(),
                message: e.clone(),
            });
        }
        if let Some(s) = &self.status {
            for p in &s.problems {
                out.push(BoxProblem {
                    code: p.code.clone(),
                    message: p.message.clone(),
                });
            }
            if let Some(r) = &s.last_rejection
                && s.received_at.is_none_or(|t| r.time > t)
            {
                out.push(BoxProblem {
                    code: format!("refused_{}", r.code),
                    message: format!("the box refused {}: {}", r.file, r.reason),
                });
            }
            if s.ward != ward {
                out.push(BoxProblem {
                    code: "wrong_ward".into(),
                    message: format!(
                        "the box serves ward {:?}, this publisher delivers ward {ward:?} to it: \
                         check the config (sftp address) and the box's provisioning",
                        s.ward
                    ),
                });
            }
            if let Some(o) = self.clock_offset()
                && o.unsigned_abs() > CLOCK_TOLERANCE.as_secs()
            {
                out.push(BoxProblem {
                    code: "clock_offset".into(),
                    message: format!(
                        "the box's clock is {o} s off the publisher's (OPERATIONS.md section 11)"
                    ),
                });
            }
        }
        out
    }
}

/// The whole fleet, shared between the service loop and the status page.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fleet {
    pub wards: Vec<WardState>,
}

/// The shared fleet state.
pub(crate) type SharedFleet = Arc<Mutex<Fleet>>;

impl Fleet {
    /// An empty fleet for the configured wards and boxes.
    pub(crate) fn new(cfg: &PublisherConfig) -> Fleet {
        Fleet {
            wards: cfg
                .wards
                .iter()
                .map(|w| WardState {
                    id: w.id.clone(),
                    name: w.name.clone(),
                    interval: cfg
                        .sources
                        .get(w.source)
                        .map_or(Duration::from_secs(300), |s| s.interval),
                    boxes: w
                        .boxes
                        .iter()
                        .map(|b| BoxState {
                            id: b.id.clone(),
                            sftp: matches!(b.target, super::config::BoxTarget::Sftp(_)),
                            ..BoxState::default()
                        })
                        .collect(),
                    ..WardState::default()
                })
                .collect(),
        }
    }

    /// The ward with this id.
    pub(crate) fn ward_mut(&mut self, id: &str) -> Option<&mut WardState> {
        self.wards.iter_mut().find(|w| w.id == id)
    }
}

/// Locks the shared fleet (a poisoned lock still holds usable data).
pub(crate) fn lock(f: &SharedFleet) -> std::sync::MutexGuard<'_, Fleet> {
    match f.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statusfile::{BoxRejection, FORMAT};

    fn status(ward: &str, clock: DateTime<Utc>) -> BoxStatus {
        BoxStatus {
            format: FORMAT,
            ward: ward.into(),
            appliance: "b".into(),
            version: "0.1.0".into(),
            image_version: None,
            clock,
            mode: "standby".into(),
            mode_since: clock,
            serving: true,
            sequence: Some(5),
            data_as_of: Some(clock - chrono::Duration::minutes(3)),
            received_at: Some(clock - chrono::Duration::minutes(2)),
            patients: Some(4),
            stale: false,
            last_sequence: Some(5),
            roster_staff: 2,
            problems: vec![],
            last_rejection: None,
        }
    }

    #[test]
    fn a_refusal_after_the_served_data_is_a_problem_an_older_one_is_not() {
        let now = Utc::now();
        let mut b = BoxState {
            id: "b".into(),
            sftp: true,
            status: Some(status("A3", now)),
            status_read_at: Some(now),
            ..BoxState::default()
        };
        assert!(b.problems("A3").is_empty());
        assert_eq!(b.data_age(now), Some(180));
        let rej = |t| BoxRejection {
            file: "A3-9.snap".into(),
            code: "not_for_this_appliance".into(),
            reason: "not addressed to this appliance".into(),
            time: t,
        };
        b.status.as_mut().unwrap().last_rejection = Some(rej(now - chrono::Duration::minutes(5)));
        assert!(b.problems("A3").is_empty());
        b.status.as_mut().unwrap().last_rejection = Some(rej(now));
        let codes: Vec<String> = b.problems("A3").into_iter().map(|p| p.code).collect();
        assert_eq!(codes, vec!["refused_not_for_this_appliance"]);
    }

    #[test]
    fn wrong_ward_and_clock_offset_are_problems() {
        let now = Utc::now();
        let b = BoxState {
            id: "b".into(),
            sftp: true,
            status: Some(status("B4", now + chrono::Duration::minutes(10))),
            status_read_at: Some(now),
            ..BoxState::default()
        };
        let codes: Vec<String> = b.problems("A3").into_iter().map(|p| p.code).collect();
        assert_eq!(codes, vec!["wrong_ward", "clock_offset"]);
        assert_eq!(b.clock_offset(), Some(600));
    }
}
