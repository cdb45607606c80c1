//! Shared harness of the attack suites (`attack_web`, `attack_ingest`): a real ward box
//! (the `noodepd` binary, a generated roster and ward delivered through the inbox, emergency
//! mode switched through the control socket), a cookie-keeping browser that connects from
//! any 127.x.y.z address (each one a different "host" to the daemon), the daemon's memory
//! figures from /proc, and a memory cgroup of the unit's size to run it in when the
//! machine lets us make one.

#![allow(dead_code)]

use crate::e2e_common::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A running ward box and what the tests need of it.
pub(crate) struct WardBox {
    pub w: Ward,
    pub daemon: Proc,
    pub addr: SocketAddr,
    /// The generated staff with their plain codes.
    pub staff: Vec<DemoLogin>,
    /// The generated files (ward bundle, roster JSON).
    pub generated: PathBuf,
    /// The next sequence to seal.
    pub next_seq: u64,
}

impl WardBox {
    /// A box with `web` lines added to its config, a roster (sequence 1) and a generated
    /// ward of `patients` (sequence 2) in force, in emergency mode.
    pub(crate) fn start(web: &str, patients: usize) -> WardBox {
        let w = Ward::with_web("A3", &format!("plain_http = true\n{web}"));
        let generated = w.generate_with_roster(patients, 4711, "A3");
        let staff = read_codes(&generated.join("codes-A3.txt"));
        let roster = w.seal(&generated.join("roster-A3.json"), "A3", 1, "roster");
        let clinical = w.seal(&generated.join("A3.json"), "A3", 2, "clinical");
        let (daemon, addr) = w.serve();
        deliver(&roster, &w.inbox(), "a3-000001-roster.snap");
        deliver(&clinical, &w.inbox(), "a3-000002.snap");
        poll_ready(addr, "roster and ward in force", |j| {
            j["sequence"] == 2 && j["roster_staff"].as_u64().is_some_and(|n| n > 0)
        });
        run_ok(&[
            "mode",
            "emergency",
            "--reason",
            "EPD storing (attack suite)",
            "--config",
            s(&w.config()),
        ]);
        poll_ready(addr, "emergency mode", |j| j["mode"] == "emergency");
        WardBox {
            w,
            daemon,
            addr,
            staff,
            generated,
            next_seq: 3,
        }
    }

    /// The `n`-th staff member with `role` (0-based).
    pub(crate) fn staff(&self, role: &str, n: usize) -> DemoLogin {
        self.staff
            .iter()
            .filter(|l| l.role == role)
            .nth(n)
            .cloned()
            .unwrap_or_else(|| panic!("no {role} number {n} in the demo roster"))
    }

    /// A browser on host `from`.
    pub(crate) fn browser(&self, from: [u8; 4]) -> Browser {
        Browser::new(self.addr, IpAddr::from(from))
    }

    /// Seals `json` as a roster and delivers it; waits until it is in force (`/ready`
    /// shows its staff count and the sequence).
    pub(crate) fn deliver_roster(&mut self, json: &serde_json::Value) {
        let staff = json["staff"].as_array().map_or(0, Vec::len);
        let path = self.w.path().join(format!("roster-{}.json", self.next_seq));
        std::fs::write(&path, serde_json::to_vec(json).unwrap()).unwrap();
        let sealed = self.w.seal(&path, "A3", self.next_seq, "roster");
        let name = format!("a3-{:06}-roster.snap", self.next_seq);
        deliver(&sealed, &self.w.inbox(), &name);
        let seq = self.next_seq;
        self.next_seq += 1;
        poll_ready(self.addr, &format!("roster sequence {seq} in force"), |j| {
            j["roster_staff"] == staff && !self.w.inbox().join(&name).exists()
        });
    }

    /// The daemon's memory figures now.
    pub(crate) fn memory(&self) -> Memory {
        Memory::of(self.daemon.pid())
    }
}

/// VmRSS and VmHWM (peak RSS) of a process, from /proc/PID/status, in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
    pub rss: u64,
    pub peak: u64,
}

impl Memory {
    pub(crate) fn of(pid: i32) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kib = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
                * 1024
        };
        Memory {
            rss: kib("VmRSS:"),
            peak: kib("VmHWM:"),
        }
    }
}

/// Megabytes (MiB) for messages.
pub(crate) fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Connects to `addr` from the local address `from` (any 127.x.y.z on Linux loopback).
pub(crate) fn connect_from(addr: SocketAddr, from: IpAddr) -> std::io::Result<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let s = rt.block_on(async move {
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.bind(SocketAddr::new(from, 0))?;
        tokio::time::timeout(Duration::from_secs(10), sock.connect(addr))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))?
    })?;
    let s = s.into_std()?;
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))?;
    Ok(s)
}

/// A browser on one host: keeps cookies, one connection per request.
#[derive(Debug, Clone)]
pub(crate) struct Browser {
    pub addr: SocketAddr,
    pub from: IpAddr,
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    pub(crate) fn new(addr: SocketAddr, from: IpAddr) -> Browser {
        Browser {
            addr,
            from,
            cookies: BTreeMap::new(),
        }
    }

    /// One request; errors (reset, refused) are returned, never panicked on.
    pub(crate) fn try_request(
        &mut self,
        method: &str,
        path: &str,
        form: &str,
    ) -> std::io::Result<Response> {
        let mut s = connect_from(self.addr, self.from)?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: */*\r\n",
            self.addr
        );
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req.push_str(&format!("Cookie: {}\r\n", c.join("; ")));
        }
        if method == "POST" {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                form.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(form);
        s.write_all(req.as_bytes())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let r = parse_response(&raw)?;
        for c in r.set_cookies() {
            if let Some((k, v)) = c.split_once('=') {
                if v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        Ok(r)
    }

    pub(crate) fn get(&mut self, path: &str) -> Response {
        self.try_request("GET", path, "")
            .unwrap_or_else(|e| panic!("GET {path} from {}: {e}", self.from))
    }

    /// POSTs `fields` with the CSRF token of `page`'s form (fetched first).
    pub(crate) fn post_form(
        &mut self,
        page: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let p = self.get(page);
        let csrf = input_value(&p.text(), "csrf")
            .unwrap_or_else(|| panic!("no csrf token on {page}: {}", p.text()));
        let mut f = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            f.append_pair(k, v);
        }
        f.append_pair("csrf", &csrf);
        let body = f.finish();
        self.try_request("POST", path, &body)
            .unwrap_or_else(|e| panic!("POST {path} from {}: {e}", self.from))
    }

    /// Fetches the login form (pre-login cookie and CSRF token) and returns the body to
    /// POST for `user` and `code`.
    pub(crate) fn login_form(&mut self, user: &str, code: &str) -> String {
        let p = self.get("/login");
        let csrf = input_value(&p.text(), "csrf").expect("csrf on /login");
        form_urlencoded::Serializer::new(String::new())
            .append_pair("user", user)
            .append_pair("code", code)
            .append_pair("csrf", &csrf)
            .finish()
    }

    /// Logs in through the form; returns the answer (303 on success).
    pub(crate) fn login(&mut self, user: &str, code: &str) -> Response {
        let body = self.login_form(user, code);
        self.try_request("POST", "/login", &body)
            .unwrap_or_else(|e| panic!("login from {}: {e}", self.from))
    }

    /// Whether this browser's session still opens the ward overview.
    pub(crate) fn sees_the_ward(&mut self) -> bool {
        let r = self.get("/");
        r.status == 200 && !r.text().contains("name=\"code\"")
    }
}

/// A memory cgroup the daemon can be put in, with its limit, peak and OOM-kill count.
/// cgroup v2 when this machine delegates the memory controller to us, else v1's memory
/// hierarchy; `Err` says why neither can be used.
pub(crate) struct MemCgroup {
    dir: PathBuf,
    v2: bool,
}

impl MemCgroup {
    /// Makes a child cgroup of ours with `limit` bytes of memory (and no swap beyond it).
    pub(crate) fn create(limit: u64) -> Result<MemCgroup, String> {
        let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        let name = format!("noodepd-attack-{}-{}", std::process::id(), unique());
        // cgroup v2: our cgroup must offer the memory controller to its children.
        if let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) {
            // A hybrid machine mounts the v2 hierarchy at /sys/fs/cgroup/unified.
            let root = if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
                Path::new("/sys/fs/cgroup/unified")
            } else {
                Path::new("/sys/fs/cgroup")
            };
            let base = root.join(path.trim_start_matches('/'));
            let v2_reason = Self::try_v2(&base, &name, limit);
            match v2_reason {
                Ok(cg) => return Ok(cg),
                Err(why_v2) => {
                    // cgroup v1 memory hierarchy (hybrid machines).
                    return Self::try_v1(&own, &name, limit)
                        .map_err(|why_v1| format!("cgroup v2: {why_v2}; cgroup v1: {why_v1}"));
                }
            }
        }
        Self::try_v1(&own, &name, limit).map_err(|why| format!("cgroup v1: {why}"))
    }

    fn try_v2(base: &Path, name: &str, limit: u64) -> Result<MemCgroup, String> {
        let controllers = std::fs::read_to_string(base.join("cgroup.controllers"))
            .map_err(|e| format!("{}: {e}", base.join("cgroup.controllers").display()))?;
        if !controllers.split_whitespace().any(|c| c == "memory") {
            return Err(format!(
                "the memory controller is not delegated to {} (controllers: {:?})",
                base.display(),
                controllers.trim()
            ));
        }
        let subtree =
            std::fs::read_to_string(base.join("cgroup.subtree_control")).unwrap_or_default();
        if !subtree.split_whitespace().any(|c| c == "memory") {
            std::fs::write(base.join("cgroup.subtree_control"), "+memory").map_err(|e| {
                format!(
                    "cannot enable memory for children of {} ({e}; a cgroup with processes \
                     of its own cannot, by the no-internal-process rule)",
                    base.display()
                )
            })?;
        }
        let dir = base.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let cg = MemCgroup { dir, v2: true };
        std::fs::write(cg.dir.join("memory.max"), limit.to_string())
            .map_err(|e| format!("memory.max: {e}"))?;
        let _ = std::fs::write(cg.dir.join("memory.swap.max"), "0");
        Ok(cg)
    }

    fn try_v1(own: &str, name: &str, limit: u64) -> Result<MemCgroup, String> {
        let path = own
            .lines()
            .find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
                ctrl.split(',').any(|c| c == "memory").then_some(path)
            })
            .ok_or("no v1 memory hierarchy in /proc/self/cgroup")?;
        let base = Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
        let dir = base.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let cg = MemCgroup { dir, v2: false };
        std::fs::write(cg.dir.join("memory.limit_in_bytes"), limit.to_string())
            .map_err(|e| format!("memory.limit_in_bytes: {e}"))?;
        Ok(cg)
    }

    /// "v2" or "v1" and the cgroup's directory, for the report.
    pub(crate) fn describe(&self) -> String {
        format!(
            "cgroup {} at {}",
            if self.v2 { "v2" } else { "v1" },
            self.dir.display()
        )
    }

    /// Moves process `pid` into the cgroup.
    pub(crate) fn add(&self, pid: i32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("moving {pid} into {}: {e}", self.dir.display()));
    }

    /// The most memory the cgroup ever charged, bytes (page cache of files it wrote
    /// included: an upper bound of what the daemon needed).
    pub(crate) fn peak(&self) -> u64 {
        let f = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        std::fs::read_to_string(self.dir.join(f))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// How many processes the kernel's OOM killer killed in this cgroup.
    pub(crate) fn oom_kills(&self) -> u64 {
        let f = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        std::fs::read_to_string(self.dir.join(f))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        // The processes were killed by their own guards; an empty cgroup can be removed.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
