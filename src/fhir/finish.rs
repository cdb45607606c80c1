//! Finishing a mapping run: settling "none documented" statements against the listed
//! items, giving each patient a URL-safe key, sorting sections and patients (beds in
//! natural order), counting the texts cut when they were made and handing over the [`WardRecord`].

use super::context::*;
use crate::record::{
    IntoText, Listed, Moment, NotShownReason, PatientRecord, Text, WardRecord, cut_texts,
};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// Settles "none known" / "no information" statements against the listed items: a full
/// "none known" with nothing listed documents none; a partial one ("no known food allergy")
/// is a note and never makes the whole section "none"; one that the items or another
/// statement contradict is a note marked as a contradiction (and the section is not
/// "none"); "no information" leaves the section not recorded.
pub(super) fn settle_negations(cx: &mut Ctx<'_, '_>) {
    use crate::record::{NoteKind, NoteSection, SectionNote};
    let mut accounts: Vec<(usize, Outcome)> = Vec::new();
    let mut warnings = Vec::new();
    for b in cx.patients.iter_mut() {
        let negs = std::mem::take(&mut b.negations);
        for section in [Section::Allergies, Section::Medication, Section::Problems] {
            let mine: Vec<&Negation> = negs.iter().filter(|n| n.section == section).collect();
            if mine.is_empty() {
                continue;
            }
            let note_section = match section {
                Section::Allergies => NoteSection::Allergies,
                Section::Medication => NoteSection::Medication,
                Section::Problems => NoteSection::Problems,
            };
            let has_items = match section {
                Section::Allergies => !b.rec.allergies.items().is_empty(),
                Section::Medication => b.rec.medication.items().iter().any(|t| t.listed_now()),
                Section::Problems => !b.rec.problems.items().is_empty(),
            };
            let history_only =
                section == Section::Medication && !b.rec.medication.items().is_empty();
            let listed_categories: Vec<Text> = b
                .rec
                .allergies
                .items()
                .iter()
                .flat_map(|a| a.category.iter().cloned())
                .collect();
            let category_listed = |c: &str| listed_categories.iter().any(|x| x == c);
            let full: Vec<&&Negation> = mine
                .iter()
                .filter(|n| !n.no_info && n.partial.is_none())
                .collect();
            let no_info = mine.iter().any(|n| n.no_info);
            let contradicted_by_no_info = !has_items && !full.is_empty() && no_info;
            let mut notes: Vec<SectionNote> = Vec::new();
            for n in &mine {
                let note = |kind| SectionNote {
                    section: note_section,
                    kind,
                    statement: n.statement.clone().text(),
                    asserted: n.asserted,
                };
                let outcome = if n.no_info {
                    if has_items {
                        Outcome::NotShown(Skip::new(
                            NotShownReason::Invalid,
                            format!(
                                "statement {:?} not shown: the section lists items",
                                n.statement
                            ),
                        ))
                    } else {
                        if contradicted_by_no_info {
                            notes.push(note(NoteKind::Contradiction));
                        }
                        Outcome::Mapped
                    }
                } else if let Some(category) = n.partial {
                    if category_listed(category) {
                        warnings.push(format!(
                            "Patient/{}: statement {:?} contradicts a listed item; both are shown",
                            b.fhir_id, n.statement
                        ));
                        notes.push(note(NoteKind::Contradiction));
                    } else {
                        notes.push(note(NoteKind::PartialNegation));
                    }
                    Outcome::Mapped
                } else if has_items || contradicted_by_no_info {
                    warnings.push(format!(
                        "Patient/{}: statement {:?} contradicts the section; shown as a contradiction",
                        b.fhir_id, n.statement
                    ));
                    notes.push(note(NoteKind::Contradiction));
                    Outcome::Mapped
                } else if history_only {
                    notes.push(note(NoteKind::Statement));
                    Outcome::Mapped
                } else {
                    let (st, asserted) = (n.statement.clone(), n.asserted);
                    match section {
                        Section::Allergies => set_none(&mut b.rec.allergies, st, asserted),
                        Section::Medication => set_none(&mut b.rec.medication, st, asserted),
                        Section::Problems => set_none(&mut b.rec.problems, st, asserted),
                    }
                    Outcome::Mapped
                };
                if let Some(e) = n.entry {
                    accounts.push((e, outcome));
                }
            }
            for n in notes {
                if b.rec.notes.len() < MAX_NOTES && !b.rec.notes.contains(&n) {
                    b.rec.notes.push(n);
                }
            }
        }
    }
    for w in warnings {
        cx.warn(w);
    }
    for (e, o) in accounts {
        cx.account(e, o);
    }
}

fn set_none<T>(l: &mut Listed<T>, statement: String, asserted: Option<Moment>) {
    match l {
        Listed::NoneDocumented {
            statement: s,
            asserted: a,
        } => {
            if !s.split("; ").any(|x| x == statement.as_str()) {
                s.push_str(&format!("; {statement}"));
            }
            if a.is_none() {
                *a = asserted;
            }
        }
        _ => {
            *l = Listed::NoneDocumented {
                statement: statement.text(),
                asserted,
            }
        }
    }
}

pub(super) fn finish(mut cx: Ctx<'_, '_>) -> WardRecord {
    // Anything not accounted for (should not happen): report rather than lose it.
    let n = cx.ix.entries.len();
    for i in 0..n {
        if !cx.done.get(i).copied().unwrap_or(true) {
            cx.account(
                i,
                Outcome::NotShown(Skip::new(NotShownReason::Invalid, "not handled")),
            );
        }
    }
    let mut patients = Vec::with_capacity(cx.patients.len());
    let mut used_keys: HashSet<String> = HashSet::new();
    let mut warnings = Vec::new();
    for b in std::mem::take(&mut cx.patients) {
        let mut rec = b.rec;
        let base = rec
            .identity
            .patient_number
            .as_deref()
            .map(sanitize_key)
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| sanitize_key(&b.fhir_id));
        let base = if base.is_empty() {
            "patient".to_owned()
        } else {
            base
        };
        let mut key = base.clone();
        let mut n = 2u32;
        while used_keys.contains(&key) {
            let suffix = format!("-{n}");
            let keep = 64usize.saturating_sub(suffix.len());
            key = format!("{}{suffix}", base.chars().take(keep).collect::<String>());
            n = n.saturating_add(1);
        }
        used_keys.insert(key.clone());
        rec.key = Text::new(key);
        sort_sections(&mut rec);
        // Every text was bounded when it was made (`record::Text`); count the cut ones.
        let cut = cut_texts(&rec);
        if cut > 0 {
            warnings.push(format!(
                "Patient/{}: {cut} text(s) longer than {} characters cut",
                b.fhir_id,
                Text::MAX_CHARS
            ));
        }
        patients.push(rec);
    }
    for w in warnings {
        cx.warn(w);
    }
    patients.sort_by(|a, b| {
        natural_cmp_opt(a.location.bed.as_deref(), b.location.bed.as_deref())
            .then_with(|| a.identity.name.sort_key.cmp(&b.identity.name.sort_key))
            .then_with(|| a.key.cmp(&b.key))
    });
    WardRecord {
        ward: cx.opts.ward.clone().text(),
        patients,
        report: cx.report,
        next_change: cx.next_change,
    }
}

/// Sanitises to a URL-safe key: [A-Za-z0-9_-], at most 64 characters.
pub(super) fn sanitize_key(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// Natural order of bed labels ("2" < "10" < "12-2"); absent beds last.
pub(super) fn natural_cmp_opt(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Some(a), Some(b)) => natural_cmp(a, b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Natural string order: digit runs compare by value.
pub(super) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let mut ai = a.chars().peekable();
    let mut bi = b.chars().peekable();
    loop {
        match (ai.peek().copied(), bi.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let mut na = String::new();
                while let Some(c) = ai.peek().copied().filter(char::is_ascii_digit) {
                    na.push(c);
                    ai.next();
                }
                let mut nb = String::new();
                while let Some(c) = bi.peek().copied().filter(char::is_ascii_digit) {
                    nb.push(c);
                    bi.next();
                }
                let ta = na.trim_start_matches('0');
                let tb = nb.trim_start_matches('0');
                let o = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some(x), Some(y)) => {
                let o = x.to_lowercase().cmp(y.to_lowercase());
                if o != Ordering::Equal {
                    return o;
                }
                ai.next();
                bi.next();
            }
        }
    }
}

fn moment_key(m: Option<&Moment>) -> Option<DateTime<Utc>> {
    m.and_then(Moment::earliest_utc)
}

fn sort_sections(rec: &mut PatientRecord) {
    if let Listed::Items { items } = &mut rec.administrations {
        items.sort_by_key(|x| std::cmp::Reverse(moment_key(x.at.as_ref())));
    }
    for l in [&mut rec.vitals, &mut rec.labs] {
        if let Listed::Items { items } = l {
            items.sort_by_key(|x| std::cmp::Reverse(moment_key(x.at.as_ref())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beds_sort_naturally() {
        use std::cmp::Ordering::*;
        assert_eq!(natural_cmp("2", "10"), Less);
        assert_eq!(natural_cmp("12-2", "12-10"), Less);
        assert_eq!(natural_cmp("10", "9"), Greater);
        assert_eq!(natural_cmp_opt(Some("1"), None), Less);
    }

    #[test]
    fn keys_are_url_safe_and_bounded() {
        assert_eq!(sanitize_key("nl-core/Patient 01"), "nl-core-Patient-01");
        assert_eq!(sanitize_key(&"a".repeat(100)).len(), 64);
    }
}
