//! How tall each part of the printed MAR will be on paper, in millimetres, for the sheet
//! splitter (`marpage`): a drug's row from its texts (drug, dosage with the source's text,
//! last given) and its day cells (boxes, recorded doses, extras), a handwritten line, and
//! a sheet's frame (header, column heads, foot). The figures come from the print
//! stylesheet's fixed sizes (style.css, `@media print`: change both together) and average
//! character widths measured in Chromium (tests/browser/mar-measure.mjs prints rendered
//! against estimated heights per row and sheet); tests/browser_mar.rs fails when a sheet
//! overflows its page.

use super::dosetext::{dosage_block, given, last_administrations};
use super::identity::location_text;
use super::layout::data_age_text;
use super::marfill::{DayFill, Fill};
use super::marpage;
use super::marparts::{BLANK_SLOTS, BOX_TEXT, admin_time, not_given_reason, short};
use super::marslots::{LineSlots, Slot};
use super::medgroup::high_risk_word;
use super::text::{clean, units_written_out};
use super::{Key, PageCtx};
use crate::record::highrisk::high_risk;
use crate::record::summary::PatientSummary;
use crate::record::{Administration, MedicationLine, PatientRecord, Treatment, TreatmentState};
use maud::{Markup, html};

/// Column widths on paper, as shares of the sheet (style.css, print): drug, dosage, last
/// given; the days share the rest.
pub(super) const DRUG_COL: f64 = 0.185;
pub(super) const DOSE_COL: f64 = 0.22;
pub(super) const LAST_COL: f64 = 0.10;
/// Printed slot box sizes (style.css, print `.slot`), mm: width with margins, height of a
/// plain slot, width of a "NIET GEGEVEN" slot, the glucose line.
pub(super) const SLOT_W: f64 = 11.0;
pub(super) const SLOT_H: f64 = 10.6;
pub(super) const WIDE_W: f64 = 25.9;
pub(super) const GLUC_H: f64 = 3.4;
/// Character widths (mm) of DejaVu Sans, the print font, from its metrics at the print
/// sizes: a capital or digit and an average lower-case letter; body text (8.5 pt), bold
/// (drug names), small print (7 pt); the high-risk mark's line.
pub(super) const CHAR_MM: f64 = 1.68;
pub(super) const CAP_MM: f64 = 2.0;
pub(super) const BOLD_CHAR_MM: f64 = 1.9;
pub(super) const BOLD_CAP_MM: f64 = 2.2;
pub(super) const SMALL_CHAR_MM: f64 = 1.38;
pub(super) const SMALL_CAP_MM: f64 = 1.65;
pub(super) const HR_MARK_PAD_MM: f64 = 1.2;
pub(super) const PRN_CHIP_MM: f64 = 0.8;
/// The dosage text (8 pt, line-height 1.15) and the source's text under it (6.5 pt, 1.15):
/// character width taken wide and line height, mm.
pub(super) const DOSE_CHAR_MM: f64 = 1.6;
pub(super) const DOSE_CAP_MM: f64 = 1.9;
pub(super) const DOSE_LINE_MM: f64 = 3.3;
pub(super) const SRC_CHAR_MM: f64 = 1.3;
pub(super) const SRC_CAP_MM: f64 = 1.55;
pub(super) const SRC_LINE_MM: f64 = 2.75;
/// Cell padding and borders per row, mm.
pub(super) const ROW_PAD: f64 = 1.4;
/// A day cell's padding and borders (style.css, print `.mar-day`), mm.
pub(super) const DAY_PAD: f64 = 0.8;
/// A handwritten line (or a note across the row), mm.
pub(super) const WRITE_ROW: f64 = 9.5;
/// A handwritten drug line: its blank boxes (wrapping when the days are narrow).
pub(super) fn blank_h(days: usize) -> f64 {
    let day_w =
        (1.0 - DRUG_COL - DOSE_COL - LAST_COL) * marpage::SHEET_WIDTH_MM / days.max(1) as f64;
    let slots = LineSlots {
        slots: vec![Slot::Blank; BLANK_SLOTS],
        see_text: false,
        as_needed: false,
    };
    day_h(None, &slots, day_w, false).max(WRITE_ROW) + ROW_PAD
}

pub(super) fn text_h(chars: usize, col: f64, char_mm: f64, line: f64) -> f64 {
    marpage::lines(
        chars,
        marpage::per_line(col * marpage::SHEET_WIDTH_MM - ROW_PAD, char_mm),
    ) as f64
        * line
}

/// A run of inline text for [`wrap_h`]: its text (bounded), the width of a capital and
/// of any other character, and its line height, mm.
pub(super) struct Run<'a> {
    pub text: &'a str,
    pub cap_mm: f64,
    pub char_mm: f64,
    pub line_mm: f64,
}

/// Most characters of one text the estimate looks at (a longer one counts as this long:
/// its cell is then far taller than a sheet anyway).
const MAX_TEXT: usize = 4000;

/// Height of text laid in a column `avail` mm wide, the runs flowing inline one after the
/// other (a bold name, its strength, then the form in small print), wrapped at spaces as
/// the browser does (a word wider than the column breaks anywhere); a line is as tall as
/// its tallest run.
pub(super) fn wrap_h(runs: &[Run<'_>], avail: f64) -> f64 {
    let avail = avail.max(1.0);
    let (mut h, mut x, mut line) = (0.0_f64, 0.0_f64, 0.0_f64);
    for r in runs {
        let space = r.char_mm * 0.6;
        for word in r
            .text
            .chars()
            .take(MAX_TEXT)
            .collect::<String>()
            .split_whitespace()
        {
            let mut w: f64 = word
                .chars()
                .map(|c| {
                    if c.is_uppercase() || c.is_ascii_digit() {
                        r.cap_mm
                    } else {
                        r.char_mm
                    }
                })
                .sum();
            let gap = if x > 0.0 { space } else { 0.0 };
            if x > 0.0 && x + gap + w > avail {
                h += line;
                x = 0.0;
                line = 0.0;
            } else {
                x += gap;
            }
            line = line.max(r.line_mm);
            while x + w > avail {
                w -= avail - x;
                h += line;
                x = 0.0;
            }
            x += w;
        }
    }
    h + line
}

/// Characters of a text, at most `max`.
fn n(s: &str, max: usize) -> usize {
    s.chars().count().min(max)
}

/// The drug cell: the high-risk mark on its own line, then the name (bold, often capitals),
/// strength and form flowing on; a state under it.
pub(super) fn drug_h(ctx: &PageCtx, t: &Treatment, line: &MedicationLine) -> f64 {
    let d = &line.drug;
    let run = |text, cap_mm, char_mm, line_mm| Run {
        text,
        cap_mm,
        char_mm,
        line_mm,
    };
    let form = d.form.as_deref().map(|f| format!("· {f}"));
    let mut h = wrap_h(
        &[
            run(&d.name, BOLD_CAP_MM, BOLD_CHAR_MM, marpage::LINE_MM),
            run(
                d.strength.as_deref().unwrap_or(""),
                CAP_MM,
                CHAR_MM,
                marpage::LINE_MM,
            ),
            run(
                form.as_deref().unwrap_or(""),
                SMALL_CAP_MM,
                SMALL_CHAR_MM,
                marpage::SMALL_LINE_MM,
            ),
        ],
        DRUG_COL * marpage::SHEET_WIDTH_MM - ROW_PAD,
    );
    if let Some(g) = high_risk(d) {
        // "⚠ HOOG RISICO · geconcentreerd elektrolyt" (7 pt) in a bordered box, one or
        // two lines.
        let mark = format!("WW HOOG RISICO · {}", high_risk_word(ctx, g));
        h += wrap_h(
            &[Run {
                text: &mark,
                cap_mm: SMALL_CAP_MM,
                char_mm: SMALL_CHAR_MM,
                line_mm: marpage::SMALL_LINE_MM,
            }],
            DRUG_COL * marpage::SHEET_WIDTH_MM - ROW_PAD - HR_MARK_PAD_MM,
        ) + HR_MARK_PAD_MM;
    }
    if !matches!(
        t.state,
        TreatmentState::Current {
            stop_planned: None,
            pause_planned: None,
            resumed_after_pause: None,
            ..
        }
    ) {
        h += 2.0 * marpage::LINE_MM;
    }
    h
}

/// The visible text of rendered markup (tags dropped, an entity as one character `&`).
pub(super) fn visible_text(m: &Markup) -> String {
    let mut out = String::new();
    let (mut tag, mut entity) = (false, false);
    for c in m.0.chars() {
        match c {
            '<' => tag = true,
            '>' if tag => tag = false,
            _ if tag => {}
            '&' => {
                entity = true;
                out.push('&');
            }
            ';' if entity => entity = false,
            _ if entity => {}
            _ => out.push(c),
        }
    }
    out
}

pub(super) fn dose_h(ctx: &PageCtx, line: &MedicationLine, see_text: bool) -> f64 {
    let mut h = 0.0;
    for d in &line.dosages {
        let all = visible_text(&dosage_block(ctx, d));
        let src = d
            .text
            .as_ref()
            .map(|t| visible_text(&html! { (ctx.t(Key::SourceText)) ": “" (clean(t)) "”" }))
            .unwrap_or_default();
        let main = all.strip_suffix(src.as_str()).unwrap_or(&all);
        // The "Zo nodig" chip's border makes its line taller.
        if d.as_needed.is_some() {
            h += PRN_CHIP_MM;
        }
        // The dosage (8 pt), then the source's text inline after it (6.5 pt).
        h += wrap_h(
            &[
                Run {
                    text: main,
                    cap_mm: DOSE_CAP_MM,
                    char_mm: DOSE_CHAR_MM,
                    line_mm: DOSE_LINE_MM,
                },
                Run {
                    text: &src,
                    cap_mm: SRC_CAP_MM,
                    char_mm: SRC_CHAR_MM,
                    line_mm: SRC_LINE_MM,
                },
            ],
            DOSE_COL * marpage::SHEET_WIDTH_MM - ROW_PAD,
        );
    }
    if see_text || line.dosages.is_empty() {
        h += marpage::LINE_MM;
    }
    h
}

/// The "laatst gegeven" cell: one or two administrations, each its time and dose, then
/// who (small print).
pub(super) fn last_h(ctx: &PageCtx, p: &PatientRecord, t: &Treatment) -> f64 {
    let (latest, done) = last_administrations(&ctx.tz, t, p.administrations.items());
    let avail = LAST_COL * marpage::SHEET_WIDTH_MM - ROW_PAD;
    let one = |a: &Administration| {
        let what = match given(a) {
            Some(true) => String::new(),
            // Bold capitals: a little wider than the small print's.
            Some(false) => format!("{}WW ", ctx.t(Key::MarNotGiven)),
            None => "? ".to_owned(),
        };
        let first = format!(
            "{what}{} · {}",
            admin_time(ctx, a, Some(ctx.today())),
            a.dose
                .as_deref()
                .map(|d| short(&units_written_out(ctx.lang, d), 30))
                .unwrap_or_default()
        );
        let who = a
            .performer
            .as_deref()
            .map(|w| short(w, 24))
            .unwrap_or_default();
        let run = |text| Run {
            text,
            cap_mm: SMALL_CAP_MM,
            char_mm: SMALL_CHAR_MM,
            line_mm: marpage::SMALL_LINE_MM,
        };
        wrap_h(&[run(&first)], avail) + wrap_h(&[run(&who)], avail)
    };
    latest.map_or(2.0 * marpage::SMALL_LINE_MM, one) + done.map_or(0.0, |d| one(d) + 0.5)
}

pub(super) fn box_h(fill: Option<Fill<'_>>, glucose: bool) -> (f64, f64) {
    let g = if glucose { GLUC_H } else { 0.0 };
    match fill {
        Some(Fill::Recorded(a)) if given(a) == Some(false) => {
            let why = not_given_reason(a).map_or(0, |r| r.chars().count().min(BOX_TEXT) + 2);
            // "NIET GEGEVEN" and its time (two lines when they wrap), the reason, who.
            let lines = 2.0
                + marpage::lines(why, marpage::per_line(WIDE_W - 2.0, 1.35)) as f64
                + f64::from(u8::from(a.performer.is_some()));
            (WIDE_W, (SLOT_H - 7.0 + lines * 2.6).max(SLOT_H))
        }
        // "G 08:15" over the initials: two lines in the 7 mm box.
        Some(Fill::Recorded(_)) => (SLOT_W, SLOT_H),
        _ => (SLOT_W, SLOT_H + g),
    }
}

pub(super) fn day_h(
    fill: Option<&DayFill<'_>>,
    slots: &LineSlots,
    width: f64,
    glucose: bool,
) -> f64 {
    let avail = width - ROW_PAD;
    let (mut x, mut line_h, mut total) = (0.0_f64, 0.0_f64, 0.0_f64);
    for (i, _) in slots.slots.iter().enumerate() {
        let f = fill.and_then(|f| f.slots.get(i)).and_then(|x| x.1);
        let (w, h) = box_h(f, glucose);
        if x > 0.0 && x + w > avail {
            total += line_h;
            x = 0.0;
            line_h = 0.0;
        }
        x += w;
        line_h = line_h.max(h);
    }
    total += line_h;
    if let Some(f) = fill.filter(|f| !f.extra.is_empty()) {
        let chars: usize = f
            .extra
            .iter()
            .map(|a| {
                30 + not_given_reason(a).map_or(0, |r| r.chars().count().min(BOX_TEXT))
                    + a.performer
                        .as_ref()
                        .map_or(0, |p| p.chars().count().min(16))
            })
            .sum::<usize>()
            + 16;
        total += marpage::lines(chars, marpage::per_line(avail, SMALL_CHAR_MM)) as f64
            * marpage::SMALL_LINE_MM;
    }
    total.max(marpage::LINE_MM)
}

/// Height of a sheet's header (patient and sheet number; data time and chips), column
/// heads and footer (marker, signature row, legend), mm.
pub(super) fn frame_h(ctx: &PageCtx, p: &PatientRecord) -> f64 {
    let s = PatientSummary::from(p);
    let line1 = n(&p.identity.name.display, 2000) * 13 / 10
        + location_text(ctx, p).chars().count().min(2000)
        + 85;
    // The data time and the chips as printed (labels, badges, limits), wrapped word by
    // word; an icon counts as a wide letter, a bordered chip as two more.
    let chips = super::identity::chips(ctx, &s);
    let bordered = [
        "class=\"chip ",
        "class=\"resus ",
        "class=\"limits",
        "allergy-unknown",
    ]
    .iter()
    .map(|c| chips.0.matches(c).count().min(1000))
    .sum::<usize>();
    let icons = chips.0.matches("<svg").count().min(1000);
    let line2 = format!(
        "{}: {} {}{}{}",
        ctx.t(Key::MarDataTime),
        data_age_text(ctx),
        visible_text(&chips),
        " W".repeat(icons),
        " WW".repeat(bordered),
    );
    let run = |text, line_mm| Run {
        text,
        cap_mm: HEAD_CAP_MM,
        char_mm: HEAD_CHAR_MM,
        line_mm,
    };
    let width = marpage::SHEET_WIDTH_MM - HEAD_PAD;
    let head = text_h(line1, 1.0, HEAD_CHAR_MM, HEAD_LINE_MM)
        + wrap_h(&[run(&line2, CHIP_LINE_MM)], width)
        + HEAD_PAD;
    let legend = [
        Key::MarCodes,
        Key::MarRecordedLegend,
        Key::MarHighRiskLegend,
    ]
    .iter()
    .map(|k| ctx.t(*k).chars().count() + 1)
    .sum::<usize>();

    let foot = FOOT_FIXED + text_h(legend, 1.0, LEGEND_CHAR_MM, LEGEND_LINE_MM);
    head + COLHEAD + foot
}

/// The frame's parts (style.css, print), mm: a header text line (9 pt) and chip line
/// (bordered chips), the header's border and padding, the column heads; the foot's marker
/// line and signature row; the legend's characters and lines (6.5 pt).
pub(super) const HEAD_CHAR_MM: f64 = 1.9;
pub(super) const HEAD_CAP_MM: f64 = 2.2;
pub(super) const HEAD_LINE_MM: f64 = 4.6;
pub(super) const CHIP_LINE_MM: f64 = 5.6;
pub(super) const HEAD_PAD: f64 = 2.5;
pub(super) const COLHEAD: f64 = 4.8;
pub(super) const FOOT_FIXED: f64 = 10.5;
pub(super) const LEGEND_CHAR_MM: f64 = 1.3;
pub(super) const LEGEND_LINE_MM: f64 = 2.8;
