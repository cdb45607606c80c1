//! `noodepd generate`: writes a synthetic ward or hospital (one FHIR R4 Bundle per ward)
//! and, with `--roster`, a demo staff roster with hashed codes plus the plain codes file
//! (mode 0600). Prints the files written and resource counts; never prints a code.

use crate::cli::GenerateArgs;
use crate::generate::{
    GenerateOptions, MAX_PATIENTS, generate, resource_counts, valid_ward_id, write_output,
};
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

/// Runs `noodepd generate`.
pub(crate) fn run(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    if args.patients > MAX_PATIENTS {
        bail!(
            "--patients {} is more than the generator makes ({MAX_PATIENTS}); use fewer",
            args.patients
        );
    }
    if !valid_ward_id(&args.ward) {
        bail!(
            "--ward {:?} is not a usable ward id: use 1–32 letters, digits, '-', '_' or '.', starting with a letter or digit",
            args.ward
        );
    }
    let now: DateTime<Utc> = match &args.now {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| {
                format!("--now {s:?} is not an RFC 3339 time such as 2026-11-22T14:00:00+01:00")
            })?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let opts = GenerateOptions::new(args.patients, args.seed, &args.ward, now);
    let started = Instant::now();
    let generated = generate(&opts);
    let generated_in = started.elapsed();
    let paths = write_output(&generated, &args.out, args.roster)
        .with_context(|| format!("writing the generated data to {}", args.out.display()))?;

    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    println!(
        "Generated {} patient(s) in {} ward(s), seed {}, around {} ({:.2} s):",
        args.patients,
        generated.bundles.len(),
        args.seed,
        now.to_rfc3339(),
        generated_in.as_secs_f64()
    );
    for (ward, bundle) in &generated.bundles {
        let counts = resource_counts(bundle);
        let patients = counts
            .iter()
            .find(|(t, _)| t == "Patient")
            .map_or(0, |(_, n)| *n);
        let total: usize = counts.iter().map(|(_, n)| n).sum();
        println!("  ward {ward}: {patients} patients, {total} resources");
        for (t, n) in counts {
            *totals.entry(t).or_default() += n;
        }
    }
    println!("Resources by type:");
    for (t, n) in &totals {
        println!("  {t:<26} {n:>8}");
    }
    println!("Files written:");
    for p in &paths {
        let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        println!("  {} ({} bytes)", p.display(), size);
    }
    if args.roster {
        println!(
            "The plain demo codes are in the codes-WARD.txt file(s) above (mode 0600); \
             hand them out for the drill and delete them afterwards."
        );
    }
    Ok(ExitCode::SUCCESS)
}
