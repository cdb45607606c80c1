//! `noodepd check-config FILE`: validate a config file and warn about unknown keys.

use crate::cli::CheckConfigArgs;
use crate::config::Config;
use std::process::ExitCode;

/// Runs `noodepd check-config`.
pub fn run(args: &CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let c = Config::load(&args.file)?;
    for k in &c.unknown_keys {
        eprintln!(
            "noodepd: warning: {}: unknown key {k:?} (ignored)",
            args.file.display()
        );
    }
    println!(
        "{}: OK (ward {}, appliance {}, listen {}{})",
        args.file.display(),
        c.ward,
        c.appliance_id,
        c.web.listen,
        if c.web.plain_http {
            ", plain HTTP"
        } else {
            ", TLS"
        }
    );
    Ok(ExitCode::SUCCESS)
}
