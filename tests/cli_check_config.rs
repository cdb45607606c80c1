//! The real `noodepd check-config` as IT runs it before a box goes live: it must fail (exit
//! 1, one line naming the key and the file) when a key file the daemon needs is missing,
//! unreadable or unsafe, or the TLS files cannot be loaded, and warn when plain HTTP
//! listens on anything but loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn noodepd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_noodepd"))
        .args(args)
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .expect("run noodepd")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A directory with a publisher and an appliance key pair and a config naming them.
fn setup(web: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    for kind in ["publisher", "appliance"] {
        let out = noodepd(&["keygen", kind, "--out", &format!("{d}/keys")]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let cfg = format!("{d}/noodepd.toml");
    std::fs::write(
        &cfg,
        format!(
            "[appliance]\nid = \"box-1\"\nward = \"A3\"\n\
             [paths]\nstate = \"state\"\nruntime = \"run\"\ninbox = \"inbox\"\n\
             quarantine = \"quarantine\"\ncontrol_socket = \"control.sock\"\n\
             [keys]\nappliance_key = \"keys/appliance.key\"\npublisher_pub = \"keys/publisher.pub\"\n\
             [web]\n{web}\n"
        ),
    )
    .unwrap();
    (dir, cfg)
}

const LOOPBACK: &str = "plain_http = true\nlisten = \"127.0.0.1:8080\"";

#[test]
fn check_config_passes_with_usable_keys_on_loopback() {
    let (_dir, cfg) = setup(LOOPBACK);
    let out = noodepd(&["check-config", &cfg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(": OK"));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn check_config_fails_on_a_missing_appliance_key() {
    let (dir, cfg) = setup(LOOPBACK);
    std::fs::remove_file(dir.path().join("keys/appliance.key")).unwrap();
    let out = noodepd(&["check-config", &cfg]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("keys.appliance_key"), "{err}");
    assert!(err.contains("appliance.key"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("OK"));
}

#[test]
fn check_config_fails_on_an_unreadable_or_unsafe_key_file() {
    // A publisher key that is a directory cannot be read, whoever runs the check.
    let (dir, cfg) = setup(LOOPBACK);
    let publ = dir.path().join("keys/publisher.pub");
    std::fs::remove_file(&publ).unwrap();
    std::fs::create_dir(&publ).unwrap();
    let out = noodepd(&["check-config", &cfg]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("keys.publisher_pub"),
        "{}",
        stderr(&out)
    );

    // An appliance secret readable by others is refused the way the daemon refuses it.
    let (dir, cfg) = setup(LOOPBACK);
    let key = dir.path().join("keys/appliance.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = noodepd(&["check-config", &cfg]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));

    // A key of the wrong kind in the appliance key's place.
    let (dir, cfg) = setup(LOOPBACK);
    let keys = dir.path().join("keys");
    std::fs::copy(keys.join("publisher.key"), keys.join("appliance.key")).unwrap();
    let out = noodepd(&["check-config", &cfg]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("keys.appliance_key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_config_fails_when_the_tls_files_are_missing() {
    let (_dir, cfg) =
        setup("listen = \"0.0.0.0:443\"\ntls_cert = \"tls.crt\"\ntls_key = \"tls.key\"");
    let out = noodepd(&["check-config", &cfg]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("web.tls_cert"), "{}", stderr(&out));
}

#[test]
fn check_config_warns_on_plain_http_off_loopback() {
    for listen in ["0.0.0.0:8080", "10.1.2.3:80", "[::]:8080"] {
        let (_dir, cfg) = setup(&format!("plain_http = true\nlisten = \"{listen}\""));
        let out = noodepd(&["check-config", &cfg]);
        assert_eq!(out.status.code(), Some(0), "{listen}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("warning") && err.contains("plain_http") && err.contains("not loopback"),
            "{listen}: {err}"
        );
    }
    let (_dir, cfg) = setup("plain_http = true\nlisten = \"[::1]:8080\"");
    let out = noodepd(&["check-config", &cfg]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(Path::new(&cfg).exists());
}
