//! The printed MAR as a nurse reads it at 14:17 with data as of 14:05 (Amsterdam): every
//! box before the data time shows what the EPD recorded (G with the time and who, NIET
//! GEGEVEN with the reason) or is greyed "vóór peilmoment"; boxes after it are empty; a
//! dose off the schedule is printed, not dropped; "laatst gegeven" per drug; an as-needed
//! drug gets a block of its maximum per day with its recorded doses; high-risk drugs are
//! marked; units are written out; drugs come in the stated order; every sheet says
//! "blad x van y" and the last one ends the list with the number of drugs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod pages_common;

use chrono::{DateTime, Utc};
use noodepd::mode::Mode;
use noodepd::record::*;
use noodepd::web::pages;
use pages_common::*;

fn atc(code: &str) -> Code {
    Code {
        system: Some("http://www.whocc.no/atc".into()),
        code: Some(code.into()),
        display: None,
    }
}

fn q(value: f64, unit: &str) -> Quantity {
    Quantity {
        value,
        unit: Some(unit.into()),
        system: Some("http://unitsofmeasure.org".into()),
        code: Some(unit.into()),
    }
}

fn admin(line: &str, at: DateTime<Utc>, status: &str, reason: Option<&str>) -> Administration {
    Administration {
        status: Some(status.into()),
        status_reason: reason.map(Into::into),
        ..given(line, "x", at)
    }
}

/// The realistic patient plus amlodipine (08:00 nothing recorded, 12:00 not given),
/// insulin (high-risk, "8 E"), an extra metoprolol dose at 11:00 and an oxazepam dose at
/// 03:00 with its maximum of 2 per day.
fn patient() -> PatientRecord {
    let mut p = realistic_patient("p1", "Johanna Visser", "3-1");
    let mut insulin = drug("Insuline aspart", "100 E/ml");
    insulin.codes = vec![atc("A10AB05")];
    let mut ins = timed("8 E", "subcutaan", &[hm(8, 0), hm(12, 0), hm(18, 0)]);
    ins.dose_quantity = Some(q(8.0, "[iU]"));
    if let Listed::Items { items } = &mut p.medication {
        items.push(single(line(
            "med-4",
            drug("Amlodipine", "5 mg"),
            vec![timed("1 stuk", "oraal", &[hm(8, 0), hm(12, 0)])],
        )));
        items.push(single(line("med-5", insulin, vec![ins])));
        for t in items.iter_mut() {
            for b in t.blocks.iter_mut().filter(|b| b.id == "med-3") {
                for d in b.dosages.iter_mut() {
                    d.dose_quantity = Some(q(1.0, "stuk"));
                    d.max_per_period = Some(MaxDose {
                        quantity: q(2.0, "stuk"),
                        per: q(1.0, "d"),
                    });
                }
            }
        }
    }
    if let Listed::Items { items } = &mut p.administrations {
        items.push(admin(
            "med-4",
            utc(2026, 11, 22, 11, 10),
            "not-done",
            Some("Patiënt nuchter"),
        ));
        items.push(admin("med-2", utc(2026, 11, 22, 10, 0), "completed", None));
        items.push(admin("med-3", utc(2026, 11, 22, 2, 0), "completed", None));
    }
    p
}

fn mar(p: &PatientRecord, days: u32) -> String {
    let f = Fixture::new(Mode::Emergency);
    pages::print_mar(
        &f.ctx(),
        std::slice::from_ref(p),
        day(2026, 11, 22),
        days,
        seen(),
    )
    .into_string()
}

/// The `<tr class="mar-line…">` rows (with nested PRN tables) naming `drug`.
fn rows(html: &str, drug: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<tr class=\"mar-line") {
        let tail = &rest[i..];
        // A row ends at the next top-level MAR row or the end of the body.
        let end = [
            "<tr class=\"mar-line",
            "<tr class=\"mar-section",
            "<tr class=\"mar-blank",
            "</tbody></table></section>",
        ]
        .iter()
        .filter_map(|m| tail[1..].find(m).map(|j| j + 1))
        .min()
        .unwrap_or(tail.len());
        let row = &tail[..end];
        if row.contains(drug) {
            out.push(row.to_owned());
        }
        rest = &tail[end..];
    }
    out
}

/// The cells of the first day (the row's fourth cell on: drug, dose, last given, days).
fn day_cells(row: &str) -> Vec<&str> {
    row.split("<td class=\"mar-day").skip(1).collect()
}

#[test]
fn boxes_before_the_data_time_show_what_the_epd_recorded() {
    let html = mar(&patient(), 2);
    // Metoprolol 08:00: given at 08:02 by M. Jansen; the 11:00 dose fits no box and is
    // printed as an extra; tomorrow's box is empty.
    let m = rows(&html, "Metoprolol");
    assert_eq!(m.len(), 1);
    let days = day_cells(&m[0]);
    assert!(days[0].contains("<strong>G</strong> 08:02"), "{}", days[0]);
    // Who gave it: initials in the box, the full name under "laatst gegeven".
    assert!(
        days[0].contains(r#"<span class="rec-who">MJ</span>"#),
        "{}",
        days[0]
    );
    assert!(m[0].contains("M. Jansen"));
    assert!(days[0].contains("ook vastgelegd") && days[0].contains("11:00"));
    assert!(!days[1].contains("rec-") && !days[1].contains("before"));
    // Amlodipine: 08:00 nothing recorded before the data time (greyed), 12:00 not given
    // with the reason.
    let a = rows(&html, "Amlodipine");
    let d0 = day_cells(&a[0])[0];
    assert!(d0.contains("slot before"), "{d0}");
    assert!(d0.contains("<strong>NIET GEGEVEN</strong> 12:10"), "{d0}");
    assert!(d0.contains("Patiënt nuchter"));
    // Paracetamol 08:00 and 14:00 given; 20:00 and 23:00 after the data time: open.
    let pc = rows(&html, "Paracetamol");
    let d0 = day_cells(&pc[0])[0];
    assert_eq!(d0.matches("rec-given").count(), 2, "{d0}");
    assert_eq!(d0.matches("<span class=\"slot\">").count(), 2, "{d0}");
    // Laatst gegeven: the latest administration with time, dose and who.
    assert!(m[0].contains("class=\"mar-last\"") && m[0].contains("<strong>11:00</strong>"));
}

#[test]
fn high_risk_drugs_are_marked_units_written_out_and_insulin_gets_room_for_glucose() {
    let html = mar(&patient(), 1);
    let ins = rows(&html, "Insuline aspart");
    assert_eq!(ins.len(), 1);
    assert!(ins[0].contains("HOOG RISICO") && ins[0].contains("insuline"));
    assert!(ins[0].contains("8 eenheden") && ins[0].contains("100 eenheden/ml"));
    assert!(!ins[0].contains("8 E<") && !ins[0].contains(" E/ml"));
    // 08:00 and 12:00 greyed, 18:00 open with a glucose line.
    let d0 = day_cells(&ins[0])[0];
    assert_eq!(d0.matches("slot before").count(), 2);
    assert!(d0.contains("class=\"gluc\""));
    assert!(!rows(&html, "Metoprolol")[0].contains("HOOG RISICO"));
    // The patient page marks it too.
    let f = Fixture::new(Mode::Emergency);
    let page = pages::patient_page(&f.ctx(), &patient(), seen()).into_string();
    assert!(page.contains("HOOG RISICO"));
}

/// The as-needed day cells of a PRN row (a cell per printed day).
fn prn_day_cells(row: &str) -> Vec<&str> {
    row.split("<td class=\"mar-day mar-prncell")
        .skip(1)
        .collect()
}

#[test]
fn an_as_needed_drug_gets_its_maximum_per_day_of_rows_with_its_recorded_doses() {
    let html = mar(&patient(), 3);
    let ox = rows(&html, "Oxazepam");
    assert_eq!(ox.len(), 1, "one as-needed row, no grid boxes");
    assert!(ox[0].contains("mar-prn"));
    // The maximum once per drug, not per day.
    assert_eq!(ox[0].matches("max. 2 × per dag").count(), 1);
    let cells = prn_day_cells(&ox[0]);
    assert_eq!(cells.len(), 3, "one cell per day column");
    // 22-11 (the data time's day): the 03:00 dose in its own day's cell, one entry per
    // line, and 2 − 1 empty entries; 23-11 and 24-11: two empty entries each.
    assert!(
        cells[0].contains("<strong>G</strong> <span class=\"prn-t\">03:00</span>"),
        "{}",
        cells[0]
    );
    assert_eq!(
        cells[0].matches("class=\"prn-rec\"").count(),
        5,
        "one recorded entry"
    );
    assert_eq!(cells[0].matches("class=\"prn-row\"").count(), 2);
    assert!(cells[0].contains("uit EPD"), "{}", cells[0]);
    for c in &cells[1..] {
        assert!(!c.contains("prn-rec") && !c.contains("03:00"), "{c}");
        assert_eq!(c.matches("class=\"prn-row\"").count(), 2, "{c}");
    }
    // The entries' column names once, in the row above the as-needed rows, a cell per day
    // (not in every day's cell).
    assert!(!cells[0].contains("</th>"), "{}", cells[0]);
    let head = &html[html.find("mar-prn-head").expect("the as-needed head row")..];
    let head = &head[..head
        .find("<tr class=\"mar-line")
        .expect("an as-needed row under it")];
    assert!(head.contains("Zo nodig (als-nodig-medicatie)"));
    for h in ["tijd", "dosis", "reden", "effect", "paraaf"] {
        assert_eq!(
            head.matches(&format!(">{h}</th>")).count(),
            3,
            "{h}: one per day"
        );
    }
    // Starting the day before: a dose recorded on 21-11 sits in 21-11's cell with no empty
    // entries (before the data time nothing is written there); the 22-11 dose stays in
    // 22-11's cell.
    let mut p = patient();
    if let Listed::Items { items } = &mut p.administrations {
        items.push(admin("med-3", utc(2026, 11, 21, 19, 9), "completed", None));
    }
    let f = Fixture::new(Mode::Emergency);
    let html = pages::print_mar(
        &f.ctx(),
        std::slice::from_ref(&p),
        day(2026, 11, 21),
        2,
        seen(),
    )
    .into_string();
    let ox = rows(&html, "Oxazepam");
    let cells = prn_day_cells(&ox[0]);
    assert_eq!(cells.len(), 2);
    assert!(
        cells[0].contains("20:09") && !cells[0].contains("03:00"),
        "{}",
        cells[0]
    );
    assert_eq!(
        cells[0].matches("class=\"prn-row\"").count(),
        1,
        "recorded only"
    );
    assert!(
        cells[1].contains("03:00") && !cells[1].contains("20:09"),
        "{}",
        cells[1]
    );
    assert_eq!(cells[1].matches("class=\"prn-row\"").count(), 2);
    // A day before the data time with nothing recorded: greyed, no entries.
    let mut p = patient();
    if let Listed::Items { items } = &mut p.administrations {
        items.retain(|a| a.line_id.as_deref() != Some("med-3"));
    }
    let html = pages::print_mar(
        &f.ctx(),
        std::slice::from_ref(&p),
        day(2026, 11, 21),
        2,
        seen(),
    )
    .into_string();
    let ox = rows(&html, "Oxazepam");
    let cells = prn_day_cells(&ox[0]);
    assert!(
        cells[0].contains("prn-before") && cells[0].contains("vóór peil"),
        "{}",
        cells[0]
    );
    assert!(!cells[0].contains("prn-row"));
    assert_eq!(
        cells[1].matches("class=\"prn-row\"").count(),
        2,
        "{}",
        cells[1]
    );
    // Without a maximum: the fallback's four entries less the recorded one, and the row
    // says so.
    let mut p = patient();
    if let Listed::Items { items } = &mut p.medication {
        for t in items.iter_mut() {
            for b in t.blocks.iter_mut() {
                for d in b.dosages.iter_mut() {
                    d.max_per_period = None;
                }
            }
        }
    }
    let html = mar(&p, 2);
    let ox = rows(&html, "Oxazepam");
    assert!(ox[0].contains("maximum per dag niet vastgelegd"));
    let cells = prn_day_cells(&ox[0]);
    assert_eq!(
        cells[0].matches("class=\"prn-row\"").count(),
        4,
        "1 recorded + 3 empty"
    );
    assert_eq!(cells[1].matches("class=\"prn-row\"").count(), 4, "4 empty");
}

#[test]
fn drugs_come_in_order_and_every_sheet_is_numbered_with_an_end_marker() {
    let html = mar(&patient(), 3);
    let order: Vec<usize> = [
        "Amlodipine",
        "Insuline aspart",
        "Metoprolol",
        "Paracetamol",
        "Oxazepam",
    ]
    .iter()
    .map(|d| {
        html.find(&format!("<strong>{d}</strong>"))
            .unwrap_or_else(|| panic!("{d} missing"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(html.contains("blad 1 van 1"));
    assert!(html.contains("einde toedienlijst — 5 geneesmiddelen"));
    assert!(html.contains("Lijst gecontroleerd door"));
    // A long list takes more sheets: each its own table with the patient header and its
    // number; only the last ends the list.
    let mut p = patient();
    if let Listed::Items { items } = &mut p.medication {
        for n in 0..30 {
            items.push(single(line(
                &format!("extra-{n}"),
                drug(&format!("Middel {n:02}"), "10 mg"),
                vec![timed("1 stuk", "oraal", &[hm(8, 0), hm(20, 0)])],
            )));
        }
    }
    let html = mar(&p, 3);
    let sheets = html.matches("<table class=\"mar mar-sheet\"").count();
    assert!(sheets >= 3, "{sheets} sheets for 35 drugs");
    for i in 1..=sheets {
        assert!(
            html.contains(&format!("blad {i} van {sheets}")),
            "blad {i} van {sheets}"
        );
    }
    assert_eq!(html.matches("Johanna Visser</span>").count(), sheets);
    assert_eq!(html.matches("einde toedienlijst").count(), 1);
    assert_eq!(html.matches("vervolg op blad").count(), sheets - 1);
    assert!(html.contains("einde toedienlijst — 35 geneesmiddelen"));
}

#[test]
fn the_previous_day_option_is_offered_and_shows_yesterday() {
    let f = Fixture::new(Mode::Emergency);
    let html = pages::print_mar(&f.ctx(), &[patient()], day(2026, 11, 22), 3, seen()).into_string();
    assert!(html.contains("?previous=1&amp;days=3"));
    let html = pages::print_mar(&f.ctx(), &[patient()], day(2026, 11, 21), 4, seen()).into_string();
    assert!(html.contains("za 21-11"));
    assert!(html.contains("zonder de vorige dag"));
}

/// The date-only fixture (tests/fixtures/noodepd-date-only, plain FHIR R4) mapped by the
/// FHIR mapper at the pages fixture's data time.
fn date_only_patient() -> PatientRecord {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/noodepd-date-only");
    let docs = noodepd::fhir::input::read_documents(&[path]).unwrap();
    let opts = noodepd::fhir::MapOptions::new(utc(2026, 11, 22, 13, 5), "test");
    noodepd::fhir::map_documents(&docs, &opts)
        .patients
        .into_iter()
        .find(|p| p.identity.bsn.as_deref() == Some("999911211"))
        .expect("the date-only fixture's patient")
}

/// The "laatst gegeven" cell of a MAR row.
fn last_cell(row: &str) -> &str {
    let i = row
        .find("class=\"mar-last\"")
        .expect("a laatst gegeven cell");
    let rest = &row[i..];
    &rest[..rest.find("</td>").unwrap_or(rest.len())]
}

#[test]
fn a_dose_recorded_with_a_date_only_is_on_its_day_with_time_unknown_never_later_than_a_timed_one() {
    let p = date_only_patient();
    // The mapper keeps the precision: a day, not a made-up midnight.
    let mut dated: Vec<&Moment> = p
        .administrations
        .items()
        .iter()
        .filter_map(|a| a.at.as_ref())
        .filter(|m| matches!(m, Moment::Day(_)))
        .collect();
    dated.sort_by_key(|m| m.earliest_utc());
    assert_eq!(
        dated,
        vec![
            &Moment::Day(day(2026, 11, 21)),
            &Moment::Day(day(2026, 11, 22))
        ]
    );
    let f = Fixture::new(Mode::Emergency);
    let html = pages::print_mar(
        &f.ctx(),
        std::slice::from_ref(&p),
        day(2026, 11, 21),
        2,
        seen(),
    )
    .into_string();
    // Metoprolol 08:00: on 21-11 the box claims no time (greyed, nothing recorded at a
    // time); the date-only dose is in that day's cell with its dose and who.
    let m = rows(&html, "Metoprolol");
    assert_eq!(m.len(), 1);
    let days = day_cells(&m[0]);
    assert!(days[0].contains("slot before"), "{}", days[0]);
    assert!(!days[0].contains("rec-given"), "{}", days[0]);
    assert!(days[0].contains("ook vastgelegd"), "{}", days[0]);
    assert!(
        days[0].contains("<strong>G</strong> — tijd onbekend"),
        "{}",
        days[0]
    );
    assert!(
        days[0].contains("50 mg") && days[0].contains("RS"),
        "{}",
        days[0]
    );
    assert!(!days[1].contains("tijd onbekend"), "{}", days[1]);
    // Laatst gegeven: the date-only dose of 21-11, later than 20-11 08:03.
    let last = last_cell(&m[0]);
    assert!(last.contains("21-11 — tijd onbekend"), "{last}");
    assert!(
        last.contains("Rob Smits") && !last.contains("08:03"),
        "{last}"
    );
    // Paracetamol as needed: 22-11's cell lists the 00:30 dose, then the date-only one;
    // the latest is 00:30, not "some time on 22-11".
    let pc = rows(&html, "Paracetamol");
    let cells = prn_day_cells(&pc[0]);
    assert_eq!(cells.len(), 2);
    let (a, b) = (
        cells[1].find("00:30").expect("the 00:30 dose"),
        cells[1].find("tijd onbekend").expect("the date-only dose"),
    );
    assert!(a < b, "{}", cells[1]);
    assert!(!cells[0].contains("tijd onbekend"), "{}", cells[0]);
    let last = last_cell(&pc[0]);
    assert!(
        last.contains("00:30") && !last.contains("tijd onbekend"),
        "{last}"
    );
    // The patient page: last given and the administrations list say "tijd onbekend", in
    // that order (the 00:30 dose above the date-only one of its day).
    let page = pages::patient_page(&f.ctx(), &p, seen()).into_string();
    assert!(
        page.contains("21-11-2026 — tijd onbekend"),
        "no date-only dose on the page"
    );
    let list = &page[page
        .find("22-11-2026 00:30")
        .expect("the 00:30 dose listed")..];
    assert!(list.contains("22-11-2026 — tijd onbekend"));
}
