//! `noodepd bench load-ingest`: logged-in nurses browsing while snapshots keep arriving.
//!
//! N clients (own keep-alive connection each, each logged in through the real login form
//! as one of the roster's nurses) walk ward list → patient page → that patient's MAR → …
//! against the real daemon binary for a fixed time, while a feeder thread seals a new
//! snapshot of the ward and renames it into the inbox every interval. Every response must
//! be a complete `200` HTML page, and every page must come from one generation: snapshot N
//! carries the marker `LOADSEQ` + N (six digits) in every patient's family name and a
//! `data_as_of` of its own minute, so a page's data-age header names the sequence it claims
//! and the page may hold only that sequence's markers. Latencies (p50/p90/p99/max), the
//! generations swapped during the run and the snapshots accepted are reported.
//!
//! The same harness runs shortly in `tests/load_ingest.rs` (errors and consistency only,
//! never latency).

use super::BenchError;
use super::daemon::{self, Daemon, Setup};
use super::data::{self, Keys, WorkDir};
use super::http::{self, Conn};
use super::stats::percentile_sorted;
use crate::generate::{GenerateOptions, StaffMember, generate};
use crate::snapshot::{self, DEFAULT_CHUNK_SIZE, PayloadKind, SealRequest};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The appliance ward id of the run.
pub(crate) const WARD: &str = "LOAD";
/// The marker prefix in every patient's family name; six digits of the sequence follow.
pub(crate) const MARKER: &str = "LOADSEQ";
/// Digits after [`MARKER`].
const MARKER_DIGITS: usize = 6;
/// Longest run accepted (the sequence → minute mapping and the stale threshold scale with it).
pub(crate) const MAX_SECONDS: u64 = 3600;
/// Most clients accepted.
pub(crate) const MAX_CLIENTS: usize = 1024;
/// Problems kept verbatim for the report (the rest are only counted).
const MAX_PROBLEMS: usize = 20;
/// The timezone the daemon's config uses (its default), for the data-age text.
const TZ: chrono_tz::Tz = chrono_tz::Europe::Amsterdam;
/// How long the daemon gets to start, take the roster, ingest, catch up at the end.
const WAIT: Duration = Duration::from_secs(300);
/// How long the daemon gets after the run to serve the last snapshot delivered.
const CATCH_UP: Duration = Duration::from_secs(60);

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
    fn of(mut us: Vec<u32>) -> Latency {
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

/// The ward's payload with a placeholder marker in every family name, and where the
/// placeholder's digits are, so that one sequence's payload is a copy with digits written.
struct MarkedPayload {
    bytes: Vec<u8>,
    digits_at: Vec<usize>,
}

impl MarkedPayload {
    fn new(mut bundle: serde_json::Value) -> Result<MarkedPayload, BenchError> {
        let placeholder = format!("{MARKER}{}", "0".repeat(MARKER_DIGITS));
        let mut marked = 0usize;
        if let Some(entries) = bundle.get_mut("entry").and_then(|e| e.as_array_mut()) {
            for e in entries {
                let Some(r) = e.get_mut("resource") else {
                    continue;
                };
                if r.get("resourceType").and_then(|t| t.as_str()) != Some("Patient") {
                    continue;
                }
                let Some(names) = r.get_mut("name").and_then(|n| n.as_array_mut()) else {
                    continue;
                };
                for n in names {
                    if let Some(obj) = n.as_object_mut() {
                        let family = obj
                            .get("family")
                            .and_then(|f| f.as_str())
                            .unwrap_or_default()
                            .to_owned();
                        obj.insert(
                            "family".into(),
                            serde_json::Value::String(format!("{family} {placeholder}")),
                        );
                        // Keep `text` (if any) in step, in case a page shows it instead.
                        if let Some(text) = obj.get("text").and_then(|t| t.as_str()) {
                            let text = format!("{text} {placeholder}");
                            obj.insert("text".into(), serde_json::Value::String(text));
                        }
                        // nl-core names: the surname parts in `_family` extensions are
                        // what the mapper shows (own name, partner name).
                        let exts = obj
                            .get_mut("_family")
                            .and_then(|f| f.get_mut("extension"))
                            .and_then(|e| e.as_array_mut());
                        for ext in exts.into_iter().flatten() {
                            let is_name =
                                ext.get("url").and_then(|u| u.as_str()).is_some_and(|u| {
                                    u.ends_with("-own-name") || u.ends_with("-partner-name")
                                });
                            let value = ext.get("valueString").and_then(|v| v.as_str());
                            if let (true, Some(v)) = (is_name, value) {
                                let v = format!("{v} {placeholder}");
                                if let Some(o) = ext.as_object_mut() {
                                    o.insert("valueString".into(), serde_json::Value::String(v));
                                }
                            }
                        }
                        marked += 1;
                    }
                }
            }
        }
        if marked == 0 {
            return Err(BenchError::Data(
                "the generated ward has no patient name to mark".into(),
            ));
        }
        let mut bytes = serde_json::to_vec(&bundle)
            .map_err(|e| BenchError::Data(format!("serialising the ward: {e}")))?;
        bytes.push(b'\n');
        let needle = placeholder.as_bytes();
        let digits_at: Vec<usize> = bytes
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i + MARKER.len())
            .collect();
        Ok(MarkedPayload { bytes, digits_at })
    }

    /// The payload of `sequence`.
    fn for_sequence(&self, sequence: u64) -> Vec<u8> {
        let digits = format!("{:0width$}", sequence % 1_000_000, width = MARKER_DIGITS);
        let mut out = self.bytes.clone();
        for &at in &self.digits_at {
            if let Some(slot) = out.get_mut(at..at + MARKER_DIGITS) {
                slot.copy_from_slice(digits.as_bytes());
            }
        }
        out
    }
}

/// Sequence ↔ `data_as_of`: sequence `s` has `base + s` minutes, so the data-age header
/// (shown to the minute) names the sequence.
#[derive(Debug, Clone)]
pub(crate) struct SequenceClock {
    base: DateTime<Utc>,
    by_text: HashMap<String, u64>,
}

impl SequenceClock {
    /// A clock for sequences `1..=max_sequence`, the last one about now.
    pub(crate) fn new(now: DateTime<Utc>, max_sequence: u64) -> SequenceClock {
        let minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
        let span = i64::try_from(max_sequence).unwrap_or(i64::MAX / 120);
        let base = minute - TimeDelta::minutes(span);
        let mut by_text = HashMap::new();
        let mut clock = SequenceClock {
            base,
            by_text: HashMap::new(),
        };
        for s in 1..=max_sequence {
            by_text.insert(crate::timefmt::datetime(clock.data_as_of(s), TZ), s);
        }
        clock.by_text = by_text;
        clock
    }

    /// The `data_as_of` of `sequence`.
    pub(crate) fn data_as_of(&self, sequence: u64) -> DateTime<Utc> {
        self.base + TimeDelta::minutes(i64::try_from(sequence).unwrap_or(0))
    }

    /// The sequence whose `data_as_of` is shown as `text` ("22-11-2026 14:05").
    pub(crate) fn sequence_of(&self, text: &str) -> Option<u64> {
        self.by_text.get(text).copied()
    }
}

/// Finds "dd-mm-yyyy hh:mm" in `s`.
fn find_datetime(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let shape = b"00-00-0000 00:00";
    (0..b.len().saturating_sub(shape.len() - 1)).find_map(|i| {
        let w = b.get(i..i + shape.len())?;
        let fits = w.iter().zip(shape).all(|(c, p)| match p {
            b'0' => c.is_ascii_digit(),
            p => c == p,
        });
        if fits {
            s.get(i..i + shape.len())
        } else {
            None
        }
    })
}

/// Checks that `html` is a complete page from one generation: every data-age element
/// names the same sequence (through `clock`), there is at least one, and every marker in
/// the page is that sequence's. Returns the sequence.
pub(crate) fn check_page(html: &str, clock: &SequenceClock) -> Result<u64, String> {
    if !html.trim_end().ends_with("</html>") {
        return Err("page does not end with </html> (incomplete)".into());
    }
    let mut claimed: Option<u64> = None;
    let class = "class=\"age age-";
    let mut rest = html;
    while let Some(i) = rest.find(class) {
        let Some(after) = rest.get(i + class.len()..) else {
            break;
        };
        let end = after.find("</span>").unwrap_or(after.len());
        let element = after.get(..end).unwrap_or_default();
        if element.starts_with("none") {
            return Err("page shows no data (data age: none)".into());
        }
        let text = find_datetime(element)
            .ok_or_else(|| "data-age element without a date and time".to_owned())?;
        let seq = clock
            .sequence_of(text)
            .ok_or_else(|| format!("data-age {text:?} is no sequence of this run"))?;
        match claimed {
            None => claimed = Some(seq),
            Some(c) if c != seq => {
                return Err(format!(
                    "data-age elements name sequences {c} and {seq} on one page"
                ));
            }
            Some(_) => {}
        }
        rest = after;
    }
    let claimed = claimed.ok_or_else(|| "page has no data-age element".to_owned())?;
    let want = format!("{:0width$}", claimed % 1_000_000, width = MARKER_DIGITS);
    let mut markers = 0usize;
    let mut rest = html;
    while let Some(i) = rest.find(MARKER) {
        let Some(after) = rest.get(i + MARKER.len()..) else {
            break;
        };
        let digits = after.get(..MARKER_DIGITS).unwrap_or(after);
        if digits != want {
            return Err(format!(
                "page claims sequence {claimed} but holds marker {MARKER}{digits}"
            ));
        }
        markers += 1;
        rest = after;
    }
    if markers == 0 {
        return Err(format!(
            "page claims sequence {claimed} but holds no {MARKER} marker"
        ));
    }
    Ok(claimed)
}

/// Reads one counter from `/metrics` (loopback).
async fn metric(addr: SocketAddr, name: &str) -> Result<u64, BenchError> {
    let mut c = Conn::connect(addr).await?;
    let r = c
        .request(&http::get("/metrics", &addr.to_string(), ""))
        .await?;
    if r.status != 200 {
        return Err(BenchError::Daemon(format!(
            "/metrics answered {}",
            r.status
        )));
    }
    r.text()
        .lines()
        .find_map(|l| {
            let v = l.strip_prefix(name)?.strip_prefix(' ')?;
            v.trim().parse().ok()
        })
        .ok_or_else(|| BenchError::Daemon(format!("/metrics has no {name}")))
}

/// One page kind.
#[derive(Debug, Clone, Copy)]
enum PageKind {
    WardList,
    Patient,
    Mar,
}

/// What one client saw.
#[derive(Default)]
struct ClientOut {
    lat: [Vec<u32>; 3],
    ok: u64,
    errors: u64,
    inconsistent: u64,
    problems: Vec<String>,
    sequences: BTreeSet<u64>,
}

impl ClientOut {
    fn problem(&mut self, p: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        }
    }
}

/// A logged-in nurse.
struct Nurse {
    cookies: String,
    conn: Conn,
}

/// Logs in through the form as `nurse`; returns the session and the login time.
async fn login(addr: SocketAddr, nurse: &StaffMember) -> Result<(Nurse, u32), BenchError> {
    let host = addr.to_string();
    let mut conn = Conn::connect(addr).await?;
    let t = Instant::now();
    let mut jar = Vec::new();
    let r = conn.request(&http::get("/login", &host, "")).await?;
    http::merge_cookies(&mut jar, r.set_cookies());
    let csrf = http::hidden_input(&r.text(), "csrf")
        .ok_or_else(|| BenchError::Daemon(format!("GET /login ({}) has no csrf", r.status)))?;
    let r = conn
        .request(&http::post_form(
            "/login",
            &host,
            &http::cookie_header(&jar),
            &[
                ("user", nurse.user.as_str()),
                ("code", nurse.code.as_str()),
                ("csrf", csrf.as_str()),
            ],
        ))
        .await?;
    if r.status != 303 {
        return Err(BenchError::Daemon(format!(
            "POST /login as {} answered {}",
            nurse.user, r.status
        )));
    }
    http::merge_cookies(&mut jar, r.set_cookies());
    let took = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
    Ok((
        Nurse {
            cookies: http::cookie_header(&jar),
            conn,
        },
        took,
    ))
}

/// Every distinct `/patient/KEY` link (not its sub-pages) in a ward list.
fn patient_links(html: &str) -> Vec<String> {
    let needle = "href=\"/patient/";
    let mut out: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(needle) {
        let Some(after) = rest.get(i + "href=\"".len()..) else {
            break;
        };
        let link = after.split('"').next().unwrap_or_default();
        let is_page = link
            .strip_prefix("/patient/")
            .is_some_and(|k| !k.is_empty() && !k.contains('/') && !k.contains('?'));
        if is_page && !out.iter().any(|l| l == link) {
            out.push(link.replace("&amp;", "&"));
        }
        rest = after;
    }
    out
}

/// One nurse browsing until `deadline`.
async fn browse(
    mut nurse: Nurse,
    addr: SocketAddr,
    clock: Arc<SequenceClock>,
    per_visit: usize,
    seed: u64,
    deadline: Instant,
) -> ClientOut {
    let host = addr.to_string();
    let mut out = ClientOut::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut links: Vec<String> = Vec::new();
    'run: while Instant::now() < deadline {
        let mut plan: Vec<(PageKind, String)> = vec![(PageKind::WardList, "/".to_owned())];
        for _ in 0..per_visit {
            if links.is_empty() {
                break;
            }
            let pick = rng.gen_range(0..links.len());
            if let Some(l) = links.get(pick) {
                plan.push((PageKind::Patient, l.clone()));
                plan.push((PageKind::Mar, format!("{l}/mar")));
            }
        }
        for (kind, path) in plan {
            if Instant::now() >= deadline {
                break 'run;
            }
            let req = http::get(&path, &host, &nurse.cookies);
            let t = Instant::now();
            let r = nurse.conn.request(&req).await;
            let us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    out.errors += 1;
                    out.problem(format!("GET {path}: {e}"));
                    match Conn::connect(addr).await {
                        Ok(c) => nurse.conn = c,
                        Err(_) => break 'run,
                    }
                    continue;
                }
            };
            if r.status != 200 {
                out.errors += 1;
                out.problem(format!("GET {path}: status {}", r.status));
                continue;
            }
            out.ok += 1;
            if let Some(l) = out.lat.get_mut(kind as usize) {
                l.push(us);
            }
            let html = String::from_utf8_lossy(&r.body);
            match check_page(&html, &clock) {
                Ok(seq) => {
                    out.sequences.insert(seq);
                }
                Err(why) => {
                    out.inconsistent += 1;
                    out.problem(format!("GET {path}: {why}"));
                }
            }
            if matches!(kind, PageKind::WardList) {
                links = patient_links(&html);
                if links.is_empty() {
                    out.inconsistent += 1;
                    out.problem("the ward list links no patient".into());
                }
            }
        }
    }
    out
}

/// Seals `payload` as sequence `sequence` with that sequence's `data_as_of`.
fn seal(
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

/// Runs the load; `progress` gets one line per step.
pub fn run(
    opts: &LoadIngestOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<LoadIngestResult, BenchError> {
    let clients = opts.clients.clamp(1, MAX_CLIENTS);
    let duration = opts.duration.min(Duration::from_secs(MAX_SECONDS));
    let interval = opts.interval.max(Duration::from_millis(100));
    let machine = super::run::machine();
    let work = WorkDir::new(&opts.work_parent, "load-ingest")?;
    let keys = Arc::new(Keys::fresh(&work.path().join("keys"))?);
    let now = Utc::now();

    progress(&format!("generating the ward ({} patients)", opts.patients));
    let g = generate(&GenerateOptions::new(opts.patients, opts.seed, WARD, now));
    let bundle = g
        .bundles
        .into_iter()
        .next()
        .map(|(_, b)| b)
        .ok_or_else(|| BenchError::Data("the generator made no ward".into()))?;
    let payload = Arc::new(MarkedPayload::new(bundle)?);
    let nurses: Vec<StaffMember> = g.staff.into_iter().filter(|s| s.role == "nurse").collect();
    if nurses.is_empty() {
        return Err(BenchError::Data("the generated roster has no nurse".into()));
    }
    progress("hashing the roster codes (argon2id)");
    let roster_staff: Vec<StaffMember> = nurses.clone();
    let roster = data::roster_payload(WARD, &roster_staff)?;

    // Sequences: 1 roster, 2 first clinical, then one per interval (with headroom).
    let per_run = duration.as_millis() / interval.as_millis().max(1);
    let max_sequence = 2 + u64::try_from(per_run).unwrap_or(u64::MAX / 2) + 10;
    let clock = Arc::new(SequenceClock::new(now, max_sequence));
    let setup = prepare(&work, &keys, max_sequence)?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    progress(&format!("starting noodepd serve ({})", opts.exe.display()));
    let mut d = Daemon::spawn(&opts.exe, &setup)?;
    let r = rt.block_on(async {
        let since = d.spawned_at;
        d.wait_until(since, WAIT, |_| true).await?;
        let sealed = seal(&keys, &clock, 1, PayloadKind::Roster, &roster)?;
        data::drop_into_inbox(&setup.inbox, "roster-1.snap", &sealed)?;
        d.wait_until(since, WAIT, |r| r.roster_staff > 0).await?;
        let sealed = seal(
            &keys,
            &clock,
            2,
            PayloadKind::Clinical,
            &payload.for_sequence(2),
        )?;
        data::drop_into_inbox(&setup.inbox, "clinical-2.snap", &sealed)?;
        d.wait_until(Instant::now(), WAIT, |r| r.ready && r.sequence == Some(2))
            .await?;

        progress(&format!("logging in {clients} nurses through the form"));
        let mut sessions = Vec::with_capacity(clients);
        let mut login_us = Vec::with_capacity(clients);
        for i in 0..clients {
            let nurse = nurses
                .get(i % nurses.len())
                .ok_or_else(|| BenchError::Data("no nurse".into()))?;
            let (s, us) = login(setup.addr, nurse).await?;
            sessions.push(s);
            login_us.push(us);
        }
        let accepted0 = metric(setup.addr, "noodepd_snapshots_accepted_total").await?;
        let rejected0 = metric(setup.addr, "noodepd_snapshots_rejected_total").await?;

        progress(&format!(
            "{clients} nurses browsing for {} s, {}",
            duration.as_secs_f64(),
            if opts.ingest {
                format!("a snapshot every {:.1} s", interval.as_secs_f64())
            } else {
                "no snapshots (baseline)".to_owned()
            }
        ));
        let start = Instant::now();
        let deadline = start + duration;
        let stop = Arc::new(AtomicBool::new(false));
        let delivered = Arc::new(AtomicU64::new(0));
        let feeder = {
            let (keys, inbox) = (keys.clone(), setup.inbox.clone());
            let (payload, clock) = (payload.clone(), clock.clone());
            let (stop, delivered) = (stop.clone(), delivered.clone());
            // Without ingest the feeder stops at once (its deadline is the start).
            let until = if opts.ingest { deadline } else { start };
            std::thread::spawn(move || -> Result<u64, BenchError> {
                feed(
                    &keys, &inbox, &payload, &clock, interval, until, &stop, &delivered,
                )
            })
        };
        let mut tasks = Vec::with_capacity(clients);
        for (i, s) in sessions.into_iter().enumerate() {
            tasks.push(tokio::spawn(browse(
                s,
                setup.addr,
                clock.clone(),
                opts.patients_per_visit.max(1),
                opts.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                deadline,
            )));
        }
        let mut outs = Vec::with_capacity(clients);
        for t in tasks {
            match t.await {
                Ok(o) => outs.push(o),
                Err(e) => {
                    let mut o = ClientOut::default();
                    o.errors += 1;
                    o.problem(format!("client task failed: {e}"));
                    outs.push(o);
                }
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let last_delivered = match feeder.join() {
            Ok(r) => r?,
            Err(_) => return Err(BenchError::Data("the feeder thread panicked".into())),
        };
        d.check_alive()?;
        // Let the daemon finish the last snapshot delivered, then read the counters.
        let mut late = None;
        let served = match d
            .wait_until(Instant::now(), CATCH_UP, |r| {
                r.sequence.is_some_and(|s| s >= last_delivered)
            })
            .await
        {
            Ok((ready, _)) => ready.sequence,
            Err(e) => {
                late = Some(format!(
                    "sequence {last_delivered} not served {} s after the run: {e}",
                    CATCH_UP.as_secs()
                ));
                let mut c = Conn::connect(setup.addr).await?;
                daemon::ready(&mut c).await?.sequence
            }
        };
        let accepted = metric(setup.addr, "noodepd_snapshots_accepted_total").await?;
        let rejected = metric(setup.addr, "noodepd_snapshots_rejected_total").await?;
        Ok::<_, BenchError>((
            outs,
            login_us,
            seconds,
            delivered.load(Ordering::Relaxed),
            accepted.saturating_sub(accepted0),
            rejected.saturating_sub(rejected0),
            served.unwrap_or_default(),
            late,
        ))
    });
    let stopped = d.stop();
    let (outs, login_us, seconds, delivered, accepted, rejected, last_sequence, late) = r?;
    stopped?;

    let mut lat: [Vec<u32>; 3] = Default::default();
    let mut res = LoadIngestResult {
        clients,
        patients: opts.patients,
        seconds,
        interval_s: opts.ingest.then_some(interval.as_secs_f64()),
        ok: 0,
        errors: 0,
        inconsistent: 0,
        problems: Vec::new(),
        all: Latency::default(),
        ward_list: Latency::default(),
        patient: Latency::default(),
        mar: Latency::default(),
        login: Latency::of(login_us),
        delivered,
        accepted,
        rejected,
        first_sequence: 2,
        last_sequence,
        generations_seen: 0,
        machine,
    };
    if let Some(late) = late {
        res.errors += 1;
        res.problems.push(late);
    }
    let mut seen = BTreeSet::new();
    for o in outs {
        res.ok += o.ok;
        res.errors += o.errors;
        res.inconsistent += o.inconsistent;
        for p in o.problems {
            if res.problems.len() < MAX_PROBLEMS {
                res.problems.push(p);
            }
        }
        seen.extend(o.sequences);
        for (all, mine) in lat.iter_mut().zip(o.lat) {
            all.extend(mine);
        }
    }
    res.generations_seen = seen.len();
    let [w, p, m] = lat;
    res.all = Latency::of(w.iter().chain(&p).chain(&m).copied().collect());
    res.ward_list = Latency::of(w);
    res.patient = Latency::of(p);
    res.mar = Latency::of(m);
    Ok(res)
}

/// The daemon's directories and config: the bench's, plus a stale threshold longer than
/// the sequence clock spans (every page then shows fresh data, as on a ward).
fn prepare(work: &WorkDir, keys: &Keys, max_sequence: u64) -> Result<Setup, BenchError> {
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
fn feed(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn page(age: &str, body: &str) -> String {
        format!(
            "<!DOCTYPE html><html><body><span class=\"age age-fresh\">gegevens van {age} (3 min oud)</span>{body}</body></html>"
        )
    }

    fn clock() -> (SequenceClock, String, String) {
        let c = SequenceClock::new(Utc::now(), 20);
        let t5 = crate::timefmt::datetime(c.data_as_of(5), TZ);
        let t6 = crate::timefmt::datetime(c.data_as_of(6), TZ);
        (c, t5, t6)
    }

    #[test]
    fn accepts_a_page_from_one_generation() {
        let (c, t5, _) = clock();
        let html = page(
            &t5,
            "<td>Jansen LOADSEQ000005</td><td>Bakker LOADSEQ000005</td>",
        );
        assert_eq!(check_page(&html, &c), Ok(5));
    }

    #[test]
    fn rejects_a_page_mixing_two_generations_markers() {
        let (c, t5, _) = clock();
        let html = page(
            &t5,
            "<td>Jansen LOADSEQ000005</td><td>Bakker LOADSEQ000006</td>",
        );
        let e = check_page(&html, &c).unwrap_err();
        assert!(e.contains("LOADSEQ000006"), "{e}");
    }

    #[test]
    fn rejects_a_page_whose_header_names_another_generation_than_its_data() {
        let (c, _, t6) = clock();
        let html = page(&t6, "<td>Jansen LOADSEQ000005</td>");
        assert!(check_page(&html, &c).is_err());
    }

    #[test]
    fn rejects_two_data_age_elements_naming_different_generations() {
        let (c, t5, t6) = clock();
        let html = page(
            &t5,
            &format!("<span class=\"age age-fresh\">{t6}</span> LOADSEQ000005"),
        );
        let e = check_page(&html, &c).unwrap_err();
        assert!(e.contains("sequences 5 and 6"), "{e}");
    }

    #[test]
    fn rejects_incomplete_pages_and_pages_without_markers() {
        let (c, t5, _) = clock();
        let html = page(&t5, "LOADSEQ000005");
        let cut = html.get(..html.len() - 10).unwrap();
        assert!(check_page(cut, &c).unwrap_err().contains("incomplete"));
        assert!(check_page(&page(&t5, "no marker"), &c).is_err());
        let none = "<html><span class=\"age age-none\">nog geen gegevens</span></html>";
        assert!(check_page(none, &c).unwrap_err().contains("no data"));
    }

    #[test]
    fn marks_every_patient_and_writes_each_sequence_into_the_payload() {
        let g = generate(&GenerateOptions::new(3, 1, WARD, Utc::now()));
        let (_, bundle) = g.bundles.into_iter().next().unwrap();
        let m = MarkedPayload::new(bundle).unwrap();
        assert!(m.digits_at.len() >= 3);
        let p = String::from_utf8(m.for_sequence(42)).unwrap();
        assert_eq!(p.matches("LOADSEQ000042").count(), m.digits_at.len());
        assert!(!p.contains("LOADSEQ000000"));
    }

    #[test]
    fn finds_patient_page_links_once_and_skips_sub_pages() {
        let html = r#"<a href="/patient/a">A</a><a href="/patient/a">A</a><a href="/patient/a/mar">M</a><a href="/patient/b">B</a><a href="/print/mar">P</a>"#;
        assert_eq!(patient_links(html), vec!["/patient/a", "/patient/b"]);
    }

    #[test]
    fn sequence_clock_round_trips_through_the_shown_text() {
        let c = SequenceClock::new(Utc::now(), 100);
        for s in [1, 2, 50, 100] {
            let text = crate::timefmt::datetime(c.data_as_of(s), TZ);
            assert_eq!(c.sequence_of(&text), Some(s));
        }
        assert!(c.data_as_of(100) <= Utc::now());
    }
}
