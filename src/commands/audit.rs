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
pub fn run(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        AuditCommand::Verify(a) => verify(&a.config),
        AuditCommand::Export(a) => export(a),
        AuditCommand::DrillReport(a) => drill_report(a),
    }
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).with_context(|| format!("loading config {}", path.display()))
}

fn verify(config: &Path) -> anyhow::Result<ExitCode> {
    let cfg = load(config)?;
    let path = cfg.paths.state.join(audit::LOG_FILE);
    let report =
        audit::verify_file(&path).with_context(|| format!("verifying {}", path.display()))?;
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    match &report.broken {
        None => {
            println!(
                "OK: {} entries, head id={} hash={}",
                report.entries, report.head_id, report.head_hash
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
    let log = AuditLog::open(&cfg.paths.state, &cfg.appliance_id, &cfg.ward)
        .context("opening the audit log")?;
    let count = match &a.out {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            // The export holds patient data: owner-only.
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
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
    let log = AuditLog::open(&cfg.paths.state, &cfg.appliance_id, &cfg.ward)
        .context("opening the audit log")?;
    let report = drill::report(&log, a.drill)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", drill::render_text(&report, cfg.timezone));
    }
    Ok(ExitCode::SUCCESS)
}
