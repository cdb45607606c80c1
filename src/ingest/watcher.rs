//! Inbox watching: which names count, what inotify (via `notify`) tells us, and listing the
//! inbox for a full rescan.
//!
//! Publishers write `NAME.part` and rename it to `NAME` when complete. Only final names are
//! candidates: names ending in `.part` and dotfiles are ignored, as are non-regular files
//! (directories, symlinks, FIFOs). A rename into the inbox (`IN_MOVED_TO`) or the close of a
//! file written in place (`IN_CLOSE_WRITE`) marks a file *complete*; a file only seen by a
//! rescan or a create event must first be quiet for [`SETTLE`] (slow writers). An inotify
//! queue overflow, a watch error or a full event channel all mean "rescan everything".

use notify::event::{AccessKind, AccessMode, ModifyKind, RemoveKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// A file seen without a "complete" event must not have changed for this long.
pub(crate) const SETTLE: Duration = Duration::from_secs(1);
/// Full rescan of the inbox as a safety net against missed events.
pub(crate) const RESCAN_EVERY: Duration = Duration::from_secs(30);
/// Events buffered between the watcher thread and the ingest task.
const CHANNEL: usize = 1024;
/// Most inbox entries looked at in one rescan (a flooded inbox is worked off in parts).
pub(crate) const MAX_SCAN: usize = 10_000;

/// Whether a file name in the inbox is one to ingest. Image update bundles (`*.nupd`) are
/// not: the privileged installer takes them (`update`), the daemon never reads them.
pub(crate) fn is_candidate_name(name: &OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    !bytes.is_empty()
        && !bytes.starts_with(b".")
        && !bytes.ends_with(b".part")
        && !crate::update::is_bundle_name(name)
}

/// What the watcher thread tells the ingest task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signal {
    /// A candidate file; `complete` when the event proves the writer is done.
    File { path: PathBuf, complete: bool },
    /// Events were lost or the watch reported an error: rescan the inbox.
    Rescan,
    /// The inbox itself was removed or moved away: the watch must be re-created.
    InboxGone,
}

/// Turns one notify event into signals for files directly in `inbox`.
pub(crate) fn classify(inbox: &Path, event: &Event) -> Vec<Signal> {
    if event.need_rescan() || matches!(event.kind, EventKind::Other) {
        return vec![Signal::Rescan];
    }
    let complete = match event.kind {
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Create(_) => false,
        EventKind::Modify(ModifyKind::Name(RenameMode::From))
        | EventKind::Remove(RemoveKind::Folder | RemoveKind::Other) => {
            return if event.paths.iter().any(|p| p == inbox) {
                vec![Signal::InboxGone]
            } else {
                vec![]
            };
        }
        _ => return vec![],
    };
    event
        .paths
        .iter()
        .filter(|p| p.parent() == Some(inbox))
        .filter(|p| p.file_name().is_some_and(is_candidate_name))
        .map(|p| Signal::File {
            path: p.clone(),
            complete,
        })
        .collect()
}

/// A live inotify watch on the inbox, feeding a tokio channel.
pub(crate) struct InboxWatch {
    _watcher: RecommendedWatcher,
    pub rx: tokio::sync::mpsc::Receiver<Signal>,
    /// Set when the channel was full and signals were dropped (rescan needed).
    pub overflowed: Arc<AtomicBool>,
}

impl InboxWatch {
    /// Starts watching `inbox` (non-recursively).
    pub(crate) fn start(inbox: &Path) -> notify::Result<InboxWatch> {
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL);
        let overflowed = Arc::new(AtomicBool::new(false));
        let flag = overflowed.clone();
        let root = watched_root(inbox, std::env::current_dir().ok().as_deref());
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<Event>| {
            let signals = match res {
                Ok(ev) => classify(&root, &ev),
                Err(e) => {
                    log::warn!("inbox watch error: {e}; rescanning");
                    vec![Signal::Rescan]
                }
            };
            for s in signals {
                if tx.try_send(s).is_err() {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        })?;
        watcher.watch(inbox, RecursiveMode::NonRecursive)?;
        Ok(InboxWatch {
            _watcher: watcher,
            rx,
            overflowed,
        })
    }
}

/// The inbox in the form notify reports paths under it: notify makes a relative watch path
/// absolute by joining it to the current directory, so a relative inbox (`serve --config
/// noodepd.toml` with `inbox = "state/inbox"`) must be compared in that form; otherwise
/// every event is dropped and new files wait for the 30-second rescan.
fn watched_root(inbox: &Path, cwd: Option<&Path>) -> PathBuf {
    match cwd {
        Some(cwd) if inbox.is_relative() => cwd.join(inbox),
        _ => inbox.to_owned(),
    }
}

/// One inbox entry found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub path: PathBuf,
    pub modified: SystemTime,
    pub len: u64,
}

/// Lists the candidate regular files in `inbox`, oldest modification time first (ties by
/// name). This is the order files that arrived while the daemon was down are ingested in:
/// publishers write snapshots in sequence order, so modification order is sequence order;
/// a file that is out of order is refused by the sequence check, never applied backwards.
pub(crate) fn scan(inbox: &Path) -> std::io::Result<Vec<Found>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(inbox)?.take(MAX_SCAN) {
        let entry = entry?;
        if !is_candidate_name(&entry.file_name()) {
            continue;
        }
        // symlink_metadata: a symlink is not a regular file and is never followed.
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !meta.file_type().is_file() {
            continue;
        }
        out.push(Found {
            path: entry.path(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            len: meta.len(),
        });
    }
    out.sort_by(|a, b| a.modified.cmp(&b.modified).then(a.path.cmp(&b.path)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_files_and_dotfiles_are_not_candidates() {
        assert!(is_candidate_name(OsStr::new("a3-000057.snap")));
        assert!(!is_candidate_name(OsStr::new("a3-000057.snap.part")));
        assert!(!is_candidate_name(OsStr::new(".a3-000057.snap")));
        assert!(!is_candidate_name(OsStr::new("")));
        // Image update bundles are the installer's, never the daemon's.
        assert!(!is_candidate_name(OsStr::new("noodepd-2026.12.1.nupd")));
    }

    #[test]
    fn relative_inbox_matches_the_absolute_paths_notify_reports() {
        let inbox = Path::new("./state/inbox");
        let cwd = Path::new("/srv/noodepd");
        // notify joins a relative watch path to the current directory.
        let reported = cwd.join(inbox).join("a3-000057.snap");
        let renamed = Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::To)))
            .add_path(reported.clone());
        assert!(
            classify(inbox, &renamed).is_empty(),
            "compared as given, the event is lost"
        );
        assert_eq!(
            classify(&watched_root(inbox, Some(cwd)), &renamed),
            vec![Signal::File {
                path: reported,
                complete: true
            }]
        );
        assert_eq!(watched_root(Path::new("/in"), Some(cwd)), Path::new("/in"));
    }

    #[test]
    fn rename_into_inbox_is_complete_and_overflow_means_rescan() {
        let inbox = Path::new("/in");
        let to = Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::To)))
            .add_path(PathBuf::from("/in/a.snap"));
        assert_eq!(
            classify(inbox, &to),
            vec![Signal::File {
                path: "/in/a.snap".into(),
                complete: true
            }]
        );
        let part = Event::new(EventKind::Access(AccessKind::Close(AccessMode::Write)))
            .add_path(PathBuf::from("/in/a.snap.part"));
        assert!(classify(inbox, &part).is_empty());
        let overflow = Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert_eq!(classify(inbox, &overflow), vec![Signal::Rescan]);
        let gone = Event::new(EventKind::Remove(RemoveKind::Folder)).add_path("/in".into());
        assert_eq!(classify(inbox, &gone), vec![Signal::InboxGone]);
    }

    #[test]
    fn scan_lists_final_regular_files_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("b.snap"), b"b").unwrap();
        std::fs::write(d.join("a.snap"), b"a").unwrap();
        std::fs::write(d.join("c.snap.part"), b"c").unwrap();
        std::fs::write(d.join(".hidden"), b"h").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.join("link.snap")).unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(d.join("b.snap"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let names: Vec<_> = scan(d)
            .unwrap()
            .into_iter()
            .map(|f| f.path.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, vec![OsStr::new("b.snap"), OsStr::new("a.snap")]);
    }
}
