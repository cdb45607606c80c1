//! The bodies of the four fuzz targets, shared by the cargo-fuzz binaries
//! (`fuzz/fuzz_targets/*.rs`) and the stable regression test (`tests/fuzz_regressions.rs`),
//! which both include this file with `#[path]`: a crash input replays through exactly the
//! code the fuzzer ran. Only noodepd's public API is used; the library has no fuzz mode.
//!
//! Each body takes arbitrary bytes, must never panic, and asserts the invariants that are
//! cheap to check (the round trip of the snapshot format, the balanced ingest report, no
//! patient data to a request without a session that may see it).

#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use noodepd::keys::{ApplianceSecret, PublisherPublic, PublisherSecret};
use noodepd::snapshot::{self, Limits, MIN_CHUNK_SIZE, PayloadKind, SealRequest};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The targets, by name (also the directory names of seeds and regression inputs).
pub(crate) const TARGETS: &[&str] = &["snapshot_open", "fhir_map", "config_parse", "http_request"];

/// Runs target `name` on `data`; false when no such target.
pub(crate) fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "snapshot_open" => snapshot_open(data),
        "fhir_map" => fhir_map(data),
        "config_parse" => config_parse(data),
        "http_request" => http_request(data),
        _ => return false,
    }
    true
}

/// The fixed reference time of the mapping targets (the fuzzer must be deterministic).
fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

// ---------------------------------------------------------------- snapshot_open

/// Seed of the fuzzing publisher's Ed25519 key (fuzz/seed.sh writes the same key file).
pub(crate) const PUBLISHER_SEED: [u8; 32] = [0x5e; 32];
/// The fuzzing appliance's X25519 secret key.
pub(crate) const APPLIANCE_SEED: [u8; 32] = [0xa7; 32];

struct Keys {
    publisher: PublisherSecret,
    signing: ed25519_dalek::SigningKey,
    trusted: PublisherPublic,
    appliance: ApplianceSecret,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let publisher = PublisherSecret::from_bytes(&PUBLISHER_SEED);
        Keys {
            trusted: publisher.public(),
            publisher,
            signing: ed25519_dalek::SigningKey::from_bytes(&PUBLISHER_SEED),
            appliance: ApplianceSecret::from_bytes(&APPLIANCE_SEED),
        }
    })
}

/// The snapshot opener. The first byte picks the mode, the rest is its input:
/// * `0 mod 3` — the rest is a whole file, opened as the inbox does (limits, preamble and
///   strict header parse, publisher id, signature; everything before the signature check is
///   reachable with any bytes).
/// * `1 mod 3` — the rest is a file without its signature; the harness signs it with the
///   trusted publisher key, so the fuzzer gets past `verify_strict` into recipient lookup,
///   key unwrap, chunk decryption and decompression — without weakening the library.
/// * `2 mod 3` — the rest is a payload: sealed to the fuzzing appliance and opened again,
///   which must give back the same payload and header (the format's round trip).
///
/// A successfully opened clinical payload goes on through the FHIR mapper, as in ingest.
pub(crate) fn snapshot_open(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let k = keys();
    let limits = Limits::default();
    match mode % 3 {
        0 => opened(snapshot::open(rest, &k.appliance, &k.trusted, &limits)),
        1 => {
            use ed25519_dalek::Signer as _;
            let mut file = Vec::with_capacity(rest.len() + 64);
            file.extend_from_slice(rest);
            file.extend_from_slice(&k.signing.sign(rest).to_bytes());
            opened(snapshot::open(&file, &k.appliance, &k.trusted, &limits));
        }
        _ => round_trip(mode, rest),
    }
}

fn opened(r: Result<snapshot::Opened, snapshot::SnapshotError>) {
    match r {
        Ok(o) => {
            assert!(
                o.payload.len() as u64 <= Limits::default().max_payload,
                "payload over the limit"
            );
            if o.header.kind == PayloadKind::Clinical {
                fhir_map(&o.payload);
            }
        }
        Err(e) => {
            // Every refusal has its stable code and a message (neither may panic).
            assert!(!e.code().is_empty());
            assert!(!e.to_string().is_empty());
        }
    }
}

fn round_trip(mode: u8, payload: &[u8]) {
    let k = keys();
    // Small chunks (256 to 2048 bytes) so short payloads still make several chunks.
    let chunk_size = MIN_CHUNK_SIZE * (1 + u32::from(mode / 3 % 8));
    let created = fixed_now();
    let req = SealRequest {
        ward: "A3",
        sequence: u64::from(mode),
        created_at: created,
        data_as_of: created,
        kind: PayloadKind::Clinical,
        chunk_size,
        allow_shrink: false,
    };
    let sealed = snapshot::seal(&k.publisher, &[k.appliance.public()], &req, payload)
        .expect("sealing a payload within the limits");
    let o = snapshot::open(&sealed, &k.appliance, &k.trusted, &Limits::default())
        .expect("a freshly sealed snapshot opens");
    assert_eq!(&o.payload[..], payload, "round trip changed the payload");
    assert_eq!(o.header.ward, "A3");
    assert_eq!(o.header.sequence, u64::from(mode));
    assert_eq!(o.header.chunk_size, chunk_size);
    assert_eq!(o.header.created_at, created);
    assert_eq!(o.header.kind, PayloadKind::Clinical);
}

// ---------------------------------------------------------------- fhir_map

/// The FHIR input parser and mapper: the bytes are a clinical payload (NDJSON of Bundles
/// and resources). A malformed payload is refused whole; a mapped one must have a balanced
/// ingest report (every input resource counted once, as mapped or as not shown).
pub(crate) fn fhir_map(data: &[u8]) {
    let opts = noodepd::fhir::MapOptions::new(fixed_now(), "A3");
    if let Ok(record) = noodepd::fhir::map_payload(data, &opts) {
        assert!(
            record.report.is_balanced(),
            "ingest report does not balance: {:?}",
            record.report
        );
        assert_eq!(record.ward, "A3");
    }
}

// ---------------------------------------------------------------- config_parse

/// The TOML config parser and validation, on text as `Config::load` would pass it (UTF-8,
/// at most `MAX_CONFIG_BYTES`). Both success and a typed error are fine; a panic is not.
pub(crate) fn config_parse(data: &[u8]) {
    if data.len() as u64 > noodepd::config::MAX_CONFIG_BYTES {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match noodepd::config::Config::from_toml(text, Path::new("/etc/noodepd/noodepd.toml")) {
        Ok(cfg) => {
            // What check-config and the daemon do next with a valid config.
            let _ = format!("{cfg:?}");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

// ---------------------------------------------------------------- http_request

use noodepd::app::App;
use noodepd::mode::{Mode, ModeController, Switcher};
use noodepd::roster::{Role, Roster, StaffMember};
use noodepd::web::SessionUser;
use noodepd::web::routes::WebState;

/// Staff of the fuzzing ward: (user, code, role). The codes are in fuzz/dict/http.dict.
pub(crate) const STAFF: &[(&str, &str, Role)] = &[
    ("nurse1", "31415926", Role::Nurse),
    ("doc1", "27182818", Role::Physician),
    ("coord1", "16180339", Role::Coordinator),
    ("it1", "14142135", Role::It),
];

/// Placeholders the harness replaces in the input before sending it, so the fuzzer can use
/// live secrets it could never guess: `@SN@`/`@SC@`/`@SI@` the session token of the nurse,
/// coordinator and IT user, `@CN@`/`@CC@`/`@CI@` their CSRF tokens, `@PRE@` a pre-login
/// cookie and `@PCSRF@` its login-form CSRF token, `@P1@`/`@P2@` patient keys of the ward.
pub(crate) const PLACEHOLDERS: &[&str] = &[
    "@SN@", "@SC@", "@SI@", "@CN@", "@CC@", "@CI@", "@PRE@", "@PCSRF@", "@P1@", "@P2@",
];

struct WebEnv {
    rt: tokio::runtime::Runtime,
    shared: Arc<App>,
    /// Patient keys, and every BSN and patient number of the served generation.
    keys: Vec<String>,
    identifiers: Vec<String>,
    _dir: tempfile::TempDir,
}

fn web_env() -> &'static WebEnv {
    static ENV: OnceLock<WebEnv> = OnceLock::new();
    ENV.get_or_init(build_web_env)
}

/// Removes the state dirs of earlier runs whose process has ended: the `OnceLock` holding
/// the state is never dropped, so a fuzzing process leaves its dir behind when it exits.
fn remove_stale_state_dirs(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("noodepd-fuzz-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn build_web_env() -> WebEnv {
    // tmpfs when there is one: the audit log fsyncs every patient page.
    let shm = Path::new("/dev/shm");
    let parent = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    remove_stale_state_dirs(&parent);
    let dir = tempfile::Builder::new()
        .prefix(&format!("noodepd-fuzz-{}-", std::process::id()))
        .tempdir_in(&parent)
        .expect("temp dir for the fuzzing daemon state");
    let state = dir.path().join("state");
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(&state).expect("state dir");
    let toml = format!(
        "[appliance]\nid = \"box-fuzz\"\nward = \"A3\"\nward_name = \"Interne A3\"\nlanguage = \"nl\"\n\
         [paths]\nstate = \"{}\"\nruntime = \"{}\"\n\
         [web]\nlisten = \"127.0.0.1:0\"\nplain_http = true\nmetrics_public = false\n",
        state.display(),
        runtime.display(),
    );
    let config = noodepd::config::Config::from_toml(&toml, &dir.path().join("noodepd.toml"))
        .expect("fuzzing config");
    let audit = noodepd::audit::AuditLog::open(&state, "box-fuzz", "A3").expect("audit log");
    let mode = ModeController::load(&state, config.drill_max_duration).expect("mode state");
    let store = noodepd::store::Store::open(&runtime).expect("store");
    let now = Utc::now();
    // A small generated ward through the real FHIR mapper.
    let g = noodepd::generate::generate(&noodepd::generate::GenerateOptions::new(4, 8, "A3", now));
    let (_, bundle) = g.bundles.into_iter().next().expect("one ward");
    let doc = noodepd::fhir::input::Document {
        path: "generated.json".into(),
        line: None,
        value: bundle,
    };
    let record = noodepd::fhir::map_documents(&[doc], &noodepd::fhir::MapOptions::new(now, "A3"));
    let keys: Vec<String> = record.patients.iter().map(|p| p.key.to_string()).collect();
    let identifiers: Vec<String> = record
        .patients
        .iter()
        .flat_map(|p| [p.identity.bsn.clone(), p.identity.patient_number.clone()])
        .flatten()
        .filter(|s| s.len() >= 6)
        .map(String::from)
        .collect();
    let meta = noodepd::store::GenerationMeta {
        ward: "A3".into(),
        sequence: 7,
        data_as_of: now - chrono::Duration::minutes(4),
        created_at: now - chrono::Duration::minutes(3),
        received_at: now - chrono::Duration::minutes(2),
        snapshot_file: "a3-7.snap".into(),
        report: record.report.clone(),
        derived_at: Some(now),
        next_change: record.next_change,
    };
    let generation = store.build(meta, &record).expect("generation");
    store.swap(generation);
    mode.set(&audit, Mode::Emergency, Switcher::Console, "fuzzing", now)
        .expect("emergency mode");
    let staff = STAFF
        .iter()
        .map(|(user, code, role)| StaffMember {
            user: (*user).into(),
            name: format!("Fuzz {user}"),
            role: *role,
            code_hash: noodepd::roster::hash_code(code).expect("argon2 hash"),
        })
        .collect();
    let roster = Some(Arc::new(Roster {
        ward: "A3".into(),
        staff,
    }));
    let shared = Arc::new(App::new(config, store, mode, audit, roster));
    // A paused clock that auto-advances when the runtime is idle: timeouts cost no wall
    // time, and "the server has answered all it can" is an exact point (see http_exchange).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("tokio runtime");
    WebEnv {
        rt,
        shared,
        keys,
        identifiers,
        _dir: dir,
    }
}

/// The BSNs and patient numbers of the fuzzing ward (what must not leak).
pub(crate) fn patient_identifiers() -> Vec<String> {
    web_env().identifiers.clone()
}

fn replace_all(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while !rest.is_empty() {
        if rest.starts_with(from) {
            out.extend_from_slice(to);
            rest = rest.get(from.len()..).unwrap_or_default();
        } else if let Some((&b, tail)) = rest.split_first() {
            out.push(b);
            rest = tail;
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The HTTP request handling: the bytes (after placeholder substitution, see
/// [`PLACEHOLDERS`]) are one whole HTTP/1.1 connection from a client at 192.0.2.7, served
/// by the real hyper service (`web::server::serve_connection`) over an in-memory duplex
/// stream, against a real daemon state (generated ward, roster, audit log, emergency mode).
/// Each input gets fresh sessions and lockout counters; the mode is reset to emergency.
///
/// Checked: the connection ends once the client is done; the answer is HTTP/1.x; and
/// a connection without a session of a role that may see patient data never receives a
/// patient's BSN or patient number (one the client did not itself send, e.g. as the
/// patient key in a path, which pages may echo in their links).
pub(crate) fn http_request(data: &[u8]) {
    http_exchange(data);
}

/// [`http_request`], returning the bytes the server sent.
pub(crate) fn http_exchange(data: &[u8]) -> Vec<u8> {
    let env = web_env();
    let now = Utc::now();
    let shared = &env.shared;
    if shared.mode.current(now).mode != Mode::Emergency {
        shared
            .switch_mode(Mode::Emergency, Switcher::Console, "fuzzing", now)
            .expect("reset to emergency mode");
    }
    let state = Arc::new(WebState::new(shared.clone(), false));
    let session = |i: usize| {
        let (user, _, role) = STAFF.get(i).copied().expect("staff member");
        let (token, s, _) = state
            .sessions
            .create(
                SessionUser {
                    id: user.into(),
                    name: format!("Fuzz {user}"),
                    role,
                    issued_by: None,
                },
                None,
                now,
            )
            .expect("an empty session table has room");
        (token, s.csrf)
    };
    let (nurse, nurse_csrf) = session(0);
    let (coord, coord_csrf) = session(2);
    let (it, it_csrf) = session(3);
    let pre = state.sessions.new_pre(now);
    let pre_csrf = state.sessions.pre_csrf(&pre);
    let key = |i: usize| env.keys.get(i).cloned().unwrap_or_default();
    let values = [
        nurse,
        coord,
        it,
        nurse_csrf,
        coord_csrf,
        it_csrf,
        pre,
        pre_csrf,
        key(0),
        key(1),
    ];
    let privileged = contains(data, b"@SN@") || contains(data, b"@SC@");
    let mut input = data.to_vec();
    for (p, v) in PLACEHOLDERS.iter().zip(values.iter()) {
        input = replace_all(&input, p.as_bytes(), v.as_bytes());
    }
    // What the client itself sent (e.g. a patient key in the path) may come back to it.
    let sent = input.clone();
    let peer: std::net::IpAddr = [192, 0, 2, 7].into();
    let out = env.rt.block_on(async move {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (client, server) = tokio::io::duplex(64 * 1024);
        let conn = tokio::spawn(noodepd::web::server::serve_connection(server, state, peer));
        let (mut rd, mut wr) = tokio::io::split(client);
        let write = async move {
            // The server may close early (a bad request): a failed write is expected then.
            let _ = wr.write_all(&input).await;
            // hyper drops a connection on EOF (no half-close), so the server must first
            // answer everything it can. The clock is paused: this sleep ends only once the
            // runtime has nothing left to do (no task ready, no blocking audit append).
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let _ = wr.shutdown().await;
        };
        let read = async move {
            let mut out = Vec::new();
            let _ = rd.read_to_end(&mut out).await;
            out
        };
        let all = async {
            let ((), out) = tokio::join!(write, read);
            let _ = conn.await;
            out
        };
        // Virtual time: fires only when the connection hangs with nothing left to do.
        tokio::time::timeout(std::time::Duration::from_secs(60), all)
            .await
            .expect("the connection ends after the client closed its side")
    });
    if !out.is_empty() {
        // hyper answers an HTTP/1.0 request in HTTP/1.0.
        assert!(
            out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 "),
            "not an HTTP/1.x response"
        );
    }
    if !privileged {
        for id in &env.identifiers {
            assert!(
                contains(&sent, id.as_bytes()) || !contains(&out, id.as_bytes()),
                "patient identifier {id} sent on a connection without a session that may see \
                 it; the responses:\n{}",
                String::from_utf8_lossy(&out)
            );
        }
    }
    out
}
