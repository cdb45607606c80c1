//! The bench run: what is measured in which order, and how each measurement becomes rows
//! of the report. The measuring itself lives in the sibling modules.

use super::BenchError;
use super::daemon::{self, Daemon, Setup};
use super::data::{self, Keys, Scale, WorkDir};
use super::http::{self, Conn};
use super::load::{self, LoadResult, LoadSpec};
use super::nginx::{self, Nginx};
use super::pipeline::{self, IngestFigures};
use super::report::{Baseline, Report, Row, Target};
use super::stats::{median, percentile};
use crate::audit::{Action, AuditLog, Event, EventKind, Outcome, PatientRef, UserRef};
use crate::generate::StaffMember;
use crate::snapshot::PayloadKind;
use chrono::Utc;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The appliance ward id the bench seals for.
pub(super) const WARD: &str = "BENCH";
/// Full hospital scale.
pub(super) const HOSPITAL_PATIENTS: usize = 1000;
/// Hospital scale of a quick run.
pub(super) const QUICK_HOSPITAL_PATIENTS: usize = 200;

/// How much to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Small runs that finish in under a minute.
    pub quick: bool,
    /// Patients of the ward scale.
    pub ward_patients: usize,
    /// Patients of the hospital scale.
    pub hospital_patients: usize,
    /// P1 repeats per scale (ward, hospital).
    pub repeats: (usize, usize),
    /// P2 snapshots (at least 20).
    pub freshness_snapshots: usize,
    /// P3 duration of one cell.
    pub load_cell: Duration,
    /// P3 concurrency levels.
    pub clients: Vec<usize>,
    /// P5 restarts per scale.
    pub restarts: usize,
    /// P6 renders.
    pub print_repeats: usize,
    /// Audit appends timed for the fsync bound.
    pub audit_appends: usize,
    /// The noodepd binary for P2–P6; `None` runs P1 only.
    pub daemon_exe: Option<PathBuf>,
    /// Run the nginx baseline (installing nginx when missing).
    pub nginx: bool,
    /// Where the work directory is made (removed at the end).
    pub work_parent: PathBuf,
    /// The seed of the generated data (the same seed gives the same data).
    pub seed: u64,
}

impl BenchOptions {
    /// The full run (`quick = false`) or the under-a-minute one.
    pub fn new(quick: bool) -> BenchOptions {
        BenchOptions {
            quick,
            ward_patients: 40,
            hospital_patients: if quick {
                QUICK_HOSPITAL_PATIENTS
            } else {
                HOSPITAL_PATIENTS
            },
            repeats: if quick { (5, 2) } else { (15, 5) },
            freshness_snapshots: if quick { 20 } else { 40 },
            load_cell: Duration::from_secs(if quick { 2 } else { 10 }),
            clients: vec![1, 16, 64],
            restarts: if quick { 3 } else { 5 },
            print_repeats: if quick { 5 } else { 15 },
            audit_appends: if quick { 100 } else { 500 },
            daemon_exe: std::env::current_exe().ok(),
            nginx: true,
            work_parent: std::env::temp_dir(),
            seed: 7,
        }
    }
}

pub(super) fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    format!("{cores} cores, load average {load} at start (shared machine), Linux {kernel}")
}

/// Runs the bench; `progress` gets one line per step (for stderr).
pub fn run(opts: &BenchOptions, progress: &mut dyn FnMut(&str)) -> Result<Report, BenchError> {
    let started_at = Utc::now();
    let machine = machine();
    let work = WorkDir::new(&opts.work_parent, "run")?;
    let keys = Keys::fresh(&work.path().join("keys"))?;
    let now = Utc::now();
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    progress(&format!(
        "generating the ward ({} patients)",
        opts.ward_patients
    ));
    let (ward, ward_staff) = data::scale("ward", opts.ward_patients, opts.seed, WARD, now)?;
    progress(&format!(
        "generating the hospital ({} patients)",
        opts.hospital_patients
    ));
    // The same seed: the same staff, so one roster (argon2 hashing is slow by design).
    let (mut hospital, _) = data::scale("hospital", opts.hospital_patients, opts.seed, WARD, now)?;
    if opts.hospital_patients < HOSPITAL_PATIENTS {
        hospital.reduced_from = Some(HOSPITAL_PATIENTS);
    }
    let scales = [&ward, &hospital]
        .iter()
        .map(|s| {
            format!(
                "{}: {} ward bundle(s), {:.1} MB plaintext FHIR NDJSON, sealed for one appliance (ward {WARD})",
                s.label(),
                s.wards,
                s.payload.len() as f64 / 1e6
            )
        })
        .collect();

    // ---- P1: in-process ingest.
    let mut p1 = Vec::new();
    for (scale, repeats) in [(&ward, opts.repeats.0), (&hospital, opts.repeats.1)] {
        progress(&format!("P1 ingest, {} × {repeats}", scale.label()));
        let dir = work.path().join(format!("p1-{}", scale.name));
        std::fs::create_dir_all(&dir).map_err(BenchError::io(&dir))?;
        let f = pipeline::measure(scale, &keys, &dir, repeats)?;
        let _ = std::fs::remove_dir_all(&dir);
        rows.extend(p1_rows(scale, &f));
        p1.push(f);
    }
    let ward_p1 = p1.first().map(|f| f.total_s);
    let hospital_p1 = p1.get(1).map(|f| f.total_s);

    // ---- The audit fsync bound (P3's patient pages append one durable entry each).
    progress(&format!("audit: {} durable appends", opts.audit_appends));
    let audit_rate = audit_appends_per_s(&work, opts.audit_appends);
    rows.push(match &audit_rate {
        Ok((r, fsyncs)) => Row::new(
            "P3a",
            "audit append (durable), per second",
            Some(*r),
            "/s",
            Some(Baseline {
                what: "write+fsync of a 256 B file".into(),
                value: Some(*fsyncs),
            }),
            None,
        )
        .note("AuditLog::append, one at a time, in a state dir on the same filesystem as the daemon's; every patient page and ward overview view appends one before it is sent, so this bounds those pages per second"),
        Err(e) => Row::missing("P3a", "audit append (fsync), per second", "/s", e.to_string()),
    });

    // ---- P2–P6: the daemon.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    match &opts.daemon_exe {
        None => notes.push("P2–P6 not run: no daemon binary given".into()),
        Some(exe) => {
            progress("hashing the roster codes (argon2id)");
            let roster = data::roster_payload(WARD, &ward_staff)?;
            let ctx = DaemonCtx {
                opts,
                exe: exe.clone(),
                keys: &keys,
                work: &work,
                roster,
            };
            rows.extend(ctx.ward_phase(&rt, &ward, &ward_staff, ward_p1, &mut notes, progress));
            rows.extend(ctx.hospital_phase(&rt, &hospital, &ward_staff, hospital_p1, progress));
        }
    }
    notes.push(format!(
        "P1 figures are medians of {} (ward) and {} (hospital) runs; P3 cells last {} s each; the load generator runs on one thread on the same 2 cores as the server under test (for noodepd and nginx alike)",
        opts.repeats.0,
        opts.repeats.1,
        opts.load_cell.as_secs_f64()
    ));
    Ok(Report {
        mode: if opts.quick { "quick" } else { "full" }.into(),
        started_at: started_at.to_rfc3339(),
        machine,
        scales,
        rows,
        notes,
    })
}

fn p1_rows(scale: &Scale, f: &IngestFigures) -> Vec<Row> {
    let l = scale.label();
    let mut rows = Vec::new();
    let mut tput = Row::new(
        "P1",
        format!("ingest throughput, {l}"),
        f.pipeline_mb_s(),
        "MB/s",
        Some(Baseline {
            what: "serde_json parse-only".into(),
            value: f.parse_mb_s(),
        }),
        Some(Target::RatioAtLeast { min: 2.0 }),
    );
    if f.patients_mapped != scale.patients {
        tput = tput.note(format!(
            "the mapper returned {} patients for {} generated",
            f.patients_mapped, scale.patients
        ));
    }
    rows.push(tput);
    rows.push(Row::new(
        "P1",
        format!("ingest throughput vs the skim floor, {l}"),
        f.pipeline_mb_s(),
        "MB/s",
        Some(Baseline {
            what: "serde_json borrowed skim (resourceType only)".into(),
            value: f.skim_mb_s(),
        }),
        None,
    ));
    rows.push(Row::new(
        "P1",
        format!("ingest throughput vs decryption, {l}"),
        f.pipeline_mb_s(),
        "MB/s",
        Some(Baseline {
            what: "AES-256-GCM decrypt only".into(),
            value: f.aes_mb_s(),
        }),
        None,
    ));
    let limit = match (scale.name, scale.reduced_from) {
        ("ward", _) => Some(0.03),
        (_, None) => Some(1.0),
        (_, Some(_)) => None,
    };
    let mut secs = Row::new(
        "P1",
        format!("seconds per snapshot, {l}"),
        Some(f.total_s),
        "s",
        Some(Baseline {
            what: "serde_json parse-only".into(),
            value: Some(f.parse_only_s),
        }),
        limit.map(|limit| Target::Below { limit }),
    );
    let (slow, slow_s) = f.slowest_stage();
    secs = secs.note(format!(
        "sealed file {:.1} MB; slowest stage: {slow} ({:.0}% of the total)",
        f.sealed_bytes as f64 / 1e6,
        100.0 * slow_s / f.total_s
    ));
    if scale.reduced_from.is_some() {
        secs =
            secs.note("reduced scale: the 1 s target is for 1,000 patients (run without --quick)");
    }
    rows.push(secs);
    let total = Some(Baseline {
        what: "whole pipeline".into(),
        value: Some(f.total_s),
    });
    for (stage, v) in [
        ("read file", f.read_s),
        ("open: verify+decrypt+decompress", f.open_s),
        ("map: parse+map", f.map_s),
        ("store build+swap", f.build_swap_s),
    ] {
        rows.push(Row::new(
            "P1",
            format!("  stage {stage}, {}", scale.name),
            Some(v),
            "s",
            total.clone(),
            None,
        ));
    }
    rows
}

/// Durable audit appends per second, and plain write+fsync per second, on the work dir's
/// filesystem.
fn audit_appends_per_s(work: &WorkDir, n: usize) -> Result<(f64, f64), BenchError> {
    let dir = work.path().join("audit-bound");
    std::fs::create_dir_all(&dir).map_err(BenchError::io(&dir))?;
    let log = AuditLog::open(&dir, "bench", WARD)?;
    let event = Event::new(
        EventKind::PatientView,
        Action::R,
        Outcome::Success,
        "drill",
        "patient page".into(),
    )
    .by(
        Some(UserRef {
            id: "bench".into(),
            name: "Bench".into(),
            role: "nurse".into(),
        }),
        None,
    )
    .concerning(vec![PatientRef {
        key: "p-1".into(),
        patient_number: Some("1000001".into()),
        bsn: None,
    }]);
    let n = n.max(1);
    let t = Instant::now();
    for _ in 0..n {
        log.append(event.clone())?;
    }
    let s = t.elapsed().as_secs_f64();
    drop(log);
    let f = dir.join("fsync.bin");
    let t = Instant::now();
    for i in 0..n {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&f).map_err(BenchError::io(&f))?;
        file.write_all(&[i as u8; 256])
            .map_err(BenchError::io(&f))?;
        file.sync_all().map_err(BenchError::io(&f))?;
    }
    let fs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((n as f64 / s, n as f64 / fs))
}

struct DaemonCtx<'a> {
    opts: &'a BenchOptions,
    exe: PathBuf,
    keys: &'a Keys,
    work: &'a WorkDir,
    /// The roster payload (JSON with argon2id hashes) for [`WARD`].
    roster: Vec<u8>,
}

/// A logged-in session on a running daemon.
struct Session {
    cookies: String,
    patient_path: Option<String>,
}

const READY_TIMEOUT: Duration = Duration::from_secs(300);

impl DaemonCtx<'_> {
    /// Prepares a daemon dir, starts it, feeds it the roster (sequence 1) and the clinical
    /// snapshot (sequence 2) through the inbox, and waits until both are in force.
    async fn start_fed(
        &self,
        scale: &Scale,
        name: &str,
    ) -> Result<(Setup, Daemon, Duration), BenchError> {
        let root = self.work.path().join(name);
        std::fs::create_dir_all(&root).map_err(BenchError::io(&root))?;
        let setup = daemon::prepare(&root, &scale.ward, self.keys)?;
        let mut d = Daemon::spawn(&self.exe, &setup)?;
        let since = d.spawned_at;
        d.wait_until(since, READY_TIMEOUT, |_| true).await?;
        let sealed = self.keys.seal(
            &scale.ward,
            1,
            PayloadKind::Roster,
            &self.roster,
            Utc::now(),
        )?;
        data::drop_into_inbox(&setup.inbox, "roster-1.snap", &sealed)?;
        d.wait_until(since, READY_TIMEOUT, |r| r.roster_staff > 0)
            .await?;
        let sealed = self.keys.seal(
            &scale.ward,
            2,
            PayloadKind::Clinical,
            &scale.payload,
            Utc::now(),
        )?;
        let t = Instant::now();
        data::drop_into_inbox(&setup.inbox, "clinical-2.snap", &sealed)?;
        let (_, took) = d
            .wait_until(t, READY_TIMEOUT, |r| r.ready && r.sequence == Some(2))
            .await?;
        Ok((setup, d, took))
    }

    fn ward_phase(
        &self,
        rt: &tokio::runtime::Runtime,
        scale: &Scale,
        staff: &[StaffMember],
        p1_s: Option<f64>,
        notes: &mut Vec<String>,
        progress: &mut dyn FnMut(&str),
    ) -> Vec<Row> {
        let mut rows = Vec::new();
        progress(&format!(
            "starting noodepd serve with the {}",
            scale.label()
        ));
        let started = rt.block_on(self.start_fed(scale, "daemon-ward"));
        let (setup, mut d, first) = match started {
            Ok(x) => x,
            Err(e) => {
                let why = format!("the daemon could not be run: {e}");
                for (id, what, unit) in [
                    ("P2", "freshness p95, ward", "s"),
                    ("P3", "serving, ward", "req/s"),
                    ("P4", "peak RSS, ward", "MiB"),
                    ("P5", "start-up, ward", "s"),
                    ("P6", "print all-patients MAR, ward", "s"),
                ] {
                    rows.push(Row::missing(id, what, unit, why.clone()));
                }
                return rows;
            }
        };
        notes.push(format!(
            "first ingest of the ward snapshot through the inbox took {:.3} s",
            first.as_secs_f64()
        ));

        // P2 freshness.
        progress(&format!(
            "P2 freshness, {} snapshots",
            self.opts.freshness_snapshots
        ));
        rows.extend(match rt.block_on(self.freshness(scale, &setup, &mut d)) {
            Ok((lat, rtt)) => freshness_rows(scale, &lat, rtt, p1_s),
            Err(e) => vec![Row::missing(
                "P2",
                "freshness p95, ward",
                "s",
                e.to_string(),
            )],
        });

        // Log in as a nurse.
        let session = match rt.block_on(login(setup.addr, staff)) {
            Ok(s) => s,
            Err(e) => {
                let why = format!("cannot log in as a nurse: {e}");
                rows.push(Row::missing("P3", "serving, ward", "req/s", why.clone()));
                rows.push(Row::missing("P6", "print all-patients MAR, ward", "s", why));
                rows.extend(self.memory_and_restarts(rt, scale, setup, d, p1_s, progress));
                return rows;
            }
        };

        // P6 print (before the load, so the load's audit growth does not colour it).
        progress("P6 print MAR");
        rows.push(
            match rt.block_on(print_mar(setup.addr, &session, self.opts.print_repeats)) {
                Ok((mar, overview)) => Row::new(
                    "P6",
                    "print all-patients MAR, ward",
                    Some(mar),
                    "s",
                    Some(Baseline {
                        what: "ward overview GET /".into(),
                        value: Some(overview),
                    }),
                    None,
                )
                .note(format!(
                    "median of {} renders of GET /print/mar over one keep-alive connection, each audited",
                    self.opts.print_repeats
                )),
                Err(e) => Row::missing("P6", "print all-patients MAR, ward", "s", e.to_string()),
            },
        );

        // P3 serving vs nginx.
        rows.extend(self.serving(rt, &setup, &session, progress));
        rows.extend(self.memory_and_restarts(rt, scale, setup, d, p1_s, progress));
        rows
    }

    async fn freshness(
        &self,
        scale: &Scale,
        setup: &Setup,
        d: &mut Daemon,
    ) -> Result<(Vec<f64>, f64), BenchError> {
        let mut lat = Vec::new();
        let mut rtts = Vec::new();
        let mut conn = Conn::connect(setup.addr).await?;
        for i in 0..self.opts.freshness_snapshots.max(20) {
            let seq = 3 + i as u64;
            let sealed = self.keys.seal(
                &scale.ward,
                seq,
                PayloadKind::Clinical,
                &scale.payload,
                Utc::now(),
            )?;
            let name = format!("clinical-{seq}.snap");
            let part = setup.inbox.join(format!("{name}.part"));
            let fin = setup.inbox.join(&name);
            std::fs::write(&part, &sealed).map_err(BenchError::io(&part))?;
            let t0 = Instant::now();
            std::fs::rename(&part, &fin).map_err(BenchError::io(&fin))?;
            loop {
                let q = Instant::now();
                let r = daemon::ready(&mut conn).await?;
                rtts.push(q.elapsed().as_secs_f64());
                if r.sequence == Some(seq) {
                    lat.push(t0.elapsed().as_secs_f64());
                    break;
                }
                if t0.elapsed() > Duration::from_secs(60) {
                    d.check_alive()?;
                    return Err(BenchError::Daemon(format!(
                        "snapshot {seq} not served within 60 s (served: {:?}, problem: {:?}); log: {}",
                        r.sequence,
                        r.problem,
                        d.log_tail()
                    )));
                }
                tokio::time::sleep(daemon::POLL).await;
            }
        }
        Ok((lat, median(&rtts).unwrap_or(f64::NAN)))
    }

    fn serving(
        &self,
        rt: &tokio::runtime::Runtime,
        setup: &Setup,
        session: &Session,
        progress: &mut dyn FnMut(&str),
    ) -> Vec<Row> {
        let mut rows = Vec::new();
        let host = setup.addr.to_string();
        let mut pages: Vec<(&str, String)> = vec![("ward overview /", "/".to_owned())];
        match &session.patient_path {
            Some(p) => pages.push(("patient page", p.clone())),
            None => rows.push(Row::missing(
                "P3",
                "serving patient page",
                "req/s",
                "the ward overview links no /patient/ page",
            )),
        }
        // The same HTML, fetched once from noodepd, for nginx.
        let mut bodies: Vec<(String, Vec<u8>)> = Vec::new();
        for (i, (_, path)) in pages.iter().enumerate() {
            let body = rt.block_on(async {
                let mut c = Conn::connect(setup.addr).await?;
                c.request(&http::get(path, &host, &session.cookies)).await
            });
            match body {
                Ok(r) if r.status == 200 => bodies.push((format!("page{i}.html"), r.body)),
                Ok(r) => {
                    rows.push(Row::missing(
                        "P3",
                        format!("serving {path}"),
                        "req/s",
                        format!("GET {path} answered {}", r.status),
                    ));
                    return rows;
                }
                Err(e) => {
                    rows.push(Row::missing(
                        "P3",
                        format!("serving {path}"),
                        "req/s",
                        e.to_string(),
                    ));
                    return rows;
                }
            }
        }
        let nginx = if self.opts.nginx {
            nginx::ensure_installed(&mut |m| progress(m)).and_then(|bin| {
                let files: Vec<(&str, &[u8])> = bodies
                    .iter()
                    .map(|(n, b)| (n.as_str(), b.as_slice()))
                    .collect();
                Nginx::start(&bin, &self.work.path().join("nginx"), &files)
            })
        } else {
            Err(BenchError::Nginx("disabled for this run".into()))
        };
        let nginx_err = nginx.as_ref().err().map(|e| e.to_string());
        for (i, (label, path)) in pages.iter().enumerate() {
            for &clients in &self.opts.clients {
                progress(&format!("P3 {label}, {clients} client(s)"));
                let ours = rt.block_on(load::run(&LoadSpec {
                    addr: setup.addr,
                    request: Arc::new(http::get(path, &host, &session.cookies)),
                    clients,
                    duration: self.opts.load_cell,
                }));
                let theirs = nginx.as_ref().ok().map(|n| {
                    let nhost = n.addr.to_string();
                    rt.block_on(load::run(&LoadSpec {
                        addr: n.addr,
                        request: Arc::new(http::get(&format!("/page{i}.html"), &nhost, "")),
                        clients,
                        duration: self.opts.load_cell,
                    }))
                });
                rows.extend(serving_rows(
                    label,
                    clients,
                    &ours,
                    theirs.as_ref(),
                    nginx_err.as_deref(),
                ));
            }
        }
        if let Ok(n) = nginx {
            n.stop();
        }
        rows
    }

    fn memory_and_restarts(
        &self,
        rt: &tokio::runtime::Runtime,
        scale: &Scale,
        setup: Setup,
        d: Daemon,
        p1_s: Option<f64>,
        progress: &mut dyn FnMut(&str),
    ) -> Vec<Row> {
        let mut rows = Vec::new();
        let name = scale.name;
        let limit = if name == "ward" { 48.0 } else { 256.0 };
        let hwm = d.vm_hwm_kib().map(|k| k as f64 / 1024.0);
        let mut row = Row::new(
            "P4",
            format!("peak RSS after the load, {}", scale.label()),
            hwm,
            "MiB",
            Some(Baseline {
                what: "plaintext FHIR size".into(),
                value: Some(scale.payload.len() as f64 / 1048576.0),
            }),
            (scale.reduced_from.is_none()).then_some(Target::Below { limit }),
        )
        .note("VmHWM of the daemon from /proc/PID/status");
        if hwm.is_none() {
            row = row.note("could not read /proc/PID/status");
        }
        if scale.reduced_from.is_some() {
            row = row.note("reduced scale: the 256 MiB target is for 1,000 patients");
        }
        rows.push(row);
        if let Err(e) = d.stop() {
            rows.push(Row::missing(
                "P5",
                format!("start-up, {name}"),
                "s",
                e.to_string(),
            ));
            return rows;
        }
        progress(&format!(
            "P5 start-up, {} restarts of the {name}",
            self.opts.restarts
        ));
        let mut times = Vec::new();
        let mut err = None;
        for _ in 0..self.opts.restarts.max(1) {
            let r = rt.block_on(async {
                let mut d = Daemon::spawn(&self.exe, &setup)?;
                let since = d.spawned_at;
                let (_, took) = d.wait_until(since, READY_TIMEOUT, |r| r.ready).await?;
                d.stop()?;
                Ok::<_, BenchError>(took)
            });
            match r {
                Ok(t) => times.push(t.as_secs_f64()),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let target = match (name, scale.reduced_from) {
            ("ward", _) => Some(Target::Below { limit: 0.1 }),
            _ => None,
        };
        rows.push(match (median(&times), err) {
            (Some(m), e) => {
                let mut r = Row::new(
                    "P5",
                    format!("start-up to ready, {}", scale.label()),
                    Some(m),
                    "s",
                    Some(Baseline {
                        what: "P1 in-process ingest".into(),
                        value: p1_s,
                    }),
                    target,
                )
                .note(format!(
                    "median of {} restarts: the last generation reused when it verifies, else mapped from the kept snapshot (process spawn to /ready ready:true)",
                    times.len()
                ));
                if let Some(e) = e {
                    r = r.note(format!("a later restart failed: {e}"));
                }
                r
            }
            (None, Some(e)) => Row::missing("P5", format!("start-up, {name}"), "s", e.to_string()),
            (None, None) => Row::missing("P5", format!("start-up, {name}"), "s", "no restarts"),
        });
        rows
    }

    fn hospital_phase(
        &self,
        rt: &tokio::runtime::Runtime,
        scale: &Scale,
        staff: &[StaffMember],
        p1_s: Option<f64>,
        progress: &mut dyn FnMut(&str),
    ) -> Vec<Row> {
        let mut rows = Vec::new();
        progress(&format!(
            "starting noodepd serve with the {}",
            scale.label()
        ));
        let (setup, d, first) = match rt.block_on(self.start_fed(scale, "daemon-hospital")) {
            Ok(x) => x,
            Err(e) => {
                let why = format!("the daemon could not be run: {e}");
                rows.push(Row::missing(
                    "P4",
                    format!("peak RSS, {}", scale.label()),
                    "MiB",
                    why.clone(),
                ));
                rows.push(Row::missing(
                    "P5",
                    format!("start-up, {}", scale.label()),
                    "s",
                    why,
                ));
                return rows;
            }
        };
        rows.push(
            Row::new(
                "P2",
                format!("first ingest through the inbox, {}", scale.label()),
                Some(first.as_secs_f64()),
                "s",
                Some(Baseline {
                    what: "P1 in-process ingest".into(),
                    value: p1_s,
                }),
                scale
                    .reduced_from
                    .is_none()
                    .then_some(Target::Below { limit: 1.0 }),
            )
            .note("rename into the inbox → /ready shows the sequence"),
        );
        // Some load so the peak RSS is the serving peak, not only the ingest peak.
        progress("hospital: short load on / and a patient page");
        let cell = self.opts.load_cell.min(Duration::from_secs(3));
        if let Ok(session) = rt.block_on(login(setup.addr, staff)) {
            let host = setup.addr.to_string();
            let mut paths = vec!["/".to_owned()];
            paths.extend(session.patient_path.clone());
            for path in paths {
                let r = rt.block_on(load::run(&LoadSpec {
                    addr: setup.addr,
                    request: Arc::new(http::get(&path, &host, &session.cookies)),
                    clients: 16,
                    duration: cell,
                }));
                let what = if path == "/" {
                    "ward overview /"
                } else {
                    "patient page"
                };
                rows.push(
                    Row::new(
                        "P3",
                        format!("{what} at 16 clients, {}", scale.label()),
                        r.rps(),
                        "req/s",
                        None,
                        None,
                    )
                    .note(format!(
                        "p50 {} ms, p99 {} ms, {} errors{}",
                        fmt_ms(r.p50_ms),
                        fmt_ms(r.p99_ms),
                        r.errors,
                        r.first_error
                            .map(|e| format!(" (first: {e})"))
                            .unwrap_or_default()
                    )),
                );
            }
        }
        rows.extend(self.memory_and_restarts(rt, scale, setup, d, p1_s, progress));
        rows
    }
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map(super::report::num).unwrap_or_else(|| "—".into())
}

fn freshness_rows(scale: &Scale, lat: &[f64], rtt: f64, p1_s: Option<f64>) -> Vec<Row> {
    let base = || {
        Some(Baseline {
            what: "P1 in-process ingest".into(),
            value: p1_s,
        })
    };
    let note = format!(
        "{} snapshots of the {}; rename into the inbox → GET /ready shows the new sequence, polled every 2 ms on one keep-alive connection (median /ready round trip {:.2} ms = the resolution); baseline = the same work in-process, so the ratio is the daemon's overhead (inotify, sequence check, keep, audit fsync)",
        lat.len(),
        scale.label(),
        rtt * 1000.0
    );
    vec![
        Row::new(
            "P2",
            "freshness p50, ward",
            percentile(lat, 50.0),
            "s",
            base(),
            None,
        ),
        Row::new(
            "P2",
            "freshness p95, ward",
            percentile(lat, 95.0),
            "s",
            base(),
            Some(Target::Below { limit: 1.0 }),
        )
        .note(note),
    ]
}

fn serving_rows(
    label: &str,
    clients: usize,
    ours: &LoadResult,
    theirs: Option<&LoadResult>,
    nginx_err: Option<&str>,
) -> Vec<Row> {
    let at64 = clients >= 64;
    let what = format!(
        "{label} at {clients} client{}",
        if clients == 1 { "" } else { "s" }
    );
    let mut rps = Row::new(
        "P3",
        format!("{what}, req/s"),
        ours.rps(),
        "req/s",
        Some(Baseline {
            what: "nginx, same HTML, static".into(),
            value: theirs.and_then(LoadResult::rps),
        }),
        at64.then_some(Target::RatioAtLeast { min: 0.5 }),
    );
    if at64 {
        let p99_ok = ours.p99_ms.is_some_and(|p| p < 20.0);
        rps = rps.also_requires(
            p99_ok,
            &format!("p99 {} ms is not below 20 ms", fmt_ms(ours.p99_ms)),
        );
    }
    rps = rps.note(format!(
        "noodepd p50 {} ms; nginx p50 {} ms",
        fmt_ms(ours.p50_ms),
        fmt_ms(theirs.and_then(|t| t.p50_ms))
    ));
    if ours.errors > 0 {
        rps = rps.note(format!(
            "{} failed requests{}",
            ours.errors,
            ours.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        ));
    }
    if let Some(e) = nginx_err {
        rps = rps.note(format!("nginx baseline missing: {e}"));
    }
    let p99 = Row::new(
        "P3",
        format!("{what}, p99 latency"),
        ours.p99_ms,
        "ms",
        Some(Baseline {
            what: "nginx p99".into(),
            value: theirs.and_then(|t| t.p99_ms),
        }),
        at64.then_some(Target::Below { limit: 20.0 }),
    );
    vec![rps, p99]
}

/// Logs in as the first nurse of the roster: GET /login for the pre-login cookie and the
/// form's CSRF token, POST the form, keep the session cookie, load the overview.
async fn login(addr: std::net::SocketAddr, staff: &[StaffMember]) -> Result<Session, BenchError> {
    let nurse = staff
        .iter()
        .find(|s| s.role == "nurse")
        .ok_or_else(|| BenchError::Data("the generated roster has no nurse".into()))?;
    let host = addr.to_string();
    let mut jar = Vec::new();
    let mut c = Conn::connect(addr).await?;
    let r = c.request(&http::get("/login", &host, "")).await?;
    http::merge_cookies(&mut jar, r.set_cookies());
    let csrf = http::hidden_input(&r.text(), "csrf").ok_or_else(|| {
        BenchError::Daemon(format!(
            "GET /login ({}) has no hidden csrf input",
            r.status
        ))
    })?;
    let r = c
        .request(&http::post_form(
            "/login",
            &host,
            &http::cookie_header(&jar),
            &[
                ("user", nurse.user.as_str()),
                ("code", nurse.code.as_str()),
                ("csrf", csrf.as_str()),
            ],
        ))
        .await?;
    if !matches!(r.status, 200 | 302 | 303) {
        return Err(BenchError::Daemon(format!(
            "POST /login answered {}",
            r.status
        )));
    }
    http::merge_cookies(&mut jar, r.set_cookies());
    let cookies = http::cookie_header(&jar);
    let r = c.request(&http::get("/", &host, &cookies)).await?;
    if r.status != 200 {
        return Err(BenchError::Daemon(format!(
            "GET / after login answered {} (not logged in, or not in drill mode?)",
            r.status
        )));
    }
    let patient_path = http::first_link(&r.text(), "/patient/");
    Ok(Session {
        cookies,
        patient_path,
    })
}

/// Medians of `n` renders of `/print/mar` and of `/`, seconds.
async fn print_mar(
    addr: std::net::SocketAddr,
    s: &Session,
    n: usize,
) -> Result<(f64, f64), BenchError> {
    let host = addr.to_string();
    let mut c = Conn::connect(addr).await?;
    let mut mar = Vec::new();
    let mut overview = Vec::new();
    for _ in 0..n.max(1) {
        let t = Instant::now();
        let r = c
            .request(&http::get("/print/mar", &host, &s.cookies))
            .await?;
        if r.status != 200 {
            return Err(BenchError::Daemon(format!(
                "GET /print/mar answered {}",
                r.status
            )));
        }
        mar.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let r = c.request(&http::get("/", &host, &s.cookies)).await?;
        if r.status != 200 {
            return Err(BenchError::Daemon(format!("GET / answered {}", r.status)));
        }
        overview.push(t.elapsed().as_secs_f64());
    }
    Ok((
        median(&mar).unwrap_or(f64::NAN),
        median(&overview).unwrap_or(f64::NAN),
    ))
}
