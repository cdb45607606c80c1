#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic
//! The page parts rendered once per generation (`web::cache`): a page served from kept
//! parts is byte for byte the page rendered from the record for the same request (user,
//! language, CSRF token, mode, drill marker, data age differ between requests and must come
//! out right every time), the kept parts follow the day and the language, a generation swap
//! shows the new data at once over real HTTP, and a generation found corrupt serves nothing
//! from the kept parts.

mod common;
mod pages_common;

use chrono::{Duration as TimeDelta, Utc};
use noodepd::config::Language;
use noodepd::mode::Mode;
use noodepd::record::{PatientRecord, WardRecord};
use noodepd::roster::Role;
use noodepd::store::{Generation, GenerationMeta, Store};
use noodepd::web::SessionUser;
use noodepd::web::cache::{self, Found, Renders};
use noodepd::web::pages::{self, PageCtx};
use pages_common::{Fixture, Hostile, assert_inert, hostile_patient, realistic_patient, seen};
use std::sync::Arc;

fn generation(dir: &std::path::Path, patients: Vec<PatientRecord>) -> Arc<Generation> {
    let store = Store::open(dir).unwrap();
    let meta = Fixture::new(Mode::Emergency).meta.unwrap();
    let ward = WardRecord {
        ward: "A3".into(),
        patients,
        report: Default::default(),
        next_change: None,
    };
    store.build(meta, &ward).unwrap()
}

/// A second request unlike the first in everything that is per request: another user
/// (a guest code), another CSRF token and path, drill mode, and three hours later the same
/// day, so the data is stale and the drill marker shows.
fn other_request(f: &mut Fixture) {
    f.mode = Fixture::new(Mode::Drill).mode;
    f.user = Some(SessionUser {
        id: "gast-1234".into(),
        name: "Gast <b>Arts</b>".into(),
        role: Role::Physician,
        issued_by: Some(("coord1".into(), "Co Ördinator".into())),
    });
    f.path = "/patient/x?lang=nl".into();
}

fn ctx_at<'a>(f: &'a Fixture, csrf: &'a str, hours: i64) -> PageCtx<'a> {
    let mut c = f.ctx();
    c.csrf = csrf;
    c.now += TimeDelta::hours(hours);
    c
}

#[test]
fn a_page_from_kept_parts_is_the_page_from_the_record_for_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let h = Hostile::default();
    let patients = vec![
        realistic_patient("pn-1", "Jansen, Hendrika", "12-1"),
        hostile_patient(&h),
    ];
    let g = generation(dir.path(), patients.clone());
    let first = Fixture::new(Mode::Emergency);
    let mut second = Fixture::new(Mode::Emergency);
    other_request(&mut second);
    let mut english = Fixture::new(Mode::Emergency);
    english.lang = Language::En;

    for p in &patients {
        // The first request reads the record and keeps the parts.
        let c1 = ctx_at(&first, "csrf-first", 0);
        let found = cache::find_patient(&g, &c1, &p.key).unwrap();
        assert!(matches!(found, Found::Read(_)), "nothing kept yet");
        let page1 = cache::patient_page(&g, &c1, found, seen()).unwrap();
        assert_eq!(
            page1.0,
            pages::patient_page(&c1, p, seen()).0,
            "first page of {}",
            p.key
        );

        // The next request, unlike it in every per-request part, uses the kept parts.
        let c2 = ctx_at(&second, "csrf-second", 3);
        let found = cache::find_patient(&g, &c2, &p.key).unwrap();
        assert!(matches!(found, Found::Rendered(_)), "kept for {}", p.key);
        let page2 = cache::patient_page(&g, &c2, found, seen()).unwrap();
        let uncached = pages::patient_page(&c2, p, seen()).0;
        assert_eq!(page2.0, uncached, "kept page of {}", p.key);
        assert_ne!(page1.0, page2.0, "the requests differ in what they show");
        for part in [
            "csrf-second",
            "Gast &lt;b&gt;Arts&lt;/b&gt;",
            "drill-banner",
        ] {
            assert!(page2.0.contains(part), "{part} in the second page");
        }
        for part in ["csrf-first", "Jolien de Vries"] {
            assert!(!page2.0.contains(part), "{part} of the first request kept");
        }
        assert_inert(&page2.0);

        // Another language is rendered for itself, then kept as well.
        let c3 = ctx_at(&english, "csrf-en", 0);
        let found = cache::find_patient(&g, &c3, &p.key).unwrap();
        assert!(matches!(found, Found::Read(_)), "English not kept yet");
        let page3 = cache::patient_page(&g, &c3, found, seen()).unwrap();
        assert_eq!(page3.0, pages::patient_page(&c3, p, seen()).0);
        assert!(matches!(
            cache::find_patient(&g, &c3, &p.key).unwrap(),
            Found::Rendered(_)
        ));

        // The next day the ages may have changed: rendered again, and right.
        let c4 = ctx_at(&first, "csrf-first", 24);
        let found = cache::find_patient(&g, &c4, &p.key).unwrap();
        assert!(matches!(found, Found::Read(_)), "a new day renders again");
        let page4 = cache::patient_page(&g, &c4, found, seen()).unwrap();
        assert_eq!(page4.0, pages::patient_page(&c4, p, seen()).0);
    }
    let renders = Renders::of(&g).unwrap();
    assert_eq!(
        renders.patient_pages(),
        patients.len() * 2,
        "one rendering per patient per language, the older day replaced"
    );
    assert!(renders.bytes() > 0 && renders.bytes() <= cache::BUDGET_BYTES);
    assert!(matches!(
        cache::find_patient(&g, &ctx_at(&first, "x", 0), "pn-unknown").unwrap(),
        Found::Missing
    ));
}

#[test]
fn the_kept_overview_is_the_overview_from_the_summaries_for_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let h = Hostile::default();
    let g = generation(
        dir.path(),
        vec![
            realistic_patient("pn-1", "Jansen, Hendrika", "12-1"),
            realistic_patient("pn-2", "Bakker, Pieter", "12-2"),
            hostile_patient(&h),
        ],
    );
    let rows: Vec<_> = g.summaries().iter().collect();
    let first = Fixture::new(Mode::Emergency);
    let mut second = Fixture::new(Mode::Emergency);
    other_request(&mut second);
    let mut english = Fixture::new(Mode::Emergency);
    english.lang = Language::En;
    let requests = [
        ctx_at(&first, "csrf-first", 0),
        ctx_at(&second, "csrf-second", 3),
        ctx_at(&english, "csrf-en", 1),
        ctx_at(&second, "csrf-third", 2),
        ctx_at(&first, "csrf-next-day", 25),
    ];
    for (i, c) in requests.iter().enumerate() {
        let page = cache::ward_overview(&g, c, seen()).0;
        assert_eq!(
            page,
            pages::ward_overview(c, &rows, None, seen()).0,
            "request {i}"
        );
        assert!(page.contains(c.csrf));
        assert_inert(&page);
    }
}

fn renamed(mut ward: WardRecord, suffix: &str) -> WardRecord {
    for p in &mut ward.patients {
        p.identity.name.display = format!("{} {suffix}", p.identity.name.display).into();
    }
    ward
}

fn rebuild(server: &common::Server, seq: u64, ward: &WardRecord) -> Arc<Generation> {
    let now = Utc::now();
    let meta = GenerationMeta {
        ward: "A3".into(),
        sequence: seq,
        data_as_of: now - TimeDelta::minutes(1),
        created_at: now,
        received_at: now,
        snapshot_file: format!("a3-{seq}.snap"),
        report: Default::default(),
        derived_at: None,
        next_change: None,
    };
    let g = server.shared.store.build(meta, ward).unwrap();
    server.shared.store.swap(g.clone());
    g
}

#[test]
fn after_a_generation_swap_every_page_shows_the_new_data() {
    let server = common::Server::start();
    let mut c = server.login(common::NURSE);
    let path = format!("/patient/{}", common::KEY_A);
    for _ in 0..2 {
        assert_eq!(c.get(&path).status, 200);
        assert_eq!(c.get("/").status, 200);
    }
    let g7 = server.shared.store.current().unwrap();
    assert!(
        Renders::of(&g7).unwrap().patient_pages() >= 1,
        "the page was kept"
    );
    drop(g7);

    let mut next = renamed(common::ward(), "Nieuwzqx8");
    next.patients.retain(|p| p.key != common::KEY_B);
    rebuild(&server, 8, &next);
    let r = c.get(&path);
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("Nieuwzqx8"),
        "the new generation's patient page"
    );
    let r = c.get("/");
    assert!(
        r.body.contains("Nieuwzqx8"),
        "the new generation's overview"
    );
    assert!(
        !r.body.contains(&format!("/patient/{}", common::KEY_B)),
        "a patient gone from the data is gone from the overview"
    );
    assert_eq!(
        c.get(&format!("/patient/{}", common::KEY_B)).status,
        404,
        "and from the patient pages"
    );

    // Swapped again while the same pages are open: again the newest.
    rebuild(&server, 9, &renamed(common::ward(), "Derdezqx9"));
    let r = c.get(&path);
    assert!(r.body.contains("Derdezqx9") && !r.body.contains("Nieuwzqx8"));
    assert!(c.get("/").body.contains("Derdezqx9"));
}

#[test]
fn a_generation_found_corrupt_serves_no_kept_page() {
    let server = common::Server::start();
    let mut c = server.login(common::NURSE);
    let path = format!("/patient/{}", common::KEY_A);
    assert_eq!(c.get(&path).status, 200);
    let g = server.shared.store.current().unwrap();
    assert_eq!(Renders::of(&g).unwrap().patient_pages(), 1, "kept");

    // The served file changes under the daemon; its next check marks it corrupt.
    let file = std::fs::read_dir(server.dir.path().join("run"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sqlite"))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&file, &bytes).unwrap();
    assert!(g.verify_file().is_err());
    let r = c.get(&path);
    assert_ne!(
        r.status, 200,
        "a corrupt generation's kept page is not served"
    );
    assert!(
        !r.body.contains("Zwartbroek"),
        "no patient data on the refusal"
    );
}
