//! Image updates: the signed update bundle (`bundle`: format, make, verify), image versions
//! (`version`), and the installer (`install`) that writes a verified bundle into the A/B
//! slot the box is not running and makes it bootable once, on trial.
//!
//! The daemon never reads a bundle: it leaves `*.nupd` files in the inbox alone
//! (`ingest::watcher::is_candidate_name`), and the privileged `noodepd-update.service`
//! (started by `noodepd-update.path` when one appears) runs `noodepd update install-inbox`.
//! systemd-boot's boot counting tries the new slot (`noodepd-VERSION-SLOT+3.efi`), and
//! `noodepd-boot-ok.service` lets systemd-bless-boot make it permanent only after the
//! daemon reported READY; otherwise the counter runs out and the old slot boots again.
//! The installer's verdicts reach the daemon's status through `result` (a refused bundle is
//! shown as a refused delivery).

pub(crate) mod bundle;
pub(crate) mod install;
pub(crate) mod result;
pub(crate) mod version;

pub(crate) use bundle::is_bundle_name;
pub(crate) use install::SlotPaths;
pub(crate) use version::ImageVersion;

use crate::keys::KeyId;
use std::path::Path;

/// Why a bundle was refused or could not be installed. Nothing is written to a slot before
/// every check up to `PartMismatch` has passed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpdateError {
    #[error("not an update bundle: {0}")]
    NotABundle(&'static str),
    #[error("the bundle is {size} bytes, more than the {limit} an update may have")]
    TooLarge { size: u64, limit: u64 },
    #[error("the bundle is truncated (incomplete upload?)")]
    Truncated,
    #[error("the bundle has data after its last part")]
    TrailingData,
    #[error("the bundle's header is invalid: {0}")]
    BadHeader(String),
    #[error(
        "the bundle is signed by another release key ({found}); this box trusts only {expected}"
    )]
    WrongKey { found: String, expected: KeyId },
    #[error("the bundle's signature does not verify with this box's release key")]
    BadSignature,
    #[error(
        "the bundle's version {offered} is not newer than the running image {installed}: downgrades and re-installs are refused"
    )]
    NotNewer { offered: String, installed: String },
    #[error("the running image has no IMAGE_VERSION in {0}, so a downgrade cannot be ruled out")]
    UnknownInstalled(String),
    #[error("part {part} is {size} bytes; at most {limit} are allowed")]
    PartSize { part: String, size: u64, limit: u64 },
    #[error("part {0} does not match its SHA-256 in the signed header")]
    PartMismatch(String),
    #[error("part {0} changed while it was read")]
    PartChanged(String),
    #[error("the slot {target} ({size} bytes) is too small for part {part} ({need} bytes)")]
    SlotTooSmall {
        target: String,
        part: String,
        size: u64,
        need: u64,
    },
    #[error("another bundle was installed in this run; deliver one bundle at a time")]
    OneAtATime,
    #[error("cannot tell which slot is running: {0}")]
    NoActiveSlot(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("release key: {0}")]
    Key(#[from] crate::keys::KeyError),
}

impl UpdateError {
    fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> UpdateError {
        move |source| UpdateError::Io {
            what: what.to_owned(),
            source,
        }
    }

    fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> UpdateError + '_ {
        move |source| UpdateError::Io {
            what: path.display().to_string(),
            source,
        }
    }

    /// A stable code for logs and tests.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            UpdateError::NotABundle(_) => "not_a_bundle",
            UpdateError::TooLarge { .. } => "too_large",
            UpdateError::Truncated => "truncated",
            UpdateError::TrailingData => "trailing_data",
            UpdateError::BadHeader(_) => "bad_header",
            UpdateError::WrongKey { .. } => "wrong_release_key",
            UpdateError::BadSignature => "bad_signature",
            UpdateError::NotNewer { .. } => "not_newer",
            UpdateError::UnknownInstalled(_) => "unknown_installed_version",
            UpdateError::PartSize { .. } => "part_too_large",
            UpdateError::PartMismatch(_) => "part_mismatch",
            UpdateError::PartChanged(_) => "part_changed",
            UpdateError::SlotTooSmall { .. } => "slot_too_small",
            UpdateError::OneAtATime => "one_at_a_time",
            UpdateError::NoActiveSlot(_) => "no_active_slot",
            UpdateError::Io { .. } => "io",
            UpdateError::Key(_) => "release_key",
        }
    }
}
