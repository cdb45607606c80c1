//! Drill reports, computed from the audit log alone: when a drill started and ended and by
//! whom, how long until the first login and the first patient view, who logged in, how many
//! patients were viewed and printed, failed logins and lockouts, how old the data was, and
//! which snapshots were accepted or rejected during the drill.
//!
//! A drill's id is the audit entry id of the mode switch that started it. Every report
//! produced is stored (table `drill_report`) so the next drill's report shows the previous
//! drill's key figures beside its own.

use super::entry::{Entry, ROW_COLUMNS, Row};
use super::error::AuditError;
use super::event::{Action, Event, EventKind, Outcome, PatientRef, UserRef, kind_str};
use super::log::AuditLog;
use super::retention;
use crate::config::Language;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Most rejected snapshots listed in one report.
pub(crate) const MAX_REJECTIONS_LISTED: usize = 200;
/// Most stored reports returned by [`list`].
pub(crate) const MAX_LISTED: usize = 1000;

/// How a drill ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillEnd {
    /// The audit entry of the switch that ended it (None when the drill's time ran out
    /// while no switch was logged, e.g. the daemon was down at its end time).
    pub entry_id: Option<i64>,
    /// When the drill ended.
    pub time: DateTime<Utc>,
    /// Who or what ended it (a user, root, or the drill's time running out).
    pub by: String,
    /// The mode switched to (standby, or emergency when a real outage began).
    pub to_mode: String,
}

/// A snapshot event during the drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotNote {
    /// When the snapshot was accepted or refused.
    pub time: DateTime<Utc>,
    /// The audit entry's detail (file, sequence, reason).
    pub detail: String,
}

/// The key figures kept for comparison with later drills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillSummary {
    /// The drill's id: the audit entry id of the switch that started it.
    pub drill_id: i64,
    /// When it started.
    pub started: DateTime<Utc>,
    /// How long it lasted; `None` while it runs.
    pub duration_seconds: Option<i64>,
    /// Seconds from the start to the first successful login.
    pub seconds_to_first_login: Option<i64>,
    /// Seconds from the start to the first patient page shown.
    pub seconds_to_first_patient_view: Option<i64>,
    /// Distinct users who logged in.
    pub users: usize,
    /// Distinct patients whose page was shown.
    pub patients_viewed: usize,
    /// Distinct patients on a printout.
    pub patients_printed: usize,
    /// Printouts made.
    pub prints: usize,
    /// Failed logins.
    pub failed_logins: usize,
    /// Lockouts.
    pub lockouts: usize,
    /// Age of the served data when the drill started, in seconds.
    pub data_age_at_start_seconds: Option<i64>,
    /// The oldest the served data got during the drill, in seconds.
    pub max_data_age_seconds: Option<i64>,
    /// Snapshots refused during the drill.
    pub snapshots_rejected: usize,
}

/// A drill report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillReport {
    /// The drill's id: the audit entry id of the switch that started it.
    pub drill_id: i64,
    /// The appliance the drill ran on.
    pub appliance: String,
    /// The ward it serves.
    pub ward: String,
    /// When the drill started.
    pub started: DateTime<Utc>,
    /// Who started it.
    pub started_by: String,
    /// The reason given when it was started.
    pub reason: String,
    /// When the drill would end by itself.
    pub planned_end: Option<DateTime<Utc>>,
    /// None while the drill is still running.
    pub ended: Option<DrillEnd>,
    /// Seconds from the start to the first successful login.
    pub seconds_to_first_login: Option<i64>,
    /// Seconds from the start to the first patient page shown.
    pub seconds_to_first_patient_view: Option<i64>,
    /// Distinct users who logged in successfully, in order of first login.
    pub users: Vec<UserRef>,
    /// Successful logins.
    pub logins: usize,
    /// Failed logins.
    pub failed_logins: usize,
    /// Lockouts.
    pub lockouts: usize,
    /// Patient pages shown (each view counted).
    pub patient_views: usize,
    /// Distinct patients whose page was shown.
    pub patients_viewed: usize,
    /// Printouts made.
    pub prints: usize,
    /// Distinct patients on a printout.
    pub patients_printed: usize,
    /// Searches made.
    pub searches: usize,
    /// Age of the served clinical data when the drill started / ended (or now, if running).
    pub data_age_at_start_seconds: Option<i64>,
    /// Age of the served data when the drill ended (or now, while it runs), in seconds.
    pub data_age_at_end_seconds: Option<i64>,
    /// The oldest the served data got during the drill.
    pub max_data_age_seconds: Option<i64>,
    /// Snapshots accepted during the drill.
    pub snapshots_accepted: Vec<SnapshotNote>,
    /// Snapshots refused during the drill.
    pub snapshots_rejected: Vec<SnapshotNote>,
    /// When this report was produced.
    pub produced: DateTime<Utc>,
    /// The previous drill's key figures, when a report of it was stored.
    pub previous: Option<DrillSummary>,
}

impl DrillReport {
    /// The key figures.
    pub fn summary(&self) -> DrillSummary {
        DrillSummary {
            drill_id: self.drill_id,
            started: self.started,
            duration_seconds: self
                .ended
                .as_ref()
                .map(|e| (e.time - self.started).num_seconds()),
            seconds_to_first_login: self.seconds_to_first_login,
            seconds_to_first_patient_view: self.seconds_to_first_patient_view,
            users: self.users.len(),
            patients_viewed: self.patients_viewed,
            patients_printed: self.patients_printed,
            prints: self.prints,
            failed_logins: self.failed_logins,
            lockouts: self.lockouts,
            data_age_at_start_seconds: self.data_age_at_start_seconds,
            max_data_age_seconds: self.max_data_age_seconds,
            snapshots_rejected: self.snapshots_rejected.len(),
        }
    }
}

/// Builds the report of drill `drill_id` (default: the latest drill), stores it, and records
/// its production in the audit log.
pub(crate) fn report(log: &AuditLog, drill_id: Option<i64>) -> Result<DrillReport, AuditError> {
    report_at(log, drill_id, Utc::now())
}

/// [`report`] with an explicit "now" (the end of a still-running drill; tests).
pub fn report_at(
    log: &AuditLog,
    drill_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<DrillReport, AuditError> {
    let mut report = log.with_conn(|c| compute(log, c, drill_id, now))?;
    report.previous = list(log)?
        .into_iter()
        .filter(|r| r.drill_id < report.drill_id)
        .max_by_key(|r| r.drill_id)
        .map(|r| r.summary());
    let json = serde_json::to_string(&report)?;
    log.with_conn(|c| {
        c.execute(
            "INSERT INTO drill_report (drill_id, produced, report) VALUES (?1, ?2, ?3)
             ON CONFLICT(drill_id) DO UPDATE SET produced = excluded.produced,
               report = excluded.report",
            params![
                report.drill_id,
                now.to_rfc3339_opts(SecondsFormat::Micros, true),
                json
            ],
        )
        .map_err(log.sq())
    })?;
    let mode = log
        .with_conn(|c| Ok(retention::current_mode(c)))?
        .unwrap_or_else(|| "standby".into());
    log.append_at(
        Event::new(
            EventKind::DrillReport,
            Action::R,
            Outcome::Success,
            &mode,
            format!(
                "drill report for drill {} ({})",
                report.drill_id,
                if report.ended.is_some() {
                    "ended"
                } else {
                    "still running"
                }
            ),
        ),
        now,
    )?;
    Ok(report)
}

/// The stored reports, oldest drill first.
pub fn list(log: &AuditLog) -> Result<Vec<DrillReport>, AuditError> {
    log.with_conn(|c| {
        let mut stmt = c
            .prepare("SELECT report FROM drill_report ORDER BY drill_id LIMIT ?1")
            .map_err(log.sq())?;
        let rows = stmt
            .query_map(params![MAX_LISTED as i64], |r| r.get::<_, String>(0))
            .map_err(log.sq())?;
        let mut out = Vec::new();
        for r in rows {
            let text = r.map_err(log.sq())?;
            // A stored report that no longer parses is skipped, not fatal: the log is the
            // source; the report can be produced again.
            if let Ok(rep) = serde_json::from_str::<DrillReport>(&text) {
                out.push(rep);
            }
        }
        Ok(out)
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses a mode-switch detail "FROM -> TO by WHO: REASON (ends RFC3339)".
fn parse_switch(detail: &str) -> (Option<String>, Option<String>, Option<DateTime<Utc>>) {
    let Some((_, rest)) = detail.split_once(" by ") else {
        return (None, None, None);
    };
    let Some((who, rest)) = rest.split_once(": ") else {
        return (Some(rest.to_owned()), None, None);
    };
    let (reason, ends) = match rest
        .strip_suffix(')')
        .and_then(|r| r.rsplit_once(" (ends "))
    {
        Some((reason, ends)) => (reason, parse_time(ends)),
        None => (rest, None),
    };
    (Some(who.to_owned()), Some(reason.to_owned()), ends)
}

/// From "accepted FILE kind=clinical seq=N data_as_of=RFC3339": the data_as_of of a
/// clinical snapshot (None for other kinds).
fn data_as_of(detail: &str) -> Option<DateTime<Utc>> {
    let mut kind = None;
    let mut as_of = None;
    for tok in detail.split_whitespace() {
        if let Some(k) = tok.strip_prefix("kind=") {
            kind = Some(k);
        } else if let Some(t) = tok.strip_prefix("data_as_of=") {
            as_of = parse_time(t);
        }
    }
    match kind {
        None | Some("clinical") => as_of,
        Some(_) => None,
    }
}

fn read_entry(log: &AuditLog, r: &rusqlite::Row<'_>) -> Result<Entry, AuditError> {
    let row = Row::from_sql(r).map_err(log.sq())?;
    let id = row.id;
    row.into_entry().map_err(|m| AuditError::Invalid {
        path: log.path().to_owned(),
        message: format!("entry {id} is unreadable ({m}); run `noodepd audit verify`"),
    })
}

fn entry_time(log: &AuditLog, e: &Entry) -> Result<DateTime<Utc>, AuditError> {
    parse_time(&e.time).ok_or_else(|| AuditError::Invalid {
        path: log.path().to_owned(),
        message: format!("entry {} has an unreadable time", e.id),
    })
}

fn who(e: &Entry, parsed: Option<String>) -> String {
    parsed
        .or_else(|| {
            e.event
                .user
                .as_ref()
                .map(|u| format!("{} ({})", u.name, u.id))
        })
        .unwrap_or_else(|| "unknown".into())
}

fn compute(
    log: &AuditLog,
    c: &Connection,
    drill_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<DrillReport, AuditError> {
    let sq = log.sq();
    let switch = kind_str(EventKind::ModeSwitch);
    // The start: the given entry, or the latest switch into drill mode.
    let start = {
        let mut stmt = c
            .prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM entry WHERE kind = ?1 AND (?2 IS NULL OR id = ?2)
                 ORDER BY id DESC"
            ))
            .map_err(&sq)?;
        let mut rows = stmt.query(params![switch, drill_id]).map_err(&sq)?;
        let mut found = None;
        while let Some(r) = rows.next().map_err(&sq)? {
            let e = read_entry(log, r)?;
            if e.event.mode == "drill" {
                found = Some(e);
                break;
            }
        }
        found.ok_or(AuditError::NoDrill(drill_id))?
    };
    let started = entry_time(log, &start)?;
    let (by, reason, planned_end) = parse_switch(&start.event.detail);
    // The end: the next mode switch of any kind.
    let end_entry: Option<Entry> = {
        let mut stmt = c
            .prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM entry WHERE kind = ?1 AND id > ?2 ORDER BY id LIMIT 1"
            ))
            .map_err(&sq)?;
        let mut rows = stmt.query(params![switch, start.id]).map_err(&sq)?;
        match rows.next().map_err(&sq)? {
            Some(r) => Some(read_entry(log, r)?),
            None => None,
        }
    };
    let ended = match (&end_entry, planned_end) {
        (Some(e), _) => Some(DrillEnd {
            entry_id: Some(e.id),
            time: entry_time(log, e)?,
            by: who(e, parse_switch(&e.event.detail).0),
            to_mode: e.event.mode.clone(),
        }),
        // The mode controller treats a drill past its end time as over even before the
        // switch back is logged; so does the report.
        (None, Some(end)) if end <= now => Some(DrillEnd {
            entry_id: None,
            time: end,
            by: "automatic (drill time elapsed)".into(),
            to_mode: "standby".into(),
        }),
        (None, _) => None,
    };
    let end_time = ended.as_ref().map(|e| e.time).unwrap_or(now);

    // The data served when the drill started: the latest clinical snapshot accepted before.
    let mut as_of: Option<DateTime<Utc>> = {
        let mut stmt = c
            .prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM entry WHERE kind = ?1 AND id < ?2 ORDER BY id DESC LIMIT 1000"
            ))
            .map_err(&sq)?;
        let mut rows = stmt
            .query(params![kind_str(EventKind::SnapshotAccepted), start.id])
            .map_err(&sq)?;
        let mut found = None;
        while let Some(r) = rows.next().map_err(&sq)? {
            if let Some(t) = data_as_of(&read_entry(log, r)?.event.detail) {
                found = Some(t);
                break;
            }
        }
        found
    };
    let age = |at: DateTime<Utc>, of: Option<DateTime<Utc>>| of.map(|o| (at - o).num_seconds());
    let data_age_at_start = age(started, as_of);
    let mut max_age = data_age_at_start;
    let bump = |max: &mut Option<i64>, a: Option<i64>| {
        if let Some(a) = a {
            *max = Some(max.map_or(a, |m| m.max(a)));
        }
    };

    let mut report = DrillReport {
        drill_id: start.id,
        appliance: start.appliance.clone(),
        ward: start.ward.clone(),
        started,
        started_by: who(&start, by),
        reason: reason.unwrap_or_else(|| start.event.detail.clone()),
        planned_end,
        ended,
        seconds_to_first_login: None,
        seconds_to_first_patient_view: None,
        users: Vec::new(),
        logins: 0,
        failed_logins: 0,
        lockouts: 0,
        patient_views: 0,
        patients_viewed: 0,
        prints: 0,
        patients_printed: 0,
        searches: 0,
        data_age_at_start_seconds: data_age_at_start,
        data_age_at_end_seconds: None,
        max_data_age_seconds: None,
        snapshots_accepted: Vec::new(),
        snapshots_rejected: Vec::new(),
        produced: now,
        previous: None,
    };
    let mut viewed = BTreeSet::new();
    let mut printed = BTreeSet::new();
    let upper = end_entry.as_ref().map(|e| e.id).unwrap_or(i64::MAX);
    let mut stmt = c
        .prepare(&format!(
            "SELECT {ROW_COLUMNS} FROM entry WHERE id > ?1 AND id < ?2 ORDER BY id"
        ))
        .map_err(&sq)?;
    let mut rows = stmt.query(params![start.id, upper]).map_err(&sq)?;
    while let Some(r) = rows.next().map_err(&sq)? {
        let e = read_entry(log, r)?;
        let t = entry_time(log, &e)?;
        if t > end_time {
            break;
        }
        let ok = e.event.outcome == Outcome::Success;
        let since = (t - started).num_seconds();
        let patient_id = |p: &PatientRef| p.key.clone();
        match e.event.kind {
            EventKind::Login if ok => {
                report.logins += 1;
                report.seconds_to_first_login.get_or_insert(since);
                if let Some(u) = &e.event.user
                    && !report.users.iter().any(|x| x.id == u.id)
                {
                    report.users.push(u.clone());
                }
            }
            EventKind::LoginFailed => report.failed_logins += 1,
            EventKind::Login => report.failed_logins += 1,
            EventKind::Lockout => report.lockouts += 1,
            EventKind::PatientView if ok => {
                report.patient_views += 1;
                report.seconds_to_first_patient_view.get_or_insert(since);
                viewed.extend(e.event.patients.iter().map(patient_id));
            }
            EventKind::Print if ok => {
                report.prints += 1;
                printed.extend(e.event.patients.iter().map(patient_id));
            }
            EventKind::Search if ok => report.searches += 1,
            EventKind::SnapshotAccepted => {
                if let Some(new) = data_as_of(&e.event.detail) {
                    bump(&mut max_age, age(t, as_of));
                    as_of = Some(new);
                }
                if report.snapshots_accepted.len() < MAX_REJECTIONS_LISTED {
                    report.snapshots_accepted.push(SnapshotNote {
                        time: t,
                        detail: e.event.detail.clone(),
                    });
                }
            }
            EventKind::SnapshotRejected
                if report.snapshots_rejected.len() < MAX_REJECTIONS_LISTED =>
            {
                report.snapshots_rejected.push(SnapshotNote {
                    time: t,
                    detail: e.event.detail.clone(),
                });
            }
            _ => {}
        }
    }
    report.patients_viewed = viewed.len();
    report.patients_printed = printed.len();
    report.data_age_at_end_seconds = age(end_time, as_of);
    bump(&mut max_age, report.data_age_at_end_seconds);
    report.max_data_age_seconds = max_age;
    Ok(report)
}

// ---------------------------------------------------------------- rendering

fn dur(s: Option<i64>) -> String {
    match s {
        Some(s) => crate::timefmt::age(s, Language::En),
        None => "-".into(),
    }
}

fn dur_l(s: Option<i64>, lang: Language) -> String {
    match s {
        Some(s) => crate::timefmt::age(s, lang),
        None => "-".into(),
    }
}

/// The report as plain text (for the CLI), times in `tz`.
pub fn render_text(r: &DrillReport, tz: Tz) -> String {
    use std::fmt::Write;
    let dt = |t: DateTime<Utc>| crate::timefmt::datetime(t, tz);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Drill report: drill {} (ward {}, appliance {})",
        r.drill_id, r.ward, r.appliance
    );
    let _ = writeln!(
        s,
        "Started:            {} by {}",
        dt(r.started),
        r.started_by
    );
    let _ = writeln!(s, "Reason:             {}", r.reason);
    match &r.ended {
        Some(e) => {
            let _ = writeln!(
                s,
                "Ended:              {} by {} (to {}), after {}",
                dt(e.time),
                e.by,
                e.to_mode,
                dur(Some((e.time - r.started).num_seconds()))
            );
        }
        None => {
            let _ = writeln!(
                s,
                "Ended:              still running{}",
                r.planned_end
                    .map(|t| format!(" (ends by itself at {})", dt(t)))
                    .unwrap_or_default()
            );
        }
    }
    let _ = writeln!(s, "First login after:  {}", dur(r.seconds_to_first_login));
    let _ = writeln!(
        s,
        "First patient view: {}",
        dur(r.seconds_to_first_patient_view)
    );
    let _ = writeln!(s, "Logged in ({}):", r.users.len());
    for u in &r.users {
        let _ = writeln!(s, "  - {} ({}), {}", u.name, u.id, u.role);
    }
    let _ = writeln!(
        s,
        "Patients viewed:    {} ({} views)",
        r.patients_viewed, r.patient_views
    );
    let _ = writeln!(
        s,
        "Patients printed:   {} ({} prints)",
        r.patients_printed, r.prints
    );
    let _ = writeln!(s, "Searches:           {}", r.searches);
    let _ = writeln!(s, "Failed logins:      {}", r.failed_logins);
    let _ = writeln!(s, "Lockouts:           {}", r.lockouts);
    let _ = writeln!(
        s,
        "Data age at start:  {}",
        dur(r.data_age_at_start_seconds)
    );
    let _ = writeln!(s, "Data age at end:    {}", dur(r.data_age_at_end_seconds));
    let _ = writeln!(s, "Oldest data age:    {}", dur(r.max_data_age_seconds));
    let _ = writeln!(s, "Snapshots accepted: {}", r.snapshots_accepted.len());
    let _ = writeln!(s, "Snapshots rejected: {}", r.snapshots_rejected.len());
    for n in &r.snapshots_rejected {
        let _ = writeln!(s, "  - {}: {}", dt(n.time), n.detail);
    }
    if let Some(p) = &r.previous {
        let _ = writeln!(
            s,
            "\nCompared with the previous drill ({}, started {}):",
            p.drill_id,
            dt(p.started)
        );
        let _ = writeln!(s, "  {:<26} {:>14} {:>14}", "", "this drill", "previous");
        for (label, this, prev) in compare_rows(r, p, Language::En) {
            let _ = writeln!(s, "  {label:<26} {this:>14} {prev:>14}");
        }
    }
    let _ = writeln!(s, "\nProduced {}", dt(r.produced));
    s
}

fn compare_rows(
    r: &DrillReport,
    p: &DrillSummary,
    lang: Language,
) -> Vec<(&'static str, String, String)> {
    let this = r.summary();
    let nl = lang == Language::Nl;
    let l = |nl_s: &'static str, en: &'static str| if nl { nl_s } else { en };
    vec![
        (
            l("Eerste login na", "First login after"),
            dur_l(this.seconds_to_first_login, lang),
            dur_l(p.seconds_to_first_login, lang),
        ),
        (
            l("Eerste patiëntinzage na", "First patient view after"),
            dur_l(this.seconds_to_first_patient_view, lang),
            dur_l(p.seconds_to_first_patient_view, lang),
        ),
        (
            l("Ingelogd", "Logged in"),
            this.users.to_string(),
            p.users.to_string(),
        ),
        (
            l("Patiënten ingezien", "Patients viewed"),
            this.patients_viewed.to_string(),
            p.patients_viewed.to_string(),
        ),
        (
            l("Afdrukken", "Prints"),
            this.prints.to_string(),
            p.prints.to_string(),
        ),
        (
            l("Mislukte logins", "Failed logins"),
            this.failed_logins.to_string(),
            p.failed_logins.to_string(),
        ),
        (
            l("Blokkeringen", "Lockouts"),
            this.lockouts.to_string(),
            p.lockouts.to_string(),
        ),
        (
            l("Oudste gegevens", "Oldest data age"),
            dur_l(this.max_data_age_seconds, lang),
            dur_l(p.max_data_age_seconds, lang),
        ),
        (
            l("Geweigerde snapshots", "Rejected snapshots"),
            this.snapshots_rejected.to_string(),
            p.snapshots_rejected.to_string(),
        ),
    ]
}

/// A role as the report's reader says it (the log stores the stable English id).
fn role_word(role: &str, lang: Language) -> &str {
    match (role, lang) {
        ("nurse", Language::Nl) => "verpleegkundige",
        ("physician", Language::Nl) => "arts",
        ("coordinator", Language::Nl) => "coördinator",
        ("it", Language::Nl) => "ICT",
        ("physician", Language::En) => "physician",
        ("coordinator", Language::En) => "coordinator",
        ("nurse", Language::En) => "nurse",
        ("it", Language::En) => "IT",
        (other, _) => other,
    }
}

/// The report as an HTML fragment for the coordinators' page (GET /drill-report).
pub fn render_html(r: &DrillReport, lang: Language, tz: Tz) -> Markup {
    let nl = lang == Language::Nl;
    let l = |nl_s: &'static str, en: &'static str| if nl { nl_s } else { en };
    let dt = |t: DateTime<Utc>| crate::timefmt::datetime(t, tz);
    let d = |s: Option<i64>| dur_l(s, lang);
    html! {
        section.drill-report {
            h2 { (l("Oefenrapport", "Drill report")) " " (r.drill_id) }
            dl.figures {
                div.figure { dt { (l("Gestart", "Started")) } dd { (dt(r.started)) " " (l("door", "by")) " " (r.started_by) } }
                div.figure { dt { (l("Reden", "Reason")) } dd { (r.reason) } }
                div.figure {
                    dt { (l("Beëindigd", "Ended")) }
                    dd {
                        @match &r.ended {
                            Some(e) => { (dt(e.time)) " " (l("door", "by")) " " (e.by) " (" (d(Some((e.time - r.started).num_seconds()))) ")" }
                            None => { span.running { (l("loopt nog", "still running")) } }
                        }
                    }
                }
                div.figure { dt { (l("Eerste login na", "First login after")) } dd { (d(r.seconds_to_first_login)) } }
                div.figure { dt { (l("Eerste patiëntinzage na", "First patient view after")) } dd { (d(r.seconds_to_first_patient_view)) } }
                div.figure { dt { (l("Patiënten ingezien", "Patients viewed")) } dd { (r.patients_viewed) } }
                div.figure { dt { (l("Patiënten afgedrukt", "Patients printed")) } dd { (r.patients_printed) " (" (r.prints) " " (l("afdrukken", "prints")) ")" } }
                div.figure { dt { (l("Mislukte logins", "Failed logins")) } dd { (r.failed_logins) } }
                div.figure { dt { (l("Blokkeringen", "Lockouts")) } dd { (r.lockouts) } }
                div.figure { dt { (l("Leeftijd gegevens bij start", "Data age at start")) } dd { (d(r.data_age_at_start_seconds)) } }
                div.figure { dt { (l("Leeftijd gegevens aan het eind", "Data age at end")) } dd { (d(r.data_age_at_end_seconds)) } }
                div.figure { dt { (l("Oudste gegevens", "Oldest data age")) } dd { (d(r.max_data_age_seconds)) } }
                div.figure { dt { (l("Snapshots ontvangen", "Snapshots accepted")) } dd { (r.snapshots_accepted.len()) } }
            }
            h3 { (l("Ingelogd", "Logged in")) " (" (r.users.len()) ")" }
            ul.users {
                @for u in &r.users { li { (u.name) " (" (u.id) "), " (role_word(&u.role, lang)) } }
            }
            @if !r.snapshots_rejected.is_empty() {
                h3 { (l("Geweigerde snapshots", "Rejected snapshots")) }
                ul.rejected {
                    @for n in &r.snapshots_rejected { li { (dt(n.time)) ": " (n.detail) } }
                }
            }
            @if let Some(p) = &r.previous {
                h3 { (l("Vergeleken met de vorige oefening", "Compared with the previous drill")) " (" (p.drill_id) ", " (dt(p.started)) ")" }
                table.drill-compare {
                    thead { tr { th { } th { (l("deze oefening", "this drill")) } th { (l("vorige", "previous")) } } }
                    tbody {
                        @for (label, this, prev) in compare_rows(r, p, lang) {
                            tr { th { (label) } td { (this) } td { (prev) } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mode_switch_detail_with_end_time() {
        let (who, reason, ends) = parse_switch(
            "standby -> drill by Jan Jansen (u1): oefening: deel 2 (ends 2026-11-22T08:00:00+00:00)",
        );
        assert_eq!(who.as_deref(), Some("Jan Jansen (u1)"));
        assert_eq!(reason.as_deref(), Some("oefening: deel 2"));
        assert_eq!(ends, parse_time("2026-11-22T08:00:00Z"));
    }

    #[test]
    fn data_as_of_ignores_non_clinical_snapshots() {
        assert!(
            data_as_of("accepted r.snap kind=roster seq=3 data_as_of=2026-11-22T06:00:00Z")
                .is_none()
        );
        assert_eq!(
            data_as_of("accepted c.snap kind=clinical seq=4 data_as_of=2026-11-22T06:00:00Z"),
            parse_time("2026-11-22T06:00:00Z")
        );
    }
}
