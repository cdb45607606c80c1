//! `noodepd serve --config FILE`: run the daemon (inbox watcher, web view, control socket)
//! until SIGTERM or SIGINT.

use crate::cli::ConfigArg;
use crate::config::Config;
use anyhow::Context;
use std::process::ExitCode;

/// Runs `noodepd serve`.
pub(crate) fn run(args: &ConfigArg) -> anyhow::Result<ExitCode> {
    crate::logging::init();
    let config = Config::load(&args.config)?;
    crate::daemon::serve(config)
        .with_context(|| format!("noodepd serve --config {}", args.config.display()))?;
    Ok(ExitCode::SUCCESS)
}
