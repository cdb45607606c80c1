//! Delivery to one box, and collecting its status on the same connection.
//!
//! **SFTP** (the appliance's only transport): OpenSSH's `sftp` in batch mode against the
//! box's chrooted `inbox` account, key only, the host key pinned in a known_hosts file
//! (`StrictHostKeyChecking=yes`, no agent, no user or system ssh config): get the status
//! file, remove a `.part` a failed upload left, put `NAME.part`, rename it to `NAME` — the
//! box reads only complete files. One session per box per cycle, killed after the timeout.
//! Shelling out keeps the transport the one IT already knows and audits (OPERATIONS.md
//! 6.3); the batch file holds only names this module made (ward ids, numbers, paths from
//! the validated config), quoted.
//!
//! **Directory** (a USB stick, a one-way link's spool): `NAME.part`, fsync, rename, fsync
//! the directory. No status comes back that way.

use super::config::{BoxTarget, DeliveryConfig, SftpTarget};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most stderr kept from a failed `sftp` (for the reason shown).
const MAX_STDERR: usize = 4096;

/// A file to deliver.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upload<'a> {
    /// The final name in the inbox (`WARD-SEQUENCE.snap`).
    pub name: &'a str,
    pub bytes: &'a [u8],
}

/// What one session with a box did.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// The connection and login worked (the box answered).
    pub reachable: bool,
    /// The upload, when one was asked for: `Ok` delivered, `Err` why not.
    pub delivered: Option<Result<(), String>>,
    /// The status file's bytes, or why it could not be read (SFTP only).
    pub status: Option<Result<Vec<u8>, String>>,
}

/// One session with `target`: status (SFTP) and, if given, an upload; `stale_part` is a
/// `.part` name an earlier failed upload may have left behind.
pub(crate) async fn session(
    target: &BoxTarget,
    cfg: &DeliveryConfig,
    upload: Option<Upload<'_>>,
    stale_part: Option<&str>,
) -> Session {
    match target {
        BoxTarget::Sftp(t) => sftp_session(t, cfg, upload, stale_part).await,
        BoxTarget::Dir(dir) => {
            let dir = dir.clone();
            let (name, bytes) = match upload {
                Some(u) => (u.name.to_owned(), u.bytes.to_vec()),
                None => {
                    return Session {
                        reachable: dir.is_dir(),
                        ..Session::default()
                    };
                }
            };
            let stale = stale_part.map(str::to_owned);
            let r = tokio::task::spawn_blocking(move || {
                write_to_dir(&dir, &name, &bytes, stale.as_deref())
            })
            .await
            .unwrap_or_else(|e| Err(format!("delivery task failed: {e}")));
            Session {
                reachable: r.is_ok(),
                delivered: Some(r),
                status: None,
            }
        }
    }
}

/// Writes `NAME.part`, fsyncs, renames to `NAME`, fsyncs the directory.
fn write_to_dir(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    stale_part: Option<&str>,
) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(p) = stale_part {
        let _ = std::fs::remove_file(dir.join(p));
    }
    let part = dir.join(format!("{name}.part"));
    let fin = dir.join(name);
    let r = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&part)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&part, &fin)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    r.map_err(|e| {
        let _ = std::fs::remove_file(&part);
        format!("cannot write {}: {e}", part.display())
    })
}

/// `"text"` for an sftp batch line (names here never hold quotes or newlines).
fn quoted(s: &str) -> Result<String, String> {
    if s.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(format!("{s:?} cannot be used in an sftp batch"));
    }
    Ok(format!("\"{s}\""))
}

/// The batch file's lines.
fn batch(
    t: &SftpTarget,
    local_status: &Path,
    local_upload: Option<(&Path, &str)>,
    stale_part: Option<&str>,
) -> Result<String, String> {
    let path = |p: &Path| quoted(&p.to_string_lossy());
    let mut b = String::new();
    // A failed `get` must not stop the upload (an old box writes no status file).
    b.push_str(&format!(
        "-get {} {}\n",
        quoted(&t.status_path)?,
        path(local_status)?
    ));
    if let Some(p) = stale_part {
        b.push_str(&format!("-rm {}\n", quoted(p)?));
    }
    if let Some((local, name)) = local_upload {
        let part = format!("{name}.part");
        b.push_str(&format!("put {} {}\n", path(local)?, quoted(&part)?));
        b.push_str(&format!("rename {} {}\n", quoted(&part)?, quoted(name)?));
    }
    Ok(b)
}

/// The `sftp` arguments: batch mode, the upload key only, the pinned host keys only.
fn sftp_args(t: &SftpTarget, batch_file: &Path, timeout: Duration) -> Vec<String> {
    let connect = timeout.as_secs().clamp(1, 30);
    let dest = if t.host.contains(':') {
        format!("{}@[{}]", t.user, t.host)
    } else {
        format!("{}@{}", t.user, t.host)
    };
    // No -q: it silences ssh's own errors ("Host key verification failed"), the useful part.
    let mut a: Vec<String> = vec!["-b".into(), batch_file.to_string_lossy().into_owned()];
    for o in [
        "BatchMode=yes".to_owned(),
        "StrictHostKeyChecking=yes".to_owned(),
        format!("UserKnownHostsFile={}", t.known_hosts.display()),
        "GlobalKnownHostsFile=/dev/null".to_owned(),
        "UpdateHostKeys=no".to_owned(),
        "IdentitiesOnly=yes".to_owned(),
        "IdentityAgent=none".to_owned(),
        "PasswordAuthentication=no".to_owned(),
        "KbdInteractiveAuthentication=no".to_owned(),
        format!("ConnectTimeout={connect}"),
        "ServerAliveInterval=10".to_owned(),
        "ServerAliveCountMax=3".to_owned(),
        "LogLevel=ERROR".to_owned(),
    ] {
        a.push("-o".into());
        a.push(o);
    }
    a.extend([
        "-F".into(),
        "none".into(),
        "-i".into(),
        t.identity.to_string_lossy().into_owned(),
        "-P".into(),
        t.port.to_string(),
        dest,
    ]);
    a
}

async fn sftp_session(
    t: &SftpTarget,
    cfg: &DeliveryConfig,
    upload: Option<Upload<'_>>,
    stale_part: Option<&str>,
) -> Session {
    let fail = |m: String| Session {
        reachable: false,
        delivered: upload.map(|_| Err(m.clone())),
        status: Some(Err(m)),
    };
    let tmp = match tempfile::Builder::new()
        .prefix("noodepd-publisher-")
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => return fail(format!("cannot make a temporary directory: {e}")),
    };
    let status_local = tmp.path().join("status.json");
    let upload_local: Option<(PathBuf, &str)> = match upload {
        Some(u) => {
            let p = tmp.path().join("upload.snap");
            if let Err(e) = std::fs::write(&p, u.bytes) {
                return fail(format!("cannot stage the upload: {e}"));
            }
            Some((p, u.name))
        }
        None => None,
    };
    let text = match batch(
        t,
        &status_local,
        upload_local.as_ref().map(|(p, n)| (p.as_path(), *n)),
        stale_part,
    ) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let batch_file = tmp.path().join("batch");
    if let Err(e) = std::fs::write(&batch_file, text) {
        return fail(format!("cannot write the sftp batch: {e}"));
    }
    let mut cmd = tokio::process::Command::new(&cfg.sftp_program);
    cmd.args(sftp_args(t, &batch_file, cfg.timeout))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let run = async {
        let child = cmd.spawn().map_err(|e| {
            format!(
                "cannot run {}: {e} (install openssh-client)",
                cfg.sftp_program.display()
            )
        })?;
        child
            .wait_with_output()
            .await
            .map_err(|e| format!("sftp failed: {e}"))
    };
    let out = match tokio::time::timeout(cfg.timeout, run).await {
        Err(_) => return fail(format!("no answer within {:?} (sftp killed)", cfg.timeout)),
        Ok(Err(e)) => return fail(e),
        Ok(Ok(o)) => o,
    };
    let status = match std::fs::read(&status_local) {
        Ok(b) => Ok(b),
        Err(_) => Err(format!(
            "no status file at {} (a box before this version, or not provisioned with \
             status_file)",
            t.status_path
        )),
    };
    if out.status.success() {
        return Session {
            reachable: true,
            delivered: upload.map(|_| Ok(())),
            status: Some(status),
        };
    }
    let reason = stderr_reason(&out.stderr);
    // The status arrived: the login worked and the upload itself failed.
    let reachable = status.is_ok();
    Session {
        reachable,
        delivered: upload.map(|_| Err(reason.clone())),
        status: Some(if reachable { status } else { Err(reason) }),
    }
}

/// The last meaningful lines of sftp's stderr, one line, bounded.
fn stderr_reason(stderr: &[u8]) -> String {
    let tail = &stderr[stderr.len().saturating_sub(MAX_STDERR)..];
    let text = String::from_utf8_lossy(tail);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("sftp>"))
        .collect();
    let joined = lines
        .iter()
        .rev()
        .take(2)
        .rev()
        .copied()
        .collect::<Vec<_>>()
        .join("; ");
    let mut r: String = joined
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    if r.is_empty() {
        r = "sftp failed without a message".into();
    }
    if r.contains("Host key verification failed") || r.contains("REMOTE HOST IDENTIFICATION") {
        r.push_str(" — the box's host key is not the pinned one (known_hosts): a re-installed box, or not the box");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> SftpTarget {
        SftpTarget {
            user: "inbox".into(),
            host: "fd00::1".into(),
            port: 2222,
            identity: "/creds/upload_ed25519".into(),
            known_hosts: "/etc/noodepd-publisher/known_hosts".into(),
            status_path: "/status/status.json".into(),
        }
    }

    #[test]
    fn batch_gets_status_first_then_uploads_as_part_and_renames() {
        let b = batch(
            &target(),
            Path::new("/tmp/x/status.json"),
            Some((Path::new("/tmp/x/upload.snap"), "A3-17.snap")),
            Some("A3-16.snap.part"),
        )
        .unwrap();
        assert_eq!(
            b,
            "-get \"/status/status.json\" \"/tmp/x/status.json\"\n\
             -rm \"A3-16.snap.part\"\n\
             put \"/tmp/x/upload.snap\" \"A3-17.snap.part\"\n\
             rename \"A3-17.snap.part\" \"A3-17.snap\"\n"
        );
        assert!(batch(&target(), Path::new("/tmp/a\"b"), None, None).is_err());
    }

    #[test]
    fn sftp_pins_host_keys_and_uses_no_agent_or_config() {
        let a = sftp_args(&target(), Path::new("/tmp/b"), Duration::from_secs(60)).join(" ");
        for want in [
            "StrictHostKeyChecking=yes",
            "UserKnownHostsFile=/etc/noodepd-publisher/known_hosts",
            "GlobalKnownHostsFile=/dev/null",
            "IdentityAgent=none",
            "BatchMode=yes",
            "-F none",
            "-P 2222",
            "inbox@[fd00::1]",
        ] {
            assert!(a.contains(want), "{want} in {a}");
        }
    }

    #[test]
    fn directory_delivery_renames_a_complete_file_and_removes_a_stale_part() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("A3-1.snap.part"), b"half").unwrap();
        write_to_dir(d.path(), "A3-2.snap", b"sealed", Some("A3-1.snap.part")).unwrap();
        let names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["A3-2.snap"]);
        assert!(write_to_dir(Path::new("/nonexistent/x"), "A3-3.snap", b"x", None).is_err());
    }

    #[test]
    fn host_key_mismatch_is_explained() {
        let r = stderr_reason(b"sftp> -get x\nHost key verification failed.\nConnection closed\n");
        assert!(r.contains("pinned"), "{r}");
    }
}
