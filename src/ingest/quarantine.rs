//! Quarantine: where a refused inbox file goes, with a sibling `NAME.reason` text file
//! saying when and why (code and one line). Nothing in quarantine is ever overwritten: a
//! name already taken gets a numeric suffix (`NAME.1`, `NAME.2`, ...).
//!
//! The quarantine directory is created with mode 0700: a refused file may still be a real
//! (encrypted) snapshot. Names are reduced to a safe form ([`safe_name`]) so that a hostile
//! file name cannot reach logs, the audit log or the reason file unescaped.
//!
//! The quarantine is bounded ([`prune`]): after each move, the oldest quarantined files
//! (by their reason's modification time, which this module wrote) are deleted with their
//! reasons while more files or bytes are held than configured, so a flood of refused
//! files cannot fill the state partition. Only regular files with names this module
//! writes are touched; the file a reason belongs to is always deleted before the reason.

use chrono::{DateTime, SecondsFormat, Utc};
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Longest file name kept (bytes), leaving room for suffixes within NAME_MAX.
pub(crate) const MAX_NAME: usize = 128;
/// Most suffixes tried before giving up on finding a free name.
const MAX_SUFFIX: u32 = 10_000;

/// A file name reduced to `[A-Za-z0-9._-]` (anything else becomes `_`), at most
/// [`MAX_NAME`] bytes, never empty and never starting with a dot. Used for every name that
/// is logged, audited or created.
pub(crate) fn safe_name(name: &OsStr) -> String {
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
pub(crate) fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    crate::fsutil::create_private_dir_all(dir)?;
    // One that existed before (an older version, a hand-made one) is narrowed too.
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
pub(crate) fn move_no_overwrite(
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
pub(crate) struct QuarantineNote<'a> {
    /// The original inbox name (shown escaped).
    pub original: &'a OsStr,
    pub code: &'a str,
    pub reason: &'a str,
    pub time: DateTime<Utc>,
}

/// Moves a refused file into quarantine with `NAME.reason` beside it (the reason is in
/// place, complete and fsynced, before the file moves in). Returns the quarantined file's
/// path.
pub(crate) fn quarantine(
    src: &Path,
    dir: &Path,
    note: &QuarantineNote<'_>,
) -> std::io::Result<PathBuf> {
    ensure_private_dir(dir)?;
    let mut name = safe_name(note.original);
    // A quarantined file's name never ends in `.reason`, so [`prune`] can tell the files
    // from their reasons by name alone.
    if name.ends_with(REASON_SUFFIX) {
        name.push('_');
    }
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

/// What [`prune`] removed and what the quarantine holds afterwards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pruned {
    /// Quarantined files deleted (not counting `.reason` files).
    pub files: usize,
    /// `.reason` files deleted (with their file, or orphaned by a crash).
    pub reasons: usize,
    /// Bytes freed (files and reasons).
    pub bytes: u64,
    /// Quarantined files left (not counting `.reason` files).
    pub files_left: usize,
    /// Bytes left (files and reasons the quarantine wrote).
    pub bytes_left: u64,
    /// Deletions that failed (other than the entry having gone already).
    pub failed: usize,
}

impl Pruned {
    /// Whether anything was deleted.
    pub(crate) fn any(&self) -> bool {
        self.files > 0 || self.reasons > 0
    }
}

/// Suffix of a reason file.
const REASON_SUFFIX: &str = ".reason";

/// Whether `name` is one [`quarantine`] could have created: the [`safe_name`] alphabet,
/// not a dotfile, at most [`MAX_NAME`] plus a numeric suffix plus `.reason` (with room
/// to spare).
fn is_own_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= MAX_NAME + 16 + REASON_SUFFIX.len()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One thing to prune: a quarantined file with its reason, or a reason alone (its file
/// never moved in, after a crash).
#[derive(Debug)]
struct Unit {
    /// When the reason was written (by this module; the file's own times come from the
    /// inbox and so from the sender).
    time: std::time::SystemTime,
    reason: String,
    reason_len: u64,
    file: Option<(String, u64)>,
}

/// Lists the quarantine's units (oldest first). Entries that are not regular files
/// (symlinks, directories ...), dotfiles and names [`quarantine`] never writes are not
/// part of any unit; neither is a file without a reason (not written by this module).
fn units(dir: &Path) -> std::io::Result<Vec<Unit>> {
    use std::collections::BTreeMap;
    // name -> (length, modification time) of every regular file with an own name.
    let mut regular: BTreeMap<String, (u64, std::time::SystemTime)> = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !is_own_name(&name) {
            continue;
        }
        // DirEntry::metadata does not follow symlinks.
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        let time = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        regular.insert(name, (meta.len(), time));
    }
    let mut claimed = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    // Files that have a reason beside them, then reasons left without a file.
    for (name, (len, _)) in &regular {
        if name.ends_with(REASON_SUFFIX) {
            continue;
        }
        let reason = format!("{name}{REASON_SUFFIX}");
        if let Some((reason_len, time)) = regular.get(&reason) {
            claimed.insert(name.clone());
            claimed.insert(reason.clone());
            out.push(Unit {
                time: *time,
                reason,
                reason_len: *reason_len,
                file: Some((name.clone(), *len)),
            });
        }
    }
    for (name, (len, time)) in &regular {
        if name.ends_with(REASON_SUFFIX) && !claimed.contains(name) {
            out.push(Unit {
                time: *time,
                reason: name.clone(),
                reason_len: *len,
                file: None,
            });
        }
    }
    out.sort_by(|a, b| (a.time, &a.reason).cmp(&(b.time, &b.reason)));
    Ok(out)
}

/// Bounds the quarantine in `dir`: while it holds more than `cap.max_files` quarantined
/// files (`.reason` files not counted) or more than `cap.max_bytes` bytes (files and
/// reasons), deletes the oldest file together with its reason — the file first, then the
/// reason, so a crash in between leaves at most a harmless orphan reason (pruned in turn),
/// never a file without one. `keep` (the file just quarantined) and its reason are never
/// deleted. Symlinks, directories, dotfiles, unknown names and files without a reason are
/// left alone and not counted. Never follows a symlink (entries are examined with
/// `lstat`, and unlinking a name never touches what it points to).
pub(crate) fn prune(
    dir: &Path,
    cap: &crate::config::QuarantineCap,
    keep: Option<&Path>,
) -> std::io::Result<Pruned> {
    let units = units(dir)?;
    let keep_name = keep.and_then(Path::file_name).and_then(OsStr::to_str);
    let mut files = units.iter().filter(|u| u.file.is_some()).count();
    let mut bytes = units.iter().fold(0u64, |acc, u| {
        acc.saturating_add(u.reason_len)
            .saturating_add(u.file.as_ref().map_or(0, |f| f.1))
    });
    let mut out = Pruned::default();
    for u in &units {
        if files <= cap.max_files && bytes <= cap.max_bytes {
            break;
        }
        let file_name = u.file.as_ref().map(|f| f.0.as_str());
        if keep_name.is_some() && (file_name == keep_name || Some(u.reason.as_str()) == keep_name) {
            continue;
        }
        if let Some((name, len)) = &u.file {
            match remove(&dir.join(name)) {
                Ok(()) => {
                    files = files.saturating_sub(1);
                    bytes = bytes.saturating_sub(*len);
                    out.files += 1;
                    out.bytes = out.bytes.saturating_add(*len);
                    // The file's removal is durable before its reason goes.
                    sync_dir(dir);
                }
                Err(_) => {
                    out.failed += 1;
                    continue;
                }
            }
        }
        match remove(&dir.join(&u.reason)) {
            Ok(()) => {
                bytes = bytes.saturating_sub(u.reason_len);
                out.reasons += 1;
                out.bytes = out.bytes.saturating_add(u.reason_len);
            }
            Err(_) => out.failed += 1,
        }
    }
    if out.any() {
        sync_dir(dir);
    }
    out.files_left = files;
    out.bytes_left = bytes;
    Ok(out)
}

/// Unlinks `path` (never what a symlink there points to); already gone counts as done.
fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A reason reduced to one line of printable characters, bounded.
pub(crate) fn one_line(s: &str) -> String {
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

    fn cap(max_files: usize, max_bytes: u64) -> crate::config::QuarantineCap {
        crate::config::QuarantineCap {
            max_files,
            max_bytes,
        }
    }

    /// Quarantines `names` (each with `size` bytes) in order, the reasons dated one
    /// minute apart (oldest first), the way a stream of refused files fills it.
    fn fill(q: &Path, inbox: &Path, names: &[&str], size: usize) -> Vec<PathBuf> {
        std::fs::create_dir_all(inbox).unwrap();
        let base = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let f = inbox.join(n);
                std::fs::write(&f, vec![b'x'; size]).unwrap();
                let dest = quarantine(&f, q, &note(n)).unwrap();
                let reason = std::fs::File::options()
                    .write(true)
                    .open(q.join(format!(
                        "{}.reason",
                        dest.file_name().unwrap().to_str().unwrap()
                    )))
                    .unwrap();
                reason
                    .set_modified(base + std::time::Duration::from_secs(60 * i as u64))
                    .unwrap();
                dest
            })
            .collect()
    }

    fn names_in(q: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(q)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn cap_by_count_deletes_the_oldest_files_with_their_reasons_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("quarantine");
        let all = ["f1", "f2", "f3", "f4", "f5"];
        let dests = fill(&q, &dir.path().join("inbox"), &all, 10);
        let p = prune(&q, &cap(3, u64::MAX), dests.last().map(PathBuf::as_path)).unwrap();
        assert_eq!((p.files, p.reasons, p.files_left, p.failed), (2, 2, 3, 0));
        assert!(p.bytes >= 20, "{p:?}");
        assert_eq!(
            names_in(&q),
            ["f3", "f3.reason", "f4", "f4.reason", "f5", "f5.reason"]
        );
        every_file_has_its_reason(&q);
        // Within the cap: nothing more goes.
        let again = prune(&q, &cap(3, u64::MAX), None).unwrap();
        assert!(!again.any(), "{again:?}");
        assert_eq!(again.files_left, 3);
    }

    #[test]
    fn cap_by_bytes_counts_files_and_reasons_and_never_deletes_the_file_just_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("quarantine");
        let dests = fill(&q, &dir.path().join("inbox"), &["a", "b", "c"], 1000);
        let reason_len = std::fs::metadata(q.join("c.reason")).unwrap().len();
        // Room for two files but not for two reasons as well: only the newest stays.
        let p = prune(&q, &cap(100, 2000), dests.last().map(PathBuf::as_path)).unwrap();
        assert_eq!((p.files, p.reasons), (2, 2), "{p:?}");
        assert_eq!(p.bytes_left, 1000 + reason_len);
        assert_eq!(names_in(&q), ["c", "c.reason"]);
        // A cap smaller than the newest file alone: it stays, with its reason.
        let p = prune(&q, &cap(100, 10), Some(&q.join("c"))).unwrap();
        assert!(!p.any(), "{p:?}");
        assert_eq!(names_in(&q), ["c", "c.reason"]);
    }

    #[test]
    fn oldest_is_decided_by_the_reason_not_by_the_senders_file_time() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("quarantine");
        let dests = fill(&q, &dir.path().join("inbox"), &["old", "new"], 10);
        // The sender dated the older refused file in the future (hard links keep its time).
        let old = std::fs::File::options()
            .write(true)
            .open(&dests[0])
            .unwrap();
        old.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(1 << 30))
            .unwrap();
        prune(&q, &cap(1, u64::MAX), None).unwrap();
        assert_eq!(names_in(&q), ["new", "new.reason"]);
    }

    #[test]
    fn unknown_names_dotfiles_directories_and_files_without_a_reason_are_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("quarantine");
        fill(&q, &dir.path().join("inbox"), &["f1", "f2", "f3"], 10);
        std::fs::write(q.join(".keep"), b"operator's").unwrap();
        std::fs::write(q.join(".reason.tmp"), b"in progress").unwrap();
        std::fs::write(q.join("no reason here"), b"someone else's").unwrap();
        std::fs::write(q.join("lonely"), vec![0u8; 5000]).unwrap();
        std::fs::create_dir(q.join("sub")).unwrap();
        std::fs::write(q.join("sub.reason"), b"a directory is not a file").unwrap();
        let p = prune(&q, &cap(1, 100_000), None).unwrap();
        assert_eq!((p.files, p.files_left), (2, 1), "{p:?}");
        let left = names_in(&q);
        for n in [
            ".keep",
            ".reason.tmp",
            "no reason here",
            "lonely",
            "sub",
            "f3",
            "f3.reason",
        ] {
            assert!(left.contains(&n.to_owned()), "{n} was deleted: {left:?}");
        }
        // `sub.reason` counts as an orphan reason (`sub` is a directory, not a quarantined
        // file); it is the newest entry and the cap is met before it is reached.
        assert!(left.contains(&"sub.reason".to_owned()), "{left:?}");
        assert_eq!(std::fs::read(q.join("lonely")).unwrap().len(), 5000);
    }

    #[test]
    fn symlinks_are_neither_followed_nor_counted() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("quarantine");
        fill(&q, &dir.path().join("inbox"), &["f1", "f2"], 10);
        let outside = dir.path().join("precious");
        std::fs::write(&outside, vec![b'p'; 4096]).unwrap();
        let outside_reason = dir.path().join("precious.reason");
        std::fs::write(&outside_reason, b"code: x\n").unwrap();
        // A symlink dressed as a quarantined file with a real reason, and a real-looking
        // file whose reason is a symlink.
        std::os::unix::fs::symlink(&outside, q.join("link")).unwrap();
        std::fs::write(q.join("link.reason"), b"code: x\n").unwrap();
        std::fs::write(q.join("bait"), b"b").unwrap();
        std::os::unix::fs::symlink(&outside_reason, q.join("bait.reason")).unwrap();
        let p = prune(&q, &cap(1, u64::MAX), None).unwrap();
        assert_eq!(p.files, 1, "only f1 counts and goes: {p:?}");
        assert_eq!(std::fs::read(&outside).unwrap().len(), 4096);
        assert!(outside_reason.exists());
        assert!(
            std::fs::symlink_metadata(q.join("link")).is_ok(),
            "the link stays"
        );
        assert!(std::fs::symlink_metadata(q.join("bait.reason")).is_ok());
        assert!(q.join("bait").exists());
        assert!(!q.join("f1").exists() && q.join("f2").exists());
        // The orphaned `link.reason` (its file is a symlink, not a quarantined file) is
        // the quarantine's own and pruned under a byte cap; the link itself is not.
        let tight = prune(&q, &cap(1, 1), Some(&q.join("f2"))).unwrap();
        assert_eq!((tight.files, tight.reasons), (0, 1), "{tight:?}");
        assert!(!q.join("link.reason").exists());
        assert!(std::fs::symlink_metadata(q.join("link")).is_ok());
        assert_eq!(std::fs::read(&outside).unwrap().len(), 4096);
    }

    #[test]
    fn orphan_reason_left_by_a_crash_is_pruned_first_when_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("quarantine");
        let dests = fill(&q, &dir.path().join("inbox"), &["f1", "f2", "f3"], 10);
        // A crash between deleting f1 and its reason.
        std::fs::remove_file(&dests[0]).unwrap();
        let p = prune(&q, &cap(1, u64::MAX), None).unwrap();
        assert_eq!((p.files, p.reasons), (1, 2), "{p:?}");
        assert_eq!(names_in(&q), ["f3", "f3.reason"]);
        every_file_has_its_reason(&q);
    }

    #[test]
    fn a_refused_file_named_like_a_reason_is_not_taken_for_one() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("quarantine");
        let dests = fill(&q, &dir.path().join("inbox"), &["x", "x.reason"], 10);
        assert_eq!(dests[1], q.join("x.reason_"));
        every_file_has_its_reason(&q);
        prune(&q, &cap(1, u64::MAX), Some(&dests[1])).unwrap();
        assert_eq!(names_in(&q), ["x.reason_", "x.reason_.reason"]);
    }

    #[test]
    fn hostile_names_are_made_safe() {
        assert_eq!(safe_name(OsStr::new("../x y\n.snap")), "_._x_y_.snap");
        assert_eq!(safe_name(OsStr::new(".hidden")), "_hidden");
        assert_eq!(safe_name(OsStr::new("")), "_");
        assert_eq!(safe_name(OsStr::new(&"a".repeat(300))).len(), MAX_NAME);
    }
}
