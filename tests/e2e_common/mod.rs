//! Shared harness for the end-to-end tests: the real `noodepd` binary run as a child
//! process (killed on drop, so no process outlives a test), its output collected line by
//! line, the CLI run as IT would run it, a tiny blocking HTTP/1.1 client over real TCP to
//! 127.0.0.1, bounded polling, and a complete ward set-up made through the CLI (keygen,
//! generate, seal) with a config the test writes (plain HTTP on 127.0.0.1, port 0).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The bound for every wait: generous, since the machine is shared; never a timing assertion.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// The binary under test.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_noodepd")
}

/// A `Command` for the binary with the systemd and logging environment cleared, so a test
/// run under systemd or with credentials set behaves like one on a plain shell.
pub(crate) fn noodepd() -> Command {
    let mut c = Command::new(bin());
    for v in [
        "NOTIFY_SOCKET",
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "JOURNAL_STREAM",
        "CREDENTIALS_DIRECTORY",
        "NOODEPD_LOG",
    ] {
        c.env_remove(v);
    }
    c.stdin(Stdio::null());
    c
}

/// Runs a CLI command to completion (bounded) and returns its output.
pub(crate) fn run(args: &[&str]) -> Output {
    let mut c = noodepd();
    c.args(args);
    run_cmd(c)
}

/// Runs a prepared command to completion, killing it if it takes longer than [`WAIT`].
pub(crate) fn run_cmd(mut c: Command) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = c.spawn().expect("spawn noodepd");
    let mut guard = Proc::adopt(child);
    let status = guard
        .wait_exit(WAIT * 4)
        .unwrap_or_else(|| panic!("{c:?} did not finish within {:?}", WAIT * 4));
    // Let the reader threads drain the pipes.
    guard.join_readers();
    Output {
        status,
        stdout: guard.stdout().join("\n").into_bytes(),
        stderr: guard.stderr().join("\n").into_bytes(),
    }
}

/// Runs a CLI command and panics with its output unless it exits 0. Returns stdout.
pub(crate) fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "noodepd {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Path to a string argument.
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[derive(Default)]
struct Lines {
    out: Vec<String>,
    err: Vec<String>,
}

/// A running child process whose stdout and stderr are collected line by line. Dropping
/// it kills the process (SIGKILL) and reaps it.
pub(crate) struct Proc {
    child: Child,
    lines: Arc<(Mutex<Lines>, Condvar)>,
    readers: Vec<std::thread::JoinHandle<()>>,
    exited: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `c` with piped output.
    pub(crate) fn spawn(mut c: Command) -> Proc {
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = c.spawn().expect("spawn noodepd");
        Proc::adopt(child)
    }

    fn adopt(mut child: Child) -> Proc {
        let lines: Arc<(Mutex<Lines>, Condvar)> = Arc::default();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            let l = lines.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    l.0.lock().unwrap().out.push(line);
                    l.1.notify_all();
                }
            }));
        }
        if let Some(err) = child.stderr.take() {
            let l = lines.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    l.0.lock().unwrap().err.push(line);
                    l.1.notify_all();
                }
            }));
        }
        Proc {
            child,
            lines,
            readers,
            exited: None,
        }
    }

    /// The child's pid.
    pub(crate) fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// Stdout lines so far.
    pub(crate) fn stdout(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().out.clone()
    }

    /// Stderr lines so far.
    pub(crate) fn stderr(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().err.clone()
    }

    /// Everything the process printed, for failure messages.
    pub(crate) fn transcript(&self) -> String {
        let l = self.lines.0.lock().unwrap();
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            l.out.join("\n"),
            l.err.join("\n")
        )
    }

    /// Waits (bounded by [`WAIT`]) for a line on stdout or stderr for which `f` returns
    /// `Some`, and returns that value. Panics with the transcript when none comes.
    pub(crate) fn wait_for_line<T>(&mut self, what: &str, f: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        let mut guard = self.lines.0.lock().unwrap();
        loop {
            if let Some(v) = guard.out.iter().chain(guard.err.iter()).find_map(|l| f(l)) {
                return v;
            }
            let now = Instant::now();
            if now >= deadline {
                drop(guard);
                panic!("no {what} within {WAIT:?}\n{}", self.transcript());
            }
            let (g, _) = self
                .lines
                .1
                .wait_timeout(guard, (deadline - now).min(Duration::from_millis(200)))
                .unwrap();
            guard = g;
            if self.exited.is_none()
                && let Ok(Some(st)) = self.child.try_wait()
            {
                self.exited = Some(st);
            }
            if self.exited.is_some() {
                // Last chance: the pipes may still hold the line.
                let found = guard.out.iter().chain(guard.err.iter()).find_map(|l| f(l));
                if let Some(v) = found {
                    return v;
                }
                drop(guard);
                for r in std::mem::take(&mut self.readers) {
                    let _ = r.join();
                }
                let l = self.lines.0.lock().unwrap();
                if let Some(v) = l.out.iter().chain(l.err.iter()).find_map(|l| f(l)) {
                    return v;
                }
                drop(l);
                panic!(
                    "process exited ({:?}) before {what}\n{}",
                    self.exited,
                    self.transcript()
                );
            }
        }
    }

    /// The address from the daemon's "listening on 127.0.0.1:PORT" log line.
    pub(crate) fn wait_listening(&mut self) -> SocketAddr {
        self.wait_for_line("\"listening on ADDR\" log line", |l| {
            let rest = l.split("listening on ").nth(1)?;
            let addr = rest.split(|c: char| c.is_whitespace() || c == ',').next()?;
            addr.parse().ok()
        })
    }

    /// Sends a signal.
    pub(crate) fn signal(&self, sig: i32) {
        let r = send_signal(self.pid(), sig);
        assert!(r, "kill({}, {sig}) failed", self.pid());
    }

    /// Waits up to `limit` for the process to exit.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        if let Some(st) = self.exited {
            return Some(st);
        }
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exited = Some(st);
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGKILL and reap.
    pub(crate) fn kill9(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            if let Ok(st) = self.child.wait() {
                self.exited = Some(st);
            }
        }
        self.join_readers();
    }

    fn join_readers(&mut self) {
        for r in std::mem::take(&mut self.readers) {
            let _ = r.join();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `kill(pid, sig)`; true on success (false also for a pid or signal number that is not
/// one).
pub(crate) fn send_signal(pid: i32, sig: i32) -> bool {
    use rustix::process::{Pid, Signal, kill_process};
    match (Pid::from_raw(pid), Signal::from_named_raw(sig)) {
        (Some(pid), Some(sig)) => kill_process(pid, sig).is_ok(),
        _ => false,
    }
}

/// An HTTP response.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this (case-insensitive) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// `GET path` over a new TCP connection (HTTP/1.1, `Connection: close`).
pub(crate) fn get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// Parses an HTTP/1.1 response (content-length, chunked, or read-to-close body).
pub(crate) fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        let mut body = Vec::new();
        let mut r = rest;
        loop {
            let nl = r
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| bad("bad chunk"))?;
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&r[..nl])
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .map_err(|_| bad("bad chunk size"))?;
            r = &r[nl + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(r.get(..size).ok_or_else(|| bad("short chunk"))?);
            r = r.get(size + 2..).ok_or_else(|| bad("short chunk"))?;
        }
        body
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `GET /ready` as JSON (panics when the daemon does not answer).
pub(crate) fn ready(addr: SocketAddr) -> serde_json::Value {
    let r = get(addr, "/ready").unwrap_or_else(|e| panic!("GET /ready on {addr}: {e}"));
    r.json()
}

/// Polls `f` until it returns `Some` or [`WAIT`] passes; panics with `what` and the last
/// observation otherwise.
pub(crate) fn poll<T>(what: &str, f: impl FnMut() -> Result<T, String>) -> T {
    poll_for(WAIT, what, f)
}

/// As [`poll`] with another bound.
pub(crate) fn poll_for<T>(
    limit: Duration,
    what: &str,
    mut f: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) => {
                if Instant::now() >= deadline {
                    panic!("{what}: not reached within {limit:?}; last seen: {last}");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `/ready` to satisfy `pred` and returns it.
pub(crate) fn poll_ready(
    addr: SocketAddr,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    poll(what, || match get(addr, "/ready") {
        Ok(r) if r.status == 200 || r.status == 503 => {
            let j: serde_json::Value =
                serde_json::from_slice(&r.body).map_err(|e| format!("{e}: {}", r.text()))?;
            if pred(&j) { Ok(j) } else { Err(j.to_string()) }
        }
        Ok(r) => Err(format!("status {}: {}", r.status, r.text())),
        Err(e) => Err(e.to_string()),
    })
}

/// Delivers `sealed` into `inbox` by the publisher protocol: write `NAME.part`, rename.
pub(crate) fn deliver(sealed: &Path, inbox: &Path, name: &str) {
    let part = inbox.join(format!("{name}.part"));
    std::fs::copy(sealed, &part).unwrap();
    std::fs::rename(&part, inbox.join(name)).unwrap();
}

/// Delivers bytes into `inbox` by the publisher protocol.
pub(crate) fn deliver_bytes(bytes: &[u8], inbox: &Path, name: &str) {
    let part = inbox.join(format!("{name}.part"));
    std::fs::write(&part, bytes).unwrap();
    std::fs::rename(&part, inbox.join(name)).unwrap();
}

/// A complete ward set-up made through the CLI: publisher and appliance keys, a config.
pub(crate) struct Ward {
    pub dir: tempfile::TempDir,
    pub ward: String,
}

impl Ward {
    /// The ward's audit log as JSON values, through `noodepd audit export --format jsonl`.
    pub(crate) fn audit_entries(&self) -> Vec<serde_json::Value> {
        run_ok(&[
            "audit",
            "export",
            "--config",
            s(&self.config()),
            "--format",
            "jsonl",
        ])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
    }

    /// Keys made with `noodepd keygen`, a config for `ward` with plain HTTP on
    /// 127.0.0.1:0, and the extra `[web]` lines given (or TLS lines instead of plain HTTP).
    pub(crate) fn new(ward: &str) -> Ward {
        Ward::with_web(ward, "plain_http = true\n")
    }

    /// As [`Ward::new`] with custom `[web]` lines (besides `listen`).
    pub(crate) fn with_web(ward: &str, web: &str) -> Ward {
        let dir = tempfile::Builder::new()
            .prefix("noodepd-e2e-")
            .tempdir()
            .unwrap();
        let w = Ward {
            dir,
            ward: ward.to_owned(),
        };
        run_ok(&["keygen", "publisher", "--out", s(&w.keys())]);
        run_ok(&["keygen", "appliance", "--out", s(&w.keys())]);
        std::fs::create_dir_all(w.published()).unwrap();
        let config = format!(
            "[appliance]\nid = \"e2e-box\"\nward = \"{ward}\"\nward_name = \"E2E {ward}\"\n\
             language = \"nl\"\ntimezone = \"Europe/Amsterdam\"\n\n\
             [paths]\nstate = \"state\"\ninbox = \"state/inbox\"\nquarantine = \"state/quarantine\"\n\
             runtime = \"run\"\ncontrol_socket = \"run/control.sock\"\n\n\
             [keys]\nappliance_key = \"keys/appliance.key\"\npublisher_pub = \"keys/publisher.pub\"\n\n\
             [web]\nlisten = \"127.0.0.1:0\"\n{web}\n\
             [data]\nstale_after_minutes = 30\nkeep_snapshots = 3\n\n\
             [drill]\nmax_duration_minutes = 120\n"
        );
        std::fs::write(w.config(), config).unwrap();
        w
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
    pub(crate) fn keys(&self) -> PathBuf {
        self.path().join("keys")
    }
    pub(crate) fn config(&self) -> PathBuf {
        self.path().join("noodepd.toml")
    }
    pub(crate) fn inbox(&self) -> PathBuf {
        self.path().join("state/inbox")
    }
    pub(crate) fn quarantine(&self) -> PathBuf {
        self.path().join("state/quarantine")
    }
    pub(crate) fn state(&self) -> PathBuf {
        self.path().join("state")
    }
    /// Where the test keeps sealed snapshots before delivering them.
    pub(crate) fn published(&self) -> PathBuf {
        self.path().join("published")
    }

    /// `noodepd generate --patients N --seed S --ward W --out DIR`; returns the bundle path.
    pub(crate) fn generate(&self, patients: usize, seed: u64, ward: &str) -> PathBuf {
        let out = self.generate_dir(patients, seed, ward);
        let bundle = out.join(format!("{ward}.json"));
        assert!(bundle.is_file(), "generate wrote no {}", bundle.display());
        bundle
    }

    /// `noodepd generate` into a new directory (one bundle per ward); returns the directory.
    pub(crate) fn generate_dir(&self, patients: usize, seed: u64, ward: &str) -> PathBuf {
        let out = self.path().join(format!("gen-{ward}-{patients}-{seed}"));
        run_ok(&[
            "generate",
            "--patients",
            &patients.to_string(),
            "--seed",
            &seed.to_string(),
            "--ward",
            ward,
            "--out",
            s(&out),
        ]);
        out
    }

    /// `noodepd seal` of `input` for `ward` with `sequence` and `kind`; returns the sealed
    /// file (in [`Ward::published`]).
    pub(crate) fn seal(&self, input: &Path, ward: &str, sequence: u64, kind: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = self.published().join(format!(
            "{}-{sequence:06}-{kind}-{n}.snap",
            ward.to_lowercase()
        ));
        run_ok(&[
            "seal",
            "--key",
            s(&self.keys().join("publisher.key")),
            "--to",
            s(&self.keys().join("appliance.pub")),
            "--ward",
            ward,
            "--sequence",
            &sequence.to_string(),
            "--kind",
            kind,
            "--out",
            s(&out),
            s(input),
        ]);
        out
    }

    /// Starts `noodepd serve --config C` and waits for its listening address.
    pub(crate) fn serve(&self) -> (Proc, SocketAddr) {
        let mut c = noodepd();
        c.args(["serve", "--config", s(&self.config())]);
        let mut p = Proc::spawn(c);
        let addr = p.wait_listening();
        (p, addr)
    }
}

/// Number of `Patient` resources in a FHIR bundle file.
pub(crate) fn patients_in_bundle(path: &Path) -> usize {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Patient")
        .count()
}

/// Patient family names in a FHIR bundle file.
pub(crate) fn patient_names(path: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Patient")
        .filter_map(|e| {
            e["resource"]["name"][0]["family"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

// ---- Logged-in browsing and the demo roster (added for tests/crash_consistency.rs) ----

/// `METHOD path` over a new TCP connection with an optional `Cookie` header and an
/// optional form body (`application/x-www-form-urlencoded`). Errors (refused, reset, a
/// daemon killed mid-answer) are returned, never panicked on.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    form: &str,
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n");
    if !cookie.is_empty() {
        req.push_str(&format!("Cookie: {cookie}\r\n"));
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
    parse_response(&raw)
}

impl Response {
    /// The values (`name=value`, attributes stripped) of every `Set-Cookie` header.
    pub(crate) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .map(|c| c.trim().to_owned())
            .collect()
    }
}

/// The `value` of the `<input name="NAME" ...>` in an HTML page.
pub(crate) fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    html.split("<input").skip(1).find_map(|part| {
        let tag = part.split('>').next()?;
        if !tag.contains(&needle) {
            return None;
        }
        tag.split("value=\"")
            .nth(1)?
            .split('"')
            .next()
            .map(str::to_owned)
    })
}

/// Logs in through the real form (GET /login for the CSRF token and pre-login cookie, then
/// POST); returns the `Cookie` header value of the session.
pub(crate) fn login(addr: SocketAddr, user: &str, code: &str) -> std::io::Result<String> {
    let bad = |m: String| std::io::Error::other(m);
    let page = request(addr, "GET", "/login", "", "")?;
    let csrf = input_value(&page.text(), "csrf").ok_or_else(|| bad("no csrf on /login".into()))?;
    let pre = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("noodepd_pre="))
        .ok_or_else(|| bad("no noodepd_pre cookie".into()))?;
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("user", user)
        .append_pair("code", code)
        .append_pair("csrf", &csrf)
        .finish();
    let r = request(addr, "POST", "/login", &pre, &form)?;
    let session = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("noodepd_session=") && c.len() > "noodepd_session=".len())
        .ok_or_else(|| bad(format!("login as {user} gave {} and no session", r.status)))?;
    Ok(session)
}

/// Patient keys linked from a page (`href="/patient/KEY"`), sorted, without duplicates.
pub(crate) fn patient_links(html: &str) -> Vec<String> {
    let mut keys: Vec<String> = html
        .split("href=\"/patient/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|k| !k.contains('/'))
        .map(|k| k.replace("&amp;", "&"))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// One line of a `codes-WARD.txt` file written by `noodepd generate --roster`.
#[derive(Debug, Clone)]
pub(crate) struct DemoLogin {
    pub user: String,
    pub name: String,
    pub role: String,
    pub code: String,
}

/// Reads a `codes-WARD.txt` file (`user<TAB>name<TAB>role<TAB>code`, `#` comments).
pub(crate) fn read_codes(path: &Path) -> Vec<DemoLogin> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "codes line {l:?}");
            DemoLogin {
                user: f[0].to_owned(),
                name: f[1].to_owned(),
                role: f[2].to_owned(),
                code: f[3].to_owned(),
            }
        })
        .collect()
}

impl Ward {
    /// `noodepd generate --patients N --seed S --ward W --roster` into a new directory;
    /// returns the directory (`W.json`, `roster-W.json`, `codes-W.txt`).
    pub(crate) fn generate_with_roster(&self, patients: usize, seed: u64, ward: &str) -> PathBuf {
        let out = self
            .path()
            .join(format!("gen-roster-{ward}-{patients}-{seed}"));
        run_ok(&[
            "generate",
            "--patients",
            &patients.to_string(),
            "--seed",
            &seed.to_string(),
            "--ward",
            ward,
            "--roster",
            "--out",
            s(&out),
        ]);
        out
    }

    /// The runtime directory (plaintext generations) of the config [`Ward::new`] writes.
    pub(crate) fn runtime(&self) -> PathBuf {
        self.path().join("run")
    }
}
