//! The pipeline for one inbox file: size check, read, [`snapshot::open`] (verify before
//! decrypt), header checks (ward, sequence, clock), then by payload kind: clinical →
//! [`fhir::map_payload`] → [`crate::store::Store::build`] → keep the sealed file →
//! [`crate::store::Store::swap`] (the commit point); roster → [`Roster::from_json`] →
//! `state/roster.snap` → in force; mode command → [`crate::mode::ModeController::set`].
//!
//! Outcomes: *accepted* (audited, counted, file moved out of the inbox), *rejected* (the
//! file's fault: quarantined with its reason, audited, counted, shown in `/ready`), or
//! *deferred* (not the file's fault — key unreadable, disk or tmpfs full: the file stays in
//! the inbox and is retried on the next rescan, and a standing `problem` is shown).
//!
//! Limits: the snapshot caps follow the service's memory limit (`data.memory_max_mib`,
//! [`Limits::for_memory`]); a clinical payload is also refused before it is parsed when it
//! may hold more resources than [`max_resources`] (each costs kilobytes once mapped, so a
//! small file of millions of tiny resources would otherwise take gigabytes).
//!
//! Invariants: any failure before the swap leaves the previous generation served; the
//! sequence is persisted only after the swap (clinical) or after applying (roster, mode),
//! and never goes down; nothing logged or audited here contains patient data (file names,
//! kinds, sequences, counts, codes, durations only); a file the daemon died on twice is
//! quarantined at the next start (`inflight`).

use super::inflight;
use super::keep::{self, KeptKind, ROSTER_FILE, SNAPSHOT_DIR};
use super::quarantine::{self, QuarantineNote, one_line, safe_name};
use super::state::{SequenceState, StateError};
use crate::app::App;
use crate::audit::{Action, Event, EventKind, Outcome};
use crate::fhir::{self, MapOptions};
use crate::keys::{ApplianceSecret, PublisherPublic};
use crate::mode::{Mode, ModeError, Switcher};
use crate::roster::Roster;
use crate::snapshot::{self, Header, Limits, Opened, PayloadKind};
use crate::status::{Metrics, Rejection, code};
use crate::store::GenerationMeta;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

pub use crate::snapshot::MAX_CLOCK_AHEAD;
/// Largest mode-command payload.
pub const MAX_MODE_COMMAND: usize = 4096;
/// Largest roster payload (2000 staff with argon2 hashes fit in well under 1 MiB).
pub const MAX_ROSTER: usize = 4 * 1024 * 1024;
/// The deferral reason for a file a writer is still busy with.
const STILL_WRITING: &str = "still being written";
/// Longest reason text kept in a rejection (status, audit, quarantine note).
const MAX_REASON_TEXT: usize = 500;
/// Memory one input resource may take once parsed and mapped, for the resource cap:
/// measured 1.2–2.4 KiB for the smallest resources (docs/SNAPSHOT-FORMAT.md), with room
/// for the rest of what the daemon holds while it maps.
pub const MEMORY_PER_RESOURCE: u64 = 10 * 1024;

/// Most resources a clinical payload may hold for a service allowed `memory` bytes
/// (about 100,000 for 1 GiB: a 40-bed ward has about 4,500).
pub fn max_resources(memory: u64) -> u64 {
    memory / MEMORY_PER_RESOURCE
}

/// An upper bound of the resources in a clinical payload, without parsing it: the number
/// of `"resourceType"` tokens (every resource has one; a string value that merely
/// contains the word has its quotes escaped, so it is not counted). Stops counting past
/// `limit`.
pub fn resource_count_bound(payload: &[u8], limit: u64) -> u64 {
    const TOKEN: &[u8] = b"\"resourceType\"";
    let mut n = 0u64;
    let mut i = 0;
    while let Some(rest) = payload.get(i..) {
        let Some(q) = rest.iter().position(|&b| b == b'"') else {
            break;
        };
        let at = i + q;
        if payload.get(at..at + TOKEN.len()) == Some(TOKEN) {
            n += 1;
            if n > limit {
                break;
            }
            i = at + TOKEN.len();
        } else {
            i = at + 1;
        }
    }
    n
}

/// Errors that stop ingest from starting at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A snapshot that was accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// Inbox file name (made safe, see [`safe_name`]).
    pub file: String,
    pub kind: PayloadKind,
    pub sequence: u64,
    pub data_as_of: DateTime<Utc>,
    /// Patients in the new generation (clinical only).
    pub patients: Option<usize>,
    /// Staff on the new roster (roster only).
    pub staff: Option<usize>,
    /// The mode switched to (mode command only).
    pub mode: Option<Mode>,
    /// Accepted only because the publisher sealed it with `allow_shrink` (clinical only).
    pub shrink_allowed: bool,
    /// Wall time from reading the file to the commit.
    pub took: std::time::Duration,
}

/// Why a file was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessError {
    /// Refused: moved to quarantine (when possible) with its reason.
    Rejected(Rejection),
    /// Not the file's fault; left in the inbox and retried later.
    Deferred { file: String, reason: String },
    /// Not a file to ingest (gone, or not a regular file); left alone.
    Ignored { file: String, reason: String },
}

impl std::fmt::Display for ProcessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessError::Rejected(r) => {
                write!(f, "{} refused ({}): {}", r.file, r.code, r.reason)
            }
            ProcessError::Deferred { file, reason } => write!(f, "{file} deferred: {reason}"),
            ProcessError::Ignored { file, reason } => write!(f, "{file} ignored: {reason}"),
        }
    }
}

/// Internal: what applying a payload produced.
#[derive(Default)]
struct Applied {
    patients: Option<usize>,
    staff: Option<usize>,
    mode: Option<Mode>,
    /// The shrink check would have refused it, but the publisher set `allow_shrink`.
    shrink_allowed: bool,
}

/// Internal: how one attempt failed.
enum Failure {
    Refuse { code: String, reason: String },
    Defer(String),
    Ignore(String),
}

fn refuse(code: &str, reason: impl Into<String>) -> Failure {
    Failure::Refuse {
        code: code.to_owned(),
        reason: reason.into(),
    }
}

/// Why a roster payload is refused: the rejection code (`/ready`, quarantine note) and the
/// reason, which names no value from the payload but a plain ward id.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct RosterRefusal {
    pub code: &'static str,
    pub reason: String,
}

/// Parses a roster payload and checks it is for `ward`, exactly as the daemon does before
/// putting a roster in force. `noodepd roster check` calls it too, so IT sees the daemon's
/// own refusal before sealing.
pub fn check_roster(payload: &[u8], ward: &str) -> Result<Roster, RosterRefusal> {
    let refusal = |code, reason| RosterRefusal { code, reason };
    if payload.len() > MAX_ROSTER {
        return Err(refusal(
            "roster_invalid",
            format!(
                "roster payload is {} bytes; at most {MAX_ROSTER}",
                payload.len()
            ),
        ));
    }
    let roster =
        Roster::from_json(payload).map_err(|e| refusal("roster_invalid", e.to_string()))?;
    if roster.ward != ward {
        // A plain ward id is named (as the header's is); anything else is payload text.
        let named = if crate::config::check_id(&roster.ward).is_ok() {
            format!("ward {:?}", roster.ward)
        } else {
            "a ward id that is not a plain id".to_owned()
        };
        return Err(refusal(
            "roster_wrong_ward",
            format!("the roster inside is for {named}, this appliance serves {ward:?}"),
        ));
    }
    Ok(roster)
}

/// A mode command payload (JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeCommand {
    mode: Mode,
    reason: String,
}

/// The loaded keys and the modification times they were read at (to notice rotation).
pub(crate) struct Keys {
    appliance: ApplianceSecret,
    publisher: PublisherPublic,
    stamp: (Option<KeyStamp>, Option<KeyStamp>),
}

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

/// The ingest pipeline. One per daemon; share it in an `Arc`.
pub struct Ingestor {
    pub(crate) shared: Arc<App>,
    limits: Limits,
    /// Files the previous run died on once, with the attempts so far (see `inflight`).
    retried: Mutex<Option<inflight::Inflight>>,
    keys: Mutex<Option<Arc<Keys>>>,
    sequence: Mutex<SequenceState>,
    /// Held while a file is processed: one file at a time, in order.
    busy: Mutex<()>,
    snapshots: PathBuf,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// What identifies a key file's state: a change of any of these (a rewrite, a `chmod`, a
/// replacement by another file) makes ingest read the keys again.
type KeyStamp = (SystemTime, i64, i64, u32, u64, u64);

fn key_stamp(path: &Path) -> Option<KeyStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.modified().ok()?,
        m.ctime(),
        m.ctime_nsec(),
        m.mode(),
        m.ino(),
        m.len(),
    ))
}

/// The fix for a key file that cannot be used, for the one-line problem message.
fn key_fix(e: &crate::keys::KeyError, appliance: bool) -> &'static str {
    match (e, appliance) {
        // The error itself says `chmod 600 FILE`.
        (crate::keys::KeyError::InsecurePermissions { .. }, _) => "",
        (_, true) => {
            " — fix: put this box's appliance.key back (mode 0600, owned by the daemon's \
             user; OPERATIONS.md section 9) or make a new one with `noodepd keygen \
             appliance` and register it with the publisher"
        }
        (_, false) => {
            " — fix: put the publisher's publisher.pub there (re-provision the box with the \
             right --publisher-key, OPERATIONS.md section 4)"
        }
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn bounded(s: &str) -> String {
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
    /// Prepares ingest with the snapshot [`Limits`] for the configured memory limit
    /// (`data.memory_max_mib`): loads the persisted sequence state and creates the inbox
    /// (0700 unless it exists), quarantine and kept-snapshot directories. Keys are read
    /// lazily (and re-read when their files change), so a missing key is a standing
    /// `problem`, not a failure to start.
    pub fn new(shared: Arc<App>) -> Result<Ingestor, IngestError> {
        let limits = Limits::for_memory(shared.config.data.memory_max);
        Self::with_limits(shared, limits)
    }

    /// As [`Ingestor::new`] with explicit limits.
    pub fn with_limits(shared: Arc<App>, limits: Limits) -> Result<Ingestor, IngestError> {
        let paths = &shared.config.paths;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| IngestError::Io { path, source }
        };
        crate::fsutil::create_private_dir_all(&paths.state).map_err(io(&paths.state))?;
        let snapshots = paths.state.join(SNAPSHOT_DIR);
        quarantine::ensure_private_dir(&snapshots).map_err(io(&snapshots))?;
        quarantine::ensure_private_dir(&paths.quarantine).map_err(io(&paths.quarantine))?;
        if !paths.inbox.exists() {
            // Private when the daemon makes it: on the box the image makes the inbox with
            // the transfer account's group access (image/rootfs/usr/lib/tmpfiles.d).
            crate::fsutil::create_private_dir_all(&paths.inbox).map_err(io(&paths.inbox))?;
        }
        // Half-written kept copies from a crash (write_atomic's temp files) are useless.
        if let Ok(entries) = std::fs::read_dir(&snapshots) {
            for e in entries.flatten() {
                if e.file_name().as_encoded_bytes().ends_with(b".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let sequence = SequenceState::load(&paths.state)?;
        let last = sequence.last(&shared.config.ward);
        shared.status.update(|s| s.last_sequence = last);
        let ingestor = Ingestor {
            shared,
            limits,
            retried: Mutex::new(None),
            keys: Mutex::new(None),
            sequence: Mutex::new(sequence),
            busy: Mutex::new(()),
            snapshots,
        };
        // A cap lowered in the config (or a quarantine filled by an older version) is
        // applied at start, not only at the next refused file.
        ingestor.prune_quarantine(None, Utc::now());
        Ok(ingestor)
    }

    /// The daemon state this ingestor feeds.
    pub fn shared(&self) -> &Arc<App> {
        &self.shared
    }

    /// The highest sequence accepted for this ward (persisted).
    pub fn last_sequence(&self) -> Option<u64> {
        lock(&self.sequence).last(&self.shared.config.ward)
    }

    /// Sets or clears one standing problem by its stable code (see [`code`]); `/ready`
    /// lists them. Logs one line when that changes anything.
    pub(crate) fn set_problem(&self, code: &'static str, problem: Option<String>) {
        self.shared.status.set_problem(code, problem);
    }

    pub(crate) fn keys(&self) -> Result<Arc<Keys>, String> {
        let kp = &self.shared.config.keys;
        let stamp = (key_stamp(&kp.appliance_key), key_stamp(&kp.publisher_pub));
        let mut guard = lock(&self.keys);
        if let Some(k) = guard.as_ref()
            && k.stamp == stamp
        {
            return Ok(k.clone());
        }
        let loaded = ApplianceSecret::read(&kp.appliance_key)
            .map_err(|e| {
                format!(
                    "cannot use the appliance key {}: {e}{}; snapshots wait in the inbox",
                    kp.appliance_key.display(),
                    key_fix(&e, true)
                )
            })
            .and_then(|appliance| {
                PublisherPublic::read(&kp.publisher_pub)
                    .map(|publisher| (appliance, publisher))
                    .map_err(|e| {
                        format!(
                            "cannot use the publisher key {}: {e}{}; snapshots wait in the \
                             inbox",
                            kp.publisher_pub.display(),
                            key_fix(&e, false)
                        )
                    })
            });
        match loaded {
            Ok((appliance, publisher)) => {
                if guard.is_some() {
                    log::info!("key files changed; keys re-read");
                }
                let k = Arc::new(Keys {
                    appliance,
                    publisher,
                    stamp,
                });
                *guard = Some(k.clone());
                drop(guard);
                self.set_problem(code::KEY_UNUSABLE, None);
                Ok(k)
            }
            Err(e) => {
                *guard = None;
                drop(guard);
                self.set_problem(code::KEY_UNUSABLE, Some(e.clone()));
                Err(e)
            }
        }
    }

    /// Processes one final-named inbox file completely: accepted (served, kept, audited),
    /// rejected (quarantined, audited) or deferred (left for a retry). Blocking; one file
    /// at a time (concurrent calls wait for each other).
    pub fn process(&self, path: &Path) -> Result<Accepted, ProcessError> {
        self.process_with(path, false)
    }

    /// As [`Ingestor::process`]; `writer_may_be_active` (a file seen by a scan or a create
    /// event, with no close-after-write or rename yet) turns a *truncated* verdict into a
    /// deferral: a slow writer that paused is not punished. The watcher stops passing it
    /// after a while, so a file that never completes is refused in the end.
    pub fn process_with(
        &self,
        path: &Path,
        writer_may_be_active: bool,
    ) -> Result<Accepted, ProcessError> {
        let _busy = lock(&self.busy);
        let started = Instant::now();
        let name: &OsStr = path.file_name().unwrap_or(path.as_os_str());
        let file = safe_name(name);
        let now = Utc::now();
        let mut header: Option<Header> = None;
        self.mark_inflight(path);
        let result = self.attempt(path, &file, now, started, writer_may_be_active, &mut header);
        inflight::clear(&self.shared.config.paths.state);
        match result {
            Ok(acc) => {
                self.accepted(&acc, now);
                Ok(acc)
            }
            Err(Failure::Refuse { code, reason }) => {
                Err(self.reject(path, name, &file, header.as_ref(), &code, &reason, now))
            }
            Err(Failure::Defer(reason)) => {
                if reason == STILL_WRITING {
                    log::debug!("snapshot {file} is still being written; will look again");
                } else {
                    log::warn!("snapshot {file} not ingested yet: {reason}; will retry");
                    self.set_problem(
                        code::INGEST_DEFERRED,
                        Some(format!("snapshot {file} cannot be ingested yet: {reason}")),
                    );
                }
                Err(ProcessError::Deferred { file, reason })
            }
            Err(Failure::Ignore(reason)) => {
                log::debug!("inbox entry {file} ignored: {reason}");
                Err(ProcessError::Ignored { file, reason })
            }
        }
    }

    /// Marks `path` as in processing (the attempt count carries over when the previous run
    /// died on it). A marker that cannot be written only costs the crash protection.
    fn mark_inflight(&self, path: &Path) {
        let attempts = match lock(&self.retried).as_ref() {
            Some(r) if r.path == path => r.attempts + 1,
            _ => 1,
        };
        if let Err(e) = inflight::mark(&self.shared.config.paths.state, path, attempts) {
            log::warn!("cannot write the ingest marker: {e}");
        }
    }

    /// Start-up: a file the previous run died on. Quarantined when it was the second death
    /// on it; otherwise tried once more (a power cut or a kill must not cost a good
    /// snapshot), with a warning.
    fn handle_left_over(&self, now: DateTime<Utc>) {
        let state = &self.shared.config.paths.state;
        let Some(m) = inflight::take_left_over(state) else {
            return;
        };
        inflight::clear(state);
        let name: &OsStr = m.path.file_name().unwrap_or(m.path.as_os_str());
        let file = safe_name(name);
        if !m.path.is_file() {
            log::info!("the daemon stopped while processing {file}, which is gone since");
            return;
        }
        if m.attempts >= inflight::MAX_ATTEMPTS {
            let reason = format!(
                "the daemon stopped {} times while processing this file (out of memory, or a \
                 crash), so it is not tried again; the last good data stays served — have the \
                 publisher check it, or report it with this file",
                m.attempts
            );
            let _ = self.reject(&m.path, name, &file, None, "ingest_crashed", &reason, now);
        } else {
            log::warn!(
                "the daemon stopped while processing {file} (attempt {}); trying it once more — \
                 if it stops again, the file is quarantined",
                m.attempts
            );
            *lock(&self.retried) = Some(m);
        }
    }

    fn read_file(&self, path: &Path) -> Result<Vec<u8>, Failure> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure::Ignore("gone".into()));
            }
            Err(e) => return Err(Failure::Defer(format!("cannot stat: {e}"))),
        };
        if !meta.file_type().is_file() {
            return Err(Failure::Ignore("not a regular file".into()));
        }
        if meta.len() > self.limits.max_file {
            return Err(refuse(
                "too_large",
                format!(
                    "file is {} bytes; the limit is {}",
                    meta.len(),
                    self.limits.max_file
                ),
            ));
        }
        let mut bytes = Vec::new();
        // O_NOFOLLOW: the entry was a regular file when looked at; if it was swapped for a
        // symlink since, the open fails instead of following it.
        let read = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .and_then(|f| {
                f.take(self.limits.max_file.saturating_add(1))
                    .read_to_end(&mut bytes)
            });
        match read {
            Ok(_) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Failure::Ignore("gone".into()))
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                Err(Failure::Ignore("not a regular file (a symlink)".into()))
            }
            Err(e) => Err(Failure::Defer(format!("cannot read: {e}"))),
        }
    }

    /// Still being written: the size changed since it was read, or it was modified within
    /// the settle time.
    fn still_growing(path: &Path, read_len: usize) -> bool {
        match std::fs::metadata(path) {
            Ok(m) => {
                let recent = m
                    .modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_none_or(|age| age < super::watcher::SETTLE);
                m.len() != read_len as u64 || recent
            }
            Err(_) => false,
        }
    }

    fn attempt(
        &self,
        path: &Path,
        file: &str,
        now: DateTime<Utc>,
        started: Instant,
        writer_may_be_active: bool,
        header_out: &mut Option<Header>,
    ) -> Result<Accepted, Failure> {
        let bytes = self.read_file(path)?;
        let keys = self.keys().map_err(Failure::Defer)?;
        let opened = match snapshot::open(&bytes, &keys.appliance, &keys.publisher, &self.limits) {
            Ok(o) => o,
            Err(e) => {
                if e.code() == "truncated"
                    && (writer_may_be_active || Self::still_growing(path, bytes.len()))
                {
                    return Err(Failure::Defer(STILL_WRITING.into()));
                }
                return Err(refuse(e.code(), e.to_string()));
            }
        };
        *header_out = Some(opened.header.clone());
        self.check_header(&opened.header, now)?;
        let seq = opened.header.sequence;
        self.check_sequence(seq)?;
        let acc = match opened.header.kind {
            PayloadKind::Clinical => self.apply_clinical(&opened, &bytes, file, now)?,
            PayloadKind::Roster => self.apply_roster(&opened, &bytes, now)?,
            PayloadKind::ModeCommand => self.apply_mode(&opened, &bytes, file, now)?,
        };
        self.commit_sequence(seq);
        if let Err(e) = std::fs::remove_file(path) {
            log::warn!("accepted {file} but cannot remove it from the inbox: {e}");
        }
        Ok(Accepted {
            file: file.to_owned(),
            kind: opened.header.kind,
            sequence: seq,
            data_as_of: opened.header.data_as_of,
            patients: acc.patients,
            staff: acc.staff,
            mode: acc.mode,
            shrink_allowed: acc.shrink_allowed,
            took: started.elapsed(),
        })
    }

    fn check_header(&self, h: &Header, now: DateTime<Utc>) -> Result<(), Failure> {
        let ward = &self.shared.config.ward;
        if &h.ward != ward {
            return Err(refuse(
                "wrong_ward",
                format!(
                    "snapshot is for ward {:?}, this appliance serves ward {ward:?}",
                    h.ward
                ),
            ));
        }
        for (what, t) in [("data_as_of", h.data_as_of), ("created_at", h.created_at)] {
            if t > now + MAX_CLOCK_AHEAD {
                let ahead = (t - now).num_seconds();
                log::warn!(
                    "snapshot {what} is {ahead} s ahead of this appliance's clock: check the \
                     clocks (NTP) of the publisher and this box"
                );
                return Err(refuse(
                    "from_the_future",
                    format!(
                        "{what} {} is {ahead} s ahead of this appliance's clock ({}); more \
                         than {} min ahead is refused — the publisher's or this box's clock \
                         is wrong",
                        t.to_rfc3339_opts(SecondsFormat::Secs, true),
                        now.to_rfc3339_opts(SecondsFormat::Secs, true),
                        MAX_CLOCK_AHEAD.num_minutes()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_sequence(&self, seq: u64) -> Result<(), Failure> {
        if let Some(last) = self.last_sequence()
            && seq <= last
        {
            let (code, what) = if seq == last {
                ("replayed_sequence", "replay?")
            } else {
                ("old_sequence", "rollback or replay?")
            };
            return Err(refuse(
                code,
                format!("sequence {seq} is not newer than the last accepted {last} ({what})"),
            ));
        }
        Ok(())
    }

    /// Persists `seq` as the last accepted sequence. A failure does not undo the accept
    /// (the data is already served) but is a standing problem; on restart the kept
    /// snapshot's sequence restores protection.
    fn commit_sequence(&self, seq: u64) {
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

    fn map_options(&self, now: DateTime<Utc>) -> MapOptions {
        let c = &self.shared.config;
        MapOptions {
            now,
            administration_window: c.data.administration_window,
            observation_window: c.data.observation_window,
            ward: c.ward.clone(),
        }
    }

    /// Refuses a clinical snapshot that holds no patients, or fewer than
    /// `data.min_patient_share_percent` of the patients served now: the typical broken export
    /// (a failed query, a wrong filter) would otherwise replace a whole ward with nothing.
    /// `Ok(true)` when it would refuse but the header's `allow_shrink` flag lets it through.
    fn check_shrink(&self, h: &Header, patients: usize) -> Result<bool, Failure> {
        let served = self.shared.store.current();
        let served = served
            .as_ref()
            .map(|g| (g.summaries().len(), g.meta().sequence));
        let share = u64::from(self.shared.config.data.min_patient_share_percent);
        let refusal = if patients == 0 {
            let kept = match served {
                Some((n, seq)) => format!("the last good data ({n} patients, sequence {seq})"),
                None => "no data (nothing was served yet)".to_owned(),
            };
            Some((
                "snapshot_empty",
                format!(
                    "the snapshot holds no patients; still serving {kept}. A failed or \
                     filtered export looks like this: check the publisher's export. If the \
                     ward is really empty, seal with --allow-shrink"
                ),
            ))
        } else {
            match served {
                Some((n, seq)) if (patients as u64).saturating_mul(100) < (n as u64) * share => {
                    Some((
                        "snapshot_shrunk",
                        format!(
                            "the snapshot holds {patients} patients, fewer than {share}% of the \
                             {n} served now (sequence {seq}, still served); a partial export \
                             looks like this: check the publisher's export. If the ward really \
                             shrank, seal with --allow-shrink (or lower \
                             data.min_patient_share_percent)"
                        ),
                    ))
                }
                _ => None,
            }
        };
        match refusal {
            None => Ok(false),
            Some((code, reason)) if h.allow_shrink => {
                log::warn!(
                    "snapshot sequence {} accepted although {code}: sealed with allow_shrink \
                     ({reason})",
                    h.sequence
                );
                Ok(true)
            }
            Some((code, reason)) => {
                self.set_problem(
                    code::SNAPSHOT_SHRINK_REFUSED,
                    Some(format!(
                        "clinical snapshot sequence {} refused ({code}): {reason}",
                        h.sequence
                    )),
                );
                Err(refuse(code, reason))
            }
        }
    }

    /// Maps and builds a generation; with `shrink_check` (new snapshots, not the kept ones
    /// at recovery) first refuses an empty or shrunken ward ([`Self::check_shrink`]).
    fn build_generation(
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

    fn apply_clinical(
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
        self.shared.store.swap(generation);
        self.set_problem(code::KEPT_SNAPSHOT_UNUSABLE, None);
        self.set_problem(code::SNAPSHOT_SHRINK_REFUSED, None);
        match keep::prune(
            &self.snapshots,
            KeptKind::Clinical,
            self.shared.config.data.keep_snapshots,
        ) {
            Ok(n) if n > 0 => log::info!("removed {n} older kept snapshot(s)"),
            Ok(_) => {}
            Err(e) => log::warn!("cannot remove older kept snapshots: {e}"),
        }
        Ok(Applied {
            patients: Some(patients),
            shrink_allowed,
            ..Applied::default()
        })
    }

    fn parse_roster(&self, opened: &Opened) -> Result<Roster, Failure> {
        check_roster(&opened.payload, &self.shared.config.ward)
            .map_err(|r| refuse(r.code, r.reason))
    }

    fn put_roster_in_force(&self, roster: Roster, received_at: DateTime<Utc>) -> usize {
        let staff = roster.staff.len();
        self.shared.set_roster(Arc::new(roster));
        self.shared.status.update(|s| {
            s.roster_received_at = Some(received_at);
            s.roster_staff = staff;
        });
        staff
    }

    fn apply_roster(
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

    fn apply_mode(
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

    fn audit(&self, kind: EventKind, outcome: Outcome, detail: String, now: DateTime<Utc>) {
        self.audit_as(kind, Action::E, outcome, detail, now);
    }

    fn audit_as(
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

    fn accepted(&self, acc: &Accepted, now: DateTime<Utc>) {
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
    fn reject(
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
    fn prune_quarantine(&self, keep: Option<&Path>, now: DateTime<Utc>) {
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

    /// Start-up: puts the kept roster in force, rebuilds the served generation from the
    /// newest kept clinical snapshot that still opens (trying older ones when it fails, e.g.
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
            self.recover_generation(keys, now, &mut out);
        }
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
    pub fn rebuild_from_kept(&self) -> Option<u64> {
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

    fn open_kept(
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

    fn recover_roster(&self, keys: &Keys, now: DateTime<Utc>) -> bool {
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

    fn recover_generation(&self, keys: &Keys, now: DateTime<Utc>, out: &mut Recovered) {
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
                    .and_then(|(opened, _)| {
                        self.build_generation(&opened, &name, now, received, false)
                            .map_err(|f| match f {
                                Failure::Refuse { reason, .. }
                                | Failure::Defer(reason)
                                | Failure::Ignore(reason) => reason,
                            })
                            .map(|g| (g, opened.header.sequence))
                    });
            inflight::clear(&self.shared.config.paths.state);
            match result {
                Ok(((generation, patients, _), header_seq)) => {
                    self.shared.store.swap(generation);
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
