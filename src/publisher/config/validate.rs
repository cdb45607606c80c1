//! Checks one raw config section after another into its validated type ([`Validator`]):
//! sources and their authentication, wards and their boxes, with the bounds of every number
//! and the resolution of relative paths (credentials directory or the config's folder).

use super::checks::{check_base_url, check_fhir_id, check_remote_path, check_token, parse_sftp};
use super::raw::{RawAuth, RawBox, RawSource, RawWard};
use super::types::*;
use crate::config::check_id;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// At most this many boxes per ward.
const MAX_BOXES_PER_WARD: usize = 16;

const SECOND: u64 = 1;
const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

pub(super) struct Validator<'a> {
    pub(super) path: &'a Path,
    pub(super) base: PathBuf,
    pub(super) cred_dir: Option<PathBuf>,
}

impl Validator<'_> {
    pub(super) fn invalid(&self, key: impl Into<String>, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            key: key.into(),
            message,
        }
    }

    pub(super) fn abs(&self, p: PathBuf) -> PathBuf {
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    /// A secret's path: relative names are credentials when running under systemd.
    pub(super) fn cred(&self, p: PathBuf) -> PathBuf {
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

    pub(super) fn secs(
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

    pub(super) fn count(
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

    pub(super) fn source(&self, i: usize, s: RawSource) -> Result<SourceConfig, ConfigError> {
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

    pub(super) fn ward(
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
