//! `noodepd preview INPUT... [--json] [--now RFC3339] [--ward W]`: maps FHIR files or
//! directories without any crypto and prints what the appliance would serve plus the
//! ingest report, so IT staff can check an export before deploying it.
//!
//! Text mode prints a readable summary per patient (times in Europe/Amsterdam); `--json`
//! prints `{"ward", "patients", "report"}` (the serialised [`WardRecord`]). Exit status 0
//! when the input was mapped (even with resources not shown); an error (non-zero) when the
//! input is malformed, naming the file and line.

use crate::cli::PreviewArgs;
use crate::fhir::{self, MapOptions};
use crate::record::{
    AlertKind, Criticality, Decision, DirectiveKind, Fate, Listed, MedicationKind, MedicationLine,
    Moment, NotShownReason, NoteKind, PatientRecord, Sex, StopKind, TreatmentState, WardRecord,
};
use crate::timefmt;
use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::fmt::Write as _;
use std::process::ExitCode;

const TZ: Tz = chrono_tz::Europe::Amsterdam;

/// Runs `noodepd preview`.
pub(crate) fn run(args: &PreviewArgs) -> anyhow::Result<ExitCode> {
    let now: DateTime<Utc> = match &args.now {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--now {s:?} is not an RFC 3339 time"))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let docs =
        fhir::input::read_documents(&args.input).context("input rejected; nothing was mapped")?;
    let opts = MapOptions::new(now, args.ward.clone());
    let record = fhir::map_documents(&docs, &opts);
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&record).context("serialising the record")?;
        s.push('\n');
        s
    } else {
        render_text(&record, now)
    };
    // Record text is hostile: no escape sequence or direction override reaches the terminal.
    let out = crate::text::printable_lines(&out);
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A closed pipe (e.g. `| head`) is not an error of the mapping.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("writing the preview");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn m(mo: &Option<Moment>) -> String {
    mo.as_ref()
        .map(|x| timefmt::moment(x, TZ))
        .unwrap_or_else(|| "?".to_owned())
}

fn section<T>(out: &mut String, title: &str, l: &Listed<T>, mut item: impl FnMut(&mut String, &T)) {
    match l {
        Listed::NotRecorded => {
            let _ = writeln!(out, "  {title}: niet vastgelegd");
        }
        Listed::NoneDocumented {
            statement,
            asserted,
        } => {
            let when = asserted
                .as_ref()
                .map(|a| format!(", {}", timefmt::moment(a, TZ)))
                .unwrap_or_default();
            let _ = writeln!(out, "  {title}: geen (vastgelegd: \"{statement}\"{when})");
        }
        Listed::Items { items } => {
            let _ = writeln!(out, "  {title} ({}):", items.len());
            for it in items {
                item(out, it);
            }
        }
    }
}

fn kind_short(k: MedicationKind) -> &'static str {
    match k {
        MedicationKind::Agreement => "MA",
        MedicationKind::VariableDosingRegimen => "WDS",
        MedicationKind::AdministrationAgreement => "TA",
        MedicationKind::Use => "MGB",
    }
}

fn state_text(s: &TreatmentState) -> String {
    match s {
        TreatmentState::Current {
            ends,
            stop_planned,
            pause_planned,
            resumed_after_pause,
        } => {
            let mut t = "actueel".to_owned();
            if let Some(r) = resumed_after_pause {
                let _ = write!(t, ", hervat na onderbreking sinds {}", m(&Some(*r)));
            }
            if let Some(p) = pause_planned {
                let _ = write!(t, ", wordt onderbroken op {}", m(&Some(*p)));
            }
            if let Some(st) = stop_planned {
                let _ = write!(t, ", stopt op {}", m(&Some(*st)));
            }
            if let Some(e) = ends {
                let _ = write!(t, ", t/m {}", m(&Some(*e)));
            }
            t
        }
        TreatmentState::Paused { since, resumes } => {
            let mut t = format!("ONDERBROKEN sinds {}", m(since));
            if let Some(r) = resumes {
                let _ = write!(t, ", hervat op {}", m(&Some(*r)));
            }
            t
        }
        TreatmentState::Future { starts } => format!("start op {}", m(&Some(*starts))),
        TreatmentState::Stopped { on } => format!("gestopt op {}", m(on)),
        TreatmentState::Ended { on } => format!("beëindigd op {}", m(on)),
        TreatmentState::Cancelled => "geannuleerd".to_owned(),
        TreatmentState::Draft => "concept".to_owned(),
    }
}

fn fate_text(f: &Fate) -> String {
    match f {
        Fate::InForce { .. } => "loopt".to_owned(),
        Fate::NotYetStarted { starts } => format!("start op {}", m(&Some(*starts))),
        Fate::Ended { on } => format!("beëindigd op {}", m(on)),
        Fate::Stopped { on } => format!("gestopt op {}", m(on)),
        Fate::Paused { since } => format!("onderbroken sinds {}", m(since)),
        Fate::Cancelled => "geannuleerd".to_owned(),
        Fate::Draft => "concept".to_owned(),
        Fate::Superseded { from, .. } => format!("vervangen per {}", m(from)),
        Fate::StopOrder { stop, on } => format!(
            "{} per {}",
            match stop {
                StopKind::Paused => "onderbrekingsafspraak",
                StopKind::Stopped => "stopafspraak",
                StopKind::Cancelled => "annulering",
            },
            m(on)
        ),
    }
}

fn line_text(o: &mut String, l: &MedicationLine, indent: &str) {
    let _ = writeln!(
        o,
        "{indent}[{}] vanaf {}{} — {}",
        kind_short(l.kind),
        m(&l.start),
        l.end
            .as_ref()
            .map(|e| format!(" t/m {}", timefmt::moment(e, TZ)))
            .unwrap_or_default(),
        fate_text(&l.fate)
    );
    for d in &l.dosages {
        let parts: Vec<&str> = [
            d.dose.as_deref(),
            d.route.as_deref(),
            d.schedule.text.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !parts.is_empty() {
            let _ = writeln!(o, "{indent}    {}", parts.join(" | "));
        }
        if let Some(t) = &d.text {
            let _ = writeln!(o, "{indent}    \"{t}\"");
        }
    }
    if let Some(pr) = &l.prescriber {
        let _ = writeln!(o, "{indent}    voorschrijver/afspraak: {pr}");
    }
}

fn count<T>(l: &Listed<T>) -> String {
    match l {
        Listed::NotRecorded => "niet vastgelegd".to_owned(),
        Listed::NoneDocumented { .. } => "geen (vastgelegd)".to_owned(),
        Listed::Items { items } => items.len().to_string(),
    }
}

fn patient_text(out: &mut String, p: &PatientRecord) {
    let loc = &p.location;
    let bed = loc.bed.as_deref().unwrap_or("-");
    let sex = match p.identity.sex {
        Sex::Female => "vrouw",
        Sex::Male => "man",
        Sex::Other => "anders",
        Sex::Unknown => "geslacht onbekend",
    };
    let _ = writeln!(
        out,
        "== Bed {bed} | {} | geb. {} | {sex}",
        p.identity.name.display,
        m(&p.identity.birth_date),
    );
    let _ = writeln!(
        out,
        "  sleutel {} | patiëntnummer {} | BSN {}{}",
        p.key,
        p.identity.patient_number.as_deref().unwrap_or("-"),
        p.identity.bsn.as_deref().unwrap_or("-"),
        if p.identity.deceased {
            " | OVERLEDEN"
        } else {
            ""
        }
    );
    if loc.ward.is_some() || loc.room.is_some() {
        let _ = writeln!(
            out,
            "  afdeling {} | kamer {}",
            loc.ward.as_deref().unwrap_or("-"),
            loc.room.as_deref().unwrap_or("-")
        );
    }
    if let Some(a) = &p.admission {
        let _ = writeln!(
            out,
            "  opname {} | behandelaar {} | {}",
            m(&a.start),
            a.attending.as_deref().unwrap_or("-"),
            a.reason.as_deref().or(a.specialty.as_deref()).unwrap_or("")
        );
    }
    section(out, "Behandelbeperkingen", &p.directives, |o, d| {
        let kind = match d.kind {
            DirectiveKind::Resuscitation => "reanimatie",
            DirectiveKind::Treatment => "behandeling",
            DirectiveKind::AdvanceDirective => "wilsverklaring",
        };
        let decision = match d.decision {
            Decision::Permit => "WEL",
            Decision::Deny => "NIET",
            Decision::Other => "ANDERS",
        };
        let _ = writeln!(
            o,
            "    - [{kind}] {}: {decision}{} ({}{})",
            d.treatment,
            d.text
                .as_deref()
                .map(|t| format!(" — {t}"))
                .unwrap_or_default(),
            m(&d.date),
            d.source
                .as_deref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default()
        );
    });
    section(out, "Alerts", &p.alerts, |o, a| {
        let kind = match a.kind {
            AlertKind::Isolation => "isolatie",
            AlertKind::FallRisk => "valrisico",
            AlertKind::Other => "overig",
        };
        let _ = writeln!(o, "    - [{kind}] {} (sinds {})", a.text, m(&a.since));
    });
    section(out, "Allergieën", &p.allergies, |o, a| {
        let crit = match a.criticality {
            Criticality::High => "hoog risico",
            Criticality::Low => "laag risico",
            Criticality::UnableToAssess => "risico niet te beoordelen",
            Criticality::NotRecorded => "risico niet vastgelegd",
        };
        let reactions: Vec<&str> = a
            .reactions
            .iter()
            .map(|r| r.manifestation.as_str())
            .collect();
        let _ = writeln!(
            o,
            "    - {} ({crit}){}",
            a.substance,
            if reactions.is_empty() {
                String::new()
            } else {
                format!(": {}", reactions.join("; "))
            }
        );
    });
    section(out, "Medicatie", &p.medication, |o, t| {
        let strength = t
            .drug()
            .strength
            .as_deref()
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        let unreadable = if t.unreadable.is_empty() {
            String::new()
        } else {
            " — KON NIET VOLLEDIG WORDEN GELEZEN, controleer in de bron".to_owned()
        };
        let _ = writeln!(
            o,
            "    - {}{strength}: {}{unreadable}",
            t.drug().name,
            state_text(&t.state)
        );
        for l in t.lead_lines() {
            line_text(o, l, "        ");
        }
        for l in t.blocks.iter().filter(|b| {
            b.kind != t.lead_kind() && b.fate.is_in_force() && b.kind != MedicationKind::Use
        }) {
            line_text(o, l, "        ");
        }
        if let Some(u) = t.last_use() {
            line_text(o, u, "        ");
        }
        for l in t.history() {
            let _ = writeln!(
                o,
                "        geschiedenis: [{}] {} ({})",
                kind_short(l.kind),
                l.dosages
                    .iter()
                    .filter_map(|d| d.dose.as_deref())
                    .collect::<Vec<_>>()
                    .join(", "),
                fate_text(&l.fate)
            );
        }
        if t.omitted > 0 {
            let _ = writeln!(
                o,
                "        (+ {} oudere bouwstenen niet bewaard)",
                t.omitted
            );
        }
        for u in &t.unreadable {
            let _ = writeln!(o, "        niet gelezen: {u:?}");
        }
        for a in &t.attention {
            let _ = writeln!(o, "        let op: {a:?}");
        }
    });
    match p.administrations.items().first() {
        Some(a) => {
            let _ = writeln!(
                out,
                "  Laatste toediening: {} {} om {} ({})",
                a.drug,
                a.dose.as_deref().unwrap_or(""),
                m(&a.at),
                a.status.as_deref().unwrap_or("-")
            );
        }
        None => {
            let _ = writeln!(out, "  Toedieningen: {}", count(&p.administrations));
        }
    }
    section(out, "Problemen", &p.problems, |o, pr| {
        let _ = writeln!(o, "    - {}", pr.name);
    });
    for n in &p.notes {
        let kind = match n.kind {
            NoteKind::PartialNegation => "gedeeltelijk",
            NoteKind::Contradiction => "TEGENSTRIJDIG",
            NoteKind::Statement => "verklaring",
        };
        let _ = writeln!(
            out,
            "  Opmerking {:?} ({kind}): \"{}\"",
            n.section, n.statement
        );
    }
    for c in &p.identity_conflicts {
        let _ = writeln!(
            out,
            "  IDENTITEIT NIET EENDUIDIG: {} verschilt: {}",
            c.field,
            c.values.join(" / ")
        );
    }
    if p.unread_count() > 0 {
        let _ = writeln!(
            out,
            "  {} gegeven(s) konden niet worden gelezen:",
            p.unread_count()
        );
        for u in &p.unread {
            let _ = writeln!(
                out,
                "    - {}/{} ({:?}): {}",
                u.resource_type,
                u.id.as_deref().unwrap_or("-"),
                u.reason,
                u.detail
            );
        }
    }
    let _ = writeln!(
        out,
        "  Vitale functies: {} | lab: {} | contactpersonen: {} | hulpmiddelen: {}",
        count(&p.vitals),
        count(&p.labs),
        count(&p.contacts),
        count(&p.devices)
    );
}

/// The reason as in the JSON report ("entered_in_error").
fn reason_text(r: NotShownReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{r:?}"))
}

/// The readable text summary.
pub(crate) fn render_text(r: &WardRecord, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Afdeling {} — {} patiënt(en), peilmoment {}",
        r.ward,
        r.patients.len(),
        timefmt::datetime(now, TZ)
    );
    for p in &r.patients {
        out.push('\n');
        patient_text(&mut out, p);
    }
    let rep = &r.report;
    let _ = writeln!(
        out,
        "\nIngest-rapport: {} resources gelezen, {} getoond, {} niet getoond{}",
        rep.total_input(),
        rep.by_type.values().map(|c| c.mapped).sum::<u64>(),
        rep.not_shown.len(),
        if rep.is_balanced() {
            ""
        } else {
            " (ONGEBALANCEERD)"
        }
    );
    for (t, c) in &rep.by_type {
        let _ = writeln!(
            out,
            "  {t:<28} in {:>6}  getoond {:>6}  niet getoond {:>6}",
            c.input, c.mapped, c.not_shown
        );
    }
    if !rep.not_shown.is_empty() {
        let _ = writeln!(out, "Niet getoond:");
        for n in &rep.not_shown {
            let _ = writeln!(
                out,
                "  {}/{}: {} — {}",
                n.resource_type,
                n.id.as_deref().unwrap_or("-"),
                reason_text(n.reason),
                n.detail
            );
        }
    }
    if !rep.warnings.is_empty() {
        let _ = writeln!(out, "Waarschuwingen:");
        for w in &rep.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}
