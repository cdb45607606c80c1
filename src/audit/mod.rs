//! The NEN 7513 access log: who saw which patient's data, what they did, when, from where,
//! under which mode. Append-only, hash-chained, durable before the page it accounts for is
//! sent. See docs/AUDIT.md.
//!
//! Storage is an SQLite database in the state directory (WAL, `synchronous = FULL`: a
//! successful [`AuditLog::append`] has been fsynced). Each entry stores the previous entry's
//! hash and a hash over that and its own content (the event as its stored JSON text), so
//! editing, deleting or reordering entries breaks the chain. From the log's `keyed_from`
//! entry on that hash is an HMAC-SHA256 under the chain key ([`key::AuditKey`], its own
//! file), so whoever can write the database but not read the key cannot append, rewrite or
//! hide a deletion; older entries (logs made before keying) keep their plain SHA-256 and
//! stay verifiable. After every append the head (id, hash, keyed_from) is written
//! atomically to `audit.head`, so deleting the last entries is detected too;
//! [`AuditLog::log_head`] copies the head to the operator journal. Appends from several
//! processes (daemon, CLI export) are serialised by a lock on `audit.lock`.
//!
//! Sub-modules: [`key`] (the chain key file), [`verify`] (check the chain, name the first
//! broken entry), [`export`] (JSON lines, CSV, FHIR AuditEvent), [`retention`] (expiry
//! with checkpoint), [`drill`] (drill reports).
//!
//! Invariant: if `append` fails (disk full, read-only disk), the caller must not show the
//! patient data it was about to show — fail closed.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// File name of the log inside the state directory.
pub(crate) const LOG_FILE: &str = "audit.sqlite";

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    /// SQLite failed on the log file (open, write, fsync or read).
    Sqlite {
        /// The log file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    #[error("audit log {path}: {source}")]
    /// A file operation on the log or its key failed.
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    #[error("audit entry cannot be encoded: {0}")]
    /// An event could not be serialised to JSON.
    Encode(#[from] serde_json::Error),
    #[error("audit log is full (entry id space exhausted)")]
    /// The entry id space is exhausted: nothing more can be appended.
    Full,
    #[error("audit log {path}: {message}")]
    /// The file is not an audit log this build reads (schema, version or content); the message
    /// says what.
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    #[error("no drill found in the audit log{}", .0.map(|id| format!(" with id {id}")).unwrap_or_default())]
    /// The drill asked for (by id, or any) is not in the log.
    NoDrill(Option<i64>),
    #[error(
        "audit log {path} is keyed (HMAC chain from entry {keyed_from} on) and its key is \
         needed to check or extend it: give the key file (keys.audit_key; by default \
         audit.key beside the log) — if it is lost, keep this log as evidence and move it \
         aside to start a new one"
    )]
    /// The log is keyed (an HMAC chain from entry `keyed_from` on) and no key was given.
    KeyNeeded {
        /// The log file.
        path: PathBuf,
        /// The first entry chained with the key.
        keyed_from: i64,
    },
}

/// What happened (NEN 7513 event types as this appliance knows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A page with one patient's data was shown.
    PatientView,
    /// The ward overview (all patients' banners) was shown.
    WardView,
    /// A search (query and number of hits in the detail).
    Search,
    /// A print view (which patients in the detail / patient field).
    Print,
    /// A successful login (user, role, address).
    Login,
    /// A failed login (the user id as typed, the address).
    LoginFailed,
    /// A user or address was locked out after repeated failed logins.
    Lockout,
    /// A user logged out.
    Logout,
    /// A session ended by idle timeout.
    SessionExpired,
    /// A session ended by the system (its user left the roster or changed role, its guest
    /// code was revoked, its drill gave way to a real emergency); the reason in the detail.
    SessionEnded,
    /// The mode changed (standby, emergency, drill); who and why in the entry.
    ModeSwitch,
    /// A coordinator issued a guest code (stored as `event_code_issued`, the name existing
    /// logs carry).
    #[serde(rename = "event_code_issued")]
    GuestCodeIssued,
    /// A guest code was withdrawn (by a coordinator, or because its issuer lost the
    /// coordinator role or its drill ended).
    GuestCodeRevoked,
    /// A coordinator lifted a login lockout (user or address in the detail).
    LockoutLifted,
    /// A snapshot was verified, mapped and is now served (sequence and file in the detail).
    SnapshotAccepted,
    /// A snapshot was refused and quarantined (the reason in the detail).
    SnapshotRejected,
    /// The oldest refused files were deleted from the quarantine to keep it within its
    /// cap (counts and bytes in the detail).
    QuarantinePruned,
    /// A new staff roster took effect.
    RosterUpdated,
    /// The log itself was exported.
    AuditExport,
    /// Entries past retention were removed (the count and range in the detail).
    RetentionExpiry,
    /// A drill report was produced.
    DrillReport,
    /// The daemon started or stopped.
    Daemon,
}

/// The action, per FHIR AuditEvent.action: C(reate) R(ead) U(pdate) D(elete) E(xecute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Create.
    C,
    /// Read (every view and print of patient data).
    R,
    /// Update.
    U,
    /// Delete.
    D,
    /// Execute (logins, mode switches, ingest).
    E,
}

/// The outcome, per FHIR AuditEvent.outcome codes (0 success, 4 minor failure, 8 serious).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It succeeded (FHIR code 0).
    Success,
    /// It failed in a minor way, e.g. a wrong login code (FHIR code 4).
    MinorFailure,
    /// It failed seriously, e.g. a snapshot refused (FHIR code 8).
    SeriousFailure,
}

/// A person acting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// The user id from the roster (for a guest, the guest code's id).
    pub id: String,
    /// The user's name as the roster gives it.
    pub name: String,
    /// The role the user acted in, by its roster name (nurse, physician, coordinator, it).
    pub role: String,
}

/// The patient concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientRef {
    /// The patient key in the served data.
    pub key: String,
    /// The hospital's patient number, as the served data gives it.
    pub patient_number: Option<String>,
    /// The BSN, as the served data gives it (the law requires it in the log).
    pub bsn: Option<String>,
}

/// Where the access came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPoint {
    /// Client IP address (or "local" for the console / control socket).
    pub address: String,
    /// Workstation name when known (e.g. a kiosk id or a reverse-DNS-free label).
    pub workstation: Option<String>,
}

/// What a caller records. Appliance id, ward id, time and chain are filled in by the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// Create, read, update, delete or execute.
    pub action: Action,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// The person acting (None for the system itself, e.g. ingest).
    pub user: Option<UserRef>,
    /// The responsible person when someone acts on another's behalf (a guest-code user's
    /// issuing coordinator).
    pub responsible: Option<UserRef>,
    /// Patients concerned (one for a patient page, several for a ward MAR print).
    pub patients: Vec<PatientRef>,
    /// Object detail: page, print, query and hit count, snapshot file and reason ...
    pub detail: String,
    /// Where the access came from (address, workstation), when over the network.
    pub access_point: Option<AccessPoint>,
    /// The mode at the time ("standby", "emergency", "drill").
    pub mode: String,
}

impl Event {
    /// An event with no person, no patient and no access point yet: the system's own (the
    /// daemon, ingest, retention, exports). `mode` is the mode at the time ("standby", ...).
    /// Add who, from where and about whom with [`Event::by`], [`Event::from`] and
    /// [`Event::concerning`]; every event is built this way, so a new field has one place
    /// to get its default.
    pub fn new(
        kind: EventKind,
        action: Action,
        outcome: Outcome,
        mode: &str,
        detail: String,
    ) -> Event {
        Event {
            kind,
            action,
            outcome,
            user: None,
            responsible: None,
            patients: Vec::new(),
            detail,
            access_point: None,
            mode: mode.to_owned(),
        }
    }

    /// The person acting, and the one responsible when they act on another's behalf.
    pub(crate) fn by(mut self, user: Option<UserRef>, responsible: Option<UserRef>) -> Event {
        self.user = user;
        self.responsible = responsible;
        self
    }

    /// Where the access came from.
    pub(crate) fn from(mut self, access_point: AccessPoint) -> Event {
        self.access_point = Some(access_point);
        self
    }

    /// The patients concerned.
    pub(crate) fn concerning(mut self, patients: Vec<PatientRef>) -> Event {
        self.patients = patients;
        self
    }
}

impl AccessPoint {
    /// The box's own console (the control socket, `noodepd mode`).
    pub(crate) fn console() -> AccessPoint {
        AccessPoint {
            address: "local".into(),
            workstation: Some("console".into()),
        }
    }
}

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

/// A stored entry: the event plus what the log adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The entry's number in the log, increasing with every append; covered by the chain.
    pub id: i64,
    /// UTC, RFC 3339 with microseconds.
    pub time: String,
    /// The appliance id the entry is stamped with.
    pub appliance: String,
    /// The ward id the entry is stamped with.
    pub ward: String,
    #[serde(flatten)]
    /// What the caller recorded.
    pub event: Event,
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 over prev_hash and this entry's canonical content.
    pub hash: String,
}

/// The canonical content hashed for an entry: everything but the hash itself. The event is
/// hashed as the exact JSON text stored, so any byte edit of the stored event is detected and
/// adding a `#[serde(default)]` field to [`Event`] later does not invalidate old entries.
#[derive(Serialize)]
struct Canonical<'a> {
    id: i64,
    time: &'a str,
    appliance: &'a str,
    ward: &'a str,
    event: &'a str,
    prev_hash: &'a str,
}

/// Computes an unkeyed (v2, plain SHA-256) entry's hash from its stored columns (the event
/// as its stored JSON text).
pub fn entry_hash_raw(
    id: i64,
    time: &str,
    appliance: &str,
    ward: &str,
    event_json: &str,
    prev_hash: &str,
) -> Result<String, AuditError> {
    entry_hash_with(None, id, time, appliance, ward, event_json, prev_hash)
}

/// An entry's hash: HMAC-SHA256 under `key` over `"noodepd-audit-v3\0"` and the
/// canonical content for a keyed entry; SHA-256 over `"noodepd-audit-v2\0"` and the same
/// content without a key.
pub(crate) fn entry_hash_with(
    key: Option<&AuditKey>,
    id: i64,
    time: &str,
    appliance: &str,
    ward: &str,
    event_json: &str,
    prev_hash: &str,
) -> Result<String, AuditError> {
    let canon = serde_json::to_vec(&Canonical {
        id,
        time,
        appliance,
        ward,
        event: event_json,
        prev_hash,
    })?;
    Ok(match key {
        Some(k) => hex(&k.mac(&[b"noodepd-audit-v3\0", &canon])),
        None => {
            let mut h = Sha256::new();
            h.update(b"noodepd-audit-v2\0");
            h.update(&canon);
            hex(&h.finalize())
        }
    })
}

/// How a log's entries are hashed: plain up to `keyed_from` (exclusive), keyed from there.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chain {
    /// The first keyed entry's id (None: an unkeyed log).
    pub keyed_from: Option<i64>,
    pub key: Option<AuditKey>,
}

/// An entry's hashed content, as stored.
pub(crate) struct Parts<'a> {
    pub id: i64,
    pub time: &'a str,
    pub appliance: &'a str,
    pub ward: &'a str,
    /// The event as its stored JSON text.
    pub event: &'a str,
    pub prev_hash: &'a str,
}

impl<'a> Parts<'a> {
    /// The parts of a stored row, as if it stood at `id`.
    pub(crate) fn of_row(row: &'a Row, id: i64) -> Parts<'a> {
        Parts {
            id,
            time: &row.time,
            appliance: &row.appliance,
            ward: &row.ward,
            event: &row.event,
            prev_hash: &row.prev_hash,
        }
    }
}

impl Chain {
    /// The hash of an entry at its place in this chain.
    pub(crate) fn hash(&self, path: &Path, p: &Parts<'_>) -> Result<String, AuditError> {
        let id = p.id;
        let key = match self.keyed_from {
            Some(from) if id >= from => {
                Some(self.key.as_ref().ok_or_else(|| AuditError::KeyNeeded {
                    path: path.to_owned(),
                    keyed_from: from,
                })?)
            }
            _ => None,
        };
        entry_hash_with(key, id, p.time, p.appliance, p.ward, p.event, p.prev_hash)
    }
}

/// The `keyed_from` recorded in the database (None for an unkeyed log, or one made before
/// keying existed, without the `chain` table).
pub(crate) fn db_keyed_from(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let exists: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'chain'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    conn.query_row("SELECT keyed_from FROM chain WHERE one = 1", [], |r| {
        r.get(0)
    })
    .optional()
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The genesis "previous hash".
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// File name of the chain-head anchor inside the state directory.
pub(crate) const HEAD_FILE: &str = "audit.head";
/// File name of the lock file that serialises appends across processes (daemon and CLI).
pub(crate) const LOCK_FILE: &str = "audit.lock";

/// Longest event JSON text accepted when reading entries back (a stored entry is hostile
/// input to `verify` and `export`).
pub(crate) const MAX_EVENT_JSON: usize = 256 * 1024;

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

/// The chain head as written to [`HEAD_FILE`] after every append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub id: i64,
    pub hash: String,
    /// The log's first keyed entry (version 2 of the file; None in version 1).
    pub keyed_from: Option<i64>,
}

impl Anchor {
    fn encode(&self) -> String {
        match self.keyed_from {
            None => format!(
                "noodepd-audit-head v1\nid={}\nhash={}\n",
                self.id, self.hash
            ),
            Some(k) => format!(
                "noodepd-audit-head v2\nid={}\nhash={}\nkeyed_from={k}\n",
                self.id, self.hash
            ),
        }
    }

    /// Parses the anchor file's text strictly (version 1 or 2).
    pub(crate) fn parse(text: &str) -> Option<Anchor> {
        let mut lines = text.lines();
        let v2 = match lines.next()? {
            "noodepd-audit-head v1" => false,
            "noodepd-audit-head v2" => true,
            _ => return None,
        };
        let id: i64 = lines.next()?.strip_prefix("id=")?.parse().ok()?;
        let hash = lines.next()?.strip_prefix("hash=")?;
        let keyed_from = if v2 {
            let k: i64 = lines.next()?.strip_prefix("keyed_from=")?.parse().ok()?;
            (k >= 1).then_some(k)?;
            Some(k)
        } else {
            None
        };
        if lines.next().is_some() || id < 0 || !is_hex64(hash) {
            return None;
        }
        Some(Anchor {
            id,
            hash: hash.to_owned(),
            keyed_from,
        })
    }

    /// Reads the anchor beside a log file (`Ok(None)` when there is none).
    pub(crate) fn read(log_path: &Path) -> Result<Option<Result<Anchor, String>>, AuditError> {
        let path = anchor_path(log_path);
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() > 4096 => Ok(Some(Err("anchor file too large".into()))),
            Ok(bytes) => Ok(Some(
                std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(Anchor::parse)
                    .ok_or_else(|| format!("anchor file {} is malformed", path.display())),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(AuditError::Io { path, source }),
        }
    }
}

/// True for 64 lower-case hex digits.
pub(crate) fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The anchor file beside a log file.
pub(crate) fn anchor_path(log_path: &Path) -> PathBuf {
    log_path.with_file_name(HEAD_FILE)
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
    chain: Chain,
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

/// The `kind` column value of an event kind (its serde name).
pub fn kind_str(kind: EventKind) -> &'static str {
    match kind {
        EventKind::PatientView => "patient_view",
        EventKind::WardView => "ward_view",
        EventKind::Search => "search",
        EventKind::Print => "print",
        EventKind::Login => "login",
        EventKind::LoginFailed => "login_failed",
        EventKind::Lockout => "lockout",
        EventKind::Logout => "logout",
        EventKind::SessionExpired => "session_expired",
        EventKind::SessionEnded => "session_ended",
        EventKind::ModeSwitch => "mode_switch",
        EventKind::GuestCodeIssued => "event_code_issued",
        EventKind::GuestCodeRevoked => "guest_code_revoked",
        EventKind::LockoutLifted => "lockout_lifted",
        EventKind::SnapshotAccepted => "snapshot_accepted",
        EventKind::SnapshotRejected => "snapshot_rejected",
        EventKind::QuarantinePruned => "quarantine_pruned",
        EventKind::RosterUpdated => "roster_updated",
        EventKind::AuditExport => "audit_export",
        EventKind::RetentionExpiry => "retention_expiry",
        EventKind::DrillReport => "drill_report",
        EventKind::Daemon => "daemon",
    }
}

/// One stored row as read back, before any checking.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: i64,
    pub time: String,
    pub appliance: String,
    pub ward: String,
    pub kind: String,
    pub event: String,
    pub prev_hash: String,
    pub hash: String,
}

pub(crate) const ROW_COLUMNS: &str = "id, time, appliance, ward, kind, event, prev_hash, hash";

impl Row {
    pub(crate) fn from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            id: r.get(0)?,
            time: r.get(1)?,
            appliance: r.get(2)?,
            ward: r.get(3)?,
            kind: r.get(4)?,
            event: r.get(5)?,
            prev_hash: r.get(6)?,
            hash: r.get(7)?,
        })
    }

    /// Parses the stored event strictly into an [`Entry`].
    pub(crate) fn into_entry(self) -> Result<Entry, String> {
        if self.event.len() > MAX_EVENT_JSON {
            return Err(format!("event JSON longer than {MAX_EVENT_JSON} bytes"));
        }
        let event: Event = serde_json::from_str(&self.event).map_err(|e| e.to_string())?;
        Ok(Entry {
            id: self.id,
            time: self.time,
            appliance: self.appliance,
            ward: self.ward,
            event,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

pub mod drill;
pub(crate) mod export;
pub(crate) mod key;
pub(crate) mod retention;
pub(crate) mod verify;

pub use export::{ExportFilter, ExportFormat};
pub use key::AuditKey;
pub use retention::Expired;
pub use verify::{Problem, VerifyReport, verify_file, verify_file_with};

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

    #[test]
    fn anchor_text_parses_strictly() {
        let a = Anchor {
            id: 7,
            hash: "ab".repeat(32),
            keyed_from: None,
        };
        assert_eq!(Anchor::parse(&a.encode()), Some(a));
        let b = Anchor {
            id: 7,
            hash: "ab".repeat(32),
            keyed_from: Some(3),
        };
        assert!(b.encode().starts_with("noodepd-audit-head v2\n"));
        assert_eq!(Anchor::parse(&b.encode()), Some(b));
        assert!(
            Anchor::parse(&format!(
                "noodepd-audit-head v2\nid=7\nhash={}\nkeyed_from=0\n",
                "ab".repeat(32)
            ))
            .is_none()
        );
        assert!(Anchor::parse("noodepd-audit-head v1\nid=7\nhash=xyz\n").is_none());
        assert!(Anchor::parse("noodepd-audit-head v1\nid=-1\nhash=\n").is_none());
    }
}
