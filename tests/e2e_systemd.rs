//! End-to-end test of `noodepd serve` under systemd's contracts: socket activation (the
//! listening socket passed by `systemd-socket-activate`), `sd_notify` READY=1 and watchdog
//! pings to a `NOTIFY_SOCKET` the test binds, and SIGHUP reloading the TLS certificate (a
//! new connection sees the new certificate; a broken one keeps the old in service).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod e2e_common;

use e2e_common::*;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

fn socket_activate() -> String {
    let out = Command::new("sh")
        .args(["-c", "command -v systemd-socket-activate"])
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && !path.is_empty(),
        "systemd-socket-activate is missing (package `systemd`): run image/install-test-deps.sh \
         (tests/run.sh does) before these tests"
    );
    path
}

/// A port free a moment ago (bound to port 0, then released) for the socket to be passed.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Collects notify datagrams until all of `wanted` were seen; panics when the bound passes.
fn wait_notify(sock: &UnixDatagram, wanted: &[&str], p: &Proc) {
    let deadline = Instant::now() + WAIT;
    let mut seen: Vec<String> = Vec::new();
    let mut buf = vec![0u8; 4096];
    while !wanted
        .iter()
        .all(|w| seen.iter().any(|m| m.lines().any(|l| l == *w)))
    {
        assert!(
            Instant::now() < deadline,
            "notify socket got {seen:?}, wanted {wanted:?}\n{}",
            p.transcript()
        );
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

#[test]
fn socket_activated_serve_answers_on_the_passed_socket_and_notifies_ready_and_watchdog() {
    let activate = socket_activate();
    let w = Ward::new("A3");
    let notify_path = w.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = free_port();

    // `exec` keeps the pid through sh and systemd-socket-activate (which execs in place
    // without --accept), so `$$` is the pid noodepd will run as: WATCHDOG_PID can name it.
    let script = format!(
        "exec '{activate}' -l 127.0.0.1:{port} -E NOTIFY_SOCKET='{}' -E WATCHDOG_PID=$$ \
         -E WATCHDOG_USEC=2000000 '{}' serve --config '{}'",
        s(&notify_path),
        bin(),
        s(&w.config())
    );
    let template = noodepd();
    let mut c = Command::new("sh");
    c.args(["-c", &script]);
    // The same cleared environment as noodepd() gives.
    for (k, v) in template.get_envs() {
        if v.is_none() {
            c.env_remove(k);
        }
    }
    c.stdin(std::process::Stdio::null());
    let mut p = Proc::spawn(c);

    // systemd-socket-activate starts the service on the first connection, like a socket
    // unit: this first request is answered by the daemon on the passed socket.
    let passed: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let first = poll("a first /health on the passed socket", || {
        get(passed, "/health").map_err(|e| e.to_string())
    });
    assert_eq!(first.status, 200, "{}", first.text());
    let addr = p.wait_listening();
    assert_eq!(
        addr.port(),
        port,
        "serve uses the passed socket, not its configured 127.0.0.1:0"
    );
    wait_notify(&notify, &["READY=1"], &p);
    let health = get(addr, "/health").unwrap();
    assert_eq!(health.status, 200, "{}", health.text());
    let r = ready(addr);
    assert_eq!(r["ward"], "A3", "{r}");

    // WATCHDOG_USEC=2 s: a ping at least every second.
    wait_notify(&notify, &["WATCHDOG=1"], &p);

    p.signal(libc::SIGTERM);
    let st = p.wait_exit(WAIT).expect("serve stops on SIGTERM");
    assert!(st.success(), "{st}\n{}", p.transcript());
    wait_notify(&notify, &["STOPPING=1"], &p);
}

/// A new self-signed certificate for localhost written (atomically) to `cert`/`key`.
fn write_cert(cert: &Path, key: &Path) -> CertificateDer<'static> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let tmp = cert.with_extension("tmp");
    std::fs::write(&tmp, ck.cert.pem()).unwrap();
    std::fs::rename(&tmp, cert).unwrap();
    std::fs::write(&tmp, ck.signing_key.serialize_pem()).unwrap();
    std::fs::rename(&tmp, key).unwrap();
    ck.cert.der().clone()
}

/// Connects over TLS (trusting `trusted`), asks for /health, returns the status code and
/// the certificate the server presented.
fn tls_health(
    addr: std::net::SocketAddr,
    trusted: &[CertificateDer<'static>],
) -> Result<(u16, CertificateDer<'static>), String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in trusted {
        roots.add(c.clone()).unwrap();
    }
    let cfg = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsConnector::from(cfg)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        let presented = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first().cloned())
            .ok_or("no certificate")?;
        tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let _ = tls.read_to_end(&mut buf).await;
        let r = parse_response(&buf).map_err(|e| e.to_string())?;
        Ok((r.status, presented))
    })
}

#[test]
fn sighup_reloads_the_tls_certificate_and_a_broken_one_keeps_the_old_in_service() {
    let w = Ward::with_web("A3", "tls_cert = \"tls.crt\"\ntls_key = \"tls.key\"\n");
    let cert = w.path().join("tls.crt");
    let key = w.path().join("tls.key");
    let first = write_cert(&cert, &key);
    let (mut p, addr) = w.serve();

    let (status, seen) = tls_health(addr, std::slice::from_ref(&first)).unwrap();
    assert_eq!(status, 200);
    assert_eq!(seen, first, "the configured certificate is served");

    // Renewal: new files, SIGHUP, a new connection sees the new certificate.
    let second = write_cert(&cert, &key);
    assert_ne!(first, second);
    p.signal(libc::SIGHUP);
    let trusted = [first.clone(), second.clone()];
    poll(
        "the new certificate served after SIGHUP",
        || match tls_health(addr, &trusted) {
            Ok((200, c)) if c == second => Ok(()),
            Ok((st, c)) => Err(format!("status {st}, still the first: {}", c == first)),
            Err(e) => Err(e),
        },
    );

    // A broken certificate on SIGHUP: the daemon says so and keeps the working one.
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    p.signal(libc::SIGHUP);
    p.wait_for_line("a log line about the failed reload", |l| {
        (l.contains("SIGHUP") && l.contains("failed")).then_some(())
    });
    let (status, seen) = tls_health(addr, &trusted).unwrap();
    assert_eq!(status, 200, "still serving after a bad reload");
    assert_eq!(seen, second, "the old certificate stays in service");

    p.signal(libc::SIGTERM);
    let st = p.wait_exit(WAIT).expect("serve stops on SIGTERM");
    assert!(st.success(), "{st}\n{}", p.transcript());
}

#[test]
fn sigterm_during_startup_stops_gracefully_instead_of_dying_by_the_signal() {
    // systemd may stop a unit at any moment after starting it, also while it is still
    // rebuilding its data: the daemon must then stop cleanly (exit 0, "stop" audited).
    let w = Ward::new("A3");
    let data = w.generate(6, 41, "A3");
    let sealed = w.seal(&data, "A3", 1, "clinical");
    let (mut p, addr) = w.serve();
    deliver(&sealed, &w.inbox(), "a3-000001.snap");
    poll_ready(addr, "sequence 1 served", |j| j["sequence"] == 1);
    p.signal(libc::SIGTERM);
    let st = p.wait_exit(WAIT).expect("serve stops on SIGTERM");
    assert!(st.success(), "{st}\n{}", p.transcript());

    // Restart (recovering from the kept snapshot) and stop it the moment it says it listens.
    for _ in 0..3 {
        let (mut p, _addr) = w.serve();
        p.signal(libc::SIGTERM);
        let st = p
            .wait_exit(WAIT)
            .expect("serve stops on SIGTERM during start-up");
        assert!(
            st.success(),
            "SIGTERM during start-up must stop gracefully, got {st}\n{}",
            p.transcript()
        );
    }
}
