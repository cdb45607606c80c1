//! `noodepd inspect` (not implemented yet in this skeleton).

use crate::cli::InspectArgs;
use std::process::ExitCode;

/// Runs `noodepd inspect`.
pub fn run(_args: &InspectArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'inspect' is not implemented yet")
}
