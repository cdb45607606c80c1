//! The ingest task: watches the inbox and feeds files to [`Ingestor::process`], one at a
//! time and in order, on tokio's blocking pool so the web side is never held up.
//!
//! Triggers: an inotify rename-into or close-after-write (processed at once), a create or a
//! rescan find (processed once quiet for [`SETTLE`]), a full rescan on overflow or watch
//! error and every [`RESCAN_EVERY`] as a safety net. Every tick also checks whether the
//! served generation's next change moment has passed (then `rederive` maps it again). When the inbox disappears or cannot
//! be read, a standing `problem` is set, serving continues, and the watch is re-created as
//! soon as the inbox is back.

use super::outcome::ProcessError;
use super::pipeline::Ingestor;
use super::watcher::{InboxWatch, RESCAN_EVERY, SETTLE, Signal, scan};
use crate::status::code;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// How often the loop wakes up to retry waiting files and check the watch.
const TICK: Duration = Duration::from_millis(250);
/// How long an incomplete file without a completion event is waited for before it is
/// refused as truncated.
const WRITER_PATIENCE: Duration = Duration::from_secs(120);
/// How long a deferred file waits before the next attempt.
const RETRY_DEFERRED: Duration = Duration::from_secs(30);

/// A file waiting to be processed.
#[derive(Debug, Clone)]
struct Waiting {
    /// Proven complete by an event (rename into the inbox, close after write).
    complete: bool,
    /// Not before this instant.
    not_before: Instant,
    /// Size and modification time when last looked at (for the settle check).
    seen: Option<(u64, SystemTime)>,
    /// When the file was first noticed.
    first_seen: Instant,
}

impl Waiting {
    fn new(complete: bool, now: Instant) -> Waiting {
        Waiting {
            complete,
            not_before: now,
            seen: None,
            first_seen: now,
        }
    }
}

impl Ingestor {
    /// Runs the inbox watcher until `shutdown` completes. Call [`Ingestor::recover`] first.
    /// Files are processed one at a time on the blocking pool; the file being processed
    /// when shutdown comes is finished first (a generation is swapped whole or not at all).
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()> + Send) {
        let inbox = self.shared.config.paths.inbox.clone();
        let mut watch: Option<InboxWatch> = None;
        let mut waiting: BTreeMap<PathBuf, Waiting> = BTreeMap::new();
        let mut next_rescan = Instant::now();
        let mut more = false;
        let mut rederiver = super::rederive::Rederiver::default();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        log::info!("watching inbox {}", inbox.display());
        loop {
            if watch.is_none() {
                match InboxWatch::start(&inbox) {
                    Ok(w) => {
                        // An inbox problem (if any) clears after the first successful scan.
                        watch = Some(w);
                        self.set_problem(code::INBOX_NOT_WATCHED, None);
                        next_rescan = Instant::now();
                    }
                    Err(e) => self.set_problem(
                        code::INBOX_NOT_WATCHED,
                        Some(format!(
                            "cannot watch the inbox {}: {e}; falling back to a rescan every \
                             {} s, retrying",
                            inbox.display(),
                            RESCAN_EVERY.as_secs()
                        )),
                    ),
                }
            }
            let signal = tokio::select! {
                biased;
                () = &mut shutdown => break,
                s = async {
                    match watch.as_mut() {
                        Some(w) => w.rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => s,
                () = std::future::ready(()), if more => None,
                _ = tick.tick() => None,
            };
            let now = Instant::now();
            match signal {
                Some(Signal::File { path, complete }) => {
                    let w = waiting.entry(path).or_insert(Waiting::new(complete, now));
                    if complete {
                        w.complete = true;
                        w.not_before = now;
                    }
                }
                Some(Signal::Rescan) => next_rescan = now,
                Some(Signal::InboxGone) => {
                    watch = None;
                    self.set_problem(
                        code::INBOX_UNREADABLE,
                        Some(format!(
                            "the inbox {} was removed or moved; still serving the last data, \
                             waiting for it to come back",
                            inbox.display()
                        )),
                    );
                    continue;
                }
                None => {}
            }
            if watch
                .as_ref()
                .is_some_and(|w| w.overflowed.swap(false, Ordering::SeqCst))
            {
                log::warn!("inbox events were lost; rescanning");
                next_rescan = now;
            }
            if now >= next_rescan {
                next_rescan = now + RESCAN_EVERY;
                let dir = inbox.clone();
                let this = self.clone();
                let scanned = tokio::task::spawn_blocking(move || {
                    // Re-checks the key files too, so a fixed key clears its problem even
                    // when no file is waiting.
                    if this.keys().is_ok() {
                        // Keys that were unusable at start-up are fixed: serve the kept data.
                        this.retry_recovery();
                    }
                    scan(&dir)
                });
                match scanned.await {
                    Ok(Ok(found)) => {
                        self.set_problem(code::INBOX_UNREADABLE, None);
                        for f in found {
                            waiting.entry(f.path).or_insert(Waiting::new(false, now));
                        }
                    }
                    Ok(Err(e)) => {
                        watch = None;
                        self.set_problem(
                            code::INBOX_UNREADABLE,
                            Some(format!(
                                "cannot read the inbox {}: {e}; still serving the last data, \
                                 retrying",
                                inbox.display()
                            )),
                        );
                        continue;
                    }
                    Err(e) => log::error!("inbox scan task failed: {e}"),
                }
            }
            more = self.clone().work_off(&mut waiting).await;
            // The clock moved past a moment at which a shown state changes: map again.
            if rederiver.due(self.served_next_change(), chrono::Utc::now(), now) {
                let this = self.clone();
                let done = tokio::task::spawn_blocking(move || this.rederive())
                    .await
                    .unwrap_or_else(|e| {
                        log::error!("re-derivation task failed: {e}");
                        None
                    });
                rederiver.tried(now, done);
            }
        }
        log::info!("inbox watcher stopped");
    }

    /// Processes the oldest waiting file that is due and settled; returns whether more
    /// files were due.
    async fn work_off(self: Arc<Self>, waiting: &mut BTreeMap<PathBuf, Waiting>) -> bool {
        let now = Instant::now();
        let mut due: Vec<(SystemTime, PathBuf, bool)> = Vec::new();
        let mut gone = Vec::new();
        for (path, w) in waiting.iter_mut() {
            if w.not_before > now {
                continue;
            }
            let meta = match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_file() => m,
                _ => {
                    gone.push(path.clone());
                    continue;
                }
            };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let current = (meta.len(), modified);
            if !w.complete {
                let quiet = modified.elapsed().is_ok_and(|age| age >= SETTLE);
                let unchanged = w.seen == Some(current);
                if !quiet && !unchanged {
                    // A slow writer: look again shortly.
                    w.seen = Some(current);
                    w.not_before = now + SETTLE;
                    continue;
                }
            }
            let writer_may_be_active =
                !w.complete && now.duration_since(w.first_seen) < WRITER_PATIENCE;
            due.push((modified, path.clone(), writer_may_be_active));
        }
        for p in gone {
            waiting.remove(&p);
        }
        due.sort();
        let more = due.len() > 1;
        // One file per call: the loop checks shutdown and new events between files.
        if let Some((_, path, active)) = due.into_iter().next() {
            let this = self.clone();
            let p = path.clone();
            let outcome = tokio::task::spawn_blocking(move || this.process_with(&p, active)).await;
            match outcome {
                Ok(Err(ProcessError::Deferred { .. })) => {
                    if let Some(w) = waiting.get_mut(&path) {
                        // A file still being written is looked at again soon; anything else
                        // (keys, disk) waits for the retry interval.
                        w.seen = None;
                        w.not_before = Instant::now() + RETRY_DEFERRED.min(retry_for(&path));
                    }
                }
                Ok(_) => {
                    waiting.remove(&path);
                }
                Err(e) => {
                    log::error!("ingest task failed: {e}");
                    waiting.remove(&path);
                }
            }
        }
        more
    }
}

/// Retry delay for a deferred file: short while it is still changing, else the interval.
fn retry_for(path: &std::path::Path) -> Duration {
    let recent = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age < SETTLE * 5);
    if recent { SETTLE } else { RETRY_DEFERRED }
}
