//! The running daemon: one [`App`] (src/app.rs), built at start-up from the config and handed
//! (in an `Arc`) to ingest, the web server and the control socket; and [`serve`] / [`run`],
//! which wire them together with systemd (READY, watchdog), signals (SIGTERM/SIGINT stop,
//! SIGHUP reloads the TLS certificate) and the timers (drill expiry, audit chain head to the
//! journal, audit retention, the status file). No clinical logic lives here.

use crate::app::App;
use crate::audit::{Action, Event, EventKind, Outcome};
use crate::config::Config;
use crate::ingest::Ingestor;
use chrono::Utc;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Errors starting or running the daemon.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DaemonError {
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
    #[error(transparent)]
    Tls(#[from] crate::web::tls::TlsError),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("listening socket: {0}")]
    Listener(std::io::Error),
    #[error("a daemon task failed: {0}")]
    Task(String),
}

/// How `run` reports back to its caller (the demo prints the URL once serving).
#[derive(Debug, Clone)]
pub(crate) struct Started {
    /// The address the web server listens on (the demo prints it).
    #[cfg_attr(not(feature = "dev-tools"), allow(dead_code))]
    pub addr: std::net::SocketAddr,
}

/// Runs the daemon on a multi-threaded runtime until SIGTERM or SIGINT.
pub(crate) fn serve(config: Config) -> Result<(), DaemonError> {
    // Take the socket before any thread starts: socket activation clears LISTEN_* vars.
    let listener = crate::web::listener(&config.web)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("noodepd")
        .build()
        .map_err(DaemonError::Runtime)?;
    rt.block_on(run(config, listener, None))
}

fn shutdown_future(rx: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// A daemon life-cycle audit event (start, stop, recovery) in the current mode.
fn daemon_audit_event(shared: &App, detail: String) -> Event {
    let mode = shared.mode.current(Utc::now()).mode;
    Event::new(
        EventKind::Daemon,
        Action::E,
        Outcome::Success,
        mode.as_str(),
        detail,
    )
}

/// Records a daemon life-cycle event (a failure reaches the status through `App::audit`).
fn daemon_event(shared: &App, detail: String) {
    let _ = shared.audit(daemon_audit_event(shared, detail));
}

/// Runs the daemon on the current runtime with a given listener until SIGTERM/SIGINT.
/// `started` receives the address once start-up recovery is done
/// (after systemd has been told READY=1).
pub(crate) async fn run(
    config: Config,
    listener: std::net::TcpListener,
    started: Option<oneshot::Sender<Started>>,
) -> Result<(), DaemonError> {
    // Before anything else: a SIGTERM/SIGINT that arrives during start-up (even after READY,
    // before the serving loop) must stop the daemon gracefully, not kill it by default action.
    let sigs = install_signals();
    for k in &config.unknown_keys {
        log::warn!("{}: unknown key {k:?} ignored", config.source.display());
    }
    let tls = match &config.web.tls {
        Some(paths) => Some(Arc::new(crate::web::TlsReloader::new(paths)?)),
        None => None,
    };
    let listener = tokio::net::TcpListener::from_std(listener).map_err(DaemonError::Listener)?;
    let addr = listener.local_addr().map_err(DaemonError::Listener)?;
    let shared = App::open(config)?;
    if let Some(t) = &tls {
        // Before anything is served, so /ready never shows an expired certificate as fine.
        check_certificate(&shared, t, Utc::now());
    }
    daemon_event(
        &shared,
        format!("start, version {}", env!("CARGO_PKG_VERSION")),
    );
    log::info!(
        "noodepd {} starting: ward {}, appliance {}, listening on {addr}{}",
        env!("CARGO_PKG_VERSION"),
        shared.config.ward,
        shared.config.appliance_id,
        if tls.is_some() {
            " (TLS)"
        } else {
            " (plain HTTP)"
        }
    );

    let ingestor = Arc::new(Ingestor::new(shared.clone())?);
    let rec = {
        let ing = ingestor.clone();
        tokio::task::spawn_blocking(move || ing.recover())
            .await
            .unwrap_or_default()
    };
    if let Some(seq) = rec.generation {
        log::info!("serving sequence {seq} from the kept snapshots (reused or rebuilt, see above)");
    }
    // The control socket is bound before READY=1, so `noodepd mode` works as soon as
    // systemd (or a script waiting for the web port) sees the daemon started.
    let control = match crate::control::bind(&shared.config.paths.control_socket) {
        Ok(l) => Some(l),
        Err(e) => {
            log::error!("control socket: {e} (`noodepd mode` will not work)");
            None
        }
    };
    match shared.store.current() {
        Some(g) => log::info!("ready: serving sequence {}", g.meta().sequence),
        None => log::info!("ready without data: serving the status page until a snapshot arrives"),
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    if let Some(tx) = started {
        let _ = tx.send(Started { addr });
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(ingestor.clone().run(shutdown_future(&stop_rx)));
    if let Some(control) = control {
        tasks.spawn(crate::control::run(
            control,
            shared.clone(),
            shutdown_future(&stop_rx),
        ));
    }
    tasks.spawn(timers(
        shared.clone(),
        ingestor.clone(),
        tls.clone(),
        shutdown_future(&stop_rx),
    ));
    let web = tokio::spawn(crate::web::run(
        shared.clone(),
        listener,
        tls.clone(),
        shutdown_future(&stop_rx),
    ));

    signals(sigs, &shared, tls.as_deref()).await;
    log::info!("stopping");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    let web_result = web.await;
    while tasks.join_next().await.is_some() {}
    // The file served now stays for the next start (`ingest::reuse`; on the box the unit
    // keeps the runtime directory across a restart, not across a stop or a reboot).
    if let Some(g) = shared.store.current() {
        g.keep_file_on_drop();
    }
    daemon_event(&shared, "stop".into());
    shared.audit_log().log_head();
    match web_result {
        Ok(r) => r.map_err(DaemonError::from),
        Err(e) => Err(DaemonError::Task(e.to_string())),
    }
}

/// The signal streams, registered once at start-up (signals arriving before they are
/// awaited are kept, not lost).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

/// Registers SIGTERM, SIGINT and SIGHUP; `None` when that fails.
fn install_signals() -> Option<Signals> {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(term), Ok(int), Ok(hup)) => Some(Signals { term, int, hup }),
        _ => None,
    }
}

/// Waits for SIGTERM or SIGINT; reloads TLS on SIGHUP.
async fn signals(sigs: Option<Signals>, shared: &App, tls: Option<&crate::web::TlsReloader>) {
    let Some(Signals {
        mut term,
        mut int,
        mut hup,
    }) = sigs
    else {
        log::error!("cannot install signal handlers; stopping");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => match tls {
                Some(t) => match t.reload() {
                    Ok(()) => {
                        log::info!("SIGHUP: TLS certificate reloaded");
                        check_certificate(shared, t, Utc::now());
                    }
                    Err(e) => log::error!("SIGHUP: TLS reload failed, keeping the old certificate: {e}"),
                },
                None => log::info!("SIGHUP: nothing to reload (plain HTTP)"),
            },
        }
    }
}

/// How often the served generation file is rehashed against its build digest.
const GENERATION_CHECK_EVERY: Duration = Duration::from_secs(10);
/// How often a failed access log is retried (with a daemon entry) to clear the problem.
const AUDIT_RETRY_EVERY: Duration = Duration::from_secs(5);
/// How often the TLS certificate's expiry is checked.
const CERTIFICATE_CHECK_EVERY: Duration = Duration::from_secs(3600);

/// Raises or clears the certificate expiry problems for the certificate in force.
fn check_certificate(shared: &App, tls: &crate::web::TlsReloader, now: chrono::DateTime<Utc>) {
    use crate::status::code::{TLS_CERTIFICATE_EXPIRED, TLS_CERTIFICATE_EXPIRING};
    let verdict = crate::web::tls::expiry(tls.not_after(), now);
    let (expired, expiring) = match &verdict {
        Some((crate::web::tls::Expiry::Expired, m)) => (Some(m.clone()), None),
        Some((crate::web::tls::Expiry::Soon, m)) => (None, Some(m.clone())),
        None => (None, None),
    };
    shared.status.set_problem(TLS_CERTIFICATE_EXPIRED, expired);
    shared
        .status
        .set_problem(TLS_CERTIFICATE_EXPIRING, expiring);
    shared
        .status
        .set_problem(crate::status::code::TLS_KEY_EXPOSED, tls.key_exposed());
}

/// Raises `emergency_unconfirmed` while emergency mode has run longer than
/// `EMERGENCY_CONFIRM_AFTER` since it was last switched on or confirmed (a coordinator
/// chooses Emergency again), clears it otherwise. The mode is never switched off by
/// itself: an outage can last days, and nurses must not lose the view at 3 a.m.
fn check_emergency(shared: &App, now: chrono::DateTime<Utc>) {
    let m = shared.mode.current(now);
    let after = crate::web::pages::coordinator::EMERGENCY_CONFIRM_AFTER;
    let problem = (m.mode == crate::mode::Mode::Emergency && now - m.since >= after).then(|| {
        format!(
            "emergency mode has been on since {} without confirmation; if the EPD works \
             again switch to standby, else a coordinator confirms it on /coordinator (or \
             `noodepd mode emergency --reason ...`)",
            m.since.to_rfc3339()
        )
    });
    shared
        .status
        .set_problem(crate::status::code::EMERGENCY_UNCONFIRMED, problem);
}

/// A rebuild after corruption: whether one is running, and when the last one started.
#[derive(Default)]
struct Rebuild {
    running: Arc<std::sync::atomic::AtomicBool>,
    last: Option<tokio::time::Instant>,
}

/// How long after a rebuild attempt another may start (when the first found nothing usable).
const REBUILD_RETRY: Duration = Duration::from_secs(30);

/// Checks the served generation: corrupt (a read found a row changed, or the file no longer
/// hashes to what was built) → `generation_corrupt` and a rebuild from the kept snapshots,
/// in its own task so the watchdog and the other timers keep running meanwhile.
async fn check_generation(
    shared: &Arc<App>,
    ingestor: &Arc<Ingestor>,
    rehash: bool,
    rebuild: &mut Rebuild,
) {
    use crate::status::code::GENERATION_CORRUPT;
    use std::sync::atomic::Ordering;
    let Some(g) = shared.store.current() else {
        return;
    };
    let corrupt = if rehash && !g.is_corrupt() {
        let g2 = g.clone();
        let r = tokio::task::spawn_blocking(move || g2.verify_file()).await;
        matches!(r, Ok(Err(_)))
    } else {
        g.is_corrupt()
    };
    if !corrupt {
        // A new snapshot may have replaced the corrupt generation before the rebuild did.
        if !rebuild.running.load(Ordering::SeqCst) && shared.status.has_problem(GENERATION_CORRUPT)
        {
            shared.status.set_problem(GENERATION_CORRUPT, None);
        }
        return;
    }
    let seq = g.meta().sequence;
    drop(g);
    shared.status.set_problem(
        GENERATION_CORRUPT,
        Some(format!(
            "the served data (sequence {seq}) changed on disk in {}; its patient pages are \
             refused and it is being rebuilt from the kept snapshots — if this repeats, \
             check the machine's memory and who can write there",
            shared.config.paths.runtime.display()
        )),
    );
    let now = tokio::time::Instant::now();
    if rebuild.running.load(Ordering::SeqCst)
        || rebuild
            .last
            .is_some_and(|t| now.duration_since(t) < REBUILD_RETRY)
    {
        return;
    }
    rebuild.running.store(true, Ordering::SeqCst);
    rebuild.last = Some(now);
    let running = rebuild.running.clone();
    let (shared, ing) = (shared.clone(), ingestor.clone());
    tokio::spawn(async move {
        let rebuilt = tokio::task::spawn_blocking(move || ing.rebuild_from_kept())
            .await
            .ok()
            .flatten();
        let fresh = shared.store.current().is_some_and(|g| !g.is_corrupt());
        if let (Some(s), true) = (rebuilt, fresh) {
            log::info!("served data rebuilt from kept snapshot sequence {s} after corruption");
            shared.status.set_problem(GENERATION_CORRUPT, None);
        }
        running.store(false, Ordering::SeqCst);
    });
}

/// Periodic work: systemd watchdog, drill expiry, audit chain head to the journal,
/// audit retention, the served generation's integrity, retrying a failed access log, the
/// TLS certificate's expiry, the image installer's refusals (`update::result`), the status
/// file for the publisher.
async fn timers(
    shared: Arc<App>,
    ingestor: Arc<Ingestor>,
    tls: Option<Arc<crate::web::TlsReloader>>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut usec = 0u64;
    let watchdog =
        sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ping = tokio::time::Instant::now();
    let mut last_head = tokio::time::Instant::now();
    let mut last_retention: Option<tokio::time::Instant> = None;
    let mut last_rehash = tokio::time::Instant::now();
    let mut last_audit_retry = tokio::time::Instant::now();
    let mut last_cert = tokio::time::Instant::now();
    let mut rebuild = Rebuild::default();
    let mut status_file = crate::statusfile::Writer::default();
    let mut update_results = crate::update::result::Watcher::new(
        shared
            .config
            .paths
            .state
            .join(crate::update::result::IN_STATE),
    );
    let head_every = shared.config.audit.head_to_journal;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        let now_i = tokio::time::Instant::now();
        if let Some(every) = watchdog
            && now_i.duration_since(last_ping) >= every
        {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            last_ping = now_i;
        }
        let now = Utc::now();
        if let Err(e) = shared.expire_drill(now) {
            log::error!("ending the drill failed: {e}");
        }
        check_emergency(&shared, now);
        let rehash = now_i.duration_since(last_rehash) >= GENERATION_CHECK_EVERY;
        if rehash {
            last_rehash = now_i;
        }
        check_generation(&shared, &ingestor, rehash, &mut rebuild).await;
        if now_i.duration_since(last_audit_retry) >= AUDIT_RETRY_EVERY
            && shared
                .status
                .has_problem(crate::status::code::AUDIT_WRITE_FAILED)
        {
            last_audit_retry = now_i;
            let sh = shared.clone();
            let _ = tokio::task::spawn_blocking(move || {
                // No log line on failure: the standing problem already said it once.
                let _ = sh.audit(daemon_audit_event(
                    &sh,
                    "access log writable again after a failure".into(),
                ));
            })
            .await;
        }
        if let Some(t) = &tls
            && now_i.duration_since(last_cert) >= CERTIFICATE_CHECK_EVERY
        {
            last_cert = now_i;
            check_certificate(&shared, t, now);
        }
        for r in update_results.poll() {
            shared.status.update(move |s| s.record_rejection(r));
        }
        if let Some(path) = &shared.config.paths.status_file {
            status_file.tick(&shared, path, now);
        }
        if now_i.duration_since(last_head) >= head_every {
            shared.audit_log().log_head();
            last_head = now_i;
        }
        if last_retention.is_none_or(|t| now_i.duration_since(t) >= Duration::from_secs(24 * 3600))
        {
            last_retention = Some(now_i);
            let sh = shared.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(e) = sh.audit_log().expire(Utc::now(), sh.config.audit.retention) {
                    log::error!("audit retention: {e}");
                }
            })
            .await;
        }
    }
}
