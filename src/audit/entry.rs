//! A stored access-log entry: the event plus what the log adds (id, time, stamps, hashes), and
//! a row as read back from the database before any checking (hostile input to `verify` and
//! `export`, so its event text is bounded).

use super::event::Event;
use serde::{Deserialize, Serialize};

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

/// Longest event JSON text accepted when reading entries back (a stored entry is hostile
/// input to `verify` and `export`).
pub(crate) const MAX_EVENT_JSON: usize = 256 * 1024;

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
