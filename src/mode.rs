//! The mode of the appliance: *standby* (the EPD works; no patient data on any URL),
//! *emergency* (the full view) or *drill* (the full view, marked as an exercise, ending
//! automatically). Persisted in the state directory so a restart keeps the mode; every
//! switch is written to the audit log before it takes effect.
//!
//! Switches come from three places: a signed mode-command snapshot (ingest), a coordinator
//! in the web view, and root on the box via the control socket (`noodepd mode`).

use crate::audit::{AccessPoint, Action, AuditError, AuditLog, Event, EventKind, Outcome, UserRef};
use crate::fsutil::write_atomic;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

/// File name of the persisted mode in the state directory.
pub(crate) const MODE_FILE: &str = "mode.json";
/// Longest reason text kept.
pub(crate) const MAX_REASON: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// What the box may show: nothing in standby, everything in an emergency or a drill.
pub enum Mode {
    /// No outage: the box shows no patient data to anyone.
    Standby,
    /// An outage: staff in a clinical role see the ward's data (the `it` role never does).
    Emergency,
    /// Practice: as an emergency, marked as a drill on every page, and ended automatically.
    Drill,
}

impl Mode {
    /// The lower-case name used in logs, JSON and the audit log.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Standby => "standby",
            Mode::Emergency => "emergency",
            Mode::Drill => "drill",
        }
    }

    /// True when patient data may be shown.
    pub(crate) fn shows_patient_data(self) -> bool {
        !matches!(self, Mode::Standby)
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standby" => Ok(Mode::Standby),
            "emergency" => Ok(Mode::Emergency),
            "drill" => Ok(Mode::Drill),
            other => Err(format!(
                "unknown mode {other:?} (standby, emergency, drill)"
            )),
        }
    }
}

/// Who asked for a switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Switcher {
    /// A signed mode command from the publisher (snapshot file and sequence).
    Publisher {
        /// The snapshot file that carried the command.
        snapshot: String,
        /// Its sequence number.
        sequence: u64,
    },
    /// A coordinator in the web view.
    User {
        /// The coordinator.
        user: UserRef,
        /// Where the request came from.
        access_point: AccessPoint,
    },
    /// Root on the box via the control socket.
    Console,
    /// The daemon itself (a drill reaching its end time).
    Timer,
}

impl Switcher {
    /// A short "who" for display.
    pub(crate) fn who(&self) -> String {
        match self {
            Switcher::Publisher { sequence, .. } => format!("publisher (snapshot {sequence})"),
            Switcher::User { user, .. } => format!("{} ({})", user.name, user.id),
            Switcher::Console => "root (console)".into(),
            Switcher::Timer => "automatic (drill time elapsed)".into(),
        }
    }
}

/// The persisted mode state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeState {
    /// The mode in force.
    pub mode: Mode,
    /// When it was switched to.
    pub since: DateTime<Utc>,
    /// Who switched it.
    pub by: Switcher,
    /// Why (required; one line, at most 500 characters).
    pub reason: String,
    /// For a drill: when it ends automatically.
    pub drill_ends_at: Option<DateTime<Utc>>,
    /// For a drill: its id (the audit entry id of the switch that started it).
    pub drill_id: Option<i64>,
}

impl ModeState {
    fn initial() -> ModeState {
        ModeState {
            mode: Mode::Standby,
            since: Utc::now(),
            by: Switcher::Console,
            reason: "initial state".into(),
            drill_ends_at: None,
            drill_id: None,
        }
    }
}

/// Errors of the mode controller.
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    #[error("mode file {path}: {source}")]
    /// The mode file could not be read or written.
    Io {
        /// The mode file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The mode file does not parse: the box refuses to guess the mode.
    #[error("mode file {path} is corrupt ({message}); refusing to guess the mode")]
    Corrupt {
        /// The mode file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    #[error("mode switch not recorded in the audit log, so not made: {0}")]
    /// The switch could not be recorded in the access log, so it was not made.
    Audit(#[from] AuditError),
    #[error("a reason is required (1 to {MAX_REASON} characters, one line, no control characters)")]
    /// The reason is missing, too long, or not one line.
    Reason,
}

/// Holds and persists the mode.
pub struct ModeController {
    path: PathBuf,
    drill_max: Duration,
    state: RwLock<ModeState>,
}

impl ModeController {
    /// Loads the persisted mode from `state_dir` (standby when there is none yet).
    pub fn load(state_dir: &Path, drill_max: Duration) -> Result<ModeController, ModeError> {
        let path = state_dir.join(MODE_FILE);
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ModeError::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ModeState::initial(),
            Err(source) => return Err(ModeError::Io { path, source }),
        };
        Ok(ModeController {
            path,
            drill_max,
            state: RwLock::new(state),
        })
    }

    /// The state now. A drill past its end time already reads as standby, even before
    /// [`ModeController::expire_drill`] has persisted that.
    pub fn current(&self, now: DateTime<Utc>) -> ModeState {
        let s = match self.state.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        };
        match s.drill_ends_at {
            Some(end) if s.mode == Mode::Drill && now >= end => ModeState {
                mode: Mode::Standby,
                since: end,
                by: Switcher::Timer,
                reason: "drill time elapsed".into(),
                drill_ends_at: None,
                drill_id: s.drill_id,
            },
            _ => s,
        }
    }

    /// Switches mode: records it in the audit log (durably) first, then persists it.
    pub fn set(
        &self,
        audit: &AuditLog,
        mode: Mode,
        by: Switcher,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<ModeState, ModeError> {
        let reason = reason.trim();
        // One line of plain text: it reaches the audit log, exports and terminals.
        if reason.is_empty()
            || reason.chars().count() > MAX_REASON
            || reason.chars().any(crate::text::is_unsafe)
        {
            return Err(ModeError::Reason);
        }
        let previous = self.current(now);
        let drill_ends_at = (mode == Mode::Drill).then(|| {
            now + chrono::Duration::from_std(self.drill_max).unwrap_or(chrono::Duration::hours(2))
        });
        let event = Event::new(
            EventKind::ModeSwitch,
            Action::U,
            Outcome::Success,
            mode.as_str(),
            format!(
                "{} -> {} by {}: {}{}",
                previous.mode.as_str(),
                mode.as_str(),
                by.who(),
                reason,
                drill_ends_at
                    .map(|t| format!(" (ends {})", t.to_rfc3339()))
                    .unwrap_or_default()
            ),
        );
        let event = match &by {
            Switcher::User { user, access_point } => event
                .by(Some(user.clone()), None)
                .from(access_point.clone()),
            Switcher::Console => event.from(AccessPoint::console()),
            _ => event,
        };
        let entry = audit.append_at(event, now)?;
        let new = ModeState {
            mode,
            since: now,
            by,
            reason: reason.to_owned(),
            drill_ends_at,
            drill_id: if mode == Mode::Drill {
                Some(entry.id)
            } else {
                previous.drill_id
            },
        };
        self.persist(&new)?;
        match self.state.write() {
            Ok(mut s) => *s = new.clone(),
            Err(p) => *p.into_inner() = new.clone(),
        }
        Ok(new)
    }

    /// Ends a drill whose time is up (persisting standby and logging it). Returns the new
    /// state when it did.
    pub(crate) fn expire_drill(
        &self,
        audit: &AuditLog,
        now: DateTime<Utc>,
    ) -> Result<Option<ModeState>, ModeError> {
        let stored = match self.state.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        };
        match stored.drill_ends_at {
            Some(end) if stored.mode == Mode::Drill && now >= end => self
                .set(
                    audit,
                    Mode::Standby,
                    Switcher::Timer,
                    "drill time elapsed",
                    now,
                )
                .map(Some),
            _ => Ok(None),
        }
    }

    fn persist(&self, s: &ModeState) -> Result<(), ModeError> {
        let io = |source| ModeError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(s).map_err(|e| ModeError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&self.path, &bytes).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
    }

    #[test]
    fn mode_survives_restart_and_every_switch_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditLog::open(dir.path(), "box1", "A3").unwrap();
        let mc = ModeController::load(dir.path(), Duration::from_secs(3600)).unwrap();
        assert_eq!(mc.current(t(6, 0)).mode, Mode::Standby);
        mc.set(
            &audit,
            Mode::Emergency,
            Switcher::Console,
            "EPD down",
            t(6, 0),
        )
        .unwrap();
        let again = ModeController::load(dir.path(), Duration::from_secs(3600)).unwrap();
        assert_eq!(again.current(t(6, 1)).mode, Mode::Emergency);
        assert_eq!(again.current(t(6, 1)).reason, "EPD down");
        assert_eq!(audit.head().0, 1);
    }

    #[test]
    fn drill_ends_by_itself_at_its_end_time() {
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditLog::open(dir.path(), "box1", "A3").unwrap();
        let mc = ModeController::load(dir.path(), Duration::from_secs(3600)).unwrap();
        let s = mc
            .set(&audit, Mode::Drill, Switcher::Console, "oefening", t(6, 0))
            .unwrap();
        assert_eq!(s.drill_ends_at, Some(t(7, 0)));
        assert_eq!(mc.current(t(6, 59)).mode, Mode::Drill);
        assert_eq!(mc.current(t(7, 0)).mode, Mode::Standby);
        assert!(mc.expire_drill(&audit, t(6, 30)).unwrap().is_none());
        let ended = mc.expire_drill(&audit, t(7, 0)).unwrap().unwrap();
        assert_eq!(ended.mode, Mode::Standby);
        assert_eq!(audit.head().0, 2);
    }

    #[test]
    fn switch_without_reason_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditLog::open(dir.path(), "box1", "A3").unwrap();
        let mc = ModeController::load(dir.path(), Duration::from_secs(3600)).unwrap();
        for bad in ["  ", "EPD\nstoring", "a\u{1b}[2Jb", "x\u{202E}y"] {
            assert!(matches!(
                mc.set(&audit, Mode::Emergency, Switcher::Console, bad, t(6, 0)),
                Err(ModeError::Reason)
            ));
        }
        assert_eq!(mc.current(t(6, 0)).mode, Mode::Standby);
    }

    #[test]
    fn corrupt_mode_file_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MODE_FILE), b"{nonsense").unwrap();
        assert!(matches!(
            ModeController::load(dir.path(), Duration::from_secs(60)),
            Err(ModeError::Corrupt { .. })
        ));
    }
}
