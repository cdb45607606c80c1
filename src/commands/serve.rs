//! `noodepd serve` (not implemented yet in this skeleton).

use crate::cli::ConfigArg;
use std::process::ExitCode;

/// Runs `noodepd serve`.
pub fn run(_args: &ConfigArg) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'serve' is not implemented yet")
}
