//! The CLI edge: one file per subcommand, turning validated arguments into calls on the
//! library and library errors into context-rich messages (anyhow). Nothing here is reused
//! by the daemon itself.

use crate::cli::Command;
use std::process::ExitCode;

pub mod audit;
#[cfg(feature = "dev-tools")]
pub mod bench;
pub mod check_config;
#[cfg(feature = "dev-tools")]
pub mod demo;
#[cfg(feature = "dev-tools")]
pub mod generate;
pub mod inspect;
pub mod keygen;
pub mod mode;
pub mod preview;
pub mod roster;
pub mod seal;
pub mod serve;
pub mod update;

/// Runs one subcommand.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Keygen(a) => keygen::run(&a),
        Command::Seal(a) => seal::run(&a),
        Command::Inspect(a) => inspect::run(&a),
        Command::Preview(a) => preview::run(&a),
        #[cfg(feature = "dev-tools")]
        Command::Generate(a) => generate::run(&a),
        Command::Serve(a) => serve::run(&a),
        Command::CheckConfig(a) => check_config::run(&a),
        Command::Mode(a) => mode::run(&a),
        Command::Roster(a) => roster::run(&a),
        Command::Audit(a) => audit::run(&a),
        #[cfg(feature = "dev-tools")]
        Command::Demo(a) => demo::run(&a),
        #[cfg(feature = "dev-tools")]
        Command::Bench(a) => bench::run(&a),
        Command::Update(a) => update::run(a),
    }
}
