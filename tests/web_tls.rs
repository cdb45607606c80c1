//! The web view over HTTPS: a self-signed certificate made in the test, a real rustls client;
//! HSTS and `Secure` cookies over TLS; a certificate reload takes effect for new connections
//! and a failed reload keeps the certificate in service.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

fn make_cert(dir: &Path) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key, ck.cert.der().clone())
}

fn client_config(trusted: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// One request over TLS; returns the response and the certificate the server presented.
fn tls_request(
    addr: std::net::SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    request: String,
) -> Result<(Res, CertificateDer<'static>), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let conn = tokio_rustls::TlsConnector::from(cfg);
        let mut tls = conn
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        let presented = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first().cloned())
            .unwrap();
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let _ = tls.read_to_end(&mut buf).await;
        Ok((parse_response(&buf), presented))
    })
}

fn get(path: &str, cookie: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
    )
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

#[test]
fn tls_responses_carry_hsts_and_cookies_are_secure() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, der) = make_cert(certs.path());
    let s = Server::with(Options {
        tls: Some((cert, key)),
        ..Options::default()
    });
    let cfg = client_config(&der);
    let (page, _) = tls_request(s.addr, cfg.clone(), get("/login", "")).unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    // Over TLS the cookies carry the __Host- prefix (Secure, this host only, Path=/).
    let pre = page.set_cookie("__Host-noodepd_pre").unwrap();
    assert!(pre.contains("; Secure"), "{pre}");
    let csrf = page.form_value("csrf").unwrap();
    let body = format!("user={}&code={}&csrf={csrf}", NURSE.0, NURSE.1);
    let post = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        cookie_pair(pre),
        body.len()
    );
    let (r, _) = tls_request(s.addr, cfg.clone(), post).unwrap();
    assert_eq!(r.status, 303, "{}", r.body);
    let session = r.set_cookie("__Host-noodepd_session").unwrap();
    assert!(session.contains("; Secure"), "{session}");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let (p, _) = tls_request(
        s.addr,
        cfg.clone(),
        get(&format!("/patient/{KEY_A}"), &cookie_pair(session)),
    )
    .unwrap();
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Zwartbroek"));
    assert_eq!(p.header("cache-control"), Some("no-store"));
    for path in ["/health", "/static/style.css", "/nope"] {
        let (r, _) = tls_request(s.addr, cfg.clone(), get(path, "")).unwrap();
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    // Plain HTTP on the TLS port gets no page.
    let plain = s.client().raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_ne!(plain.status, 200);
}

#[test]
fn certificate_reload_takes_effect_and_a_bad_reload_keeps_the_old_one() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, first) = make_cert(certs.path());
    let s = Server::with(Options {
        tls: Some((cert.clone(), key.clone())),
        ..Options::default()
    });
    let reloader = s.tls.clone().unwrap();
    let (_, presented) = tls_request(s.addr, client_config(&first), get("/health", "")).unwrap();
    assert_eq!(presented, first);
    // A new certificate in place: reload, and new connections get it.
    let (_, _, second) = make_cert(certs.path());
    reloader.reload().unwrap();
    let (r, presented) = tls_request(s.addr, client_config(&second), get("/health", "")).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(presented, second);
    assert!(tls_request(s.addr, client_config(&first), get("/health", "")).is_err());
    // A broken file: reload fails, the second certificate stays in service.
    std::fs::write(&cert, "not a certificate").unwrap();
    assert!(reloader.reload().is_err());
    let (r, presented) = tls_request(s.addr, client_config(&second), get("/health", "")).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(presented, second);
    // A key that does not belong to the certificate is refused too.
    let other = tempfile::tempdir().unwrap();
    let (other_cert, _, _) = make_cert(other.path());
    std::fs::copy(other_cert, &cert).unwrap();
    std::fs::write(&key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    assert!(reloader.reload().is_err());
}
