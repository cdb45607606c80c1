//! Tamper evidence: checks the whole hash chain of the audit log and its tail against the
//! head anchor (`audit.head`), and names the first broken entry.
//!
//! What is checked, in order, for every kept entry: ids contiguous from the first kept id
//! (a gap is a deletion), the stored event JSON parses as an [`Event`](super::Event) and its
//! `kind` column agrees, the hash recomputes (else the entry was edited, or moved when the
//! hash fits another position), and `prev_hash` equals the previous entry's hash (else an
//! entry was rewritten with a recomputed hash). The first kept entry links to the retention
//! checkpoint, which must in turn be named by the latest `RetentionExpiry` entry, or to
//! genesis. Finally the anchor: the entry it names must exist with the same hash (a missing
//! entry is truncation; a different hash is a replaced or rewritten file).
//!
//! Entries from the log's `keyed_from` id on are HMACs under the chain key: an entry
//! appended, rewritten or moved by someone without the key does not recompute, whatever
//! the anchor's lag. `keyed_from` itself must agree between the database and the anchor
//! (moving it would turn keyed entries into unkeyed ones, or the reverse).

use super::anchor::Anchor;
use super::chain::{Chain, GENESIS, Parts, db_keyed_from};
use super::entry::{ROW_COLUMNS, Row};
use super::error::AuditError;
use super::event::{EventKind, kind_str};
use super::key::AuditKey;
use super::log::AuditLog;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// What is wrong with the first broken entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// The entry's hash does not recompute from its content: it was edited.
    Edited,
    /// The stored event is not valid event JSON.
    BadJson {
        /// The parser's message.
        message: String,
    },
    /// The `kind` column does not match the stored event.
    KindMismatch {
        /// The kind the column holds.
        column: String,
    },
    /// Entries are missing between the previous kept entry and this one.
    Deleted {
        /// The first missing id.
        first_missing: i64,
        /// The last missing id.
        last_missing: i64,
    },
    /// The entry's content belongs at another position in the chain.
    Reordered {
        /// The id whose position its content hashes to.
        belongs_at: i64,
    },
    /// The entry is internally consistent but does not link to the previous one: one of the
    /// two was rewritten with a recomputed hash.
    BrokenLink {
        /// The id of the entry it should link to.
        previous: i64,
    },
    /// Entries at the end were deleted: the anchor names a later entry than the last kept.
    Truncated {
        /// The last id in the log.
        last_kept: i64,
        /// The id the anchor names.
        anchor_id: i64,
    },
    /// The entry the anchor names has a different hash: the file was replaced by another
    /// copy or the chain was rewritten.
    AnchorMismatch {
        /// The hash the anchor records.
        anchor_hash: String,
    },
    /// There is no anchor file although the log has entries.
    AnchorMissing,
    /// The anchor file is unreadable.
    AnchorMalformed {
        /// What is wrong with it.
        message: String,
    },
    /// The retention checkpoint is inconsistent with the chain.
    Checkpoint {
        /// What is inconsistent.
        message: String,
    },
    /// Where keying starts differs between the database and the anchor.
    Keying {
        /// What differs.
        message: String,
    },
    /// A row cannot be read at all (wrong column types: the table was rebuilt).
    Unreadable {
        /// SQLite's message.
        message: String,
    },
}

/// The first broken entry and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broken {
    /// The entry id where the chain first fails.
    pub id: i64,
    #[serde(flatten)]
    pub problem: Problem,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id;
        match &self.problem {
            Problem::Edited => write!(
                f,
                "entry {id}: edited (its hash does not match its content)"
            ),
            Problem::BadJson { message } => {
                write!(f, "entry {id}: stored event is not valid JSON ({message})")
            }
            Problem::KindMismatch { column } => write!(
                f,
                "entry {id}: edited (kind column {column:?} differs from the event)"
            ),
            Problem::Deleted {
                first_missing,
                last_missing,
            } => write!(
                f,
                "entry {id}: entries {first_missing}..={last_missing} before it were deleted (gap)"
            ),
            Problem::Reordered { belongs_at } => write!(
                f,
                "entry {id}: reordered (its content belongs at id {belongs_at})"
            ),
            Problem::BrokenLink { previous } => write!(
                f,
                "entry {id}: does not link to entry {previous} (one of them was rewritten with a recomputed hash)"
            ),
            Problem::Truncated {
                last_kept,
                anchor_id,
            } => write!(
                f,
                "entry {id}: truncated: the log ends at entry {last_kept} but the head anchor records entry {anchor_id} (entries {id}..={anchor_id} deleted)"
            ),
            Problem::AnchorMismatch { anchor_hash } => write!(
                f,
                "entry {id}: differs from the head anchor (anchor hash {anchor_hash}): the log was replaced by another copy or rewritten"
            ),
            Problem::AnchorMissing => write!(
                f,
                "entry {id}: the head anchor file is missing (deleted?), so truncation cannot be ruled out"
            ),
            Problem::AnchorMalformed { message } => write!(f, "entry {id}: {message}"),
            Problem::Checkpoint { message } => {
                write!(f, "entry {id}: retention checkpoint: {message}")
            }
            Problem::Keying { message } => write!(f, "entry {id}: chain key: {message}"),
            Problem::Unreadable { message } => {
                write!(f, "entry {id}: row cannot be read ({message})")
            }
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries checked (kept entries).
    pub entries: u64,
    /// The first kept id (None for an empty log).
    pub first_id: Option<i64>,
    /// The last kept entry's id and hash (the checkpoint or genesis when empty).
    pub head_id: i64,
    /// The last kept entry's hash (hex), the value to compare with a journald head line.
    pub head_hash: String,
    /// The retention checkpoint (last removed id and its hash), if entries were expired.
    pub checkpoint: Option<(i64, String)>,
    /// The anchor as read, if any.
    pub anchor_id: Option<i64>,
    /// The first entry chained with the key (None: an unkeyed log).
    pub keyed_from: Option<i64>,
    /// Notes that do not make the log invalid (e.g. the anchor one entry behind after a crash).
    pub notes: Vec<String>,
    /// The first broken entry; None when the log verifies.
    pub broken: Option<Broken>,
}

impl VerifyReport {
    /// True when the chain verifies.
    pub fn is_ok(&self) -> bool {
        self.broken.is_none()
    }
}

impl AuditLog {
    /// Verifies this log (see [`verify_file`]) with its own key.
    pub fn verify(&self) -> Result<VerifyReport, AuditError> {
        let path = self.path().to_owned();
        let key = self.chain.key.clone();
        self.with_conn(|c| verify_conn(c, &path, key.as_ref()))
    }
}

/// Opens the log file read-only (the daemon may be running) and verifies it with the anchor
/// beside it, without a key: an unkeyed log (or the unkeyed part of one) verifies; a keyed
/// log gives [`AuditError::KeyNeeded`].
pub fn verify_file(path: &Path) -> Result<VerifyReport, AuditError> {
    verify_file_with(path, None)
}

/// As [`verify_file`], with the chain key for keyed entries.
pub fn verify_file_with(path: &Path, key: Option<&AuditKey>) -> Result<VerifyReport, AuditError> {
    let sq = |source| AuditError::Sqlite {
        path: path.to_owned(),
        source,
    };
    if !path.is_file() {
        return Err(AuditError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no audit log here"),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sq)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sq)?;
    verify_conn(&conn, path, key)
}

fn verify_conn(
    conn: &Connection,
    path: &Path,
    key: Option<&AuditKey>,
) -> Result<VerifyReport, AuditError> {
    let sq = |source| AuditError::Sqlite {
        path: path.to_owned(),
        source,
    };
    // The anchor is read BEFORE the database: appends commit first and write the anchor
    // after, so the anchor read here never names an entry newer than what we then read.
    let anchor = Anchor::read(path)?;
    conn.execute_batch("BEGIN").map_err(sq)?;
    let result = verify_in_tx(conn, path, anchor, key);
    let _ = conn.execute_batch("COMMIT");
    result
}

fn verify_in_tx(
    conn: &Connection,
    path: &Path,
    anchor: Option<Result<Anchor, String>>,
    key: Option<&AuditKey>,
) -> Result<VerifyReport, AuditError> {
    let sq = |source| AuditError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let keyed_from = db_keyed_from(conn).map_err(sq)?;
    if let (Some(from), None) = (keyed_from, key) {
        return Err(AuditError::KeyNeeded {
            path: path.to_owned(),
            keyed_from: from,
        });
    }
    let chain = Chain {
        keyed_from,
        key: key.cloned(),
    };
    let checkpoint: Option<(i64, String)> = conn
        .query_row(
            "SELECT last_id, last_hash FROM checkpoint WHERE one = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sq)?;
    let (mut prev_id, mut prev_hash) = checkpoint.clone().unwrap_or((0, GENESIS.to_owned()));
    let mut report = VerifyReport {
        entries: 0,
        first_id: None,
        head_id: prev_id,
        head_hash: prev_hash.clone(),
        checkpoint: checkpoint.clone(),
        anchor_id: anchor.as_ref().and_then(|a| a.as_ref().ok()).map(|a| a.id),
        keyed_from,
        notes: Vec::new(),
        broken: None,
    };
    // Where keying starts is part of what the anchor vouches for: an anchor written by a
    // keyed writer names it, and the database must agree.
    if let Some(Ok(a)) = &anchor
        && a.keyed_from.is_some()
        && a.keyed_from != keyed_from
    {
        report.broken = Some(Broken {
            id: a.keyed_from.or(keyed_from).unwrap_or(1),
            problem: Problem::Keying {
                message: format!(
                    "the database says keyed from {}, the head anchor from {}: the log was \
                     rewritten without its key",
                    keyed_from.map_or("nowhere".into(), |k| format!("entry {k}")),
                    a.keyed_from
                        .map_or("nowhere".into(), |k| format!("entry {k}")),
                ),
            },
        });
        return Ok(report);
    }
    let anchor_id = report.anchor_id;
    let mut anchored_hash: Option<String> = None;
    let mut last_expiry_detail: Option<String> = None;

    let mut stmt = conn
        .prepare(&format!("SELECT {ROW_COLUMNS} FROM entry ORDER BY id"))
        .map_err(sq)?;
    let mut rows = stmt.query([]).map_err(sq)?;
    loop {
        let r = match rows.next() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => return Err(sq(e)),
        };
        let row = match Row::from_sql(r) {
            Ok(row) => row,
            Err(e) => {
                let id: i64 = r.get(0).unwrap_or(prev_id.saturating_add(1));
                report.broken = Some(Broken {
                    id,
                    problem: Problem::Unreadable {
                        message: e.to_string(),
                    },
                });
                return Ok(report);
            }
        };
        let id = row.id;
        if report.first_id.is_none() {
            report.first_id = Some(id);
        }
        let broken = |problem| Some(Broken { id, problem });
        let expected = prev_id.saturating_add(1);
        if id != expected {
            report.broken = broken(Problem::Deleted {
                first_missing: expected,
                last_missing: id.saturating_sub(1),
            });
            return Ok(report);
        }
        let parsed = match row.clone().into_entry() {
            Ok(e) => e,
            Err(message) => {
                report.broken = broken(Problem::BadJson { message });
                return Ok(report);
            }
        };
        if row.kind != kind_str(parsed.event.kind) {
            report.broken = broken(Problem::KindMismatch {
                column: row.kind.chars().take(40).collect(),
            });
            return Ok(report);
        }
        let recomputed = chain.hash(path, &Parts::of_row(&row, id))?;
        if recomputed != row.hash {
            report.broken = broken(classify_bad_hash(conn, &row, &chain, path).map_err(sq)?);
            return Ok(report);
        }
        if row.prev_hash != prev_hash {
            report.broken = if id == report.first_id.unwrap_or(id) && checkpoint.is_some() {
                broken(Problem::Checkpoint {
                    message: "the first kept entry does not link to the checkpoint".into(),
                })
            } else if id == 1 {
                broken(Problem::Edited)
            } else {
                broken(Problem::BrokenLink { previous: prev_id })
            };
            return Ok(report);
        }
        if parsed.event.kind == EventKind::RetentionExpiry {
            last_expiry_detail = Some(parsed.event.detail);
        }
        if Some(id) == anchor_id {
            anchored_hash = Some(row.hash.clone());
        }
        report.entries += 1;
        prev_id = id;
        prev_hash = row.hash;
    }
    drop(rows);
    report.head_id = prev_id;
    report.head_hash = prev_hash.clone();
    let after_head = prev_id.saturating_add(1);

    if let Some((cp_id, cp_hash)) = &checkpoint {
        let named = format!("checkpoint id={cp_id} hash={cp_hash}");
        let ok = last_expiry_detail
            .as_deref()
            .is_some_and(|d| d.ends_with(&named));
        if !ok {
            report.broken = Some(Broken {
                id: report.first_id.unwrap_or(after_head),
                problem: Problem::Checkpoint {
                    message: format!(
                        "the latest retention-expiry entry does not record {named}: entries before {} were deleted outside retention",
                        cp_id.saturating_add(1)
                    ),
                },
            });
            return Ok(report);
        }
    }

    match anchor {
        None if report.entries == 0 && checkpoint.is_none() => {
            report.notes.push("empty log without anchor".into());
        }
        None => {
            report.broken = Some(Broken {
                id: prev_id,
                problem: Problem::AnchorMissing,
            });
        }
        Some(Err(message)) => {
            report.broken = Some(Broken {
                id: prev_id,
                problem: Problem::AnchorMalformed { message },
            });
        }
        Some(Ok(a)) => {
            if a.id > prev_id {
                report.broken = Some(Broken {
                    id: after_head,
                    problem: Problem::Truncated {
                        last_kept: prev_id,
                        anchor_id: a.id,
                    },
                });
            } else {
                let at_anchor = if a.id == prev_id {
                    Some(prev_hash.clone())
                } else if a.id == 0 {
                    Some(GENESIS.to_owned())
                } else if checkpoint.as_ref().is_some_and(|(c, _)| a.id == *c) {
                    checkpoint.as_ref().map(|(_, h)| h.clone())
                } else {
                    anchored_hash
                };
                match at_anchor {
                    Some(h) if h == a.hash => {
                        let lag = prev_id - a.id;
                        if lag > 0 {
                            report.notes.push(format!(
                                "the head anchor is {lag} entr{} behind the log (an append was interrupted after its commit, or its anchor write failed)",
                                if lag == 1 { "y" } else { "ies" }
                            ));
                        }
                    }
                    _ => {
                        report.broken = Some(Broken {
                            id: a.id,
                            problem: Problem::AnchorMismatch {
                                anchor_hash: a.hash,
                            },
                        });
                    }
                }
            }
        }
    }
    Ok(report)
}

/// Most ids tried when looking for where a moved entry belongs.
const MAX_REORDER_SCAN: i64 = 5_000_000;

/// Tells an edited entry from one moved to another position (swapped rows): a moved entry's
/// hash recomputes under some other id (tried first where its `prev_hash` points, then over
/// the whole id range; only on this failure path).
fn classify_bad_hash(
    conn: &Connection,
    row: &Row,
    chain: &Chain,
    path: &Path,
) -> rusqlite::Result<Problem> {
    let fits = |id: i64| {
        id != row.id
            && chain
                .hash(path, &Parts::of_row(row, id))
                .is_ok_and(|h| h == row.hash)
    };
    let p: Option<i64> = conn
        .query_row(
            "SELECT id FROM entry WHERE hash = ?1 LIMIT 1",
            params![row.prev_hash],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(belongs_at) = p.and_then(|p| p.checked_add(1))
        && fits(belongs_at)
    {
        return Ok(Problem::Reordered { belongs_at });
    }
    let (lo, hi): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT min(id), max(id) FROM entry", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    if let (Some(lo), Some(hi)) = (lo, hi) {
        let lo = lo.max(1);
        let hi = hi.min(lo.saturating_add(MAX_REORDER_SCAN));
        if let Some(belongs_at) = (lo..=hi).find(|&id| fits(id)) {
            return Ok(Problem::Reordered { belongs_at });
        }
    }
    Ok(Problem::Edited)
}
