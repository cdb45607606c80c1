//! The publisher's benchmark (docs/PERFORMANCE.md, "Publisher"): a 1 000-patient hospital —
//! 25 wards of 40 beds seeded into sekmet-fhir (tests/publisher/seed_hospital.py, sekmet's
//! own workflows) — read by search, sealed and delivered by SFTP to 25 boxes (one sshd
//! each, the image's sshd_config) in one cycle. Prints the cycle's wall time, the time per
//! ward, the requests per patient and the publisher's peak memory, cold (`--once`, empty
//! caches) and warm (the service's second cycle). Asserts only that every ward was
//! published and delivered; speed is reported, never asserted.
//!
//! Ignored in `cargo test` (it seeds for minutes). Run it as root, after
//! tests/publisher/install.sh:
//!     cargo test --release --test bench_publisher -- --ignored --nocapture
//! `NOODEPD_BENCH_WARDS` / `NOODEPD_BENCH_BEDS` change the size (default 25 × 40).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic
#![cfg(feature = "publisher")]

mod e2e_common;
#[path = "publisher/harness.rs"]
mod harness;

use e2e_common::{Proc, WAIT, poll_for, s};
use harness::{BoxProc, Sekmet, Sshd, metric};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) a process has used so far, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(") ")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Runs `c` to completion, sampling its peak resident memory (VmHWM, KiB) and its CPU
/// time while it runs.
fn run_measured(mut c: Command) -> (std::process::Output, u64, f64) {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let status_path = format!("/proc/{pid}/status");
    let out = std::thread::spawn(move || {
        let (mut peak, mut cpu) = (0u64, 0.0f64);
        loop {
            if let Ok(st) = std::fs::read_to_string(&status_path)
                && let Some(kib) = st
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
            if let Some(c) = cpu_seconds(pid) {
                cpu = c;
            }
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        (child.wait_with_output().unwrap(), peak, cpu)
    });
    out.join().unwrap()
}

/// The number right after `key` in `line`.
fn after(line: &str, key: &str) -> f64 {
    line.split(key)
        .nth(1)
        .and_then(|r| r.split(|c: char| !(c.is_ascii_digit() || c == '.')).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The number right before `key` in `line`.
fn before(line: &str, key: &str) -> f64 {
    line.split(key)
        .next()
        .and_then(|h| h.rsplit(|c: char| !(c.is_ascii_digit() || c == '.')).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
#[ignore = "a benchmark: minutes of seeding; run with --ignored --nocapture (docs/PERFORMANCE.md)"]
fn publisher_reads_seals_and_delivers_a_1000_patient_hospital_in_one_cycle() {
    harness::require_root_and_tools();
    let wards = env_usize("NOODEPD_BENCH_WARDS", 25);
    let beds = env_usize("NOODEPD_BENCH_BEDS", 40);
    let dir = tempfile::Builder::new()
        .prefix("noodepd-bench-publisher-")
        .tempdir()
        .unwrap();
    let p = dir.path().join("publisher");
    std::fs::create_dir_all(&p).unwrap();
    e2e_common::run_ok(&["keygen", "publisher", "--out", s(&p)]);
    harness::run_ok({
        let mut c = Command::new("ssh-keygen");
        c.args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(p.join("upload_ed25519"));
        c
    });

    // The EPD, seeded before it starts serving.
    let sek_dir = dir.path().join("sekmet");
    let (port, token) =
        Sekmet::configure(&sek_dir, None, "unused", &serde_json::json!({"keys": []}));
    let t = Instant::now();
    harness::run_ok({
        let mut c = Command::new(harness::repo().join("tests/publisher/venv/bin/python"));
        c.current_dir(&sek_dir)
            .arg(harness::repo().join("tests/publisher/seed_hospital.py"))
            .args(["settings.yaml", &wards.to_string(), &beds.to_string()]);
        c
    });
    eprintln!(
        "seeded {wards} wards × {beds} beds into sekmet in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let sekmet = Sekmet::serve(&sek_dir, port, token);
    std::fs::write(p.join("epd.token"), format!("{}\n", sekmet.token)).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(p.join("epd.token"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }

    // One sshd per box, as on the ward; one real box (ward 01) to check what arrives.
    let sshds: Vec<Sshd> = (0..wards)
        .map(|_| Sshd::start(&p.join("upload_ed25519.pub")))
        .collect();
    let known: String = sshds.iter().map(|d| d.known_hosts_line() + "\n").collect();
    std::fs::write(p.join("known_hosts"), known).unwrap();
    let first = BoxProc::start(
        "bench-01",
        "BW01",
        &p.join("publisher.pub"),
        &sshds[0].inbox(),
        Some(&sshds[0].status_file()),
    );
    let mut cfg = format!(
        "[publisher]\nstate_dir = \"{state}\"\nkey = \"{p}/publisher.key\"\nlisten = \"127.0.0.1:0\"\n\
         sftp_identity = \"{p}/upload_ed25519\"\nknown_hosts = \"{p}/known_hosts\"\n\n\
         [[source]]\nname = \"epd\"\nbase_url = \"http://127.0.0.1:{port}/fhir\"\ninterval_seconds = 300\n\
         resources = [\"AllergyIntolerance\", \"Flag\", \"Consent\", \"Condition\", \"MedicationRequest\", \
         \"MedicationDispense\", \"MedicationStatement\", \"MedicationAdministration\", \"Observation\", \
         \"RelatedPerson\", \"Device\"]\n[source.auth]\ntype = \"bearer\"\ntoken_file = \"{p}/epd.token\"\n",
        state = s(&p.join("state")),
        p = s(&p),
    );
    for (i, d) in sshds.iter().enumerate() {
        let key = if i == 0 {
            first.public_key()
        } else {
            let kdir = dir.path().join(format!("box-{i:02}"));
            e2e_common::run_ok(&["keygen", "appliance", "--out", s(&kdir)]);
            kdir.join("appliance.pub")
        };
        cfg.push_str(&format!(
            "\n[[ward]]\nid = \"BW{w:02}\"\nlocation_identifier = \"urn:oid:1.2.3.4.5.7|BW-{w:02}\"\n\
             [[ward.box]]\nid = \"bench-{w:02}\"\nkey = \"{k}\"\nsftp = \"{u}@127.0.0.1:{port}\"\n",
            w = i + 1,
            k = s(&key),
            u = harness::INBOX_USER,
            port = d.port,
        ));
    }
    let config = p.join("publisher.toml");
    std::fs::write(&config, cfg).unwrap();

    // Cold: one cycle in a new process.
    let t = Instant::now();
    let epd_cpu_before = cpu_seconds(sekmet.proc.pid() as u32).unwrap_or(f64::NAN);
    let mut once = Command::new(harness::publisher_bin());
    once.arg("--config")
        .arg(&config)
        .arg("--once")
        .env_remove("JOURNAL_STREAM");
    let (out, rss, cpu) = run_measured(once);
    let wall = t.elapsed();
    let epd_cpu = cpu_seconds(sekmet.proc.pid() as u32).unwrap_or(f64::NAN) - epd_cpu_before;
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("ward ")).collect();
    assert_eq!(lines.len(), wards);
    let reads: Vec<f64> = lines.iter().map(|l| after(l, "; read ")).collect();
    let seals: Vec<f64> = lines.iter().map(|l| after(l, ", sealed ")).collect();
    let delivers: Vec<f64> = lines.iter().map(|l| after(l, ", delivered ")).collect();
    let requests: f64 = lines.iter().map(|l| before(l, " requests")).sum();
    let patients: f64 = lines.iter().map(|l| before(l, " patient")).sum();
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!(
        "COLD (--once): {wards} wards, {patients} patients in {:.1} s wall; read per ward mean {:.2} s \
         max {:.2} s; seal per ward mean {:.3} s; delivery per ward mean {:.2} s max {:.2} s; \
         {requests} requests = {:.2} per patient; publisher CPU {:.1} s, EPD (sekmet) CPU {:.1} s; \
         peak RSS {} MiB; {:.1} % of a 300 s interval",
        wall.as_secs_f64(),
        mean(&reads),
        max(&reads),
        mean(&seals),
        mean(&delivers),
        max(&delivers),
        requests / patients,
        cpu,
        epd_cpu,
        rss / 1024,
        wall.as_secs_f64() / 3.0
    );
    let r = first.wait_ready("ward 01 served", |r| r["patients"].as_u64().is_some());
    assert_eq!(r["patients"].as_u64(), Some(beds as u64), "{r}");

    // Warm: the service's second cycle (master data cached).
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("interval_seconds = 300", "interval_seconds = 60"),
    )
    .unwrap();
    let mut c = Command::new(harness::publisher_bin());
    c.arg("--config").arg(&config).env_remove("JOURNAL_STREAM");
    let mut svc = Proc::spawn(c);
    let addr: std::net::SocketAddr = svc.wait_for_line("status page", |l| {
        l.split("/metrics on http://").nth(1)?.trim().parse().ok()
    });
    let cycle_lines = |svc: &Proc| {
        svc.stderr()
            .iter()
            .filter(|l| l.contains("published sequence"))
            .count()
    };
    poll_for(WAIT * 10, "first service cycle", || {
        if cycle_lines(&svc) >= wards {
            Ok(())
        } else {
            Err(format!("{}", cycle_lines(&svc)))
        }
    });
    poll_for(Duration::from_secs(600), "second service cycle", || {
        if cycle_lines(&svc) >= 2 * wards {
            Ok(())
        } else {
            Err(format!("{}", cycle_lines(&svc)))
        }
    });
    let m = e2e_common::get(addr, "/metrics").unwrap().text();
    let warm_requests: f64 = (1..=wards)
        .map(|w| {
            metric(
                &m,
                &format!("noodepd_publisher_ward_requests{{ward=\"BW{w:02}\"}}"),
            )
            .unwrap_or(f64::NAN)
        })
        .sum();
    let warm_reads: Vec<f64> = (1..=wards)
        .map(|w| {
            metric(
                &m,
                &format!("noodepd_publisher_ward_read_seconds{{ward=\"BW{w:02}\"}}"),
            )
            .unwrap_or(f64::NAN)
        })
        .collect();
    eprintln!(
        "WARM (service, second cycle): read per ward mean {:.2} s max {:.2} s; {warm_requests} \
         requests = {:.2} per patient",
        mean(&warm_reads),
        max(&warm_reads),
        warm_requests / patients,
    );
    svc.signal(libc::SIGTERM);
    drop(sekmet);
}
