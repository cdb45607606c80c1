//! Durable audit appends per second against plain write+fsync on the same filesystem.

use super::super::BenchError;
use super::super::data::WorkDir;
use super::options::*;
use crate::audit::{Action, AuditLog, Event, EventKind, Outcome, PatientRef, UserRef};
use std::time::Instant;

/// Durable audit appends per second, and plain write+fsync per second, on the work dir's
/// filesystem.
pub(super) fn audit_appends_per_s(work: &WorkDir, n: usize) -> Result<(f64, f64), BenchError> {
    let dir = work.path().join("audit-bound");
    std::fs::create_dir_all(&dir).map_err(BenchError::io(&dir))?;
    let log = AuditLog::open(&dir, "bench", WARD)?;
    let event = Event::new(
        EventKind::PatientView,
        Action::R,
        Outcome::Success,
        "drill",
        "patient page".into(),
    )
    .by(
        Some(UserRef {
            id: "bench".into(),
            name: "Bench".into(),
            role: "nurse".into(),
        }),
        None,
    )
    .concerning(vec![PatientRef {
        key: "p-1".into(),
        patient_number: Some("1000001".into()),
        bsn: None,
    }]);
    let n = n.max(1);
    let t = Instant::now();
    for _ in 0..n {
        log.append(event.clone())?;
    }
    let s = t.elapsed().as_secs_f64();
    drop(log);
    let f = dir.join("fsync.bin");
    let t = Instant::now();
    for i in 0..n {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&f).map_err(BenchError::io(&f))?;
        file.write_all(&[i as u8; 256])
            .map_err(BenchError::io(&f))?;
        file.sync_all().map_err(BenchError::io(&f))?;
    }
    let fs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((n as f64 / s, n as f64 / fs))
}
