//! `GET /metrics`: the daemon's counters in the Prometheus text format (ingest accepted and
//! rejected, quarantined files pruned, data age, logins, failed logins, lockouts, page
//! views, prints, audit failures, the mode as a gauge) and gauges for what IT alerts on:
//! the staff on the roster in force, whether the data is stale, and one gauge per standing
//! problem code (`noodepd_problem{code="..."}`, 1 while it stands). No patient data: counts
//! and times only. Served to loopback clients only, unless the config sets `metrics_public`.

use crate::app::App;
use crate::mode::Mode;
use chrono::{DateTime, Utc};
use std::fmt::Write;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

/// Whether `/metrics` may be served to a client at `peer`.
pub(crate) fn allowed(peer: IpAddr, metrics_public: bool) -> bool {
    metrics_public || peer.to_canonical().is_loopback()
}

/// The metrics document.
pub(crate) fn render(shared: &App, now: DateTime<Utc>) -> String {
    let m = &shared.metrics;
    let mut out = String::with_capacity(2048);
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    };
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    counter(
        "noodepd_snapshots_accepted_total",
        "Snapshots accepted and served.",
        get(&m.snapshots_accepted),
    );
    counter(
        "noodepd_snapshots_rejected_total",
        "Snapshots refused (moved to quarantine).",
        get(&m.snapshots_rejected),
    );
    counter(
        "noodepd_quarantine_pruned_total",
        "Oldest quarantined files deleted (with their reasons) to keep the quarantine within its cap.",
        get(&m.quarantine_pruned),
    );
    counter("noodepd_logins_total", "Successful logins.", get(&m.logins));
    counter(
        "noodepd_logins_failed_total",
        "Failed login attempts.",
        get(&m.logins_failed),
    );
    counter(
        "noodepd_lockouts_total",
        "Lockouts of a user or a client address.",
        get(&m.lockouts),
    );
    counter(
        "noodepd_page_views_total",
        "HTML pages served.",
        get(&m.page_views),
    );
    counter(
        "noodepd_patient_page_views_total",
        "Patient pages served.",
        get(&m.patient_page_views),
    );
    counter(
        "noodepd_prints_total",
        "Print views served.",
        get(&m.prints),
    );
    counter(
        "noodepd_audit_failures_total",
        "Audit log appends that failed (the page was refused).",
        get(&m.audit_failures),
    );
    counter(
        "noodepd_http_requests_total",
        "HTTP requests handled.",
        get(&m.http_requests),
    );
    let current = shared.store.current();
    let _ = writeln!(
        out,
        "# HELP noodepd_data_age_seconds Age of the served data (since the publisher extracted it); absent when nothing is served.\n# TYPE noodepd_data_age_seconds gauge"
    );
    if let Some(g) = &current {
        let age = (now - g.meta().data_as_of).num_seconds();
        let _ = writeln!(out, "noodepd_data_age_seconds {age}");
    }
    let _ = writeln!(
        out,
        "# HELP noodepd_data_served 1 when a generation is being served.\n# TYPE noodepd_data_served gauge\nnoodepd_data_served {}",
        u8::from(current.is_some())
    );
    if let Some(g) = &current {
        let _ = writeln!(
            out,
            "# HELP noodepd_data_sequence Sequence number of the served snapshot.\n# TYPE noodepd_data_sequence gauge\nnoodepd_data_sequence {}\n# HELP noodepd_patients Patients in the served data.\n# TYPE noodepd_patients gauge\nnoodepd_patients {}",
            g.meta().sequence,
            g.summaries().len()
        );
    }
    let ready = crate::status::ready(
        &shared.config.ward,
        &shared.config.appliance_id,
        shared.config.data.stale_after,
        current.as_deref().map(|g| (g.meta(), g.summaries().len())),
        &shared.mode.current(now),
        &shared.status.get(),
        now,
    );
    let _ = writeln!(
        out,
        "# HELP noodepd_data_stale 1 when the served data is older than data.stale_after_minutes, dated after this box's clock, or when nothing is served.\n# TYPE noodepd_data_stale gauge\nnoodepd_data_stale {}",
        u8::from(ready.stale)
    );
    let staff = shared.roster().map_or(0, |r| r.staff.len());
    let _ = writeln!(
        out,
        "# HELP noodepd_roster_staff Staff on the roster in force (0: no roster, no one can log in).\n# TYPE noodepd_roster_staff gauge\nnoodepd_roster_staff {staff}"
    );
    let _ = writeln!(
        out,
        "# HELP noodepd_problem 1 while the standing problem with this code is present (see /ready for its message).\n# TYPE noodepd_problem gauge"
    );
    for code in crate::status::code::ALL {
        let on = ready.problems.iter().any(|p| p.code == *code);
        let _ = writeln!(out, "noodepd_problem{{code=\"{code}\"}} {}", u8::from(on));
    }
    let mode = shared.mode.current(now).mode;
    let _ = writeln!(
        out,
        "# HELP noodepd_mode The mode in force (1 for the current one).\n# TYPE noodepd_mode gauge"
    );
    for m in [Mode::Standby, Mode::Emergency, Mode::Drill] {
        let _ = writeln!(
            out,
            "noodepd_mode{{mode=\"{}\"}} {}",
            m.as_str(),
            u8::from(m == mode)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_only_for_loopback_unless_public() {
        let lo4: IpAddr = "127.0.0.1".parse().unwrap();
        let lo4b: IpAddr = "127.0.0.2".parse().unwrap();
        let lo6: IpAddr = "::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        let lan6: IpAddr = "fe80::1".parse().unwrap();
        let mapped_lan: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        for ip in [lo4, lo4b, lo6, mapped] {
            assert!(allowed(ip, false), "{ip}");
        }
        for ip in [lan, lan6, mapped_lan] {
            assert!(!allowed(ip, false), "{ip}");
            assert!(allowed(ip, true), "{ip}");
        }
    }
}
