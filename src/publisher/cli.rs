//! `noodepd-publisher`'s command line: the service (default), `--once`, `check-config`,
//! `roster`, `mode` and `jwks`; each turned into calls on the modules above, errors into
//! one clear line and an exit code (0 done, 1 a ward or box not done, 2 cannot start).

use super::config::{BoxTarget, JwtAlg, PublisherConfig};
use super::service::{Publisher, WardOutcome};
use crate::snapshot::PayloadKind;
use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Default config path on the publisher host.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/noodepd-publisher/publisher.toml";

#[derive(Debug, Parser)]
#[command(
    name = "noodepd-publisher",
    version,
    about = "Reads each ward's patients from the EPD's FHIR API, seals a snapshot per ward and \
             delivers it to the ward's noodepd boxes; shows the fleet's freshness"
)]
/// The `noodepd-publisher` command line: run the service, or one tool.
pub struct Cli {
    /// The publisher's config (annotated example: config/publisher.toml).
    #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Run one cycle of every source and exit: 0 only if every ward was published and
    /// delivered to all its boxes.
    #[arg(long)]
    pub once: bool,
    #[command(subcommand)]
    /// A tool to run instead of the service.
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
/// The publisher's tools.
pub enum Command {
    /// Validate the config and the files it names (keys, known_hosts, CA); warn about
    /// unknown keys.
    CheckConfig,
    /// Seal a ward's staff roster (roster.json, checked as the box checks it) and deliver it
    /// to every box of the ward.
    Roster {
        #[arg(long)]
        /// The ward id (as in the config).
        ward: String,
        /// The roster JSON file.
        file: PathBuf,
    },
    /// Seal a mode command and deliver it to every box of the ward (or of every ward).
    Mode {
        #[arg(
            long,
            required_unless_present = "all_wards",
            conflicts_with = "all_wards"
        )]
        /// The ward id (as in the config).
        ward: Option<String>,
        #[arg(long)]
        /// Every ward in the config.
        all_wards: bool,
        /// The mode to switch to.
        mode: ModeArg,
        /// Why (shown on the boxes and in their access logs).
        #[arg(long)]
        reason: String,
    },
    /// Print the public JWKS of a SMART client key, to register at the EPD.
    Jwks {
        /// The client's private key (PEM, PKCS#8).
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "RS384")]
        /// The signature algorithm the key is for.
        alg: AlgArg,
        /// Key id (default: the RFC 7638 thumbprint, as the publisher sends it).
        #[arg(long)]
        kid: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
/// The mode a mode command switches to.
pub enum ModeArg {
    /// No patient data shown.
    Standby,
    /// An outage: the ward's data is shown.
    Emergency,
    /// Practice: as emergency, marked as a drill and ended automatically.
    Drill,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
/// SMART Backend Services signature algorithms.
pub enum AlgArg {
    #[value(name = "RS384")]
    /// RSASSA-PKCS1-v1_5 with SHA-384 (an RSA key).
    Rs384,
    #[value(name = "ES384")]
    /// ECDSA P-384 with SHA-384 (an EC key).
    Es384,
}

/// Exit code: a ward or box was not done.
const INCOMPLETE: u8 = 1;

/// Runs the command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(Command::Jwks { key, alg, kid }) = &cli.command {
        // Needs no config: run before one is read.
        return jwks(key, *alg, kid.as_deref());
    }
    let cfg = PublisherConfig::load(&cli.config)?;
    for k in &cfg.unknown_keys {
        log::warn!("{}: unknown key {k:?} ignored", cfg.source.display());
    }
    match cli.command {
        Some(Command::CheckConfig) => check_config(&cfg),
        Some(Command::Roster { ward, file }) => {
            let bytes = read_bounded(&file, crate::ingest::MAX_ROSTER)?;
            crate::ingest::check_roster(&bytes, &ward).map_err(|r| {
                anyhow::anyhow!(
                    "{}: the box would refuse it ({}): {}",
                    file.display(),
                    r.code,
                    r.reason
                )
            })?;
            command(cfg, &ward, PayloadKind::Roster, &bytes, "roster")
        }
        Some(Command::Mode {
            ward,
            all_wards,
            mode,
            reason,
        }) => {
            let reason = reason.trim();
            if reason.is_empty()
                || reason.chars().count() > crate::mode::MAX_REASON
                || reason.chars().any(char::is_control)
            {
                bail!(
                    "--reason must be 1 to {} characters without control characters",
                    crate::mode::MAX_REASON
                );
            }
            let m = match mode {
                ModeArg::Standby => "standby",
                ModeArg::Emergency => "emergency",
                ModeArg::Drill => "drill",
            };
            let payload = serde_json::to_vec(&serde_json::json!({"mode": m, "reason": reason}))?;
            let wards: Vec<String> = match (ward, all_wards) {
                (Some(w), _) => vec![w],
                (None, _) => cfg.wards.iter().map(|w| w.id.clone()).collect(),
            };
            let rt = runtime()?;
            let pubr = rt.block_on(async { start(cfg) })?;
            let mut ok = true;
            for w in wards {
                ok &= rt.block_on(send(
                    &pubr,
                    &w,
                    PayloadKind::ModeCommand,
                    &payload,
                    "mode command",
                ));
            }
            Ok(exit(ok))
        }
        Some(Command::Jwks { key, alg, kid }) => jwks(&key, alg, kid.as_deref()),
        None if cli.once => once(cfg),
        None => service(cfg),
    }
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INCOMPLETE)
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("noodepd-publisher")
        .build()
        .context("cannot start the async runtime")
}

/// The publisher; called inside the runtime (hyper-util's pool belongs to it).
fn start(cfg: PublisherConfig) -> anyhow::Result<Arc<Publisher>> {
    Ok(Arc::new(Publisher::new(cfg)?))
}

fn read_bounded(path: &std::path::Path, max: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut b = Vec::new();
    f.take(max as u64 + 1)
        .read_to_end(&mut b)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if b.len() > max {
        bail!("{}: larger than {max} bytes", path.display());
    }
    Ok(b)
}

fn command(
    cfg: PublisherConfig,
    ward: &str,
    kind: PayloadKind,
    payload: &[u8],
    what: &str,
) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let p = rt.block_on(async { start(cfg) })?;
    let ok = rt.block_on(send(&p, ward, kind, payload, what));
    Ok(exit(ok))
}

/// Seals and delivers one command; prints one line per box.
async fn send(
    p: &Arc<Publisher>,
    ward: &str,
    kind: PayloadKind,
    payload: &[u8],
    what: &str,
) -> bool {
    match p.send_command(ward, kind, payload).await {
        Err(e) => {
            println!("ward {ward}: {what} NOT sealed: {e}");
            false
        }
        Ok((seq, boxes)) => {
            let mut ok = true;
            for (b, r) in boxes {
                match r {
                    Some(Ok(_)) => {
                        println!("ward {ward}: {what} sequence {seq} delivered to box {b}")
                    }
                    Some(Err(e)) => {
                        ok = false;
                        println!(
                            "ward {ward}: {what} sequence {seq} NOT delivered to box {b}: {e}"
                        );
                    }
                    None => {
                        ok = false;
                        println!("ward {ward}: {what} sequence {seq}: box {b}: nothing delivered");
                    }
                }
            }
            ok
        }
    }
}

fn once(cfg: PublisherConfig) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let p = rt.block_on(async { start(cfg) })?;
    let outcomes: Vec<WardOutcome> = rt.block_on(p.cycle(None));
    let mut ok = true;
    for o in &outcomes {
        println!("{}", o.line());
        ok &= o.complete();
    }
    Ok(exit(ok))
}

fn service(cfg: PublisherConfig) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async move {
        let sigs = signals()?;
        let listen = cfg.listen;
        let settings = super::web::PageSettings {
            language: cfg.language,
            timezone: cfg.timezone,
        };
        let p = start(cfg)?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |rx: &tokio::sync::watch::Receiver<bool>| {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(addr) = listen {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (publisher.listen)"))?;
            log::info!(
                "status page and /metrics on http://{}",
                l.local_addr().unwrap_or(addr)
            );
            tasks.spawn(super::web::serve(
                l,
                p.fleet.clone(),
                settings,
                stopped(&stop_rx),
            ));
        }
        tasks.spawn(watchdog(stopped(&stop_rx)));
        log::info!(
            "noodepd-publisher {} started: {} source(s), {} ward(s), {} box(es)",
            env!("CARGO_PKG_VERSION"),
            p.cfg.sources.len(),
            p.cfg.wards.len(),
            p.cfg.wards.iter().map(|w| w.boxes.len()).sum::<usize>()
        );
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        tasks.spawn(p.clone().run(stopped(&stop_rx)));
        sigs.await;
        log::info!("stopping");
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        let _ = stop_tx.send(true);
        while tasks.join_next().await.is_some() {}
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves on SIGTERM or SIGINT (registered before anything else starts).
fn signals() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Pings the systemd watchdog at half its interval, when one is set.
async fn watchdog(stop: impl std::future::Future<Output = ()>) {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) {
        stop.await;
        return;
    }
    let every =
        std::time::Duration::from_micros(usec / 2).max(std::time::Duration::from_millis(100));
    let mut tick = tokio::time::interval(every);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => { let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]); }
        }
    }
}

/// `check-config`: the config, then every file it names.
fn check_config(cfg: &PublisherConfig) -> anyhow::Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();
    if let Err(e) = crate::keys::PublisherSecret::read(&cfg.key) {
        problems.push(format!("publisher key: {e}"));
    }
    for s in &cfg.sources {
        if let Err(e) = super::client::FhirClient::new(s) {
            problems.push(e);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for w in &cfg.wards {
        for b in &w.boxes {
            if let Err(e) = crate::keys::AppliancePublic::read(&b.key) {
                problems.push(format!("ward {} box {}: {e}", w.id, b.id));
            }
            match &b.target {
                BoxTarget::Sftp(t) => {
                    for (what, p) in [("identity", &t.identity), ("known_hosts", &t.known_hosts)] {
                        if seen.insert(p.clone()) && !p.is_file() {
                            problems.push(format!(
                                "ward {} box {}: {what} {} is not a file",
                                w.id,
                                b.id,
                                p.display()
                            ));
                        }
                    }
                }
                BoxTarget::Dir(d) => {
                    if !d.is_dir() {
                        problems.push(format!(
                            "ward {} box {}: {} is not a directory (mounted?)",
                            w.id,
                            b.id,
                            d.display()
                        ));
                    }
                }
            }
        }
    }
    for k in &cfg.unknown_keys {
        eprintln!(
            "noodepd-publisher: warning: {}: unknown key {k:?} (ignored)",
            cfg.source.display()
        );
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("noodepd-publisher: {p}");
        }
        bail!("{}: {} problem(s)", cfg.source.display(), problems.len());
    }
    println!(
        "{}: OK ({} source(s), {} ward(s), {} box(es), state {})",
        cfg.source.display(),
        cfg.sources.len(),
        cfg.wards.len(),
        cfg.wards.iter().map(|w| w.boxes.len()).sum::<usize>(),
        cfg.state_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `jwks`: the public JWKS of a SMART client key.
fn jwks(key: &std::path::Path, alg: AlgArg, kid: Option<&str>) -> anyhow::Result<ExitCode> {
    let alg = match alg {
        AlgArg::Rs384 => JwtAlg::Rs384,
        AlgArg::Es384 => JwtAlg::Es384,
    };
    let k = super::auth::ClientKey::load(key, alg)?;
    let doc = serde_json::json!({"keys": [k.public_jwk(kid)]});
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(ExitCode::SUCCESS)
}
