//! `noodepd demo`: the whole main job with nothing but the binary. Makes a publisher and an
//! appliance key, generates a realistic demo ward with a staff roster, seals both, drops them
//! in the inbox, puts the ward in drill mode and serves it on 127.0.0.1 — then prints the URL
//! and the demo logins. Ctrl-C stops it; without `--dir` everything it made is removed.
//!
//! Output contract (scripts and drills parse it): one line `URL: http://127.0.0.1:PORT/` and
//! one line per demo user `login: USER CODE ROLE`.

use crate::cli::DemoArgs;
use crate::config::Config;
use crate::keys::{AppliancePublic, KeyKind, PublisherSecret, write_key_pair};
use crate::mode::{Mode, ModeController, Switcher};
use crate::snapshot::{PayloadKind, SealRequest, seal};
use anyhow::Context;
use chrono::Utc;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// The demo ward id.
const WARD: &str = "A3";

/// Runs `noodepd demo`.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init();
    let (dir, temp) = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("noodepd-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            (t.path().to_owned(), Some(t))
        }
    };
    if args.dir.is_some() && dir.join("noodepd.toml").exists() {
        anyhow::bail!(
            "{} already holds a demo (noodepd.toml exists); use another --dir, or run `noodepd serve --config {}`",
            dir.display(),
            dir.join("noodepd.toml").display()
        );
    }
    let result = prepare_and_serve(args, &dir);
    drop(temp); // removes everything when no --dir was given
    result
}

fn prepare_and_serve(args: &DemoArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    let keys = dir.join("keys");
    let publisher = write_key_pair(KeyKind::Publisher, &keys, false).context("publisher key")?;
    let appliance = write_key_pair(KeyKind::Appliance, &keys, false).context("appliance key")?;

    let now = Utc::now();
    let generated = crate::generate::generate(&crate::generate::GenerateOptions {
        patients: args.patients.clamp(1, 40),
        seed: args.seed,
        ward: WARD.into(),
        now,
        beds_per_ward: 40,
    });
    let bundle = generated
        .bundles
        .first()
        .map(|(_, b)| b)
        .context("the generator made no ward")?;
    let mut clinical = serde_json::to_vec(bundle)?;
    clinical.push(b'\n');
    let roster = serde_json::to_vec(&crate::generate::roster_json(WARD, &generated.staff))?;

    // Bind first so that the config names the port really in use (also for --port 0).
    let listener = std::net::TcpListener::bind(("127.0.0.1", args.port)).with_context(|| {
        format!(
            "cannot listen on 127.0.0.1:{} (use --port 0 for any free port)",
            args.port
        )
    })?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();

    let config_path = dir.join("noodepd.toml");
    std::fs::write(&config_path, demo_config(port))
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let config = Config::load(&config_path)?;
    for d in [
        &config.paths.state,
        &config.paths.inbox,
        &config.paths.runtime,
    ] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }

    // Seal as the publisher would and deliver by the inbox protocol: NAME.part, then rename.
    let signer = PublisherSecret::read(&publisher.secret_path)?;
    let to = [AppliancePublic::read(&appliance.public_path)?];
    let outbox = dir.join("published");
    std::fs::create_dir_all(&outbox)?;
    for (seq, kind, payload, name) in [
        (1u64, PayloadKind::Roster, &roster, "a3-000001-roster.snap"),
        (
            2u64,
            PayloadKind::Clinical,
            &clinical,
            "a3-000002-clinical.snap",
        ),
    ] {
        let sealed = seal(
            &signer,
            &to,
            &SealRequest {
                ward: WARD,
                sequence: seq,
                created_at: now,
                data_as_of: now,
                kind,
                chunk_size: crate::snapshot::DEFAULT_CHUNK_SIZE,
                allow_shrink: false,
            },
            payload,
        )?;
        std::fs::write(outbox.join(name), &sealed)?;
        let part = config.paths.inbox.join(format!("{name}.part"));
        std::fs::write(&part, &sealed)?;
        std::fs::rename(&part, config.paths.inbox.join(name))?;
    }

    // Drill mode, recorded in the audit log like any switch from the console.
    {
        let audit = crate::audit::AuditLog::open_with_key_file(
            &config.paths.state,
            &config.appliance_id,
            &config.ward,
            &config.keys.audit_key,
        )?;
        let mode = ModeController::load(&config.paths.state, config.drill_max_duration)?;
        mode.set(&audit, Mode::Drill, Switcher::Console, "noodepd demo", now)?;
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let staff = generated.staff;
    rt.block_on(async move {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let daemon = tokio::spawn(crate::daemon::run(config, listener, Some(tx)));
        if let Ok(started) = rx.await {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "noodepd demo: ward {WARD} in drill mode, files in {}",
                dir.display()
            );
            let _ = writeln!(out, "URL: http://{}/", started.addr);
            for s in &staff {
                let _ = writeln!(out, "login: {} {} {}", s.user, s.code, s.role);
            }
            let _ = writeln!(out, "Ctrl-C stops the demo.");
            let _ = out.flush();
        }
        match daemon.await {
            Ok(r) => r.map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::anyhow!("daemon task failed: {e}")),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

fn demo_config(port: u16) -> String {
    format!(
        r#"# noodepd demo configuration, written by `noodepd demo`.
# Run the same ward again with:  noodepd serve --config THIS_FILE
# Relative paths are relative to this file's directory.

[appliance]
id = "demo-box"
ward = "{WARD}"
ward_name = "Demo-afdeling {WARD} (fictieve patiënten)"
language = "nl"
timezone = "Europe/Amsterdam"

[paths]
state = "state"
inbox = "state/inbox"
quarantine = "state/quarantine"
# Plaintext generations; on the appliance this is tmpfs (/run/noodepd).
runtime = "run"
control_socket = "run/control.sock"

[keys]
appliance_key = "keys/appliance.key"
publisher_pub = "keys/publisher.pub"

[web]
# Loopback only, plain HTTP: a demo. A ward box uses TLS (tls_cert / tls_key).
listen = "127.0.0.1:{port}"
plain_http = true
metrics_public = false
session_idle_minutes = 15
lockout_attempts = 5
lockout_minutes = 15
guest_code_minutes = 720

[data]
stale_after_minutes = 30
administration_window_hours = 72
observation_window_days = 7
keep_snapshots = 3

[drill]
max_duration_minutes = 120

[audit]
retention_days = 1825
head_to_journal_minutes = 15
"#
    )
}
