//! The persisted sequence state: the highest snapshot sequence accepted per ward, kept in
//! `STATE/sequence.json` so that an older or equal sequence is refused across restarts
//! (rollback and replay protection).
//!
//! The file is small JSON written with [`crate::fsutil::write_atomic`] (temp file, fsync,
//! rename, fsync of the directory). A corrupt file is an error, never read as "nothing
//! accepted yet": guessing 0 would re-open the door to replays.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name of the sequence state in the state directory.
pub(crate) const SEQUENCE_FILE: &str = "sequence.json";
/// Largest sequence file accepted (it holds a handful of numbers).
const MAX_SEQUENCE_FILE: u64 = 64 * 1024;

/// Errors reading or writing the sequence state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("sequence state {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "sequence state {path} is corrupt ({message}); refusing to guess the last accepted \
         sequence (that would allow replays). Restore it or remove it deliberately."
    )]
    Corrupt { path: PathBuf, message: String },
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SequenceFile {
    /// Ward id → highest accepted sequence.
    wards: BTreeMap<String, u64>,
}

/// The highest accepted sequence per ward, backed by `sequence.json`.
#[derive(Debug)]
pub(crate) struct SequenceState {
    path: PathBuf,
    file: SequenceFile,
}

impl SequenceState {
    /// Loads the state from `state_dir` (empty when the file does not exist yet).
    pub(crate) fn load(state_dir: &Path) -> Result<SequenceState, StateError> {
        let path = state_dir.join(SEQUENCE_FILE);
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let file = match std::fs::metadata(&path) {
            Ok(m) if m.len() > MAX_SEQUENCE_FILE => {
                return Err(StateError::Corrupt {
                    path,
                    message: format!("{} bytes, at most {MAX_SEQUENCE_FILE}", m.len()),
                });
            }
            Ok(_) => {
                let bytes = std::fs::read(&path).map_err(io)?;
                serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SequenceFile::default(),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        Ok(SequenceState { path, file })
    }

    /// The highest sequence accepted for `ward`, if any.
    pub(crate) fn last(&self, ward: &str) -> Option<u64> {
        self.file.wards.get(ward).copied()
    }

    /// Records `sequence` as accepted for `ward` (durably) when it is higher than the one
    /// stored. Returns whether the stored value changed.
    pub(crate) fn advance(&mut self, ward: &str, sequence: u64) -> Result<bool, StateError> {
        if self.last(ward).is_some_and(|s| s >= sequence) {
            return Ok(false);
        }
        let mut next = self.file.clone();
        next.wards.insert(ward.to_owned(), sequence);
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| StateError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        crate::fsutil::write_atomic(&self.path, &bytes).map_err(|source| StateError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.file = next;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sequence_survives_reload_and_never_goes_down() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SequenceState::load(dir.path()).unwrap();
        assert_eq!(s.last("A3"), None);
        assert!(s.advance("A3", 57).unwrap());
        assert!(!s.advance("A3", 41).unwrap());
        assert!(!s.advance("A3", 57).unwrap());
        let again = SequenceState::load(dir.path()).unwrap();
        assert_eq!(again.last("A3"), Some(57));
        assert_eq!(again.last("B1"), None);
    }

    #[test]
    fn corrupt_sequence_file_is_an_error_not_zero() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SEQUENCE_FILE), b"{\"wards\": {\"A3\": -1}}").unwrap();
        assert!(matches!(
            SequenceState::load(dir.path()),
            Err(StateError::Corrupt { .. })
        ));
    }
}
