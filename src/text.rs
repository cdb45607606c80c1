//! Text that leaves the box for a terminal, an operator log or a spreadsheet: control
//! characters (newlines, escape sequences) and bidi overrides are replaced by U+FFFD, so a
//! value typed into a form or carried by a snapshot can neither forge a log line, drive the
//! terminal nor reorder what the reader sees. (Pages have their own, HTML-side cleaner in
//! `web::pages::text`.)

use std::borrow::Cow;

/// Unicode bidi controls and marks (including the isolates) and the BOM.
pub(crate) fn is_bidi(c: char) -> bool {
    matches!(c,
        '\u{200E}' | '\u{200F}' | '\u{061C}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}')
}

/// Whether `c` must not reach a terminal or a log line as is: C0 and C1 controls (newline
/// and tab included) and bidi controls.
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi(c)
}

/// `s` with every unsafe character replaced by U+FFFD (one line, nothing that moves the
/// cursor or reorders text).
pub(crate) fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if is_unsafe(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

/// As [`printable`] but keeps line breaks (`\n`) and tabs, for multi-line reports printed
/// on a terminal (`audit drill-report`).
pub(crate) fn printable_lines(s: &str) -> Cow<'_, str> {
    let bad = |c: char| is_unsafe(c) && c != '\n' && c != '\t';
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if bad(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_newlines_and_bidi_overrides_are_neutralised() {
        assert_eq!(printable("jbakker"), "jbakker");
        assert_eq!(
            printable("x\n2026-01-01 login ok\u{1b}[2J\u{202E}cba"),
            "x\u{FFFD}2026-01-01 login ok\u{FFFD}[2J\u{FFFD}cba"
        );
        assert_eq!(printable("a\u{9b}31mb"), "a\u{FFFD}31mb");
        assert_eq!(printable_lines("a\nb\u{1b}c"), "a\nb\u{FFFD}c");
    }
}
