//! The `noodepd` binary: parse the command line, run the subcommand, map its outcome to an
//! exit code. No logic lives here (see `noodepd::commands`).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = noodepd::cli::Cli::parse();
    match noodepd::commands::run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line: one clear line for scripts.
            eprintln!("noodepd: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
