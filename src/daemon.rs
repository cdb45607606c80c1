//! The running daemon's shared state: one [`Shared`] value, built at start-up from the
//! config and handed (in an `Arc`) to ingest, the web server and the control socket.

use crate::audit::AuditLog;
use crate::config::Config;
use crate::mode::ModeController;
use crate::roster::Roster;
use crate::status::{Metrics, StatusCell};
use crate::store::Store;
use std::sync::{Arc, RwLock};

/// Everything the daemon's parts share.
pub struct Shared {
    pub config: Config,
    /// The served generation (swapped by ingest, read by the web).
    pub store: Store,
    pub mode: ModeController,
    pub audit: AuditLog,
    /// The staff roster in force (None until the first roster snapshot is accepted).
    pub roster: RwLock<Option<Arc<Roster>>>,
    pub status: StatusCell,
    pub metrics: Metrics,
}

impl Shared {
    /// The roster in force.
    pub fn roster(&self) -> Option<Arc<Roster>> {
        match self.roster.read() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the roster in force.
    pub fn set_roster(&self, roster: Arc<Roster>) {
        match self.roster.write() {
            Ok(mut r) => *r = Some(roster),
            Err(p) => *p.into_inner() = Some(roster),
        }
    }
}
