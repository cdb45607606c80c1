//! The bench's data: fresh keys, generated FHIR at a given scale as one clinical payload
//! (NDJSON, one Bundle per line, every ward's bundle in one payload for one appliance), the
//! demo roster, and sealing them as snapshots the way the publisher would.
//!
//! Everything lives in a [`WorkDir`] that is removed when dropped.

use super::BenchError;
use crate::generate::{GenerateOptions, StaffMember, generate, roster_json};
use crate::keys::{
    AppliancePublic, ApplianceSecret, KeyKind, PublisherPublic, PublisherSecret, write_key_pair,
};
use crate::snapshot::{self, DEFAULT_CHUNK_SIZE, PayloadKind, SealRequest};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// A directory removed (with everything in it) when dropped.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Creates a fresh directory `noodepd-bench-PID-N-LABEL` under `parent`.
    pub(crate) fn new(parent: &Path, label: &str) -> Result<WorkDir, BenchError> {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let path = parent.join(format!(
            "noodepd-bench-{}-{nanos}-{label}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).map_err(BenchError::io(&path))?;
        Ok(WorkDir { path })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A fresh publisher and appliance key pair, in memory and as files (`DIR/publisher.key`,
/// `publisher.pub`, `appliance.key`, `appliance.pub`, as `noodepd keygen` writes them).
pub(crate) struct Keys {
    pub publisher: PublisherSecret,
    pub publisher_pub: PublisherPublic,
    pub appliance: ApplianceSecret,
    pub appliance_pub: AppliancePublic,
    pub publisher_pub_path: PathBuf,
    pub appliance_key_path: PathBuf,
}

impl Keys {
    /// Generates both key pairs into `dir`.
    pub(crate) fn fresh(dir: &Path) -> Result<Keys, BenchError> {
        let p = write_key_pair(KeyKind::Publisher, dir, true)?;
        let a = write_key_pair(KeyKind::Appliance, dir, true)?;
        Ok(Keys {
            publisher: PublisherSecret::read(&p.secret_path)?,
            publisher_pub: PublisherPublic::read(&p.public_path)?,
            appliance: ApplianceSecret::read(&a.secret_path)?,
            appliance_pub: AppliancePublic::read(&a.public_path)?,
            publisher_pub_path: p.public_path,
            appliance_key_path: a.secret_path,
        })
    }

    /// Seals `payload` for this appliance as the publisher would.
    pub(crate) fn seal(
        &self,
        ward: &str,
        sequence: u64,
        kind: PayloadKind,
        payload: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, BenchError> {
        let req = SealRequest {
            ward,
            sequence,
            created_at: now,
            data_as_of: now,
            kind,
            chunk_size: DEFAULT_CHUNK_SIZE,
            allow_shrink: false,
        };
        Ok(snapshot::seal_with(
            &self.publisher,
            std::slice::from_ref(&self.appliance_pub),
            &req,
            payload,
            &bench_limits(),
        )?)
    }
}

/// The memory limit the bench's daemon is configured with (`data.memory_max_mib`): the
/// hospital scale (one 146 MB snapshot of 1,000 patients) is far beyond what a ward box's
/// 1 GiB allows, and the bench measures it anyway.
pub(crate) const BENCH_MEMORY_MAX_MIB: u64 = 16 * 1024;

/// The snapshot limits for [`BENCH_MEMORY_MAX_MIB`].
pub(crate) fn bench_limits() -> snapshot::Limits {
    snapshot::Limits::for_memory(BENCH_MEMORY_MAX_MIB * 1024 * 1024)
}

/// One scale: the generated clinical payload for one appliance.
pub(crate) struct Scale {
    /// "ward" or "hospital".
    pub name: &'static str,
    /// Patients asked for.
    pub patients: usize,
    /// Wards the generator made (bundles in the payload).
    pub wards: usize,
    /// The appliance's ward id (the snapshot header's ward).
    pub ward: String,
    /// Plaintext FHIR: NDJSON, one Bundle per line.
    pub payload: Vec<u8>,
    /// Set when the scale is smaller than the full one (quick runs), for the label.
    pub reduced_from: Option<usize>,
    /// When the data was generated around (the mapper's `now`).
    pub now: DateTime<Utc>,
}

impl Scale {
    /// A label for tables: "ward (40 patients)".
    pub(crate) fn label(&self) -> String {
        match self.reduced_from {
            Some(full) => format!(
                "{} ({} patients, reduced from {full})",
                self.name, self.patients
            ),
            None => format!("{} ({} patients)", self.name, self.patients),
        }
    }
}

/// Generates `patients` patients (seed `seed`) and joins every ward's bundle into one
/// payload for the appliance ward `ward`.
pub(crate) fn scale(
    name: &'static str,
    patients: usize,
    seed: u64,
    ward: &str,
    now: DateTime<Utc>,
) -> Result<(Scale, Vec<StaffMember>), BenchError> {
    let g = generate(&GenerateOptions::new(patients, seed, ward, now));
    let wards = g.bundles.len();
    let mut payload = Vec::new();
    // Serialise and drop one bundle at a time: the hospital scale is ~150 MB of JSON.
    for (w, bundle) in g.bundles {
        serde_json::to_writer(&mut payload, &bundle)
            .map_err(|e| BenchError::Data(format!("serialising ward {w}: {e}")))?;
        payload.push(b'\n');
    }
    Ok((
        Scale {
            name,
            patients,
            wards,
            ward: ward.to_owned(),
            payload,
            reduced_from: None,
            now,
        },
        g.staff,
    ))
}

/// The roster payload for `ward` (argon2id hashes of the demo codes).
pub(crate) fn roster_payload(ward: &str, staff: &[StaffMember]) -> Result<Vec<u8>, BenchError> {
    serde_json::to_vec(&roster_json(ward, staff))
        .map_err(|e| BenchError::Data(format!("serialising the roster: {e}")))
}

/// Writes `bytes` as `dir/NAME.part`, then renames it to `dir/NAME` (as a publisher does).
/// Returns the final path.
pub(crate) fn drop_into_inbox(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, BenchError> {
    let part = dir.join(format!("{name}.part"));
    std::fs::write(&part, bytes).map_err(BenchError::io(&part))?;
    let fin = dir.join(name);
    std::fs::rename(&part, &fin).map_err(BenchError::io(&fin))?;
    Ok(fin)
}
