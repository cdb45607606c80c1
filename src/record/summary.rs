//! The one-line view of a patient for the ward overview and search results, derived from
//! the full record so that the overview can never disagree with the patient page.

use super::{Decision, DirectiveKind, Listed, Moment, PatientRecord};
use serde::{Deserialize, Serialize};

/// Status of a section in the overview, keeping "not recorded" apart from "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionFlag {
    NotRecorded,
    NoneDocumented,
    Present,
}

/// Resuscitation policy as the overview shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResuscitationSummary {
    /// No resuscitation directive in the data: unknown, ask / follow hospital protocol.
    NotRecorded,
    Permit,
    Deny,
    /// Conditional or otherwise: read the patient page.
    Other,
    /// More than one active resuscitation directive that disagree.
    Conflicting,
}

/// One row of the ward overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientSummary {
    pub key: String,
    pub name: String,
    pub sort_key: String,
    pub birth_date: Option<Moment>,
    pub patient_number: Option<String>,
    pub ward: Option<String>,
    pub room: Option<String>,
    pub bed: Option<String>,
    pub alerts: SectionFlag,
    /// Short texts of the alerts (e.g. "MRSA", "Valrisico").
    pub alert_texts: Vec<String>,
    pub allergies: SectionFlag,
    pub allergy_texts: Vec<String>,
    pub resuscitation: ResuscitationSummary,
}

fn flag<T>(l: &Listed<T>) -> SectionFlag {
    match l {
        Listed::NotRecorded => SectionFlag::NotRecorded,
        Listed::NoneDocumented { .. } => SectionFlag::NoneDocumented,
        Listed::Items { .. } => SectionFlag::Present,
    }
}

impl From<&PatientRecord> for PatientSummary {
    fn from(p: &PatientRecord) -> Self {
        let mut resus = ResuscitationSummary::NotRecorded;
        for d in p.directives.items() {
            if d.kind != DirectiveKind::Resuscitation {
                continue;
            }
            let this = match d.decision {
                Decision::Permit => ResuscitationSummary::Permit,
                Decision::Deny => ResuscitationSummary::Deny,
                Decision::Other => ResuscitationSummary::Other,
            };
            resus = match resus {
                ResuscitationSummary::NotRecorded => this,
                prev if prev == this => prev,
                _ => ResuscitationSummary::Conflicting,
            };
        }
        PatientSummary {
            key: p.key.clone(),
            name: p.identity.name.display.clone(),
            sort_key: p.identity.name.sort_key.clone(),
            birth_date: p.identity.birth_date,
            patient_number: p.identity.patient_number.clone(),
            ward: p.location.ward.clone(),
            room: p.location.room.clone(),
            bed: p.location.bed.clone(),
            alerts: flag(&p.alerts),
            alert_texts: p.alerts.items().iter().map(|a| a.text.clone()).collect(),
            allergies: flag(&p.allergies),
            allergy_texts: p
                .allergies
                .items()
                .iter()
                .map(|a| a.substance.clone())
                .collect(),
            resuscitation: resus,
        }
    }
}

/// The longest search query taken into account, in characters, and the most words.
pub const SEARCH_MAX_CHARS: usize = 100;
pub const SEARCH_MAX_WORDS: usize = 8;

impl PatientSummary {
    /// Does this patient match a nurse's search? The one matcher behind the ward search.
    /// Every word of the query must match one of: part of the name (case and accents
    /// ignored), the bed or the room exactly, the patient number exactly (letters and digits
    /// only, so "P-0012" is found by "p0012"), or the birth date as dd-mm-jjjj, d-m-jjjj,
    /// ddmmjjjj, jjjj-mm-dd or the year alone. A whole query equal to the room or bed
    /// ("kamer 4") matches too. An empty query matches everyone.
    pub fn matches(&self, query: &str) -> bool {
        let q: String = query.chars().take(SEARCH_MAX_CHARS).collect();
        let whole = fold(q.split_whitespace().collect::<Vec<_>>().join(" ").as_str());
        let exact = |v: &Option<String>| {
            v.as_deref()
                .is_some_and(|v| !whole.is_empty() && fold(v.trim()) == whole)
        };
        if exact(&self.room) || exact(&self.bed) {
            return true;
        }
        q.split_whitespace()
            .take(SEARCH_MAX_WORDS)
            .map(fold)
            .all(|w| self.matches_word(&w))
    }

    fn matches_word(&self, w: &str) -> bool {
        if fold(&self.name).contains(w) || fold(&self.sort_key).contains(w) {
            return true;
        }
        let exact = |v: &Option<String>| v.as_deref().is_some_and(|v| fold(v.trim()) == w);
        if exact(&self.bed) || exact(&self.room) {
            return true;
        }
        let alnum = |t: &str| -> String {
            t.chars()
                .filter(char::is_ascii_alphanumeric)
                .flat_map(|c| c.to_lowercase())
                .collect()
        };
        let wa = alnum(w);
        if wa.is_empty() {
            return false;
        }
        if self
            .patient_number
            .as_deref()
            .is_some_and(|n| alnum(n) == wa)
        {
            return true;
        }
        let forms: Vec<String> = match self.birth_date {
            Some(Moment::Day(d)) => day_forms(d),
            Some(Moment::Instant(t)) => day_forms(t.date_naive()),
            Some(Moment::Month(y, m)) => {
                vec![format!("{m:02}{y}"), format!("{y}{m:02}"), y.to_string()]
            }
            Some(Moment::Year(y)) => vec![y.to_string()],
            None => Vec::new(),
        };
        forms.contains(&wa)
    }
}

/// A birth date as the digits a nurse may type: ddmmjjjj, dmjjjj, jjjjmmdd, jjjj.
fn day_forms(d: chrono::NaiveDate) -> Vec<String> {
    ["%d%m%Y", "%-d%-m%Y", "%Y%m%d", "%Y"]
        .iter()
        .map(|f| d.format(f).to_string())
        .collect()
}

/// Lower-cases and strips common diacritics so that "Müller" is found by "muller" and
/// "Ümit" by "umit".
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'ı' => 'i',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            'ç' => 'c',
            'ñ' => 'n',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn row(name: &str, bed: &str, number: &str, born: (i32, u32, u32)) -> PatientSummary {
        PatientSummary {
            key: "k".into(),
            name: name.into(),
            sort_key: name.into(),
            birth_date: NaiveDate::from_ymd_opt(born.0, born.1, born.2).map(Moment::Day),
            patient_number: Some(number.into()),
            ward: Some("A3".into()),
            room: Some("Kamer 4".into()),
            bed: Some(bed.into()),
            alerts: SectionFlag::NotRecorded,
            alert_texts: Vec::new(),
            allergies: SectionFlag::NotRecorded,
            allergy_texts: Vec::new(),
            resuscitation: ResuscitationSummary::NotRecorded,
        }
    }

    #[test]
    fn every_word_must_match_a_name_part_bed_number_or_birth_date() {
        let s = row("Ümit Yılmaz", "12", "P-0012", (1950, 3, 4));
        for q in [
            "umit",
            "YILMAZ",
            "umit yilmaz",
            "12",
            "kamer 4",
            "p0012",
            "P-0012",
            "04-03-1950",
            "4-3-1950",
            "04031950",
            "1950-03-04",
            "1950",
            "umit 1950",
            "",
        ] {
            assert!(s.matches(q), "{q:?} should match");
        }
        for q in [
            "1",
            "2",
            "umit jansen",
            "05-03-1950",
            "0012",
            "kamer",
            "1951",
            "--",
        ] {
            assert!(!s.matches(q), "{q:?} should not match");
        }
    }

    #[test]
    fn folding_ignores_case_and_accents() {
        assert_eq!(fold("Ëlise VAN Dijk"), "elise van dijk");
        assert_eq!(fold("Yılmaz"), "yilmaz");
    }
}
