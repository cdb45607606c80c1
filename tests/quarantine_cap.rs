//! End-to-end test of the quarantine cap (docs/THREAT-MODEL.md, "flood of snapshots"): the
//! real `noodepd serve` with a small `quarantine_max_files` / `quarantine_max_bytes`, more
//! garbage files than the cap renamed into the real inbox, then a valid sealed snapshot.
//! The quarantine stays within its cap with a reason beside every file it keeps (the
//! newest ones), the valid snapshot is served, and the pruning shows in `/metrics`, in the
//! operator log and in the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod e2e_common;

use e2e_common::*;
use std::net::SocketAddr;
use std::path::Path;

const MAX_FILES: usize = 3;
const MAX_BYTES: u64 = 1024 * 1024;

/// A counter's value from `GET /metrics`.
fn metric(addr: SocketAddr, name: &str) -> Result<u64, String> {
    let r = get(addr, "/metrics").map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!("/metrics: status {}", r.status));
    }
    let text = r.text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .ok_or_else(|| format!("{name} not in /metrics:\n{text}"))
}

/// Quarantined files (not `.reason`, not dotfiles) with their sizes, and the bytes of
/// files and reasons together. Panics on a file without its reason.
fn quarantine_contents(q: &Path) -> (Vec<String>, u64) {
    let mut files = Vec::new();
    let mut bytes = 0;
    for e in std::fs::read_dir(q).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with('.') {
            continue;
        }
        bytes += e.metadata().unwrap().len();
        if !n.ends_with(".reason") {
            let reason = std::fs::read_to_string(q.join(format!("{n}.reason")))
                .unwrap_or_else(|e| panic!("{n} is quarantined without its reason: {e}"));
            assert!(reason.contains("code: "), "{n}: {reason:?}");
            files.push(n);
        }
    }
    files.sort();
    (files, bytes)
}

/// Renames `bytes` into the inbox as `name` and waits until the daemon has refused it.
fn refuse(w: &Ward, addr: SocketAddr, name: &str, bytes: &[u8], rejected_before: u64) {
    deliver_bytes(bytes, &w.inbox(), name);
    poll(&format!("{name} refused"), || {
        let n = metric(addr, "noodepd_snapshots_rejected_total")?;
        if n > rejected_before && !w.inbox().join(name).exists() {
            Ok(())
        } else {
            Err(format!("rejected {n}"))
        }
    });
}

#[test]
fn flood_of_garbage_is_pruned_to_the_cap_and_a_valid_snapshot_is_still_served() {
    let w = Ward::new("A3");
    let config = std::fs::read_to_string(w.config()).unwrap();
    let capped = config.replacen(
        "quarantine = \"state/quarantine\"\n",
        &format!(
            "quarantine = \"state/quarantine\"\nquarantine_max_files = {MAX_FILES}\n\
             quarantine_max_bytes = {MAX_BYTES}\n"
        ),
        1,
    );
    assert_ne!(capped, config, "the e2e config names the quarantine");
    std::fs::write(w.config(), capped).unwrap();
    let data = w.generate(4, 21, "A3");
    let sealed = w.seal(&data, "A3", 1, "clinical");
    let (mut daemon, addr) = w.serve();
    assert_eq!(metric(addr, "noodepd_quarantine_pruned_total"), Ok(0));

    // Eight small garbage files, one after the other: the cap by count.
    let small: Vec<String> = (1..=8).map(|i| format!("garbage-{i:02}.snap")).collect();
    for (i, name) in small.iter().enumerate() {
        let bytes = format!("not a snapshot {i}\n").repeat(50);
        refuse(&w, addr, name, bytes.as_bytes(), i as u64);
        let (files, _) = quarantine_contents(&w.quarantine());
        assert!(files.len() <= MAX_FILES, "after {name}: {files:?}");
    }
    let (files, _) = quarantine_contents(&w.quarantine());
    assert_eq!(
        files,
        small[small.len() - MAX_FILES..].to_vec(),
        "the newest refused files stay, with their reasons"
    );
    assert_eq!(
        metric(addr, "noodepd_quarantine_pruned_total"),
        Ok((small.len() - MAX_FILES) as u64)
    );

    // Three garbage files of 400 KiB: the cap by bytes (1 MiB) keeps only two of them.
    for (i, name) in ["big-1.snap", "big-2.snap", "big-3.snap"]
        .iter()
        .enumerate()
    {
        let before = metric(addr, "noodepd_snapshots_rejected_total").unwrap();
        refuse(&w, addr, name, &vec![b'g'; 400 * 1024], before);
        let (files, bytes) = quarantine_contents(&w.quarantine());
        assert!(bytes <= MAX_BYTES, "after big-{}: {bytes} bytes", i + 1);
        assert!(files.len() <= MAX_FILES, "{files:?}");
    }
    let (files, _) = quarantine_contents(&w.quarantine());
    assert_eq!(files, ["big-2.snap", "big-3.snap"], "newest kept");
    let pruned = metric(addr, "noodepd_quarantine_pruned_total").unwrap();
    // 5 by count in the flood, one small one each for big-1 and big-2, then for big-3 the
    // last small one and big-1 (1 MiB holds two of 400 KiB, not three).
    assert_eq!(pruned, 9);

    // A valid sealed snapshot after the flood is served.
    deliver(&sealed, &w.inbox(), "a3-000001.snap");
    let r = poll_ready(addr, "sequence 1 served after the flood", |j| {
        j["sequence"] == 1
    });
    assert_eq!(r["ready"], true, "{r}");
    assert_eq!(r["patients"], patients_in_bundle(&data), "{r}");
    assert_eq!(metric(addr, "noodepd_quarantine_pruned_total"), Ok(pruned));
    let (files, bytes) = quarantine_contents(&w.quarantine());
    assert!(
        files.len() <= MAX_FILES && bytes <= MAX_BYTES,
        "{files:?} {bytes}"
    );

    // The operator sees each pruning in one log line (counts and bytes), IT in the audit
    // log.
    let log = daemon.transcript();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("quarantine over its cap"))
        .collect();
    assert_eq!(lines.len(), 8, "one line per pruning:\n{log}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("bytes") && !l.contains("not a snapshot")),
        "{lines:?}"
    );
    let audited: Vec<String> = w
        .audit_entries()
        .iter()
        .filter(|e| e["kind"] == "quarantine_pruned")
        .map(|e| e["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(audited.len(), 8, "{audited:?}");
    assert!(
        audited
            .iter()
            .all(|d| d.contains("files=") && d.contains(&format!("max_files={MAX_FILES}"))),
        "{audited:?}"
    );
    run_ok(&["audit", "verify", "--config", s(&w.config())]);

    daemon.signal(libc::SIGTERM);
    let st = daemon.wait_exit(WAIT).expect("serve stops on SIGTERM");
    assert!(st.success(), "{st}\n{}", daemon.transcript());
}
