//! Request → response: the URL map, the mode and role gates, login and logout, the
//! coordinator's actions, and the audit-before-send rule.
//!
//! Gates for every URL that can show patient data, in this order: the mode in force
//! (standby → the status page, never data), a session (none → 303 to `/login`), a role
//! that sees patient data (`it` → the status page), a served generation (none → the status
//! page). Only then is the audit entry appended — durably — and only after that is the page
//! rendered. If the append fails the answer is a 503 error page without patient data.
//!
//! Nothing here takes a redirect target from the request (no open redirect), and every
//! POST carries a CSRF token checked in constant time, plus `Origin`/`Sec-Fetch-Site`
//! checks when the browser sends them.
//!
//! Login: the access log must be writable (a failed attempt that cannot be recorded is not
//! made); an attempt is reserved against the lockout counts before the code is checked;
//! the check runs through the argon2 gate (503 with `Retry-After` when it is full); the
//! answer says how many attempts are left. Before each request the session table is swept
//! when the roster or the mode changed (sessions of removed or demoted users, and a drill's
//! sessions once a real emergency starts, end — audited).
//!
//! Split by job: `request` (HTTP parsing, origin check), `table` (the URL table),
//! `state` (server state, the request's view, the audited write), `respond` (shared
//! answers), `login`, `coordinator`, `patient` (the pages with patient data). This
//! file only dispatches a request to them.

mod coordinator;
mod login;
mod patient;
mod request;
mod respond;
mod state;
mod table;

pub use request::{MAR_DAYS, MAR_DAYS_MAX, MAX_BODY, MAX_KEY, MAX_QUERY, MAX_SEARCH, Req, Resp};
pub use state::WebState;

use super::headers::Caching;
use super::pages;
use chrono::Utc;
use coordinator::*;
use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use login::*;
use patient::*;
use request::*;
use respond::*;
use state::*;
use std::sync::Arc;
use table::*;

/// Handles one request.
pub(crate) async fn handle(st: &Arc<WebState>, req: Req) -> Resp {
    crate::status::Metrics::inc(&st.shared.metrics.http_requests);
    if !matches!(req.method, Method::GET | Method::HEAD | Method::POST) {
        let mut r = Resp::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
        return r;
    }
    let route = Route::of(&req.path);
    if !route.accepts(&req.method) {
        let mut r = Resp::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers
            .insert(header::ALLOW, HeaderValue::from_static(route.allow()));
        return r;
    }
    if req.query.as_deref().is_some_and(|q| q.len() > MAX_QUERY) {
        return Resp::text(StatusCode::URI_TOO_LONG, "query too long\n");
    }
    let now = Utc::now();
    match route {
        Route::Health => Resp::text(StatusCode::OK, "ok\n"),
        Route::Ready => ready(st, now),
        Route::Metrics => {
            if super::metrics::allowed(req.peer, st.shared.config.web.metrics_public) {
                Resp::new(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    super::metrics::render(&st.shared, now),
                )
            } else {
                Resp::text(
                    StatusCode::FORBIDDEN,
                    "metrics are served to loopback clients only (web.metrics_public)\n",
                )
            }
        }
        Route::Stylesheet => {
            let mut r = Resp::new(StatusCode::OK, "text/css; charset=utf-8", pages::STYLESHEET);
            r.caching = Caching::Public;
            r
        }
        Route::AgeScript => {
            let mut r = Resp::new(
                StatusCode::OK,
                "text/javascript; charset=utf-8",
                pages::AGE_SCRIPT,
            );
            r.caching = Caching::Public;
            r
        }
        route => {
            let mut view = view(st, &req, now).await;
            if req.method == Method::POST
                && let Err(r) = check_origin(&req)
            {
                return html(st, &view, StatusCode::FORBIDDEN, error(st, &view, 403, r));
            }
            page(st, &req, &mut view, route).await
        }
    }
}

/// Page routes (everything with HTML).
async fn page(st: &Arc<WebState>, req: &Req, view: &mut View, route: Route) -> Resp {
    match route {
        Route::Login if req.method == Method::POST => login_post(st, req, view).await,
        Route::Login => login_get(st, req, view, StatusCode::OK, None),
        Route::Status => status_resp(st, view, StatusCode::OK),
        Route::Logout => logout(st, req, view).await,
        Route::Coordinator => coordinator(st, view, StatusCode::OK, None, None),
        Route::DrillReport => drill_report(st, view).await,
        Route::Mode => mode_post(st, req, view).await,
        Route::GuestCode => guest_code_post(st, req, view).await,
        Route::GuestCodeRevoke => guest_code_revoke(st, req, view).await,
        Route::LockoutLift => lockout_lift(st, req, view).await,
        Route::NotFound => error_resp(
            st,
            view,
            StatusCode::NOT_FOUND,
            msg(
                view.lang,
                "Deze pagina bestaat niet.",
                "This page does not exist.",
            ),
        ),
        data_route => patient_data(st, req, view, data_route).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_paths_and_methods() {
        assert_eq!(Route::of("/patient/abc"), Route::Patient("abc".into()));
        assert_eq!(Route::of("/print/mar/abc"), Route::PrintMar("abc".into()));
        assert_eq!(Route::of("/patient/abc/mar"), Route::PrintMar("abc".into()));
        assert_eq!(
            Route::of("/patient/abc/labels"),
            Route::PrintLabels("abc".into())
        );
        assert_eq!(
            Route::of("/print/labels/abc"),
            Route::PrintLabels("abc".into())
        );
        assert_eq!(Route::of("/static/age.js"), Route::AgeScript);
        assert_eq!(Route::of("/patient/a%20b"), Route::Patient("a b".into()));
        assert_eq!(Route::of("/print/mar-blank"), Route::PrintBlankMar);
        assert_eq!(Route::of("/status"), Route::Status);
        assert_eq!(Route::of("/print/mar"), Route::PrintMarAll);
        assert_eq!(Route::of("/nope"), Route::NotFound);
        assert!(!Route::Logout.accepts(&Method::GET));
        assert!(!Route::Overview.accepts(&Method::POST));
        assert!(Route::Login.accepts(&Method::POST));
    }

    #[test]
    fn patient_keys_in_urls_are_decoded_and_bounded() {
        assert_eq!(decode_key("P-123_a.b").as_deref(), Some("P-123_a.b"));
        assert_eq!(decode_key("%7E%C3%A9").as_deref(), Some("~é"));
        assert_eq!(decode_key(""), None);
        assert_eq!(decode_key("a/b"), None);
        assert_eq!(decode_key("%2"), None);
        assert_eq!(decode_key("%zz"), None);
        assert_eq!(decode_key("%0a"), None);
        assert_eq!(decode_key("%ff"), None);
        assert_eq!(decode_key(&"a".repeat(MAX_KEY + 1)), None);
    }
}
