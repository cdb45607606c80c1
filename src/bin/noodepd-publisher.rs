//! The `noodepd-publisher` binary (feature `publisher`): parse the command line, run it,
//! map the outcome to an exit code (0 done; 1 a ward or box not done; 2 cannot start).
//! No logic lives here (see `noodepd::publisher`).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = noodepd::publisher::cli::Cli::parse();
    noodepd::logging::init_as("noodepd-publisher");
    match noodepd::publisher::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("noodepd-publisher: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
