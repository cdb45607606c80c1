//! The patient page: identity banner on top (`identity`, kept in view while scrolling),
//! then directives (resuscitation first, then every other limit), alerts,
//! allergies, active medication with the last administration per line, recent
//! administrations, problems, latest vitals and labs, contacts, devices and admission.
//! Every section shows "Niet vastgelegd" (unknown) differently from "Geen (vastgelegd: ...)".

use super::icons::{Icon, icon};
use super::identity::{self, location_text};
use super::layout::{self, Kind, listed_status, opt};
use super::medgroup::{MedGroup, group_lines};
use super::text::{clean, code_word, moment};
use super::ward::{limit_text, resus_badge};
use super::{Key, PageCtx};
use crate::record::summary::PatientSummary;
use crate::record::{
    Administration, AlertKind, Criticality, Decision, DirectiveKind, Dosage, Listed, Measurement,
    MedicationKind, Moment, PatientRecord, Schedule,
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

/// Wraps the page in a table whose header row repeats on every printed sheet (Ctrl+P), so
/// that page 2 of a printout can never be mistaken for another patient's: name, birth date,
/// patient number, bed and the age of the data. On screen the frame is invisible.
fn print_frame(ctx: &PageCtx, p: &PatientRecord, body: Markup) -> Markup {
    let id = &p.identity;
    html! {
        table class="print-frame" role="presentation" {
            thead class="print-running" {
                tr { td {
                    div class="print-head" {
                        div class="ph-row" {
                            span class="ph-title" { (clean(&id.name.display)) }
                            span { (ctx.t(Key::BirthDate)) ": " @match &id.birth_date { Some(b) => (moment(ctx, b)), None => (ctx.t(Key::Unknown)) } }
                            span { (ctx.t(Key::PatientNumber)) ": " (opt(id.patient_number.as_deref())) }
                            span { (clean(&location_text(ctx, p))) }
                            span class=(layout::data_age_class(ctx)) { (layout::data_age_text(ctx)) }
                        }
                    }
                } }
            }
            tbody { tr { td { (body) } } }
        }
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

/// The schedule in words: the mapper's text, times of day, frequency, day parts, weekdays.
pub fn schedule_text(s: &Schedule) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(t) = &s.text {
        parts.push(t.clone());
    }
    if s.text.is_none() && !s.times_of_day.is_empty() {
        let times: Vec<String> = s
            .times_of_day
            .iter()
            .map(|t| t.format("%H:%M").to_string())
            .collect();
        parts.push(times.join(", "));
    }
    if s.text.is_none()
        && let Some(f) = &s.frequency
    {
        let count = match f.count_max {
            Some(m) if m != f.count => format!("{}-{}", f.count, m),
            _ => f.count.to_string(),
        };
        parts.push(format!("{count} x per {} {}", f.period, f.period_unit));
    }
    if s.text.is_none() {
        if !s.when.is_empty() {
            parts.push(s.when.join(", "));
        }
        if !s.days_of_week.is_empty() {
            parts.push(s.days_of_week.join(", "));
        }
    }
    parts.join(" — ")
}

/// True when `needle` (without a leading "bij "/"for ") already appears in `hay`.
fn already_said(hay: Option<&str>, needle: &str) -> bool {
    let Some(hay) = hay else { return false };
    let n = needle.trim().to_lowercase();
    let n = n
        .strip_prefix("bij ")
        .or_else(|| n.strip_prefix("for "))
        .unwrap_or(&n)
        .to_owned();
    !n.is_empty() && hay.to_lowercase().contains(&n)
}

/// One dosing instruction: dose, route, schedule, "Zo nodig" with its condition, maximum,
/// and the source's own text. Shared by the patient page and the MAR.
pub fn dosage_block(ctx: &PageCtx, d: &Dosage) -> Markup {
    let sched = schedule_text(&d.schedule);
    let said = d.schedule.text.as_deref();
    html! {
        div class="dosage" {
            @if d.as_needed.is_some() { span class="prn" { (ctx.t(Key::AsNeeded)) } " " }
            @if let Some(dose) = &d.dose { strong class="dose" { (clean(dose)) } } @else { span class="flag-unknown" { (ctx.t(Key::Dose)) ": " (ctx.t(Key::Unknown)) } }
            @if let Some(r) = &d.route { " · " (clean(r)) }
            @if !sched.is_empty() { " · " span class="sched" { (clean(&sched)) } }
            @if let Some(a) = &d.as_needed {
                @if let Some(c) = &a.condition {
                    @if !already_said(said, c) { " · " (ctx.t(Key::AsNeeded)) ": " (clean(c)) }
                }
            }
            @if let Some(m) = &d.max_dose {
                @if !already_said(said, m) { " · " (max_dose_text(ctx, m)) }
            }
            @if let Some(t) = &d.text {
                div class="srctext" { span class="label" { (ctx.t(Key::SourceText)) ": " } "“" (clean(t)) "”" }
            }
        }
    }
}

/// The maximum dose, prefixed "max." unless the source already says so.
pub fn max_dose_text(ctx: &PageCtx, m: &str) -> String {
    if m.trim_start().to_lowercase().starts_with("max") {
        clean(m).into_owned()
    } else {
        format!("{} {}", ctx.t(Key::MaxDose), clean(m))
    }
}

fn kind_word(ctx: &PageCtx, k: MedicationKind) -> &'static str {
    ctx.t(match k {
        MedicationKind::Agreement => Key::KindAgreement,
        MedicationKind::AdministrationAgreement => Key::KindAdminAgreement,
        MedicationKind::Use => Key::KindUse,
    })
}

fn is_completed(a: &Administration) -> bool {
    a.status.as_deref().is_none_or(|s| s == "completed")
}

/// The latest administration of a medication group (by time), and the latest completed
/// one when the latest was not a completed administration.
pub fn last_administrations<'a>(
    group: &MedGroup<'_>,
    admins: &'a [Administration],
) -> (Option<&'a Administration>, Option<&'a Administration>) {
    let mine = || admins.iter().filter(|a| group.owns(a));
    let latest = mine().max_by_key(|a| sort_time(&a.at));
    let latest_done = mine()
        .filter(|a| is_completed(a))
        .max_by_key(|a| sort_time(&a.at));
    match latest {
        Some(l) if !is_completed(l) => (Some(l), latest_done),
        other => (other, None),
    }
}

fn admin_short(ctx: &PageCtx, a: &Administration) -> Markup {
    html! {
        span class="nowrap" { strong { (opt(a.at.as_ref().map(|m| moment(ctx, m)).as_deref())) } }
        @if let Some(d) = &a.dose { " · " (clean(d)) }
        @if !is_completed(a) {
            " · " span class="notdone" { (icon(Icon::Warning)) " " (ctx.t(Key::NotDone)) }
            @if let Some(s) = &a.status { " (" (code_word(ctx.lang, s)) ")" }
        }
        @if let Some(p) = &a.performer { br; span class="sub" { (ctx.t(Key::GivenBy)) " " (clean(p)) } }
    }
}

fn last_given_cell(ctx: &PageCtx, p: &PatientRecord, group: &MedGroup<'_>) -> Markup {
    if p.administrations.is_not_recorded() {
        return html! { span class="flag-unknown" { (icon(Icon::Unknown)) " " (ctx.t(Key::AdminNotRecorded)) } };
    }
    let (latest, done) = last_administrations(group, p.administrations.items());
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

fn medication(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    html! {
        @if let Some(m) = listed_status(ctx, &p.medication) { (m) } @else {
            table class="data meds" {
                thead { tr {
                    th scope="col" { (ctx.t(Key::Drug)) }
                    th scope="col" { (ctx.t(Key::Dose)) " / " (ctx.t(Key::Route)) " / " (ctx.t(Key::Schedule)) }
                    th scope="col" { (ctx.t(Key::LastGiven)) }
                    th scope="col" { (ctx.t(Key::Start)) " – " (ctx.t(Key::End)) }
                    th scope="col" { (ctx.t(Key::Prescriber)) " / " (ctx.t(Key::Kind)) }
                } }
                tbody {
                    @for group in group_lines(p.medication.items()) {
                        @let line = group.main;
                        tr {
                            th scope="row" class="drug" {
                                (clean(&line.drug.name))
                                @if let Some(s) = &line.drug.strength { " " span class="strength" { (clean(s)) } }
                                @if let Some(f) = &line.drug.form { br; span class="sub" { (clean(f)) } }
                                @if let Some(r) = &line.reason { br; span class="sub" { (ctx.t(Key::Reason)) ": " (clean(r)) } }
                            }
                            td {
                                @if line.dosages.is_empty() { span class="flag-unknown" { (icon(Icon::Unknown)) " " (ctx.t(Key::NotRecorded)) } }
                                @for d in &line.dosages { (dosage_block(ctx, d)) }
                                @if let Some(n) = &line.note { div class="sub" { (ctx.t(Key::Note)) ": " (clean(n)) } }
                                @for ta in &group.admin {
                                    div class="admin-agreement" {
                                        span class="label" { (kind_word(ctx, ta.kind)) }
                                        @if ta.drug.name != line.drug.name {
                                            ": " strong { (clean(&ta.drug.name)) }
                                            @if let Some(s) = &ta.drug.strength { " " (clean(s)) }
                                        }
                                        @if ta.dosages != line.dosages {
                                            @for d in &ta.dosages { (dosage_block(ctx, d)) }
                                        } @else {
                                            " " span class="sub" { "(" (ctx.t(Key::SameDosage)) ")" }
                                        }
                                        @if let Some(n) = &ta.note { div class="sub" { (ctx.t(Key::Note)) ": " (clean(n)) } }
                                    }
                                }
                            }
                            td class="lastgiven" { (last_given_cell(ctx, p, &group)) }
                            td class="nowrap" {
                                (opt(line.start.as_ref().map(|m| moment(ctx, m)).as_deref()))
                                @if let Some(e) = &line.end { " – " (moment(ctx, e)) }
                            }
                            td {
                                (opt(line.prescriber.as_deref()))
                                br;
                                span class="sub" {
                                    (kind_word(ctx, line.kind))
                                    @if let Some(c) = &line.category { " (" (clean(c)) ")" }
                                    @if let Some(s) = &line.status { " · " (code_word(ctx.lang, s)) }
                                    @for ta in &group.admin {
                                        br; (kind_word(ctx, ta.kind))
                                        @if let Some(c) = &ta.category { " (" (clean(c)) ")" }
                                        @if let Some(s) = &ta.status { " · " (code_word(ctx.lang, s)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn administrations(ctx: &PageCtx, p: &PatientRecord) -> Markup {
    let mut items: Vec<&Administration> = p.administrations.items().iter().collect();
    items.sort_by_key(|a| std::cmp::Reverse(sort_time(&a.at)));
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
                            th scope="row" class="nowrap" { (opt(a.at.as_ref().map(|m| moment(ctx, m)).as_deref())) }
                            td { (clean(&a.drug)) }
                            td { (opt(a.dose.as_deref())) }
                            td { (opt(a.route.as_deref())) }
                            td {
                                @if is_completed(a) { (coded(ctx, a.status.as_deref())) }
                                @else { span class="notdone" { (icon(Icon::Warning)) " " (ctx.t(Key::NotDone)) } " (" (coded(ctx, a.status.as_deref())) ")" }
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
pub fn latest_per_name(list: &[Measurement]) -> Vec<&Measurement> {
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

/// The whole patient page.
pub fn patient_page(ctx: &PageCtx, p: &PatientRecord) -> Markup {
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
    let body = html! {
        (identity::banner(ctx, p))
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
    };
    let content = print_frame(ctx, p, body);
    layout::page(ctx, &p.identity.name.display, Kind::Screen, content)
}
