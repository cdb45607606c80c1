//! Ingest: from the inbox to the served generation.
//!
//! [`Ingestor`] is the pipeline (one file: verify, decrypt, check, map, build, swap) and,
//! through [`Ingestor::run`], the inbox watcher; [`watcher`] decides which inbox names
//! count and turns inotify events into work; [`state`] persists the last accepted sequence
//! (rollback protection); [`quarantine`] moves refused files aside with their reason;
//! [`keep`] holds the accepted sealed snapshots for restart; `reuse` records the generation
//! served and lets a restart serve it again when it verifies (and no state in it has
//! changed by the clock since); `rederive` maps the served snapshot again when its next
//! change moment passes (a course ends or starts during an outage); `inflight` marks the file
//! being processed, so a file the daemon died on is quarantined instead of crash-looping.
//!
//! For the daemon: `Ingestor::new(shared)?` → `recover()` (blocking) → `run(shutdown)`.

mod apply;
mod checks;
mod inflight;
pub(crate) mod keep;
mod keycache;
mod outcome;
mod pipeline;
pub(crate) mod quarantine;
mod recovery;
mod rederive;
mod report;
mod reuse;
mod runner;
pub(crate) mod state;
pub(crate) mod watcher;

pub use apply::MAX_MODE_COMMAND;
pub use checks::{
    MAX_ROSTER, MEMORY_PER_RESOURCE, RosterRefusal, check_roster, max_resources,
    resource_count_bound,
};
pub use inflight::{MARKER_FILE as INFLIGHT_MARKER, MAX_ATTEMPTS as INFLIGHT_MAX_ATTEMPTS};
pub use outcome::{Accepted, IngestError, ProcessError};
pub use pipeline::{Ingestor, MAX_CLOCK_AHEAD};
pub use recovery::Recovered;
