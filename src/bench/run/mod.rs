//! The bench run: what is measured in which order, and how each measurement becomes rows
//! of the report. The measuring itself lives in the sibling modules.
//!
//! Split by job: `options` (what to measure), `appends` (audit appends), `served` (the
//! measurements on a running daemon, with `client` as the nurse's browser), `rows` (figures
//! into report rows). This file runs them in order.

mod appends;
mod client;
mod options;
mod rows;
mod served;

pub use options::BenchOptions;

use super::BenchError;
use super::data::{self, Keys, WorkDir};
use super::pipeline;
use super::report::{Baseline, Report, Row};
use appends::*;
use chrono::Utc;
use options::*;
use rows::*;
use served::*;

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
