//! The publisher's end-to-end harness: real parts, started by the test itself.
//!
//! - [`Sekmet`]: the test EPD (`sekmet-fhir` 0.1.1 from PyPI, in tests/publisher/venv made by
//!   tests/publisher/install.sh): its FHIR server with SMART Backend Services and a static
//!   bearer token, its hospital workflows run through its own CLI.
//! - [`Proxy`]: a small HTTP relay in front of sekmet (sekmet's `base_url` points at it, so
//!   every link it writes leads back through it) that can answer 500 or stall for requests
//!   naming one patient, or drop every connection (the EPD down).
//! - [`Sshd`]: OpenSSH's `sshd` on loopback with the appliance image's own sshd_config
//!   (SFTP only, chrooted, key only), its paths moved into a root-owned directory under
//!   /run (sshd insists on root-owned chroots). The inbox and status directories sit in
//!   the chroot as the image mounts them (status read-only for the account by its modes).
//! - [`BoxProc`]: the real `noodepd serve` whose inbox and status file are those directories.
//!
//! Needs root (sshd, chroot, a system account `noodepd-e2e-inbox`), like tests/faults.rs.

#![allow(dead_code)]

use crate::e2e_common::{self, Proc, WAIT, poll_for, s};
use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The SFTP account the test's sshd lets in (created once, like the image's `inbox`).
pub(crate) const INBOX_USER: &str = "noodepd-e2e-inbox";
pub(crate) const INBOX_GROUP: &str = "noodepd-e2e";

pub(crate) fn publisher_bin() -> &'static str {
    env!("CARGO_BIN_EXE_noodepd-publisher")
}

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn geteuid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Panics with the reason when the machine cannot run these tests.
pub(crate) fn require_root_and_tools() {
    assert_eq!(
        geteuid(),
        0,
        "the publisher's end-to-end tests run sshd with a chroot: run them as root \
         (tests/run.sh in CI)"
    );
    assert!(
        sekmet_bin().is_file() && Path::new("/usr/sbin/sshd").is_file(),
        "sekmet or sshd missing: run tests/publisher/install.sh (tests/run.sh does)"
    );
}

pub(crate) fn sekmet_bin() -> PathBuf {
    repo().join("tests/publisher/venv/bin/sekmet")
}

/// A free TCP port on loopback (bound and released; good enough for a test).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, what: &str) {
    poll_for(WAIT, what, || {
        TcpStream::connect(("127.0.0.1", port))
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

/// Runs a command to completion and returns stdout, panicking with its output on failure.
pub(crate) fn run_ok(mut c: Command) -> String {
    let out = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------- the EPD

/// sekmet serving on loopback behind the [`Proxy`].
pub(crate) struct Sekmet {
    pub dir: PathBuf,
    pub port: u16,
    pub proc: Proc,
    /// The static bearer token the test (and a bearer source) may use.
    pub token: String,
}

impl Sekmet {
    /// Starts sekmet in `dir` with SMART Backend Services for `client_id` (its public
    /// `jwks`) and a static bearer token; `base_url` is the proxy's.
    pub(crate) fn start(
        dir: &Path,
        base_url: &str,
        client_id: &str,
        jwks: &serde_json::Value,
    ) -> Sekmet {
        let (port, token) = Sekmet::configure(dir, Some(base_url), client_id, jwks);
        let me = Sekmet::serve(dir, port, token);
        me.workflow("adt.facility", &[]);
        me
    }

    /// Writes sekmet's settings in `dir` (its own address as the base when `base_url` is
    /// `None`); returns its port and static token.
    pub(crate) fn configure(
        dir: &Path,
        base_url: Option<&str>,
        client_id: &str,
        jwks: &serde_json::Value,
    ) -> (u16, String) {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let token = "e2e-static-token-0123456789".to_owned();
        let base = base_url.map_or_else(|| format!("http://127.0.0.1:{port}/fhir"), str::to_owned);
        let settings = serde_json::json!({
            "base_url": base,
            "host": "127.0.0.1",
            "port": port,
            "data_dir": s(&dir.join("data")),
            "log_inbound": false,
            "simulator": {"enabled": false, "delay_seconds": 0.2},
            "server_auth": {
                "types": ["smart", "bearer"],
                "tokens": [token],
                "token_lifetime": 3600,
                "smart_clients": [{"client_id": client_id, "jwks": jwks, "scopes": "system/*.read"}],
            },
        });
        // JSON is YAML.
        std::fs::write(dir.join("settings.yaml"), settings.to_string()).unwrap();
        (port, token)
    }

    /// Starts the server configured in `dir`.
    pub(crate) fn serve(dir: &Path, port: u16, token: String) -> Sekmet {
        let mut c = Command::new(sekmet_bin());
        c.current_dir(dir)
            .args(["serve", "--config", "settings.yaml"])
            .stdin(Stdio::null());
        let proc = Proc::spawn(c);
        wait_port(port, "sekmet listening");
        Sekmet {
            dir: dir.to_owned(),
            port,
            proc,
            token,
        }
    }

    /// Runs one sekmet workflow on its database (target local) and returns its JSON.
    pub(crate) fn workflow(&self, key: &str, args: &[(&str, &str)]) -> serde_json::Value {
        let mut c = Command::new(sekmet_bin());
        c.current_dir(&self.dir)
            .args(["workflow", "run", key, "--config", "settings.yaml"]);
        for (k, v) in args {
            c.args(["-a", &format!("{k}={v}")]);
        }
        let out = run_ok(c);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{key}: {e}: {out}"))
    }

    /// Registers and admits a patient with a known name to a bed; returns (patient, encounter).
    pub(crate) fn admit(
        &self,
        family: &str,
        given: &str,
        birth: &str,
        bed: &str,
    ) -> (String, String) {
        let r = self.workflow(
            "adt.register_patient",
            &[
                ("family", family),
                ("given", given),
                ("birth_date", birth),
                ("gender", "female"),
            ],
        );
        let p = r["patient"]["id"].as_str().unwrap().to_owned();
        let a = self.workflow("adt.admit", &[("patient", &p), ("bed", bed)]);
        (p, a["encounter"]["id"].as_str().unwrap().to_owned())
    }

    /// An HTTP request straight to sekmet with the static token.
    pub(crate) fn put_json(&self, path: &str, body: &serde_json::Value) -> (u16, String) {
        http(
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            "PUT",
            path,
            &[
                ("Authorization", &format!("Bearer {}", self.token)),
                ("Content-Type", "application/fhir+json"),
            ],
            body.to_string().as_bytes(),
        )
    }

    /// Makes Group/`id` hold exactly `patients` (a bulk export's scope).
    pub(crate) fn set_group(&self, id: &str, patients: &[&str]) {
        let members: Vec<serde_json::Value> = patients
            .iter()
            .map(|p| serde_json::json!({"entity": {"reference": format!("Patient/{p}")}}))
            .collect();
        let g = serde_json::json!({"resourceType": "Group", "id": id, "type": "person",
            "actual": true, "member": members});
        let (status, body) = self.put_json(&format!("/fhir/Group/{id}"), &g);
        assert!(status == 200 || status == 201, "PUT Group: {status} {body}");
    }
}

/// One HTTP/1.1 exchange (Connection: close); returns status and body.
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let r = e2e_common::parse_response(&raw).unwrap();
    (r.status, r.text())
}

// ---------------------------------------------------------------- the relay

/// What the relay does with requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// 500 with an OperationOutcome for requests whose target names this text.
    Fail500(String),
    /// No answer for this long, then the connection closes, for requests naming this text.
    Stall(String, Duration),
    /// Every connection is closed at once (the EPD is down).
    Down,
}

/// An HTTP relay to sekmet with fault injection.
pub(crate) struct Proxy {
    pub port: u16,
    pub fault: Arc<Mutex<Fault>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on a free port and relays to `127.0.0.1:upstream` once `set_upstream` is called.
    pub(crate) fn start(upstream: Arc<Mutex<u16>>) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let fault = Arc::new(Mutex::new(Fault::None));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, st) = (fault.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let f = f.lock().unwrap().clone();
                let up = *upstream.lock().unwrap();
                std::thread::spawn(move || relay(conn, up, &f));
            }
        });
        Proxy { port, fault, stop }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/fhir", self.port)
    }

    pub(crate) fn set(&self, f: Fault) {
        *self.fault.lock().unwrap() = f;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    head.extend_from_slice(&body);
    Some(head)
}

fn relay(client: TcpStream, upstream: u16, fault: &Fault) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    if *fault == Fault::Down {
        return; // dropped: connection closed without an answer
    }
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let Some(req) = read_request(&mut reader) else {
        return;
    };
    let first =
        String::from_utf8_lossy(req.split(|b| *b == b'\n').next().unwrap_or_default()).into_owned();
    let mut client = client;
    match fault {
        Fault::Fail500(needle) if first.contains(needle.as_str()) => {
            let body = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception","diagnostics":"injected by the test"}]}"#;
            let _ = write!(
                client,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            return;
        }
        Fault::Stall(needle, d) if first.contains(needle.as_str()) => {
            std::thread::sleep(*d);
            return;
        }
        _ => {}
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let _ = up.set_read_timeout(Some(Duration::from_secs(60)));
    if up.write_all(&req).is_err() {
        return;
    }
    let mut resp = Vec::new();
    let _ = up.read_to_end(&mut resp);
    // The client must not keep this connection: say so in the head.
    if let Some(end) = resp.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&resp[..end]).into_owned();
        let mut out: Vec<String> = head
            .split("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .map(str::to_owned)
            .collect();
        out.push("Connection: close".into());
        let mut bytes = out.join("\r\n").into_bytes();
        bytes.extend_from_slice(&resp[end..]);
        let _ = client.write_all(&bytes);
    }
}

// ---------------------------------------------------------------- SFTP

/// Creates the SFTP account and its group once (as the image's sysusers does).
pub(crate) fn ensure_inbox_account() {
    let exists = |c: &str, n: &str| {
        Command::new("getent")
            .args([c, n])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !exists("group", INBOX_GROUP) {
        run_ok({
            let mut c = Command::new("groupadd");
            c.args(["--system", INBOX_GROUP]);
            c
        });
    }
    if !exists("passwd", INBOX_USER) {
        run_ok({
            let mut c = Command::new("useradd");
            c.args([
                "--system",
                "--no-create-home",
                "--home-dir",
                "/",
                "--shell",
                "/usr/sbin/nologin",
                "-g",
                INBOX_GROUP,
                INBOX_USER,
            ]);
            c
        });
    }
    std::fs::create_dir_all("/run/sshd").unwrap();
}

/// One box's sshd: the image's sshd_config, a chroot with `inbox` and `status`.
pub(crate) struct Sshd {
    pub root: tempfile::TempDir,
    pub port: u16,
    proc: Option<Proc>,
}

fn chown(path: &Path, group: &str) {
    run_ok({
        let mut c = Command::new("chown");
        c.arg(format!("root:{group}")).arg(path);
        c
    });
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Sshd {
    /// Sets up and starts an sshd for one box; `upload_pub` is the publisher's upload key.
    pub(crate) fn start(upload_pub: &Path) -> Sshd {
        ensure_inbox_account();
        // Root-owned and not writable by others all the way up: not under /tmp.
        let root = tempfile::Builder::new()
            .prefix("noodepd-e2e-sshd-")
            .tempdir_in("/run")
            .unwrap();
        chmod(root.path(), 0o755);
        let chroot = root.path().join("sftp");
        for d in [chroot.clone(), root.path().join("etc")] {
            std::fs::create_dir_all(&d).unwrap();
            chmod(&d, 0o755);
        }
        let inbox = chroot.join("inbox");
        let status = chroot.join("status");
        std::fs::create_dir_all(&inbox).unwrap();
        std::fs::create_dir_all(&status).unwrap();
        chown(&inbox, INBOX_GROUP);
        chown(&status, INBOX_GROUP);
        chmod(&inbox, 0o2770);
        chmod(&status, 0o2750);
        let etc = root.path().join("etc");
        run_ok({
            let mut c = Command::new("ssh-keygen");
            c.args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(etc.join("host_ed25519"));
            c
        });
        std::fs::copy(upload_pub, etc.join("authorized_keys")).unwrap();
        chmod(&etc.join("authorized_keys"), 0o644);
        let port = free_port();
        let image =
            std::fs::read_to_string(repo().join("image/rootfs/etc/ssh/sshd_config")).unwrap();
        let mut cfg = String::new();
        for line in image.lines() {
            let replaced = match line.split_whitespace().next() {
                Some("Port") => format!("Port {port}\nListenAddress 127.0.0.1"),
                Some("HostKey") => format!("HostKey {}", s(&etc.join("host_ed25519"))),
                Some("PidFile") => "PidFile none".into(),
                Some("AllowUsers") => format!("AllowUsers {INBOX_USER}"),
                Some("AuthorizedKeysFile") => {
                    format!("AuthorizedKeysFile {}", s(&etc.join("authorized_keys")))
                }
                Some("ChrootDirectory") => format!("ChrootDirectory {}", s(&chroot)),
                _ => line.to_owned(),
            };
            cfg.push_str(&replaced);
            cfg.push('\n');
        }
        std::fs::write(etc.join("sshd_config"), cfg).unwrap();
        let mut me = Sshd {
            root,
            port,
            proc: None,
        };
        me.resume();
        me
    }

    pub(crate) fn inbox(&self) -> PathBuf {
        self.root.path().join("sftp/inbox")
    }

    pub(crate) fn status_file(&self) -> PathBuf {
        self.root.path().join("sftp/status/status.json")
    }

    /// The known_hosts line that pins this sshd's host key.
    pub(crate) fn known_hosts_line(&self) -> String {
        let pubkey =
            std::fs::read_to_string(self.root.path().join("etc/host_ed25519.pub")).unwrap();
        let mut f = pubkey.split_whitespace();
        format!(
            "[127.0.0.1]:{} {} {}",
            self.port,
            f.next().unwrap(),
            f.next().unwrap()
        )
    }

    /// Stops sshd (the box's SFTP endpoint is down).
    pub(crate) fn pause(&mut self) {
        self.proc = None;
        poll_for(WAIT, "sshd stopped", || {
            match TcpStream::connect(("127.0.0.1", self.port)) {
                Ok(_) => Err("still answering".into()),
                Err(_) => Ok(()),
            }
        });
    }

    /// (Re)starts sshd on the same port.
    pub(crate) fn resume(&mut self) {
        let mut c = Command::new("/usr/sbin/sshd");
        c.args(["-D", "-e", "-f"])
            .arg(self.root.path().join("etc/sshd_config"))
            .stdin(Stdio::null());
        self.proc = Some(Proc::spawn(c));
        wait_port(self.port, "sshd listening");
    }
}

// ---------------------------------------------------------------- boxes

/// A real `noodepd serve` for one ward.
pub(crate) struct BoxProc {
    pub dir: tempfile::TempDir,
    pub id: String,
    pub ward: String,
    pub proc: Proc,
    pub addr: SocketAddr,
}

impl BoxProc {
    /// Keys in `dir/keys` (appliance), the publisher's public key, an inbox and (optional)
    /// status file; plain HTTP on loopback.
    pub(crate) fn start(
        id: &str,
        ward: &str,
        publisher_pub: &Path,
        inbox: &Path,
        status_file: Option<&Path>,
    ) -> BoxProc {
        let dir = tempfile::Builder::new()
            .prefix("noodepd-e2e-box-")
            .tempdir()
            .unwrap();
        e2e_common::run_ok(&["keygen", "appliance", "--out", s(&dir.path().join("keys"))]);
        let status = status_file
            .map(|p| format!("status_file = \"{}\"\n", s(p)))
            .unwrap_or_default();
        let cfg = format!(
            "[appliance]\nid = \"{id}\"\nward = \"{ward}\"\nward_name = \"E2E {ward}\"\n\
             [paths]\nstate = \"state\"\ninbox = \"{}\"\nquarantine = \"state/quarantine\"\n\
             runtime = \"run\"\ncontrol_socket = \"run/control.sock\"\n{status}\
             [keys]\nappliance_key = \"keys/appliance.key\"\npublisher_pub = \"{}\"\n\
             [web]\nlisten = \"127.0.0.1:0\"\nplain_http = true\n",
            s(inbox),
            s(publisher_pub)
        );
        std::fs::write(dir.path().join("noodepd.toml"), cfg).unwrap();
        let mut c = e2e_common::noodepd();
        c.args(["serve", "--config", s(&dir.path().join("noodepd.toml"))]);
        let mut proc = Proc::spawn(c);
        let addr = proc.wait_listening();
        BoxProc {
            dir,
            id: id.to_owned(),
            ward: ward.to_owned(),
            proc,
            addr,
        }
    }

    pub(crate) fn public_key(&self) -> PathBuf {
        self.dir.path().join("keys/appliance.pub")
    }

    pub(crate) fn ready(&self) -> serde_json::Value {
        e2e_common::ready(self.addr)
    }

    /// Polls `/ready` until `pred` holds.
    pub(crate) fn wait_ready(
        &self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        poll_for(WAIT, &format!("box {}: {what}", self.id), || {
            let r = self.ready();
            if pred(&r) { Ok(r) } else { Err(r.to_string()) }
        })
    }

    /// Logs in through the form; returns the session cookie.
    pub(crate) fn login(&self, user: &str, code: &str) -> String {
        e2e_common::login(self.addr, user, code).unwrap()
    }

    /// A page as HTML (status 200 required).
    pub(crate) fn page(&self, cookie: &str, path: &str) -> String {
        let r = e2e_common::request(self.addr, "GET", path, cookie, "").unwrap();
        assert_eq!(r.status, 200, "box {} GET {path}: {}", self.id, r.text());
        r.text()
    }
}

/// The text of `<section ... id="ID">` of a page, tags removed, whitespace folded.
pub(crate) fn section(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..]
        .find("</section>")
        .map_or(html.len(), |e| start + e);
    text(&html[start..end])
}

/// Visible text of HTML (tags removed, entities for & < > " decoded, spaces folded).
pub(crate) fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A metric's value from a Prometheus text document (`name{labels}` exactly as written).
pub(crate) fn metric(doc: &str, series: &str) -> Option<f64> {
    doc.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
