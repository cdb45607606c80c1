//! `noodepd preview` (not implemented yet in this skeleton).

use crate::cli::PreviewArgs;
use std::process::ExitCode;

/// Runs `noodepd preview`.
pub fn run(_args: &PreviewArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'preview' is not implemented yet")
}
