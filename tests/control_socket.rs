//! The local control socket, end to end: a real socket served by `control::serve`, the real
//! `noodepd mode` binary as the client, the mode and the audit log checked afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use noodepd::app::App;
use noodepd::audit::AuditLog;
use noodepd::config::Config;
use noodepd::control::{self, ModeRequest};
use noodepd::mode::{Mode, ModeController};
use noodepd::store::Store;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_noodepd");

fn config_text(dir: &Path) -> String {
    format!(
        "[appliance]\nid = \"box-1\"\nward = \"A3\"\n\
         [paths]\nstate = \"{d}/state\"\nruntime = \"{d}/run\"\ninbox = \"{d}/inbox\"\n\
         quarantine = \"{d}/quarantine\"\ncontrol_socket = \"{d}/ctl/control.sock\"\n\
         [web]\nplain_http = true\nlisten = \"127.0.0.1:0\"\n",
        d = dir.display()
    )
}

fn setup(dir: &Path) -> (Arc<App>, PathBuf) {
    let cfg_path = dir.join("noodepd.toml");
    std::fs::write(&cfg_path, config_text(dir)).unwrap();
    let config = Config::load(&cfg_path).unwrap();
    std::fs::create_dir_all(&config.paths.state).unwrap();
    let store = Store::open(&config.paths.runtime).unwrap();
    let mode = ModeController::load(&config.paths.state, config.drill_max_duration).unwrap();
    let audit = AuditLog::open(&config.paths.state, &config.appliance_id, &config.ward).unwrap();
    let shared = App::new(config, store, mode, audit, None);
    (Arc::new(shared), cfg_path)
}

/// (kind, outcome, detail) of every audit entry, in order.
fn audit_entries(state: &Path) -> Vec<(String, String, String)> {
    let conn = rusqlite::Connection::open(state.join("audit.sqlite")).unwrap();
    let mut st = conn
        .prepare("SELECT kind, event FROM entry ORDER BY id")
        .unwrap();
    st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(|r| {
            let (kind, event) = r.unwrap();
            let v: serde_json::Value = serde_json::from_str(&event).unwrap();
            (
                kind,
                v["outcome"].as_str().unwrap().to_owned(),
                v["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn wait_for(path: &Path) {
    for _ in 0..200 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{} never appeared", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_command_switches_mode_through_the_socket_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (shared, cfg) = setup(dir.path());
    let sock = shared.config.paths.control_socket.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(control::serve(shared.clone(), async {
        let _ = stopped.await;
    }));
    wait_for(&sock).await;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "control socket must be 0600");

    // The real CLI, as root would run it.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["mode", "drill", "--reason", "oefening brand", "--config"])
            .arg(&cfg)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("mode: drill"), "{stdout}");
    assert!(stdout.contains("drill ends:"), "{stdout}");
    let now = chrono::Utc::now();
    assert_eq!(shared.mode.current(now).mode, Mode::Drill);
    assert!(
        shared
            .mode
            .current(now)
            .reason
            .starts_with("oefening brand")
    );

    // The library client too, and a reply with the new mode.
    let s2 = sock.clone();
    let reply = tokio::task::spawn_blocking(move || {
        control::request(
            &s2,
            &ModeRequest {
                mode: Mode::Emergency,
                reason: "EPD plat".into(),
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(reply.mode, Some(Mode::Emergency));
    assert_eq!(reply.drill_ends_at, None);

    let entries = audit_entries(&shared.config.paths.state);
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(
        entries
            .iter()
            .all(|(k, o, _)| k == "mode_switch" && o == "success")
    );
    assert!(
        entries[0]
            .2
            .contains("standby -> drill by root (console): oefening brand")
    );
    assert!(entries[1].2.contains("drill -> emergency"));

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(!sock.exists(), "socket removed on shutdown");
}

#[test]
fn mode_command_without_daemon_says_it_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("noodepd.toml");
    std::fs::write(&cfg, config_text(dir.path())).unwrap();
    let out = Command::new(BIN)
        .args(["mode", "emergency", "--reason", "x", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is noodepd running? no control socket at"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_reasonless_requests_change_nothing() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let (shared, _) = setup(dir.path());
    let sock = shared.config.paths.control_socket.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(control::serve(shared.clone(), async {
        let _ = stopped.await;
    }));
    wait_for(&sock).await;
    for req in [
        "{\"mode\":\"emergency\",\"reason\":\"\"}\n".to_owned(),
        "{\"mode\":\"emergency\",\"reason\":\"x\",\"as\":\"root\"}\n".to_owned(),
        format!("{}\n", "x".repeat(100_000)),
    ] {
        let mut s = tokio::net::UnixStream::connect(&sock).await.unwrap();
        let _ = s.write_all(req.as_bytes()).await;
        let mut line = String::new();
        tokio::io::BufReader::new(s)
            .read_line(&mut line)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ok"], false, "{line}");
    }
    assert_eq!(shared.mode.current(chrono::Utc::now()).mode, Mode::Standby);
    assert_eq!(shared.audit_log().head().0, 0);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Runs only as root with `setpriv` available (the appliance's test environment): the
/// socket is opened up to everyone so that the SO_PEERCRED check itself is what refuses
/// uid 65534. Elsewhere the refusal rule is covered by `control::peer_allowed`'s unit test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_root_peer_is_refused_and_the_attempt_is_audited() {
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !is_root || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root and setpriv to act as another user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (shared, cfg) = setup(dir.path());
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let sock = shared.config.paths.control_socket.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(control::serve(shared.clone(), async {
        let _ = stopped.await;
    }));
    wait_for(&sock).await;
    std::fs::set_permissions(
        sock.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("/usr/bin/setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                BIN,
                "mode",
                "emergency",
                "--reason",
                "ik wil binnen",
                "--config",
            ])
            .arg(&cfg)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert_eq!(shared.mode.current(chrono::Utc::now()).mode, Mode::Standby);
    let entries = audit_entries(&shared.config.paths.state);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].1, "minor_failure");
    assert!(
        entries[0].2.contains("peer uid 65534 not allowed"),
        "{entries:?}"
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// A mode switch whose access-log entry cannot be written is refused, and the failure reaches
/// the status (the standing problem and the counter) like every other audit failure: before
/// the shared state became the one door to the log, this path only counted it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_audit_on_a_control_socket_switch_reaches_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let (shared, _cfg) = setup(dir.path());
    let sock = shared.config.paths.control_socket.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(control::serve(shared.clone(), async {
        let _ = stopped.await;
    }));
    wait_for(&sock).await;
    // Break the log under the daemon's feet.
    let conn = rusqlite::Connection::open(shared.audit_log().path()).unwrap();
    conn.execute_batch("DROP TABLE entry").unwrap();
    drop(conn);

    let reply = tokio::task::spawn_blocking(move || {
        control::request(
            &sock,
            &ModeRequest {
                mode: Mode::Emergency,
                reason: "EPD plat".into(),
            },
        )
    })
    .await
    .unwrap();
    let refused = reply.unwrap_err().to_string();
    assert!(
        refused.contains("not recorded in the audit log, so not made"),
        "{refused}"
    );
    let now = chrono::Utc::now();
    assert_eq!(shared.mode.current(now).mode, Mode::Standby);
    assert!(
        shared
            .status
            .has_problem(noodepd::status::code::AUDIT_WRITE_FAILED)
    );
    assert_eq!(
        shared
            .metrics
            .audit_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
