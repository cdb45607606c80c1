//! `noodepd seal` (not implemented yet in this skeleton).

use crate::cli::SealArgs;
use std::process::ExitCode;

/// Runs `noodepd seal`.
pub fn run(_args: &SealArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'seal' is not implemented yet")
}
