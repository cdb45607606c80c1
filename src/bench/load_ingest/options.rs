//! What a load-ingest run is given and what it reports: the limits and names of the run,
//! [`LoadIngestOptions`], and [`LoadIngestResult`] with its latencies and text form.

use super::super::stats::percentile_sorted;
use std::path::PathBuf;
use std::time::Duration;

/// The appliance ward id of the run.
pub(crate) const WARD: &str = "LOAD";
/// The marker prefix in every patient's family name; six digits of the sequence follow.
pub(crate) const MARKER: &str = "LOADSEQ";
/// Digits after [`MARKER`].
pub(super) const MARKER_DIGITS: usize = 6;
/// Longest run accepted (the sequence → minute mapping and the stale threshold scale with it).
pub(crate) const MAX_SECONDS: u64 = 3600;
/// Most clients accepted.
pub(crate) const MAX_CLIENTS: usize = 1024;
/// Problems kept verbatim for the report (the rest are only counted).
pub(super) const MAX_PROBLEMS: usize = 20;
/// The timezone the daemon's config uses (its default), for the data-age text.
pub(super) const TZ: chrono_tz::Tz = chrono_tz::Europe::Amsterdam;
/// How long the daemon gets to start, take the roster, ingest, catch up at the end.
pub(super) const WAIT: Duration = Duration::from_secs(300);
/// How long the daemon gets after the run to serve the last snapshot delivered.
pub(super) const CATCH_UP: Duration = Duration::from_secs(60);

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadIngestOptions {
    /// Concurrent logged-in clients.
    pub clients: usize,
    /// How long they browse.
    pub duration: Duration,
    /// A new snapshot every `interval`.
    pub interval: Duration,
    /// Deliver snapshots during the run (false: the same browsing without ingest, the
    /// baseline for the latencies).
    pub ingest: bool,
    /// Patients in the ward.
    pub patients: usize,
    /// Patient pages (each followed by its MAR) per ward-list visit.
    pub patients_per_visit: usize,
    /// The `noodepd` binary to run as the daemon.
    pub exe: PathBuf,
    /// Where the work directory is made (removed at the end).
    pub work_parent: PathBuf,
    /// The seed of the generated ward (the same seed gives the same data).
    pub seed: u64,
}

impl LoadIngestOptions {
    /// The bench's defaults: 64 clients, 60 s, a snapshot a second, a 40-bed ward.
    pub fn new(exe: PathBuf) -> LoadIngestOptions {
        LoadIngestOptions {
            clients: 64,
            duration: Duration::from_secs(60),
            interval: Duration::from_secs(1),
            ingest: true,
            patients: 40,
            patients_per_visit: 3,
            exe,
            work_parent: std::env::temp_dir(),
            seed: 7,
        }
    }
}

/// Latency figures of one kind of page, milliseconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Latency {
    /// Requests timed.
    pub requests: u64,
    /// Median (nearest rank); `None` without requests.
    pub p50_ms: Option<f64>,
    /// 90th percentile.
    pub p90_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// The slowest request.
    pub max_ms: Option<f64>,
}

impl Latency {
    pub(super) fn of(mut us: Vec<u32>) -> Latency {
        us.sort_unstable();
        let ms = |v: Option<u32>| v.map(|v| f64::from(v) / 1000.0);
        Latency {
            requests: us.len() as u64,
            p50_ms: ms(percentile_sorted(&us, 50.0)),
            p90_ms: ms(percentile_sorted(&us, 90.0)),
            p99_ms: ms(percentile_sorted(&us, 99.0)),
            max_ms: ms(us.last().copied()),
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadIngestResult {
    /// Concurrent logged-in clients.
    pub clients: usize,
    /// Patients in the ward.
    pub patients: usize,
    /// How long the clients browsed, seconds.
    pub seconds: f64,
    /// Seconds between snapshots; `None` for the baseline run without ingest.
    pub interval_s: Option<f64>,
    /// Requests answered with a complete 200 page (consistent or not).
    pub ok: u64,
    /// Non-200 answers, incomplete answers and failed requests.
    pub errors: u64,
    /// 200 pages that were not from exactly one generation (or named none).
    pub inconsistent: u64,
    /// The first problems, verbatim.
    pub problems: Vec<String>,
    /// Every page together.
    pub all: Latency,
    /// The ward list.
    pub ward_list: Latency,
    /// Patient pages.
    pub patient: Latency,
    /// MAR pages.
    pub mar: Latency,
    /// Logins through the form before the clock started.
    pub login: Latency,
    /// Snapshots renamed into the inbox during the run.
    pub delivered: u64,
    /// `noodepd_snapshots_accepted_total` at the end minus at the start of the run.
    pub accepted: u64,
    /// `noodepd_snapshots_rejected_total`, likewise.
    pub rejected: u64,
    /// The sequence served when the clock started and when the daemon had caught up.
    pub first_sequence: u64,
    /// See `first_sequence`.
    pub last_sequence: u64,
    /// Distinct generations (sequences) seen in the pages served during the run.
    pub generations_seen: usize,
    /// Machine facts: cores, load average at start, kernel.
    pub machine: String,
}

impl LoadIngestResult {
    /// No errors, no inconsistent page, no snapshot refused, and pages were served.
    pub fn is_clean(&self) -> bool {
        self.errors == 0 && self.inconsistent == 0 && self.rejected == 0 && self.ok > 0
    }

    /// Generations swapped in while the clients browsed.
    pub fn swaps(&self) -> u64 {
        self.last_sequence.saturating_sub(self.first_sequence)
    }

    /// The figures as text (stdout of the subcommand).
    pub fn to_text(&self) -> String {
        let f = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        let mut out = String::new();
        let ingest = match self.interval_s {
            Some(s) => format!("a new snapshot every {s:.1} s"),
            None => "no snapshots (baseline without ingest)".to_owned(),
        };
        out.push_str(&format!(
            "noodepd bench load-ingest: {} clients for {:.1} s, {ingest}, ward of {} patients\n",
            self.clients, self.seconds, self.patients
        ));
        out.push_str(&format!("machine: {}\n\n", self.machine));
        out.push_str(&format!(
            "{:<22} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            "page", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms"
        ));
        for (name, l) in [
            ("all pages", &self.all),
            ("ward list /", &self.ward_list),
            ("patient page", &self.patient),
            ("patient MAR", &self.mar),
            ("login (before run)", &self.login),
        ] {
            out.push_str(&format!(
                "{name:<22} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
                l.requests,
                f(l.p50_ms),
                f(l.p90_ms),
                f(l.p99_ms),
                f(l.max_ms)
            ));
        }
        out.push_str(&format!(
            "\nthroughput: {:.1} pages/s\nerrors: {} (non-200, incomplete or failed requests)\ninconsistent pages: {} (not exactly one generation)\n",
            if self.seconds > 0.0 { self.ok as f64 / self.seconds } else { 0.0 },
            self.errors,
            self.inconsistent
        ));
        out.push_str(&format!(
            "snapshots: {} delivered, {} accepted, {} rejected; served sequence {} → {} ({} generations swapped in under load); {} distinct generations seen in pages\n",
            self.delivered,
            self.accepted,
            self.rejected,
            self.first_sequence,
            self.last_sequence,
            self.swaps(),
            self.generations_seen
        ));
        for p in &self.problems {
            out.push_str(&format!("problem: {p}\n"));
        }
        out.push_str(if self.is_clean() {
            "result: OK (0 errors, every page from one generation)\n"
        } else {
            "result: FAILED\n"
        });
        out
    }
}
