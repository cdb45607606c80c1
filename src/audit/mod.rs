//! The NEN 7513 access log: who saw which patient's data, what they did, when, from where,
//! under which mode. Append-only, hash-chained, durable before the page it accounts for is
//! sent.
//!
//! Storage is an SQLite database in the state directory (WAL, `synchronous = FULL`: a
//! successful [`AuditLog::append`] has been fsynced). Each entry stores the SHA-256 of the
//! previous entry's hash and its own canonical content, so editing, deleting or reordering
//! entries breaks the chain.
//!
//! Invariant: if `append` fails (disk full, read-only disk), the caller must not show the
//! patient data it was about to show — fail closed.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File name of the log inside the state directory.
pub const LOG_FILE: &str = "audit.sqlite";

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit entry cannot be encoded: {0}")]
    Encode(#[from] serde_json::Error),
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
    Login,
    LoginFailed,
    Lockout,
    Logout,
    /// A session ended by idle timeout.
    SessionExpired,
    ModeSwitch,
    EventCodeIssued,
    SnapshotAccepted,
    SnapshotRejected,
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
    C,
    R,
    U,
    D,
    E,
}

/// The outcome, per FHIR AuditEvent.outcome codes (0 success, 4 minor failure, 8 serious).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    MinorFailure,
    SeriousFailure,
}

/// A person acting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub id: String,
    pub name: String,
    pub role: String,
}

/// The patient concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientRef {
    /// The patient key in the served data.
    pub key: String,
    pub patient_number: Option<String>,
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
    pub kind: EventKind,
    pub action: Action,
    pub outcome: Outcome,
    /// The person acting (None for the system itself, e.g. ingest).
    pub user: Option<UserRef>,
    /// The responsible person when someone acts on another's behalf (an event-code user's
    /// issuing coordinator).
    pub responsible: Option<UserRef>,
    /// Patients concerned (one for a patient page, several for a ward MAR print).
    pub patients: Vec<PatientRef>,
    /// Object detail: page, print, query and hit count, snapshot file and reason ...
    pub detail: String,
    pub access_point: Option<AccessPoint>,
    /// The mode at the time ("standby", "emergency", "drill").
    pub mode: String,
}

/// A stored entry: the event plus what the log adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: i64,
    /// UTC, RFC 3339 with microseconds.
    pub time: String,
    pub appliance: String,
    pub ward: String,
    #[serde(flatten)]
    pub event: Event,
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 over prev_hash and this entry's canonical content.
    pub hash: String,
}

/// The canonical content hashed for an entry: everything but the hash itself.
#[derive(Serialize)]
struct Canonical<'a> {
    id: i64,
    time: &'a str,
    appliance: &'a str,
    ward: &'a str,
    event: &'a Event,
    prev_hash: &'a str,
}

/// Computes an entry's hash from its parts.
pub fn entry_hash(
    id: i64,
    time: &str,
    appliance: &str,
    ward: &str,
    event: &Event,
    prev_hash: &str,
) -> Result<String, AuditError> {
    let canon = serde_json::to_vec(&Canonical {
        id,
        time,
        appliance,
        ward,
        event,
        prev_hash,
    })?;
    let mut h = Sha256::new();
    h.update(b"noodepd-audit-v1\0");
    h.update(&canon);
    Ok(hex(&h.finalize()))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The genesis "previous hash".
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

struct Inner {
    conn: Connection,
    last_id: i64,
    last_hash: String,
}

/// The open log.
pub struct AuditLog {
    path: PathBuf,
    appliance: String,
    ward: String,
    inner: Mutex<Inner>,
}

impl AuditLog {
    /// Opens (or creates) the log at `state_dir/audit.sqlite`.
    pub fn open(state_dir: &Path, appliance: &str, ward: &str) -> Result<AuditLog, AuditError> {
        let path = state_dir.join(LOG_FILE);
        let sq = |source| AuditError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(sq)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| AuditError::Io {
                    path: path.clone(),
                    source,
                },
            )?;
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS entry (
                id INTEGER PRIMARY KEY,
                time TEXT NOT NULL,
                appliance TEXT NOT NULL,
                ward TEXT NOT NULL,
                kind TEXT NOT NULL,
                event TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL
             ) STRICT;",
        )
        .map_err(sq)?;
        let last: Option<(i64, String)> = conn
            .query_row(
                "SELECT id, hash FROM entry ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sq)?;
        let (last_id, last_hash) = last.unwrap_or((0, GENESIS.to_owned()));
        Ok(AuditLog {
            path,
            appliance: appliance.to_owned(),
            ward: ward.to_owned(),
            inner: Mutex::new(Inner {
                conn,
                last_id,
                last_hash,
            }),
        })
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event; when this returns Ok the entry is durable (fsynced).
    pub fn append(&self, event: Event) -> Result<Entry, AuditError> {
        self.append_at(event, Utc::now())
    }

    /// Appends with an explicit time (tests, replays of the clock).
    pub fn append_at(&self, event: Event, now: DateTime<Utc>) -> Result<Entry, AuditError> {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let id = inner.last_id + 1;
        let time = now.to_rfc3339_opts(SecondsFormat::Micros, true);
        let prev_hash = inner.last_hash.clone();
        let hash = entry_hash(id, &time, &self.appliance, &self.ward, &event, &prev_hash)?;
        let event_json = serde_json::to_string(&event)?;
        let kind = serde_json::to_value(event.kind)?
            .as_str()
            .unwrap_or_default()
            .to_owned();
        inner
            .conn
            .execute(
                "INSERT INTO entry (id, time, appliance, ward, kind, event, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id,
                    time,
                    self.appliance,
                    self.ward,
                    kind,
                    event_json,
                    prev_hash,
                    hash
                ],
            )
            .map_err(|source| AuditError::Sqlite {
                path: self.path.clone(),
                source,
            })?;
        inner.last_id = id;
        inner.last_hash = hash.clone();
        Ok(Entry {
            id,
            time,
            appliance: self.appliance.clone(),
            ward: self.ward.clone(),
            event,
            prev_hash,
            hash,
        })
    }

    /// The chain head: the last entry's id and hash.
    pub fn head(&self) -> (i64, String) {
        match self.inner.lock() {
            Ok(g) => (g.last_id, g.last_hash.clone()),
            Err(p) => {
                let g = p.into_inner();
                (g.last_id, g.last_hash.clone())
            }
        }
    }
}
