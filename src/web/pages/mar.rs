//! The printable medication administration record (toedienlijst): per patient a grid of
//! the lines its current treatments are given by × days × scheduled times, each slot a box
//! for initials (a paused or not fully readable treatment: a row without boxes saying so;
//! how much could not be read above the rows), with a header
//! that repeats on every printed page (thead) carrying name, birth date, patient number,
//! bed, ward, data age, allergies, resuscitation policy and the drill marker. Also the blank
//! form for a new admission. A4 landscape via the stylesheet's named page.

use super::dosetext::{dosage_block, given, last_administrations};
use super::icons::{Icon, icon};
use super::identity::{self, location_text};
use super::layout::{self, Kind, data_age_class, data_age_text, print_drill, print_hint};
use super::marfill::{DayFill, Fill, fill_treatment, unmatched_on_days};
use super::marheight::{
    CHAR_MM, DAY_PAD, DOSE_COL, DRUG_COL, LAST_COL, ROW_PAD, WRITE_ROW, blank_h, day_h, dose_h,
    drug_h, frame_h, last_h, text_h,
};
use super::marpage::{self, Head, Item, Sheet};
use super::marparts::{BLANK_SLOTS, BOX_TEXT, admin_time, initials, not_given_reason, short};
use super::marprn;
use super::marslots::{DayOff, LineSlots, Slot, day_off, line_slots};
use super::medgroup::{
    MarRow, attention_label, high_risk_mark, mar_rows, state_label, unreadable_label,
};
use super::patient::{identity_conflict_notice, unread_notice};
use super::text::{birth_with_age, clean, fold, units_written_out};
use super::{Key, MAX_MAR_DAYS, PageCtx};
use crate::config::Language;
use crate::record::highrisk::is_insulin;
use crate::record::summary::PatientSummary;
use crate::record::{
    Administration, Listed, MedicationLine, Moment, PatientRecord, Treatment, TreatmentState,
};
use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use maud::{Markup, html};

/// Most handwritten extra lines under each patient's grid, while the last sheet has room.
pub(crate) const EXTRA_LINES: usize = 3;
/// Rows on the blank form.
pub(crate) const BLANK_LINES: usize = 12;
fn weekday_short(lang: Language, w: Weekday) -> &'static str {
    match (lang, w) {
        (Language::Nl, Weekday::Mon) => "ma",
        (Language::Nl, Weekday::Tue) => "di",
        (Language::Nl, Weekday::Wed) => "wo",
        (Language::Nl, Weekday::Thu) => "do",
        (Language::Nl, Weekday::Fri) => "vr",
        (Language::Nl, Weekday::Sat) => "za",
        (Language::Nl, Weekday::Sun) => "zo",
        (Language::En, Weekday::Mon) => "Mon",
        (Language::En, Weekday::Tue) => "Tue",
        (Language::En, Weekday::Wed) => "Wed",
        (Language::En, Weekday::Thu) => "Thu",
        (Language::En, Weekday::Fri) => "Fri",
        (Language::En, Weekday::Sat) => "Sat",
        (Language::En, Weekday::Sun) => "Sun",
    }
}

fn days_list(start: NaiveDate, days: u32) -> Vec<NaiveDate> {
    start
        .iter_days()
        .take(days.clamp(1, MAX_MAR_DAYS) as usize)
        .collect()
}

/// What the EPD recorded, in a box: "G 08:02" with who, "NIET GEGEVEN — reden", or the
/// status unknown.
fn recorded_box(ctx: &PageCtx, a: &Administration, day: Option<NaiveDate>) -> Markup {
    let time = admin_time(ctx, a, day);
    // Without a time of day the dose itself says which dose it was.
    let dose = a
        .dose
        .as_ref()
        .filter(|_| matches!(a.at, Some(Moment::Day(_))));
    html! {
        @match given(a) {
            Some(true) => {
                span class="rec-what" { strong { (ctx.t(Key::MarGivenCode)) } " " (time) }
                @if let Some(d) = dose { span class="rec-why" { (short(&units_written_out(ctx.lang, d), 30)) } }
                @if let Some(p) = &a.performer { span class="rec-who" { (initials(p)) } }
            },
            Some(false) => {
                span class="rec-what" { strong { (ctx.t(Key::MarNotGiven)) } " " (time) }
                @if let Some(r) = not_given_reason(a) { span class="rec-why" { "— " (short(r, BOX_TEXT)) } }
                @if let Some(p) = &a.performer { span class="rec-who" { (initials(p)) } }
            },
            None => {
                span class="rec-what" { strong { "?" } " " (time) }
                span class="rec-why" { (ctx.t(Key::AdminStatusUnknown)) }
            },
        }
    }
}

fn slot_markup(
    ctx: &PageCtx,
    s: Slot,
    fill: Option<Fill<'_>>,
    day: Option<NaiveDate>,
    glucose: bool,
) -> Markup {
    let (class, box_class) = match fill {
        Some(Fill::Recorded(a)) => match given(a) {
            Some(true) => ("slot rec rec-given", "initials rec-box"),
            Some(false) => ("slot rec rec-notgiven wide", "initials rec-box"),
            None => ("slot rec rec-unknown", "initials rec-box"),
        },
        Some(Fill::BeforeDataTime) => ("slot before", "initials before-box"),
        _ => ("slot", "initials"),
    };
    html! {
        span class=(class) {
            @match s {
                Slot::At(t) => span class="slot-time" { (t.format("%H:%M").to_string()) },
                Slot::Blank => span class="slot-time blank" { span class="visually-hidden" { (ctx.t(Key::MarTimeToFill)) } },
            }
            span class=(box_class) {
                @match fill {
                    Some(Fill::Recorded(a)) => (recorded_box(ctx, a, day)),
                    Some(Fill::BeforeDataTime) => span class="before-text" { (ctx.t(Key::MarBeforeDataTime)) },
                    _ => {},
                }
            }
            @if glucose && !matches!(fill, Some(Fill::Recorded(_))) {
                span class="gluc" { "gluc" }
            }
        }
    }
}

fn day_cell(
    ctx: &PageCtx,
    line: &MedicationLine,
    slots: &LineSlots,
    day: NaiveDate,
    fill: Option<&DayFill<'_>>,
    glucose: bool,
) -> Markup {
    html! {
        @match day_off(ctx, line, day) {
            Some(off) => td class="mar-day off" {
                (ctx.t(match off {
                    DayOff::NotThisWeekday => Key::MarNotThisDay,
                    DayOff::Ended => Key::MarEnded,
                    DayOff::NotStarted => Key::MarNotStarted,
                }))
                (extras(ctx, fill, day))
            },
            None => td class="mar-day" {
                @for (i, s) in slots.slots.iter().enumerate() {
                    @let f = fill.and_then(|f| f.slots.get(i)).and_then(|x| x.1);
                    (slot_markup(ctx, *s, f, Some(day), glucose))
                }
                (extras(ctx, fill, day))
            },
        }
    }
}

/// Administrations of the day that fit no box: printed under the boxes, never dropped.
fn extras(ctx: &PageCtx, fill: Option<&DayFill<'_>>, day: NaiveDate) -> Markup {
    html! {
        @if let Some(f) = fill.filter(|f| !f.extra.is_empty()) {
            div class="mar-extra" {
                (ctx.t(Key::MarAlsoRecorded)) ":"
                @for a in &f.extra { " " span class="rec-inline" { (recorded_box(ctx, a, Some(day))) } }
            }
        }
    }
}

fn day_headers(ctx: &PageCtx, days: &[NaiveDate]) -> Markup {
    html! {
        @for d in days {
            th scope="col" class="mar-dayhead" {
                (weekday_short(ctx.lang, d.weekday())) " " (d.format("%d-%m").to_string())
            }
        }
    }
}

fn drug_cell(ctx: &PageCtx, t: &Treatment, line: &MedicationLine, more: Option<Markup>) -> Markup {
    let plain_current = matches!(
        t.state,
        TreatmentState::Current {
            stop_planned: None,
            pause_planned: None,
            resumed_after_pause: None,
            ..
        }
    );
    html! {
        th scope="row" class="mar-drug" {
            (high_risk_mark(ctx, &line.drug))
            strong { (clean(&line.drug.name)) }
            @if let Some(s) = &line.drug.strength { " " (clean(&units_written_out(ctx.lang, s))) }
            @if let Some(f) = &line.drug.form { " · " span class="sub" { (clean(f)) } }
            @if !plain_current && t.unreadable.is_empty() {
                br; strong class="mar-state" { (state_label(ctx, &t.state)) }
            }
            @if let Some(m) = more { (m) }
        }
    }
}

/// Drug (with `more` under it: an as-needed drug's maximum per day), dosage and last given.
fn line_cells(
    ctx: &PageCtx,
    p: &PatientRecord,
    t: &Treatment,
    line: &MedicationLine,
    slots: &LineSlots,
    more: Option<Markup>,
) -> Markup {
    html! {
        (drug_cell(ctx, t, line, more))
        td class="mar-dosage" {
            @for d in &line.dosages { (dosage_block(ctx, d)) }
            @if slots.see_text { div class="sub" { (icon(Icon::Warning)) " " (ctx.t(Key::MarScheduleSeeText)) } }
        }
        td class="mar-last" { (last_given(ctx, p, t)) }
    }
}

/// The "laatst gegeven" cell: the latest administration (time, dose, by whom) and, when
/// that one was not given, the latest that was.
fn last_given(ctx: &PageCtx, p: &PatientRecord, t: &Treatment) -> Markup {
    if p.administrations.is_not_recorded() {
        return html! { span class="flag-unknown" { (ctx.t(Key::AdminNotRecorded)) } };
    }
    let (latest, done) = last_administrations(&ctx.tz, t, p.administrations.items());
    let one = |a: &Administration| {
        html! {
            div class="last-one" {
                @match given(a) {
                    Some(true) => strong { (admin_time(ctx, a, Some(ctx.today()))) },
                    Some(false) => { strong { (ctx.t(Key::MarNotGiven)) } " " (admin_time(ctx, a, Some(ctx.today()))) },
                    None => { strong { "?" } " " (admin_time(ctx, a, Some(ctx.today()))) " " (ctx.t(Key::AdminStatusUnknown)) },
                }
                @if let Some(d) = &a.dose { " · " (short(&units_written_out(ctx.lang, d), 30)) }
                @if let Some(w) = &a.performer { br; span class="sub" { (short(w, 24)) } }
            }
        }
    };
    html! {
        @match latest {
            None => span class="muted" { (ctx.t(Key::NeverGivenInWindow)) },
            Some(a) => {
                (one(a))
                @if let Some(d) = done { (one(d)) }
            }
        }
    }
}
/// "blad 2 van 3".
fn sheet_text(ctx: &PageCtx, sheet: usize, of: usize) -> String {
    format!(
        "{} {sheet} {} {of}",
        ctx.t(Key::MarSheet),
        ctx.t(Key::MarSheetOf)
    )
}

/// The header block at the top of every sheet of a patient's MAR (repeated by the
/// browser if a sheet overflows), two lines: name, birth date, patient number, bed, sheet
/// number; the data time, then allergy, alert and policy chips. (Ward and print time are
/// in the foot.)
fn patient_header(ctx: &PageCtx, p: &PatientRecord, title: &str, sheet: (usize, usize)) -> Markup {
    let s = PatientSummary::from(p);
    html! {
        div class="print-head" {
            div class="ph-row" {
                (print_drill(ctx))
                span class="ph-title" { (title) }
                span class="ph-name" { (clean(&p.identity.name.display)) }
                span { (ctx.t(Key::BirthDateShort)) " " strong { @match &p.identity.birth_date { Some(b) => (birth_with_age(ctx, b)), None => (ctx.t(Key::Unknown)) } } }
                span { (ctx.t(Key::PatientNumberShort)) " " strong { (layout::opt(p.identity.patient_number.as_deref())) } }
                span { strong { (clean(&location_text(ctx, p))) } }
                span class="ph-sheet" { strong { (sheet_text(ctx, sheet.0, sheet.1)) } }
            }
            div class="ph-row ph-alerts" {
                span class="ph-data" { strong { (ctx.t(Key::MarDataTime)) ": " } span class=(data_age_class(ctx)) { (data_age_text(ctx)) } }
                (identity::chips(ctx, &s))
            }
        }
    }
}

/// The sheet's foot: its marker on the signature row (the list checked by, and who
/// initialled, with room to write above the lines), then the codes (and, on a filled-in
/// MAR, how the EPD's records and the high-risk marker read), the ward and print time.
fn legend_foot(ctx: &PageCtx, cols: usize, marker: Markup, filled: bool) -> Markup {
    html! {
        tfoot {
            tr {
                td colspan=(cols) class="mar-foot" {
                    div class="sig-lines" {
                        span class="mar-sheet-marker" {
                            (marker)
                            span class="foot-meta" {
                                (ctx.t(Key::Ward)) ": " (clean(ctx.ward_name)) " · "
                                (ctx.t(Key::Printed)) " " (crate::timefmt::datetime(ctx.now, ctx.tz))
                            }
                        }
                        span class="sig sig-checked" { strong { (ctx.t(Key::MarCheckedBy)) } }
                        @for _ in 0..3 { span class="sig" { (ctx.t(Key::MarSignatures)) } }
                    }
                    div class="mar-legend" {
                        (ctx.t(Key::MarCodes))
                        @if filled { " " (ctx.t(Key::MarRecordedLegend)) " " (ctx.t(Key::MarHighRiskLegend)) }
                    }
                }
            }
        }
    }
}

/// A handwritten drug line; the first under a patient's list says what it is for.
fn blank_row(
    ctx: &PageCtx,
    days: &[NaiveDate],
    slots: usize,
    last_col: bool,
    label: Option<&str>,
) -> Markup {
    html! {
        tr class="mar-blank" {
            td class="mar-drug write" { @if let Some(l) = label { span class="write-label" { (l) } } }
            td class="mar-dosage write" {}
            @if last_col { td class="mar-last write" {} }
            @for _ in days {
                td class="mar-day" { @for _ in 0..slots { (slot_markup(ctx, Slot::Blank, None, None, false)) } }
            }
        }
    }
}

/// Whether a row is a drug to give by the clock (0), given only as needed (1), to be
/// checked first (2) or paused (3): the order of the list.
fn row_group(row: &MarRow<'_>) -> u8 {
    match row {
        MarRow::Give(_, l) => {
            let s = line_slots(l);
            if s.slots.is_empty() && s.as_needed {
                1
            } else {
                0
            }
        }
        MarRow::Check(..) => 2,
        MarRow::Paused(..) => 3,
    }
}

fn row_line<'a>(row: &MarRow<'a>) -> (&'a Treatment, &'a MedicationLine) {
    match *row {
        MarRow::Give(t, l) | MarRow::Paused(t, l) | MarRow::Check(t, l) => (t, l),
    }
}

/// The MAR rows in the order a nurse reads them on a round: drugs given by the clock,
/// then drugs given only as needed, then those to check in the source first, then paused
/// ones ("do not give"); within each group by drug name (case and accents ignored), as the
/// pharmacy's list and the patient page read them. A treatment's rows stay together in
/// their own order (a paused drug's resume agreement right under it), in the group of its
/// first row. (docs/ARCHITECTURE.md, "MAR".)
pub(crate) fn ordered_rows(items: &[Treatment]) -> Vec<MarRow<'_>> {
    let rows = mar_rows(items);
    let first_of = |t: &Treatment| {
        rows.iter()
            .find(|r| std::ptr::eq(row_line(r).0, t))
            .map(|r| (row_group(r), fold(&row_line(r).1.drug.name)))
    };
    let mut keyed: Vec<((u8, String, String, usize), MarRow<'_>)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let t = row_line(r).0;
            let (g, name) = first_of(t).unwrap_or((row_group(r), String::new()));
            ((g, name, t.id.to_string(), i), *r)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// One patient's MAR as parts with their printed heights (see [`marpage`]), and the
/// number of drugs it lists.
fn patient_items(
    ctx: &PageCtx,
    p: &PatientRecord,
    days: &[NaiveDate],
    cols: usize,
) -> (Vec<Item>, usize) {
    let mut items = Vec::new();
    let day_w =
        (1.0 - DRUG_COL - DOSE_COL - LAST_COL) * marpage::SHEET_WIDTH_MM / days.len().max(1) as f64;
    let data_time: Option<DateTime<Utc>> = ctx.data.map(|m| m.data_as_of);
    let data_day = data_time.map(|t| t.with_timezone(&ctx.tz).date_naive());
    let admins = p.administrations.items();
    if p.unread_count() > 0 || !p.identity_conflicts.is_empty() {
        let chars = p
            .unread
            .iter()
            .take(8)
            .map(|u| u.detail.chars().count().min(200) + 40)
            .sum::<usize>()
            + 200;
        items.push(Item::new(
            text_h(chars, 1.0, CHAR_MM, marpage::LINE_MM) + ROW_PAD,
            html! {
                tr { td colspan=(cols) class="mar-note mar-unread" {
                    (identity_conflict_notice(ctx, p))
                    (unread_notice(ctx, p, true))
                } }
            },
        ));
    }
    let mut drugs = 0;
    match &p.medication {
        Listed::NotRecorded => items.push(Item::new(
            WRITE_ROW,
            html! { tr { td colspan=(cols) class="mar-note" { (icon(Icon::Unknown)) " " (ctx.t(Key::MarMedicationNotRecorded)) } } },
        )),
        Listed::NoneDocumented { statement, .. } => items.push(Item::new(
            WRITE_ROW + text_h(statement.chars().count().min(2000), 1.0, CHAR_MM, marpage::LINE_MM),
            html! { tr { td colspan=(cols) class="mar-note" { (ctx.t(Key::MarNoMedication)) " (" (clean(statement)) ")" } } },
        )),
        Listed::Items { items: treatments } => {
            let rows = ordered_rows(treatments);
            if rows.is_empty() {
                items.push(Item::new(
                    WRITE_ROW,
                    html! { tr { td colspan=(cols) class="mar-note" { (ctx.t(Key::MedNoCurrent)) } } },
                ));
            }
            let mut seen: Vec<&str> = Vec::new();
            for r in &rows {
                let (t, _) = row_line(r);
                if !seen.contains(&t.id.as_str()) {
                    seen.push(t.id.as_str());
                }
            }
            drugs = seen.len();
            // The boxes of every treatment, matched over all its rows at once.
            let prn_head = Head {
                height_mm: marprn::head_h(day_w),
                markup: marprn::head_row(ctx, cols - days.len(), days.len()),
            };
            for (ri, row) in rows.iter().enumerate() {
                let (t, line) = row_line(row);
                let slots = line_slots(line);
                match row {
                    MarRow::Give(..) => {
                        let siblings: Vec<(usize, LineSlots)> = rows
                            .iter()
                            .enumerate()
                            .filter(|(_, r)| matches!(r, MarRow::Give(..)) && std::ptr::eq(row_line(r).0, t))
                            .map(|(i, r)| (i, line_slots(row_line(r).1)))
                            .collect();
                        let me = siblings.iter().position(|(i, _)| *i == ri).unwrap_or(0);
                        let refs: Vec<&LineSlots> = siblings.iter().map(|(_, s)| s).collect();
                        let any_prn = siblings.iter().any(|(_, s)| s.as_needed);
                        let fills = fill_treatment(&ctx.tz, t, admins, &refs, days, data_time, any_prn);
                        let glucose = is_insulin(&line.drug);
                        let base_h = drug_h(ctx, t, line).max(dose_h(ctx, line, slots.see_text)).max(last_h(ctx, p, t));
                        if !slots.slots.is_empty() || !slots.as_needed {
                            let my = fills.get(me);
                            let h = days
                                .iter()
                                .enumerate()
                                .map(|(d, _)| day_h(my.and_then(|f| f.get(d)), &slots, day_w, glucose) + DAY_PAD)
                                .fold(base_h + ROW_PAD, f64::max);
                            items.push(Item::new(
                                h,
                                html! {
                                    tr class="mar-line" {
                                        (line_cells(ctx, p, t, line, &slots, None))
                                        @for (d, day) in days.iter().enumerate() {
                                            (day_cell(ctx, line, &slots, *day, my.and_then(|f| f.get(d)), glucose))
                                        }
                                    }
                                },
                            ));
                        }
                        if slots.as_needed {
                            let recorded = if me == 0 { unmatched_on_days(&ctx.tz, t, admins, &fills, days) } else { Vec::new() };
                            let per_day = marprn::days(ctx, line, &recorded, days, data_day);
                            let cells_h = per_day.iter().map(|d| marprn::day_h(d, glucose, day_w)).fold(0.0, f64::max);
                            let base_h = (drug_h(ctx, t, line) + marprn::title_h(ctx, line))
                                .max(dose_h(ctx, line, slots.see_text))
                                .max(last_h(ctx, p, t));
                            let h = cells_h.max(base_h) + ROW_PAD;
                            items.push(Item::under(
                                h,
                                html! {
                                    tr class="mar-line mar-prn" {
                                        (line_cells(ctx, p, t, line, &slots, Some(marprn::title(ctx, line))))
                                        @for d in &per_day { (marprn::day_cell(ctx, d, glucose)) }
                                    }
                                },
                                prn_head.clone(),
                            ));
                        }
                    }
                    MarRow::Paused(..) => {
                        let h = drug_h(ctx, t, line).max(dose_h(ctx, line, slots.see_text)).max(last_h(ctx, p, t)).max(2.0 * marpage::LINE_MM) + ROW_PAD;
                        items.push(Item::new(
                            h,
                            html! {
                                tr class="mar-line mar-paused" {
                                    (line_cells(ctx, p, t, line, &slots, None))
                                    td colspan=(days.len()) class="mar-day off mar-stop" {
                                        (icon(Icon::Deny)) " " strong { (state_label(ctx, &t.state)) } " — " (ctx.t(Key::MedDoNotGive))
                                    }
                                }
                            },
                        ));
                    }
                    MarRow::Check(..) => {
                        let reasons: usize = t.unreadable.len() + t.attention.len() + 2;
                        let h = drug_h(ctx, t, line)
                            .max(dose_h(ctx, line, slots.see_text))
                            .max(last_h(ctx, p, t))
                            .max(reasons as f64 * 2.0 * marpage::LINE_MM)
                            + ROW_PAD;
                        items.push(Item::new(
                            h,
                            html! {
                                tr class="mar-line mar-unreadable" {
                                    (line_cells(ctx, p, t, line, &slots, None))
                                    td colspan=(days.len()) class="mar-day off mar-stop" {
                                        (icon(Icon::Warning)) " " strong { (ctx.t(if t.unreadable.is_empty() { Key::MarCheckRow } else { Key::MarUnreadableRow })) }
                                        @for u in &t.unreadable { br; span class="sub" { (clean(&unreadable_label(ctx, u))) } }
                                        @for a in &t.attention { br; span class="sub" { (clean(&attention_label(ctx, a))) } }
                                        @if t.unreadable.is_empty() { br; span class="sub" { (ctx.t(Key::MedReadAs)) ": " (state_label(ctx, &t.state)) } }
                                    }
                                }
                            },
                        ));
                    }
                }
            }
        }
    }
    (items, drugs)
}

fn patient_mar(ctx: &PageCtx, p: &PatientRecord, days: &[NaiveDate]) -> Markup {
    let title = ctx.t(Key::MarTitle);
    let cols = 3 + days.len();
    let (items, drugs) = patient_items(ctx, p, days, cols);
    let frame = frame_h(ctx, p);
    let capacity = marpage::SHEET_HEIGHT_MM - frame - marpage::SLACK_MM;
    let mut sheets: Vec<Sheet> = marpage::paginate(items, capacity);
    // Handwritten lines for new medication while the last sheet has room (up to
    // EXTRA_LINES; never a sheet of their own: the blank MAR is for more).
    if let Some(last) = sheets.last_mut() {
        let mut used: f64 = last.iter().map(|i| i.height_mm).sum();
        let h = blank_h(days.len());
        for i in 0..EXTRA_LINES {
            if used + h > capacity {
                break;
            }
            used += h;
            let label = (i == 0).then(|| ctx.t(Key::MarExtraLines));
            last.push(Item::new(h, blank_row(ctx, days, BLANK_SLOTS, true, label)));
        }
    }
    let n = sheets.len();
    html! {
        section class="mar-patient" aria-label=(format!("{title}: {}", clean(&p.identity.name.display))) {
            @for (i, sheet) in sheets.into_iter().enumerate() {
                table class="mar mar-sheet" data-est-mm=(format!("{:.0}", frame + sheet.iter().map(|i| i.height_mm).sum::<f64>())) {
                    (colgroup(days.len(), true))
                    thead {
                        tr { td colspan=(cols) class="mar-headcell" { (patient_header(ctx, p, title, (i + 1, n))) } }
                        tr {
                            th scope="col" class="mar-drughead" { (ctx.t(Key::Drug)) }
                            th scope="col" class="mar-dosehead" { (ctx.t(Key::Dose)) " / " (ctx.t(Key::Schedule)) }
                            th scope="col" class="mar-lasthead" { (ctx.t(Key::MarLastGiven)) }
                            (day_headers(ctx, days))
                        }
                    }
                    (legend_foot(ctx, cols, html! {
                        strong { (sheet_text(ctx, i + 1, n)) }
                        " — "
                        @if i + 1 == n {
                            strong class="mar-end" { (ctx.t(Key::MarEnd)) " — " (drugs) " " (ctx.t(if drugs == 1 { Key::MarDrugsOne } else { Key::MarDrugsMany })) }
                        } @else {
                            (ctx.t(Key::MarContinues)) " " (i + 2)
                        }
                    }, true))
                    tbody {
                        @for it in sheet { (it.markup) }
                    }
                }
            }
        }
    }
}

/// The column widths (style.css): the days share what drug, dosage and last given leave.
fn colgroup(days: usize, last: bool) -> Markup {
    html! {
        colgroup {
            col class="c-drug";
            col class="c-dose";
            @if last { col class="c-last"; }
            @for _ in 0..days { col class="c-day"; }
        }
    }
}

fn range_title(ctx: &PageCtx, days: &[NaiveDate]) -> String {
    match (days.first(), days.last()) {
        (Some(a), Some(b)) => format!(
            "{} {} – {}",
            ctx.t(Key::MarTitle),
            crate::timefmt::date(*a),
            crate::timefmt::date(*b)
        ),
        _ => ctx.t(Key::MarTitle).to_owned(),
    }
}

/// The MAR for one or more patients, page break between patients.
/// `_seen` is the proof that this look is durable in the access log ([`crate::audit::Receipt`]):
/// without one the page cannot be rendered.
pub fn print_mar(
    ctx: &PageCtx,
    patients: &[PatientRecord],
    start: NaiveDate,
    days: u32,
    _seen: &crate::audit::Receipt,
) -> Markup {
    let days = days_list(start, days);
    let title = range_title(ctx, &days);
    let previous = days.first().is_some_and(|d| *d < ctx.today());
    let base = ctx.path.split(['?', '#']).next().unwrap_or("/");
    let ahead = days.iter().filter(|d| **d >= ctx.today()).count();
    let other = if previous {
        format!("{base}?days={ahead}")
    } else {
        format!("{base}?previous=1&days={ahead}")
    };
    let content = html! {
        h1 class="screen-only" { (title) }
        (print_hint(ctx))
        p class="screen-only mar-option" {
            a href=(other) { (ctx.t(if previous { Key::MarWithoutPrevious } else { Key::MarWithPrevious })) }
        }
        @if patients.is_empty() { p class="empty" { (ctx.t(Key::NoPatients)) } }
        @for p in patients { (patient_mar(ctx, p, &days)) }
    };
    layout::page(ctx, &title, Kind::PrintLandscape, content)
}

/// The empty MAR for a new admission.
pub fn print_blank_mar(ctx: &PageCtx, start: NaiveDate, days: u32) -> Markup {
    let days = days_list(start, days);
    let cols = 2 + days.len();
    let title = ctx.t(Key::MarBlankTitle);
    let field = |k: Key| {
        html! { span class="fill" { span class="fill-label" { (ctx.t(k)) ": " } span class="fill-line" {} } }
    };
    let content = html! {
        h1 class="screen-only" { (title) }
        (print_hint(ctx))
        section class="mar-patient" aria-label=(title) {
            table class="mar" {
                (colgroup(days.len(), false))
                thead {
                    tr { td colspan=(cols) class="mar-headcell" {
                        div class="print-head" {
                            div class="ph-row" {
                                (print_drill(ctx))
                                span class="ph-title" { (title) }
                                span { (ctx.t(Key::Ward)) ": " (clean(ctx.ward_name)) }
                                span class=(data_age_class(ctx)) { (data_age_text(ctx)) }
                                span { (ctx.t(Key::Printed)) " " (crate::timefmt::datetime(ctx.now, ctx.tz)) }
                            }
                            div class="ph-row fill-row" {
                                (field(Key::Name)) (field(Key::BirthDate)) (field(Key::PatientNumber)) (field(Key::Bed))
                            }
                            div class="ph-row fill-row" {
                                (field(Key::Allergies))
                                span class="fill" {
                                    span class="fill-label" { (ctx.t(Key::Resuscitation)) ": " }
                                    span class="tick" {} " " (ctx.t(Key::ResusPermit)) " "
                                    span class="tick" {} " " (ctx.t(Key::ResusDeny)) " "
                                    span class="tick" {} " " (ctx.t(Key::Unknown))
                                }
                            }
                        }
                    } }
                    tr {
                        th scope="col" class="mar-drughead" { (ctx.t(Key::Drug)) }
                        th scope="col" class="mar-dosehead" { (ctx.t(Key::Dose)) " / " (ctx.t(Key::Schedule)) }
                        (day_headers(ctx, &days))
                    }
                }
                (legend_foot(ctx, cols, html! {}, false))
                tbody {
                    @for _ in 0..BLANK_LINES { (blank_row(ctx, &days, BLANK_SLOTS, false, None)) }
                }
            }
        }
    };
    layout::page(ctx, title, Kind::PrintLandscape, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_dose_box_names_the_giver_by_initials() {
        assert_eq!(initials("Anneke de Boer"), "AdB");
        assert_eq!(initials("Teun van de Ven"), "TvdV");
        assert_eq!(initials("M. Jansen"), "MJ");
        assert_eq!(initials("  Verpleegkundige  "), "Verpl…");
        assert_eq!(initials("Rob"), "Rob");
        assert_eq!(initials("a b c d e f g h"), "abcdef");
        assert_eq!(initials(""), "");
    }
}
