//! What a nurse sees of medication, rendered from real shapes: the MP9 scenarios and the
//! Nictiz MP9 3.0 examples mapped by the FHIR mapper, then the patient page and the MAR.
//! A stopped, paused, cancelled or ended drug is never shown as current; a paused one says
//! so; what could not be read is counted on the page and the MAR; the raw `unknown` is
//! never shown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod pages_common;

use chrono::{DateTime, Utc};
use noodepd::config::Language;
use noodepd::fhir::{self, MapOptions};
use noodepd::mode::Mode;
use noodepd::record::{PatientRecord, WardRecord};
use noodepd::web::pages;
use pages_common::*;
use std::path::PathBuf;

fn map_at(dir: &str, now: &str) -> WardRecord {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let docs = fhir::input::read_documents(&[path]).unwrap();
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(now).unwrap().into();
    fhir::map_documents(&docs, &MapOptions::new(now, "test"))
}

fn scenarios() -> WardRecord {
    map_at("noodepd-mp9-scenarios", "2026-11-22T06:00:00Z")
}

fn by_bsn(r: &WardRecord, bsn: &str) -> PatientRecord {
    r.patients
        .iter()
        .find(|p| p.identity.bsn.as_deref() == Some(bsn))
        .cloned()
        .unwrap()
}

/// The table of current medication on a patient page ("" when there is none).
fn current_table(html: &str) -> &str {
    let Some(start) = html.find("<table class=\"data meds\">") else {
        return "";
    };
    let end = html[start..].find("</table>").unwrap();
    &html[start..start + end]
}

/// One section of the patient page.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap();
    let end = html[start..].find("</section>").unwrap();
    &html[start..start + end]
}

/// The stopped, ended and cancelled treatments on a patient page ("" when there are none).
fn past_part(html: &str) -> &str {
    let Some(start) = html.find("<details class=\"medpast\">") else {
        return "";
    };
    let end = html[start..].find("</section>").unwrap();
    &html[start..start + end]
}

/// Removes every `<details>…</details>` (history kept out of sight until opened).
fn without_history(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find("<details") {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find("</details>") else {
            return out;
        };
        rest = &rest[i + j + "</details>".len()..];
    }
    out.push_str(rest);
    out
}

/// The rows of the MAR whose drug cell names `drug`.
fn mar_rows<'a>(html: &'a str, drug: &str) -> Vec<&'a str> {
    html.match_indices("<tr class=\"mar-line")
        .map(|(i, _)| {
            let end = html[i..].find("</tr>").unwrap();
            &html[i..i + end]
        })
        .filter(|row| row.contains(drug))
        .collect()
}

fn mar(f: &Fixture, p: &PatientRecord) -> String {
    pages::print_mar(
        &f.ctx(),
        std::slice::from_ref(p),
        day(2026, 11, 22),
        3,
        seen(),
    )
    .into_string()
}

#[test]
fn paused_apixaban_is_shown_as_paused_not_current() {
    let f = Fixture::new(Mode::Emergency);
    let p = by_bsn(&scenarios(), "999911132");
    let html = pages::patient_page(&f.ctx(), &p, seen()).into_string();
    let table = current_table(&html);
    assert!(table.contains("APIXABAN TABLET 5MG"), "listed, as paused");
    assert!(table.contains("<tr class=\"med-paused\">"));
    assert!(table.contains("ONDERBROKEN sinds 21-11-2026 08:00"));
    assert!(!table.contains(">actueel"), "never 'actueel'");
    // The MAR: one row, no initials boxes, "do not give" across the days.
    let page = mar(&f, &p);
    let rows = mar_rows(&page, "APIXABAN");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("mar-paused"));
    assert!(rows[0].contains("ONDERBROKEN sinds 21-11-2026 08:00"));
    assert!(rows[0].contains("niet geven"));
    assert!(!rows[0].contains("class=\"initials\""));
}

#[test]
fn paused_apixaban_with_a_resume_agreement_gets_boxes_from_the_resume_date() {
    let f = Fixture::new(Mode::Emergency);
    let p = by_bsn(&scenarios(), "999911144");
    let html = pages::patient_page(&f.ctx(), &p, seen()).into_string();
    assert!(
        current_table(&html)
            .contains("ONDERBROKEN sinds 20-11-2026 12:00, hervat op 25-11-2026 08:00")
    );
    let page = pages::print_mar(
        &f.ctx(),
        std::slice::from_ref(&p),
        day(2026, 11, 24),
        3,
        seen(),
    )
    .into_string();
    let rows = mar_rows(&page, "APIXABAN");
    assert_eq!(rows.len(), 2, "the paused row and the resume agreement");
    assert!(rows[0].contains("niet geven") && !rows[0].contains("class=\"initials\""));
    // The resume agreement: not on 24-11, boxes on 25 and 26-11 (08:00 and 20:00).
    assert_eq!(rows[1].matches("nog niet gestart").count(), 1);
    assert_eq!(rows[1].matches("class=\"initials\"").count(), 4);
}

#[test]
fn stopped_furosemide_shows_only_the_new_dose_on_the_page_and_the_mar() {
    let f = Fixture::new(Mode::Emergency);
    let p = by_bsn(&scenarios(), "999911156");
    let html = pages::patient_page(&f.ctx(), &p, seen()).into_string();
    let table = without_history(current_table(&html));
    assert!(table.contains("2 stuk"));
    assert!(!table.contains("1 stuk"), "the old dose is history only");
    assert!(table.contains("toedieningsafspraak niet meer geldig"));
    // The old dose is readable in the history.
    assert!(current_table(&html).contains("gestopt op 20-11-2026 23:59"));
    let page = mar(&f, &p);
    let rows = mar_rows(&page, "FUROSEMIDE");
    assert_eq!(rows.len(), 1, "one row, never old and new side by side");
    assert!(rows[0].contains("2 stuk") && !rows[0].contains("1 stuk"));
}

#[test]
fn cancelled_and_ended_drugs_are_not_among_the_current_ones() {
    let f = Fixture::new(Mode::Emergency);
    let r = scenarios();
    let cancelled = by_bsn(&r, "999911168");
    let html = pages::patient_page(&f.ctx(), &cancelled, seen()).into_string();
    assert_eq!(current_table(&html), "");
    assert!(html.contains("Geen actuele medicatie"));
    assert!(past_part(&html).contains("CLARITROMYCINE"));
    assert!(past_part(&html).contains("geannuleerd"));
    // Known medication that all stopped is not "not recorded".
    assert!(!section(&html, "medicatie").contains("Niet vastgelegd"));
    assert!(mar_rows(&mar(&f, &cancelled), "CLARITROMYCINE").is_empty());

    let ended = by_bsn(&r, "999911181");
    let html = pages::patient_page(&f.ctx(), &ended, seen()).into_string();
    let table = current_table(&html);
    assert!(table.contains("Metoprolol"));
    for gone in ["Marcoumar", "Fenprocoumon", "Acenocoumarol", "Digoxine"] {
        assert!(!table.contains(gone), "{gone} is not current");
    }
    let past = past_part(&html);
    assert!(past.contains("beëindigd op 11-03-2023 10:00"), "digoxin");
    assert!(past.contains("beëindigd op 01-06-2021"), "acenocoumarol");
    let page = mar(&f, &ended);
    assert_eq!(page.matches("<tr class=\"mar-line").count(), 1);
    assert_eq!(mar_rows(&page, "Metoprolol").len(), 1);
}

#[test]
fn what_could_not_be_read_is_counted_on_the_page_and_the_mar() {
    let f = Fixture::new(Mode::Emergency);
    let p = by_bsn(&scenarios(), "999911193");
    let html = pages::patient_page(&f.ctx(), &p, seen()).into_string();
    assert!(html.contains("<strong>3 gegevens konden niet worden gelezen</strong>"));
    assert!(html.contains("<details class=\"unread-details\">"));
    assert!(html.contains("MedicationOrder"));
    assert!(html.contains("FHIR-versie wordt niet gelezen"));
    assert!(html.contains("IDENTITEIT NIET EENDUIDIG"));
    assert!(html.contains("29-02-1960") || html.contains("1960-02-29"));
    let table = current_table(&html);
    assert!(table.contains("Paracetamol 500 mg tablet"));
    assert!(table.contains("kon niet volledig worden gelezen — controleer in de bron"));
    assert!(table.contains("NDC 0069-0105-68"));
    let page = mar(&f, &p);
    assert!(page.contains("<strong>3 gegevens konden niet worden gelezen</strong>"));
    assert!(page.contains("IDENTITEIT NIET EENDUIDIG"));
    let rows = mar_rows(&page, "Paracetamol");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("controleer in de bron voordat u geeft"));
    assert!(!rows[0].contains("class=\"initials\""), "no boxes to tick");
}

#[test]
fn english_view_says_paused_stopped_and_not_read_in_english() {
    let mut f = Fixture::new(Mode::Emergency);
    f.lang = Language::En;
    let r = scenarios();
    let html = pages::patient_page(&f.ctx(), &by_bsn(&r, "999911132"), seen()).into_string();
    assert!(html.contains("PAUSED since 21-11-2026 08:00"));
    let html = pages::patient_page(&f.ctx(), &by_bsn(&r, "999911156"), seen()).into_string();
    assert!(html.contains("stopped on 20-11-2026 23:59"));
    let html = pages::patient_page(&f.ctx(), &by_bsn(&r, "999911193"), seen()).into_string();
    assert!(html.contains("3 items could not be read"));
    assert!(html.contains("could not be fully read — check the source"));
    assert!(html.contains("IDENTITY NOT UNAMBIGUOUS"));
    assert!(!html.contains("ONDERBROKEN") && !html.contains("gegevens konden"));
}

/// The visible text of a page (tags removed).
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn mp9_3_0_unknown_status_is_never_shown_raw() {
    let f = Fixture::new(Mode::Emergency);
    // Script 1 on the day after its first administrations: every block and every
    // administration carries status "unknown".
    let r = map_at("nictiz-mp9-300", "2024-10-18T12:00:00Z");
    let p = by_bsn(&r, "999900663");
    let html = pages::patient_page(&f.ctx(), &p, seen()).into_string();
    let visible = text(&html).to_lowercase();
    if let Some(i) = visible.find("unknown") {
        panic!(
            "raw 'unknown' on the page: …{}…",
            &visible[i.saturating_sub(200)..i + 50]
        );
    }
    assert!(visible.contains("status onbekend"));
    assert!(
        !visible.contains("niet gegeven"),
        "unknown is not 'not given'"
    );
    assert!(current_table(&html).contains("actueel, stopt op 06-11-2024 22:59"));
    let page = mar(&f, &p);
    assert!(!text(&page).to_lowercase().contains("unknown"));
}

#[test]
fn every_scenario_page_and_mar_renders_inert() {
    let f = Fixture::new(Mode::Emergency);
    let r = scenarios();
    let out = std::env::var("NOODEPD_PAGES_OUT").ok();
    for (i, p) in r.patients.iter().enumerate() {
        let page = pages::patient_page(&f.ctx(), p, seen()).into_string();
        let sheet = mar(&f, p);
        assert_inert(&page);
        assert_inert(&sheet);
        if let Some(dir) = &out {
            std::fs::create_dir_all(dir).unwrap();
            for (name, html) in [("med_patient", &page), ("med_mar", &sheet)] {
                std::fs::write(
                    format!("{dir}/{name}_{i}.html"),
                    html.replace("\"/static/style.css\"", "\"static/style.css\""),
                )
                .unwrap();
            }
        }
    }
}

#[test]
fn stopped_agreement_with_an_administration_agreement_still_running_gets_no_boxes() {
    use noodepd::record::{BlockStatus, Listed, MedicationKind};
    let f = Fixture::new(Mode::Emergency);
    let mut p = realistic_patient("p1", "J", "12");
    // The agreement was stopped; an administration agreement that names no agreement still
    // runs: the nurse must check, never tick boxes from the stopped agreement.
    let mut ma = line(
        "ma",
        drug("Digoxine", "0,125 mg"),
        vec![timed("1 stuk", "oraal", &[hm(8, 0)])],
    );
    ma.facts.status = BlockStatus::Stopped;
    let mut ta = line(
        "ta",
        drug("Digoxine", "0,125 mg"),
        vec![timed("1 stuk", "oraal", &[hm(8, 0)])],
    );
    ta.kind = MedicationKind::AdministrationAgreement;
    let t = noodepd::record::medication::resolve(
        "dig".into(),
        None,
        vec![
            noodepd::record::Block {
                line: ma,
                refers: vec![],
            },
            noodepd::record::Block {
                line: ta,
                refers: vec![],
            },
        ],
        now(),
    );
    assert!(t.listed_now());
    p.medication = Listed::Items { items: vec![t] };
    let page = pages::patient_page(&f.ctx(), &p, seen()).into_string();
    assert!(current_table(&page).contains("een toedieningsafspraak loopt nog"));
    let sheet = mar(&f, &p);
    let rows = mar_rows(&sheet, "Digoxine");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("controleer in de bron voordat u geeft"));
    assert!(!rows[0].contains("class=\"initials\""));
}
