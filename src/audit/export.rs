//! Export of the audit log: all of it, a period, or one patient's entries (a patient's
//! access request), as JSON lines, CSV (RFC 4180, a column set for a patient's access
//! request) or FHIR R4 AuditEvent NDJSON (for the hospital's central logging once the EPD is
//! back). Every export is itself appended to the log as an `AuditExport` entry.
//!
//! With a patient filter, other patients named in the same entry (a ward-list print) are
//! withheld from the output, and the JSON lines say how many were withheld.

use super::entry::{Entry, ROW_COLUMNS, Row};
use super::error::AuditError;
use super::event::{AccessPoint, Action, Event, EventKind, Outcome, PatientRef, UserRef, kind_str};
use super::log::AuditLog;
use super::retention::current_mode;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, params};
use serde_json::{Value, json};
use std::io::Write;

/// The time zone local times are shown in.
pub(crate) const LOCAL_TZ: chrono_tz::Tz = chrono_tz::Europe::Amsterdam;
/// Longest patient filter accepted.
pub(crate) const MAX_PATIENT_FILTER: usize = 64;

/// Which entries to export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilter {
    /// Only entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only entries before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only entries about this patient (patient number, BSN or patient key).
    pub patient: Option<String>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per entry and line, as stored.
    Jsonl,
    /// CSV for a spreadsheet; cells that could start a formula are defused.
    Csv,
    /// FHIR R4 AuditEvent resources, one per line (NDJSON).
    Fhir,
}

impl ExportFormat {
    /// Lower-case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Csv => "csv",
            ExportFormat::Fhir => "fhir",
        }
    }
}

/// The CSV header (one row per entry).
pub(crate) const CSV_HEADER: [&str; 21] = [
    "id",
    "time_utc",
    "time_local",
    "user_id",
    "user_name",
    "role",
    "responsible_id",
    "responsible_name",
    "responsible_role",
    "event",
    "action",
    "outcome",
    "patient_numbers",
    "bsns",
    "detail",
    "mode",
    "emergency_access",
    "access_address",
    "workstation",
    "appliance",
    "ward",
];

impl AuditLog {
    /// Writes the entries matching `filter`, chronologically, in `format` to `out`; then
    /// records the export (by root on the console) in the log. Returns the number exported.
    pub fn export(
        &self,
        filter: &ExportFilter,
        format: ExportFormat,
        out: &mut dyn Write,
    ) -> Result<usize, AuditError> {
        if let Some(p) = &filter.patient
            && (p.trim().is_empty() || p.len() > MAX_PATIENT_FILTER)
        {
            return Err(AuditError::Invalid {
                path: self.path().to_owned(),
                message: format!("patient filter must be 1 to {MAX_PATIENT_FILTER} characters"),
            });
        }
        let path = self.path().to_owned();
        let sq = |source| AuditError::Sqlite {
            path: path.clone(),
            source,
        };
        let io = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        // A separate read-only connection: a long export never holds up appends.
        let conn =
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sq)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sq)?;
        let from = filter
            .from
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
            .unwrap_or_default();
        let to = filter
            .to
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
            .unwrap_or_else(|| "~".into());
        let wanted = filter.patient.as_deref().map(str::trim);
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM entry WHERE time >= ?1 AND time < ?2 ORDER BY time, id"
            ))
            .map_err(sq)?;
        let mut rows = stmt.query(params![from, to]).map_err(sq)?;
        if format == ExportFormat::Csv {
            write_csv_row(out, CSV_HEADER.iter().map(|s| s.to_string())).map_err(io)?;
        }
        let mut count = 0usize;
        let mut subject: Option<PatientRef> = None;
        while let Some(r) = rows.next().map_err(sq)? {
            let row = Row::from_sql(r).map_err(sq)?;
            let id = row.id;
            let mut entry = row.into_entry().map_err(|m| AuditError::Invalid {
                path: path.clone(),
                message: format!("entry {id} is unreadable ({m}); run `noodepd audit verify`"),
            })?;
            let mut withheld = 0usize;
            if let Some(p) = wanted {
                let before = entry.event.patients.len();
                entry.event.patients.retain(|x| patient_matches(x, p));
                if entry.event.patients.is_empty() {
                    continue;
                }
                withheld = before - entry.event.patients.len();
                if subject.is_none() {
                    subject = entry.event.patients.first().cloned();
                }
            }
            match format {
                ExportFormat::Jsonl => {
                    let mut v = serde_json::to_value(&entry)?;
                    if let Value::Object(m) = &mut v {
                        m.insert("time_local".into(), Value::String(local_time(&entry.time)));
                        if withheld > 0 {
                            m.insert("patients_withheld".into(), json!(withheld));
                        }
                    }
                    serde_json::to_writer(&mut *out, &v)?;
                    out.write_all(b"\n").map_err(io)?;
                }
                ExportFormat::Csv => write_csv_row(out, csv_fields(&entry)).map_err(io)?,
                ExportFormat::Fhir => {
                    serde_json::to_writer(&mut *out, &fhir_audit_event(&entry))?;
                    out.write_all(b"\n").map_err(io)?;
                }
            }
            count += 1;
        }
        drop(rows);
        drop(stmt);
        out.flush().map_err(io)?;
        let mode = current_mode(&conn).unwrap_or_else(|| "standby".into());
        drop(conn);
        let mut detail = format!("export format={} count={count}", format.as_str());
        if let Some(f) = filter.from {
            detail.push_str(&format!(" from={}", f.to_rfc3339()));
        }
        if let Some(t) = filter.to {
            detail.push_str(&format!(" to={}", t.to_rfc3339()));
        }
        if let Some(p) = wanted {
            detail.push_str(&format!(" patient={p}"));
        }
        let patients = match (subject, wanted) {
            (Some(s), _) => vec![s],
            (None, Some(p)) => vec![PatientRef {
                key: String::new(),
                patient_number: Some(p.to_owned()),
                bsn: None,
            }],
            (None, None) => vec![],
        };
        self.append(
            Event::new(
                EventKind::AuditExport,
                Action::R,
                Outcome::Success,
                &mode,
                detail,
            )
            .concerning(patients)
            .from(AccessPoint::console()),
        )?;
        Ok(count)
    }
}

fn patient_matches(p: &PatientRef, wanted: &str) -> bool {
    p.key == wanted
        || p.patient_number.as_deref() == Some(wanted)
        || p.bsn.as_deref() == Some(wanted)
}

/// An entry's stored UTC time in local time (RFC 3339 with offset), or "" when unparsable.
pub(crate) fn local_time(utc: &str) -> String {
    DateTime::parse_from_rfc3339(utc)
        .map(|t| {
            t.with_timezone(&LOCAL_TZ)
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        })
        .unwrap_or_default()
}

fn emergency_access(mode: &str) -> &'static str {
    match mode {
        "emergency" => "yes",
        "drill" => "yes (drill)",
        _ => "no",
    }
}

fn action_str(a: Action) -> &'static str {
    match a {
        Action::C => "C",
        Action::R => "R",
        Action::U => "U",
        Action::D => "D",
        Action::E => "E",
    }
}

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::MinorFailure => "minor_failure",
        Outcome::SeriousFailure => "serious_failure",
    }
}

fn csv_fields(e: &Entry) -> Vec<String> {
    let ev = &e.event;
    let user = |u: &Option<UserRef>, f: fn(&UserRef) -> &str| {
        u.as_ref().map(|u| f(u).to_owned()).unwrap_or_default()
    };
    let join = |f: fn(&PatientRef) -> Option<&str>| {
        ev.patients
            .iter()
            .filter_map(f)
            .collect::<Vec<_>>()
            .join(";")
    };
    vec![
        e.id.to_string(),
        e.time.clone(),
        local_time(&e.time),
        user(&ev.user, |u| &u.id),
        user(&ev.user, |u| &u.name),
        user(&ev.user, |u| &u.role),
        user(&ev.responsible, |u| &u.id),
        user(&ev.responsible, |u| &u.name),
        user(&ev.responsible, |u| &u.role),
        kind_str(ev.kind).to_owned(),
        action_str(ev.action).to_owned(),
        outcome_str(ev.outcome).to_owned(),
        join(|p| p.patient_number.as_deref()),
        join(|p| p.bsn.as_deref()),
        ev.detail.clone(),
        ev.mode.clone(),
        emergency_access(&ev.mode).to_owned(),
        ev.access_point
            .as_ref()
            .map(|a| a.address.clone())
            .unwrap_or_default(),
        ev.access_point
            .as_ref()
            .and_then(|a| a.workstation.clone())
            .unwrap_or_default(),
        e.appliance.clone(),
        e.ward.clone(),
    ]
}

/// Writes one CSV record (RFC 4180, CRLF line ends). Made safe for the spreadsheet it is
/// opened in, whatever its list separator (Dutch Excel splits on `;`):
/// * control and bidi characters (line breaks, terminal escapes, direction overrides)
///   become U+FFFD, so no field spans lines or drives a terminal that shows the file;
/// * every field that holds a separator (`,` `;` tab) or a quote is quoted (quotes
///   doubled), so no separator inside a field starts a new cell;
/// * a field whose first non-blank character could start a formula (`=` `+` `-` `@`, or
///   their full-width forms) gets a leading `'` (the detail holds user input).
fn write_csv_row(
    out: &mut dyn Write,
    fields: impl IntoIterator<Item = String>,
) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let f = crate::text::printable(&f).into_owned();
        let first = f.trim_start().chars().next();
        let f = if first.is_some_and(|c| "=+-@＝＋－＠".contains(c)) {
            format!("'{f}")
        } else {
            f
        };
        if f.contains([',', ';', '"', '\t']) {
            line.push('"');
            line.push_str(&f.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(&f);
        }
    }
    line.push_str("\r\n");
    out.write_all(line.as_bytes())
}

/// Code systems used in the FHIR output.
pub(crate) mod systems {
    pub(crate) const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
    pub(crate) const LIFECYCLE: &str = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle";
    pub(crate) const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
    pub(crate) const PARTICIPATION: &str =
        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
    pub(crate) const SECURITY_ROLE: &str =
        "http://terminology.hl7.org/CodeSystem/extra-security-role-type";
    pub(crate) const SOURCE_TYPE: &str =
        "http://terminology.hl7.org/CodeSystem/security-source-type";
    pub(crate) const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
    pub(crate) const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
    pub(crate) const BSN: &str = "http://fhir.nl/fhir/NamingSystem/bsn";
    pub(crate) const USER: &str = "urn:noodepd:user";
    pub(crate) const PATIENT_NUMBER: &str = "urn:noodepd:patient-number";
    pub(crate) const APPLIANCE: &str = "urn:noodepd:appliance";
    pub(crate) const MODE_TAG: &str = "urn:noodepd:mode";
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({"system": system, "code": code, "display": display})
}

/// AuditEvent.type and .subtype for an event kind (DICOM audit event ids and types, the
/// ISO 21089 lifecycle where that fits better).
fn fhir_type(ev: &Event) -> (Value, Vec<Value>) {
    use systems::{DCM, LIFECYCLE};
    let dcm = |c, d| coding(DCM, c, d);
    let life = |c, d| coding(LIFECYCLE, c, d);
    match ev.kind {
        EventKind::PatientView | EventKind::WardView => (
            dcm("110110", "Patient Record"),
            vec![life("access", "Access/View Record Lifecycle Event")],
        ),
        EventKind::Search => (
            dcm("110112", "Query"),
            vec![life("access", "Access/View Record Lifecycle Event")],
        ),
        EventKind::Print => (
            dcm("110106", "Export"),
            vec![life("disclose", "Disclose Record Lifecycle Event")],
        ),
        EventKind::Login | EventKind::LoginFailed | EventKind::Lockout => (
            dcm("110114", "User Authentication"),
            vec![dcm("110122", "Login")],
        ),
        EventKind::Logout | EventKind::SessionExpired | EventKind::SessionEnded => (
            dcm("110114", "User Authentication"),
            vec![dcm("110123", "Logout")],
        ),
        EventKind::ModeSwitch => (
            dcm("110113", "Security Alert"),
            vec![if ev.mode == "standby" {
                dcm("110138", "Emergency Override Stopped")
            } else {
                dcm("110127", "Emergency Override Started")
            }],
        ),
        EventKind::GuestCodeIssued | EventKind::GuestCodeRevoked | EventKind::LockoutLifted => (
            dcm("110113", "Security Alert"),
            vec![dcm("110137", "User Security Attributes Changed")],
        ),
        EventKind::RosterUpdated => (
            dcm("110113", "Security Alert"),
            vec![dcm("110136", "Security Roles Changed")],
        ),
        EventKind::SnapshotAccepted | EventKind::SnapshotRejected => (
            dcm("110107", "Import"),
            vec![life("receive", "Receive Record Lifecycle Event")],
        ),
        EventKind::QuarantinePruned => (
            dcm("110100", "Application Activity"),
            vec![life("destroy", "Destroy Record Lifecycle Event")],
        ),
        EventKind::AuditExport => (
            dcm("110101", "Audit Log Used"),
            vec![life("extract", "Extract Record Lifecycle Event")],
        ),
        EventKind::RetentionExpiry => (
            dcm("110101", "Audit Log Used"),
            vec![life("destroy", "Destroy Record Lifecycle Event")],
        ),
        EventKind::DrillReport => (
            dcm("110100", "Application Activity"),
            vec![life("report", "Report Record Lifecycle Event")],
        ),
        EventKind::Daemon => (
            dcm("110100", "Application Activity"),
            if ev.detail.contains("stop") {
                vec![dcm("110121", "Application Stop")]
            } else {
                vec![dcm("110120", "Application Start")]
            },
        ),
    }
}

fn fhir_id(appliance: &str, id: i64) -> String {
    let mut s: String = format!("{appliance}-{id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.len() > 64 {
        s = s.split_off(s.len() - 64);
    }
    s
}

fn network(ap: &AccessPoint) -> Value {
    let is_ip = ap.address.parse::<std::net::IpAddr>().is_ok();
    json!({"address": ap.address, "type": if is_ip { "2" } else { "1" }})
}

/// One FHIR R4 AuditEvent resource for an entry.
pub(crate) fn fhir_audit_event(e: &Entry) -> Value {
    use systems::*;
    let ev = &e.event;
    let (type_, subtype) = fhir_type(ev);
    let mut agents = Vec::new();
    let console = ev
        .access_point
        .as_ref()
        .is_some_and(|a| a.address == "local" && a.workstation.as_deref() == Some("console"));
    match &ev.user {
        Some(u) => {
            let mut a = json!({
                "type": {"coding": [coding(SECURITY_ROLE, "humanuser", "human user")]},
                "who": {"identifier": {"system": USER, "value": u.id}, "display": u.name},
                "role": [{"text": u.role}],
                "requestor": true,
            });
            if let (Some(ap), Value::Object(m)) = (&ev.access_point, &mut a) {
                m.insert("network".into(), network(ap));
                if let Some(ws) = &ap.workstation {
                    m.insert("location".into(), json!({"display": ws}));
                }
            }
            agents.push(a);
        }
        None if console => agents.push(json!({
            "type": {"coding": [coding(SECURITY_ROLE, "humanuser", "human user")]},
            "who": {"identifier": {"system": USER, "value": "root"}, "display": "root (console)"},
            "role": [{"text": "system administrator"}],
            "requestor": true,
            "network": {"address": "local", "type": "1"},
        })),
        None => agents.push(json!({
            "type": {"coding": [coding(SECURITY_ROLE, "dataprocessor", "data processor")]},
            "who": {"identifier": {"system": APPLIANCE, "value": e.appliance},
                    "display": format!("noodepd {}", e.appliance)},
            "requestor": false,
        })),
    }
    if let Some(r) = &ev.responsible {
        agents.push(json!({
            "type": {"coding": [coding(PARTICIPATION, "RESP", "responsible party")]},
            "who": {"identifier": {"system": USER, "value": r.id}, "display": r.name},
            "role": [{"text": r.role}],
            "requestor": false,
        }));
    }
    let mut entities = Vec::new();
    for p in &ev.patients {
        let what = match (&p.bsn, &p.patient_number) {
            (Some(b), _) => json!({"identifier": {"system": BSN, "value": b}}),
            (None, Some(n)) => json!({"identifier": {"system": PATIENT_NUMBER, "value": n}}),
            (None, None) => json!({"display": format!("patient {}", p.key)}),
        };
        let mut ent = json!({
            "what": what,
            "type": coding(ENTITY_TYPE, "1", "Person"),
            "role": coding(OBJECT_ROLE, "1", "Patient"),
        });
        if let (Some(n), Value::Object(m)) = (&p.patient_number, &mut ent) {
            m.insert(
                "detail".into(),
                json!([{"type": "patient_number", "valueString": n}]),
            );
        }
        entities.push(ent);
    }
    if ev.kind == EventKind::Search {
        entities.push(json!({
            "type": coding(ENTITY_TYPE, "2", "System Object"),
            "role": coding(OBJECT_ROLE, "24", "Query"),
            "query": base64::engine::general_purpose::STANDARD.encode(ev.detail.as_bytes()),
            "description": ev.detail,
        }));
    } else if !ev.detail.is_empty() {
        let mut ent = json!({
            "type": coding(ENTITY_TYPE, "2", "System Object"),
            "description": ev.detail,
        });
        let role = match ev.kind {
            EventKind::PatientView | EventKind::WardView => Some(("4", "Domain Resource")),
            EventKind::Print => Some(("3", "Report")),
            _ => None,
        };
        if let (Some((c, d)), Value::Object(m)) = (role, &mut ent) {
            m.insert("role".into(), coding(OBJECT_ROLE, c, d));
        }
        entities.push(ent);
    }
    let outcome = match ev.outcome {
        Outcome::Success => "0",
        Outcome::MinorFailure => "4",
        Outcome::SeriousFailure => "8",
    };
    let mut res = json!({
        "resourceType": "AuditEvent",
        "id": fhir_id(&e.appliance, e.id),
        "type": type_,
        "subtype": subtype,
        "action": action_str(ev.action),
        "recorded": e.time,
        "outcome": outcome,
        "agent": agents,
        "source": {
            "site": e.ward,
            "observer": {
                "identifier": {"system": APPLIANCE, "value": e.appliance},
                "display": format!("noodepd {} (ward {})", e.appliance, e.ward),
            },
            "type": [coding(SOURCE_TYPE, "4", "Application Server")],
        },
    });
    if let Value::Object(m) = &mut res {
        if ev.outcome != Outcome::Success {
            m.insert("outcomeDesc".into(), Value::String(ev.detail.clone()));
        }
        if !entities.is_empty() {
            m.insert("entity".into(), Value::Array(entities));
        }
        match ev.mode.as_str() {
            "emergency" => {
                m.insert(
                    "purposeOfUse".into(),
                    json!([{"coding": [coding(ACT_REASON, "ETREAT", "Emergency Treatment")]}]),
                );
            }
            "drill" => {
                m.insert(
                    "purposeOfUse".into(),
                    json!([{"text": "drill: exercise of the EPD downtime procedure"}]),
                );
            }
            _ => {}
        }
        m.insert(
            "meta".into(),
            json!({"tag": [{"system": MODE_TAG, "code": ev.mode, "display": format!("mode {}", ev.mode)}]}),
        );
    }
    res
}
