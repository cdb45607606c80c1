//! Hostile content end to end (issue 8 item 6, and item 7's role, standby and traversal
//! checks): a generated ward whose every shown string is an injection payload with a unique
//! marker (`noodepd::generate::hostile`), plus a 1 MB string, a 100,000-item array and a
//! 1,000-level extension. Guards that the FHIR mapper never panics and accounts for every
//! resource, that size limits hold, that every page and printout — rendered directly and
//! served by the real `noodepd serve` binary — is inert (conservative tag/attribute checker)
//! with every payload shown escaped or neutralised, that the daemon keeps serving after
//! hostile snapshots, and that an `it` user, standby mode and traversal paths get no patient
//! data and no file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod pages_common;

use chrono::{Duration as TimeDelta, Utc};
use noodepd::fhir::{MapOptions, map_payload};
use noodepd::generate::hostile::{self, Seen, Variant};
use noodepd::record::WardRecord;
use noodepd::record::summary::PatientSummary;
use noodepd::web::pages::{self, PageCtx};
use pages_common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_noodepd");
/// Longest string the mapper keeps (docs/FHIR-MAPPING.md: cut at 10 000 characters).
const MAX_STRING: usize = 10_000;

fn payload_of(bundle: &Value) -> Vec<u8> {
    let mut p = serde_json::to_vec(bundle).unwrap();
    p.push(b'\n');
    p
}

/// Resources the mapper must account for: every entry resource and every contained one.
fn resource_count(bundle: &Value) -> u64 {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.get("resource").filter(|r| r.is_object()))
        .map(|r| {
            1 + r
                .get("contained")
                .and_then(Value::as_array)
                .map_or(0, Vec::len) as u64
        })
        .sum()
}

fn assert_report_balances(ward: &WardRecord, expected_input: u64) {
    let r = &ward.report;
    let mut input = 0;
    let mut not_shown = 0;
    for (t, c) in &r.by_type {
        assert_eq!(c.input, c.mapped + c.not_shown, "{t}: {c:?}");
        input += c.input;
        not_shown += c.not_shown;
    }
    assert_eq!(input, expected_input, "every resource counted once");
    assert_eq!(
        not_shown,
        r.not_shown.len() as u64,
        "every not-shown listed"
    );
}

/// Longest string (in characters) anywhere in a JSON value.
fn longest_string(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(o) => o.values().map(longest_string).max().unwrap_or(0),
        _ => 0,
    }
}

fn map_texts() -> (Value, WardRecord) {
    let now = now();
    let bundle = hostile::hostile_ward(11, now);
    let ward = map_payload(&payload_of(&bundle), &MapOptions::new(now, "A3")).unwrap();
    (bundle, ward)
}

#[test]
fn hostile_ward_maps_every_patient_balances_the_report_and_bounds_strings() {
    let (bundle, ward) = map_texts();
    assert_report_balances(&ward, resource_count(&bundle));
    assert_eq!(
        ward.patients.len(),
        hostile::PATIENTS,
        "structure kept valid"
    );

    let as_json = serde_json::to_value(&ward).unwrap();
    let longest = longest_string(&as_json);
    assert!(
        longest <= MAX_STRING + 20,
        "a string of {longest} characters survived mapping"
    );
    // The 1 MB family name is cut, with its marker kept at the front and a warning.
    let text = serde_json::to_string(&as_json).unwrap();
    let huge: Vec<_> = hostile::find_markers(&text)
        .into_iter()
        .filter(|m| m.1 == hostile::HUGE_KIND)
        .collect();
    assert!(!huge.is_empty(), "the cut 1 MB name is still shown");
    assert!(
        ward.report.warnings.iter().any(|w| w.contains("afgekapt")
            || w.to_lowercase().contains("cut")
            || w.to_lowercase().contains("long")),
        "a cut is reported: {:?}",
        ward.report.warnings.iter().take(5).collect::<Vec<_>>()
    );
    // 100,000 given names and a 1 MB name must not blow up the model.
    assert!(
        text.len() < 8 * 1024 * 1024,
        "mapped record is {} bytes",
        text.len()
    );
}

#[test]
fn structural_values_made_hostile_are_reported_not_crashed() {
    let now = now();
    let bundle = hostile::hostile_bundle(5, now, Variant::Structural);
    let ward = map_payload(&payload_of(&bundle), &MapOptions::new(now, "A3")).unwrap();
    assert_report_balances(&ward, resource_count(&bundle));
    // Hostile ids, references and statuses: nothing can be placed, so nothing is shown as
    // if it were a valid admission, and every resource is accounted for with a reason.
    let shown: u64 = ward.report.by_type.values().map(|c| c.mapped).sum();
    assert!(
        ward.patients.len() <= hostile::PATIENTS,
        "no invented patients"
    );
    assert!(
        ward.report.not_shown.len() as u64 + shown == resource_count(&bundle),
        "accounted"
    );
    // Whatever did map still renders inert.
    let f = Fixture::new(noodepd::mode::Mode::Drill);
    let ctx = f.ctx();
    for p in &ward.patients {
        let html = pages::patient_page(&ctx, p, seen()).into_string();
        assert_eq!(hostile::check_html(&html), Vec::<String>::new());
    }
}

#[test]
fn deep_extension_nesting_rejects_the_document_with_a_clear_error() {
    let now = now();
    let payload = hostile::deep_nesting_payload(3, now);
    let depth = payload
        .iter()
        .scan(0i64, |d, b| {
            *d += match b {
                b'{' | b'[' => 1,
                b'}' | b']' => -1,
                _ => 0,
            };
            Some(*d)
        })
        .max()
        .unwrap();
    assert!(depth > 2 * hostile::DEEP_LEVELS as i64, "nesting {depth}");
    match map_payload(&payload, &MapOptions::new(now, "A3")) {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("malformed clinical payload") && msg.contains("recursion limit"),
                "{msg}"
            );
        }
        Ok(w) => panic!(
            "a {}-level extension was accepted ({} patients)",
            hostile::DEEP_LEVELS,
            w.patients.len()
        ),
    }
}

/// Tally of how the markers of each kind were seen over a set of pages.
#[derive(Default)]
struct Tally {
    escaped: BTreeMap<usize, usize>,
    other: BTreeMap<usize, usize>,
    raw: Vec<String>,
    findings: Vec<String>,
}

impl Tally {
    fn page(&mut self, name: &str, html: &str) {
        for f in hostile::check_html(html) {
            self.findings.push(format!("{name}: {f}"));
        }
        for (at, kind, serial) in hostile::find_markers(html) {
            match hostile::seen_as(html, at, kind) {
                Seen::Escaped => *self.escaped.entry(kind).or_default() += 1,
                Seen::UrlKey | Seen::Composed => *self.other.entry(kind).or_default() += 1,
                Seen::InTag => self.raw.push(format!(
                    "{name}: {} ({}) changed inside a tag: {:?}",
                    hostile::marker(kind, serial),
                    hostile::kind_name(kind),
                    &html[html.floor_char_boundary(at.saturating_sub(80))..at + 12]
                )),
                Seen::Raw => self.raw.push(format!(
                    "{name}: {} ({}) raw",
                    hostile::marker(kind, serial),
                    hostile::kind_name(kind)
                )),
            }
        }
    }

    /// No finding, no raw payload, and every payload kind shown escaped somewhere.
    fn assert_clean(&self, kinds: impl Iterator<Item = usize>) {
        assert_eq!(self.findings, Vec::<String>::new(), "markup findings");
        assert_eq!(self.raw, Vec::<String>::new(), "payloads shown unescaped");
        for k in kinds {
            assert!(
                self.escaped.get(&k).copied().unwrap_or(0) > 0,
                "payload {} never shown escaped (seen otherwise {} times)",
                hostile::kind_name(k),
                self.other.get(&k).copied().unwrap_or(0)
            );
        }
    }
}

fn all_kinds() -> impl Iterator<Item = usize> {
    0..=hostile::HUGE_KIND
}

#[test]
fn every_page_and_printout_of_the_hostile_ward_is_inert() {
    let (_, ward) = map_texts();
    let mut f = Fixture::new(noodepd::mode::Mode::Drill);
    f.ward_name = hostile::planted(1, 900_001);
    f.user.as_mut().unwrap().name = hostile::planted(0, 900_002);
    let query = hostile::hostile_query();
    let sums: Vec<PatientSummary> = ward.patients.iter().map(PatientSummary::from).collect();
    let rows: Vec<&PatientSummary> = sums.iter().collect();
    let start = day(2026, 11, 22);
    let mut t = Tally::default();
    for lang in [noodepd::config::Language::Nl, noodepd::config::Language::En] {
        f.lang = lang;
        f.path = format!("/?q={query}");
        let ctx: PageCtx = f.ctx();
        let ready = noodepd::status::ready(
            "A3",
            ctx.appliance_id,
            ctx.stale_after,
            ctx.data.map(|m| (m, 3)),
            ctx.mode,
            &noodepd::status::IngestStatus::default(),
            ctx.now,
        );
        let codes = vec![noodepd::web::IssuedCode {
            user: "gast-01".into(),
            name: hostile::planted(3, 900_003),
            role: noodepd::roster::Role::Nurse,
            issued_by: hostile::planted(2, 900_004),
            expires_at: utc(2026, 11, 22, 17, 0),
            drill: None,
        }];
        let err_msg = hostile::planted(5, 900_005);
        let pages_rendered = [
            ("status", pages::status_page(&ctx, &ready)),
            ("login", pages::login_page(&ctx, Some(&err_msg))),
            ("overview", pages::ward_overview(&ctx, &rows, None, seen())),
            (
                "search",
                pages::ward_overview(&ctx, &rows, Some(&query), seen()),
            ),
            (
                "mar",
                pages::print_mar(&ctx, &ward.patients, start, 3, seen()),
            ),
            ("ward_list", pages::print_ward_list(&ctx, &rows, seen())),
            ("blank_mar", pages::print_blank_mar(&ctx, start, 3)),
            (
                "coordinator",
                pages::coordinator_page(
                    &ctx,
                    &codes,
                    &[],
                    Some((&codes[0], "K7P-4QX")),
                    Some(&err_msg),
                ),
            ),
            ("error", pages::error_page(&ctx, 404, &err_msg)),
        ];
        for (name, m) in pages_rendered {
            let html = m.into_string();
            assert!(html.len() < 4 * 1024 * 1024, "{name}: {} bytes", html.len());
            t.page(name, &html);
        }
        for p in &ward.patients {
            let html = pages::patient_page(&ctx, p, seen()).into_string();
            assert!(
                html.len() < 4 * 1024 * 1024,
                "patient: {} bytes",
                html.len()
            );
            t.page(&format!("patient {}", p.key), &html);
            let mar =
                pages::print_mar(&ctx, std::slice::from_ref(p), start, 14, seen()).into_string();
            t.page(&format!("mar {}", p.key), &mar);
        }
    }
    t.assert_clean(all_kinds());
}

// ---- the real daemon ----

/// The daemon process; killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One blocking HTTP/1.1 request (Connection: close), chunked bodies decoded as bytes.
fn http(addr: SocketAddr, method: &str, path: &str, cookies: &str, body: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !cookies.is_empty() {
        req.push_str(&format!("Cookie: {cookies}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(buf[..split].to_vec()).unwrap();
    let mut raw = &buf[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        let mut out = Vec::new();
        loop {
            let nl = raw.windows(2).position(|w| w == b"\r\n").unwrap();
            let n =
                usize::from_str_radix(std::str::from_utf8(&raw[..nl]).unwrap().trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&raw[nl + 2..nl + 2 + n]);
            raw = &raw[nl + 2 + n + 2..];
        }
        out
    } else {
        raw.to_vec()
    };
    Resp {
        status,
        headers,
        body: String::from_utf8(body).expect("bodies are UTF-8"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn drop_in(inbox: &Path, name: &str, bytes: &[u8]) {
    let part = inbox.join(format!("{name}.part"));
    std::fs::write(&part, bytes).unwrap();
    std::fs::rename(&part, inbox.join(name)).unwrap();
}

/// The value of `<input name="NAME" value="...">`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    html.split("<input").skip(1).find_map(|part| {
        let tag = part.split('>').next()?;
        tag.contains(&needle)
            .then(|| {
                tag.split("value=\"")
                    .nth(1)?
                    .split('"')
                    .next()
                    .map(str::to_owned)
            })
            .flatten()
    })
}

fn cookie_of(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| v.split(';').next())
        .find_map(|c| c.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// (user, code) of a nurse and of an IT member in the daemon's roster.
struct Logins {
    nurse: (String, String),
    it: (String, String),
}

/// Starts `noodepd serve` in drill mode with the sealed hostile ward and a roster in the
/// inbox; returns the daemon, its address and (user, code) of a nurse.
fn start_daemon(dir: &Path) -> (Daemon, SocketAddr, Logins) {
    use noodepd::keys::{AppliancePublic, KeyKind, PublisherSecret, write_key_pair};
    use noodepd::snapshot::{PayloadKind, SealRequest, seal};
    let d = dir.display();
    let port = free_port();
    let cfg = dir.join("noodepd.toml");
    std::fs::write(
        &cfg,
        format!(
            "[appliance]\nid = \"box-1\"\nward = \"A3\"\n\
             [paths]\nstate = \"{d}/state\"\nruntime = \"{d}/run\"\ninbox = \"{d}/inbox\"\n\
             quarantine = \"{d}/quarantine\"\ncontrol_socket = \"{d}/control.sock\"\n\
             [keys]\nappliance_key = \"{d}/keys/appliance.key\"\n\
             publisher_pub = \"{d}/keys/publisher.pub\"\n\
             [web]\nplain_http = true\nlisten = \"127.0.0.1:{port}\"\n"
        ),
    )
    .unwrap();
    let config = noodepd::config::Config::load(&cfg).unwrap();
    for p in [&config.paths.state, &config.paths.inbox] {
        std::fs::create_dir_all(p).unwrap();
    }
    let keys = dir.join("keys");
    let p = write_key_pair(KeyKind::Publisher, &keys, false).unwrap();
    let a = write_key_pair(KeyKind::Appliance, &keys, false).unwrap();
    let publisher = PublisherSecret::read(&p.secret_path).unwrap();
    let appliance = AppliancePublic::read(&a.public_path).unwrap();

    let now = Utc::now();
    {
        let audit = noodepd::audit::AuditLog::open(&config.paths.state, "box-1", "A3").unwrap();
        noodepd::mode::ModeController::load(&config.paths.state, config.drill_max_duration)
            .unwrap()
            .set(
                &audit,
                noodepd::mode::Mode::Drill,
                noodepd::mode::Switcher::Console,
                "test",
                now,
            )
            .unwrap();
    }

    let g = noodepd::generate::generate(&noodepd::generate::GenerateOptions::new(1, 11, "A3", now));
    let mut staff = g.staff.clone();
    for (i, s) in staff.iter_mut().enumerate() {
        s.name = hostile::planted(i % 2, 800_000 + i);
    }
    let login_of = |role: &str| {
        let s = staff.iter().find(|s| s.role == role).unwrap();
        (s.user.clone(), s.code.clone())
    };
    let login = Logins {
        nurse: login_of("nurse"),
        it: login_of("it"),
    };
    let roster = serde_json::to_vec(&noodepd::generate::roster_json("A3", &staff)).unwrap();
    let clinical = payload_of(&hostile::hostile_ward(11, now));
    let as_of = now - TimeDelta::minutes(1);
    let sealed = |seq, kind, payload: &[u8]| {
        seal(
            &publisher,
            std::slice::from_ref(&appliance),
            &SealRequest {
                ward: "A3",
                sequence: seq,
                created_at: as_of,
                data_as_of: as_of,
                kind,
                chunk_size: 64 * 1024,
                allow_shrink: false,
            },
            payload,
        )
        .unwrap()
    };
    drop_in(
        &config.paths.inbox,
        "a3-000001.snap",
        &sealed(1, PayloadKind::Roster, &roster),
    );
    std::thread::sleep(Duration::from_millis(20));
    drop_in(
        &config.paths.inbox,
        "a3-000002.snap",
        &sealed(2, PayloadKind::Clinical, &clinical),
    );

    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::from(
            std::fs::File::create(dir.join("stdout.log")).unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("stderr.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let daemon = Daemon(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "daemon never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    (daemon, addr, login)
}

/// Logs in; returns the Cookie header value for the session.
fn log_in(addr: SocketAddr, user: &str, code: &str) -> String {
    let page = http(addr, "GET", "/login", "", "");
    let csrf = input_value(&page.body, "csrf").expect("csrf input on /login");
    let pre = cookie_of(&page, "noodepd_pre").expect("noodepd_pre cookie");
    let form = format!(
        "user={}&code={}&csrf={}",
        url_encode(user),
        url_encode(code),
        url_encode(&csrf)
    );
    let r = http(addr, "POST", "/login", &format!("noodepd_pre={pre}"), &form);
    assert!(r.status == 303 || r.status == 302, "login: {}", r.status);
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| v.split(';').next())
        .filter(|c| !c.starts_with("noodepd_pre="))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Patient keys linked from a page (`href="/patient/KEY"`).
fn patient_links(html: &str) -> Vec<String> {
    let mut keys: Vec<String> = html
        .split("href=\"/patient/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|k| !k.contains('/'))
        .map(|k| k.replace("&amp;", "&"))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Waits until the hostile generation is served (roster first, then the clinical data);
/// returns the patient keys linked from the overview.
fn wait_for_ward(addr: SocketAddr, cookie: &str, dir: &Path) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let overview = loop {
        let r = http(addr, "GET", "/", cookie, "");
        let keys = patient_links(&r.body);
        if r.status == 200 && keys.len() == hostile::PATIENTS {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "hostile ward never served: {} {} links; stderr: {}",
            r.status,
            keys.len(),
            std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    patient_links(&overview.body)
}

#[test]
fn real_daemon_serves_the_hostile_ward_inert_on_every_url() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, addr, logins) = start_daemon(dir.path());
    let (user, code) = &logins.nurse;
    let cookie = log_in(addr, user, code);
    let keys = wait_for_ward(addr, &cookie, dir.path());

    let mut urls: Vec<String> = vec![
        "/".into(),
        format!("/?q={}", url_encode(&hostile::hostile_query())),
        "/print/mar".into(),
        "/print/ward".into(),
        "/print/mar-blank".into(),
        "/status".into(),
        "/coordinator".into(),
        "/%3Cscript%3Ealert(1)%3C%2Fscript%3E".into(),
        format!("/patient/{}", url_encode(&hostile::planted(1, 700_001))),
    ];
    for k in &keys {
        urls.push(format!("/patient/{k}"));
        urls.push(format!("/patient/{k}/mar"));
        urls.push(format!("/print/mar/{k}"));
    }
    let mut t = Tally::default();
    for u in &urls {
        let r = http(addr, "GET", u, &cookie, "");
        assert!(r.status < 500, "{u}: {}", r.status);
        assert!(
            r.header("content-security-policy")
                .is_some_and(|c| c.contains("default-src")),
            "{u}: no CSP"
        );
        if u.contains("700001z") {
            assert_eq!(r.status, 404, "{u}");
        } else if !u.starts_with("/%3C") && u != "/coordinator" {
            assert_eq!(r.status, 200, "{u}");
        }
        t.page(u, &r.body);
        let h = http(addr, "GET", "/health", "", "");
        assert_eq!(h.status, 200, "daemon unhealthy after {u}");
    }
    t.assert_clean(all_kinds());
    assert!(
        daemon.0.try_wait().unwrap().is_none(),
        "daemon still running"
    );
    // Memory stayed bounded while mapping and serving the 1 MB string and 100,000 items.
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.0.id())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    eprintln!("daemon peak RSS: {} MiB", peak_kb / 1024);
    assert!(peak_kb < 512 * 1024, "daemon peak RSS {peak_kb} kB");
    // Operator logs (stderr outside systemd) carry no patient string and no code.
    daemon.0.kill().unwrap();
    daemon.0.wait().unwrap();
    for log in ["stdout.log", "stderr.log"] {
        let text = std::fs::read_to_string(dir.path().join(log)).unwrap();
        let planted = hostile::find_markers(&text);
        assert!(
            planted.is_empty(),
            "{log} carries planted strings: {planted:?}"
        );
        assert!(!text.contains(code.as_str()), "{log} carries a login code");
    }
}

/// Sends raw request bytes; returns (status, body). Status 0: the connection was closed
/// without an answer (also a refusal, never a file).
fn raw_http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn it_role_standby_and_traversal_paths_get_no_patient_data_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, addr, logins) = start_daemon(dir.path());
    let (user, code) = &logins.nurse;
    let nurse = log_in(addr, user, code);
    let keys = wait_for_ward(addr, &nurse, dir.path());
    let (user, code) = &logins.it;
    let it = log_in(addr, user, code);

    // Positive control: the nurse does see planted patient strings on the overview.
    let seen = hostile::find_markers(&http(addr, "GET", "/", &nurse, "").body);
    assert!(seen.iter().any(|m| m.2 < 800_000), "nurse sees the ward");
    // IT staff: no URL shows a planted patient string (markers 800000+ are staff names).
    let mut urls: Vec<String> = vec![
        "/".into(),
        "/?q=a".into(),
        "/print/mar".into(),
        "/print/ward".into(),
        "/status".into(),
        "/coordinator".into(),
    ];
    for k in &keys {
        urls.push(format!("/patient/{k}"));
        urls.push(format!("/patient/{k}/mar"));
        urls.push(format!("/print/mar/{k}"));
    }
    for u in &urls {
        let r = http(addr, "GET", u, &it, "");
        assert!(r.status < 500, "{u}: {}", r.status);
        let leaked: Vec<_> = hostile::find_markers(&r.body)
            .into_iter()
            .filter(|m| m.2 < 800_000)
            // The page may echo the URL it was asked for (the language link): not a leak.
            .filter(|m| !u.contains(&hostile::marker(m.1, m.2)))
            .collect();
        assert!(
            leaked.is_empty(),
            "it user saw patient data on {u}: {leaked:?}"
        );
        assert_eq!(hostile::check_html(&r.body), Vec::<String>::new(), "{u}");
    }

    // Traversal and malformed paths: 4xx (or a refused connection), never a file, never 5xx.
    let key = keys.first().unwrap();
    let paths: Vec<Vec<u8>> = [
        "/patient/../../etc/passwd",
        "/static/../Cargo.toml",
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/Cargo.toml",
        "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/patient/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/patient/..%2f..%2fetc%2fpasswd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%5c..%5cCargo.toml",
        "/patient/%c0%ae%c0%ae%c0%afetc%c0%afpasswd",
        "/static/%c0%ae%c0%ae/Cargo.toml",
        "/patient/%00",
        "/?q=%00%c0%ae",
        "//etc/passwd",
    ]
    .iter()
    .map(|p| p.as_bytes().to_vec())
    .chain([
        b"/patient/\xc0\xae\xc0\xae/etc/passwd".to_vec(),
        b"/static/style.css\x00../../Cargo.toml".to_vec(),
        b"/?q=\x00\xff".to_vec(),
    ])
    .collect();
    for p in &paths {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(p);
        req.extend_from_slice(
            format!("\r\nHost: {addr}\r\nCookie: {nurse}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        // A path without the version separator is itself malformed; send it like a browser.
        let mut req_v = b"GET ".to_vec();
        req_v.extend_from_slice(p);
        req_v.extend_from_slice(
            format!(" HTTP/1.1\r\nHost: {addr}\r\nCookie: {nurse}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        for r in [req, req_v] {
            let (status, body) = raw_http(addr, &r);
            let shown = String::from_utf8_lossy(p);
            assert!(
                status == 0
                    || (400..500).contains(&status)
                    || (status == 200 && shown.starts_with("/?q=")),
                "{shown}: {status}"
            );
            assert!(!body.contains("root:x:0:0"), "{shown}: /etc/passwd served");
            assert!(!body.contains("[package]"), "{shown}: Cargo.toml served");
            assert_eq!(
                http(addr, "GET", "/health", "", "").status,
                200,
                "after {shown}"
            );
        }
    }
    // Standby (switched by root through the control socket, as in a real end of outage):
    // no URL shows a planted patient string, also to the nurse with an open session.
    let out = Command::new(BIN)
        .args(["mode", "standby", "--reason", "EPD terug", "--config"])
        .arg(dir.path().join("noodepd.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for u in &urls {
        let r = http(addr, "GET", u, &nurse, "");
        assert!(r.status < 500, "{u}: {}", r.status);
        let leaked: Vec<_> = hostile::find_markers(&r.body)
            .into_iter()
            .filter(|m| m.2 < 800_000)
            .filter(|m| !u.contains(&hostile::marker(m.1, m.2)))
            .collect();
        assert!(
            leaked.is_empty(),
            "standby showed patient data on {u}: {leaked:?}"
        );
    }
    // Back to drill: the nurse's session works again — nothing above broke the daemon.
    let out = Command::new(BIN)
        .args(["mode", "drill", "--reason", "oefening", "--config"])
        .arg(dir.path().join("noodepd.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        http(addr, "GET", &format!("/patient/{key}"), &nurse, "").status,
        200
    );
    assert!(
        daemon.0.try_wait().unwrap().is_none(),
        "daemon still running"
    );
}

/// Seals `payload` with the keys `start_daemon` wrote into `dir/keys`.
fn seal_in(dir: &Path, seq: u64, kind: noodepd::snapshot::PayloadKind, payload: &[u8]) -> Vec<u8> {
    seal_for(
        dir,
        "A3",
        Utc::now() - TimeDelta::minutes(1),
        seq,
        kind,
        payload,
    )
}

/// As [`seal_in`] for `ward`, dated `as_of`.
fn seal_for(
    dir: &Path,
    ward: &str,
    as_of: chrono::DateTime<Utc>,
    seq: u64,
    kind: noodepd::snapshot::PayloadKind,
    payload: &[u8],
) -> Vec<u8> {
    use noodepd::keys::{AppliancePublic, PublisherSecret};
    let publisher = PublisherSecret::read(&dir.join("keys/publisher.key")).unwrap();
    let appliance = AppliancePublic::read(&dir.join("keys/appliance.pub")).unwrap();
    // Sealed as a hostile publisher might, past the caps a box applies (so the box's own
    // refusal is what is tested).
    let anything = noodepd::snapshot::Limits {
        max_roster_payload: u64::MAX,
        max_mode_payload: u64::MAX,
        ..noodepd::snapshot::Limits::default()
    };
    noodepd::snapshot::seal_with(
        &publisher,
        std::slice::from_ref(&appliance),
        &noodepd::snapshot::SealRequest {
            ward,
            sequence: seq,
            created_at: as_of,
            data_as_of: as_of,
            kind,
            chunk_size: 64 * 1024,
            allow_shrink: false,
        },
        payload,
        &anything,
    )
    .unwrap()
}

/// Polls `/ready` until `done` holds for its JSON document.
fn wait_ready(addr: SocketAddr, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = http(addr, "GET", "/ready", "", "");
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn real_daemon_quarantines_deep_nesting_and_survives_structural_garbage() {
    use noodepd::snapshot::PayloadKind;
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, addr, logins) = start_daemon(dir.path());
    wait_ready(addr, "hostile ward served", |v| v["sequence"] == 2);

    // 1,000-level extension: the snapshot is refused whole, the previous data stays.
    let deep = hostile::deep_nesting_payload(3, Utc::now());
    let inbox = dir.path().join("inbox");
    drop_in(
        &inbox,
        "a3-000003.snap",
        &seal_in(dir.path(), 3, PayloadKind::Clinical, &deep),
    );
    let v = wait_ready(addr, "deep nesting rejected", |v| {
        v["last_rejection"]["file"]
            .as_str()
            .is_some_and(|f| f.contains("000003"))
    });
    assert_eq!(v["sequence"], 2, "previous generation still served: {v}");
    assert_eq!(v["patients"], hostile::PATIENTS, "{v}");
    let reason = v["last_rejection"]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("recursion limit"), "clear reason: {v}");
    let quarantined: Vec<_> = std::fs::read_dir(dir.path().join("quarantine"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        quarantined.iter().any(|n| n.contains("000003")),
        "{quarantined:?}"
    );

    // Ids, references, statuses, codes and dates all hostile: accepted or refused, the
    // daemon answers and whatever it shows is inert.
    let structural = payload_of(&hostile::hostile_bundle(4, Utc::now(), Variant::Structural));
    drop_in(
        &inbox,
        "a3-000004.snap",
        &seal_in(dir.path(), 4, PayloadKind::Clinical, &structural),
    );
    let v = wait_ready(addr, "structural garbage handled", |v| {
        v["sequence"] == 4
            || v["last_rejection"]["file"]
                .as_str()
                .is_some_and(|f| f.contains("000004"))
    });
    eprintln!(
        "structural variant: sequence {}, patients {}, last rejection {}",
        v["sequence"], v["patients"], v["last_rejection"]
    );
    assert_eq!(http(addr, "GET", "/health", "", "").status, 200, "{v}");
    let (user, code) = &logins.nurse;
    let cookie = log_in(addr, user, code);
    let overview = http(addr, "GET", "/", &cookie, "");
    assert_eq!(overview.status, 200);
    let mut t = Tally::default();
    t.page("/", &overview.body);
    for k in patient_links(&overview.body) {
        let r = http(addr, "GET", &format!("/patient/{k}"), &cookie, "");
        assert!(r.status < 500, "{k}: {}", r.status);
        t.page(&k, &r.body);
    }
    assert_eq!(t.findings, Vec::<String>::new());
    assert_eq!(t.raw, Vec::<String>::new());
    assert!(
        daemon.0.try_wait().unwrap().is_none(),
        "daemon still running"
    );
}

/// Identifier values (BSN, patient numbers) of the Patients in a bundle.
fn patient_identifiers(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Patient")
        .flat_map(|r| r["identifier"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| i["value"].as_str().map(str::to_owned))
        .filter(|v| v.len() >= 8)
        .collect()
}

/// The planted patient strings found in `text`: markers, the planted BSN, the hostile
/// ward's identifiers, the login codes.
fn planted_in(text: &str, identifiers: &[String], codes: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = hostile::find_markers(text)
        .into_iter()
        .map(|(_, kind, serial)| hostile::marker(kind, serial))
        .collect();
    for s in identifiers.iter().map(String::as_str).chain([PLANTED_BSN]) {
        if text.contains(s) {
            found.push(s.to_owned());
        }
    }
    for c in codes {
        if text.contains(c) {
            found.push(format!("login code {c}"));
        }
    }
    found
}

/// A BSN-shaped number planted in the refused payloads (test range, never generated).
const PLANTED_BSN: &str = "999966611";

#[test]
fn refused_snapshots_carrying_patient_data_leave_none_of_it_in_operator_logs() {
    use noodepd::snapshot::PayloadKind::{Clinical, ModeCommand, Roster};
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, addr, logins) = start_daemon(dir.path());
    wait_ready(addr, "hostile ward served", |v| v["sequence"] == 2);
    let now = Utc::now();
    let ward = hostile::hostile_ward(11, now);
    let identifiers = patient_identifiers(&ward);
    assert!(!identifiers.is_empty(), "the hostile ward has identifiers");
    let clinical = payload_of(&ward);
    let m = |serial: usize| hostile::planted(0, 900_000 + serial);
    let j = |s: &str| serde_json::to_string(s).unwrap();
    let as_of = now - TimeDelta::minutes(1);

    // (file, sealed bytes, expected code): every stage after decryption that can refuse.
    let cases: Vec<(&str, Vec<u8>, &str)> =
        vec![
        (
            "a3-rej-01-not-json.snap",
            seal_in(
                dir.path(),
                3,
                Clinical,
                format!("Patient {} BSN {PLANTED_BSN} opgenomen\n", m(1)).as_bytes(),
            ),
            "fhir_invalid",
        ),
        (
            "a3-rej-02-not-fhir.snap",
            seal_in(
                dir.path(),
                3,
                Clinical,
                format!("{{\"name\":{},\"bsn\":\"{PLANTED_BSN}\"}}\n", j(&m(2))).as_bytes(),
            ),
            "fhir_invalid",
        ),
        (
            "a3-rej-03-broken-json.snap",
            seal_in(
                dir.path(),
                3,
                Clinical,
                format!(
                    "{{\"resourceType\":\"Patient\",\"name\":[{{\"family\":{}}}],\
                     \"identifier\":[{{\"value\":\"{PLANTED_BSN}\"}}],}}\n",
                    j(&m(3))
                )
                .as_bytes(),
            ),
            "fhir_invalid",
        ),
        (
            "a3-rej-04-too-deep.snap",
            seal_in(
                dir.path(),
                3,
                Clinical,
                &hostile::deep_nesting_payload(11, now),
            ),
            "fhir_invalid",
        ),
        (
            "a3-rej-05-other-ward.snap",
            seal_for(dir.path(), "B7", as_of, 3, Clinical, &clinical),
            "wrong_ward",
        ),
        (
            "a3-rej-06-replayed.snap",
            seal_in(dir.path(), 2, Clinical, &clinical),
            "replayed_sequence",
        ),
        (
            "a3-rej-07-older.snap",
            seal_in(dir.path(), 1, Clinical, &clinical),
            "old_sequence",
        ),
        (
            "a3-rej-08-future.snap",
            seal_for(
                dir.path(),
                "A3",
                now + TimeDelta::hours(2),
                3,
                Clinical,
                &clinical,
            ),
            "from_the_future",
        ),
        (
            "a3-rej-09-mode-value.snap",
            seal_in(
                dir.path(),
                3,
                ModeCommand,
                format!("{{\"mode\":{},\"reason\":{}}}", j(&m(9)), j(&m(10))).as_bytes(),
            ),
            "mode_command_invalid",
        ),
        (
            "a3-rej-10-mode-field.snap",
            seal_in(
                dir.path(),
                3,
                ModeCommand,
                format!(
                    "{{\"mode\":\"drill\",\"reason\":\"x\",{}:\"{PLANTED_BSN}\"}}",
                    j(&m(11))
                )
                .as_bytes(),
            ),
            "mode_command_invalid",
        ),
        (
            "a3-rej-11-mode-type.snap",
            seal_in(
                dir.path(),
                3,
                ModeCommand,
                format!("{{\"mode\":\"drill\",\"reason\":[{}]}}", j(&m(12))).as_bytes(),
            ),
            "mode_command_invalid",
        ),
        (
            "a3-rej-12-mode-too-large.snap",
            seal_in(
                dir.path(),
                3,
                ModeCommand,
                format!("{{\"mode\":\"drill\",\"reason\":{}}}", j(&m(13).repeat(200))).as_bytes(),
            ),
            // Refused by the decompressor at the mode-command cap (4 KiB).
            "decompression_bomb",
        ),
        (
            "a3-rej-13-roster-shape.snap",
            seal_in(
                dir.path(),
                3,
                Roster,
                format!("{{\"ward\":\"A3\",\"staff\":{}}}", j(&m(14))).as_bytes(),
            ),
            "roster_invalid",
        ),
        (
            "a3-rej-14-roster-user.snap",
            seal_in(
                dir.path(),
                3,
                Roster,
                format!(
                    "{{\"ward\":\"A3\",\"staff\":[{{\"user\":{},\"name\":\"x\",\"role\":\"nurse\",\
                     \"code_hash\":\"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA\"}}]}}",
                    j(&format!("{} {PLANTED_BSN}", m(15)))
                )
                .as_bytes(),
            ),
            "roster_invalid",
        ),
        (
            "a3-rej-15-roster-role.snap",
            seal_in(
                dir.path(),
                3,
                Roster,
                format!(
                    "{{\"ward\":\"A3\",\"staff\":[{{\"user\":\"u1\",\"name\":\"x\",\"role\":{},\
                     \"code_hash\":\"x\"}}]}}",
                    j(&m(16))
                )
                .as_bytes(),
            ),
            "roster_invalid",
        ),
        (
            "a3-rej-16-roster-ward.snap",
            seal_in(
                dir.path(),
                3,
                Roster,
                format!(
                    "{{\"ward\":{},\"staff\":[]}}",
                    j(&format!("Afdeling {}", m(17)))
                )
                .as_bytes(),
            ),
            "roster_wrong_ward",
        ),
    ];

    let inbox = dir.path().join("inbox");
    let quarantine = dir.path().join("quarantine");
    let codes = [logins.nurse.1.as_str(), logins.it.1.as_str()];
    for (file, bytes, code) in &cases {
        drop_in(&inbox, file, bytes);
        let v = wait_ready(addr, &format!("{file} refused"), |v| {
            v["last_rejection"]["file"] == *file
        });
        let rejection = &v["last_rejection"];
        assert_eq!(rejection["code"], *code, "{file}: {v}");
        let reason = rejection["reason"].as_str().unwrap_or_default();
        assert!(reason.len() > 10, "{file}: a useful line: {v}");
        assert_eq!(
            planted_in(reason, &identifiers, &codes),
            Vec::<String>::new(),
            "{file}: /ready's reason {reason:?}"
        );
        let note = std::fs::read_to_string(quarantine.join(format!("{file}.reason")))
            .unwrap_or_else(|e| panic!("{file} has no .reason: {e}"));
        assert!(note.contains(&format!("code: {code}")), "{file}: {note}");
        assert!(
            note.contains(&format!("reason: {reason}")),
            "{file}: {note}"
        );
        assert_eq!(
            planted_in(&note, &identifiers, &codes),
            Vec::<String>::new(),
            "{file}: .reason {note:?}"
        );
        assert_eq!(
            v["sequence"], 2,
            "{file}: the hostile ward stays served: {v}"
        );
        eprintln!("{file}: {code}: {reason}");
    }

    assert!(
        daemon.0.try_wait().unwrap().is_none(),
        "daemon still running"
    );
    daemon.0.kill().unwrap();
    daemon.0.wait().unwrap();
    for log in ["stdout.log", "stderr.log"] {
        let text = std::fs::read_to_string(dir.path().join(log)).unwrap();
        for (file, _, _) in &cases {
            assert!(
                log == "stdout.log" || text.contains(&format!("snapshot {file} refused")),
                "{log} names every refusal ({file}):\n{text}"
            );
        }
        assert_eq!(
            planted_in(&text, &identifiers, &codes),
            Vec::<String>::new(),
            "{log} carries patient data or a code:\n{text}"
        );
    }
}
