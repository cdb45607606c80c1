//! Quarantine: where a refused inbox file goes, with a sibling `NAME.reason` text file
//! saying when and why (code and one line). Nothing in quarantine is ever overwritten: a
//! name already taken gets a numeric suffix (`NAME.1`, `NAME.2`, ...).
//!
//! The quarantine directory is created with mode 0700: a refused file may still be a real
//! (encrypted) snapshot. Names are reduced to a safe form ([`safe_name`]) so that a hostile
//! file name cannot reach logs, the audit log or the reason file unescaped.

use chrono::{DateTime, SecondsFormat, Utc};
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Longest file name kept (bytes), leaving room for suffixes within NAME_MAX.
pub const MAX_NAME: usize = 128;
/// Most suffixes tried before giving up on finding a free name.
const MAX_SUFFIX: u32 = 10_000;

/// A file name reduced to `[A-Za-z0-9._-]` (anything else becomes `_`), at most
/// [`MAX_NAME`] bytes, never empty and never starting with a dot. Used for every name that
/// is logged, audited or created.
pub fn safe_name(name: &OsStr) -> String {
    let lossy = name.to_string_lossy();
    let mut s: String = lossy
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME)
        .collect();
    if s.starts_with('.') {
        s.replace_range(0..1, "_");
    }
    if s.is_empty() {
        s.push('_');
    }
    s
}

/// Creates `dir` (and parents) if needed and sets it to mode 0700.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Name of the temp file a reason is written to before it is linked in (one at a time:
/// ingest quarantines one file at a time; a crash leaves at most this one file).
const REASON_TMP: &str = ".reason.tmp";

/// Moves `src` into `dir` as `name` (or `name.N` when taken), never overwriting, after
/// linking the complete reason text `reason_tmp` in as `NAME.reason`; returns the new path.
/// The reason goes first, so a crash in between leaves a reason whose file is still in the
/// inbox (refused again after the restart, under the next free name), never a quarantined
/// file without its reason. Works across file systems (copy, fsync, then remove the source).
pub fn move_no_overwrite(
    src: &Path,
    dir: &Path,
    name: &str,
    reason_tmp: &Path,
) -> std::io::Result<PathBuf> {
    for n in 0..MAX_SUFFIX {
        let candidate = if n == 0 {
            name.to_owned()
        } else {
            format!("{name}.{n}")
        };
        let dest = dir.join(&candidate);
        let reason = dir.join(format!("{candidate}.reason"));
        if std::fs::symlink_metadata(&reason).is_ok() || std::fs::symlink_metadata(&dest).is_ok() {
            continue;
        }
        match std::fs::hard_link(reason_tmp, &reason) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => match copy_new(reason_tmp, &reason) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            },
        }
        sync_dir(dir);
        let moved = match std::fs::hard_link(src, &dest) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
            Err(_) => copy_new(src, &dest),
        };
        match moved {
            Ok(()) => {
                std::fs::remove_file(src)?;
                sync_dir(dir);
                return Ok(dest);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&reason);
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    continue;
                }
                return Err(e);
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("no free name for {name} in {}", dir.display()),
    ))
}

fn copy_new(src: &Path, dest: &Path) -> std::io::Result<()> {
    let mut from = std::fs::File::open(src)?;
    let mut to = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)?;
    let r = std::io::copy(&mut from, &mut to).and_then(|_| to.sync_all());
    if r.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    r
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// What is written next to a quarantined file.
#[derive(Debug, Clone)]
pub struct QuarantineNote<'a> {
    /// The original inbox name (shown escaped).
    pub original: &'a OsStr,
    pub code: &'a str,
    pub reason: &'a str,
    pub time: DateTime<Utc>,
}

/// Moves a refused file into quarantine with `NAME.reason` beside it (the reason is in
/// place, complete and fsynced, before the file moves in). Returns the quarantined file's
/// path.
pub fn quarantine(src: &Path, dir: &Path, note: &QuarantineNote<'_>) -> std::io::Result<PathBuf> {
    ensure_private_dir(dir)?;
    let name = safe_name(note.original);
    let text = format!(
        "time: {}\nfile: {:?}\ncode: {}\nreason: {}\n",
        note.time.to_rfc3339_opts(SecondsFormat::Secs, true),
        note.original.to_string_lossy(),
        note.code,
        one_line(note.reason),
    );
    let tmp = dir.join(REASON_TMP);
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    let result = move_no_overwrite(src, dir, &name, &tmp);
    let _ = std::fs::remove_file(&tmp);
    result
}

/// A reason reduced to one line of printable characters, bounded.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1000)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn note(name: &str) -> QuarantineNote<'_> {
        QuarantineNote {
            original: OsStr::new(name),
            code: "bad_signature",
            reason: "bad signature\nsecond line",
            time: Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap(),
        }
    }

    #[test]
    fn quarantine_never_overwrites_and_writes_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        let q = dir.path().join("quarantine");
        std::fs::create_dir(&inbox).unwrap();
        for content in [b"first".as_slice(), b"second".as_slice()] {
            let f = inbox.join("a3-1.snap");
            std::fs::write(&f, content).unwrap();
            quarantine(&f, &q, &note("a3-1.snap")).unwrap();
            assert!(!f.exists());
        }
        assert_eq!(std::fs::read(q.join("a3-1.snap")).unwrap(), b"first");
        assert_eq!(std::fs::read(q.join("a3-1.snap.1")).unwrap(), b"second");
        let reason = std::fs::read_to_string(q.join("a3-1.snap.1.reason")).unwrap();
        assert!(reason.contains("code: bad_signature"), "{reason}");
        assert!(
            reason.contains("reason: bad signature second line"),
            "{reason}"
        );
        let mode = std::fs::metadata(&q).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    /// Every quarantined file (not a `.reason`, not a dotfile) has a reason with a code.
    fn every_file_has_its_reason(q: &Path) {
        for e in std::fs::read_dir(q).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".reason") || n.starts_with('.') {
                continue;
            }
            let reason = std::fs::read_to_string(q.join(format!("{n}.reason")))
                .unwrap_or_else(|e| panic!("{n} is quarantined without its reason: {e}"));
            assert!(reason.contains("code: bad_signature"), "{n}: {reason:?}");
        }
    }

    #[test]
    fn reason_is_in_place_before_the_file_so_a_crash_never_leaves_a_file_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        let q = dir.path().join("quarantine");
        std::fs::create_dir(&inbox).unwrap();
        std::fs::create_dir(&q).unwrap();
        let f = inbox.join("a3-1.snap");
        std::fs::write(&f, b"refused").unwrap();
        // What a SIGKILL between the two steps leaves: the reason linked in, the file still
        // in the inbox. The restart refuses the file again; it gets the next name.
        std::fs::write(q.join("a3-1.snap.reason"), b"code: bad_signature\n").unwrap();
        // A file left without a reason by an older version keeps its name to itself.
        std::fs::write(q.join("a3-1.snap.1"), b"old").unwrap();
        let dest = quarantine(&f, &q, &note("a3-1.snap")).unwrap();
        assert_eq!(dest, q.join("a3-1.snap.2"));
        assert!(!f.exists());
        assert_eq!(std::fs::read(&dest).unwrap(), b"refused");
        std::fs::remove_file(q.join("a3-1.snap.1")).unwrap();
        every_file_has_its_reason(&q);
        assert!(
            !q.join(REASON_TMP).exists(),
            "the temp reason is cleaned up"
        );

        // A file that vanished before it could be moved leaves no stray reason.
        let gone = inbox.join("gone.snap");
        let err = quarantine(&gone, &q, &note("gone.snap")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(!q.join("gone.snap.reason").exists());
        assert!(!q.join(REASON_TMP).exists());
    }

    #[test]
    fn refused_file_does_not_move_in_when_its_reason_cannot_be_placed() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("quarantine");
        std::fs::create_dir(&q).unwrap();
        let f = dir.path().join("a3-1.snap");
        std::fs::write(&f, b"refused").unwrap();
        // The reason text cannot be placed (here: its temp file is missing): the refused
        // file stays where it is rather than sit in quarantine without a reason.
        let missing = q.join("no-such-reason.tmp");
        assert!(move_no_overwrite(&f, &q, "a3-1.snap", &missing).is_err());
        assert_eq!(std::fs::read(&f).unwrap(), b"refused");
        assert_eq!(
            std::fs::read_dir(&q).unwrap().count(),
            0,
            "nothing in quarantine"
        );
    }

    #[test]
    fn hostile_names_are_made_safe() {
        assert_eq!(safe_name(OsStr::new("../x y\n.snap")), "_._x_y_.snap");
        assert_eq!(safe_name(OsStr::new(".hidden")), "_hidden");
        assert_eq!(safe_name(OsStr::new("")), "_");
        assert_eq!(safe_name(OsStr::new(&"a".repeat(300))).len(), MAX_NAME);
    }
}
