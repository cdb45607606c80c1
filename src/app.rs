//! The running appliance's shared state, [`App`]: the config, the served generation, the
//! mode, the access log, the roster in force, the status and the counters. It sits below the
//! code that uses it — `ingest`, `web`, `control`, `statusfile` and `daemon` import it, it
//! imports none of them — and it is the one door to the access log for all of them:
//! [`App::audit`] appends, and reports every failure to the status (the standing problem
//! `audit_write_failed`, the counter, the operator log) so none is lost on the way.

use crate::audit::{AuditError, AuditLog, Event, Receipt};
use crate::config::Config;
use crate::mode::{Mode, ModeController, ModeError, ModeState, Switcher};
use crate::roster::Roster;
use crate::status::{Metrics, StatusCell};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::sync::{Arc, RwLock};

/// Everything the daemon's parts share.
pub struct App {
    /// The validated config.
    pub config: Config,
    /// The served generation (swapped by ingest, read by the web).
    pub store: Store,
    /// Standby / emergency / drill. Switch it through [`App::switch_mode`] so the audit
    /// outcome reaches the status.
    pub mode: ModeController,
    /// The access log. Written only through [`App::audit`] (and the mode switches here).
    audit: AuditLog,
    /// The staff roster in force (None until the first roster snapshot is accepted).
    roster: RwLock<Option<Arc<Roster>>>,
    /// Ingest status and standing problems.
    pub status: StatusCell,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
}

/// Errors opening the shared state.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A directory could not be created.
    #[error("cannot prepare {path}: {source}")]
    Dir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The access log could not be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The persisted mode could not be loaded.
    #[error(transparent)]
    Mode(#[from] ModeError),
    /// The runtime directory's store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl App {
    /// Assembles the state from its opened parts (the daemon uses [`App::open`]; tests build
    /// their own parts).
    pub fn new(
        config: Config,
        store: Store,
        mode: ModeController,
        audit: AuditLog,
        roster: Option<Arc<Roster>>,
    ) -> App {
        App {
            config,
            store,
            mode,
            audit,
            roster: RwLock::new(roster),
            status: StatusCell::default(),
            metrics: Metrics::default(),
        }
    }

    /// Builds the shared state from a validated config: creates the state, inbox, quarantine
    /// and runtime directories (0700 from creation; existing ones keep their mode), opens the
    /// audit log, the mode and the store.
    pub fn open(config: Config) -> Result<Arc<App>, AppError> {
        for dir in [
            &config.paths.state,
            &config.paths.inbox,
            &config.paths.quarantine,
            &config.paths.runtime,
        ] {
            crate::fsutil::create_private_dir_all(dir).map_err(|source| AppError::Dir {
                path: dir.clone(),
                source,
            })?;
        }
        let audit = AuditLog::open_with_key_file(
            &config.paths.state,
            &config.appliance_id,
            &config.ward,
            &config.keys.audit_key,
        )?;
        let mode = ModeController::load(&config.paths.state, config.drill_max_duration)?;
        // The generation served when the daemon last stopped stays for start-up to check
        // and reuse (`ingest::reuse`); every other leftover file goes.
        let last = crate::store::LastServed::load(&config.paths.state);
        let store = Store::open_keeping(
            &config.paths.runtime,
            last.as_ref().map(|l| l.file.as_str()),
        )?;
        Ok(Arc::new(App::new(config, store, mode, audit, None)))
    }

    /// The access log, for reading (the chain head, drill reports, its path).
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// The one audited write of the running appliance: appends `event` now and returns the
    /// proof that it is durable; any failure is reported to the status (see
    /// [`App::note_audit`]) before it is returned. Blocking (an fsync): call it off the async
    /// threads.
    pub(crate) fn audit(&self, event: Event) -> Result<Receipt, AuditError> {
        self.audit_at(event, Utc::now())
    }

    /// [`App::audit`] with an explicit time (ingest stamps its events with its own clock).
    pub(crate) fn audit_at(&self, event: Event, now: DateTime<Utc>) -> Result<Receipt, AuditError> {
        let kind = event.kind;
        let r = self.audit.append_receipt_at(event, now);
        self.note_audit(&r);
        if let Err(e) = &r {
            log::error!("audit log append failed ({kind:?}): {e}");
        }
        r
    }

    /// Switches the mode (recorded in the access log first); an audit failure reaches the
    /// status like every other.
    pub fn switch_mode(
        &self,
        mode: Mode,
        by: Switcher,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<ModeState, ModeError> {
        let r = self.mode.set(&self.audit, mode, by, reason, now);
        self.note_mode_audit(&r);
        r
    }

    /// Ends a drill past its end time (recorded in the access log); an audit failure reaches
    /// the status.
    pub(crate) fn expire_drill(&self, now: DateTime<Utc>) -> Result<Option<ModeState>, ModeError> {
        let r = self.mode.expire_drill(&self.audit, now);
        self.note_mode_audit(&r);
        r
    }

    fn note_mode_audit<T>(&self, r: &Result<T, ModeError>) {
        match r {
            Err(ModeError::Audit(e)) => self.note_audit_failure(e),
            Ok(_) => self.note_audit_ok(),
            Err(_) => {}
        }
    }

    /// Records the outcome of an audit append in the status: a failure raises
    /// `audit_write_failed` (patient pages are refused while it stands) and counts in
    /// `audit_failures`, a success clears it.
    pub(crate) fn note_audit<T>(&self, result: &Result<T, AuditError>) {
        match result {
            Ok(_) => self.note_audit_ok(),
            Err(e) => self.note_audit_failure(e),
        }
    }

    fn note_audit_ok(&self) {
        use crate::status::code::AUDIT_WRITE_FAILED;
        if self.status.has_problem(AUDIT_WRITE_FAILED) {
            self.status.set_problem(AUDIT_WRITE_FAILED, None);
        }
    }

    fn note_audit_failure(&self, e: &AuditError) {
        use crate::status::code::AUDIT_WRITE_FAILED;
        Metrics::inc(&self.metrics.audit_failures);
        self.status.set_problem(
            AUDIT_WRITE_FAILED,
            Some(format!(
                "cannot write the access log: {e} — patient pages are refused until \
                 it can be written; free space on (or make writable) the state \
                 partition {} (`df -h`, `mount`); it recovers by itself",
                self.config.paths.state.display()
            )),
        );
    }

    /// Builds the drill report of the latest drill (stored in, and recorded in, the access
    /// log); a failure reaches the status.
    pub(crate) fn drill_report(&self) -> Result<crate::audit::drill::DrillReport, AuditError> {
        let r = crate::audit::drill::report(&self.audit, None);
        if let Err(e) = &r {
            self.note_audit_failure(e);
        }
        r
    }

    /// The roster in force.
    pub fn roster(&self) -> Option<Arc<Roster>> {
        match self.roster.read() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the roster in force.
    pub(crate) fn set_roster(&self, roster: Arc<Roster>) {
        match self.roster.write() {
            Ok(mut r) => *r = Some(roster),
            Err(p) => *p.into_inner() = Some(roster),
        }
    }
}
