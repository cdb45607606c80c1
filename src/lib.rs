//! noodepd: the read-only emergency EPD appliance for hospital wards.
//!
//! Data flows inbox → [`snapshot`] (verify, decrypt, decompress) → [`fhir`] (parse, map)
//! → [`record`] (the clinical model) → [`store`] (an SQLite generation, swapped in
//! atomically) → [`web`] (pages, print). [`ingest`] drives that flow; [`mode`] decides
//! whether patient data may be shown at all; [`audit`] records every look.
//! See docs/ARCHITECTURE.md for the map and the invariants.

#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
#[cfg(feature = "dev-tools")]
pub mod bench;
pub mod cli;
pub mod commands;
pub mod config;
pub mod control;
pub(crate) mod daemon;
pub mod fhir;
pub(crate) mod fsutil;
#[cfg(feature = "dev-tools")]
pub mod generate;
pub mod ingest;
pub(crate) mod jsonerr;
pub mod keys;
pub mod logging;
pub mod mode;
#[cfg(feature = "publisher")]
pub mod publisher;
pub mod record;
pub mod roster;
pub mod snapshot;
pub mod status;
pub(crate) mod statusfile;
pub mod store;
pub(crate) mod text;
pub(crate) mod timefmt;
pub(crate) mod update;
pub mod web;
