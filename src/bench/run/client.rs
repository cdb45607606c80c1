//! A nurse's browser as the bench drives it: log in through the real login form, then
//! print MARs on the logged-in session.

use super::super::BenchError;
use super::super::http::{self, Conn};
use super::super::stats::median;
use crate::generate::StaffMember;
use std::time::Instant;

/// A logged-in session on a running daemon.
pub(super) struct Session {
    pub(super) cookies: String,
    pub(super) patient_path: Option<String>,
}

/// Logs in as the first nurse of the roster: GET /login for the pre-login cookie and the
/// form's CSRF token, POST the form, keep the session cookie, load the overview.
pub(super) async fn login(
    addr: std::net::SocketAddr,
    staff: &[StaffMember],
) -> Result<Session, BenchError> {
    let nurse = staff
        .iter()
        .find(|s| s.role == "nurse")
        .ok_or_else(|| BenchError::Data("the generated roster has no nurse".into()))?;
    let host = addr.to_string();
    let mut jar = Vec::new();
    let mut c = Conn::connect(addr).await?;
    let r = c.request(&http::get("/login", &host, "")).await?;
    http::merge_cookies(&mut jar, r.set_cookies());
    let csrf = http::hidden_input(&r.text(), "csrf").ok_or_else(|| {
        BenchError::Daemon(format!(
            "GET /login ({}) has no hidden csrf input",
            r.status
        ))
    })?;
    let r = c
        .request(&http::post_form(
            "/login",
            &host,
            &http::cookie_header(&jar),
            &[
                ("user", nurse.user.as_str()),
                ("code", nurse.code.as_str()),
                ("csrf", csrf.as_str()),
            ],
        ))
        .await?;
    if !matches!(r.status, 200 | 302 | 303) {
        return Err(BenchError::Daemon(format!(
            "POST /login answered {}",
            r.status
        )));
    }
    http::merge_cookies(&mut jar, r.set_cookies());
    let cookies = http::cookie_header(&jar);
    let r = c.request(&http::get("/", &host, &cookies)).await?;
    if r.status != 200 {
        return Err(BenchError::Daemon(format!(
            "GET / after login answered {} (not logged in, or not in drill mode?)",
            r.status
        )));
    }
    let patient_path = http::first_link(&r.text(), "/patient/");
    Ok(Session {
        cookies,
        patient_path,
    })
}

/// Medians of `n` renders of `/print/mar` and of `/`, seconds.
pub(super) async fn print_mar(
    addr: std::net::SocketAddr,
    s: &Session,
    n: usize,
) -> Result<(f64, f64), BenchError> {
    let host = addr.to_string();
    let mut c = Conn::connect(addr).await?;
    let mut mar = Vec::new();
    let mut overview = Vec::new();
    for _ in 0..n.max(1) {
        let t = Instant::now();
        let r = c
            .request(&http::get("/print/mar", &host, &s.cookies))
            .await?;
        if r.status != 200 {
            return Err(BenchError::Daemon(format!(
                "GET /print/mar answered {}",
                r.status
            )));
        }
        mar.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let r = c.request(&http::get("/", &host, &s.cookies)).await?;
        if r.status != 200 {
            return Err(BenchError::Daemon(format!("GET / answered {}", r.status)));
        }
        overview.push(t.elapsed().as_secs_f64());
    }
    Ok((
        median(&mar).unwrap_or(f64::NAN),
        median(&overview).unwrap_or(f64::NAN),
    ))
}
