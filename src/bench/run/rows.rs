//! How measured figures become report rows: ingest (P1), freshness (P2) and serving
//! against the nginx baseline, each with its target.

use super::super::data::Scale;
use super::super::load::LoadResult;
use super::super::pipeline::IngestFigures;
use super::super::report::{Baseline, Row, Target};
use super::super::stats::percentile;

pub(super) fn p1_rows(scale: &Scale, f: &IngestFigures) -> Vec<Row> {
    let l = scale.label();
    let mut rows = Vec::new();
    let mut tput = Row::new(
        "P1",
        format!("ingest throughput, {l}"),
        f.pipeline_mb_s(),
        "MB/s",
        Some(Baseline {
            what: "serde_json parse-only".into(),
            value: f.parse_mb_s(),
        }),
        Some(Target::RatioAtLeast { min: 2.0 }),
    );
    if f.patients_mapped != scale.patients {
        tput = tput.note(format!(
            "the mapper returned {} patients for {} generated",
            f.patients_mapped, scale.patients
        ));
    }
    rows.push(tput);
    rows.push(Row::new(
        "P1",
        format!("ingest throughput vs the skim floor, {l}"),
        f.pipeline_mb_s(),
        "MB/s",
        Some(Baseline {
            what: "serde_json borrowed skim (resourceType only)".into(),
            value: f.skim_mb_s(),
        }),
        None,
    ));
    rows.push(Row::new(
        "P1",
        format!("ingest throughput vs decryption, {l}"),
        f.pipeline_mb_s(),
        "MB/s",
        Some(Baseline {
            what: "AES-256-GCM decrypt only".into(),
            value: f.aes_mb_s(),
        }),
        None,
    ));
    let limit = match (scale.name, scale.reduced_from) {
        ("ward", _) => Some(0.03),
        (_, None) => Some(1.0),
        (_, Some(_)) => None,
    };
    let mut secs = Row::new(
        "P1",
        format!("seconds per snapshot, {l}"),
        Some(f.total_s),
        "s",
        Some(Baseline {
            what: "serde_json parse-only".into(),
            value: Some(f.parse_only_s),
        }),
        limit.map(|limit| Target::Below { limit }),
    );
    let (slow, slow_s) = f.slowest_stage();
    secs = secs.note(format!(
        "sealed file {:.1} MB; slowest stage: {slow} ({:.0}% of the total)",
        f.sealed_bytes as f64 / 1e6,
        100.0 * slow_s / f.total_s
    ));
    if scale.reduced_from.is_some() {
        secs =
            secs.note("reduced scale: the 1 s target is for 1,000 patients (run without --quick)");
    }
    rows.push(secs);
    let total = Some(Baseline {
        what: "whole pipeline".into(),
        value: Some(f.total_s),
    });
    for (stage, v) in [
        ("read file", f.read_s),
        ("open: verify+decrypt+decompress", f.open_s),
        ("map: parse+map", f.map_s),
        ("store build+swap", f.build_swap_s),
    ] {
        rows.push(Row::new(
            "P1",
            format!("  stage {stage}, {}", scale.name),
            Some(v),
            "s",
            total.clone(),
            None,
        ));
    }
    rows
}

pub(super) fn fmt_ms(v: Option<f64>) -> String {
    v.map(super::super::report::num)
        .unwrap_or_else(|| "—".into())
}

pub(super) fn freshness_rows(scale: &Scale, lat: &[f64], rtt: f64, p1_s: Option<f64>) -> Vec<Row> {
    let base = || {
        Some(Baseline {
            what: "P1 in-process ingest".into(),
            value: p1_s,
        })
    };
    let note = format!(
        "{} snapshots of the {}; rename into the inbox → GET /ready shows the new sequence, polled every 2 ms on one keep-alive connection (median /ready round trip {:.2} ms = the resolution); baseline = the same work in-process, so the ratio is the daemon's overhead (inotify, sequence check, keep, audit fsync)",
        lat.len(),
        scale.label(),
        rtt * 1000.0
    );
    vec![
        Row::new(
            "P2",
            "freshness p50, ward",
            percentile(lat, 50.0),
            "s",
            base(),
            None,
        ),
        Row::new(
            "P2",
            "freshness p95, ward",
            percentile(lat, 95.0),
            "s",
            base(),
            Some(Target::Below { limit: 1.0 }),
        )
        .note(note),
    ]
}

pub(super) fn serving_rows(
    label: &str,
    clients: usize,
    ours: &LoadResult,
    theirs: Option<&LoadResult>,
    nginx_err: Option<&str>,
) -> Vec<Row> {
    let at64 = clients >= 64;
    let what = format!(
        "{label} at {clients} client{}",
        if clients == 1 { "" } else { "s" }
    );
    let mut rps = Row::new(
        "P3",
        format!("{what}, req/s"),
        ours.rps(),
        "req/s",
        Some(Baseline {
            what: "nginx, same HTML, static".into(),
            value: theirs.and_then(LoadResult::rps),
        }),
        at64.then_some(Target::RatioAtLeast { min: 0.5 }),
    );
    if at64 {
        let p99_ok = ours.p99_ms.is_some_and(|p| p < 20.0);
        rps = rps.also_requires(
            p99_ok,
            &format!("p99 {} ms is not below 20 ms", fmt_ms(ours.p99_ms)),
        );
    }
    rps = rps.note(format!(
        "noodepd p50 {} ms; nginx p50 {} ms",
        fmt_ms(ours.p50_ms),
        fmt_ms(theirs.and_then(|t| t.p50_ms))
    ));
    if ours.errors > 0 {
        rps = rps.note(format!(
            "{} failed requests{}",
            ours.errors,
            ours.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        ));
    }
    if let Some(e) = nginx_err {
        rps = rps.note(format!("nginx baseline missing: {e}"));
    }
    let p99 = Row::new(
        "P3",
        format!("{what}, p99 latency"),
        ours.p99_ms,
        "ms",
        Some(Baseline {
            what: "nginx p99".into(),
            value: theirs.and_then(|t| t.p99_ms),
        }),
        at64.then_some(Target::Below { limit: 20.0 }),
    );
    vec![rps, p99]
}
