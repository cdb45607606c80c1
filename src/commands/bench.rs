//! `noodepd bench [--quick] [--json FILE]`: runs the benchmarks (see `crate::bench` and
//! docs/PERFORMANCE.md), prints the table on stdout, progress on stderr.

use crate::bench::{self, BenchOptions};
use crate::cli::BenchArgs;
use anyhow::Context;
use std::process::ExitCode;

/// Runs `noodepd bench`.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
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
