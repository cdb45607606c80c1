//! `noodepd seal`: read and validate the input (FHIR R4 for `clinical`, one JSON object for
//! `roster` and `mode-command`), seal it for the given appliances, and write it as
//! `OUT.part` + fsync + rename to `OUT`, so an inbox watcher never sees half a file.
//! A clinical payload is mapped as a box maps it, to count its patients: `seal` warns when
//! there are none (a box refuses it unless `--allow-shrink`) and whenever `--allow-shrink`
//! is given (a box then accepts it even if it serves far more patients).

use crate::cli::{PayloadKindArg, SealArgs};
use crate::keys::{AppliancePublic, PublisherSecret};
use crate::snapshot::{self, DEFAULT_CHUNK_SIZE, PayloadKind, SealRequest};
use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Largest roster or mode-command file read.
const MAX_JSON_INPUT: u64 = 16 * 1024 * 1024;

/// Runs `noodepd seal`.
pub(crate) fn run(args: &SealArgs) -> anyhow::Result<ExitCode> {
    let publisher = PublisherSecret::read(&args.key).context("cannot use the publisher key")?;
    let recipients = args
        .to
        .iter()
        .map(|p| AppliancePublic::read(p).context("cannot use the appliance key"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let now = Utc::now();
    let data_as_of = match &args.data_as_of {
        None => now,
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--data-as-of {s:?} is not an RFC 3339 time"))?
            .with_timezone(&Utc),
    };
    let (kind, payload) = match args.kind {
        PayloadKindArg::Clinical => (
            PayloadKind::Clinical,
            crate::fhir::input::collect_payload(&args.input)
                .context("input is not valid FHIR R4 JSON")?,
        ),
        PayloadKindArg::Roster => (PayloadKind::Roster, read_json_object(&args.input)?),
        PayloadKindArg::ModeCommand => (PayloadKind::ModeCommand, read_json_object(&args.input)?),
    };
    if args.allow_shrink && kind != PayloadKind::Clinical {
        bail!("--allow-shrink is only for clinical snapshots");
    }
    let patients = match kind {
        PayloadKind::Clinical => Some(count_patients(&payload, &args.ward, data_as_of)?),
        _ => None,
    };
    match (patients, args.allow_shrink) {
        (Some(0), false) => eprintln!(
            "noodepd: warning: the payload holds no patients: a ward box refuses it \
             (snapshot_empty) and keeps serving its last good data. If the ward is really \
             empty, seal with --allow-shrink"
        ),
        (Some(n), true) => eprintln!(
            "noodepd: warning: --allow-shrink: a ward box accepts this snapshot ({n} patients) \
             even if it serves far more patients now; use it only when the ward was emptied \
             or shrank on purpose"
        ),
        _ => {}
    }
    let req = SealRequest {
        ward: &args.ward,
        sequence: args.sequence,
        created_at: now,
        data_as_of,
        kind,
        chunk_size: args.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE),
        allow_shrink: args.allow_shrink,
    };
    let sealed = snapshot::seal(&publisher, &recipients, &req, &payload)
        .with_context(|| format!("cannot seal {}", args.out.display()))?;
    write_atomically(&args.out, &sealed)?;
    let fingerprints: Vec<String> = recipients.iter().map(|r| r.fingerprint()).collect();
    println!(
        "sealed {}: ward {}, sequence {}, {}{}{}, payload {} bytes, file {} bytes",
        args.out.display(),
        args.ward,
        args.sequence,
        kind,
        patients
            .map(|n| format!(", {n} patients"))
            .unwrap_or_default(),
        if args.allow_shrink {
            ", allow-shrink"
        } else {
            ""
        },
        payload.len(),
        sealed.len()
    );
    println!("publisher {}", publisher.public().fingerprint());
    println!("for {}", fingerprints.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// The patients a box would serve from this payload (the box's own mapper).
fn count_patients(payload: &[u8], ward: &str, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let ward = crate::fhir::map_payload(payload, &crate::fhir::MapOptions::new(now, ward))
        .context("input is not valid FHIR R4 JSON")?;
    Ok(ward.patients.len())
}

/// Reads exactly one JSON file and checks it is a JSON object; returns its bytes as-is.
fn read_json_object(inputs: &[PathBuf]) -> anyhow::Result<Vec<u8>> {
    let [path] = inputs else {
        bail!(
            "a roster or mode command is exactly one JSON file; {} inputs given",
            inputs.len()
        );
    };
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_JSON_INPUT + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_JSON_INPUT {
        bail!("{}: larger than {MAX_JSON_INPUT} bytes", path.display());
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    if !value.is_object() {
        bail!("{}: must be a JSON object", path.display());
    }
    Ok(bytes)
}

/// Writes `OUT.part`, fsyncs it, renames it to `OUT` and fsyncs the directory.
fn write_atomically(out: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut part_name = out.as_os_str().to_owned();
    part_name.push(".part");
    let part = PathBuf::from(part_name);
    let result = (|| -> anyhow::Result<()> {
        let mut f = std::fs::File::create(&part)
            .with_context(|| format!("cannot create {}", part.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", part.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot fsync {}", part.display()))?;
        std::fs::rename(&part, out)
            .with_context(|| format!("cannot rename {} to {}", part.display(), out.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result?;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        // Best effort: makes the rename durable.
        let _ = d.sync_all();
    }
    Ok(())
}
