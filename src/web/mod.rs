//! The ward web view: a hyper 1 server (HTTPS via rustls, or plain HTTP only when the
//! config says so), sessions and login from the signed roster, mode- and role-gated routes,
//! server-rendered pages (maud, escape by default) and print views. No JavaScript.
//!
//! Split: `server` (listener, TLS, limits, timeouts, per-address connection cap, graceful
//! shutdown, socket activation), `routes/` (request → page, mode and role gates, audit before
//! send; one file per job: request, table, state, respond, login, coordinator, patient), `session` (sessions, CSRF, lockout, guest codes), `hash_gate` (at most a few
//! argon2 checks at once), `cache` (the page parts rendered once per generation), `headers` (security headers), `pages` (the HTML, i18n, CSS).

pub mod cache;
pub(crate) mod hash_gate;
pub(crate) mod headers;
pub(crate) mod metrics;
pub mod pages;
pub mod routes;
pub mod server;
pub mod session;
pub(crate) mod tls;

pub use server::{WebError, listener, run};
pub use tls::TlsReloader;

use crate::roster::Role;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The person behind a session, as pages and the audit log need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionUser {
    /// The roster's user id (or the guest code's user id).
    pub id: String,
    /// The person's name as the roster (or the issuing coordinator) gives it.
    pub name: String,
    /// What the person may see and do.
    pub role: Role,
    /// For a guest-code login: the coordinator who issued the code (user id and name).
    pub issued_by: Option<(String, String)>,
}

/// A guest code a coordinator issued (the code itself is shown once, on issue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedCode {
    /// The user id the colleague logs in with (e.g. "gast-4821": random, not a count).
    pub user: String,
    /// The colleague's name as the coordinator typed it.
    pub name: String,
    /// The role the code logs in with.
    pub role: Role,
    /// The issuing coordinator's user id.
    pub issued_by: String,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
    /// The drill it was issued in, if any (it ends when a real emergency starts).
    pub drill: Option<i64>,
}
