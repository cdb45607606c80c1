//! The pipeline for one inbox file: size check, read, [`snapshot::open`] (verify before
//! decrypt), header checks (ward, sequence, clock), then by payload kind: clinical →
//! [`crate::fhir::map_payload`] → [`crate::store::Store::build`] → keep the sealed file →
//! [`crate::store::Store::swap`] (the commit point); roster → [`crate::roster::Roster::from_json`] →
//! `state/roster.snap` → in force; mode command → `App::switch_mode` (audited).
//!
//! Outcomes: *accepted* (audited, counted, file moved out of the inbox), *rejected* (the
//! file's fault: quarantined with its reason, audited, counted, shown in `/ready`), or
//! *deferred* (not the file's fault — key unreadable, disk or tmpfs full: the file stays in
//! the inbox and is retried on the next rescan, and a standing `problem` is shown).
//!
//! Limits: the snapshot caps follow the service's memory limit (`data.memory_max_mib`,
//! [`Limits::for_memory`]); a clinical payload is also refused before it is parsed when it
//! may hold more resources than [`super::max_resources`] (each costs kilobytes once mapped, so a
//! small file of millions of tiny resources would otherwise take gigabytes).
//!
//! Invariants: any failure before the swap leaves the previous generation served; the
//! sequence is persisted only after the swap (clinical) or after applying (roster, mode),
//! and never goes down; nothing logged or audited here contains patient data (file names,
//! kinds, sequences, counts, codes, durations only); a file the daemon died on twice is
//! quarantined at the next start (`inflight`).
//!
//! This file holds the [`Ingestor`] and the run of one file (read, open, dispatch by kind);
//! the steps live beside it by job: `checks` (header, sequence, shrink, size bounds, the
//! roster check the publisher shares), `apply` (the three appliers: clinical, roster, mode),
//! `report` (audit, accept, quarantine), `recovery` (start-up and retries), `keycache`
//! (the keys, re-read when their files change), `outcome` (what an attempt comes to).

use super::inflight;
use super::keep::SNAPSHOT_DIR;
use super::keycache::*;
use super::outcome::*;
use super::quarantine::{self, safe_name};
use super::state::SequenceState;
use crate::app::App;
pub use crate::snapshot::MAX_CLOCK_AHEAD;
use crate::snapshot::{self, Header, Limits, PayloadKind};
use crate::status::code;
use chrono::{DateTime, Utc};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The deferral reason for a file a writer is still busy with.
pub(super) const STILL_WRITING: &str = "still being written";

/// The ingest pipeline. One per daemon; share it in an `Arc`.
pub struct Ingestor {
    pub(crate) shared: Arc<App>,
    pub(super) limits: Limits,
    /// Files the previous run died on once, with the attempts so far (see `inflight`).
    pub(super) retried: Mutex<Option<inflight::Inflight>>,
    pub(super) keys: KeyCache,
    pub(super) sequence: Mutex<SequenceState>,
    /// Held while a file is processed: one file at a time, in order.
    pub(super) busy: Mutex<()>,
    pub(super) snapshots: PathBuf,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
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
    pub(crate) fn with_limits(shared: Arc<App>, limits: Limits) -> Result<Ingestor, IngestError> {
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
            keys: KeyCache::default(),
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

    /// The keys, read again when a key file changed; an unusable key raises the standing
    /// problem `key_unusable` (cleared once the keys can be used).
    pub(crate) fn keys(&self) -> Result<Arc<Keys>, String> {
        let r = self.keys.get(&self.shared.config.keys);
        self.set_problem(code::KEY_UNUSABLE, r.as_ref().err().cloned());
        r
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
    pub(crate) fn process_with(
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
    pub(super) fn mark_inflight(&self, path: &Path) {
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
    pub(super) fn handle_left_over(&self, now: DateTime<Utc>) {
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

    pub(super) fn read_file(&self, path: &Path) -> Result<Vec<u8>, Failure> {
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
    pub(super) fn still_growing(path: &Path, read_len: usize) -> bool {
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

    pub(super) fn attempt(
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
}
