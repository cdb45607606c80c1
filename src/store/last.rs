//! The record of the generation served last (`STATE/generation.json`), so a restarted
//! daemon can serve the same file again instead of mapping the kept snapshot anew: which
//! file in the runtime directory, the SHA-256 of the whole file taken when it was built,
//! which kept sealed snapshot (name, sequence, SHA-256 of its sealed bytes) it was built from,
//! and by which binary with which mapping settings.
//!
//! The record holds no patient data (names and digests). It lives in the state directory
//! (0700, the encrypted state partition on the box), not beside the file on the tmpfs, so
//! a file changed on the tmpfs cannot bring its own digest. Whether a restart may use it
//! is decided by the ingest side (`ingest::recovery`); [`super::Store::reopen`] does the
//! file's part of the check.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the record in the state directory.
pub(crate) const LAST_FILE: &str = "generation.json";
/// Largest record read (it is a few hundred bytes).
const MAX_LAST_FILE: u64 = 16 * 1024;

/// What was served last and what it was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastServed {
    /// The generation file's name in the runtime directory.
    pub file: String,
    /// SHA-256 of the whole generation file as built (hex).
    pub file_sha256: String,
    /// Ward of the snapshot it was built from.
    pub ward: String,
    /// Sequence of the snapshot it was built from.
    pub sequence: u64,
    /// The kept sealed snapshot it was built from (file name in the kept-snapshot
    /// directory, SHA-256 of its sealed bytes, hex).
    pub kept: String,
    /// SHA-256 of that kept snapshot's sealed bytes (hex).
    pub kept_sha256: String,
    /// The binary and the mapping settings that built it (`ingest` makes this string).
    pub built_by: String,
    /// The generation's next change moment ([`super::GenerationMeta::next_change`]): once
    /// it has passed, the generation shows states that no longer hold and is not reused.
    #[serde(default)]
    pub next_change: Option<chrono::DateTime<chrono::Utc>>,
}

impl LastServed {
    /// Reads the record from `state_dir`; `None` when there is none or it cannot be read
    /// (then nothing is reused: the generation is built from the kept snapshot as always).
    pub fn load(state_dir: &Path) -> Option<LastServed> {
        let path = state_dir.join(LAST_FILE);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_LAST_FILE {
            log::warn!("{} is not a small file; not reused", path.display());
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(l) => Some(l),
            Err(e) => {
                log::warn!(
                    "{} cannot be read ({}); not reused",
                    path.display(),
                    crate::jsonerr::describe(&e)
                );
                None
            }
        }
    }

    /// Writes the record to `state_dir` (atomically and durably).
    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic(&state_dir.join(LAST_FILE), &bytes)
    }

    /// Removes the record (nothing to reuse), ignoring a record that is not there.
    pub fn clear(state_dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(state_dir.join(LAST_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A SHA-256 digest as lower-case hex.
pub(crate) fn hex(digest: &[u8]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
