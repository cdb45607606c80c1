//! The TLS scan (issue 8, item 8): testssl.sh (Debian package `testssl.sh`) against the real
//! daemon binary serving HTTPS with a certificate as the box gets it at provisioning — an
//! ECDSA P-256 server certificate for its name, issued by a (test) hospital CA, with a CRL
//! distribution point, served with its chain. Fails on any MEDIUM, HIGH or CRITICAL
//! finding and lists them; fails too when the scan did not really run.
//!
//! testssl.sh is installed by `image/install-test-deps.sh` (which `tests/run.sh` runs).
//! A missing testssl.sh is a failure, not a pass; set `NOODEPD_SKIP_TLS_SCAN=1` to skip
//! deliberately. Per-cipher enumeration (`-E`) and client simulation (`-c`) are left out:
//! both only list, at severity INFO, what the cipher categories, server preferences and
//! vulnerability checks already judge. Measured on the shared 2-core machine: the full
//! default scan 126–247 s, this one 67 s against a release daemon and 61–206 s against
//! the debug daemon `cargo test` runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod e2e_common;

use chrono::Datelike;
use e2e_common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The scan may take this long before it is killed (the machine is shared).
const SCAN_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Severities that fail the test.
const FAILING: &[&str] = &["MEDIUM", "HIGH", "CRITICAL"];

fn testssl() -> Option<&'static str> {
    ["testssl", "testssl.sh"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success() || !o.stdout.is_empty())
    })
}

/// A hospital-like PKI in `dir`: `ca.pem` (to trust), `chain.pem` (leaf + CA, served) and
/// `key.pem` (0600).
fn provisioning_certificate(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Test Hospital Issuing CA");
    dn.push(DnType::OrganizationName, "Test Hospital");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    leaf.distinguished_name = dn;
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    // A year, as a hospital PKI issues them (rcgen's default runs to 4096: testssl.sh
    // rates a validity over 398 days HIGH).
    let day = |offset: chrono::Duration| {
        let d = (chrono::Utc::now() + offset).date_naive();
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    leaf.not_before = day(chrono::Duration::days(-1));
    leaf.not_after = day(chrono::Duration::days(365));
    leaf.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec!["http://pki.hospital.example/issuing-ca.crl".to_string()],
    }];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(
        dir.join("chain.pem"),
        format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
    )
    .unwrap();
    let key = dir.join("key.pem");
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// One finding of testssl.sh's `--jsonfile` (flat format).
#[derive(Debug, serde::Deserialize)]
struct Finding {
    id: String,
    severity: String,
    finding: String,
}

#[test]
fn testssl_finds_nothing_of_medium_severity_or_higher() {
    if std::env::var("NOODEPD_SKIP_TLS_SCAN").as_deref() == Ok("1") {
        eprintln!("TLS scan skipped: NOODEPD_SKIP_TLS_SCAN=1");
        return;
    }
    let tool = testssl().expect(
        "testssl.sh is not installed, so the TLS configuration cannot be scanned. Run \
         image/install-test-deps.sh (installs the Debian package `testssl.sh`), or set \
         NOODEPD_SKIP_TLS_SCAN=1 to skip this test deliberately.",
    );
    // Config paths are relative to the config file's directory.
    let w = Ward::with_web(
        "A3",
        "tls_cert = \"pki/chain.pem\"\ntls_key = \"pki/key.pem\"\n",
    );
    let pki = w.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    provisioning_certificate(&pki);
    let (daemon, addr) = w.serve();

    let json = w.path().join("testssl.json");
    let started = Instant::now();
    let mut scan = Command::new(tool);
    scan.args([
        "--quiet",
        "--color",
        "0",
        "--warnings",
        "off",
        "--nodns",
        "none",
        "--connect-timeout",
        "20",
        "--openssl-timeout",
        "20",
        // Everything of the default run but -E (each cipher) and -c (client simulation).
        "--protocols",
        "--std",
        "--fs",
        "--server-preference",
        "--server-defaults",
        "--headers",
        "--vulnerable",
        "--add-ca",
    ])
    .arg(pki.join("ca.pem"))
    .arg("--jsonfile")
    .arg(&json)
    .arg(format!("https://{addr}/"));
    let out = run_cmd_bounded(scan, SCAN_LIMIT);
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    eprintln!("testssl.sh took {:.0} s", took.as_secs_f64());
    drop(daemon);

    let raw = std::fs::read(&json).unwrap_or_else(|e| {
        panic!(
            "testssl.sh wrote no {} ({e}); its output:\n{text}\n{}",
            json.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings: Vec<Finding> = serde_json::from_slice(&raw).unwrap();
    // The scan really ran against the daemon: these checks are in every complete scan.
    for id in [
        "TLS1",
        "TLS1_3",
        "cipher_order",
        "cert_chain_of_trust",
        "HSTS_time",
        "heartbleed",
    ] {
        assert!(
            findings.iter().any(|f| f.id == id),
            "testssl.sh has no {id} finding: the scan did not complete\n{text}"
        );
    }
    // The summary for the record: findings per severity, and everything above OK/INFO.
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for f in &findings {
        *counts.entry(f.severity.as_str()).or_default() += 1;
    }
    eprintln!("testssl.sh findings per severity: {counts:?}");
    for f in findings
        .iter()
        .filter(|f| !matches!(f.severity.as_str(), "OK" | "INFO" | "DEBUG"))
    {
        eprintln!("  {} {}: {}", f.severity, f.id, f.finding);
    }
    let bad: Vec<String> = findings
        .iter()
        .filter(|f| FAILING.contains(&f.severity.as_str()) || f.severity == "FATAL")
        .map(|f| format!("{} {}: {}", f.severity, f.id, f.finding))
        .collect();
    assert!(
        bad.is_empty(),
        "testssl.sh findings of MEDIUM or higher:\n{}\n\nfull output:\n{text}",
        bad.join("\n")
    );
    // What the settings promise, read back from the scan.
    let finding = |id: &str| {
        findings
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.finding.as_str())
            .unwrap_or_default()
    };
    for old in ["SSLv2", "SSLv3", "TLS1", "TLS1_1"] {
        assert!(
            finding(old).contains("not offered"),
            "{old}: {}",
            finding(old)
        );
    }
    assert!(finding("TLS1_3").contains("offered"));
    assert!(
        finding("cert_chain_of_trust").starts_with("passed"),
        "{}",
        finding("cert_chain_of_trust")
    );
}

/// Runs `c` to completion, killing it after `limit`.
fn run_cmd_bounded(mut c: Command, limit: Duration) -> std::process::Output {
    use std::process::Stdio;
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn testssl.sh");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut { stdout }, &mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut { stderr }, &mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("testssl.sh did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    std::process::Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}
