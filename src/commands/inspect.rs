//! `noodepd inspect --key appliance.key --publisher publisher.pub FILE [--json]`: verify and
//! open a snapshot as the appliance would, print its header, fingerprints and a payload
//! summary (counts only, never patient data). Exit 0 only when the snapshot is valid for
//! this appliance; a refused snapshot gives exit 2 and one line on stderr saying why.

use crate::cli::InspectArgs;
use crate::keys::{ApplianceSecret, PublisherPublic};
use crate::snapshot::{self, Limits, Opened, PayloadKind};
use anyhow::Context as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Exit code for a snapshot that was read but refused.
const EXIT_REFUSED: u8 = 2;

/// Runs `noodepd inspect`.
pub(crate) fn run(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let appliance = ApplianceSecret::read(&args.key).context("cannot use the appliance key")?;
    let publisher =
        PublisherPublic::read(&args.publisher).context("cannot use the publisher key")?;
    let limits = Limits::default();
    let name = args.file.display().to_string();
    let bytes = snapshot::read_bounded(&args.file, &limits)
        .with_context(|| format!("cannot read {name}"))?;
    let opened = match snapshot::open(&bytes, &appliance, &publisher, &limits) {
        Ok(o) => o,
        Err(e) => return Ok(refuse(args, &name, e.code(), &e.to_string())),
    };
    let summary = match summarize(&opened) {
        Ok(s) => s,
        Err(reason) => return Ok(refuse(args, &name, "bad_payload", &reason)),
    };
    let h = &opened.header;
    let me = appliance.key_id();
    if args.json {
        let recipients: Vec<Value> = h
            .recipients
            .iter()
            .map(|r| {
                json!({"key_id": r.to_string(), "fingerprint": r.fingerprint(), "this_appliance": *r == me})
            })
            .collect();
        let out = json!({
            "file": name,
            "valid": true,
            "file_size": bytes.len(),
            "payload_size": opened.payload.len(),
            "header": {
                "version": h.version,
                "publisher": h.publisher.to_string(),
                "publisher_fingerprint": h.publisher.fingerprint(),
                "recipients": recipients,
                "ward": h.ward,
                "sequence": h.sequence,
                "created_at": h.created_at.to_rfc3339(),
                "data_as_of": h.data_as_of.to_rfc3339(),
                "kind": h.kind.name(),
                "compression": h.compression.name(),
                "chunk_size": h.chunk_size,
                "chunk_count": h.chunk_count,
                "compressed_size": h.compressed_len,
                "allow_shrink": h.allow_shrink,
            },
            "summary": summary,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{name}: valid for this appliance ({})", me.fingerprint());
    println!("  format version  {}", h.version);
    println!(
        "  publisher       {} (trusted, signature verified)",
        h.publisher.fingerprint()
    );
    for (i, r) in h.recipients.iter().enumerate() {
        let label = if i == 0 { "recipients" } else { "" };
        let mark = if *r == me { " (this appliance)" } else { "" };
        println!("  {label:<15} {}{mark}", r.fingerprint());
    }
    println!("  ward            {}", h.ward);
    println!("  sequence        {}", h.sequence);
    println!("  created at      {}", h.created_at.to_rfc3339());
    println!("  data as of      {}", h.data_as_of.to_rfc3339());
    println!("  kind            {}", h.kind);
    if h.allow_shrink {
        println!("  flags           allow-shrink (may replace a larger ward, or with none)");
    }
    println!(
        "  body            {} chunk(s) of up to {} bytes, {} compressed",
        h.chunk_count,
        h.chunk_size,
        h.compression.name()
    );
    println!(
        "  sizes           file {} B, compressed {} B, payload {} B",
        bytes.len(),
        h.compressed_len,
        opened.payload.len()
    );
    if let Some(docs) = summary.get("documents") {
        println!("  documents       {docs}");
        if let Some(Value::Object(types)) = summary.get("resources") {
            for (i, (t, n)) in types.iter().enumerate() {
                let label = if i == 0 { "resources" } else { "" };
                println!("  {label:<15} {t} {n}");
            }
        }
    }
    if let Some(Value::Array(keys)) = summary.get("keys") {
        let keys: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        println!("  JSON keys       {}", keys.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the one-line refusal (and the JSON form when asked); returns the exit code.
fn refuse(args: &InspectArgs, name: &str, code: &str, reason: &str) -> ExitCode {
    eprintln!("noodepd: {name} refused: {reason}");
    if args.json {
        let out = json!({"file": name, "valid": false, "code": code, "reason": reason});
        println!("{out}");
    }
    ExitCode::from(EXIT_REFUSED)
}

/// A name from a hostile payload, shown only when it is a plain identifier.
fn plain_name(s: &str) -> String {
    if !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        s.to_owned()
    } else {
        "(unreadable name)".to_owned()
    }
}

/// Counts: documents and resources by type (clinical), or the top-level keys (others).
fn summarize(opened: &Opened) -> Result<Value, String> {
    match opened.header.kind {
        PayloadKind::Clinical => {
            let docs = crate::fhir::input::parse_payload(&opened.payload)
                .map_err(|e| format!("payload is not valid clinical data: {e}"))?;
            let mut types: BTreeMap<String, u64> = BTreeMap::new();
            let mut count = |v: &Value| {
                if let Some(t) = v.get("resourceType").and_then(Value::as_str) {
                    *types.entry(plain_name(t)).or_default() += 1;
                }
            };
            for d in &docs {
                let is_bundle =
                    d.value.get("resourceType").and_then(Value::as_str) == Some("Bundle");
                match d.value.get("entry").and_then(Value::as_array) {
                    Some(entries) if is_bundle => {
                        for e in entries {
                            if let Some(r) = e.get("resource") {
                                count(r);
                            }
                        }
                    }
                    _ => count(&d.value),
                }
            }
            Ok(json!({"documents": docs.len(), "resources": types}))
        }
        PayloadKind::Roster | PayloadKind::ModeCommand => {
            let value: Value = serde_json::from_slice(&opened.payload)
                .map_err(|e| format!("payload is not valid JSON: {e}"))?;
            let obj = value
                .as_object()
                .ok_or_else(|| "payload is not a JSON object".to_owned())?;
            let keys: Vec<String> = obj.keys().map(|k| plain_name(k)).collect();
            Ok(json!({"keys": keys}))
        }
    }
}
