//! The measurements on a running daemon: start it fed through the inbox, the ward phase
//! (freshness, serving, printing), memory and restarts, and the hospital phase.

use super::super::BenchError;
use super::super::daemon::{self, Daemon, Setup};
use super::super::data::{self, Keys, Scale, WorkDir};
use super::super::http::{self, Conn};
use super::super::load::{self, LoadSpec};
use super::super::nginx::{self, Nginx};
use super::super::report::{Baseline, Row, Target};
use super::super::stats::median;
use super::client::*;
use super::options::*;
use super::rows::*;
use crate::generate::StaffMember;
use crate::snapshot::PayloadKind;
use chrono::Utc;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) struct DaemonCtx<'a> {
    pub(super) opts: &'a BenchOptions,
    pub(super) exe: PathBuf,
    pub(super) keys: &'a Keys,
    pub(super) work: &'a WorkDir,
    /// The roster payload (JSON with argon2id hashes) for [`WARD`].
    pub(super) roster: Vec<u8>,
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

    pub(super) fn ward_phase(
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

    pub(super) fn hospital_phase(
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
