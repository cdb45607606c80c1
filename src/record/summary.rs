//! The one-line view of a patient for the ward overview and search results, derived from
//! the full record so that the overview can never disagree with the patient page.

use super::{AlertKind, Decision, DirectiveKind, Listed, Moment, PatientRecord, Text};
use serde::{Deserialize, Serialize};

/// Status of a section in the overview, keeping "not recorded" apart from "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionFlag {
    /// The source says nothing about the section: unknown, shown as "niet vastgelegd".
    NotRecorded,
    /// The source states there are none (e.g. no known allergies).
    NoneDocumented,
    /// The section lists one or more items.
    Present,
}

/// Resuscitation policy as the overview shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResuscitationSummary {
    /// No resuscitation directive in the data: unknown, ask / follow hospital protocol.
    NotRecorded,
    /// Resuscitate ("wel reanimeren").
    Permit,
    /// Do not resuscitate ("niet reanimeren").
    Deny,
    /// Conditional or otherwise: read the patient page.
    Other,
    /// More than one active resuscitation directive that disagree.
    Conflicting,
}

/// An active treatment limit other than the resuscitation policy ("Niet: beademing").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreatmentLimit {
    /// What it is about, as the source names it ("Beademing", "Opname IC").
    pub treatment: Text,
    /// `Deny` (not to be given) or `Other` (conditional: read the record).
    pub decision: Decision,
}

/// An alert as the overview shows it: its kind picks the colour and icon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertItem {
    /// What the alert is about (picks colour and icon).
    pub kind: AlertKind,
    /// The alert in words.
    pub text: Text,
}

/// One row of the ward overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientSummary {
    /// The patient's key in the generation ([`super::PatientRecord::key`]): links to the
    /// patient's page.
    pub key: Text,
    /// The name as shown ([`super::PersonName::display`]).
    pub name: Text,
    /// The name's sort and search key ([`super::PersonName::sort_key`]).
    pub sort_key: Text,
    /// Birth date as precise as the source gives it.
    pub birth_date: Option<Moment>,
    /// The hospital's patient number, shown and searched.
    pub patient_number: Option<Text>,
    /// Burgerservicenummer, for search only (never shown on the overview).
    #[serde(default)]
    pub bsn: Option<Text>,
    /// The ward, as the source names it.
    pub ward: Option<Text>,
    /// The room, as the source names it.
    pub room: Option<Text>,
    /// The bed, as the source names it; the overview sorts by it.
    pub bed: Option<Text>,
    /// Whether the alert section is unknown, none or has items.
    pub alerts: SectionFlag,
    /// The alerts with their kind (e.g. isolation "MRSA", fall risk "Valrisico").
    pub alert_items: Vec<AlertItem>,
    /// Whether the allergy section is unknown, none or has items.
    pub allergies: SectionFlag,
    /// The allergens in words, in record order.
    pub allergy_texts: Vec<Text>,
    /// The resuscitation policy from the active directives (conflicting ones say so).
    pub resuscitation: ResuscitationSummary,
    /// Active treatment limits besides resuscitation (deny or conditional), in record
    /// order: every surface that shows the resuscitation policy shows these with it.
    #[serde(default)]
    pub limits: Vec<TreatmentLimit>,
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
        let mut limits: Vec<TreatmentLimit> = Vec::new();
        for d in p.directives.items() {
            if d.kind == DirectiveKind::Treatment && d.decision != Decision::Permit {
                let limit = TreatmentLimit {
                    treatment: d.treatment.clone(),
                    decision: d.decision,
                };
                if !limits.contains(&limit) {
                    limits.push(limit);
                }
                continue;
            }
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
            bsn: p.identity.bsn.clone(),
            ward: p.location.ward.clone(),
            room: p.location.room.clone(),
            bed: p.location.bed.clone(),
            alerts: flag(&p.alerts),
            alert_items: p
                .alerts
                .items()
                .iter()
                .map(|a| AlertItem {
                    kind: a.kind,
                    text: a.text.clone(),
                })
                .collect(),
            allergies: flag(&p.allergies),
            allergy_texts: p
                .allergies
                .items()
                .iter()
                .map(|a| a.substance.clone())
                .collect(),
            resuscitation: resus,
            limits,
        }
    }
}

/// The longest search query taken into account, in characters, and the most words.
pub(crate) const SEARCH_MAX_CHARS: usize = 100;
pub(crate) const SEARCH_MAX_WORDS: usize = 8;

/// The words that may stand before a room or bed number in a query or in the data.
const ROOM_WORDS: &[&str] = &["kamer", "room", "k"];
const BED_WORDS: &[&str] = &["bed", "b"];

/// `v` without a leading room or bed word from `words` ("Kamer 12" → "12"), folded.
fn strip_word(v: &str, words: &[&str]) -> String {
    let f = fold(v.trim());
    for w in words {
        if let Some(rest) = f.strip_prefix(w) {
            let rest = rest.trim_start_matches(['.', ':']);
            if rest.starts_with(char::is_whitespace)
                || (rest.starts_with(|c: char| c.is_ascii_digit()) && w.len() > 1)
            {
                return rest.trim().to_owned();
            }
        }
    }
    f
}

/// Whether bed label `bed` (folded, word stripped) is `w` or starts with `w` followed by a
/// separator: "12" finds "12-1" and "12-2", never "120-1" or "121".
fn bed_prefix(bed: &str, w: &str) -> bool {
    !w.is_empty()
        && bed.strip_prefix(w).is_some_and(|rest| {
            rest.is_empty()
                || rest.starts_with(|c: char| !c.is_alphanumeric())
                || w.ends_with(|c: char| !c.is_alphanumeric())
        })
}

/// Letters and digits only, lower-cased ("P-0012" → "p0012", "9999 11 120" → "999911120").
fn alnum(t: &str) -> String {
    t.chars()
        .filter(char::is_ascii_alphanumeric)
        .flat_map(|c| c.to_lowercase())
        .collect()
}

impl PatientSummary {
    /// Does this patient match a nurse's search? The one matcher behind the ward search.
    ///
    /// The whole query matches when, letters and digits only, it is the patient number,
    /// the BSN or the birth date ("9999 11 120", "04 03 1950"), or when it names the room
    /// or the bed: "kamer 12", "room 12", "bed 12-1", "12-1", or the room number alone
    /// ("12" finds every bed in Kamer 12), or a bed prefix ("12" also finds beds "12-1",
    /// "12-2"). Otherwise every word must match one of: part of the name (case and accents
    /// ignored), the bed or room as above, the patient number or BSN exactly (letters and
    /// digits only), or the birth date as dd-mm-jjjj, d-m-jjjj, ddmmjjjj, jjjj-mm-dd or the
    /// year alone. An empty query matches everyone.
    pub fn matches(&self, query: &str) -> bool {
        let q: String = query.chars().take(SEARCH_MAX_CHARS).collect();
        let whole = fold(q.split_whitespace().collect::<Vec<_>>().join(" ").as_str());
        if whole.is_empty() {
            return true;
        }
        if self.matches_place(&whole) {
            return true;
        }
        let wa = alnum(&whole);
        if !wa.is_empty() && (self.matches_number(&wa) || self.birth_forms().contains(&wa)) {
            return true;
        }
        q.split_whitespace()
            .take(SEARCH_MAX_WORDS)
            .map(fold)
            .all(|w| self.matches_word(&w))
    }

    /// The query (folded) names this patient's room or bed.
    fn matches_place(&self, q: &str) -> bool {
        let room = self.room.as_deref().map(|r| strip_word(r, ROOM_WORDS));
        let bed = self.bed.as_deref().map(|b| strip_word(b, BED_WORDS));
        let room_q = strip_word(q, ROOM_WORDS);
        let bed_q = strip_word(q, BED_WORDS);
        let said_room = room_q != fold(q.trim());
        let said_bed = bed_q != fold(q.trim());
        if room_q.is_empty() || bed_q.is_empty() {
            return false;
        }
        let room_hit = room
            .as_deref()
            .is_some_and(|r| !r.is_empty() && r == room_q);
        // "kamer 12" also finds the beds named after room 12 when no room is recorded.
        let bed_hit = bed.as_deref().is_some_and(|b| bed_prefix(b, &bed_q));
        match (said_room, said_bed) {
            (true, _) => {
                room_hit
                    || (room.is_none() && bed.as_deref().is_some_and(|b| bed_prefix(b, &room_q)))
            }
            (false, true) => bed_hit,
            (false, false) => room_hit || bed_hit,
        }
    }

    /// `wa` (letters and digits) is the patient number or the BSN.
    fn matches_number(&self, wa: &str) -> bool {
        [&self.patient_number, &self.bsn]
            .iter()
            .any(|v| v.as_deref().is_some_and(|n| alnum(n) == wa))
    }

    fn birth_forms(&self) -> Vec<String> {
        match self.birth_date {
            Some(Moment::Day(d)) => day_forms(d),
            Some(Moment::Instant(t)) => day_forms(t.date_naive()),
            Some(Moment::Month(y, m)) => {
                vec![format!("{m:02}{y}"), format!("{y}{m:02}"), y.to_string()]
            }
            Some(Moment::Year(y)) => vec![y.to_string()],
            None => Vec::new(),
        }
    }

    fn matches_word(&self, w: &str) -> bool {
        if fold(&self.name).contains(w) || fold(&self.sort_key).contains(w) {
            return true;
        }
        if self.matches_place(w) {
            return true;
        }
        let wa = alnum(w);
        if wa.is_empty() {
            return false;
        }
        self.matches_number(&wa) || self.birth_forms().contains(&wa)
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
            bsn: Some("999911120".into()),
            ward: Some("A3".into()),
            room: Some("Kamer 4".into()),
            bed: Some(bed.into()),
            alerts: SectionFlag::NotRecorded,
            alert_items: Vec::new(),
            allergies: SectionFlag::NotRecorded,
            allergy_texts: Vec::new(),
            resuscitation: ResuscitationSummary::NotRecorded,
            limits: Vec::new(),
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
    fn finds_what_nurses_type_for_rooms_beds_numbers_and_dates() {
        let mut s = row("Johanna de Vries", "12-1", "PN-773101", (1948, 2, 29));
        s.room = Some("Kamer 12".into());
        for q in [
            "12",
            "kamer 12",
            "Kamer 12",
            "room 12",
            "bed 12-1",
            "Bed 12-1",
            "12-1",
            "bed 12",
            "999911120",
            "9999 11 120",
            "PN 773101",
            "pn-773101",
            "29 02 1948",
            "29-2-1948",
            "vries",
            "jo",
            "de vries 1948",
        ] {
            assert!(s.matches(q), "{q:?} should match");
        }
        for q in [
            "1",
            "2",
            "120",
            "121",
            "kamer 1",
            "kamer 120",
            "bed 12-2",
            "bed 1",
            "8",
            "99991112",
            "773101",
            "vries 1949",
        ] {
            assert!(!s.matches(q), "{q:?} should not match");
        }
        // A room recorded without its word, a bed with a letter.
        let mut t = row("Piet Smit", "8A", "PN-1", (1950, 1, 1));
        t.room = Some("8".into());
        for q in ["8", "kamer 8", "bed 8a", "8a"] {
            assert!(t.matches(q), "{q:?} should match");
        }
        assert!(!t.matches("bed 8b"));
    }

    #[test]
    fn folding_ignores_case_and_accents() {
        assert_eq!(fold("Ëlise VAN Dijk"), "elise van dijk");
        assert_eq!(fold("Yılmaz"), "yilmaz");
    }
}
