//! One browsing nurse: log in through the real login form, then walk ward list →
//! patient page → that patient's MAR → …, checking every page and timing every request.

use super::super::BenchError;
use super::super::http::{self, Conn};
use super::marked::*;
use super::options::*;
use crate::generate::StaffMember;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// One page kind.
#[derive(Debug, Clone, Copy)]
enum PageKind {
    WardList,
    Patient,
    Mar,
}

/// What one client saw.
#[derive(Default)]
pub(super) struct ClientOut {
    pub(super) lat: [Vec<u32>; 3],
    pub(super) ok: u64,
    pub(super) errors: u64,
    pub(super) inconsistent: u64,
    pub(super) problems: Vec<String>,
    pub(super) sequences: BTreeSet<u64>,
}

impl ClientOut {
    pub(super) fn problem(&mut self, p: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        }
    }
}

/// A logged-in nurse.
pub(super) struct Nurse {
    cookies: String,
    conn: Conn,
}

/// Logs in through the form as `nurse`; returns the session and the login time.
pub(super) async fn login(
    addr: SocketAddr,
    nurse: &StaffMember,
) -> Result<(Nurse, u32), BenchError> {
    let host = addr.to_string();
    let mut conn = Conn::connect(addr).await?;
    let t = Instant::now();
    let mut jar = Vec::new();
    let r = conn.request(&http::get("/login", &host, "")).await?;
    http::merge_cookies(&mut jar, r.set_cookies());
    let csrf = http::hidden_input(&r.text(), "csrf")
        .ok_or_else(|| BenchError::Daemon(format!("GET /login ({}) has no csrf", r.status)))?;
    let r = conn
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
    if r.status != 303 {
        return Err(BenchError::Daemon(format!(
            "POST /login as {} answered {}",
            nurse.user, r.status
        )));
    }
    http::merge_cookies(&mut jar, r.set_cookies());
    let took = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
    Ok((
        Nurse {
            cookies: http::cookie_header(&jar),
            conn,
        },
        took,
    ))
}

/// Every distinct `/patient/KEY` link (not its sub-pages) in a ward list.
fn patient_links(html: &str) -> Vec<String> {
    let needle = "href=\"/patient/";
    let mut out: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(needle) {
        let Some(after) = rest.get(i + "href=\"".len()..) else {
            break;
        };
        let link = after.split('"').next().unwrap_or_default();
        let is_page = link
            .strip_prefix("/patient/")
            .is_some_and(|k| !k.is_empty() && !k.contains('/') && !k.contains('?'));
        if is_page && !out.iter().any(|l| l == link) {
            out.push(link.replace("&amp;", "&"));
        }
        rest = after;
    }
    out
}

/// One nurse browsing until `deadline`.
pub(super) async fn browse(
    mut nurse: Nurse,
    addr: SocketAddr,
    clock: Arc<SequenceClock>,
    per_visit: usize,
    seed: u64,
    deadline: Instant,
) -> ClientOut {
    let host = addr.to_string();
    let mut out = ClientOut::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut links: Vec<String> = Vec::new();
    'run: while Instant::now() < deadline {
        let mut plan: Vec<(PageKind, String)> = vec![(PageKind::WardList, "/".to_owned())];
        for _ in 0..per_visit {
            if links.is_empty() {
                break;
            }
            let pick = rng.gen_range(0..links.len());
            if let Some(l) = links.get(pick) {
                plan.push((PageKind::Patient, l.clone()));
                plan.push((PageKind::Mar, format!("{l}/mar")));
            }
        }
        for (kind, path) in plan {
            if Instant::now() >= deadline {
                break 'run;
            }
            let req = http::get(&path, &host, &nurse.cookies);
            let t = Instant::now();
            let r = nurse.conn.request(&req).await;
            let us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    out.errors += 1;
                    out.problem(format!("GET {path}: {e}"));
                    match Conn::connect(addr).await {
                        Ok(c) => nurse.conn = c,
                        Err(_) => break 'run,
                    }
                    continue;
                }
            };
            if r.status != 200 {
                out.errors += 1;
                out.problem(format!("GET {path}: status {}", r.status));
                continue;
            }
            out.ok += 1;
            if let Some(l) = out.lat.get_mut(kind as usize) {
                l.push(us);
            }
            let html = String::from_utf8_lossy(&r.body);
            match check_page(&html, &clock) {
                Ok(seq) => {
                    out.sequences.insert(seq);
                }
                Err(why) => {
                    out.inconsistent += 1;
                    out.problem(format!("GET {path}: {why}"));
                }
            }
            if matches!(kind, PageKind::WardList) {
                links = patient_links(&html);
                if links.is_empty() {
                    out.inconsistent += 1;
                    out.problem("the ward list links no patient".into());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_patient_page_links_once_and_skips_sub_pages() {
        let html = r#"<a href="/patient/a">A</a><a href="/patient/a">A</a><a href="/patient/a/mar">M</a><a href="/patient/b">B</a><a href="/print/mar">P</a>"#;
        assert_eq!(patient_links(html), vec!["/patient/a", "/patient/b"]);
    }
}
