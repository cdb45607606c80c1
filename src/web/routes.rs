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

use super::hash_gate::{self, HashGate};
use super::headers::Caching;
use super::pages;
use super::pages::PageCtx;
use super::session::{self, LockedWhat, Lookup, Refusal, Session, Sessions, Swept};
use super::{IssuedCode, SessionUser};
use crate::audit::{AccessPoint, Action, Event, EventKind, Outcome, PatientRef, UserRef};
use crate::config::Language;
use crate::daemon::Shared;
use crate::mode::{Mode, ModeError, ModeState, Switcher};
use crate::record::{PatientRecord, PatientSummary};
use crate::roster::Role;
use crate::store::Generation;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use maud::Markup;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Largest request body accepted (forms only).
pub const MAX_BODY: usize = 16 * 1024;
/// Longest query string accepted.
pub const MAX_QUERY: usize = 2048;
/// Longest search text used.
pub const MAX_SEARCH: usize = crate::record::summary::SEARCH_MAX_CHARS;
/// Longest patient key accepted in a URL.
pub const MAX_KEY: usize = 128;
/// Default number of days on a MAR print.
pub const MAR_DAYS: u32 = 3;
/// Most days on one MAR print.
pub const MAR_DAYS_MAX: u32 = 7;

/// Patient key → BSN, for the generation with this sequence and snapshot file.
type BsnIndex = (u64, String, Arc<HashMap<String, Option<String>>>);

/// What the session table was last swept against: the roster in force (by identity) and
/// the mode with its drill id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SweptFor {
    roster: Option<usize>,
    mode: Mode,
    drill: Option<i64>,
}

/// The web server's state: the daemon's shared state plus the login state.
pub struct WebState {
    pub shared: Arc<Shared>,
    pub sessions: Arc<Sessions>,
    /// At most a few argon2 checks at once.
    pub gate: HashGate,
    /// True when connections are TLS (cookies get `Secure` and `__Host-`, responses HSTS).
    pub tls: bool,
    /// Patient key → BSN of the served generation, for audit entries of list views.
    bsn_index: Mutex<Option<BsnIndex>>,
    swept_for: Mutex<Option<SweptFor>>,
    /// The roster `swept_for` refers to, held so its address stays unique.
    roster_held: Mutex<Option<Arc<crate::roster::Roster>>>,
}

impl WebState {
    /// Builds the state for one server run.
    pub fn new(shared: Arc<Shared>, tls: bool) -> WebState {
        let sessions = Arc::new(Sessions::new(&shared.config.web));
        WebState {
            shared,
            sessions,
            gate: HashGate::default(),
            tls,
            bsn_index: Mutex::new(None),
            swept_for: Mutex::new(None),
            roster_held: Mutex::new(None),
        }
    }

    fn session_cookie(&self) -> &'static str {
        session::session_cookie(self.tls)
    }

    fn pre_cookie(&self) -> &'static str {
        session::pre_cookie(self.tls)
    }
}

/// A request as the routes see it (the body already read and bounded).
#[derive(Debug)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub peer: IpAddr,
    pub body: Bytes,
}

/// A response before the security headers are added.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub caching: Caching,
}

impl Resp {
    fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        Resp {
            status,
            headers,
            body: body.into(),
            caching: Caching::NoStore,
        }
    }

    /// A plain-text answer.
    pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
        Resp::new(status, "text/plain; charset=utf-8", body)
    }

    fn redirect(location: &'static str) -> Resp {
        let mut r = Resp::text(StatusCode::SEE_OTHER, "");
        r.headers
            .insert(header::LOCATION, HeaderValue::from_static(location));
        r
    }

    /// Adds `Retry-After` (seconds).
    fn retry_after(mut self, secs: u64) -> Resp {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            self.headers.insert(header::RETRY_AFTER, v);
        }
        self
    }

    fn cookie(mut self, value: &str) -> Resp {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.append(header::SET_COOKIE, v);
        }
        self
    }
}

/// Short UI messages in both languages.
fn msg(lang: Language, nl: &'static str, en: &'static str) -> &'static str {
    match lang {
        Language::Nl => nl,
        Language::En => en,
    }
}

/// Everything one page request needs, owned, so a [`PageCtx`] can borrow it.
struct View {
    now: DateTime<Utc>,
    mode: ModeState,
    generation: Option<Arc<Generation>>,
    lang: Language,
    session: Option<Session>,
    /// The token forms on this page carry (session CSRF, or the login form's).
    csrf: String,
    path: String,
    /// Set-Cookie values to add to whatever answer this view produces.
    cookies: Vec<String>,
}

impl View {
    fn ctx<'a>(&'a self, shared: &'a Shared) -> PageCtx<'a> {
        PageCtx {
            lang: self.lang,
            tz: shared.config.timezone,
            now: self.now,
            ward_name: &shared.config.ward_name,
            appliance_id: &shared.config.appliance_id,
            mode: &self.mode,
            data: self.generation.as_deref().map(Generation::meta),
            stale_after: shared.config.data.stale_after,
            user: self.session.as_ref().map(|s| &s.user),
            csrf: &self.csrf,
            path: &self.path,
        }
    }

    fn user(&self) -> Option<&SessionUser> {
        self.session.as_ref().map(|s| &s.user)
    }
}

/// The parsed query string (first value of each name; bounded).
fn query_params(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(q) = q {
        for (k, v) in form_urlencoded::parse(q.as_bytes()).take(16) {
            out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    }
    out
}

/// A parsed form body. Duplicate fields are refused (no parameter pollution).
fn parse_form(req: &Req) -> Result<HashMap<String, String>, StatusCode> {
    let ct = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let mut out = HashMap::new();
    for (i, (k, v)) in form_urlencoded::parse(&req.body).enumerate() {
        if i >= 16 {
            return Err(StatusCode::BAD_REQUEST);
        }
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(StatusCode::BAD_REQUEST);
        }
    }
    Ok(out)
}

/// Decodes a percent-encoded patient key from one path segment. None when it is not a
/// single segment of valid, bounded UTF-8 without control characters.
fn decode_key(seg: &str) -> Option<String> {
    if seg.is_empty() || seg.len() > MAX_KEY * 3 || seg.contains('/') {
        return None;
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    let k = String::from_utf8(out).ok()?;
    valid_key(&k).then_some(k)
}

/// Whether a (decoded) patient key is plausible: bounded, no control characters.
fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_KEY && !k.chars().any(char::is_control)
}

/// The routes the server knows, by path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
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
    fn of(path: &str) -> Route {
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
    fn allow(&self) -> &'static str {
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

    fn accepts(&self, m: &Method) -> bool {
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

/// Handles one request.
pub async fn handle(st: &Arc<WebState>, req: Req) -> Resp {
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

fn ready(st: &WebState, now: DateTime<Utc>) -> Resp {
    let r = ready_doc(&st.shared, now);
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    match serde_json::to_vec(&r) {
        Ok(body) => Resp::new(status, "application/json", body),
        Err(_) => Resp::text(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode status\n"),
    }
}

fn ready_doc(shared: &Shared, now: DateTime<Utc>) -> crate::status::Ready {
    let generation = shared.store.current();
    crate::status::ready(
        &shared.config.ward,
        &shared.config.appliance_id,
        shared.config.data.stale_after,
        generation
            .as_deref()
            .map(|g| (g.meta(), g.summaries().len())),
        &shared.mode.current(now),
        &shared.status.get(),
        now,
    )
}

/// Refuses cross-site POSTs by the headers browsers send.
fn check_origin(req: &Req) -> Result<(), &'static str> {
    let h = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(site) = h("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err("cross-site request refused");
    }
    // With `Referrer-Policy: no-referrer` browsers send `Origin: null` on our own form
    // posts; that says nothing either way (the CSRF token still decides).
    if let Some(origin) = h("origin").filter(|o| *o != "null") {
        let host = h("host").unwrap_or("");
        let same = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host));
        if !same {
            return Err("cross-origin request refused");
        }
    }
    Ok(())
}

/// Builds the view for a page request: mode, data, language, session.
async fn view(st: &Arc<WebState>, req: &Req, now: DateTime<Utc>) -> View {
    let shared = &st.shared;
    let mut cookies = Vec::new();
    let q = query_params(req.query.as_deref());
    let parse_lang = |s: &str| match s {
        "nl" => Some(Language::Nl),
        "en" => Some(Language::En),
        _ => None,
    };
    let lang = match q.get("lang").and_then(|l| parse_lang(l)) {
        Some(l) => {
            let v = if l == Language::En { "en" } else { "nl" };
            cookies.push(session::set_cookie(
                "lang",
                v,
                Some(365 * 24 * 3600),
                st.tls,
            ));
            l
        }
        None => session::cookie(&req.headers, "lang")
            .and_then(parse_lang)
            .unwrap_or(shared.config.language),
    };
    let mode = shared.mode.current(now);
    sweep(st, &mode).await;
    let mut session = None;
    if let Some(tok) = session::cookie(&req.headers, st.session_cookie()) {
        match st.sessions.lookup(tok, now) {
            Lookup::Valid(s) => session = Some(s),
            Lookup::Expired(s) => {
                let ev = event(
                    st,
                    &s.user,
                    EventKind::SessionExpired,
                    Action::E,
                    Outcome::Success,
                    vec![],
                    "session ended by idle timeout or maximum duration".into(),
                    req.peer,
                    &mode,
                );
                // Not patient data: a failed append here is counted, not fatal.
                if append(st, ev).await.is_err() {
                    log::error!("audit log append failed for a session expiry");
                }
                cookies.push(session::clear_cookie(st.session_cookie(), st.tls));
            }
            Lookup::Unknown => cookies.push(session::clear_cookie(st.session_cookie(), st.tls)),
        }
    }
    View {
        now,
        generation: shared.store.current(),
        lang,
        csrf: session.as_ref().map(|s| s.csrf.clone()).unwrap_or_default(),
        session,
        mode,
        path: req.path.clone(),
        cookies,
    }
}

/// Ends the sessions and guest codes that the roster or the mode in force no longer allow
/// (see [`Sessions::sweep_roster`], [`Sessions::sweep_mode`]), when either changed since
/// the last sweep, and records each in the audit log. The sweep itself runs before any
/// session of this request is looked up.
async fn sweep(st: &Arc<WebState>, mode: &ModeState) {
    let roster = st.shared.roster();
    let drill = (mode.mode == Mode::Drill)
        .then_some(mode.drill_id)
        .flatten();
    let swept = {
        let mut last = match st.swept_for.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let same_roster = |r: Option<usize>| r == roster.as_ref().map(|r| Arc::as_ptr(r) as usize);
        if let Some(l) = last.as_ref()
            && same_roster(l.roster)
            && l.mode == mode.mode
            && l.drill == drill
        {
            return;
        }
        let roster_changed = last.as_ref().is_none_or(|l| !same_roster(l.roster));
        let mut swept = Swept::default();
        if roster_changed && let Some(r) = &roster {
            swept = st.sessions.sweep_roster(r);
        }
        let by_mode = st.sessions.sweep_mode(mode.mode);
        swept.sessions.extend(by_mode.sessions);
        swept.codes.extend(by_mode.codes);
        *last = Some(SweptFor {
            roster: roster.as_ref().map(|r| Arc::as_ptr(r) as usize),
            mode: mode.mode,
            drill,
        });
        // Keep the roster alive while it is the one compared against, so its address
        // cannot be reused by a later roster.
        *lock_any(&st.roster_held) = roster.clone();
        swept
    };
    if swept.is_empty() {
        return;
    }
    log::info!(
        "ended {} session(s) and {} guest code(s) after a roster or mode change",
        swept.sessions.len(),
        swept.codes.len()
    );
    audit_swept(st, swept, mode).await;
}

/// The audit entries for what a sweep or a revocation ended.
async fn audit_swept(st: &Arc<WebState>, swept: Swept, mode: &ModeState) {
    for e in swept.sessions {
        let ev = Event {
            kind: EventKind::SessionEnded,
            action: Action::E,
            outcome: Outcome::Success,
            user: Some(user_ref(&e.user)),
            responsible: responsible(&e.user),
            patients: vec![],
            detail: format!("session ended: {}", e.why),
            access_point: None,
            mode: mode.mode.as_str().into(),
        };
        if append(st, ev).await.is_err() {
            log::error!("audit log append failed for an ended session");
        }
    }
    for (c, why) in swept.codes {
        let ev = Event {
            kind: EventKind::GuestCodeRevoked,
            action: Action::D,
            outcome: Outcome::Success,
            user: None,
            responsible: Some(UserRef {
                id: c.issued_by.clone(),
                name: String::new(),
                role: Role::Coordinator.as_str().into(),
            }),
            patients: vec![],
            detail: format!(
                "guest code for {} ({}, {}) withdrawn: {why}",
                c.user,
                crate::text::printable(&c.name),
                c.role.as_str()
            ),
            access_point: None,
            mode: mode.mode.as_str().into(),
        };
        if append(st, ev).await.is_err() {
            log::error!("audit log append failed for a withdrawn guest code");
        }
    }
}

fn lock_any<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn responsible(user: &SessionUser) -> Option<UserRef> {
    user.issued_by.as_ref().map(|(id, name)| UserRef {
        id: id.clone(),
        name: name.clone(),
        role: Role::Coordinator.as_str().into(),
    })
}

fn user_ref(u: &SessionUser) -> UserRef {
    UserRef {
        id: u.id.clone(),
        name: u.name.clone(),
        role: u.role.as_str().into(),
    }
}

/// Where a request came from: the client address and, when the config names it, the
/// workstation (`[workstations]`; the box's own kiosk browser is on loopback).
fn access_point(st: &WebState, peer: IpAddr) -> AccessPoint {
    let peer = peer.to_canonical();
    let workstation = st
        .shared
        .config
        .workstations
        .get(&peer)
        .cloned()
        .or_else(|| peer.is_loopback().then(|| "kiosk on this box".to_owned()));
    AccessPoint {
        address: peer.to_string(),
        workstation,
    }
}

#[allow(clippy::too_many_arguments)]
fn event(
    st: &WebState,
    user: &SessionUser,
    kind: EventKind,
    action: Action,
    outcome: Outcome,
    patients: Vec<PatientRef>,
    detail: String,
    peer: IpAddr,
    mode: &ModeState,
) -> Event {
    Event {
        kind,
        action,
        outcome,
        user: Some(user_ref(user)),
        responsible: responsible(user),
        patients,
        detail,
        access_point: Some(access_point(st, peer)),
        mode: mode.mode.as_str().into(),
    }
}

/// Appends to the audit log off the async threads; counts failures.
async fn append(st: &Arc<WebState>, ev: Event) -> Result<(), ()> {
    let shared = st.shared.clone();
    let res = tokio::task::spawn_blocking(move || {
        let r = shared.audit.append(ev);
        shared.note_audit(&r);
        r
    })
    .await;
    match res {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            crate::status::Metrics::inc(&st.shared.metrics.audit_failures);
            log::error!("audit log append failed: {e}");
            Err(())
        }
        Err(_) => {
            crate::status::Metrics::inc(&st.shared.metrics.audit_failures);
            log::error!("audit log append task failed");
            Err(())
        }
    }
}

fn html(st: &WebState, view: &View, status: StatusCode, m: Markup) -> Resp {
    crate::status::Metrics::inc(&st.shared.metrics.page_views);
    let mut r = Resp::new(status, "text/html; charset=utf-8", m.into_string());
    for c in &view.cookies {
        r = r.cookie(c);
    }
    r
}

fn with_cookies(view: &View, mut r: Resp) -> Resp {
    for c in &view.cookies {
        r = r.cookie(c);
    }
    r
}

fn error(st: &WebState, view: &View, status: u16, message: &str) -> Markup {
    pages::error_page(&view.ctx(&st.shared), status, message)
}

fn error_resp(st: &WebState, view: &View, status: StatusCode, message: &str) -> Resp {
    html(st, view, status, error(st, view, status.as_u16(), message))
}

fn status_resp(st: &WebState, view: &View, status: StatusCode) -> Resp {
    let r = ready_doc(&st.shared, view.now);
    html(
        st,
        view,
        status,
        pages::status_page(&view.ctx(&st.shared), &r),
    )
}

fn audit_failed(st: &WebState, view: &View) -> Resp {
    error_resp(
        st,
        view,
        StatusCode::SERVICE_UNAVAILABLE,
        msg(
            view.lang,
            "Deze pagina kan nu niet worden getoond: het inzagelog kan niet worden bijgewerkt. Waarschuw ICT en gebruik de papieren procedure.",
            "This page cannot be shown now: the access log cannot be written. Call IT and use the paper procedure.",
        ),
    )
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

// ---------------------------------------------------------------- login / logout

/// The login form, bound to a (new or still valid) pre-login cookie.
fn login_get(
    st: &WebState,
    req: &Req,
    view: &mut View,
    status: StatusCode,
    message: Option<&str>,
) -> Resp {
    let pre = match session::cookie(&req.headers, st.pre_cookie()) {
        Some(p) if st.sessions.pre_valid(p, view.now) => p.to_owned(),
        _ => {
            let p = st.sessions.new_pre(view.now);
            view.cookies.push(session::set_cookie(
                st.pre_cookie(),
                &p,
                Some(session::PRE_LIFETIME.as_secs()),
                st.tls,
            ));
            p
        }
    };
    view.csrf = st.sessions.pre_csrf(&pre);
    let no_roster = msg(
        view.lang,
        "Inloggen is nog niet mogelijk: dit apparaat heeft nog geen personeelslijst ontvangen. Waarschuw ICT.",
        "Login is not possible yet: this appliance has not received a staff roster. Call IT.",
    );
    let message = match message {
        Some(m) => Some(m),
        None if st.shared.roster().is_none() => Some(no_roster),
        None => None,
    };
    html(
        st,
        view,
        status,
        pages::login_page(&view.ctx(&st.shared), message),
    )
}

/// The login form again with a message and a status (and `Retry-After` when given).
fn login_refused(
    st: &WebState,
    req: &Req,
    view: &mut View,
    status: StatusCode,
    message: &str,
    retry_after: Option<u64>,
) -> Resp {
    let r = login_get(st, req, view, status, Some(message));
    match retry_after {
        Some(secs) => r.retry_after(secs),
        None => r,
    }
}

/// "Locked until HH:MM" for the login page, naming what is locked.
fn locked_message(
    st: &WebState,
    lang: Language,
    what: &LockedWhat,
    until: DateTime<Utc>,
) -> String {
    let t = crate::timefmt::time_of_day(until, st.shared.config.timezone);
    match (lang, what) {
        (Language::Nl, LockedWhat::User(_)) => format!(
            "Te veel mislukte pogingen voor deze gebruikersnaam: inloggen ermee is geblokkeerd tot {t}. Een coördinator kan de blokkade opheffen; vraag zo nodig een gastcode."
        ),
        (Language::Nl, LockedWhat::Address(_)) => format!(
            "Te veel mislukte pogingen vanaf deze werkplek: inloggen vanaf hier is geblokkeerd tot {t}. Gebruik een andere werkplek of vraag een coördinator de blokkade op te heffen."
        ),
        (Language::En, LockedWhat::User(_)) => format!(
            "Too many failed attempts for this user name: logging in with it is blocked until {t}. A coordinator can lift the block; ask for a guest code if needed."
        ),
        (Language::En, LockedWhat::Address(_)) => format!(
            "Too many failed attempts from this workstation: logging in from here is blocked until {t}. Use another workstation or ask a coordinator to lift the block."
        ),
    }
}

/// "Wrong user name or code", with how many attempts are left before a lockout.
fn wrong_code_message(st: &WebState, lang: Language, f: &session::Failed) -> String {
    let minutes = st.shared.config.web.lockout_duration.as_secs() / 60;
    let plural = |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    if f.address_left < f.user_left {
        let n = f.address_left;
        match lang {
            Language::Nl => format!(
                "Gebruikersnaam of code onjuist. Nog {n} {} vanaf deze werkplek; daarna is inloggen hier {minutes} minuten geblokkeerd.",
                plural(n, "poging", "pogingen")
            ),
            Language::En => format!(
                "Wrong user name or code. {n} {} left from this workstation; then logging in here is blocked for {minutes} minutes.",
                plural(n, "attempt", "attempts")
            ),
        }
    } else {
        let n = f.user_left;
        match lang {
            Language::Nl => format!(
                "Gebruikersnaam of code onjuist. Nog {n} {} voor deze gebruikersnaam; daarna is inloggen ermee {minutes} minuten geblokkeerd.",
                plural(n, "poging", "pogingen")
            ),
            Language::En => format!(
                "Wrong user name or code. {n} {} left for this user name; then logging in with it is blocked for {minutes} minutes.",
                plural(n, "attempt", "attempts")
            ),
        }
    }
}

async fn login_post(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let lang = view.lang;
    let form = match parse_form(req) {
        Ok(f) => f,
        Err(s) => {
            return login_get(
                st,
                req,
                view,
                s,
                Some(msg(lang, "Ongeldig formulier.", "Invalid form.")),
            );
        }
    };
    let field = |n: &str| form.get(n).map(String::as_str).unwrap_or("");
    let pre = session::cookie(&req.headers, st.pre_cookie()).unwrap_or("");
    if !st.sessions.check_pre(pre, field("csrf"), view.now) {
        return login_get(
            st,
            req,
            view,
            StatusCode::FORBIDDEN,
            Some(msg(
                lang,
                "Het formulier was verlopen. Probeer het opnieuw.",
                "The form had expired. Please try again.",
            )),
        );
    }
    let Some(roster) = st.shared.roster() else {
        return login_get(st, req, view, StatusCode::SERVICE_UNAVAILABLE, None);
    };
    let audit_down = msg(
        lang,
        "Inloggen kan nu niet: het inzagelog kan niet worden bijgewerkt. Waarschuw ICT en gebruik de papieren procedure.",
        "Login is not possible now: the access log cannot be written. Call IT and use the paper procedure.",
    );
    // A failed attempt that cannot be recorded is not made: no code is checked while the
    // access log is down (patient pages are refused then anyway).
    if st
        .shared
        .status
        .has_problem(crate::status::code::AUDIT_WRITE_FAILED)
    {
        return login_refused(
            st,
            req,
            view,
            StatusCode::SERVICE_UNAVAILABLE,
            audit_down,
            Some(5),
        );
    }
    let user: String = field("user").trim().chars().take(64).collect();
    let code = zeroize::Zeroizing::new(field("code").trim().to_owned());
    let peer = req.peer.to_canonical();
    let now = view.now;
    let guest = st.sessions.is_guest_user(&user, now);
    // As the audit log records an attempt: a user id as typed (made printable), with the
    // roster's name and role, "guest" for a guest code, "unknown" otherwise.
    let attempted = SessionUser {
        id: session::printable_id(&user).trim_matches('"').to_owned(),
        name: roster
            .get(&user)
            .map(|m| m.name.clone())
            .unwrap_or_default(),
        role: roster.get(&user).map(|m| m.role).unwrap_or(Role::Nurse),
        issued_by: None,
    };
    let attempted_role = match roster.get(&user) {
        Some(m) => m.role.as_str(),
        None if guest => "guest",
        None => "unknown",
    };
    let failed_event = |detail: String, outcome: Outcome, kind: EventKind| {
        let mut ev = event(
            st,
            &attempted,
            kind,
            Action::E,
            outcome,
            vec![],
            detail,
            peer,
            &view.mode,
        );
        if let Some(u) = ev.user.as_mut() {
            u.role = attempted_role.into();
        }
        ev
    };
    let attempt = match st.sessions.reserve(&user, peer, now) {
        Ok(a) => a,
        Err(Refusal::Locked { what, until }) => {
            crate::status::Metrics::inc(&st.shared.metrics.logins_failed);
            let ev = failed_event(
                format!(
                    "login refused: {what} locked out until {}",
                    until.to_rfc3339()
                ),
                Outcome::MinorFailure,
                EventKind::LoginFailed,
            );
            if append(st, ev).await.is_err() {
                return login_refused(
                    st,
                    req,
                    view,
                    StatusCode::SERVICE_UNAVAILABLE,
                    audit_down,
                    Some(5),
                );
            }
            let m = locked_message(st, lang, &what, until);
            return login_refused(st, req, view, StatusCode::TOO_MANY_REQUESTS, &m, None);
        }
        Err(Refusal::Busy) => {
            let m = msg(
                lang,
                "Er lopen al inlogpogingen voor deze gebruikersnaam of vanaf deze werkplek. Wacht even en probeer het opnieuw.",
                "Login attempts for this user name or from this workstation are already being checked. Wait a moment and try again.",
            );
            return login_refused(
                st,
                req,
                view,
                StatusCode::TOO_MANY_REQUESTS,
                m,
                Some(hash_gate::RETRY_AFTER_SECS),
            );
        }
    };
    // argon2 is slow and memory-hungry by design: off the async threads, a few at a time.
    let verified = {
        let st2 = st.clone();
        let user2 = user.clone();
        let code2 = code.clone();
        st.gate
            .run(move |mem| {
                if guest {
                    st2.sessions.verify_guest_code(mem, &user2, &code2, now)
                } else {
                    roster.verify_in(mem, &user2, &code2).map(|m| SessionUser {
                        id: m.user.clone(),
                        name: m.name.clone(),
                        role: m.role,
                        issued_by: None,
                    })
                }
            })
            .await
    };
    let verified = match verified {
        Ok(v) => v,
        Err(hash_gate::Busy) => {
            // Not checked: the reservation is given back when `attempt` drops.
            drop(attempt);
            let m = msg(
                lang,
                "Het is even te druk om in te loggen. Probeer het over een paar seconden opnieuw.",
                "Too many logins at once. Please try again in a few seconds.",
            );
            return login_refused(
                st,
                req,
                view,
                StatusCode::SERVICE_UNAVAILABLE,
                m,
                Some(hash_gate::RETRY_AFTER_SECS),
            );
        }
    };
    let Some(user_ok) = verified else {
        crate::status::Metrics::inc(&st.shared.metrics.logins_failed);
        let failed = attempt.failed(now);
        let mut logged = append(
            st,
            failed_event(
                format!(
                    "login failed: unknown user or wrong code; {} attempt(s) left for the user, {} from the address",
                    failed.user_left, failed.address_left
                ),
                Outcome::MinorFailure,
                EventKind::LoginFailed,
            ),
        )
        .await
        .is_ok();
        let mut locked = None;
        for (what, end) in &failed.started {
            crate::status::Metrics::inc(&st.shared.metrics.lockouts);
            let detail = format!("{what} locked out until {}", end.to_rfc3339());
            // For operators: a brute-force attempt is worth a journal line (no codes here;
            // the user id made printable, so it cannot forge log lines).
            log::warn!("login {detail} (from {peer})");
            logged &= append(
                st,
                failed_event(detail, Outcome::SeriousFailure, EventKind::Lockout),
            )
            .await
            .is_ok();
            if locked.as_ref().is_none_or(|(_, u)| end > u) {
                locked = Some((what.clone(), *end));
            }
        }
        if !logged {
            return login_refused(
                st,
                req,
                view,
                StatusCode::SERVICE_UNAVAILABLE,
                audit_down,
                Some(5),
            );
        }
        let m = match locked {
            Some((what, until)) => locked_message(st, lang, &what, until),
            None => wrong_code_message(st, lang, &failed),
        };
        return login_refused(st, req, view, StatusCode::UNAUTHORIZED, &m, None);
    };
    attempt.succeeded();
    let detail = match &user_ok.issued_by {
        Some((id, _)) => format!("login with guest code issued by {id}"),
        None => "login with personal downtime code".into(),
    };
    let ev = event(
        st,
        &user_ok,
        EventKind::Login,
        Action::E,
        Outcome::Success,
        vec![],
        detail,
        peer,
        &view.mode,
    );
    if append(st, ev).await.is_err() {
        return audit_failed(st, view);
    }
    let drill = (view.mode.mode == Mode::Drill)
        .then_some(view.mode.drill_id)
        .flatten();
    let (token, _, evicted) = match st.sessions.create(user_ok.clone(), drill, now) {
        Ok(x) => x,
        Err(session::SessionsFull) => {
            log::error!("login refused: the session table is full of live sessions");
            let m = msg(
                lang,
                "Er zijn te veel sessies open. Probeer het later opnieuw of waarschuw ICT.",
                "Too many sessions are open. Try again later or call IT.",
            );
            return login_refused(st, req, view, StatusCode::SERVICE_UNAVAILABLE, m, Some(60));
        }
    };
    crate::status::Metrics::inc(&st.shared.metrics.logins);
    if evicted.is_some() {
        let ev = event(
            st,
            &user_ok,
            EventKind::SessionEnded,
            Action::E,
            Outcome::Success,
            vec![],
            format!(
                "session ended: more than {} sessions of this user",
                session::MAX_SESSIONS_PER_USER
            ),
            peer,
            &view.mode,
        );
        let _ = append(st, ev).await;
    }
    // No fixation: whatever session cookie came with the request is ended.
    if let Some(old) = session::cookie(&req.headers, st.session_cookie()) {
        st.sessions.remove(old);
    }
    Resp::redirect("/")
        .cookie(&session::set_cookie(
            st.session_cookie(),
            &token,
            None,
            st.tls,
        ))
        .cookie(&session::clear_cookie(st.pre_cookie(), st.tls))
}

/// Checks a logged-in form's CSRF token.
fn session_csrf_ok(view: &View, form: &HashMap<String, String>) -> bool {
    match (&view.session, form.get("csrf")) {
        (Some(s), Some(c)) => session::ct_eq(&s.csrf, c),
        _ => false,
    }
}

async fn logout(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let Some(s) = view.session.clone() else {
        return with_cookies(view, Resp::redirect("/login"));
    };
    let form = match parse_form(req) {
        Ok(f) => f,
        Err(code) => return error_resp(st, view, code, "invalid form"),
    };
    if !session_csrf_ok(view, &form) {
        return csrf_refused(st, view);
    }
    let ev = event(
        st,
        &s.user,
        EventKind::Logout,
        Action::E,
        Outcome::Success,
        vec![],
        "logout".into(),
        req.peer,
        &view.mode,
    );
    // Logging out always works: a failed append is counted and logged.
    let _ = append(st, ev).await;
    if let Some(tok) = session::cookie(&req.headers, st.session_cookie()) {
        st.sessions.remove(tok);
    }
    Resp::redirect("/login").cookie(&session::clear_cookie(st.session_cookie(), st.tls))
}

fn csrf_refused(st: &WebState, view: &View) -> Resp {
    error_resp(
        st,
        view,
        StatusCode::FORBIDDEN,
        msg(
            view.lang,
            "Het formulier was verlopen of ongeldig. Open de pagina opnieuw en probeer het nog eens.",
            "The form had expired or was invalid. Open the page again and retry.",
        ),
    )
}

// ---------------------------------------------------------------- coordinator

fn coordinator(
    st: &WebState,
    view: &View,
    status: StatusCode,
    new_code: Option<(&IssuedCode, &str)>,
    message: Option<&str>,
) -> Resp {
    match view.user() {
        None => with_cookies(view, Resp::redirect("/login")),
        Some(u) if u.role != Role::Coordinator => error_resp(
            st,
            view,
            StatusCode::FORBIDDEN,
            msg(
                view.lang,
                "Alleen een coördinator kan de modus wijzigen, gastcodes uitgeven en blokkades opheffen.",
                "Only a coordinator can change the mode, issue guest codes and lift lockouts.",
            ),
        ),
        Some(_) => {
            let codes = st.sessions.issued_codes(view.now);
            let lockouts = st.sessions.lockouts(view.now);
            html(
                st,
                view,
                status,
                pages::coordinator_page(
                    &view.ctx(&st.shared),
                    &codes,
                    &lockouts,
                    new_code,
                    message,
                ),
            )
        }
    }
}

/// The report of the latest drill (running or ended), for coordinators. Producing it stores
/// it (for comparison with later drills) and logs a `drill_report` audit entry.
async fn drill_report(st: &Arc<WebState>, view: &View) -> Resp {
    match view.user() {
        None => return with_cookies(view, Resp::redirect("/login")),
        Some(u) if u.role != Role::Coordinator => {
            return error_resp(
                st,
                view,
                StatusCode::FORBIDDEN,
                msg(
                    view.lang,
                    "Alleen een coördinator kan het oefenverslag bekijken.",
                    "Only a coordinator can view the drill report.",
                ),
            );
        }
        Some(_) => {}
    }
    let shared = st.shared.clone();
    let report =
        tokio::task::spawn_blocking(move || crate::audit::drill::report(&shared.audit, None)).await;
    match report {
        Ok(Ok(r)) => {
            let ctx = view.ctx(&st.shared);
            let title = msg(view.lang, "Oefenverslag", "Drill report");
            let body = crate::audit::drill::render_html(&r, view.lang, st.shared.config.timezone);
            let page = pages::layout::page(
                &ctx,
                title,
                pages::layout::Kind::Screen,
                maud::html! { h1 { (title) } (body) },
            );
            html(st, view, StatusCode::OK, page)
        }
        Ok(Err(crate::audit::AuditError::NoDrill(_))) => error_resp(
            st,
            view,
            StatusCode::NOT_FOUND,
            msg(
                view.lang,
                "Er is nog geen oefening gehouden op dit apparaat.",
                "No drill has been held on this appliance yet.",
            ),
        ),
        Ok(Err(e)) => {
            log::error!("drill report: {e}");
            error_resp(
                st,
                view,
                StatusCode::SERVICE_UNAVAILABLE,
                msg(
                    view.lang,
                    "Het oefenverslag kan nu niet worden gemaakt (toegangslog niet beschikbaar).",
                    "The drill report cannot be produced now (access log unavailable).",
                ),
            )
        }
        Err(_) => error_resp(
            st,
            view,
            StatusCode::INTERNAL_SERVER_ERROR,
            "drill report failed",
        ),
    }
}

/// Common checks for the coordinator's POSTs: the form, CSRF and the role.
fn coordinator_form(
    st: &WebState,
    req: &Req,
    view: &View,
) -> Result<(SessionUser, HashMap<String, String>), Box<Resp>> {
    let Some(user) = view.user().cloned() else {
        return Err(Box::new(with_cookies(view, Resp::redirect("/login"))));
    };
    let form = parse_form(req).map_err(|c| Box::new(error_resp(st, view, c, "invalid form")))?;
    if !session_csrf_ok(view, &form) {
        return Err(Box::new(csrf_refused(st, view)));
    }
    if user.role != Role::Coordinator {
        return Err(Box::new(coordinator(
            st,
            view,
            StatusCode::FORBIDDEN,
            None,
            None,
        )));
    }
    Ok((user, form))
}

async fn mode_post(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let (user, form) = match coordinator_form(st, req, view) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = view.lang;
    let Some(mode) = form.get("mode").and_then(|m| m.parse::<Mode>().ok()) else {
        return coordinator(
            st,
            view,
            StatusCode::BAD_REQUEST,
            None,
            Some(msg(lang, "Kies een modus.", "Choose a mode.")),
        );
    };
    // A textarea: line breaks (and runs of blanks) become single spaces; any other
    // control or direction character refuses the switch (ModeController::set).
    let reason = form
        .get("reason")
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let by = Switcher::User {
        user: user_ref(&user),
        access_point: access_point(st, req.peer),
    };
    let shared = st.shared.clone();
    let now = view.now;
    let res =
        tokio::task::spawn_blocking(move || shared.mode.set(&shared.audit, mode, by, &reason, now))
            .await;
    match res {
        Ok(Ok(new)) => {
            log::info!(
                "mode switched to {} by coordinator {} from the web view",
                new.mode.as_str(),
                user.id
            );
            view.mode = new;
            // A drill's sessions end at once when a real emergency starts.
            sweep(st, &view.mode).await;
            let m = match (lang, mode) {
                (Language::Nl, Mode::Standby) => "De modus is nu stand-by.",
                (Language::Nl, Mode::Emergency) => "De modus is nu nood.",
                (Language::Nl, Mode::Drill) => "De modus is nu oefening.",
                (Language::En, Mode::Standby) => "The mode is now standby.",
                (Language::En, Mode::Emergency) => "The mode is now emergency.",
                (Language::En, Mode::Drill) => "The mode is now drill.",
            };
            coordinator(st, view, StatusCode::OK, None, Some(m))
        }
        Ok(Err(ModeError::Reason)) => coordinator(
            st,
            view,
            StatusCode::BAD_REQUEST,
            None,
            Some(msg(
                lang,
                "Geef een reden op (1 tot 500 tekens, één regel, zonder stuurtekens).",
                "Give a reason (1 to 500 characters, one line, no control characters).",
            )),
        ),
        Ok(Err(ModeError::Audit(e))) => {
            crate::status::Metrics::inc(&st.shared.metrics.audit_failures);
            log::error!("mode switch refused: {e}");
            audit_failed(st, view)
        }
        Ok(Err(e)) => {
            log::error!("mode switch failed: {e}");
            error_resp(
                st,
                view,
                StatusCode::INTERNAL_SERVER_ERROR,
                msg(
                    lang,
                    "De modus kon niet worden opgeslagen. Waarschuw ICT.",
                    "The mode could not be saved. Call IT.",
                ),
            )
        }
        Err(_) => error_resp(
            st,
            view,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        ),
    }
}

async fn guest_code_post(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let (user, form) = match coordinator_form(st, req, view) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = view.lang;
    let role = match form.get("role").map(String::as_str) {
        Some("nurse") => Role::Nurse,
        Some("physician") => Role::Physician,
        _ => {
            return coordinator(
                st,
                view,
                StatusCode::BAD_REQUEST,
                None,
                Some(msg(
                    lang,
                    "Kies verpleegkundige of arts.",
                    "Choose nurse or physician.",
                )),
            );
        }
    };
    let name = form.get("name").cloned().unwrap_or_default();
    let st2 = st.clone();
    let by = user.clone();
    let now = view.now;
    let drill = (view.mode.mode == Mode::Drill)
        .then_some(view.mode.drill_id)
        .flatten();
    let issued = st
        .gate
        .run(move |mem| {
            let roster = st2.shared.roster();
            st2.sessions
                .issue_code(mem, &name, role, &by, drill, roster.as_deref(), now)
        })
        .await;
    let (issued, code) = match issued {
        Ok(Ok(x)) => x,
        Ok(Err(session::GuestCodeError::Name)) => {
            return coordinator(
                st,
                view,
                StatusCode::BAD_REQUEST,
                None,
                Some(msg(
                    lang,
                    "Vul de naam van de collega in (1 tot 100 tekens, geen stuurtekens).",
                    "Enter the colleague's name (1 to 100 characters, no control characters).",
                )),
            );
        }
        Ok(Err(e)) => {
            let m = e.to_string();
            return coordinator(st, view, StatusCode::BAD_REQUEST, None, Some(&m));
        }
        Err(hash_gate::Busy) => {
            return coordinator(
                st,
                view,
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                Some(msg(
                    lang,
                    "Het is even te druk. Probeer het over een paar seconden opnieuw.",
                    "Too busy right now. Please try again in a few seconds.",
                )),
            )
            .retry_after(hash_gate::RETRY_AFTER_SECS);
        }
    };
    let ev = event(
        st,
        &user,
        EventKind::GuestCodeIssued,
        Action::C,
        Outcome::Success,
        vec![],
        format!(
            "guest code for {} ({}, {}) valid until {}",
            issued.user,
            issued.name,
            issued.role.as_str(),
            issued.expires_at.to_rfc3339()
        ),
        req.peer,
        &view.mode,
    );
    if append(st, ev).await.is_err() {
        st.sessions.revoke_code(&issued.user);
        return audit_failed(st, view);
    }
    coordinator(
        st,
        view,
        StatusCode::OK,
        Some((&issued, code.as_str())),
        None,
    )
}

/// A coordinator withdraws a guest code: it no longer logs in, and sessions opened with it
/// end now.
async fn guest_code_revoke(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let (user, form) = match coordinator_form(st, req, view) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = view.lang;
    let guest = form.get("user").map(String::as_str).unwrap_or("");
    let ev = |detail: String| {
        event(
            st,
            &user,
            EventKind::GuestCodeRevoked,
            Action::D,
            Outcome::Success,
            vec![],
            detail,
            req.peer,
            &view.mode,
        )
    };
    // Recorded before it takes effect, like every other coordinator action.
    let Some(found) = st
        .sessions
        .issued_codes(view.now)
        .into_iter()
        .find(|c| c.user == guest)
    else {
        return coordinator(
            st,
            view,
            StatusCode::NOT_FOUND,
            None,
            Some(msg(
                lang,
                "Deze gastcode is niet (meer) geldig.",
                "This guest code is not (or no longer) valid.",
            )),
        );
    };
    if append(
        st,
        ev(format!(
            "guest code for {} ({}, {}) revoked by a coordinator",
            found.user,
            crate::text::printable(&found.name),
            found.role.as_str()
        )),
    )
    .await
    .is_err()
    {
        return audit_failed(st, view);
    }
    let ended = st
        .sessions
        .revoke_code(guest)
        .map(|(_, ended)| ended)
        .unwrap_or_default();
    let n = ended.len();
    audit_swept(
        st,
        Swept {
            sessions: ended,
            codes: vec![],
        },
        &view.mode,
    )
    .await;
    let m = match lang {
        Language::Nl => format!(
            "Gastcode {} ingetrokken; {n} open sessie(s) beëindigd.",
            found.user
        ),
        Language::En => format!(
            "Guest code {} revoked; {n} open session(s) ended.",
            found.user
        ),
    };
    coordinator(st, view, StatusCode::OK, None, Some(&m))
}

/// A coordinator lifts a login lockout (of a user name, or of a workstation's address).
async fn lockout_lift(st: &Arc<WebState>, req: &Req, view: &mut View) -> Resp {
    let (user, form) = match coordinator_form(st, req, view) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = view.lang;
    let target = form.get("target").map(String::as_str).unwrap_or("");
    let what = st
        .sessions
        .lockouts(view.now)
        .into_iter()
        .map(|l| l.what)
        .find(|w| w.form_value() == target);
    let Some(what) = what else {
        return coordinator(
            st,
            view,
            StatusCode::NOT_FOUND,
            None,
            Some(msg(
                lang,
                "Deze blokkade is al voorbij of opgeheven.",
                "This lockout has already ended or been lifted.",
            )),
        );
    };
    let ev = event(
        st,
        &user,
        EventKind::LockoutLifted,
        Action::U,
        Outcome::Success,
        vec![],
        format!("lockout of {what} lifted by a coordinator"),
        req.peer,
        &view.mode,
    );
    if append(st, ev).await.is_err() {
        return audit_failed(st, view);
    }
    st.sessions.lift(&what, view.now);
    log::info!("login lockout of {what} lifted by coordinator {}", user.id);
    let m = match lang {
        Language::Nl => format!(
            "Blokkade opgeheven: {}.",
            pages::coordinator::lockout_label(&what, lang)
        ),
        Language::En => format!(
            "Lockout lifted: {}.",
            pages::coordinator::lockout_label(&what, lang)
        ),
    };
    coordinator(st, view, StatusCode::OK, None, Some(&m))
}

// ---------------------------------------------------------------- patient data

/// The gates before any patient data: mode, session, role, data.
fn gate(
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

impl WebState {
    /// Patient key → BSN for the generation (cached per generation).
    fn bsns(&self, g: &Generation) -> Arc<HashMap<String, Option<String>>> {
        let id = (g.meta().sequence, g.meta().snapshot_file.clone());
        let mut cache = match self.bsn_index.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some((seq, file, map)) = cache.as_ref()
            && *seq == id.0
            && *file == id.1
        {
            return map.clone();
        }
        let map: HashMap<String, Option<String>> = match g.all_patients() {
            Ok(all) => all.into_iter().map(|p| (p.key, p.identity.bsn)).collect(),
            Err(e) => {
                log::error!("cannot read patients for the audit index: {e}");
                HashMap::new()
            }
        };
        let map = Arc::new(map);
        *cache = Some((id.0, id.1, map.clone()));
        map
    }
}

fn refs_of(st: &WebState, g: &Generation, rows: &[&PatientSummary]) -> Vec<PatientRef> {
    let bsns = st.bsns(g);
    rows.iter()
        .map(|s| PatientRef {
            key: s.key.clone(),
            patient_number: s.patient_number.clone(),
            bsn: bsns.get(&s.key).cloned().flatten(),
        })
        .collect()
}

fn ref_of(p: &PatientRecord) -> PatientRef {
    PatientRef {
        key: p.key.clone(),
        patient_number: p.identity.patient_number.clone(),
        bsn: p.identity.bsn.clone(),
    }
}

fn today(st: &WebState, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&st.shared.config.timezone).date_naive()
}

fn mar_days(req: &Req) -> u32 {
    query_params(req.query.as_deref())
        .get("days")
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|d| (1..=MAR_DAYS_MAX).contains(d))
        .unwrap_or(MAR_DAYS)
}

/// The first day and number of days of a printed MAR: from today, or with `previous=1`
/// from yesterday (one day more), so the last 24 hours' records are on the sheet.
fn mar_range(req: &Req, today: NaiveDate) -> (NaiveDate, u32) {
    let days = mar_days(req);
    let previous = query_params(req.query.as_deref())
        .get("previous")
        .is_some_and(|v| v == "1");
    match today.pred_opt() {
        Some(y) if previous => (y, days + 1),
        _ => (today, days),
    }
}

fn store_failed(st: &WebState, view: &View) -> Resp {
    log::error!("reading the served generation failed");
    error_resp(
        st,
        view,
        StatusCode::INTERNAL_SERVER_ERROR,
        msg(
            view.lang,
            "De gegevens konden niet worden gelezen. Waarschuw ICT en gebruik de papieren procedure.",
            "The data could not be read. Call IT and use the paper procedure.",
        ),
    )
}

fn not_found_patient(st: &WebState, view: &View) -> Resp {
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

async fn patient_data(st: &Arc<WebState>, req: &Req, view: &mut View, route: Route) -> Resp {
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
            if append(st, ev).await.is_err() {
                return audit_failed(st, view);
            }
            let m = pages::ward_overview(&view.ctx(&st.shared), &rows, q.as_deref());
            html(st, view, StatusCode::OK, m)
        }
        route @ (Route::Patient(_) | Route::PrintMar(_) | Route::PrintLabels(_)) => {
            let (key, print, labels) = match route {
                Route::PrintMar(k) => (k, true, false),
                Route::PrintLabels(k) => (k, true, true),
                Route::Patient(k) => (k, false, false),
                _ => (String::new(), false, false),
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
                    vec![ref_of(&p)],
                    format!(
                        "print labels {} ({} labels)",
                        req.path,
                        pages::labels::LABELS_PER_SHEET
                    ),
                )
            } else if print {
                audit(
                    EventKind::Print,
                    vec![ref_of(&p)],
                    format!("print MAR {} ({start}, {days} days)", req.path),
                )
            } else {
                audit(EventKind::PatientView, vec![ref_of(&p)], req.path.clone())
            };
            if append(st, ev).await.is_err() {
                return audit_failed(st, view);
            }
            let ctx = view.ctx(&st.shared);
            let m = if labels {
                crate::status::Metrics::inc(&metrics.prints);
                pages::print_labels(&ctx, &p)
            } else if print {
                crate::status::Metrics::inc(&metrics.prints);
                pages::print_mar(&ctx, std::slice::from_ref(&p), start, days)
            } else {
                crate::status::Metrics::inc(&metrics.patient_page_views);
                pages::patient_page(&ctx, &p)
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
                all.iter().map(ref_of).collect(),
                format!(
                    "print MAR all patients ({} patients, {start}, {days} days)",
                    all.len()
                ),
            );
            if append(st, ev).await.is_err() {
                return audit_failed(st, view);
            }
            crate::status::Metrics::inc(&metrics.prints);
            let m = pages::print_mar(&view.ctx(&st.shared), &all, start, days);
            html(st, view, StatusCode::OK, m)
        }
        Route::PrintWard => {
            let rows: Vec<&PatientSummary> = g.summaries().iter().collect();
            let ev = audit(
                EventKind::Print,
                refs_of(st, &g, &rows),
                format!("print ward list ({} patients)", rows.len()),
            );
            if append(st, ev).await.is_err() {
                return audit_failed(st, view);
            }
            crate::status::Metrics::inc(&metrics.prints);
            let m = pages::print_ward_list(&view.ctx(&st.shared), &rows);
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
            if append(st, ev).await.is_err() {
                return audit_failed(st, view);
            }
            crate::status::Metrics::inc(&metrics.prints);
            let m = pages::print_blank_mar(&view.ctx(&st.shared), start, days);
            html(st, view, StatusCode::OK, m)
        }
        _ => error_resp(st, view, StatusCode::NOT_FOUND, "not found"),
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
