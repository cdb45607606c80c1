//! Ingest: from the inbox to the served generation.
//!
//! [`watcher`] decides which inbox names count and turns inotify events into work;
//! [`state`] persists the last accepted sequence (rollback protection); [`quarantine`]
//! moves refused files aside with their reason; [`keep`] holds the accepted sealed
//! snapshots for restart. The pipeline itself lands with the snapshot and FHIR modules.

pub mod keep;
pub mod quarantine;
pub mod state;
pub mod watcher;
