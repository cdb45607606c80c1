//! The installer: writes a verified bundle into the slot the box is not running and makes
//! that slot bootable once, on trial. Runs as root in `noodepd-update.service`, never in the
//! daemon.
//!
//! Order (each step only after the previous one succeeded):
//! 1. read the pinned release key, the running version (os-release `IMAGE_VERSION`) and the
//!    running slot (`/run/noodepd-slot`, written by the initramfs, which opens whichever
//!    slot's dm-verity matches the root hash on the signed UKI's command line: a UKI, and so
//!    a bundle, is the same for either slot);
//! 2. verify the whole bundle (`bundle::verify`): nothing is written before this passes;
//! 3. remove the target slot's old boot entry, so a half-written slot is never bootable;
//! 4. write the root and verity parts onto the target slot's partitions
//!    (`noodepd-root-SLOT`, `noodepd-verity-SLOT`), hashing what is written, fsync, and read
//!    them back: both hashes must equal the signed header's (a bundle changed after step 2,
//!    or a bad disk, stops here with no boot entry);
//! 5. write the UKI beside its final name, check it the same way, and rename it to
//!    `noodepd-VERSION-SLOT+3.efi`: systemd-boot tries it (three tries) as the newest entry
//!    (entries sort by version, by their os-release and by their names alike), and
//!    systemd-bless-boot renames it to `noodepd-VERSION-SLOT.efi` once the boot was good.

use super::UpdateError;
use super::bundle::{self, Verified};
use super::version::{self, ImageVersion};
use crate::keys::ReleasePublic;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Tries systemd-boot gives a new slot before it falls back.
pub(crate) const BOOT_TRIES: u32 = 3;

/// One of the two root slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    A,
    B,
}

impl Slot {
    /// `a` or `b`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    /// The other slot.
    pub(crate) fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// The running slot from the initramfs's note (`a` or `b`, one line).
    pub(crate) fn from_note(note: &str) -> Result<Slot, UpdateError> {
        match note.trim_end_matches('\n') {
            "a" => Ok(Slot::A),
            "b" => Ok(Slot::B),
            _ => Err(UpdateError::NoActiveSlot(
                "the running-slot note is neither a nor b".into(),
            )),
        }
    }
}

/// Where the installer finds what it needs (from `noodepd update`'s arguments).
#[derive(Debug, Clone)]
pub(crate) struct SlotPaths {
    /// The pinned release public key.
    pub release_pub: PathBuf,
    /// os-release of the running image.
    pub os_release: PathBuf,
    /// The initramfs's note of the running slot (`a` or `b`).
    pub running_slot: PathBuf,
    /// Directory with the partitions by GPT label (`noodepd-root-a`, ...).
    pub partitions: PathBuf,
    /// The ESP's `EFI/Linux` directory (systemd-boot's unified kernel images).
    pub uki_dir: PathBuf,
}

/// What was installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Installed {
    pub version: ImageVersion,
    pub slot: Slot,
    /// The boot entry written (under trial).
    pub entry: PathBuf,
}

/// Verifies `bundle_path` and installs it into the inactive slot (see the module docs).
pub(crate) fn install(bundle_path: &Path, paths: &SlotPaths) -> Result<Installed, UpdateError> {
    let key = ReleasePublic::read(&paths.release_pub)?;
    let installed = version::read_os_release(&paths.os_release)
        .ok_or_else(|| UpdateError::UnknownInstalled(paths.os_release.display().to_string()))?;
    let note = match std::fs::read(&paths.running_slot) {
        Ok(b) if b.len() <= 8 => String::from_utf8_lossy(&b).into_owned(),
        Ok(_) => String::new(),
        Err(e) => {
            return Err(UpdateError::NoActiveSlot(format!(
                "{}: {e} (not an A/B image?)",
                paths.running_slot.display()
            )));
        }
    };
    let target = Slot::from_note(&note)?.other();

    let (mut file, len) = bundle::open(bundle_path)?;
    let verified = bundle::verify(&mut file, len, &key, Some(&installed))?;

    let root_dev = paths
        .partitions
        .join(format!("noodepd-root-{}", target.name()));
    let verity_dev = paths
        .partitions
        .join(format!("noodepd-verity-{}", target.name()));
    for (dev, part) in [(&root_dev, "root"), (&verity_dev, "verity")] {
        let need = verified.part(part).map(|(_, p)| p.size).unwrap_or(u64::MAX);
        let size = target_size(dev)?;
        if size < need {
            return Err(UpdateError::SlotTooSmall {
                target: dev.display().to_string(),
                part: part.to_owned(),
                size,
                need,
            });
        }
    }

    remove_entries(&paths.uki_dir, target)?;
    write_part(&mut file, &verified, "root", &root_dev)?;
    write_part(&mut file, &verified, "verity", &verity_dev)?;

    let tmp = paths
        .uki_dir
        .join(format!(".noodepd-{}.efi.new", target.name()));
    let entry = paths.uki_dir.join(format!(
        "noodepd-{}-{}+{BOOT_TRIES}.efi",
        verified.version,
        target.name()
    ));
    {
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(UpdateError::io_at(&tmp))?;
        let (offset, part) = verified
            .part("uki")
            .ok_or(UpdateError::BadHeader("no uki part".into()))?;
        let digest = bundle::copy_part(&mut file, offset, part.size, &mut out)?;
        out.sync_all().map_err(UpdateError::io_at(&tmp))?;
        check(&digest, part)?;
        check(&bundle::hash_prefix(&tmp, part.size)?, part)?;
    }
    std::fs::rename(&tmp, &entry).map_err(UpdateError::io_at(&entry))?;
    sync_dir(&paths.uki_dir)?;
    Ok(Installed {
        version: verified.version,
        slot: target,
        entry,
    })
}

fn check(digest: &[u8; 32], part: &bundle::Part) -> Result<(), UpdateError> {
    if bundle::hex_digest(digest) == part.sha256 {
        Ok(())
    } else {
        Err(UpdateError::PartChanged(part.name.clone()))
    }
}

/// The size of a partition (block device: its end) or, in tests, a regular file.
fn target_size(dev: &Path) -> Result<u64, UpdateError> {
    let mut f = File::open(dev).map_err(UpdateError::io_at(dev))?;
    f.seek(SeekFrom::End(0)).map_err(UpdateError::io_at(dev))
}

/// Is `name` a boot entry of `slot` (`noodepd-VERSION-SLOT.efi`, with or without a boot
/// counter `+LEFT[-DONE]` before `.efi`)?
pub(crate) fn is_entry_of(name: &str, slot: Slot) -> bool {
    let Some(stem) = name.strip_suffix(".efi") else {
        return false;
    };
    let base = stem.split_once('+').map_or(stem, |(b, _)| b);
    base.strip_prefix("noodepd-")
        .and_then(|r| r.strip_suffix(slot.name()))
        .and_then(|r| r.strip_suffix('-'))
        .is_some_and(|v| ImageVersion::parse(v).is_ok())
}

/// Removes every boot entry of `slot`.
fn remove_entries(uki_dir: &Path, slot: Slot) -> Result<(), UpdateError> {
    let entries = std::fs::read_dir(uki_dir).map_err(UpdateError::io_at(uki_dir))?;
    for entry in entries {
        let entry = entry.map_err(UpdateError::io_at(uki_dir))?;
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| is_entry_of(n, slot)) {
            std::fs::remove_file(entry.path()).map_err(UpdateError::io_at(&entry.path()))?;
        }
    }
    sync_dir(uki_dir)
}

/// Writes one verified part onto its partition and reads it back.
fn write_part(
    file: &mut File,
    verified: &Verified,
    name: &str,
    dev: &Path,
) -> Result<(), UpdateError> {
    let (offset, part) = verified
        .part(name)
        .ok_or_else(|| UpdateError::BadHeader(format!("no {name} part")))?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .open(dev)
        .map_err(UpdateError::io_at(dev))?;
    let digest = {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut out);
        let d = bundle::copy_part(file, offset, part.size, &mut w)?;
        w.flush().map_err(UpdateError::io_at(dev))?;
        d
    };
    out.sync_all().map_err(UpdateError::io_at(dev))?;
    check(&digest, part)?;
    check(&bundle::hash_prefix(dev, part.size)?, part)
}

fn sync_dir(dir: &Path) -> Result<(), UpdateError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(UpdateError::io_at(dir))
}

/// What `install_inbox` did with one bundle.
#[derive(Debug)]
pub(crate) struct InboxResult {
    pub file: String,
    pub outcome: Result<Installed, UpdateError>,
}

/// Installs every bundle in `inbox` (oldest name first; normally there is one) and removes
/// each afterwards, installed or refused: a bundle is as large as the root file system and
/// the state partition is small. A refusal is reported (journal) with its reason.
pub(crate) fn install_inbox(
    inbox: &Path,
    paths: &SlotPaths,
) -> Result<Vec<InboxResult>, UpdateError> {
    let mut names: Vec<_> = std::fs::read_dir(inbox)
        .map_err(UpdateError::io_at(inbox))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| bundle::is_bundle_name(n))
        .collect();
    names.sort();
    let mut results = Vec::new();
    let mut installed_one = false;
    for name in names {
        let path = inbox.join(&name);
        let outcome = if installed_one {
            // The inactive slot now holds the first; a second would overwrite it unbooted.
            Err(UpdateError::OneAtATime)
        } else {
            install(&path, paths)
        };
        installed_one |= outcome.is_ok();
        std::fs::remove_file(&path).map_err(UpdateError::io_at(&path))?;
        results.push(InboxResult {
            file: crate::text::printable(&name.to_string_lossy()).into_owned(),
            outcome,
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_slot_comes_from_the_initramfs_note() {
        assert_eq!(Slot::from_note("a\n").unwrap(), Slot::A);
        assert_eq!(Slot::from_note("b").unwrap(), Slot::B);
        assert!(Slot::from_note("").is_err());
        assert!(Slot::from_note("c\n").is_err());
        assert!(Slot::from_note("a\nb\n").is_err());
        assert_eq!(Slot::A.other(), Slot::B);
    }

    #[test]
    fn boot_entries_of_a_slot_with_and_without_counter() {
        for n in [
            "noodepd-1.0-a.efi",
            "noodepd-2026.12.1-a+3.efi",
            "noodepd-1.2-a+0-3.efi",
        ] {
            assert!(is_entry_of(n, Slot::A), "{n}");
            assert!(!is_entry_of(n, Slot::B), "{n}");
        }
        for n in [
            "noodepd-a.efi",
            "noodepd-x-a.efi",
            "noodepd-1.0-a.conf",
            "other-1.0-a.efi",
            "noodepd-1.0-ab.efi",
        ] {
            assert!(!is_entry_of(n, Slot::A), "{n}");
        }
    }
}
