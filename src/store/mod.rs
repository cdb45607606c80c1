//! The store: each accepted snapshot becomes a new SQLite *generation*, built completely
//! off to the side and then swapped in; readers never see a half-built one.
//!
//! A generation is an SQLite file in the runtime directory (tmpfs `/run/noodepd` on the
//! appliance, so plaintext patient data never rests on disk; after a reboot the ingest side
//! rebuilds it from the newest sealed snapshot). Building happens in a `*.tmp` file in one
//! transaction; the file is then renamed to its final name and opened read-only. The swap is
//! a pointer swap under a lock: a request takes an `Arc<Generation>` once and renders the whole
//! page from it, so every page shows exactly one generation. An old generation's file is
//! removed when the last reader drops it.
//!
//! Invariants: the web side only reads (connections are opened read-only); a generation is
//! visible completely or not at all; a generation's rows are exactly the ward record it was
//! built from (checked by a count in the meta table on open).
//!
//! Never wrong data: SQLite has no checksums, and the file lives on a tmpfs anyone with root
//! can write. So the builder keeps, in memory, a SHA-256 of every row's summary and record
//! and of the whole file. Opening checks every summary; every record read is checked before
//! it is returned; [`Generation::verify_file`] rehashes the file (the daemon does so every
//! few seconds). A mismatch is a [`StoreError::Corrupt`] and marks the generation corrupt
//! ([`Generation::is_corrupt`]): the page is refused, and the daemon rebuilds the
//! generation from the newest kept snapshot.
//!
//! Across a restart of the daemon (not a reboot: the runtime directory is tmpfs) the file
//! served last may be served again: a daemon that stops keeps it
//! ([`Generation::keep_file_on_drop`]), the ingest side records its digest in the state
//! directory ([`LastServed`]), and [`Store::reopen`] serves it again only when the whole
//! file hashes to that digest.

pub(crate) mod last;
pub use last::LastServed;

use crate::record::{IngestReport, PatientRecord, PatientSummary, WardRecord};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::any::Any;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// Schema version of a generation file.
const SCHEMA_VERSION: i64 = 1;
/// Read connections kept per generation.
const POOL_MAX: usize = 8;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation on a generation failed.
    #[error("store I/O on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// SQLite failed on a generation.
    #[error("SQLite error in generation {path}: {source}")]
    Sqlite {
        /// The generation file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A record or summary could not be serialised to JSON.
    #[error("cannot encode record: {0}")]
    Encode(#[from] serde_json::Error),
    /// A generation does not read back as it was written; the reason says what.
    #[error("generation {path} is corrupt: {reason}")]
    Corrupt {
        /// The generation file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// What is known about a generation besides its patients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationMeta {
    /// The ward the data is for.
    pub ward: String,
    /// The snapshot's sequence number.
    pub sequence: u64,
    /// When the publisher extracted the data from the EPD.
    pub data_as_of: DateTime<Utc>,
    /// When the publisher sealed the snapshot.
    pub created_at: DateTime<Utc>,
    /// When this appliance accepted it.
    pub received_at: DateTime<Utc>,
    /// The sealed snapshot file it came from (file name only).
    pub snapshot_file: String,
    /// How every resource of the snapshot was handled (shown to IT on the status page).
    pub report: IngestReport,
    /// The mapping's `now`: the instant the medication states shown were decided at.
    #[serde(default)]
    pub derived_at: Option<DateTime<Utc>>,
    /// The next moment after `derived_at` at which a shown state can change
    /// ([`crate::record::WardRecord::next_change`]); the daemon re-derives then.
    #[serde(default)]
    pub next_change: Option<DateTime<Utc>>,
}

/// A SHA-256 digest.
type Sha = [u8; 32];

fn sha(bytes: &[u8]) -> Sha {
    Sha256::digest(bytes).into()
}

/// What the builder wrote, kept in memory to check the file against.
struct Digests {
    /// Patient key → digest of its record JSON.
    records: HashMap<String, Sha>,
    /// Digest of each summary JSON, in ward order.
    summaries: Vec<Sha>,
}

/// One built, read-only generation.
pub struct Generation {
    path: PathBuf,
    meta: GenerationMeta,
    summaries: Vec<PatientSummary>,
    pool: Mutex<Vec<Connection>>,
    records: HashMap<String, Sha>,
    /// Digest of the whole file as built.
    file: Sha,
    corrupt: AtomicBool,
    /// Set when the daemon stops: the file stays for the next start ([`Store::reopen`]).
    keep_file: AtomicBool,
    /// What a reader derives from this generation and keeps for its lifetime (the web's
    /// rendered pages, `web::cache`): dropped with the generation, so a swap can never
    /// carry it over to the next one.
    attached: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("path", &self.path)
            .field("sequence", &self.meta.sequence)
            .field("patients", &self.summaries.len())
            .finish()
    }
}

/// The store: the runtime directory and the generation currently served.
pub struct Store {
    dir: PathBuf,
    current: RwLock<Option<Arc<Generation>>>,
}

impl Store {
    /// Opens the store on `dir` (created if missing, mode 0700). Leftover generation files
    /// from an earlier run are removed: they are rebuilt from sealed snapshots.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Self::open_keeping(dir, None)
    }

    /// [`Store::open`], but a leftover generation file named `keep` stays (for
    /// [`Store::reopen`]; [`Store::remove_leftovers`] removes it when it is not used).
    pub fn open_keeping(dir: &Path, keep: Option<&str>) -> Result<Store, StoreError> {
        let io = |source| StoreError::Io {
            path: dir.to_owned(),
            source,
        };
        crate::fsutil::create_private_dir_all(dir).map_err(io)?;
        // One that existed before is narrowed too (it holds plaintext).
        set_mode(dir, 0o700).map_err(io)?;
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if is_generation_name(&name) && keep != Some(&*name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Store {
            dir: dir.to_owned(),
            current: RwLock::new(None),
        })
    }

    /// The generation served now, if any.
    pub fn current(&self) -> Option<Arc<Generation>> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Builds a generation from a ward record, off to the side. Not yet served: call
    /// [`Store::swap`]. On error nothing is left behind.
    pub fn build(
        &self,
        meta: GenerationMeta,
        ward: &WardRecord,
    ) -> Result<Arc<Generation>, StoreError> {
        let unique = format!(
            "gen-{}-{}-{}",
            meta.sequence,
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let tmp = self.dir.join(format!("{unique}.tmp"));
        let fin = self.dir.join(format!("{unique}.sqlite"));
        let result = write_generation(&tmp, &meta, ward).and_then(|digests| {
            let file = file_digest(&tmp)?;
            std::fs::rename(&tmp, &fin).map_err(|source| StoreError::Io {
                path: fin.clone(),
                source,
            })?;
            Ok((digests, file))
        });
        let (digests, file) = match result {
            Ok(d) => d,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        match Generation::open_checked(&fin, Some(digests), Some(file)) {
            Ok(g) => Ok(Arc::new(g)),
            Err(e) => {
                let _ = std::fs::remove_file(&fin);
                Err(e)
            }
        }
    }

    /// Serves the file named in `last` again, if it is still there and its whole content
    /// hashes to the digest recorded when it was built; then it is opened as at build time
    /// (schema, meta, patient count, every summary parsed, every record's digest taken from
    /// the file just proven unchanged) and must be the generation of `last`'s ward and
    /// sequence. Not yet served: call [`Store::swap`].
    pub fn reopen(&self, last: &LastServed) -> Result<Arc<Generation>, StoreError> {
        let path = self.dir.join(&last.file);
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.clone(),
            reason,
        };
        if !last.file.ends_with(".sqlite") || !is_generation_name(&last.file) {
            return Err(corrupt("not a generation file name".into()));
        }
        let digest = file_digest(&path)?;
        if last::hex(&digest) != last.file_sha256 {
            return Err(corrupt("the file changed since it was built".into()));
        }
        let g = Generation::open_checked(&path, None, Some(digest))?;
        let m = g.meta();
        if m.ward != last.ward || m.sequence != last.sequence {
            return Err(corrupt(format!(
                "holds ward {:?} sequence {}, recorded ward {:?} sequence {}",
                m.ward, m.sequence, last.ward, last.sequence
            )));
        }
        Ok(Arc::new(g))
    }

    /// Removes every generation file in the runtime directory except the one served (what
    /// [`Store::open_keeping`] kept and was not reused, a crash's temp files).
    pub fn remove_leftovers(&self) {
        let served = self.current().map(|g| g.path.clone());
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if is_generation_name(&entry.file_name().to_string_lossy())
                && served.as_ref() != Some(&path)
            {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Makes `generation` the one served. The previous one is dropped when its last reader
    /// finishes.
    pub fn swap(&self, generation: Arc<Generation>) {
        let mut cur = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *cur = Some(generation);
    }
}

/// A generation's file name (built, or being built).
fn is_generation_name(name: &str) -> bool {
    name.starts_with("gen-")
        && !name.contains('/')
        && (name.ends_with(".sqlite") || name.ends_with(".tmp"))
}

/// SHA-256 of a whole file.
fn file_digest(path: &Path) -> Result<Sha, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
    }
    Ok(h.finalize().into())
}

fn write_generation(
    path: &Path,
    meta: &GenerationMeta,
    ward: &WardRecord,
) -> Result<Digests, StoreError> {
    let mut digests = Digests {
        records: HashMap::with_capacity(ward.patients.len()),
        summaries: Vec::with_capacity(ward.patients.len()),
    };
    let sq = |source| StoreError::Sqlite {
        path: path.to_owned(),
        source,
    };
    // Created 0600 before SQLite opens it (SQLite would create it 0644).
    crate::fsutil::precreate_private_file(path).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut conn = Connection::open(path).map_err(sq)?;
    // A generation is a rebuildable cache on tmpfs: no journal, no fsync.
    conn.execute_batch(
        "PRAGMA journal_mode = OFF;
         PRAGMA synchronous = OFF;
         CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
         CREATE TABLE patient (
            ord INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            summary TEXT NOT NULL,
            record TEXT NOT NULL
         ) STRICT;",
    )
    .map_err(sq)?;
    let tx = conn.transaction().map_err(sq)?;
    {
        let mut ins = tx
            .prepare("INSERT INTO patient (ord, key, summary, record) VALUES (?1, ?2, ?3, ?4)")
            .map_err(sq)?;
        for (i, p) in ward.patients.iter().enumerate() {
            let summary = serde_json::to_string(&PatientSummary::from(p))?;
            let record = serde_json::to_string(p)?;
            digests.summaries.push(sha(summary.as_bytes()));
            if digests
                .records
                .insert(p.key.to_string(), sha(record.as_bytes()))
                .is_some()
            {
                // The UNIQUE constraint refuses it below too; say why here.
                return Err(StoreError::Corrupt {
                    path: path.to_owned(),
                    reason: "two patients with the same key".into(),
                });
            }
            ins.execute(params![i as i64, p.key.as_str(), summary, record])
                .map_err(sq)?;
        }
        let mut m = tx
            .prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")
            .map_err(sq)?;
        m.execute(params!["schema", SCHEMA_VERSION.to_string()])
            .map_err(sq)?;
        m.execute(params!["meta", serde_json::to_string(meta)?])
            .map_err(sq)?;
        m.execute(params!["patients", ward.patients.len().to_string()])
            .map_err(sq)?;
    }
    tx.commit().map_err(sq)?;
    conn.close().map_err(|(_, e)| sq(e))?;
    Ok(digests)
}

impl Generation {
    /// Opens a finished generation file read-only and checks it is complete. Its rows are
    /// trusted as found (the digests are taken from the file); [`Store::build`] instead
    /// checks them against what it wrote.
    pub fn open(path: &Path) -> Result<Generation, StoreError> {
        Self::open_checked(path, None, None)
    }

    fn open_checked(
        path: &Path,
        written: Option<Digests>,
        file: Option<Sha>,
    ) -> Result<Generation, StoreError> {
        let conn = open_ro(path)?;
        let sq = |source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let get = |k: &str| -> Result<Option<String>, StoreError> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
                .optional()
                .map_err(sq)
        };
        let schema = get("schema")?.ok_or_else(|| corrupt("no schema version".into()))?;
        if schema != SCHEMA_VERSION.to_string() {
            return Err(corrupt(format!(
                "schema version {schema}, expected {SCHEMA_VERSION}"
            )));
        }
        let meta: GenerationMeta =
            serde_json::from_str(&get("meta")?.ok_or_else(|| corrupt("no meta".into()))?)
                .map_err(|e| corrupt(format!("meta: {e}")))?;
        let expected: usize = get("patients")?
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| corrupt("no patient count".into()))?;
        let mut summaries = Vec::with_capacity(expected);
        let mut found: HashMap<String, Sha> = HashMap::with_capacity(expected);
        {
            let mut st = conn
                .prepare("SELECT key, summary, record FROM patient ORDER BY ord")
                .map_err(sq)?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(sq)?;
            for (i, row) in rows.enumerate() {
                let (key, summary, record) = row.map_err(sq)?;
                if let Some(d) = &written
                    && d.summaries.get(i) != Some(&sha(summary.as_bytes()))
                {
                    return Err(corrupt(format!("row {i} differs from what was written")));
                }
                let s: PatientSummary =
                    serde_json::from_str(&summary).map_err(|e| corrupt(format!("summary: {e}")))?;
                summaries.push(s);
                found.insert(key, sha(record.as_bytes()));
            }
        }
        let records = match written {
            Some(d) => {
                if d.records != found {
                    return Err(corrupt("records differ from what was written".into()));
                }
                d.records
            }
            None => found,
        };
        let file = match file {
            Some(f) => f,
            None => file_digest(path)?,
        };
        if summaries.len() != expected {
            return Err(corrupt(format!(
                "{} patients present, {expected} expected",
                summaries.len()
            )));
        }
        Ok(Generation {
            path: path.to_owned(),
            meta,
            summaries,
            pool: Mutex::new(vec![conn]),
            records,
            file,
            corrupt: AtomicBool::new(false),
            keep_file: AtomicBool::new(false),
            attached: OnceLock::new(),
        })
    }

    /// True once a read or [`Generation::verify_file`] found the file changed since it
    /// was built. Its pages are refused from then on; the daemon rebuilds it.
    pub(crate) fn is_corrupt(&self) -> bool {
        self.corrupt.load(Ordering::SeqCst)
    }

    /// Rehashes the whole file and compares it with the digest taken when it was built.
    pub fn verify_file(&self) -> Result<(), StoreError> {
        let now = file_digest(&self.path);
        match now {
            Ok(d) if d == self.file => Ok(()),
            Ok(_) => Err(self.corrupted("the file changed since it was built".into())),
            Err(e) => Err(self.corrupted(format!("cannot be read: {e}"))),
        }
    }

    /// Marks this generation corrupt and returns the error to report.
    fn corrupted(&self, reason: String) -> StoreError {
        if !self.corrupt.swap(true, Ordering::SeqCst) {
            log::error!(
                "served generation {} (sequence {}) is corrupt: {reason}",
                self.path.display(),
                self.meta.sequence
            );
        }
        StoreError::Corrupt {
            path: self.path.clone(),
            reason,
        }
    }

    /// Parses one record row after checking it against the digest written at build time.
    fn checked_record(&self, key: &str, json: &str) -> Result<PatientRecord, StoreError> {
        if self.records.get(key) != Some(&sha(json.as_bytes())) {
            return Err(self.corrupted(format!("record {key} differs from what was written")));
        }
        serde_json::from_str(json).map_err(|e| self.corrupted(format!("record {key}: {e}")))
    }

    /// The state of type `T` attached to this generation, made by `init` on first use; it
    /// lives exactly as long as the generation. One type per generation: `None` when a
    /// state of another type was attached first.
    pub fn attached<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Option<&T> {
        self.attached
            .get_or_init(|| Box::new(init()))
            .downcast_ref::<T>()
    }

    /// The file's name in the runtime directory.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// SHA-256 of the whole file as built (hex), what [`Store::reopen`] checks.
    pub fn file_sha256(&self) -> String {
        last::hex(&self.file)
    }

    /// Keeps the file when this generation is dropped (the daemon stops while serving
    /// it); a generation found corrupt is removed all the same.
    pub fn keep_file_on_drop(&self) {
        self.keep_file.store(true, Ordering::SeqCst);
    }

    /// The generation's metadata.
    pub fn meta(&self) -> &GenerationMeta {
        &self.meta
    }

    /// All patients in ward order (bed, then name), one line each.
    pub fn summaries(&self) -> &[PatientSummary] {
        &self.summaries
    }

    /// The full record of one patient by key, checked against what was written. A
    /// corrupt generation answers nothing but errors.
    pub(crate) fn patient(&self, key: &str) -> Result<Option<PatientRecord>, StoreError> {
        if self.is_corrupt() {
            return Err(self.corrupted("marked corrupt".into()));
        }
        self.with_conn(|conn| {
            let json: Option<String> = conn
                .prepare_cached("SELECT record FROM patient WHERE key = ?1")
                .and_then(|mut st| st.query_row([key], |r| r.get(0)).optional())
                .map_err(|source| self.corrupted(format!("reading record {key}: {source}")))?;
            match (json, self.records.contains_key(key)) {
                (Some(j), _) => self.checked_record(key, &j).map(Some),
                (None, false) => Ok(None),
                (None, true) => Err(self.corrupted(format!("record {key} is missing"))),
            }
        })
    }

    /// Every patient's full record in ward order (for the all-patients MAR), each checked
    /// against what was written.
    pub(crate) fn all_patients(&self) -> Result<Vec<PatientRecord>, StoreError> {
        if self.is_corrupt() {
            return Err(self.corrupted("marked corrupt".into()));
        }
        self.with_conn(|conn| {
            let sq = |source: rusqlite::Error| self.corrupted(format!("reading records: {source}"));
            let mut st = conn
                .prepare_cached("SELECT key, record FROM patient ORDER BY ord")
                .map_err(sq)?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(sq)?;
            let mut out = Vec::with_capacity(self.summaries.len());
            for row in rows {
                let (key, json) = row.map_err(sq)?;
                out.push(self.checked_record(&key, &json)?);
            }
            if out.len() != self.records.len() {
                return Err(self.corrupted(format!(
                    "{} records present, {} written",
                    out.len(),
                    self.records.len()
                )));
            }
            Ok(out)
        })
    }

    /// The patients matching a nurse's search (see [`PatientSummary::matches`]); an empty
    /// query finds nobody.
    pub(crate) fn search(&self, query: &str) -> Vec<&PatientSummary> {
        if query.trim().is_empty() {
            return Vec::new();
        }
        self.summaries.iter().filter(|s| s.matches(query)).collect()
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = match self.pool.lock() {
            Ok(mut p) => p.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        let conn = match taken {
            Some(c) => c,
            None => open_ro(&self.path)?,
        };
        let out = f(&conn);
        if let Ok(mut p) = self.pool.lock()
            && p.len() < POOL_MAX
        {
            p.push(conn);
        }
        out
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        // The last reader is gone: this generation's plaintext goes too, unless the daemon
        // stopped while serving it (a restart may serve it again; tmpfs on the box).
        if !self.keep_file.load(Ordering::SeqCst) || self.is_corrupt() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn open_ro(path: &Path) -> Result<Connection, StoreError> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Sqlite {
        path: path.to_owned(),
        source,
    })
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests;
