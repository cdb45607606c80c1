//! The publisher (`noodepd-publisher`, behind the `publisher` feature): on a hospital
//! server, read each ward's current patients from the EPD's FHIR R4 API, seal one snapshot
//! per ward for the ward's boxes, deliver it by SFTP (or to a directory), and collect every
//! box's status into one status page and `/metrics`. The ward box never runs this code.
//!
//! Data flow of one cycle (one file per step):
//!
//! ```text
//! config ─► client (+auth) ─► census ─► search | bulk ─► hydrate ─► seal ─► delivery ─► fleet ─► web
//!            FHIR over TLS     ward's     patients'      missing     per ward  SFTP/dir    box status  status page,
//!            SMART/bearer      beds,      resources      references  sequence  .part+rename             /metrics
//!                              Encounters                                                              
//! ```
//!
//! `service` runs the cycles; `cli` is the binary's command line. Invariants: a ward is
//! sealed whole or not at all; a resource of a patient not in the ward's census never
//! enters its snapshot; the sequence never repeats (see `seal`); nothing with patient data
//! is logged or shown (ids, counts, codes, HTTP statuses only).

pub mod auth;
pub mod bulk;
pub mod census;
pub mod cli;
pub mod client;
pub mod config;
pub mod delivery;
pub mod fleet;
pub mod hydrate;
pub mod resources;
pub mod seal;
pub mod search;
pub mod service;
pub mod web;
