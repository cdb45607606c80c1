//! `noodepd demo` (not implemented yet in this skeleton).

use crate::cli::DemoArgs;
use std::process::ExitCode;

/// Runs `noodepd demo`.
pub fn run(_args: &DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'demo' is not implemented yet")
}
