//! Smoke test of the bench harness (`noodepd bench`): the quick bench's P1 — generate,
//! seal with fresh keys, open, map, build and swap a generation, and the baselines — run at
//! a tiny scale, checking that every P1 figure is measured and the table is complete.
//! Behaviour only: no timing is asserted (speed is judged by the bench, not by tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use noodepd::bench::report::Verdict;
use noodepd::bench::{BenchOptions, run};

#[test]
fn quick_bench_p1_measures_every_ingest_figure_at_a_tiny_scale() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = BenchOptions::new(true);
    opts.ward_patients = 3;
    opts.hospital_patients = 5;
    opts.repeats = (1, 1);
    opts.audit_appends = 3;
    opts.daemon_exe = None;
    opts.nginx = false;
    opts.work_parent = tmp.path().to_owned();
    let mut progress = Vec::new();
    let report = run(&opts, &mut |l| progress.push(l.to_owned())).unwrap();

    let p1: Vec<_> = report.rows.iter().filter(|r| r.id == "P1").collect();
    // Per scale: throughput vs parse-only, vs the borrowed skim, vs AES, seconds, four
    // stages.
    assert_eq!(p1.len(), 16, "{p1:#?}");
    assert!(
        p1.iter()
            .any(|r| r.baseline.as_ref().is_some_and(|b| b.what.contains("skim"))),
        "the skim floor is reported"
    );
    for r in &p1 {
        let v = r.value.unwrap_or(f64::NAN);
        assert!(v.is_finite() && v > 0.0, "{r:?}");
        let b = r
            .baseline
            .as_ref()
            .and_then(|b| b.value)
            .unwrap_or(f64::NAN);
        assert!(b.is_finite() && b > 0.0, "{r:?}");
        assert!(r.ratio.is_some(), "{r:?}");
        assert_ne!(r.verdict, Verdict::Missing, "{r:?}");
        assert!(!r.note.contains("the mapper returned"), "{r:?}");
    }
    assert!(
        p1.iter()
            .any(|r| r.what.contains("hospital (5 patients, reduced from 1000)"))
    );
    let audit = report.rows.iter().find(|r| r.id == "P3a").unwrap();
    assert!(audit.value.is_some_and(|v| v > 0.0), "{audit:?}");

    let text = report.to_text();
    assert!(
        text.contains("ingest throughput, ward (3 patients)"),
        "{text}"
    );
    assert!(text.contains("P2–P6 not run"), "{text}");
    assert!(progress.iter().any(|l| l.starts_with("P1 ingest")));
    // The work directory is removed.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
