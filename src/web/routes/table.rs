//! The URL table: every path the server knows ([`Route`]) and the methods each accepts.

use super::request::*;
use hyper::Method;

/// The routes the server knows, by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    Health,
    Ready,
    Metrics,
    Stylesheet,
    AgeScript,
    Status,
    Login,
    Logout,
    Overview,
    Patient(String),
    PrintMar(String),
    PrintLabels(String),
    PrintMarAll,
    PrintWard,
    PrintBlankMar,
    Coordinator,
    DrillReport,
    Mode,
    GuestCode,
    GuestCodeRevoke,
    LockoutLift,
    NotFound,
}

impl Route {
    pub(super) fn of(path: &str) -> Route {
        match path {
            "/health" => Route::Health,
            "/ready" => Route::Ready,
            "/metrics" => Route::Metrics,
            "/static/style.css" => Route::Stylesheet,
            "/static/age.js" => Route::AgeScript,
            "/status" => Route::Status,
            "/login" => Route::Login,
            "/logout" => Route::Logout,
            "/" => Route::Overview,
            "/print/mar" => Route::PrintMarAll,
            "/print/ward" => Route::PrintWard,
            "/print/blank-mar" | "/print/mar-blank" => Route::PrintBlankMar,
            "/coordinator" => Route::Coordinator,
            "/drill-report" => Route::DrillReport,
            "/mode" => Route::Mode,
            // The old path is kept for a form still open in a browser during an upgrade.
            "/guest-code" | "/event-code" => Route::GuestCode,
            "/guest-code/revoke" => Route::GuestCodeRevoke,
            "/lockout/lift" => Route::LockoutLift,
            p => {
                let key = |seg: &str| decode_key(seg).unwrap_or_default();
                if let Some(k) = p.strip_prefix("/print/mar/") {
                    Route::PrintMar(key(k))
                } else if let Some(k) = p.strip_prefix("/print/labels/") {
                    Route::PrintLabels(key(k))
                } else if let Some(k) = p
                    .strip_prefix("/patient/")
                    .and_then(|r| r.strip_suffix("/labels"))
                {
                    Route::PrintLabels(key(k))
                } else if let Some(k) = p
                    .strip_prefix("/patient/")
                    .and_then(|r| r.strip_suffix("/mar"))
                {
                    Route::PrintMar(key(k))
                } else if let Some(k) = p.strip_prefix("/patient/") {
                    Route::Patient(key(k))
                } else {
                    Route::NotFound
                }
            }
        }
    }

    /// The methods this route answers.
    pub(super) fn allow(&self) -> &'static str {
        match self {
            Route::Login => "GET, HEAD, POST",
            Route::Logout
            | Route::Mode
            | Route::GuestCode
            | Route::GuestCodeRevoke
            | Route::LockoutLift => "POST",
            _ => "GET, HEAD",
        }
    }

    pub(super) fn accepts(&self, m: &Method) -> bool {
        match self {
            Route::NotFound => true,
            Route::Login => matches!(*m, Method::GET | Method::HEAD | Method::POST),
            Route::Logout
            | Route::Mode
            | Route::GuestCode
            | Route::GuestCodeRevoke
            | Route::LockoutLift => *m == Method::POST,
            _ => matches!(*m, Method::GET | Method::HEAD),
        }
    }
}
