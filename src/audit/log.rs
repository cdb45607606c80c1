//! The open access log: opening (and keying) the database, appending with group commit and a
//! cross-process lock, the durable-entry receipt, the head and its anchor, and reads by the
//! audit's own modules.

use super::anchor::{Anchor, anchor_path};
use super::chain::{Chain, GENESIS, Parts, db_keyed_from};
use super::entry::Entry;
use super::error::AuditError;
use super::event::{Action, Event, EventKind, Outcome, kind_str};
use super::key::AuditKey;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// File name of the log inside the state directory.
pub(crate) const LOG_FILE: &str = "audit.sqlite";

/// File name of the lock file that serialises appends across processes (daemon and CLI).
pub(crate) const LOCK_FILE: &str = "audit.lock";

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS entry (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        appliance TEXT NOT NULL,
        ward TEXT NOT NULL,
        kind TEXT NOT NULL,
        event TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS entry_time ON entry(time);
    CREATE INDEX IF NOT EXISTS entry_kind ON entry(kind);
    CREATE TABLE IF NOT EXISTS checkpoint (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        last_id INTEGER NOT NULL,
        last_hash TEXT NOT NULL,
        time TEXT NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS drill_report (
        drill_id INTEGER PRIMARY KEY,
        produced TEXT NOT NULL,
        report TEXT NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS chain (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        keyed_from INTEGER NOT NULL
    ) STRICT;";

/// Proof that one entry is durable in the access log (written, fsynced and chained): only
/// [`AuditLog::append_receipt`] makes one (the field is private), and every page with patient
/// data takes one, so "no patient page before its audit entry is durable" is checked by the
/// compiler rather than by each route remembering to look at the result of an append.
///
/// It cannot be made any other way:
///
/// ```compile_fail
/// let forged = noodepd::audit::Receipt { entry_id: 1 };
/// ```
#[derive(Debug)]
#[must_use]
pub struct Receipt {
    entry_id: i64,
}

impl Receipt {
    /// The id of the durable entry this receipt stands for.
    pub fn entry_id(&self) -> i64 {
        self.entry_id
    }
}

use crate::fsutil::write_atomic;

struct Inner {
    conn: Connection,
    lock: std::fs::File,
    last_id: i64,
    last_hash: String,
}

/// Where a queued append's outcome is delivered.
type Slot = Arc<Mutex<Option<Result<Entry, AuditError>>>>;

/// An append waiting for the next group commit.
struct Queued {
    event: Event,
    now: DateTime<Utc>,
    slot: Slot,
}

/// The open log.
pub struct AuditLog {
    path: PathBuf,
    appliance: String,
    ward: String,
    pub(super) chain: Chain,
    inner: Mutex<Inner>,
    /// Appends waiting for the writer (group commit, see [`AuditLog::append_at`]).
    queue: Mutex<Vec<Queued>>,
}

/// Releases the cross-process file lock when dropped.
struct FileLock<'a>(&'a std::fs::File);

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl AuditLog {
    /// Opens (or creates) an unkeyed log at `state_dir/audit.sqlite` (tests, tools). A log
    /// that is keyed cannot be opened without its key ([`AuditError::KeyNeeded`]).
    pub fn open(state_dir: &Path, appliance: &str, ward: &str) -> Result<AuditLog, AuditError> {
        Self::open_with(state_dir, appliance, ward, None)
    }

    /// Opens (or creates) the log at `state_dir/audit.sqlite` with its chain key. A log
    /// that is not keyed yet (new, or made by an older version) is keyed from its next
    /// entry on: that id is recorded in the database and in the anchor, and the entries
    /// before it keep their plain hashes.
    pub(crate) fn open_keyed(
        state_dir: &Path,
        appliance: &str,
        ward: &str,
        key: AuditKey,
    ) -> Result<AuditLog, AuditError> {
        Self::open_with(state_dir, appliance, ward, Some(key))
    }

    /// Opens the log the way the daemon does: with the key at `key_path`, made there
    /// (0600) first when the log is not keyed yet and there is no key file. A keyed log
    /// whose key file is missing is an error, never a new key.
    pub fn open_with_key_file(
        state_dir: &Path,
        appliance: &str,
        ward: &str,
        key_path: &Path,
    ) -> Result<AuditLog, AuditError> {
        let key = match AuditKey::read(key_path) {
            Ok(k) => k,
            Err(AuditError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                let log_path = state_dir.join(LOG_FILE);
                if log_path.exists() {
                    let conn = Connection::open_with_flags(
                        &log_path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .map_err(|source| AuditError::Sqlite {
                        path: log_path.clone(),
                        source,
                    })?;
                    let keyed = db_keyed_from(&conn).map_err(|source| AuditError::Sqlite {
                        path: log_path.clone(),
                        source,
                    })?;
                    if let Some(keyed_from) = keyed {
                        return Err(AuditError::KeyNeeded {
                            path: log_path,
                            keyed_from,
                        });
                    }
                }
                log::info!("making the access log's chain key {}", key_path.display());
                AuditKey::create(key_path)?
            }
            Err(e) => return Err(e),
        };
        Self::open_keyed(state_dir, appliance, ward, key)
    }

    /// Reads the key at `key_path` (never makes one) and opens the log with it; for the
    /// CLI, which must never start a second key.
    pub(crate) fn open_existing_key(
        state_dir: &Path,
        appliance: &str,
        ward: &str,
        key_path: &Path,
    ) -> Result<AuditLog, AuditError> {
        match AuditKey::read(key_path) {
            Ok(k) => Self::open_keyed(state_dir, appliance, ward, k),
            // No key file yet: the daemon has not keyed this log; open it as it is.
            Err(AuditError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Self::open(state_dir, appliance, ward)
            }
            Err(e) => Err(e),
        }
    }

    fn open_with(
        state_dir: &Path,
        appliance: &str,
        ward: &str,
        key: Option<AuditKey>,
    ) -> Result<AuditLog, AuditError> {
        let path = state_dir.join(LOG_FILE);
        let sq = |source| AuditError::Sqlite {
            path: path.clone(),
            source,
        };
        let io = |p: &Path| {
            let p = p.to_owned();
            move |source| AuditError::Io { path: p, source }
        };
        let lock_path = state_dir.join(LOCK_FILE);
        let lock = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&lock_path)
                .map_err(io(&lock_path))?
        };
        // Private from its first moment (SQLite would create it 0644; its WAL and shared
        // memory files then take this file's mode).
        crate::fsutil::precreate_private_file(&path).map_err(io(&path))?;
        let conn = Connection::open(&path).map_err(sq)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(sq)?;
        conn.execute_batch(SCHEMA).map_err(sq)?;
        let keyed_from = db_keyed_from(&conn).map_err(sq)?;
        if let (Some(from), None) = (keyed_from, &key) {
            return Err(AuditError::KeyNeeded {
                path,
                keyed_from: from,
            });
        }
        let mut log = AuditLog {
            path: path.clone(),
            appliance: appliance.to_owned(),
            ward: ward.to_owned(),
            chain: Chain {
                keyed_from,
                key: key.clone(),
            },
            inner: Mutex::new(Inner {
                conn,
                lock,
                last_id: 0,
                last_hash: GENESIS.to_owned(),
            }),
            queue: Mutex::new(Vec::new()),
        };
        let mut keyed_from = log.chain.keyed_from;
        {
            let mut inner = log.lock_inner();
            let inner = &mut *inner;
            let _guard = lock_file(&inner.lock, &lock_path)?;
            let (id, hash) = db_head(&inner.conn).map_err(sq)?;
            inner.last_id = id;
            inner.last_hash = hash.clone();
            let anchor = anchor_path(&path);
            // Keying an unkeyed log (new, or from before keying): from the next entry on,
            // recorded in the database and the anchor together. The anchor still names the
            // same head, so a verify in between sees a consistent file.
            let mut keyed_now = None;
            if key.is_some() && keyed_from.is_none() {
                let from = id.checked_add(1).ok_or(AuditError::Full)?;
                let tx = rusqlite::Transaction::new(
                    &mut inner.conn,
                    rusqlite::TransactionBehavior::Immediate,
                )
                .map_err(sq)?;
                // Another process may have keyed it since we read.
                let already = db_keyed_from(&tx).map_err(sq)?;
                let from = match already {
                    Some(f) => f,
                    None => {
                        tx.execute(
                            "INSERT INTO chain (one, keyed_from) VALUES (1, ?1)",
                            params![from],
                        )
                        .map_err(sq)?;
                        keyed_now = Some(from);
                        from
                    }
                };
                tx.commit().map_err(sq)?;
                keyed_from = Some(from);
            }
            // A brand-new log gets its anchor at once, so a crash during the very first
            // append leaves an anchor that is merely one behind rather than missing; a log
            // keyed just now gets one that says so.
            if (id == 0 && !anchor.exists()) || keyed_now.is_some() {
                write_atomic(
                    &anchor,
                    Anchor {
                        id,
                        hash,
                        keyed_from,
                    }
                    .encode()
                    .as_bytes(),
                )
                .map_err(io(&anchor))?;
            }
            if let Some(from) = keyed_now {
                log::info!(
                    "access log {} is chained with its key from entry {from} on",
                    path.display()
                );
            }
        }
        log.chain.keyed_from = keyed_from;
        Ok(log)
    }

    fn lock_inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event; when this returns Ok the entry is durable (fsynced) and the chain
    /// head anchor is updated. Any Err (disk full, read-only disk, ...) means: do not show
    /// what this entry was to account for.
    pub fn append(&self, event: Event) -> Result<Entry, AuditError> {
        self.append_at(event, Utc::now())
    }

    /// Appends one event and returns the proof that it is durable, which the pages with
    /// patient data require (see [`Receipt`]).
    pub fn append_receipt(&self, event: Event) -> Result<Receipt, AuditError> {
        self.append_receipt_at(event, Utc::now())
    }

    /// [`AuditLog::append_receipt`] with an explicit time.
    pub(crate) fn append_receipt_at(
        &self,
        event: Event,
        now: DateTime<Utc>,
    ) -> Result<Receipt, AuditError> {
        self.append_at(event, now)
            .map(|e| Receipt { entry_id: e.id })
    }

    /// Appends with an explicit time (tests, replays of the clock).
    ///
    /// Group commit: concurrent appends queue up; whichever caller holds the writer lock
    /// next writes every queued entry in ONE transaction (one fsync) and one anchor write,
    /// then hands each waiting caller its own entry. Every caller still returns only after
    /// its entry is durable, so "no page before its entry is durable" holds; many pages at
    /// once no longer pay one fsync each, one after the other.
    pub fn append_at(&self, event: Event, now: DateTime<Utc>) -> Result<Entry, AuditError> {
        let slot: Slot = Arc::new(Mutex::new(None));
        lock_any(&self.queue).push(Queued {
            event,
            now,
            slot: slot.clone(),
        });
        let mut inner = self.lock_inner();
        // A writer before us may have committed our entry already.
        if let Some(done) = lock_any(&slot).take() {
            return done;
        }
        let batch = std::mem::take(&mut *lock_any(&self.queue));
        if batch.is_empty() {
            // Cannot happen: slots are filled before the writer lock is released, so our
            // request is either answered or still queued. Refuse rather than guess.
            return Err(AuditError::Invalid {
                path: self.path.clone(),
                message: "append lost from the queue".into(),
            });
        }
        let events: Vec<(Event, DateTime<Utc>)> =
            batch.iter().map(|q| (q.event.clone(), q.now)).collect();
        let result = self.write_locked(&mut inner, |tx, log| {
            let mut entries = Vec::with_capacity(events.len());
            for (event, now) in events {
                entries.push(log.insert(tx, event, now)?);
            }
            Ok(Batch(entries))
        });
        // Answer every caller of the batch before releasing the writer lock.
        match result {
            Ok(Batch(entries)) => {
                for (q, e) in batch.iter().zip(entries) {
                    *lock_any(&q.slot) = Some(Ok(e));
                }
            }
            Err(e) => {
                // The batch is not (durably) recorded: every caller in it gets an error
                // and shows nothing.
                let msg = e.to_string();
                for q in &batch {
                    *lock_any(&q.slot) = Some(Err(AuditError::Io {
                        path: self.path.clone(),
                        source: std::io::Error::other(msg.clone()),
                    }));
                }
            }
        }
        drop(inner);
        lock_any(&slot).take().unwrap_or_else(|| {
            Err(AuditError::Invalid {
                path: self.path.clone(),
                message: "append was not processed".into(),
            })
        })
    }

    /// Runs `f` inside an immediate write transaction while holding the cross-process lock,
    /// then commits and writes the anchor. `f` returns the last entry it appended.
    pub(crate) fn with_write<T: HasEntry>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &AuditLog) -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        let mut inner = self.lock_inner();
        self.write_locked(&mut inner, f)
    }

    /// [`AuditLog::with_write`] with the in-process writer lock already held.
    fn write_locked<T: HasEntry>(
        &self,
        inner: &mut Inner,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &AuditLog) -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        let sq = |source| AuditError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let lock_path = self.path.with_file_name(LOCK_FILE);
        let _guard = lock_file(&inner.lock, &lock_path)?;
        let tx =
            rusqlite::Transaction::new(&mut inner.conn, rusqlite::TransactionBehavior::Immediate)
                .map_err(sq)?;
        let out = f(&tx, self)?;
        tx.commit().map_err(sq)?;
        let entry = out.entry();
        inner.last_id = entry.id;
        inner.last_hash = entry.hash.clone();
        let anchor = anchor_path(&self.path);
        write_atomic(
            &anchor,
            Anchor {
                id: entry.id,
                hash: entry.hash.clone(),
                keyed_from: self.chain.keyed_from,
            }
            .encode()
            .as_bytes(),
        )
        .map_err(|source| AuditError::Io {
            path: anchor,
            source,
        })?;
        Ok(out)
    }

    /// Inserts one entry after the current head, inside the caller's transaction.
    pub(crate) fn insert(
        &self,
        tx: &rusqlite::Transaction<'_>,
        event: Event,
        now: DateTime<Utc>,
    ) -> Result<Entry, AuditError> {
        let sq = |source| AuditError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let (last_id, last_hash) = db_head(tx).map_err(sq)?;
        let id = last_id.checked_add(1).ok_or(AuditError::Full)?;
        let time = now.to_rfc3339_opts(SecondsFormat::Micros, true);
        let event_json = serde_json::to_string(&event)?;
        let hash = self.chain.hash(
            &self.path,
            &Parts {
                id,
                time: &time,
                appliance: &self.appliance,
                ward: &self.ward,
                event: &event_json,
                prev_hash: &last_hash,
            },
        )?;
        tx.execute(
            "INSERT INTO entry (id, time, appliance, ward, kind, event, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id,
                time,
                self.appliance,
                self.ward,
                kind_str(event.kind),
                event_json,
                last_hash,
                hash
            ],
        )
        .map_err(sq)?;
        Ok(Entry {
            id,
            time,
            appliance: self.appliance.clone(),
            ward: self.ward.clone(),
            event,
            prev_hash: last_hash,
            hash,
        })
    }

    /// The chain head: the last entry's id and hash (as last seen by this process).
    pub fn head(&self) -> (i64, String) {
        let g = self.lock_inner();
        (g.last_id, g.last_hash.clone())
    }

    /// Writes the chain head to the operator log (journald under systemd) as one line
    /// `audit chain head id=N hash=H`. The daemon calls this every `audit.head_to_journal`
    /// and at shutdown, so a copy of the head lives outside the audit database and its
    /// anchor file.
    pub fn log_head(&self) {
        // The head in the database (another process, e.g. an export, may have appended);
        // this process's last known head if the database cannot be read.
        let (id, hash) = {
            let g = self.lock_inner();
            db_head(&g.conn).unwrap_or_else(|_| (g.last_id, g.last_hash.clone()))
        };
        log::info!("audit chain head id={id} hash={hash}");
    }

    /// Runs `f` with the connection (reads by this process's own modules).
    pub(crate) fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        let g = self.lock_inner();
        f(&g.conn)
    }

    pub(crate) fn sq(&self) -> impl Fn(rusqlite::Error) -> AuditError + '_ {
        |source| AuditError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// Something a write produced that ends in an appended entry (the new head).
pub(crate) trait HasEntry {
    fn entry(&self) -> &Entry;
}

impl HasEntry for Entry {
    fn entry(&self) -> &Entry {
        self
    }
}

/// The entries of one group commit, in order (never empty: the committing caller's own
/// append is in it).
struct Batch(Vec<Entry>);

impl HasEntry for Batch {
    fn entry(&self) -> &Entry {
        match self.0.last() {
            Some(e) => e,
            None => unreachable_entry(),
        }
    }
}

/// A batch always holds at least the committing caller's entry; this is never reached.
fn unreachable_entry() -> &'static Entry {
    static EMPTY: std::sync::OnceLock<Entry> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Entry {
        id: 0,
        time: String::new(),
        appliance: String::new(),
        ward: String::new(),
        event: Event {
            kind: EventKind::Daemon,
            action: Action::E,
            outcome: Outcome::SeriousFailure,
            user: None,
            responsible: None,
            patients: vec![],
            detail: String::new(),
            access_point: None,
            mode: String::new(),
        },
        prev_hash: GENESIS.to_owned(),
        hash: GENESIS.to_owned(),
    })
}

fn lock_any<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn lock_file<'a>(file: &'a std::fs::File, path: &Path) -> Result<FileLock<'a>, AuditError> {
    file.lock().map_err(|source| AuditError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(FileLock(file))
}

/// The head in the database: the last entry, else the retention checkpoint, else genesis.
fn db_head(conn: &Connection) -> rusqlite::Result<(i64, String)> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT id, hash FROM entry ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some(l) = last {
        return Ok(l);
    }
    let cp: Option<(i64, String)> = conn
        .query_row(
            "SELECT last_id, last_hash FROM checkpoint WHERE one = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(cp.unwrap_or((0, GENESIS.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail: String) -> Event {
        Event {
            kind: EventKind::Search,
            action: Action::R,
            outcome: Outcome::Success,
            user: None,
            responsible: None,
            patients: vec![],
            detail,
            access_point: None,
            mode: "emergency".into(),
        }
    }

    #[test]
    fn append_when_database_is_full_returns_err_and_the_log_stays_valid() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), "box1", "A3").unwrap();
        log.append(event("first".into())).unwrap();
        let pages: i64 = log
            .with_conn(|c| {
                c.query_row("PRAGMA page_count", [], |r| r.get(0))
                    .map_err(log.sq())
            })
            .unwrap();
        log.with_conn(|c| {
            c.query_row(
                &format!("PRAGMA max_page_count = {}", pages + 2),
                [],
                |_| Ok(()),
            )
            .map_err(log.sq())
        })
        .unwrap();
        let mut err = None;
        for _ in 0..50 {
            if let Err(e) = log.append(event("y".repeat(4000))) {
                err = Some(e);
                break;
            }
        }
        let err = err.expect("a capped database must fill up");
        assert!(err.to_string().contains("full"), "{err}");
        let report = log.verify().unwrap();
        assert!(report.is_ok(), "{:?}", report.broken);
        assert_eq!(report.head_id, log.head().0);
    }

    #[test]
    fn a_failed_group_commit_fails_every_caller_in_it_and_only_answered_entries_are_stored() {
        // 12 threads append at once into a database capped a few pages above its size, so
        // some batches fail (SQLITE_FULL). Every caller answered Ok must find its own entry
        // stored under the id it was given; every caller answered Err must find its entry
        // absent (its whole batch was rolled back): a page is shown only for a stored entry.
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AuditLog::open(dir.path(), "box1", "A3").unwrap());
        log.append(event("first".into())).unwrap();
        let pages: i64 = log
            .with_conn(|c| {
                c.query_row("PRAGMA page_count", [], |r| r.get(0))
                    .map_err(log.sq())
            })
            .unwrap();
        log.with_conn(|c| {
            c.query_row(
                &format!("PRAGMA max_page_count = {}", pages + 6),
                [],
                |_| Ok(()),
            )
            .map_err(log.sq())
        })
        .unwrap();
        let handles: Vec<_> = (0..12)
            .map(|th| {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut answers = Vec::new();
                    for i in 0..40 {
                        let detail = format!("t{th}-{i}-{}", "y".repeat(3000));
                        let r = log.append(event(detail.clone()));
                        let failed = r.is_err();
                        answers.push((detail, r.map(|e| e.id)));
                        if failed {
                            break;
                        }
                    }
                    answers
                })
            })
            .collect();
        let answers: Vec<(String, Result<i64, AuditError>)> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let stored: std::collections::BTreeMap<String, i64> = log
            .with_conn(|c| {
                let mut st = c.prepare("SELECT id, event FROM entry").map_err(log.sq())?;
                let rows = st
                    .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                    .map_err(log.sq())?;
                let mut m = std::collections::BTreeMap::new();
                for row in rows {
                    let (id, json) = row.map_err(log.sq())?;
                    let ev: Event = serde_json::from_str(&json)?;
                    m.insert(ev.detail, id);
                }
                Ok(m)
            })
            .unwrap();
        let mut oks = 0;
        let mut errs = 0;
        for (detail, r) in &answers {
            match r {
                Ok(id) => {
                    oks += 1;
                    assert_eq!(stored.get(detail), Some(id), "answered Ok but not stored");
                }
                Err(e) => {
                    errs += 1;
                    assert!(e.to_string().contains("full"), "{e}");
                    assert_eq!(stored.get(detail), None, "answered Err but stored");
                }
            }
        }
        assert!(errs > 0, "a capped database must fill up");
        assert!(oks > 0, "some appends fit before it filled up");
        // Nothing is stored that no caller was answered Ok for (besides the first entry).
        assert_eq!(stored.len(), oks + 1);
        let report = log.verify().unwrap();
        assert!(report.is_ok(), "{:?}", report.broken);
        assert_eq!(report.head_id, log.head().0);
    }
}
