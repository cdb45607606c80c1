//! End-to-end test of mode switching as root and the publisher do it: `noodepd mode ...`
//! against the running daemon's control socket, a sealed mode-command snapshot dropped in
//! the inbox, `/ready.mode` following, every switch in the audit log with its reason
//! (`noodepd audit export`), and `noodepd audit verify` passing — then failing once a row
//! of the log has been edited behind the daemon's back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod e2e_common;

use e2e_common::*;

fn has_mode_switch(entries: &[serde_json::Value], mode: &str, reason: &str) -> bool {
    entries.iter().any(|e| {
        e["kind"] == "mode_switch"
            && e["mode"] == mode
            && e["detail"].as_str().is_some_and(|d| d.contains(reason))
    })
}

#[test]
fn mode_switches_from_console_and_snapshot_are_served_audited_and_tamper_evident() {
    let w = Ward::new("A3");
    let data = w.generate(4, 31, "A3");
    let clinical = w.seal(&data, "A3", 1, "clinical");
    let cmd = w.path().join("mode-command.json");
    std::fs::write(
        &cmd,
        r#"{"mode":"emergency","reason":"E2E ziekenhuisbrede storing 4711"}"#,
    )
    .unwrap();
    let mode_snap = w.seal(&cmd, "A3", 2, "mode-command");

    let (mut daemon, addr) = w.serve();
    deliver(&clinical, &w.inbox(), "a3-000001.snap");
    let r = poll_ready(addr, "sequence 1 served", |j| j["sequence"] == 1);
    assert_eq!(
        r["mode"], "standby",
        "a new appliance starts in standby: {r}"
    );

    // Root on the box: emergency, with a reason.
    let config = w.config();
    let out = run(&[
        "mode",
        "emergency",
        "--reason",
        "E2E EPD plat 0815",
        "--config",
        s(&config),
    ]);
    assert!(
        out.status.success(),
        "noodepd mode emergency: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    poll_ready(addr, "/ready.mode emergency", |j| j["mode"] == "emergency");
    assert!(
        has_mode_switch(&w.audit_entries(), "emergency", "E2E EPD plat 0815"),
        "the switch is audited with its reason: {:#?}",
        w.audit_entries()
    );

    // And back to standby.
    run_ok(&[
        "mode",
        "standby",
        "--reason",
        "E2E EPD terug 0930",
        "--config",
        s(&config),
    ]);
    let r = poll_ready(addr, "/ready.mode standby", |j| j["mode"] == "standby");
    assert_eq!(r["sequence"], 1, "switching modes keeps the data: {r}");
    assert!(has_mode_switch(
        &w.audit_entries(),
        "standby",
        "E2E EPD terug 0930"
    ));

    // The publisher's signed mode command, delivered through the inbox.
    deliver(&mode_snap, &w.inbox(), "a3-000002-mode.snap");
    let r = poll_ready(addr, "/ready.mode emergency by mode command", |j| {
        j["mode"] == "emergency"
    });
    assert!(r["last_rejection"].is_null(), "{r}");
    assert!(
        has_mode_switch(
            &w.audit_entries(),
            "emergency",
            "E2E ziekenhuisbrede storing 4711"
        ),
        "{:#?}",
        w.audit_entries()
    );

    // The chain verifies while the daemon runs ...
    run_ok(&["audit", "verify", "--config", s(&config)]);
    daemon.signal(libc::SIGTERM);
    let st = daemon.wait_exit(WAIT).expect("serve stops on SIGTERM");
    assert!(st.success(), "{st}\n{}", daemon.transcript());
    run_ok(&["audit", "verify", "--config", s(&config)]);

    // ... and no longer once a row was edited behind its back.
    let db = rusqlite::Connection::open(w.state().join("audit.sqlite")).unwrap();
    let changed = db
        .execute(
            "UPDATE entry SET event = replace(event, 'E2E EPD plat 0815', 'E2E EPD plat 0816') \
             WHERE event LIKE '%E2E EPD plat 0815%'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1, "exactly the one switch entry was edited");
    drop(db);
    let out = run(&["audit", "verify", "--config", s(&config)]);
    assert!(
        !out.status.success(),
        "audit verify must fail after an edit:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
