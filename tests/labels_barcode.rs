//! The barcode on the patient labels sheet decodes to the patient number: the bars are
//! taken from the rendered page (the SVG rectangles the browser draws), rasterised without
//! any noodepd code, and read by an independent decoder, zbarimg (Debian's zbar-tools,
//! installed by tests/browser/install.sh). The browser test also decodes a real Chromium
//! print of the sheet.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

mod pages_common;

use noodepd::mode::Mode;
use noodepd::web::pages;
use pages_common::*;
use std::process::Command;

/// The bars (x, width) and the total width in modules of the first barcode on a page.
fn bars_of(html: &str) -> (Vec<(u32, u32)>, u32) {
    let svg_at = html
        .find("<svg class=\"barcode\"")
        .expect("a barcode on the page");
    let svg = &html[svg_at..svg_at + html[svg_at..].find("</svg>").unwrap()];
    let vb = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
    let width: u32 = vb[..vb.find(' ').unwrap()].parse().unwrap();
    let attr = |tag: &str, name: &str| -> u32 {
        let tag = format!(" {tag}");
        let v = tag.split(&format!(" {name}=\"")).nth(1).unwrap();
        v[..v.find('"').unwrap()].parse().unwrap()
    };
    let bars = svg
        .split("<rect ")
        .skip(1)
        .filter(|r| r.contains("fill=\"#000\""))
        .map(|r| (attr(r, "x"), attr(r, "width")))
        .collect();
    (bars, width)
}

/// A PGM image of the bars, 3 pixels per module, 90 pixels high.
fn pgm(bars: &[(u32, u32)], width: u32) -> Vec<u8> {
    let (scale, height) = (3u32, 90u32);
    let mut row = vec![255u8; (width * scale) as usize];
    for &(x, w) in bars {
        for px in x * scale..(x + w) * scale {
            row[px as usize] = 0;
        }
    }
    let mut out = format!("P5\n{} {height}\n255\n", width * scale).into_bytes();
    for _ in 0..height {
        out.extend_from_slice(&row);
    }
    out
}

#[test]
fn label_barcode_decodes_to_the_patient_number_with_zbarimg() {
    let zbar = Command::new("zbarimg").arg("--version").output();
    assert!(
        zbar.is_ok(),
        "zbarimg missing: run tests/browser/install.sh (installs Debian's zbar-tools)"
    );
    let f = Fixture::new(Mode::Emergency);
    let dir = tempfile::tempdir().unwrap();
    for number in ["PN-773101", "1000076", "0000012345", "Z-9/ab c~"] {
        let mut p = realistic_patient("k", "Ans Etiket", "4-2");
        p.identity.patient_number = Some(number.into());
        let html = pages::print_labels(&f.ctx(), &p, seen()).into_string();
        let (bars, width) = bars_of(&html);
        let img = dir.path().join("label.pgm");
        std::fs::write(&img, pgm(&bars, width)).unwrap();
        let out = Command::new("zbarimg")
            .args(["--quiet", "--raw", "-Sdisable", "-Scode128.enable"])
            .arg(&img)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.trim_end_matches('\n'),
            number,
            "zbarimg read {text:?} for {number:?} (status {:?})",
            out.status
        );
    }
}
