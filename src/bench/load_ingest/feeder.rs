//! The daemon and its snapshots: prepare the daemon's directories, seal a sequence's
//! payload, and the feeder thread that renames a new snapshot into the inbox every interval.

use super::super::BenchError;
use super::super::daemon::{self, Setup};
use super::super::data::{self, Keys, WorkDir};
use super::marked::*;
use super::options::*;
use crate::snapshot::{self, DEFAULT_CHUNK_SIZE, PayloadKind, SealRequest};
use chrono::Utc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Seals `payload` as sequence `sequence` with that sequence's `data_as_of`.
pub(super) fn seal(
    keys: &Keys,
    clock: &SequenceClock,
    sequence: u64,
    kind: PayloadKind,
    payload: &[u8],
) -> Result<Vec<u8>, BenchError> {
    let req = SealRequest {
        ward: WARD,
        sequence,
        created_at: Utc::now(),
        data_as_of: clock.data_as_of(sequence),
        kind,
        chunk_size: DEFAULT_CHUNK_SIZE,
        allow_shrink: false,
    };
    Ok(snapshot::seal(
        &keys.publisher,
        std::slice::from_ref(&keys.appliance_pub),
        &req,
        payload,
    )?)
}

/// The daemon's directories and config: the bench's, plus a stale threshold longer than
/// the sequence clock spans (every page then shows fresh data, as on a ward).
pub(super) fn prepare(work: &WorkDir, keys: &Keys, max_sequence: u64) -> Result<Setup, BenchError> {
    let root = work.path().join("daemon");
    std::fs::create_dir_all(&root).map_err(BenchError::io(&root))?;
    let setup = daemon::prepare(&root, WARD, keys)?;
    let mut text = std::fs::read_to_string(&setup.config).map_err(BenchError::io(&setup.config))?;
    // The bench config has a [data] table already (its memory limit): add to it.
    text = text.replacen(
        "[data]\n",
        &format!(
            "[data]\nstale_after_minutes = {}\n",
            max_sequence.saturating_add(60)
        ),
        1,
    );
    std::fs::write(&setup.config, text).map_err(BenchError::io(&setup.config))?;
    Ok(setup)
}

/// The feeder: seals sequence 3, 4, … and renames one into the inbox every `interval`
/// until `deadline` (or `stop`). Returns the last sequence delivered.
#[allow(clippy::too_many_arguments)]
pub(super) fn feed(
    keys: &Keys,
    inbox: &std::path::Path,
    payload: &MarkedPayload,
    clock: &SequenceClock,
    interval: Duration,
    deadline: Instant,
    stop: &AtomicBool,
    delivered: &AtomicU64,
) -> Result<u64, BenchError> {
    let mut sequence = 2u64;
    let mut next = Instant::now() + interval;
    loop {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        if Instant::now() >= deadline || stop.load(Ordering::Relaxed) {
            return Ok(sequence);
        }
        next += interval;
        let s = sequence + 1;
        let sealed = seal(
            keys,
            clock,
            s,
            PayloadKind::Clinical,
            &payload.for_sequence(s),
        )?;
        data::drop_into_inbox(inbox, &format!("clinical-{s}.snap"), &sealed)?;
        sequence = s;
        delivered.fetch_add(1, Ordering::Relaxed);
    }
}
