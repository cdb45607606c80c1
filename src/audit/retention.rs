//! Retention: removes entries older than the configured retention in one transaction,
//! records a checkpoint (the last removed entry's id and hash) so the kept chain still
//! verifies, and appends a `RetentionExpiry` entry naming the count, the range and the
//! checkpoint. Nothing is deleted silently: the expiry entry is part of the chain and
//! `verify` refuses a checkpoint that the latest expiry entry does not name.
//!
//! Only a prefix is removed: up to (not including) the first entry whose time is within
//! retention, so a clock that once went backwards never removes a newer entry.

use super::entry::Entry;
use super::error::AuditError;
use super::event::{Action, Event, EventKind, Outcome, kind_str};
use super::log::{AuditLog, HasEntry};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// What an expiry removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expired {
    /// Entries removed.
    pub removed: u64,
    /// The first id removed.
    pub first_id: i64,
    /// The last id removed.
    pub last_id: i64,
    /// The last removed entry's hash (the new checkpoint).
    pub checkpoint_hash: String,
    /// The `RetentionExpiry` entry recording this.
    pub entry: Entry,
}

impl HasEntry for Expired {
    fn entry(&self) -> &Entry {
        &self.entry
    }
}

impl AuditLog {
    /// Removes entries older than `now - retention` (none when nothing is that old).
    pub fn expire(
        &self,
        now: DateTime<Utc>,
        retention: std::time::Duration,
    ) -> Result<Option<Expired>, AuditError> {
        let retention = chrono::Duration::from_std(retention).map_err(|_| AuditError::Invalid {
            path: self.path().to_owned(),
            message: "retention out of range".into(),
        })?;
        let cutoff = now
            .checked_sub_signed(retention)
            .ok_or_else(|| AuditError::Invalid {
                path: self.path().to_owned(),
                message: "retention reaches before the start of time".into(),
            })?;
        let cutoff_s = cutoff.to_rfc3339_opts(SecondsFormat::Micros, true);
        // Cheap check outside the write lock: is the oldest entry that old at all?
        let oldest: Option<String> = self.with_conn(|c| {
            c.query_row("SELECT time FROM entry ORDER BY id LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.sq())
        })?;
        if oldest.is_none_or(|t| t >= cutoff_s) {
            return Ok(None);
        }
        let result = self.with_write(|tx, log| {
            let sq = log.sq();
            let first: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, time FROM entry ORDER BY id LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(&sq)?;
            let Some((first_id, first_time)) = first else {
                return Err(AuditError::Invalid {
                    path: log.path().to_owned(),
                    message: "nothing to expire".into(),
                });
            };
            let keep_from: Option<i64> = tx
                .query_row(
                    "SELECT min(id) FROM entry WHERE time >= ?1",
                    params![cutoff_s],
                    |r| r.get(0),
                )
                .map_err(&sq)?;
            let last_id = match keep_from {
                Some(k) => k.saturating_sub(1),
                None => tx
                    .query_row("SELECT max(id) FROM entry", [], |r| r.get(0))
                    .map_err(&sq)?,
            };
            if last_id < first_id {
                return Err(AuditError::Invalid {
                    path: log.path().to_owned(),
                    message: "nothing to expire".into(),
                });
            }
            let (last_hash, last_time): (String, String) = tx
                .query_row(
                    "SELECT hash, time FROM entry WHERE id = ?1",
                    params![last_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(&sq)?;
            let removed = tx
                .execute("DELETE FROM entry WHERE id <= ?1", params![last_id])
                .map_err(&sq)?;
            tx.execute(
                "INSERT INTO checkpoint (one, last_id, last_hash, time) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT(one) DO UPDATE SET last_id = excluded.last_id,
                   last_hash = excluded.last_hash, time = excluded.time",
                params![
                    last_id,
                    last_hash,
                    now.to_rfc3339_opts(SecondsFormat::Micros, true)
                ],
            )
            .map_err(&sq)?;
            let entry = log.insert(
                tx,
                Event::new(
                    EventKind::RetentionExpiry,
                    Action::D,
                    Outcome::Success,
                    &current_mode(tx).unwrap_or_else(|| "standby".into()),
                    format!(
                        "removed {removed} entries (ids {first_id}..={last_id}, {first_time} .. {last_time}) older than {cutoff_s}; checkpoint id={last_id} hash={last_hash}"
                    ),
                ),
                now,
            )?;
            Ok(Expired {
                removed: removed as u64,
                first_id,
                last_id,
                checkpoint_hash: last_hash,
                entry,
            })
        });
        match result {
            Ok(e) => Ok(Some(e)),
            Err(AuditError::Invalid { message, .. }) if message == "nothing to expire" => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The mode the log last recorded a switch to (the `mode` of the latest ModeSwitch entry).
pub(crate) fn current_mode(conn: &rusqlite::Connection) -> Option<String> {
    let json: String = conn
        .query_row(
            "SELECT event FROM entry WHERE kind = ?1 ORDER BY id DESC LIMIT 1",
            params![kind_str(EventKind::ModeSwitch)],
            |r| r.get(0),
        )
        .optional()
        .ok()
        .flatten()?;
    let ev: Event = serde_json::from_str(&json).ok()?;
    Some(ev.mode)
}
