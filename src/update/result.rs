//! The installer's verdicts, handed to the daemon: `noodepd update install-inbox --result
//! FILE` writes what it did with each bundle of its run (installed, or refused with the
//! reason) to a small JSON file on the state partition, and the daemon ([`Watcher`], from its
//! one-second timer) records every refusal in it as a refused delivery. So a bundle signed
//! by the wrong key shows up where a refused snapshot does: the status page's "last refused
//! delivery", `/ready`, the status file and so the publisher's fleet page. IT sees why an
//! update did not arrive without a console.
//!
//! The installer runs as root and the daemon does not, so the file is world-readable (it
//! holds file names, codes, versions and the installer's own reasons, never patient data).
//! The daemon reads it bounded and treats it as untrusted text.

use super::UpdateError;
use super::install::InboxResult;
use crate::status::Rejection;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the result file lives, relative to the daemon's state directory (the image's
/// `noodepd-update.service` passes `/var/lib/noodepd/update/last.json`).
pub(crate) const IN_STATE: &str = "update/last.json";
/// Largest result file the daemon reads.
const MAX_BYTES: u64 = 16 * 1024;
/// At most this many verdicts are written per run (normally there is one bundle).
const MAX_ENTRIES: usize = 8;
/// Reasons are cut to this many characters.
const MAX_REASON: usize = 400;
/// File names are cut to this many characters.
const MAX_FILE: usize = 200;

/// What the installer did with one bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Verdict {
    /// The bundle's file name in the inbox (printable).
    pub(crate) file: String,
    /// `installed` or `refused`.
    pub(crate) outcome: String,
    /// The installed version (installed only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    /// [`UpdateError::code`] (refused only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<String>,
    /// One line for a person.
    pub(crate) reason: String,
    pub(crate) time: DateTime<Utc>,
}

fn cut(s: &str, n: usize) -> String {
    crate::text::printable(s).chars().take(n).collect()
}

impl Verdict {
    /// The verdict on one bundle of an inbox run.
    pub(crate) fn of(r: &InboxResult, now: DateTime<Utc>) -> Verdict {
        match &r.outcome {
            Ok(done) => Verdict {
                file: cut(&r.file, MAX_FILE),
                outcome: "installed".into(),
                version: Some(done.version.to_string()),
                code: None,
                reason: format!(
                    "installed version {} into slot {} (on trial until the daemon is ready)",
                    done.version,
                    done.slot.name()
                ),
                time: now,
            },
            Err(e) => Verdict::refused(&r.file, e, now),
        }
    }

    fn refused(file: &str, e: &UpdateError, now: DateTime<Utc>) -> Verdict {
        Verdict {
            file: cut(file, MAX_FILE),
            outcome: "refused".into(),
            version: None,
            code: Some(e.code().to_owned()),
            reason: cut(&e.to_string(), MAX_REASON),
            time: now,
        }
    }

    /// The refused delivery the daemon records for a refused bundle; None when installed.
    pub(crate) fn rejection(&self) -> Option<Rejection> {
        if self.outcome != "refused" {
            return None;
        }
        let code = cut(self.code.as_deref().unwrap_or("unknown"), 64);
        Some(Rejection {
            file: cut(&self.file, MAX_FILE),
            code: format!("update_{code}"),
            reason: format!(
                "image update refused, nothing installed: {}",
                cut(&self.reason, MAX_REASON)
            ),
            time: self.time,
        })
    }
}

/// Writes the verdicts of one run to `path` (replacing the last run's): a temporary file
/// made readable for the daemon, fsynced and renamed over the old one.
pub(crate) fn write(path: &Path, verdicts: &[Verdict]) -> std::io::Result<()> {
    let list: Vec<&Verdict> = verdicts.iter().take(MAX_ENTRIES).collect();
    let json = serde_json::to_vec_pretty(&list).map_err(std::io::Error::other)?;
    crate::fsutil::write_atomic_mode(path, &json, Some(0o644))
}

/// Why the daemon could not use a result file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResultFileError {
    #[error("{0}: larger than {MAX_BYTES} bytes")]
    TooLarge(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: not a list of installer verdicts: {1}")]
    Malformed(String, String),
}

/// Reads a result file (bounded). `Ok(None)` when there is none.
pub(crate) fn read(path: &Path) -> Result<Option<Vec<Verdict>>, ResultFileError> {
    use std::io::Read as _;
    let shown = || path.display().to_string();
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ResultFileError::Io(shown(), e)),
    };
    let mut bytes = Vec::new();
    f.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ResultFileError::Io(shown(), e))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(ResultFileError::TooLarge(shown()));
    }
    let mut list: Vec<Verdict> = serde_json::from_slice(&bytes)
        .map_err(|e| ResultFileError::Malformed(shown(), crate::jsonerr::describe(&e)))?;
    list.truncate(MAX_ENTRIES);
    Ok(Some(list))
}

/// The daemon's side: notices when the installer wrote a new result file and hands its
/// refusals to the status once per file version (its modification time and size).
#[derive(Debug)]
pub(crate) struct Watcher {
    path: PathBuf,
    seen: Option<(std::time::SystemTime, u64)>,
    failing: Option<String>,
}

impl Watcher {
    /// A watcher of `path`; the first [`Watcher::poll`] reads what is there (the verdicts
    /// of a run before this start stay visible after a reboot).
    pub(crate) fn new(path: PathBuf) -> Watcher {
        Watcher {
            path,
            seen: None,
            failing: None,
        }
    }

    /// The refusals of a result file not seen before, oldest first (empty when nothing
    /// changed or the new file holds no refusal). A file that cannot be used is logged
    /// once per problem and retried when it changes.
    pub(crate) fn poll(&mut self) -> Vec<Rejection> {
        let stamp = match std::fs::metadata(&self.path) {
            Ok(m) => (m.modified().unwrap_or(std::time::UNIX_EPOCH), m.len()),
            Err(_) => {
                self.seen = None;
                return Vec::new();
            }
        };
        if self.seen == Some(stamp) {
            return Vec::new();
        }
        match read(&self.path) {
            Ok(list) => {
                self.seen = Some(stamp);
                self.failing = None;
                list.unwrap_or_default()
                    .iter()
                    .filter_map(Verdict::rejection)
                    .collect()
            }
            Err(e) => {
                let m = e.to_string();
                if self.failing.as_deref() != Some(m.as_str()) {
                    log::warn!("image update result not readable: {m}");
                    self.failing = Some(m);
                }
                // Not marked seen while it cannot be read (the installer may be mid-way,
                // or a permission may be fixed): tried again on the next tick.
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: &str, reason: &str) -> Verdict {
        Verdict {
            file: "x.nupd".into(),
            outcome: "refused".into(),
            version: None,
            code: Some(code.into()),
            reason: reason.into(),
            time: Utc::now(),
        }
    }

    #[test]
    fn a_refusal_becomes_a_refused_delivery_and_an_install_does_not() {
        let r = refused("wrong_release_key", "signed by another release key")
            .rejection()
            .unwrap();
        assert_eq!(r.code, "update_wrong_release_key");
        assert!(r.reason.contains("nothing installed"), "{}", r.reason);
        let mut ok = refused("x", "y");
        ok.outcome = "installed".into();
        assert!(ok.rejection().is_none());
    }

    #[test]
    fn hostile_text_is_cut_and_made_printable() {
        let r = refused("a\u{1b}[2Jb", &"\u{202e}x".repeat(5000))
            .rejection()
            .unwrap();
        assert!(!r.code.contains('\u{1b}'), "{:?}", r.code);
        assert!(!r.reason.contains('\u{202e}'));
        assert!(r.reason.chars().count() < MAX_REASON + 100);
    }

    #[test]
    fn watcher_reports_each_file_version_once() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("last.json");
        let mut w = Watcher::new(path.clone());
        assert!(w.poll().is_empty(), "no file yet");
        write(&path, &[refused("bad_signature", "does not verify")]).unwrap();
        assert_eq!(w.poll().len(), 1);
        assert!(w.poll().is_empty(), "the same file again");
        write(
            &path,
            &[
                refused("wrong_release_key", "another key"),
                refused("one_at_a_time", "one at a time"),
            ],
        )
        .unwrap();
        let got = w.poll();
        assert_eq!(
            got.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
            ["update_wrong_release_key", "update_one_at_a_time"]
        );
    }

    #[test]
    fn oversized_or_garbage_files_are_not_used() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("last.json");
        std::fs::write(&path, b"not json").unwrap();
        let mut w = Watcher::new(path.clone());
        assert!(w.poll().is_empty());
        assert!(matches!(read(&path), Err(ResultFileError::Malformed(..))));
        std::fs::write(&path, vec![b' '; MAX_BYTES as usize + 1]).unwrap();
        assert!(matches!(read(&path), Err(ResultFileError::TooLarge(_))));
    }
}
