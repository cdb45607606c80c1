//! Who the patient is and what must be seen before anything else, the same on every surface:
//! the patient page's identity banner (kept in view while scrolling: name, birth date and
//! age, sex, BSN, patient number, bed; then allergy, alert and policy chips), the chips row
//! the MAR header repeats on paper, and the location in words ("Bed 12-1, kamer 12, A3").

use super::chips::{alert_chip, allergy_cell, policy};
use super::icons::{Icon, icon};
use super::layout::opt;
use super::text::{birth_with_age, clean};
use super::{Key, PageCtx, urls};
use crate::record::summary::{PatientSummary, SectionFlag};
use crate::record::{PatientRecord, Sex};
use maud::{Markup, html};

/// Words a source may already put before a room or bed label, in the languages we meet.
const ROOM_WORDS: &[&str] = &["kamer", "room", "zimmer"];
const BED_WORDS: &[&str] = &["bed", "bett"];

/// `v` labelled with the UI's `word`, replacing a label word the source already put in
/// front ("Kamer 8" in English is "Room 8", never "Room Kamer 8").
fn labelled(word: &str, v: &str, known: &[&str]) -> String {
    let t = v.trim();
    let lower = t.to_lowercase();
    let rest = known.iter().find_map(|k| {
        lower
            .strip_prefix(k)
            .filter(|r| r.starts_with([' ', '.', ':']))
            .and_then(|r| t.len().checked_sub(r.len()).and_then(|at| t.get(at..)))
    });
    match rest {
        Some(r) => format!("{word} {}", r.trim_start_matches(['.', ':']).trim()),
        None => format!("{word} {t}"),
    }
}

/// "Bed 12-1, kamer 12, A3" from the location parts that are known.
pub(crate) fn location_text(ctx: &PageCtx, p: &PatientRecord) -> String {
    let mut parts = Vec::new();
    if let Some(b) = &p.location.bed {
        parts.push(labelled(ctx.t(Key::Bed), b, BED_WORDS));
    }
    if let Some(r) = &p.location.room {
        let room = ctx.t(Key::Room);
        // Lower case after the bed ("Bed 3-2, kamer 3"), capitalised when it leads.
        let word = if parts.is_empty() {
            room.to_owned()
        } else {
            room.to_lowercase()
        };
        parts.push(labelled(&word, r, ROOM_WORDS));
    }
    if let Some(w) = &p.location.ward {
        parts.push(w.to_string());
    }
    parts.join(", ")
}

fn sex_word(ctx: &PageCtx, s: Sex) -> &'static str {
    ctx.t(match s {
        Sex::Female => Key::SexFemale,
        Sex::Male => Key::SexMale,
        Sex::Other => Key::SexOther,
        Sex::Unknown => Key::Unknown,
    })
}

/// Allergies, alerts (each in its kind's colour) and the policy with its limits, as one
/// wrapping row: what a nurse must see before giving anything.
pub(crate) fn chips(ctx: &PageCtx, s: &PatientSummary) -> Markup {
    html! {
        div class="chips" {
            span class="chip-group chip-allergies" {
                span class="chip-label" { (ctx.t(Key::Allergies)) ": " }
                (allergy_cell(ctx, s.allergies, &s.allergy_texts))
            }
            @if s.alerts == SectionFlag::Present {
                span class="chip-group chip-alerts" {
                    span class="chip-label" { (ctx.t(Key::Alerts)) ": " }
                    @for a in &s.alert_items { (alert_chip(a.kind, &a.text)) " " }
                }
            }
            span class="chip-group chip-policy" {
                span class="chip-label" { (ctx.t(Key::Resuscitation)) ": " }
                (policy(ctx, s.resuscitation, &s.limits))
            }
        }
    }
}

/// The patient page's identity banner (sticky on screen).
pub(crate) fn banner(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    let id = &p.identity;
    let s = PatientSummary::from(p);
    html! {
        div class="identity" {
            div class="identity-top" {
                h1 class="patient-name" {
                    (clean(&id.name.display))
                    @if id.deceased { " " span class="deceased" { (ctx.t(Key::Deceased)) } }
                }
                p class="identity-actions" {
                    a class="btn btn-secondary btn-compact" href=(urls::patient_mar(&p.key)) { (icon(Icon::Print)) " " (ctx.t(Key::PrintMar)) }
                    " "
                    a class="btn btn-secondary btn-compact" href=(urls::patient_labels(&p.key)) { (icon(Icon::Print)) " " (ctx.t(Key::PrintLabels)) }
                    " "
                    a class="btn btn-secondary btn-compact" href=(urls::HOME) { (ctx.t(Key::BackToOverview)) }
                }
            }
            dl class="identity-facts" {
                div { dt { (ctx.t(Key::BirthDate)) } dd { @match &id.birth_date { Some(b) => (birth_with_age(ctx, b)), None => span class="flag-unknown" { (ctx.t(Key::Unknown)) } } } }
                div { dt { (ctx.t(Key::Sex)) } dd { (sex_word(ctx, id.sex)) } }
                div { dt { (ctx.t(Key::Bsn)) } dd { (opt(id.bsn.as_deref())) } }
                div { dt { (ctx.t(Key::PatientNumber)) } dd { (opt(id.patient_number.as_deref())) } }
                div class="loc" { dt { (ctx.t(Key::Location)) } dd { strong { (clean(&location_text(ctx, p))) } } }
            }
            (chips(ctx, &s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_word_from_the_source_is_replaced_not_doubled() {
        assert_eq!(labelled("Room", "Kamer 8", ROOM_WORDS), "Room 8");
        assert_eq!(labelled("Kamer", "kamer 8", ROOM_WORDS), "Kamer 8");
        assert_eq!(labelled("Kamer", "Room 12a", ROOM_WORDS), "Kamer 12a");
        assert_eq!(labelled("Room", "8", ROOM_WORDS), "Room 8");
        assert_eq!(labelled("Bed", "Bed 3-2", BED_WORDS), "Bed 3-2");
        assert_eq!(labelled("Bed", "bedside 4", BED_WORDS), "Bed bedside 4");
        assert_eq!(labelled("Room", "Kamer: 8", ROOM_WORDS), "Room 8");
        assert_eq!(
            labelled("Room", "Kamerlingh 2", ROOM_WORDS),
            "Room Kamerlingh 2"
        );
    }
}
