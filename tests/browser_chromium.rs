//! A nurse in a real browser: headless Chromium logs in, sees the treatment limit beside the
//! resuscitation policy on the overview (on screen at 1280 and 800 px), finds the patient the
//! ways nurses type (bed, name fragment, patient number, BSN with spaces) with the search box
//! focused, reads allergies, resuscitation policy and medication under a banner that stays
//! in view, prints the labels sheet (its barcode decodes, by zbarimg, to the patient number)
//! and the MAR to PDF and PNG (every printed sheet of the patient page and the MAR names the
//! patient); axe-core finds no serious or critical accessibility violation on the login,
//! overview (1280 and 800 px), patient, labels and MAR pages; no hostile script runs and
//! nothing violates the CSP (the one same-origin script, the live data age, included).
//!
//! Needs Chromium and the npm packages: `tests/browser/install.sh` installs both. Fails when
//! they are missing, unless `NOODEPD_SKIP_BROWSER=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[test]
fn nurse_finds_patient_by_bed_reads_it_and_prints_the_mar_accessibly() {
    if std::env::var("NOODEPD_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("browser test skipped: NOODEPD_SKIP_BROWSER=1");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = chromium().expect(
        "Chromium not found: run tests/browser/install.sh (or set NOODEPD_SKIP_BROWSER=1 to skip)",
    );
    assert!(
        dir.join("node_modules/playwright-core").exists()
            && dir.join("node_modules/axe-core").exists(),
        "npm packages missing: run tests/browser/install.sh (or set NOODEPD_SKIP_BROWSER=1 to skip)"
    );
    let server = Server::start();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    // What the nurse must be able to read for the patient in bed 14: allergy, resuscitation
    // policy, medication (the last one is also checked on the MAR).
    let expect = serde_json::json!(["Pinda-allergie-zqx", "Reanimatie", "Metoprololzqx"]);
    let mut child = Command::new("node")
        .arg(dir.join("run.mjs"))
        .current_dir(&dir)
        .env("BASE_URL", format!("http://{}", server.addr))
        .env("LOGIN_USER", NURSE.0)
        .env("LOGIN_CODE", NURSE.1)
        .env("BED", "14")
        .env("LIMIT", LIMIT_B)
        .env("EXPECT", expect.to_string())
        .env("CHROMIUM", &chromium)
        .env("OUT", &out)
        .spawn()
        .expect("cannot run node");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("browser walk-through took longer than 180 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "browser walk-through failed (see stderr above)"
    );
    // Every printed sheet of the patient page (Ctrl+P) names the patient in its running
    // header, so a loose page 2 cannot be filed with the wrong patient. The MAR repeats its
    // table head the same way, but Chromium repeats a table head only while it is under a
    // quarter of the sheet, which this patient's hostile 2 KB name and allergy texts exceed;
    // so here only its first sheet is checked (realistic MARs: docs/ARCHITECTURE.md, web).
    for (pdf, all) in [("patient.pdf", true), ("mar.pdf", false)] {
        let sheets = pdf_pages(&out.join(pdf));
        assert!(!sheets.is_empty(), "{pdf} has no pages");
        let checked = if all { sheets.len() } else { 1 };
        for (i, text) in sheets.iter().take(checked).enumerate() {
            let t = text.to_lowercase();
            assert!(
                t.contains("oosterwold") && t.contains("pn-773102"),
                "{pdf} sheet {} of {} does not name the patient:\n{text}",
                i + 1,
                sheets.len()
            );
        }
    }
    assert!(
        pdf_pages(&out.join("patient.pdf")).len() >= 2,
        "the patient printout fits one sheet, so the running header is not exercised"
    );
    // The labels sheet as Chromium prints it: every barcode zbarimg finds is the patient
    // number (pdftoppm renders the PDF at 300 dpi).
    let png = out.join("labels");
    let r = Command::new("pdftoppm")
        .args(["-r", "300", "-f", "1", "-l", "1", "-png", "-singlefile"])
        .arg(out.join("labels.pdf"))
        .arg(&png)
        .status()
        .expect("pdftoppm missing: run tests/browser/install.sh");
    assert!(r.success(), "pdftoppm failed on labels.pdf");
    let z = Command::new("zbarimg")
        .args(["--quiet", "--raw"])
        .arg(png.with_extension("png"))
        .output()
        .expect("zbarimg missing: run tests/browser/install.sh");
    let codes = String::from_utf8_lossy(&z.stdout).into_owned();
    assert!(
        !codes.trim().is_empty() && codes.lines().all(|l| l == "PN-773102"),
        "barcodes on the printed labels read {codes:?}"
    );
    for png in ["mar.png", "patient.png", "overview.png", "overview-800.png"] {
        let b = std::fs::read(out.join(png)).unwrap();
        assert!(b.starts_with(b"\x89PNG"), "{png} is not a PNG");
    }
    // The walk-through is on record: login, search, patient view and print.
    let kinds: Vec<String> = server
        .audit_entries()
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    for k in ["login", "search", "patient_view", "print"] {
        assert!(
            kinds.iter().any(|x| x == k),
            "no {k} in the audit log: {kinds:?}"
        );
    }
    let view = server
        .audit_entries()
        .into_iter()
        .find(|e| e["kind"] == "patient_view")
        .unwrap();
    assert_eq!(view["patients"][0]["key"], KEY_B);
}

/// The text of each page of a PDF, by poppler's pdfinfo/pdftotext (installed by
/// tests/browser/install.sh).
fn pdf_pages(pdf: &Path) -> Vec<String> {
    let info = Command::new("pdfinfo")
        .arg(pdf)
        .output()
        .expect("pdfinfo missing: run tests/browser/install.sh");
    assert!(info.status.success(), "pdfinfo failed on {}", pdf.display());
    let pages: usize = String::from_utf8_lossy(&info.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:").map(|n| n.trim().parse().unwrap()))
        .expect("pdfinfo printed no page count");
    (1..=pages)
        .map(|p| {
            let o = Command::new("pdftotext")
                .args(["-f", &p.to_string(), "-l", &p.to_string(), "-layout"])
                .arg(pdf)
                .arg("-")
                .output()
                .expect("pdftotext missing: run tests/browser/install.sh");
            assert!(o.status.success(), "pdftotext failed on page {p}");
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect()
}
