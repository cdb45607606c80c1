//! The ward web view over real HTTP: every page in every mode, login, lockout, CSRF, session
//! fixation and tampering, role limits, escaping of hostile data, security headers, request
//! limits, and the audit entry written before each patient page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod common;

use common::*;
use noodepd::mode::Mode;

const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
];

fn assert_security_headers(what: &str, r: &Res) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(r.header(name), Some(*value), "{what}: header {name}");
    }
    assert!(
        r.header("permissions-policy").is_some(),
        "{what}: permissions-policy"
    );
    assert!(
        r.header("strict-transport-security").is_none(),
        "{what}: HSTS over plain HTTP"
    );
}

fn assert_no_secrets(what: &str, r: &Res) {
    for s in SECRETS {
        assert!(!r.body.contains(s), "{what} leaks {s:?}:\n{}", r.body);
        for (k, v) in &r.headers {
            assert!(!v.contains(s), "{what} leaks {s:?} in header {k}");
        }
    }
}

fn assert_escaped(what: &str, r: &Res) {
    // The layout's one script element (the live data age) is allowed, nothing else.
    let body = r.body.replace(noodepd::web::pages::AGE_SCRIPT_TAG, "");
    for raw in HOSTILE_RAW {
        assert!(
            !body.contains(raw),
            "{what}: raw {raw:?} in the page:\n{}",
            r.body
        );
    }
}

#[test]
fn health_ready_and_stylesheet_answer_without_login() {
    let s = Server::start();
    let mut c = s.client();
    let h = c.get("/health");
    assert_eq!(h.status, 200);
    assert_eq!(h.body, "ok\n");
    assert!(h.header("content-type").unwrap().starts_with("text/plain"));
    let r = c.get("/ready");
    assert_eq!(r.status, 200);
    let j: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(j["ready"], true);
    assert_eq!(j["mode"], "emergency");
    assert_eq!(j["patients"], 2);
    assert_eq!(j["sequence"], 7);
    assert!(j["age_seconds"].as_i64().unwrap() >= 240);
    assert_no_secrets("/ready", &r);
    let css = c.get("/static/style.css");
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert!(css.header("cache-control").unwrap().contains("max-age"));
}

#[test]
fn ready_says_not_ready_without_data_and_shows_standby() {
    let s = Server::with(Options {
        data: false,
        mode: Mode::Standby,
        ..Options::default()
    });
    let r = s.client().get("/ready");
    assert_eq!(r.status, 503);
    let j: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(j["ready"], false);
    assert_eq!(j["mode"], "standby");
    assert_eq!(j["stale"], true);
}

#[test]
fn metrics_count_logins_and_views_for_loopback_clients() {
    let s = Server::start();
    let mut c = s.login(NURSE);
    c.get(&format!("/patient/{KEY_A}"));
    c.get("/print/ward");
    let mut bad = s.client();
    bad.login(NURSE.0, "00000000");
    let m = s.client().get("/metrics");
    assert_eq!(m.status, 200);
    assert!(m.body.contains("noodepd_logins_total 1"), "{}", m.body);
    assert!(m.body.contains("noodepd_logins_failed_total 1"));
    assert!(m.body.contains("noodepd_patient_page_views_total 1"));
    assert!(m.body.contains("noodepd_prints_total 1"));
    assert!(m.body.contains("noodepd_mode{mode=\"emergency\"} 1"));
    assert!(m.body.contains("noodepd_mode{mode=\"standby\"} 0"));
    assert!(m.body.contains("noodepd_data_age_seconds "));
    assert!(m.body.contains("noodepd_audit_failures_total 0"));
    assert_no_secrets("/metrics", &m);
}

#[test]
fn metrics_show_roster_size_staleness_and_a_gauge_per_standing_problem() {
    let s = Server::start();
    let m = s.client().get("/metrics");
    assert!(m.body.contains("\nnoodepd_roster_staff 5\n"), "{}", m.body);
    assert!(m.body.contains("\nnoodepd_data_stale 0\n"), "{}", m.body);
    // Every stable problem code has its gauge, 0 while all is well.
    for code in noodepd::status::code::ALL {
        assert!(
            m.body
                .contains(&format!("\nnoodepd_problem{{code=\"{code}\"}} 0\n")),
            "{code}: {}",
            m.body
        );
    }
    s.shared.status.set_problem(
        noodepd::status::code::SNAPSHOT_SHRINK_REFUSED,
        Some("snapshot a3-9.snap refused".into()),
    );
    let m = s.client().get("/metrics");
    assert!(
        m.body
            .contains("\nnoodepd_problem{code=\"snapshot_shrink_refused\"} 1\n"),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("\nnoodepd_problem{code=\"key_unusable\"} 0\n")
    );
}

#[test]
fn every_response_carries_the_security_headers() {
    let s = Server::start();
    let mut anon = s.client();
    let mut nurse = s.login(NURSE);
    let mut checks: Vec<(String, Res)> = vec![
        ("/health".into(), anon.get("/health")),
        ("/ready".into(), anon.get("/ready")),
        ("/metrics".into(), anon.get("/metrics")),
        ("/static/style.css".into(), anon.get("/static/style.css")),
        ("/login".into(), anon.get("/login")),
        ("/status".into(), anon.get("/status")),
        ("/ anonymous (redirect)".into(), anon.get("/")),
        ("404".into(), anon.get("/no/such/page")),
        ("405".into(), anon.request("DELETE", "/", &[], b"")),
        ("413".into(), {
            let big = vec![b'a'; 20_000];
            anon.request(
                "POST",
                "/login",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                &big,
            )
        }),
    ];
    for u in data_urls() {
        let r = nurse.get(&u);
        checks.push((format!("{u} as nurse"), r));
    }
    checks.push(("/coordinator as nurse".into(), nurse.get("/coordinator")));
    for (what, r) in &checks {
        assert_security_headers(what, r);
        let cc = r.header("cache-control").unwrap_or("");
        if what == "/static/style.css" {
            assert!(cc.starts_with("public"), "{what}: {cc}");
        } else {
            assert_eq!(cc, "no-store", "{what}");
        }
    }
}

#[test]
fn emergency_serves_every_page_to_a_nurse() {
    let s = Server::start();
    let mut c = s.login(NURSE);
    for u in data_urls() {
        let r = c.get(&u);
        assert_eq!(r.status, 200, "{u}: {}", r.body);
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
    }
    let p = c.get(&format!("/patient/{KEY_A}"));
    assert!(p.body.contains("Zwartbroek"));
    assert!(p.body.contains("Metoprololzqx"));
    assert!(p.body.contains("Pinda-allergie-zqx"));
    let search = c.get("/?q=14");
    assert!(search.body.contains("Oosterwold"));
    assert!(
        !search.body.contains("Zwartbroek"),
        "search by bed 14 found bed 12"
    );
    let missing = c.get("/patient/no-such-key");
    assert_eq!(missing.status, 404);
    let weird = c.get("/patient/%3Cscript%3E");
    assert_eq!(weird.status, 404);
    assert_escaped("weird key", &weird);
}

#[test]
fn drill_mode_serves_the_full_view() {
    let s = Server::with(Options {
        mode: Mode::Drill,
        ..Options::default()
    });
    let mut c = s.login(NURSE);
    for u in data_urls() {
        let r = c.get(&u);
        assert_eq!(r.status, 200, "{u}");
        assert!(
            r.body.contains("OEFENING / DRILL"),
            "{u} is not marked as a drill"
        );
    }
    assert!(
        c.get(&format!("/patient/{KEY_B}"))
            .body
            .contains("Oosterwold")
    );
    // Emergency pages carry no drill marker.
    s.set_mode(Mode::Emergency);
    assert!(!c.get("/").body.contains("OEFENING / DRILL"));
}

#[test]
fn standby_leaks_no_patient_data_on_any_url() {
    let s = Server::with(Options {
        mode: Mode::Standby,
        ..Options::default()
    });
    for who in [NURSE, DOCTOR, COORD, IT] {
        let mut c = s.login(who);
        for u in data_urls().into_iter().chain([
            "/coordinator".to_string(),
            "/login".into(),
            "/status".into(),
            "/nope".into(),
        ]) {
            let r = c.get(&u);
            assert_no_secrets(&format!("standby {u} as {}", who.0), &r);
            assert_ne!(r.status, 303, "standby {u} redirected");
        }
        let root = c.get("/");
        assert_eq!(root.status, 200);
        let p = c.get(&format!("/patient/{KEY_A}"));
        assert_eq!(p.status, 403);
    }
    let mut anon = s.client();
    for u in data_urls() {
        let r = anon.get(&u);
        assert_no_secrets(&format!("standby {u} anonymous"), &r);
    }
    for what in ["/ready", "/metrics", "/health"] {
        assert_no_secrets(what, &anon.get(what));
    }
    // Nothing was shown, so nothing but the logins is in the audit log.
    for e in s.audit_entries() {
        assert!(
            e["patients"].as_array().unwrap().is_empty(),
            "standby audit entry with patients: {e}"
        );
    }
}

#[test]
fn switching_to_standby_hides_data_from_an_open_session_at_once() {
    let s = Server::start();
    let mut c = s.login(NURSE);
    assert!(
        c.get(&format!("/patient/{KEY_A}"))
            .body
            .contains("Zwartbroek")
    );
    s.set_mode(Mode::Standby);
    for u in data_urls() {
        assert_no_secrets(&u, &c.get(&u));
    }
}

#[test]
fn not_logged_in_is_redirected_to_login_without_open_redirect() {
    let s = Server::start();
    let mut c = s.client();
    for u in data_urls().into_iter().chain([
        "/coordinator".to_string(),
        "/?next=https://evil.example/".into(),
    ]) {
        let r = c.get(&u);
        assert_eq!(r.status, 303, "{u}");
        assert_eq!(r.header("location"), Some("/login"), "{u}");
        assert_no_secrets(&u, &r);
    }
}

#[test]
fn login_with_the_right_code_opens_a_session() {
    let s = Server::start();
    let mut c = s.client();
    let page = c.get("/login");
    assert_eq!(page.status, 200);
    let pre = page.set_cookie("noodepd_pre").expect("pre-login cookie");
    assert!(pre.contains("HttpOnly") && pre.contains("SameSite=Strict"));
    let r = c.login(NURSE.0, NURSE.1);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/"));
    let cookie = r.set_cookie("noodepd_session").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "Secure without TLS: {cookie}");
    let token = c.cookies["noodepd_session"].clone();
    assert_eq!(token.len(), 64);
    let home = c.get("/");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Zwartbroek"));
    // The nurse's own name is shown escaped too.
    assert!(!home.body.contains("<i>Verpleeg</i>"));
}

#[test]
fn wrong_code_and_unknown_user_are_refused_alike() {
    let s = Server::start();
    let mut c = s.client();
    let wrong = c.login(NURSE.0, "99999999");
    assert_eq!(wrong.status, 401);
    assert!(!c.cookies.contains_key("noodepd_session"));
    let unknown = c.login("nobody", NURSE.1);
    assert_eq!(unknown.status, 401);
    assert!(!c.cookies.contains_key("noodepd_session"));
    assert_eq!(c.get("/").status, 303);
    let kinds: Vec<String> = s
        .audit_entries()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "login_failed").count(),
        2,
        "{kinds:?}"
    );
}

#[test]
fn lockout_after_five_failures_per_user_from_any_address() {
    let s = Server::start();
    for i in 0..5u8 {
        let mut c = s.client();
        c.from = Some(format!("127.0.1.{}", i + 1).parse().unwrap());
        let r = c.login(NURSE.0, "00000001");
        assert_eq!(r.status, 401, "attempt {i}");
    }
    // The right code from a fresh address is refused now, with the end time.
    let mut c = s.client();
    c.from = Some("127.0.2.1".parse().unwrap());
    let r = c.login(NURSE.0, NURSE.1);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(!c.cookies.contains_key("noodepd_session"));
    assert!(r.body.contains("geblokkeerd tot"), "{}", r.body);
    // Other users are not affected.
    let mut d = s.client();
    d.from = Some("127.0.2.2".parse().unwrap());
    assert_eq!(d.login(DOCTOR.0, DOCTOR.1).status, 303);
    let entries = s.audit_entries();
    let lockouts: Vec<_> = entries.iter().filter(|e| e["kind"] == "lockout").collect();
    assert_eq!(lockouts.len(), 1, "{entries:?}");
    assert!(lockouts[0]["detail"].as_str().unwrap().contains("nurse1"));
    let m = s.client().get("/metrics");
    assert!(m.body.contains("noodepd_lockouts_total 1"), "{}", m.body);
}

#[test]
fn lockout_after_twenty_failures_per_address_for_any_user() {
    let s = Server::start();
    let from: std::net::IpAddr = "127.0.3.1".parse().unwrap();
    // Five typos of one user do not lock the workstation for the others.
    for _ in 0..5 {
        let mut c = s.client();
        c.from = Some(from);
        assert_eq!(c.login(NURSE.0, "00000001").status, 401);
    }
    let mut c = s.client();
    c.from = Some(from);
    assert_eq!(c.login(DOCTOR.0, DOCTOR.1).status, 303);
    // Spraying many user names from it does (20 failures in all).
    for i in 0..14 {
        let mut c = s.client();
        c.from = Some(from);
        assert_eq!(c.login(&format!("guess{i}"), "12345678").status, 401, "{i}");
    }
    let mut c = s.client();
    c.from = Some(from);
    let r = c.login("guess14", "12345678");
    assert_eq!(r.status, 401);
    assert!(r.body.contains("vanaf deze werkplek"), "{}", r.body);
    let mut c = s.client();
    c.from = Some(from);
    let r = c.login(NURSE2.0, NURSE2.1);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("vanaf deze werkplek"), "{}", r.body);
    // The same user from another address is fine.
    let mut other = s.client();
    other.from = Some("127.0.3.2".parse().unwrap());
    assert_eq!(other.login(NURSE2.0, NURSE2.1).status, 303);
}

#[test]
fn posts_without_or_with_a_wrong_csrf_token_are_refused() {
    let s = Server::start();
    // Login form.
    let mut c = s.client();
    c.get("/login");
    let r = c.post("/login", &[("user", NURSE.0), ("code", NURSE.1)]);
    assert_eq!(r.status, 403);
    let r = c.post(
        "/login",
        &[
            ("user", NURSE.0),
            ("code", NURSE.1),
            ("csrf", "0".repeat(64).as_str()),
        ],
    );
    assert_eq!(r.status, 403);
    assert!(!c.cookies.contains_key("noodepd_session"));
    // Logged-in forms.
    let mut coord = s.login(COORD);
    let good = coord.csrf();
    for (path, fields) in [
        ("/logout", vec![]),
        ("/mode", vec![("mode", "standby"), ("reason", "x")]),
        ("/guest-code", vec![("name", "Gast"), ("role", "nurse")]),
    ] {
        let r = coord.post(path, &fields);
        assert_eq!(r.status, 403, "{path} without token");
        let mut wrong = fields.clone();
        wrong.push(("csrf", "deadbeef"));
        assert_eq!(coord.post(path, &wrong).status, 403, "{path} wrong token");
    }
    // Nothing changed: still emergency, still logged in.
    assert_eq!(
        s.shared.mode.current(chrono::Utc::now()).mode,
        Mode::Emergency
    );
    assert_eq!(coord.get("/").status, 200);
    // The login CSRF token of one visitor does not work with another's cookie.
    let mut a = s.client();
    let token_a = a.get("/login").form_value("csrf").unwrap();
    let mut b = s.client();
    b.get("/login");
    let r = b.post(
        "/login",
        &[("user", NURSE.0), ("code", NURSE.1), ("csrf", &token_a)],
    );
    assert_eq!(r.status, 403);
    let _ = good;
}

#[test]
fn cross_site_posts_are_refused_even_with_a_token() {
    let s = Server::start();
    let mut c = s.client();
    let csrf = c.get("/login").form_value("csrf").unwrap();
    let body = format!("user={}&code={}&csrf={csrf}", NURSE.0, NURSE.1);
    let r = c.request(
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", "https://evil.example"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 403);
    let r = c.request(
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 403);
    // Browsers send `Origin: null` on our own forms because of `Referrer-Policy:
    // no-referrer`; the token decides then.
    let r = c.request(
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", "null"),
        ],
        format!("user={}&code={}&csrf=0", NURSE.0, NURSE.1).as_bytes(),
    );
    assert_eq!(r.status, 403);
    let csrf = c.get("/login").form_value("csrf").unwrap();
    let body = format!("user={}&code={}&csrf={csrf}", NURSE.0, NURSE.1);
    let origin = format!("http://{}", s.addr);
    let r = c.request(
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", &origin),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 303, "{}", r.body);
}

#[test]
fn session_cookie_set_before_login_is_not_the_one_after() {
    let s = Server::start();
    let mut c = s.client();
    let planted = "a".repeat(64);
    c.cookies.insert("noodepd_session".into(), planted.clone());
    let r = c.login(NURSE.0, NURSE.1);
    assert_eq!(r.status, 303);
    let after = c.cookies["noodepd_session"].clone();
    assert_ne!(after, planted);
    // The planted value does not open the session.
    let mut attacker = s.client();
    attacker
        .cookies
        .insert("noodepd_session".into(), planted.clone());
    assert_eq!(attacker.get("/").status, 303);
    // Logging in twice gives a new token each time.
    let r = c.login(NURSE.0, NURSE.1);
    assert_eq!(r.status, 303);
    assert_ne!(c.cookies["noodepd_session"], after);
    let mut old = s.client();
    old.cookies.insert("noodepd_session".into(), after);
    assert_eq!(
        old.get("/").status,
        303,
        "the previous session survived re-login"
    );
}

#[test]
fn tampered_session_cookie_is_not_logged_in() {
    let s = Server::start();
    let c = s.login(NURSE);
    let token = c.cookies["noodepd_session"].clone();
    let mut flipped = token.clone().into_bytes();
    flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in [
        flipped.as_str(),
        &token[..63],
        &format!("{token}0"),
        &token.to_uppercase(),
        "",
        "../../etc/passwd",
    ] {
        let mut t = s.client();
        t.cookies.insert("noodepd_session".into(), bad.to_owned());
        let r = t.get(&format!("/patient/{KEY_A}"));
        assert_eq!(r.status, 303, "{bad:?}");
        assert_no_secrets(bad, &r);
    }
}

#[test]
fn logout_ends_the_session() {
    let s = Server::start();
    let mut c = s.login(NURSE);
    let token = c.cookies["noodepd_session"].clone();
    let csrf = c.get("/").form_value("csrf").unwrap();
    let r = c.post("/logout", &[("csrf", &csrf)]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
    assert!(!c.cookies.contains_key("noodepd_session"));
    let mut replay = s.client();
    replay.cookies.insert("noodepd_session".into(), token);
    assert_eq!(replay.get("/").status, 303);
    assert!(s.audit_entries().iter().any(|e| e["kind"] == "logout"));
}

#[test]
fn it_role_never_sees_patient_data() {
    let s = Server::start();
    let mut c = s.login(IT);
    for u in data_urls() {
        let r = c.get(&u);
        assert_no_secrets(&format!("it {u}"), &r);
        assert_ne!(r.status, 303);
    }
    assert_eq!(c.get(&format!("/patient/{KEY_A}")).status, 403);
    assert_eq!(c.get("/").status, 200);
}

#[test]
fn only_a_coordinator_switches_mode_and_issues_guest_codes() {
    let s = Server::start();
    for who in [NURSE, DOCTOR, IT] {
        let mut c = s.login(who);
        assert_eq!(c.get("/coordinator").status, 403, "{}", who.0);
        let csrf = c.get("/").form_value("csrf").unwrap();
        let r = c.post(
            "/mode",
            &[("mode", "standby"), ("reason", "test"), ("csrf", &csrf)],
        );
        assert_eq!(r.status, 403, "{} switched mode", who.0);
        let r = c.post(
            "/guest-code",
            &[("name", "Gast"), ("role", "nurse"), ("csrf", &csrf)],
        );
        assert_eq!(r.status, 403, "{} issued a code", who.0);
    }
    assert_eq!(
        s.shared.mode.current(chrono::Utc::now()).mode,
        Mode::Emergency
    );
    assert!(
        !s.audit_entries()
            .iter()
            .any(|e| e["kind"] == "event_code_issued")
    );
}

#[test]
fn coordinator_switches_mode_with_a_reason_and_it_is_audited() {
    let s = Server::with(Options {
        mode: Mode::Standby,
        ..Options::default()
    });
    let mut c = s.login(COORD);
    let page = c.get("/coordinator");
    assert_eq!(page.status, 200);
    let csrf = page.form_value("csrf").unwrap();
    let r = c.post(
        "/mode",
        &[("mode", "drill"), ("reason", "  "), ("csrf", &csrf)],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        s.shared.mode.current(chrono::Utc::now()).mode,
        Mode::Standby
    );
    let r = c.post(
        "/mode",
        &[
            ("mode", "emergency"),
            ("reason", "HiX <down>"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let now = s.shared.mode.current(chrono::Utc::now());
    assert_eq!(now.mode, Mode::Emergency);
    assert_eq!(now.reason, "HiX <down>");
    let e = s
        .audit_entries()
        .into_iter()
        .rev()
        .find(|e| e["kind"] == "mode_switch")
        .unwrap();
    assert_eq!(e["user"]["id"], COORD.0);
    assert_eq!(e["access_point"]["address"], "127.0.0.1");
    assert!(e["detail"].as_str().unwrap().contains("HiX <down>"));
    // Data is visible to the coordinator now.
    assert!(
        c.get(&format!("/patient/{KEY_A}"))
            .body
            .contains("Zwartbroek")
    );
}

#[test]
fn guest_code_logs_in_a_colleague_with_the_issuer_on_record() {
    let s = Server::start();
    let mut coord = s.login(COORD);
    let csrf = coord.csrf();
    let r = coord.post(
        "/guest-code",
        &[
            ("name", "Gerda <Gast>"),
            ("role", "coordinator"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(r.status, 400, "guest code with the coordinator role");
    let r = coord.post(
        "/guest-code",
        &[("name", "Gerda <Gast>"), ("role", "nurse"), ("csrf", &csrf)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("<Gast>"));
    // The 8-digit code is on the page once: the code-styled 8-digit number.
    let code = r
        .body
        .split("class=\"code\">")
        .skip(1)
        .filter_map(|p| p.split('<').next())
        .find(|w| w.len() == 8 && w.bytes().all(|b| b.is_ascii_digit()))
        .expect("8-digit code on the page")
        .to_owned();
    let guest_id = r
        .body
        .split("class=\"code\">")
        .skip(1)
        .filter_map(|p| p.split('<').next())
        .find(|w| w.starts_with("gast-"))
        .expect("guest user id on the page")
        .to_owned();
    let again = coord.get("/coordinator");
    assert!(
        !again.body.contains(&code),
        "the code is shown more than once"
    );
    let mut guest = s.client();
    let r = guest.login(&guest_id, &code);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        guest
            .get(&format!("/patient/{KEY_A}"))
            .body
            .contains("Zwartbroek")
    );
    let entries = s.audit_entries();
    let issued = entries
        .iter()
        .find(|e| e["kind"] == "event_code_issued")
        .unwrap();
    assert_eq!(issued["user"]["id"], COORD.0);
    assert!(!issued["detail"].as_str().unwrap().contains(&code));
    let view = entries
        .iter()
        .rev()
        .find(|e| e["kind"] == "patient_view")
        .unwrap();
    assert_eq!(view["user"]["id"], guest_id.as_str());
    assert_eq!(view["user"]["name"], "Gerda <Gast>");
    assert_eq!(view["responsible"]["id"], COORD.0);
    // The code is nowhere in the audit log.
    let all = serde_json::to_string(&entries).unwrap();
    assert!(!all.contains(&code));
}

#[test]
fn hostile_strings_are_escaped_on_every_page_and_print_view() {
    let s = Server::start();
    let mut c = s.login(NURSE);
    for u in data_urls().into_iter().chain([
        format!("/print/mar/{KEY_B}"),
        "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E".into(),
        "/?q=%22%3E%3Cimg%20src%3Dx%3E".into(),
        "/coordinator".into(),
        "/login".into(),
    ]) {
        let r = c.get(&u);
        assert_escaped(&u, &r);
    }
    let mut coord = s.login(COORD);
    assert_escaped("/coordinator", &coord.get("/coordinator"));
    // The patient page really contains the hostile text, escaped.
    let p = c.get(&format!("/patient/{KEY_A}"));
    assert!(p.body.contains("&lt;b&gt;HOSTILE"), "{}", p.body);
}

#[test]
fn oversized_bodies_are_refused_with_413() {
    let s = Server::start();
    let c = s.client();
    // Declared too large: refused before the body is sent.
    let r = c.raw(
        format!(
            "POST /login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\n",
            s.addr
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 413);
    // Chunked, growing past the limit.
    let mut req = format!(
        "POST /login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        s.addr
    )
    .into_bytes();
    for _ in 0..5 {
        req.extend_from_slice(b"1000\r\n");
        req.extend_from_slice(&[b'a'; 0x1000]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let r = c.raw(&req);
    assert_eq!(r.status, 413);
}

#[test]
fn unknown_methods_and_wrong_methods_are_405() {
    let s = Server::start();
    let mut c = s.client();
    for m in ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
        let r = c.request(m, "/", &[], b"");
        assert_eq!(r.status, 405, "{m}");
        assert!(r.header("allow").is_some());
    }
    assert_eq!(c.request("GET", "/logout", &[], b"").status, 405);
    assert_eq!(c.post("/patient/x", &[]).status, 405);
}

#[test]
fn head_requests_get_headers_without_a_body() {
    let s = Server::start();
    let mut c = s.client();
    let r = c.request("HEAD", "/health", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "");
    assert_security_headers("HEAD /health", &r);
}

#[test]
fn oversized_request_heads_are_refused() {
    let s = Server::start();
    let c = s.client();
    let long = "a".repeat(40_000);
    let r = c.raw(format!("GET /?q={long} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    assert!(
        r.status == 431 || r.status == 414 || r.status == 0,
        "{}",
        r.status
    );
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = c.raw(format!("GET /health HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes());
    assert_ne!(r.status, 200);
}

#[test]
fn each_patient_view_is_audited_with_every_field_before_the_response() {
    let s = Server::start();
    let mut c = s.login(NURSE);
    let before = s.audit_entries().len();
    let r = c.get(&format!("/patient/{KEY_A}"));
    assert_eq!(r.status, 200);
    let entries = s.audit_entries();
    assert_eq!(entries.len(), before + 1);
    let e = entries.last().unwrap();
    assert_eq!(e["kind"], "patient_view");
    assert_eq!(e["action"], "R");
    assert_eq!(e["outcome"], "success");
    assert_eq!(e["user"]["id"], NURSE.0);
    assert_eq!(e["user"]["name"], NURSE_NAME);
    assert_eq!(e["user"]["role"], "nurse");
    assert_eq!(e["patients"][0]["key"], KEY_A);
    assert_eq!(e["patients"][0]["patient_number"], "PN-773101");
    assert_eq!(e["patients"][0]["bsn"], "999911120");
    assert_eq!(e["detail"], format!("/patient/{KEY_A}"));
    assert_eq!(e["access_point"]["address"], "127.0.0.1");
    assert_eq!(e["mode"], "emergency");
    // Search, overview and prints too.
    c.get("/?q=Oosterwold");
    let e = s.audit_entries().pop().unwrap();
    assert_eq!(e["kind"], "search");
    assert!(e["detail"].as_str().unwrap().contains("1 hits"), "{e}");
    assert_eq!(e["patients"][0]["bsn"], "999912345");
    c.get("/");
    let e = s.audit_entries().pop().unwrap();
    assert_eq!(e["kind"], "ward_view");
    assert_eq!(e["patients"].as_array().unwrap().len(), 2);
    c.get("/print/mar");
    let e = s.audit_entries().pop().unwrap();
    assert_eq!(e["kind"], "print");
    assert_eq!(e["patients"].as_array().unwrap().len(), 2);
}

#[test]
fn failed_audit_append_refuses_the_patient_page() {
    let s = Server::start();
    let mut c = s.login(NURSE);
    // Break the log under the daemon's feet.
    let conn = rusqlite::Connection::open(s.shared.audit_log().path()).unwrap();
    conn.execute_batch("DROP TABLE entry").unwrap();
    drop(conn);
    for u in data_urls() {
        let r = c.get(&u);
        assert_eq!(r.status, 503, "{u}");
        assert_no_secrets(&u, &r);
    }
    let m = s.client().get("/metrics");
    assert!(
        !m.body.contains("noodepd_audit_failures_total 0"),
        "{}",
        m.body
    );
}

#[test]
fn without_a_roster_login_is_explained_and_refused() {
    let s = Server::with(Options {
        roster: false,
        ..Options::default()
    });
    let mut c = s.client();
    let page = c.get("/login");
    assert!(page.body.contains("personeelslijst"), "{}", page.body);
    let r = c.login(NURSE.0, NURSE.1);
    assert_eq!(r.status, 503);
    assert!(!c.cookies.contains_key("noodepd_session"));
}

#[test]
fn language_switch_sets_a_cookie() {
    let s = Server::start();
    let mut c = s.client();
    let r = c.get("/login?lang=en");
    assert!(r.set_cookie("lang").unwrap().starts_with("lang=en"));
    assert_eq!(c.cookies["lang"], "en");
    let r = c.get("/login");
    assert!(r.body.contains("lang=\"en\""), "{}", r.body);
}

/// Escapes text as the pages do (maud escapes &, <, > and ").
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[test]
fn generated_ward_every_patient_is_found_by_bed_and_shown() {
    let s = Server::with(Options {
        generated: Some((24, 7)),
        ..Options::default()
    });
    let g = s.shared.store.current().unwrap();
    let rows = g.summaries().to_vec();
    assert!(rows.len() >= 20, "generator made {} patients", rows.len());
    let mut c = s.login(NURSE);
    let overview = c.get("/");
    assert_eq!(overview.status, 200);
    for p in &rows {
        assert!(
            overview.body.contains(&html_escape(&p.name)),
            "overview lacks {}",
            p.name
        );
        let page = c.get(&format!("/patient/{}", p.key));
        assert_eq!(page.status, 200, "{}", p.key);
        assert!(page.body.contains(&html_escape(&p.name)));
        if let Some(bed) = &p.bed {
            let q: String = form_urlencoded::byte_serialize(bed.as_bytes()).collect();
            let found = c.get(&format!("/?q={q}"));
            assert_eq!(found.status, 200);
            assert!(
                found.body.contains(&format!("/patient/{}\"", p.key)),
                "searching bed {bed:?} does not find {}",
                p.key
            );
        }
    }
    for u in ["/print/mar", "/print/ward", "/print/blank-mar"] {
        assert_eq!(c.get(u).status, 200, "{u}");
    }
}

#[test]
fn status_page_is_public_and_carries_no_patient_data_in_any_mode() {
    let s = Server::start();
    for mode in [Mode::Emergency, Mode::Drill, Mode::Standby] {
        s.set_mode(mode);
        let mut anon = s.client();
        let r = anon.get("/status");
        assert_eq!(r.status, 200, "{mode:?}");
        assert_no_secrets(&format!("/status in {mode:?}"), &r);
        let mut nurse = s.login(NURSE);
        let r = nurse.get("/status");
        assert_eq!(r.status, 200);
        assert_no_secrets(&format!("/status as nurse in {mode:?}"), &r);
    }
}

#[test]
fn shutdown_finishes_the_request_in_flight_closes_idle_connections_and_stops_listening() {
    use std::io::{Read, Write};
    let mut s = Server::start();
    // An idle keep-alive connection after one answered request.
    let mut idle = std::net::TcpStream::connect(s.addr).unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // A request in flight: the head is sent, the body is still coming.
    let mut slow = std::net::TcpStream::connect(s.addr).unwrap();
    slow.write_all(
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\nuser=",
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let finisher = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        slow.write_all(b"x&c=1").unwrap();
        let mut out = String::new();
        let _ = slow.read_to_string(&mut out);
        out
    });
    let started = std::time::Instant::now();
    s.stop();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "shutdown took {:?}",
        started.elapsed()
    );
    let answer = finisher.join().unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 403"),
        "the request in flight was not answered: {answer:?}"
    );
    // The idle connection is closed, and nobody listens any more.
    idle.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    assert_eq!(idle.read(&mut buf).unwrap_or(0), 0);
    assert!(std::net::TcpStream::connect(s.addr).is_err());
}

#[test]
fn every_page_shows_the_age_of_the_data() {
    let s = Server::start();
    let mut c = s.login(NURSE);
    for u in data_urls().into_iter().chain(["/status".to_string()]) {
        let r = c.get(&u);
        assert!(
            r.body.contains("gegevens van"),
            "{u} does not show the data age"
        );
    }
    let mut anon = s.client();
    assert!(anon.get("/login").body.contains("gegevens van"));
}

#[test]
fn a_client_that_never_finishes_its_request_head_is_disconnected() {
    use std::io::{Read, Write};
    let s = Server::start();
    let mut slow = std::net::TcpStream::connect(s.addr).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(25)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(20),
        "the half-sent request kept the connection open for {waited:?}"
    );
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    // The server still serves others.
    assert_eq!(s.client().get("/health").status, 200);
}

#[test]
fn coordinator_sees_the_drill_report_with_who_logged_in() {
    let s = Server::with(Options {
        mode: Mode::Standby,
        ..Options::default()
    });
    let mut c = s.login(COORD);
    assert_eq!(c.get("/drill-report").status, 404, "no drill held yet");
    let csrf = c.get("/coordinator").form_value("csrf").unwrap();
    let r = c.post(
        "/mode",
        &[
            ("mode", "drill"),
            ("reason", "oefening Q4"),
            ("csrf", &csrf),
        ],
    );
    assert!(r.status < 400, "switch to drill: {}", r.status);
    let mut n = s.login(NURSE);
    assert_eq!(n.get(&format!("/patient/{KEY_A}")).status, 200);
    assert_eq!(n.get("/drill-report").status, 403, "a nurse sees no report");
    let rep = c.get("/drill-report");
    assert_eq!(rep.status, 200);
    assert_security_headers("/drill-report", &rep);
    assert!(rep.body.contains("nurse1"), "{}", rep.body);
    assert!(rep.body.contains("oefening Q4"), "{}", rep.body);
    assert!(
        rep.body.contains("OEFENING"),
        "drill marker on the report page"
    );
    assert_escaped("/drill-report", &rep);
    assert!(
        s.audit_entries()
            .iter()
            .any(|e| e["kind"] == "drill_report"),
        "producing the report is audited"
    );
}

/// The MP9 scenarios (tests/fixtures/noodepd-mp9-scenarios) mapped at 2026-11-22 07:00.
fn mp9_scenarios() -> noodepd::record::WardRecord {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/noodepd-mp9-scenarios");
    let docs = noodepd::fhir::input::read_documents(&[path]).unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T06:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    noodepd::fhir::map_documents(&docs, &noodepd::fhir::MapOptions::new(now, "A3"))
}

/// The current-medication table of a served patient page, without the opened-up history.
fn served_current_medication(body: &str) -> String {
    let Some(start) = body.find("<table class=\"data meds\">") else {
        return String::new();
    };
    let table = &body[start..start + body[start..].find("</table>").unwrap()];
    let mut out = String::new();
    let mut rest = table;
    while let Some(i) = rest.find("<details") {
        out.push_str(&rest[..i]);
        let j = rest[i..].find("</details>").unwrap();
        rest = &rest[i + j + "</details>".len()..];
    }
    out.push_str(rest);
    out
}

#[test]
fn stopped_paused_cancelled_and_ended_drugs_are_never_served_as_current() {
    let record = mp9_scenarios();
    let key = |bsn: &str| {
        record
            .patients
            .iter()
            .find(|p| p.identity.bsn.as_deref() == Some(bsn))
            .map(|p| p.key.clone())
            .unwrap()
    };
    let (paused, doubled, cancelled, ended, unreadable) = (
        key("999911132"),
        key("999911156"),
        key("999911168"),
        key("999911181"),
        key("999911193"),
    );
    let s = Server::with(Options {
        record: Some(record),
        ..Options::default()
    });
    let mut c = s.login(NURSE);
    let page = |c: &mut Client, k: &str| {
        let r = c.get(&noodepd::web::pages::urls::patient(k));
        assert_eq!(r.status, 200);
        r.body
    };
    let mar = |c: &mut Client, k: &str| {
        let r = c.get(&noodepd::web::pages::urls::patient_mar(k));
        assert_eq!(r.status, 200);
        r.body
    };

    let body = page(&mut c, &paused);
    let current = served_current_medication(&body);
    assert!(current.contains("ONDERBROKEN sinds 21-11-2026 08:00"));
    assert!(!current.contains(">actueel"));
    let m = mar(&mut c, &paused);
    let row_start = m.find("mar-line mar-paused").expect("paused MAR row");
    let row = &m[row_start..row_start + m[row_start..].find("</tr>").unwrap()];
    assert!(row.contains("niet geven") && !row.contains("class=\"initials\""));

    let current = served_current_medication(&page(&mut c, &doubled));
    assert!(current.contains("2 stuk") && !current.contains("1 stuk"));

    let body = page(&mut c, &cancelled);
    assert!(served_current_medication(&body).is_empty());
    assert!(body.contains("Geen actuele medicatie") && body.contains("geannuleerd"));
    assert!(!mar(&mut c, &cancelled).contains("CLARITROMYCINE TABLET"));

    let current = served_current_medication(&page(&mut c, &ended));
    assert!(current.contains("Metoprolol"));
    assert!(!current.contains("Digoxine") && !current.contains("Acenocoumarol"));

    let body = page(&mut c, &unreadable);
    assert!(body.contains("3 gegevens konden niet worden gelezen"));
    assert!(mar(&mut c, &unreadable).contains("3 gegevens konden niet worden gelezen"));
}

#[test]
fn labels_print_is_audited_before_it_is_sent_and_the_age_script_is_same_origin() {
    let s = Server::start();
    let mut c = s.login(NURSE);
    let r = c.get(&format!("/patient/{KEY_B}/labels"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.matches("class=\"plabel\"").count(), 24);
    let print = s
        .audit_entries()
        .into_iter()
        .find(|e| e["kind"] == "print")
        .expect("a print entry for the labels");
    assert!(
        print["detail"]
            .as_str()
            .unwrap()
            .starts_with("print labels /patient/")
    );
    assert_eq!(print["patients"][0]["key"], KEY_B);
    assert_eq!(print["patients"][0]["bsn"], "999912345");
    // Not for someone not logged in, nor in standby (the usual gates).
    assert_eq!(
        s.client().get(&format!("/print/labels/{KEY_B}")).status,
        303
    );
    // The live data age script: our own, cached, and the only script the CSP allows.
    let js = s.client().get("/static/age.js");
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.body.contains("data-as-of"));
    assert!(r.body.contains(noodepd::web::pages::AGE_SCRIPT_TAG));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("script-src 'self';")
    );
}
