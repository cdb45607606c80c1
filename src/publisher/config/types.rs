//! The publisher's validated configuration: the types the rest of the publisher reads
//! (sources, wards, boxes, delivery), the resource types it can read, and the config error.
//! Vocabulary only: nothing here parses or checks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Largest config file accepted.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The resource types the publisher can read per patient (besides Patient, Encounter and
/// Location, which the census always reads): what the box maps (docs/FHIR-MAPPING.md).
pub(crate) const PATIENT_RESOURCES: &[&str] = &[
    "AllergyIntolerance",
    "Flag",
    "Consent",
    "Condition",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationStatement",
    "MedicationAdministration",
    "Observation",
    "RelatedPerson",
    "Device",
    "DeviceUseStatement",
];

/// Errors reading or validating the publisher's config.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path} is larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("config {path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config {path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

pub(crate) use crate::config::Language;

/// The validated publisher configuration.
#[derive(Debug, Clone)]
pub(crate) struct PublisherConfig {
    /// Where the config was read from (for messages).
    pub source: PathBuf,
    /// Sequence numbers and census sizes per ward (durable, locked).
    pub state_dir: PathBuf,
    /// The publisher's signing key (`noodepd keygen publisher`).
    pub key: PathBuf,
    /// Where the status page and `/metrics` listen; `None`: not served.
    pub listen: Option<SocketAddr>,
    pub language: Language,
    /// Times on the status page are shown in this zone.
    pub timezone: chrono_tz::Tz,
    pub delivery: DeliveryConfig,
    pub sources: Vec<SourceConfig>,
    pub wards: Vec<WardConfig>,
    /// Unknown keys found in the file (dotted paths), to be warned about.
    pub unknown_keys: Vec<String>,
}

/// How boxes are reached.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryConfig {
    /// The OpenSSH `sftp` program.
    pub sftp_program: PathBuf,
    /// Default SSH identity (the upload key) and pinned host keys for SFTP boxes.
    pub identity: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    /// Longest one SFTP session may take before it is killed.
    pub timeout: Duration,
    /// Tries per box within one cycle, and the pause between them.
    pub attempts: u32,
    pub retry_pause: Duration,
    /// Default path of the box's status file inside its SFTP chroot.
    pub status_path: String,
}

/// How a source is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// FHIR search per resource type, batches of patients, `next` links followed.
    Search,
    /// FHIR Bulk Data `Group/{id}/$export` for the clinical data (census still by search).
    Bulk(BulkConfig),
}

/// Bulk Data settings of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BulkConfig {
    /// The Group whose `$export` holds the wards' patients.
    pub group: String,
    /// Use `_since` for incremental exports between full ones.
    pub since: bool,
    /// A full export (no `_since`) at least this often: catches deleted resources.
    pub full_every: Duration,
    /// Longest wait between status polls, whatever Retry-After says.
    pub poll_max: Duration,
    /// Longest one export may take from kick-off to the last file.
    pub timeout: Duration,
}

/// How the publisher authenticates to a source.
#[derive(Debug, Clone)]
pub(crate) enum AuthConfig {
    None,
    /// A bearer token read from a file (reread when it changes).
    Bearer {
        token_file: PathBuf,
    },
    /// SMART Backend Services: client credentials with a `private_key_jwt` assertion.
    Smart(SmartConfig),
}

/// Signing algorithm of the client assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwtAlg {
    Rs384,
    Es384,
}

impl JwtAlg {
    /// The JOSE name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            JwtAlg::Rs384 => "RS384",
            JwtAlg::Es384 => "ES384",
        }
    }
}

/// SMART Backend Services settings.
#[derive(Debug, Clone)]
pub(crate) struct SmartConfig {
    /// Token endpoint; `None`: discovered from `.well-known/smart-configuration`.
    pub token_url: Option<String>,
    pub client_id: String,
    /// The client's private key (PEM, PKCS#8; RSA for RS384, P-384 for ES384).
    pub key: PathBuf,
    pub alg: JwtAlg,
    pub kid: Option<String>,
    pub scope: String,
}

/// One FHIR server the publisher reads.
#[derive(Debug, Clone)]
pub(crate) struct SourceConfig {
    pub name: String,
    /// The FHIR base, without a trailing slash.
    pub base_url: String,
    pub mode: ReadMode,
    /// A cycle of this source's wards starts this often.
    pub interval: Duration,
    /// PEM certificates to trust for https (instead of none).
    pub ca_file: Option<PathBuf>,
    /// Per request (headers and body).
    pub timeout: Duration,
    /// Tries per request on connection errors, timeouts, 429 and 5xx.
    pub attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Requests in flight to this server at most.
    pub concurrency: usize,
    pub page_size: u32,
    /// Patients per search (`patient=a,b,c`); 1 searches per patient.
    pub patients_per_search: usize,
    /// Per-patient resource types read (a subset of [`PATIENT_RESOURCES`]).
    pub resources: Vec<String>,
    /// Encounter statuses that put a patient in the census.
    pub encounter_status: Vec<String>,
    /// Observation categories read.
    pub observation_categories: Vec<String>,
    pub observation_window: Duration,
    pub administration_window: Duration,
    /// Largest response body accepted.
    pub max_response: u64,
    pub auth: AuthConfig,
}

/// How the ward's Location is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LocationRef {
    /// The Location's logical id.
    Id(String),
    /// A Location identifier `system|value`, searched every cycle.
    Identifier { system: String, value: String },
}

/// One ward: its census source, its Location and its boxes.
#[derive(Debug, Clone)]
pub(crate) struct WardConfig {
    pub id: String,
    pub name: String,
    /// Index into [`PublisherConfig::sources`].
    pub source: usize,
    pub location: LocationRef,
    /// Publish a census that is empty or shrank below the share (sealed with the flag).
    pub allow_shrink: bool,
    pub min_census_share_percent: u8,
    pub boxes: Vec<BoxConfig>,
}

/// One box of a ward.
#[derive(Debug, Clone)]
pub(crate) struct BoxConfig {
    pub id: String,
    /// The box's appliance public key (`appliance.pub`).
    pub key: PathBuf,
    pub target: BoxTarget,
}

/// Where a box's snapshots go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BoxTarget {
    /// The box's chrooted `inbox` account over SFTP (host key pinned).
    Sftp(SftpTarget),
    /// A local directory (a USB stick's mount point, a one-way link's spool).
    Dir(PathBuf),
}

/// An SFTP box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SftpTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub identity: PathBuf,
    pub known_hosts: PathBuf,
    /// The status file's path inside the chroot.
    pub status_path: String,
}
