//! The P3 baseline: nginx serving the same rendered HTML as static files on loopback, in
//! the same run and the same (plain HTTP) setting. The bench installs nginx when it is
//! missing (`apt-get update`, then `apt-get install -y nginx-light`, else `nginx`) and runs
//! its own instance: a generated config (`-c`), a temp prefix (`-p`), `daemon off`, a free
//! port, `access_log off`, `worker_processes 2` (noodepd's two cores), stopped at the end.
//!
//! When nginx cannot be installed or started the caller reports the baseline as missing
//! with this module's reason; nothing is ever substituted for it.

use super::BenchError;
use super::daemon::{free_port, log_tail};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CANDIDATES: [&str; 3] = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"];

fn find() -> Option<PathBuf> {
    CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn run_quiet(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or_default().to_owned();
        Err(format!(
            "{:?} failed ({}): {last}",
            cmd.get_program(),
            out.status
        ))
    }
}

/// The nginx binary, installing it with apt-get when missing. `log` receives progress.
pub(crate) fn ensure_installed(log: &mut dyn FnMut(&str)) -> Result<PathBuf, BenchError> {
    if let Some(p) = find() {
        return Ok(p);
    }
    log("nginx is missing: apt-get update && apt-get install -y nginx-light");
    let env = |c: &mut Command| {
        c.env("DEBIAN_FRONTEND", "noninteractive");
    };
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    env(&mut update);
    run_quiet(&mut update).map_err(|e| BenchError::Nginx(format!("apt-get update: {e}")))?;
    let mut light = Command::new("apt-get");
    light.args(["install", "-y", "-qq", "nginx-light"]);
    env(&mut light);
    if let Err(e1) = run_quiet(&mut light) {
        let mut full = Command::new("apt-get");
        full.args(["install", "-y", "-qq", "nginx"]);
        env(&mut full);
        run_quiet(&mut full).map_err(|e2| {
            BenchError::Nginx(format!(
                "cannot install nginx-light ({e1}) nor nginx ({e2})"
            ))
        })?;
    }
    find().ok_or_else(|| BenchError::Nginx("installed, but no nginx binary found".into()))
}

/// A running nginx.
pub(crate) struct Nginx {
    child: Child,
    pub addr: SocketAddr,
    error_log: PathBuf,
}

/// Files to serve: URL path (without the leading `/`) and content.
pub(crate) type Files<'a> = &'a [(&'a str, &'a [u8])];

impl Nginx {
    /// Writes `files` under `prefix/html` and starts nginx on a free loopback port.
    pub(crate) fn start(bin: &Path, prefix: &Path, files: Files) -> Result<Nginx, BenchError> {
        let html = prefix.join("html");
        for d in [prefix.to_path_buf(), html.clone(), prefix.join("tmp")] {
            std::fs::create_dir_all(&d).map_err(BenchError::io(&d))?;
            set_mode(&d, 0o755)?;
        }
        for (name, bytes) in files {
            if name.contains('/') || name.starts_with('.') {
                return Err(BenchError::Nginx(format!("bad file name {name:?}")));
            }
            let p = html.join(name);
            std::fs::write(&p, bytes).map_err(BenchError::io(&p))?;
            set_mode(&p, 0o644)?;
        }
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let p = prefix.to_string_lossy();
        let conf = format!(
            "# Written by noodepd bench: a static-file baseline on loopback.\n\
             worker_processes 2;\n\
             daemon off;\n\
             pid {p}/nginx.pid;\n\
             error_log {p}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n\
             \x20 access_log off;\n\
             \x20 sendfile on;\n\
             \x20 tcp_nodelay on;\n\
             \x20 keepalive_timeout 65;\n\
             \x20 keepalive_requests 100000000;\n\
             \x20 default_type text/html;\n\
             \x20 client_body_temp_path {p}/tmp/body;\n\
             \x20 proxy_temp_path {p}/tmp/proxy;\n\
             \x20 fastcgi_temp_path {p}/tmp/fastcgi;\n\
             \x20 uwsgi_temp_path {p}/tmp/uwsgi;\n\
             \x20 scgi_temp_path {p}/tmp/scgi;\n\
             \x20 server {{\n\
             \x20   listen {addr};\n\
             \x20   root {p}/html;\n\
             \x20   location / {{ try_files $uri =404; }}\n\
             \x20 }}\n\
             }}\n"
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).map_err(BenchError::io(&conf_path))?;
        let error_log = prefix.join("error.log");
        let child = Command::new(bin)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(&error_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BenchError::Nginx(format!("cannot start {}: {e}", bin.display())))?;
        let mut n = Nginx {
            child,
            addr,
            error_log,
        };
        // Wait until it accepts connections.
        let t = Instant::now();
        loop {
            if let Ok(Some(status)) = n.child.try_wait() {
                return Err(BenchError::Nginx(format!(
                    "nginx exited at start ({status}): {}",
                    log_tail(&n.error_log)
                )));
            }
            if std::net::TcpStream::connect(addr).is_ok() {
                return Ok(n);
            }
            if t.elapsed() > Duration::from_secs(10) {
                let _ = n.child.kill();
                return Err(BenchError::Nginx(format!(
                    "nginx did not listen on {addr} within 10 s: {}",
                    log_tail(&n.error_log)
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops nginx (SIGQUIT: graceful, then SIGKILL).
    pub(crate) fn stop(mut self) {
        // nginx is our child and not yet reaped, so its pid is still its own.
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::QUIT,
        );
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), BenchError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(BenchError::io(path))
}
