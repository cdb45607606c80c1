//! What an ingest attempt comes to: accepted ([`Accepted`]), refused or deferred
//! ([`ProcessError`], and inside the pipeline [`Failure`]), what an applier did
//! ([`Applied`]), and the errors starting ingest ([`IngestError`]).

use super::state::StateError;
use crate::mode::Mode;
use crate::snapshot::PayloadKind;
use crate::status::Rejection;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// Errors that stop ingest from starting at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The sequence state could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A directory ingest needs could not be made or opened.
    #[error("cannot prepare {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// A snapshot that was accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// Inbox file name (made safe, see [`super::quarantine::safe_name`]).
    pub file: String,
    /// Clinical data, a roster or a mode command.
    pub kind: PayloadKind,
    /// Its sequence number, now the ward's highest.
    pub sequence: u64,
    /// The time its data describes.
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
    Deferred {
        /// The inbox file name.
        file: String,
        /// Why it waits (e.g. the disk is full).
        reason: String,
    },
    /// Not a file to ingest (gone, or not a regular file); left alone.
    Ignored {
        /// The name as seen.
        file: String,
        /// Why it is not a file to ingest.
        reason: String,
    },
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
pub(super) struct Applied {
    pub(super) patients: Option<usize>,
    pub(super) staff: Option<usize>,
    pub(super) mode: Option<Mode>,
    /// The shrink check would have refused it, but the publisher set `allow_shrink`.
    pub(super) shrink_allowed: bool,
}

/// Internal: how one attempt failed.
pub(super) enum Failure {
    Refuse { code: String, reason: String },
    Defer(String),
    Ignore(String),
}

pub(super) fn refuse(code: &str, reason: impl Into<String>) -> Failure {
    Failure::Refuse {
        code: code.to_owned(),
        reason: reason.into(),
    }
}
