//! `noodepd generate` (not implemented yet in this skeleton).

use crate::cli::GenerateArgs;
use std::process::ExitCode;

/// Runs `noodepd generate`.
pub fn run(_args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'generate' is not implemented yet")
}
