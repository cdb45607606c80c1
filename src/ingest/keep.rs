//! Accepted snapshots kept for restart, in `STATE/snapshots/` (mode 0700). They stay sealed
//! and encrypted: this is the only copy of patient data at rest on the appliance, and the
//! plaintext generation lives on tmpfs only (see [`crate::store`]).
//!
//! Names are `KIND-SEQUENCE.snap` with the sequence zero-padded to 20 digits, so the name
//! alone says what it is and which is newest (`clinical-00000000000000000057.snap`). Only
//! the newest `data.keep_snapshots` of each kind are kept. The roster in force is kept
//! separately as `STATE/roster.snap`.

use std::path::{Path, PathBuf};

/// Directory of kept snapshots inside the state directory.
pub(crate) const SNAPSHOT_DIR: &str = "snapshots";
/// File name of the kept roster snapshot inside the state directory.
pub(crate) const ROSTER_FILE: &str = "roster.snap";

/// The kinds kept, by file-name prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeptKind {
    Clinical,
    ModeCommand,
}

impl KeptKind {
    fn prefix(self) -> &'static str {
        match self {
            KeptKind::Clinical => "clinical",
            KeptKind::ModeCommand => "mode-command",
        }
    }
}

/// The file name a kept snapshot gets.
pub(crate) fn kept_name(kind: KeptKind, sequence: u64) -> String {
    format!("{}-{sequence:020}.snap", kind.prefix())
}

/// Parses a kept name back into its sequence (None for any other file).
fn parse_kept(kind: KeptKind, name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(kind.prefix())?
        .strip_prefix('-')?
        .strip_suffix(".snap")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Writes `bytes` durably as the kept snapshot of `kind` and `sequence` in `dir`.
pub(crate) fn keep(
    dir: &Path,
    kind: KeptKind,
    sequence: u64,
    bytes: &[u8],
) -> std::io::Result<PathBuf> {
    super::quarantine::ensure_private_dir(dir)?;
    let path = dir.join(kept_name(kind, sequence));
    crate::fsutil::write_atomic(&path, bytes)?;
    Ok(path)
}

/// Kept snapshots of `kind` in `dir`, newest (highest sequence) first. A missing
/// directory is an empty list.
pub(crate) fn list(dir: &Path, kind: KeptKind) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(seq) = name.to_str().and_then(|n| parse_kept(kind, n)) else {
            continue;
        };
        if entry.file_type()?.is_file() {
            out.push((seq, entry.path()));
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    Ok(out)
}

/// Deletes all but the newest `keep` snapshots of `kind`; returns how many were removed.
pub(crate) fn prune(dir: &Path, kind: KeptKind, keep: usize) -> std::io::Result<usize> {
    let mut removed = 0;
    for (_, path) in list(dir, kind)?.into_iter().skip(keep) {
        std::fs::remove_file(&path)?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_newest_and_lists_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join(SNAPSHOT_DIR);
        for seq in [3u64, 10, 7, 12] {
            keep(&d, KeptKind::Clinical, seq, b"x").unwrap();
        }
        keep(&d, KeptKind::ModeCommand, 11, b"m").unwrap();
        std::fs::write(d.join("clinical-1.snap"), b"not ours").unwrap();
        assert_eq!(prune(&d, KeptKind::Clinical, 2).unwrap(), 2);
        let seqs: Vec<u64> = list(&d, KeptKind::Clinical)
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(seqs, vec![12, 10]);
        assert_eq!(list(&d, KeptKind::ModeCommand).unwrap().len(), 1);
        assert!(d.join("clinical-1.snap").exists());
    }

    #[test]
    fn kept_name_round_trips() {
        let n = kept_name(KeptKind::Clinical, 57);
        assert_eq!(n, "clinical-00000000000000000057.snap");
        assert_eq!(parse_kept(KeptKind::Clinical, &n), Some(57));
        assert_eq!(parse_kept(KeptKind::ModeCommand, &n), None);
    }
}
