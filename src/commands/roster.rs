//! `noodepd roster` (not implemented yet in this skeleton).

use crate::cli::RosterArgs;
use std::process::ExitCode;

/// Runs `noodepd roster`.
pub fn run(_args: &RosterArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'roster' is not implemented yet")
}
