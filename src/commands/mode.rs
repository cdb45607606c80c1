//! `noodepd mode emergency|drill|standby --reason TEXT [--config FILE]`: switches the mode
//! of the running daemon through its local control socket (root only), and prints the new
//! mode (and, for a drill, when it ends).

use crate::cli::{ModeArg, ModeArgs};
use crate::config::Config;
use crate::control::{ModeRequest, request};
use crate::mode::Mode;
use anyhow::Context;
use std::process::ExitCode;

/// Runs `noodepd mode`.
pub(crate) fn run(args: &ModeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)
        .with_context(|| format!("cannot use config {}", args.config.display()))?;
    let mode = match args.mode {
        ModeArg::Standby => Mode::Standby,
        ModeArg::Emergency => Mode::Emergency,
        ModeArg::Drill => Mode::Drill,
    };
    let req = ModeRequest {
        mode,
        reason: args.reason.clone(),
    };
    let reply = request(&config.paths.control_socket, &req)
        .with_context(|| format!("cannot switch ward {} to {}", config.ward, mode.as_str()))?;
    let tz = config.timezone;
    let since = reply
        .since
        .map(|t| format!(" since {}", crate::timefmt::datetime(t, tz)))
        .unwrap_or_default();
    println!(
        "mode: {}{since}",
        reply.mode.map(Mode::as_str).unwrap_or(mode.as_str())
    );
    if let Some(end) = reply.drill_ends_at {
        println!("drill ends: {}", crate::timefmt::datetime(end, tz));
    }
    Ok(ExitCode::SUCCESS)
}
