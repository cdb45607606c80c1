//! `noodepd bench` (not implemented yet in this skeleton).

use crate::cli::BenchArgs;
use std::process::ExitCode;

/// Runs `noodepd bench`.
pub fn run(_args: &BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'bench' is not implemented yet")
}
