//! One generation per page, made checkable: every snapshot carries its sequence as a marker
//! in each family name and as its own `data_as_of` minute ([`SequenceClock`]); a page is
//! accepted only if its data-age header and its markers name the same sequence.

use super::super::BenchError;
use super::options::*;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::collections::HashMap;

/// The ward's payload with a placeholder marker in every family name, and where the
/// placeholder's digits are, so that one sequence's payload is a copy with digits written.
pub(super) struct MarkedPayload {
    bytes: Vec<u8>,
    digits_at: Vec<usize>,
}

impl MarkedPayload {
    pub(super) fn new(mut bundle: serde_json::Value) -> Result<MarkedPayload, BenchError> {
        let placeholder = format!("{MARKER}{}", "0".repeat(MARKER_DIGITS));
        let mut marked = 0usize;
        if let Some(entries) = bundle.get_mut("entry").and_then(|e| e.as_array_mut()) {
            for e in entries {
                let Some(r) = e.get_mut("resource") else {
                    continue;
                };
                if r.get("resourceType").and_then(|t| t.as_str()) != Some("Patient") {
                    continue;
                }
                let Some(names) = r.get_mut("name").and_then(|n| n.as_array_mut()) else {
                    continue;
                };
                for n in names {
                    if let Some(obj) = n.as_object_mut() {
                        let family = obj
                            .get("family")
                            .and_then(|f| f.as_str())
                            .unwrap_or_default()
                            .to_owned();
                        obj.insert(
                            "family".into(),
                            serde_json::Value::String(format!("{family} {placeholder}")),
                        );
                        // Keep `text` (if any) in step, in case a page shows it instead.
                        if let Some(text) = obj.get("text").and_then(|t| t.as_str()) {
                            let text = format!("{text} {placeholder}");
                            obj.insert("text".into(), serde_json::Value::String(text));
                        }
                        // nl-core names: the surname parts in `_family` extensions are
                        // what the mapper shows (own name, partner name).
                        let exts = obj
                            .get_mut("_family")
                            .and_then(|f| f.get_mut("extension"))
                            .and_then(|e| e.as_array_mut());
                        for ext in exts.into_iter().flatten() {
                            let is_name =
                                ext.get("url").and_then(|u| u.as_str()).is_some_and(|u| {
                                    u.ends_with("-own-name") || u.ends_with("-partner-name")
                                });
                            let value = ext.get("valueString").and_then(|v| v.as_str());
                            if let (true, Some(v)) = (is_name, value) {
                                let v = format!("{v} {placeholder}");
                                if let Some(o) = ext.as_object_mut() {
                                    o.insert("valueString".into(), serde_json::Value::String(v));
                                }
                            }
                        }
                        marked += 1;
                    }
                }
            }
        }
        if marked == 0 {
            return Err(BenchError::Data(
                "the generated ward has no patient name to mark".into(),
            ));
        }
        let mut bytes = serde_json::to_vec(&bundle)
            .map_err(|e| BenchError::Data(format!("serialising the ward: {e}")))?;
        bytes.push(b'\n');
        let needle = placeholder.as_bytes();
        let digits_at: Vec<usize> = bytes
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i + MARKER.len())
            .collect();
        Ok(MarkedPayload { bytes, digits_at })
    }

    /// The payload of `sequence`.
    pub(super) fn for_sequence(&self, sequence: u64) -> Vec<u8> {
        let digits = format!("{:0width$}", sequence % 1_000_000, width = MARKER_DIGITS);
        let mut out = self.bytes.clone();
        for &at in &self.digits_at {
            if let Some(slot) = out.get_mut(at..at + MARKER_DIGITS) {
                slot.copy_from_slice(digits.as_bytes());
            }
        }
        out
    }
}

/// Sequence ↔ `data_as_of`: sequence `s` has `base + s` minutes, so the data-age header
/// (shown to the minute) names the sequence.
#[derive(Debug, Clone)]
pub(crate) struct SequenceClock {
    base: DateTime<Utc>,
    by_text: HashMap<String, u64>,
}

impl SequenceClock {
    /// A clock for sequences `1..=max_sequence`, the last one about now.
    pub(crate) fn new(now: DateTime<Utc>, max_sequence: u64) -> SequenceClock {
        let minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
        let span = i64::try_from(max_sequence).unwrap_or(i64::MAX / 120);
        let base = minute - TimeDelta::minutes(span);
        let mut by_text = HashMap::new();
        let mut clock = SequenceClock {
            base,
            by_text: HashMap::new(),
        };
        for s in 1..=max_sequence {
            by_text.insert(crate::timefmt::datetime(clock.data_as_of(s), TZ), s);
        }
        clock.by_text = by_text;
        clock
    }

    /// The `data_as_of` of `sequence`.
    pub(crate) fn data_as_of(&self, sequence: u64) -> DateTime<Utc> {
        self.base + TimeDelta::minutes(i64::try_from(sequence).unwrap_or(0))
    }

    /// The sequence whose `data_as_of` is shown as `text` ("22-11-2026 14:05").
    pub(crate) fn sequence_of(&self, text: &str) -> Option<u64> {
        self.by_text.get(text).copied()
    }
}

/// Finds "dd-mm-yyyy hh:mm" in `s`.
fn find_datetime(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let shape = b"00-00-0000 00:00";
    (0..b.len().saturating_sub(shape.len() - 1)).find_map(|i| {
        let w = b.get(i..i + shape.len())?;
        let fits = w.iter().zip(shape).all(|(c, p)| match p {
            b'0' => c.is_ascii_digit(),
            p => c == p,
        });
        if fits {
            s.get(i..i + shape.len())
        } else {
            None
        }
    })
}

/// Checks that `html` is a complete page from one generation: every data-age element
/// names the same sequence (through `clock`), there is at least one, and every marker in
/// the page is that sequence's. Returns the sequence.
pub(crate) fn check_page(html: &str, clock: &SequenceClock) -> Result<u64, String> {
    if !html.trim_end().ends_with("</html>") {
        return Err("page does not end with </html> (incomplete)".into());
    }
    let mut claimed: Option<u64> = None;
    let class = "class=\"age age-";
    let mut rest = html;
    while let Some(i) = rest.find(class) {
        let Some(after) = rest.get(i + class.len()..) else {
            break;
        };
        let end = after.find("</span>").unwrap_or(after.len());
        let element = after.get(..end).unwrap_or_default();
        if element.starts_with("none") {
            return Err("page shows no data (data age: none)".into());
        }
        let text = find_datetime(element)
            .ok_or_else(|| "data-age element without a date and time".to_owned())?;
        let seq = clock
            .sequence_of(text)
            .ok_or_else(|| format!("data-age {text:?} is no sequence of this run"))?;
        match claimed {
            None => claimed = Some(seq),
            Some(c) if c != seq => {
                return Err(format!(
                    "data-age elements name sequences {c} and {seq} on one page"
                ));
            }
            Some(_) => {}
        }
        rest = after;
    }
    let claimed = claimed.ok_or_else(|| "page has no data-age element".to_owned())?;
    let want = format!("{:0width$}", claimed % 1_000_000, width = MARKER_DIGITS);
    let mut markers = 0usize;
    let mut rest = html;
    while let Some(i) = rest.find(MARKER) {
        let Some(after) = rest.get(i + MARKER.len()..) else {
            break;
        };
        let digits = after.get(..MARKER_DIGITS).unwrap_or(after);
        if digits != want {
            return Err(format!(
                "page claims sequence {claimed} but holds marker {MARKER}{digits}"
            ));
        }
        markers += 1;
        rest = after;
    }
    if markers == 0 {
        return Err(format!(
            "page claims sequence {claimed} but holds no {MARKER} marker"
        ));
    }
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{GenerateOptions, generate};

    fn page(age: &str, body: &str) -> String {
        format!(
            "<!DOCTYPE html><html><body><span class=\"age age-fresh\">gegevens van {age} (3 min oud)</span>{body}</body></html>"
        )
    }

    fn clock() -> (SequenceClock, String, String) {
        let c = SequenceClock::new(Utc::now(), 20);
        let t5 = crate::timefmt::datetime(c.data_as_of(5), TZ);
        let t6 = crate::timefmt::datetime(c.data_as_of(6), TZ);
        (c, t5, t6)
    }

    #[test]
    fn accepts_a_page_from_one_generation() {
        let (c, t5, _) = clock();
        let html = page(
            &t5,
            "<td>Jansen LOADSEQ000005</td><td>Bakker LOADSEQ000005</td>",
        );
        assert_eq!(check_page(&html, &c), Ok(5));
    }

    #[test]
    fn rejects_a_page_mixing_two_generations_markers() {
        let (c, t5, _) = clock();
        let html = page(
            &t5,
            "<td>Jansen LOADSEQ000005</td><td>Bakker LOADSEQ000006</td>",
        );
        let e = check_page(&html, &c).unwrap_err();
        assert!(e.contains("LOADSEQ000006"), "{e}");
    }

    #[test]
    fn rejects_a_page_whose_header_names_another_generation_than_its_data() {
        let (c, _, t6) = clock();
        let html = page(&t6, "<td>Jansen LOADSEQ000005</td>");
        assert!(check_page(&html, &c).is_err());
    }

    #[test]
    fn rejects_two_data_age_elements_naming_different_generations() {
        let (c, t5, t6) = clock();
        let html = page(
            &t5,
            &format!("<span class=\"age age-fresh\">{t6}</span> LOADSEQ000005"),
        );
        let e = check_page(&html, &c).unwrap_err();
        assert!(e.contains("sequences 5 and 6"), "{e}");
    }

    #[test]
    fn rejects_incomplete_pages_and_pages_without_markers() {
        let (c, t5, _) = clock();
        let html = page(&t5, "LOADSEQ000005");
        let cut = html.get(..html.len() - 10).unwrap();
        assert!(check_page(cut, &c).unwrap_err().contains("incomplete"));
        assert!(check_page(&page(&t5, "no marker"), &c).is_err());
        let none = "<html><span class=\"age age-none\">nog geen gegevens</span></html>";
        assert!(check_page(none, &c).unwrap_err().contains("no data"));
    }

    #[test]
    fn marks_every_patient_and_writes_each_sequence_into_the_payload() {
        let g = generate(&GenerateOptions::new(3, 1, WARD, Utc::now()));
        let (_, bundle) = g.bundles.into_iter().next().unwrap();
        let m = MarkedPayload::new(bundle).unwrap();
        assert!(m.digits_at.len() >= 3);
        let p = String::from_utf8(m.for_sequence(42)).unwrap();
        assert_eq!(p.matches("LOADSEQ000042").count(), m.digits_at.len());
        assert!(!p.contains("LOADSEQ000000"));
    }

    #[test]
    fn sequence_clock_round_trips_through_the_shown_text() {
        let c = SequenceClock::new(Utc::now(), 100);
        for s in [1, 2, 50, 100] {
            let text = crate::timefmt::datetime(c.data_as_of(s), TZ);
            assert_eq!(c.sequence_of(&text), Some(s));
        }
        assert!(c.data_as_of(100) <= Utc::now());
    }
}
