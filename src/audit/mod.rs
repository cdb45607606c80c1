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
//!
//! Files: `event` (what an entry records), `entry` (a stored entry and row),
//! `chain` (the hash chain), `anchor` (the head file), `log` (the open log: open, append,
//! head, receipt), `error`, `hex`, and the jobs on top of the log named above.

mod anchor;
mod chain;
mod entry;
mod error;
mod event;
mod hex;
mod log;

pub mod drill;
pub(crate) mod export;
pub(crate) mod key;
pub(crate) mod retention;
pub(crate) mod verify;

pub use chain::entry_hash_raw;
pub use entry::Entry;
pub use error::AuditError;
pub use event::{AccessPoint, Action, Event, EventKind, Outcome, PatientRef, UserRef, kind_str};
pub(crate) use hex::hex;
pub(crate) use log::LOG_FILE;
pub use log::{AuditLog, Receipt};

pub use export::{ExportFilter, ExportFormat};
pub use key::AuditKey;
pub use retention::Expired;
pub use verify::{Problem, VerifyReport, verify_file, verify_file_with};
