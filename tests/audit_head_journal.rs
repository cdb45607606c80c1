//! `AuditLog::log_head` writes the chain head as one operator-log line (journald under
//! systemd), including entries appended by another process (an export).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing test may panic

use noodepd::audit::{Action, AuditLog, Event, EventKind, Outcome};
use std::sync::Mutex;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LINES
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

fn event() -> Event {
    Event {
        kind: EventKind::Daemon,
        action: Action::E,
        outcome: Outcome::Success,
        user: None,
        responsible: None,
        patients: vec![],
        detail: "start".into(),
        access_point: None,
        mode: "standby".into(),
    }
}

#[test]
fn log_head_writes_the_current_head_including_other_handles_appends() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let dir = tempfile::tempdir().unwrap();
    let daemon = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    daemon.append(event()).unwrap();
    let other = AuditLog::open(dir.path(), "box1", "A3").unwrap();
    let last = other.append(event()).unwrap();
    daemon.log_head();
    let lines = LINES.lock().unwrap().clone();
    assert_eq!(
        lines,
        vec![format!("INFO audit chain head id=2 hash={}", last.hash)]
    );
}
