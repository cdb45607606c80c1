//! `noodepd bench`: the performance figures of the appliance, each against a baseline
//! measured in the same run — P1 ingest in-process (vs serde_json parse-only and AES-GCM
//! alone), P2 freshness (rename into the inbox → served by `/ready`), P3 serving (vs nginx
//! serving the same HTML), P4 peak memory, P5 start-up, P6 the all-patients MAR print.
//!
//! It generates its own data with [`crate::generate`] at two scales (a 40-bed ward and a
//! 1,000-patient hospital sealed as one snapshot for one appliance), seals it with fresh
//! keys, runs `noodepd serve` as a child process for P2–P6 and prints a [`report::Report`].
//! The method and the latest figures are in docs/PERFORMANCE.md.
//!
//! A figure that cannot be measured (the daemon does not start, nginx cannot be installed)
//! becomes a row saying why; nothing is estimated in its place.

pub(crate) mod daemon;
pub(crate) mod data;
pub(crate) mod http;
pub(crate) mod load;
pub mod load_ingest;
pub(crate) mod nginx;
pub(crate) mod pipeline;
pub mod report;
mod run;
pub(crate) mod stats;

pub use run::{BenchOptions, run};

use std::path::{Path, PathBuf};

/// Why a bench step failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file of the bench's work directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Making or reading the bench's keys failed.
    #[error("keys: {0}")]
    Keys(#[from] crate::keys::KeyError),
    /// Sealing or opening a bench snapshot failed.
    #[error("snapshot: {0}")]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    /// Mapping the generated data failed.
    #[error("mapping: {0}")]
    Fhir(#[from] crate::fhir::FhirError),
    /// Building or reading a generation failed.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The bench's access log failed.
    #[error("audit log: {0}")]
    Audit(#[from] crate::audit::AuditError),
    /// Switching the daemon under test to drill failed.
    #[error("mode: {0}")]
    Mode(#[from] crate::mode::ModeError),
    /// A request to the daemon under test failed.
    #[error("HTTP: {0}")]
    Http(#[from] http::HttpError),
    /// The generated data is not what a scenario needs.
    #[error("data: {0}")]
    Data(String),
    /// The daemon under test did not start, answer or stop as expected.
    #[error("daemon: {0}")]
    Daemon(String),
    /// The nginx baseline could not be installed or run.
    #[error("nginx: {0}")]
    Nginx(String),
    /// The async runtime for the clients could not be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl BenchError {
    /// An I/O error mapper naming the path.
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
        move |source| BenchError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
