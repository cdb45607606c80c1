//! The local control socket: how root on the box switches the mode (`noodepd mode
//! emergency|drill|standby --reason TEXT`) without the web view.
//!
//! A Unix stream socket at `paths.control_socket`, mode 0600 and owned by the daemon user.
//! It is bound under a temporary name, restricted, and only then renamed into place, so it
//! is never reachable with looser permissions. Each connection's peer is checked with
//! SO_PEERCRED: only uid 0 and the daemon's own uid are served; anyone else gets a refusal,
//! which is also written to the audit log.
//!
//! Protocol: one line of JSON each way.
//! Request `{"mode": "emergency", "reason": "EPD down"}` (unknown fields refused, at most
//! [`MAX_REQUEST`] bytes); reply `{"ok": true, "mode": "emergency", "since": "...",
//! "drill_ends_at": null}` or `{"ok": false, "error": "..."}`. Every switch goes through
//! [`crate::mode::ModeController::set`] with [`Switcher::Console`], so it is audited
//! (durably) before it takes effect.

use crate::app::App;
use crate::audit::{AccessPoint, Action, Event, EventKind, Outcome};
use crate::mode::{MAX_REASON, Mode, Switcher};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::io::{BufRead, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// Largest request line accepted (bytes, including the newline).
pub(crate) const MAX_REQUEST: usize = 4096;
/// Largest reply line the client reads.
const MAX_REPLY: u64 = 64 * 1024;
/// How long one connection may take.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest reason accepted over the socket (room is left for the peer note).
pub(crate) const MAX_SOCKET_REASON: usize = MAX_REASON - 60;
/// Connections handled at once; more wait.
const MAX_CONCURRENT: usize = 4;

/// Errors of the control socket, server and client side.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A socket operation failed.
    #[error("control socket {path}: {source}")]
    Io {
        /// The control socket.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Something other than a socket is at the socket's path; it is left alone.
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Another daemon already listens on the socket.
    #[error("another noodepd is already listening on {path}")]
    InUse {
        /// The control socket.
        path: PathBuf,
    },
    /// No daemon listens (no socket at the path).
    #[error("is noodepd running? no control socket at {path}")]
    NotRunning {
        /// The control socket.
        path: PathBuf,
    },
    /// The caller may not use the socket (root or the noodepd user only).
    #[error("permission denied on {path}: run this as root (or as the noodepd user)")]
    PermissionDenied {
        /// The control socket.
        path: PathBuf,
    },
    /// The daemon did not answer in time.
    #[error("no reply from noodepd on {path} within {0:?}", CONNECTION_TIMEOUT)]
    Timeout {
        /// The control socket.
        path: PathBuf,
    },
    /// The daemon's answer could not be read.
    #[error("unreadable reply from noodepd on {path}: {message}")]
    BadReply {
        /// The control socket.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },
    /// The daemon refused the request; its reason.
    #[error("noodepd refused: {0}")]
    Refused(String),
}

/// A request to switch the mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeRequest {
    /// The mode to switch to.
    pub mode: Mode,
    /// Why (required, one line); recorded in the access log with the switch.
    pub reason: String,
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeReply {
    /// True when the switch was made (and recorded).
    pub ok: bool,
    /// The mode in force after the request.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Since when that mode holds.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// For a drill: when it ends by itself.
    #[serde(default)]
    pub drill_ends_at: Option<DateTime<Utc>>,
    /// Why the switch was refused, for a person.
    #[serde(default)]
    pub error: Option<String>,
}

impl ModeReply {
    fn error(message: impl Into<String>) -> ModeReply {
        ModeReply {
            ok: false,
            mode: None,
            since: None,
            drill_ends_at: None,
            error: Some(message.into()),
        }
    }
}

/// Whether a peer uid may use the socket: root, or the daemon's own user.
pub(crate) fn peer_allowed(peer_uid: u32, own_uid: u32) -> bool {
    peer_uid == 0 || peer_uid == own_uid
}

/// A bound control socket, ready for [`run`].
pub struct ControlListener {
    listener: UnixListener,
    path: PathBuf,
    own_uid: u32,
}

impl ControlListener {}

/// Binds the control socket at `path` (mode 0600). A stale socket left by a previous run
/// is replaced; a live one (another daemon) or a non-socket file is an error.
/// Must be called inside a tokio runtime.
pub(crate) fn bind(path: &Path) -> Result<ControlListener, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        crate::fsutil::create_private_dir_all(dir).map_err(io)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            if !m.file_type().is_socket() {
                return Err(ControlError::NotASocket {
                    path: path.to_owned(),
                });
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ControlError::InUse {
                    path: path.to_owned(),
                });
            }
            std::fs::remove_file(path).map_err(io)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    // Bind under a temporary name, restrict, then rename into place: the final path is
    // never reachable with the umask's permissions.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp).map_err(io)?;
    let finish = || -> std::io::Result<u32> {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        let own_uid = std::fs::symlink_metadata(&tmp)?.uid();
        std::fs::rename(&tmp, path)?;
        Ok(own_uid)
    };
    match finish() {
        Ok(own_uid) => Ok(ControlListener {
            listener,
            path: path.to_owned(),
            own_uid,
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(io(e))
        }
    }
}

/// Binds `shared.config.paths.control_socket` and serves it until `shutdown` completes.
pub async fn serve(
    shared: Arc<App>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ControlError> {
    let listener = bind(&shared.config.paths.control_socket)?;
    run(listener, shared, shutdown).await;
    Ok(())
}

/// Serves a bound control socket until `shutdown` completes, then removes the socket file.
pub async fn run(
    listener: ControlListener,
    shared: Arc<App>,
    shutdown: impl Future<Output = ()> + Send,
) {
    log::info!("control socket listening on {}", listener.path.display());
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let Ok(permit) = limit.clone().acquire_owned().await else { break };
                    let shared = shared.clone();
                    let own_uid = listener.own_uid;
                    tokio::spawn(async move {
                        let _permit = permit;
                        if tokio::time::timeout(
                            CONNECTION_TIMEOUT,
                            handle(stream, shared, own_uid),
                        )
                        .await
                        .is_err()
                        {
                            log::warn!("control socket: a client took too long; closed");
                        }
                    });
                }
                Err(e) => {
                    log::warn!("control socket: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    let _ = std::fs::remove_file(&listener.path);
    log::info!("control socket closed");
}

async fn handle(stream: UnixStream, shared: Arc<App>, own_uid: u32) {
    let cred = stream.peer_cred();
    let (read, mut write) = stream.into_split();
    let reply = match cred {
        Ok(c) if peer_allowed(c.uid(), own_uid) => {
            let peer = format!(
                "uid {}{}",
                c.uid(),
                c.pid().map(|p| format!(", pid {p}")).unwrap_or_default()
            );
            let mut line = Vec::new();
            let mut reader = tokio::io::BufReader::new(read).take(MAX_REQUEST as u64);
            match reader.read_until(b'\n', &mut line).await {
                Ok(_) => match parse_request(&line) {
                    Ok(req) => switch(shared, req, peer).await,
                    Err(message) => ModeReply::error(message),
                },
                Err(e) => ModeReply::error(format!("cannot read request: {e}")),
            }
        }
        Ok(c) => {
            refuse(&shared, c.uid(), c.pid()).await;
            ModeReply::error("permission denied: only root or the noodepd user may switch the mode")
        }
        Err(e) => {
            log::warn!("control socket: cannot read peer credentials: {e}");
            ModeReply::error("permission denied: peer credentials unavailable")
        }
    };
    let mut bytes = serde_json::to_vec(&reply).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
    bytes.push(b'\n');
    if let Err(e) = write.write_all(&bytes).await {
        log::debug!("control socket: cannot send reply: {e}");
    }
    let _ = write.shutdown().await;
}

/// Parses one request line strictly.
pub(crate) fn parse_request(line: &[u8]) -> Result<ModeRequest, String> {
    if line.len() >= MAX_REQUEST && !line.ends_with(b"\n") {
        return Err(format!("request longer than {MAX_REQUEST} bytes"));
    }
    let req: ModeRequest = serde_json::from_slice(line).map_err(|e| {
        format!(
            "request is not {{\"mode\": \"emergency|drill|standby\", \"reason\": \"...\"}}: {e}"
        )
    })?;
    let n = req.reason.trim().chars().count();
    if n == 0 || n > MAX_SOCKET_REASON {
        return Err(format!(
            "a reason is required (1 to {MAX_SOCKET_REASON} characters)"
        ));
    }
    if req.reason.chars().any(char::is_control) {
        return Err("the reason may not contain control characters".into());
    }
    Ok(req)
}

async fn switch(shared: Arc<App>, req: ModeRequest, peer: String) -> ModeReply {
    let reason = format!("{} [control socket, {peer}]", req.reason.trim());
    let mode = req.mode;
    let done = tokio::task::spawn_blocking(move || {
        shared.switch_mode(mode, Switcher::Console, &reason, Utc::now())
    })
    .await;
    match done {
        Ok(Ok(state)) => {
            log::info!(
                "mode switched to {} via the control socket ({peer})",
                state.mode.as_str()
            );
            ModeReply {
                ok: true,
                mode: Some(state.mode),
                since: Some(state.since),
                drill_ends_at: state.drill_ends_at,
                error: None,
            }
        }
        Ok(Err(e)) => {
            log::error!("mode switch via the control socket failed: {e}");
            ModeReply::error(e.to_string())
        }
        Err(e) => {
            log::error!("mode switch task failed: {e}");
            ModeReply::error("internal error; see the daemon's log")
        }
    }
}

async fn refuse(shared: &Arc<App>, uid: u32, pid: Option<i32>) {
    log::warn!(
        "control socket: refused a request from uid {uid} (pid {})",
        pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into())
    );
    let shared = shared.clone();
    let _ = tokio::task::spawn_blocking(move || {
        let mode = shared.mode.current(Utc::now()).mode;
        let event = Event::new(
            EventKind::ModeSwitch,
            Action::E,
            Outcome::MinorFailure,
            mode.as_str(),
            format!("mode switch via control socket refused: peer uid {uid} not allowed"),
        )
        .from(AccessPoint::console());
        // A failure reaches the status and the log through `App::audit`.
        let _ = shared.audit(event);
    })
    .await;
}

/// Client side (used by `noodepd mode`): sends one request and waits for the reply.
pub fn request(path: &Path, req: &ModeRequest) -> Result<ModeReply, ControlError> {
    use std::io::ErrorKind;
    let stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => ControlError::NotRunning {
            path: path.to_owned(),
        },
        ErrorKind::PermissionDenied => ControlError::PermissionDenied {
            path: path.to_owned(),
        },
        _ => ControlError::Io {
            path: path.to_owned(),
            source: e,
        },
    })?;
    let io = |source: std::io::Error| {
        if matches!(source.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            ControlError::Timeout {
                path: path.to_owned(),
            }
        } else {
            ControlError::Io {
                path: path.to_owned(),
                source,
            }
        }
    };
    stream
        .set_read_timeout(Some(CONNECTION_TIMEOUT))
        .map_err(io)?;
    stream
        .set_write_timeout(Some(CONNECTION_TIMEOUT))
        .map_err(io)?;
    let mut line = serde_json::to_vec(req).map_err(|e| ControlError::BadReply {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    line.push(b'\n');
    (&stream).write_all(&line).map_err(io)?;
    let mut reply = Vec::new();
    std::io::BufReader::new(std::io::Read::take(&stream, MAX_REPLY))
        .read_until(b'\n', &mut reply)
        .map_err(io)?;
    let reply: ModeReply = serde_json::from_slice(&reply).map_err(|e| ControlError::BadReply {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if reply.ok {
        Ok(reply)
    } else {
        Err(ControlError::Refused(
            reply.error.unwrap_or_else(|| "no reason given".into()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_and_own_user_are_allowed() {
        assert!(peer_allowed(0, 998));
        assert!(peer_allowed(998, 998));
        assert!(!peer_allowed(1000, 998));
        assert!(!peer_allowed(65534, 0));
    }

    #[test]
    fn requests_are_parsed_strictly() {
        assert_eq!(
            parse_request(b"{\"mode\":\"drill\",\"reason\":\"oefening\"}\n").unwrap(),
            ModeRequest {
                mode: Mode::Drill,
                reason: "oefening".into()
            }
        );
        assert!(parse_request(b"{\"mode\":\"drill\",\"reason\":\"x\",\"user\":\"root\"}").is_err());
        assert!(parse_request(b"{\"mode\":\"party\",\"reason\":\"x\"}").is_err());
        assert!(parse_request(b"{\"mode\":\"drill\",\"reason\":\"  \"}").is_err());
        assert!(parse_request(b"{\"mode\":\"drill\",\"reason\":\"a\\nb\"}").is_err());
        let long = format!(
            "{{\"mode\":\"drill\",\"reason\":\"{}\"}}",
            "x".repeat(MAX_SOCKET_REASON + 1)
        );
        assert!(parse_request(long.as_bytes()).is_err());
    }
}
