//! Operator logging: to journald when running under systemd (`JOURNAL_STREAM` set), else
//! to stderr. Logs carry file names, sequences, reasons and counts — never patient data and
//! never key material (see docs/ARCHITECTURE.md, "Logs are for operators").

use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct StderrLogger;

/// The name operator log lines carry (`noodepd`, or `noodepd-publisher`).
static IDENTIFIER: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

impl Log for StderrLogger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}[{}]: {}: {}",
                IDENTIFIER.get().copied().unwrap_or("noodepd"),
                std::process::id(),
                r.level().as_str().to_lowercase(),
                r.args()
            );
        }
    }
    fn flush(&self) {}
}

static STDERR: StderrLogger = StderrLogger;

/// Installs the logger once (later calls are ignored). `NOODEPD_LOG=debug|info|warn|error`
/// sets the level (default info).
pub(crate) fn init() {
    init_as("noodepd");
}

/// As [`init`], with another syslog identifier (the publisher's binary).
pub fn init_as(identifier: &'static str) {
    let _ = IDENTIFIER.set(identifier);
    let level = match std::env::var("NOODEPD_LOG").as_deref() {
        Ok("debug") => LevelFilter::Debug,
        Ok("warn") => LevelFilter::Warn,
        Ok("error") => LevelFilter::Error,
        Ok("off") => LevelFilter::Off,
        _ => LevelFilter::Info,
    };
    let journal = std::env::var_os("JOURNAL_STREAM").is_some()
        && systemd_journal_logger::connected_to_journal();
    let installed = if journal {
        systemd_journal_logger::JournalLog::new()
            .map(|j| j.with_syslog_identifier(identifier.into()))
            .map_err(|_| ())
            .and_then(|j| j.install().map_err(|_| ()))
    } else {
        log::set_logger(&STDERR).map_err(|_| ())
    };
    if installed.is_ok() {
        log::set_max_level(level);
    }
}
