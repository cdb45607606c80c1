//! `noodepd audit` (not implemented yet in this skeleton).

use crate::cli::AuditArgs;
use std::process::ExitCode;

/// Runs `noodepd audit`.
pub fn run(_args: &AuditArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'audit' is not implemented yet")
}
