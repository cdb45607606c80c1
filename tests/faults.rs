//! Fault injection into the real `noodepd serve` binary (issue 8, item 4): a full state
//! partition, a full inbox, a read-only state directory, the inbox deleted and re-created,
//! the clock jumping backwards and forwards (libfaketime), a corrupt generation file while
//! running and at start-up, unusable key files at start-up and while running, and an
//! expired or expiring TLS certificate.
//!
//! Each test checks what IT sees — a one-line `problem [CODE]: ...` on stderr (journald
//! under systemd) with no patient data, an entry with that stable code in `/ready` — and
//! what a nurse gets: the last good data while that is safe, a clear refusal page when the
//! access log cannot be written, never a patient page without its audit entry (counted in
//! the exported log afterwards), and the daemon still running.
//!
//! The disk tests mount small tmpfs file systems and therefore need root (as in CI and on
//! the build machine); each mount is undone by a drop guard. The clock test needs
//! libfaketime (`tests/run.sh` installs it via `image/install-test-deps.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod e2e_common;

use chrono::{DateTime, TimeDelta, Utc};
use e2e_common::*;
use noodepd::keys::{AppliancePublic, PublisherSecret};
use noodepd::snapshot::{PayloadKind, SealRequest, seal};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Deferred snapshots are retried every 30 s, so waits that include a retry are longer.
const RETRY_WAIT: Duration = Duration::from_secs(90);
/// libfaketime, multi-threaded variant (Debian package `libfaketime`), in the
/// architecture's library directory.
fn faketime_lib() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists())
}

// ---- mounts ----

/// A tmpfs mounted for one test; unmounted (lazily, so a straggler cannot block it) on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Mount {
        assert_eq!(
            geteuid(),
            0,
            "the fault tests mount file systems: run them as root (tests/run.sh in CI)"
        );
        std::fs::create_dir_all(at).unwrap();
        sh(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
                s(at),
            ],
        );
        Mount(at.to_owned())
    }
    /// A read-only bind mount of `at` over itself: every path lookup (new files, renames)
    /// gets EROFS, as on a partition remounted read-only after an error. (A plain
    /// `remount,ro` is refused while the daemon has files open for writing.)
    fn bind_read_only(at: &Path) -> Mount {
        sh("mount", &["--bind", s(at), s(at)]);
        let m = Mount(at.to_owned());
        sh("mount", &["-o", "remount,bind,ro", s(at)]);
        m
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn geteuid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fills the file system holding `dir` with `name` until it reports no space.
fn fill(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5au8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
    let _ = f.sync_all();
    path
}

// ---- the ward, its publisher and the daemon ----

/// One ward box set up for a fault: keys, config, a roster and a clinical snapshot.
struct Rig {
    /// Mounts go before the ward directory they live in (fields drop in order).
    _mounts: Vec<Mount>,
    w: Ward,
    publisher: PublisherSecret,
    appliance: AppliancePublic,
    clinical: Vec<u8>,
    names: Vec<String>,
    nurse: (String, String),
    seq: u64,
}

/// Where things are, as `Rig::new` is told.
#[derive(Default)]
struct Layout {
    /// tmpfs size for the state directory (None: a plain directory).
    state_tmpfs: Option<&'static str>,
    /// The inbox outside the state directory, optionally on its own tmpfs.
    separate_inbox: bool,
    inbox_tmpfs: Option<&'static str>,
    /// Extra `[web]` lines instead of plain HTTP.
    web: Option<String>,
}

impl Rig {
    fn new(layout: Layout) -> Rig {
        let w = match &layout.web {
            Some(web) => Ward::with_web("A3", web),
            None => Ward::new("A3"),
        };
        let mut mounts = Vec::new();
        if let Some(size) = layout.state_tmpfs {
            mounts.push(Mount::tmpfs(&w.state(), size));
        }
        if layout.separate_inbox {
            let cfg = std::fs::read_to_string(w.config()).unwrap();
            std::fs::write(
                w.config(),
                cfg.replace("inbox = \"state/inbox\"", "inbox = \"inbox\""),
            )
            .unwrap();
        }
        let rig_inbox = if layout.separate_inbox {
            w.path().join("inbox")
        } else {
            w.inbox()
        };
        std::fs::create_dir_all(&rig_inbox).unwrap();
        if let Some(size) = layout.inbox_tmpfs {
            mounts.push(Mount::tmpfs(&rig_inbox, size));
        }
        let publisher = PublisherSecret::read(&w.keys().join("publisher.key")).unwrap();
        let appliance = AppliancePublic::read(&w.keys().join("appliance.pub")).unwrap();
        let g = noodepd::generate::generate(&noodepd::generate::GenerateOptions::new(
            6,
            808,
            "A3",
            Utc::now(),
        ));
        let nurse = g
            .staff
            .iter()
            .find(|s| s.role == "nurse")
            .map(|s| (s.user.clone(), s.code.clone()))
            .unwrap();
        let bundle = &g.bundles.first().unwrap().1;
        let names = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["resource"]["resourceType"] == "Patient")
            .filter_map(|e| e["resource"]["name"][0]["family"].as_str())
            .map(str::to_owned)
            .collect();
        let mut rig = Rig {
            _mounts: mounts,
            w,
            publisher,
            appliance,
            clinical: serde_json::to_vec(bundle).unwrap(),
            names,
            nurse,
            seq: 0,
        };
        let roster = serde_json::to_vec(&noodepd::generate::roster_json("A3", &g.staff)).unwrap();
        rig.deliver(PayloadKind::Roster, &roster);
        rig.deliver(
            PayloadKind::ModeCommand,
            br#"{"mode": "emergency", "reason": "fault test"}"#,
        );
        let clinical = rig.clinical.clone();
        rig.deliver(PayloadKind::Clinical, &clinical);
        rig
    }

    fn inbox(&self) -> PathBuf {
        let separate = self.w.path().join("inbox");
        if separate.is_dir() {
            separate
        } else {
            self.w.inbox()
        }
    }

    /// Seals the next sequence with both times `as_of`.
    fn sealed_at(&mut self, kind: PayloadKind, payload: &[u8], as_of: DateTime<Utc>) -> Vec<u8> {
        self.seq += 1;
        seal(
            &self.publisher,
            std::slice::from_ref(&self.appliance),
            &SealRequest {
                ward: "A3",
                sequence: self.seq,
                created_at: as_of,
                data_as_of: as_of,
                kind,
                chunk_size: 64 * 1024,
                allow_shrink: false,
            },
            payload,
        )
        .unwrap()
    }

    /// Seals and delivers the next sequence (`.part`, then rename); returns it.
    fn deliver(&mut self, kind: PayloadKind, payload: &[u8]) -> u64 {
        let bytes = self.sealed_at(kind, payload, Utc::now() - TimeDelta::seconds(5));
        let name = format!("a3-{:06}.snap", self.seq);
        deliver_bytes(&bytes, &self.inbox(), &name);
        std::thread::sleep(Duration::from_millis(20));
        self.seq
    }

    fn deliver_clinical(&mut self) -> u64 {
        let c = self.clinical.clone();
        self.deliver(PayloadKind::Clinical, &c)
    }

    /// Starts the daemon with extra environment; waits for it to listen.
    fn start_with(&self, env: &[(&str, &str)]) -> (Proc, SocketAddr) {
        let mut c = noodepd();
        c.args(["serve", "--config", s(&self.w.config())]);
        for (k, v) in env {
            c.env(k, v);
        }
        let mut p = Proc::spawn(c);
        let addr = p.wait_listening();
        (p, addr)
    }

    fn start(&self) -> (Proc, SocketAddr) {
        self.start_with(&[])
    }

    /// Starts and waits until the first clinical snapshot is served with the roster.
    fn start_serving(&self) -> (Proc, SocketAddr) {
        let (p, addr) = self.start();
        wait_serving(addr, self.seq);
        (p, addr)
    }

    /// Checks the access log against what the test saw: every patient page served (200) has
    /// its entry; a refused attempt may have one too (the entry committed, then the head
    /// anchor could not be written), but nothing else does.
    fn assert_every_view_logged(&self, views: &Views) {
        let (served, refused) = (views.served, views.refused);
        let logged = self.logged_patient_views();
        assert!(
            logged >= served && logged <= served + refused,
            "{logged} patient views logged, {served} served, {refused} refused"
        );
    }

    /// Patient views in the exported access log.
    fn logged_patient_views(&self) -> usize {
        let out = run_ok(&[
            "audit",
            "export",
            "--config",
            s(&self.w.config()),
            "--format",
            "jsonl",
        ]);
        out.lines()
            .filter(|l| l.contains("\"kind\":\"patient_view\""))
            .count()
    }

    fn audit_verifies(&self) {
        run_ok(&["audit", "verify", "--config", s(&self.w.config())]);
    }

    /// True when `text` contains any patient's family name.
    fn has_patient_data(&self, text: &str) -> bool {
        self.names.iter().any(|n| text.contains(n.as_str()))
    }
}

fn wait_serving(addr: SocketAddr, seq: u64) -> serde_json::Value {
    wait_serving_for(addr, seq, WAIT)
}

fn wait_serving_for(addr: SocketAddr, seq: u64, limit: Duration) -> serde_json::Value {
    poll_for(
        limit,
        &format!("sequence {seq} served with a roster"),
        || {
            let j = ready(addr);
            (j["sequence"] == seq && j["roster_staff"].as_u64().is_some_and(|n| n > 0))
                .then(|| j.clone())
                .ok_or(j.to_string())
        },
    )
}

/// The stable codes of the problems `/ready` lists now.
fn codes(j: &serde_json::Value) -> Vec<String> {
    j["problems"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn problem_message(j: &serde_json::Value, code: &str) -> String {
    j["problems"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["code"] == code))
        .and_then(|p| p["message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn wait_problem(addr: SocketAddr, code: &str) -> serde_json::Value {
    poll_ready(addr, &format!("problem {code} in /ready"), |j| {
        codes(j).iter().any(|c| c == code)
    })
}

fn wait_no_problem(addr: SocketAddr, code: &str, limit: Duration) -> serde_json::Value {
    poll_for(limit, &format!("problem {code} cleared"), || {
        let j = ready(addr);
        if codes(&j).iter().any(|c| c == code) {
            Err(j.to_string())
        } else {
            Ok(j)
        }
    })
}

/// The one stderr line reporting `code`; checks it is one line with no patient data.
fn problem_line(p: &mut Proc, rig: &Rig, code: &str) -> String {
    let tag = format!("problem [{code}]");
    let line = p.wait_for_line(&tag, |l| l.contains(&tag).then(|| l.to_owned()));
    assert!(
        !rig.has_patient_data(&line),
        "patient data in the log: {line}"
    );
    line
}

/// No patient data anywhere on stderr/stdout.
fn assert_logs_clean(p: &Proc, rig: &Rig) {
    let t = p.transcript();
    assert!(
        !rig.has_patient_data(&t),
        "patient data in the operator log:\n{t}"
    );
}

/// Stops the daemon as systemd does (SIGTERM) and waits for it: the file in hand is finished.
fn stop(mut p: Proc) {
    p.signal(libc::SIGTERM);
    assert!(
        p.wait_exit(WAIT).is_some(),
        "no exit after SIGTERM\n{}",
        p.transcript()
    );
}

fn assert_alive(p: &mut Proc) {
    assert!(
        p.wait_exit(Duration::from_millis(10)).is_none(),
        "the daemon exited\n{}",
        p.transcript()
    );
}

// ---- HTTP as a browser does it ----

/// `request` from e2e_common, for a daemon that must answer.
fn fetch(addr: SocketAddr, method: &str, path: &str, cookie: &str, body: &str) -> Response {
    request(addr, method, path, cookie, body)
        .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"))
}

/// Logs the nurse in; returns the session cookie.
fn log_in(addr: SocketAddr, rig: &Rig) -> String {
    let (user, code) = &rig.nurse;
    login(addr, user, code).unwrap_or_else(|e| panic!("login: {e}"))
}

/// The first patient linked from the overview.
fn first_patient(addr: SocketAddr, cookie: &str) -> String {
    let r = fetch(addr, "GET", "/", cookie, "");
    assert_eq!(r.status, 200, "overview: {}", r.text());
    r.text()
        .split("href=\"/patient/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a patient link on the overview")
        .to_owned()
}

/// Patient pages asked for in a test.
#[derive(Default)]
struct Views {
    served: usize,
    refused: usize,
}

/// Fetches a patient page; counts it when it was served. A 200 must carry patient data; any
/// other answer must carry none.
fn patient_page(
    rig: &Rig,
    addr: SocketAddr,
    cookie: &str,
    key: &str,
    views: &mut Views,
) -> Response {
    let r = fetch(addr, "GET", &format!("/patient/{key}"), cookie, "");
    if r.status == 200 {
        assert!(rig.has_patient_data(&r.text()), "a 200 without the patient");
        views.served += 1;
    } else {
        views.refused += 1;
        assert!(
            !rig.has_patient_data(&r.text()),
            "status {} with patient data",
            r.status
        );
    }
    r
}

// ---- the faults ----

#[test]
fn full_state_partition_refuses_patient_pages_defers_ingest_and_recovers_by_itself() {
    let mut rig = Rig::new(Layout {
        state_tmpfs: Some("24m"),
        ..Layout::default()
    });
    let (mut p, addr) = rig.start_serving();
    let cookie = log_in(addr, &rig);
    let key = first_patient(addr, &cookie);
    let mut views = Views::default();
    assert_eq!(
        patient_page(&rig, addr, &cookie, &key, &mut views).status,
        200
    );

    // A snapshot arrives while the partition is full: written as .part first (the daemon
    // ignores it), renamed once the disk is full (a rename needs no space).
    let before = rig.seq;
    let bytes = rig.sealed_at(PayloadKind::Clinical, &rig.clinical.clone(), Utc::now());
    let part = rig.inbox().join("a3-late.snap.part");
    std::fs::write(&part, &bytes).unwrap();
    let filler = fill(&rig.w.state(), "filler");

    let r = patient_page(&rig, addr, &cookie, &key, &mut views);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("inzagelog"), "{}", r.text());
    let j = wait_problem(addr, "audit_write_failed");
    // The last good data stays loaded, but no page of it can be shown: not ready.
    assert_eq!(j["ready"], false, "every patient page is refused");
    assert!(j["sequence"].is_u64(), "the last good data stays loaded");
    assert!(problem_message(&j, "audit_write_failed").contains(s(&rig.w.state())));
    problem_line(&mut p, &rig, "audit_write_failed");
    // The overview and print views are refused alike: their audit entries cannot be written.
    for path in ["/", "/print/ward", "/print/mar"] {
        let r = fetch(addr, "GET", path, &cookie, "");
        assert_eq!(r.status, 503, "{path}");
        assert!(!rig.has_patient_data(&r.text()), "{path} leaked");
    }

    std::fs::rename(&part, rig.inbox().join("a3-late.snap")).unwrap();
    let j = wait_problem(addr, "ingest_deferred");
    assert_eq!(j["sequence"], before, "nothing half-applied");
    assert!(
        rig.inbox().join("a3-late.snap").exists(),
        "the file waits in the inbox"
    );
    problem_line(&mut p, &rig, "ingest_deferred");
    assert_alive(&mut p);

    std::fs::remove_file(&filler).unwrap();
    wait_no_problem(addr, "audit_write_failed", WAIT);
    assert_eq!(
        patient_page(&rig, addr, &cookie, &key, &mut views).status,
        200
    );
    let j = poll_for(RETRY_WAIT, "the deferred snapshot accepted", || {
        let j = ready(addr);
        if j["sequence"] == rig.seq && !codes(&j).iter().any(|c| c == "ingest_deferred") {
            Ok(j)
        } else {
            Err(j.to_string())
        }
    });
    assert_eq!(j["problems"], serde_json::json!([]));
    assert_alive(&mut p);
    assert_logs_clean(&p, &rig);
    stop(p);
    rig.audit_verifies();
    rig.assert_every_view_logged(&views);
}

#[test]
fn full_inbox_keeps_the_last_data_refuses_a_truncated_upload_and_resumes() {
    let mut rig = Rig::new(Layout {
        separate_inbox: true,
        inbox_tmpfs: Some("2m"),
        ..Layout::default()
    });
    let (mut p, addr) = rig.start_serving();
    let served_seq = rig.seq;
    let filler = fill(&rig.inbox(), ".filler");

    // A careless publisher renames an upload that hit "no space" anyway.
    let bytes = rig.sealed_at(PayloadKind::Clinical, &rig.clinical.clone(), Utc::now());
    let part = rig.inbox().join("a3-cut.snap.part");
    {
        let mut f = std::fs::File::create(&part).unwrap();
        let _ = f.write_all(&bytes);
    }
    assert!(std::fs::metadata(&part).unwrap().len() < bytes.len() as u64);
    std::fs::rename(&part, rig.inbox().join("a3-cut.snap")).unwrap();
    let j = poll_ready(addr, "the cut upload refused", |j| {
        j["last_rejection"]["file"] == "a3-cut.snap"
    });
    assert_eq!(j["last_rejection"]["code"], "truncated");
    assert_eq!(
        j["sequence"], served_seq,
        "the last good data stays in service"
    );
    assert!(rig.w.quarantine().join("a3-cut.snap").exists());
    assert_alive(&mut p);

    std::fs::remove_file(&filler).unwrap();
    let seq = rig.deliver_clinical();
    wait_serving(addr, seq);
    assert_logs_clean(&p, &rig);
}

#[test]
fn read_only_state_directory_refuses_patient_pages_and_defers_ingest_until_writable() {
    let mut rig = Rig::new(Layout {
        separate_inbox: true,
        ..Layout::default()
    });
    let (mut p, addr) = rig.start_serving();
    let cookie = log_in(addr, &rig);
    let key = first_patient(addr, &cookie);
    let mut views = Views::default();
    assert_eq!(
        patient_page(&rig, addr, &cookie, &key, &mut views).status,
        200
    );

    let ro = Mount::bind_read_only(&rig.w.state());
    let r = patient_page(&rig, addr, &cookie, &key, &mut views);
    assert_eq!(r.status, 503);
    let j = wait_problem(addr, "audit_write_failed");
    assert!(
        problem_message(&j, "audit_write_failed").contains("Read-only"),
        "{j}"
    );
    problem_line(&mut p, &rig, "audit_write_failed");

    let before = rig.seq;
    let seq = rig.deliver_clinical();
    let j = wait_problem(addr, "ingest_deferred");
    assert_eq!(j["sequence"], before);
    assert_eq!(
        j["ready"], false,
        "patient pages are refused while the log is read-only"
    );
    assert_alive(&mut p);

    drop(ro);
    let j = wait_no_problem(addr, "audit_write_failed", WAIT);
    assert_eq!(j["ready"], true);
    assert_eq!(
        patient_page(&rig, addr, &cookie, &key, &mut views).status,
        200
    );
    poll_for(RETRY_WAIT, "deferred snapshot accepted", || {
        let j = ready(addr);
        (j["sequence"] == seq && codes(&j).is_empty())
            .then_some(())
            .ok_or(j.to_string())
    });
    assert_logs_clean(&p, &rig);
    stop(p);
    rig.audit_verifies();
    rig.assert_every_view_logged(&views);
}

#[test]
fn inbox_deleted_while_running_is_reported_and_ingest_resumes_once_recreated() {
    let mut rig = Rig::new(Layout::default());
    let (mut p, addr) = rig.start_serving();
    let served_seq = rig.seq;
    std::fs::remove_dir_all(rig.inbox()).unwrap();
    let j = wait_problem(addr, "inbox_unreadable");
    assert_eq!(j["ready"], true);
    assert_eq!(j["sequence"], served_seq);
    assert!(problem_message(&j, "inbox_unreadable").contains(s(&rig.inbox())));
    problem_line(&mut p, &rig, "inbox_unreadable");

    std::fs::create_dir(rig.inbox()).unwrap();
    let seq = rig.deliver_clinical();
    let j = poll_for(RETRY_WAIT, "ingest resumed", || {
        let j = ready(addr);
        (j["sequence"] == seq && codes(&j).is_empty())
            .then(|| j.clone())
            .ok_or(j.to_string())
    });
    assert_eq!(j["problem"], serde_json::Value::Null);
    assert_alive(&mut p);
    assert_logs_clean(&p, &rig);
}

#[test]
fn clock_jumps_flag_future_data_refuse_future_snapshots_end_drills_and_keep_the_chain() {
    let lib = faketime_lib()
        .expect("libfaketime is missing: run image/install-test-deps.sh (package faketime)");
    let mut rig = Rig::new(Layout::default());
    // Switch the mode command in the inbox to a drill (it ends by itself after 120 min).
    for e in std::fs::read_dir(rig.inbox()).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    rig.seq = 0;
    let g = noodepd::generate::generate(&noodepd::generate::GenerateOptions::new(
        6,
        808,
        "A3",
        Utc::now(),
    ));
    let roster = serde_json::to_vec(&noodepd::generate::roster_json("A3", &g.staff)).unwrap();
    rig.deliver(PayloadKind::Roster, &roster);
    rig.deliver(
        PayloadKind::ModeCommand,
        br#"{"mode": "drill", "reason": "clock test"}"#,
    );
    rig.deliver_clinical();

    let clock = rig.w.path().join("faketime");
    std::fs::write(&clock, "+0\n").unwrap();
    let (mut p, addr) = rig.start_with(&[
        ("LD_PRELOAD", s(&lib)),
        ("FAKETIME_TIMESTAMP_FILE", s(&clock)),
        ("FAKETIME_NO_CACHE", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]);
    let j = wait_serving(addr, rig.seq);
    assert_eq!(j["mode"], "drill");
    assert_eq!(j["data_from_future"], false);
    let cookie = log_in(addr, &rig);
    let key = first_patient(addr, &cookie);
    let mut views = Views::default();
    assert_eq!(
        patient_page(&rig, addr, &cookie, &key, &mut views).status,
        200
    );

    // Backwards three hours: the served data now claims to be from the future.
    std::fs::write(&clock, "-3h\n").unwrap();
    let j = wait_problem(addr, "clock_behind_data");
    assert_eq!(j["data_from_future"], true);
    assert_eq!(
        j["stale"], true,
        "an untrustworthy age is never shown as fresh"
    );
    assert!(j["age_seconds"].as_i64().unwrap() < -3 * 3600 + 120, "{j}");
    assert_eq!(j["ready"], true, "the data is still served");
    // The nurse's page says so too, instead of an age of "0 s".
    let r = patient_page(&rig, addr, &cookie, &key, &mut views);
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("KLOK KLOPT NIET") && r.text().contains("stale-banner"),
        "the patient page does not flag the clock"
    );
    // A snapshot sealed by a publisher with the right time is refused as from the future.
    let seq_before = j["sequence"].clone();
    rig.deliver_clinical();
    let j = poll_ready(addr, "future snapshot refused", |j| {
        j["last_rejection"]["code"] == "from_the_future"
    });
    assert_eq!(j["sequence"], seq_before);
    assert_eq!(
        patient_page(&rig, addr, &cookie, &key, &mut views).status,
        200
    );

    // Forwards two days: the data is old and the drill is over.
    std::fs::write(&clock, "+2d\n").unwrap();
    let j = poll_ready(addr, "drill ended after the jump", |j| {
        j["mode"] == "standby" && j["data_from_future"] == false
    });
    assert_eq!(j["stale"], true);
    assert!(j["age_seconds"].as_i64().unwrap() > 2 * 86_400 - 600, "{j}");
    assert!(!codes(&j).iter().any(|c| c == "clock_behind_data"));
    let r = patient_page(&rig, addr, &cookie, &key, &mut views);
    assert_ne!(r.status, 200, "no patient data in standby");
    assert_alive(&mut p);
    assert_logs_clean(&p, &rig);
    stop(p);
    rig.audit_verifies();
    rig.assert_every_view_logged(&views);
}

/// The served generation file in the runtime directory.
fn generation_file(rig: &Rig) -> PathBuf {
    std::fs::read_dir(rig.w.path().join("run"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gen-") && n.ends_with(".sqlite"))
        })
        .expect("a generation file")
}

#[test]
fn corrupt_generation_file_is_never_served_and_is_rebuilt_from_the_kept_snapshot() {
    let rig = Rig::new(Layout::default());
    let (mut p, addr) = rig.start_serving();
    let cookie = log_in(addr, &rig);
    let mut views = Views::default();
    // Every patient's page, before.
    let overview = fetch(addr, "GET", "/", &cookie, "").text();
    let keys: Vec<String> = overview
        .split("href=\"/patient/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|k| !k.contains('/'))
        .map(str::to_owned)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(!keys.is_empty());

    // Rewrite every patient's family name in the live file: valid SQLite, valid JSON,
    // wrong patient — the corruption that must never reach a screen.
    let gen_file = generation_file(&rig);
    let mut bytes = std::fs::read(&gen_file).unwrap();
    let mut changed = 0;
    for name in &rig.names {
        let needle = name.as_bytes();
        let mut i = 0;
        while let Some(at) = bytes
            .get(i..)
            .and_then(|b| b.windows(needle.len()).position(|w| w == needle))
        {
            let start = i + at;
            for b in bytes.get_mut(start..start + needle.len()).unwrap() {
                *b = b'Q';
            }
            changed += 1;
            i = start + needle.len();
        }
    }
    assert!(changed > 0);
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&gen_file)
            .unwrap();
        f.write_all(&bytes).unwrap();
        f.sync_all().unwrap();
    }
    let forged = "Q".repeat(rig.names.iter().map(String::len).min().unwrap());
    for key in &keys {
        let r = fetch(addr, "GET", &format!("/patient/{key}"), &cookie, "");
        assert!(!r.text().contains(&forged), "a changed record was served");
        if r.status == 200 {
            views.served += 1;
        } else {
            views.refused += 1;
        }
    }
    problem_line(&mut p, &rig, "generation_corrupt");
    p.wait_for_line("rebuilt after corruption", |l| {
        l.contains("rebuilt from kept snapshot").then_some(())
    });
    let j = wait_no_problem(addr, "generation_corrupt", WAIT);
    assert_eq!(j["sequence"], rig.seq);
    assert_ne!(
        generation_file(&rig),
        gen_file,
        "a fresh generation is served"
    );
    for key in &keys {
        let r = patient_page(&rig, addr, &cookie, key, &mut views);
        assert_eq!(r.status, 200);
        assert!(!r.text().contains(&forged));
    }
    assert_alive(&mut p);
    assert_logs_clean(&p, &rig);
    stop(p);
    rig.audit_verifies();
    rig.assert_every_view_logged(&views);
}

#[test]
fn corrupt_files_at_start_up_are_discarded_and_an_older_kept_snapshot_is_served() {
    let mut rig = Rig::new(Layout::default());
    let (p, addr) = rig.start_serving();
    let good = rig.seq;
    let newest = rig.deliver_clinical();
    wait_serving(addr, newest);
    stop(p);

    // A stale plaintext generation left in the runtime directory and the newest kept
    // snapshot damaged on disk.
    let run = rig.w.path().join("run");
    std::fs::write(run.join("gen-999-1-1.sqlite"), b"SQLite format 3\0garbage").unwrap();
    let kept = rig
        .w
        .state()
        .join(format!("snapshots/clinical-{newest:020}.snap"));
    let mut bytes = std::fs::read(&kept).unwrap();
    let mid = bytes.len() / 2;
    for b in bytes.get_mut(mid..mid + 64).unwrap() {
        *b ^= 0xff;
    }
    std::fs::write(&kept, &bytes).unwrap();

    let (mut p, addr) = rig.start();
    let j = poll_ready(addr, "the older kept snapshot served", |j| {
        j["ready"] == true
    });
    assert_eq!(j["sequence"], good, "never the damaged one");
    assert!(!run.join("gen-999-1-1.sqlite").exists());
    p.wait_for_line("the damaged kept snapshot reported", |l| {
        l.contains(&format!("clinical-{newest:020}.snap cannot be used"))
            .then_some(())
    });
    let j = wait_problem(addr, "kept_snapshot_unusable");
    assert!(problem_message(&j, "kept_snapshot_unusable").contains(&format!("{good}")));
    problem_line(&mut p, &rig, "kept_snapshot_unusable");
    // The next snapshot is accepted (the sequence stays above the damaged one) and clears it.
    let next = rig.deliver_clinical();
    wait_serving(addr, next);
    wait_no_problem(addr, "kept_snapshot_unusable", WAIT);
    assert_alive(&mut p);
    assert_logs_clean(&p, &rig);
}

#[test]
fn unusable_key_files_name_the_file_and_the_fix_at_start_up_and_while_running() {
    use std::os::unix::fs::PermissionsExt;
    let mut rig = Rig::new(Layout::default());
    let key = rig.w.keys().join("appliance.key");
    let publisher = rig.w.keys().join("publisher.pub");
    let chmod =
        |m: u32| std::fs::set_permissions(&key, std::fs::Permissions::from_mode(m)).unwrap();

    // At start-up: the appliance key readable by others.
    chmod(0o644);
    let (mut p, addr) = rig.start();
    let j = wait_problem(addr, "key_unusable");
    let m = problem_message(&j, "key_unusable");
    assert!(m.contains(s(&key)) && m.contains("chmod 600"), "{m}");
    assert_eq!(j["ready"], false, "nothing decrypted with an unsafe key");
    let line = problem_line(&mut p, &rig, "key_unusable");
    assert!(line.contains("chmod 600"), "{line}");
    // Fixed: the waiting snapshots are taken at their next retry.
    chmod(0o600);
    wait_serving_for(addr, rig.seq, RETRY_WAIT);
    wait_no_problem(addr, "key_unusable", WAIT);
    stop(p);

    // At start-up: the publisher key missing. The kept data cannot be verified: not served.
    let aside = rig.w.path().join("publisher.pub.aside");
    std::fs::rename(&publisher, &aside).unwrap();
    let (mut p, addr) = rig.start();
    let j = wait_problem(addr, "key_unusable");
    let m = problem_message(&j, "key_unusable");
    assert!(
        m.contains(s(&publisher)) && m.contains("re-provision"),
        "{m}"
    );
    assert_eq!(j["ready"], false);
    problem_line(&mut p, &rig, "key_unusable");
    // Put back: the kept data is served again without waiting for a new snapshot.
    std::fs::rename(&aside, &publisher).unwrap();
    let seq = rig.seq;
    wait_serving_for(addr, seq, RETRY_WAIT);

    // While running: chmod 644 is noticed at the next snapshot; the served data stays.
    chmod(0o644);
    let next = rig.deliver_clinical();
    let j = wait_problem(addr, "key_unusable");
    assert_eq!(j["sequence"], seq);
    assert_eq!(j["ready"], true);
    assert!(problem_message(&j, "key_unusable").contains("chmod 600"));
    chmod(0o600);
    poll_for(
        RETRY_WAIT,
        "snapshot accepted once the key is fixed",
        || {
            let j = ready(addr);
            (j["sequence"] == next && codes(&j).is_empty())
                .then_some(())
                .ok_or(j.to_string())
        },
    );
    assert_alive(&mut p);
    assert_logs_clean(&p, &rig);
}

// ---- TLS ----

/// Accepts any server certificate: the test looks at an expired one on purpose.
#[derive(Debug)]
struct AnyCert(std::sync::Arc<tokio_rustls::rustls::crypto::CryptoProvider>);

impl tokio_rustls::rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        _: &[tokio_rustls::rustls::pki_types::CertificateDer<'_>],
        _: &tokio_rustls::rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: tokio_rustls::rustls::pki_types::UnixTime,
    ) -> Result<tokio_rustls::rustls::client::danger::ServerCertVerified, tokio_rustls::rustls::Error>
    {
        Ok(tokio_rustls::rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        d: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> Result<
        tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
        tokio_rustls::rustls::Error,
    > {
        tokio_rustls::rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        d: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> Result<
        tokio_rustls::rustls::client::danger::HandshakeSignatureValid,
        tokio_rustls::rustls::Error,
    > {
        tokio_rustls::rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<tokio_rustls::rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `GET /ready` over TLS; returns (certificate notAfter seen, the JSON).
fn ready_tls(addr: SocketAddr) -> serde_json::Value {
    use tokio_rustls::rustls;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).unwrap();
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw);
    parse_response(&raw).unwrap().json()
}

fn write_cert(dir: &Path, until: DateTime<Utc>) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    use chrono::Datelike;
    params.not_after = rcgen::date_time_ymd(
        until.year(),
        u8::try_from(until.month()).unwrap(),
        u8::try_from(until.day()).unwrap(),
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
    let kp = dir.join("tls.key");
    std::fs::write(&kp, key.serialize_pem()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&kp, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn expired_and_expiring_tls_certificates_warn_in_ready_and_the_log_but_still_serve() {
    let tmp = tempfile::tempdir().unwrap();
    write_cert(tmp.path(), Utc::now() - TimeDelta::days(2));
    let web = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        tmp.path().join("tls.crt").display(),
        tmp.path().join("tls.key").display()
    );
    let rig = Rig::new(Layout {
        web: Some(web),
        ..Layout::default()
    });
    let (mut p, addr) = rig.start();
    // Still served over TLS, with the warning.
    let j = poll_for(WAIT, "served with the expired certificate", || {
        let j = ready_tls(addr);
        (j["sequence"] == rig.seq)
            .then(|| j.clone())
            .ok_or(j.to_string())
    });
    assert!(
        codes(&j).contains(&"tls_certificate_expired".to_owned()),
        "{j}"
    );
    problem_line(&mut p, &rig, "tls_certificate_expired");

    write_cert(tmp.path(), Utc::now() + TimeDelta::days(10));
    p.signal(libc::SIGHUP);
    let j = poll_for(WAIT, "expiring soon after reload", || {
        let j = ready_tls(addr);
        let c = codes(&j);
        (c.contains(&"tls_certificate_expiring".to_owned())
            && !c.contains(&"tls_certificate_expired".to_owned()))
        .then(|| j.clone())
        .ok_or(j.to_string())
    });
    assert!(
        problem_message(&j, "tls_certificate_expiring").contains("in 9 days")
            || problem_message(&j, "tls_certificate_expiring").contains("in 10 days")
    );
    problem_line(&mut p, &rig, "tls_certificate_expiring");

    write_cert(tmp.path(), Utc::now() + TimeDelta::days(400));
    p.signal(libc::SIGHUP);
    poll_for(WAIT, "no certificate problem after renewal", || {
        let j = ready_tls(addr);
        codes(&j).is_empty().then_some(()).ok_or(j.to_string())
    });
    assert_alive(&mut p);
    assert_logs_clean(&p, &rig);
}
