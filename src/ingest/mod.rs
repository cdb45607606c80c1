//! Ingest: from the inbox to the served generation.
//!
//! [`Ingestor`] is the pipeline (one file: verify, decrypt, check, map, build, swap) and,
//! through [`Ingestor::run`], the inbox watcher; [`watcher`] decides which inbox names
//! count and turns inotify events into work; [`state`] persists the last accepted sequence
//! (rollback protection); [`quarantine`] moves refused files aside with their reason;
//! [`keep`] holds the accepted sealed snapshots for restart.
//!
//! For the daemon: `Ingestor::new(shared)?` → `recover()` (blocking) → `run(shutdown)`.

pub mod keep;
mod pipeline;
pub mod quarantine;
mod runner;
pub mod state;
pub mod watcher;

pub use pipeline::{
    Accepted, IngestError, Ingestor, MAX_CLOCK_AHEAD, MAX_MODE_COMMAND, MAX_ROSTER, ProcessError,
    Recovered, RosterRefusal, check_roster,
};
