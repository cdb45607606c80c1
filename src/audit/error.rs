//! How the access log fails: one error type for opening, appending, reading, verifying and
//! exporting, so a caller can fail closed on any of them.

use std::path::PathBuf;

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    /// SQLite failed on the log file (open, write, fsync or read).
    Sqlite {
        /// The log file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    #[error("audit log {path}: {source}")]
    /// A file operation on the log or its key failed.
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    #[error("audit entry cannot be encoded: {0}")]
    /// An event could not be serialised to JSON.
    Encode(#[from] serde_json::Error),
    #[error("audit log is full (entry id space exhausted)")]
    /// The entry id space is exhausted: nothing more can be appended.
    Full,
    #[error("audit log {path}: {message}")]
    /// The file is not an audit log this build reads (schema, version or content); the message
    /// says what.
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    #[error("no drill found in the audit log{}", .0.map(|id| format!(" with id {id}")).unwrap_or_default())]
    /// The drill asked for (by id, or any) is not in the log.
    NoDrill(Option<i64>),
    #[error(
        "audit log {path} is keyed (HMAC chain from entry {keyed_from} on) and its key is \
         needed to check or extend it: give the key file (keys.audit_key; by default \
         audit.key beside the log) — if it is lost, keep this log as evidence and move it \
         aside to start a new one"
    )]
    /// The log is keyed (an HMAC chain from entry `keyed_from` on) and no key was given.
    KeyNeeded {
        /// The log file.
        path: PathBuf,
        /// The first entry chained with the key.
        keyed_from: i64,
    },
}
