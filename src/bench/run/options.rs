//! What a bench run measures and at which size ([`BenchOptions`]), and the ward id it
//! seals for.

use std::path::PathBuf;
use std::time::Duration;

/// The appliance ward id the bench seals for.
pub(super) const WARD: &str = "BENCH";
/// Full hospital scale.
pub(super) const HOSPITAL_PATIENTS: usize = 1000;
/// Hospital scale of a quick run.
pub(super) const QUICK_HOSPITAL_PATIENTS: usize = 200;

/// How much to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Small runs that finish in under a minute.
    pub quick: bool,
    /// Patients of the ward scale.
    pub ward_patients: usize,
    /// Patients of the hospital scale.
    pub hospital_patients: usize,
    /// P1 repeats per scale (ward, hospital).
    pub repeats: (usize, usize),
    /// P2 snapshots (at least 20).
    pub freshness_snapshots: usize,
    /// P3 duration of one cell.
    pub load_cell: Duration,
    /// P3 concurrency levels.
    pub clients: Vec<usize>,
    /// P5 restarts per scale.
    pub restarts: usize,
    /// P6 renders.
    pub print_repeats: usize,
    /// Audit appends timed for the fsync bound.
    pub audit_appends: usize,
    /// The noodepd binary for P2–P6; `None` runs P1 only.
    pub daemon_exe: Option<PathBuf>,
    /// Run the nginx baseline (installing nginx when missing).
    pub nginx: bool,
    /// Where the work directory is made (removed at the end).
    pub work_parent: PathBuf,
    /// The seed of the generated data (the same seed gives the same data).
    pub seed: u64,
}

impl BenchOptions {
    /// The full run (`quick = false`) or the under-a-minute one.
    pub fn new(quick: bool) -> BenchOptions {
        BenchOptions {
            quick,
            ward_patients: 40,
            hospital_patients: if quick {
                QUICK_HOSPITAL_PATIENTS
            } else {
                HOSPITAL_PATIENTS
            },
            repeats: if quick { (5, 2) } else { (15, 5) },
            freshness_snapshots: if quick { 20 } else { 40 },
            load_cell: Duration::from_secs(if quick { 2 } else { 10 }),
            clients: vec![1, 16, 64],
            restarts: if quick { 3 } else { 5 },
            print_repeats: if quick { 5 } else { 15 },
            audit_appends: if quick { 100 } else { 500 },
            daemon_exe: std::env::current_exe().ok(),
            nginx: true,
            work_parent: std::env::temp_dir(),
            seed: 7,
        }
    }
}
