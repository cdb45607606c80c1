//! What an access-log entry records: the NEN 7513 event (kind, action, outcome, who, whom,
//! from where, under which mode) as callers build it, and the kind's stored column name.

use serde::{Deserialize, Serialize};

/// What happened (NEN 7513 event types as this appliance knows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A page with one patient's data was shown.
    PatientView,
    /// The ward overview (all patients' banners) was shown.
    WardView,
    /// A search (query and number of hits in the detail).
    Search,
    /// A print view (which patients in the detail / patient field).
    Print,
    /// A successful login (user, role, address).
    Login,
    /// A failed login (the user id as typed, the address).
    LoginFailed,
    /// A user or address was locked out after repeated failed logins.
    Lockout,
    /// A user logged out.
    Logout,
    /// A session ended by idle timeout.
    SessionExpired,
    /// A session ended by the system (its user left the roster or changed role, its guest
    /// code was revoked, its drill gave way to a real emergency); the reason in the detail.
    SessionEnded,
    /// The mode changed (standby, emergency, drill); who and why in the entry.
    ModeSwitch,
    /// A coordinator issued a guest code (stored as `event_code_issued`, the name existing
    /// logs carry).
    #[serde(rename = "event_code_issued")]
    GuestCodeIssued,
    /// A guest code was withdrawn (by a coordinator, or because its issuer lost the
    /// coordinator role or its drill ended).
    GuestCodeRevoked,
    /// A coordinator lifted a login lockout (user or address in the detail).
    LockoutLifted,
    /// A snapshot was verified, mapped and is now served (sequence and file in the detail).
    SnapshotAccepted,
    /// A snapshot was refused and quarantined (the reason in the detail).
    SnapshotRejected,
    /// The oldest refused files were deleted from the quarantine to keep it within its
    /// cap (counts and bytes in the detail).
    QuarantinePruned,
    /// A new staff roster took effect.
    RosterUpdated,
    /// The log itself was exported.
    AuditExport,
    /// Entries past retention were removed (the count and range in the detail).
    RetentionExpiry,
    /// A drill report was produced.
    DrillReport,
    /// The daemon started or stopped.
    Daemon,
}

/// The action, per FHIR AuditEvent.action: C(reate) R(ead) U(pdate) D(elete) E(xecute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Create.
    C,
    /// Read (every view and print of patient data).
    R,
    /// Update.
    U,
    /// Delete.
    D,
    /// Execute (logins, mode switches, ingest).
    E,
}

/// The outcome, per FHIR AuditEvent.outcome codes (0 success, 4 minor failure, 8 serious).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It succeeded (FHIR code 0).
    Success,
    /// It failed in a minor way, e.g. a wrong login code (FHIR code 4).
    MinorFailure,
    /// It failed seriously, e.g. a snapshot refused (FHIR code 8).
    SeriousFailure,
}

/// A person acting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// The user id from the roster (for a guest, the guest code's id).
    pub id: String,
    /// The user's name as the roster gives it.
    pub name: String,
    /// The role the user acted in, by its roster name (nurse, physician, coordinator, it).
    pub role: String,
}

/// The patient concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientRef {
    /// The patient key in the served data.
    pub key: String,
    /// The hospital's patient number, as the served data gives it.
    pub patient_number: Option<String>,
    /// The BSN, as the served data gives it (the law requires it in the log).
    pub bsn: Option<String>,
}

/// Where the access came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPoint {
    /// Client IP address (or "local" for the console / control socket).
    pub address: String,
    /// Workstation name when known (e.g. a kiosk id or a reverse-DNS-free label).
    pub workstation: Option<String>,
}

/// What a caller records. Appliance id, ward id, time and chain are filled in by the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// Create, read, update, delete or execute.
    pub action: Action,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// The person acting (None for the system itself, e.g. ingest).
    pub user: Option<UserRef>,
    /// The responsible person when someone acts on another's behalf (a guest-code user's
    /// issuing coordinator).
    pub responsible: Option<UserRef>,
    /// Patients concerned (one for a patient page, several for a ward MAR print).
    pub patients: Vec<PatientRef>,
    /// Object detail: page, print, query and hit count, snapshot file and reason ...
    pub detail: String,
    /// Where the access came from (address, workstation), when over the network.
    pub access_point: Option<AccessPoint>,
    /// The mode at the time ("standby", "emergency", "drill").
    pub mode: String,
}

impl Event {
    /// An event with no person, no patient and no access point yet: the system's own (the
    /// daemon, ingest, retention, exports). `mode` is the mode at the time ("standby", ...).
    /// Add who, from where and about whom with [`Event::by`], [`Event::from`] and
    /// [`Event::concerning`]; every event is built this way, so a new field has one place
    /// to get its default.
    pub fn new(
        kind: EventKind,
        action: Action,
        outcome: Outcome,
        mode: &str,
        detail: String,
    ) -> Event {
        Event {
            kind,
            action,
            outcome,
            user: None,
            responsible: None,
            patients: Vec::new(),
            detail,
            access_point: None,
            mode: mode.to_owned(),
        }
    }

    /// The person acting, and the one responsible when they act on another's behalf.
    pub(crate) fn by(mut self, user: Option<UserRef>, responsible: Option<UserRef>) -> Event {
        self.user = user;
        self.responsible = responsible;
        self
    }

    /// Where the access came from.
    pub(crate) fn from(mut self, access_point: AccessPoint) -> Event {
        self.access_point = Some(access_point);
        self
    }

    /// The patients concerned.
    pub(crate) fn concerning(mut self, patients: Vec<PatientRef>) -> Event {
        self.patients = patients;
        self
    }
}

impl AccessPoint {
    /// The box's own console (the control socket, `noodepd mode`).
    pub(crate) fn console() -> AccessPoint {
        AccessPoint {
            address: "local".into(),
            workstation: Some("console".into()),
        }
    }
}

/// The `kind` column value of an event kind (its serde name).
pub fn kind_str(kind: EventKind) -> &'static str {
    match kind {
        EventKind::PatientView => "patient_view",
        EventKind::WardView => "ward_view",
        EventKind::Search => "search",
        EventKind::Print => "print",
        EventKind::Login => "login",
        EventKind::LoginFailed => "login_failed",
        EventKind::Lockout => "lockout",
        EventKind::Logout => "logout",
        EventKind::SessionExpired => "session_expired",
        EventKind::SessionEnded => "session_ended",
        EventKind::ModeSwitch => "mode_switch",
        EventKind::GuestCodeIssued => "event_code_issued",
        EventKind::GuestCodeRevoked => "guest_code_revoked",
        EventKind::LockoutLifted => "lockout_lifted",
        EventKind::SnapshotAccepted => "snapshot_accepted",
        EventKind::SnapshotRejected => "snapshot_rejected",
        EventKind::QuarantinePruned => "quarantine_pruned",
        EventKind::RosterUpdated => "roster_updated",
        EventKind::AuditExport => "audit_export",
        EventKind::RetentionExpiry => "retention_expiry",
        EventKind::DrillReport => "drill_report",
        EventKind::Daemon => "daemon",
    }
}
