//! Renders every page with hand-built records and checks what a nurse (or an attacker)
//! would see in the HTML: escaping of hostile strings in every field, "not recorded" vs
//! "none" vs items, the drill marker and the data age on every page and printout, the
//! last administration per line, the MAR grid, no inline styles, Amsterdam time.
//!
//! With NOODEPD_PAGES_OUT=DIR set, the rendered pages are also written to DIR (for
//! screenshots with headless Chromium).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod pages_common;

use noodepd::config::Language;
use noodepd::mode::Mode;
use noodepd::record::summary::PatientSummary;
use noodepd::record::*;
use noodepd::roster::Role;
use noodepd::web::IssuedCode;
use noodepd::web::pages::{self, PageCtx};
use noodepd::web::session::{LockedWhat, Lockout};
use pages_common::*;

fn ready(ctx: &PageCtx) -> noodepd::status::Ready {
    noodepd::status::ready(
        "A3",
        ctx.appliance_id,
        ctx.stale_after,
        ctx.data.map(|m| (m, 3)),
        ctx.mode,
        &noodepd::status::IngestStatus {
            last_rejection: Some(noodepd::status::Rejection {
                file: "a3-41.snap".into(),
                code: "replayed_sequence".into(),
                reason: "sequence 41 is not newer than 42".into(),
                time: utc(2026, 11, 22, 12, 50),
            }),
            ..Default::default()
        },
        ctx.now,
    )
}

fn codes() -> Vec<IssuedCode> {
    vec![IssuedCode {
        user: "gast-01".into(),
        name: "Pieter Smit".into(),
        role: Role::Nurse,
        issued_by: "Karin Mulder".into(),
        expires_at: utc(2026, 11, 22, 17, 0),
        drill: None,
    }]
}

fn lockouts() -> Vec<Lockout> {
    vec![
        Lockout {
            what: LockedWhat::User("jbakker".into()),
            until: utc(2026, 11, 22, 13, 15),
        },
        Lockout {
            what: LockedWhat::Address("10.20.3.41".parse().unwrap()),
            until: utc(2026, 11, 22, 13, 5),
        },
    ]
}

/// Every page, named, for one context.
fn all_pages(ctx: &PageCtx, patients: &[PatientRecord]) -> Vec<(&'static str, String)> {
    let sums: Vec<PatientSummary> = patients.iter().map(PatientSummary::from).collect();
    let rows: Vec<&PatientSummary> = sums.iter().collect();
    let codes = codes();
    let start = day(2026, 11, 22);
    let mut v = vec![
        ("status", pages::status_page(ctx, &ready(ctx)).into_string()),
        (
            "login",
            pages::login_page(ctx, Some("Code onjuist")).into_string(),
        ),
        (
            "overview",
            pages::ward_overview(ctx, &rows, None, seen()).into_string(),
        ),
        (
            "search",
            pages::ward_overview(ctx, &rows, Some("12"), seen()).into_string(),
        ),
        (
            "mar",
            pages::print_mar(ctx, patients, start, 3, seen()).into_string(),
        ),
        (
            "blank_mar",
            pages::print_blank_mar(ctx, start, 3).into_string(),
        ),
        (
            "ward_list",
            pages::print_ward_list(ctx, &rows, seen()).into_string(),
        ),
        (
            "coordinator",
            pages::coordinator_page(ctx, &codes, &lockouts(), Some((&codes[0], "K7P-4QX")), Some("Gastcode uitgegeven"))
                .into_string(),
        ),
        (
            "error",
            pages::error_page(ctx, 503, "Het toegangslog is niet beschikbaar; uit veiligheid worden geen patiëntgegevens getoond.").into_string(),
        ),
    ];
    if let Some(p) = patients.first() {
        v.push(("patient", pages::patient_page(ctx, p, seen()).into_string()));
    }
    v
}

fn ward() -> Vec<PatientRecord> {
    let mut b = realistic_patient("p2", "Hendrik van der Berg", "14");
    b.allergies = Listed::NoneDocumented {
        statement: "Geen allergie bekend".into(),
        asserted: None,
    };
    b.directives = Listed::NotRecorded;
    b.alerts = Listed::NotRecorded;
    b.identity.sex = Sex::Male;
    vec![
        realistic_patient("p1", "Johanna de Vries-van Dijk", "12"),
        b,
    ]
}

#[test]
fn every_page_writes_out_for_screenshots_and_is_inert() {
    let f = Fixture::new(Mode::Drill);
    let pages = all_pages(&f.ctx(), &ward());
    for (name, html) in &pages {
        assert_inert(html);
        assert!(
            html.starts_with("<!DOCTYPE html><html lang=\"nl\">"),
            "{name}"
        );
        assert_eq!(html.matches("<h1").count(), 1, "{name}: exactly one h1");
        assert!(html.contains("<main id=\"main\""), "{name}: main landmark");
        assert!(html.contains("href=\"#main\""), "{name}: skip link");
        assert!(html.contains("/static/style.css"), "{name}");
    }
    if let Ok(dir) = std::env::var("NOODEPD_PAGES_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        let css = std::path::Path::new(&dir).join("static");
        std::fs::create_dir_all(&css).unwrap();
        std::fs::write(css.join("style.css"), pages::STYLESHEET).unwrap();
        for (name, html) in &pages {
            // Relative stylesheet link so the file opens straight from disk.
            let html = html.replace("\"/static/style.css\"", "\"static/style.css\"");
            std::fs::write(format!("{dir}/{name}.html"), html).unwrap();
        }
        let mut e = Fixture::new(Mode::Emergency);
        e.meta.as_mut().unwrap().data_as_of = utc(2026, 11, 22, 9, 40);
        let stale = pages::ward_overview(
            &e.ctx(),
            &ward()
                .iter()
                .map(PatientSummary::from)
                .collect::<Vec<_>>()
                .iter()
                .collect::<Vec<_>>(),
            None,
            seen(),
        )
        .into_string();
        std::fs::write(
            format!("{dir}/overview_stale.html"),
            stale.replace("\"/static/style.css\"", "\"static/style.css\""),
        )
        .unwrap();
        let s = Fixture::new(Mode::Standby);
        let mut s2 = s;
        s2.user = None;
        let st = pages::status_page(&s2.ctx(), &ready(&s2.ctx())).into_string();
        std::fs::write(
            format!("{dir}/status_standby.html"),
            st.replace("\"/static/style.css\"", "\"static/style.css\""),
        )
        .unwrap();
    }
}

#[test]
fn hostile_strings_are_escaped_in_every_rendered_field() {
    let h = Hostile::default();
    let p = hostile_patient(&h);
    let mut f = Fixture::new(Mode::Emergency);
    f.ward_name = h.s().into();
    f.appliance_id = h.s().into();
    f.user.as_mut().unwrap().name = h.s().into();
    f.mode.reason = h.s().into();
    f.meta.as_mut().unwrap().snapshot_file = h.s().into();
    f.path = "/x\"><script>alert(1)</script>".into();
    // The status page shows the mode switch's reason to a coordinator (and IT) only.
    f.user.as_mut().unwrap().role = Role::Coordinator;
    let coordinator_status = pages::status_page(&f.ctx(), &ready(&f.ctx())).into_string();
    f.user.as_mut().unwrap().role = Role::Nurse;
    let ctx = f.ctx();
    let sums = [PatientSummary::from(&p)];
    let rows: Vec<&PatientSummary> = sums.iter().collect();
    let code = IssuedCode {
        user: h.s().into(),
        name: h.s().into(),
        role: Role::Nurse,
        issued_by: h.s().into(),
        expires_at: utc(2026, 11, 22, 17, 0),
        drill: None,
    };
    let hostile_lockout = [Lockout {
        // A user name as typed at the login form: shown quoted and cleaned, so it is not
        // one of the fields checked verbatim below; assert_inert checks it.
        what: LockedWhat::User("<script>alert(1)</script>\u{202e}\n\"x".into()),
        until: utc(2026, 11, 22, 13, 15),
    }];

    let plain = h.s();
    let login_err = h.s();
    let err_msg = h.s();
    let query = h.s();
    let mut all = String::new();
    for html in [
        pages::patient_page(&ctx, &p, seen()).into_string(),
        pages::ward_overview(&ctx, &rows, Some(&query[..60]), seen()).into_string(),
        pages::ward_overview(&ctx, &rows, Some(&query), seen()).into_string(),
        pages::print_mar(&ctx, std::slice::from_ref(&p), day(2026, 11, 22), 3, seen())
            .into_string(),
        pages::print_ward_list(&ctx, &rows, seen()).into_string(),
        pages::print_blank_mar(&ctx, day(2026, 11, 22), 3).into_string(),
        pages::status_page(&ctx, &ready(&ctx)).into_string(),
        pages::login_page(&ctx, Some(&login_err)).into_string(),
        pages::error_page(&ctx, 403, &err_msg).into_string(),
        pages::coordinator_page(
            &ctx,
            std::slice::from_ref(&code),
            &hostile_lockout,
            Some((&code, &plain)),
            Some(&h.s()),
        )
        .into_string(),
        coordinator_status,
    ] {
        assert_inert(&html);
        all.push_str(&html);
    }
    for s in h.issued.borrow().iter() {
        let marker = &s[..s.find('Q').unwrap()];
        assert!(
            all.contains(&escaped(s)),
            "field with marker {marker} is not shown escaped (or not shown at all)"
        );
    }
    // The hostile patient key only ever appears percent-encoded in links.
    assert!(all.contains("href=\"/patient/javascript%3Aalert%281%29%22%3E%3Cscript%3E\""));
}

fn allergies_section(html: &str) -> &str {
    let start = html.find("id=\"allergieen\"").unwrap();
    let end = html[start..].find("</section>").unwrap();
    &html[start..start + end]
}

#[test]
fn not_recorded_none_documented_and_items_look_different() {
    let f = Fixture::new(Mode::Emergency);
    let ctx = f.ctx();
    let mut p = realistic_patient("p1", "Johanna de Vries", "12");
    p.allergies = Listed::NotRecorded;
    let unknown = pages::patient_page(&ctx, &p, seen()).into_string();
    p.allergies = Listed::NoneDocumented {
        statement: "Geen allergie bekend".into(),
        asserted: Some(Moment::Day(day(2026, 11, 18))),
    };
    let none = pages::patient_page(&ctx, &p, seen()).into_string();
    let items =
        pages::patient_page(&ctx, &realistic_patient("p1", "J", "12"), seen()).into_string();

    let (u, n, i) = (
        allergies_section(&unknown),
        allergies_section(&none),
        allergies_section(&items),
    );
    assert!(u.contains("class=\"not-recorded\"") && u.contains("Niet vastgelegd"));
    assert!(!u.contains("none-documented") && !u.contains("Geen ("));
    assert!(n.contains("class=\"none-documented\""));
    assert!(n.contains("Geen</strong> (vastgelegd: Geen allergie bekend, 18-11-2026)"));
    assert!(!n.contains("Niet vastgelegd"));
    assert!(i.contains("Penicilline") && i.contains("Hoog risico") && i.contains("Anafylaxie"));
    assert!(!i.contains("not-recorded") && !i.contains("none-documented"));

    // The overview keeps the same three states apart.
    let sums: Vec<PatientSummary> = [&unknown_patient(), &none_patient()]
        .iter()
        .map(|p| PatientSummary::from(*p))
        .collect();
    let rows: Vec<&PatientSummary> = sums.iter().collect();
    let ov = pages::ward_overview(&ctx, &rows, None, seen()).into_string();
    // Unknown allergies are as loud as a known allergy, never grey: "ask".
    assert!(ov.contains("class=\"allergy-unknown\""));
    assert!(ov.contains("Onbekend — navragen"));
    assert!(ov.contains("Geen bekend"));
    assert!(ov.contains("Reanimatiebeleid onbekend"));
}

fn unknown_patient() -> PatientRecord {
    let mut p = realistic_patient("u", "Onbekend Allergie", "1");
    p.allergies = Listed::NotRecorded;
    p.directives = Listed::NotRecorded;
    p
}

fn none_patient() -> PatientRecord {
    let mut p = realistic_patient("n", "Geen Allergie", "2");
    p.allergies = Listed::NoneDocumented {
        statement: "NKA".into(),
        asserted: None,
    };
    p
}

#[test]
fn resuscitation_policy_has_distinct_words_for_each_state() {
    let f = Fixture::new(Mode::Emergency);
    let ctx = f.ctx();
    let mk = |decisions: &[Decision]| {
        let mut p = realistic_patient("k", "N", "1");
        p.directives = if decisions.is_empty() {
            Listed::NotRecorded
        } else {
            Listed::Items {
                items: decisions
                    .iter()
                    .map(|d| Directive {
                        kind: DirectiveKind::Resuscitation,
                        treatment: "Reanimatie".into(),
                        decision: *d,
                        text: None,
                        source: None,
                        date: None,
                        status: None,
                        codes: vec![],
                    })
                    .collect(),
            }
        };
        let s = PatientSummary::from(&p);
        pages::ward_overview(&ctx, &[&s], None, seen()).into_string()
    };
    assert!(mk(&[Decision::Deny]).contains("resus-deny\"><svg"));
    assert!(mk(&[Decision::Deny]).contains("Niet reanimeren"));
    assert!(mk(&[Decision::Permit]).contains("Wel reanimeren"));
    assert!(mk(&[]).contains("Reanimatiebeleid onbekend"));
    assert!(mk(&[Decision::Deny, Decision::Permit]).contains("Tegenstrijdig — zie dossier"));
}

#[test]
fn drill_marker_is_on_every_page_and_every_printout() {
    let f = Fixture::new(Mode::Drill);
    for (name, html) in all_pages(&f.ctx(), &ward()) {
        assert!(html.contains("OEFENING / DRILL"), "{name}: no drill marker");
        assert!(html.contains("class=\"drill-banner\""), "{name}");
        assert!(
            html.contains("class=\"drill-watermark\""),
            "{name}: print watermark"
        );
    }
    // In print views the marker sits in the repeated table header (every printed page).
    let mar = pages::print_mar(&f.ctx(), &ward(), day(2026, 11, 22), 3, seen()).into_string();
    // Every sheet's head (the as-needed blocks' own small table heads aside).
    for sheet in mar.split("<table class=\"mar mar-sheet\">").skip(1) {
        let head = &sheet[..sheet.find("</thead>").unwrap()];
        assert!(head.contains("OEFENING / DRILL"));
        assert!(head.contains("gegevens van 22-11-2026 14:05 (12 min oud)"));
    }
    let e = Fixture::new(Mode::Emergency);
    for (name, html) in all_pages(&e.ctx(), &ward()) {
        assert!(
            !html.contains("OEFENING / DRILL"),
            "{name}: drill marker outside a drill"
        );
        assert!(html.contains("NOODBEDRIJF"), "{name}: mode shown");
    }
}

#[test]
fn data_age_is_shown_and_escalates_when_stale_or_from_the_future() {
    let mut f = Fixture::new(Mode::Emergency);
    for (name, html) in all_pages(&f.ctx(), &ward()) {
        let seen = visible_text(&html);
        assert!(
            seen.contains("gegevens van 22-11-2026 14:05 (12 min oud)"),
            "{name}"
        );
        assert!(!seen.contains("VEROUDERD"), "{name}");
        // The live script may reveal the warning later; the page says when (box clock).
        assert!(
            html.contains("data-as-of=\"2026-11-22T13:05:00Z\" data-now=\"2026-11-22T13:17:00Z\""),
            "{name}"
        );
    }
    f.meta.as_mut().unwrap().data_as_of = utc(2026, 11, 22, 9, 57);
    for (name, html) in all_pages(&f.ctx(), &ward()) {
        assert!(
            visible_text(&html)
                .contains("VEROUDERD: gegevens van 22-11-2026 10:57 (3 u 20 min oud)"),
            "{name}"
        );
        assert!(
            html.contains("class=\"stale-banner\" role=\"alert\""),
            "{name}"
        );
        assert!(html.contains("age age-stale"), "{name}");
    }
    // Data dated after the box's clock (the clock jumped back): the age is unknown, said as
    // urgently as stale data; a few minutes of drift is tolerated.
    f.meta.as_mut().unwrap().data_as_of = utc(2026, 11, 22, 15, 17);
    for (name, html) in all_pages(&f.ctx(), &ward()) {
        assert!(
            html.contains("KLOK KLOPT NIET: gegevens van 22-11-2026 16:17 (2 u")
                && html.contains("na de klok van dit apparaat)"),
            "{name}"
        );
        assert!(
            html.contains("class=\"stale-banner\" role=\"alert\""),
            "{name}"
        );
        assert!(html.contains("age age-stale"), "{name}");
    }
    f.meta.as_mut().unwrap().data_as_of = utc(2026, 11, 22, 13, 21);
    for (name, html) in all_pages(&f.ctx(), &ward()) {
        assert!(!html.contains("KLOK KLOPT NIET"), "{name}");
        assert!(!visible_text(&html).contains("VEROUDERD"), "{name}");
        assert!(
            !html.contains("class=\"stale-banner\" role=\"alert\">"),
            "{name}: a stale banner shown (only a hidden one for the live script)"
        );
    }
    f.meta = None;
    for (name, html) in all_pages(&f.ctx(), &ward()) {
        assert!(html.contains("Nog geen gegevens ontvangen"), "{name}");
        assert!(!html.contains("gegevens van"), "{name}");
    }
}

fn med_row<'a>(html: &'a str, drug: &str) -> &'a str {
    let start = html.find(&format!("class=\"drug\">{drug}")).unwrap();
    let end = html[start..].find("</tr>").unwrap();
    &html[start..start + end]
}

#[test]
fn each_medication_line_shows_its_own_last_administration() {
    let f = Fixture::new(Mode::Emergency);
    let mut p = realistic_patient("p1", "J", "12");
    // A later, not-given administration of metoprolol: shown, with the last given one.
    p.administrations.push(Administration {
        status: Some("not-done".into()),
        ..given("med-2", "Metoprolol 50 mg", utc(2026, 11, 22, 12, 30))
    });
    let html = pages::patient_page(&f.ctx(), &p, seen()).into_string();
    let para = med_row(&html, "Paracetamol");
    assert!(
        para.contains("22-11-2026 14:00"),
        "latest paracetamol at 14:00 local"
    );
    assert!(!para.contains("08:02"));
    let meto = med_row(&html, "Metoprolol");
    assert!(meto.contains("22-11-2026 13:30") && meto.contains("NIET GEGEVEN"));
    assert!(meto.contains("Laatst gegeven: <span class=\"nowrap\"><strong>22-11-2026 08:02"));
    let oxa = med_row(&html, "Oxazepam");
    assert!(oxa.contains("Geen toediening in de laatste 72 uur"));
    assert!(oxa.contains("Zo nodig") && oxa.contains("onrust"));

    p.administrations = Listed::NotRecorded;
    let html = pages::patient_page(&f.ctx(), &p, seen()).into_string();
    assert!(med_row(&html, "Paracetamol").contains("Toedieningen niet vastgelegd"));
}

#[test]
fn mar_has_one_initials_box_per_line_day_and_scheduled_time() {
    let f = Fixture::new(Mode::Emergency);
    let ctx = f.ctx();
    let mut p = realistic_patient("p1", "J", "12");
    // 4 times + 1 time per day = 5; plus 3 x/day without times = 3.
    p.medication.push(single(line(
        "med-4",
        drug("Amoxicilline", "500 mg"),
        vec![Dosage {
            dose: Some("500 mg".into()),
            schedule: Schedule {
                frequency: Some(Frequency {
                    count: 3,
                    count_max: None,
                    period: "1".into(),
                    period_unit: "d".into(),
                }),
                ..Default::default()
            },
            ..Default::default()
        }],
    )));
    let html = pages::print_mar(&ctx, std::slice::from_ref(&p), day(2026, 11, 22), 3, seen())
        .into_string();
    // Boxes: plain, filled from the EPD or greyed before the data time. The as-needed
    // oxazepam has no boxes but its block.
    let lines = (4 + 1 + 3) * 3;
    let handwritten = html.matches("class=\"mar-blank\"").count();
    assert!(
        (1..=3).contains(&handwritten),
        "{handwritten} handwritten lines"
    );
    let extra = handwritten * 4 * 3; // handwritten rows × blank boxes × days
    assert_eq!(html.matches("class=\"initials").count(), lines + extra);
    assert!(html.contains("mar-line mar-prn"));
    assert_eq!(html.matches("class=\"slot-time\">08:00<").count(), 2 * 3);
    assert_eq!(html.matches("class=\"slot-time\">23:00<").count(), 3);
    for d in ["zo 22-11", "ma 23-11", "di 24-11"] {
        assert!(html.contains(d), "day header {d}");
    }
    // Header on every printed page: identity, allergies in bold, policy, age.
    let head = &html[html.find("<thead>").unwrap()..html.find("</thead>").unwrap()];
    for needle in [
        "J",
        "03-02-1948 (78 jr)",
        "7654321",
        "Bed 12",
        "<strong>Penicilline</strong>",
        "Niet reanimeren",
        "gegevens van 22-11-2026 14:05 (12 min oud)",
    ] {
        assert!(head.contains(needle), "MAR header lacks {needle}");
    }
    // The ward and the print time in the foot (also repeated on every printed page).
    let foot = &html[html.find("<tfoot>").unwrap()..html.find("</tfoot>").unwrap()];
    for needle in [
        "Interne geneeskunde A3",
        "afgedrukt",
        "Lijst gecontroleerd door",
    ] {
        assert!(foot.contains(needle), "MAR foot lacks {needle}");
    }
}

#[test]
fn mar_leaves_no_boxes_on_days_a_line_does_not_run() {
    let f = Fixture::new(Mode::Emergency);
    let mut p = realistic_patient("p1", "J", "12");
    let mut weekly = timed("1 stuk", "oraal", &[hm(9, 0)]);
    weekly.schedule.days_of_week = vec!["mon".into()];
    let mut stopping = line(
        "med-5",
        drug("Prednison", "5 mg"),
        vec![timed("1", "oraal", &[hm(10, 0)])],
    );
    stopping.end = Some(Moment::Day(day(2026, 11, 23)));
    p.medication = Listed::Items {
        items: vec![
            single(line("med-4", drug("Methotrexaat", "2,5 mg"), vec![weekly])),
            single(stopping),
        ],
    };
    let html = pages::print_mar(&f.ctx(), &[p], day(2026, 11, 22), 3, seen()).into_string();
    assert_eq!(
        html.matches("class=\"slot-time\">09:00<").count(),
        1,
        "only Monday"
    );
    assert_eq!(html.matches("niet op deze dag").count(), 2);
    assert_eq!(
        html.matches("class=\"slot-time\">10:00<").count(),
        2,
        "until the end date"
    );
    assert_eq!(html.matches(">gestopt<").count(), 1);
}

#[test]
fn mar_for_all_patients_breaks_page_per_patient_and_marks_unknown_medication() {
    let f = Fixture::new(Mode::Emergency);
    let mut w = ward();
    w[1].medication = Listed::NotRecorded;
    let html = pages::print_mar(&f.ctx(), &w, day(2026, 11, 22), 3, seen()).into_string();
    assert_eq!(html.matches("class=\"mar-patient\"").count(), 2);
    assert!(html.matches("<table class=\"mar mar-sheet\"").count() >= 2);
    assert!(html.contains("Medicatie niet vastgelegd in de gegevens"));
    assert!(pages::STYLESHEET.contains(".mar-patient + .mar-patient { break-before: page;"));
}

#[test]
fn blank_mar_has_fields_to_fill_in_and_empty_rows() {
    let f = Fixture::new(Mode::Drill);
    let html = pages::print_blank_mar(&f.ctx(), day(2026, 11, 22), 3).into_string();
    for field in [
        "Naam",
        "Geboortedatum",
        "Patiëntnummer",
        "Bed",
        "Allergieën",
        "Reanimatiebeleid",
    ] {
        assert!(
            html.contains(&format!("<span class=\"fill-label\">{field}: ")),
            "{field}"
        );
    }
    assert_eq!(html.matches("class=\"mar-blank\"").count(), 12);
    assert_eq!(html.matches("class=\"initials\"").count(), 12 * 4 * 3);
    assert!(html.contains("OEFENING / DRILL"));
}

#[test]
fn every_time_is_shown_in_amsterdam_time_across_dst() {
    let f = Fixture::new(Mode::Emergency);
    let mut p = realistic_patient("p1", "J", "12");
    p.administrations = Listed::Items {
        items: vec![
            given("med-1", "Paracetamol", utc(2026, 7, 1, 12, 0)),
            given("med-2", "Metoprolol", utc(2026, 11, 22, 23, 30)),
        ],
    };
    let html = pages::patient_page(&f.ctx(), &p, seen()).into_string();
    assert!(html.contains("01-07-2026 14:00"), "summer: UTC+2");
    assert!(html.contains("23-11-2026 00:30"), "winter: UTC+1, next day");
    assert!(!html.contains("12:00") || html.contains("14:00"));
    assert!(html.contains("gegevens van 22-11-2026 14:05"));
}

#[test]
fn english_view_is_complete() {
    let mut f = Fixture::new(Mode::Drill);
    f.lang = Language::En;
    for (name, html) in all_pages(&f.ctx(), &ward()) {
        assert!(
            html.starts_with("<!DOCTYPE html><html lang=\"en\">"),
            "{name}"
        );
        assert!(
            visible_text(&html).contains("data as of 22-11-2026 14:05 (12 min old)"),
            "{name}"
        );
        for dutch in [
            "gegevens van",
            "Niet vastgelegd",
            "Uitloggen",
            "Allergieën",
            "Reanimatiebeleid",
        ] {
            assert!(
                !html.contains(dutch),
                "{name}: Dutch text {dutch:?} in English view"
            );
        }
        assert!(html.contains("href=\"/?lang=nl\""), "{name}: switch back");
    }
}

#[test]
fn coordinator_page_asks_after_a_day_whether_emergency_is_still_needed() {
    let mut f = Fixture::new(Mode::Emergency);
    f.user.as_mut().unwrap().role = Role::Coordinator;
    let fresh = pages::coordinator_page(&f.ctx(), &[], &[], None, None).into_string();
    assert!(
        !fresh.contains("noodmodus nog nodig"),
        "asked after an hour"
    );
    f.mode.since = now() - chrono::TimeDelta::hours(25);
    let old = pages::coordinator_page(&f.ctx(), &[], &[], None, None).into_string();
    assert!(old.contains("Is de noodmodus nog nodig?"), "{old}");
    // It asks; it never switches anything off by itself.
    assert!(old.contains("name=\"mode\""));
}

#[test]
fn every_post_form_carries_the_csrf_token() {
    let f = Fixture::new(Mode::Emergency);
    for (name, html) in all_pages(&f.ctx(), &ward()) {
        let posts = html.matches("method=\"post\"").count();
        let tokens = html
            .matches("<input type=\"hidden\" name=\"csrf\" value=\"csrf-token-123\">")
            .count();
        assert_eq!(posts, tokens, "{name}");
    }
    let coord = pages::coordinator_page(&f.ctx(), &[], &lockouts(), None, None).into_string();
    for action in ["/logout", "/mode", "/guest-code", "/lockout/lift"] {
        assert!(coord.contains(&format!("action=\"{action}\"")));
    }
    for field in [
        "name=\"mode\"",
        "name=\"reason\"",
        "name=\"name\"",
        "name=\"role\"",
    ] {
        assert!(coord.contains(field), "{field}");
    }
    let login = pages::login_page(&f.ctx(), None).into_string();
    assert!(
        login.contains("action=\"/login\"")
            && login.contains("name=\"user\"")
            && login.contains("name=\"code\"")
    );
}

#[test]
fn inputs_are_labelled_and_tables_have_header_scopes() {
    let f = Fixture::new(Mode::Emergency);
    for (name, html) in all_pages(&f.ctx(), &ward()) {
        for (i, _) in html.match_indices("<input ") {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            if tag.contains("type=\"hidden\"") || tag.contains("type=\"radio\"") {
                continue;
            }
            let id = tag
                .split("id=\"")
                .nth(1)
                .map(|s| &s[..s.find('"').unwrap()]);
            let id = id.unwrap_or_else(|| panic!("{name}: input without id: {tag}"));
            assert!(
                html.contains(&format!("<label for=\"{id}\"")),
                "{name}: {id} unlabelled"
            );
        }
        assert_eq!(html.matches("<th>").count(), 0, "{name}: th without scope");
    }
}

#[test]
fn status_page_shows_mode_data_age_and_rejection_but_no_patient_data() {
    let mut f = Fixture::new(Mode::Standby);
    f.user = None;
    let ctx = f.ctx();
    let html = pages::status_page(&ctx, &ready(&ctx)).into_string();
    assert!(html.contains("Stand-by"));
    assert!(html.contains("replayed_sequence"));
    assert!(html.contains("noodepd mode emergency"));
    assert!(html.contains("href=\"/login\""));
    assert!(
        !html.contains("Afdelingsoverzicht"),
        "no link to patient views in standby"
    );
    assert!(!html.contains("/patient/"));
}

#[test]
fn search_finds_by_name_birth_date_patient_number_and_bed() {
    let s = PatientSummary::from(&realistic_patient("p1", "Johanna de Vries-van Dijk", "12"));
    for q in [
        "vries",
        "JOHANNA",
        "03-02-1948",
        "03021948",
        "1948-02-03",
        "7654321",
        "12",
        "",
    ] {
        assert!(s.matches(q), "{q:?} should match");
    }
    for q in ["Jansen", "04-02-1948", "765432", "1", "2"] {
        assert!(!s.matches(q), "{q:?} should not match");
    }
    let mut accent = realistic_patient("p3", "Eléonore Müller", "3");
    accent.identity.name.sort_key = "Müller, Eléonore".into();
    assert!(PatientSummary::from(&accent).matches("eleonore muller"));
}

#[test]
fn stylesheet_is_small_local_and_has_print_rules() {
    let css = pages::STYLESHEET;
    // 34 KiB: the MAR's fixed print sizes (given doses, as-needed blocks) took it past 30.
    assert!(css.len() < 34 * 1024, "stylesheet is {} bytes", css.len());
    assert!(
        !css.contains("url(") && !css.contains("@import"),
        "no external resources"
    );
    assert!(css.contains("@page { size: A4;"));
    assert!(css.contains("@page landscape { size: A4 landscape;"));
    assert!(css.contains("thead { display: table-header-group; }"));
}

#[test]
fn administration_agreement_shares_one_row_with_its_agreement_and_its_administrations() {
    let f = Fixture::new(Mode::Emergency);
    let mut p = realistic_patient("p1", "J", "12");
    let mut ta = line(
        "ta-1",
        drug("Paracetamol", "500 mg"),
        vec![timed("1000 mg", "oraal", &[hm(6, 0), hm(12, 0), hm(18, 0)])],
    );
    ta.kind = MedicationKind::AdministrationAgreement;
    ta.based_on = Some("med-1".into());
    // The administration agreement joins the paracetamol agreement's treatment.
    let Listed::Items { items } = &mut p.medication else {
        panic!()
    };
    let para = items[0].lead_lines()[0].clone();
    items[0] = treatment("med-1", vec![para, ta]);
    let page = pages::patient_page(&f.ctx(), &p, seen()).into_string();
    assert_eq!(page.matches("class=\"drug\">Paracetamol").count(), 1);
    let row = med_row(&page, "Paracetamol");
    assert!(row.contains("Toedieningsafspraak"));
    assert!(
        row.contains("22-11-2026 14:00"),
        "administration linked to the agreement"
    );

    let mar = pages::print_mar(&f.ctx(), &[p], day(2026, 11, 22), 3, seen()).into_string();
    assert_eq!(
        mar.matches("class=\"mar-line").count(),
        3,
        "one row per drug (oxazepam as an as-needed block)"
    );
    // The grid follows the administration agreement (06/12/18), not the agreement.
    assert_eq!(mar.matches("class=\"slot-time\">06:00<").count(), 3);
    assert_eq!(mar.matches("class=\"slot-time\">23:00<").count(), 0);
}

/// A patient with resuscitation permitted but no ventilation and ICU only after consultation,
/// in isolation and at fall risk.
fn limited_patient() -> PatientRecord {
    let mut p = realistic_patient("lim", "Bep Beperkt", "8-1");
    p.location.room = Some("Kamer 8".into());
    let d = |kind, treatment: &str, decision| Directive {
        kind,
        treatment: treatment.into(),
        decision,
        text: None,
        source: None,
        date: None,
        status: Some("active".into()),
        codes: vec![],
    };
    p.directives = Listed::Items {
        items: vec![
            d(DirectiveKind::Resuscitation, "Reanimatie", Decision::Permit),
            d(DirectiveKind::Treatment, "Beademing", Decision::Deny),
            d(DirectiveKind::Treatment, "IC-opname", Decision::Deny),
            d(DirectiveKind::Treatment, "Dialyse", Decision::Permit),
        ],
    };
    let alert = |kind, text: &str| Alert {
        kind,
        text: text.into(),
        code: None,
        codes: vec![],
        since: None,
        note: None,
    };
    p.alerts = Listed::Items {
        items: vec![
            alert(AlertKind::Isolation, "Contactisolatie (MRSA)"),
            alert(AlertKind::FallRisk, "Valrisico"),
        ],
    };
    p
}

#[test]
fn every_surface_with_the_resuscitation_policy_shows_the_other_limits_too() {
    let f = Fixture::new(Mode::Emergency);
    let ctx = f.ctx();
    let p = limited_patient();
    let sums = [PatientSummary::from(&p)];
    let rows: Vec<&PatientSummary> = sums.iter().collect();
    let surfaces = [
        (
            "overview",
            pages::ward_overview(&ctx, &rows, None, seen()).into_string(),
        ),
        (
            "ward list",
            pages::print_ward_list(&ctx, &rows, seen()).into_string(),
        ),
        (
            "mar",
            pages::print_mar(&ctx, std::slice::from_ref(&p), day(2026, 11, 22), 3, seen())
                .into_string(),
        ),
        (
            "patient",
            pages::patient_page(&ctx, &p, seen()).into_string(),
        ),
    ];
    for (name, html) in &surfaces {
        let seen = visible_text(html);
        assert!(seen.contains("Wel reanimeren"), "{name}");
        assert!(
            seen.contains("geen beademing, geen IC-opname"),
            "{name}: {seen}"
        );
        // A permitted treatment is not a limit.
        assert!(!seen.contains("geen dialyse"), "{name}");
        assert!(html.contains("class=\"limits\""), "{name}: warning colour");
        // Alerts in their own colours: isolation is not fall risk.
        assert!(html.contains("class=\"chip chip-isolation\""), "{name}");
        assert!(html.contains("class=\"chip chip-fall\""), "{name}");
    }
    // The MAR header (repeated on every sheet) carries the alerts and the limits.
    let mar = &surfaces[2].1;
    let head = &mar[mar.find("<thead>").unwrap()..mar.find("</thead>").unwrap()];
    for want in ["chip-isolation", "geen beademing", "Allergieën"] {
        assert!(head.contains(want), "MAR header lacks {want}");
    }
    // The patient page's banner is sticky and holds the chips before any section.
    let patient = &surfaces[3].1;
    let banner_end = patient.find("class=\"toc\"").unwrap();
    assert!(patient[..banner_end].contains("chip-isolation"));
    assert!(patient[..banner_end].contains("geen beademing"));
    assert!(pages::STYLESHEET.contains("position: sticky; top: 0;"));
}

#[test]
fn english_room_and_counts_read_right() {
    let mut f = Fixture::new(Mode::Emergency);
    f.lang = Language::En;
    let p = limited_patient();
    let html = visible_text(&pages::patient_page(&f.ctx(), &p, seen()).into_string());
    assert!(html.contains("Bed 8-1, room 8"), "{html}");
    assert!(
        !html.contains("Kamer"),
        "Dutch room word in the English view"
    );
    let sums = [PatientSummary::from(&p)];
    let rows: Vec<&PatientSummary> = sums.iter().collect();
    let one = visible_text(&pages::ward_overview(&f.ctx(), &rows, Some("8"), seen()).into_string());
    assert!(one.contains("1 result for"), "{one}");
    let nl = Fixture::new(Mode::Emergency);
    let one =
        visible_text(&pages::ward_overview(&nl.ctx(), &rows, Some("8"), seen()).into_string());
    assert!(one.contains("1 resultaat voor"), "{one}");
    assert!(!one.contains("1 resultaten"));
    let none = visible_text(&pages::ward_overview(&nl.ctx(), &[], Some("9"), seen()).into_string());
    assert!(none.contains("0 resultaten voor"), "{none}");
    let html = pages::ward_overview(&nl.ctx(), &rows, None, seen()).into_string();
    assert!(html.contains(" autofocus"), "the search box has focus");
}

#[test]
fn labels_sheet_has_24_labels_with_identity_and_a_barcode() {
    let f = Fixture::new(Mode::Drill);
    let p = limited_patient();
    let html = pages::print_labels(&f.ctx(), &p, seen()).into_string();
    assert_inert(&html);
    assert_eq!(html.matches("class=\"plabel\"").count(), 24);
    assert_eq!(html.matches("<svg class=\"barcode\"").count(), 24);
    let seen = visible_text(&html);
    for want in ["Bep Beperkt", "Bed 8-1, kamer 8"] {
        assert!(seen.contains(want), "{want}");
    }
    // Drill labels can never pass for real ones.
    assert_eq!(html.matches("class=\"plabel-drill\"").count(), 24);
    let mut e = Fixture::new(Mode::Emergency);
    e.lang = Language::Nl;
    let real = pages::print_labels(&e.ctx(), &p, pages_common::seen()).into_string();
    assert!(!real.contains("plabel-drill"));
    // No patient number: no barcode, said so.
    let mut q = p.clone();
    q.identity.patient_number = None;
    let none = pages::print_labels(&e.ctx(), &q, pages_common::seen()).into_string();
    assert!(!none.contains("class=\"barcode\""));
    assert!(none.contains("geen streepjescode"));
}
