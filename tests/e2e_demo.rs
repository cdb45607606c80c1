//! End-to-end test of `noodepd demo` as IT would try it: one command, its output contract
//! (one `URL:` line, `login: USER CODE ROLE` lines), `/ready` telling the truth (drill
//! mode, sequence, data age), what `--dir` leaves behind (keys 0600, a config that
//! `check-config` accepts and `serve` runs on, recovering the same data in the same mode),
//! Ctrl-C stopping it cleanly, and nothing left behind without `--dir`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod e2e_common;

use e2e_common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// Starts `noodepd demo --port 0 [--dir D]` and waits for its output; returns the process,
/// the URL's address and the stdout lines.
fn start_demo(dir: Option<&std::path::Path>) -> (Proc, std::net::SocketAddr, Vec<String>) {
    let mut c = noodepd();
    c.args(["demo", "--port", "0"]);
    if let Some(d) = dir {
        c.args(["--dir", s(d)]);
    }
    let mut p = Proc::spawn(c);
    let addr = p.wait_for_line("URL: line on stdout", |l| {
        let rest = l.strip_prefix("URL: http://")?;
        rest.strip_suffix('/')?.parse::<std::net::SocketAddr>().ok()
    });
    // Login lines follow the URL line; wait until the output is complete.
    p.wait_for_line("the last demo line", |l| {
        l.starts_with("Ctrl-C").then_some(())
    });
    let out = p.stdout();
    (p, addr, out)
}

/// Checks the demo's output contract and returns the roles of the logins.
fn check_output_contract(out: &[String], addr: std::net::SocketAddr) -> Vec<String> {
    let urls: Vec<&String> = out.iter().filter(|l| l.starts_with("URL:")).collect();
    assert_eq!(urls.len(), 1, "exactly one URL line: {out:#?}");
    assert_eq!(*urls[0], format!("URL: http://{addr}/"));
    assert!(addr.ip().is_loopback(), "demo serves on loopback only");
    assert_ne!(addr.port(), 0);
    let mut roles = Vec::new();
    for l in out.iter().filter(|l| l.starts_with("login:")) {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f.len(), 4, "login: USER CODE ROLE, got {l:?}");
        assert!(!f[1].is_empty());
        assert!(
            f[2].len() >= 6 && f[2].chars().all(|c| c.is_ascii_digit()),
            "a downtime code of digits: {l:?}"
        );
        roles.push(f[3].to_owned());
    }
    for role in ["nurse", "physician", "coordinator", "it"] {
        assert!(
            roles.iter().any(|r| r == role),
            "a demo login with role {role}: {out:#?}"
        );
    }
    roles
}

fn check_ready_drill(addr: std::net::SocketAddr) -> serde_json::Value {
    let r = poll_ready(addr, "demo ready with sequence 2", |j| {
        j["ready"] == true && j["sequence"] == 2
    });
    assert_eq!(r["mode"], "drill", "{r}");
    assert_eq!(r["ward"], "A3", "{r}");
    let age = r["age_seconds"].as_i64().expect("age_seconds");
    assert!(
        (0..3600).contains(&age),
        "fresh demo data has a sane age: {r}"
    );
    assert_eq!(r["stale"], false, "{r}");
    assert!(r["patients"].as_u64().unwrap() > 0, "{r}");
    assert!(r["last_rejection"].is_null(), "{r}");
    r
}

#[test]
fn demo_with_dir_serves_drill_and_its_config_runs_again_after_ctrl_c() {
    let base = tempfile::tempdir().unwrap();
    let d = base.path().join("demo");
    let (mut demo, addr, out) = start_demo(Some(&d));
    check_output_contract(&out, addr);
    let first = check_ready_drill(addr);
    let health = get(addr, "/health").unwrap();
    assert_eq!(health.status, 200);

    // What --dir keeps: keys (secret ones 0600) and a config.
    for (name, secret) in [
        ("publisher.key", true),
        ("appliance.key", true),
        ("publisher.pub", false),
        ("appliance.pub", false),
    ] {
        let p = d.join("keys").join(name);
        let meta = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if secret {
            assert_eq!(
                meta.permissions().mode() & 0o777,
                0o600,
                "{name} must be mode 0600"
            );
        }
    }
    assert!(d.join("noodepd.toml").is_file());

    // Ctrl-C: exits 0 within a bound.
    demo.signal(libc::SIGINT);
    let st = demo
        .wait_exit(WAIT)
        .unwrap_or_else(|| panic!("demo did not stop on SIGINT\n{}", demo.transcript()));
    assert!(st.success(), "demo exit status {st}\n{}", demo.transcript());
    assert!(
        d.join("noodepd.toml").is_file(),
        "--dir is kept after Ctrl-C"
    );

    // IT checks the config and runs the same ward with serve.
    run_ok(&["check-config", s(&d.join("noodepd.toml"))]);
    let mut serve = noodepd();
    serve.args(["serve", "--config", s(&d.join("noodepd.toml"))]);
    let mut serve = Proc::spawn(serve);
    let addr2 = serve.wait_listening();
    let again = poll_ready(addr2, "serve recovers the demo data", |j| {
        j["ready"] == true
    });
    assert_eq!(again["sequence"], first["sequence"], "{again}");
    assert_eq!(again["data_as_of"], first["data_as_of"], "{again}");
    assert_eq!(again["patients"], first["patients"], "{again}");
    assert_eq!(again["mode"], "drill", "the mode persists: {again}");
    serve.signal(libc::SIGTERM);
    let st = serve.wait_exit(WAIT).expect("serve stops on SIGTERM");
    assert!(
        st.success(),
        "serve exit status {st}\n{}",
        serve.transcript()
    );
}

#[test]
fn demo_without_dir_leaves_nothing_behind_after_ctrl_c() {
    let (mut demo, addr, out) = start_demo(None);
    check_output_contract(&out, addr);
    check_ready_drill(addr);
    let files = out
        .iter()
        .find_map(|l| l.split("files in ").nth(1))
        .map(|p| std::path::PathBuf::from(p.trim()))
        .unwrap_or_else(|| panic!("the demo says where its files are: {out:#?}"));
    assert!(files.is_dir(), "{} exists while running", files.display());
    demo.signal(libc::SIGINT);
    let st = demo
        .wait_exit(WAIT)
        .unwrap_or_else(|| panic!("demo did not stop on SIGINT\n{}", demo.transcript()));
    assert!(st.success(), "demo exit status {st}\n{}", demo.transcript());
    assert!(
        !files.exists(),
        "{} is gone after Ctrl-C (nothing left behind)",
        files.display()
    );
    // The port is free again: nothing still listens.
    std::thread::sleep(Duration::from_millis(100));
    assert!(get(addr, "/health").is_err(), "nothing serves after Ctrl-C");
}
