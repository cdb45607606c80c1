//! The publisher's configuration: one TOML file (annotated example: config/publisher.toml),
//! read into raw serde structs and validated into [`PublisherConfig`] (the same "raw →
//! validated, unknown keys warned" shape as the box's `crate::config`).
//!
//! Relative key and credential paths resolve against `$CREDENTIALS_DIRECTORY` when the
//! service runs under systemd with `LoadCredential=` (config/noodepd-publisher.service), other
//! relative paths against the directory holding the config file.
//!
//! Split by job: `raw` (the file's shape), `types` (the validated types and the error),
//! `checks` (single-value syntax), `validate` (section by section). This file reads the
//! file and puts the sections together.

mod checks;
mod raw;
mod types;
mod validate;

pub(crate) use checks::check_base_url;
pub(crate) use types::*;

use checks::check_remote_path;
use raw::RawConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use validate::Validator;

/// At most this many wards in one config.
const MAX_WARDS: usize = 500;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn annotated_example_config_is_valid_and_complete() {
        let text = include_str!("../../../config/publisher.toml");
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
