//! The patient page: identity banner on top (`identity`, kept in view while scrolling),
//! under it an identity conflict and how much could not be read (when so), then directives
//! (resuscitation first, then every other limit), alerts, allergies, medication (one row per
//! current treatment with its state, doses, last administrations and history; stopped,
//! ended and cancelled ones apart), recent administrations, problems, latest vitals and
//! labs, contacts, devices and admission. Every section shows "Niet vastgelegd" (unknown)
//! differently from "Geen (vastgelegd: ...)", and statements about a section (partial or
//! contradictory) next to it.

use super::chips::{limit_text, resus_badge};
use super::dosetext::{admin_order, dosage_block, given, last_administrations};
use super::icons::{Icon, icon};
use super::identity;
use super::layout::{self, listed_status, opt};
use super::medgroup::{
    attention_label, fate_label, high_risk_mark, kind_word, split, state_class, state_label,
    unreadable_label,
};
use super::text::{clean, code_word, moment};
use super::{Key, PageCtx};
use crate::record::summary::PatientSummary;
use crate::record::{
    Administration, AlertKind, Criticality, Decision, DirectiveKind, Listed, Measurement,
    MedicationKind, MedicationLine, Moment, NoteKind, NoteSection, PatientRecord, Treatment,
    TreatmentState, UnreadReason,
};
use chrono::{DateTime, Utc};
use maud::{Markup, html};

/// A coded value (status, category ...) in words, or a dash.
fn coded(ctx: &PageCtx, v: Option<&str>) -> Markup {
    match v {
        Some(s) if !s.trim().is_empty() => html! { (code_word(ctx.lang, s)) },
        _ => opt(None),
    }
}

fn sort_time(m: &Option<Moment>) -> Option<DateTime<Utc>> {
    m.as_ref().and_then(Moment::earliest_utc)
}

/// An administration's time as a nurse reads it: date and clock time, or the date and
/// "tijd onbekend" when the EPD recorded the day only (never a made-up midnight).
pub(crate) fn admin_moment(ctx: &PageCtx, m: &Moment) -> String {
    match m {
        Moment::Day(_) => format!("{} — {}", moment(ctx, m), ctx.t(Key::TimeUnknown)),
        _ => moment(ctx, m),
    }
}

fn section(ctx: &PageCtx, id: &str, title: Key, body: Markup) -> Markup {
    html! {
        section class="psection" id=(id) aria-labelledby=(format!("{id}-h")) {
            h2 id=(format!("{id}-h")) { (ctx.t(title)) }
            (body)
        }
    }
}

fn directives(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    let summary = PatientSummary::from(p);
    let mut items: Vec<_> = p.directives.items().iter().collect();
    items.sort_by_key(|d| match d.kind {
        DirectiveKind::Resuscitation => 0,
        DirectiveKind::Treatment => 1,
        DirectiveKind::AdvanceDirective => 2,
    });
    html! {
        div class="resus-box" {
            span class="resus-label" { (ctx.t(Key::Resuscitation)) ": " }
            (resus_badge(ctx, summary.resuscitation))
            @if !summary.limits.is_empty() {
                div class="limits-box" {
                    span class="resus-label" { (ctx.t(Key::TreatmentLimits)) ": " }
                    span class="limits" {
                        (icon(Icon::Warning)) " "
                        @for (i, l) in summary.limits.iter().enumerate() {
                            @if i > 0 { ", " }
                            (limit_text(ctx, l))
                        }
                    }
                }
            }
        }
        @if let Some(m) = listed_status(ctx, &p.directives) {
            (m)
        } @else {
            table class="data" {
                thead { tr {
                    th scope="col" { (ctx.t(Key::Kind)) }
                    th scope="col" { (ctx.t(Key::Decision)) }
                    th scope="col" { (ctx.t(Key::Explanation)) }
                    th scope="col" { (ctx.t(Key::Source)) }
                    th scope="col" { (ctx.t(Key::Date)) }
                    th scope="col" { (ctx.t(Key::Status)) }
                } }
                tbody {
                    @for d in items {
                        tr class=(if d.kind == DirectiveKind::Resuscitation { "row-resus" } else { "" }) {
                            th scope="row" {
                                (ctx.t(match d.kind {
                                    DirectiveKind::Resuscitation => Key::DirectiveResus,
                                    DirectiveKind::Treatment => Key::DirectiveTreatment,
                                    DirectiveKind::AdvanceDirective => Key::DirectiveAdvance,
                                }))
                                @if !d.treatment.trim().eq_ignore_ascii_case(ctx.t(Key::DirectiveResus)) {
                                    br; span class="sub" { (clean(&d.treatment)) }
                                }
                            }
                            td {
                                @match (d.decision, d.kind == DirectiveKind::Resuscitation) {
                                    (Decision::Permit, true) => span class="decision-permit" { (icon(Icon::Permit)) " " strong { (ctx.t(Key::ResusPermit)) } },
                                    (Decision::Deny, true) => span class="decision-deny" { (icon(Icon::Deny)) " " strong { (ctx.t(Key::ResusDeny)) } },
                                    (Decision::Permit, false) => span class="decision-permit" { strong { (ctx.t(Key::DecisionPermit)) ": " } (clean(&d.treatment)) },
                                    (Decision::Deny, false) => span class="decision-deny" { (icon(Icon::Deny)) " " strong { (ctx.t(Key::DecisionDeny)) ": " } (clean(&d.treatment)) },
                                    (Decision::Other, _) => span class="decision-other" { (icon(Icon::Warning)) " " (ctx.t(Key::DecisionOther)) },
                                }
                            }
                            td { (opt(d.text.as_deref())) }
                            td { (opt(d.source.as_deref())) }
                            td class="nowrap" { (opt(d.date.as_ref().map(|m| moment(ctx, m)).as_deref())) }
                            td { (coded(ctx, d.status.as_deref())) }
                        }
                    }
                }
            }
        }
    }
}

fn alerts(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    html! {
        @if let Some(m) = listed_status(ctx, &p.alerts) { (m) } @else {
            ul class="alerts" {
                @for a in p.alerts.items() {
                    li class="flag-alert" {
                        (icon(match a.kind { AlertKind::Isolation => Icon::Isolation, AlertKind::FallRisk => Icon::Fall, AlertKind::Other => Icon::Warning }))
                        " " strong { (clean(&a.text)) }
                        @if let Some(s) = &a.since { " — " (ctx.t(Key::Since)) " " (moment(ctx, s)) }
                        @if let Some(n) = &a.note { br; span class="sub" { (clean(n)) } }
                    }
                }
            }
        }
    }
}

fn allergies(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    html! {
        (section_notes(ctx, p, NoteSection::Allergies))
        @if let Some(m) = listed_status(ctx, &p.allergies) { (m) } @else {
            table class="data allergies" {
                thead { tr {
                    th scope="col" { (ctx.t(Key::Substance)) }
                    th scope="col" { (ctx.t(Key::Criticality)) }
                    th scope="col" { (ctx.t(Key::Reactions)) }
                    th scope="col" { (ctx.t(Key::Kind)) }
                    th scope="col" { (ctx.t(Key::Status)) }
                    th scope="col" { (ctx.t(Key::Date)) }
                } }
                tbody {
                    @for a in p.allergies.items() {
                        tr {
                            th scope="row" class="substance" { (icon(Icon::Allergy)) " " (clean(&a.substance)) }
                            td {
                                @match a.criticality {
                                    Criticality::High => span class="crit-high" { (icon(Icon::Warning)) " " strong { (ctx.t(Key::CritHigh)) } },
                                    Criticality::Low => span { (ctx.t(Key::CritLow)) },
                                    Criticality::UnableToAssess => span { (ctx.t(Key::CritUnable)) },
                                    Criticality::NotRecorded => span class="flag-unknown" { (ctx.t(Key::NotRecorded)) },
                                }
                            }
                            td {
                                @if a.reactions.is_empty() { span class="flag-unknown" { (ctx.t(Key::NotRecorded)) } }
                                @for (i, r) in a.reactions.iter().enumerate() {
                                    @if i > 0 { "; " }
                                    (clean(&r.manifestation))
                                    @if let Some(s) = &r.severity { " (" (code_word(ctx.lang, s)) ")" }
                                }
                            }
                            td {
                                (coded(ctx, a.kind.as_deref()))
                                @for c in &a.category { ", " (code_word(ctx.lang, c)) }
                            }
                            td {
                                (coded(ctx, a.clinical_status.as_deref()))
                                @if let Some(v) = &a.verification { " / " (code_word(ctx.lang, v)) }
                            }
                            td class="nowrap" { (opt(a.recorded.as_ref().map(|m| moment(ctx, m)).as_deref())) }
                        }
                        @if let Some(n) = &a.note {
                            tr class="subrow" { td colspan="6" { (ctx.t(Key::Note)) ": " (clean(n)) } }
                        }
                    }
                }
            }
        }
    }
}

/// "status onbekend", with the source's code when it is not just `unknown`.
fn admin_status_unknown(ctx: &PageCtx, a: &Administration) -> Markup {
    html! {
        span class="flag-unknown" {
            (ctx.t(Key::AdminStatusUnknown))
            @if let Some(s) = a.status.as_deref().filter(|s| s.trim() != "unknown") { " (" (clean(s)) ")" }
        }
    }
}

fn admin_short(ctx: &PageCtx, a: &Administration) -> Markup {
    html! {
        span class="nowrap" { strong { (opt(a.at.as_ref().map(|m| admin_moment(ctx, m)).as_deref())) } }
        @if let Some(d) = &a.dose { " · " (clean(d)) }
        @match given(a) {
            Some(true) => {},
            Some(false) => {
                " · " span class="notdone" { (icon(Icon::Warning)) " " (ctx.t(Key::NotDone)) }
                @if let Some(s) = &a.status { " (" (code_word(ctx.lang, s)) ")" }
            },
            None => { " · " (admin_status_unknown(ctx, a)) },
        }
        @if let Some(n) = &a.note { br; span class="sub" { (clean(n)) } }
        @if let Some(p) = &a.performer { br; span class="sub" { (ctx.t(Key::GivenBy)) " " (clean(p)) } }
    }
}

fn last_given_cell(ctx: &PageCtx, p: &PatientRecord, t: &Treatment) -> Markup {
    if p.administrations.is_not_recorded() {
        return html! { span class="flag-unknown" { (icon(Icon::Unknown)) " " (ctx.t(Key::AdminNotRecorded)) } };
    }
    let (latest, done) = last_administrations(&ctx.tz, t, p.administrations.items());
    html! {
        @match latest {
            None => span class="muted" { (ctx.t(Key::NeverGivenInWindow)) },
            Some(a) => {
                (admin_short(ctx, a))
                @if let Some(d) = done {
                    div class="sub" { (ctx.t(Key::LastGiven)) ": " (admin_short(ctx, d)) }
                }
            }
        }
    }
}

fn period_text(ctx: &PageCtx, l: &MedicationLine) -> String {
    let mut s = l
        .start
        .as_ref()
        .map(|m| moment(ctx, m))
        .unwrap_or_else(|| "—".to_owned());
    if let Some(e) = &l.end {
        s.push_str(" – ");
        s.push_str(&moment(ctx, e));
    }
    s
}

/// The state of a treatment: the state in words, or "could not be fully read" (with the
/// reasons and what it was read as), and anything worth a second look.
fn state_cell(ctx: &PageCtx, t: &Treatment) -> Markup {
    html! {
        @if t.unreadable.is_empty() {
            span class=(state_class(t)) {
                @if matches!(t.state, TreatmentState::Paused { .. }) { (icon(Icon::Deny)) " " }
                (state_label(ctx, &t.state))
            }
        } @else {
            span class=(state_class(t)) { (icon(Icon::Warning)) " " (ctx.t(Key::MedUnreadable)) }
            ul class="medreasons" {
                @for u in &t.unreadable { li { (clean(&unreadable_label(ctx, u))) } }
            }
            span class="sub" { (ctx.t(Key::MedReadAs)) ": " (state_label(ctx, &t.state)) }
        }
        @for a in &t.attention {
            div class="medattention" { (icon(Icon::Warning)) " " (clean(&attention_label(ctx, a))) }
        }
    }
}

/// One building block's dosage and note.
fn line_dosage(ctx: &PageCtx, l: &MedicationLine) -> Markup {
    html! {
        @if l.dosages.is_empty() { span class="flag-unknown" { (icon(Icon::Unknown)) " " (ctx.t(Key::NotRecorded)) } }
        @for d in &l.dosages { (dosage_block(ctx, d)) }
        @if let Some(n) = &l.note { div class="sub" { (ctx.t(Key::Note)) ": " (clean(n)) } }
    }
}

/// A block shown under the leading one (administration agreement, regimen, use).
fn sub_block(ctx: &PageCtx, label: &str, lead: &MedicationLine, l: &MedicationLine) -> Markup {
    html! {
        div class="admin-agreement" {
            span class="label" { (label) }
            @if l.drug.name != lead.drug.name {
                ": " strong { (clean(&l.drug.name)) }
                @if let Some(s) = &l.drug.strength { " " (clean(s)) }
            }
            @if !l.fate.is_in_force() { " (" (fate_label(ctx, &l.fate)) ")" }
            @if l.dosages != lead.dosages {
                @for d in &l.dosages { (dosage_block(ctx, d)) }
            } @else {
                " " span class="sub" { "(" (ctx.t(Key::SameDosage)) ")" }
            }
            @if let Some(r) = l.reason.as_ref().filter(|r| Some(*r) != lead.reason.as_ref()) {
                div class="sub" { (ctx.t(Key::Reason)) ": " (clean(r)) }
            }
            @if let Some(n) = &l.note { div class="sub" { (ctx.t(Key::Note)) ": " (clean(n)) } }
        }
    }
}

/// The readable history of a treatment: superseded, stopped, cancelled and ended blocks
/// and stop agreements, newest first.
fn history_block(ctx: &PageCtx, t: &Treatment) -> Markup {
    let h = t.history();
    html! {
        @if !h.is_empty() || t.omitted > 0 {
            details class="medhistory" {
                summary { (ctx.t(Key::MedHistory)) " (" (h.len() + t.omitted as usize) ")" }
                ul {
                    @for l in &h {
                        li {
                            span class="label" { (kind_word(ctx, l.kind)) } ": "
                            (fate_label(ctx, &l.fate))
                            @let doses: Vec<&str> = l.dosages.iter().filter_map(|d| d.dose.as_deref()).collect();
                            @if !doses.is_empty() { " · " (clean(&doses.join(", "))) }
                            @if let Some(s) = l.dosages.first().and_then(|d| d.schedule.text.as_deref()) { " · " (clean(s)) }
                            " · " span class="nowrap" { (period_text(ctx, l)) }
                        }
                    }
                    @if t.omitted > 0 { li class="muted" { (t.omitted) " " (ctx.t(Key::MedOmitted)) } }
                }
            }
        }
    }
}

fn treatment_row(ctx: &PageCtx, p: &PatientRecord, t: &Treatment) -> Markup {
    let leads = t.lead_lines();
    let Some(lead) = leads.first().copied() else {
        return html! {};
    };
    let lead_kind = t.lead_kind();
    let others: Vec<&MedicationLine> = t
        .blocks
        .iter()
        .filter(|b| b.kind != lead_kind && b.fate.is_in_force() && b.kind != MedicationKind::Use)
        .collect();
    let row_class = match (&t.state, t.unreadable.is_empty()) {
        (_, false) => "med-unreadable",
        (TreatmentState::Paused { .. }, true) => "med-paused",
        (TreatmentState::Future { .. }, true) => "med-future",
        _ => "",
    };
    html! {
        tr class=(row_class) {
            th scope="row" class="drug" {
                (high_risk_mark(ctx, t.drug()))
                (clean(&t.drug().name))
                @if let Some(s) = &t.drug().strength { " " span class="strength" { (clean(s)) } }
                @if let Some(f) = &t.drug().form { br; span class="sub" { (clean(f)) } }
                @if let Some(r) = &lead.reason { br; span class="sub" { (ctx.t(Key::Reason)) ": " (clean(r)) } }
                div class="medstatecell" { (state_cell(ctx, t)) }
            }
            td {
                @for (n, l) in leads.iter().enumerate() {
                    @if n > 0 || lead_kind != MedicationKind::Agreement {
                        div class="sub" { (kind_word(ctx, l.kind)) }
                    }
                    (line_dosage(ctx, l))
                }
                @for l in &others { (sub_block(ctx, kind_word(ctx, l.kind), lead, l)) }
                @if let Some(u) = t.last_use() { (sub_block(ctx, ctx.t(Key::MedLastUse), lead, u)) }
                (history_block(ctx, t))
            }
            td class="lastgiven" { (last_given_cell(ctx, p, t)) }
            td class="nowrap" { (period_text(ctx, lead)) }
            td {
                (opt(lead.prescriber.as_deref()))
                br;
                span class="sub" {
                    (kind_word(ctx, lead.kind))
                    @if let Some(c) = &lead.category { " (" (clean(c)) ")" }
                    @for l in &others {
                        br; (kind_word(ctx, l.kind))
                        @if let Some(c) = &l.category { " (" (clean(c)) ")" }
                        @if let Some(pr) = &l.prescriber { ": " (clean(pr)) }
                    }
                }
            }
        }
    }
}

/// Stopped, ended and cancelled treatments: readable, never among the current ones.
fn past_treatments(ctx: &PageCtx, past: &[&Treatment]) -> Markup {
    html! {
        @if !past.is_empty() {
            details class="medpast" {
                summary { (ctx.t(Key::MedPast)) " (" (past.len()) ")" }
                table class="data meds-past" {
                    thead { tr {
                        th scope="col" { (ctx.t(Key::Drug)) }
                        th scope="col" { (ctx.t(Key::MedState)) }
                        th scope="col" { (ctx.t(Key::Dose)) " / " (ctx.t(Key::Schedule)) }
                        th scope="col" { (ctx.t(Key::Start)) " – " (ctx.t(Key::End)) }
                    } }
                    tbody {
                        @for t in past {
                            @let lead = t.lead_lines();
                            tr {
                                th scope="row" {
                                    (clean(&t.drug().name))
                                    @if let Some(s) = &t.drug().strength { " " (clean(s)) }
                                }
                                td { span class=(state_class(t)) { (state_label(ctx, &t.state)) } }
                                td {
                                    @for l in &lead {
                                        @for d in &l.dosages {
                                            div {
                                                @if let Some(dose) = &d.dose { (clean(dose)) }
                                                @if let Some(s) = &d.schedule.text { " · " (clean(s)) }
                                            }
                                        }
                                    }
                                    (history_block(ctx, t))
                                }
                                td class="nowrap" { @if let Some(l) = lead.first() { (period_text(ctx, l)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Notes next to a section: partial negations ("geen voedselallergie bekend"),
/// contradictions and statements.
pub(crate) fn section_notes(ctx: &PageCtx, p: &PatientRecord, section: NoteSection) -> Markup {
    html! {
        @for n in p.notes.iter().filter(|n| n.section == section) {
            p class=(match n.kind { NoteKind::Contradiction => "sectionnote contradiction", _ => "sectionnote" }) {
                @match n.kind {
                    NoteKind::Contradiction => { (icon(Icon::Conflict)) " " strong { (ctx.t(Key::NoteContradiction)) } ": " },
                    NoteKind::PartialNegation => { (icon(Icon::NoneDocumented)) " " (ctx.t(Key::NotePartial)) ": " },
                    NoteKind::Statement => { (icon(Icon::NoneDocumented)) " " (ctx.t(Key::Recorded)) ": " },
                }
                "“" (clean(&n.statement)) "”"
                @if let Some(a) = &n.asserted { " (" (moment(ctx, a)) ")" }
            }
        }
    }
}

fn unread_reason(ctx: &PageCtx, r: UnreadReason) -> &'static str {
    ctx.t(match r {
        UnreadReason::Invalid => Key::UnreadInvalid,
        UnreadReason::UnknownModifier => Key::UnreadUnknownModifier,
        UnreadReason::UnresolvedReference => Key::UnreadUnresolved,
        UnreadReason::UnsupportedVersion => Key::UnreadUnsupportedVersion,
        UnreadReason::InvalidValue => Key::UnreadInvalidValue,
    })
}

/// Most unread items listed on a printed MAR (the count is always complete).
const MAR_UNREAD_LISTED: usize = 12;

/// "3 gegevens konden niet worden gelezen" with the list of what and why behind it
/// (expandable on screen; `print` lists them, capped, for paper). Nothing when all was read.
pub(crate) fn unread_notice(ctx: &PageCtx, p: &PatientRecord, print: bool) -> Markup {
    let n = p.unread_count();
    let listed = p.unread.len();
    let shown = if print {
        listed.min(MAR_UNREAD_LISTED)
    } else {
        listed
    };
    html! {
        @if n > 0 {
            div class="unread" role="alert" {
                (icon(Icon::Warning)) " "
                strong { (n) " " (ctx.t(if n == 1 { Key::UnreadOne } else { Key::UnreadMany })) }
                " " span class="sub" { (ctx.t(Key::UnreadCheck)) }
                @let list = html! {
                    ul class="unread-list" {
                        @for u in p.unread.iter().take(shown) {
                            li {
                                strong { (clean(&u.resource_type)) }
                                @if let Some(id) = &u.id { " " span class="sub" { (clean(id)) } }
                                " — " (unread_reason(ctx, u.reason))
                                " " span class="sub" { "(" (clean(&u.detail)) ")" }
                            }
                        }
                        @if shown < n { li class="muted" { (ctx.t(Key::UnreadMore)) " " (n - shown) " " (ctx.t(Key::UnreadMoreTail)) } }
                    }
                };
                @if print { (list) } @else {
                    details class="unread-details" {
                        summary { (ctx.t(Key::UnreadShow)) }
                        (list)
                    }
                }
            }
        }
    }
}

/// A conflicting identity value as shown: birth dates in Dutch notation.
fn conflict_value(field: &str, v: &str) -> String {
    match chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if field == "birth_date" => crate::timefmt::date(d),
        _ => v.to_owned(),
    }
}

/// "IDENTITEIT NIET EENDUIDIG": the source holds this patient more than once with differing
/// name, birth date or patient number. Nothing when the copies agree.
pub(crate) fn identity_conflict_notice(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    html! {
        @if !p.identity_conflicts.is_empty() {
            div class="idconflict" role="alert" {
                (icon(Icon::Conflict)) " " strong { (ctx.t(Key::IdentityConflict)) }
                " " (ctx.t(Key::IdentityConflictExplain))
                ul {
                    @for c in &p.identity_conflicts {
                        li {
                            (ctx.t(match c.field.as_str() {
                                "birth_date" => Key::BirthDate,
                                "patient_number" => Key::PatientNumber,
                                "bsn" => Key::Bsn,
                                _ => Key::Name,
                            }))
                            ": "
                            @for (i, v) in c.values.iter().enumerate() {
                                @if i > 0 { " / " }
                                strong { (clean(&conflict_value(&c.field, v))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn medication(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    let (current, past) = split(p.medication.items());
    html! {
        (section_notes(ctx, p, NoteSection::Medication))
        @if let Some(m) = listed_status(ctx, &p.medication) { (m) } @else {
            @if current.is_empty() {
                p class="nocurrent" { strong { (ctx.t(Key::MedNoCurrent)) } }
            } @else {
                table class="data meds" {
                    thead { tr {
                        th scope="col" { (ctx.t(Key::Drug)) " / " (ctx.t(Key::MedState)) }
                        th scope="col" { (ctx.t(Key::Dose)) " / " (ctx.t(Key::Route)) " / " (ctx.t(Key::Schedule)) }
                        th scope="col" { (ctx.t(Key::LastGiven)) }
                        th scope="col" { (ctx.t(Key::Start)) " – " (ctx.t(Key::End)) }
                        th scope="col" { (ctx.t(Key::Prescriber)) " / " (ctx.t(Key::Kind)) }
                    } }
                    tbody {
                        @for t in &current { (treatment_row(ctx, p, t)) }
                    }
                }
            }
            (past_treatments(ctx, &past))
        }
    }
}

fn administrations(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    let mut items: Vec<&Administration> = p.administrations.items().iter().collect();
    items.sort_by_key(|a| std::cmp::Reverse(admin_order(&ctx.tz, &a.at)));
    html! {
        @if let Some(m) = listed_status(ctx, &p.administrations) { (m) } @else {
            table class="data" {
                thead { tr {
                    th scope="col" { (ctx.t(Key::Time)) }
                    th scope="col" { (ctx.t(Key::Drug)) }
                    th scope="col" { (ctx.t(Key::Dose)) }
                    th scope="col" { (ctx.t(Key::Route)) }
                    th scope="col" { (ctx.t(Key::Status)) }
                    th scope="col" { (ctx.t(Key::GivenBy)) }
                    th scope="col" { (ctx.t(Key::Note)) }
                } }
                tbody {
                    @for a in items {
                        tr {
                            th scope="row" class="nowrap" { (opt(a.at.as_ref().map(|m| admin_moment(ctx, m)).as_deref())) }
                            td { (clean(&a.drug)) }
                            td { (opt(a.dose.as_deref())) }
                            td { (opt(a.route.as_deref())) }
                            td {
                                @match given(a) {
                                    Some(true) => (coded(ctx, a.status.as_deref())),
                                    Some(false) => { span class="notdone" { (icon(Icon::Warning)) " " (ctx.t(Key::NotDone)) } " (" (coded(ctx, a.status.as_deref())) ")" },
                                    None => (admin_status_unknown(ctx, a)),
                                }
                            }
                            td { (opt(a.performer.as_deref())) }
                            td { (opt(a.note.as_deref())) }
                        }
                    }
                }
            }
        }
    }
}

fn problems(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    html! {
        (section_notes(ctx, p, NoteSection::Problems))
        @if let Some(m) = listed_status(ctx, &p.problems) { (m) } @else {
            table class="data" {
                thead { tr {
                    th scope="col" { (ctx.t(Key::Name)) }
                    th scope="col" { (ctx.t(Key::Status)) }
                    th scope="col" { (ctx.t(Key::Onset)) }
                } }
                tbody {
                    @for pr in p.problems.items() {
                        tr {
                            th scope="row" { (clean(&pr.name)) }
                            td { (coded(ctx, pr.status.as_deref())) }
                            td class="nowrap" { (opt(pr.onset.as_ref().map(|m| moment(ctx, m)).as_deref())) }
                        }
                    }
                }
            }
        }
    }
}

/// The newest measurement per name, newest first.
pub(crate) fn latest_per_name(list: &[Measurement]) -> Vec<&Measurement> {
    let mut sorted: Vec<&Measurement> = list.iter().collect();
    sorted.sort_by_key(|m| std::cmp::Reverse(sort_time(&m.at)));
    let mut seen = std::collections::HashSet::new();
    sorted
        .into_iter()
        .filter(|m| seen.insert(m.name.as_str()))
        .collect()
}

fn measurements(ctx: &PageCtx, l: &Listed<Measurement>) -> Markup {
    html! {
        @if let Some(m) = listed_status(ctx, l) { (m) } @else {
            table class="data" {
                thead { tr {
                    th scope="col" { (ctx.t(Key::Measurement)) }
                    th scope="col" { (ctx.t(Key::Value)) }
                    th scope="col" { (ctx.t(Key::Time)) }
                    th scope="col" { (ctx.t(Key::Flag)) }
                    th scope="col" { (ctx.t(Key::Reference)) }
                } }
                tbody {
                    @for m in latest_per_name(l.items()) {
                        @let flagged = m.flag.as_deref().is_some_and(|f| !matches!(f.trim(), "" | "N" | "normal"));
                        tr {
                            th scope="row" { (clean(&m.name)) }
                            td class=(if flagged { "value flagged" } else { "value" }) {
                                strong { (clean(&m.value)) }
                                @if let Some(u) = &m.unit { @if !m.value.ends_with(u.as_str()) { " " (clean(u)) } }
                            }
                            td class="nowrap" { (opt(m.at.as_ref().map(|x| moment(ctx, x)).as_deref())) }
                            td {
                                @if flagged { span class="flag-abnormal" { (icon(Icon::Warning)) " " (opt(m.flag.as_deref())) } }
                                @else { (opt(m.flag.as_deref())) }
                            }
                            td { (opt(m.reference_range.as_deref())) }
                        }
                    }
                }
            }
        }
    }
}

fn contacts(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    html! {
        @if let Some(m) = listed_status(ctx, &p.contacts) { (m) } @else {
            table class="data" {
                thead { tr {
                    th scope="col" { (ctx.t(Key::Name)) }
                    th scope="col" { (ctx.t(Key::Relationship)) }
                    th scope="col" { (ctx.t(Key::Role)) }
                    th scope="col" { (ctx.t(Key::Telecom)) }
                } }
                tbody {
                    @for c in p.contacts.items() {
                        tr {
                            th scope="row" { (clean(&c.name)) }
                            td { (opt(c.relationship.as_deref())) }
                            td { (opt(c.role.as_deref())) }
                            td {
                                @if c.telecom.is_empty() { (opt(None)) }
                                @for (i, t) in c.telecom.iter().enumerate() { @if i > 0 { br; } span class="nowrap" { (clean(t)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn devices(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    html! {
        @if let Some(m) = listed_status(ctx, &p.devices) { (m) } @else {
            table class="data" {
                thead { tr {
                    th scope="col" { (ctx.t(Key::Name)) }
                    th scope="col" { (ctx.t(Key::Since)) }
                    th scope="col" { (ctx.t(Key::BodySite)) }
                    th scope="col" { (ctx.t(Key::Note)) }
                } }
                tbody {
                    @for d in p.devices.items() {
                        tr {
                            th scope="row" { (clean(&d.name)) }
                            td class="nowrap" { (opt(d.since.as_ref().map(|m| moment(ctx, m)).as_deref())) }
                            td { (opt(d.body_site.as_deref())) }
                            td { (opt(d.note.as_deref())) }
                        }
                    }
                }
            }
        }
    }
}

fn admission(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    html! {
        @match &p.admission {
            None => (layout::not_recorded(ctx)),
            Some(a) => {
                dl class="facts" {
                    div { dt { (ctx.t(Key::Start)) } dd { (opt(a.start.as_ref().map(|m| moment(ctx, m)).as_deref())) } }
                    div { dt { (ctx.t(Key::Attending)) } dd { (opt(a.attending.as_deref())) } }
                    div { dt { (ctx.t(Key::Specialty)) } dd { (opt(a.specialty.as_deref())) } }
                    div { dt { (ctx.t(Key::Reason)) } dd { (opt(a.reason.as_deref())) } }
                }
            }
        }
    }
}

/// The patient page's content below the print frame's running head: identity banner,
/// notices, table of contents and every section. Depends only on the record, the language
/// and the day (the age in the banner), so [`super::parts`] renders it once per generation.
pub(crate) fn body(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    let sections: [(&str, Key); 11] = [
        ("beleid", Key::Directives),
        ("alerts", Key::Alerts),
        ("allergieen", Key::Allergies),
        ("medicatie", Key::ActiveMedication),
        ("toedieningen", Key::Administrations),
        ("problemen", Key::Problems),
        ("vitaal", Key::Vitals),
        ("lab", Key::Labs),
        ("contact", Key::Contacts),
        ("hulpmiddelen", Key::Devices),
        ("opname", Key::AdmissionSection),
    ];
    html! {
        (identity::banner(ctx, p))
        (identity_conflict_notice(ctx, p))
        (unread_notice(ctx, p, false))
        nav class="toc" aria-label=(ctx.t(Key::Sections)) {
            ul { @for (id, k) in sections { li { a href=(format!("#{id}")) { (ctx.t(k)) } } } }
        }
        (section(ctx, "beleid", Key::Directives, directives(ctx, p)))
        (section(ctx, "alerts", Key::Alerts, alerts(ctx, p)))
        (section(ctx, "allergieen", Key::Allergies, allergies(ctx, p)))
        (section(ctx, "medicatie", Key::ActiveMedication, medication(ctx, p)))
        (section(ctx, "toedieningen", Key::Administrations, administrations(ctx, p)))
        (section(ctx, "problemen", Key::Problems, problems(ctx, p)))
        (section(ctx, "vitaal", Key::Vitals, measurements(ctx, &p.vitals)))
        (section(ctx, "lab", Key::Labs, measurements(ctx, &p.labs)))
        (section(ctx, "contact", Key::Contacts, contacts(ctx, p)))
        (section(ctx, "hulpmiddelen", Key::Devices, devices(ctx, p)))
        (section(ctx, "opname", Key::AdmissionSection, admission(ctx, p)))
    }
}
