//! Sealing a ward's snapshot: the per-ward sequence number, the census-shrink check, and
//! the sealed file for all of the ward's boxes (`crate::snapshot::seal`, the library's own).
//!
//! **Sequence.** One number per ward, shared by clinical snapshots, rosters and mode
//! commands (the box refuses anything not above the last it accepted). The next number is
//! `max(last + 1, milliseconds since 1970)`: strictly increasing while the state file
//! lasts, and above every number ever issued after a restore from an older backup (or a
//! lost state directory), because the clock has moved on since — as long as the clock is
//! not set back and no more than one number per millisecond is issued on average. The
//! number is written durably (temp file, fsync, rename) *before* it is used, under a file
//! lock shared with `noodepd-publisher roster|mode` run beside the service.
//!
//! **Shrink.** A census that is empty, or below `min_census_share_percent` of the last one
//! published (or of what a box says it serves), is the typical broken export. It is
//! published only when the ward allows it, and then with the box's `allow_shrink` flag.

use crate::keys::{AppliancePublic, PublisherSecret};
use crate::snapshot::{self, DEFAULT_CHUNK_SIZE, PayloadKind, SealRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors of the publisher's state directory.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    #[error("state {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state {path} is damaged ({detail}); restore it from the backup (sequences stay safe: see OPERATIONS.md)"
    )]
    Damaged { path: PathBuf, detail: String },
}

/// What is kept per ward.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct WardState {
    /// The last sequence number issued for the ward (any kind).
    pub last_sequence: u64,
    /// Patients in the last clinical snapshot sealed.
    pub last_census: Option<usize>,
    /// When it was sealed.
    pub last_sealed_at: Option<DateTime<Utc>>,
}

/// The per-ward state files under `state_dir/wards/`, with a lock file.
pub(crate) struct StateStore {
    dir: PathBuf,
    lock: PathBuf,
}

impl StateStore {
    /// Opens (creates, 0700) the state directory.
    pub(crate) fn open(state_dir: &Path) -> Result<StateStore, StateError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let dir = state_dir.join("wards");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| StateError::Io {
                path: dir.clone(),
                source,
            })?;
        Ok(StateStore {
            lock: state_dir.join("state.lock"),
            dir,
        })
    }

    fn path(&self, ward: &str) -> PathBuf {
        self.dir.join(format!("{ward}.json"))
    }

    /// Runs `f` on the ward's state under the lock and writes the result durably.
    fn update<T>(&self, ward: &str, f: impl FnOnce(&mut WardState) -> T) -> Result<T, StateError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StateError::Io { path, source }
        };
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&self.lock)
            .map_err(io(&self.lock))?;
        lock.lock().map_err(io(&self.lock))?;
        let path = self.path(ward);
        let mut state = self.read_unlocked(&path)?;
        let out = f(&mut state);
        let json = serde_json::to_vec_pretty(&state).unwrap_or_default();
        crate::fsutil::write_atomic(&path, &json).map_err(io(&path))?;
        drop(lock);
        Ok(out)
    }

    fn read_unlocked(&self, path: &Path) -> Result<WardState, StateError> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| StateError::Damaged {
                path: path.to_owned(),
                detail: crate::jsonerr::describe(&e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(WardState::default()),
            Err(source) => Err(StateError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The ward's state now.
    pub(crate) fn get(&self, ward: &str) -> Result<WardState, StateError> {
        self.read_unlocked(&self.path(ward))
    }

    /// Issues the ward's next sequence number (persisted before it is returned).
    pub(crate) fn next_sequence(&self, ward: &str, now: DateTime<Utc>) -> Result<u64, StateError> {
        let clock = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        self.update(ward, |s| {
            s.last_sequence = s.last_sequence.saturating_add(1).max(clock);
            s.last_sequence
        })
    }

    /// Records a sealed clinical snapshot's census.
    pub(crate) fn record_census(
        &self,
        ward: &str,
        census: usize,
        at: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.update(ward, |s| {
            s.last_census = Some(census);
            s.last_sealed_at = Some(at);
        })
    }
}

/// Why a census looks broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shrink {
    Empty {
        before: Option<usize>,
    },
    Shrunk {
        before: usize,
        now: usize,
        share: u8,
    },
}

impl std::fmt::Display for Shrink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shrink::Empty { before: Some(b) } => write!(f, "the census is empty (it was {b})"),
            Shrink::Empty { before: None } => write!(f, "the census is empty"),
            Shrink::Shrunk { before, now, share } => write!(
                f,
                "the census dropped from {before} to {now} patients (below {share}%)"
            ),
        }
    }
}

/// The shrink check: `census` against the larger of the last published census and what
/// the boxes serve.
pub(crate) fn shrink(
    census: usize,
    last: Option<usize>,
    served: &[usize],
    share: u8,
) -> Option<Shrink> {
    let before = last.into_iter().chain(served.iter().copied()).max();
    if census == 0 {
        return Some(Shrink::Empty { before });
    }
    match before {
        Some(b) if (census as u64).saturating_mul(100) < (b as u64) * u64::from(share) => {
            Some(Shrink::Shrunk {
                before: b,
                now: census,
                share,
            })
        }
        _ => None,
    }
}

/// A sealed snapshot ready for delivery.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub sequence: u64,
    pub bytes: Vec<u8>,
    /// The name it is delivered under (`WARD-SEQUENCE.snap`).
    pub name: String,
}

/// Seals `payload` for the ward's boxes with the next sequence number.
#[allow(clippy::too_many_arguments)]
pub(crate) fn seal(
    state: &StateStore,
    key: &PublisherSecret,
    recipients: &[AppliancePublic],
    ward: &str,
    kind: PayloadKind,
    payload: &[u8],
    data_as_of: DateTime<Utc>,
    allow_shrink: bool,
) -> Result<Sealed, SealError> {
    let now = Utc::now();
    let sequence = state.next_sequence(ward, now)?;
    let req = SealRequest {
        ward,
        sequence,
        created_at: now,
        data_as_of,
        kind,
        chunk_size: DEFAULT_CHUNK_SIZE,
        // The box's header flag: it accepts an empty or shrunken ward only with it.
        allow_shrink: allow_shrink && kind == PayloadKind::Clinical,
    };
    let bytes = snapshot::seal(key, recipients, &req, payload)?;
    Ok(Sealed {
        sequence,
        bytes,
        name: format!("{ward}-{sequence}.snap"),
    })
}

/// Why a snapshot could not be sealed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SealError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot seal: {0}")]
    Snapshot(#[from] crate::snapshot::SnapshotError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_rise_strictly_and_jump_past_a_restored_backup() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateStore::open(dir.path()).unwrap();
        let t = DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = s.next_sequence("A3", t).unwrap();
        let b = s.next_sequence("A3", t).unwrap();
        assert_eq!(b, a + 1);
        assert_eq!(a, u64::try_from(t.timestamp_millis()).unwrap());
        // The clock went back (or stood still): still rising.
        let c = s
            .next_sequence("A3", t - chrono::Duration::hours(1))
            .unwrap();
        assert_eq!(c, b + 1);
        // A restore from an old backup: the state says less, the clock says more.
        std::fs::write(dir.path().join("wards/A3.json"), br#"{"last_sequence": 5}"#).unwrap();
        let d = s
            .next_sequence("A3", t + chrono::Duration::seconds(1))
            .unwrap();
        assert!(d > c, "{d} > {c}");
        // Another ward has its own counter; the state survives reopening.
        let s2 = StateStore::open(dir.path()).unwrap();
        assert_eq!(s2.get("A3").unwrap().last_sequence, d);
        assert_eq!(s2.get("B4").unwrap().last_sequence, 0);
    }

    #[test]
    fn an_allowed_shrink_is_sealed_with_the_boxes_flag_and_only_for_clinical_data() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::open(dir.path()).unwrap();
        let key = PublisherSecret::from_bytes(&[7; 32]);
        let appliance = crate::keys::ApplianceSecret::from_bytes(&[9; 32]);
        let open = |s: &Sealed| {
            crate::snapshot::open(
                &s.bytes,
                &appliance,
                &key.public(),
                &crate::snapshot::Limits::default(),
            )
            .unwrap()
            .header
        };
        for (kind, allow, flagged) in [
            (PayloadKind::Clinical, true, true),
            (PayloadKind::Clinical, false, false),
            (PayloadKind::ModeCommand, true, false),
        ] {
            let payload: &[u8] = if kind == PayloadKind::Clinical {
                b""
            } else {
                br#"{"mode": "drill", "reason": "x"}"#
            };
            let s = seal(
                &state,
                &key,
                &[appliance.public()],
                "A3",
                kind,
                payload,
                Utc::now(),
                allow,
            )
            .unwrap();
            assert_eq!(open(&s).allow_shrink, flagged, "{kind} {allow}");
            assert_eq!(s.name, format!("A3-{}.snap", s.sequence));
        }
    }

    #[test]
    fn damaged_state_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateStore::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("wards/A3.json"), b"{oops").unwrap();
        assert!(matches!(
            s.next_sequence("A3", Utc::now()),
            Err(StateError::Damaged { .. })
        ));
    }

    #[test]
    fn shrink_compares_with_the_last_census_and_the_boxes() {
        assert_eq!(
            shrink(0, None, &[], 50),
            Some(Shrink::Empty { before: None })
        );
        assert_eq!(shrink(10, None, &[], 50), None);
        assert_eq!(shrink(10, Some(20), &[], 50), None);
        assert_eq!(
            shrink(9, Some(20), &[], 50),
            Some(Shrink::Shrunk {
                before: 20,
                now: 9,
                share: 50
            })
        );
        assert_eq!(
            shrink(9, Some(10), &[30], 50),
            Some(Shrink::Shrunk {
                before: 30,
                now: 9,
                share: 50
            })
        );
        assert_eq!(shrink(1, Some(100), &[], 0), None);
    }
}
