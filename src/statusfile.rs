//! The box's status file: a small JSON document the daemon writes (atomically, 0640) where
//! the chrooted SFTP `inbox` account can read it, so the publisher collects every box's
//! state over the connection it delivers snapshots on (`noodepd-publisher`'s fleet page).
//!
//! It holds what `/ready` holds plus the software version and the box's clock: ward,
//! appliance id, mode, served sequence and data time, standing problems, the last refusal.
//! Never patient data: ids, codes, times, counts and the operator messages of `status`.
//! The same type is parsed on the publisher side ([`BoxStatus::parse`]), so the two
//! cannot drift apart; `format` changes only when a field's meaning does.

use crate::app::App;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// The document's format version.
pub(crate) const FORMAT: u32 = 1;
/// Largest status file the publisher reads (a box writes well under 8 KiB).
#[cfg(feature = "publisher")]
pub(crate) const MAX_BYTES: usize = 64 * 1024;
/// How often the file is rewritten even when nothing changed (its `clock` stays current).
pub(crate) const REWRITE_EVERY: Duration = Duration::from_secs(30);
/// At most this many problems are written (a box has far fewer codes).
const MAX_PROBLEMS: usize = 32;
/// Operator messages are cut to this many characters.
const MAX_MESSAGE: usize = 500;

/// A standing problem as written in the status file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BoxProblem {
    pub code: String,
    pub message: String,
    pub since: DateTime<Utc>,
}

/// The last refused file as written in the status file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BoxRejection {
    pub file: String,
    pub code: String,
    pub reason: String,
    pub time: DateTime<Utc>,
}

/// The status document (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BoxStatus {
    pub format: u32,
    pub ward: String,
    pub appliance: String,
    /// noodepd version running on the box.
    pub version: String,
    /// The image release the box runs (os-release `IMAGE_VERSION`); absent in status files
    /// of boxes from before image versions, and on a machine that is not an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_version: Option<String>,
    /// The box's clock when it wrote the file.
    pub clock: DateTime<Utc>,
    /// `standby`, `emergency` or `drill`.
    pub mode: String,
    pub mode_since: DateTime<Utc>,
    /// True while clinical data is served.
    pub serving: bool,
    /// The served clinical snapshot's sequence.
    pub sequence: Option<u64>,
    pub data_as_of: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
    /// Patients in the served data (a count).
    pub patients: Option<usize>,
    /// The served data is older than the box's `stale_after_minutes` (or has no age).
    pub stale: bool,
    /// The highest sequence accepted for the ward, of any kind (roster, mode command).
    pub last_sequence: Option<u64>,
    pub roster_staff: usize,
    pub problems: Vec<BoxProblem>,
    pub last_rejection: Option<BoxRejection>,
}

/// Why a status file could not be read (by the publisher).
#[cfg(feature = "publisher")]
#[derive(Debug, thiserror::Error)]
pub(crate) enum StatusFileError {
    #[error("the status file is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("the status file is not a noodepd status document: {0}")]
    Malformed(String),
    #[error("the status file has format {0}; this publisher reads format {FORMAT} (update it)")]
    UnknownFormat(u32),
}

/// The running image's version, read once from /etc/os-release (it is on the read-only root
/// and changes only with a reboot into another slot).
fn image_version() -> Option<String> {
    static VERSION: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    VERSION
        .get_or_init(|| {
            crate::update::version::read_os_release(Path::new("/etc/os-release"))
                .map(|v| v.to_string())
        })
        .clone()
}

fn cut(s: &str) -> String {
    s.chars().take(MAX_MESSAGE).collect()
}

impl BoxStatus {
    /// The status of the running daemon now.
    pub(crate) fn of(shared: &App, now: DateTime<Utc>) -> BoxStatus {
        let generation = shared.store.current();
        let status = shared.status.get();
        let ready = crate::status::ready(
            &shared.config.ward,
            &shared.config.appliance_id,
            shared.config.data.stale_after,
            generation
                .as_deref()
                .map(|g| (g.meta(), g.summaries().len())),
            &shared.mode.current(now),
            &status,
            now,
        );
        BoxStatus {
            format: FORMAT,
            ward: ready.ward,
            appliance: ready.appliance,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            image_version: image_version(),
            clock: now,
            mode: ready.mode.to_owned(),
            mode_since: ready.mode_since,
            serving: ready.ready,
            sequence: ready.sequence,
            data_as_of: ready.data_as_of,
            received_at: ready.received_at,
            patients: ready.patients,
            stale: ready.stale,
            last_sequence: status.last_sequence,
            roster_staff: ready.roster_staff,
            problems: ready
                .problems
                .iter()
                .take(MAX_PROBLEMS)
                .map(|p| BoxProblem {
                    code: p.code.to_owned(),
                    message: cut(&p.message),
                    since: p.since,
                })
                .collect(),
            last_rejection: ready.last_rejection.map(|r| BoxRejection {
                file: cut(&r.file),
                code: r.code,
                reason: cut(&r.reason),
                time: r.time,
            }),
        }
    }

    /// True when `other` says the same as `self` apart from the clock (nothing to rewrite).
    pub(crate) fn same_state(&self, other: &BoxStatus) -> bool {
        let mut o = other.clone();
        o.clock = self.clock;
        *self == o
    }

    /// The JSON written to the file.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Plain data of owned strings, numbers and times: serialising cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Parses a status file read from a box (bounded; unknown fields are allowed so an
    /// older publisher can read a newer box of the same format).
    #[cfg(feature = "publisher")]
    pub(crate) fn parse(bytes: &[u8]) -> Result<BoxStatus, StatusFileError> {
        if bytes.len() > MAX_BYTES {
            return Err(StatusFileError::TooLarge);
        }
        #[derive(Deserialize)]
        struct Head {
            format: u32,
        }
        let head: Head = serde_json::from_slice(bytes)
            .map_err(|e| StatusFileError::Malformed(crate::jsonerr::describe(&e)))?;
        if head.format != FORMAT {
            return Err(StatusFileError::UnknownFormat(head.format));
        }
        serde_json::from_slice(bytes)
            .map_err(|e| StatusFileError::Malformed(crate::jsonerr::describe(&e)))
    }
}

/// Writes `status` to `path`: a temporary file in the same directory, mode 0640 (group:
/// the directory's, which the image makes the inbox account's group), renamed over the old
/// one. Not fsynced: the file is rewritten every second while it differs, so after a power
/// cut it is current again one second after the daemon starts.
pub(crate) fn write(path: &Path, status: &BoxStatus) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        // After creation: the daemon's umask (0077) would strip the group's read bit.
        f.set_permissions(std::fs::Permissions::from_mode(0o640))?;
        f.write_all(&status.to_json())?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Rewrites the status file when its content changed or [`REWRITE_EVERY`] passed; keeps
/// the last written document. Failures are reported once per change of error.
#[derive(Default)]
pub(crate) struct Writer {
    last: Option<(BoxStatus, tokio::time::Instant)>,
    failing: Option<String>,
}

impl Writer {
    /// Called every second by the daemon's timers.
    pub(crate) fn tick(&mut self, shared: &App, path: &Path, now: DateTime<Utc>) {
        let at = tokio::time::Instant::now();
        let status = BoxStatus::of(shared, now);
        let due = match &self.last {
            None => true,
            Some((last, when)) => {
                !last.same_state(&status) || at.duration_since(*when) >= REWRITE_EVERY
            }
        };
        if !due {
            return;
        }
        match write(path, &status) {
            Ok(()) => {
                if self.failing.take().is_some() {
                    log::info!("status file {} written again", path.display());
                }
                self.last = Some((status, at));
            }
            Err(e) => {
                let m = e.to_string();
                if self.failing.as_deref() != Some(m.as_str()) {
                    log::error!(
                        "cannot write the status file {}: {m} (the publisher's fleet page will \
                         show this box's status as old; check the directory exists and is \
                         writable)",
                        path.display()
                    );
                    self.failing = Some(m);
                }
                // Try again on the next tick.
                self.last = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BoxStatus {
        let t = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        BoxStatus {
            format: FORMAT,
            ward: "A3".into(),
            appliance: "a3-box-1".into(),
            version: "0.1.0".into(),
            image_version: Some("2026.12.1".into()),
            clock: t,
            mode: "standby".into(),
            mode_since: t,
            serving: true,
            sequence: Some(7),
            data_as_of: Some(t),
            received_at: Some(t),
            patients: Some(12),
            stale: false,
            last_sequence: Some(8),
            roster_staff: 3,
            problems: vec![BoxProblem {
                code: "key_unusable".into(),
                message: "m".into(),
                since: t,
            }],
            last_rejection: None,
        }
    }

    #[test]
    fn status_document_round_trips_and_unknown_fields_are_allowed() {
        let s = sample();
        assert_eq!(BoxStatus::parse(&s.to_json()).unwrap(), s);
        let mut v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        v["added_later"] = serde_json::json!(1);
        assert_eq!(
            BoxStatus::parse(&serde_json::to_vec(&v).unwrap()).unwrap(),
            s
        );
    }

    /// A status file exactly as a box wrote it before image versions existed: the publisher
    /// must still read it (its image version is then unknown).
    #[test]
    fn status_file_of_a_box_without_image_version_still_reads() {
        let old = br#"{"format":1,"ward":"A3","appliance":"a3-box-1","version":"0.1.0",
            "clock":"2026-11-20T10:00:00Z","mode":"standby","mode_since":"2026-11-20T10:00:00Z",
            "serving":true,"sequence":7,"data_as_of":"2026-11-20T10:00:00Z",
            "received_at":"2026-11-20T10:00:00Z","patients":12,"stale":false,
            "last_sequence":8,"roster_staff":3,"problems":[{"code":"key_unusable",
            "message":"m","since":"2026-11-20T10:00:00Z"}],"last_rejection":null}"#;
        let parsed = BoxStatus::parse(old).unwrap();
        assert_eq!(parsed.image_version, None);
        let mut expected = sample();
        expected.image_version = None;
        assert_eq!(parsed, expected);
        // And a new file carries it under its own name.
        let v: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        assert_eq!(v["image_version"], "2026.12.1");
    }

    #[test]
    fn refuses_other_formats_oversize_and_garbage() {
        let mut v: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        v["format"] = serde_json::json!(2);
        assert!(matches!(
            BoxStatus::parse(&serde_json::to_vec(&v).unwrap()),
            Err(StatusFileError::UnknownFormat(2))
        ));
        assert!(matches!(
            BoxStatus::parse(&vec![b' '; MAX_BYTES + 1]),
            Err(StatusFileError::TooLarge)
        ));
        assert!(matches!(
            BoxStatus::parse(b"{\"format\":1}"),
            Err(StatusFileError::Malformed(_))
        ));
    }

    #[test]
    fn same_state_ignores_only_the_clock() {
        let a = sample();
        let mut b = a.clone();
        b.clock += chrono::Duration::seconds(5);
        assert!(a.same_state(&b));
        b.sequence = Some(8);
        assert!(!a.same_state(&b));
    }

    #[test]
    fn written_file_is_group_readable_and_replaces_the_old_one() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        write(&path, &sample()).unwrap();
        let mut s = sample();
        s.sequence = Some(9);
        write(&path, &s).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            BoxStatus::parse(&std::fs::read(&path).unwrap())
                .unwrap()
                .sequence,
            Some(9)
        );
        assert!(!dir.path().join("status.tmp").exists());
    }
}
