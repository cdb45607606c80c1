//! `noodepd bench load-ingest`: logged-in nurses browsing while snapshots keep arriving.
//!
//! N clients (own keep-alive connection each, each logged in through the real login form
//! as one of the roster's nurses) walk ward list → patient page → that patient's MAR → …
//! against the real daemon binary for a fixed time, while a feeder thread seals a new
//! snapshot of the ward and renames it into the inbox every interval. Every response must
//! be a complete `200` HTML page, and every page must come from one generation: snapshot N
//! carries the marker `LOADSEQ` + N (six digits) in every patient's family name and a
//! `data_as_of` of its own minute, so a page's data-age header names the sequence it claims
//! and the page may hold only that sequence's markers. Latencies (p50/p90/p99/max), the
//! generations swapped during the run and the snapshots accepted are reported.
//!
//! The same harness runs shortly in `tests/load_ingest.rs` (errors and consistency only,
//! never latency).
//!
//! Split by job: `options` (what is run and reported), `marked` (the one-generation check),
//! `nurse` (one browsing client), `feeder` (the daemon and its snapshots). This file runs
//! them together.

mod feeder;
mod marked;
mod nurse;
mod options;

pub(crate) use marked::SequenceClock;
pub use options::{Latency, LoadIngestOptions, LoadIngestResult};
pub(crate) use options::{MAX_CLIENTS, MAX_SECONDS, WARD};

use super::BenchError;
use super::daemon::{self, Daemon};
use super::data::{self, Keys, WorkDir};
use super::http::{self, Conn};
use crate::generate::{GenerateOptions, StaffMember, generate};
use crate::snapshot::PayloadKind;
use chrono::Utc;
use feeder::*;
use marked::*;
use nurse::*;
use options::*;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Runs the load; `progress` gets one line per step.
pub fn run(
    opts: &LoadIngestOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<LoadIngestResult, BenchError> {
    let clients = opts.clients.clamp(1, MAX_CLIENTS);
    let duration = opts.duration.min(Duration::from_secs(MAX_SECONDS));
    let interval = opts.interval.max(Duration::from_millis(100));
    let machine = super::run::machine();
    let work = WorkDir::new(&opts.work_parent, "load-ingest")?;
    let keys = Arc::new(Keys::fresh(&work.path().join("keys"))?);
    let now = Utc::now();

    progress(&format!("generating the ward ({} patients)", opts.patients));
    let g = generate(&GenerateOptions::new(opts.patients, opts.seed, WARD, now));
    let bundle = g
        .bundles
        .into_iter()
        .next()
        .map(|(_, b)| b)
        .ok_or_else(|| BenchError::Data("the generator made no ward".into()))?;
    let payload = Arc::new(MarkedPayload::new(bundle)?);
    let nurses: Vec<StaffMember> = g.staff.into_iter().filter(|s| s.role == "nurse").collect();
    if nurses.is_empty() {
        return Err(BenchError::Data("the generated roster has no nurse".into()));
    }
    progress("hashing the roster codes (argon2id)");
    let roster_staff: Vec<StaffMember> = nurses.clone();
    let roster = data::roster_payload(WARD, &roster_staff)?;

    // Sequences: 1 roster, 2 first clinical, then one per interval (with headroom).
    let per_run = duration.as_millis() / interval.as_millis().max(1);
    let max_sequence = 2 + u64::try_from(per_run).unwrap_or(u64::MAX / 2) + 10;
    let clock = Arc::new(SequenceClock::new(now, max_sequence));
    let setup = prepare(&work, &keys, max_sequence)?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    progress(&format!("starting noodepd serve ({})", opts.exe.display()));
    let mut d = Daemon::spawn(&opts.exe, &setup)?;
    let r = rt.block_on(async {
        let since = d.spawned_at;
        d.wait_until(since, WAIT, |_| true).await?;
        let sealed = seal(&keys, &clock, 1, PayloadKind::Roster, &roster)?;
        data::drop_into_inbox(&setup.inbox, "roster-1.snap", &sealed)?;
        d.wait_until(since, WAIT, |r| r.roster_staff > 0).await?;
        let sealed = seal(
            &keys,
            &clock,
            2,
            PayloadKind::Clinical,
            &payload.for_sequence(2),
        )?;
        data::drop_into_inbox(&setup.inbox, "clinical-2.snap", &sealed)?;
        d.wait_until(Instant::now(), WAIT, |r| r.ready && r.sequence == Some(2))
            .await?;

        progress(&format!("logging in {clients} nurses through the form"));
        let mut sessions = Vec::with_capacity(clients);
        let mut login_us = Vec::with_capacity(clients);
        for i in 0..clients {
            let nurse = nurses
                .get(i % nurses.len())
                .ok_or_else(|| BenchError::Data("no nurse".into()))?;
            let (s, us) = login(setup.addr, nurse).await?;
            sessions.push(s);
            login_us.push(us);
        }
        let accepted0 = metric(setup.addr, "noodepd_snapshots_accepted_total").await?;
        let rejected0 = metric(setup.addr, "noodepd_snapshots_rejected_total").await?;

        progress(&format!(
            "{clients} nurses browsing for {} s, {}",
            duration.as_secs_f64(),
            if opts.ingest {
                format!("a snapshot every {:.1} s", interval.as_secs_f64())
            } else {
                "no snapshots (baseline)".to_owned()
            }
        ));
        let start = Instant::now();
        let deadline = start + duration;
        let stop = Arc::new(AtomicBool::new(false));
        let delivered = Arc::new(AtomicU64::new(0));
        let feeder = {
            let (keys, inbox) = (keys.clone(), setup.inbox.clone());
            let (payload, clock) = (payload.clone(), clock.clone());
            let (stop, delivered) = (stop.clone(), delivered.clone());
            // Without ingest the feeder stops at once (its deadline is the start).
            let until = if opts.ingest { deadline } else { start };
            std::thread::spawn(move || -> Result<u64, BenchError> {
                feed(
                    &keys, &inbox, &payload, &clock, interval, until, &stop, &delivered,
                )
            })
        };
        let mut tasks = Vec::with_capacity(clients);
        for (i, s) in sessions.into_iter().enumerate() {
            tasks.push(tokio::spawn(browse(
                s,
                setup.addr,
                clock.clone(),
                opts.patients_per_visit.max(1),
                opts.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                deadline,
            )));
        }
        let mut outs = Vec::with_capacity(clients);
        for t in tasks {
            match t.await {
                Ok(o) => outs.push(o),
                Err(e) => {
                    let mut o = ClientOut::default();
                    o.errors += 1;
                    o.problem(format!("client task failed: {e}"));
                    outs.push(o);
                }
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let last_delivered = match feeder.join() {
            Ok(r) => r?,
            Err(_) => return Err(BenchError::Data("the feeder thread panicked".into())),
        };
        d.check_alive()?;
        // Let the daemon finish the last snapshot delivered, then read the counters.
        let mut late = None;
        let served = match d
            .wait_until(Instant::now(), CATCH_UP, |r| {
                r.sequence.is_some_and(|s| s >= last_delivered)
            })
            .await
        {
            Ok((ready, _)) => ready.sequence,
            Err(e) => {
                late = Some(format!(
                    "sequence {last_delivered} not served {} s after the run: {e}",
                    CATCH_UP.as_secs()
                ));
                let mut c = Conn::connect(setup.addr).await?;
                daemon::ready(&mut c).await?.sequence
            }
        };
        let accepted = metric(setup.addr, "noodepd_snapshots_accepted_total").await?;
        let rejected = metric(setup.addr, "noodepd_snapshots_rejected_total").await?;
        Ok::<_, BenchError>((
            outs,
            login_us,
            seconds,
            delivered.load(Ordering::Relaxed),
            accepted.saturating_sub(accepted0),
            rejected.saturating_sub(rejected0),
            served.unwrap_or_default(),
            late,
        ))
    });
    let stopped = d.stop();
    let (outs, login_us, seconds, delivered, accepted, rejected, last_sequence, late) = r?;
    stopped?;

    let mut lat: [Vec<u32>; 3] = Default::default();
    let mut res = LoadIngestResult {
        clients,
        patients: opts.patients,
        seconds,
        interval_s: opts.ingest.then_some(interval.as_secs_f64()),
        ok: 0,
        errors: 0,
        inconsistent: 0,
        problems: Vec::new(),
        all: Latency::default(),
        ward_list: Latency::default(),
        patient: Latency::default(),
        mar: Latency::default(),
        login: Latency::of(login_us),
        delivered,
        accepted,
        rejected,
        first_sequence: 2,
        last_sequence,
        generations_seen: 0,
        machine,
    };
    if let Some(late) = late {
        res.errors += 1;
        res.problems.push(late);
    }
    let mut seen = BTreeSet::new();
    for o in outs {
        res.ok += o.ok;
        res.errors += o.errors;
        res.inconsistent += o.inconsistent;
        for p in o.problems {
            if res.problems.len() < MAX_PROBLEMS {
                res.problems.push(p);
            }
        }
        seen.extend(o.sequences);
        for (all, mine) in lat.iter_mut().zip(o.lat) {
            all.extend(mine);
        }
    }
    res.generations_seen = seen.len();
    let [w, p, m] = lat;
    res.all = Latency::of(w.iter().chain(&p).chain(&m).copied().collect());
    res.ward_list = Latency::of(w);
    res.patient = Latency::of(p);
    res.mar = Latency::of(m);
    Ok(res)
}

/// Reads one counter from `/metrics` (loopback).
async fn metric(addr: SocketAddr, name: &str) -> Result<u64, BenchError> {
    let mut c = Conn::connect(addr).await?;
    let r = c
        .request(&http::get("/metrics", &addr.to_string(), ""))
        .await?;
    if r.status != 200 {
        return Err(BenchError::Daemon(format!(
            "/metrics answered {}",
            r.status
        )));
    }
    r.text()
        .lines()
        .find_map(|l| {
            let v = l.strip_prefix(name)?.strip_prefix(' ')?;
            v.trim().parse().ok()
        })
        .ok_or_else(|| BenchError::Daemon(format!("/metrics has no {name}")))
}
