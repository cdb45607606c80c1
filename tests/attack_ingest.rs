//! The ingest attack suite (issue 15, H3): a stolen publisher key or a broken export
//! sends small signed snapshots that expand, or parse, into gigabytes. Against the real
//! daemon: the payload caps per kind stop the decompressor; the worst payloads within the
//! caps stay under the service's `MemoryMax` (measured inside a memory cgroup of the unit's
//! size when this machine lets us make one, else by the process's peak RSS); and a file the
//! daemon dies on is not processed again and again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod attack_common;
mod e2e_common;

use attack_common::*;
use e2e_common::*;
use noodepd::keys::{AppliancePublic, PublisherSecret};
use noodepd::snapshot::{self, DEFAULT_CHUNK_SIZE, Limits, PayloadKind, SealRequest};
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// The unit's `MemoryMax=1G` (image/systemd/noodepd.service; data.memory_max_mib default).
const MEMORY_MAX: u64 = 1024 * 1024 * 1024;

/// Seals `payload` as `kind` with the ward's publisher key, bypassing `seal`'s own caps
/// (an attacker's publisher writes whatever it likes).
fn seal_raw(w: &Ward, seq: u64, kind: PayloadKind, payload: &[u8]) -> Vec<u8> {
    let publisher = PublisherSecret::read(&w.keys().join("publisher.key")).unwrap();
    let appliance = AppliancePublic::read(&w.keys().join("appliance.pub")).unwrap();
    let now = chrono::Utc::now();
    let req = SealRequest {
        ward: "A3",
        sequence: seq,
        created_at: now,
        data_as_of: now,
        kind,
        chunk_size: DEFAULT_CHUNK_SIZE,
        // The worst payloads hold no or few patients: sealed to be taken anyway, so the whole
        // pipeline (mapping and the served generation) is measured, not the refusal of a
        // shrinking ward.
        allow_shrink: kind == PayloadKind::Clinical,
    };
    let anything = Limits {
        max_roster_payload: u64::MAX,
        max_mode_payload: u64::MAX,
        ..Limits::for_memory(64 * MEMORY_MAX)
    };
    snapshot::seal_with(
        &publisher,
        std::slice::from_ref(&appliance),
        &req,
        payload,
        &anything,
    )
    .unwrap()
}

/// What became of a delivered file: accepted (its sequence served or in force) or the
/// quarantine code, waited for.
fn outcome(w: &Ward, addr: std::net::SocketAddr, name: &str, seq: u64) -> String {
    poll_for(
        Duration::from_secs(300),
        &format!("{name} processed"),
        || {
            let reason = w.quarantine().join(format!("{name}.reason"));
            if let Ok(text) = std::fs::read_to_string(&reason) {
                let code = text
                    .lines()
                    .find_map(|l| l.strip_prefix("code: "))
                    .unwrap_or("?")
                    .to_owned();
                return Ok(format!("refused ({code})"));
            }
            let j = get(addr, "/ready").map_err(|e| e.to_string())?.json();
            if !w.inbox().join(name).exists() && j["sequence"].as_u64() >= Some(seq) {
                return Ok(format!("accepted ({} patients)", j["patients"]));
            }
            Err(j.to_string())
        },
    )
}

/// Seals and delivers a payload; returns the inbox name and the sealed file's size.
fn deliver_payload(w: &Ward, seq: u64, kind: PayloadKind, payload: &[u8]) -> (String, usize) {
    let name = format!("a3-{seq:06}.snap");
    let sealed = seal_raw(w, seq, kind, payload);
    deliver_bytes(&sealed, &w.inbox(), &name);
    (name, sealed.len())
}

/// A Basic resource whose one array, of `item` repeated, fills `size` bytes.
fn one_array(size: usize, item: &str) -> Vec<u8> {
    let head = b"{\"resourceType\":\"Basic\",\"id\":\"big\",\"x\":[";
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(head);
    let n = (size - head.len() - 3) / (item.len() + 1);
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.as_bytes());
    }
    out.extend_from_slice(b"]}\n");
    out
}

/// `n` copies of a resource, one per line (`{i}` in it numbered).
fn many(n: u64, template: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        writeln!(out, "{}", template.replace("{i}", &i.to_string())).unwrap();
    }
    out
}

/// Starts the ward's daemon, moved into `cg` (when given) right after it is spawned.
fn serve_in(w: &Ward, cg: Option<&MemCgroup>) -> (Proc, std::net::SocketAddr) {
    let mut c = noodepd();
    c.args(["serve", "--config", s(&w.config())]);
    let mut p = Proc::spawn(c);
    if let Some(cg) = cg {
        cg.add(p.pid());
    }
    let addr = p.wait_listening();
    (p, addr)
}

/// A ward with a roster and a 24-bed ward in force, its daemon in `cg`.
fn ward_in(cg: Option<&MemCgroup>, web: &str) -> (Ward, Proc, std::net::SocketAddr) {
    let w = Ward::with_web("A3", &format!("plain_http = true\n{web}"));
    let generated = w.generate_with_roster(24, 4711, "A3");
    let roster = w.seal(&generated.join("roster-A3.json"), "A3", 1, "roster");
    let clinical = w.seal(&generated.join("A3.json"), "A3", 2, "clinical");
    let (p, addr) = serve_in(&w, cg);
    deliver(&roster, &w.inbox(), "a3-000001-roster.snap");
    deliver(&clinical, &w.inbox(), "a3-000002.snap");
    poll_ready(addr, "roster and ward in force", |j| j["sequence"] == 2);
    (w, p, addr)
}

/// H3: the payload limit (1 GiB) equalled the service's memory limit and a 750 KB file of
/// 1.5 M tiny resources peaked at 2.5 GB. Every payload within the caps now stays under
/// `MemoryMax`, the daemon is never killed, and those beyond a cap are refused cheaply.
#[test]
fn h3_ingest_stays_under_the_units_memory_max_for_the_worst_payloads_within_the_caps() {
    let cg = match MemCgroup::create(MEMORY_MAX) {
        Ok(cg) => Some(cg),
        Err(why) => {
            eprintln!(
                "H3: no memory cgroup for the daemon ({why}); measuring its peak RSS \
                 (VmHWM) instead — that leaves out page cache and tmpfs, which the unit's \
                 MemoryMax also counts"
            );
            None
        }
    };
    if let Some(cg) = &cg {
        eprintln!(
            "H3: the daemon runs in a {} limited to 1 GiB",
            cg.describe()
        );
    }
    let (w, daemon, addr) = ward_in(cg.as_ref(), "");
    let limits = Limits::default();
    let cap = usize::try_from(limits.max_payload).unwrap();
    let max_res = noodepd::ingest::max_resources(MEMORY_MAX);
    // As many Observations of one patient as both caps allow (about 100,000 of ~200 bytes).
    let observation = r#"{"resourceType":"Observation","id":"o{i}","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-22T06:00:00+01:00","valueQuantity":{"value":72,"unit":"/min"}}"#;
    let mut observations = many(
        1,
        r#"{"resourceType":"Patient","id":"p1","name":[{"family":"Test"}]}"#,
    );
    let line = observation.len() + 8;
    let fit = u64::try_from((cap - observations.len()) / line).unwrap();
    observations.extend(many(fit.min(max_res - 1), observation));
    let payloads: Vec<(&str, Vec<u8>)> = vec![
        (
            "one array of 10 million zeros, at the clinical cap",
            one_array(cap - 64, "0"),
        ),
        (
            "one array of empty strings, at the cap",
            one_array(cap - 64, "\"\""),
        ),
        (
            "one array of empty objects, at the cap",
            one_array(cap - 64, "{}"),
        ),
        (
            "the resource cap of tiny resources",
            many(max_res, r#"{"resourceType":"Basic"}"#),
        ),
        (
            "the resource cap of Observations, near the byte cap",
            observations,
        ),
        (
            "20,000 patients (the mapper's limit)",
            many(
                20_000,
                r#"{"resourceType":"Patient","id":"p{i}","name":[{"family":"F{i}"}]}"#,
            ),
        ),
        (
            "1.5 million tiny resources (beyond the byte cap)",
            many(1_500_000, r#"{"resourceType":"Basic"}"#),
        ),
        (
            "1.5 times the resource cap of tiny resources",
            many(max_res * 3 / 2, r#"{"resourceType":"Basic"}"#),
        ),
    ];
    let mut seq = 3;
    let mut worst = 0u64;
    for (what, payload) in &payloads {
        let t = Instant::now();
        let (name, sealed) = deliver_payload(&w, seq, PayloadKind::Clinical, payload);
        let result = outcome(&w, addr, &name, seq);
        let m = Memory::of(daemon.pid());
        let peak = cg.as_ref().map_or(m.peak, MemCgroup::peak).max(m.peak);
        worst = worst.max(peak);
        eprintln!(
            "H3: {what}: {} MB payload, {} KB sealed: {result} in {:.1} s; peak so far {:.0} MiB \
             (VmHWM {:.0} MiB{})",
            payload.len() / 1_000_000,
            sealed / 1000,
            t.elapsed().as_secs_f64(),
            mib(peak),
            mib(m.peak),
            cg.as_ref()
                .map(|c| format!(
                    ", cgroup {:.0} MiB, OOM kills {}",
                    mib(c.peak()),
                    c.oom_kills()
                ))
                .unwrap_or_default()
        );
        assert_eq!(
            get(addr, "/health").unwrap().status,
            200,
            "the daemon died on: {what}"
        );
        if let Some(cg) = &cg {
            assert_eq!(cg.oom_kills(), 0, "OOM-killed by: {what}");
        }
        seq += 1;
    }
    assert!(
        worst < MEMORY_MAX,
        "peak {:.0} MiB is over the unit's MemoryMax",
        mib(worst)
    );
    // The ones beyond a cap were refused for it.
    let reason = |n: u64| {
        std::fs::read_to_string(w.quarantine().join(format!("a3-{n:06}.snap.reason")))
            .unwrap_or_default()
    };
    assert!(
        reason(seq - 2).contains("code: decompression_bomb"),
        "{}",
        reason(seq - 2)
    );
    assert!(
        reason(seq - 1).contains("code: too_many_resources"),
        "{}",
        reason(seq - 1)
    );
    drop(daemon);
}

/// H3: roster and mode-command caps were checked only after decompression (up to 1 GiB).
/// Now the decompressor stops at each kind's cap: a bomb sealed as either is refused after
/// a few MiB, and the process barely grows.
#[test]
fn h3_roster_and_mode_command_bombs_are_refused_while_decompressing() {
    let (w, daemon, addr) = ward_in(None, "");
    let before = Memory::of(daemon.pid());
    let roster_bomb = vec![b' '; 256 * 1024 * 1024];
    let (name, _) = deliver_payload(&w, 3, PayloadKind::Roster, &roster_bomb);
    drop(roster_bomb);
    assert_eq!(outcome(&w, addr, &name, 3), "refused (decompression_bomb)");
    let mode_bomb = vec![b' '; 64 * 1024 * 1024];
    let (name, _) = deliver_payload(&w, 4, PayloadKind::ModeCommand, &mode_bomb);
    assert_eq!(outcome(&w, addr, &name, 4), "refused (decompression_bomb)");
    let after = Memory::of(daemon.pid());
    let grown = after.peak.saturating_sub(before.peak);
    eprintln!(
        "H3: a 256 MiB roster bomb and a 64 MiB mode-command bomb refused; peak RSS grew {:.1} MiB",
        mib(grown)
    );
    assert!(grown < 32 * 1024 * 1024, "grew {:.1} MiB", mib(grown));
    let reason = std::fs::read_to_string(w.quarantine().join("a3-000003.snap.reason")).unwrap();
    assert!(reason.contains("4194304"), "names the roster cap: {reason}");
    let j = ready(addr);
    assert_eq!(j["sequence"], 2);
    assert_eq!(j["mode"], "standby");
}

/// Hex of a path's bytes, as the ingest marker stores it.
fn hex_path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Kills the daemon while the marker names `file` in its `attempt`-th processing.
fn kill_while_processing(p: &mut Proc, w: &Ward, file: &Path, attempt: u32) {
    let marker = w.state().join(noodepd::ingest::INFLIGHT_MARKER);
    let want = hex_path(file);
    let nth = format!("attempts={attempt}\n");
    poll_for(
        Duration::from_secs(60),
        "processing of the file started",
        || match std::fs::read_to_string(&marker) {
            Ok(t) if t.contains(&want) && t.contains(&nth) => Ok(()),
            _ => Err("no marker for it".into()),
        },
    );
    p.kill9();
}

/// H3: a file the daemon died on stayed in the inbox and was processed again at every
/// start. Now the next start tries it once more, and after a second death quarantines it
/// (`ingest_crashed`) and serves the last good data.
#[test]
fn h3_a_file_the_daemon_died_on_twice_is_quarantined_at_the_next_start() {
    let (w, mut daemon, _) = ward_in(None, "");
    // A full ward: its processing takes long enough to be caught in the middle.
    let big = w.generate(40, 99, "A3");
    let sealed = w.seal(&big, "A3", 3, "clinical");
    let file = w.inbox().join("a3-000003.snap");
    deliver(&sealed, &w.inbox(), "a3-000003.snap");
    kill_while_processing(&mut daemon, &w, &file, 1);
    // Second start: tried once more (a kill or a power cut must not cost a good snapshot).
    let (mut daemon, _) = w.serve();
    kill_while_processing(&mut daemon, &w, &file, 2);
    // Third start: quarantined before anything else, the last good data served.
    let (daemon, addr) = w.serve();
    let reason = poll("the file quarantined", || {
        std::fs::read_to_string(w.quarantine().join("a3-000003.snap.reason"))
            .map_err(|e| e.to_string())
    });
    assert!(reason.contains("code: ingest_crashed"), "{reason}");
    assert!(reason.contains("stopped 2 times"), "{reason}");
    assert!(!file.exists());
    let j = poll_ready(addr, "the last good data served", |j| j["ready"] == true);
    assert_eq!(j["sequence"], 2);
    assert_eq!(j["last_rejection"]["code"], "ingest_crashed");
    assert!(w.audit_entries().iter().any(|e| {
        e["kind"] == "snapshot_rejected"
            && e["detail"]
                .as_str()
                .unwrap()
                .contains("code=ingest_crashed")
    }));
    drop(daemon);
}
