//! The CLI edge: one file per subcommand, turning validated arguments into calls on the
//! library and library errors into context-rich messages (anyhow). Nothing here is reused
//! by the daemon itself.

use crate::cli::Command;
use std::process::ExitCode;

pub(crate) mod audit;
#[cfg(feature = "dev-tools")]
pub(crate) mod bench;
pub(crate) mod check_config;
#[cfg(feature = "dev-tools")]
pub(crate) mod demo;
#[cfg(feature = "dev-tools")]
pub(crate) mod generate;
pub(crate) mod inspect;
pub(crate) mod keygen;
pub(crate) mod mode;
pub(crate) mod preview;
pub mod roster;
pub(crate) mod seal;
pub(crate) mod serve;
pub(crate) mod update;

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
