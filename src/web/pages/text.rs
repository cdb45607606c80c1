//! Turning hostile strings and clinical values into displayable text: control and bidi
//! override characters are replaced by U+FFFD (so a name cannot reorder what the nurse
//! reads), over-long strings are cut with an ellipsis, and dates/ages go through
//! [`crate::timefmt`] in the ward's time zone. HTML escaping itself is maud's job.

use super::PageCtx;
use crate::record::Moment;
use std::borrow::Cow;

/// Longest string rendered from a record, in characters.
pub(crate) const MAX_TEXT: usize = 2000;

fn is_dangerous(c: char) -> bool {
    matches!(c,
        '\u{200E}' | '\u{200F}' | '\u{061C}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}')
        || (c.is_control() && c != '\n' && c != '\t')
}

/// The string as it may be shown: dangerous characters replaced, length bounded.
pub fn clean(s: &str) -> Cow<'_, str> {
    let too_long = s.chars().nth(MAX_TEXT).is_some();
    if !too_long && !s.chars().any(is_dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out: String = s
        .chars()
        .take(MAX_TEXT)
        .map(|c| if is_dangerous(c) { '\u{FFFD}' } else { c })
        .collect();
    if too_long {
        out.push('…');
    }
    Cow::Owned(out)
}

/// A moment formatted with its precision in the ward's zone.
pub(crate) fn moment(ctx: &PageCtx, m: &Moment) -> String {
    crate::timefmt::moment(m, ctx.tz)
}

/// A birth date with the age, e.g. "03-02-1948 (78 jr)".
pub(crate) fn birth_with_age(ctx: &PageCtx, b: &Moment) -> String {
    let d = moment(ctx, b);
    match crate::timefmt::age_years(b, ctx.today()) {
        Some(a) => format!("{d} ({a} {})", ctx.t(super::Key::YearsShort)),
        None => d,
    }
}

pub use crate::record::summary::fold;

/// Common FHIR status and category codes in the reader's words; anything else is shown as
/// given (cleaned).
pub(crate) fn code_word(lang: crate::config::Language, s: &str) -> Cow<'_, str> {
    use crate::config::Language::{En, Nl};
    let w = match (s.trim(), lang) {
        ("active", Nl) => "actief",
        ("inactive", Nl) => "inactief",
        ("resolved", Nl) => "opgelost",
        ("remission", Nl) => "in remissie",
        ("recurrence", Nl) => "recidief",
        ("confirmed", Nl) => "bevestigd",
        ("unconfirmed", Nl) => "onbevestigd",
        ("provisional", Nl) => "voorlopig",
        ("differential", Nl) => "differentiaaldiagnose",
        ("refuted", Nl) => "weerlegd",
        ("presumed", Nl) => "vermoedelijk",
        ("allergy", Nl) => "allergie",
        ("intolerance", Nl) => "intolerantie",
        ("medication", Nl) => "medicatie",
        ("food", Nl) => "voeding",
        ("environment", Nl) => "omgeving",
        ("biologic", Nl) => "biologisch",
        ("severe", Nl) => "ernstig",
        ("moderate", Nl) => "matig",
        ("mild", Nl) => "licht",
        ("completed", Nl) => "gegeven",
        ("not-done", Nl) => "niet gegeven",
        ("in-progress", Nl) => "bezig",
        ("on-hold", Nl) => "onderbroken",
        ("stopped", Nl) => "gestopt",
        ("draft", Nl) => "concept",
        ("intended", Nl) => "gepland",
        ("proposed", Nl) => "voorgesteld",
        ("rejected", Nl) => "afgewezen",
        ("unknown", Nl) => "status onbekend",
        ("unknown", En) => "status unknown",
        ("completed", En) => "given",
        ("not-done", En) => "not given",
        (other, _) => return clean(other),
    };
    Cow::Borrowed(w)
}

/// A unit abbreviation that is misread on paper, written out: `E`/`IE`/`U`/`IU` (units,
/// read as a 0 or a 4) after a number → "eenheden"/"units", `µg`/`mcg`/`ug` (read as mg) →
/// "microgram" (the error-prone abbreviations of ISMP's list and the Dutch prescribing
/// rules). Only whole words are replaced, a number glued to the unit ("8E") included; a
/// letter not after a number ("vitamine E") and everything else stays as given.
pub(crate) fn units_written_out(lang: crate::config::Language, s: &str) -> String {
    use crate::config::Language::{En, Nl};
    let unit = |w: &str, after_number: bool| -> Option<&'static str> {
        Some(match (w, lang) {
            ("E" | "IE" | "I.E." | "U" | "IU" | "I.U.", Nl) if after_number => "eenheden",
            ("E" | "IE" | "I.E." | "U" | "IU" | "I.U.", En) if after_number => "units",
            ("µg" | "μg" | "mcg" | "ug", _) => "microgram",
            _ => return None,
        })
    };
    let is_num = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
    };
    let mut out = String::with_capacity(s.len() + 16);
    let mut run = String::new();
    // Whether the last word was a number (spaces in between allowed).
    let mut prev_number = false;
    let mut flush = |run: &mut String, out: &mut String| {
        if run.is_empty() {
            return;
        }
        let digits = run
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == ',' || *c == '.'))
            .map_or(run.len(), |(i, _)| i);
        let (num, rest) = run.split_at(digits);
        match unit(rest, prev_number || !num.is_empty()) {
            Some(w) => {
                out.push_str(num);
                if !num.is_empty() {
                    out.push(' ');
                }
                out.push_str(w);
            }
            None => out.push_str(run),
        }
        prev_number = is_num(run);
        run.clear();
    };
    for c in s.chars() {
        if c.is_alphanumeric() || c == 'µ' || c == 'μ' || c == '.' || c == ',' {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_control_characters_are_neutralised() {
        assert_eq!(clean("abc\u{202E}def\u{0007}"), "abc\u{FFFD}def\u{FFFD}");
        assert!(matches!(clean("Jansen"), Cow::Borrowed(_)));
    }

    #[test]
    fn long_text_is_cut() {
        let long = "x".repeat(MAX_TEXT + 10);
        assert_eq!(clean(&long).chars().count(), MAX_TEXT + 1);
    }

    #[test]
    fn search_folding_ignores_case_and_accents() {
        assert_eq!(fold("Ëlise VAN Dijk"), "elise van dijk");
    }

    #[test]
    fn error_prone_unit_abbreviations_are_written_out() {
        use crate::config::Language::{En, Nl};
        assert_eq!(units_written_out(Nl, "8 E"), "8 eenheden");
        assert_eq!(units_written_out(Nl, "8E s.c."), "8 eenheden s.c.");
        assert_eq!(units_written_out(En, "10 IE/uur"), "10 units/uur");
        assert_eq!(units_written_out(Nl, "125 µg"), "125 microgram");
        assert_eq!(
            units_written_out(Nl, "max. 6 stuk per dag"),
            "max. 6 stuk per dag"
        );
        // Words that merely contain the letters stay.
        assert_eq!(units_written_out(Nl, "EEN KIEM Eerst"), "EEN KIEM Eerst");
        assert_eq!(units_written_out(Nl, "2,5 mg"), "2,5 mg");
        assert_eq!(
            units_written_out(Nl, "vitamine E 400 IE"),
            "vitamine E 400 eenheden"
        );
    }
}
