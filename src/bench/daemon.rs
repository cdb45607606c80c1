//! The daemon under test: a temp-dir config (plain HTTP on 127.0.0.1, a free port), the
//! mode set to drill before start, `noodepd serve --config FILE` spawned as a child (the
//! running binary itself), `/ready` polling, peak RSS from `/proc/PID/status`, and a clean
//! stop (SIGTERM via `kill`, SIGKILL after a grace period).
//!
//! The child's stdout and stderr go to `DIR/daemon.log` (operator logs, no patient data),
//! whose tail is quoted when the daemon fails to come up.

use super::BenchError;
use super::data::Keys;
use super::http::{self, Conn};
use crate::audit::AuditLog;
use crate::mode::{Mode, ModeController, Switcher};
use chrono::Utc;
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How often `/ready` is polled.
pub(crate) const POLL: Duration = Duration::from_millis(2);
/// How long a stopping daemon gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// A free TCP port on 127.0.0.1 (bound and released; a tiny race is acceptable here).
pub(crate) fn free_port() -> Result<u16, BenchError> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| BenchError::Daemon(format!("no free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| BenchError::Daemon(format!("no free port: {e}")))
}

/// The files and directories of one daemon instance.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub config: PathBuf,
    pub inbox: PathBuf,
    pub log: PathBuf,
    pub addr: SocketAddr,
}

/// Writes a config for a daemon in `root` serving `ward` with `keys`, and switches its
/// persisted mode to drill (recorded in its audit log, as `noodepd mode drill` would).
pub(crate) fn prepare(root: &Path, ward: &str, keys: &Keys) -> Result<Setup, BenchError> {
    let dirs = ["inbox", "quarantine", "state", "runtime"];
    for d in dirs {
        let p = root.join(d);
        std::fs::create_dir_all(&p).map_err(BenchError::io(&p))?;
    }
    let port = free_port()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let appliance = format!("bench-{}", ward.to_ascii_lowercase());
    let config = root.join("noodepd.toml");
    let q = |p: &Path| toml_string(&p.to_string_lossy());
    // Every load-generator client connects from loopback, one address: without raising
    // `max_connections_per_address` (default 32) half of the 64-client cell is refused
    // with 503 and the cell measures 32 clients plus fast refusals.
    let text = format!(
        "# Written by noodepd bench.\n\
         [appliance]\nid = {id}\nward = {ward}\nward_name = {ward_name}\n\n\
         [paths]\nstate = {state}\ninbox = {inbox}\nquarantine = {quarantine}\n\
         runtime = {runtime}\ncontrol_socket = {socket}\n\n\
         [keys]\nappliance_key = {akey}\npublisher_pub = {ppub}\n\n\
         [web]\nlisten = {listen}\nplain_http = true\nmax_connections = 256\n\
         max_connections_per_address = 256\n\n\
         [data]\nmemory_max_mib = {memory}\n",
        id = toml_string(&appliance),
        ward = toml_string(ward),
        ward_name = toml_string(&format!("Bench {ward}")),
        state = q(&root.join("state")),
        inbox = q(&root.join("inbox")),
        quarantine = q(&root.join("quarantine")),
        runtime = q(&root.join("runtime")),
        socket = q(&root.join("control.sock")),
        akey = q(&keys.appliance_key_path),
        ppub = q(&keys.publisher_pub_path),
        listen = toml_string(&addr.to_string()),
        memory = super::data::BENCH_MEMORY_MAX_MIB,
    );
    std::fs::write(&config, text).map_err(BenchError::io(&config))?;
    let state = root.join("state");
    {
        let audit = AuditLog::open(&state, &appliance, ward)?;
        let modes = ModeController::load(&state, Duration::from_secs(2 * 3600))?;
        modes.set(&audit, Mode::Drill, Switcher::Console, "bench", Utc::now())?;
    }
    Ok(Setup {
        config,
        inbox: root.join("inbox"),
        log: root.join("daemon.log"),
        addr,
    })
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The fields of `/ready` the bench reads.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ReadyDoc {
    pub ready: bool,
    pub mode: String,
    pub sequence: Option<u64>,
    #[serde(default)]
    pub roster_staff: usize,
    pub problem: Option<String>,
}

/// GET /ready on an open connection.
pub(crate) async fn ready(conn: &mut Conn) -> Result<ReadyDoc, BenchError> {
    let host = conn.addr().to_string();
    let r = conn.request(&http::get("/ready", &host, "")).await?;
    serde_json::from_slice(&r.body).map_err(|e| {
        BenchError::Daemon(format!(
            "/ready answered {} with a body that is not the /ready document: {e}",
            r.status
        ))
    })
}

/// A running daemon.
pub(crate) struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    /// When `spawn` was called.
    pub spawned_at: Instant,
}

impl Daemon {
    /// Starts `exe serve --config CONFIG`.
    pub(crate) fn spawn(exe: &Path, setup: &Setup) -> Result<Daemon, BenchError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&setup.log)
            .map_err(BenchError::io(&setup.log))?;
        let log2 = log.try_clone().map_err(BenchError::io(&setup.log))?;
        let spawned_at = Instant::now();
        let child = Command::new(exe)
            .arg("serve")
            .arg("--config")
            .arg(&setup.config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .spawn()
            .map_err(|e| BenchError::Daemon(format!("cannot start {}: {e}", exe.display())))?;
        Ok(Daemon {
            child,
            addr: setup.addr,
            log: setup.log.clone(),
            spawned_at,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size (VmHWM), KiB.
    pub(crate) fn vm_hwm_kib(&self) -> Option<u64> {
        vm_hwm_kib(self.pid())
    }

    /// The last lines of the daemon's log.
    pub(crate) fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// Fails when the child has exited.
    pub(crate) fn check_alive(&mut self) -> Result<(), BenchError> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(BenchError::Daemon(format!(
                "noodepd serve exited ({status}); its log ends: {}",
                self.log_tail()
            ))),
            Ok(None) => Ok(()),
            Err(e) => Err(BenchError::Daemon(format!("cannot watch the daemon: {e}"))),
        }
    }

    /// Polls `/ready` every [`POLL`] until `done` holds; returns the document and the time
    /// since `since`.
    pub(crate) async fn wait_until(
        &mut self,
        since: Instant,
        timeout: Duration,
        mut done: impl FnMut(&ReadyDoc) -> bool,
    ) -> Result<(ReadyDoc, Duration), BenchError> {
        let mut conn: Option<Conn> = None;
        let mut last = String::from("no answer yet");
        loop {
            if since.elapsed() > timeout {
                return Err(BenchError::Daemon(format!(
                    "not ready within {} s (last /ready: {last}); its log ends: {}",
                    timeout.as_secs(),
                    self.log_tail()
                )));
            }
            self.check_alive()?;
            if conn.is_none() {
                conn = Conn::connect(self.addr).await.ok();
            }
            if let Some(c) = conn.as_mut() {
                match ready(c).await {
                    Ok(doc) => {
                        if done(&doc) {
                            return Ok((doc, since.elapsed()));
                        }
                        last = format!(
                            "ready={} mode={} sequence={:?} roster_staff={} problem={:?}",
                            doc.ready, doc.mode, doc.sequence, doc.roster_staff, doc.problem
                        );
                    }
                    Err(e) => {
                        last = e.to_string();
                        conn = None;
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the daemon: SIGTERM, then SIGKILL after a grace period.
    pub(crate) fn stop(mut self) -> Result<(), BenchError> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return Ok(());
        }
        // The child is ours and not yet reaped (try_wait above), so its pid is still its own.
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::TERM,
        );
        let t = Instant::now();
        while t.elapsed() < STOP_GRACE {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(BenchError::Daemon(format!(
            "noodepd serve did not stop within {} s of SIGTERM (killed)",
            STOP_GRACE.as_secs()
        )))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A daemon left running by an error path: never leave it behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// VmHWM of a process, KiB.
pub(crate) fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let v = l.strip_prefix("VmHWM:")?;
        v.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The last 15 lines of a log file, on one line.
pub(crate) fn log_tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(15);
    let tail = lines.get(from..).unwrap_or_default().join(" | ");
    if tail.is_empty() {
        "(empty)".into()
    } else {
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_escape_quotes_and_backslashes() {
        assert_eq!(toml_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn reads_own_peak_rss() {
        let kib = vm_hwm_kib(std::process::id()).unwrap();
        assert!(kib > 100, "{kib}");
    }
}
