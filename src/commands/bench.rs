//! `noodepd bench [--quick] [--json FILE]`: runs the benchmarks (see `crate::bench` and
//! docs/PERFORMANCE.md), prints the table on stdout, progress on stderr.
//! `noodepd bench load-ingest [--clients N] [--seconds S] [--no-ingest]`: browsing under
//! ingest (or without, the baseline); exits 1 when a request failed or a page was not
//! from one generation.

use crate::bench::load_ingest::{self, LoadIngestOptions};
use crate::bench::{self, BenchOptions};
use crate::cli::{BenchArgs, BenchScenario, LoadIngestArgs};
use anyhow::Context;
use std::process::ExitCode;

/// Runs `noodepd bench`.
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(BenchScenario::LoadIngest(a)) = &args.scenario {
        return load_ingest(a);
    }
    let opts = BenchOptions::new(args.quick);
    if cfg!(debug_assertions) {
        eprintln!("bench: warning: this is a debug build; use `cargo run --release -- bench`");
    }
    let t = std::time::Instant::now();
    let report =
        bench::run(&opts, &mut |line| eprintln!("bench: {line}")).context("bench failed")?;
    print!("{}", report.to_text());
    println!("(bench took {:.0} s)", t.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&report).context("encoding the report")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: table written as JSON to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `noodepd bench load-ingest`.
fn load_ingest(a: &LoadIngestArgs) -> anyhow::Result<ExitCode> {
    if cfg!(debug_assertions) {
        eprintln!("bench: warning: this is a debug build; use `cargo run --release -- bench`");
    }
    let exe = std::env::current_exe().context("finding the noodepd binary")?;
    let mut opts = LoadIngestOptions::new(exe);
    opts.clients = a.clients;
    opts.duration = std::time::Duration::from_secs(a.seconds);
    opts.patients = a.patients;
    opts.ingest = !a.no_ingest;
    let r = load_ingest::run(&opts, &mut |line| eprintln!("bench: {line}"))
        .context("bench load-ingest failed")?;
    print!("{}", r.to_text());
    if let Some(path) = &a.json {
        let json = serde_json::to_vec_pretty(&r).context("encoding the figures")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if r.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
