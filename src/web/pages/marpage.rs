//! Splitting one patient's printed MAR into sheets the page numbers itself ("blad 2 van
//! 3"), because the browser cannot: CSS page counters count the whole print job, so in the
//! all-patients MAR they cannot say "sheet 2 of 3 of this patient".
//!
//! Every part of the MAR (a drug's row, an as-needed row, a handwritten line) comes with a
//! height estimate in millimetres, made from the print stylesheet's fixed sizes (slot
//! boxes, font sizes, column widths) and the length of its texts with a characters-per-line
//! figure calibrated against Chromium (tests/browser/mar-measure.mjs). Parts are laid on
//! sheets in order until the next does not fit; a part is never split; the as-needed rows'
//! column names go above their run on every sheet. Each sheet is its own table
//! with the repeated patient header, so a sheet that the browser nevertheless overflows
//! still names the patient and its sheet number on the overflow page (the browser repeats
//! the table head), and the end marker on the last sheet says how many drugs the list holds.
//! tests/browser_mar.rs checks the estimate against Chromium's PDF page count.

use maud::Markup;

/// Printable height of an A4 landscape sheet (210 mm − 2 × 8 mm margins, style.css
/// `@page landscape`).
pub(crate) const SHEET_HEIGHT_MM: f64 = 194.0;
/// Printable width (297 mm − 2 × 8 mm).
pub(crate) const SHEET_WIDTH_MM: f64 = 281.0;
/// Height of one text line at the MAR's 8.5 pt print font (line-height 1.15), mm.
pub(crate) const LINE_MM: f64 = 3.45;
/// Height of one small-print line (7 pt, line-height 1.15), mm.
pub(crate) const SMALL_LINE_MM: f64 = 2.85;
/// Safety margin kept free on every sheet, mm (estimate errors, rounding of borders).
pub(crate) const SLACK_MM: f64 = 5.0;

/// The parts laid on one sheet.
pub(crate) type Sheet = Vec<Item>;

/// A row of column names some items need right above them (the as-needed entries'
/// columns): printed before the first of a run of such items on every sheet.
#[derive(Clone)]
pub(crate) struct Head {
    pub height_mm: f64,
    pub markup: Markup,
}

/// One part of a patient's MAR with its estimated printed height.
pub(crate) struct Item {
    pub height_mm: f64,
    pub markup: Markup,
    /// The head row this item needs above its run.
    pub needs: Option<Head>,
}

impl Item {
    pub(crate) fn new(height_mm: f64, markup: Markup) -> Item {
        Item {
            height_mm,
            markup,
            needs: None,
        }
    }

    /// An item under a head row of column names.
    pub(crate) fn under(height_mm: f64, markup: Markup, head: Head) -> Item {
        Item {
            needs: Some(head),
            ..Item::new(height_mm, markup)
        }
    }
}

/// Lines a text of `chars` characters takes in a column that holds `per_line` characters
/// (at least one line).
pub(crate) fn lines(chars: usize, per_line: usize) -> usize {
    chars.div_ceil(per_line.max(1)).max(1)
}

/// Characters per line of a column `width_mm` wide at a font whose average character is
/// `char_mm` wide (taken wide, so the estimate errs towards more lines).
pub(crate) fn per_line(width_mm: f64, char_mm: f64) -> usize {
    let n = (width_mm / char_mm).floor();
    if n.is_finite() && n >= 1.0 {
        n as usize
    } else {
        1
    }
}

/// Lays the items on sheets of `capacity_mm` each (after the fixed header and footer): in
/// order, a new sheet when the next item (one that needs a head row and follows none: with
/// its head) does not fit; the head row goes in before the first of a run of items needing
/// it on every sheet. Never returns no sheet.
pub(crate) fn paginate(items: Vec<Item>, capacity_mm: f64) -> Vec<Vec<Item>> {
    let mut sheets: Vec<Vec<Item>> = vec![Vec::new()];
    let mut used = 0.0;
    for it in items {
        let h = it.height_mm;
        let after_head = sheets
            .last()
            .and_then(|s| s.last())
            .is_some_and(|p| p.needs.is_some());
        let head_h = match &it.needs {
            Some(head) if !after_head => head.height_mm,
            _ => 0.0,
        };
        let has_items = sheets.last().is_some_and(|s| !s.is_empty());
        let mut head = it.needs.as_ref().filter(|_| !after_head).cloned();
        if has_items && used + h + head_h > capacity_mm {
            sheets.push(Vec::new());
            used = 0.0;
            head = it.needs.clone();
        }
        if let Some(s) = sheets.last_mut() {
            if let Some(head) = head {
                used += head.height_mm;
                s.push(Item::new(head.height_mm, head.markup));
            }
            used += it.height_mm;
            s.push(it);
        }
    }
    sheets
}

#[cfg(test)]
mod tests {
    use super::*;
    use maud::html;

    fn item(h: f64) -> Item {
        Item::new(h, html! {})
    }

    #[test]
    fn items_are_laid_in_order_and_never_split() {
        let s = paginate(vec![item(40.0), item(40.0), item(30.0), item(100.0)], 100.0);
        let heights: Vec<Vec<f64>> = s
            .iter()
            .map(|s| s.iter().map(|i| i.height_mm).collect())
            .collect();
        assert_eq!(heights, vec![vec![40.0, 40.0], vec![30.0], vec![100.0]]);
        // An item taller than a sheet gets a sheet of its own; nothing gives no sheet.
        assert_eq!(paginate(vec![item(300.0)], 100.0).len(), 1);
        assert_eq!(paginate(vec![], 100.0).len(), 1);
        // A run of items under a head row: the head once before the run, again on the
        // next sheet, and its height counts.
        let head = Head {
            height_mm: 5.0,
            markup: html! { "head" },
        };
        let under = |h: f64| Item::under(h, html! { "row" }, head.clone());
        let s = paginate(
            vec![item(50.0), under(20.0), under(20.0), under(10.0), item(5.0)],
            100.0,
        );
        let shape: Vec<Vec<String>> = s
            .iter()
            .map(|s| s.iter().map(|i| i.markup.0.clone()).collect())
            .collect();
        assert_eq!(
            shape,
            vec![vec!["", "head", "row", "row"], vec!["head", "row", ""]]
        );
        // The head's height decides: 90 + 5 + 10 > 100 moves the item and its head.
        let s = paginate(vec![item(90.0), under(10.0)], 100.0);
        assert_eq!(s.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn text_lines_round_up() {
        assert_eq!(lines(0, 20), 1);
        assert_eq!(lines(20, 20), 1);
        assert_eq!(lines(21, 20), 2);
        assert_eq!(per_line(40.0, 2.0), 20);
        assert_eq!(per_line(0.5, 2.0), 1);
    }
}
