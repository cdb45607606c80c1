//! Shared test fixtures for the login state's unit tests: a config, a table, users, a
//! roster, fixed times.

use super::super::SessionUser;
use super::state::*;
use crate::config::WebConfig;
use crate::roster::{Role, Roster};
use chrono::TimeZone;
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

pub(super) fn cfg() -> WebConfig {
    crate::config::Config::from_toml(
        "[appliance]\nid = \"b\"\nward = \"A3\"\n[web]\nplain_http = true\nlisten = \"127.0.0.1:0\"\nsession_idle_minutes = 15\nlockout_minutes = 15\n",
        Path::new("x.toml"),
    )
    .unwrap()
    .web
}

pub(super) fn mem() -> crate::roster::Argon2Memory {
    crate::roster::Argon2Memory::default()
}

pub(super) fn sessions() -> Arc<Sessions> {
    Arc::new(Sessions::new(&cfg()))
}

pub(super) fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
}

pub(super) fn user(id: &str, role: Role) -> SessionUser {
    SessionUser {
        id: id.into(),
        name: format!("Name of {id}"),
        role,
        issued_by: None,
    }
}

pub(super) fn nurse() -> SessionUser {
    user("jbakker", Role::Nurse)
}

pub(super) fn fail(s: &Arc<Sessions>, who: &str, ip: IpAddr, now: DateTime<Utc>) -> Failed {
    s.reserve(who, ip, now).unwrap().failed(now)
}

pub(super) fn roster(members: &[(&str, Role)]) -> Roster {
    Roster {
        ward: "A3".into(),
        staff: members
            .iter()
            .map(|(u, r)| crate::roster::StaffMember {
                user: (*u).into(),
                name: (*u).into(),
                role: *r,
                code_hash: String::new(),
            })
            .collect(),
    }
}
