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

pub(crate) mod auth;
pub(crate) mod bulk;
pub(crate) mod census;
pub mod cli;
pub(crate) mod client;
pub(crate) mod config;
pub(crate) mod delivery;
pub(crate) mod fleet;
pub(crate) mod http;
pub(crate) mod hydrate;
pub(crate) mod resources;
pub(crate) mod seal;
pub(crate) mod search;
pub(crate) mod service;
pub(crate) mod web;
