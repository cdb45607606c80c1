//! Configuration: one TOML file, read into raw serde structs and then validated into
//! [`Config`] (the ripgrep "low args → high args" shape). Unknown keys are not an error but
//! are reported as warnings, so a typo never silently changes behaviour unnoticed.
//!
//! Relative paths resolve against the directory holding the config file; key paths
//! resolve against `$CREDENTIALS_DIRECTORY` when the daemon runs under systemd with
//! `LoadCredential=` (see image/), so keys never travel in the environment or argv.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest config file accepted.
pub const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// Errors reading or validating a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    /// The config file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    #[error("config {path} is larger than {MAX_CONFIG_BYTES} bytes")]
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    #[error("config {path} is not valid TOML: {message}")]
    /// The file is not valid TOML or a value has the wrong type; the message says where.
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message (key and line).
        message: String,
    },
    #[error("config {path}: {key}: {message}")]
    /// A value is out of range or inconsistent with another.
    Invalid {
        /// The file.
        path: PathBuf,
        /// The dotted key at fault (`web.listen`).
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

// ---------------------------------------------------------------- raw (as in the file)

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawConfig {
    appliance: RawAppliance,
    paths: RawPaths,
    keys: RawKeys,
    web: RawWeb,
    data: RawData,
    drill: RawDrill,
    audit: RawAudit,
    workstations: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawAppliance {
    id: Option<String>,
    ward: Option<String>,
    ward_name: Option<String>,
    language: Option<String>,
    timezone: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawPaths {
    inbox: Option<PathBuf>,
    quarantine: Option<PathBuf>,
    quarantine_max_files: Option<u64>,
    quarantine_max_bytes: Option<u64>,
    state: Option<PathBuf>,
    runtime: Option<PathBuf>,
    control_socket: Option<PathBuf>,
    status_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawKeys {
    appliance_key: Option<PathBuf>,
    publisher_pub: Option<PathBuf>,
    audit_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawWeb {
    listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    plain_http: Option<bool>,
    metrics_public: Option<bool>,
    session_idle_minutes: Option<u64>,
    lockout_attempts: Option<u32>,
    lockout_address_attempts: Option<u32>,
    lockout_minutes: Option<u64>,
    guest_code_minutes: Option<u64>,
    /// The old name of `guest_code_minutes` (still read).
    event_code_minutes: Option<u64>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawData {
    stale_after_minutes: Option<u64>,
    administration_window_hours: Option<u64>,
    observation_window_days: Option<u64>,
    keep_snapshots: Option<usize>,
    memory_max_mib: Option<u64>,
    min_patient_share_percent: Option<u8>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawDrill {
    max_duration_minutes: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RawAudit {
    retention_days: Option<u64>,
    head_to_journal_minutes: Option<u64>,
}

// ---------------------------------------------------------------- validated

/// UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Dutch.
    Nl,
    /// English.
    En,
}

/// The validated configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config was read from (for messages).
    pub source: PathBuf,
    /// This box's id (`[appliance] id`): stamped on every audit entry and in the status file.
    pub appliance_id: String,
    /// The ward this box serves; snapshots for other wards are refused.
    pub ward: String,
    /// Human name of the ward, shown on pages ("Interne geneeskunde A3").
    pub ward_name: String,
    /// The pages' language.
    pub language: Language,
    /// The ward's time zone (Europe/Amsterdam by default): every time shown to a person is in it.
    pub timezone: chrono_tz::Tz,
    /// Where the inbox, quarantine, state, runtime data and control socket live.
    pub paths: Paths,
    /// The key files.
    pub keys: KeyPaths,
    /// The web server: address, TLS, sessions, lockouts and connection caps.
    pub web: WebConfig,
    /// Data handling: staleness, windows, snapshots kept, memory and shrink guard.
    pub data: DataConfig,
    /// A drill ends automatically after this long.
    pub drill_max_duration: Duration,
    /// The access log's retention and chain-head journaling.
    pub audit: AuditConfig,
    /// Names of known ward workstations by client address, recorded in the audit log's
    /// access point (`[workstations]` table: `"10.20.3.41" = "A3 balie"`).
    pub workstations: std::collections::BTreeMap<std::net::IpAddr, String>,
    /// Unknown keys found in the file (dotted paths), to be warned about.
    pub unknown_keys: Vec<String>,
}

#[derive(Debug, Clone)]
/// The directories and files the daemon uses (`[paths]`).
pub struct Paths {
    /// Where publishers drop sealed snapshots (`NAME.part`, then renamed).
    pub inbox: PathBuf,
    /// Where rejected files are moved, with a `.reason` file beside them.
    pub quarantine: PathBuf,
    /// How much the quarantine may hold before its oldest files are pruned.
    pub quarantine_cap: QuarantineCap,
    /// Persistent state: accepted (sealed) snapshots, sequence, mode, audit log.
    pub state: PathBuf,
    /// Plaintext SQLite generations; tmpfs on the appliance (`/run/noodepd`).
    pub runtime: PathBuf,
    /// Local control socket for `noodepd mode` (root only).
    pub control_socket: PathBuf,
    /// Where the box's status document for the publisher is written (`statusfile`);
    /// `None`: not written.
    pub status_file: Option<PathBuf>,
}

/// The quarantine's bound: after each refused file is moved in, the oldest quarantined
/// files (with their `.reason`) are deleted while either limit is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineCap {
    /// Quarantined files, not counting `.reason` files.
    pub max_files: usize,
    /// Bytes of quarantined files and their `.reason` files together.
    pub max_bytes: u64,
}

/// Default `web.max_connections_per_address` (a browser opens about 6; a terminal server
/// carries many nurses' browsers behind one address).
pub(crate) const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 32;
/// Default `data.memory_max_mib`: the `MemoryMax=1G` of image/systemd/noodepd.service.
pub(crate) const DEFAULT_MEMORY_MAX_MIB: u64 = 1024;

/// Default `paths.quarantine_max_files`.
pub(crate) const DEFAULT_QUARANTINE_MAX_FILES: u64 = 100;
/// Default `paths.quarantine_max_bytes` (512 MiB).
pub(crate) const DEFAULT_QUARANTINE_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Accepted range of `paths.quarantine_max_files`.
pub(crate) const QUARANTINE_MAX_FILES_RANGE: std::ops::RangeInclusive<u64> = 1..=100_000;
/// Accepted range of `paths.quarantine_max_bytes`: 1 MiB to 1 TiB.
pub(crate) const QUARANTINE_MAX_BYTES_RANGE: std::ops::RangeInclusive<u64> = (1 << 20)..=(1 << 40);

#[derive(Debug, Clone)]
/// The key files (`[keys]`).
pub struct KeyPaths {
    /// This box's secret decryption key (0600, refused when readable by others).
    pub appliance_key: PathBuf,
    /// The publisher's public signing key: the only key whose snapshots are accepted.
    pub publisher_pub: PathBuf,
    /// The access log's chain key (HMAC-SHA256, see docs/AUDIT.md); by default
    /// `STATE/audit.key`, made by the daemon when the log is not keyed yet.
    pub audit_key: PathBuf,
}

#[derive(Debug, Clone)]
/// The web server (`[web]`).
pub struct WebConfig {
    /// The address and port to listen on (unless systemd passes a socket).
    pub listen: SocketAddr,
    /// TLS certificate chain and key (PEM). Both `None` only when `plain_http`.
    pub tls: Option<TlsPaths>,
    /// Serve plain HTTP (demo / loopback only). Must be explicit.
    pub plain_http: bool,
    /// Serve /metrics to non-loopback clients.
    pub metrics_public: bool,
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// Failed logins that lock one user name (from any address).
    pub lockout_attempts: u32,
    /// Failed logins (of any user names) that lock one client address (IPv6: its /64);
    /// higher than `lockout_attempts`, so one nurse's typos never lock the PC for everyone.
    pub lockout_address_attempts: u32,
    /// How long a lockout lasts.
    pub lockout_duration: Duration,
    /// How long a guest code a coordinator issues stays valid.
    pub guest_code_lifetime: Duration,
    /// Connections held at once, all clients together.
    pub max_connections: usize,
    /// Connections one client address (IPv6: its /64) may hold at once.
    pub max_connections_per_address: usize,
}

#[derive(Debug, Clone)]
/// The TLS certificate chain and its key (PEM files, reloaded on SIGHUP).
pub struct TlsPaths {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The certificate's private key.
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
/// Data handling (`[data]`).
pub struct DataConfig {
    /// Data older than this is shown with a visible warning.
    pub stale_after: Duration,
    /// How far back administrations are shown.
    pub administration_window: Duration,
    /// How far back vital signs and lab results are shown.
    pub observation_window: Duration,
    /// How many accepted sealed snapshots to keep for restart.
    pub keep_snapshots: usize,
    /// The memory the service may use (the unit's `MemoryMax`), bytes; the snapshot caps
    /// are derived from it (`ingest::limits`).
    pub memory_max: u64,
    /// A clinical snapshot with fewer patients than this share (percent) of the served
    /// ward is refused unless sealed with `--allow-shrink`; one with none always is.
    pub min_patient_share_percent: u8,
}

#[derive(Debug, Clone)]
/// The access log (`[audit]`).
pub struct AuditConfig {
    /// Entries older than this may be expired (the expiry itself is logged).
    pub retention: Duration,
    /// How often the chain head is written to journald.
    pub head_to_journal: Duration,
}

const MIN: u64 = 60;
const DAY: u64 = 24 * 3600;

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
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
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
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
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        let invalid = |key: &'static str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            message,
        };
        let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let cred_dir = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        let key_path = |p: PathBuf| match (&cred_dir, p.is_absolute()) {
            (Some(dir), false) => dir.join(p),
            _ => abs(p),
        };

        let a = raw.appliance;
        let ward = a.ward.ok_or_else(|| {
            invalid(
                "appliance.ward",
                "missing: the ward id this box serves".into(),
            )
        })?;
        check_id(&ward).map_err(|m| invalid("appliance.ward", m))?;
        let appliance_id =
            a.id.ok_or_else(|| invalid("appliance.id", "missing: a name for this box".into()))?;
        check_id(&appliance_id).map_err(|m| invalid("appliance.id", m))?;
        let language = match a.language.as_deref().unwrap_or("nl") {
            "nl" => Language::Nl,
            "en" => Language::En,
            other => {
                return Err(invalid(
                    "appliance.language",
                    format!("{other:?}: use \"nl\" or \"en\""),
                ));
            }
        };
        let tzname = a.timezone.unwrap_or_else(|| "Europe/Amsterdam".into());
        let timezone: chrono_tz::Tz = tzname.parse().map_err(|_| {
            invalid(
                "appliance.timezone",
                format!("unknown time zone {tzname:?}"),
            )
        })?;

        let p = raw.paths;
        let state = abs(p.state.unwrap_or_else(|| "/var/lib/noodepd".into()));
        let quarantine_cap = QuarantineCap {
            max_files: bounded(
                p.quarantine_max_files,
                DEFAULT_QUARANTINE_MAX_FILES,
                *QUARANTINE_MAX_FILES_RANGE.start(),
                *QUARANTINE_MAX_FILES_RANGE.end(),
            )
            .and_then(|n| usize::try_from(n).map_err(|e| e.to_string()))
            .map_err(|m| {
                invalid(
                    "paths.quarantine_max_files",
                    format!("{m} (refused files kept in the quarantine)"),
                )
            })?,
            max_bytes: bounded(
                p.quarantine_max_bytes,
                DEFAULT_QUARANTINE_MAX_BYTES,
                *QUARANTINE_MAX_BYTES_RANGE.start(),
                *QUARANTINE_MAX_BYTES_RANGE.end(),
            )
            .map_err(|m| {
                invalid(
                    "paths.quarantine_max_bytes",
                    format!("{m} (bytes: at least 1 MiB = 1048576, at most 1 TiB)"),
                )
            })?,
        };
        let paths = Paths {
            inbox: abs(p.inbox.unwrap_or_else(|| state.join("inbox"))),
            quarantine: abs(p.quarantine.unwrap_or_else(|| state.join("quarantine"))),
            quarantine_cap,
            runtime: abs(p.runtime.unwrap_or_else(|| "/run/noodepd".into())),
            control_socket: abs(p
                .control_socket
                .unwrap_or_else(|| "/run/noodepd/control.sock".into())),
            status_file: p.status_file.map(abs),
            state,
        };

        let k = raw.keys;
        let keys = KeyPaths {
            appliance_key: key_path(k.appliance_key.unwrap_or_else(|| "appliance.key".into())),
            publisher_pub: key_path(k.publisher_pub.unwrap_or_else(|| "publisher.pub".into())),
            // Beside the log by default, so the daemon and root's `noodepd audit` use the
            // same file; set it to keep the key elsewhere (docs/AUDIT.md).
            audit_key: k
                .audit_key
                .map(key_path)
                .unwrap_or_else(|| paths.state.join("audit.key")),
        };

        let w = raw.web;
        let listen_s = w.listen.unwrap_or_else(|| "0.0.0.0:8443".into());
        let listen: SocketAddr = listen_s
            .parse()
            .map_err(|_| invalid("web.listen", format!("{listen_s:?} is not ADDRESS:PORT")))?;
        let plain_http = w.plain_http.unwrap_or(false);
        let tls = match (w.tls_cert, w.tls_key) {
            (Some(c), Some(k)) => Some(TlsPaths {
                cert: key_path(c),
                key: key_path(k),
            }),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "web.tls_cert",
                    "set both tls_cert and tls_key, or neither".into(),
                ));
            }
        };
        if tls.is_none() && !plain_http {
            return Err(invalid(
                "web.tls_cert",
                "no TLS certificate configured; set tls_cert and tls_key (or plain_http = true, for a demo on loopback only)".into(),
            ));
        }
        if tls.is_some() && plain_http {
            return Err(invalid(
                "web.plain_http",
                "plain_http = true together with a TLS certificate: choose one".into(),
            ));
        }
        let lockout_attempts = match w.lockout_attempts.unwrap_or(5) {
            n @ 1..=20 => n,
            n => {
                return Err(invalid(
                    "web.lockout_attempts",
                    format!("{n} is outside 1..=20"),
                ));
            }
        };
        let lockout_address_attempts = match w.lockout_address_attempts.unwrap_or(20) {
            n if n >= lockout_attempts && n <= 1000 => n,
            n => {
                return Err(invalid(
                    "web.lockout_address_attempts",
                    format!(
                        "{n} is outside {lockout_attempts}..=1000 (at least lockout_attempts, so \
                         one user's typos never lock a whole workstation)"
                    ),
                ));
            }
        };
        if w.guest_code_minutes.is_some() && w.event_code_minutes.is_some() {
            return Err(invalid(
                "web.guest_code_minutes",
                "set guest_code_minutes only (event_code_minutes is its old name)".into(),
            ));
        }
        let max_connections = match w.max_connections.unwrap_or(256) {
            n @ 1..=10_000 => n,
            n => {
                return Err(invalid(
                    "web.max_connections",
                    format!("{n} is outside 1..=10000"),
                ));
            }
        };
        let web = WebConfig {
            listen,
            tls,
            plain_http,
            metrics_public: w.metrics_public.unwrap_or(false),
            session_idle: minutes(w.session_idle_minutes, 15, 1, 240)
                .map_err(|m| invalid("web.session_idle_minutes", m))?,
            lockout_attempts,
            lockout_address_attempts,
            lockout_duration: minutes(w.lockout_minutes, 15, 1, 24 * 60)
                .map_err(|m| invalid("web.lockout_minutes", m))?,
            guest_code_lifetime: minutes(
                w.guest_code_minutes.or(w.event_code_minutes),
                12 * 60,
                5,
                72 * 60,
            )
            .map_err(|m| invalid("web.guest_code_minutes", m))?,
            max_connections,
            max_connections_per_address: match w.max_connections_per_address {
                None => max_connections.min(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS),
                Some(n) if (1..=max_connections).contains(&n) => n,
                Some(n) => {
                    return Err(invalid(
                        "web.max_connections_per_address",
                        format!("{n} is outside 1..={max_connections} (max_connections)"),
                    ));
                }
            },
        };

        let d = raw.data;
        let data = DataConfig {
            stale_after: minutes(d.stale_after_minutes, 30, 1, 7 * 24 * 60)
                .map_err(|m| invalid("data.stale_after_minutes", m))?,
            administration_window: Duration::from_secs(
                bounded(d.administration_window_hours, 72, 1, 24 * 14)
                    .map_err(|m| invalid("data.administration_window_hours", m))?
                    * 3600,
            ),
            observation_window: Duration::from_secs(
                bounded(d.observation_window_days, 7, 1, 365)
                    .map_err(|m| invalid("data.observation_window_days", m))?
                    * DAY,
            ),
            keep_snapshots: match d.keep_snapshots.unwrap_or(3) {
                n @ 1..=100 => n,
                n => {
                    return Err(invalid(
                        "data.keep_snapshots",
                        format!("{n} is outside 1..=100"),
                    ));
                }
            },
            memory_max: bounded(d.memory_max_mib, DEFAULT_MEMORY_MAX_MIB, 256, 1 << 20).map_err(
                |m| {
                    invalid(
                        "data.memory_max_mib",
                        format!("{m} (MiB: the service's MemoryMax)"),
                    )
                },
            )? * 1024
                * 1024,
            min_patient_share_percent: match d.min_patient_share_percent.unwrap_or(50) {
                n @ 0..=100 => n,
                n => {
                    return Err(invalid(
                        "data.min_patient_share_percent",
                        format!("{n} is outside 0..=100"),
                    ));
                }
            },
        };

        let drill_max_duration = minutes(raw.drill.max_duration_minutes, 120, 5, 24 * 60)
            .map_err(|m| invalid("drill.max_duration_minutes", m))?;

        let au = raw.audit;
        // Default: 5 years (NEN 7513 guidance for access logs); at least 1 year.
        let audit = AuditConfig {
            retention: Duration::from_secs(
                bounded(au.retention_days, 5 * 365, 365, 100 * 365)
                    .map_err(|m| invalid("audit.retention_days", m))?
                    * DAY,
            ),
            head_to_journal: minutes(au.head_to_journal_minutes, 15, 1, 24 * 60)
                .map_err(|m| invalid("audit.head_to_journal_minutes", m))?,
        };

        let mut workstations = std::collections::BTreeMap::new();
        for (addr, name) in raw.workstations {
            let ip: std::net::IpAddr = addr.parse().map_err(|_| {
                invalid(
                    "workstations",
                    format!("{addr:?} is not an IP address (\"10.20.3.41\" = \"A3 balie\")"),
                )
            })?;
            if name.trim().is_empty()
                || name.chars().count() > 64
                || name.chars().any(crate::text::is_unsafe)
            {
                return Err(invalid(
                    "workstations",
                    format!("the name for {addr} must be 1 to 64 printable characters"),
                ));
            }
            workstations.insert(ip.to_canonical(), name);
        }

        Ok(Config {
            source: path.to_owned(),
            appliance_id,
            ward_name: a.ward_name.unwrap_or_else(|| ward.clone()),
            ward,
            language,
            timezone,
            paths,
            keys,
            web,
            data,
            drill_max_duration,
            audit,
            workstations,
            unknown_keys: unknown,
        })
    }
}

fn bounded(v: Option<u64>, default: u64, min: u64, max: u64) -> Result<u64, String> {
    let v = v.unwrap_or(default);
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside {min}..={max}"))
    }
}

fn minutes(v: Option<u64>, default: u64, min: u64, max: u64) -> Result<Duration, String> {
    bounded(v, default, min, max).map(|m| Duration::from_secs(m * MIN))
}

/// Ids (ward, appliance, user) are short and plain: they end up in file names and logs.
pub(crate) fn check_id(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 64 {
        return Err(format!("{s:?} must be 1 to 64 characters"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || s.starts_with('.')
    {
        return Err(format!(
            "{s:?} may contain only letters, digits, '-', '_' and '.' (not first)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[appliance]\nid = \"box-1\"\nward = \"A3\"\n[web]\nplain_http = true\nlisten = \"127.0.0.1:8080\"\n";

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = Config::from_toml(MINIMAL, Path::new("/etc/noodepd/noodepd.toml")).unwrap();
        assert_eq!(c.ward, "A3");
        assert_eq!(c.web.lockout_attempts, 5);
        assert_eq!(c.web.lockout_address_attempts, 20);
        assert_eq!(c.web.max_connections_per_address, 32);
        assert_eq!(c.data.memory_max, 1024 * 1024 * 1024);
        assert!(c.workstations.is_empty());
        assert_eq!(c.data.administration_window, Duration::from_secs(72 * 3600));
        assert_eq!(c.timezone, chrono_tz::Europe::Amsterdam);
        assert_eq!(
            c.paths.quarantine_cap,
            QuarantineCap {
                max_files: 100,
                max_bytes: 512 * 1024 * 1024
            }
        );
        assert!(c.unknown_keys.is_empty());
    }

    #[test]
    fn quarantine_cap_is_read_and_zero_or_absurd_values_are_refused() {
        let with = |lines: &str| {
            Config::from_toml(&format!("{MINIMAL}[paths]\n{lines}"), Path::new("x.toml"))
        };
        let c = with("quarantine_max_files = 5\nquarantine_max_bytes = 2097152\n").unwrap();
        assert_eq!(c.paths.quarantine_cap.max_files, 5);
        assert_eq!(c.paths.quarantine_cap.max_bytes, 2 * 1024 * 1024);
        for (lines, key) in [
            ("quarantine_max_files = 0\n", "paths.quarantine_max_files"),
            (
                "quarantine_max_files = 100001\n",
                "paths.quarantine_max_files",
            ),
            ("quarantine_max_files = -1\n", "quarantine_max_files"),
            ("quarantine_max_files = \"10\"\n", "quarantine_max_files"),
            ("quarantine_max_bytes = 0\n", "paths.quarantine_max_bytes"),
            (
                "quarantine_max_bytes = 1048575\n",
                "paths.quarantine_max_bytes",
            ),
            (
                "quarantine_max_bytes = 1099511627777\n",
                "paths.quarantine_max_bytes",
            ),
            (
                "quarantine_max_bytes = \"512 MiB\"\n",
                "quarantine_max_bytes",
            ),
            ("quarantine_max_bytes = 1.5e9\n", "quarantine_max_bytes"),
        ] {
            let e = with(lines).unwrap_err().to_string();
            assert!(e.contains(key), "{lines:?}: {e}");
        }
    }

    #[test]
    fn unknown_keys_are_reported_not_fatal() {
        let text = format!("{MINIMAL}lockout_atempts = 3\n[extra]\nx = 1\n");
        let c = Config::from_toml(&text, Path::new("x.toml")).unwrap();
        let mut k = c.unknown_keys.clone();
        k.sort();
        assert_eq!(k, vec!["extra", "web.lockout_atempts"]);
    }

    #[test]
    fn lockout_limits_connection_cap_and_workstations_are_checked() {
        let with =
            |lines: &str| Config::from_toml(&format!("{MINIMAL}{lines}"), Path::new("x.toml"));
        let c = with("lockout_address_attempts = 50\nmax_connections_per_address = 4\nguest_code_minutes = 60\n[workstations]\n\"10.20.3.41\" = \"A3 balie\"\n\"::ffff:10.20.3.42\" = \"A3 tablet\"\n").unwrap();
        assert_eq!(c.web.lockout_address_attempts, 50);
        assert_eq!(c.web.max_connections_per_address, 4);
        assert_eq!(c.web.guest_code_lifetime, Duration::from_secs(3600));
        assert_eq!(
            c.workstations
                .get(&"10.20.3.42".parse().unwrap())
                .map(String::as_str),
            Some("A3 tablet")
        );
        // The old name of the guest code lifetime still works.
        let old = with("event_code_minutes = 30\n").unwrap();
        assert_eq!(old.web.guest_code_lifetime, Duration::from_secs(1800));
        for (lines, key) in [
            (
                "lockout_address_attempts = 3\n",
                "web.lockout_address_attempts",
            ),
            (
                "max_connections_per_address = 0\n",
                "web.max_connections_per_address",
            ),
            (
                "max_connections_per_address = 257\n",
                "web.max_connections_per_address",
            ),
            (
                "guest_code_minutes = 60\nevent_code_minutes = 60\n",
                "web.guest_code_minutes",
            ),
            ("[workstations]\n\"pc-1\" = \"x\"\n", "workstations"),
            ("[workstations]\n\"10.0.0.1\" = \"a\\nb\"\n", "workstations"),
            ("[data]\nmemory_max_mib = 16\n", "data.memory_max_mib"),
        ] {
            let e = with(lines).unwrap_err().to_string();
            assert!(e.contains(key), "{lines:?}: {e}");
        }
    }

    #[test]
    fn refuses_missing_tls_without_explicit_plain_http() {
        let text = "[appliance]\nid = \"b\"\nward = \"A3\"\n";
        let e = Config::from_toml(text, Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().contains("web.tls_cert"), "{e}");
    }

    #[test]
    fn refuses_ward_with_path_characters() {
        let text = MINIMAL.replace("\"A3\"", "\"../etc\"");
        assert!(Config::from_toml(&text, Path::new("x.toml")).is_err());
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn annotated_example_config_is_valid_and_complete() {
        let text = include_str!("../config/noodepd.toml");
        let c = Config::from_toml(text, Path::new("/etc/noodepd/noodepd.toml")).unwrap();
        assert!(c.unknown_keys.is_empty(), "{:?}", c.unknown_keys);
        assert_eq!(c.ward, "A3");
        assert!(c.web.tls.is_some());
    }
}
