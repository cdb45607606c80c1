//! `noodepd preview` as IT staff run it: the real binary on fixture files, `--json` parsed
//! back, text mode readable, malformed input refused with a non-zero exit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(p)
}

fn preview(args: &[&str], inputs: &[PathBuf]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_noodepd"))
        .arg("preview")
        .args(args)
        .args(inputs)
        .output()
        .unwrap()
}

#[test]
fn preview_json_lists_patients_and_a_balanced_report() {
    let out = preview(
        &[
            "--json",
            "--now",
            "2026-11-22T07:00:00+01:00",
            "--ward",
            "C4O",
        ],
        &[
            fixture("nictiz-zib2020"),
            fixture("ips-2.0.0/Bundle-bundle-ips-all-sections.json"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ward"], "C4O");
    let patients = v["patients"].as_array().unwrap();
    assert_eq!(patients.len(), 3);
    let jordana = patients
        .iter()
        .find(|p| p["identity"]["name"]["display"] == "Patricia JORDANA")
        .unwrap();
    assert_eq!(jordana["allergies"]["status"], "items");
    assert_eq!(jordana["allergies"]["items"][0]["substance"], "Penicillin");
    assert_eq!(jordana["directives"]["items"][0]["decision"], "deny");
    assert_eq!(jordana["directives"]["items"][0]["kind"], "resuscitation");
    let piet = patients
        .iter()
        .find(|p| p["identity"]["bsn"] == "999911120")
        .unwrap();
    assert_eq!(piet["allergies"]["status"], "not_recorded");
    assert_eq!(piet["directives"]["items"][0]["decision"], "other");

    let report = &v["report"];
    let by_type = report["by_type"].as_object().unwrap();
    let (mut input, mut mapped, mut not_shown) = (0, 0, 0);
    for c in by_type.values() {
        input += c["input"].as_u64().unwrap();
        mapped += c["mapped"].as_u64().unwrap();
        not_shown += c["not_shown"].as_u64().unwrap();
    }
    assert_eq!(input, 67 + 42);
    assert_eq!(mapped + not_shown, input);
    assert_eq!(
        report["not_shown"].as_array().unwrap().len() as u64,
        not_shown
    );
    assert!(
        report["not_shown"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["resource_type"] == "Immunization" && n["reason"] == "unsupported_type")
    );
    assert!(
        report["not_shown"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |n| n["id"] == "nl-core-AllergyIntolerance-01" && n["reason"] == "entered_in_error"
            )
    );
}

#[test]
fn preview_text_shows_amsterdam_times_and_tells_unknown_from_none() {
    let out = preview(
        &["--now", "2014-06-04T12:00:00Z"],
        &[fixture("nictiz-zib2020")],
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Johanna Petronella Maria van Putten-van der Giessen"));
    // 2014-06-03T16:19:07+02:00 administration, shown in Amsterdam time.
    assert!(text.contains("PANTOPRAZOL MYLAN TABLET MSR 20MG"), "{text}");
    assert!(text.contains("03-06-2014 16:19"), "{text}");
    assert!(text.contains("Allergieën: niet vastgelegd"));
    assert!(text.contains("Penicilline (hoog risico)"));
    assert!(text.contains("Ingest-rapport: 67 resources gelezen"));
    assert!(
        text.contains("nl-core-AllergyIntolerance-01: entered_in_error"),
        "{text}"
    );
    assert!(text.contains("| vrouw"));
}

#[test]
fn preview_refuses_malformed_input_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("export.ndjson");
    std::fs::write(
        &bad,
        "{\"resourceType\":\"Patient\",\"id\":\"p1\"}\nnot json\n",
    )
    .unwrap();
    let out = preview(&["--json"], &[bad]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("export.ndjson line 2"), "{err}");
}

#[test]
fn preview_rejects_a_bad_now() {
    let out = preview(
        &["--now", "gisteren"],
        &[fixture("ips-2.0.0/Bundle-bundle-minimal.json")],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--now"));
}
