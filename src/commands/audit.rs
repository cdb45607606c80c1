//! `noodepd audit verify | export | drill-report`: the CLI edge of the NEN 7513 access log.
//! Reads the config, opens the log in the state directory (the daemon may be running: SQLite
//! WAL readers and the cross-process append lock make that safe) and maps results to exit
//! codes: verify exits 0 only when the whole chain and its head anchor check out.

use crate::audit::{self, AuditLog, ExportFilter, ExportFormat, drill};
use crate::cli::{AuditArgs, AuditCommand, AuditExportArgs, DrillReportArgs};
use crate::config::Config;
use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Runs `noodepd audit`.
pub(crate) fn run(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        AuditCommand::Verify(a) => verify(&a.config),
        AuditCommand::Export(a) => export(a),
        AuditCommand::DrillReport(a) => drill_report(a),
    }
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).with_context(|| format!("loading config {}", path.display()))
}

/// The chain key named in the config, when its file exists (never made here: only the
/// daemon makes a key, so the CLI can never start a second one).
fn read_key(cfg: &Config) -> anyhow::Result<Option<audit::AuditKey>> {
    match audit::AuditKey::read(&cfg.keys.audit_key) {
        Ok(k) => Ok(Some(k)),
        Err(audit::AuditError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        Err(e) => Err(e).context("reading the access log's chain key"),
    }
}

/// Opens the log with its key (when it has one) for the commands that append.
fn open_log(cfg: &Config) -> anyhow::Result<AuditLog> {
    AuditLog::open_existing_key(
        &cfg.paths.state,
        &cfg.appliance_id,
        &cfg.ward,
        &cfg.keys.audit_key,
    )
    .context("opening the audit log")
}

fn verify(config: &Path) -> anyhow::Result<ExitCode> {
    let cfg = load(config)?;
    let path = cfg.paths.state.join(audit::LOG_FILE);
    let key = read_key(&cfg)?;
    let report = audit::verify_file_with(&path, key.as_ref())
        .with_context(|| format!("verifying {}", path.display()))?;
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    match &report.broken {
        None => {
            if report.keyed_from.is_none() && report.entries > 0 {
                eprintln!(
                    "note: this log is not keyed yet (the daemon keys it when it next starts)"
                );
            }
            println!(
                "OK: {} entries, head id={} hash={}{}",
                report.entries,
                report.head_id,
                report.head_hash,
                report
                    .keyed_from
                    .map(|k| format!(", keyed from entry {k}"))
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(b) => {
            eprintln!(
                "FAILED: {} ({}: {} entries verified before it)",
                b,
                path.display(),
                report.entries
            );
            Ok(ExitCode::from(2))
        }
    }
}

/// Parses RFC 3339 or YYYY-MM-DD (local midnight in the ward's time zone).
fn parse_when(s: &str, tz: chrono_tz::Tz) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("{s:?} is neither RFC 3339 nor YYYY-MM-DD"))?;
    let midnight = d.and_hms_opt(0, 0, 0).context("no midnight")?;
    match tz.from_local_datetime(&midnight).earliest() {
        Some(t) => Ok(t.with_timezone(&Utc)),
        None => bail!("{s}: local midnight does not exist in {tz}"),
    }
}

fn export(a: &AuditExportArgs) -> anyhow::Result<ExitCode> {
    let cfg = load(&a.config)?;
    let filter = ExportFilter {
        from: a
            .from
            .as_deref()
            .map(|s| parse_when(s, cfg.timezone))
            .transpose()
            .context("--from")?,
        to: a
            .to
            .as_deref()
            .map(|s| parse_when(s, cfg.timezone))
            .transpose()
            .context("--to")?,
        patient: a.patient.clone(),
    };
    let format = match a.format {
        crate::cli::ExportFormat::Jsonl => ExportFormat::Jsonl,
        crate::cli::ExportFormat::Csv => ExportFormat::Csv,
        crate::cli::ExportFormat::Fhir => ExportFormat::Fhir,
    };
    let log = open_log(&cfg)?;
    let count = match &a.out {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            // The export holds patient data: a new file, owner-only, never through a
            // symlink and never into a file that exists (someone else's, or a link to one).
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists
                        || e.raw_os_error() == Some(libc::ELOOP)
                    {
                        anyhow::anyhow!(
                            "{} exists already: the export writes a new file only — choose \
                             another name (or remove the old export first)",
                            path.display()
                        )
                    } else {
                        anyhow::Error::new(e).context(format!("creating {}", path.display()))
                    }
                })?;
            let mut w = std::io::BufWriter::new(f);
            let n = log.export(&filter, format, &mut w)?;
            w.flush()?;
            w.get_ref().sync_all()?;
            n
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            let n = log.export(&filter, format, &mut w)?;
            w.flush()?;
            n
        }
    };
    eprintln!("exported {count} entries ({})", format.as_str());
    Ok(ExitCode::SUCCESS)
}

fn drill_report(a: &DrillReportArgs) -> anyhow::Result<ExitCode> {
    let cfg = load(&a.config)?;
    let log = open_log(&cfg)?;
    let report = drill::report(&log, a.drill)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        // Details hold names, reasons and file names as typed or received: no escape
        // sequence or direction override reaches the terminal.
        print!(
            "{}",
            crate::text::printable_lines(&drill::render_text(&report, cfg.timezone))
        );
    }
    Ok(ExitCode::SUCCESS)
}
