//! The publisher's config as it stands in the TOML file: serde structs with every key
//! optional, before any check (validation: `validate`). Unknown keys are collected by the
//! caller, not refused here.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawConfig {
    pub(super) publisher: RawPublisher,
    pub(super) source: Vec<RawSource>,
    pub(super) ward: Vec<RawWard>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawPublisher {
    pub(super) state_dir: Option<PathBuf>,
    pub(super) key: Option<PathBuf>,
    pub(super) listen: Option<String>,
    pub(super) language: Option<String>,
    pub(super) timezone: Option<String>,
    pub(super) sftp_program: Option<PathBuf>,
    pub(super) sftp_identity: Option<PathBuf>,
    pub(super) known_hosts: Option<PathBuf>,
    pub(super) sftp_timeout_seconds: Option<u64>,
    pub(super) delivery_attempts: Option<u32>,
    pub(super) delivery_retry_seconds: Option<u64>,
    pub(super) status_path: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawSource {
    pub(super) name: Option<String>,
    pub(super) base_url: Option<String>,
    pub(super) mode: Option<String>,
    pub(super) interval_seconds: Option<u64>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) timeout_seconds: Option<u64>,
    pub(super) attempts: Option<u32>,
    pub(super) retry_base_ms: Option<u64>,
    pub(super) retry_max_seconds: Option<u64>,
    pub(super) concurrency: Option<usize>,
    pub(super) page_size: Option<u32>,
    pub(super) patients_per_search: Option<usize>,
    pub(super) resources: Option<Vec<String>>,
    pub(super) encounter_status: Option<Vec<String>>,
    pub(super) observation_categories: Option<Vec<String>>,
    pub(super) observation_window_days: Option<u64>,
    pub(super) administration_window_hours: Option<u64>,
    pub(super) max_response_mib: Option<u64>,
    pub(super) auth: RawAuth,
    pub(super) bulk: Option<RawBulk>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawAuth {
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) token_url: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) key: Option<PathBuf>,
    pub(super) alg: Option<String>,
    pub(super) kid: Option<String>,
    pub(super) scope: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawBulk {
    pub(super) group: Option<String>,
    pub(super) since: Option<bool>,
    pub(super) full_every_hours: Option<u64>,
    pub(super) poll_max_seconds: Option<u64>,
    pub(super) timeout_minutes: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawWard {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) source: Option<String>,
    pub(super) location: Option<String>,
    pub(super) location_identifier: Option<String>,
    pub(super) allow_shrink: Option<bool>,
    pub(super) min_census_share_percent: Option<u8>,
    #[serde(rename = "box")]
    pub(super) boxes: Vec<RawBox>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawBox {
    pub(super) id: Option<String>,
    pub(super) key: Option<PathBuf>,
    pub(super) sftp: Option<String>,
    pub(super) identity: Option<PathBuf>,
    pub(super) known_hosts: Option<PathBuf>,
    pub(super) status_path: Option<String>,
    pub(super) dir: Option<PathBuf>,
}
