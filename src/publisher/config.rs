//! The publisher's configuration: one TOML file (annotated example: config/publisher.toml),
//! read into raw serde structs and validated into [`PublisherConfig`] (the same "raw →
//! validated, unknown keys warned" shape as the box's `crate::config`).
//!
//! Relative key and credential paths resolve against `$CREDENTIALS_DIRECTORY` when the
//! service runs under systemd with `LoadCredential=` (config/noodepd-publisher.service), other
//! relative paths against the directory holding the config file.

use crate::config::check_id;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest config file accepted.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// At most this many wards (and boxes per ward) in one config.
const MAX_WARDS: usize = 500;
const MAX_BOXES_PER_WARD: usize = 16;

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

// ---------------------------------------------------------------- raw (as in the file)

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawConfig {
    publisher: RawPublisher,
    source: Vec<RawSource>,
    ward: Vec<RawWard>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawPublisher {
    state_dir: Option<PathBuf>,
    key: Option<PathBuf>,
    listen: Option<String>,
    language: Option<String>,
    timezone: Option<String>,
    sftp_program: Option<PathBuf>,
    sftp_identity: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    sftp_timeout_seconds: Option<u64>,
    delivery_attempts: Option<u32>,
    delivery_retry_seconds: Option<u64>,
    status_path: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawSource {
    name: Option<String>,
    base_url: Option<String>,
    mode: Option<String>,
    interval_seconds: Option<u64>,
    ca_file: Option<PathBuf>,
    timeout_seconds: Option<u64>,
    attempts: Option<u32>,
    retry_base_ms: Option<u64>,
    retry_max_seconds: Option<u64>,
    concurrency: Option<usize>,
    page_size: Option<u32>,
    patients_per_search: Option<usize>,
    resources: Option<Vec<String>>,
    encounter_status: Option<Vec<String>>,
    observation_categories: Option<Vec<String>>,
    observation_window_days: Option<u64>,
    administration_window_hours: Option<u64>,
    max_response_mib: Option<u64>,
    auth: RawAuth,
    bulk: Option<RawBulk>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawAuth {
    #[serde(rename = "type")]
    kind: Option<String>,
    token_file: Option<PathBuf>,
    token_url: Option<String>,
    client_id: Option<String>,
    key: Option<PathBuf>,
    alg: Option<String>,
    kid: Option<String>,
    scope: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawBulk {
    group: Option<String>,
    since: Option<bool>,
    full_every_hours: Option<u64>,
    poll_max_seconds: Option<u64>,
    timeout_minutes: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawWard {
    id: Option<String>,
    name: Option<String>,
    source: Option<String>,
    location: Option<String>,
    location_identifier: Option<String>,
    allow_shrink: Option<bool>,
    min_census_share_percent: Option<u8>,
    #[serde(rename = "box")]
    boxes: Vec<RawBox>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawBox {
    id: Option<String>,
    key: Option<PathBuf>,
    sftp: Option<String>,
    identity: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    status_path: Option<String>,
    dir: Option<PathBuf>,
}

// ---------------------------------------------------------------- validated

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

const SECOND: u64 = 1;
const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

impl PublisherConfig {
    /// Reads and validates a config file.
    pub(crate) fn load(path: &Path) -> Result<PublisherConfig, ConfigError> {
        let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates config text; `path` names the source and anchors relative paths.
    pub(crate) fn from_toml(text: &str, path: &Path) -> Result<PublisherConfig, ConfigError> {
        let mut unknown = Vec::new();
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let raw: RawConfig = serde_ignored::deserialize(de, |p| unknown.push(p.to_string()))
            .map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let v = Validator {
            path,
            base: path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_owned(),
            cred_dir: std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
        };
        let p = raw.publisher;
        let state_dir = v.abs(
            p.state_dir
                .unwrap_or_else(|| "/var/lib/noodepd-publisher".into()),
        );
        let key = v.cred(p.key.unwrap_or_else(|| "publisher.key".into()));
        let listen = match p.listen.as_deref() {
            None => Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            Some("") | Some("off") => None,
            Some(s) => Some(s.parse().map_err(|_| {
                v.invalid(
                    "publisher.listen",
                    format!("{s:?} is not ADDRESS:PORT (or \"off\")"),
                )
            })?),
        };
        let language = match p.language.as_deref().unwrap_or("nl") {
            "nl" => Language::Nl,
            "en" => Language::En,
            other => {
                return Err(v.invalid(
                    "publisher.language",
                    format!("{other:?}: use \"nl\" or \"en\""),
                ));
            }
        };
        let tzname = p.timezone.unwrap_or_else(|| "Europe/Amsterdam".into());
        let timezone: chrono_tz::Tz = tzname.parse().map_err(|_| {
            v.invalid(
                "publisher.timezone",
                format!("unknown time zone {tzname:?}"),
            )
        })?;
        let delivery = DeliveryConfig {
            sftp_program: p.sftp_program.unwrap_or_else(|| "sftp".into()),
            identity: p.sftp_identity.map(|i| v.cred(i)),
            known_hosts: p.known_hosts.map(|k| v.abs(k)),
            timeout: v.secs(
                "publisher.sftp_timeout_seconds",
                p.sftp_timeout_seconds,
                120,
                5,
                3600,
            )?,
            attempts: v.count("publisher.delivery_attempts", p.delivery_attempts, 3, 1, 10)?,
            retry_pause: v.secs(
                "publisher.delivery_retry_seconds",
                p.delivery_retry_seconds,
                10,
                0,
                600,
            )?,
            status_path: match p.status_path {
                Some(s) => {
                    check_remote_path(&s).map_err(|m| v.invalid("publisher.status_path", m))?
                }
                None => "/status/status.json".into(),
            },
        };

        if raw.source.is_empty() {
            return Err(v.invalid(
                "source",
                "no [[source]]: name at least one FHIR server to read".into(),
            ));
        }
        let mut sources = Vec::new();
        for (i, s) in raw.source.into_iter().enumerate() {
            let src = v.source(i, s)?;
            if sources.iter().any(|o: &SourceConfig| o.name == src.name) {
                return Err(v.invalid(
                    format!("source[{i}].name"),
                    format!("{:?} is used twice", src.name),
                ));
            }
            sources.push(src);
        }

        if raw.ward.is_empty() {
            return Err(v.invalid(
                "ward",
                "no [[ward]]: name at least one ward to publish".into(),
            ));
        }
        if raw.ward.len() > MAX_WARDS {
            return Err(v.invalid("ward", format!("more than {MAX_WARDS} wards")));
        }
        let mut wards: Vec<WardConfig> = Vec::new();
        for (i, w) in raw.ward.into_iter().enumerate() {
            let ward = v.ward(i, w, &sources, &delivery)?;
            if wards.iter().any(|o| o.id == ward.id) {
                return Err(v.invalid(
                    format!("ward[{i}].id"),
                    format!("ward {:?} is configured twice", ward.id),
                ));
            }
            for b in &ward.boxes {
                if wards.iter().flat_map(|o| &o.boxes).any(|o| o.id == b.id) {
                    return Err(v.invalid(
                        format!("ward[{i}].box"),
                        format!("box id {:?} is used twice", b.id),
                    ));
                }
            }
            wards.push(ward);
        }
        Ok(PublisherConfig {
            source: path.to_owned(),
            state_dir,
            key,
            listen,
            language,
            timezone,
            delivery,
            sources,
            wards,
            unknown_keys: unknown,
        })
    }
}

struct Validator<'a> {
    path: &'a Path,
    base: PathBuf,
    cred_dir: Option<PathBuf>,
}

impl Validator<'_> {
    fn invalid(&self, key: impl Into<String>, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            key: key.into(),
            message,
        }
    }

    fn abs(&self, p: PathBuf) -> PathBuf {
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    /// A secret's path: relative names are credentials when running under systemd.
    fn cred(&self, p: PathBuf) -> PathBuf {
        match (&self.cred_dir, p.is_absolute()) {
            (Some(dir), false) => dir.join(p),
            _ => self.abs(p),
        }
    }

    fn num(
        &self,
        key: &str,
        v: Option<u64>,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let v = v.unwrap_or(default);
        if (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(self.invalid(key, format!("{v} is outside {min}..={max}")))
        }
    }

    fn secs(
        &self,
        key: &str,
        v: Option<u64>,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        self.num(key, v, default, min, max)
            .map(|n| Duration::from_secs(n * SECOND))
    }

    fn count(
        &self,
        key: &str,
        v: Option<u32>,
        default: u32,
        min: u32,
        max: u32,
    ) -> Result<u32, ConfigError> {
        self.num(
            key,
            v.map(u64::from),
            u64::from(default),
            u64::from(min),
            u64::from(max),
        )
        .map(|n| u32::try_from(n).unwrap_or(max))
    }

    fn source(&self, i: usize, s: RawSource) -> Result<SourceConfig, ConfigError> {
        let k = |name: &str| format!("source[{i}].{name}");
        let name = s.name.ok_or_else(|| {
            self.invalid(k("name"), "missing: a short name for this server".into())
        })?;
        check_id(&name).map_err(|m| self.invalid(k("name"), m))?;
        let base_url = s.base_url.ok_or_else(|| {
            self.invalid(
                k("base_url"),
                "missing: the FHIR base URL (https://epd.example.org/fhir)".into(),
            )
        })?;
        let base_url = check_base_url(&base_url).map_err(|m| self.invalid(k("base_url"), m))?;
        let mode = match s.mode.as_deref().unwrap_or("search") {
            "search" => {
                if s.bulk.is_some() {
                    return Err(self.invalid(
                        k("bulk"),
                        "a [source.bulk] table needs mode = \"bulk\"".into(),
                    ));
                }
                ReadMode::Search
            }
            "bulk" => {
                let b = s.bulk.unwrap_or_default();
                let group = b.group.ok_or_else(|| {
                    self.invalid(
                        k("bulk.group"),
                        "missing: the Group id whose $export holds the wards' patients".into(),
                    )
                })?;
                check_fhir_id(&group).map_err(|m| self.invalid(k("bulk.group"), m))?;
                ReadMode::Bulk(BulkConfig {
                    group,
                    since: b.since.unwrap_or(true),
                    full_every: Duration::from_secs(
                        self.num(
                            &k("bulk.full_every_hours"),
                            b.full_every_hours,
                            24,
                            1,
                            24 * 30,
                        )? * HOUR,
                    ),
                    poll_max: self.secs(
                        &k("bulk.poll_max_seconds"),
                        b.poll_max_seconds,
                        120,
                        1,
                        3600,
                    )?,
                    timeout: Duration::from_secs(
                        self.num(
                            &k("bulk.timeout_minutes"),
                            b.timeout_minutes,
                            60,
                            1,
                            24 * 60,
                        )? * MINUTE,
                    ),
                })
            }
            other => {
                return Err(
                    self.invalid(k("mode"), format!("{other:?}: use \"search\" or \"bulk\""))
                );
            }
        };
        let resources = match s.resources {
            None => PATIENT_RESOURCES.iter().map(|r| (*r).to_owned()).collect(),
            Some(list) => {
                let mut out: Vec<String> = Vec::new();
                for r in list {
                    if !PATIENT_RESOURCES.contains(&r.as_str()) {
                        return Err(self.invalid(
                            k("resources"),
                            format!(
                                "{r:?} is not a resource type the box shows; choose from {}",
                                PATIENT_RESOURCES.join(", ")
                            ),
                        ));
                    }
                    if !out.contains(&r) {
                        out.push(r);
                    }
                }
                out
            }
        };
        let encounter_status = match s.encounter_status {
            None => vec!["in-progress".into(), "arrived".into(), "onleave".into()],
            Some(list) => {
                if list.is_empty() {
                    return Err(self.invalid(k("encounter_status"), "must not be empty".into()));
                }
                for st in &list {
                    if !matches!(st.as_str(), "in-progress" | "arrived" | "onleave") {
                        return Err(self.invalid(
                            k("encounter_status"),
                            format!(
                                "{st:?}: only in-progress, arrived and onleave mean the patient \
                                 is on the ward (the box shows no other)"
                            ),
                        ));
                    }
                }
                list
            }
        };
        let observation_categories = match s.observation_categories {
            None => vec!["vital-signs".into(), "laboratory".into()],
            Some(list) => {
                for c in &list {
                    check_token(c).map_err(|m| self.invalid(k("observation_categories"), m))?;
                }
                list
            }
        };
        let auth = self.auth(i, s.auth)?;
        Ok(SourceConfig {
            name,
            base_url,
            mode,
            interval: self.secs(&k("interval_seconds"), s.interval_seconds, 300, 1, DAY)?,
            ca_file: s.ca_file.map(|p| self.abs(p)),
            timeout: self.secs(&k("timeout_seconds"), s.timeout_seconds, 30, 1, 600)?,
            attempts: self.count(&k("attempts"), s.attempts, 4, 1, 10)?,
            retry_base: Duration::from_millis(self.num(
                &k("retry_base_ms"),
                s.retry_base_ms,
                1000,
                10,
                60_000,
            )?),
            retry_max: self.secs(&k("retry_max_seconds"), s.retry_max_seconds, 30, 1, 600)?,
            concurrency: usize::try_from(self.num(
                &k("concurrency"),
                s.concurrency.map(|c| c as u64),
                4,
                1,
                64,
            )?)
            .unwrap_or(4),
            page_size: self.count(&k("page_size"), s.page_size, 200, 10, 1000)?,
            patients_per_search: usize::try_from(self.num(
                &k("patients_per_search"),
                s.patients_per_search.map(|c| c as u64),
                40,
                1,
                200,
            )?)
            .unwrap_or(40),
            resources,
            encounter_status,
            observation_categories,
            observation_window: Duration::from_secs(
                self.num(
                    &k("observation_window_days"),
                    s.observation_window_days,
                    7,
                    1,
                    365,
                )? * DAY,
            ),
            administration_window: Duration::from_secs(
                self.num(
                    &k("administration_window_hours"),
                    s.administration_window_hours,
                    72,
                    1,
                    24 * 14,
                )? * HOUR,
            ),
            max_response: self.num(&k("max_response_mib"), s.max_response_mib, 64, 1, 4096)?
                * 1024
                * 1024,
            auth,
        })
    }

    fn auth(&self, i: usize, a: RawAuth) -> Result<AuthConfig, ConfigError> {
        let k = |name: &str| format!("source[{i}].auth.{name}");
        match a.kind.as_deref().unwrap_or("none") {
            "none" => Ok(AuthConfig::None),
            "bearer" => Ok(AuthConfig::Bearer {
                token_file: self.cred(a.token_file.ok_or_else(|| {
                    self.invalid(
                        k("token_file"),
                        "missing: the file holding the bearer token".into(),
                    )
                })?),
            }),
            "smart" => {
                let client_id = a.client_id.ok_or_else(|| {
                    self.invalid(
                        k("client_id"),
                        "missing: the client id the EPD registered".into(),
                    )
                })?;
                if client_id.is_empty()
                    || client_id.len() > 256
                    || client_id.chars().any(char::is_control)
                {
                    return Err(self.invalid(
                        k("client_id"),
                        "must be 1 to 256 characters, no control characters".into(),
                    ));
                }
                let alg = match a.alg.as_deref().unwrap_or("RS384") {
                    "RS384" => JwtAlg::Rs384,
                    "ES384" => JwtAlg::Es384,
                    other => {
                        return Err(self.invalid(
                            k("alg"),
                            format!(
                                "{other:?}: use \"RS384\" or \"ES384\" (SMART Backend Services)"
                            ),
                        ));
                    }
                };
                let token_url = match a.token_url {
                    Some(u) => {
                        Some(check_base_url(&u).map_err(|m| self.invalid(k("token_url"), m))?)
                    }
                    None => None,
                };
                if let Some(kid) = &a.kid
                    && (kid.is_empty() || kid.len() > 256 || kid.chars().any(char::is_control))
                {
                    return Err(self.invalid(
                        k("kid"),
                        "must be 1 to 256 characters, no control characters".into(),
                    ));
                }
                let scope = a.scope.unwrap_or_else(|| "system/*.read".into());
                if scope.is_empty() || scope.len() > 2048 || scope.chars().any(char::is_control) {
                    return Err(self.invalid(k("scope"), "must be a space-separated list".into()));
                }
                Ok(AuthConfig::Smart(SmartConfig {
                    token_url,
                    client_id,
                    key: self.cred(a.key.ok_or_else(|| {
                        self.invalid(
                            k("key"),
                            "missing: the client's private key (PEM, PKCS#8)".into(),
                        )
                    })?),
                    alg,
                    kid: a.kid,
                    scope,
                }))
            }
            other => Err(self.invalid(
                k("type"),
                format!("{other:?}: use \"smart\", \"bearer\" or \"none\""),
            )),
        }
    }

    fn ward(
        &self,
        i: usize,
        w: RawWard,
        sources: &[SourceConfig],
        delivery: &DeliveryConfig,
    ) -> Result<WardConfig, ConfigError> {
        let k = |name: &str| format!("ward[{i}].{name}");
        let id = w
            .id
            .ok_or_else(|| self.invalid(k("id"), "missing: the ward id the boxes serve".into()))?;
        check_id(&id).map_err(|m| self.invalid(k("id"), m))?;
        let source = match w.source {
            Some(name) => sources.iter().position(|s| s.name == name).ok_or_else(|| {
                self.invalid(k("source"), format!("no [[source]] named {name:?}"))
            })?,
            None if sources.len() == 1 => 0,
            None => {
                return Err(self.invalid(
                    k("source"),
                    "missing: which [[source]] holds this ward".into(),
                ));
            }
        };
        let location = match (w.location, w.location_identifier) {
            (Some(id), None) => {
                let id = id.strip_prefix("Location/").unwrap_or(&id).to_owned();
                check_fhir_id(&id).map_err(|m| self.invalid(k("location"), m))?;
                LocationRef::Id(id)
            }
            (None, Some(ident)) => {
                let (system, value) = ident.split_once('|').ok_or_else(|| {
                    self.invalid(
                        k("location_identifier"),
                        "must be SYSTEM|VALUE (e.g. urn:oid:2.16.528.1.1007.3.3.1234|A3)".into(),
                    )
                })?;
                check_token(system).map_err(|m| self.invalid(k("location_identifier"), m))?;
                check_token(value).map_err(|m| self.invalid(k("location_identifier"), m))?;
                if value.is_empty() {
                    return Err(self.invalid(k("location_identifier"), "empty value".into()));
                }
                LocationRef::Identifier {
                    system: system.to_owned(),
                    value: value.to_owned(),
                }
            }
            (None, None) => {
                return Err(self.invalid(
                    k("location"),
                    "missing: the ward's Location id (location) or identifier \
                     (location_identifier)"
                        .into(),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    k("location"),
                    "set location or location_identifier, not both".into(),
                ));
            }
        };
        let min_census_share_percent = match w.min_census_share_percent.unwrap_or(50) {
            n @ 0..=100 => n,
            n => {
                return Err(self.invalid(
                    k("min_census_share_percent"),
                    format!("{n} is outside 0..=100"),
                ));
            }
        };
        if w.boxes.is_empty() {
            return Err(self.invalid(
                k("box"),
                "no [[ward.box]]: name at least one box to deliver to".into(),
            ));
        }
        if w.boxes.len() > MAX_BOXES_PER_WARD {
            return Err(self.invalid(k("box"), format!("more than {MAX_BOXES_PER_WARD} boxes")));
        }
        let mut boxes = Vec::new();
        for (j, b) in w.boxes.into_iter().enumerate() {
            boxes.push(self.box_(i, j, b, delivery)?);
        }
        Ok(WardConfig {
            name: w.name.unwrap_or_else(|| id.clone()),
            id,
            source,
            location,
            allow_shrink: w.allow_shrink.unwrap_or(false),
            min_census_share_percent,
            boxes,
        })
    }

    fn box_(
        &self,
        i: usize,
        j: usize,
        b: RawBox,
        delivery: &DeliveryConfig,
    ) -> Result<BoxConfig, ConfigError> {
        let k = |name: &str| format!("ward[{i}].box[{j}].{name}");
        let id =
            b.id.ok_or_else(|| self.invalid(k("id"), "missing: the box's name".into()))?;
        check_id(&id).map_err(|m| self.invalid(k("id"), m))?;
        let key = self.abs(b.key.ok_or_else(|| {
            self.invalid(
                k("key"),
                "missing: the box's appliance.pub (OPERATIONS.md section 5)".into(),
            )
        })?);
        let target = match (b.sftp, b.dir) {
            (Some(s), None) => {
                let (user, host, port) = parse_sftp(&s).map_err(|m| self.invalid(k("sftp"), m))?;
                let identity = b
                    .identity
                    .map(|p| self.cred(p))
                    .or_else(|| delivery.identity.clone())
                    .ok_or_else(|| {
                        self.invalid(
                            k("identity"),
                            "missing: the upload key (here or publisher.sftp_identity)".into(),
                        )
                    })?;
                let known_hosts = b
                    .known_hosts
                    .map(|p| self.abs(p))
                    .or_else(|| delivery.known_hosts.clone())
                    .ok_or_else(|| {
                        self.invalid(
                            k("known_hosts"),
                            "missing: the pinned host keys (here or publisher.known_hosts)".into(),
                        )
                    })?;
                let status_path = match b.status_path {
                    Some(p) => {
                        check_remote_path(&p).map_err(|m| self.invalid(k("status_path"), m))?
                    }
                    None => delivery.status_path.clone(),
                };
                BoxTarget::Sftp(SftpTarget {
                    user,
                    host,
                    port,
                    identity,
                    known_hosts,
                    status_path,
                })
            }
            (None, Some(d)) => {
                if b.identity.is_some() || b.known_hosts.is_some() || b.status_path.is_some() {
                    return Err(self.invalid(
                        k("dir"),
                        "identity, known_hosts and status_path are for sftp boxes".into(),
                    ));
                }
                BoxTarget::Dir(self.abs(d))
            }
            (None, None) => {
                return Err(self.invalid(
                    k("sftp"),
                    "missing: sftp = \"inbox@HOST\" or dir = \"/path\"".into(),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(self.invalid(k("sftp"), "set sftp or dir, not both".into()));
            }
        };
        Ok(BoxConfig { id, key, target })
    }
}

/// `http(s)://host[:port]/path` without query or fragment; returned without a trailing `/`.
pub(crate) fn check_base_url(s: &str) -> Result<String, String> {
    let uri: hyper::Uri = s.parse().map_err(|_| format!("{s:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => return Err(format!("{s:?} must start with https:// (or http://)")),
    }
    if uri.authority().is_none() {
        return Err(format!("{s:?} has no host"));
    }
    if uri.query().is_some() || s.contains('#') {
        return Err(format!("{s:?} must not have a query or fragment"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{s:?} contains spaces or control characters"));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// A FHIR logical id: 1–64 of `A-Za-z0-9-.`.
pub(crate) fn check_fhir_id(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(format!(
            "{s:?} is not a FHIR id (1 to 64 letters, digits, '-' or '.')"
        ));
    }
    Ok(())
}

/// A token part (system or code) for a search: printable, bounded.
fn check_token(s: &str) -> Result<(), String> {
    if s.len() > 512 || s.chars().any(|c| c.is_control() || c == '|' || c == ',') {
        return Err(format!(
            "{s:?} must be at most 512 characters without control characters, '|' or ','"
        ));
    }
    Ok(())
}

/// An absolute path inside the box's chroot, plain characters only (it goes into an sftp
/// batch file).
fn check_remote_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/')
        || s.len() > 256
        || s.split('/').any(|c| c == "..")
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "{s:?} must be an absolute path of letters, digits, '/', '-', '_' and '.'"
        ));
    }
    Ok(s.to_owned())
}

/// `user@host[:port]` (host: a name, IPv4 or `[IPv6]`).
fn parse_sftp(s: &str) -> Result<(String, String, u16), String> {
    let bad = || format!("{s:?} must be USER@HOST or USER@HOST:PORT (e.g. inbox@10.1.2.30)");
    let (user, rest) = s.split_once('@').ok_or_else(bad)?;
    if user.is_empty()
        || user.len() > 32
        || !user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || user.starts_with('-')
    {
        return Err(bad());
    }
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => 22,
            None => return Err(bad()),
        };
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        (h.to_owned(), port)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
            None => (rest.to_owned(), 22),
        }
    };
    if host.is_empty()
        || host.len() > 253
        || host.starts_with('-')
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'))
        || port == 0
    {
        return Err(bad());
    }
    Ok((user.to_owned(), host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[publisher]
key = "publisher.key"
[[source]]
name = "epd"
base_url = "https://epd.example.org/fhir/"
[[ward]]
id = "A3"
location = "Location/w-a3"
[[ward.box]]
id = "a3-box-1"
key = "keys/a3-box-1.pub"
sftp = "inbox@10.1.2.30"
identity = "/etc/noodepd-publisher/upload_ed25519"
known_hosts = "/etc/noodepd-publisher/known_hosts"
"#;

    fn parse(text: &str) -> Result<PublisherConfig, ConfigError> {
        PublisherConfig::from_toml(text, Path::new("/etc/noodepd-publisher/publisher.toml"))
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = parse(MINIMAL).unwrap();
        let s = &c.sources[0];
        assert_eq!(s.base_url, "https://epd.example.org/fhir");
        assert_eq!(s.mode, ReadMode::Search);
        assert_eq!(s.interval, Duration::from_secs(300));
        assert_eq!(s.resources.len(), PATIENT_RESOURCES.len());
        assert_eq!(s.administration_window, Duration::from_secs(72 * 3600));
        let w = &c.wards[0];
        assert_eq!(w.location, LocationRef::Id("w-a3".into()));
        assert!(!w.allow_shrink);
        assert_eq!(w.min_census_share_percent, 50);
        match &w.boxes[0].target {
            BoxTarget::Sftp(t) => {
                assert_eq!(
                    (t.user.as_str(), t.host.as_str(), t.port),
                    ("inbox", "10.1.2.30", 22)
                );
                assert_eq!(t.status_path, "/status/status.json");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.listen, Some("127.0.0.1:9464".parse().unwrap()));
        assert!(c.unknown_keys.is_empty());
    }

    #[test]
    fn unknown_keys_are_reported_not_fatal() {
        let c = parse(&MINIMAL.replace("id = \"A3\"", "id = \"A3\"\nalow_shrink = true")).unwrap();
        assert_eq!(c.unknown_keys, vec!["ward.0.alow_shrink"]);
    }

    #[test]
    fn refuses_what_would_go_wrong_later() {
        for (edit, key) in [
            (
                (
                    "base_url = \"https://epd.example.org/fhir/\"",
                    "base_url = \"ftp://x\"",
                ),
                "base_url",
            ),
            (("id = \"A3\"", "id = \"../A3\""), "ward[0].id"),
            (
                (
                    "sftp = \"inbox@10.1.2.30\"",
                    "sftp = \"-oProxyCommand=x@h\"",
                ),
                "sftp",
            ),
            (
                ("sftp = \"inbox@10.1.2.30\"", "sftp = \"inbox@h;rm\""),
                "sftp",
            ),
            (
                ("location = \"Location/w-a3\"", "location = \"a/b\""),
                "location",
            ),
            (
                ("name = \"epd\"", "name = \"epd\"\nresources = [\"Claim\"]"),
                "resources",
            ),
            (
                (
                    "name = \"epd\"",
                    "name = \"epd\"\nencounter_status = [\"finished\"]",
                ),
                "encounter_status",
            ),
            (
                ("name = \"epd\"", "name = \"epd\"\nmode = \"bulk\""),
                "bulk.group",
            ),
            (
                (
                    "base_url = \"https://epd.example.org/fhir/\"",
                    "base_url = \"https://epd.example.org/fhir/\"\n[source.auth]\ntype = \"smart\"\nclient_id = \"c\"\nkey = \"k\"\nalg = \"HS256\"",
                ),
                "auth.alg",
            ),
        ] {
            let text = MINIMAL.replacen(edit.0, edit.1, 1);
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(key), "{edit:?}: {e}");
        }
    }

    #[test]
    fn ward_needs_boxes_and_ids_are_unique() {
        let two = format!(
            "{MINIMAL}\n[[ward]]\nid = \"A3\"\nlocation = \"x\"\n[[ward.box]]\nid = \"b\"\nkey = \"k\"\ndir = \"/media\"\n"
        );
        assert!(
            parse(&two)
                .unwrap_err()
                .to_string()
                .contains("configured twice")
        );
        let dup_box = format!(
            "{MINIMAL}\n[[ward]]\nid = \"B4\"\nlocation = \"x\"\n[[ward.box]]\nid = \"a3-box-1\"\nkey = \"k\"\ndir = \"/media\"\n"
        );
        assert!(
            parse(&dup_box)
                .unwrap_err()
                .to_string()
                .contains("used twice")
        );
    }

    #[test]
    fn sftp_targets_parse_ports_and_ipv6() {
        assert_eq!(
            parse_sftp("inbox@[fd00::1]:2222").unwrap(),
            ("inbox".into(), "fd00::1".into(), 2222)
        );
        assert_eq!(
            parse_sftp("inbox@box-a3.ward.local:2200").unwrap(),
            ("inbox".into(), "box-a3.ward.local".into(), 2200)
        );
        assert!(parse_sftp("inbox@").is_err());
        assert!(parse_sftp("inbox@h:0").is_err());
        assert!(parse_sftp("in box@h").is_err());
    }

    #[test]
    fn annotated_example_config_is_valid_and_complete() {
        let text = include_str!("../../config/publisher.toml");
        let c = parse(text).unwrap();
        assert!(c.unknown_keys.is_empty(), "{:?}", c.unknown_keys);
        assert!(
            c.sources
                .iter()
                .any(|s| matches!(s.mode, ReadMode::Bulk(_)))
        );
        assert!(
            c.sources
                .iter()
                .any(|s| matches!(s.auth, AuthConfig::Smart(_)))
        );
        assert!(
            c.wards
                .iter()
                .flat_map(|w| &w.boxes)
                .any(|b| matches!(b.target, BoxTarget::Dir(_)))
        );
    }
}
