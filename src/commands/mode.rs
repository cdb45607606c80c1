//! `noodepd mode` (not implemented yet in this skeleton).

use crate::cli::ModeArgs;
use std::process::ExitCode;

/// Runs `noodepd mode`.
pub fn run(_args: &ModeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'mode' is not implemented yet")
}
