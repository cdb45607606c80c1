//! Renders the pages for a generated, realistic ward (generator → FHIR mapper → pages):
//! every patient page, the overview, the ward list and the MAR for all patients. Guards
//! that real-shaped data renders completely (every patient present, every page inert,
//! one initials row per active medication line) and, with NOODEPD_PAGES_OUT=DIR set,
//! writes the pages for screenshots.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod pages_common;

use noodepd::fhir::MapOptions;
use noodepd::generate::{GenerateOptions, generate};
use noodepd::mode::Mode;
use noodepd::record::summary::PatientSummary;
use noodepd::web::pages;
use pages_common::*;

#[test]
fn generated_ward_renders_every_patient_on_every_view() {
    let now = now();
    let g = generate(&GenerateOptions::new(12, 7, "A3", now));
    let (ward_id, bundle) = g.bundles.first().unwrap();
    let payload = serde_json::to_vec(bundle).unwrap();
    let ward =
        noodepd::fhir::map_payload(&payload, &MapOptions::new(now, ward_id.clone())).unwrap();
    assert_eq!(ward.patients.len(), 12);

    let f = Fixture::new(Mode::Drill);
    let ctx = f.ctx();
    let mut sums: Vec<PatientSummary> = ward.patients.iter().map(PatientSummary::from).collect();
    sums.sort_by(|a, b| a.bed.cmp(&b.bed));
    let rows: Vec<&PatientSummary> = sums.iter().collect();

    let overview = pages::ward_overview(&ctx, &rows, None, seen()).into_string();
    let list = pages::print_ward_list(&ctx, &rows, seen()).into_string();
    let mar = pages::print_mar(
        &ctx,
        &ward.patients,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
        3,
        seen(),
    )
    .into_string();
    for html in [&overview, &list, &mar] {
        assert_inert(html);
        assert!(html.contains("OEFENING / DRILL"));
    }
    assert_eq!(
        mar.matches("class=\"mar-patient\"").count(),
        ward.patients.len()
    );
    // One MAR row per line given: a treatment's administration agreement, else its
    // agreement; a paused treatment one row without boxes. One drug therapy is one
    // treatment, so the MAR never shows one drug's agreement and administration agreement
    // side by side.
    let rows: usize = ward
        .patients
        .iter()
        .map(|p| pages::medgroup::mar_rows(p.medication.items()).len())
        .sum();
    let blocks: usize = ward
        .patients
        .iter()
        .flat_map(|p| p.medication.items())
        .map(|t| t.blocks.len())
        .sum();
    assert!(
        rows < blocks,
        "the generated ward has administration agreements and history"
    );
    assert_eq!(mar.matches("class=\"mar-line").count(), rows);

    let out = std::env::var("NOODEPD_PAGES_OUT").ok();
    for (i, p) in ward.patients.iter().enumerate() {
        let html = pages::patient_page(&ctx, p, seen()).into_string();
        assert_inert(&html);
        let shown =
            noodepd::web::pages::text::clean(&p.identity.name.display).replace('&', "&amp;");
        assert!(html.contains(&shown), "patient {i} name on its page");
        assert!(overview.contains(&shown), "patient {i} in the overview");
        if let Some(dir) = &out {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(
                format!("{dir}/gen_patient_{i}.html"),
                html.replace("\"/static/style.css\"", "\"static/style.css\""),
            )
            .unwrap();
        }
    }
    if let Some(dir) = &out {
        for (name, html) in [
            ("gen_overview", &overview),
            ("gen_ward_list", &list),
            ("gen_mar", &mar),
        ] {
            std::fs::write(
                format!("{dir}/{name}.html"),
                html.replace("\"/static/style.css\"", "\"static/style.css\""),
            )
            .unwrap();
        }
    }
}
