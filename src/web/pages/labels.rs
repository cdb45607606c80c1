//! The patient labels sheet: one A4 (portrait) of 3 × 8 identification labels (70 × 36 mm,
//! the usual downtime label sheet) for tubes and paper forms, each with name, birth date,
//! sex, patient number, BSN, ward and bed, and a Code 128 barcode of the patient number.
//! Printing it is audited like a MAR (the route writes the `print` entry first). In a drill
//! every label says OEFENING, so a drill label can never pass for a real one; the data age
//! is on the screen view only (a label identifies a person, it holds no clinical data).
//!
//! The barcode is drawn here as SVG rectangles from the Code 128 tables (ISO/IEC 15417),
//! code set B (printable ASCII), with its check character and 10-module quiet zones: a
//! small, fixed table and ~40 lines, so no barcode crate (see docs/ARCHITECTURE.md).
//! `tests/labels_barcode.rs` decodes what this page draws with zbarimg.

use super::identity::location_text;
use super::layout::{self, Kind, data_age_class, data_age_text};
use super::text::{clean, moment};
use super::{Key, PageCtx};
use crate::record::{PatientRecord, Sex};
use maud::{Markup, html};

/// Labels on one sheet (3 columns × 8 rows).
pub(crate) const LABELS_PER_SHEET: usize = 24;
/// Quiet zone on each side of the barcode, in modules.
pub(crate) const QUIET_MODULES: u32 = 10;
/// Longest text the barcode encodes (a patient number is far shorter).
pub(crate) const MAX_BARCODE_CHARS: usize = 40;

/// Bar/space widths of the 107 Code 128 symbols (value 0..=105; 106 is the stop).
const PATTERNS: [&str; 107] = [
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
];
const START_B: usize = 104;
const STOP: usize = 106;

/// The Code 128 (set B) symbol values of `text`: start, data, check, stop. None when a
/// character is outside printable ASCII or the text is empty or too long.
pub(crate) fn code128_values(text: &str) -> Option<Vec<usize>> {
    if text.is_empty() || text.len() > MAX_BARCODE_CHARS {
        return None;
    }
    let mut values = vec![START_B];
    for b in text.bytes() {
        if !(32..=126).contains(&b) {
            return None;
        }
        values.push(usize::from(b - 32));
    }
    let check = values
        .iter()
        .enumerate()
        .map(|(i, v)| i.max(1) * v)
        .sum::<usize>()
        % 103;
    values.push(check);
    values.push(STOP);
    Some(values)
}

/// The bars of `text` as (start module, width in modules), quiet zone included, and the
/// total width in modules.
pub(crate) fn code128_bars(text: &str) -> Option<(Vec<(u32, u32)>, u32)> {
    let mut x = QUIET_MODULES;
    let mut bars = Vec::new();
    for v in code128_values(text)? {
        for (i, w) in PATTERNS.get(v)?.bytes().enumerate() {
            let w = u32::from(w - b'0');
            if i % 2 == 0 {
                bars.push((x, w));
            }
            x += w;
        }
    }
    Some((bars, x + QUIET_MODULES))
}

/// The barcode as SVG (plain rectangles; maud-built, nothing pre-escaped).
fn barcode(ctx: &PageCtx, number: &str) -> Markup {
    match code128_bars(number) {
        None => html! { span class="plabel-nobarcode" { (ctx.t(Key::NoBarcode)) } },
        Some((bars, width)) => html! {
            svg class="barcode" xmlns="http://www.w3.org/2000/svg" role="img"
                aria-label=(format!("{} {}", ctx.t(Key::Barcode), clean(number)))
                viewBox=(format!("0 0 {width} 40")) preserveAspectRatio="none"
                shape-rendering="crispEdges" {
                rect x="0" y="0" width=(width) height="40" fill="#fff" {}
                @for (x, w) in bars { rect x=(x) y="0" width=(w) height="40" fill="#000" {} }
            }
        },
    }
}

fn sex_short(ctx: &PageCtx, s: Sex) -> &'static str {
    ctx.t(match s {
        Sex::Female => Key::SexFemaleShort,
        Sex::Male => Key::SexMaleShort,
        Sex::Other => Key::SexOtherShort,
        Sex::Unknown => Key::SexUnknownShort,
    })
}

fn label(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    let id = &p.identity;
    let unknown = || html! { span class="plabel-unknown" { (ctx.t(Key::Unknown)) } };
    html! {
        div class="plabel" {
            div class="plabel-name" {
                // A drill's labels must never pass for real ones on a tube.
                @if ctx.is_drill() { span class="plabel-drill" { (ctx.t(Key::ModeDrill)) } " " }
                (clean(&id.name.display))
            }
            div class="plabel-line" {
                span { (ctx.t(Key::BornShort)) " " strong { @match &id.birth_date { Some(b) => (moment(ctx, b)), None => (unknown()) } } }
                " " span { "(" (sex_short(ctx, id.sex)) ")" }
            }
            div class="plabel-line" {
                span { (ctx.t(Key::PatientNumberShort)) " " strong { @match &id.patient_number { Some(n) => (clean(n)), None => (unknown()) } } }
                " " span { (ctx.t(Key::Bsn)) " " @match &id.bsn { Some(b) => (clean(b)), None => (unknown()) } }
            }
            div class="plabel-line plabel-loc" { (clean(&location_text(ctx, p))) }
            @match &id.patient_number {
                Some(n) => (barcode(ctx, n)),
                None => span class="plabel-nobarcode" { (ctx.t(Key::NoBarcode)) },
            }
        }
    }
}

/// The labels sheet(s) for one patient: one A4 of [`LABELS_PER_SHEET`] labels.
/// `_seen` is the proof that this look is durable in the access log ([`crate::audit::Receipt`]):
/// without one the page cannot be rendered.
pub fn print_labels(ctx: &PageCtx, p: &PatientRecord, _seen: &crate::audit::Receipt) -> Markup {
    let title = format!(
        "{} — {}",
        ctx.t(Key::LabelsTitle),
        clean(&p.identity.name.display)
    );
    let content = html! {
        h1 class="screen-only" { (title) }
        p class="print-hint screen-only" { (ctx.t(Key::PrintHintLabels)) }
        p class="labels-meta" {
            @if ctx.is_drill() { strong class="print-drill-word" { (ctx.t(Key::DrillMarker)) } " " }
            span class=(data_age_class(ctx)) { (data_age_text(ctx)) }
            " — " (ctx.t(Key::Printed)) " " (crate::timefmt::datetime(ctx.now, ctx.tz))
        }
        section class="plabel-sheet" aria-label=(title) {
            @for _ in 0..LABELS_PER_SHEET { (label(ctx, p)) }
        }
    };
    layout::page(ctx, &title, Kind::PrintLabels, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_is_eleven_modules_and_the_stop_thirteen() {
        for (i, p) in PATTERNS.iter().enumerate() {
            let sum: u32 = p.bytes().map(|b| u32::from(b - b'0')).sum();
            assert_eq!(sum, if i == STOP { 13 } else { 11 }, "pattern {i}");
        }
    }

    #[test]
    fn check_character_follows_the_standard() {
        // Start B 104 + P 48·1 + J 42·2 + J 42·3 + 1 17·4 + 2 18·5 + 3 19·6 + C 35·7 = 879,
        // and 879 mod 103 = 55 (with start A, 103, the textbook example's 54).
        let v = code128_values("PJJ123C").unwrap();
        assert_eq!(v.first(), Some(&START_B));
        assert_eq!(v[v.len() - 2], 55);
        assert_eq!(v.last(), Some(&STOP));
        let (_, width) = code128_bars("PN-773101").unwrap();
        assert_eq!(width, 2 * QUIET_MODULES + 11 * (1 + 9 + 1) + 13);
    }

    #[test]
    fn refuses_what_code_set_b_cannot_hold() {
        assert!(code128_values("").is_none());
        assert!(code128_values("PN-é").is_none());
        assert!(code128_values("a\u{7}").is_none());
        assert!(code128_values(&"1".repeat(MAX_BARCODE_CHARS + 1)).is_none());
    }
}
