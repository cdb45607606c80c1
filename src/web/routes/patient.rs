//! The routes with patient data: the gates (mode, session, role, data) and then, in this
//! order, the durable audit entry and the page, which takes the entry's receipt
//! ([`crate::audit::Receipt`]). Ward overview and search, the patient page, MAR, labels,
//! ward list and blank MAR prints. The patient page and the unsearched overview come
//! through `web::cache` (their generation-dependent parts rendered once per generation).

use super::request::*;
use super::respond::*;
use super::state::*;
use super::table::*;
use crate::audit::{Action, EventKind, Outcome, PatientRef};
use crate::record::PatientSummary;
use crate::store::Generation;
use crate::web::SessionUser;
use crate::web::{cache, pages};
use chrono::{DateTime, NaiveDate, Utc};
use hyper::StatusCode;
use std::sync::Arc;

/// The gates before any patient data: mode, session, role, data.
pub(super) fn gate(
    st: &WebState,
    view: &View,
    root: bool,
) -> Result<(SessionUser, Arc<Generation>), Box<Resp>> {
    let refused = if root {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    if !view.mode.mode.shows_patient_data() {
        return Err(Box::new(status_resp(st, view, refused)));
    }
    let Some(user) = view.user().cloned() else {
        return Err(Box::new(with_cookies(view, Resp::redirect("/login"))));
    };
    if !user.role.sees_patient_data() {
        return Err(Box::new(status_resp(st, view, refused)));
    }
    let Some(generation) = view.generation.clone() else {
        let s = if root {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Err(Box::new(status_resp(st, view, s)));
    };
    Ok((user, generation))
}

pub(super) fn refs_of(st: &WebState, g: &Generation, rows: &[&PatientSummary]) -> Vec<PatientRef> {
    let bsns = st.bsns(g);
    rows.iter()
        .map(|s| PatientRef {
            key: s.key.to_string(),
            patient_number: s.patient_number.as_deref().map(str::to_owned),
            bsn: bsns.get(s.key.as_str()).cloned().flatten(),
        })
        .collect()
}

pub(super) fn today(st: &WebState, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&st.shared.config.timezone).date_naive()
}

pub(super) fn mar_days(req: &Req) -> u32 {
    query_params(req.query.as_deref())
        .get("days")
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|d| (1..=MAR_DAYS_MAX).contains(d))
        .unwrap_or(MAR_DAYS)
}

/// The first day and number of days of a printed MAR: from today, or with `previous=1`
/// from yesterday (one day more), so the last 24 hours' records are on the sheet.
pub(super) fn mar_range(req: &Req, today: NaiveDate) -> (NaiveDate, u32) {
    let days = mar_days(req);
    let previous = query_params(req.query.as_deref())
        .get("previous")
        .is_some_and(|v| v == "1");
    match today.pred_opt() {
        Some(y) if previous => (y, days + 1),
        _ => (today, days),
    }
}

pub(super) fn not_found_patient(st: &WebState, view: &View) -> Resp {
    error_resp(
        st,
        view,
        StatusCode::NOT_FOUND,
        msg(
            view.lang,
            "Deze patiënt staat niet (meer) in de gegevens. Zoek opnieuw via het afdelingsoverzicht.",
            "This patient is not (or no longer) in the data. Search again from the ward overview.",
        ),
    )
}

pub(super) async fn patient_data(
    st: &Arc<WebState>,
    req: &Req,
    view: &mut View,
    route: Route,
) -> Resp {
    let (user, g) = match gate(st, view, route == Route::Overview) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let audit = |kind, patients, detail| {
        event(
            st,
            &user,
            kind,
            Action::R,
            Outcome::Success,
            patients,
            detail,
            req.peer,
            &view.mode,
        )
    };
    let metrics = &st.shared.metrics;
    match route {
        Route::Overview => {
            let q: Option<String> = query_params(req.query.as_deref())
                .get("q")
                .map(|q| q.trim().chars().take(MAX_SEARCH).collect::<String>())
                .filter(|q| !q.is_empty());
            let rows: Vec<&PatientSummary> = match &q {
                Some(q) => g.search(q),
                None => g.summaries().iter().collect(),
            };
            let ev = match &q {
                Some(q) => audit(
                    EventKind::Search,
                    refs_of(st, &g, &rows),
                    format!("search {q:?}: {} hits", rows.len()),
                ),
                None => audit(
                    EventKind::WardView,
                    refs_of(st, &g, &rows),
                    format!("ward overview: {} patients", rows.len()),
                ),
            };
            let seen = match audit_or_refuse(st, view, ev).await {
                Ok(r) => r,
                Err(r) => return *r,
            };
            let ctx = view.ctx(&st.shared);
            let m = match q.as_deref() {
                None => cache::ward_overview(&g, &ctx, &seen),
                Some(q) => pages::ward_overview(&ctx, &rows, Some(q), &seen),
            };
            html(st, view, StatusCode::OK, m)
        }
        Route::Patient(key) => {
            if !valid_key(&key) {
                return not_found_patient(st, view);
            }
            let found = match cache::find_patient(&g, &view.ctx(&st.shared), &key) {
                Ok(f) => f,
                Err(_) => return store_failed(st, view),
            };
            let Some(who) = found.who() else {
                return not_found_patient(st, view);
            };
            let ev = audit(EventKind::PatientView, vec![who], req.path.clone());
            let seen = match audit_or_refuse(st, view, ev).await {
                Ok(r) => r,
                Err(r) => return *r,
            };
            crate::status::Metrics::inc(&metrics.patient_page_views);
            match cache::patient_page(&g, &view.ctx(&st.shared), found, &seen) {
                Some(m) => html(st, view, StatusCode::OK, m),
                None => not_found_patient(st, view),
            }
        }
        route @ (Route::PrintMar(_) | Route::PrintLabels(_)) => {
            let (key, labels) = match route {
                Route::PrintLabels(k) => (k, true),
                Route::PrintMar(k) => (k, false),
                _ => (String::new(), false),
            };
            if !valid_key(&key) {
                return not_found_patient(st, view);
            }
            let p = match g.patient(&key) {
                Ok(Some(p)) => p,
                Ok(None) => return not_found_patient(st, view),
                Err(_) => return store_failed(st, view),
            };
            let (start, days) = mar_range(req, today(st, view.now));
            let ev = if labels {
                audit(
                    EventKind::Print,
                    vec![cache::who_of(&p)],
                    format!(
                        "print labels {} ({} labels)",
                        req.path,
                        pages::labels::LABELS_PER_SHEET
                    ),
                )
            } else {
                audit(
                    EventKind::Print,
                    vec![cache::who_of(&p)],
                    format!("print MAR {} ({start}, {days} days)", req.path),
                )
            };
            let seen = match audit_or_refuse(st, view, ev).await {
                Ok(r) => r,
                Err(r) => return *r,
            };
            let ctx = view.ctx(&st.shared);
            crate::status::Metrics::inc(&metrics.prints);
            let m = if labels {
                pages::print_labels(&ctx, &p, &seen)
            } else {
                pages::print_mar(&ctx, std::slice::from_ref(&p), start, days, &seen)
            };
            html(st, view, StatusCode::OK, m)
        }
        Route::PrintMarAll => {
            let all = match g.all_patients() {
                Ok(a) => a,
                Err(_) => return store_failed(st, view),
            };
            let (start, days) = mar_range(req, today(st, view.now));
            let ev = audit(
                EventKind::Print,
                all.iter().map(cache::who_of).collect(),
                format!(
                    "print MAR all patients ({} patients, {start}, {days} days)",
                    all.len()
                ),
            );
            let seen = match audit_or_refuse(st, view, ev).await {
                Ok(r) => r,
                Err(r) => return *r,
            };
            crate::status::Metrics::inc(&metrics.prints);
            let m = pages::print_mar(&view.ctx(&st.shared), &all, start, days, &seen);
            html(st, view, StatusCode::OK, m)
        }
        Route::PrintWard => {
            let rows: Vec<&PatientSummary> = g.summaries().iter().collect();
            let ev = audit(
                EventKind::Print,
                refs_of(st, &g, &rows),
                format!("print ward list ({} patients)", rows.len()),
            );
            let seen = match audit_or_refuse(st, view, ev).await {
                Ok(r) => r,
                Err(r) => return *r,
            };
            crate::status::Metrics::inc(&metrics.prints);
            let m = pages::print_ward_list(&view.ctx(&st.shared), &rows, &seen);
            html(st, view, StatusCode::OK, m)
        }
        Route::PrintBlankMar => {
            let days = mar_days(req);
            let start = today(st, view.now);
            let ev = audit(
                EventKind::Print,
                vec![],
                format!("print blank MAR ({start}, {days} days)"),
            );
            if let Err(r) = audit_or_refuse(st, view, ev).await {
                return *r;
            }
            crate::status::Metrics::inc(&metrics.prints);
            let m = pages::print_blank_mar(&view.ctx(&st.shared), start, days);
            html(st, view, StatusCode::OK, m)
        }
        _ => error_resp(st, view, StatusCode::NOT_FOUND, "not found"),
    }
}
