//! `noodepd keygen` (not implemented yet in this skeleton).

use crate::cli::KeygenArgs;
use std::process::ExitCode;

/// Runs `noodepd keygen`.
pub fn run(_args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'keygen' is not implemented yet")
}
