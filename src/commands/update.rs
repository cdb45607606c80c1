//! `noodepd update make|verify|install|install-inbox`: the release side makes a signed
//! bundle; the box's privileged `noodepd-update.service` installs bundles from the inbox
//! into the inactive A/B slot (library: `update`).

use crate::cli::{SlotPathArgs, UpdateArgs, UpdateCommand};
use crate::keys::{ReleasePublic, ReleaseSecret};
use crate::update::{ImageVersion, SlotPaths, bundle, install};
use anyhow::{Context as _, bail};
use std::process::ExitCode;

fn slot_paths(a: SlotPathArgs) -> SlotPaths {
    SlotPaths {
        release_pub: a.release_pub,
        os_release: a.os_release,
        running_slot: a.running_slot,
        partitions: a.partitions,
        uki_dir: a.uki_dir,
    }
}

/// Runs `noodepd update`.
pub(crate) fn run(args: UpdateArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        UpdateCommand::Make {
            key,
            version,
            root,
            verity,
            uki,
            out,
        } => {
            let key = ReleaseSecret::read(&key).context("cannot read the release key")?;
            let version = ImageVersion::parse(&version).context("--version")?;
            if !bundle::is_bundle_name(out.file_name().unwrap_or_default()) {
                bail!("--out: a bundle's name ends in {}", bundle::SUFFIX);
            }
            let header = bundle::make(&key, &version, &root, &verity, &uki, &out)
                .with_context(|| format!("cannot make {}", out.display()))?;
            println!(
                "wrote {} (version {}, signed by release key {})",
                out.display(),
                header.version,
                key.key_id().fingerprint()
            );
            Ok(ExitCode::SUCCESS)
        }
        UpdateCommand::Verify {
            bundle: path,
            release_pub,
            newer_than,
        } => {
            let key = ReleasePublic::read(&release_pub).context("cannot read the release key")?;
            let floor = newer_than
                .map(|v| ImageVersion::parse(&v))
                .transpose()
                .context("--newer-than")?;
            let (mut file, len) =
                bundle::open(&path).with_context(|| format!("refused {}", path.display()))?;
            let verified = bundle::verify(&mut file, len, &key, floor.as_ref())
                .with_context(|| format!("refused {}", path.display()))?;
            println!(
                "{}: good bundle, version {}, {} bytes",
                path.display(),
                verified.version,
                len
            );
            Ok(ExitCode::SUCCESS)
        }
        UpdateCommand::Install {
            bundle: path,
            paths,
        } => {
            let done = install::install(&path, &slot_paths(paths))
                .with_context(|| format!("refused {}: nothing made bootable", path.display()))?;
            println!(
                "installed version {} into slot {} ({}, on trial until the daemon is ready)",
                done.version,
                done.slot.name(),
                done.entry.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        UpdateCommand::InstallInbox {
            inbox,
            paths,
            reboot_when_standby,
            result,
        } => {
            crate::logging::init_as("noodepd-update");
            let results = install::install_inbox(&inbox, &slot_paths(paths))
                .with_context(|| format!("cannot work off the bundles in {}", inbox.display()))?;
            let mut installed = false;
            let mut refused = false;
            for r in &results {
                match &r.outcome {
                    Ok(done) => {
                        installed = true;
                        // Also on the unit's console (StandardOutput=journal+console).
                        println!(
                            "NOODEPD-UPDATE {} installed {} slot={}",
                            r.file,
                            done.version,
                            done.slot.name()
                        );
                        log::info!(
                            "update {}: installed version {} into slot {} (on trial)",
                            r.file,
                            done.version,
                            done.slot.name()
                        );
                    }
                    Err(e) => {
                        refused = true;
                        println!("NOODEPD-UPDATE {} refused {}", r.file, e.code());
                        log::error!(
                            "update {} refused ({}): {e}; removed, nothing made bootable",
                            r.file,
                            e.code()
                        );
                    }
                }
            }
            if let Some(path) = &result
                && !results.is_empty()
            {
                let now = chrono::Utc::now();
                let verdicts: Vec<_> = results
                    .iter()
                    .map(|r| crate::update::result::Verdict::of(r, now))
                    .collect();
                // Before any reboot: the daemon of the next boot shows it too.
                if let Err(e) = crate::update::result::write(path, &verdicts) {
                    log::error!(
                        "update: cannot write the result file {}: {e} (the status page will not show this run)",
                        path.display()
                    );
                }
            }
            if installed && let Some(status) = reboot_when_standby {
                reboot_if_standby(&status);
            }
            Ok(if refused {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// The largest status file read for the reboot decision.
const STATUS_MAX: usize = 64 * 1024;

/// The mode the daemon's status file names, when it can be read at all. Only the mode is
/// needed (the full parser is the publisher's, not in the appliance build).
fn status_mode(bytes: Option<&[u8]>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Mode {
        mode: String,
    }
    bytes
        .filter(|b| b.len() <= STATUS_MAX)
        .and_then(|b| serde_json::from_slice::<Mode>(b).ok())
        .map(|s| s.mode)
}

/// Whether the installer may reboot now: only when the status file says standby. A file
/// that is missing, too large, unreadable or names any other mode means "not now": the new
/// image then boots at the next reboot, never in the middle of an outage or a drill.
fn reboot_allowed(bytes: Option<&[u8]>) -> bool {
    status_mode(bytes).as_deref() == Some("standby")
}

/// Reboots into the new slot only while nobody can be reading patient data.
fn reboot_if_standby(status_path: &std::path::Path) {
    let bytes = std::fs::read(status_path).ok();
    let mode = status_mode(bytes.as_deref());
    if reboot_allowed(bytes.as_deref()) {
        log::info!("update: the box is in standby; rebooting into the new image");
        match std::process::Command::new("systemctl")
            .arg("reboot")
            .status()
        {
            Ok(s) if s.success() => {}
            other => log::error!(
                "update: systemctl reboot failed ({other:?}); the new image boots at the next reboot"
            ),
        }
    } else {
        log::info!(
            "update: not rebooting (mode {}): the new image boots at the next reboot",
            mode.as_deref().unwrap_or("unknown")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{STATUS_MAX, reboot_allowed};

    #[test]
    fn the_installer_reboots_only_in_standby() {
        let status = |mode: &str| format!(r#"{{"mode":"{mode}","clock":"2026-12-07T22:00:00Z"}}"#);
        assert!(reboot_allowed(Some(status("standby").as_bytes())));
        for mode in ["emergency", "drill", "Standby", ""] {
            assert!(!reboot_allowed(Some(status(mode).as_bytes())), "{mode}");
        }
        // No file, garbage, no mode, a mode of the wrong type, an oversized file.
        assert!(!reboot_allowed(None));
        assert!(!reboot_allowed(Some(b"not json")));
        assert!(!reboot_allowed(Some(
            br#"{"clock":"2026-12-07T22:00:00Z"}"#
        )));
        assert!(!reboot_allowed(Some(br#"{"mode":1}"#)));
        let mut big = status("standby").into_bytes();
        big.pop();
        big.extend(std::iter::repeat_n(b' ', STATUS_MAX));
        big.push(b'}');
        assert!(!reboot_allowed(Some(&big)));
    }
}
