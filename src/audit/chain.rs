//! The hash chain: how one entry's hash is computed (plain SHA-256 before the log's
//! `keyed_from` entry, HMAC-SHA256 under the chain key from there on), and where the chain
//! starts (genesis, the recorded `keyed_from`).

use super::entry::Row;
use super::error::AuditError;
use super::hex::hex;
use super::key::AuditKey;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The canonical content hashed for an entry: everything but the hash itself. The event is
/// hashed as the exact JSON text stored, so any byte edit of the stored event is detected and
/// adding a `#[serde(default)]` field to [`Event`](super::event::Event) later does not
/// invalidate old entries.
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

/// The genesis "previous hash".
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
